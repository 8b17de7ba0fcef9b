"""The bad-input battery, one representative input of every kind through the CLI: one ``error:`` line and exit code
2 (a warning that says what ran where the input is only odd), nothing written, files left as they were; the
output a user reads holds what fcabench says and nothing of the libraries' own."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import assert_one_line_error, cli


@pytest.fixture
def immutable(tmp_path):
    """A folder no file can be created in, even by root (chattr +i); skipped where chattr is not allowed."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
        pytest.skip("chattr +i is not available here")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)])


@pytest.mark.parametrize(
    "args",
    [
        ["profile", "-n", "16", "-o", "LOCKED/t.csv"],
        ["bench", "-n", "16", "-o", "LOCKED/t.csv", "--no-store"],
        ["bench", "-n", "16", "--results", "LOCKED/r.jsonl"],
        ["plot", "pareto", "-o", "LOCKED/p.png"],
        ["runs", "export", "LOCKED/t.csv"],
        ["runs", "import", "PUBLISHED", "--to", "LOCKED/r.jsonl"],
        ["train", "-t", "bbc-news", "-o", "OUT", "--results", "LOCKED/r.jsonl"],
    ],
)
def test_an_unwritable_output_is_one_line_before_any_work(tmp_path, capsys, immutable, args):
    from fcabench.runs.published import TABLES

    args = [
        a.replace("LOCKED", str(immutable)).replace("PUBLISHED", str(TABLES)).replace("OUT", str(tmp_path / "o"))
        for a in args
    ]
    assert_one_line_error(*cli(capsys, *args), "Operation not permitted")
    assert not (tmp_path / "o").exists()


def test_a_truncated_weights_file_is_one_line(tmp_path, capsys):
    from tests.conftest import tiny_model

    tiny_model().save_pretrained(tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert_one_line_error(
        *cli(capsys, "profile", "--model", tmp_path / "model", "-n", "16"), "cannot load the weights of model"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["plot", "pareto", "--width", "-1"], "Invalid value for '--width'"),
        (["plot", "pareto", "--width", "0"], "Invalid value for '--width'"),
        (["runs", "list", "-s", "bogus"], "--source bogus: not a source; the sources are measured, published, claim"),
        (["profile", "-m", "ltp", "--lengths", "uniform:128:16:10"], "LOW is above HIGH"),  # alone: no warning first
        (["profile", "--lengths", "uniform:16:9999:10"], "reaches 9999 tokens, above the model's maximum of 512"),
        (["train", "-t", "bbc-news", "-o", "OUT", "--report-to", "nosuchlogger"], "not a logger the Trainer knows"),
        (["profile", "-m", "fca", "--clusters", "abc"], "cannot read --clusters 'abc': expected a whole number"),
        (["profile", "-m", "fca", "--aggregation", "3"], "expected one of weighted, mean, official, official-mean"),
    ],
)
def test_usage_mistakes_are_one_line(tmp_path, capsys, args, message):
    code, out, err = cli(capsys, *[a.replace("OUT", str(tmp_path / "o")) for a in args])
    assert_one_line_error(code, out, err, message)
    assert "<class" not in err and "typing." not in err  # said in words, not in Python's names


def test_a_file_that_is_not_utf8_or_not_comma_separated_is_named_where_a_person_finds_it(tmp_path, capsys):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"text,label\nhello there,a\ncaf\xe9 au lait,b\n")
    assert_one_line_error(
        *cli(capsys, "train", "-t", latin, "-o", tmp_path / "o"), "not UTF-8 text (line 3, byte 4 of the line (0xe9))"
    )
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("text\tlabel\nhello\ta\nbye\tb\n")
    assert_one_line_error(*cli(capsys, "train", "-t", tabs, "-o", tmp_path / "o"), "looks tab-separated")


def test_a_configuration_asking_for_more_than_the_input_allows_says_what_ran(capsys):
    code, _, err = cli(capsys, "profile", "-m", "tome", "--r", "100", "-n", "64")
    assert code == 0 and err.startswith("warning: tome (r=100) at n = 64: asked 100")
    assert "so 31, 16, 8, 4, 2, 1, 0" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json at all\n", "line 1: field '<json>': not valid JSON"),
        ("ROW\n{broken\nROW\n", "line 2: field '<json>': not valid JSON"),
        ('{"no_id": 1}\n', "line 1: field 'no_id': is not a schema field"),
        ('{"run_id": "a"}\n', "line 1: field '"),  # JSON with a run_id, but not a run
    ],
)
def test_the_store_is_never_appended_to_blindly(tmp_path, content, message):
    import json

    from fcabench import runs
    from fcabench.errors import FcabenchError
    from tests.helpers import make_run

    target = tmp_path / "runs.jsonl"
    content = content.replace("ROW", json.dumps(make_run("stored").to_record()))
    target.write_text(content)
    with pytest.raises(FcabenchError, match=message):
        runs.append(make_run("new"), target)
    assert target.read_text() == content
    with pytest.raises(FcabenchError, match="does not exist"):
        runs.append(make_run("new"), tmp_path / "missing" / "runs.jsonl")
    assert not (tmp_path / "missing").exists()


def test_ctrl_c_says_what_was_interrupted_and_what_was_kept(capsys, monkeypatch):
    import fcabench.cli.profile as profile

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(profile, "_per_layer", interrupted)
    code, out, err = cli(capsys, "profile", "-n", "16")
    assert code == 130 and len(err.strip().splitlines()) == 1
    assert err.startswith("interrupted: fcabench profile;") and "kept" in err


def test_benchmarks_print_what_fcabench_says_and_not_the_profilers_lines(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "fcabench", "bench", "-n", "16", "-b", "1", "--repeats", "1", "--warmup", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "USDT" not in done.stderr and "CPUAllocator" not in done.stderr


def test_runs_list_shows_the_split_and_a_data_files_runs_are_found_by_its_path(tmp_path, capsys):
    from fcabench import runs

    store = tmp_path / "runs.jsonl"
    runs.append(
        [
            runs.measured_run(
                method, {}, "minilm-l6", "emails", 64, macs, metric="accuracy", score=score, split="test", run_id=method
            )
            for method, macs, score in (("vanilla", 2e9, 95.0), ("fca", 1e9, 90.0))
        ],
        store,
    )
    code, out, _ = cli(capsys, "runs", "list", "-r", store)
    assert code == 0 and "split" in out.splitlines()[0] and " test " in out
    code, out, err = cli(
        capsys, "plot", "pareto", store, "--task", tmp_path / "emails.csv", "--x", "flops", "-o", tmp_path / "p.png"
    )
    assert code == 0, err
    assert json.loads(store.read_text().splitlines()[0])["task"] == "emails"
