"""Sweeps: expansion and ids, budgets, bad specifications, the local executor (resume, failures,
dependencies), merging into the store, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fcabench import methods, runs, sweep
from fcabench.cli import app
from fcabench.errors import FcabenchError
from fcabench.sweep import state
from tests.conftest import tiny_model

SEQ_LEN = 16


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> str:
    """A saved tiny BERT classifier: the model every job of these tests starts from."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    model = tiny_model(layers=4)
    model.config.architectures = ["BertForSequenceClassification"]
    model.save_pretrained(folder)
    return str(folder)


def measure_job(job, *, output_dir, results, from_checkpoint):
    """A real job that needs no training: load the start model, apply the method, run one sequence,
    store its closed-form MACs as a measured run; a vanilla job saves the model for its dependents."""
    from fcabench.counting.profiler import closed_form_table, encoder_macs
    from fcabench.models import load_model, synthetic_batch

    model = load_model(from_checkpoint or job.model, head="sequence-classification")
    if job.method == "vanilla":
        model.save_pretrained(output_dir)
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in job.options.items()}
    config = methods.make_config(job.method, **options)
    methods.apply(model, config)
    seq_len = job.train["seq_len"]
    model(**synthetic_batch(model, seq_len))
    macs = encoder_macs(closed_form_table(model, seq_len, methods.unit_record(model).example(0)))
    run = runs.measured_run(
        job.method,
        config,
        job.model,
        job.task,
        seq_len,
        macs,
        run_id=job.job_id,
        source_note=f"start: {from_checkpoint}",
    )
    runs.append(run, results)
    return output_dir if job.method == "vanilla" else None


def write_spec(tmp_path: Path, model: str, body: str, seeds="[0]") -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(
        textwrap.dedent(f"""
        [sweep]
        name = "test"
        models = ["{model}"]
        tasks = ["bbc-news"]
        seeds = {seeds}
        out = "{tmp_path / "out"}"
        results = "{tmp_path / "store.jsonl"}"
        [train]
        seq_len = {SEQ_LEN}
        max_steps = 2
        """)
        + textwrap.dedent(body)
    )
    return path


STUDY = """
    [[methods]]
    name = "power-bert"
    method = "power-bert"
    from = "vanilla"
    stages = ["search", "retrain"]
    budget = { encoder_macs = [0.75, 0.5] }
    [[methods]]
    name = "vanilla"
    method = "vanilla"
    [[methods]]
    name = "power-bert-free"
    method = "power-bert"
    from = "vanilla"
    training_free = true
    budget = { encoder_macs = [0.75, 0.5] }
    [[methods]]
    name = "drop"
    method = "token-drop"
    from = "vanilla"
    training_free = true
    grid = { keep_ratio = [0.5, 0.25], span = [[1, 4], [2, 4]] }
    """


def test_expansion_is_deterministic_and_ordered(tmp_path, tiny_folder):
    spec = sweep.load_spec(write_spec(tmp_path, tiny_folder, STUDY, seeds="[0, 1]"))
    jobs = sweep.expand(spec)
    assert [j.job_id for j in jobs] == [j.job_id for j in sweep.expand(sweep.load_spec(spec.source))]
    assert len(jobs) == 2 * (1 + 2 + 2 + 4)  # seeds x (vanilla + 2 x 2 budgets + 2x2 grid)
    assert len({j.job_id for j in jobs}) == len(jobs)
    position = {j.job_id: i for i, j in enumerate(jobs)}
    for job in jobs:  # the entry "from" names comes first although the file lists it second
        if job.depends_on:
            parent = jobs[position[job.depends_on]]
            assert position[job.depends_on] < position[job.job_id]
            assert (parent.entry, parent.seed, parent.task) == ("vanilla", job.seed, job.task)
    drop = [j for j in jobs if j.entry == "drop" and j.seed == 0]
    assert [(j.options["keep_ratio"], j.options["span"]) for j in drop] == [
        (0.5, [1, 4]),
        (0.5, [2, 4]),
        (0.25, [1, 4]),
        (0.25, [2, 4]),
    ]


def test_ids_change_with_what_changes_the_result(tmp_path, tiny_folder):
    base = sweep.expand(sweep.load_spec(write_spec(tmp_path, tiny_folder, STUDY)))
    ids = {(j.entry, json.dumps(j.options, sort_keys=True)): j.job_id for j in base}
    # Resources do not change a result: same ids.
    more_cpus = STUDY + "\n[resources]\nnum_cpus = 2\n"
    same = sweep.expand(sweep.load_spec(write_spec(tmp_path, tiny_folder, more_cpus)))
    assert [j.job_id for j in same] == [j.job_id for j in base]
    # A longer training of the vanilla entry changes its id and, through "from", its dependents' ids.
    longer = STUDY.replace('method = "vanilla"', 'method = "vanilla"\ntrain = { max_steps = 3 }')
    changed = sweep.expand(sweep.load_spec(write_spec(tmp_path, tiny_folder, longer)))
    assert all(ids[(j.entry, json.dumps(j.options, sort_keys=True))] != j.job_id for j in changed)


def test_budget_matches_the_closed_form_of_the_real_model(tmp_path, tiny_folder):
    from fcabench.counting.profiler import closed_form_table, encoder_macs
    from fcabench.models import load_model, synthetic_batch

    jobs = sweep.expand(sweep.load_spec(write_spec(tmp_path, tiny_folder, STUDY)))
    # Retrained PoWER-BERT ends with the configuration its search derives: train scales that to the budget.
    searched = [j for j in jobs if j.entry == "power-bert"]
    assert [j.train.get("macs_ratio") for j in searched] == [0.75, 0.5] and all(
        "ratios" not in j.options for j in searched
    )
    assert all("macs_at" not in j.train for j in searched)  # met at the padded length unless asked
    at_real = STUDY.replace(
        "budget = { encoder_macs = [0.75, 0.5] }",
        'budget = { encoder_macs = [0.75, 0.5] }\ntrain = { macs_at = "real" }',
        1,
    )
    real = [
        j for j in sweep.expand(sweep.load_spec(write_spec(tmp_path, tiny_folder, at_real))) if j.entry == "power-bert"
    ]
    assert [(j.train["macs_ratio"], j.train["macs_at"]) for j in real] == [(0.75, "real"), (0.5, "real")]
    assert not {j.job_id for j in real} & {j.job_id for j in searched}
    jobs = [j for j in jobs if j.entry == "power-bert-free"]
    assert [j.budget_target for j in jobs] == [0.75, 0.5]
    vanilla = encoder_macs(closed_form_table(load_model(tiny_folder), SEQ_LEN))
    for job in jobs:
        model = methods.apply(load_model(tiny_folder), "power-bert", ratios=tuple(job.options["ratios"]))
        model(**synthetic_batch(model, SEQ_LEN))
        ratio = encoder_macs(closed_form_table(model, SEQ_LEN, methods.unit_record(model).example(0))) / vanilla
        assert ratio == pytest.approx(job.budget_closed_form, abs=1e-6)
        assert abs(ratio - job.budget_target) <= 0.05 * job.budget_target
        assert list(job.options["ratios"]) == sorted(job.options["ratios"], reverse=True)


def test_budget_refused_where_cost_depends_on_values(tmp_path, tiny_folder):
    body = """
        [[methods]]
        method = "focus-core"
        options = { variant = "PFC", combine_layer = 3 }
        budget = { encoder_macs = [0.5] }
        """
    with pytest.raises(FcabenchError, match="methods.focus-core.budget.*depends on the weights"):
        sweep.expand(sweep.load_spec(write_spec(tmp_path, tiny_folder, body)))


@pytest.mark.parametrize(
    "body, key",
    [
        ('[[methods]]\nmethod = "vanilla"\ncolour = "red"\n', "methods[0].colour"),
        ('[[methods]]\nmethod = "no-such"\n', "methods[0].method"),
        ('[[methods]]\nmethod = "fca"\noptions = { clusterz = 5 }\n', "methods[0].clusterz"),
        ('[[methods]]\nmethod = "fca"\nbudget = { encoder_macs = [1.5] }\n', "methods[0].budget.encoder_macs"),
        ('[[methods]]\nmethod = "fca"\nfrom = "nothing"\n', "methods[0].from"),
        ('[[methods]]\nmethod = "fca"\ntraining_free = true\n', "methods[0].training_free"),
        ('[[methods]]\nmethod = "fca"\n[[methods]]\nmethod = "fca"\n', "methods[1].name"),
        ('[[methods]]\nmethod = "fca"\ntrain = { max_steps = -1 }\n', "methods[0].train.max_steps"),
        ('[[methods]]\nmethod = "fca"\ntrain = { macs_at = "sideways" }\n', "methods[0].train.macs_at"),
        ('[[methods]]\nmethod = "fca"\ntrain = { macs_at = "real" }\n', "methods.fca.train.macs_at"),
        (
            '[[methods]]\nmethod = "fca"\ngrid = { clusters = [1, 5] }\n'
            '[[methods]]\nname = "b"\nmethod = "ltp"\nfrom = "fca"\n',
            "methods.fca",
        ),  # a start for other jobs must be one configuration
        ('[[methods]]\nmethod = "vanilla"\n[[methods]]\nname = "again"\nmethod = "vanilla"\n', "methods.again"),
        ('[[methods]]\nmethod = "vanilla"\nseeds = [-1]\n', "methods[0].seeds"),
        ('[[methods]]\nmethod = "vanilla"\ntrain = { learning_rate = nan }\n', "methods[0].train.learning_rate"),
        ('[[methods]]\nmethod = "vanilla"\ntrain = { epochs = inf }\n', "methods[0].train.epochs"),
        ('[[methods]]\nmethod = "vanilla"\ntrain = { seq_len = 100000 }\n', "methods.vanilla.train.seq_len"),
        ('[[methods]]\nmethod = "fca"\nstages = ["bogus"]\n', "methods[0].stages"),
        ('[[methods]]\nmethod = "fca"\nstages = ["retrain", "search"]\n', "methods[0].stages"),
        ('[[methods]]\nmethod = "fca"\nfrom_checkpoint = "no/such/folder"\n', "methods[0].from_checkpoint"),
    ],
)
def test_bad_spec_error_names_the_key(tmp_path, tiny_folder, body, key):
    with pytest.raises(FcabenchError) as error:
        sweep.expand(sweep.load_spec(write_spec(tmp_path, tiny_folder, body)))
    assert f"key '{key}'" in str(error.value)


def test_cli_bad_spec_is_one_error_line_and_exit_code_2(tmp_path, tiny_folder):
    spec = write_spec(tmp_path, tiny_folder, '[[methods]]\nmethod = "fca"\nbudget = { encoder_macs = "half" }\n')
    result = subprocess.run(
        [sys.executable, "-m", "fcabench", "sweep", "list", str(spec)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {spec}: key 'methods[0].budget.encoder_macs': "
        "expected fractions of vanilla's encoder MACs in (0, 1], got 'half'"
    ]
    assert result.stdout == ""


def test_local_run_resumes_records_failures_and_merges(tmp_path, tiny_folder):
    body = (
        STUDY
        + """
        [[methods]]
        name = "broken"
        method = "token-drop"
        from = "vanilla"
        training_free = true
        options = { span = [2, 4] }   # fails when it runs (broken_job), not when expanded
        """
    )
    spec = sweep.load_spec(write_spec(tmp_path, tiny_folder, body))
    out, store = spec.out_dir, Path(spec.results)
    report = sweep.run(spec, job_function=broken_job, echo=lambda _: None)
    jobs = sweep.expand(spec)
    statuses = {j.job_id: sweep.read_status(out, j.job_id) for j in jobs}
    broken = next(j for j in jobs if j.entry == "broken")
    assert statuses[broken.job_id]["status"] == "failed" and "span" in statuses[broken.job_id]["error"]
    assert "Traceback" in statuses[broken.job_id]["traceback"]
    done = [j for j in jobs if j.entry != "broken"]
    assert all(statuses[j.job_id]["status"] == "done" for j in done)
    # Dependents started from the vanilla job's checkpoint.
    vanilla = next(j for j in jobs if j.entry == "vanilla")
    stored = runs.load(store)
    assert set(stored["run_id"]) == {j.job_id for j in done}
    assert (
        stored[stored["method"] != "vanilla"]["source_note"] == f"start: {statuses[vanilla.job_id]['checkpoint']}"
    ).all()
    assert report.rows_added == len(done) and [f["job_id"] for f in report.failed] == [broken.job_id]
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["job_id"] for f in failures] == [broken.job_id]
    listing = CliRunner().invoke(app, ["sweep", "list", spec.source])
    assert f"{len(done)} done" in listing.output and "1 failed" in listing.output
    line = listing.output.splitlines()[1 + jobs.index(vanilla)]
    assert line.split()[:2] == [vanilla.job_id, "done"]

    # One job's files are gone but its runs are stored: a re-run runs the failed job only.
    victim = next(j for j in jobs if j.entry == "drop")
    state.status_path(out, victim.job_id).unlink()
    ran = []

    def counting_job(job, **kwargs):
        ran.append(job.job_id)
        return broken_job(job, **kwargs)

    report = sweep.run(spec, job_function=counting_job, echo=lambda _: None)
    assert ran == [broken.job_id]
    assert report.rows_added == 0 and report.rows_present == len(done) - 1  # merged once, never twice
    assert len(runs.load(store)) == len(done)


def broken_job(job, **kwargs):
    if job.entry == "broken":
        raise FcabenchError("token-drop span: the job broke while it ran")
    return measure_job(job, **kwargs)


def failing_vanilla_job(job, **kwargs):
    if job.method == "vanilla":
        raise FcabenchError("the start model broke")
    return measure_job(job, **kwargs)


def test_failed_start_fails_its_dependents(tmp_path, tiny_folder):
    body = """
        [[methods]]
        method = "vanilla"
        [[methods]]
        method = "token-drop"
        from = "vanilla"
        """
    spec = sweep.load_spec(write_spec(tmp_path, tiny_folder, body))
    report = sweep.run(spec, job_function=failing_vanilla_job, echo=lambda _: None)
    errors = {f["entry"]: f["error"] for f in report.failed}
    assert "the start model broke" in errors["vanilla"]
    assert errors["token-drop"].startswith("not run: the job it starts from")
    assert not Path(spec.results).exists() or runs.load(spec.results).empty


@pytest.mark.parametrize(
    "model, tasks, options, key",
    [
        ("MISSING", '["bbc-news"]', "", "sweep.models"),
        ("TINY", '["no-such-task"]', "", "sweep.tasks"),
        ("TINY", '["bbc-news"]', "options = { retention = [40, 30, 20, 10] }", "methods.power-bert"),  # > seq_len
        ("TINY", '["bbc-news"]', "options = { retention = [8, 4] }", "methods.power-bert"),  # 2 entries, 4 layers
    ],
)
def test_a_spec_is_checked_when_it_loads(tmp_path, tiny_folder, model, tasks, options, key):
    """Tasks, models and every configuration against the model and the length, before any job runs."""
    model = tiny_folder if model == "TINY" else str(tmp_path / "missing-model")
    path = write_spec(
        tmp_path,
        model,
        f"""
        [[methods]]
        name = "power-bert"
        method = "power-bert"
        training_free = false
        {options}
        """,
    )
    path.write_text(path.read_text().replace('tasks = ["bbc-news"]', f"tasks = {tasks}"))
    with pytest.raises(FcabenchError, match=f"key '{key}"):
        sweep.expand(sweep.load_spec(path))


def test_cli_exits_non_zero_with_the_count_when_a_job_failed_and_lists_merged_jobs_from_the_store(
    tmp_path, tiny_folder, monkeypatch, capsys
):
    import shutil

    import fcabench.sweep as sweep_module
    from tests.helpers import cli

    real_run = sweep_module.run
    monkeypatch.setattr(sweep_module, "run", lambda *a, **k: real_run(*a, **{**k, "job_function": failing_vanilla_job}))
    spec = write_spec(tmp_path, tiny_folder, STUDY)
    code, out, err = cli(capsys, "sweep", "run", spec)
    jobs = sweep.expand(sweep.load_spec(spec))
    assert code == 1 and f"{len(jobs)} job(s) failed" in err  # vanilla failed, every other job starts from it
    monkeypatch.setattr(sweep_module, "run", lambda *a, **k: real_run(*a, **{**k, "job_function": measure_job}))
    code, out, err = cli(capsys, "sweep", "run", spec)
    assert code == 0, err
    for path in (tmp_path / "out" / "jobs").glob("job-*.json"):  # each job's clock, set to half an hour
        path.write_text(json.dumps({**json.loads(path.read_text()), "wall_s": 1800.0}))
    code, out, err = cli(capsys, "sweep", "list", spec)
    assert code == 0 and out.strip().endswith(f"wall time here: {len(jobs) / 2:.2f} h")
    shutil.rmtree(tmp_path / "out")  # a fresh clone: no job files, the runs in the store
    code, out, err = cli(capsys, "sweep", "list", spec)
    assert code == 0 and f"{len(jobs)} done (store)" in out
    # a spec naming no store lists what a run of it would do: skip the jobs of results/runs.jsonl, no other file's
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    shutil.copy(tmp_path / "store.jsonl", tmp_path / "results" / "other.jsonl")
    unnamed = spec.with_name("unnamed.toml")
    unnamed.write_text(spec.read_text().replace(f'results = "{tmp_path / "store.jsonl"}"\n', ""))
    code, out, err = cli(capsys, "sweep", "list", unnamed)
    assert code == 0 and f"{len(jobs)} pending" in out, out
    shutil.copy(tmp_path / "store.jsonl", tmp_path / "results" / "runs.jsonl")
    code, out, err = cli(capsys, "sweep", "list", unnamed)
    assert code == 0 and f"{len(jobs)} done (store)" in out, out


def test_a_fresh_clone_runs_only_what_the_store_lacks_and_rebuilds_the_checkpoints_it_starts_from(
    tmp_path, tiny_folder
):
    spec = sweep.load_spec(write_spec(tmp_path, tiny_folder, STUDY))
    jobs = sweep.expand(spec)
    vanilla = next(j for j in jobs if j.entry == "vanilla")
    lost = next(j for j in jobs if j.entry == "drop")
    ran, said, vanilla_runs = [], [], []

    def scoring_job(job, *, results, **kwargs):
        """Vanilla scores 90.0 the first time it runs, 91.0 after, under a new run id (as an evaluation of weights
        that are not bit-identical is)."""
        ran.append(job.job_id)
        checkpoint = measure_job(job, results=results, **kwargs)
        if job.method == "vanilla":
            (row,) = [json.loads(line) for line in Path(results).read_text().splitlines()]
            row.update(run_id=f"{job.job_id}-{len(vanilla_runs)}", split="test", metric="accuracy")
            row.update(score=90.0 + len(vanilla_runs))
            vanilla_runs.append(row)
            Path(results).write_text(json.dumps(row) + "\n")
        return checkpoint

    sweep.run(spec, job_function=scoring_job, echo=lambda _: None)
    # A fresh clone: the job files and checkpoints are gone, and one job's runs never reached the store.
    store = Path(spec.results)
    rows = [json.loads(line) for line in store.read_text().splitlines()]
    store.write_text("".join(json.dumps(r) + "\n" for r in rows if r["run_id"] != lost.job_id))
    shutil.rmtree(spec.out_dir)
    output = CliRunner().invoke(app, ["sweep", "list", spec.source]).output
    listing = [line for line in output.splitlines() if line.startswith("job-")]
    assert [line.split()[0] for line in listing if "done (store, runs again)" in line] == [vanilla.job_id]
    assert [line.split()[0] for line in listing if " pending " in line] == [lost.job_id]
    ran.clear()
    report = sweep.run(spec, job_function=scoring_job, echo=said.append)
    assert ran == [vanilla.job_id, lost.job_id]  # vanilla again: the lost job starts from its checkpoint
    assert f"{len(jobs) - 2} of {len(jobs)} jobs already done; running 2 (1 stored already, run again" in said[0]
    assert report.rows_added == 1 and report.rows_present == 1
    assert report.differs == [f"{vanilla.job_id} test accuracy: stored 90.0, now 91.0"]
    assert "1 stored row(s) scored otherwise now" in str(report)
    stored = runs.load(store)
    assert len(stored) == len(jobs) and stored.loc[stored["sweep_job"] == vanilla.job_id, "score"].tolist() == [90.0]


def test_only_runs_the_matching_entries_with_the_jobs_they_start_from(tmp_path, tiny_folder):
    spec = sweep.load_spec(write_spec(tmp_path, tiny_folder, STUDY, seeds="[0, 1]"))
    jobs = sweep.expand(spec)
    ran = []

    def counting_job(job, **kwargs):
        ran.append(job.job_id)
        return measure_job(job, **kwargs)

    sweep.run(spec, job_function=counting_job, echo=lambda _: None, only=("*-free",))
    wanted = [j for j in jobs if j.entry in ("vanilla", "power-bert-free")]  # vanilla: what they start from
    assert ran == [j.job_id for seed in (0, 1) for j in wanted if j.seed == seed]  # seed by seed
    listing = CliRunner().invoke(app, ["sweep", "list", spec.source, "--only", "drop", "--only", "power-bert"])
    assert listing.exit_code == 0, listing.output
    listed = {line.split()[0] for line in listing.output.splitlines() if line.startswith("job-")}
    assert listed == {j.job_id for j in jobs if j.entry in ("vanilla", "drop", "power-bert")}
    with pytest.raises(FcabenchError, match=r"--only fca\*: no entry matches \(entries: vanilla, power-bert, "):
        sweep.run(spec, job_function=counting_job, only=("fca*",))


def test_cli_lists_jobs_with_ids_and_status(tmp_path, tiny_folder):
    spec = write_spec(tmp_path, tiny_folder, STUDY)
    jobs = sweep.expand(sweep.load_spec(spec))
    result = CliRunner().invoke(app, ["sweep", "list", str(spec)])
    assert result.exit_code == 0, result.output
    for job in jobs:
        assert job.job_id in result.output
    assert f"{len(jobs)} jobs: {len(jobs)} pending" in result.output


def pinned_job(job, *, output_dir, results, from_checkpoint):
    """measure_job, noting the cores and torch threads the job ran with."""
    import os

    import torch

    Path(output_dir).mkdir(parents=True, exist_ok=True)
    (Path(output_dir) / "cores.json").write_text(
        json.dumps({"cores": sorted(os.sched_getaffinity(0)), "threads": torch.get_num_threads()})
    )
    checkpoint = measure_job(job, output_dir=output_dir, results=results, from_checkpoint=from_checkpoint)
    return checkpoint


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_parallel_local_jobs_run_on_cores_of_their_own_after_the_jobs_they_start_from(tmp_path, tiny_folder):
    spec = sweep.load_spec(write_spec(tmp_path, tiny_folder, STUDY))
    report = sweep.run(spec, job_function=pinned_job, echo=lambda _: None, parallel=2)
    jobs = sweep.expand(spec)
    assert report.rows_added == len(jobs) and not report.failed  # dependents found their start's checkpoint
    seen = [json.loads((state.checkpoint_dir(spec.out_dir, j.job_id) / "cores.json").read_text()) for j in jobs]
    share = len(os.sched_getaffinity(0)) // 2
    assert all(len(s["cores"]) == share and s["threads"] == share for s in seen)
    from fcabench.sweep.executors import core_sets

    sets = core_sets(2)
    assert not set(sets[0]) & set(sets[1])  # each worker's cores are its own
    assert {tuple(s["cores"]) for s in seen} <= {tuple(c) for c in sets}
    with pytest.raises(FcabenchError, match="core"):
        sweep.run(spec, job_function=pinned_job, echo=lambda _: None, parallel=len(os.sched_getaffinity(0)) + 1)


@pytest.mark.parametrize("spec", ["tests/data/toy-study-tweet-sentiment.toml"])  # its store was made before
# jobs were named in stored rows (the toy-budget study's specification)
def test_a_fresh_clone_lists_the_study_jobs_whose_runs_are_stored_as_done(spec, capsys, tmp_path):
    """No job files (out/ is not in the repository): each job is found in the store by what it ran."""
    from tests.helpers import cli

    repo = Path(__file__).resolve().parents[1]
    code, out, err = cli(capsys, "sweep", "list", repo / spec, "--out", tmp_path / "no-job-files")
    assert code == 0, err
    jobs = sweep.expand(sweep.load_spec(repo / spec))
    assert out.strip().splitlines()[-1].startswith(f"{len(jobs)} jobs: {len(jobs)} done (store)")


def test_a_budget_met_at_the_real_lengths_is_not_found_in_runs_that_met_it_at_the_padded_length(capsys, tmp_path):
    from tests.helpers import cli

    repo = Path(__file__).resolve().parents[1]
    text = (repo / "tests/data/toy-study-tweet-sentiment.toml").read_text()
    text = text.replace('results = "tests/data/', f'results = "{repo}/tests/data/')
    entry = 'name = "power-bert"\nmethod = "power-bert"\nfrom = "vanilla"\n'
    assert entry in text
    (tmp_path / "spec.toml").write_text(text.replace(entry, entry + 'train = { macs_at = "real" }\n'))
    code, out, err = cli(capsys, "sweep", "list", tmp_path / "spec.toml", "--out", tmp_path / "no-job-files")
    assert code == 0, err
    pending = [line for line in out.splitlines() if " pending " in line]  # its three budgets: none stored
    assert len(pending) == 3 and all(" power-bert " in line for line in pending)


def test_entries_take_their_own_seeds_and_final_checkpoints_are_scored_on_the_test_split(tmp_path, tiny_backbone):
    """Three seeds at one point, one at the others (the study's protocol), and every job's final checkpoint
    scored on the whole test split after training (the epoch was chosen on validation)."""
    path = tmp_path / "spec.toml"
    path.write_text(
        textwrap.dedent(f"""
        [sweep]
        name = "seeds"
        models = ["{tiny_backbone}"]
        tasks = ["tweet-sentiment"]
        seeds = [0]
        score_splits = ["test"]
        out = "{tmp_path / "out"}"
        results = "{tmp_path / "store.jsonl"}"
        [train]
        seq_len = 16
        max_steps = 1
        batch_size = 4
        max_train_examples = 8
        max_eval_examples = 8
        [[methods]]
        name = "vanilla"
        method = "vanilla"
        seeds = [0, 1]
        [[methods]]
        name = "drop-half"
        method = "token-drop"
        from = "vanilla"
        training_free = true
        options = {{ keep_ratio = 0.5, span = [1, 2] }}
        seeds = [0, 1]
        [[methods]]
        name = "drop-quarter"
        method = "token-drop"
        from = "vanilla"
        training_free = true
        options = {{ keep_ratio = 0.25, span = [1, 2] }}
        """)
    )
    spec = sweep.load_spec(path)
    jobs = sweep.expand(spec)
    assert [(j.entry, j.seed) for j in jobs] == [
        ("vanilla", 0),
        ("vanilla", 1),
        ("drop-half", 0),
        ("drop-half", 1),
        ("drop-quarter", 0),
    ]
    assert sweep.run(spec, echo=lambda _: None).failed == []
    stored = runs.load(spec.results)
    test = stored[stored["split"] == "test"]
    from fcabench import tasks

    assert set(test["data_examples"]) == {len(tasks.get("tweet-sentiment").load("test"))}
    assert sorted(test.drop_duplicates("run_id")["seed"]) == [0, 0, 0, 1, 1]
    validation = stored[stored["split"] == "validation"].drop_duplicates("run_id")
    assert set(test["parent_run_id"]) == set(validation["run_id"])  # each job's final stage, scored again
    from fcabench.runs import predictions, stats

    assert all(predictions.path_for(run_id, spec.results).is_file() for run_id in stored["run_id"])  # kept, merged
    vanilla, drop = (stored[(stored["split"] == "test") & (stored["method"] == m)] for m in ("vanilla", "token-drop"))
    ids = [stats.group_id(side[side["seed"].isin([0, 1])].iloc[0]) for side in (drop, vanilla)]
    paired = stats.compare_runs(stored[stored["seed"].isin([0, 1])], *ids, metric="accuracy", resamples=50)
    assert paired.seeds == (0, 1) and paired.examples == len(tasks.get("tweet-sentiment").load("test"))

    # An entry's seed its `from` entry lacks is refused when the specification expands.
    path.write_text(path.read_text().replace('name = "drop-quarter"', 'name = "drop-quarter"\nseeds = [2]'))
    with pytest.raises(FcabenchError, match="'methods.drop-quarter.from': entry 'vanilla' has no job for seed 2"):
        sweep.expand(sweep.load_spec(path))
