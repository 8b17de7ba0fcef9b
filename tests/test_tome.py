"""tome: bipartite soft matching on hand-made keys, conserved sizes, protected [CLS], proportional attention.

The generic checks (reduction off, padded batch, exact MACs, training) are in test_method_contract.py.
"""

from __future__ import annotations

import copy

import pytest
import torch

import fcabench
from fcabench import methods
from fcabench.errors import FcabenchError
from fcabench.methods.tome import bipartite_merge
from tests.conftest import padded_batch, tiny_model


def test_bipartite_merge_matches_a_hand_computed_example():
    # A = units 0, 2, 4 (even positions), B = units 1, 3; unit 0 is [CLS]
    keys = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.2]]])
    hidden = torch.tensor([[[9.0, 9.0], [1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]])
    sizes = torch.tensor([[1.0, 3.0, 1.0, 1.0, 2.0]])
    keep = torch.ones(1, 5, dtype=torch.bool)
    # unit 2 matches unit 3 exactly (cosine 1), unit 4 matches unit 1 (cosine 0.98); [CLS] never merges
    out, out_keep, out_sizes = bipartite_merge(hidden, keep, keys, sizes, r=1)
    torch.testing.assert_close(out[0], torch.tensor([[9.0, 9.0], [1.0, 2.0], [4.0, 5.0], [7.0, 8.0]]))
    assert out_sizes.tolist() == [[1.0, 3.0, 2.0, 2.0]] and out_keep.all()
    out, _, out_sizes = bipartite_merge(hidden, keep, keys, sizes, r=5)  # at most (n - 1) // 2 = 2 merges
    merged_1 = [(3 * 1.0 + 2 * 7.0) / 5, (3 * 2.0 + 2 * 8.0) / 5]  # size-weighted average
    torch.testing.assert_close(out[0], torch.tensor([[9.0, 9.0], merged_1, [4.0, 5.0]]))
    assert out_sizes.tolist() == [[1.0, 5.0, 2.0]]


def test_several_units_merging_into_one_give_its_size_weighted_average():
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])  # 2 and 4 both match 1
    hidden = torch.tensor([[[9.0, 9.0], [1.0, 0.0], [4.0, 4.0], [5.0, 6.0], [0.0, 8.0]]])
    sizes = torch.tensor([[1.0, 2.0, 1.0, 1.0, 3.0]])
    out, keep, out_sizes = bipartite_merge(hidden, torch.ones(1, 5, dtype=torch.bool), keys, sizes, r=2)
    merged = [(2 * 1.0 + 4.0 + 0.0) / 6, (0.0 + 4.0 + 3 * 8.0) / 6]
    torch.testing.assert_close(out[0], torch.tensor([[9.0, 9.0], merged, [5.0, 6.0]]))
    assert out_sizes.tolist() == [[1.0, 6.0, 1.0]] and keep.all()


def test_a_lone_cls_token_has_nothing_to_merge():
    model = methods.apply(tiny_model(layers=2), "tome", r=2)
    model(input_ids=torch.tensor([[1]]))
    assert methods.unit_record(model).tokens_out.tolist() == [[1, 1]]


def test_padding_is_never_merged_and_sizes_add_up_to_the_real_tokens():
    model = methods.apply(tiny_model(layers=4), "tome", r=3)
    lengths = [12, 9, 6]
    ids, mask = padded_batch(lengths)
    model(input_ids=ids, attention_mask=mask)
    state = model.bert.encoder.state
    record = methods.unit_record(model)
    for row, n in enumerate(lengths):
        expected, tokens = [], n
        for _ in range(4):
            tokens -= min(3, (tokens - 1) // 2)
            expected.append(tokens)
        assert record.tokens_out[row].tolist() == expected
    real = state.keep
    assert state.sizes.masked_fill(~real, 0).sum(dim=1).tolist() == lengths  # every real token counted once
    assert (state.sizes[:, 0] == 1).all()  # [CLS] stands for itself alone
    torch.testing.assert_close(state.key_bias[real], state.sizes.log()[real])  # proportional attention's bias


def test_proportional_attention_changes_what_later_layers_compute():
    model = tiny_model(layers=4)
    ids, mask = padded_batch([12, 9])
    on = methods.apply(copy.deepcopy(model), "tome", r=3)
    off = methods.apply(copy.deepcopy(model), "tome", r=3, proportional=False)
    a, b = on(input_ids=ids, attention_mask=mask).logits, off(input_ids=ids, attention_mask=mask).logits
    assert off.bert.encoder.state.key_bias is None
    assert not torch.allclose(a, b, atol=1e-4)


def test_a_schedule_merges_only_where_asked_and_the_similarity_costs_what_the_hand_count_says():
    model = methods.apply(tiny_model(layers=4), "tome", schedule=(0, 2, 0, 2))
    table = fcabench.profile(model, seq_len=12).set_index("module")
    assert table["tokens_out"].dropna().tolist() == [12, 10, 10, 8]
    head_dim = 8  # hidden 32, 4 heads
    assert table.loc["encoder.layer.1", "macs_method"] == 6 * 6 * head_dim  # ceil(12/2) x floor(12/2) x head_dim
    assert table.loc["encoder.layer.3", "macs_method"] == 5 * 5 * head_dim
    assert table.loc["encoder.layer.0", "macs_method"] == table.loc["encoder.layer.2", "macs_method"] == 0


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(r=-1), "r must be"),
        (dict(schedule=(1, 2)), "one per layer"),
        (dict(schedule=(1, -1, 0, 0)), "non-negative"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(FcabenchError, match=message):
        methods.apply(tiny_model(layers=4), "tome", **options)
