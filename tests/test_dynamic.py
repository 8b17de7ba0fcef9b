"""Per-example FLOPs (fcabench.counting.dynamic): length conventions, batching, summaries, inputs from texts and
lengths.

That the fast path equals per-example traces for every method is part of tests/test_method_contract.py.
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

import fcabench
from fcabench import methods
from fcabench.counting import dynamic
from fcabench.errors import FcabenchError


@pytest.fixture(scope="module")
def vanilla():
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, num_labels=3
    )
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="module")
def inputs(vanilla):
    return dynamic.inputs_from_lengths(vanilla, [3, 9, 14, 6], seed=2)


def patched(model, name, **options):
    return methods.apply(copy.deepcopy(model), name, **options)


@pytest.mark.parametrize(
    "name, options, convention",
    [
        ("ltp", dict(thresholds=(0.95, 1.0)), "real"),
        ("ltp", dict(thresholds=(0.95, 1.0)), "padded"),
        ("token-drop", dict(keep_ratio=0.4), "padded"),
    ],
)
def test_length_conventions_hold_on_the_fast_path_and_the_traced_one(vanilla, inputs, name, options, convention):
    """Fast equals traced at the real length for every method in tests/test_method_contract.py; here the
    conventions: the lengths counted, and padded counts that the fast path still gets exactly."""
    model = patched(vanilla, name, **options)
    fast = dynamic.profile_examples(model, inputs, batch_size=3, length_convention=convention, pad_to=16)
    traced = dynamic.profile_examples(model, inputs, fast=False, length_convention=convention, pad_to=16)
    assert fast["macs"].tolist() == traced["macs"].tolist()
    assert fast["tokens_in"].tolist() == traced["tokens_in"].tolist()
    assert fast["tokens_out"].tolist() == traced["tokens_out"].tolist()
    assert (fast["length_convention"] == convention).all()
    assert fast["counted_length"].tolist() == ([16] * 4 if convention == "padded" else [3, 9, 14, 6])
    assert dynamic.summarize(fast).loc["macs", "mean"] == dynamic.summarize(traced).loc["macs", "mean"]


def test_fast_path_equals_closed_form_table_and_ignores_batch_size(vanilla, inputs):
    model = patched(vanilla, "ltp", thresholds=(0.95, 1.0))
    frame = dynamic.profile_examples(model, inputs, batch_size=4)
    assert frame["macs"].tolist() == dynamic.profile_examples(model, inputs, batch_size=1)["macs"].tolist()
    for i, ids in enumerate(inputs):
        model(input_ids=torch.tensor([ids]))
        table = fcabench.closed_form_table(model, len(ids), methods.unit_record(model).example(0))
        assert frame["macs"][i] == table["macs"].sum()
        assert frame["flops"][i] == 2 * frame["macs"][i]


def test_padded_convention_costs_more_than_real(vanilla, inputs):
    model = patched(vanilla, "ltp")
    real = dynamic.profile_examples(model, inputs)
    padded = dynamic.profile_examples(model, inputs, length_convention="padded")
    assert (padded["macs"] >= real["macs"]).all()
    assert (padded["macs"] > real["macs"]).any()
    assert padded["counted_length"].tolist() == [14] * 4  # default: the longest input


def test_summary_statistics_and_convention(vanilla, inputs):
    frame = dynamic.profile_examples(patched(vanilla, "ltp"), inputs)
    summary = dynamic.summarize(frame)
    assert list(summary.index) == ["macs", "flops", "length"]
    for column in ("count", "mean", "median", "p10", "p25", "p75", "p90", "length_convention"):
        assert column in summary.columns
    assert summary.loc["macs", "count"] == 4
    assert summary.loc["macs", "mean"] == frame["macs"].mean()
    assert summary.loc["macs", "median"] == frame["macs"].median()
    assert summary.loc["length", "mean"] == 8.0
    assert (summary["length_convention"] == "real").all()


def test_synthetic_lengths():
    lengths = dynamic.synthetic_lengths("uniform:16:128:500", seed=1)
    assert len(lengths) == 500 and min(lengths) >= 16 and max(lengths) <= 128
    assert lengths == dynamic.synthetic_lengths("uniform:16:128:500", seed=1)
    normal = dynamic.synthetic_lengths("normal:64:10:200")
    assert len(normal) == 200 and 55 < sum(normal) / 200 < 73 and min(normal) >= 2
    assert dynamic.synthetic_lengths("fixed:32:3") == [32, 32, 32]
    for bad in ("uniform:16:128", "poisson:3:4", "uniform:a:b:3", "uniform:20:10:5", "fixed:8:0"):
        with pytest.raises(FcabenchError):
            dynamic.synthetic_lengths(bad)


def test_inputs_from_lengths_and_texts(vanilla, tmp_path):
    rows = dynamic.inputs_from_lengths(vanilla, [1, 5])
    assert [len(r) for r in rows] == [1, 5] and rows[1][0] == 1 and rows[1][-1] == 2  # small vocab: ids 1, 2
    path = tmp_path / "texts.txt"
    path.write_text("a b c\n\n  d e  \n", encoding="utf-8")
    texts = dynamic.read_texts(path)
    assert texts == ["a b c", "d e"]

    def tokenizer(text, truncation=False, max_length=None):  # stands in for a Hugging Face tokenizer
        ids = [101] + [len(word) + 10 for word in text.split()] + [102]
        return {"input_ids": ids[:max_length] if truncation else ids}

    assert dynamic.inputs_from_texts(texts, tokenizer) == [[101, 11, 11, 11, 102], [101, 11, 11, 102]]
    assert [len(r) for r in dynamic.inputs_from_texts(texts, tokenizer, max_length=3)] == [3, 3]
    with pytest.raises(FcabenchError, match="no text file"):
        dynamic.read_texts(tmp_path / "missing.txt")


def test_errors(vanilla, inputs):
    with pytest.raises(FcabenchError, match="convention"):
        dynamic.profile_examples(vanilla, inputs, length_convention="sorted")
    with pytest.raises(FcabenchError, match="pad_to"):
        dynamic.profile_examples(vanilla, inputs, length_convention="padded", pad_to=4)
    with pytest.raises(FcabenchError, match="no inputs"):
        dynamic.profile_examples(vanilla, [])
    with pytest.raises(FcabenchError, match="longest input"):
        dynamic.profile_examples(vanilla, [[1] * 600])


@pytest.mark.parametrize(
    "name, options",
    [
        ("ltp", dict(thresholds=(0.95, 1.0))),
        ("power-bert", dict(ratios=(0.7, 0.4))),
        ("fca", dict(ratios=(0.7, 0.4), clusters=2)),
        ("token-drop", dict(keep_ratio=0.4)),
        ("focus-core", dict(variant="PF", keep_ratio=0.6)),
    ],
)
@pytest.mark.parametrize("convention", ["real", "padded"])
def test_bucketed_equals_unbucketed(vanilla, name, options, convention):
    if name == "focus-core" and convention == "padded":
        pytest.skip("key pruning: the padded convention is traced")
    lengths = [5, 9, 5, 14, 9, 9, 3, 14, 5, 11]  # repeated lengths: buckets hold several examples
    rows = dynamic.inputs_from_lengths(vanilla, lengths, seed=4)
    model = patched(vanilla, name, **options)
    common = dict(length_convention=convention, batch_size=3)
    bucketed = dynamic.profile_examples(model, rows, bucketed=True, **common)
    plain = dynamic.profile_examples(model, rows, bucketed=False, **common)
    assert bucketed["macs"].tolist() == plain["macs"].tolist()
    assert bucketed["tokens_in"].tolist() == plain["tokens_in"].tolist()
    assert bucketed["tokens_out"].tolist() == plain["tokens_out"].tolist()
    if name == "ltp":
        assert bucketed["macs"].nunique() > 1  # counts really depend on the example


def test_full_batches_hold_one_length_and_leftovers_are_packed():
    rows = [[1] * n for n in (4, 2, 4, 4, 2, 7)]
    batches = dynamic._batches(rows, 2, bucketed=True)
    assert batches == [[1, 4], [0, 2], [3, 5]]  # lengths 2, 2 | 4, 4 | leftovers 4 and 7 packed
    assert sorted(i for b in batches for i in b) == list(range(6))


def test_profile_examples_device_argument(vanilla, inputs):
    model = patched(vanilla, "ltp", thresholds=(0.95, 1.0))
    cpu = dynamic.profile_examples(model, inputs, device="cpu")
    assert next(model.parameters()).device.type == "cpu" and len(cpu) == len(inputs)
    with pytest.raises(FcabenchError, match="device"):
        dynamic.profile_examples(model, inputs, device="tpu")
    if torch.cuda.is_available():
        gpu = dynamic.profile_examples(copy.deepcopy(model), inputs, device="cuda")
        assert gpu["macs"].tolist() == cpu["macs"].tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_profile_on_cuda_equals_cpu():
    cpu = fcabench.profile("bert-base", seq_len=16, method="ltp")
    gpu = fcabench.profile("bert-base", seq_len=16, method="ltp", device="cuda")
    assert gpu["macs"].tolist() == cpu["macs"].tolist()
