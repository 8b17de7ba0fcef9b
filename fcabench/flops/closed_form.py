"""The closed-form MAC count of a BERT encoder, from a config and per-layer unit counts.

For one sequence, layer l with n_in units entering attention and n_out units entering the FFN
(hidden d, FFN width f, and t_h keys and values in head h, t_h = n_in unless a method prunes keys):

    attention projections   4 n_in d^2            (Q, K, V and the output projection)
    attention matmuls       n_in (sum_h t_h) d/h  for Q K^T, and the same for A V
    FFN                     2 n_out d f
    method                  whatever the method's own modules cost (its ``layer_macs``)

With t_h = n_in = n_out = n and f = 4d this is 12 n d^2 + 2 n^2 d (docs/counting.md). The pooler adds
d^2, a c-way classifier c d. Non-matmul work is not part of this model (it is a counting convention, see
``handles``); the profiler reports it from the trace alone.

:func:`layer_macs_from_units` is the one place that turns recorded units into MACs: the profiler's
closed-form table, the per-example fast path and the paper-convention comparison all call it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    """The dimensions of a BERT encoder that its cost depends on."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_len: int

    @classmethod
    def of(cls, config) -> "Shape":
        from fcabench import encoders

        return cls(
            config.hidden_size,
            config.num_hidden_layers,
            config.num_attention_heads,
            encoders.intermediate_size(config),
            encoders.max_length(config),
        )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


# Devlin et al. 2019, Table 1: the reference every flops_rel_bert_base is relative to.
BERT_BASE = Shape(hidden=768, layers=12, heads=12, ffn=3072, max_len=512)


def standard_layer_macs(shape: Shape, n_in: int, n_out: int, keys: int | None = None) -> dict[str, int]:
    """MACs of one ordinary encoder layer; ``keys`` = sum over heads of keys attended (default h n_in)."""
    keys = shape.heads * n_in if keys is None else keys
    return dict(
        macs_attn_proj=4 * n_in * shape.hidden**2,
        macs_attn_matmul=2 * n_in * keys * shape.head_dim,
        macs_ffn=2 * n_out * shape.hidden * shape.ffn,
        macs_method=0,
    )


def layer_macs_from_units(
    shape: Shape,
    seq_len: int,
    units: Iterable[tuple[int, int, int | None]] | None = None,
    patched: tuple[Any, Any] | None = None,
) -> list[dict[str, int]]:
    """One row per encoder layer: ``layer``, ``tokens_in``, ``tokens_out``, ``keys``, the MAC components
    (``macs_attn_proj``, ``macs_attn_matmul``, ``macs_ffn``, ``macs_method``) and their sum ``macs``.

    ``units``: (tokens_in, tokens_out, keys summed over heads) per layer for one sequence, as a patched
    model records them (``methods.unit_record(model).example(i)``); default: every layer on all
    ``seq_len`` tokens. ``patched``: (method, config) as ``methods.applied`` returns it; the method's
    ``layer_macs`` then prices each layer (``seq_len`` is the input's length it is given), else every
    layer is an ordinary one.
    """
    if units is None:
        units = [(seq_len, seq_len, shape.heads * seq_len)] * shape.layers
    rows = []
    for layer, (n_in, n_out, keys) in enumerate(units):
        if patched is not None:
            method, config = patched
            macs = method.layer_macs(shape, config, layer, n_in, n_out, keys, seq_len)
        else:
            macs = standard_layer_macs(shape, n_in, n_out, keys)
        rows.append(dict(layer=layer, tokens_in=n_in, tokens_out=n_out, keys=keys, **macs, macs=sum(macs.values())))
    return rows


def encoder_macs_from_units(
    shape: Shape,
    seq_len: int,
    units: Iterable[tuple[int, int, int | None]] | None = None,
    patched: tuple[Any, Any] | None = None,
) -> int:
    """Encoder MACs of one sequence: the sum of :func:`layer_macs_from_units` over layers and components."""
    return sum(row["macs"] for row in layer_macs_from_units(shape, seq_len, units, patched))


def vanilla_encoder_macs(shape: Shape, n: int) -> int:
    """Encoder MACs of an unmodified BERT on n tokens (docs/counting.md's table for BERT-base)."""
    return encoder_macs_from_units(shape, n)


def outside_macs(shape: Shape, pooler: bool = True, classes: int = 0) -> dict[str, int]:
    """MACs outside the encoder: the embedding lookup is free, the pooler d^2, a classifier c d (a task
    model's own head: :func:`fcabench.counting.profiler.head_macs`)."""
    rows = {"embeddings": 0}
    if pooler:
        rows["pooler"] = shape.hidden**2
    if classes:
        rows["classifier"] = classes * shape.hidden
    return rows
