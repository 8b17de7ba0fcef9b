"""focus-core: fuzzy key/value pruning and token combining on tiny random BERTs."""

from __future__ import annotations

import copy
import math
from fractions import Fraction

import pytest
import torch
from transformers import BertForSequenceClassification

import fcabench
from fcabench import methods
from fcabench.encoders import base_model
from fcabench.errors import FcabenchError
from fcabench.flops.trace import count_by_module
from fcabench.methods.focus_core import (
    CombiningLayer,
    FocusCoreConfig,
    compare_conventions,
    masked_quantile,
    paper_convention_macs,
)
from fcabench.models import synthetic_batch
from tests.conftest import tiny_config

COMPONENTS = ["macs_attn_proj", "macs_attn_matmul", "macs_ffn", "macs_method", "macs_other"]


def tiny(layers: int = 4, attn: str = "sdpa", seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config(layers, attn, max_position_embeddings=512)).eval()


@pytest.fixture(scope="module")
def padded():
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 99, (3, 40), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 27:] = 0
    mask[2, 14:] = 0
    return ids, mask


def before_each_ffn(layers, look):
    """Call ``look(layer, hidden)`` before each FFN call of ``layers``, where a layer's memory peaks."""
    for layer in layers:

        def ffn(hidden, layer=layer, original=layer.ffn_out):
            look(layer, hidden)
            return original(hidden)

        layer.ffn_out = ffn


def patched(model, **options):
    model = copy.deepcopy(model)
    methods.apply(model, "focus-core", **options)
    return model


@pytest.mark.parametrize("variant", ["P", "PFC"])  # the contract suite checks PF, with SDPA and eager
def test_no_reduction_equals_vanilla(variant, padded):
    ids, mask = padded
    model = tiny()
    reference = model(input_ids=ids, attention_mask=mask).logits
    focus = patched(model, variant=variant, keep_ratio=1.0, num_combine_tokens=0)
    out = focus(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)


def rule_counts(t: int, p: float) -> int:
    return math.floor(Fraction(str(p)) * t)


@pytest.mark.parametrize("variant", ["P", "PF"])
def test_keys_per_head_follow_the_rule(variant, padded):
    ids, mask = padded
    p = 0.8
    model = patched(tiny(layers=4), variant=variant, keep_ratio=p)
    model(input_ids=ids, attention_mask=mask)
    counts = base_model(model).encoder.state.kv_counts
    record = methods.unit_record(model)
    assert sorted(counts) == [1, 2, 3]  # layer 1 (index 0) attends to every key
    previous = mask.sum(dim=1)[:, None].expand(-1, 4)  # (batch, heads) keys of layer 1
    for layer in (1, 2, 3):
        now = counts[layer]
        for b in range(3):
            for h in range(4):
                t, kept = int(previous[b, h]), int(now[b, h])
                if variant == "P":
                    assert kept == rule_counts(t, p)
                else:  # the fuzzy cap prunes at most the usual count, maybe fewer
                    assert rule_counts(t, p) <= kept <= t
        # the profiler's key count: every head computed over the widest head's keys
        assert torch.equal(record.keys[layer], 4 * now.amax(dim=1))
        previous = now
    if variant == "PF":  # the cap binds somewhere on this input
        assert any(
            (counts[l] > torch.tensor([[rule_counts(int(t), p) for t in row] for row in prev])).any()
            for l, prev in ((2, counts[1]), (3, counts[2]))
        )


def test_fuzzy_cap_matches_the_quantile_threshold():
    scores = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, float("nan")]])
    valid = torch.tensor([[True, True, True, True, True, False]])
    a, b = masked_quantile(scores, valid, 0.25), masked_quantile(scores, valid, 0.75)
    expected = torch.quantile(scores[valid], torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(torch.stack([a[0], b[0]]), expected)


def test_combining_output_shape_and_mean_pooler(padded):
    ids, mask = padded
    model = patched(tiny(layers=4), variant="PFC", combine_layer=3, num_combine_tokens=5)
    out = model.bert(input_ids=ids, attention_mask=mask)
    assert out.last_hidden_state.shape == (3, 5, 32)
    assert isinstance(model.bert.encoder.layer[2], CombiningLayer)  # 1-based layer 3
    pooler = model.bert.pooler
    expected = torch.tanh(pooler.dense(out.last_hidden_state.mean(dim=1)))
    torch.testing.assert_close(out.pooler_output, expected)
    record = methods.unit_record(model)
    assert record.tokens_in[0].tolist() == [45, 45, 45, 5]  # 40 tokens + 5 combination tokens
    assert record.tokens_out[0].tolist() == [45, 45, 5, 5]


@pytest.mark.parametrize("variant", ["PF", "C"])  # the contract suite checks PFC
def test_padded_batch_equals_each_example_alone(variant, padded):
    ids, mask = padded
    model = patched(tiny(layers=4), variant=variant, keep_ratio=0.7, combine_layer=3)
    batch = model(input_ids=ids, attention_mask=mask).logits
    batch_units = methods.unit_record(model)
    for i in range(3):
        n = int(mask[i].sum())
        alone = model(input_ids=ids[i : i + 1, :n]).logits
        torch.testing.assert_close(alone[0], batch[i], rtol=1e-4, atol=1e-5)
        assert methods.unit_record(model).example(0) == batch_units.example(i)


@pytest.mark.parametrize("variant", ["P", "PF", "C"])  # the contract suite checks PFC
def test_traced_macs_equal_closed_form(variant):
    model = patched(tiny(layers=4), variant=variant, keep_ratio=0.7, combine_layer=3)
    traced = fcabench.profile(model, seq_len=30)
    closed = fcabench.closed_form_table(model, 30, methods.unit_record(model).example(0))
    a, b = traced.set_index("module"), closed.set_index("module")
    assert (a.loc[b.index, COMPONENTS] == b[COMPONENTS]).all().all()
    vanilla = fcabench.encoder_macs(fcabench.profile(tiny(layers=4), seq_len=30))
    assert fcabench.encoder_macs(traced) < vanilla  # pruning and combining both really save
    if "C" in variant:
        assert a.loc["encoder.layer.2", "macs_method"] > 0 and a.loc["encoder.layer.2", "macs_ffn"] == 0


def linear_only(model, seq_len: int) -> int:
    counts = count_by_module(model, synthetic_batch(model, seq_len))
    layers = [counts[f"bert.encoder.layer.{i}"] for i in range(len(model.bert.encoder.layer))]
    return sum(c[k] for c in layers for k in c if k in ("macs:linear", "macs:addmm"))


@pytest.mark.parametrize("variant", ["P", "PF", "PFC"])
def test_paper_convention_counts_linear_layers_only(variant):
    vanilla = tiny(layers=4)
    model = patched(vanilla, variant=variant, keep_ratio=0.7, combine_layer=3)
    traced = fcabench.profile(model, seq_len=30)
    units = methods.unit_record(model).example(0)
    paper = paper_convention_macs(model, 30, units)
    assert paper == linear_only(model, 30)
    table = compare_conventions(model, 30, units)
    assert table["macs"].sum() == fcabench.encoder_macs(traced)
    if variant in ("P", "PF"):  # the paper's "1x", although fcabench counts a saving
        assert paper == paper_convention_macs(vanilla, 30)
        assert table["macs"].sum() < compare_conventions(vanilla, 30)["macs"].sum()
    else:
        assert paper < paper_convention_macs(vanilla, 30)


def test_apply_by_name_with_paper_layer_numbering():
    model = tiny(layers=12)
    methods.apply(model, "focus-core", variant="PFC", combine_layer=7)
    layers = model.bert.encoder.layer
    assert [i for i, l in enumerate(layers) if isinstance(l, CombiningLayer)] == [6]
    out = model(input_ids=torch.randint(5, 99, (2, 20)))
    assert out.logits.shape == (2, 3)
    record = methods.unit_record(model).example(0)
    assert [n_in for n_in, _, _ in record] == [28] * 7 + [8] * 5
    default = patched(tiny(layers=12), variant="C")
    assert isinstance(default.bert.encoder.layer[10], CombiningLayer)  # layer 11 of 12


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(variant="X"), "variant"),
        (dict(keep_ratio=0.0), "keep_ratio"),
        (dict(combine_layer=0), "1-based"),
        (dict(combine_layer=5), "exceeds"),
        (dict(num_combine_tokens=-1), "num_combine_tokens"),
        (dict(quantiles=(0.8, 0.2)), "quantiles"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(FcabenchError, match=message):
        methods.apply(tiny(layers=4), "focus-core", **options)


def test_config_defaults():
    config = FocusCoreConfig()
    assert (config.variant, config.keep_ratio, config.num_combine_tokens) == ("PFC", 0.9, 8)
    assert config.combine_index(12) == 10 and config.combine_index(24) == 21
    assert not config.pruned(0, 12) and config.pruned(1, 12) and not config.pruned(10, 12)


def test_a_layers_key_subset_is_freed_before_its_ffn(padded):
    """The FFN holds the layer's peak: the keys this layer attended (replaced in the state by the next layer's
    choice) must be dead by then, or every pruned layer's peak carries them."""
    import weakref

    ids, mask = padded
    model = patched(tiny(layers=4), variant="PF", keep_ratio=0.7)
    attended, checked = {}, []
    for layer in base_model(model).encoder.layer:

        def keys(keep, state, layer=layer, original=layer.attention_keys):
            chosen = original(keep, state)
            if chosen is not None:
                attended[layer.index] = weakref.ref(chosen[0])
            return chosen

        layer.attention_keys = keys

    def look(layer, hidden):
        if layer.index in attended:
            checked.append((layer.index, attended[layer.index]() is None))

    before_each_ffn(base_model(model).encoder.layer, look)
    with torch.inference_mode():  # in training the autograd graph keeps the index for the backward pass
        model(input_ids=ids, attention_mask=mask)
    assert checked == [(1, True), (2, True), (3, True)]  # every pruned layer (from the second on)


@pytest.mark.parametrize("batch, grad, calls", [(8, False, 2), (1, False, 1), (8, True, 1)])
def test_combination_rows_get_an_ffn_call_of_their_own_at_inference(batch, grad, calls, monkeypatch):
    """At 8 tokens x batch 8 the appended rows fill 64: the layers before combining run the FFN on the
    input's rows, then on those, so that no intermediate is wider than vanilla's, with the same output.
    Fewer rows, or autograd on (backward keeps both pieces), keep one call."""
    model = patched(tiny(layers=4), variant="PFC", keep_ratio=0.7, combine_layer=4)
    ids = torch.randint(5, 99, (batch, 24), generator=torch.Generator().manual_seed(2))
    widths = []
    before_each_ffn(base_model(model).encoder.layer[:3], lambda layer, hidden: widths.append(hidden.shape[:-1].numel()))
    with torch.set_grad_enabled(grad):
        split = model(input_ids=ids).logits
        monkeypatch.setattr("fcabench.methods.base.SEPARATE_FFN_ROWS", 10**9)
        whole = model(input_ids=ids).logits
    appended = batch * 8
    expected = [batch * 24, appended] if calls == 2 else [batch * 24 + appended]
    assert widths[: 3 * calls] == expected * 3 and widths[3 * calls :] == [batch * 24 + appended] * 3
    if calls == 2:  # otherwise both passes made the same one call
        torch.testing.assert_close(split, whole, atol=1e-6, rtol=1e-5)


def test_the_next_layers_keys_are_held_as_one_byte_per_key_and_head(padded):
    """Between a layer's scoring and the next layer's attention (through the FFN, the layer's peak) the state
    holds the choice as a (batch, heads, units) mask, not as int64 indices."""
    ids, mask = padded
    model = patched(tiny(layers=4), variant="PFC", keep_ratio=0.7, combine_layer=4)
    encoder, held = base_model(model).encoder, []

    def look(layer, hidden):
        held.append((encoder.state.kv.dtype, tuple(encoder.state.kv.shape)))

    before_each_ffn(encoder.layer[:2], look)  # their next layer prunes
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask)
    assert held == [(torch.bool, (3, 4, 40 + 8))] * 2
