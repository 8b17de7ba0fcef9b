"""``ltp``: learned token pruning (Kim et al., KDD 2022), with tokens really removed.

In every layer, between the attention block (after its Add & LayerNorm) and the FFN, each unit's score
is the attention it receives, averaged over heads and over the real query rows
(``ops.attention_received``); units scoring below the layer's learnable threshold theta_l are removed,
so the number kept varies from input to input. The FFN and all later layers run on the kept units.

Modes (``mode``; ``"auto"`` = soft while ``model.training``, hard in eval):
- soft: nothing is removed; each unit is multiplied by the mask sigmoid((score - theta_l) / T), which
  passes gradients to theta_l; :func:`ltp_penalty` is the loss term lambda * sum_l mean(mask_l).
  The layer keeps ``soft_mask`` and ``would_keep`` (the units hard mode would keep) of the last call;
  the :class:`~fcabench.methods.base.UnitRecord` records what really ran (every unit).
- hard: units with score >= theta_l are gathered into a shorter padded tensor (each example its own
  count, the batch as wide as its largest count), so a padded batch gives each example what it gets
  alone and the recorded per-example counts give its exact MACs. Thresholds are then frozen, as in
  LTP's second stage; use ``mode="hard"`` to fine-tune with hard pruning.

Decisions:
- Scores are normalised: the received attention of a layer sums to 1 over its n real units, so a unit
  receiving the average attention scores 1/n; theta_l is compared with n x score (1.0 = the average), which
  makes one threshold mean the same at every length. ``normalized=False`` compares the raw score, as the
  official code does.
- Default thresholds theta_l = (l + 1) / L (l 0-based), rising to the average at the last layer. An
  untrained BERT attends almost uniformly (scores within about 5% of the average), so it prunes only in
  its last layers (about half the units at theta = 1); a trained one, whose attention is peaked, prunes
  increasingly with depth. Learn thresholds for real use.
- [CLS] is protected by default (``protect_cls=True``): the pooler and every classifier head read unit 0,
  and a pruned [CLS] is physically gone here (the official code, which only masks, does not protect it
  and still has a state to read). ``protect_cls=False`` follows the code; then unit 0 of the output is
  whatever unit survived first.
- At least one unit survives every layer (the best-scoring one if none reaches theta_l).
- Temperature T = 0.05 in normalised units: the soft mask moves from 0.12 to 0.88 within +-0.1 of theta.

Scoring adds no multiply-adds, so the closed form is the standard layer on the recorded counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from fcabench.errors import FcabenchError
from fcabench.methods import ops
from fcabench.methods.base import ReducingLayer
from fcabench.methods.registry import Method, register
from fcabench.models import base_model


@dataclass(frozen=True)
class LTPConfig:
    thresholds: tuple[float, ...] | None = None  # theta_l per layer (initial values if learned); default (l+1)/L
    normalized: bool = True  # theta compared with n x score (1.0 = average attention); False: the raw score
    temperature: float = 0.05  # T of the soft mask sigmoid((score - theta) / T), in the same units as theta
    mode: Literal["auto", "soft", "hard"] = "auto"  # auto: soft while training, hard in eval
    protect_cls: bool = True  # keep unit 0: poolers and classifiers read it (the official code does not)
    penalty_weight: float = 0.1  # lambda of ltp_penalty; a starting point, tune per task

    def __post_init__(self):
        if self.thresholds is not None:
            object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
            if not self.thresholds or any(t != t for t in self.thresholds):
                raise ValueError(f"thresholds must be numbers, got {self.thresholds}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.mode not in ("auto", "soft", "hard"):
            raise ValueError(f"mode must be auto, soft or hard, got {self.mode!r}")
        if self.penalty_weight < 0:
            raise ValueError(f"penalty_weight must be >= 0, got {self.penalty_weight}")

    def schedule(self, layers: int) -> tuple[float, ...]:
        """theta_l per layer: the configured ones, or the default rising schedule."""
        if self.thresholds is not None:
            return self.thresholds
        return tuple((l + 1) / layers for l in range(layers))


class LTPLayer(ReducingLayer):
    """Modifications: ``reduce`` removes the units scoring below ``threshold`` (or, soft, weights them)."""

    needs_stats = True
    threshold: torch.nn.Parameter  # theta_l, created when the method is applied
    soft_mask: torch.Tensor | None = None  # (batch, n) soft mask of the last soft call, 0 on padding
    soft_keep: torch.Tensor | None = None  # (batch, n) real units of that call
    would_keep: torch.Tensor | None = None  # (batch, n) units hard mode would keep in that call

    def reduce(self, hidden, keep, stats):
        config = self.method_config
        scores = ops.attention_received(stats, keep)
        if config.normalized:
            scores = scores * keep.sum(dim=1, keepdim=True)
        protected = torch.zeros_like(keep)
        if config.protect_cls:
            protected[:, 0] = True
        if config.mode == "soft" or (config.mode == "auto" and self.training):
            mask = torch.sigmoid((scores - self.threshold) / config.temperature)
            mask = torch.where(protected, torch.ones_like(mask), mask) * keep
            self.soft_mask, self.soft_keep = mask, keep
            self.would_keep = ((scores >= self.threshold) | protected) & keep
            return hidden * mask[..., None].to(hidden.dtype), keep
        above = ((scores >= self.threshold.detach()) | protected) & keep
        counts = above.sum(dim=1).clamp_min(1)  # the best unit survives if none reaches theta
        index, valid = ops.keep_top(scores, keep, counts, protect_first=config.protect_cls)
        return ops.gather_units(hidden, index, valid)


@register
class LTP(Method):
    name = "ltp"
    config_class = LTPConfig
    layer_class = LTPLayer

    def validate(self, config, model_config):
        layers = model_config.num_hidden_layers
        if config.thresholds is not None and len(config.thresholds) != layers:
            raise FcabenchError(
                f"thresholds has {len(config.thresholds)} entries; the model has {layers} layers (one per layer)"
            )

    def patch(self, bert, config):
        super().patch(bert, config)
        device = bert.embeddings.word_embeddings.weight.device
        for layer, theta in zip(bert.encoder.layer, config.schedule(len(bert.encoder.layer))):
            layer.threshold = torch.nn.Parameter(torch.tensor(theta, device=device))


def ltp_penalty(model, weight: float | None = None) -> torch.Tensor:
    """lambda * sum_l mean(soft mask_l): the loss term of the last soft forward pass.

    The mean is over each example's real units, then over the batch; ``weight`` defaults to the
    config's ``penalty_weight``.
    """
    bert = base_model(model)
    if getattr(bert, "fcabench_method", None) != "ltp":
        raise FcabenchError("ltp_penalty needs a model patched with ltp")
    layers = bert.encoder.layer
    if any(layer.soft_mask is None for layer in layers):
        raise FcabenchError("ltp_penalty: run a soft forward pass first (model.train() or mode='soft')")
    weight = bert.fcabench_config.penalty_weight if weight is None else weight
    means = [
        (layer.soft_mask.sum(dim=1) / layer.soft_keep.sum(dim=1).clamp_min(1)).mean() for layer in layers
    ]
    return weight * torch.stack(means).sum()


def thresholds(model) -> tuple[float, ...]:
    """The current (possibly learned) theta_l per layer, to build a hard config from."""
    bert = base_model(model)
    if getattr(bert, "fcabench_method", None) != "ltp":
        raise FcabenchError("thresholds needs a model patched with ltp")
    return tuple(float(layer.threshold.detach()) for layer in bert.encoder.layer)


def would_keep(model) -> torch.Tensor:
    """(batch, layers) units hard mode would keep in each layer of the last soft pass."""
    layers = base_model(model).encoder.layer
    if any(layer.would_keep is None for layer in layers):
        raise FcabenchError("would_keep: run a soft forward pass first")
    return torch.stack([layer.would_keep.sum(dim=1) for layer in layers], dim=1).cpu()
