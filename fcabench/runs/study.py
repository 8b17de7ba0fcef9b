"""Reading a measured trade-off study back: one point per job, its cost relative to vanilla, the table
(:func:`fcabench.plots.study.plot_study` draws it).

A job's runs are the stages it trained (PoWER-BERT: search, retrain); the point that stands for the job
is its final stage (the intermediate ``search`` and ``soft`` stages score models that are not the
method's end product). The seeds of one configuration are one point: the mean, with its 95 % t-interval
over seeds (:mod:`fcabench.runs.stats`). Costs are relative to the vanilla run of the same model, task and
length (its mean over seeds): ``macs_rel`` at the padded length, ``macs_real_rel`` at each example's real
length (mean).
"""

from __future__ import annotations

import json

import pandas as pd

from fcabench.errors import FcabenchError
from fcabench.runs.schema import FRONT_LABEL, intermediate
from fcabench.runs.stats import collapse_seeds, compare_runs, paired_tables, probability_of_improvement

REGIMES = {"training-free": "training-free"}  # stage -> regime; every other final stage is "retrained"


# What a user can do at a MAC budget without any token-reduction method: the baselines a method must beat.
TRIVIAL = ("truncate", "layer-drop")
# "No more MACs" within this share: budgets met by bisection land a fraction of a percent apart.
MACS_TOLERANCE = 0.02


def variant(method: str, config: dict) -> str:
    """The name a study compares under: FCA by cluster count, Focus on the Core by ablation, truncation by the
    side it keeps, layer dropping by its rule."""
    if method == "fca":
        return f"fca-{config.get('clusters', 5)}"
    if method == "focus-core":
        return f"focus-core-{config.get('variant', 'PFC')}"
    if method == "truncate":
        return f"truncate-{config.get('side', 'head')}"
    if method == "layer-drop":
        return f"layer-drop-{config.get('drop', 'top')}"
    return method


def best_trivial(points: pd.DataFrame, macs_rel: float, baselines=TRIVIAL) -> pd.Series | None:
    """The trivial baseline (one of ``baselines``, any regime) with the best score among those that cost no more
    padded-length MACs than ``macs_rel`` (within :data:`MACS_TOLERANCE`); None when none does."""
    free = points[points["method"].isin(baselines) & (points["macs_rel"] <= macs_rel * (1 + MACS_TOLERANCE))]
    return None if free.empty else free.loc[free["score"].idxmax()]


def beats_trivial(
    settings: list[tuple[pd.DataFrame, pd.DataFrame]],
    target: float = 0.5,
    band: tuple[float, float] = (0.4, 0.6),
    **options,
) -> pd.DataFrame:
    """Across studies (``settings``: each one's points and stored runs), for every method's best point at about
    ``target`` x vanilla's MACs and each trivial baseline: the probability that the method beats the baseline's
    best point at no more MACs (:func:`fcabench.runs.stats.probability_of_improvement`, stratified over the
    settings where both were run, their seeds and examples). ``options`` go to that function."""
    pairs: dict[tuple[str, str, str], list] = {}
    for points, runs in settings:
        best = best_at(points, target, band)
        for _, row in best[best["score"].notna() & ~best["variant"].str.startswith(TRIVIAL)].iterrows():
            for baseline in TRIVIAL:
                found = best_trivial(points, row["macs_rel"], (baseline,))
                if found is not None:
                    tables = paired_tables(runs, row["group"], found["group"])
                    pairs.setdefault((row["variant"], row["regime"], baseline), []).append((tables.a, tables.b))
    rows = []
    for (name, regime, baseline), tables in sorted(pairs.items()):
        found = probability_of_improvement(tables, **options)
        rows.append(
            dict(
                method=name,
                regime=regime,
                baseline=baseline,
                probability=found.probability,
                ci_low=found.ci_low,
                ci_high=found.ci_high,
                settings=found.settings,
            )
        )
    return pd.DataFrame(rows, columns=["method", "regime", "baseline", "probability", "ci_low", "ci_high", "settings"])


def _title(task: str) -> str:
    """Runs store a registered task under its title ("bbc-news" -> "BBC News")."""
    from fcabench import tasks

    return tasks.get(task).title if task in tasks.names() else task


REFERENCE = "vanilla"  # the unreduced model every cost is relative to


def relative_points(rows: pd.DataFrame, runs: pd.DataFrame, collapse=("score",)) -> pd.DataFrame:
    """The one path from stored runs to drawn points: each row's ``macs`` and ``macs_real_mean`` over the mean of the
    unreduced (vanilla) runs of the same backbone, task and length in ``runs`` (``macs_rel``, ``macs_real_rel``;
    NaN where there is none), then a configuration's seeds collapsed into one point (``collapse`` and both
    relative costs: mean and 95 % t-interval over seeds, ``n``, ``group``; :func:`fcabench.runs.stats.collapse_seeds`).
    ``plot pareto`` and the study's table and figure all read their points from here."""
    rows = rows.copy()
    keys = list(zip(rows["model"], rows["task"], rows["seq_len"]))
    reference = runs[runs["method"] == REFERENCE]
    relative = []
    for column, name in (("macs", "macs_rel"), ("macs_real_mean", "macs_real_rel")):
        if column not in runs or column not in rows:
            rows[name] = float("nan")
            continue
        base = reference[reference[column].notna()].groupby(["model", "task", "seq_len"])[column].mean()
        rows[name] = [
            v / base[k] if k in base.index and pd.notna(v) else float("nan") for v, k in zip(rows[column], keys)
        ]
        relative.append(name)
    return collapse_seeds(rows, tuple(dict.fromkeys((*collapse, *relative))))


def study_points(
    runs: pd.DataFrame,
    task: str | None = None,
    metric: str = "accuracy",
    split: str | None = None,
    fronts: bool = False,
) -> pd.DataFrame:
    """One row per scored model of a study (final stages only), with ``variant``, ``regime``, ``macs_rel``,
    ``macs_real_rel`` and the vanilla score beside it; empty when there are no measured runs with stages.
    ``split``: the scored split to read (None: every split, as stored). ``fronts``: instead, every configuration
    of every stored front (LAT's, one per trained model; ``parent_run_id`` names the front), drawn as lines."""
    columns = [
        "variant",
        "regime",
        "method",
        "config_label",
        "score",
        "score_ci_low",
        "score_ci_high",
        "n",
        "macs_rel",
        "macs_real_rel",
        "vanilla_score",
        "seq_len",
        "model",
        "task",
        "stage",
        "run_id",
        "method_config",
        "group",
        "parent_run_id",
    ]
    if "stage" not in runs:
        return pd.DataFrame(columns=columns)
    rows = runs[
        (runs["source"] == "measured")
        & (runs["metric"] == metric)
        & runs["stage"].notna()
        & ~intermediate(runs)
        & runs["macs"].notna()
    ]
    on_front = rows["config_label"] == FRONT_LABEL  # one model's front: a line; its picks at budgets are the points
    rows = rows[(on_front | (rows["method"] == "vanilla")) if fronts else ~on_front]
    if task is not None:
        rows = rows[rows["task"].isin({task, _title(task)})]
    if split is not None:
        rows = rows[rows["split"] == split]
    rows = rows.drop_duplicates("run_id", keep="last").copy()
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = relative_points(rows, rows)
    rows = rows[rows["macs_rel"].notna()]  # a point without its vanilla is not part of the study
    configs = [json.loads(c) if isinstance(c, str) else dict(c) for c in rows["method_config"]]
    rows["variant"] = [variant(m, c) for m, c in zip(rows["method"], configs)]
    rows["regime"] = [
        "fine-tuned" if m == "vanilla" else REGIMES.get(s, "retrained") for m, s in zip(rows["method"], rows["stage"])
    ]
    vanilla = rows[rows["method"] == REFERENCE].groupby(["model", "task", "seq_len"])["score"].last()
    rows["vanilla_score"] = [vanilla.get(k) for k in zip(rows["model"], rows["task"], rows["seq_len"])]
    if fronts:
        rows = rows[rows["method"] != "vanilla"]
    return rows[columns].sort_values(["variant", "regime", "macs_rel"]).reset_index(drop=True)


def published_points(runs: pd.DataFrame, task: str, seq_len: int, metric: str = "accuracy") -> pd.DataFrame:
    """The published rows of ``task`` at ``seq_len`` that print a cost relative to their own BERT
    (``flops_rel_bert_base``): what a study's figure draws beside its points (a paper's backbone and budget, so
    the shape of its trade-off, not a like-for-like point)."""
    return runs[
        (runs["source"] == "published")
        & (runs["metric"] == metric)
        & runs["flops_rel_bert_base"].notna()
        & runs["task"].isin({task, _title(task)})
        & (runs["seq_len"] == seq_len)
    ].reset_index(drop=True)


def best_at(points: pd.DataFrame, target: float = 0.5, band: tuple[float, float] = (0.4, 0.6)) -> pd.DataFrame:
    """For each variant and regime: the best score among its points whose padded-length MACs are within
    ``band`` x vanilla's (about ``target``); variants with no point in the band get an empty score and
    their point closest to the target, so the table says what they reached instead."""
    rows = []
    for (name, regime), group in points[points["method"] != "vanilla"].groupby(["variant", "regime"]):
        inside = group[group["macs_rel"].between(*band)]
        if inside.empty:
            closest = group.loc[(group["macs_rel"] - target).abs().idxmin()]
            rows.append(
                dict(
                    variant=name,
                    regime=regime,
                    score=None,
                    macs_rel=None,
                    config_label=None,
                    closest_macs_rel=closest["macs_rel"],
                    closest_macs_real_rel=closest["macs_real_rel"],
                    closest_score=closest["score"],
                    points=len(group),
                    group=None,
                )
            )
        else:
            best = inside.loc[inside["score"].idxmax()]
            rows.append(
                dict(
                    variant=name,
                    regime=regime,
                    score=best["score"],
                    score_ci_low=best["score_ci_low"],
                    score_ci_high=best["score_ci_high"],
                    n=best["n"],
                    macs_rel=best["macs_rel"],
                    macs_real_rel=best["macs_real_rel"],
                    config_label=best["config_label"],
                    closest_macs_rel=None,
                    closest_score=None,
                    points=len(group),
                    group=best["group"],
                )
            )
    table = pd.DataFrame(
        rows,
        columns=[
            "variant",
            "regime",
            "score",
            "score_ci_low",
            "score_ci_high",
            "n",
            "macs_rel",
            "macs_real_rel",
            "config_label",
            "closest_macs_rel",
            "closest_macs_real_rel",
            "closest_score",
            "points",
            "group",
        ],
    )
    return table.sort_values(["variant", "regime"]).reset_index(drop=True)


def summary_table(
    points: pd.DataFrame, target: float = 0.5, band: tuple[float, float] = (0.4, 0.6), runs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The study's table: one row per variant, the best mean score at about ``target`` x vanilla's MACs,
    retrained and training-free, as text cells "mean ± half-interval (MACs x, n seeds)" ("score (MACs x)" for
    one seed), the ratio at the examples' real lengths beside it where padding makes it differ; the vanilla row
    first. With the stored ``runs`` (their predictions beside them), each regime also
    gets the paired difference to vanilla on the same examples and seeds, "+d [low, high], n seeds" (95 % paired
    bootstrap, :func:`fcabench.runs.stats.compare_runs`; at one seed it resamples the examples alone)."""
    best = best_at(points, target, band)

    def cell(row) -> str:
        if row is None:
            return "not run"
        if pd.notna(row["score"]):
            return f"{_with_interval(row)} ({_cost(row['macs_rel'], row['macs_real_rel'])}{_seeds(row)})"
        closest = _cost(row["closest_macs_rel"], row["closest_macs_real_rel"])
        return f"none in band; closest {closest}: {row['closest_score']:.1f}"

    vanilla = points[points["method"] == "vanilla"]
    vanilla_group = vanilla.iloc[-1]["group"] if not vanilla.empty else None

    def paired(row) -> str:
        return "" if row is None else _paired(runs, row["group"], vanilla_group)

    def against_trivial(name, row) -> str:
        return "" if row is None or name.startswith(TRIVIAL) else _against_trivial(points, runs, row)

    regimes = ["retrained", "training-free"]
    columns = ["method", *regimes]
    if runs is not None:
        columns += [f"{r} - vanilla" for r in regimes] + [f"{r} - best trivial" for r in regimes]
    rows = []
    if not vanilla.empty:
        text = f"{_with_interval(vanilla.iloc[-1])} (1.00x{_seeds(vanilla.iloc[-1])})"
        rows.append({"method": "vanilla", "retrained": text, "training-free": text})
    for name, group in best.groupby("variant", sort=True):
        by_regime = {r["regime"]: r for _, r in group.iterrows()}
        row = {"method": name, **{r: cell(by_regime.get(r)) for r in regimes}}
        if runs is not None:
            row.update({f"{r} - vanilla": paired(by_regime.get(r)) for r in regimes})
            row.update({f"{r} - best trivial": against_trivial(name, by_regime.get(r)) for r in regimes})
        rows.append(row)
    return pd.DataFrame(rows, columns=columns).fillna("")


def entry_table(points: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per configuration among ``points`` that carries an ``entry`` (the sweep entry that ran it, e.g.
    "fca-5@2x"), whatever its MACs: the mean score ± half of its interval over seeds, its MACs / vanilla's at
    the padded and at the real lengths, its seeds and (with the stored ``runs``) its paired difference to
    vanilla; vanilla's row first."""
    vanilla = points[points["method"] == "vanilla"]
    vanilla_group = vanilla.iloc[-1]["group"] if not vanilla.empty else None
    columns = ["entry", "score", "macs_padded", "macs_real", "seeds"]
    columns += ["- vanilla", "- best trivial"] if runs is not None else []
    named = points[(points["method"] != "vanilla") & points["entry"].notna()].sort_values("entry")
    rows = []
    for _, point in pd.concat([vanilla.tail(1), named]).iterrows():
        row = dict(
            entry="vanilla" if point["method"] == "vanilla" else point["entry"],
            score=_with_interval(point),
            macs_padded=f"{point['macs_rel']:.2f}x",
            macs_real=f"{point['macs_real_rel']:.2f}x",
            seeds=int(point["n"]) if pd.notna(point["n"]) else 1,
        )
        if runs is not None and point["method"] != "vanilla":
            row["- vanilla"] = _paired(runs, point["group"], vanilla_group)
            if point["method"] not in TRIVIAL:
                row["- best trivial"] = _against_trivial(points, runs, point)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns).fillna("")


def _paired(runs: pd.DataFrame, group, vanilla_group) -> str:
    """The paired difference of ``group`` to vanilla's on the same examples and seeds, "+d [low, high], n seeds"."""
    if pd.isna(group) or vanilla_group is None:
        return ""
    try:
        found = compare_runs(runs, group, vanilla_group)
    except FcabenchError as error:  # e.g. runs without kept predictions
        return f"none: {error}"
    # always with its seed count: at one seed the interval resamples examples only, not training runs
    seeds = f"{len(found.seeds)} seed{'s' if len(found.seeds) > 1 else ''}"
    return f"{found.difference:+.2f} [{found.ci_low:+.2f}, {found.ci_high:+.2f}], {seeds}"


def _against_trivial(points: pd.DataFrame, runs: pd.DataFrame, row) -> str:
    """The paired difference of a method's point to the best trivial baseline at no more MACs, and which it was."""
    if pd.isna(row.get("macs_rel")):
        return ""
    baseline = best_trivial(points, row["macs_rel"])
    if baseline is None:
        return "none at no more MACs"
    found = _paired(runs, row["group"], baseline["group"])
    return f"{found} vs {baseline['variant']} ({baseline['config_label']}, {baseline['macs_rel']:.2f}x)"


def _cost(padded: float, real: float) -> str:
    """The MAC ratio at the padded length, and at the real lengths where they differ: a method that drops
    padding is credited with it at the padded length, which vanilla at the real lengths does not pay."""
    text = f"{padded:.2f}x"
    return text if pd.isna(real) or round(real, 2) == round(padded, 2) else f"{text}; {real:.2f}x at real lengths"


def _with_interval(row) -> str:
    low, high = row.get("score_ci_low"), row.get("score_ci_high")
    if low is None or pd.isna(low):
        return f"{row['score']:.1f}"
    return f"{row['score']:.1f} ± {(high - low) / 2:.1f}"


def _seeds(row) -> str:
    n = row.get("n")
    return f", {int(n)} seeds" if n is not None and pd.notna(n) and n > 1 else ""
