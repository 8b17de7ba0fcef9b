"""The Length-Adaptive Transformer: LengthDrop's sampled configurations, the sandwich rule's in-place
distillation, the evolutionary search and its front, exact counts, and a checkpoint's front scored by
``evaluate``."""

from __future__ import annotations

import itertools
import math
import random
import textwrap

import pytest
import torch
import torch.nn.functional as F

import fcabench
from fcabench import methods, runs, sweep
from fcabench.errors import FcabenchError
from fcabench.flops.closed_form import Shape
from fcabench.methods import evolution
from fcabench.methods.evolution import Candidate, pareto_front
from fcabench.methods.lat import distillation_loss, length_macs_ratio, running, sample_dropped, sample_lengths
from fcabench.plots.study import plot_study
from fcabench.plots.tradeoff import plot_pareto
from fcabench.runs import study
from fcabench.training import checkpoint
from tests.conftest import padded_batch, tiny_model
from tests.helpers import assert_one_line_error, cli, learnable_task


@pytest.mark.parametrize("seed", range(20))
def test_sampled_configurations_are_valid_and_non_increasing(seed):
    rng = random.Random(seed)
    n, layers, bound = rng.choice([16, 64, 128]), rng.choice([2, 6, 12]), rng.choice([0.2, 0.4])
    dropped = sample_dropped(layers, 0.3, rng)
    for smallest in (False, True):
        lengths = sample_lengths(n, layers, bound, rng, smallest=smallest, dropped=dropped)
        previous = n
        for layer, length in enumerate(lengths):
            assert 2 <= length <= previous
            if layer in dropped:  # a dropped layer passes its units on
                assert length == previous
            else:
                low = max(2, math.ceil(previous * (1 - bound)))
                assert length >= low and (not smallest or length == low)
            previous = length


def test_the_smallest_configuration_drops_the_bound_at_every_layer():
    assert sample_lengths(128, 6, 0.2, random.Random(0), smallest=True) == (103, 83, 67, 54, 44, 36)
    assert sample_lengths(128, 6, 0.2, random.Random(0), smallest=True) == evolution.uniform_gene(128, 6, 0.2)


def test_sub_models_are_distilled_from_the_full_models_predictions():
    """One step's loss is (CE of the full model on the labels + KL(full || smallest)) / 2 with one sandwich pass
    and no LayerDrop; a sub-model trained on the labels (or on a teacher that is not the full model) differs."""
    model = methods.apply(tiny_model(layers=2, seed=3).train(), "lat", lengthdrop=True, num_sandwich=0, layer_drop=0.0)
    torch.nn.Module.eval(model)  # no dropout: the passes below are deterministic
    ids, mask, labels = learnable_task(examples=6)
    inputs = dict(input_ids=ids, attention_mask=mask, labels=labels)

    def forward(batch):
        out = model(**batch)
        return out.loss, out

    loss, _ = methods.get("lat").training_loss(model, inputs, forward)
    with running(model, None):
        full = model(input_ids=ids, attention_mask=mask).logits
    smallest = sample_lengths(ids.shape[1], 2, 0.2, random.Random(0), smallest=True)
    with running(model, smallest):
        sub = model(input_ids=ids, attention_mask=mask).logits
    expected = (F.cross_entropy(full, labels) + distillation_loss(sub, full)) / 2
    torch.testing.assert_close(loss, expected)
    on_labels = (F.cross_entropy(full, labels) + F.cross_entropy(sub, labels)) / 2
    assert not torch.isclose(loss, on_labels)


def test_the_teacher_gets_no_gradient_from_the_students_loss():
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3, requires_grad=True)
    distillation_loss(student, teacher.detach()).backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None


def test_a_length_configuration_removes_units_for_real_and_counts_them_exactly():
    model = methods.apply(tiny_model(layers=3), "lat", length_config=(9, 6, 3))
    ids, mask = padded_batch([12, 7])
    model(input_ids=ids, attention_mask=mask)
    record = methods.unit_record(model)
    assert record.tokens_out.tolist() == [[9, 6, 3], [7, 6, 3]]  # an example shorter than 9 keeps its 7
    assert record.masks_out[-1].shape[1] == 3
    shape = Shape.of(model.config)
    traced = fcabench.profile(model, seq_len=12)
    layers = traced[traced["layer"].notna()]
    assert layers["macs"].sum() == round(length_macs_ratio(shape, 12, (9, 6, 3)) * _vanilla(shape, 12))


def _vanilla(shape, n):
    from fcabench.flops.closed_form import vanilla_encoder_macs

    return vanilla_encoder_macs(shape, n)


@pytest.mark.parametrize("model", ["bert-base", "roberta-base"])
@pytest.mark.parametrize("lengths", ["32,24,24,20,16,16,12,12,8,8,4,2", "30,30,30,30,30,30,30,30,30,30,30,30"])
def test_profile_counts_length_configurations_exactly(capsys, model, lengths):
    code, out, err = cli(capsys, "profile", "--model", model, "-n", "32", "-m", "lat", "--length-config", lengths)
    assert code == 0, err
    assert "closed form" in out and ": equal;" in out


SIX_LAYERS = Shape(hidden=768, layers=6, heads=12, ffn=3072, max_len=512)


def _toy_cost(lengths, n=64):
    return length_macs_ratio(SIX_LAYERS, n, lengths)


def _search_settings(**changes):
    return methods.make_config(
        "lat", **{"iterations": 6, "population": 8, "mutations": 10, "crossovers": 10, **changes}
    )


def test_the_search_never_returns_a_configuration_over_its_budget():
    calls = []

    def score(lengths):
        calls.append(lengths)
        return sum(lengths)  # more units, better: the budget is what holds the search back

    settings = _search_settings(length_drop_bound=0.4, max_macs_ratio=0.5)
    front = evolution.evolve(score, _toy_cost, 64, 6, settings, random.Random(0))
    lower = _toy_cost(evolution.uniform_gene(64, 6, 0.4))
    assert front and all(lower - 1e-9 <= c.cost <= 0.5 for c in front)
    assert all(_toy_cost(lengths) <= 0.5 + 1e-12 for lengths in calls)  # nothing over the budget is even scored
    assert max(c.cost for c in front) > 0.45  # and it goes up to the budget


def test_the_search_improves_on_random_configurations_with_as_many_evaluations():
    """A constructed score that rewards one shape (many units early, few late) within a budget of 0.5x: over
    five seeds, the search gets on average well closer to it than as many random LengthDrop configurations."""
    target = (60, 56, 30, 10, 4, 2)

    def score(lengths):
        return -sum((a - b) ** 2 for a, b in zip(lengths, target))

    settings = _search_settings(length_drop_bound=0.5, max_macs_ratio=0.5, iterations=15)
    lower = _toy_cost(evolution.uniform_gene(64, 6, 0.5))
    searched, drawn = [], []
    for seed in range(5):
        evaluated = []

        def counting(lengths):
            evaluated.append(lengths)
            return score(lengths)

        searched.append(
            max(c.score for c in evolution.evolve(counting, _toy_cost, 64, 6, settings, random.Random(seed)))
        )
        rng, best, count = random.Random(100 + seed), -math.inf, 0
        while count < len(evaluated):
            lengths = sample_lengths(64, 6, 0.5, rng)
            if lower <= _toy_cost(lengths) <= 0.5:
                best, count = max(best, score(lengths)), count + 1
        drawn.append(best)
    assert sum(searched) / 5 > 0.75 * sum(drawn) / 5  # negative scores: under 3/4 of the random distance


def test_the_front_is_the_non_dominated_set():
    rng = random.Random(4)
    candidates = [Candidate((i,), round(rng.random(), 2), rng.randint(0, 20)) for i in range(60)]
    candidates += [Candidate((99,), candidates[0].cost, candidates[0].score)]  # a tie: kept once
    front = pareto_front(candidates)

    def dominates(a, b):
        return a.cost <= b.cost and a.score >= b.score and (a.cost < b.cost or a.score > b.score)

    assert not any(dominates(a, b) for a, b in itertools.product(candidates, front))
    assert all(any(dominates(f, c) or (f.cost, f.score) == (c.cost, c.score) for f in front) for c in candidates)
    assert [c.cost for c in front] == sorted(c.cost for c in front)
    assert len({(c.cost, c.score) for c in front}) == len(front)


def test_a_budget_below_what_lengthdrop_trained_is_refused():
    settings = _search_settings(max_macs_ratio=0.3)  # bound 0.2 on 6 layers reaches 0.55x at best
    with pytest.raises(FcabenchError, match="below the smallest trained configuration"):
        evolution.evolve(sum, _toy_cost, 64, 6, settings, random.Random(0))


def test_train_searches_a_front_and_evaluate_scores_it(tmp_path, tiny_backbone, capsys):
    store = tmp_path / "runs.jsonl"
    settings = dict(
        seq_len=16, max_steps=2, batch_size=4, max_train_examples=12, max_eval_examples=8, progress=False, results=store
    )
    fcabench.train(tiny_backbone, "tweet-sentiment", output_dir=tmp_path / "v", **settings)
    options = dict(iterations=2, population=4, mutations=4, crossovers=4, length_drop_bound=0.5, search_examples=4)
    runs = fcabench.train(
        method="lat", from_checkpoint=str(tmp_path / "v" / "fine-tune"), output_dir=tmp_path / "l",
        method_options=options, **settings,
    )  # fmt: skip
    assert [r.stage for r in runs if r.metric == "accuracy"][0] == "lengthdrop"
    manifest = checkpoint.read_manifest(tmp_path / "l" / "search")
    front = manifest["front"]
    searched = [r for r in runs if r.stage == "search" and r.metric == "accuracy"]
    assert len(searched) == len(front) >= 1
    assert {r.data_examples for r in searched} == {8}  # ranked on 4 examples, the front stored on the whole split
    assert [m["macs_ratio"] for m in front] == sorted(m["macs_ratio"] for m in front)
    assert all(m["macs_ratio"] <= 1 for m in front) and all(m["config"]["length_config"] for m in front)
    search = str(tmp_path / "l" / "search")
    scored = fcabench.evaluate(search, split="test", front=True, max_examples=8, measure_latency=False, results=store)
    assert len({r.run_id for r in scored}) == len(front)
    assert [r.method_config for r in scored if r.metric == "accuracy"] == [m["config"] for m in front]
    budget_ratio = front[-1]["macs_ratio"]
    (pick, *_) = fcabench.evaluate(
        search, split="test", macs_ratio=budget_ratio, max_examples=8, measure_latency=False, results=store
    )
    best = max((m for m in front if m["macs_ratio"] <= budget_ratio), key=lambda m: m["accuracy"])
    assert pick.method_config == best["config"]
    capsys.readouterr()  # the warnings above
    refused = cli(capsys, "evaluate", search, "--macs-ratio", "0.01", "--results", str(store))
    assert_one_line_error(*refused, "no configuration of its front is at or under 0.01")
    refused = cli(capsys, "evaluate", str(tmp_path / "v" / "fine-tune"), "--front", "--results", str(store))
    assert_one_line_error(*refused, "has no front")


def test_a_sweep_scores_each_seeds_front_and_groups_its_picks_at_each_budget(tmp_path, tiny_backbone):
    """LAT trains once per seed; the sweep scores the whole front on test, then the front's best configuration at
    each budget: the seeds' picks at one budget are one point of the study, the front's points are not."""
    path = tmp_path / "spec.toml"
    path.write_text(
        textwrap.dedent(f"""
        [sweep]
        name = "lat"
        models = ["{tiny_backbone}"]
        tasks = ["tweet-sentiment"]
        seeds = [0, 1]
        score_splits = ["test"]
        out = "{tmp_path / "out"}"
        results = "{tmp_path / "store.jsonl"}"
        [train]
        seq_len = 16
        max_steps = 1
        batch_size = 4
        max_train_examples = 8
        max_eval_examples = 8
        [[methods]]
        name = "vanilla"
        method = "vanilla"
        [[methods]]
        name = "lat"
        method = "lat"
        from = "vanilla"
        options = {{ iterations = 1, population = 2, mutations = 2, crossovers = 2, length_drop_bound = 0.5 }}
        front_picks = [1.0, 0.9]
        """)
    )
    spec = sweep.load_spec(path)
    assert sweep.run(spec, echo=lambda _: None).failed == []
    stored = runs.load(spec.results)
    test = stored[(stored["split"] == "test") & (stored["method"] == "lat") & (stored["metric"] == "accuracy")]
    labels = set(test["config_label"])
    assert labels == {"front", "front at 1x", "front at 0.9x"}
    picks = test[test["config_label"] != "front"]
    assert picks.groupby("config_label")["point_id"].nunique().tolist() == [1, 1]  # the seeds' picks: one point
    assert picks["point_id"].nunique() == 2 and sorted(picks["seed"]) == [0, 0, 1, 1]
    points = study.study_points(stored, split="test")
    lat = points[points["method"] == "lat"]
    assert sorted(lat["config_label"]) == ["front at 0.9x", "front at 1x"] and set(lat["n"]) == {2}
    fronts = study.study_points(stored, split="test", fronts=True)
    assert set(fronts["method"]) == {"lat"} and fronts["parent_run_id"].nunique() == 2  # a front per seed
    assert len(fronts) == (test["config_label"] == "front").sum()

    ax = plot_study(points, fronts=fronts)
    front_lines = [line for line in ax.get_lines() if line.get_marker() == "." and line.get_linewidth() == 0.8]
    assert len(front_lines) == 2
    assert any("lat: the front of each trained model (2)" in t.get_text() for t in ax.get_legend().get_texts())
    fig = plot_pareto(stored[stored["split"] == "test"], x="macs-rel", tasks=["tweet-sentiment"])
    joined = [line for ax in fig.axes for line in ax.get_lines() if line.get_alpha() == 0.6]
    assert len(joined) == 2  # plot pareto joins each model's front too


def test_front_picks_are_refused_for_a_method_without_a_front(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(
        textwrap.dedent("""
        [sweep]
        name = "no-front"
        models = ["minilm-l6"]
        tasks = ["tweet-sentiment"]
        [[methods]]
        name = "pb"
        method = "power-bert"
        front_picks = [0.5]
        """)
    )
    with pytest.raises(FcabenchError, match=r"'methods\[0\].front_picks': power-bert keeps no front"):
        sweep.load_spec(path)
