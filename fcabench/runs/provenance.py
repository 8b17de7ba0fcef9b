"""Provenance of a measured run: versions, git commit, date and hardware, filled in automatically."""

from __future__ import annotations

import datetime
import platform
import subprocess
from importlib import metadata
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
SNAPSHOT_COMMIT = "COMMIT"  # beside a copy of the package (sweeps/run_study.sh): the commit it was copied from


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _module_version(module: str) -> str | None:
    # Import lazily: torch takes seconds to import and a store-only user may not need it.
    try:
        return __import__(module).__version__
    except Exception:  # not installed or broken: provenance says so rather than failing the run
        return None


def git_commit(repo: Path = _REPO) -> str | None:
    """``git rev-parse HEAD`` of the checkout fcabench runs from, "+dirty" if files changed; None outside git.
    A copy of the package with a COMMIT file beside it names the commit it was copied from: git would name the
    checkout around the copy as it is now, which may have moved on since."""
    recorded = repo / SNAPSHOT_COMMIT
    if recorded.is_file():
        return recorded.read_text().strip() or None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def hardware(device: str | None = None) -> str:
    """The GPU's name when ``device`` is (or defaults to) CUDA, else the CPU model."""
    wants_gpu = device is None or str(device).startswith("cuda")
    if wants_gpu:
        try:
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(torch.device(device or "cuda"))
        except Exception:
            pass
    return cpu_model()


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def provenance(device: str | None = None) -> dict[str, str | None]:
    """The provenance fields of :class:`~fcabench.runs.schema.Run` for a run measured now on ``device``."""
    return {
        "fcabench_version": _version("fcabench") or _module_version("fcabench") or "unknown",
        "torch_version": _module_version("torch"),
        "transformers_version": _module_version("transformers"),
        "git_commit": git_commit(),
        "date_utc": utc_now(),
        "hardware": hardware(device),
    }
