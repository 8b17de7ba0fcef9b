"""Every bad input through the real entry point: one ``error: ...`` line, exit code 2, no traceback, and
files left exactly as they were; checks that must come before any work come before it."""

import subprocess
import sys
from pathlib import Path

import pytest
from transformers import BertConfig

import fcabench.runs as runs
from fcabench.errors import FcabenchError
from fcabench.models import load_model
from fcabench.runs.published import TABLES
from tests.helpers import assert_one_line_error, cli

BUNDLED = TABLES  # the published tables bundled in the package, read as runs


@pytest.fixture
def no_work(monkeypatch):
    """Loading or counting anything fails the test: the error must come first."""
    import fcabench.counting.dynamic
    import fcabench.counting.profiler

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    for module, name in (
        (fcabench.counting.profiler, "prepare_model"),
        (fcabench.counting.profiler, "profile"),
        (fcabench.counting.dynamic, "profile_examples"),
    ):
        monkeypatch.setattr(module, name, forbidden)


@pytest.mark.parametrize(
    "args, message",
    [
        (["runs", "list", "--foo", "3"], "No such option: --foo"),
        (["profile", "--batch-size", "abc"], "Invalid value for '--batch-size'"),
        (["profile", "--method"], "Option '--method' requires an argument"),
        (["nosuch"], "No such command 'nosuch'"),
        (["plot", "pareto", "--width", "wide"], "Invalid value for '--width'"),
    ],
)
def test_parser_usage_errors_from_the_installed_script(args, message):
    done = subprocess.run([sys.executable, "-m", "fcabench", *args], capture_output=True, text=True, timeout=300)
    assert_one_line_error(done.returncode, done.stdout, done.stderr, message)


def test_version(capsys):
    from fcabench import __version__

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"fcabench {__version__}"


def test_help_shows_flags_as_flags_and_method_options(capsys):
    code, out, _ = cli(capsys, "profile", "--help")
    assert code == 0
    check_line = next(line for line in out.splitlines() if line.strip().startswith("--check"))
    assert "<bool>" not in check_line and "<bool>" not in out
    assert "--METHOD.NAME VALUE" in out and "--clusters int (default: 5)" in out  # from the registry
    assert "An existing file is replaced; the folder must exist." in " ".join(out.split())


def test_non_utf8_text_file(capsys, tmp_path, no_work):
    text = tmp_path / "latin1.txt"
    text.write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    before = text.read_bytes()
    code, out, err = cli(capsys, "profile", "--text", text, "--tokenizer", tmp_path)
    assert_one_line_error(code, out, err, "is not UTF-8 text")
    assert text.read_bytes() == before


def test_text_on_a_preset_without_tokenizer_fails_before_loading(capsys, tmp_path, no_work):
    text = tmp_path / "lines.txt"
    text.write_text("one line\n")
    code, out, err = cli(capsys, "profile", "--method", "ltp", "--text", text)
    assert_one_line_error(code, out, err, "preset 'bert-base' has no tokenizer: pass --tokenizer FOLDER")


def test_model_folder_with_a_config_but_no_weights(capsys, tmp_path):
    folder = tmp_path / "model"
    BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
    ).save_pretrained(folder)
    code, out, err = cli(capsys, "profile", "--model", folder, "--seq-len", "8")
    assert_one_line_error(code, out, err, "cannot load the weights of model")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]
    with pytest.raises(FcabenchError, match="cannot load the weights of model"):  # the library says the same
        load_model(folder)


def test_runs_import_of_a_file_that_is_not_jsonl_or_csv(capsys, tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("not runs\n")
    store = tmp_path / "store.jsonl"
    runs.import_runs(BUNDLED, store)  # a store that already holds rows
    before = store.read_bytes()
    code, out, err = cli(capsys, "runs", "import", source, "--to", store)
    assert_one_line_error(code, out, err, "runs are imported from JSON Lines (.jsonl) or CSV (.csv) files")
    assert store.read_bytes() == before and source.read_text() == "not runs\n"
    with pytest.raises(FcabenchError, match=r"runs are imported from JSON Lines"):  # the library says the same
        runs.import_runs(source, store)
    assert store.read_bytes() == before


@pytest.mark.parametrize("case", ["missing folder", "unknown extension", "folder"])
@pytest.mark.parametrize("command", ["profile", "profile --text", "plot", "export"])
def test_output_is_checked_before_any_work_with_one_policy(capsys, tmp_path, no_work, case, command):
    target = {
        "missing folder": tmp_path / "missing" / "out{}",
        "unknown extension": tmp_path / "out.xlsx",
        "folder": tmp_path,
    }[case]
    suffix = {"profile": ".csv", "profile --text": ".csv", "plot": ".png", "export": ".md"}[command]
    target = Path(str(target).format(suffix))
    args = {
        "profile": ["profile", "--method", "fca", "--output", target],
        "profile --text": ["profile", "--lengths", "uniform:4:8:3", "--method", "ltp", "-o", target],
        "plot": ["plot", "pareto", str(BUNDLED), "-o", target],
        "export": ["runs", "export", target, "--runs", str(BUNDLED)],
    }[command]
    code, out, err = cli(capsys, *args)
    message = {"missing folder": "does not exist", "unknown extension": "use one of", "folder": "it is a folder"}[case]
    assert_one_line_error(code, out, err, message)
    assert not (tmp_path / "missing").exists()  # no folder is ever created behind the user's back
    assert sorted(tmp_path.iterdir()) == []


def test_an_existing_file_survives_a_failed_command(capsys, tmp_path):
    figure = tmp_path / "pareto.png"
    figure.write_bytes(b"keep me")
    code, out, err = cli(capsys, "plot", "pareto", str(BUNDLED), "--x", "nonsense", "-o", figure)
    assert_one_line_error(code, out, err, "unknown x axis 'nonsense'")
    assert figure.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seq-len", "64,,128"], "--seq-len takes integers separated by commas, got '64,,128' (an empty item)"),
        (["--seq-len", "64,abc"], "--seq-len takes integers"),
        (["--method", "fca,,ltp"], "--method takes names separated by commas"),
        (["--method", "fca,fca"], "--method names fca twice"),
        (["--method", "vanilla", "--clusters", "3"], "--clusters: no such option for vanilla"),
        (["--method", "fca", "--ltp.thresholds", "1"], "'ltp' is not among the methods of this command"),
        (["--method", "fca,ltp", "--fca.thresholds", "1"], "--fca.thresholds: no such option for fca"),
        (["--method", "fca", "--clusters"], "--clusters needs a value"),
        (["--format", "xml"], "unknown --format 'xml'"),
    ],
)
def test_profile_option_errors_come_before_any_work(capsys, no_work, args, message):
    code, out, err = cli(capsys, "profile", *args)
    assert_one_line_error(code, out, err, message)


def test_plot_option_errors(capsys, tmp_path):
    code, out, err = cli(capsys, "plot", "pareto", str(BUNDLED), "--y-range", "95:80", "-o", tmp_path / "p.png")
    assert_one_line_error(code, out, err, "LOW must be below HIGH")
    profile = tmp_path / "p.csv"
    profile.write_text("not,a,profile\n1,2,3\n")
    code, out, err = cli(capsys, "plot", "tokens", profile, "-o", tmp_path / "t.png")
    assert_one_line_error(code, out, err, "not a fcabench profile")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]
