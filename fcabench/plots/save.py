"""The only function in fcabench.plots that writes files."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from fcabench.errors import FcabenchError
from fcabench.plots.style import PAPER_RC

FORMATS = (".png", ".svg", ".pdf")


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG (300 dpi), SVG or PDF, chosen by the suffix; creates the folder; returns the path.

    Dates are left out of SVG/PDF metadata so the same figure gives the same bytes (diff-friendly)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise FcabenchError(f"{path}: cannot save a figure as {path.suffix or 'no suffix'!r}; use .png, .svg or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {".png": None, ".svg": {"Date": None}, ".pdf": {"CreationDate": None, "ModDate": None}}[path.suffix.lower()]
    fig.savefig(path, dpi=PAPER_RC["savefig.dpi"], bbox_inches="tight", pad_inches=0.02, metadata=metadata)
    return path
