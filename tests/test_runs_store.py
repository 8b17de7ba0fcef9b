"""The store: append and load, concurrent writers, malformed rows, provenance."""

import json
import multiprocessing
import warnings
from pathlib import Path

import pytest

import fcabench.runs as runs
from fcabench.errors import FcabenchError
from tests.helpers import make_run


def test_append_then_load_gives_typed_normalised_rows(tmp_path):
    store = tmp_path / "runs.jsonl"
    assert runs.append([make_run("a"), make_run("b", score=91.5)], store) == 2
    df = runs.load(store)
    assert list(df["run_id"]) == ["a", "b"]
    assert df["flops"].tolist() == [1e10, 1e10]  # FLOPs = 2 x MACs
    assert df["flops_rel_bert_base"].iloc[0] == pytest.approx(5e9 / 5_511_315_456)  # BERT-base at n = 64
    assert str(df["seq_len"].dtype) == "Int64"
    assert json.loads(df["method_config"].iloc[0]) == {"k": 5, "keep": [34, 33]}
    assert df["store_line"].tolist() == [1, 2]


def test_store_files_are_plain_json_lines_pandas_reads(tmp_path):
    import pandas as pd

    store = tmp_path / "runs.jsonl"
    runs.append(make_run("a"), store)
    assert pd.read_json(store, lines=True)["method"].tolist() == ["fca"]


def _writer(path: str, worker: int, count: int) -> None:
    for i in range(count):  # one append per run: as many chances to interleave as possible
        runs.append(make_run(f"w{worker}-{i}", score=float(i)), path)


def test_concurrent_appends_lose_nothing(tmp_path):
    store = tmp_path / "runs.jsonl"
    workers, each = 4, 25
    # fork: real processes without re-importing torch in each (spawn works too, only slower)
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    processes = [context.Process(target=_writer, args=(str(store), w, each)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    df = runs.load(store)
    assert len(df) == workers * each
    assert set(df["run_id"]) == {f"w{w}-{i}" for w in range(workers) for i in range(each)}


def write_malformed(path: Path) -> bytes:
    good = [json.dumps(make_run(f"ok{i}").to_record()) for i in range(3)]
    bad_type = json.dumps(dict(make_run("bad").to_record(), seq_len="sixty-four"))
    lines = [good[0], "{not json", good[1], bad_type, good[2]]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    return data


def test_malformed_rows_are_reported_with_file_line_and_field_and_nothing_is_rewritten(tmp_path):
    store = tmp_path / "runs.jsonl"
    before = write_malformed(store)
    with pytest.raises(FcabenchError) as error:
        runs.load(store)
    message = str(error.value)
    assert f"{store}:2:" in message and "not valid JSON" in message
    assert f"{store}:4:" in message and "field 'seq_len'" in message
    assert store.read_bytes() == before


def test_the_other_rows_load_intact_when_asked_to_skip(tmp_path):
    store = tmp_path / "runs.jsonl"
    before = write_malformed(store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = runs.load(store, errors="warn")
    assert df["run_id"].tolist() == ["ok0", "ok1", "ok2"]
    assert df["store_line"].tolist() == [1, 3, 5]
    assert len(caught) == 2 and "runs.jsonl:4" in str(caught[1].message)
    assert store.read_bytes() == before


def test_a_bad_run_in_a_batch_writes_nothing(tmp_path):
    store = tmp_path / "runs.jsonl"
    runs.append(make_run("first"), store)
    before = store.read_bytes()
    bad = dict(make_run("x").to_record(), flops=1.0)
    with pytest.raises(FcabenchError, match="field 'flops'"):
        runs.append([make_run("fine"), bad], store)
    assert store.read_bytes() == before


def test_a_torn_last_line_is_cut_off_and_kept_aside_never_made_a_corrupt_middle_line(tmp_path):
    store = tmp_path / "runs.jsonl"
    runs.append(make_run("a"), store)
    with open(store, "a") as handle:
        handle.write('{"run_id": "torn"')  # a writer killed mid-line
    with pytest.warns(UserWarning, match="torn last line"):
        runs.append(make_run("b"), store)
    assert runs.load(store)["run_id"].tolist() == ["a", "b"]  # no errors="ignore": the store is whole again
    assert (tmp_path / "runs.jsonl.torn").read_text() == '{"run_id": "torn"\n'
    runs.append(make_run("c"), store)
    assert runs.load(store)["run_id"].tolist() == ["a", "b", "c"]


def test_provenance_is_filled_in_automatically():
    run = runs.measured_run("vanilla", None, "bert-base-uncased", "SST-2", seq_len=128, macs=11_173_625_856)
    record = run.to_record()
    assert record["torch_version"] and record["fcabench_version"] and record["hardware"]
    assert record["date_utc"].endswith("Z")
    assert record["flops_rel_bert_base"] == pytest.approx(1.0)


def test_a_copy_of_the_package_names_the_commit_it_was_copied_from(tmp_path):
    import subprocess

    from fcabench.runs.provenance import SNAPSHOT_COMMIT, git_commit

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # a checkout around the copy, at no commit
    copy = tmp_path / "study-code"
    copy.mkdir()
    assert git_commit(copy) is None
    (copy / SNAPSHOT_COMMIT).write_text("c661d1152b0b29449ea62cd090f39b46fbe18ec9+dirty")
    assert git_commit(copy) == "c661d1152b0b29449ea62cd090f39b46fbe18ec9+dirty"


def test_default_load_reads_the_bundled_tables_and_the_checkout_results(tmp_path, monkeypatch):
    from fcabench.runs import store

    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setattr(store, "REPO_RESULTS", results)
    monkeypatch.chdir(tmp_path / "results")  # no results/ here: the checkout's is read
    bundled = runs.load()
    assert set(bundled["source"]) == {"published", "claim", "derived"}
    assert bundled["store_file"].str.endswith(".csv").all()
    runs.append(make_run("mine"), results / "runs.jsonl")
    both = runs.load()
    assert len(both) == len(bundled) + 1
    assert both["run_id"].iloc[-1] == "mine" and both["store_file"].iloc[-1] == str(results / "runs.jsonl")


def test_a_stored_copy_of_a_bundled_row_is_not_shown_twice(tmp_path, monkeypatch):
    from fcabench.runs import store
    from fcabench.runs.published import TABLES

    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setattr(store, "REPO_RESULTS", results)
    monkeypatch.chdir(tmp_path / "results")
    report = runs.import_runs(TABLES / "claims_fca.csv", results / "published.jsonl")
    assert report.added == 1
    df = runs.load()
    assert (df["source_file"] == "claims_fca.csv").sum() == 1
    assert df.loc[df["source_file"] == "claims_fca.csv", "store_file"].item().endswith("claims_fca.csv")
    assert len(runs.load(results)) == 1  # asked for the file itself, the copy is there


def old_row(**changes) -> dict:
    """A published row as older fcabench versions stored it."""
    return dict(
        run_id="focus-core-t5-bbc-news-token-combining-l7",
        method="focus-core",
        model="bert-base-uncased",
        task="BBC News",
        source="published",
        citation="Focus on the Core",
        source_note="Table 5",
        method_config={"combining_layer": 7, "p": 0.9, "combination_tokens": 8},
        **changes,
    )


def test_old_files_load_with_today_names(tmp_path):
    store = tmp_path / "old.jsonl"
    rows = [old_row(), dict(old_row(), run_id="ref", method="bert-base", method_config={})]
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    df = runs.load(store)
    assert df["method"].tolist() == ["focus-core", "vanilla"]
    assert json.loads(df["method_config"].iloc[0]) == {"combine_layer": 7, "keep_ratio": 0.9, "num_combine_tokens": 8}
    assert store.read_text() == "".join(json.dumps(r) + "\n" for r in rows)  # read, never rewritten


def test_new_rows_with_old_names_are_refused(tmp_path):
    with pytest.raises(FcabenchError, match="'bert-base' is the old name of 'vanilla'"):
        runs.append(dict(old_row(), method="bert-base", method_config={}), tmp_path / "runs.jsonl")
    with pytest.raises(FcabenchError, match="'combining_layer' is the old name of 'combine_layer'"):
        runs.append(old_row(), tmp_path / "runs.jsonl")
    assert not (tmp_path / "runs.jsonl").exists()


def test_runs_are_stored_in_the_current_folder_or_the_configured_one(tmp_path, monkeypatch):
    from fcabench.runs import store

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(store.RESULTS_ENV, raising=False)
    assert store.default_append_path() == tmp_path / "results" / "runs.jsonl" and (tmp_path / "results").is_dir()
    runs.append(make_run("here"))
    assert runs.load()["run_id"].iloc[-1] == "here"  # read back from ./results by default
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    monkeypatch.setenv(store.RESULTS_ENV, str(elsewhere))
    runs.append(make_run("there"))
    assert (elsewhere / "runs.jsonl").is_file() and runs.load()["run_id"].iloc[-1] == "there"
