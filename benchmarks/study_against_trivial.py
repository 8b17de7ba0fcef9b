"""Does a method beat what a user gets for free? The study's aggregate across its settings, in the spirit of rliable.

For every method's best point at about 2x fewer encoder MACs (0.4-0.6x vanilla) and each trivial baseline
(truncation, layer dropping): the probability that the method is more accurate than the baseline's best point at
no more MACs (within 2 %), with a 95 % stratified bootstrap interval over the settings where both ran, their
seeds and their test examples (``fcabench.runs.study.beats_trivial``). 0.5 is a tie; an interval above 0.5 says
the method pays against that baseline.

    python benchmarks/study_against_trivial.py [SPEC ...]   # default: the three study specifications
"""

from __future__ import annotations

import sys

from fcabench import sweep
from fcabench.runs import load, study

SPECS = ("sweeps/bbc-news-minilm.toml", "sweeps/tweet-sentiment-minilm.toml", "sweeps/bbc-news-minilm-512.toml")


def main() -> None:
    settings = []
    for path in sys.argv[1:] or SPECS:
        spec = sweep.load_spec(path)
        stored = load(spec.results)
        for task, points in sweep.study_points(spec, stored).items():
            settings.append((points, stored))
            print(f"{path}: {task}, {len(points)} scored models", file=sys.stderr)
    table = study.beats_trivial(settings)
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
