"""``ltp``: learned token pruning (Kim et al., KDD 2022), with tokens really removed.

In every layer, between the attention block (after its Add & LayerNorm) and the FFN, each unit's score
is the attention it receives, averaged over heads and over the real query rows
(``ops.attention_received``); units scoring below the layer's learnable threshold theta_l are removed,
so the number kept varies from input to input. The FFN and all later layers run on the kept units.

Modes (``mode``; ``"auto"`` = soft while ``model.training``, hard in eval):
- soft: nothing is removed; each unit of the layer's output (after the FFN, where the official code
  applies it) is multiplied by the mask sigmoid((score - theta_l) / T), which passes gradients to theta_l;
  :func:`ltp_penalty` is the loss term lambda * sum_l mean(mask_l). The forward state (:class:`LTPState`) keeps each
  layer's soft mask and the units hard mode would keep;
  the :class:`~fcabench.methods.base.UnitRecord` records what really ran (every unit).
- hard: units with score >= theta_l are gathered into a shorter padded tensor (each example its own
  count, the batch as wide as its largest count), so a padded batch gives each example what it gets
  alone and the recorded per-example counts give its exact MACs. Thresholds are then frozen, as in
  LTP's second stage; use ``mode="hard"`` to fine-tune with hard pruning.

Decisions (docs/methods.md, "LTP"):
- Scores are normalised: the received attention of a layer sums to 1 over its n real units, so a unit
  receiving the average attention scores 1/n; theta_l is compared with n x score (1.0 = the average), which
  makes one threshold mean the same at every length. ``normalized=False`` compares the official code's
  raw score: attention received, summed over heads and real query rows, divided by heads x N, the
  input's padded length (the official code never shortens the sequence, so N is that of every layer).
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
- Training (``Method.stages``): fine-tune plain BERT, then soft thresholds (mode "soft", penalty on, the
  thresholds their own optimizer group), then hard thresholds (mode "hard", thresholds frozen at the
  learned values), as the official README runs it.
- Penalty lambda = 0.01 by default: the low end of the official README's recommended 0.01 to 0.2.
  The penalty sums one mean mask per layer, so against a small task's loss 0.1 already outweighs the
  task: on the small learnable task of fcabench's tests soft training with 0.1 keeps under 0.6x the units
  0.01 keeps but ends at over 1.5x its loss, while 0.01 trains (the loss falls) and still prunes. Raise it
  per task for more pruning.
- Threshold learning rate 1e-2: thresholds here are in normalised units (1.0 = average attention), so
  they move by O(0.01) per step, a tenth of the soft mask's width; the official code takes a separate
  threshold learning rate too (``--lr_threshold``), whose value for the paper we could not find.

Scoring adds no multiply-adds, so the closed form is the standard layer on the recorded counts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch

from fcabench import encoders
from fcabench.encoders import base_model
from fcabench.errors import FcabenchError
from fcabench.methods import ops
from fcabench.methods.attention import AttentionNeeds
from fcabench.methods.base import ForwardState, ReducingLayer
from fcabench.methods.method import DERIVED, Stage
from fcabench.methods.registry import Method, register


@dataclass(frozen=True)
class LTPConfig:
    thresholds: tuple[float, ...] | None = None  # theta_l per layer (initial values if learned); default (l+1)/L
    normalized: bool = True  # theta compared with n x score (1.0 = average attention); False: the raw score
    temperature: float = 0.05  # T of the soft mask sigmoid((score - theta) / T), in the same units as theta
    mode: Literal["auto", "soft", "hard"] = "auto"  # auto: soft while training, hard in eval
    protect_cls: bool = True  # keep unit 0: poolers and classifiers read it (the official code does not)
    penalty_weight: float = 0.01  # lambda of ltp_penalty: the README's 0.01..0.2, low end (see the module docstring)
    threshold_lr: float = 1e-2  # learning rate of the thresholds in the soft stage (normalised units)

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
        if not self.threshold_lr > 0:
            raise ValueError(f"threshold_lr must be > 0, got {self.threshold_lr}")

    def schedule(self, layers: int) -> tuple[float, ...]:
        """theta_l per layer: the configured ones, or the default rising schedule."""
        if self.thresholds is not None:
            return self.thresholds
        return tuple((l + 1) / layers for l in range(layers))


@dataclass
class LTPState(ForwardState):
    """Per-call values of the soft mode, layer index -> tensor (empty after a hard call)."""

    soft_masks: dict = field(default_factory=dict)  # (batch, n) soft mask, 0 on padding
    soft_keep: dict = field(default_factory=dict)  # (batch, n) real units of that layer
    would_keep: dict = field(default_factory=dict)  # (batch, n) units hard mode would keep


class LTPLayer(ReducingLayer):
    """Modifications: ``reduce`` removes the units scoring below ``threshold`` (or, soft, weights them)."""

    threshold: torch.nn.Parameter  # theta_l, created when the method is applied

    def reduce(self, hidden, keep, stats, state):
        config = self.method_config
        scores = stats.received.mean(dim=1)  # summed over real query rows, averaged over heads
        if not config.normalized:
            scores = scores / state.keep_in.shape[1]
        protected = torch.zeros_like(keep)
        if config.protect_cls:
            protected[:, 0] = True
        if config.mode == "soft" or (config.mode == "auto" and self.training):
            mask = torch.sigmoid((scores - self.threshold) / config.temperature)
            mask = torch.where(protected, torch.ones_like(mask), mask) * keep
            state.soft_masks[self.index], state.soft_keep[self.index] = mask, keep
            state.would_keep[self.index] = ((scores >= self.threshold) | protected) & keep
            return hidden, keep  # the mask multiplies the layer's output (after_ffn)
        above = ((scores >= self.threshold.detach()) | protected) & keep
        if bool(above.all()):  # no padding and nothing below theta: gathering would copy the units unchanged
            return hidden, keep
        counts = above.sum(dim=1).clamp_min(1)  # the best unit survives if none reaches theta
        index, valid = ops.keep_top(scores, keep, counts, protect_first=config.protect_cls)
        return ops.gather_units(hidden, index, valid)

    def after_ffn(self, output, keep, state):
        mask = state.soft_masks.get(self.index)
        return output if mask is None else output * mask[..., None].to(output.dtype)


@register
class LTP(Method):
    name = "ltp"
    config_class = LTPConfig
    layer_class = LTPLayer
    state_class = LTPState
    needs = AttentionNeeds(stats=True)
    units_depend_on_weights = True  # units scoring below a threshold are removed: how many follows the scores

    def validate(self, config, model_config):
        layers = model_config.num_hidden_layers
        if config.thresholds is not None and len(config.thresholds) != layers:
            raise FcabenchError(
                f"thresholds has {len(config.thresholds)} entries; the model has {layers} layers (one per layer)"
            )

    def setup(self, bert, config):
        device = bert.embeddings.word_embeddings.weight.device
        for layer, theta in zip(encoders.layers(bert), config.schedule(len(encoders.layers(bert)))):
            # hard mode only reads the thresholds (LTP's second stage fixes them)
            layer.threshold = torch.nn.Parameter(
                torch.tensor(theta, device=device), requires_grad=config.mode != "hard"
            )

    def stages(self, config):
        soft = dataclasses.replace(config, mode="soft")
        return [Stage("fine-tune", None), Stage("soft", soft, derive=True), Stage("hard", DERIVED)]

    def loss_term(self, model):
        """The threshold penalty after a soft forward pass; None after a hard one."""
        return ltp_penalty(model) if _state(model).soft_masks else None

    def parameter_groups(self, model):
        """The thresholds with their own learning rate; none in hard mode, which fixes them."""
        bert = base_model(model)
        if bert.fcabench_config.mode == "hard":
            return []
        return [
            {"params": [layer.threshold for layer in encoders.layers(bert)], "lr": bert.fcabench_config.threshold_lr}
        ]

    def off_config(self, num_layers):
        return LTPConfig(thresholds=(float("-inf"),) * num_layers)

    def config_is_given(self, config):
        """Hard mode asks for fixed thresholds: they are trained as given (no soft stage)."""
        return config.mode == "hard"

    def derive_config(self, model, target_config):
        """``target_config`` in hard mode with the learned thresholds."""
        return dataclasses.replace(target_config, thresholds=thresholds(model), mode="hard")


def _state(model) -> LTPState:
    bert = base_model(model)
    if getattr(bert, "fcabench_method", None) != "ltp":
        raise FcabenchError("needs a model patched with ltp")
    return encoders.encoder(bert).state


def ltp_penalty(model, weight: float | None = None) -> torch.Tensor:
    """lambda * sum_l mean(soft mask_l): the loss term of the last soft forward pass.

    The mean is over each example's real units, then over the batch; ``weight`` defaults to the
    config's ``penalty_weight``.
    """
    state = _state(model)
    if not state.soft_masks:
        raise FcabenchError("ltp_penalty: run a soft forward pass first (model.train() or mode='soft')")
    weight = base_model(model).fcabench_config.penalty_weight if weight is None else weight
    means = [
        (mask.sum(dim=1) / state.soft_keep[l].sum(dim=1).clamp_min(1)).mean() for l, mask in state.soft_masks.items()
    ]
    return weight * torch.stack(means).sum()


def thresholds(model) -> tuple[float, ...]:
    """The current (possibly learned) theta_l per layer, to build a hard config from."""
    _state(model)
    return tuple(float(layer.threshold.detach()) for layer in encoders.layers(model))


def would_keep(model) -> torch.Tensor:
    """(batch, layers) units hard mode would keep in each layer of the last soft pass."""
    state = _state(model)
    if not state.would_keep:
        raise FcabenchError("would_keep: run a soft forward pass first")
    return torch.stack([state.would_keep[l].sum(dim=1) for l in sorted(state.would_keep)], dim=1).cpu()
