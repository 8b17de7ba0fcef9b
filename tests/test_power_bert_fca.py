"""PoWER-BERT and FCA: real removal, vanilla when keeping everything, exact closed-form FLOPs."""

import copy

import pytest
import torch

import fcabench
from fcabench import methods
from fcabench.errors import FcabenchError
from fcabench.methods.power_bert import derive_retention, soft_extract_penalty
from fcabench.profiler import prepare_model
from tests.conftest import padded_batch, tiny_model

COLA = (34, 33, 32, 32, 31, 30, 30, 30, 30, 29, 28, 28)  # official FCA / PoWER-BERT CoLA configuration


def logits(model, ids, mask=None):
    return model(input_ids=ids, attention_mask=mask).logits


@pytest.mark.parametrize("name", ["vanilla", "power-bert", "fca"])
def test_keeping_everything_equals_vanilla(name, attn):
    reference = tiny_model(attn=attn)
    patched = methods.apply(copy.deepcopy(reference), name, **({} if name == "vanilla" else {"retention": (12, 12)}))
    ids, mask = padded_batch([12, 9, 5])
    torch.testing.assert_close(logits(patched, ids, mask), logits(reference, ids, mask), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name, options", [("power-bert", dict(retention=(5, 3))), ("fca", dict(retention=(5, 3), clusters=2)),
                                           ("fca", dict(ratios=(0.6, 0.3), clusters=1))])
def test_padded_batch_equals_each_example_alone(name, options, attn):
    model = methods.apply(tiny_model(attn=attn), name, **options)
    lengths = [12, 9, 6]
    ids, mask = padded_batch(lengths)
    batched = logits(model, ids, mask)
    batch_units = methods.unit_record(model)
    for row, n in enumerate(lengths):
        alone = logits(model, ids[row : row + 1, :n])
        torch.testing.assert_close(alone[0], batched[row], atol=1e-5, rtol=0)
        assert methods.unit_record(model).example(0) == batch_units.example(row)


def test_unit_counts_follow_the_configuration():
    model = methods.apply(tiny_model(layers=4), "power-bert", retention=(10, 7, 7, 3))
    model(input_ids=padded_batch([12])[0])
    record = methods.unit_record(model)
    assert record.tokens_in[0].tolist() == [12, 10, 7, 7]
    assert record.tokens_out[0].tolist() == [10, 7, 7, 3]
    assert model.bert.encoder.state.keep.shape == (1, 3)  # really removed, not masked


def test_fca_clusters_appear_in_the_counts():
    model = methods.apply(tiny_model(layers=3), "fca", retention=(8, 6, 4), clusters=2)
    model(input_ids=padded_batch([12])[0])
    record = methods.unit_record(model)
    # layer 0 keeps 8 fine units and pools the other 4 into 2 clusters; later layers re-pool
    assert record.tokens_out[0].tolist() == [8 + 2, 6 + 2, 4 + 2]
    assert record.tokens_in[0].tolist() == [12, 10, 8]


def test_fca_with_fewer_tail_units_than_clusters_makes_no_empty_cluster():
    model = methods.apply(tiny_model(layers=2), "fca", retention=(10, 10), clusters=5)
    model(input_ids=padded_batch([12])[0])
    assert methods.unit_record(model).tokens_out[0].tolist() == [12, 12]  # 10 fine + 2 single-unit clusters


def test_removed_units_reduce_the_traced_macs():
    full = fcabench.profile(tiny_model(layers=2), seq_len=12)
    reduced = fcabench.profile(methods.apply(tiny_model(layers=2), "power-bert", retention=(6, 3)), seq_len=12)
    assert fcabench.encoder_macs(reduced) < fcabench.encoder_macs(full)


def assert_traced_equals_closed_form(model, seq_len):
    traced = fcabench.profile(model, seq_len=seq_len)
    closed = fcabench.closed_form_table(model, seq_len, methods.unit_record(model).example(0))
    columns = ["tokens_in", "tokens_out", "macs_attn_proj", "macs_attn_matmul", "macs_ffn", "macs_method", "macs"]
    by_module = traced.set_index("module")
    assert by_module.loc[closed["module"], columns].reset_index(drop=True).equals(closed[columns].reset_index(drop=True))
    assert by_module["macs"].sum() == closed["macs"].sum()  # nothing outside the closed form's rows
    return traced


@pytest.mark.parametrize("options", [dict(retention=(9, 6, 6, 2)), dict(ratios=(0.8, 0.5, 0.5, 0.25)), dict(retention=(9, 6, 6, 2), clusters=3),
                                     dict(retention=(9, 6, 6, 2), clusters=1, aggregation="mean")])
def test_profiled_macs_equal_the_closed_form_on_the_tiny_config(options, attn):
    name = "fca" if "clusters" in options else "power-bert"
    model = methods.apply(tiny_model(layers=4, attn=attn), name, **options)
    traced = assert_traced_equals_closed_form(model, 12)
    if name == "fca":
        assert (traced.loc[traced["layer"].notna(), "macs_method"] > 0).all()  # pooling has its own column


def hand_fca_layer(n_in, fine, clusters, d=768, f=3072):
    """One FCA layer by hand: attention on n_in units, FFN on fine + clusters, pooling g x T x d."""
    tail = n_in - fine
    g = min(clusters, tail)
    return 4 * n_in * d * d + 2 * n_in * n_in * d + 2 * (fine + g) * d * f + g * tail * d


def test_bert_base_with_the_official_cola_configuration():
    model, _ = prepare_model("bert-base", "fca", retention=COLA, clusters=5)
    traced = assert_traced_equals_closed_form(model, 64)
    n_in, expected = 64, 0
    for k in COLA:
        expected += hand_fca_layer(n_in, k, 5)
        n_in = k + min(5, n_in - k)
    assert fcabench.encoder_macs(traced) == expected
    vanilla = 12 * (12 * 64 * 768**2 + 2 * 64**2 * 768)
    assert round(vanilla / expected, 2) == 1.76  # METHODS.md's worked example for 5 clusters


def test_real_minilm_checkpoint_patches_runs_and_profiles(minilm_path):
    model = fcabench.models.load_model(str(minilm_path))
    methods.apply(model, "fca", ratios=(1.0, 0.8, 0.6, 0.5, 0.4, 0.3), clusters=2)
    ids, mask = padded_batch([40, 25])
    out = model(input_ids=ids, attention_mask=mask)
    assert torch.isfinite(out.last_hidden_state).all()
    assert methods.unit_record(model).tokens_out[:, -1].tolist() == [12 + 2, 8 + 2]
    assert_traced_equals_closed_form(model, 48)


def test_training_mode_runs_and_backpropagates():
    model = methods.apply(tiny_model(layers=2), "fca", retention=(8, 5), clusters=2).train()
    ids, mask = padded_batch([12, 7])
    loss = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 2])).loss
    loss.backward()
    assert model.bert.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0


def test_soft_extraction_learns_a_non_increasing_configuration():
    model = methods.apply(tiny_model(layers=3).train(), "power-bert", soft_extract=True, soft_length=12)
    weights = [layer.rank_weights for layer in model.bert.encoder.layer]
    optimiser = torch.optim.SGD(weights, lr=0.2)
    ids, mask = padded_batch([12, 10])
    for _ in range(3):
        optimiser.zero_grad()
        out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1]))
        (out.loss + soft_extract_penalty(model, lam=0.05)).backward()
        assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)
        optimiser.step()
    retention = derive_retention(model)
    assert len(retention) == 3 and all(a >= b >= 1 for a, b in zip(retention, retention[1:]))
    assert retention[-1] < 12  # the deeper layers' penalty is larger, so they shrink first
    methods.apply(tiny_model(layers=3), "power-bert", retention=retention)  # usable for hard extraction


def test_registry_lists_methods_and_rejects_bad_names_and_options():
    assert {"vanilla", "power-bert", "fca"} <= set(methods.names())
    with pytest.raises(FcabenchError, match="unknown method .fcb.; methods: vanilla, fca, focus-core, ltp, power-bert"):
        methods.apply(tiny_model(), "fcb")
    with pytest.raises(FcabenchError, match="valid options: retention, ratios, soft_length, soft_lambda, soft_lr, clusters, aggregation"):
        methods.apply(tiny_model(), "fca", cluster=3)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(retention=(5, 6)), "non-increasing"),
        (dict(retention=(5,)), "one per layer"),
        (dict(retention=(0, 0)), "out-of-range"),
        (dict(retention=(99, 50)), "max_position_embeddings"),
        (dict(ratios=(1.5, 0.5)), "out-of-range"),
        (dict(retention=(5, 4), ratios=(0.5, 0.4)), "not both"),
        (dict(clusters=-1, retention=(5, 4)), "clusters"),
    ],
)
def test_impossible_configurations_are_refused(options, message):
    with pytest.raises(FcabenchError, match=message):
        methods.apply(tiny_model(), "fca", **options)


def test_a_configuration_longer_than_the_input_is_refused():
    model = methods.apply(tiny_model(), "power-bert", retention=(20, 10))
    with pytest.raises(FcabenchError, match="only 12 tokens"):
        fcabench.profile(model, seq_len=12)


def test_patching_twice_is_refused():
    model = methods.apply(tiny_model(), "vanilla")
    with pytest.raises(FcabenchError, match="already patched"):
        methods.apply(model, "fca")
