"""The only function in fcabench.plots that writes files."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from fcabench.plots.style import PAPER_RC
from fcabench.tables import check_output, replace_file

FORMATS = (".png", ".svg", ".pdf")


def check_figure_path(path: str | Path) -> Path:
    """Refuse, before any drawing, a path ``save_figure`` could not write (fcabench.tables' policy)."""
    return check_output(path, FORMATS)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG (300 dpi), SVG or PDF, chosen by the suffix; returns the path.

    The folder must exist and an existing file is replaced, as for every file fcabench writes. Dates are
    left out of SVG/PDF metadata so the same figure gives the same bytes (diff-friendly)."""
    suffix = check_figure_path(path).suffix.lower()
    metadata = {".png": None, ".svg": {"Date": None}, ".pdf": {"CreationDate": None, "ModDate": None}}[suffix]
    return replace_file(
        path,
        lambda target: fig.savefig(
            target, dpi=PAPER_RC["savefig.dpi"], bbox_inches="tight", pad_inches=0.02, metadata=metadata
        ),
        FORMATS,
    )
