"""fcabench/flops only counts: its layering, the closed form of BERT, and recorded units turned into MACs."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from fcabench.flops.closed_form import (
    BERT_BASE,
    Shape,
    encoder_macs_from_units,
    layer_macs_from_units,
    standard_layer_macs,
    vanilla_encoder_macs,
)
from fcabench.runs.reference import bert_base_macs

FLOPS = Path(__file__).resolve().parents[1] / "fcabench" / "flops"
NOT_FROM_FLOPS = (
    "fcabench.methods",
    "fcabench.counting.profiler",
    "fcabench.counting.check",
    "fcabench.counting.dynamic",
    "fcabench.runs",
)
SMALL = Shape(hidden=8, layers=3, heads=2, ffn=12, max_len=64)


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_flops_module_names_the_methods_or_the_profiler():
    files = sorted(FLOPS.glob("*.py"))
    assert {f.name for f in files} >= {"closed_form.py", "handles.py", "trace.py"}
    for path in files:
        bad = [m for m in imported_modules(path) if m.startswith(NOT_FROM_FLOPS)]
        assert not bad, f"{path.name} imports {bad}"


def test_importing_every_flops_module_loads_neither_the_methods_nor_the_profiler():
    modules = [f"fcabench.flops.{path.stem}" for path in sorted(FLOPS.glob("*.py")) if path.stem != "__init__"]
    code = (
        f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({NOT_FROM_FLOPS!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cross_check_lives_beside_the_profiler():
    from fcabench.counting.check import cross_check  # noqa: F401  (fcabench profile --check)

    assert not (FLOPS / "check.py").exists()


def test_bert_base_reference_is_the_vanilla_closed_form_of_the_preset():
    from fcabench.models import preset_config

    assert Shape.of(preset_config("bert-base")) == BERT_BASE
    for n in (1, 7, 64, 512):
        assert bert_base_macs(n) == vanilla_encoder_macs(BERT_BASE, n)
        d = 768
        assert bert_base_macs(n) == 12 * (12 * n * d * d + 2 * n * n * d)  # per layer 12 n d^2 + 2 n^2 d


def test_units_become_macs_layer_by_layer():
    units = [(10, 6, 2 * 10), (6, 6, 7), (6, 3, 2 * 6)]  # (tokens_in, tokens_out, keys summed over heads)
    rows = layer_macs_from_units(SMALL, 10, units)
    d, f, head_dim = 8, 12, 4
    assert rows[1] == dict(
        layer=1,
        tokens_in=6,
        tokens_out=6,
        keys=7,
        macs_attn_proj=4 * 6 * d * d,
        macs_attn_matmul=2 * 6 * 7 * head_dim,
        macs_ffn=2 * 6 * d * f,
        macs_method=0,
        macs=4 * 6 * d * d + 2 * 6 * 7 * head_dim + 2 * 6 * d * f,
    )
    assert [r["tokens_out"] for r in rows] == [6, 6, 3]
    assert encoder_macs_from_units(SMALL, 10, units) == sum(r["macs"] for r in rows)
    assert encoder_macs_from_units(SMALL, 10, units) < vanilla_encoder_macs(SMALL, 10)


def test_without_units_every_layer_runs_on_every_token():
    rows = layer_macs_from_units(SMALL, 5)
    assert len(rows) == SMALL.layers
    assert all(
        r
        == dict(
            layer=r["layer"],
            tokens_in=5,
            tokens_out=5,
            keys=10,
            **standard_layer_macs(SMALL, 5, 5),
            macs=sum(standard_layer_macs(SMALL, 5, 5).values()),
        )
        for r in rows
    )


class Doubling:
    """A stand-in method: its layers cost a fixed overhead on top of the standard ones."""

    def layer_macs(self, shape, config, layer, n_in, n_out, keys, n0):
        macs = standard_layer_macs(shape, n_in, n_out, keys)
        macs["macs_method"] = config * n0 + layer
        return macs


@pytest.mark.parametrize("n0", [5, 9])
def test_a_method_prices_each_layer_with_the_input_length(n0):
    rows = layer_macs_from_units(SMALL, n0, [(4, 4, 8)] * 3, (Doubling(), 100))
    assert [r["macs_method"] for r in rows] == [100 * n0, 100 * n0 + 1, 100 * n0 + 2]
    assert encoder_macs_from_units(SMALL, n0, [(4, 4, 8)] * 3, (Doubling(), 100)) == (
        3 * sum(standard_layer_macs(SMALL, 4, 4, 8).values()) + 300 * n0 + 3
    )
