"""Stored runs: accuracy and cost of method configurations, measured by fcabench or published.

>>> import fcabench.runs as runs
>>> df = runs.load()                      # the bundled published tables and the checkout's results/*.jsonl
>>> runs.append(runs.measured_run("fca", cfg, "bert-base-uncased", "SST-2", seq_len=64, macs=..., ...))
>>> runs.aggregate(df)                    # one row per configuration over its seeds, with a 95 % interval
>>> runs.compare_runs(df, "g-1a2b...", "g-3c4d...")   # paired A - B on the same examples and seeds

The schema (one documented field per column, units in the names) is :class:`fcabench.runs.schema.Run`.
"""

from fcabench.runs.export import export, paper_table, to_latex, to_markdown
from fcabench.runs.importing import import_runs
from fcabench.runs.measured import measured_run
from fcabench.runs.provenance import provenance
from fcabench.runs.reference import bert_base_macs
from fcabench.runs.schema import COLUMNS, SCHEMA_VERSION, Run, validate_record
from fcabench.runs.stats import aggregate, compare, compare_runs
from fcabench.runs.store import append, default_results_dir, load

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "Run",
    "aggregate",
    "append",
    "bert_base_macs",
    "compare",
    "compare_runs",
    "default_results_dir",
    "export",
    "import_runs",
    "load",
    "measured_run",
    "paper_table",
    "provenance",
    "to_latex",
    "to_markdown",
    "validate_record",
]
