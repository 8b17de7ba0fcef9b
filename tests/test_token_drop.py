"""token-drop: keep-everything equals vanilla, full-length output, untouched states before the span."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertModel

import fcabench
from fcabench import encoders, methods
from fcabench.errors import FcabenchError
from fcabench.methods.token_drop import TokenDropConfig, build_importance_table
from tests.conftest import FAMILIES, family_config


def tiny_config(layers: int = 4) -> BertConfig:
    return BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=37
    )


@pytest.fixture(scope="module")
def vanilla() -> BertModel:
    torch.manual_seed(0)
    return BertModel(tiny_config()).eval()


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(1)
    ids = torch.randint(5, 99, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    mask[2, 5:] = 0
    return ids, mask


def patched(model, **options):
    return methods.apply(copy.deepcopy(model), "token-drop", **options)


def test_default_span_scales_the_papers_layers():
    config = TokenDropConfig()
    assert config.span_for(12) == (6, 11)  # layers 7-11 of 12, 1-based
    assert config.span_for(24) == (12, 23)
    assert config.span_for(4) == (2, 3)
    assert config.span_for(2) == (1, 2)
    assert TokenDropConfig(span=(1, 3)).span_for(12) == (1, 3)


def test_keep_everything_with_an_importance_table_equals_vanilla(vanilla, batch):
    ids, mask = batch
    model = patched(vanilla, keep_ratio=1.0, importance="table", table=torch.arange(99, dtype=torch.float))
    out, ref = model(input_ids=ids, attention_mask=mask), vanilla(input_ids=ids, attention_mask=mask)
    real = mask.bool()
    torch.testing.assert_close(out.last_hidden_state[real], ref.last_hidden_state[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.pooler_output, ref.pooler_output, atol=1e-5, rtol=1e-5)
    assert methods.unit_record(model).tokens_in.tolist() == [[12] * 4, [9] * 4, [5] * 4]


def test_output_has_full_length_and_span_runs_on_kept_tokens(vanilla, batch):
    ids, mask = batch
    model = patched(vanilla)
    out = model(input_ids=ids, attention_mask=mask)
    assert out.last_hidden_state.shape == (3, 12, 32)
    record = methods.unit_record(model)
    # default span on 4 layers is [2, 3): layer 2 sees ceil(n / 2) tokens, the others all of them
    assert record.tokens_in.tolist() == [[12, 12, 6, 12], [9, 9, 5, 9], [5, 5, 3, 5]]
    assert record.tokens_out.tolist() == record.tokens_in.tolist()
    assert record.masks_in[2].shape[1] == 6  # the span's tensors really are shorter


def test_states_before_the_span_equal_vanilla(vanilla, batch):
    ids, mask = batch
    ref = vanilla(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    model = patched(vanilla, span=(2, 4), keep_ratio=0.5)  # the span reaches the output
    seen = {}
    model.encoder.layer[1].register_forward_hook(lambda module, args, output: seen.update(h=output[0]))
    out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(seen["h"][real], ref[2][real], atol=1e-5, rtol=1e-5)
    # dropped tokens skip layers 2 and 3, so they leave with their state after layer 1
    index, valid = model.encoder.state.selection
    chosen = torch.zeros_like(real).scatter(1, index, valid)
    dropped = real & ~chosen
    assert dropped.any()
    torch.testing.assert_close(out[dropped], ref[2][dropped], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[chosen], ref[2][chosen], atol=1e-3)


def test_special_tokens_kept_and_padding_dropped(vanilla, batch):
    ids, mask = batch
    ids = ids.masked_fill(ids == 7, 8)
    ids[:, 3] = 7  # a "special" id by option, with the lowest importance in the table
    ids[1, 10] = 7  # the same id on a padded position must stay dropped
    table = torch.arange(99, dtype=torch.float)
    model = patched(vanilla, keep_count=3, importance="table", table=table, special_ids=(7,))
    model(input_ids=ids, attention_mask=mask)
    index, valid = model.encoder.state.selection
    for b in range(3):
        kept = sorted(index[b][valid[b]].tolist())
        n = int(mask[b].sum())
        assert 0 in kept and 3 in kept and all(k < n for k in kept)
        rest = [int(ids[b, j]) for j in range(1, n) if j != 3]
        (other,) = set(kept) - {0, 3}  # one slot left after the forced tokens: the most important id
        assert int(ids[b, other]) == max(rest)
        assert len(kept) == 3


def test_forced_tokens_kept_beyond_the_count(vanilla, batch):
    ids, mask = batch
    ids = ids.clone()
    ids[0, 1:6] = 7
    model = patched(vanilla, keep_count=2, special_ids=(7,))
    model(input_ids=ids, attention_mask=mask)
    assert methods.unit_record(model).tokens_in[:, 2].tolist() == [6, 2, 2]


def test_importance_table_built_from_losses_and_loaded_from_a_file(tmp_path):
    torch.manual_seed(0)
    batches = [torch.randint(5, 99, (4, 16)) for _ in range(3)]
    mlm = BertForMaskedLM(tiny_config(2)).eval()
    table = build_importance_table(mlm, batches, mask_prob=0.3)
    assert table.shape == (99,) and torch.isfinite(table).all() and table.std() > 0
    proxy = build_importance_table(mlm.bert, batches, mask_prob=0.3)  # no head: tied-embedding loss
    assert proxy.shape == (99,) and torch.isfinite(proxy).all()
    path = tmp_path / "table.pt"
    torch.save(table, path)
    model = methods.apply(BertModel(tiny_config(2)).eval(), "token-drop", importance="table", table=str(path))
    out = model(input_ids=batches[0])
    assert out.last_hidden_state.shape == (4, 16, 32)
    assert methods.unit_record(model).tokens_in[:, 1].tolist() == [8] * 4


def test_only_the_span_is_cheaper_in_the_traced_count(vanilla):
    model = patched(vanilla, keep_ratio=0.3)
    table = fcabench.profile(model, seq_len=10)
    assert table["tokens_in"].dropna().tolist() == [10, 10, 3, 10]
    full = fcabench.profile(vanilla, seq_len=10).set_index("module")["macs"]
    saved = full - table.set_index("module")["macs"]
    assert saved.loc["encoder.layer.2"] > 0 and saved.drop("encoder.layer.2").abs().sum() == 0


def test_cli_strings_parse():
    options = methods.parse_options("token-drop", {"span": "2,3", "keep_ratio": "0.25", "importance": "attention"})
    assert methods.make_config("token-drop", **options) == TokenDropConfig(span=(2, 3), keep_ratio=0.25)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(span=(2, 9)), "exceeds"),
        (dict(span=(0, 2)), "span"),
        (dict(keep_ratio=0.0), "keep_ratio"),
        (dict(importance="table"), "table"),
        (dict(importance="table", table=torch.zeros(5)), "entries"),
        (dict(importance="table", table="/nonexistent/table.pt"), "no importance table"),
    ],
)
def test_bad_options_raise(vanilla, options, message):
    with pytest.raises(FcabenchError, match=message):
        patched(vanilla, **options)


def test_importance_table_on_electra_with_embeddings_narrower_than_the_encoder():
    from transformers import ElectraConfig, ElectraForSequenceClassification

    torch.manual_seed(0)
    config = ElectraConfig(
        vocab_size=300, embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=4
    )
    model = ElectraForSequenceClassification(config).eval()
    batches = [torch.randint(5, 300, (4, 16)) for _ in range(3)]
    table = build_importance_table(model, batches, mask_prob=0.3)
    assert table.shape == (300,) and torch.isfinite(table).all() and table.std() > 0
    methods.apply(model, "token-drop", importance="table", table=table, keep_count=5)
    model(input_ids=batches[0])
    assert methods.unit_record(model).tokens_in[:, 1].tolist() == [5] * 4


# Each family's own special ids as its real vocabulary places them: BERT's uncased WordPiece ([CLS], [SEP],
# [MASK], [UNK]) for BERT, ELECTRA and DistilBERT; RoBERTa's BPE (<s> 0, </s> 2, <unk> 3, <mask> the last id)
# for RoBERTa, XLM-R and CamemBERT, where 100-103 are ordinary tokens.
BERT_SPECIALS = (101, 102, 103, 100)
BPE_SPECIALS = (0, 2, 3, 199)


@pytest.mark.parametrize("family", FAMILIES)
def test_token_drop_keeps_the_models_own_special_ids(family):
    from transformers import AutoModel

    config = family_config(family, layers=4)
    config.vocab_size = 200
    own, foreign = BERT_SPECIALS, BPE_SPECIALS
    if family in encoders.OFFSET_POSITIONS:
        config.pad_token_id, config.bos_token_id, config.eos_token_id = 1, 0, 2
        own, foreign = BPE_SPECIALS, BERT_SPECIALS
    torch.manual_seed(0)
    model = AutoModel.from_config(config).eval()
    ids = torch.arange(20, 36)[None].clone()  # ordinary tokens of both vocabularies
    ids[0, 0] = own[0]
    ids[0, [3, 5, 7]] = torch.tensor(own[1:])
    ids[0, [9, 10, 11, 12]] = torch.tensor([i for i in foreign if i != 1])  # the other vocabulary's specials
    table = torch.ones(200)
    table[list(own) + list(foreign)] = 0  # least important: only being forced keeps them
    methods.apply(model, "token-drop", importance="table", table=table, keep_count=1)
    model(input_ids=ids)
    index, valid = encoders.encoder(model).state.selection
    assert sorted(index[0][valid[0]].tolist()) == [0, 3, 5, 7]
