"""``fca``: fine- and coarse-granularity hybrid self-attention (Zhao et al., ACL 2022).

PoWER-BERT's scoring and placement (between attention and FFN, every layer, [CLS] always kept) choose
k_l *fine* units; the units not kept are not thrown away but pooled, in position order, into k
contiguous chunks, each becoming one *coarse* unit appended after the fine ones. Clusters are ordinary
units afterwards: queries, keys and values, through the FFN, re-scored and possibly re-pooled.

Decisions (docs/methods.md, "FCA"), each recorded here:
- Off-by-one: the official code builds its five-cluster layers with ``index = k_l + 5``; they keep [CLS]
  and the top k_l - 1 other units (k_l fine units, ranks [0, k_l) with [CLS] as rank 0), skip rank k_l
  and pool ranks [k_l + 1, N), so the unit of rank k_l disappears. By default the tail is all units
  after the top k_l, so nothing disappears; ``official_off_by_one=True`` skips rank k_l as the code does.
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
- ``aggregation="official-mean"`` is the official FLAG 6 variant: the same zero-padded chunks, each
  cluster the plain mean sum(x) / c of its chunk, no softmax weights (FLAG 5 is ``"official"``).
- ``clusters=0`` is plain dropping (PoWER-BERT); ``clusters=1`` one weighted summary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from fcabench import encoders
from fcabench.errors import FcabenchError
from fcabench.flops.closed_form import Shape, standard_layer_macs
from fcabench.methods import ops
from fcabench.methods.power_bert import (
    PowerBertLayer,
    RetentionConfig,
    RetentionMethod,
    keeps_everything,
    kept_counts,
    kept_width,
)
from fcabench.methods.registry import register

AGGREGATIONS = ("weighted", "mean", "official", "official-mean")


@dataclass(frozen=True)
class FCAConfig(RetentionConfig):
    clusters: int = 5  # k coarse units per layer, as in the official code (k = 1 and 0 are its variants)
    aggregation: Literal["weighted", "mean", "official", "official-mean"] = "weighted"  # how a chunk becomes one vector
    official_off_by_one: bool = False  # skip the unit of rank k_l as the official code does (neither fine nor pooled)

    def __post_init__(self):
        super().__post_init__()
        if self.clusters < 0:
            raise ValueError(f"clusters must be >= 0, got {self.clusters}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {self.aggregation!r}")


class FCALayer(PowerBertLayer):
    """Modifications: ``reduce`` keeps k_l fine units and appends the rest pooled into k clusters."""

    def reduce(self, hidden, keep, stats, state):
        config = self.method_config
        scores = ops.significance(stats, keep)
        counts, width = kept_counts(self, keep, state), kept_width(self, keep, state)
        official = config.aggregation.startswith("official")
        if not official and not config.official_off_by_one and keeps_everything(counts, keep, width):
            return hidden, keep  # no tail to pool (the official arithmetic appends its k clusters even then)
        index, valid = ops.keep_top(scores, keep, counts, width=width)
        fine, fine_keep = ops.gather_units(hidden, index, valid)
        if config.clusters == 0:
            return fine, fine_keep
        if config.official_off_by_one:  # the unit of rank k_l is neither fine nor pooled
            index, valid = ops.keep_top(
                scores, keep, torch.minimum(counts + 1, keep.sum(dim=1)), width=min(width + 1, keep.shape[1])
            )
        tail_index, tail_valid = ops.rest_of(keep, index, valid)
        tail, _ = ops.gather_units(hidden, tail_index, tail_valid)
        if config.aggregation in ("mean", "official-mean"):
            weights = tail_valid.to(hidden.dtype)
        else:
            tail_scores = scores.gather(1, tail_index).masked_fill(~tail_valid, torch.finfo(scores.dtype).min)
            weights = tail_scores.softmax(dim=-1)
        pool = ops.pool_official if official else ops.pool_chunks
        pooled, pooled_keep = pool(tail, tail_valid, weights, config.clusters)
        return torch.cat([fine, pooled], dim=1), torch.cat([fine_keep, pooled_keep], dim=1)


def tail_length(n_in: int, kept: int, off_by_one: bool) -> int:
    """Units a layer pools: all after its ``kept`` fine ones, less the skipped rank k_l with the official off-by-one."""
    return max(0, n_in - kept - int(off_by_one))


@register
class FCA(RetentionMethod):
    name = "fca"
    config_class = FCAConfig
    layer_class = FCALayer

    def example_config(self, num_layers):
        return dataclasses.replace(super().example_config(num_layers), clusters=2)

    def validate(self, config, model_config):
        super().validate(config, model_config)
        longest = encoders.max_length(model_config)
        if config.clusters >= longest:  # more coarse units than any input has tokens: nothing means that
            raise FcabenchError(f"clusters={config.clusters}: at least the {longest} tokens the model takes; use fewer")

    def layer_macs(self, shape: Shape, config, layer, n_in, n_out, keys, n0):
        """Standard layer plus pooling: one g x T x d batched matmul (g clusters, T tail units)."""
        kept = min(int(config.counts(torch.tensor([n0]), layer, shape.layers)[0]), n_in)
        macs = standard_layer_macs(shape, n_in, n_out, keys)
        if config.clusters:
            macs["macs_method"] = (n_out - kept) * tail_length(n_in, kept, config.official_off_by_one) * shape.hidden
        return macs
