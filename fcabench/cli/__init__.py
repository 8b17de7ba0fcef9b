"""``fcabench`` command line: a thin layer that reads options and calls library functions.

Each sub-command lives in its own module and is registered with one line in :func:`_register`; this
module only assembles them and turns every user error -- :class:`~fcabench.errors.FcabenchError` from the
library and the parser's usage errors alike -- into one ``error: ...`` line and exit code 2.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from fcabench import __version__
from fcabench.errors import FcabenchError

app = typer.Typer(
    name="fcabench",
    help="What a token-reduction method for BERT really buys: exact FLOPs, accuracy, speed and memory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # the plain help formatter: flags show as flags (the rich one prints "<bool>")
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fcabench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    """What a token-reduction method for BERT really buys: exact FLOPs, accuracy, speed and memory."""


def _register() -> None:
    from fcabench.cli import bench, evaluate, plot, profile, runs, sweep, tasks, train

    app.command(
        "profile",
        cls=profile.ProfileCommand,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(profile.profile_command)
    app.add_typer(runs.app, name="runs")
    app.add_typer(plot.app, name="plot")
    app.add_typer(tasks.app, name="tasks")
    app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
        train.train_command
    )
    app.command("evaluate")(evaluate.evaluate_command)
    app.command("bench")(bench.bench_command)
    app.add_typer(sweep.app, name="sweep")


_register()


def _one_line(error: BaseException) -> str:
    """A usage error as one line: the message, then where to look for help."""
    message = error.format_message() if hasattr(error, "format_message") else str(error)
    message = " ".join(message.split())  # click's messages may wrap; the user gets one line
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _quiet_libraries() -> None:
    """A CLI user gets fcabench's one error line and progress bars, not the hub client's retries, warnings
    and weight-loading bars (those would land on stderr between fcabench's own lines)."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from huggingface_hub.utils import disable_progress_bars
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as transformers_logging

    hub_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    disable_progress_bars()


def _interrupted(args: list[str] | None) -> str:
    """One line for Ctrl-C: what stopped, and what of its work is kept."""
    import itertools

    given = sys.argv[1:] if args is None else args
    words = list(itertools.takewhile(lambda a: not a.startswith("-"), given))[:2]  # the command, not its values
    return (
        f"interrupted: fcabench {' '.join(words)}; what it had finished is kept (files written whole, complete "
        f"checkpoints, stored runs), nothing half-written; run the same command again to resume"
    )


def _out_of_memory(error: BaseException) -> bool:
    """A batch too large for this machine: Python's MemoryError, or torch's allocator failing (CPU or CUDA)."""
    text = str(error)
    return isinstance(error, MemoryError) or "can't allocate memory" in text or "out of memory" in text.lower()


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``fcabench`` script and of ``python -m fcabench``; covers every sub-command."""
    try:
        _quiet_libraries()
        code = app(args=args, standalone_mode=False)  # returns the exit code a command asked for
        if code == 130:  # the parser turned Ctrl-C into this code
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except FcabenchError as error:
        typer.secho(f"error: {' '.join(str(error).split())}", fg="red", err=True)
        sys.exit(2)
    except (MemoryError, RuntimeError) as error:
        if not _out_of_memory(error):
            raise
        message = str(error).splitlines()[0] if str(error) else "MemoryError"
        typer.secho(f"error: out of memory ({message[:160]}); use a smaller --batch-size or length", fg="red", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo(_interrupted(args), err=True)
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as error:  # the parser's, from typer's bundled click
        if type(error).__name__ == "NoArgsIsHelpError":  # `fcabench` or `fcabench runs` alone: the help
            typer.echo(error.format_message())
            sys.exit(0)
        if type(error).__name__ == "Abort":
            typer.echo(_interrupted(args), err=True)
            sys.exit(130)
        typer.secho(f"error: {_one_line(error)}", fg="red", err=True)
        sys.exit(2)
