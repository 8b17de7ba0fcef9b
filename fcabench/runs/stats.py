"""Several seeds, one claim: runs grouped over seeds with an interval, and paired comparisons of configurations.

:func:`aggregate` groups stored runs that differ only by their seed (the same method and configuration,
backbone, task, split, data, length, stage and training budget) and reports, for the metric and for the
MACs, n, mean, standard deviation and a 95 % **t-interval over seeds** (mean +- t(0.975, n - 1) s / sqrt(n);
one seed gives no interval). Repeats stored on purpose (``repeat_of``) are left out.

:func:`compare` is the paired difference A - B of two configurations scored on the same examples at the
same seeds (a method against vanilla, say), from their kept predictions (:mod:`fcabench.runs.predictions`):
the point estimate is the mean over seeds of the metric's difference; the 95 % interval is a **paired
bootstrap over seeds and examples** (each resample draws seeds with replacement, then, within each seed,
examples with replacement, the same examples for A and B) and takes the 2.5 and 97.5 percentiles; the
probability of improvement is the share of resamples in which A scores above B.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fcabench.errors import FcabenchError
from fcabench.runs.schema import FRONT_LABEL
from fcabench.tasks.metrics import within_scale

# What makes two runs the same configuration: everything but the seed (and what follows from it).
GROUP_KEYS = (
    "method",
    "method_config",
    "model",
    "task",
    "split",
    "metric",
    "seq_len",
    "stage",
    "source",
    "data_sha256",
    "train_epochs",
    "train_max_steps",
    "train_batch_size",
    "train_learning_rate",
    "train_examples",
    "count_length",
)
# A trained run's operating point stands for its method, configuration asked for, backbone and training budget.
POINT_KEYS = ("point_id", "task", "split", "metric", "seq_len", "stage", "source", "data_sha256", "count_length")
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def t_interval(values) -> tuple[float, float]:
    """95 % t-interval of the mean of ``values`` (NaN for fewer than two)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan, math.nan
    mean, sem = values.mean(), values.std(ddof=1) / math.sqrt(len(values))
    if sem == 0:
        return float(mean), float(mean)
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=mean, scale=sem)
    return float(low), float(high)


def _key_text(value) -> str:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def group_id(row) -> str:
    """A short id naming a row's configuration (the same for every seed of it). A trained run names its
    operating point (``point_id``: the request without its seed), so a retention derived by a search or
    thresholds learned at each seed still group; older rows are grouped by what they ran. A row that records no
    seed (runs stored before evaluations carried their checkpoint's training) is a group of its own: nothing
    says that what else it shares with another row is all that differs; so is a configuration of a front."""
    keys = POINT_KEYS if _key_text(row.get("point_id")) else GROUP_KEYS
    text = "|".join(f"{k}={_key_text(row.get(k))}" for k in keys)
    # a row of one trained model's front (LAT) is a group of its own too: its seeds are other fronts, and a
    # configuration two fronts share is two points, not one with an interval
    if not _key_text(row.get("seed")) or row.get("config_label") == FRONT_LABEL:
        text += f"|run_id={row.get('run_id')}"
    return "g-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and metric of ``runs`` (as :func:`fcabench.runs.load` returns them): n, seeds,
    mean, std, ci_low and ci_high of the score (t-interval over seeds), and the same for ``macs``."""
    scored = runs[runs["score"].notna()]
    if "repeat_of" in scored:
        scored = scored[scored["repeat_of"].isna()]
    if scored.empty:
        return pd.DataFrame(
            columns=[
                "group_id",
                *GROUP_KEYS,
                "n",
                "seeds",
                "mean",
                "std",
                "ci_low",
                "ci_high",
                "macs_mean",
                "macs_ci_low",
                "macs_ci_high",
                "run_ids",
            ]
        )
    ids = scored.apply(group_id, axis=1)
    rows = []
    for gid, group in scored.groupby(ids, sort=False):
        first = group.iloc[0]
        scores = group["score"].astype(float).to_numpy()
        macs = group["macs"].astype(float).dropna().to_numpy() if "macs" in group else np.array([])
        low, high = within_scale(first.get("metric"), *t_interval(scores))
        macs_low, macs_high = t_interval(macs)
        rows.append(
            {
                "group_id": gid,
                **{k: first.get(k) for k in GROUP_KEYS},
                "n": len(group),
                "seeds": ",".join(str(s) for s in group["seed"].tolist()) if "seed" in group else "",
                "mean": float(scores.mean()),
                "std": float(scores.std(ddof=1)) if len(scores) > 1 else math.nan,
                "ci_low": low,
                "ci_high": high,
                "macs_mean": float(macs.mean()) if len(macs) else math.nan,
                "macs_ci_low": macs_low,
                "macs_ci_high": macs_high,
                "run_ids": ",".join(group["run_id"]),
            }
        )
    return pd.DataFrame(rows)


def collapse_seeds(rows: pd.DataFrame, columns=("score",)) -> pd.DataFrame:
    """Measured ``rows`` that differ only by seed as one row each: every column of ``columns`` becomes its mean
    over the seeds, with ``<column>_ci_low`` / ``<column>_ci_high`` (t-interval; NaN for one seed), ``n`` and
    ``group`` (:func:`group_id`, for paired comparisons) beside it; other rows (published, claims) stay as they
    are, with n = 1 and no group."""
    rows = rows.copy()
    for column in columns:
        rows[f"{column}_ci_low"], rows[f"{column}_ci_high"] = math.nan, math.nan
    rows["n"], rows["group"] = 1, None
    measured = rows["source"] == "measured"
    if "repeat_of" in rows:
        rows = rows[~(measured & rows["repeat_of"].notna())]
        measured = rows["source"] == "measured"
    if not measured.any():
        return rows
    kept = [rows[~measured]]
    ids = rows[measured].apply(group_id, axis=1)
    for name, group in rows[measured].groupby(ids, sort=False):
        row = group.iloc[[0]].copy()
        row["group"] = name
        for column in columns:
            values = group[column].astype(float).dropna().to_numpy()
            row[column] = values.mean() if len(values) else math.nan
            row[f"{column}_ci_low"], row[f"{column}_ci_high"] = t_interval(values)
        row["n"] = len(group)
        kept.append(row)
    return pd.concat(kept, ignore_index=True)


@dataclass(frozen=True)
class Comparison:
    """A - B on the same examples and seeds."""

    metric: str
    difference: float  # mean over seeds of metric(A) - metric(B), on the metric's 0-100 scale
    ci_low: float  # 2.5 percentile of the paired bootstrap
    ci_high: float  # 97.5 percentile
    prob_improvement: float  # share of bootstrap resamples with A above B
    seeds: tuple  # the seeds paired
    examples: int  # examples per seed
    resamples: int

    def __str__(self) -> str:
        return (
            f"{self.metric}: A - B = {self.difference:+.2f} points, 95 % paired bootstrap interval "
            f"[{self.ci_low:+.2f}, {self.ci_high:+.2f}] over {len(self.seeds)} seed(s) x {self.examples} examples "
            f"({self.resamples} resamples); P(A > B) = {self.prob_improvement:.3f}"
        )


def compare(
    a: list[pd.DataFrame],
    b: list[pd.DataFrame],
    metric: str = "accuracy",
    *,
    seeds=None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    random_state: int = 0,
) -> Comparison:
    """Paired comparison of two configurations from their predictions, one table per seed on each side (paired
    by position: ``a[i]`` and ``b[i]`` are the same seed on the same examples)."""
    labels, predicted_a, predicted_b, score = _paired_columns(a, b, metric)

    def difference(s, index):
        return score(predicted_a[s], labels[s], index) - score(predicted_b[s], labels[s], index)

    differences = [difference(s, np.arange(len(labels[s]))) for s in range(len(a))]
    generator = np.random.default_rng(random_state)
    boot = np.empty(resamples)
    for r in range(resamples):
        drawn = generator.integers(0, len(a), len(a))
        total = 0.0
        for s in drawn:
            total += difference(s, generator.integers(0, len(labels[s]), len(labels[s])))
        boot[r] = total / len(drawn)
    low, high = np.percentile(boot, [2.5, 97.5])
    return Comparison(
        metric=metric,
        difference=float(np.mean(differences)),
        ci_low=float(low),
        ci_high=float(high),
        prob_improvement=float((boot > 0).mean()),
        seeds=tuple(seeds or range(len(a))),
        examples=len(a[0]),
        resamples=resamples,
    )


def _paired_columns(a: list[pd.DataFrame], b: list[pd.DataFrame], metric: str):
    """(labels, A's predictions, B's predictions, score) of paired prediction tables, one per seed on each side,
    as arrays (a bootstrap scores every seed thousands of times); ``score(predicted, labels, index)`` scores the
    examples at ``index``. Refused unless both sides hold the same seeds, examples and labels."""
    from fcabench.tasks import metrics as known

    if len(a) != len(b) or not a:
        raise FcabenchError(f"compare needs the same seeds on both sides, got {len(a)} and {len(b)} runs")
    function = getattr(known, metric, None)
    if function is None or metric.startswith("_"):
        raise FcabenchError(f"unknown metric {metric!r}")
    for left, right in zip(a, b):
        if len(left) != len(right) or not (left["example_id"].to_numpy() == right["example_id"].to_numpy()).all():
            raise FcabenchError(
                "the two runs were not scored on the same examples in the same order: no paired comparison"
            )
        if not np.array_equal(left["label"].to_numpy(), right["label"].to_numpy()):
            raise FcabenchError("the two runs' labels differ on the same examples: no paired comparison")

    def score(predicted, truth, index):
        predicted, truth = predicted[index], truth[index]
        if metric == "accuracy":  # the same as known.accuracy, without scikit-learn's checks on every resample
            return 100.0 * float(np.mean(predicted == truth))
        return function(predicted, truth)

    labels = [t["label"].to_numpy() for t in a]
    return labels, [t["prediction"].to_numpy() for t in a], [t["prediction"].to_numpy() for t in b], score


@dataclass(frozen=True)
class Improvement:
    """P(A > B) across settings (tasks and lengths), with its stratified-bootstrap interval."""

    probability: float
    ci_low: float
    ci_high: float
    settings: int
    resamples: int

    def __str__(self) -> str:
        return (
            f"P(A > B) = {self.probability:.2f} [{self.ci_low:.2f}, {self.ci_high:.2f}] over {self.settings} "
            f"setting(s) (95 % stratified bootstrap, {self.resamples} resamples)"
        )


def probability_of_improvement(
    settings: list[tuple[list[pd.DataFrame], list[pd.DataFrame]]],
    metric: str = "accuracy",
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    random_state: int = 0,
) -> Improvement:
    """How likely A beats B across settings, as rliable aggregates (Agarwal et al., NeurIPS 2021): in each
    setting, the share of (run of A, run of B) pairs over its seeds in which A scores above B (a tie counts
    half), averaged over the settings. ``settings``: per setting, (A's, B's) prediction tables, one per seed,
    paired as :func:`compare` pairs them. The 95 % interval is a stratified bootstrap: every resample keeps
    every setting, draws its seeds with replacement and, within each drawn seed, its examples with
    replacement (the same examples for A and B)."""
    if not settings:
        raise FcabenchError("probability_of_improvement needs at least one setting")
    columns = [_paired_columns(a, b, metric) for a, b in settings]

    def setting_probability(labels, predicted_a, predicted_b, score, seeds, draws):
        a = np.array([score(predicted_a[s], labels[s], index) for s, index in zip(seeds, draws)])
        b = np.array([score(predicted_b[s], labels[s], index) for s, index in zip(seeds, draws)])
        wins = (a[:, None] > b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean()
        return float(wins)

    def everything(labels):
        return [np.arange(len(x)) for x in labels]

    point = np.mean([setting_probability(*c, range(len(c[0])), everything(c[0])) for c in columns])
    generator = np.random.default_rng(random_state)
    boot = np.empty(resamples)
    for r in range(resamples):
        values = []
        for c in columns:
            labels = c[0]
            seeds = generator.integers(0, len(labels), len(labels))
            draws = [generator.integers(0, len(labels[s]), len(labels[s])) for s in seeds]
            values.append(setting_probability(*c, seeds, draws))
        boot[r] = np.mean(values)
    low, high = np.percentile(boot, [2.5, 97.5])
    return Improvement(float(point), float(low), float(high), len(settings), resamples)


@dataclass(frozen=True)
class PairedTables:
    """Two stored configurations' prediction tables on the seeds they share, paired by position."""

    a: list[pd.DataFrame]
    b: list[pd.DataFrame]
    seeds: tuple
    metric: str


def group_ids(runs: pd.DataFrame) -> pd.Series:
    """The :func:`group_id` of every row of ``runs``."""
    return runs.apply(group_id, axis=1) if len(runs) else pd.Series(dtype=str)


def select(runs: pd.DataFrame, name: str, ids: pd.Series | None = None) -> pd.DataFrame:
    """The rows of the run or group ``name``: a run_id or a group_id, whole or any unique prefix of one (tables
    print 12 characters); an ambiguous prefix is refused with its candidates."""
    ids = group_ids(runs) if ids is None else ids
    chosen = runs[(runs["run_id"] == name) | (ids == name)]
    if not chosen.empty or not name:
        if chosen.empty:
            raise FcabenchError("an empty run or group id")
        return chosen
    candidates = sorted({i for i in (*runs["run_id"], *ids) if i.startswith(name)})
    if len(candidates) > 1:
        shown = ", ".join(candidates[:5]) + (f" and {len(candidates) - 5} more" if len(candidates) > 5 else "")
        raise FcabenchError(f"{name!r} is the start of several runs or groups: {shown}; give more characters")
    if not candidates:
        raise FcabenchError(f"no run or group {name!r} in the store (see fcabench runs list --aggregate)")
    return runs[(runs["run_id"] == candidates[0]) | (ids == candidates[0])]


def paired_tables(runs: pd.DataFrame, a: str, b: str, metric: str | None = None) -> PairedTables:
    """The prediction tables of two stored configurations (each a run_id or a group_id of :func:`aggregate`, or a
    unique prefix of one: :func:`select`) on the seeds both hold, read beside the run file each run is stored in."""
    from fcabench.runs import predictions

    ids = group_ids(runs)  # once, for both sides
    sides = [select(runs, name, ids) for name in (a, b)]
    metric = metric or sides[0]["metric"].iloc[0]
    sides = [side[side["metric"] == metric] for side in sides]
    if any(side.empty for side in sides):
        raise FcabenchError(f"both sides need runs scored on {metric}")
    by_seed = [{row["seed"]: row for _, row in side.iterrows()} for side in sides]
    seeds = sorted(set(by_seed[0]) & set(by_seed[1]), key=str)
    if not seeds:
        raise FcabenchError(
            f"no seed in common: A has {sorted(by_seed[0], key=str)}, B has {sorted(by_seed[1], key=str)}"
        )
    tables = [[predictions.of_run(side[s], side[s]["store_file"]) for s in seeds] for side in by_seed]
    return PairedTables(tables[0], tables[1], tuple(seeds), metric)


def compare_runs(runs: pd.DataFrame, a: str, b: str, metric: str | None = None, **options) -> Comparison:
    """:func:`compare` of two stored configurations, each named by a run_id or a group_id of :func:`aggregate`
    (``runs`` as :func:`fcabench.runs.load` returns them); seeds present on both sides are paired, and their
    predictions are read beside the run file each run is stored in."""
    paired = paired_tables(runs, a, b, metric)
    return compare(paired.a, paired.b, paired.metric, seeds=paired.seeds, **options)
