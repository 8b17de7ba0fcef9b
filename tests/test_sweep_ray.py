"""A sweep on a real local Ray instance (two CPUs), started by the test: jobs as Ray tasks, a job that
starts from another's checkpoint, a failure recorded, the runs merged into the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fcabench import runs, sweep
from tests.test_sweep import STUDY, measure_job, tiny_folder, write_spec  # noqa: F401  (fixture)

ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_ray():
    # Workers import fcabench and this test module from the checkout, like the driver.
    paths = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).strip(os.pathsep)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": paths, "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


def test_ray_sweep_runs_jobs_as_tasks_and_merges(tmp_path, tiny_folder, local_ray):
    body = STUDY + """
        [[methods]]
        name = "broken"
        method = "token-drop"
        from = "vanilla"
        options = { span = [2, 9] }
        """
    spec = sweep.load_spec(write_spec(tmp_path, tiny_folder, body))
    report = sweep.run(spec, executor="ray", job_function=measure_job, echo=lambda _: None)
    jobs = sweep.expand(spec)
    statuses = {j.job_id: sweep.read_status(spec.out_dir, j.job_id) for j in jobs}
    # Each job ran in a Ray worker process, not in this one.
    assert all(s["pid"] != os.getpid() for s in statuses.values())
    broken = [j.job_id for j in jobs if j.entry == "broken"]
    assert [f["job_id"] for f in report.failed] == broken and "span" in statuses[broken[0]]["error"]
    done = [j.job_id for j in jobs if j.entry != "broken"]
    assert all(statuses[i]["status"] == "done" for i in done)
    assert sorted(runs.load(spec.results)["run_id"]) == sorted(done)
    # Resumed on Ray: nothing left to run, nothing merged twice.
    again = sweep.run(spec, executor="ray", job_function=measure_job, echo=lambda _: None)
    assert again.rows_added == 0 and len(runs.load(spec.results)) == len(done)
