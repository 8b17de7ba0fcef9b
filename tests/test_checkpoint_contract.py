"""A checkpoint is what its manifest proves: every file loading needs is listed with its hash, nothing unlisted
lies beside them, and the tokenizer is the model's. Each fault below is refused with one line."""

import json
import shutil

import pytest
from transformers import AutoTokenizer, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

from fcabench.errors import FcabenchError
from fcabench.training import checkpoint
from tests.helpers import assert_one_line_error, cli


def write(folder, backbone, seed=0):
    import torch

    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(backbone, num_labels=2)
    checkpoint.save_checkpoint(
        model, AutoTokenizer.from_pretrained(backbone), folder, {"run_id": f"r{seed}", "runs": []}
    )
    return folder


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tiny_backbone):
    """Two complete checkpoints of one backbone with different heads."""
    root = tmp_path_factory.mktemp("pair")
    return write(root / "a", tiny_backbone, 0), write(root / "b", tiny_backbone, 1)


def copy(pair, tmp_path):
    return shutil.copytree(pair[0], tmp_path / "ckpt")


def resign(folder, change):
    """Edit the manifest as a forger would, then keep it readable."""
    manifest = json.loads((folder / checkpoint.MANIFEST_FILE).read_text())
    change(manifest["files"])
    (folder / checkpoint.MANIFEST_FILE).write_text(json.dumps(manifest))


def listed(pair):
    return sorted(json.loads((pair[0] / checkpoint.MANIFEST_FILE).read_text())["files"])


def test_a_complete_checkpoint_loads(pair):
    model, tokenizer, manifest = checkpoint.load_checkpoint(pair[0])
    assert set(manifest["files"]) >= {"config.json", "model.safetensors", "tokenizer_config.json"}


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer_config.json"])
def test_a_needed_file_left_out_of_the_manifest_is_refused(pair, tmp_path, name):
    folder = copy(pair, tmp_path)
    resign(folder, lambda files: files.pop(name))
    with pytest.raises(FcabenchError, match=f"the manifest does not list {name}|{name} is not in the manifest"):
        checkpoint.load_checkpoint(folder)


def test_a_manifest_that_lists_nothing_is_refused(pair, tmp_path):
    folder = copy(pair, tmp_path)
    resign(folder, lambda files: files.clear())
    with pytest.raises(FcabenchError, match="the manifest does not list config.json"):
        checkpoint.load_checkpoint(folder)


def test_every_listed_file_replaced_by_another_checkpoints_is_refused(pair, tmp_path):
    names = listed(pair)
    assert "model.safetensors" in names
    for name in names:
        folder = tmp_path / name
        shutil.copytree(pair[0], folder)
        other = (pair[1] / name).read_bytes()
        if other == (folder / name).read_bytes():
            (folder / name).write_bytes(other + b" ")  # the same file in both: any change is a replacement
        else:
            (folder / name).write_bytes(other)
        with pytest.raises(FcabenchError, match=f"{name} does not match its manifest"):
            checkpoint.load_checkpoint(folder)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "added_tokens.json", "method_state.safetensors"])
def test_an_unlisted_file_that_loading_would_read_is_refused(pair, tmp_path, capsys, name):
    folder = copy(pair, tmp_path)
    (folder / name).write_bytes(b"{}")
    with pytest.raises(FcabenchError, match=f"{name} is not in the manifest"):
        checkpoint.load_checkpoint(folder)
    assert_one_line_error(*cli(capsys, "evaluate", folder, "--no-latency"), f"{name} is not in the manifest")


def test_tokens_added_beyond_the_vocabulary_are_refused_when_written(tmp_path, tiny_backbone):
    model = BertForSequenceClassification.from_pretrained(tiny_backbone)
    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    tokenizer.add_tokens(["brandnewtoken"])
    with pytest.raises(FcabenchError, match="the tokenizer has 30,523 tokens, the model's vocabulary 30,522"):
        checkpoint.save_checkpoint(model, tokenizer, tmp_path / "ckpt", {"run_id": "x", "runs": []})
    assert not (tmp_path / "ckpt").exists()


def test_another_familys_tokenizer_is_refused_when_written(tmp_path, tiny_backbone):
    config = RobertaConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
    )
    roberta = RobertaForSequenceClassification(config)  # pads with 1; BERT's tokenizer pads with 0
    with pytest.raises(FcabenchError, match="the tokenizer pads with id 0, the model with 1"):
        checkpoint.save_checkpoint(roberta, AutoTokenizer.from_pretrained(tiny_backbone), tmp_path / "c", {"runs": []})


def test_swapped_special_tokens_are_refused_when_read(pair, tmp_path):
    folder = copy(pair, tmp_path)
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = folder / name
        if not path.is_file():
            continue  # newer transformers keep the special tokens in tokenizer_config.json alone
        data = json.loads(path.read_text())
        data["cls_token"], data["sep_token"] = data["sep_token"], data["cls_token"]
        path.write_text(json.dumps(data))
    resign(folder, lambda files: files.update({n: checkpoint.file_sha256(folder / n) for n in files}))
    with pytest.raises(FcabenchError, match="names \\[SEP\\] as its cls token"):
        checkpoint.load_checkpoint(folder)


def test_a_classifier_of_another_label_count_trains_with_a_new_head_and_says_so(tmp_path, tiny_backbone, capsys):
    folder = tmp_path / "two-labels"
    BertForSequenceClassification.from_pretrained(tiny_backbone, num_labels=2).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_backbone).save_pretrained(folder)
    data = tmp_path / "three.csv"
    data.write_text("text,label\n" + "".join(f"text number {i},{'abc'[i % 3]}\n" for i in range(60)))
    args = ["train", "--model", folder, "-t", data, "-n", "16", "--max-steps", "1", "-b", "8", "--no-progress"]
    code, out, err = cli(capsys, *args, "-o", tmp_path / "out", "--results", tmp_path / "runs.jsonl")
    assert code == 0, err
    assert "its 2-label head is replaced by a new 3-label head" in err


def test_a_model_and_a_checkpoint_to_start_from_are_refused_together(pair, tmp_path, capsys):
    code, out, err = cli(capsys, "train", "--model", "bert-base", "--from", pair[0], "-o", tmp_path / "o")
    assert_one_line_error(code, out, err, "--model bert-base and --from")


def test_labels_that_are_json_objects_and_csvs_that_are_not_utf8_are_one_line(tmp_path, capsys):
    rows = tmp_path / "objects.jsonl"
    rows.write_text("".join(json.dumps({"text": f"hello {i}", "label": {"a": i % 2}}) + "\n" for i in range(20)))
    args = ["train", "-t", rows, "-n", "16", "--max-steps", "1", "-o", tmp_path / "o", "--no-progress"]
    assert_one_line_error(*cli(capsys, *args), "field label: a label is a name or a number, got {'a': 0}")
    latin = tmp_path / "runs.csv"
    latin.write_bytes("run_id,method\nr\xe9sum\xe9,fca\n".encode("latin-1"))
    assert_one_line_error(*cli(capsys, "runs", "import", latin, "--to", tmp_path / "s.jsonl"), "not UTF-8 text")
