"""The ``fcabench`` script. Loading the command-line modules takes seconds (torch, transformers): a Ctrl-C in
that time ends in one line, as it does once a command runs."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from fcabench.cli import main as run
    except KeyboardInterrupt:
        print("interrupted: fcabench was starting; nothing was done", file=sys.stderr)
        raise SystemExit(130) from None
    run()
