"""The contract every registered method honours, checked for each of ``methods.names()`` on every supported
encoder family (BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA, DistilBERT: tiny random configurations whose
LayerNorms and biases all differ, so that a part taken from the wrong module changes the numbers).

Reduction off equals the unpatched model; a padded batch gives each example what it gets alone; traced
MACs equal the closed form and torch's FlopCounterMode; the per-example fast path equals per-example
traces; in train mode a small task's loss falls, gradients reach the encoder and the method's own
parameters, and the derived configuration is valid. ``tests/external_method.py`` is a method defined
outside the package: importing it here puts it through the same suite.
"""

from __future__ import annotations

import copy
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

import fcabench
from fcabench import methods
from fcabench.counting import dynamic
from fcabench.errors import FcabenchError
from fcabench.methods import registry
from fcabench.models import synthetic_batch
from tests import external_method
from tests.conftest import FAMILIES, padded_batch, tiny_model
from tests.helpers import train_stage

LAYERS = 4
NAMES = methods.names()
COMPONENTS = ["tokens_in", "tokens_out", "macs_attn_proj", "macs_attn_matmul", "macs_ffn", "macs_method", "macs_other"]
ROOT = Path(__file__).resolve().parents[1]


def patched(name: str, which: str = "example_config", attn: str = "sdpa", seed: int = 0, family: str = "bert"):
    method = methods.get(name)
    return methods.apply(
        tiny_model(layers=LAYERS, attn=attn, seed=seed, family=family, distinct=True), getattr(method, which)(LAYERS)
    )


def test_every_method_is_registered_once_including_the_external_one():
    assert {"vanilla", "power-bert", "fca", "ltp", "token-drop", "focus-core", "tome", "keep-first"} <= set(NAMES)
    assert NAMES[0] == "vanilla" and len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", NAMES)
def test_reduction_off_equals_the_unpatched_model(name, attn, family):
    reference = tiny_model(layers=LAYERS, attn=attn, family=family, distinct=True)
    model = methods.apply(copy.deepcopy(reference), methods.get(name).off_config(LAYERS))
    ids, mask = padded_batch([12, 9, 5])
    expected = reference(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, expected, atol=1e-5, rtol=1e-5)
    assert methods.unit_record(model).tokens_out.tolist() == [[n] * LAYERS for n in (12, 9, 5)]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", NAMES)
def test_padded_batch_gives_each_example_what_it_gets_alone(name, family):
    model = patched(name, family=family)
    lengths = [12, 9, 6]
    ids, mask = padded_batch(lengths)
    batched = model(input_ids=ids, attention_mask=mask).logits
    record = methods.unit_record(model)
    for row, n in enumerate(lengths):
        alone = model(input_ids=ids[row : row + 1, :n]).logits
        torch.testing.assert_close(alone[0], batched[row], atol=1e-5, rtol=1e-5)
        assert methods.unit_record(model).example(0) == record.example(row)
    if name != "vanilla":  # the example configuration really reduces something
        full = [(n, n, 4 * n) for n in lengths]
        assert any(layer != full[row] for row in range(3) for layer in record.example(row))


def flop_counter_macs(model, inputs) -> int:
    """FlopCounterMode's MACs, with the CPU SDPA op (counted as 0 on torch 2.13) mapped to SDPA's formula."""

    def cpu_sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter, torch.no_grad():
        model(**inputs)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", NAMES)
def test_traced_macs_equal_the_closed_form_and_torchs_counter(name, attn, family):
    model = patched(name, attn=attn, family=family)
    traced = fcabench.profile(model, seq_len=12)
    closed = fcabench.closed_form_table(model, 12, methods.unit_record(model).example(0))
    by_module = traced.set_index("module")
    assert by_module.loc[closed["module"], COMPONENTS].reset_index(drop=True).equals(closed[COMPONENTS])
    assert traced["macs"].sum() == closed["macs"].sum()  # nothing outside the closed form's rows
    assert flop_counter_macs(model, synthetic_batch(model, 12)) == traced["macs"].sum()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", NAMES)
def test_per_example_fast_path_equals_traced(name, family):
    model = patched(name, family=family)
    inputs = dynamic.inputs_from_lengths(model, [3, 9, 14, 6], seed=2)
    fast = dynamic.profile_examples(model, inputs, batch_size=3)
    traced = dynamic.profile_examples(model, inputs, fast=False)
    for column in ("macs", "tokens_in", "tokens_out"):
        assert fast[column].tolist() == traced[column].tolist()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", NAMES)
def test_training_stages_learn_and_derive_a_valid_configuration(name, family):
    method = methods.get(name)
    target = method.example_config(LAYERS)
    stages = method.stages(target)
    assert stages[-1].config is not None and [s.name for s in stages].count(stages[-1].name) == 1
    derived = None
    for stage in stages:
        if stage.config is None or not stage.trains:  # plain Hugging Face training; a search (tested on its own)
            continue
        config = derived if stage.config is methods.DERIVED else stage.config
        assert config is not None, f"stage {stage.name} uses a derived config that no earlier stage derives"
        model = methods.apply(tiny_model(layers=LAYERS, seed=1, family=family, distinct=True).train(), config)
        losses = train_stage(model)
        assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, f"stage {stage.name}: the loss does not fall"
        if stage.derive:
            derived = method.derive_config(model, target)
            assert type(derived) is type(target)
            check = methods.apply(
                tiny_model(layers=LAYERS, family=family, distinct=True), derived
            ).eval()  # valid: applies and runs
            check(input_ids=padded_batch([12])[0])
    roundtrip = methods.config_from_dict(name, methods.config_to_dict(target))
    assert roundtrip == target


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(FcabenchError, match="already registered"):

        @methods.register
        class Imposter(methods.Method):  # noqa: F841
            name = "fca"
            config_class = external_method.KeepFirstConfig


@pytest.mark.parametrize(
    "spec, message",
    [
        ("fcb", "unknown method 'fcb'; methods: vanilla, "),
        ("tests.nowhere:X", "cannot import"),
        ("tests.external_method:NotAMethod", "not a Method subclass"),
    ],
)
def test_unknown_methods_are_refused_clearly(spec, message):
    with pytest.raises(FcabenchError, match=message):
        methods.apply(tiny_model(), spec)


def test_a_method_outside_the_package_applies_by_its_module_path_and_profiles_exactly():
    model = methods.apply(tiny_model(layers=LAYERS), "tests.external_method:KeepFirst", fraction=0.5)
    assert methods.applied(model).method.name == "keep-first"
    table = fcabench.profile(model, seq_len=12)
    assert table["tokens_out"].dropna().tolist() == [6, 3, 2, 1]
    closed = fcabench.closed_form_table(model, 12, methods.unit_record(model).example(0))
    assert table["macs"].sum() == closed["macs"].sum()


def test_an_entry_point_registers_its_method(monkeypatch):
    entry = importlib.metadata.EntryPoint(
        "keep-first-plugin", "tests.external_method:KeepFirstPlugin", "fcabench.methods"
    )
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group: [entry] if group == "fcabench.methods" else []
    )
    assert "keep-first-plugin" not in methods.names()
    registry.load_entry_points()
    assert "keep-first-plugin" in methods.names()
    model = methods.apply(tiny_model(layers=LAYERS), "keep-first-plugin")
    assert methods.applied(model).method.name == "keep-first-plugin"


def test_a_method_outside_the_package_is_plotted_like_any_other():
    from fcabench import plots

    model = methods.apply(tiny_model(layers=LAYERS), "tests.external_method:KeepFirst")
    table = fcabench.profile(model, seq_len=12)
    figure = plots.plot_layers([table, fcabench.profile(tiny_model(layers=LAYERS), seq_len=12)])
    assert any("keep-first" in ax.get_title() for ax in figure.axes)
    assert plots.plot_tokens([table]).get_lines()


def test_a_method_outside_the_package_runs_through_the_cli(tmp_path, monkeypatch, capsys):
    """A fresh process, so that nothing but the module path registers the method."""
    tiny_model(layers=LAYERS).save_pretrained(tmp_path / "tiny")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        "profile",
        "--model",
        str(tmp_path / "tiny"),
        "--seq-len",
        "12",
        "--method",
        "tests.external_method:KeepFirst",
        "--fraction",
        "0.5",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "fcabench", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "keep-first" in done.stdout and "closed form" in done.stdout and ": equal;" in done.stdout
    from fcabench.cli import main  # a wrong module path: one error line, exit code 2

    monkeypatch.setattr(sys, "argv", ["fcabench", *command[:-4], "--method", "tests.external_method:NotAMethod"])
    capsys.readouterr()  # what saving the model printed
    with pytest.raises(SystemExit) as exit_info:
        main()
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.startswith("error: ") and "Traceback" not in error


@pytest.mark.parametrize("name", NAMES)
def test_a_method_whose_counts_follow_the_weights_says_so(name):
    """Units, keys included, under several weight draws: a method that does not declare
    ``units_depend_on_weights`` records the same counts under all of them (the CLI warns about the others)."""
    ids, mask = padded_batch([24, 17, 9])
    counts = set()
    for seed in range(4):
        model = patched(name, seed=seed)
        model(input_ids=ids, attention_mask=mask)
        record = methods.unit_record(model)
        counts.add((str(record.tokens_out.tolist()), str(record.keys_total.tolist())))
    if not methods.get(name).units_depend_on_weights:
        assert len(counts) == 1, f"{name}'s counts change with the weights: set units_depend_on_weights = True"


def test_an_unpadded_batch_keeps_its_units_without_a_per_unit_mask():
    """Hugging Face passes no mask for an unpadded batch: the keep mask is then one byte seen (batch, n)
    times, so a method that keeps every unit holds no more than vanilla does."""
    from fcabench.methods.base import keep_mask_from

    keep = keep_mask_from(None, torch.zeros(8, 512, 4))
    assert keep.shape == (8, 512) and bool(keep.all()) and keep.untyped_storage().nbytes() == 1
    padded = keep_mask_from(torch.tensor([[True, True, False]]), torch.zeros(1, 3, 4))
    assert padded.tolist() == [[True, True, False]]
