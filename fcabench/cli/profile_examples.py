"""``fcabench profile --text / --lengths``: per-example counts over a text file or a length distribution.

Each example runs at its real, unpadded length; the recorded units give its MACs by the closed form
(``--traced``: each example traced instead). Rows per example, then a summary per method.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console

from fcabench import encoders
from fcabench.cli.console import warn
from fcabench.counting import comparison
from fcabench.errors import FcabenchError

EXAMPLE_CHUNK = 256  # examples per call of the per-example counter: one progress step, same integers


def _read_lines(text: Path) -> list[str]:
    from fcabench.counting import dynamic

    try:
        return dynamic.read_texts(text)
    except UnicodeDecodeError as error:
        from fcabench.tasks.files import decode_position

        raise FcabenchError(
            f"{text} is not UTF-8 text ({decode_position(text, error)}: {error.reason}); "
            f"convert it, e.g. iconv -t UTF-8"
        ) from None
    except IsADirectoryError:
        raise FcabenchError(f"{text} is a folder; --text takes a file of lines") from None


def _load_tokenizer(model: str, tokenizer: str | None):
    from fcabench.models import PRESETS

    if tokenizer is None and model in PRESETS:
        raise FcabenchError(
            f"preset {model!r} has no tokenizer: pass --tokenizer FOLDER (e.g. a bert-base-uncased "
            f"checkpoint folder) with --text"
        )
    from transformers import AutoTokenizer

    source = tokenizer or model
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError):
        raise FcabenchError(f"no tokenizer at {source!r}: pass --tokenizer FOLDER") from None


def per_example(
    model, names, options, text, tokenizer, spec, traced, attn, head, fmt, progress, device=None
) -> pd.DataFrame:
    from fcabench.counting import dynamic
    from fcabench.progress import progress_bar

    if text and spec:
        raise FcabenchError("give --text or --lengths, not both")
    texts = _read_lines(text) if text else None
    lengths = dynamic.synthetic_lengths(spec) if spec else None  # a bad spec is the only thing said
    loaded_tokenizer = _load_tokenizer(model, tokenizer) if text else None
    for note in comparison.random_weights_notes(model, names):
        warn(note)
    frames = []
    for name in names:
        prepared, _ = comparison.load(model, name, options[name], attn, head, device)
        if traced and next(prepared.parameters()).is_meta:  # the unpatched preset: a trace runs the model
            from fcabench.models import randomly_initialised

            prepared = randomly_initialised(prepared)
        limit = encoders.max_length(prepared.config)
        cut, full = 0, None
        if texts is not None:
            inputs = dynamic.inputs_from_texts(texts, loaded_tokenizer, max_length=limit)
            full = [len(ids) for ids in loaded_tokenizer(texts)["input_ids"]]
            cut = sum(length > limit for length in full)
        else:
            if max(lengths) > limit:
                raise FcabenchError(
                    f"length spec {spec!r} reaches {_spec_high(spec, lengths)} tokens, above the model's "
                    f"maximum of {limit}"
                )
            inputs = dynamic.inputs_from_lengths(prepared, lengths)
        parts = []
        with progress_bar(f"{name}: counting examples", total=len(inputs), enabled=progress) as advance:
            for start in range(0, len(inputs), EXAMPLE_CHUNK):
                chunk = inputs[start : start + EXAMPLE_CHUNK]
                part = dynamic.profile_examples(prepared, chunk, fast=not traced)
                part["example"] += start
                parts.append(part)
                advance(len(chunk))
        examples = comparison.with_config_columns(pd.concat(parts, ignore_index=True), prepared)
        examples["cut_to_max_length"] = pd.Series(
            [length > limit for length in full] if full is not None else [False] * len(examples)
        )
        frames.append(examples)
        if fmt == "table":
            _print_summary(examples, traced, cut, limit)
    return pd.concat(frames, ignore_index=True)


def _spec_high(spec: str, lengths) -> int:
    """The longest length a spec asks for: its HIGH (uniform) or LENGTH (fixed); a normal's longest draw."""
    kind, *values = spec.split(":")
    return int(float(values[1] if kind == "uniform" else values[0])) if kind in ("uniform", "fixed") else max(lengths)


def _print_summary(examples: pd.DataFrame, traced: bool, cut: int, limit: int) -> None:
    from fcabench.counting import dynamic

    summary = dynamic.summarize(examples.drop(columns=["cut_to_max_length", "config", "config_label"]))
    console = Console(width=170)
    method, config = examples["method"].iloc[0], examples["config"].iloc[0]
    cut_note = f" ({cut} cut at the model's maximum of {limit} tokens)" if cut else ""
    if config:
        console.print(f"configuration: {config}")
    console.print(
        f"{method}: {len(examples)} examples{cut_note}, "
        f"{'traced one by one' if traced else 'recorded units + closed form'}; "
        f"length convention: {summary['length_convention'].iloc[0]}; "
        f"macs = multiply-adds per sequence, flops = 2 x macs"
    )
    console.print(summary.to_string(float_format=lambda v: f"{v:,.1f}"))
