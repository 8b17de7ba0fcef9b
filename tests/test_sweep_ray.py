"""A sweep on a real local Ray instance (two CPUs), started by the test, with real training on a tiny
budget: a tiny BERT fine-tuned for two steps, PoWER-BERT searched and retrained from its checkpoint at
half its encoder MACs, and a job that fails; each job a Ray task, the runs merged into the store."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from fcabench import runs, sweep

pytestmark = pytest.mark.slow  # trains, starts Ray or runs notebooks: left out by -m 'not slow'

ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_ray():
    # Workers import fcabench from the checkout, like the driver.
    paths = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).strip(os.pathsep)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": paths, "OMP_NUM_THREADS": "1"}},
    )
    yield
    ray.shutdown()


def test_ray_sweep_trains_jobs_as_tasks_and_merges(tmp_path, tiny_backbone, local_ray):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(
        textwrap.dedent(f"""
        [sweep]
        name = "ray-test"
        models = ["{tiny_backbone}"]
        tasks = ["tweet-sentiment"]
        out = "{tmp_path / "out"}"
        results = "{tmp_path / "store.jsonl"}"
        [train]
        seq_len = 32
        max_steps = 2
        batch_size = 4
        max_train_examples = 16
        max_eval_examples = 16
        [resources]
        num_cpus = 1
        [[methods]]
        method = "vanilla"
        [[methods]]
        method = "power-bert"
        from = "vanilla"
        budget = {{ encoder_macs = [0.5] }}
        train = {{ max_steps = 1 }}
        [[methods]]
        name = "broken"
        method = "ltp"
        from = "vanilla"
        stages = ["hard"]  # a valid stage, but it starts from a soft stage's checkpoint, not vanilla's
        """)
    )
    spec = sweep.load_spec(spec_path)
    report = sweep.run(spec, executor="ray", echo=lambda _: None)
    jobs = {j.entry: j for j in sweep.expand(spec)}
    statuses = {name: sweep.read_status(spec.out_dir, job.job_id) for name, job in jobs.items()}
    assert all(s["pid"] != os.getpid() for s in statuses.values())  # each job ran in a Ray worker
    assert [f["job_id"] for f in report.failed] == [jobs["broken"].job_id]
    assert "stage hard needs" in statuses["broken"]["error"], statuses["broken"]["error"]
    for name in ("vanilla", "power-bert"):
        assert statuses[name]["status"] == "done", statuses[name]["error"]
    stored = runs.load(spec.results)
    assert set(stored["run_id"]) == {i for name in ("vanilla", "power-bert") for i in statuses[name]["run_ids"]}
    stages = stored.drop_duplicates("run_id").set_index("stage")
    assert set(stages.index) == {"fine-tune", "search", "retrain"}
    # The retrained PoWER-BERT started from the vanilla job's checkpoint and meets its MAC budget.
    assert stages.loc["search", "parent_run_id"] == stages.loc["fine-tune", "run_id"]
    assert stages.loc["retrain", "macs"] < 0.6 * stages.loc["fine-tune", "macs"]
    assert (stored["score"].notna()).all()
