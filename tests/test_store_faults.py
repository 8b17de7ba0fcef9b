"""Faults that must never lose, tear or mislabel stored data: a disk that fills mid-write, a store written by a
newer fcabench, two sweeps of one folder, a crafted spec name, predictions swapped between runs, a store holding
every row twice, a write killed before it finished, and the inputs that used to end in a traceback."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import fcabench.runs as runs
from fcabench.errors import FcabenchError
from tests.helpers import assert_one_line_error, cli, make_run

ROOT = Path(__file__).resolve().parents[1]


def with_file_size_limit(limit: int, *args: str) -> subprocess.CompletedProcess:
    """``fcabench ARGS`` in a process that cannot grow any file past ``limit`` bytes: a disk that fills midway
    (writes past it fail with EFBIG, as they would with ENOSPC on a full disk)."""
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        from fcabench.launch import main
        sys.argv = ["fcabench", *{list(args)!r}]
        main()
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


def assert_one_line(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


# --- a store is appended to whole, or not at all -------------------------------------------------------


def test_an_import_that_fills_the_disk_midway_appends_nothing(tmp_path):
    store, new = tmp_path / "store.jsonl", tmp_path / "new.jsonl"
    runs.append(make_run("kept"), store)
    runs.append([make_run(f"new-{i}") for i in range(14)], new)
    before = store.read_bytes()
    row = len(new.read_bytes()) // 14
    result = with_file_size_limit(len(before) + row * 2 + row // 2, "runs", "import", str(new), "--to", str(store))
    assert_one_line(result, "nothing was appended")
    assert store.read_bytes() == before  # not 2 of 14 rows and a torn line


def test_a_store_of_a_newer_schema_is_refused_for_appending_as_it_is_for_reading(tmp_path):
    store = tmp_path / "store.jsonl"
    runs.append(make_run("old"), store)
    newer = dict(json.loads(store.read_text()), run_id="newer", schema_version=99)
    with open(store, "a") as handle:
        handle.write(json.dumps(newer) + "\n")
    before = store.read_bytes()
    with pytest.raises(FcabenchError, match="newer than this fcabench"):
        runs.load(store)
    with pytest.raises(FcabenchError, match="line 2: .*newer than this fcabench.*nothing was appended"):
        runs.append(make_run("late"), store)
    assert store.read_bytes() == before


def test_a_run_stored_twice_is_one_run_not_two_seeds(tmp_path):
    store = tmp_path / "store.jsonl"
    seeds = [dict(make_run(f"s{seed}", score=80.0 + seed).to_record(), seed=seed) for seed in (0, 1)]
    runs.append(seeds, store)
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_bytes(store.read_bytes() * 2)  # every row twice: a store concatenated with itself
    assert len(runs.load(doubled)) == 2
    once, twice = (runs.aggregate(runs.load(path)) for path in (store, doubled))
    assert twice["seeds"].tolist() == once["seeds"].tolist() == ["0,1"]
    assert twice["n"].tolist() == [2]


# --- sweeps: one owner per folder, paths that stay inside it --------------------------------------------

SPEC = """
[sweep]
name = "{name}"
models = ["minilm-l6"]
tasks = ["bbc-news"]
{out}
[[methods]]
method = "vanilla"
"""


def test_a_second_sweep_of_one_folder_is_refused_naming_the_first(tmp_path, capsys):
    out = tmp_path / "out"
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(name="owned", out=f'out = "{out}"\nresults = "{tmp_path / "store.jsonl"}"'))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from fcabench.sweep import owned\nwith owned({str(out)!r}):\n print('held', flush=True)\n input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        for action in ("run", "merge"):
            assert_one_line_error(
                *cli(capsys, "sweep", action, spec), f"another sweep is running there (pid {holder.pid}"
            )
        assert not (out / "jobs").exists()  # nothing was run, nothing marked failed
    finally:
        holder.communicate("\n", timeout=60)
    code, out_text, err = cli(capsys, "sweep", "merge", spec)  # free again
    assert code == 0, err


def test_a_crafted_spec_name_keeps_the_sweep_inside_out_sweeps(tmp_path):
    from fcabench import sweep

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(name="../../../../escape", out=""))
    folder = sweep.load_spec(spec).out_dir
    assert folder.parent == Path("out") / "sweeps" and folder.name == "escape"


@pytest.mark.parametrize("action", ["run", "list", "merge"])
def test_an_out_folder_that_is_a_file_is_one_line(tmp_path, capsys, action):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(name="options", out=f'out = "{tmp_path / "out"}"'))
    (tmp_path / "FILE").write_text("a file")
    refused = cli(capsys, "sweep", action, spec, "--out", str(tmp_path / "FILE"))
    assert_one_line_error(*refused, "is a file; name a folder")


# --- predictions belong to their run ------------------------------------------------------------------


def stored_with_predictions(tmp_path, correct: dict[str, int], n: int = 8) -> Path:
    """A store of runs whose kept predictions get ``correct[run_id]`` of ``n`` examples right."""
    import numpy as np

    from fcabench.runs import predictions

    store = tmp_path / "store.jsonl"
    for run_id, right in correct.items():
        record = dict(make_run(run_id).to_record(), seed=0, data_sha256="d" * 64, data_examples=n)
        record["score"] = 100.0 * right / n
        runs.append(record, store)
        logits = np.zeros((n, 2))
        logits[np.arange(n), [1 if i < right else 0 for i in range(n)]] = 1.0
        table = predictions.frame(range(n), [1] * n, logits)
        predictions.write(table, predictions.path_for(run_id, store), run_id=run_id, data_sha256="d" * 64)
    return store


def test_predictions_of_another_run_are_refused(tmp_path, capsys):
    store = stored_with_predictions(tmp_path, {"A": 7, "B": 6})
    folder = store.parent / "predictions"
    code, out, err = cli(capsys, "runs", "compare", "A", "B", "-r", store)
    assert code == 0 and "+12.50" in out, err
    (folder / "A.parquet").write_bytes((folder / "B.parquet").read_bytes())  # A's file replaced by B's
    assert_one_line_error(*cli(capsys, "runs", "compare", "A", "B", "-r", store), "are of run B, not of run A")
    (folder / "A.parquet").write_bytes((folder / "B.parquet").read_bytes()[:100])  # cut short
    assert_one_line_error(*cli(capsys, "runs", "compare", "A", "B", "-r", store), "not a readable predictions file")


# --- a killed or failed write leaves nothing behind ------------------------------------------------------


def test_a_checkpoint_write_that_fills_the_disk_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    from fcabench.training import checkpoint
    from tests.conftest import tiny_model

    model = tiny_model()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(model), "save_pretrained", full_disk)
    with pytest.raises(FcabenchError, match="No space left on device; nothing was written"):
        checkpoint.save_checkpoint(model, None, tmp_path / "ckpt", {"run_id": "x", "runs": []})
    assert list(tmp_path.iterdir()) == []


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path, tiny_backbone):
    from transformers import AutoTokenizer, BertForSequenceClassification

    from fcabench.training import checkpoint

    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()  # a process that is gone
    left = tmp_path / f".ckpt.partial-{killed.pid}-0123abcd"
    left.mkdir()
    (left / "model.safetensors").write_bytes(b"half")
    alive = tmp_path / f".ckpt.partial-{os.getpid()}-4567cdef"  # a writer still at work: kept
    alive.mkdir()
    model = BertForSequenceClassification.from_pretrained(tiny_backbone)
    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    checkpoint.save_checkpoint(model, tokenizer, tmp_path / "ckpt", {"run_id": "x", "runs": []})
    assert not left.exists() and alive.exists() and (tmp_path / "ckpt" / "fcabench.json").is_file()


def test_profile_output_on_a_full_disk_is_one_line_and_the_old_file_stays(tmp_path):
    target = tmp_path / "profile.csv"
    target.write_text("the previous profile\n")
    result = with_file_size_limit(600, "profile", "-m", "vanilla", "-n", "16", "-o", str(target))
    assert_one_line(result, f"cannot write {target}")
    assert target.read_text() == "the previous profile\n"
    assert not [p for p in tmp_path.iterdir() if p != target]  # no .partial file left


def test_ctrl_c_while_fcabench_starts_is_one_line(tmp_path):
    started = subprocess.Popen(
        [sys.executable, "-m", "fcabench", "profile", "-m", "vanilla", "-n", "16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    time.sleep(0.5)  # loading torch and transformers takes seconds
    started.send_signal(signal.SIGINT)
    out, err = started.communicate(timeout=120)
    assert started.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("interrupted: fcabench"), err


# --- plot inputs that used to end in a traceback -----------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["pareto", "EMPTY", "-o", "a.png"], "nothing to draw"),
        (["pareto", "--y-range", "nan:inf", "-o", "a.png"], "cannot read range 'nan:inf'"),
        (["pareto", "--width", "inf", "-o", "a.png"], "inf is not a width from 1 to 100 inches"),
        (["pareto", "--width", "nan", "-o", "a.png"], "nan is not a width from 1 to 100 inches"),
        (["layers", "HEADER", "-o", "a.png"], "no encoder layer rows"),
        (["layers", "ONE_ROW", "-o", "a.png"], "no encoder layer rows"),
        (["tokens", "HEADER", "-o", "a.png"], "no encoder layer rows"),
    ],
)
def test_plot_inputs_that_cannot_be_drawn_are_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    header = "model,method,seq_len,batch_size,module,layer,tokens_in,tokens_out,macs_attn_proj,macs_attn_matmul,"
    header += "macs_ffn,macs_method,macs_other,macs,flops,nonmatmul_ops,nonmatmul_ops_method,config,config_label\n"
    Path("EMPTY").write_text("")
    Path("EMPTY").rename("empty.jsonl")
    Path("header.csv").write_text(header)
    Path("one.csv").write_text(header + "bert-base,vanilla,16,1,embeddings,,,,0,0,0,0,0,0,0,110593,0,,default\n")
    names = {"EMPTY": "empty.jsonl", "HEADER": "header.csv", "ONE_ROW": "one.csv"}
    assert_one_line_error(*cli(capsys, "plot", *[names.get(a, a) for a in args]), message)
    assert not Path("a.png").exists()


def test_runs_compare_takes_any_unique_prefix_and_says_what_it_compares(tmp_path, capsys):
    store = stored_with_predictions(tmp_path, {"2223b4633bbbaaaa": 7, "2223b4633bbbcccc": 6, "af33801f8fed0000": 5})
    code, out, err = cli(capsys, "runs", "compare", "2223b4633bbba", "af33801f8fed", "-r", store)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("A: 2223b4633bbba = fca ") and "seed(s) 0" in lines[0]
    assert lines[1].startswith("B: af33801f8fed = fca ") and "on SST-2 (bert-base-uncased, n = 64)" in lines[1]
    assert "+25.00" in lines[2] and "1 seed(s) x 8 examples" in lines[2]
    assert_one_line_error(
        *cli(capsys, "runs", "compare", "2223b4633bbb", "af33801f8fed", "-r", store),
        "'2223b4633bbb' is the start of several runs or groups: 2223b4633bbbaaaa, 2223b4633bbbcccc",
    )
    code, out, err = cli(capsys, "runs", "show", "af33801f", "-r", store)
    assert code == 0 and "af33801f8fed0000" in out, err


def test_a_scored_runs_padded_macs_are_the_profiles_integer_unless_examples_are_shorter_than_what_layers_keep():
    """Why `macs` of one checkpoint differs between splits (issue: 718,078,848 on validation, 711,068,395.2 on
    test): a reduced layer keeps no padding, so an example shorter than its kept count costs less there."""
    from datasets import Dataset

    from fcabench import methods
    from fcabench.counting.profiler import closed_form_table
    from fcabench.models import synthetic_batch
    from fcabench.training.scoring import run_pass
    from tests.conftest import tiny_model

    model = tiny_model(layers=2)
    methods.apply(model, methods.make_config("power-bert", retention=(8, 4)))
    model(**synthetic_batch(model, 16))
    full = int(closed_form_table(model, 16, methods.unit_record(model).example(0))["macs"].sum())  # head included

    def padded_mean(lengths):
        encoded = Dataset.from_dict({"input_ids": [[2] + [5] * (n - 2) + [3] for n in lengths]})
        return run_pass(model, encoded, 16, 4, "cpu").macs_padded.mean()

    assert padded_mean([16, 12, 9]) == full  # every example at least as long as layer 0 keeps (8)
    short = padded_mean([16, 12, 6])
    assert short < full and short != int(short)  # one example keeps 6 < 8 units: a fraction, below the integer


def test_plot_pareto_of_a_users_own_runs_draws_their_tasks_only(tmp_path, capsys, monkeypatch):
    import fcabench.plots

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    runs.append([make_run("mine-a"), make_run("mine-b", score=88.0, macs=2_500_000_000)], "results/runs.jsonl")
    drawn = {}

    def recording(frame, **options):
        drawn.update(options, tasks_in_frame=set(frame["task"]))
        raise SystemExit(0)

    monkeypatch.setattr(fcabench.plots, "plot_pareto", recording)
    cli(capsys, "plot", "pareto", "--x", "flops", "-o", "p.png")
    assert "BBC News" in drawn["tasks_in_frame"]  # the bundled papers' rows are read ...
    assert drawn["tasks"] == ["SST-2"]  # ... but only the measured runs' task is drawn
