"""The exploratory notebook runs from top to bottom, and is stored without outputs."""

import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_explore.ipynb"


def test_stored_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_notebook_executes(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    # A kernelspec for *this* interpreter, so the notebook runs against the same environment as the tests.
    spec_dir = tmp_path / "kernels" / "fcabench-test"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], '
        '"display_name": "fcabench test", "language": "python"}' % sys.executable.replace("\\", "\\\\")
    )
    manager = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    kernel = KernelManager(kernel_name="fcabench-test", kernel_spec_manager=manager)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, km=kernel, timeout=300,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # two Pareto figures, the layer profile, the units per layer
    assert NOTEBOOK.read_text().count('"outputs": []') == sum(c.cell_type == "code" for c in notebook.cells)
