"""Encoders beyond BERT through one adapter: loading, presets, profiling, training and evaluation for RoBERTa,
ELECTRA and DistilBERT (the method contract over every family is in test_method_contract.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from transformers import BertForSequenceClassification

import fcabench
from fcabench import encoders, methods, runs
from fcabench.errors import FcabenchError
from fcabench.flops.closed_form import BERT_BASE, vanilla_encoder_macs
from fcabench.models import load_model, preset_config
from tests.conftest import family_config, tiny_config
from tests.helpers import assert_one_line_error, cli


@pytest.mark.parametrize(
    "preset, model_type, layers",
    [("roberta-base", "roberta", 12), ("electra-base", "electra", 12), ("distilbert-base", "distilbert", 6)],
)
def test_presets_have_bert_bases_layer_shape_and_count_exactly(preset, model_type, layers):
    config = preset_config(preset)
    assert config.model_type == model_type and encoders.max_length(config) == 512
    table = fcabench.profile(preset, seq_len=64)
    encoder = int(table.loc[table["layer"].notna(), "macs"].sum())
    assert encoder == vanilla_encoder_macs(BERT_BASE, 64) * layers // 12  # the same layer as BERT-base's


@pytest.mark.parametrize("family", ["roberta", "electra", "distilbert"])
def test_a_local_folder_of_each_family_loads_with_its_own_classes(tmp_path, family):
    from transformers import AutoModelForSequenceClassification

    AutoModelForSequenceClassification.from_config(family_config(family, layers=2)).save_pretrained(tmp_path)
    model = load_model(str(tmp_path))  # head "auto": the checkpoint's own architecture
    assert type(model).__name__.lower().startswith(family.replace("-", "")) and model.config.model_type == family
    assert len(encoders.layers(model)) == 2
    methods.apply(model, "power-bert", ratios=(1.0, 0.5))
    table = fcabench.profile(model, seq_len=16)
    assert table["tokens_in"].dropna().tolist() == [16, 16]  # the second layer's FFN runs on half


def test_unsupported_family_is_one_clear_line(capsys, tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path)
    assert_one_line_error(
        *cli(capsys, "profile", "--model", tmp_path), "a 'gpt2' model is not supported (supported encoders: BERT"
    )


def test_roberta_positions_start_after_the_padding_id(capsys):
    assert_one_line_error(
        *cli(capsys, "profile", "--model", "roberta-base", "-n", "513"),
        "sequence length 513 exceeds the model's longest input (512 positions)",
    )


def test_cli_profiles_roberta_with_fca_and_power_bert_exactly(capsys):
    code, out, err = cli(capsys, "profile", "--model", "roberta-base", "-m", "fca,power-bert", "-n", "64")
    assert code == 0, err
    lines = [line for line in out.splitlines() if "encoder MACs" in line]
    assert len(lines) == 2 and all("equal" in line for line in lines)


@pytest.fixture(scope="module")
def family_backbones(tmp_path_factory, minilm_path) -> dict[str, str]:
    """Tiny random RoBERTa, ELECTRA and DistilBERT folders that read MiniLM's uncased vocabulary."""
    from transformers import AutoModel

    folders = {}
    for family in ("roberta", "electra", "distilbert"):
        folder = tmp_path_factory.mktemp(family)
        for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(Path(minilm_path) / name, folder / name)
        config = family_config(family)
        config.vocab_size = 30522
        AutoModel.from_config(config).save_pretrained(folder)
        folders[family] = str(folder)
    return folders


@pytest.mark.parametrize("family", ["roberta", "electra", "distilbert"])
def test_each_family_trains_through_a_methods_stages_and_evaluates(tmp_path, family, family_backbones):
    """Vanilla fine-tuning, then PoWER-BERT's search and retrain from that checkpoint, then evaluation of
    the retrained checkpoint: the same runs as for BERT, with the family's classification head."""
    store = tmp_path / "runs.jsonl"
    settings = dict(
        seq_len=24, max_steps=2, batch_size=4, max_train_examples=8, max_eval_examples=8, results=store, progress=False
    )
    vanilla = fcabench.train(family_backbones[family], "tweet-sentiment", output_dir=tmp_path / "vanilla", **settings)
    retrained = fcabench.train(
        task=None,
        method="power-bert",
        from_checkpoint=str(tmp_path / "vanilla" / "fine-tune"),
        output_dir=tmp_path / "power-bert",
        **settings,
    )
    assert [r.stage for r in retrained][::2] == ["search", "retrain"]
    scored = fcabench.evaluate(
        str(tmp_path / "power-bert" / "retrain"), max_examples=8, measure_latency=False, results=store
    )
    stored = runs.load(store)
    assert set(stored["stage"]) == {"fine-tune", "search", "retrain"} and scored[0].method == "power-bert"
    assert stored["macs"].notna().all() and vanilla[0].macs > scored[0].macs  # the retrained model removes units
    model, _, _ = fcabench.load_checkpoint(str(tmp_path / "power-bert" / "retrain"))
    assert model.config.model_type == family and methods.applied(model).method.name == "power-bert"


def test_a_model_without_an_encoder_is_refused():
    with pytest.raises(FcabenchError, match="is not a Hugging Face encoder model"):
        encoders.base_model(object())


@pytest.mark.parametrize("family", ["bert", "roberta", "electra", "distilbert"])
def test_a_base_model_without_a_head_counts_exactly_outside_the_encoder(family):
    """Base models (profile's default head for presets): the pooler where there is one, ELECTRA's embedding
    projection on every token, and nothing else outside the encoder."""
    from tests.conftest import tiny_model

    model = tiny_model(layers=2, head="base", family=family)
    traced = fcabench.profile(model, seq_len=12)
    closed = fcabench.closed_form_table(model, 12)
    assert traced["macs"].sum() == closed["macs"].sum()
    expected = {"bert": {"pooler"}, "roberta": {"pooler"}, "electra": {"embeddings_project"}, "distilbert": set()}
    expected = expected[family]
    assert set(closed.loc[closed["layer"].isna() & (closed["macs"] > 0), "module"]) == expected


def test_a_decoder_configuration_is_refused_where_the_family_is_checked(capsys, tmp_path):
    model = BertForSequenceClassification(tiny_config(is_decoder=True))
    with pytest.raises(FcabenchError, match="is_decoder=True is a causal decoder; fcabench patches encoders"):
        methods.apply(model, "vanilla")
    model.save_pretrained(tmp_path)
    capsys.readouterr()  # the library's own progress bar
    assert_one_line_error(*cli(capsys, "profile", "--model", tmp_path), "is_decoder=True is a causal decoder")
