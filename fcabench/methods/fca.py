"""``fca``: fine- and coarse-granularity hybrid self-attention (Zhao et al., ACL 2022).

PoWER-BERT's scoring and placement (between attention and FFN, every layer, [CLS] always kept) choose
k_l *fine* units; the units not kept are not thrown away but pooled, in position order, into k
contiguous chunks, each becoming one *coarse* unit appended after the fine ones. Clusters are ordinary
units afterwards: queries, keys and values, through the FFN, re-scored and possibly re-pooled.

Decisions (docs/methods.md, "FCA"), each recorded here:
- Off-by-one: the official code takes fine = ranks [0, k_l - 1) and tail = ranks [k_l, N), silently
  dropping rank k_l - 1. By default fine = the top k_l and tail = all the rest, so nothing disappears;
  ``official_off_by_one=True`` drops rank k_l - 1 as the code does (k_l - 1 fine units, [CLS] at least),
  so both of the official code's five-cluster variants (FLAG 5 and FLAG 6) can be run.
- Cluster scaling: the official ``mean(w_j x_j)`` with weights summing to one over the *whole* tail
  shrinks a cluster's norm by about 1/T. ``aggregation="weighted"`` (default) is the weighted mean per
  chunk, sum(w x) / sum(w), with w the softmax of the tail's scores; ``"mean"`` is the plain mean.
  Both cut the T tail units into g = min(k, T) chunks (unit r goes to chunk floor(r g / T)), so no chunk
  is empty and every cluster's mask bit is 1; with fewer than k tail units there are fewer clusters.
- ``aggregation="official"`` is the official arithmetic exactly (:func:`~fcabench.methods.ops.pool_official`):
  the position-ordered tail is zero-padded by k - (T mod k) units (k when T is a multiple of k), cut into
  k equal chunks of c = floor(T / k) + 1, and each cluster is sum(w x) over its chunk divided by c. There
  are always k clusters; a chunk of padding alone gives an all-zero cluster whose mask bit is 1, because
  the official code attends to and through every cluster it appends (and so computes on it).
- ``clusters=0`` is plain dropping (PoWER-BERT); ``clusters=1`` one weighted summary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from fcabench.flops.closed_form import Shape, standard_layer_macs
from fcabench.methods import ops
from fcabench.methods.power_bert import PowerBertLayer, RetentionConfig, RetentionMethod, keeps_everything, kept_counts
from fcabench.methods.registry import register


@dataclass(frozen=True)
class FCAConfig(RetentionConfig):
    clusters: int = 5  # k coarse units per layer, as in the official code (k = 1 and 0 are its variants)
    aggregation: Literal["weighted", "mean", "official"] = "weighted"  # how a chunk becomes one vector
    official_off_by_one: bool = False  # drop rank k_l - 1 as the official code does (neither fine nor pooled)

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
        counts = kept_counts(self, keep, state)
        if config.aggregation != "official" and not config.official_off_by_one and keeps_everything(counts, keep):
            return hidden, keep  # no tail to pool (the official arithmetic appends its k clusters even then)
        index, valid = ops.keep_top(scores, keep, counts)
        if config.official_off_by_one:  # fine = ranks [0, k_l - 1); rank k_l - 1 is left out of the tail too
            fine, fine_keep = ops.gather_units(hidden, *ops.keep_top(scores, keep, fine_count(counts, True)))
        else:
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
        if config.aggregation == "official":
            pooled, pooled_keep = ops.pool_official(tail, tail_valid, weights, config.clusters)
        else:
            pooled, pooled_keep = ops.pool_chunks(tail, tail_valid, weights, config.clusters)
        return torch.cat([fine, pooled], dim=1), torch.cat([fine_keep, pooled_keep], dim=1)


def fine_count(kept, off_by_one: bool):
    """Fine units of a layer that selects ``kept`` (k_l, or what an example has): k_l, or k_l - 1 ([CLS] at least)."""
    if not off_by_one:
        return kept
    return (kept - 1).clamp_min(1) if isinstance(kept, torch.Tensor) else max(1, kept - 1)


@register
class FCA(RetentionMethod):
    name = "fca"
    config_class = FCAConfig
    layer_class = FCALayer

    def example_config(self, num_layers):
        return dataclasses.replace(super().example_config(num_layers), clusters=2)

    def layer_macs(self, shape: Shape, config, layer, n_in, n_out, keys, n0):
        """Standard layer plus pooling: one g x T x d batched matmul (g clusters, T tail units)."""
        kept = min(int(config.counts(torch.tensor([n0]), layer, shape.layers)[0]), n_in)
        macs = standard_layer_macs(shape, n_in, n_out, keys)
        if config.clusters:
            clusters = n_out - fine_count(kept, config.official_off_by_one)
            macs["macs_method"] = clusters * (n_in - kept) * shape.hidden
        return macs
