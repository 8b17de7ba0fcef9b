"""The house style, checked as CI checks code: ruff's formatter and linter with the settings in pyproject.toml
(line length 120), over the package, the tests, the benchmarks and the notebooks; and no import loops."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["fcabench", "tests", "benchmarks", "notebooks"]


def ruff(*args: str) -> subprocess.CompletedProcess:
    pytest.importorskip("ruff")  # a test extra
    return subprocess.run([sys.executable, "-m", "ruff", *args, *CHECKED], cwd=ROOT, capture_output=True, text=True)


def test_the_code_is_formatted():
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linter_finds_nothing():
    result = ruff("check", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def module_imports(path: Path, package: Path) -> set[str]:
    """The fcabench modules a file imports (anywhere in it, lazily too), as dotted names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("fcabench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fcabench") and not node.level:
            for alias in node.names:  # "from fcabench.x import y": y is a module when a file or folder says so
                name = f"{node.module}.{alias.name}"
                is_module = (package.parent / (name.replace(".", "/") + ".py")).is_file()
                found.add(name if is_module else node.module)
    return found


def test_imports_run_one_way():
    """No chain of imports leads from a module back to itself (a package's __init__ re-exporting its own
    modules, and those modules naming their package, are not loops)."""
    package = ROOT / "fcabench"
    files = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in package.rglob("*.py")
    }
    graph = {
        name: {m for m in module_imports(path, package) if m in files and not _within(name, m) and not _within(m, name)}
        for name, path in files.items()
    }
    state: dict[str, str] = {}
    loops = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                loops.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert loops == []


def _within(module: str, package: str) -> bool:
    return module.startswith(package + ".")
