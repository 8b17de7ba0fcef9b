"""ltp: thresholds at -inf equal vanilla, counts vary per input and MACs follow, soft masks train thresholds."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from fcabench import methods
from fcabench.counting import dynamic
from fcabench.errors import FcabenchError
from fcabench.methods.ltp import LTPConfig, ltp_penalty, thresholds, would_keep
from tests import conftest

INF = float("inf")
STEEP = (0.9, 1.0, 1.0, 1.0)  # prunes visibly on a random tiny model


def tiny_config(layers: int = 4) -> BertConfig:
    return conftest.tiny_config(layers, max_position_embeddings=512)


@pytest.fixture(scope="module")
def vanilla():
    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_config()).eval()


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(1)
    ids = torch.randint(5, 99, (4, 14))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    mask[2, 6:] = 0
    return ids, mask


def tiny_model_4(seed: int = 0):
    from tests.conftest import tiny_model

    return tiny_model(layers=4, seed=seed)


def patched(model, **options):
    return methods.apply(copy.deepcopy(model), "ltp", **options)


def test_padded_batch_equals_each_example_alone_with_steep_thresholds(vanilla, batch):
    ids, mask = batch
    model = patched(vanilla, thresholds=STEEP)
    out = model(input_ids=ids, attention_mask=mask)
    record = methods.unit_record(model)
    for i in range(4):
        n = int(mask[i].sum())
        alone = model(input_ids=ids[i : i + 1, :n])
        torch.testing.assert_close(alone.logits[0], out.logits[i], atol=1e-5, rtol=1e-5)
        assert methods.unit_record(model).example(0) == record.example(i)


def test_default_thresholds_rise_with_depth_and_prune_an_untrained_model(vanilla, batch):
    assert LTPConfig().schedule(4) == (0.25, 0.5, 0.75, 1.0)
    schedule = LTPConfig().schedule(12)
    assert all(b > a for a, b in zip(schedule, schedule[1:]))
    ids, mask = batch
    model = patched(vanilla)
    model(input_ids=ids, attention_mask=mask)
    record = methods.unit_record(model)
    assert (record.tokens_out < mask.sum(dim=1, keepdim=True)).any()
    assert (record.tokens_out[:, -1] < mask.sum(dim=1)).all()


def test_counts_vary_per_input_and_macs_follow(vanilla):
    model = patched(vanilla, thresholds=STEEP)
    inputs = dynamic.inputs_from_lengths(model, [12] * 6, seed=3)
    fast = dynamic.profile_examples(model, inputs, batch_size=4)
    counts = [tuple(t) for t in fast["tokens_out"]]
    assert len(set(counts)) > 1  # same length, different inputs, different counts
    order = sorted(range(6), key=lambda i: sum(counts[i]))
    assert fast["macs"].iloc[order[0]] < fast["macs"].iloc[order[-1]]
    traced = dynamic.profile_examples(model, [inputs[order[0]], inputs[order[-1]]], fast=False)
    assert traced["macs"].tolist() == [fast["macs"].iloc[order[0]], fast["macs"].iloc[order[-1]]]


def test_hard_mode_really_removes_units(vanilla, batch):
    ids, mask = batch
    model = patched(vanilla, thresholds=STEEP)
    model(input_ids=ids, attention_mask=mask)
    record = methods.unit_record(model)
    assert record.masks_out[-1].shape[1] == int(record.tokens_out[:, -1].max()) < 14


def test_soft_mask_passes_gradients_to_thresholds(vanilla, batch):
    ids, mask = batch
    model = patched(vanilla, thresholds=STEEP)
    model.train()
    out = model(input_ids=ids, attention_mask=mask)
    record = methods.unit_record(model)
    assert record.tokens_out.tolist() == [[14] * 4, [10] * 4, [6] * 4, [14] * 4]  # soft: nothing removed
    assert (would_keep(model) < mask.sum(dim=1, keepdim=True)).any()
    penalty = ltp_penalty(model)
    assert 0 < float(penalty.detach()) <= LTPConfig().penalty_weight * 4  # one mean mask <= 1 per layer
    (out.logits.square().sum() + penalty).backward()
    grads = [layer.threshold.grad for layer in model.bert.encoder.layer]
    assert all(g is not None and torch.isfinite(g) for g in grads)
    assert any(float(g) != 0 for g in grads)
    # the penalty alone pushes every threshold up (a higher threshold means a smaller mask)
    model.zero_grad()
    model(input_ids=ids, attention_mask=mask)
    ltp_penalty(model).backward()
    assert all(float(layer.threshold.grad) < 0 for layer in model.bert.encoder.layer)


def test_soft_mode_in_eval_and_hard_mode_in_training(vanilla, batch):
    ids, mask = batch
    soft = patched(vanilla, thresholds=STEEP, mode="soft")
    soft(input_ids=ids, attention_mask=mask)
    assert methods.unit_record(soft).tokens_out[0].tolist() == [14] * 4
    hard = patched(vanilla, thresholds=STEEP, mode="hard").train()
    hard(input_ids=ids, attention_mask=mask).logits.sum().backward()
    assert (methods.unit_record(hard).tokens_out[:, -1] < mask.sum(dim=1)).all()
    assert all(layer.threshold.grad is None for layer in hard.bert.encoder.layer)  # frozen in hard mode
    assert thresholds(hard) == pytest.approx(STEEP)  # float32 parameters


def test_cls_protection_keeps_cls_and_at_least_one_unit_survives(vanilla, batch):
    ids, mask = batch
    reference = vanilla.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[1]
    first_layer = {}
    for protect in (True, False):
        model = patched(vanilla, thresholds=(100.0,) * 4, protect_cls=protect)  # no unit reaches theta
        model.bert.encoder.layer[0].register_forward_hook(
            lambda module, args, output, protect=protect: first_layer.update({protect: output[0]})
        )
        out = model.bert(input_ids=ids, attention_mask=mask)
        assert methods.unit_record(model).tokens_out.tolist() == [[1] * 4] * 4  # the best unit survives
        assert out.last_hidden_state.shape[1] == 1
    # layer 0 computes every unit before it prunes, so the survivor is vanilla's state of that unit
    torch.testing.assert_close(first_layer[True][:, 0], reference[:, 0], atol=1e-5, rtol=1e-5)  # [CLS]
    survivors = [
        any(torch.allclose(first_layer[False][b, 0], reference[b, j], atol=1e-5) for j in range(1, 14))
        for b in range(4)
    ]
    assert any(survivors)  # unprotected, the best-scoring unit survives, and for some input it is not [CLS]


def test_default_penalty_trains_a_small_task_where_a_tenfold_one_prunes_at_the_cost_of_the_loss():
    from tests.helpers import learnable_task, train_stage

    kept = {}
    for weight in (None, 0.1):
        options = {} if weight is None else {"penalty_weight": weight}
        model = methods.apply(tiny_model_4(seed=1).train(), "ltp", mode="soft", **options)
        losses = train_stage(model, steps=40)
        ids, mask, _ = learnable_task()
        model(input_ids=ids, attention_mask=mask)
        kept[weight] = (losses, would_keep(model).float().mean(dim=0))
    losses, default_kept = kept[None]
    assert losses[-1] < 0.3 * losses[0]
    # every layer but the last keeps more than [CLS] on average; the last layer's other units never reach the
    # classifier, so with the official placement (the mask on the layer's output) only the penalty acts on them
    assert (default_kept[:-1] > 1).all(), default_kept
    losses, heavy_kept = kept[0.1]
    assert (heavy_kept[:-1] < 0.6 * default_kept[:-1]).all() and losses[-1] > 1.5 * kept[None][0][-1]


def test_raw_scores_option(vanilla, batch):
    ids, mask = batch
    n = 14
    normalized = patched(vanilla, thresholds=STEEP)
    raw = patched(vanilla, thresholds=tuple(t / n for t in STEEP[:1]) + (-INF,) * 3, normalized=False)
    normalized(input_ids=ids[:1])
    raw(input_ids=ids[:1])
    first = lambda m: methods.unit_record(m).tokens_out[0, 0]  # noqa: E731
    assert first(normalized) == first(raw)


def test_options_and_errors():
    options = methods.parse_options("ltp", {"thresholds": "-inf,0.5", "protect_cls": "false", "mode": "hard"})
    config = methods.make_config("ltp", **options)
    assert config.thresholds == (-INF, 0.5) and not config.protect_cls and math.isinf(config.thresholds[0])
    with pytest.raises(FcabenchError, match="one per layer"):
        methods.apply(BertForSequenceClassification(tiny_config(2)), "ltp", thresholds=(1.0,))
    with pytest.raises(FcabenchError, match="temperature"):
        methods.make_config("ltp", temperature=0)
    with pytest.raises(FcabenchError, match="patched with ltp"):
        ltp_penalty(BertForSequenceClassification(tiny_config(2)))


def test_a_layer_that_removes_nothing_copies_nothing():
    from tests.conftest import padded_batch, tiny_model

    model = methods.apply(tiny_model(layers=2), "ltp", thresholds=(float("-inf"),) * 2)
    with torch.inference_mode():
        model(input_ids=padded_batch([12, 12])[0])
    record = methods.unit_record(model)
    assert all(mask is record.masks_in[0] for mask in record.masks_out)  # the input's tensor, never regathered


def test_soft_mask_multiplies_the_layer_output_after_the_ffn_as_the_official_code_does(vanilla, batch):
    """Soft mode leaves the FFN's input alone and multiplies each unit of the layer's output by its mask."""
    ids, mask = batch
    model = patched(vanilla, thresholds=STEEP, mode="soft")
    seen = {}
    layer = model.bert.encoder.layer[0]
    layer.intermediate.register_forward_hook(lambda m, args, out: seen.update(ffn_in=args[0]))
    layer.register_forward_hook(lambda m, args, out: seen.update(out=out[0]))
    model(input_ids=ids, attention_mask=mask)
    soft = model.bert.encoder.state.soft_masks[0]
    reference = copy.deepcopy(vanilla)
    reference.bert.encoder.layer[0].intermediate.register_forward_hook(
        lambda m, args, out: seen.update(plain_in=args[0])
    )
    plain = reference.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[1]
    attended = seen["plain_in"]
    real = mask.bool()
    torch.testing.assert_close(seen["ffn_in"][real], attended[real], atol=1e-5, rtol=1e-5)  # unmasked FFN input
    torch.testing.assert_close(seen["out"][real], (plain * soft[..., None])[real], atol=1e-5, rtol=1e-5)
    assert (soft[real] < 0.99).any()  # the masks are not all one, so the comparison can tell the placements apart


def test_raw_scores_of_a_padded_input_are_the_official_ones(vanilla, batch):
    """normalized=False: received attention / (heads x N) at the padded length N, as the official code scores;
    so a padded example with threshold t keeps what it keeps alone (N = n) with threshold t N / n."""
    ids, mask = batch
    n, width = int(mask[1].sum()), ids.shape[1]
    counts = {}
    for t in (0.5 / width, 0.8 / width, 1.0 / width, 1.2 / width):
        padded = patched(vanilla, thresholds=(t,) + (-INF,) * 3, normalized=False)
        padded(input_ids=ids[1:2], attention_mask=mask[1:2])
        alone = patched(vanilla, thresholds=(t * width / n,) + (-INF,) * 3, normalized=False)
        alone(input_ids=ids[1:2, :n])
        counts[t] = int(methods.unit_record(padded).tokens_out[0, 0])
        assert counts[t] == int(methods.unit_record(alone).tokens_out[0, 0])
    assert len(set(counts.values())) > 1  # the thresholds fall among the scores: the counts can differ
