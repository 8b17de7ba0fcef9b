"""sweeps/run_study.sh runs the snapshot of the package it names, not the checkout around it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("nice") is None, reason="needs bash and nice")
def test_the_study_script_runs_its_snapshot_with_the_options_unexpanded(tmp_path):
    snapshot = tmp_path / "study-code"
    (snapshot / "fcabench").mkdir(parents=True)
    (snapshot / "fcabench" / "__init__.py").write_text("")
    seen = tmp_path / "seen.json"
    (snapshot / "fcabench" / "cli.py").write_text(
        "import json, sys\n"
        "import fcabench\n"
        f"def main():\n    open({str(seen)!r}, 'a').write(json.dumps([fcabench.__file__, sys.argv[1:]]) + '\\n')\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHON": sys.executable,
        "STUDY_CODE": str(snapshot),
        "SWEEP_OPTIONS": "--only *@2x",
    }
    result = subprocess.run(
        ["bash", str(REPO / "sweeps" / "run_study.sh"), "a.toml", "b.toml"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in seen.read_text().splitlines()]
    assert calls == [
        [str(snapshot / "fcabench" / "__init__.py"), ["sweep", "run", spec, "--only", "*@2x"]]
        for spec in ("a.toml", "b.toml")
    ]
