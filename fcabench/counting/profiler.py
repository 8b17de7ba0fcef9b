"""``fcabench.profile``: exact per-layer multiply-adds of a BERT forward pass, as a pandas table.

Counts come from fvcore on the real forward pass (with fcabench's handles, see ``flops.handles``); the
closed form (``flops.closed_form``) computes the same table from the config and the units each layer
processed, and ``closed_form_table`` returns it for comparison. Unit: ``macs`` are multiply-adds per
sequence, ``flops`` = 2 x ``macs``; non-matmul work (softmax, LayerNorm, GELU, adds) is counted in
``nonmatmul_ops`` and never mixed into ``macs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import torch

from fcabench import encoders, methods
from fcabench.devices import check_device
from fcabench.encoders import base_model
from fcabench.flops.closed_form import Shape, layer_macs_from_units, outside_macs
from fcabench.flops.trace import COMPONENTS, count_by_module, rows_from_counts
from fcabench.models import PRESETS, check_lengths, load_model, synthetic_batch

COLUMNS = [
    "model",
    "method",
    "seq_len",
    "batch_size",
    "module",
    "layer",
    "tokens_in",
    "tokens_out",
    *COMPONENTS,
    "macs",
    "flops",
    "nonmatmul_ops",
    "nonmatmul_ops_method",
]


def prepare_model(
    model_or_name,
    method: str | None = None,
    *,
    attn_implementation: str | None = None,
    head: str = "auto",
    device: str | None = None,
    **method_options,
) -> tuple[torch.nn.Module, str]:
    """A model ready to profile, and its label: loaded (weightless presets when nothing reads values), patched.

    ``device`` ("cpu", "cuda", "cuda:N"): where a loaded model is built, or where a given model is moved;
    None keeps a given model where it is and builds a loaded one on the CPU.
    """
    if device is not None:
        device = str(check_device(device))
    if isinstance(model_or_name, torch.nn.Module):
        model, label = model_or_name, type(model_or_name).__name__
        base_model(model)  # refuses a model of an unsupported family
        if attn_implementation:
            model.config._attn_implementation = attn_implementation
        if device is not None:
            model.to(device)
    else:
        label = str(model_or_name)
        weightless = label in PRESETS and method is None
        model = load_model(
            label,
            head=head,
            attn_implementation=attn_implementation,
            device="meta" if weightless else (device or "cpu"),
        )
    if method is not None:
        if method_options or methods.applied(model) is None:
            methods.apply(model, method, **method_options)
    return model, label


def profile(
    model_or_name="bert-base",
    seq_len: int | Sequence[int] = 128,
    batch_size: int = 1,
    *,
    method: str | None = None,
    attn_implementation: str | None = None,
    head: str = "auto",
    device: str | None = None,
    **method_options,
) -> pd.DataFrame:
    """Per-layer MACs of ``model_or_name`` (a preset, a folder or hub name, or a loaded model).

    One row per module of interest: ``embeddings``, ``encoder.layer.<i>``, ``pooler``, the task head,
    and ``other`` if anything runs outside them. ``seq_len`` may be a list; ``method`` and its options
    patch the model first (a model already patched is profiled as it is). Inputs are ``batch_size``
    copies of one random unpadded sequence, so every count is an exact per-sequence integer. ``device``:
    see :func:`prepare_model` (the counts do not depend on it).
    """
    model, label = prepare_model(
        model_or_name, method, attn_implementation=attn_implementation, head=head, device=device, **method_options
    )
    lengths = [seq_len] if isinstance(seq_len, int) else list(seq_len)
    check_lengths(model, lengths, batch_size)
    tables = [_profile_once(model, label, n, batch_size) for n in lengths]
    return pd.concat(tables, ignore_index=True)


def _profile_once(model, label: str, seq_len: int, batch_size: int) -> pd.DataFrame:
    patched = methods.applied(model)
    if patched:
        patched.method.check_input(patched.config, seq_len)
    inputs = synthetic_batch(model, seq_len, batch_size)
    rows = rows_from_counts(model, count_by_module(model, inputs), per=batch_size)
    units = methods.unit_record(model).example(0) if patched else None
    for row in rows:
        if row["layer"] is not None:
            n_in, n_out, _ = units[row["layer"]] if units else (seq_len, seq_len, None)
            row["tokens_in"], row["tokens_out"] = n_in, n_out
    return _frame(rows, label, patched.method.name if patched else "vanilla", seq_len, batch_size)


def _frame(rows: list[dict], label: str, method: str, seq_len: int, batch_size: int) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["model"], frame["method"], frame["seq_len"], frame["batch_size"] = label, method, seq_len, batch_size
    for column in COLUMNS:
        if column not in frame:
            frame[column] = pd.NA
    frame[COMPONENTS] = frame[COMPONENTS].fillna(0).astype("int64")
    frame["macs"] = frame[COMPONENTS].sum(axis=1)
    frame["flops"] = 2 * frame["macs"]
    for column in ("layer", "tokens_in", "tokens_out", "nonmatmul_ops", "nonmatmul_ops_method"):
        frame[column] = frame[column].astype("Int64")
    return frame[COLUMNS]


def closed_form_table(model, seq_len: int, units: Iterable[tuple[int, int, int]] | None = None) -> pd.DataFrame:
    """The closed form's version of ``profile``'s table (no non-matmul column).

    ``units``: (tokens_in, tokens_out, keys summed over heads) per layer for one sequence, as recorded
    by a patched model (``methods.unit_record(model).example(i)``); default: an unpatched model on
    ``seq_len`` tokens.
    """
    patched = methods.applied(model)
    rows = [dict(module="embeddings", layer=None)]
    for row in layer_macs_from_units(Shape.of(base_model(model).config), seq_len, units, patched):
        rows.append(dict(module=f"encoder.layer.{row['layer']}", **row))
    for name, macs in head_macs(model, seq_len).items():
        if name != "embeddings":
            rows.append(dict(module=name, layer=None, macs_other=macs))
    return _frame(
        rows,
        getattr(model, "name_or_path", "") or type(model).__name__,
        patched.method.name if patched else "vanilla",
        seq_len,
        1,
    )


def head_macs(model, seq_len: int) -> dict[str, int]:
    """Closed-form MACs outside the encoder of one sequence of ``seq_len`` tokens, by module: the embedding
    lookup is free; ELECTRA's embedding projection (where its embeddings are narrower than its layers) runs
    on every token; a pooler and a task head's linear layers read one vector each (unit 0)."""
    bert = base_model(model)
    rows = outside_macs(Shape.of(bert.config), pooler=encoders.pooler(bert) is not None)
    project = getattr(bert, "embeddings_project", None)
    if project is not None:
        rows["embeddings_project"] = seq_len * project.in_features * project.out_features
    heads = [] if model is bert else [(name, child) for name, child in model.named_children() if child is not bert]
    for name, child in heads:
        macs = sum(m.in_features * m.out_features for m in child.modules() if isinstance(m, torch.nn.Linear))
        if macs:
            rows[name] = macs
    return rows


def encoder_macs(table: pd.DataFrame) -> int:
    """Sum of the encoder layers' MACs in a profile table (one sequence length)."""
    return int(table.loc[table["layer"].notna(), "macs"].sum())
