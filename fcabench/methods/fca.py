"""``fca``: fine- and coarse-granularity hybrid self-attention (Zhao et al., ACL 2022).

PoWER-BERT's scoring and placement (between attention and FFN, every layer, [CLS] always kept) choose
k_l *fine* units; the units not kept are not thrown away but pooled, in position order, into k
contiguous chunks, each becoming one *coarse* unit appended after the fine ones. Clusters are ordinary
units afterwards: queries, keys and values, through the FFN, re-scored and possibly re-pooled.

Decisions (METHODS.md's open points), each recorded here:
- Off-by-one: the official code takes fine = ranks [0, k-1) and tail = ranks [k, N), silently dropping
  rank k-1. Here fine = the top k_l and tail = all the rest, so nothing disappears.
- Cluster scaling: the official ``mean(w_j x_j)`` with weights summing to one over the *whole* tail
  shrinks a cluster's norm by about 1/T. ``aggregation="weighted"`` (default) is the weighted mean per
  chunk, sum(w x) / sum(w), with w the softmax of the tail's scores; ``"mean"`` is the plain mean;
  ``"official"`` reproduces the code's sum(w x) / |chunk|.
- A cluster's mask bit is 1: every cluster holds at least one real unit, because
- with fewer than k tail units there are fewer clusters (one per unit), never empty ones.
- ``clusters=0`` is plain dropping (PoWER-BERT); ``clusters=1`` one weighted summary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from fcabench.flops.closed_form import Shape, standard_layer_macs
from fcabench.methods import ops
from fcabench.methods.power_bert import PowerBertLayer, RetentionConfig, RetentionMethod, kept_counts
from fcabench.methods.registry import register


@dataclass(frozen=True)
class FCAConfig(RetentionConfig):
    clusters: int = 5  # k coarse units per layer, as in the official code (k = 1 and 0 are its variants)
    aggregation: Literal["weighted", "mean", "official"] = "weighted"  # how a chunk becomes one vector

    def __post_init__(self):
        super().__post_init__()
        if self.clusters < 0:
            raise ValueError(f"clusters must be >= 0, got {self.clusters}")
        if self.aggregation not in ("weighted", "mean", "official"):
            raise ValueError(f"aggregation must be weighted, mean or official, got {self.aggregation!r}")


class FCALayer(PowerBertLayer):
    """Modifications: ``reduce`` keeps k_l fine units and appends the rest pooled into k clusters."""

    def reduce(self, hidden, keep, stats, state):
        config = self.method_config
        scores = ops.significance(stats, keep)
        index, valid = ops.keep_top(scores, keep, kept_counts(self, keep, state))
        fine, fine_keep = ops.gather_units(hidden, index, valid)
        if config.clusters == 0:
            return fine, fine_keep
        tail_index, tail_valid = ops.rest_of(keep, index, valid)
        tail, _ = ops.gather_units(hidden, tail_index, tail_valid)
        if config.aggregation == "mean":
            weights = tail_valid.to(hidden.dtype)
        else:
            tail_scores = scores.gather(1, tail_index).masked_fill(~tail_valid, torch.finfo(scores.dtype).min)
            weights = tail_scores.softmax(dim=-1)
        per_unit = config.aggregation == "official"  # the code's sum(w x) / |chunk|
        pooled, pooled_keep = ops.pool_chunks(tail, tail_valid, weights, config.clusters, per_unit)
        return torch.cat([fine, pooled], dim=1), torch.cat([fine_keep, pooled_keep], dim=1)


@register
class FCA(RetentionMethod):
    name = "fca"
    config_class = FCAConfig
    layer_class = FCALayer

    def example_config(self, num_layers):
        return dataclasses.replace(super().example_config(num_layers), clusters=2)

    def layer_macs(self, shape: Shape, config, layer, n_in, n_out, keys, n0):
        """Standard layer plus pooling: one g x T x d batched matmul (g clusters, T tail units)."""
        fine = min(int(config.counts(torch.tensor([n0]), layer, shape.layers)[0]), n_in)
        macs = standard_layer_macs(shape, n_in, n_out, keys)
        if config.clusters:
            macs["macs_method"] = (n_out - fine) * (n_in - fine) * shape.hidden
        return macs
