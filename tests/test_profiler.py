"""The profiler's counts equal hand-computed closed forms, for both attention implementations."""

import pytest
import torch

import fcabench
from fcabench.errors import FcabenchError
from fcabench.flops.trace import UncountedOpError, count_by_module
from fcabench.models import load_model, synthetic_batch
from tests.conftest import tiny_model


def bert_base_encoder_macs(n: int, d: int = 768, layers: int = 12) -> int:
    """docs/counting.md: 12 n d^2 + 2 n^2 d per layer."""
    return layers * (12 * n * d * d + 2 * n * n * d)


# docs/counting.md's table of BERT-base encoder MACs: the closed form above must reproduce it.
PRINTED = {64: 5_511_315_456, 128: 11_173_625_856, 256: 22_951_231_488, 384: 35_332_816_896, 512: 48_318_382_080}


def test_closed_form_reproduces_the_printed_table():
    assert {n: bert_base_encoder_macs(n) for n in PRINTED} == PRINTED


@pytest.mark.parametrize("attn_impl", ["sdpa", "eager"])
def test_bert_base_encoder_is_exact_at_every_length(attn_impl):
    table = fcabench.profile("bert-base", seq_len=list(PRINTED), attn_implementation=attn_impl)
    for n, part in table.groupby("seq_len"):
        assert fcabench.encoder_macs(part) == PRINTED[n]
        layers = part[part["layer"].notna()]
        assert (layers["macs_attn_proj"] == 4 * n * 768**2).all()
        assert (layers["macs_attn_matmul"] == 2 * n * n * 768).all()
        assert (layers["macs_ffn"] == 8 * n * 768**2).all()
        assert (layers["macs_method"] == 0).all()
        assert (part["flops"] == 2 * part["macs"]).all()
        assert part.loc[part["module"] == "pooler", "macs"].item() == 768**2


def test_rows_sum_to_the_traced_total():
    model = load_model("bert-base", device="meta")
    inputs = synthetic_batch(model, 64, 1)
    total = count_by_module(model, inputs)[""]
    macs = sum(v for k, v in total.items() if k.startswith("macs:"))
    ops = sum(v for k, v in total.items() if k.startswith("ops:"))
    table = fcabench.profile(model, seq_len=64, batch_size=1)
    assert table["macs"].sum() == macs
    assert (table["nonmatmul_ops"].sum() + table["nonmatmul_ops_method"].sum()) == ops
    assert table["nonmatmul_ops"].sum() > 0  # softmax, LayerNorm, GELU are counted, apart from MACs


def test_batch_size_does_not_change_per_sequence_counts():
    one = fcabench.profile("bert-base", seq_len=128, batch_size=1)
    eight = fcabench.profile("bert-base", seq_len=128, batch_size=8)
    assert one["macs"].tolist() == eight["macs"].tolist()


def test_tiny_config_matches_its_closed_form(attn):
    model = tiny_model(layers=2, attn=attn)
    d, f, c, n = 32, 37, 3, 10
    table = fcabench.profile(model, seq_len=n)
    per_layer = 4 * n * d * d + 2 * n * n * d + 2 * n * d * f  # FFN width 37, not 4d
    assert fcabench.encoder_macs(table) == 2 * per_layer
    assert table.loc[table["module"] == "classifier", "macs"].item() == c * d
    assert table["macs"].sum() == 2 * per_layer + d * d + c * d


def test_bert_large_preset():
    table = fcabench.profile("bert-large", seq_len=128)
    assert fcabench.encoder_macs(table) == bert_base_encoder_macs(128, d=1024, layers=24)


def test_real_minilm_checkpoint_from_a_local_folder(minilm_path):
    table = fcabench.profile(str(minilm_path), seq_len=[64, 128])
    for n, part in table.groupby("seq_len"):
        assert fcabench.encoder_macs(part) == bert_base_encoder_macs(n, d=384, layers=6)


def test_an_uncountable_op_raises_with_its_name():
    class Odd(torch.nn.Module):
        def forward(self, x):
            return torch.special.bessel_j0(x)

    with pytest.raises(UncountedOpError, match="bessel_j0"):
        count_by_module(Odd(), {"x": torch.ones(3)})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(model_or_name="bert-huge"), "bert-huge"),
        (dict(seq_len=513), "longest input"),
        (dict(seq_len=0), "positive"),
        (dict(batch_size=0), "batch size"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, message):
    with pytest.raises(FcabenchError, match=message):
        fcabench.profile(**{"model_or_name": "bert-base", **kwargs})


def test_missing_folder_and_non_bert_model(tmp_path):
    with pytest.raises(FcabenchError, match="no model at"):
        fcabench.profile(str(tmp_path / "nowhere"))
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(FcabenchError, match=r"a 'gpt2' model is not supported \(supported encoders: BERT, RoBERTa"):
        fcabench.profile(str(tmp_path))


def test_compare_gives_python_users_what_the_cli_prints():
    """Ratios to vanilla at the same length, the configuration that ran, and the notes the CLI warns with."""
    result = fcabench.compare("bert-base", ["vanilla", "power-bert", "tome"], [64], options={"tome": {"r": 40}})
    totals = result.table.groupby("method")["macs"].sum()
    assert result.vanilla[64] == totals["vanilla"]
    rel = result.table.drop_duplicates("method").set_index("method")["macs_rel_vanilla"]
    assert rel["vanilla"] == 1 and rel["power-bert"] == totals["power-bert"] / totals["vanilla"] < 1
    assert result.table.loc[result.table["method"] == "tome", "config_label"].iloc[0] == "r=40"
    assert result.closed[("power-bert", 64)] == fcabench.encoder_macs(
        result.table[result.table["method"] == "power-bert"]
    )
    assert any(note.startswith("tome (r=40) at n = 64: ") for note in result.notes)  # r above n / 2 per layer
