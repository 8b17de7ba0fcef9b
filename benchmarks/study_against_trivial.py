"""Does a method pay against what a user gets for free? Per setting and across settings, in the spirit of rliable.

For every method's best point at about 2x fewer encoder MACs (0.4-0.6x vanilla's at the padded length), retrained
and training-free, against each trivial baseline (truncation, layer dropping; their best point, retrained or not):

1. Per setting, the paired difference on the same test examples and seeds with its 95 % paired bootstrap interval
   (``fcabench.runs.stats.compare_runs``), against the baseline's best point at no more MACs (within 2 %). Where
   the baseline has no point that cheap, against its cheapest point in the band, which costs more: a method
   ahead of it pays all the more; behind it, nothing is said. Verdict: "pays" (interval above 0), "does not pay"
   (below 0), "cannot tell" (across 0, at these seeds).
2. Across settings: the probability that the method beats the baseline's best point at no more MACs, with a 95 %
   stratified bootstrap interval over settings, seeds and test examples (``fcabench.runs.study.beats_trivial``).

    python benchmarks/study_against_trivial.py [SPEC ...]   # default: the three study specifications
"""

from __future__ import annotations

import sys

import pandas as pd

from fcabench import sweep
from fcabench.runs import load, study
from fcabench.runs.stats import compare_runs

SPECS = ("sweeps/bbc-news-minilm.toml", "sweeps/tweet-sentiment-minilm.toml", "sweeps/bbc-news-minilm-512.toml")


def baseline_point(points: pd.DataFrame, macs_rel: float, baseline: str) -> tuple[pd.Series | None, bool]:
    """(the baseline's point to compare with, whether it costs no more MACs than ``macs_rel``)."""
    cheaper = study.best_trivial(points, macs_rel, (baseline,))
    if cheaper is not None:
        return cheaper, True
    band = points[(points["method"] == baseline) & points["macs_rel"].between(0.4, 0.6)]
    return (None if band.empty else band.loc[band["macs_rel"].idxmin()]), False


def verdicts(label: str, points: pd.DataFrame, stored: pd.DataFrame) -> list[dict]:
    rows = []
    best = study.best_at(points)
    for _, row in best[best["score"].notna() & ~best["variant"].str.startswith(study.TRIVIAL)].iterrows():
        for baseline in study.TRIVIAL:
            found, no_more = baseline_point(points, row["macs_rel"], baseline)
            if found is None:
                continue
            paired = compare_runs(stored, row["group"], found["group"])
            verdict = "cannot tell"
            if paired.ci_low > 0:
                verdict = "pays"
            elif paired.ci_high < 0 and no_more:
                verdict = "does not pay"
            rows.append(
                dict(
                    setting=label,
                    method=row["variant"],
                    regime=row["regime"],
                    macs=f"{row['macs_rel']:.2f}x ({row['macs_real_rel']:.2f}x real)",
                    baseline=f"{found['variant']} {found['regime']}, {found['macs_rel']:.2f}x "
                    f"({found['macs_real_rel']:.2f}x real)",
                    difference=f"{paired.difference:+.2f} [{paired.ci_low:+.2f}, {paired.ci_high:+.2f}]",
                    seeds=len(paired.seeds),
                    verdict=verdict if no_more or verdict == "pays" else "cannot tell (baseline costs more)",
                )
            )
    return rows


def main() -> None:
    settings, rows = [], []
    for path in sys.argv[1:] or SPECS:
        spec = sweep.load_spec(path)
        stored = load(spec.results)
        for task, points in sweep.study_points(spec, stored).items():
            label = f"{task}, n = {spec.train.get('seq_len')}"
            settings.append((points, stored))
            rows += verdicts(label, points, stored)
    print(pd.DataFrame(rows).to_markdown(index=False))
    print()
    print(study.beats_trivial(settings).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
