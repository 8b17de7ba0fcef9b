"""The pieces of training and evaluation on tiny random BERTs (fast): the one-pass scorer against
fcabench.counting.dynamic, the MAC-budget fit of a retention against a traced count, checkpoint folders that
rebuild a method with its own parameters, run ids derived from the specification."""

import functools

import datasets
import pytest
import torch

import fcabench
from fcabench import methods
from fcabench.counting import dynamic, profiler
from fcabench.counting.budget import fit_retention
from fcabench.flops.closed_form import Shape, vanilla_encoder_macs
from fcabench.training import checkpoint, records
from fcabench.training.scoring import real_length_encoder_macs, run_pass
from tests.conftest import tiny_model, tiny_tokenizer


def encoded(lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rows = [[1] + torch.randint(5, 99, (n - 1,), generator=generator).tolist() for n in lengths]
    return rows, datasets.Dataset.from_dict({"input_ids": rows, "labels": [0] * len(rows)})


@pytest.mark.parametrize(
    "name, options",
    [
        (None, {}),
        ("vanilla", {}),
        ("power-bert", dict(retention=(12, 6))),
        ("fca", dict(retention=(12, 6), clusters=2)),
        ("ltp", {}),
        ("token-drop", None),
    ],
)
def test_one_pass_counts_equal_the_dynamic_profiler(name, options):
    model = tiny_model()
    if name:
        config = methods.get(name).example_config(2) if options is None else methods.make_config(name, **options)
        methods.apply(model, config)
    rows, data = encoded([15, 17, 30, 19, 30, 12])
    scored = run_pass(model, data, 30, 4, "cpu")
    real = dynamic.profile_examples(model, rows)["macs"].to_numpy()
    padded = dynamic.profile_examples(model, rows, length_convention="padded", pad_to=30)["macs"].to_numpy()
    assert (scored.macs_real == real).all() and (scored.macs_padded == padded).all()
    assert scored.predictions.shape == (6, 3)


def test_the_padded_count_includes_the_tokens_a_method_appends():
    # Focus on the Core appends 8 combination tokens; on inputs that fill the padded length, the padded
    # convention must count what the real one counts, and both what fvcore traces
    model = tiny_model(layers=4)
    methods.apply(model, methods.make_config("focus-core", variant="C", combine_layer=3))
    rows, data = encoded([30] * 4)
    scored = run_pass(model, data, 30, 4, "cpu")
    assert (scored.macs_padded == scored.macs_real).all()
    traced = profiler.profile(model, 30)
    assert scored.macs_real[0] == sum(traced["macs"])


def test_fitted_retention_meets_the_mac_budget_by_a_traced_count():
    model = tiny_model(layers=4)
    shape = Shape.of(model.config)
    searched = methods.make_config("fca", retention=(40, 30, 20, 10), clusters=2)
    fitted, achieved = fit_retention(model, searched, 48, 0.5)
    assert fitted.retention[0] <= 48 and fitted.clusters == 2  # the search's other options stay
    assert all(a >= b for a, b in zip(fitted.retention, fitted.retention[1:]))
    patched = methods.apply(tiny_model(layers=4), fitted)
    table = profiler.profile(patched, 48)  # fvcore's trace of one full-length input
    traced = profiler.encoder_macs(table)
    assert traced / vanilla_encoder_macs(shape, 48) == pytest.approx(achieved)
    assert abs(achieved - 0.5) < 0.05
    with pytest.raises(Exception, match="retention"):
        fit_retention(model, methods.make_config("ltp"), 48, 0.5)


def test_a_budget_at_the_real_lengths_is_met_on_the_examples_it_was_fitted_on():
    model = tiny_model(layers=4)
    searched = methods.make_config("fca", retention=(40, 30, 20, 10), clusters=2)
    _, data = encoded([30, 36, 40, 48, 33, 44])  # each at least the first count kept: profiled unpadded
    measure = functools.partial(real_length_encoder_macs, encoded=data, seq_len=48, batch_size=4, device="cpu")
    fitted, achieved = fit_retention(model, searched, 48, 0.5, measure=measure)
    assert abs(achieved - 0.5) < 0.05
    # the same ratio, counted independently: the per-example profiler at each example's real length, heads left out
    rows = data["input_ids"]
    heads = sum(sum(profiler.head_macs(model, len(r)).values()) for r in rows)
    vanilla = dynamic.profile_examples(model, rows)["macs"].sum() - heads
    patched = methods.apply(tiny_model(layers=4), fitted)
    assert (dynamic.profile_examples(patched, rows)["macs"].sum() - heads) / vanilla == pytest.approx(achieved)
    # examples shorter than the padded length keep every token at larger counts: the real-length fit keeps fewer
    at_padded, _ = fit_retention(model, searched, 48, 0.5)
    assert (
        all(r <= p for r, p in zip(fitted.retention, at_padded.retention)) and fitted.retention != at_padded.retention
    )


def test_checkpoint_rebuilds_a_method_with_its_own_parameters(tmp_path):
    model = tiny_model()
    methods.apply(model, "ltp", mode="hard")
    with torch.no_grad():
        for i, layer in enumerate(model.bert.encoder.layer):
            layer.threshold.fill_(0.3 + i)  # learned values, not the configured start
    checkpoint.save_checkpoint(model, tiny_tokenizer(tmp_path), tmp_path / "ckpt", {"stage": "hard"})
    rebuilt, _, meta = checkpoint.load_checkpoint(tmp_path / "ckpt")
    assert methods.applied(rebuilt).method.name == "ltp" and meta["stage"] == "hard"
    assert [float(l.threshold.detach()) for l in rebuilt.bert.encoder.layer] == pytest.approx([0.3, 1.3])
    ids = torch.tensor([[1, 5, 6, 7, 8, 9, 10]])
    assert torch.equal(model(input_ids=ids).logits, rebuilt(input_ids=ids).logits)
    bare, _, _ = checkpoint.load_checkpoint(tmp_path / "ckpt", patched=False)
    assert methods.applied(bare) is None
    assert len(checkpoint.weights_sha256(tmp_path / "ckpt")) == 64


def test_run_ids_follow_the_specification():
    spec = {"kind": "train", "task": "bbc-news", "seed": 0}
    assert records.run_id(spec) == records.run_id(dict(reversed(list(spec.items()))))
    assert records.run_id(spec) != records.run_id(dict(spec, seed=1))


def test_the_best_evaluation_is_restored_and_a_search_keeps_its_last():
    from types import SimpleNamespace

    from fcabench.training.trainer import BestEpochCallback

    def run(keep):
        model = tiny_model()
        callback = BestEpochCallback("accuracy", keep=keep)
        states = {}
        for epoch, score in [(1, 60.0), (2, 80.0), (3, 70.0)]:
            with torch.no_grad():
                model.classifier.bias.fill_(epoch)
            states[epoch] = model.classifier.bias.clone()
            callback.on_evaluate(
                None,
                SimpleNamespace(epoch=epoch, global_step=10 * epoch),
                None,
                metrics={"eval_accuracy": score},
                model=model,
            )
        callback.on_train_end(None, None, None, model=model)
        return model.classifier.bias, callback

    best, callback = run("best")
    assert (
        float(best[0].detach()) == 2.0
        and "epoch 2" in callback.description()
        and "3 evaluation" in callback.description()
    )
    last, callback = run("last")
    assert float(last[0].detach()) == 3.0 and "last evaluation" in callback.description()


def test_the_cli_and_the_sweep_take_every_training_setting_from_one_dataclass():
    """fcabench train's options and a sweep's [train] keys come from TrainSettings: a new setting is one field."""
    import dataclasses

    import typer

    from fcabench.cli import app
    from fcabench.sweep.spec import TRAIN_KEYS
    from fcabench.training.settings import DEFAULTS, TrainSettings

    command = typer.main.get_command(app).commands["train"]
    options = {param.name: param for param in command.params}
    for setting in dataclasses.fields(TrainSettings):
        assert setting.metadata["flag"] in options[setting.name].opts
        assert options[setting.name].default == getattr(DEFAULTS, setting.name)
        assert options[setting.name].help == setting.metadata["help"]
        assert setting.name in TRAIN_KEYS or setting.name == "seed"  # a sweep's seeds come from [sweep]
    with pytest.raises(TypeError, match="unknown setting"):
        fcabench.train("minilm-l6", "bbc-news", output_dir="unused", epoch=2)


def test_a_fixed_subset_seed_gives_every_training_seed_the_same_examples(tmp_path, tiny_backbone):
    """--subset-seed: the study's seeds differ in initialisation and order, not in the examples they train on."""
    settings = dict(seq_len=16, max_steps=1, batch_size=4, max_train_examples=12, max_eval_examples=8, progress=False)
    data = {}
    for seed in (0, 1):
        runs = fcabench.train(
            tiny_backbone,
            "tweet-sentiment",
            output_dir=tmp_path / f"s{seed}",
            seed=seed,
            subset_seed=7,
            results=tmp_path / "runs.jsonl",
            **settings,
        )
        data[seed] = (runs[0].data_sha256, checkpoint.read_manifest(tmp_path / f"s{seed}" / "fine-tune")["runs"][0])
    assert data[0][0] == data[1][0]  # the same validation subset
    assert data[0][1]["run_id"] != data[1][1]["run_id"]


def test_the_seeds_of_one_operating_point_group_although_each_derives_its_own_retention(tmp_path, tiny_backbone):
    """PoWER-BERT's retrain runs with the retention its seed's search derived, so the configurations that ran
    differ by seed; the point asked for (point_id) is the same, and the seeds are one group with an interval."""
    from fcabench import runs
    from fcabench.runs import stats

    store = tmp_path / "runs.jsonl"
    settings = dict(
        seq_len=16,
        max_steps=2,
        batch_size=4,
        max_train_examples=12,
        max_eval_examples=8,
        subset_seed=0,
        progress=False,
        results=store,
    )
    options = dict(soft_lambda=0.05, soft_lr=0.3)  # large enough to move the weights in two steps
    for seed in (0, 1):
        fcabench.train(tiny_backbone, "tweet-sentiment", output_dir=tmp_path / f"v{seed}", seed=seed, **settings)
        fcabench.train(
            task=None,
            method="power-bert",
            from_checkpoint=str(tmp_path / f"v{seed}" / "fine-tune"),
            output_dir=tmp_path / f"p{seed}",
            seed=seed,
            method_options=options,
            **settings,
        )
    stored = runs.load(store)
    retrain = stored[(stored["stage"] == "retrain") & (stored["metric"] == "accuracy")].copy()
    assert len(retrain) == 2 and retrain["point_id"].nunique() == 1 and retrain["point_id"].notna().all()
    # On this tiny model both searches derive the same retention; a seed's own (as on a real one) must not split
    # the point.
    retrain.loc[retrain.index[0], "method_config"] = '{"retention": [12, 9], "ratios": null}'
    groups = stats.aggregate(retrain)
    assert len(groups) == 1 and groups["n"].iloc[0] == 2
    assert len(stats.aggregate(retrain.drop(columns=["point_id"]))) == 2  # by what ran alone, two
