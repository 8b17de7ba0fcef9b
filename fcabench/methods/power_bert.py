"""``power-bert``: PoWER-BERT's word-vector elimination (Goyal et al., ICML 2020).

In every layer, between the attention block (after its Add & LayerNorm) and the FFN, units are ranked
by significance (attention received, averaged over heads, summed over real queries, self-attention
left out) and only the top k_l stay, [CLS] always, in original order. The FFN and all later layers run
on those k_l units.

Decisions (METHODS.md's open points):
- Padded query rows do not add to the scores, and the padding mask is gathered with the units (the
  official code slices the first k entries, wrong for padded batches).
- An input shorter than k_l keeps all its units (as if it had been padded to the configured length);
  a configuration longer than the input is refused by ``check_input``.
- ``ratios`` give k_l = max(1, ceil(r_l n)) for an input of n real tokens, so one schedule serves every
  length; the default is the official README's 128,128,128,128,64,64,64,64,32,32,32,32 as ratios,
  stretched to the model's depth.

Soft extraction (the configuration search): ``soft_extract=True`` removes nothing; the unit of rank r
is multiplied by a learnable W_l[r] in [0, 1] (initialised to 1). :func:`soft_extract_penalty` is the
loss term lambda * sum_l l * sum(W_l) (l 1-based) and :func:`derive_retention` reads off the
non-increasing configuration k_l = max(1, int(sum W_l)) to retrain with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fcabench.errors import FcabenchError
from fcabench.methods import ops
from fcabench.methods.base import ReducingLayer
from fcabench.methods.registry import Method, register
from fcabench.models import base_model


@dataclass(frozen=True)
class RetentionConfig:
    """How many units each layer keeps: absolute counts, or ratios of the input length."""

    retention: tuple[int, ...] | None = None  # k_l per layer, counts include [CLS]; non-increasing
    ratios: tuple[float, ...] | None = None  # keep ratio per layer, in (0, 1]; used when retention is None

    def __post_init__(self):
        if self.retention is not None:
            object.__setattr__(self, "retention", tuple(int(k) for k in self.retention))
            if self.ratios is not None:
                raise ValueError("give retention or ratios, not both")
            _check_schedule(self.retention, "retention", lambda k: k >= 1)
        if self.ratios is not None:
            object.__setattr__(self, "ratios", tuple(float(r) for r in self.ratios))
            _check_schedule(self.ratios, "ratios", lambda r: 0 < r <= 1)

    def schedule(self, layers: int) -> tuple[float, ...]:
        """Ratios per layer (the default schedule when neither field is set)."""
        if self.ratios is not None:
            return self.ratios
        return tuple(2.0 ** -math.floor(3 * l / layers) for l in range(layers))

    def counts(self, n0: torch.Tensor, layer: int, layers: int) -> torch.Tensor:
        """k_l for inputs of ``n0`` real tokens (before clipping to what an example still has)."""
        if self.retention is not None:
            return torch.full_like(n0, self.retention[layer])
        ratio = self.schedule(layers)[layer]
        return torch.ceil(n0 * ratio).long().clamp_min(1)

    def validate_depth(self, layers: int, max_len: int) -> None:
        schedule = self.retention if self.retention is not None else self.ratios
        if schedule is not None and len(schedule) != layers:
            name = "retention" if self.retention is not None else "ratios"
            raise FcabenchError(f"{name} has {len(schedule)} entries; the model has {layers} layers (one per layer)")
        if self.retention is not None and self.retention[0] > max_len:
            raise FcabenchError(f"retention {self.retention[0]} exceeds max_position_embeddings ({max_len})")

    def validate_length(self, seq_len: int) -> None:
        if self.retention is not None and self.retention[0] > seq_len:
            raise FcabenchError(f"retention keeps {self.retention[0]} units but the input has only {seq_len} tokens")


def _check_schedule(values, name, ok) -> None:
    if not values:
        raise ValueError(f"{name} is empty")
    bad = [v for v in values if not ok(v)]
    if bad:
        raise ValueError(f"{name} has out-of-range value(s) {bad}")
    if any(b > a for a, b in zip(values, values[1:])):
        raise ValueError(f"{name} must be non-increasing over layers, got {list(values)}")


@dataclass(frozen=True)
class PowerBertConfig(RetentionConfig):
    soft_extract: bool = False  # learn the configuration (nothing removed) instead of extracting
    soft_length: int | None = None  # N, the padded training length W_l covers; default max_position_embeddings


def kept_counts(layer: ReducingLayer, keep: torch.Tensor) -> torch.Tensor:
    """Units each example keeps in this layer: k_l of its input length, at most what it has."""
    wanted = layer.method_config.counts(layer.input_lengths, layer.index, layer.num_layers)
    return torch.minimum(wanted, keep.sum(dim=1))


class PowerBertLayer(ReducingLayer):
    """Modifications: ``reduce`` keeps the k_l most significant units (or, soft, weights them by rank)."""

    needs_stats = True

    def reduce(self, hidden, keep, stats):
        scores = ops.significance(stats, keep)
        if self.method_config.soft_extract:
            weights = self.rank_weights.clamp(0, 1)[ops.ranks(scores, keep)]
            return hidden * weights[..., None], keep
        index, valid = ops.keep_top(scores, keep, kept_counts(self, keep))
        return ops.gather_units(hidden, index, valid)


class RetentionMethod(Method):
    """A method configured by a :class:`RetentionConfig`."""

    def validate(self, config, model_config):
        config.validate_depth(model_config.num_hidden_layers, model_config.max_position_embeddings)

    def check_input(self, config, seq_len):
        config.validate_length(seq_len)


@register
class PowerBert(RetentionMethod):
    name = "power-bert"
    config_class = PowerBertConfig
    layer_class = PowerBertLayer

    def check_input(self, config, seq_len):
        super().check_input(config, seq_len)
        if config.soft_extract and config.soft_length and seq_len > config.soft_length:
            raise FcabenchError(f"soft_length {config.soft_length} is shorter than the input ({seq_len} tokens)")

    def patch(self, bert, config):
        super().patch(bert, config)
        if config.soft_extract:
            length = config.soft_length or bert.config.max_position_embeddings
            for layer in bert.encoder.layer:
                layer.rank_weights = torch.nn.Parameter(torch.ones(length, device=bert.device))


def soft_extract_penalty(model, lam: float) -> torch.Tensor:
    """lambda * sum_l l * sum(W_l): the L1 term that pushes the soft retention weights down."""
    layers = base_model(model).encoder.layer
    return lam * sum((l + 1) * layer.rank_weights.clamp(0, 1).sum() for l, layer in enumerate(layers))


def derive_retention(model) -> tuple[int, ...]:
    """The hard configuration a soft-extract run learned: k_l = max(1, int(sum W_l)), non-increasing."""
    counts, previous = [], None
    for layer in base_model(model).encoder.layer:
        k = max(1, int(layer.rank_weights.detach().clamp(0, 1).sum()))
        previous = k if previous is None else min(previous, k)
        counts.append(previous)
    return tuple(counts)
