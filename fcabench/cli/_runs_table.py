"""The runs a training or evaluation stored, as one compact rich table."""

from __future__ import annotations


def print_runs(runs, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in (
        "run id",
        "stage",
        "method",
        "split",
        "metric",
        "score",
        "length",
        "GMACs padded",
        "GMACs real (mean)",
        "latency ms",
    ):
        table.add_column(
            header, justify="left" if header in ("run id", "stage", "method", "split", "metric") else "right"
        )
    for run in runs:
        table.add_row(
            run.run_id[:12],
            run.config_label if run.config_label and run.stage else run.stage or "",  # "search of fca"
            run.method,
            run.split or "",
            run.metric or "",
            f"{run.score:.2f}" if run.score is not None else "",
            str(run.seq_len),
            f"{run.macs / 1e9:.3f}" if run.macs is not None else "",
            f"{run.macs_real_mean / 1e9:.3f}" if run.macs_real_mean is not None else "",
            f"{run.latency_ms:.1f}" if run.latency_ms is not None else "",
        )
    Console(width=170).print(table)
