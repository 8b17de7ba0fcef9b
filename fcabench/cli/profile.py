"""``fcabench profile``: the per-layer MAC table of a BERT model, optionally patched with a method.

Method options are the fields of the method's config dataclass, given as ``--field value``
(``--retention 34,33,32 --clusters 5``); they are read from the registry, not declared here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from fcabench.errors import FcabenchError

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


def profile_command(
    ctx: typer.Context,
    model: str = typer.Option("bert-base", "--model", help="Preset (bert-base, bert-large), local folder or hub name."),
    seq_len: str = typer.Option("128", "--seq-len", "-n", help="Sequence length(s), comma-separated."),
    batch_size: int = typer.Option(1, "--batch-size", "-b", help="Sequences per traced forward pass."),
    method: str = typer.Option(None, "--method", "-m", help="Token-reduction method (see --list-methods)."),
    attn: str = typer.Option(None, "--attn", help="Attention implementation: sdpa or eager (default: the model's)."),
    head: str = typer.Option("auto", "--head", help="auto, base or sequence-classification."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the table: .csv, .json, .parquet or .md."),
    check: bool = typer.Option(False, "--check", help="Compare with the closed form and torch's FlopCounterMode."),
    text: Path = typer.Option(None, "--text", help="Per-example counts over a file of lines (real, unpadded lengths)."),
    tokenizer: str = typer.Option(None, "--tokenizer", help="Tokenizer folder for --text (default: the model's)."),
    lengths: str = typer.Option(None, "--lengths", help="Per-example counts over a length distribution, e.g. uniform:16:128:1000."),
    traced: bool = typer.Option(False, "--traced", help="With --text/--lengths: trace each example instead of the fast closed form."),
    list_methods: bool = typer.Option(False, "--list-methods", help="List methods and their options, then exit."),
) -> None:
    """Exact per-layer multiply-adds (MACs; FLOPs = 2 x MACs) of one forward pass, per sequence."""
    from fcabench import methods  # torch and transformers load here, not when the CLI starts
    from fcabench.profiler import prepare_model, profile
    from fcabench.tables import write_table

    if list_methods:
        _print_methods()
        return
    if attn not in (None, "sdpa", "eager"):
        raise FcabenchError(f"unknown attention implementation {attn!r}; choose sdpa or eager")
    options = methods.parse_options(method, _extra_options(ctx.args)) if method else _no_extra(ctx.args)
    prepared, label = prepare_model(model, method, attn_implementation=attn, head=head, **options)
    if text or lengths:
        examples = _per_example(prepared, model, text, tokenizer, lengths, traced)
        if output:
            Console().print(f"wrote {write_table(examples, output)}")
        return
    table = profile(prepared, _parse_lengths(seq_len), batch_size)
    table["model"] = label
    console = Console()
    if not console.is_terminal:  # pipes and files get the whole table, not an 80-column squeeze
        console = Console(width=170)
    for n, part in table.groupby("seq_len", sort=False):
        console.print(_render(part, label, n, batch_size))
        _print_totals(console, prepared, part, n, batch_size, check)
    if output:
        console.print(f"wrote {write_table(table, output)}")


def _per_example(model, name: str, text, tokenizer, spec, traced: bool):
    """Per-example MACs over a text file or a length distribution, with their summary."""
    from fcabench import dynamic

    if text and spec:
        raise FcabenchError("give --text or --lengths, not both")
    if text:
        if not text.is_file():
            raise FcabenchError(f"no text file at {text}")
        from transformers import AutoTokenizer

        try:
            loaded = AutoTokenizer.from_pretrained(tokenizer or name)
        except (OSError, ValueError):
            raise FcabenchError(f"no tokenizer at {tokenizer or name!r}: pass --tokenizer FOLDER") from None
        limit = model.config.max_position_embeddings
        inputs = dynamic.inputs_from_texts(dynamic.read_texts(text), loaded, max_length=limit)
    else:
        inputs = dynamic.inputs_from_lengths(model, dynamic.synthetic_lengths(spec))
    examples = dynamic.profile_examples(model, inputs, fast=not traced)
    summary = dynamic.summarize(examples)
    console = Console(width=170)
    console.print(f"{len(examples)} examples, {'traced one by one' if traced else 'recorded units + closed form'}; "
                  f"length convention: {summary['length_convention'].iloc[0]}; macs = multiply-adds per sequence, flops = 2 x macs")
    console.print(summary.to_string(float_format=lambda v: f"{v:,.1f}"))
    return examples


def _parse_lengths(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FcabenchError(f"--seq-len takes integers separated by commas, got {text!r}") from None


def _extra_options(args: list[str]) -> dict[str, str]:
    """``["--retention", "34,33", "--clusters", "5"]`` -> ``{"retention": "34,33", "clusters": "5"}``."""
    options, i = {}, 0
    while i < len(args):
        key = args[i]
        if not key.startswith("--") or i + 1 >= len(args) or args[i + 1].startswith("--"):
            raise FcabenchError(f"method options come as --name value pairs; cannot read {key!r}")
        options[key[2:].replace("-", "_")] = args[i + 1]
        i += 2
    return options


def _no_extra(args: list[str]) -> dict:
    if args:
        raise FcabenchError(f"unexpected argument(s) {' '.join(args)}: method options need --method")
    return {}


def _render(part: pd.DataFrame, label: str, seq_len: int, batch_size: int) -> Table:
    method = part["method"].iloc[0]
    table = Table(title=f"{label} · {method} · n = {seq_len} · batch {batch_size} · per sequence", title_justify="left")
    table.add_column("module")
    for _, header, _ in SHOWN:
        table.add_column(header, justify="right")
    for _, row in part.iterrows():
        table.add_row(row["module"], *(_cell(row[column], scale) for column, _, scale in SHOWN))
    table.add_section()
    table.add_row("total", "", "", *(_cell(part[column].sum(), scale) for column, _, scale in SHOWN[2:]))
    return table


def _cell(value, scale: float | None) -> str:
    if pd.isna(value):
        return ""
    return str(int(value)) if scale is None else f"{value / scale:.3f}"


def _print_totals(console: Console, model, part: pd.DataFrame, seq_len: int, batch_size: int, check: bool) -> None:
    from fcabench import methods
    from fcabench.profiler import closed_form_table, encoder_macs

    patched = methods.applied(model)
    units = methods.unit_record(model).example(0) if patched else None
    traced = encoder_macs(part)
    closed = encoder_macs(closed_form_table(model, seq_len, units))
    verdict = "equal" if traced == closed else f"DIFFERENT by {traced - closed:,}"
    console.print(
        f"encoder MACs {traced:,} (FLOPs {2 * traced:,}); closed form {closed:,}: {verdict}; "
        f"whole model {int(part['macs'].sum()):,} MACs"
    )
    if check:
        from fcabench.check import cross_check

        checks = cross_check(model, seq_len, batch_size)
        table = Table(title=f"cross-check, n = {seq_len}: whole-model MACs per sequence", title_justify="left")
        for header in ("counter", "MACs", "difference", "note"):
            table.add_column(header, justify="right" if header in ("MACs", "difference") else "left")
        for row in checks.itertuples():
            table.add_row(row.counter, f"{row.macs:,}", f"{row.difference:+,}", row.note)
        console.print(table)


def _print_methods() -> None:
    import dataclasses

    from fcabench import methods

    for name in methods.names():
        fields = dataclasses.fields(methods.get(name).config_class)
        options = ", ".join(f"--{f.name.replace('_', '-')} (default {f.default})" for f in fields) or "no options"
        typer.echo(f"{name}: {options}")
