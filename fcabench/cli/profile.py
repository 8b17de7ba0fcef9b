"""``fcabench profile``: the per-layer MAC table of a BERT model, for one or several methods.

Method options are the fields of each method's config dataclass, read from the registry, not declared
here: ``--clusters 5`` (every listed method that has it) or ``--fca.clusters 5`` (that method alone); see
:mod:`fcabench.cli.options`. Every number printed comes from the traced count; the ratio to vanilla is
against the unreduced model at the same length (closed form, which the trace equals exactly).
Per-example counts (``--text``, ``--lengths``) are :mod:`fcabench.cli.profile_examples`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from fcabench.cli.console import say, warn
from fcabench.errors import FcabenchError
from fcabench.tables import OVERWRITE_NOTE, WRITERS, check_output

SHOWN = [  # column, header (units in every header), scale: the method's own work is small, so in millions
    ("tokens_in", "units in", None),
    ("tokens_out", "units out", None),
    ("macs_attn_proj", "attn proj\nGMACs", 1e9),
    ("macs_attn_matmul", "attn matmul\nGMACs", 1e9),
    ("macs_ffn", "FFN\nGMACs", 1e9),
    ("macs_method", "method\nMMACs", 1e6),
    ("macs_other", "other\nGMACs", 1e9),
    ("macs", "total\nGMACs", 1e9),
    ("flops", "total\nGFLOPs", 1e9),
    ("nonmatmul_ops", "non-matmul\nM ops", 1e6),
    ("nonmatmul_ops_method", "method non-\nmatmul M ops", 1e6),
]
FORMATS = ("table", "json", "csv")


class ProfileCommand(typer.core.TyperCommand):
    """``profile --help`` ends with every method's options, read from the registry only when asked."""

    def format_epilog(self, ctx, formatter) -> None:
        from fcabench.cli.options import methods_help

        super().format_epilog(ctx, formatter)
        with formatter.section("Method options (--NAME VALUE for every listed method, --METHOD.NAME VALUE for one)"):
            formatter.write_text("\b\n" + methods_help())


def profile_command(
    ctx: typer.Context,
    model: str = typer.Option(
        "bert-base",
        "--model",
        help="Preset (bert-base, bert-large, roberta-base, electra-base, distilbert-base), local folder or hub name.",
    ),
    seq_len: str = typer.Option("128", "--seq-len", "-n", help="Sequence length(s), comma-separated."),
    batch_size: int = typer.Option(1, "--batch-size", "-b", help="Sequences per traced forward pass."),
    method: str = typer.Option(
        None,
        "--method",
        "-m",
        show_default="vanilla",
        help="Method(s), comma-separated: one table with a column per method "
        "(e.g. vanilla,fca,power-bert). Options: see the end of this help.",
    ),
    label: str = typer.Option(
        None,
        "--label",
        help="Name the configuration in the output's config_label "
        "column (plots use it); default: the options that differ from the defaults.",
    ),
    attn: str = typer.Option(None, "--attn", help="Attention implementation: sdpa or eager (default: the model's)."),
    head: str = typer.Option("auto", "--head", help="auto, base or sequence-classification."),
    output: Path = typer.Option(
        None, "--output", "-o", help=f"Also write the table: {', '.join(WRITERS)}. {OVERWRITE_NOTE}"
    ),
    fmt: str = typer.Option(
        "table", "--format", "-f", help="table (for people), or json / csv of every row on stdout."
    ),
    check: bool = typer.Option(False, "--check", help="Compare with the closed form and torch's FlopCounterMode."),
    text: Path = typer.Option(
        None, "--text", help="Per-example counts over a UTF-8 file, one example a line (real, unpadded lengths)."
    ),
    tokenizer: str = typer.Option(
        None, "--tokenizer", help="Tokenizer folder for --text (default: the model's; presets have none)."
    ),
    lengths: str = typer.Option(
        None, "--lengths", help="Per-example counts over a length distribution, e.g. uniform:16:128:1000."
    ),
    traced: bool = typer.Option(
        False, "--traced", help="With --text/--lengths: trace each example instead of the fast closed form."
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bar on stderr for per-example counts (terminals only)."
    ),
    device: str = typer.Option(
        None, "--device", help="cpu, cuda or cuda:N: where the counted forward passes run (counts do not change)."
    ),
    list_methods: bool = typer.Option(False, "--list-methods", help="List methods and their options, then exit."),
) -> None:
    """Exact per-layer multiply-adds (MACs; FLOPs = 2 x MACs) of one forward pass, per sequence."""
    from fcabench.cli.options import method_list, options_per_method

    if list_methods:
        from fcabench.cli.options import methods_help

        typer.echo(methods_help())
        return
    # Everything the user typed is checked before anything is loaded or counted.
    if fmt not in FORMATS:
        raise FcabenchError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if attn not in (None, "sdpa", "eager"):
        raise FcabenchError(f"unknown attention implementation {attn!r}; choose sdpa or eager")
    if output is not None:
        check_output(output)
    names = method_list(method)
    seq_lens = _parse_lengths(seq_len)  # read even where --text or --lengths give the lengths: a typo never passes
    raw_options = options_per_method(names, ctx.args)
    from fcabench import methods  # torch and transformers load here, not when the CLI starts

    options = {name: methods.parse_options(name, raw) for name, raw in raw_options.items()}
    if text or lengths:
        from fcabench.cli.profile_examples import per_example

        frame = per_example(model, names, options, text, tokenizer, lengths, traced, attn, head, fmt, progress, device)
    else:
        frame = _per_layer(model, names, options, seq_lens, batch_size, attn, head, fmt, check, device)
    if label is not None:
        frame["config_label"] = label
    if fmt != "table":
        _dump(frame, fmt)
    if output:
        say(fmt, f"wrote {_write(frame, output)}")


def _write(frame: pd.DataFrame, output: Path) -> Path:
    from fcabench.tables import write_table

    return write_table(frame, output)


def _dump(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", indent=1) + "\n")
    else:
        sys.stdout.write(frame.to_csv(index=False))


def _per_layer(model, names, options, seq_lens, batch_size, attn, head, fmt, check, device=None) -> pd.DataFrame:
    from fcabench.counting.comparison import compare

    result = compare(model, names, seq_lens, batch_size, options=options, attn=attn, head=head, device=device)
    for note in result.notes:
        warn(note)
    table = result.table
    if fmt == "table":
        console = Console() if Console().is_terminal else Console(width=170)  # pipes: the whole table
        for n, rows in table.groupby("seq_len", sort=False):
            reference = result.vanilla[n]
            if len(names) == 1:
                model_ = result.models[names[0]]
                _print_one(console, rows, model_, n, batch_size, reference, result.closed[(names[0], n)], check)
                continue
            console.print(_render_methods(rows, n, batch_size, reference))
            for name in names:
                part = rows[rows["method"] == name]
                _print_totals(
                    console, result.models[name], part, n, batch_size, reference, result.closed[(name, n)], check
                )
    return table


def _parse_lengths(text: str) -> list[int]:
    from fcabench.cli.options import positive_ints

    return positive_ints(text, "--seq-len")


def _print_one(
    console: Console, part: pd.DataFrame, model, n: int, batch_size: int, reference: int, closed: int, check: bool
):
    label, method = part["model"].iloc[0], part["method"].iloc[0]
    table = Table(title=f"{label} · {method} · n = {n} · batch {batch_size} · per sequence", title_justify="left")
    table.add_column("module")
    for _, header, _ in SHOWN:
        table.add_column(header, justify="right")
    for _, row in part.iterrows():
        table.add_row(row["module"], *(_cell(row[column], scale) for column, _, scale in SHOWN))
    table.add_section()
    table.add_row("total", "", "", *(_cell(part[column].sum(), scale) for column, _, scale in SHOWN[2:]))
    console.print(table)
    if part["config"].iloc[0]:
        console.print(f"configuration: {part['config'].iloc[0]}")
    _print_totals(console, model, part, n, batch_size, reference, closed, check)


def _render_methods(rows: pd.DataFrame, n: int, batch_size: int, reference: int) -> Table:
    """One table, a pair of columns per method (units entering attention, GMACs), totals and ratios below."""
    names = list(dict.fromkeys(rows["method"]))
    label = rows["model"].iloc[0]
    table = Table(
        title=f"{label} · n = {n} · batch {batch_size} · per sequence · GMACs (FLOPs = 2 x MACs)", title_justify="left"
    )
    table.add_column("module")
    for name in names:
        table.add_column(f"{name}\nunits in", justify="right")
        table.add_column(f"{name}\nGMACs", justify="right")
    by_method = {name: rows[rows["method"] == name].set_index("module") for name in names}
    for module in dict.fromkeys(rows["module"]):
        cells = []
        for name in names:
            row = by_method[name].loc[module] if module in by_method[name].index else None
            cells += ["", ""] if row is None else [_cell(row["tokens_in"], None), _cell(row["macs"], 1e9)]
        table.add_row(module, *cells)
    table.add_section()
    totals = {name: by_method[name]["macs"].sum() for name in names}
    table.add_row("total", *[c for name in names for c in ("", _cell(totals[name], 1e9))])
    table.add_row(f"× vanilla (n = {n})", *[c for name in names for c in ("", f"{totals[name] / reference:.3f}")])
    return table


def _cell(value, scale: float | None) -> str:
    if pd.isna(value):
        return ""
    return str(int(value)) if scale is None else f"{value / scale:.3f}"


def _print_totals(
    console: Console, model, part: pd.DataFrame, seq_len: int, batch_size: int, reference: int, closed: int, check: bool
) -> None:
    from fcabench.counting.profiler import encoder_macs

    traced = encoder_macs(part)
    verdict = "equal" if traced == closed else f"DIFFERENT by {traced - closed:,}"
    total = int(part["macs"].sum())
    name = part["method"].iloc[0]
    console.print(
        f"{name}: encoder MACs {traced:,} (FLOPs {2 * traced:,}); closed form {closed:,}: {verdict}; "
        f"whole model {total:,} MACs = {total / reference:.3f}x vanilla at n = {seq_len}"
    )
    if check:
        from fcabench.counting.check import cross_check

        checks = cross_check(model, seq_len, batch_size)
        table = Table(title=f"cross-check, {name}, n = {seq_len}: whole-model MACs per sequence", title_justify="left")
        for header in ("counter", "MACs", "difference", "note"):
            table.add_column(header, justify="right" if header in ("MACs", "difference") else "left")
        for row in checks.itertuples():
            table.add_row(row.counter, f"{row.macs:,}", f"{row.difference:+,}", row.note)
        console.print(table)
