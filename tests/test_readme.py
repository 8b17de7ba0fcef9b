"""The documentation's commands run and print what it shows: every quick command of the README's, docs/'s and
benchmarks/README.md's examples (profiles, run listings, figures, sweep listings and tables) exits 0 from the
checkout, with what it writes sent to a temporary folder, and every line of output they quote in full is
printed, numbers and all."""

import re
import shlex
from pathlib import Path

import pytest

from fcabench import methods
from tests.helpers import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
QUICK = (
    "profile",
    "runs list",
    "runs export",
    "plot",
    "tasks",
    "sweep list",
    "sweep table",
)  # seconds each; training and timing are not


def blocks(text: str) -> list[list[str]]:
    """The lines of every fenced block of a Markdown text (a fence opens with ``` and a language or none)."""
    found, current = [], None
    for line in text.split("\n"):
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                found.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return found


def quoted_commands() -> list[tuple[str, list[str]]]:
    """(command, the output lines shown under it) of every `$ fcabench ...` line in a block of the docs."""
    found = []
    for path in DOCS:
        for block in blocks(path.read_text(encoding="utf-8")):
            for part in re.split(r"^\$ ", "\n".join(block), flags=re.M)[1:]:
                lines = part.split("\n")
                command = lines[0]
                while command.endswith("\\"):  # a command continued on the next line
                    lines.pop(0)
                    command = command[:-1] + lines[0].strip()
                if command.startswith("fcabench ") and command not in (c for c, _ in found):
                    found.append((command, lines[1:]))
    return found


def runnable(command: str) -> bool:
    words = command.split("#")[0].split()
    sub = " ".join(words[1:3])
    return "path/to" not in command and any(sub.startswith(q) for q in QUICK)


def arguments(command: str, scratch: Path) -> list[str]:
    """The first fcabench command of a line as arguments, its comment and redirection dropped; what it writes
    (anything under out/, a figure named after -o) goes to ``scratch``, what it reads from docs/ stays."""
    words = shlex.split(command.split("&&")[0].split(" #")[0].split(" >")[0])[1:]
    out = []
    for before, word in zip(["", *words], words):
        if word.startswith("out/") or (before in ("-o", "--output") and word.startswith("docs/")):
            word = f"{scratch}/{Path(word).name}"
        out.append(word)
    return out


COMMANDS = [c for c in quoted_commands() if runnable(c[0])]


def test_the_readme_has_quick_commands_to_check():
    assert len(COMMANDS) >= 12, [c for c, _ in COMMANDS]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """One folder for what the commands write, shared in the README's order: a figure reads the profiles the
    commands above it wrote."""
    return tmp_path_factory.mktemp("readme")


@pytest.mark.parametrize("command, shown", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_a_readme_command_runs_and_prints_what_the_readme_shows(command, shown, scratch, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = cli(capsys, *arguments(command, scratch))
    assert code == 0, err
    printed = [line.rstrip() for line in out.splitlines()]
    for line in shown:
        if "..." in line or not line.strip():
            continue  # an abridged line: the README says so
        if line.startswith("│"):  # a table row: the same numbers in the row of the same first cell
            label = line.split("│")[1].strip()
            rows = [p for p in printed if p.startswith("│") and p.split("│")[1].strip() == label]
            assert rows and numbers(rows[0]) == numbers(line), (line, rows)
        else:
            assert line in printed, (line, out[-2000:])


def numbers(line: str) -> list[str]:
    return re.findall(r"[-+]?\d[\d,]*(?:\.\d+)?", line)


def test_the_readme_lists_the_methods_in_the_order_fcabench_gives():
    listed = re.search(r"`methods.names\(\)` → `([^`]+)`", README).group(1)
    shipped = [name for name in methods.names() if methods.get(name).__module__.startswith("fcabench.")]
    assert listed == ", ".join(shipped)  # other tests register methods of their own in this process
