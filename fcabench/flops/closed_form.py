"""The closed-form MAC count of a BERT encoder, from a config and per-layer unit counts.

For one sequence, layer l with n_in units entering attention and n_out units entering the FFN
(hidden d, FFN width f, and t_h keys and values in head h, t_h = n_in unless a method prunes keys):

    attention projections   4 n_in d^2            (Q, K, V and the output projection)
    attention matmuls       n_in (sum_h t_h) d/h  for Q K^T, and the same for A V
    FFN                     2 n_out d f
    method                  whatever the method's own modules cost (its ``layer_macs``)

With t_h = n_in = n_out = n and f = 4d this is FLOPS.md's 12 n d^2 + 2 n^2 d. The pooler adds d^2, a
c-way classifier c d. Non-matmul work is not part of this model (it is a counting convention, see
``handles``); the profiler reports it from the trace alone.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        return cls(
            config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
            config.intermediate_size, config.max_position_embeddings,
        )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


def standard_layer_macs(shape: Shape, n_in: int, n_out: int, keys: int | None = None) -> dict[str, int]:
    """MACs of one ordinary encoder layer; ``keys`` = sum over heads of keys attended (default h n_in)."""
    keys = shape.heads * n_in if keys is None else keys
    return dict(
        macs_attn_proj=4 * n_in * shape.hidden**2,
        macs_attn_matmul=2 * n_in * keys * shape.head_dim,
        macs_ffn=2 * n_out * shape.hidden * shape.ffn,
        macs_method=0,
    )


def vanilla_encoder_macs(shape: Shape, n: int) -> int:
    """Encoder MACs of an unmodified BERT on n tokens (FLOPS.md's table for BERT-base)."""
    return shape.layers * sum(standard_layer_macs(shape, n, n).values())


def outside_macs(shape: Shape, pooler: bool = True, classes: int = 0) -> dict[str, int]:
    """MACs outside the encoder: the embedding lookup is free, the pooler d^2, a classifier c d."""
    rows = {"embeddings": 0}
    if pooler:
        rows["pooler"] = shape.hidden**2
    if classes:
        rows["classifier"] = classes * shape.hidden
    return rows
