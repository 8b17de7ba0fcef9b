"""Write runs as tables for papers (Markdown, LaTeX) or for other tools (CSV, Parquet).

:func:`paper_table` picks and formats the columns a reader needs; :func:`to_markdown` and :func:`to_latex`
return text; :func:`export` is the only function here that writes a file.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from fcabench.errors import FcabenchError

PAPER_COLUMNS = {  # stored column -> header in the paper table (units in the header)
    "method": "Method",
    "config_label": "Config.",
    "task": "Task",
    "metric": "Metric",
    "score": "Score",
    "seq_len": "n",
    "flops": "GFLOPs",
    "flops_rel_bert_base": "FLOPs / BERT-base",
    "speedup": "Speed-up (x)",
    "source": "Source",
}
FORMATS = (".md", ".tex", ".csv", ".parquet")
NUMERIC_HEADERS = {"Score", "n", "GFLOPs", "FLOPs / BERT-base", "Speed-up (x)"}


def _fmt(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def paper_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The paper-facing columns as text: GFLOPs = flops / 1e9 (FLOPs = 2 x MACs), empty where unknown."""
    missing = [c for c in PAPER_COLUMNS if c not in runs.columns]
    if missing:
        raise FcabenchError(f"these runs lack the columns {', '.join(missing)}")
    table = pd.DataFrame(
        {
            header: [
                _fmt(
                    v / 1e9 if column == "flops" and v == v and v is not None else v,
                    {"score": 1, "flops": 2, "flops_rel_bert_base": 3, "speedup": 2}.get(column, 0),
                )
                for v in runs[column].astype(object)
            ]
            for column, header in PAPER_COLUMNS.items()
        }
    )
    return table


def to_markdown(runs: pd.DataFrame) -> str:
    table = paper_table(runs)
    align = ["right" if c in NUMERIC_HEADERS else "left" for c in table.columns]
    return table.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"  # keep our digits


LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(runs: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``); numbers right-aligned."""
    table = paper_table(runs)
    spec = "".join("r" if c in NUMERIC_HEADERS else "l" for c in table.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def export(runs: pd.DataFrame, path: str | Path, caption: str | None = None) -> Path:
    """Write ``runs`` to ``path``; the format follows the suffix: .md, .tex (paper tables), .csv, .parquet
    (every stored column, ``method_config`` as JSON text). The folder must exist; an existing file is
    replaced (``fcabench.tables``' policy)."""
    from fcabench.tables import check_output, write_table, write_text

    path = check_output(path, FORMATS)
    if path.suffix.lower() == ".md":
        return write_text(to_markdown(runs), path, FORMATS)
    if path.suffix.lower() == ".tex":
        return write_text(to_latex(runs, caption=caption), path, FORMATS)
    return write_table(runs, path)
