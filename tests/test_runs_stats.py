"""Seeds and intervals: aggregation over seeds (t-interval) and the paired bootstrap comparison, on cases
computed by hand or by scipy."""

import math

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from fcabench.errors import FcabenchError
from fcabench.runs import aggregate, compare
from fcabench.runs.stats import t_interval
from tests.helpers import predictions


def run(seed, score, method="fca", config=None, macs=1e9, **extra):
    return dict(
        run_id=f"{method}-{seed}-{score}",
        method=method,
        method_config=config or {"clusters": 5},
        model="minilm-l6",
        task="BBC News",
        split="test",
        metric="accuracy",
        score=score,
        seq_len=128,
        stage="retrain",
        source="measured",
        data_sha256="d" * 64,
        seed=seed,
        macs=macs,
        **extra,
    )


def test_the_t_interval_of_a_small_sample_is_scipys_and_identical_seeds_give_zero_width():
    low, high = t_interval([90.0, 92.0, 94.0])
    half = scipy_stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)  # sd 2, n 3: 4.968 by hand
    assert (low, high) == pytest.approx((92 - half, 92 + half)) and half == pytest.approx(4.968, abs=1e-3)
    assert t_interval([95.0, 95.0, 95.0]) == (95.0, 95.0)
    assert all(math.isnan(v) for v in t_interval([95.0]))


def test_runs_that_differ_only_by_seed_are_one_group():
    runs = pd.DataFrame(
        [
            run(0, 90.0),
            run(1, 92.0),
            run(2, 94.0, macs=1.2e9),
            run(0, 80.0, config={"clusters": 1}),
            run(0, 97.0, method="vanilla", config={}),
            run(1, 50.0, repeat_of="fca-1-92.0"),
        ]
    )
    table = aggregate(runs).set_index("mean")
    assert len(table) == 3
    fca = table.loc[92.0]
    assert fca["n"] == 3 and fca["seeds"] == "0,1,2" and fca["std"] == pytest.approx(2.0)
    assert (fca["ci_low"], fca["ci_high"]) == pytest.approx(t_interval([90, 92, 94]))
    assert fca["macs_mean"] == pytest.approx(1.0667e9, rel=1e-3)
    assert table.loc[80.0, "n"] == 1 and math.isnan(table.loc[80.0, "ci_low"])  # one seed: no interval
    assert len({table.loc[m, "group_id"] for m in (92.0, 80.0, 97.0)}) == 3


def test_runs_without_a_seed_are_never_grouped():
    """Two checkpoints scored before runs carried their seed: alike in every key, yet not seeds of one thing."""
    runs = pd.DataFrame([run(None, 96.9, method="vanilla", config={}), run(None, 98.7, method="vanilla", config={})])
    table = aggregate(runs)
    assert len(table) == 2 and (table["n"] == 1).all()


def test_a_paired_comparison_of_constructed_predictions():
    a = [predictions(range(90), seed=s) for s in range(3)]  # right on the first 90 examples
    b = [predictions(range(80), seed=s) for s in range(3)]  # right on the first 80: A is never worse
    result = compare(a, b, "accuracy", resamples=500)
    assert result.difference == pytest.approx(10.0)
    assert 0 < result.ci_low < 10 < result.ci_high < 20 and result.prob_improvement == 1.0
    same = compare(a, a, "accuracy", resamples=200)
    assert (same.difference, same.ci_low, same.ci_high, same.prob_improvement) == (0.0, 0.0, 0.0, 0.0)
    swapped = compare(b, a, "accuracy", resamples=500)
    assert swapped.difference == pytest.approx(-10.0) and swapped.ci_high < 0


def test_a_comparison_needs_the_same_examples_and_seeds():
    a = [predictions(range(90))]
    with pytest.raises(FcabenchError, match="same seeds"):
        compare(a, a * 2)
    other = a[0].assign(example_id=[f"x{i}" for i in range(100)])
    with pytest.raises(FcabenchError, match="same examples"):
        compare(a, [other])


def test_an_interval_never_reaches_past_the_metrics_scale():
    near_top = aggregate(pd.DataFrame([run(seed, score) for seed, score in enumerate((99.0, 100.0, 100.0))]))
    low, high = t_interval([99.0, 100.0, 100.0])
    assert high > 100 and near_top["ci_high"].item() == 100.0 and near_top["ci_low"].item() == pytest.approx(low)
    correlations = [
        dict(run(seed, score), metric="matthews_corr") for seed, score in enumerate((-99.0, -100.0, -100.0))
    ]
    assert aggregate(pd.DataFrame(correlations))["ci_low"].item() == -100.0  # a correlation's scale ends at -100
