"""The trivial baselines a method must beat (truncation, layer dropping): what they keep, their exact counts,
their budgets, and the study's comparison with them (the best baseline at no more MACs, the probability of
beating it across settings)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from fcabench import methods, runs
from fcabench.counting import budget
from fcabench.methods.layer_drop import LayerDropConfig
from fcabench.methods.truncate import TruncateConfig, truncation_mask
from fcabench.runs import predictions, study
from fcabench.runs.stats import probability_of_improvement
from tests.conftest import padded_batch, tiny_model
from tests.helpers import VANILLA_MACS, cli, row
from tests.helpers import predictions as prediction_table


@pytest.mark.parametrize(
    "side, share, kept",
    [
        ("head", 0.25, [0, 1, 2, 3, 9]),
        ("tail", 0.25, [0, 6, 7, 8, 9]),
        ("head+tail", 0.5, [0, 1, 2, 8, 9]),  # 3 slots between the ends: 2 from the head, 1 from the tail
        ("head+tail", 0.25, [0, 1, 7, 8, 9]),
    ],
)
def test_truncation_keeps_the_first_and_last_tokens_and_the_side_it_names(side, share, kept):
    keep = torch.zeros(2, 12, dtype=torch.bool)
    keep[0, :10] = True
    keep[1, :3] = True  # shorter than keep: whole
    mask = truncation_mask(keep, TruncateConfig(keep=5, side=side, head_share=share))
    assert mask[0].nonzero().flatten().tolist() == kept
    assert mask[1].nonzero().flatten().tolist() == [0, 1, 2]


def test_a_truncated_model_runs_on_the_kept_tokens_alone():
    model = tiny_model(layers=2)
    ids, mask = padded_batch([12, 4])
    methods.apply(model, "truncate", keep=6)
    model(input_ids=ids, attention_mask=mask)
    record = methods.unit_record(model)
    assert record.tokens_in.tolist() == [[6, 6], [4, 4]] and record.masks_in[0].shape[1] == 6


@pytest.mark.parametrize(
    "k, rule, dropped",
    [(8, "top", {8, 9, 10, 11}), (8, "alternate", {11, 9, 7, 5}), (4, "alternate", {11, 9, 7, 5, 3, 1, 10, 8})],
)
def test_layer_dropping_rules(k, rule, dropped):
    assert LayerDropConfig(k=k, drop=rule).dropped(12) == dropped


@pytest.mark.parametrize("drop, kept", [("top", [0, 1]), ("alternate", [0, 2])])
def test_dropping_layers_equals_a_model_cut_to_the_kept_ones(drop, kept):
    reference = tiny_model(layers=4)
    cut = copy.deepcopy(reference)
    cut.bert.encoder.layer = torch.nn.ModuleList([cut.bert.encoder.layer[i] for i in kept])
    cut.config.num_hidden_layers = 2
    model = methods.apply(copy.deepcopy(reference), "layer-drop", k=2, drop=drop)
    ids, mask = padded_batch([12, 7])
    torch.testing.assert_close(
        model(input_ids=ids, attention_mask=mask).logits, cut(input_ids=ids, attention_mask=mask).logits
    )
    runs_on = [[12 if i in kept else 0 for i in range(4)], [7 if i in kept else 0 for i in range(4)]]
    assert methods.unit_record(model).tokens_in.tolist() == runs_on


def test_the_default_rule_is_the_better_one_measured():
    assert methods.make_config("layer-drop", k=3).drop == "alternate"


def test_a_budget_turns_keep_and_k_and_layer_dropping_takes_the_closest_count():
    (half,) = budget.resolve("bert-base", "truncate", {}, [0.5], 128)
    assert half.options == {"keep": 65} and abs(half.achieved - 0.5) < 0.005
    two_x, between = budget.resolve("bert-base", "layer-drop", {}, [0.5, 0.45], 128)
    assert two_x.options == {"k": 6} and two_x.achieved == 0.5
    assert between.options == {"k": 5} and between.achieved == pytest.approx(5 / 12)  # closest, said as reached


@pytest.mark.parametrize("model", ["bert-base", "roberta-base"])
@pytest.mark.parametrize("options", [["-m", "truncate", "--keep", "16"], ["-m", "layer-drop", "--k", "3"]])
def test_profile_counts_each_baseline_exactly(capsys, model, options):
    code, out, err = cli(capsys, "profile", "--model", model, "-n", "32", *options)
    assert code == 0, err
    assert "closed form" in out and ": equal;" in out


def predicted(run_id, store, labels, wrong):
    """Kept predictions for ``run_id`` that get the first ``wrong`` examples wrong."""
    guesses = [(label + 1) % 3 if i < wrong else label for i, label in enumerate(labels)]
    table = predictions.frame(range(len(labels)), labels, [[float(k == g) for k in range(3)] for g in guesses])
    predictions.write(table, predictions.path_for(run_id, store), run_id=run_id, data_sha256="")


def test_the_table_compares_each_method_with_the_best_trivial_baseline_at_no_more_macs(tmp_path):
    store = tmp_path / "study.jsonl"
    labels = [0, 1, 2] * 10
    jobs = [  # method, config, MACs x vanilla, examples wrong
        ("vanilla", {}, 1.0, 0),
        ("power-bert", {"retention": [32, 16]}, 0.5, 3),
        ("truncate", {"keep": 33, "side": "head"}, 0.51, 6),  # within the tolerance: no more MACs
        ("truncate", {"keep": 20, "side": "tail"}, 0.3, 9),  # cheaper and worse
        ("layer-drop", {"k": 1, "drop": "top"}, 0.5, 1),  # the best at no more MACs
        ("layer-drop", {"k": 2, "drop": "alternate"}, 0.75, 0),  # better, but costs more: never chosen
    ]
    stored_rows = []
    for seed in (0, 1):
        for method, config, macs, wrong in jobs:
            stage = "fine-tune" if method in ("vanilla", "truncate", "layer-drop") else "retrain"
            score = 100.0 * (1 - wrong / len(labels))
            stored_rows.append(row(method, stage, score, macs * VANILLA_MACS, config=config, seed=seed))
    runs.append(stored_rows, store)
    for (_, run), (_, _, _, wrong) in zip(runs.load(store).iterrows(), jobs * 2):
        predicted(run["run_id"], store, labels, wrong)
    stored = runs.load(store)
    points = study.study_points(stored, "bbc-news")
    chosen = study.best_trivial(points, 0.5)
    assert (chosen["variant"], chosen["macs_rel"]) == ("layer-drop-top", 0.5)
    assert study.best_trivial(points, 0.2) is None
    table = study.summary_table(points, runs=stored).set_index("method")
    cell = table.loc["power-bert", "retrained - best trivial"]  # 90 % against 96.7 %
    assert cell.startswith("-6.67 [") and cell.endswith(
        f"], 2 seeds vs layer-drop-top ({chosen['config_label']}, 0.50x)"
    ), cell
    assert table.loc["truncate-head", "retrained - best trivial"] == ""  # a baseline is not set against itself
    entries = study.entry_table(points.assign(entry=points["variant"]), runs=stored).set_index("entry")
    assert entries.loc["power-bert", "- best trivial"] == cell


def test_the_probability_of_beating_a_baseline_is_stratified_over_settings():
    always = [prediction_table(range(100), seed=s) for s in range(3)]
    never = [prediction_table([], seed=s) for s in range(3)]
    half = [prediction_table(range(50), seed=s) for s in range(3)]
    wins = probability_of_improvement([(always, half), (always, never)], resamples=300)
    assert (wins.probability, wins.ci_low, wins.ci_high, wins.settings) == (1.0, 1.0, 1.0, 2)
    split = probability_of_improvement([(always, half), (half, always)], resamples=300)
    assert split.probability == 0.5 and split.ci_low == split.ci_high == 0.5  # each setting decided either way
    close = [prediction_table(range(52), seed=s) for s in range(3)]
    near = probability_of_improvement([(close, half)], resamples=500)
    assert near.probability == 1.0 and near.ci_low < 1.0  # 2 examples ahead: not certain once examples are redrawn


def test_beats_trivial_reads_each_setting_and_pairs_each_method_with_each_baseline(tmp_path):
    settings = []
    for name, (pb_wrong, ld_wrong) in {"a": (3, 6), "b": (3, 1)}.items():
        store = tmp_path / f"{name}.jsonl"
        labels = [0, 1, 2] * 10
        jobs = [
            ("vanilla", "fine-tune", {}, 1.0, 0),
            ("power-bert", "retrain", {"retention": [32, 16]}, 0.5, pb_wrong),
            ("layer-drop", "fine-tune", {"k": 1}, 0.5, ld_wrong),
        ]
        runs.append(
            [row(m, s, 90.0, x * VANILLA_MACS, config=c, seed=seed) for seed in (0, 1) for m, s, c, x, _ in jobs], store
        )
        for (_, run), job in zip(runs.load(store).iterrows(), jobs * 2):
            predicted(run["run_id"], store, labels, job[-1])
        stored = runs.load(store)
        settings.append((study.study_points(stored, "bbc-news"), stored))
    table = study.beats_trivial(settings, resamples=200)
    assert table[["method", "regime", "baseline", "settings"]].values.tolist() == [
        ["power-bert", "retrained", "layer-drop", 2]
    ]
    assert table["probability"].iloc[0] == 0.5  # wins in one setting, loses in the other
    assert isinstance(table, pd.DataFrame) and np.isfinite(table[["ci_low", "ci_high"]].to_numpy()).all()


def test_the_study_figure_draws_the_trivial_baselines_frontier(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fcabench.plots.study import FREE_LABEL, plot_study

    store = tmp_path / "study.jsonl"
    jobs = [
        ("vanilla", "fine-tune", {}, 1.0, 98.0),
        ("truncate", "fine-tune", {"keep": 20}, 0.3, 90.0),
        ("truncate", "fine-tune", {"keep": 33}, 0.5, 94.0),
        ("layer-drop", "fine-tune", {"k": 1}, 0.5, 92.0),  # under truncation's 94 at the same cost
        ("power-bert", "retrain", {"retention": [32, 16]}, 0.5, 96.0),
    ]
    runs.append([row(m, s, score, x * VANILLA_MACS, config=c) for m, s, c, x, score in jobs], store)
    ax = plot_study(study.study_points(runs.load(store), "bbc-news"))
    try:
        (frontier,) = [line for line in ax.get_lines() if line.get_label() == FREE_LABEL]
        assert list(frontier.get_xdata()) == [0.3, 0.5, 1.0]
        assert list(frontier.get_ydata()) == [90.0, 94.0, 94.0]  # the best at each cost or less
    finally:
        plt.close(ax.figure)
