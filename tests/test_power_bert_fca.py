"""PoWER-BERT and FCA: real removal, vanilla when keeping everything, exact closed-form FLOPs."""

import pytest
import torch

import fcabench
from fcabench import methods
from fcabench.counting.profiler import prepare_model
from fcabench.errors import FcabenchError
from fcabench.methods import ops
from fcabench.methods.attention import AttentionStats
from fcabench.methods.base import ForwardState
from fcabench.methods.power_bert import PowerBertConfig, derive_retention, soft_extract_penalty
from tests.conftest import padded_batch, tiny_model

COLA = (34, 33, 32, 32, 31, 30, 30, 30, 30, 29, 28, 28)  # official FCA / PoWER-BERT CoLA configuration


def logits(model, ids, mask=None):
    return model(input_ids=ids, attention_mask=mask).logits


@pytest.mark.parametrize(
    "options",
    [
        dict(retention=(5, 3), clusters=2, aggregation="official"),
        dict(retention=(5, 3), clusters=3, official_off_by_one=True),
        dict(ratios=(0.6, 0.3), clusters=1, aggregation="mean"),
    ],
)
def test_fca_variants_give_each_example_in_a_padded_batch_what_it_gets_alone(options):
    model = methods.apply(tiny_model(), "fca", **options)
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
    official = methods.apply(tiny_model(layers=2), "fca", retention=(10, 10), clusters=5, aggregation="official")
    official(input_ids=padded_batch([12])[0])
    assert methods.unit_record(official).tokens_out[0].tolist() == [15, 15]  # always k clusters, as the code


def test_removed_units_reduce_the_traced_macs():
    full = fcabench.profile(tiny_model(layers=2), seq_len=12)
    reduced = fcabench.profile(methods.apply(tiny_model(layers=2), "power-bert", retention=(6, 3)), seq_len=12)
    assert fcabench.encoder_macs(reduced) < fcabench.encoder_macs(full)


def assert_traced_equals_closed_form(model, seq_len):
    traced = fcabench.profile(model, seq_len=seq_len)
    closed = fcabench.closed_form_table(model, seq_len, methods.unit_record(model).example(0))
    columns = ["tokens_in", "tokens_out", "macs_attn_proj", "macs_attn_matmul", "macs_ffn", "macs_method", "macs"]
    by_module = traced.set_index("module")
    assert (
        by_module.loc[closed["module"], columns].reset_index(drop=True).equals(closed[columns].reset_index(drop=True))
    )
    assert by_module["macs"].sum() == closed["macs"].sum()  # nothing outside the closed form's rows
    return traced


@pytest.mark.parametrize(
    "options",
    [
        dict(retention=(9, 6, 6, 2)),
        dict(retention=(9, 6, 6, 2), clusters=3),
        dict(retention=(9, 6, 6, 2), clusters=1, aggregation="mean"),
        dict(retention=(9, 6, 6, 2), clusters=5, aggregation="official"),
        dict(retention=(9, 6, 6, 2), clusters=5, official_off_by_one=True),
        dict(retention=(9, 6, 6, 2), clusters=2, aggregation="official-mean", official_off_by_one=True),
    ],
)
def test_profiled_macs_equal_the_closed_form_for_fca_variants(options):
    name = "fca" if "clusters" in options else "power-bert"
    model = methods.apply(tiny_model(layers=4), name, **options)
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
    assert round(vanilla / expected, 2) == 1.76  # docs/methods.md's worked example for 5 clusters


def test_real_minilm_checkpoint_patches_runs_and_profiles(minilm_path):
    model = fcabench.models.load_model(str(minilm_path))
    methods.apply(model, "fca", ratios=(1.0, 0.8, 0.6, 0.5, 0.4, 0.3), clusters=2)
    ids, mask = padded_batch([40, 25])
    out = model(input_ids=ids, attention_mask=mask)
    assert torch.isfinite(out.last_hidden_state).all()
    assert methods.unit_record(model).tokens_out[:, -1].tolist() == [12 + 2, 8 + 2]
    assert_traced_equals_closed_form(model, 48)


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


def test_unknown_options_name_the_valid_ones():
    with pytest.raises(
        FcabenchError,
        match="valid options: retention, ratios, soft_length, soft_lambda, soft_lr, clusters, aggregation",
    ):
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


def test_official_pooling_matches_a_hand_computed_example():
    units = torch.tensor(
        [
            [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0], [9.0, 9.0], [9.0, 9.0]],
            [[1.0, 1.0], [2.0, 0.0], [0.0, 2.0], [3.0, 3.0], [1.0, 0.0], [0.0, 1.0]],
        ]
    )
    valid = torch.tensor([[True] * 4 + [False] * 2, [True] * 6])
    weights = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.0, 0.0], [0.1, 0.1, 0.2, 0.2, 0.3, 0.1]])
    pooled, pooled_keep = ops.pool_official(units, valid, weights, chunks=3)
    # T = 4, k = 3: padded by 3 - 1 = 2 to 6, chunks of 2: (u0 u1) (u2 u3) (pad pad)
    first = [[0.05, 0.1], [1.1, 0.3], [0.0, 0.0]]
    # T = 6, k = 3: a multiple of k, padded by 3 to 9, chunks of 3: (u0 u1 u2) (u3 u4 u5) (pad pad pad)
    second = [[(0.1 + 0.2) / 3, (0.1 + 0.4) / 3], [(0.6 + 0.3) / 3, (0.6 + 0.1) / 3], [0.0, 0.0]]
    torch.testing.assert_close(pooled, torch.tensor([first, second]))
    assert pooled_keep.tolist() == [[True] * 3] * 2  # always k clusters, mask bit 1


def test_weighted_pooling_matches_a_hand_computed_example():
    units = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0], [9.0, 9.0]]])
    valid = torch.tensor([[True, True, True, True, False]])
    weights = torch.tensor([[0.1, 0.3, 0.2, 0.4, 0.0]])
    pooled, pooled_keep = ops.pool_chunks(units, valid, weights, chunks=2)
    expected = [[[0.1 / 0.4, 0.3 / 0.4], [(0.4 + 1.6) / 0.6, 0.4 / 0.6]]]  # sum(w x) / sum(w) per chunk
    torch.testing.assert_close(pooled, torch.tensor(expected))
    assert pooled_keep.tolist() == [[True, True]]


@pytest.mark.parametrize("off_by_one", [False, True])
@pytest.mark.parametrize("aggregation", ["official", "official-mean"])
def test_fca_layer_appends_the_official_clusters_of_its_tail(off_by_one, aggregation):
    """One layer's reduce on chosen scores, by hand: fine units, the tail (with the official code's skipped
    rank k_l), its softmax weights (FLAG 5) or none (FLAG 6), and the zero-padded chunks."""
    model = methods.apply(
        tiny_model(layers=2),
        "fca",
        retention=(4, 4),
        clusters=2,
        aggregation=aggregation,
        official_off_by_one=off_by_one,
    )
    layer = model.bert.encoder.layer[0]
    hidden = torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(0))
    keep = torch.ones(1, 8, dtype=torch.bool)
    received = torch.tensor([[5.0, 0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.4]]).expand(4, -1)[None]  # same in every head
    stats = AttentionStats(received=received, self_prob=torch.zeros(1, 4, 8))
    state = ForwardState()
    state.begin(keep, num_layers=2, heads=4)
    out, out_keep = layer.reduce(hidden, keep, stats, state)
    fine = [
        0,
        2,
        4,
        6,
    ]  # ranks 0-3: [CLS], then units 2, 4, 6 (scores 0.9, 0.8, 0.7); [CLS] + k_l - 1 others either way
    x = hidden[0]
    if off_by_one:  # index = k_l + 5 in the official code: rank 4 (unit 7, 0.4) is skipped, ranks 5.. pooled
        tail, scores = [1, 3, 5], torch.tensor([0.1, 0.3, 0.2])
        # T = 3, k = 2: padded by 1 to 4, chunks of c = 2: (t0 t1) (t2 pad)
        w = scores.softmax(dim=0) if aggregation == "official" else torch.ones(3)
        clusters = torch.stack([(w[0] * x[1] + w[1] * x[3]) / 2, w[2] * x[5] / 2])
    else:
        tail, scores = [1, 3, 5, 7], torch.tensor([0.1, 0.3, 0.2, 0.4])
        # T = 4, k = 2: padded by 2 to 6, chunks of c = 3: (t0 t1 t2) (t3 pad pad)
        w = scores.softmax(dim=0) if aggregation == "official" else torch.ones(4)
        clusters = torch.stack([(w[0] * x[1] + w[1] * x[3] + w[2] * x[5]) / 3, w[3] * x[7] / 3])
    assert len(tail) == 8 - len(fine) - off_by_one
    torch.testing.assert_close(out[0], torch.cat([x[fine], clusters]))
    assert out_keep.tolist() == [[True] * (len(fine) + 2)]


def test_official_off_by_one_closed_form_by_hand():
    """FLAG 5 on the CoLA configuration at n = 64: k_l fine units, k clusters, pooling k x (n_in - k_l - 1) x d."""
    model, _ = prepare_model(
        "bert-base", "fca", retention=COLA, clusters=5, aggregation="official", official_off_by_one=True
    )
    traced = assert_traced_equals_closed_form(model, 64)
    d, f, n_in, expected = 768, 3072, 64, 0
    for k in COLA:
        expected += 4 * n_in * d * d + 2 * n_in * n_in * d + 2 * (k + 5) * d * f + 5 * (n_in - k - 1) * d
        n_in = k + 5
    assert fcabench.encoder_macs(traced) == expected
    record = methods.unit_record(model)
    assert record.tokens_out[0].tolist() == [k + 5 for k in COLA]


def test_soft_extraction_weights_are_projected_after_each_step_not_clamped_in_the_forward_pass():
    model = methods.apply(tiny_model(layers=2).train(), "power-bert", soft_extract=True, soft_length=12)
    method, _ = methods.applied(model)
    weights = [layer.rank_weights for layer in model.bert.encoder.layer]
    with torch.no_grad():
        weights[0][:] = 1.5  # out of range: a clamp in the forward pass would give it no gradient
    ids, mask = padded_batch([12, 10])
    loss = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1])).loss + method.loss_term(model)
    loss.backward()
    assert (weights[0].grad[:10] != 0).all()  # every rank the inputs use gets a gradient
    method.after_step(model)
    assert all(float(w.detach().min()) >= 0 and float(w.detach().max()) <= 1 for w in weights)
    assert method.parameter_groups(model)[0]["lr"] == methods.applied(model).config.soft_lr


def test_an_input_longer_than_soft_length_is_a_clear_error():
    model = methods.apply(tiny_model(layers=2), "power-bert", soft_extract=True, soft_length=8)
    with pytest.raises(FcabenchError, match="soft_length"):
        model(input_ids=padded_batch([12])[0])


def test_fca_trains_in_the_official_three_stages_with_the_searched_retention():
    stages = methods.get("fca").stages(methods.make_config("fca", ratios=(0.5, 0.5), clusters=5))
    assert [s.name for s in stages] == ["fine-tune", "search", "retrain"]
    assert stages[0].config is None and stages[1].derive and stages[2].config is methods.DERIVED
    assert stages[1].config == PowerBertConfig(soft_extract=True)  # PoWER-BERT's soft extraction searches
    search = methods.apply(tiny_model(layers=2), stages[1].config)
    for k, layer in zip((7.6, 3.2), search.bert.encoder.layer):
        with torch.no_grad():
            layer.rank_weights[:] = 0
            layer.rank_weights[:10] = k / 10
    derived = methods.get("fca").derive_config(search, methods.make_config("fca", ratios=(0.5, 0.5), clusters=5))
    assert derived == methods.make_config("fca", retention=(7, 3), clusters=5)  # int(sum W), ratios dropped


@pytest.mark.parametrize(
    "name, options, regathers",
    [
        ("power-bert", dict(ratios=(1.0, 0.5)), False),
        ("fca", dict(ratios=(1.0, 0.5), clusters=2), False),
        ("fca", dict(ratios=(1.0, 0.5), clusters=2, aggregation="official"), True),  # appends its k clusters even then
    ],
)
def test_a_layer_that_keeps_every_unit_copies_nothing(name, options, regathers):
    model = methods.apply(tiny_model(layers=2), name, **options)
    with torch.inference_mode():
        model(input_ids=padded_batch([12, 12])[0])
    record = methods.unit_record(model)
    assert (record.masks_out[0] is not record.masks_in[0]) == regathers
    assert record.masks_out[1] is not record.masks_in[1]  # layer 2 keeps half: a new layout
    expected = [12 + 2 * regathers, 6 + 2] if name == "fca" else [12, 6]  # fca: 6 fine units and 2 clusters
    assert record.tokens_out.tolist() == [expected] * 2
