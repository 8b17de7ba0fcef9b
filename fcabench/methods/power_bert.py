"""``power-bert``: PoWER-BERT's word-vector elimination (Goyal et al., ICML 2020).

In every layer, between the attention block (after its Add & LayerNorm) and the FFN, units are ranked
by significance (attention received, averaged over heads, summed over real queries, self-attention
left out) and only the top k_l stay, [CLS] always, in original order. The FFN and all later layers run
on those k_l units.

Decisions (docs/methods.md, "PoWER-BERT"):
- Padded query rows do not add to the scores, and the padding mask is gathered with the units (the
  official code slices the first k entries, wrong for padded batches).
- An input shorter than k_l keeps all its units (as if it had been padded to the configured length);
  a configuration longer than the input is refused by ``check_input``.
- ``ratios`` give k_l = max(1, ceil(r_l n)) for an input of n real tokens, so one schedule serves every
  length; the default is the official README's 128,128,128,128,64,64,64,64,32,32,32,32 as ratios,
  stretched to the model's depth.

Training (``Method.stages``): fine-tune plain BERT, search the configuration, retrain with it.
Soft extraction (the search): ``soft_extract=True`` removes nothing; the unit of rank r is multiplied by
a learnable W_l[r] (initialised to 1). The loss gains lambda * sum_l l * sum(W_l) (l 1-based,
:func:`soft_extract_penalty`), W is its own optimizer group with learning rate ``soft_lr``, and after
every optimizer step W is projected back onto [0, 1] (as the official code's weight constraint does; a
clamp inside the forward pass would stop the gradient of a weight once it left the range).
:func:`derive_retention` reads off the non-increasing configuration k_l = max(1, int(sum W_l)) to
retrain with. Defaults of lambda and the learning rate are the medians of the official README's nine
GLUE settings (lambda 1e-4 to 7e-3, learning rate 1e-4 to 3e-3).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from fcabench import encoders
from fcabench.errors import FcabenchError
from fcabench.methods import ops
from fcabench.methods.attention import AttentionNeeds
from fcabench.methods.base import ReducingLayer
from fcabench.methods.method import DERIVED, Stage, method_config
from fcabench.methods.registry import Method, register


@dataclass(frozen=True)
class RetentionConfig:
    """How many units each layer keeps: absolute counts, or ratios of the input length."""

    retention: tuple[int, ...] | None = None  # k_l per layer, counts include [CLS]; non-increasing
    ratios: tuple[float, ...] | None = None  # keep ratio per layer, in (0, 1]; used when retention is None
    # search stage: N, the padded training length W_l covers (set it to the training length); default: the model's
    # longest input
    soft_length: int | None = None
    soft_lambda: float = 3e-4  # search stage: lambda of the soft-extract penalty (median of the README's 1e-4..7e-3)
    soft_lr: float = 5e-4  # search stage: learning rate of W (median of the README's 1e-4..3e-3)

    def __post_init__(self):
        if self.soft_length is not None and self.soft_length < 1:
            raise ValueError(f"soft_length must be >= 1, got {self.soft_length}")
        if self.soft_lambda < 0 or self.soft_lr <= 0:
            raise ValueError(f"soft_lambda must be >= 0 and soft_lr > 0, got {self.soft_lambda} and {self.soft_lr}")
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

    def bound(self, n: int, layer: int, layers: int) -> int:
        """The most units layer ``layer`` keeps of inputs padded to ``n``: from shapes alone (compiled graphs)."""
        wanted = self.retention[layer] if self.retention is not None else math.ceil(n * self.schedule(layers)[layer])
        return max(1, min(n, wanted))

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


def kept_counts(layer: ReducingLayer, keep: torch.Tensor, state) -> torch.Tensor:
    """Units each example keeps in this layer: k_l of its input length, at most what it has."""
    wanted = layer.method_config.counts(state.lengths, layer.index, state.num_layers)
    return torch.minimum(wanted, keep.sum(dim=1))


def kept_width(layer: ReducingLayer, keep: torch.Tensor, state) -> int:
    """An upper bound of :func:`kept_counts` from the shapes and the configuration (what a compiled graph gathers):
    the configuration's count for the padded input, at most the units this layer receives."""
    bound = layer.method_config.bound(state.keep_in.shape[1], layer.index, state.num_layers)
    return min(bound, keep.shape[1])


def keeps_everything(counts: torch.Tensor, keep: torch.Tensor, width: int) -> bool:
    """True when every example keeps all ``keep.shape[1]`` units (so none is padding): gathering them
    would copy the units unchanged, and a new keep mask would only add to the peak memory. Compiled, from the
    shapes alone: the bound ``width`` covers every unit (the configuration keeps all of what each example has)."""
    if ops.compiling():
        return width >= keep.shape[1]
    return bool((counts == keep.shape[1]).all())


class PowerBertLayer(ReducingLayer):
    """Modifications: ``reduce`` keeps the k_l most significant units (or, soft, weights them by rank)."""

    def reduce(self, hidden, keep, stats, state):
        scores = ops.significance(stats, keep)
        if self.method_config.soft_extract:
            if hidden.shape[1] > self.rank_weights.numel():
                raise FcabenchError(
                    f"power-bert soft extraction learns {self.rank_weights.numel()} rank weights (soft_length) but the "
                    f"input has {hidden.shape[1]} positions; set soft_length to the padded training length"
                )
            weights = self.rank_weights[ops.ranks(scores, keep)]
            return hidden * weights[..., None], keep
        counts, width = kept_counts(self, keep, state), kept_width(self, keep, state)
        if keeps_everything(counts, keep, width):
            return hidden, keep
        return ops.gather_units(hidden, *ops.keep_top(scores, keep, counts, width=width))


class RetentionMethod(Method):
    """A method configured by a :class:`RetentionConfig`; trains as PoWER-BERT does (fine-tune, search, retrain)."""

    needs = AttentionNeeds(stats=True)
    budget_knob = "ratios"  # what a MAC budget turns (fcabench.counting.budget): the per-layer keep-ratio schedule

    def training_options(self, options, seq_len):
        """The soft-extract weights cover the training length N, not the model's 512 ranks."""
        return options if options.get("soft_length") is not None else {**options, "soft_length": seq_len}

    def validate(self, config, model_config):
        config.validate_depth(model_config.num_hidden_layers, encoders.max_length(model_config))

    def check_input(self, config, seq_len):
        config.validate_length(seq_len)

    def stages(self, config):
        search = PowerBertConfig(
            soft_extract=True, soft_length=config.soft_length, soft_lambda=config.soft_lambda, soft_lr=config.soft_lr
        )
        return [Stage("fine-tune", None), Stage("search", search, derive=True), Stage("retrain", DERIVED)]

    def derive_config(self, model, target_config):
        """``target_config`` with the retention the search learned (its ratios dropped)."""
        changes = dict(retention=derive_retention(model), ratios=None)
        if isinstance(target_config, PowerBertConfig):
            changes["soft_extract"] = False
        return dataclasses.replace(target_config, **changes)

    def config_is_given(self, config):
        """A retention or a ratio schedule given by the user is trained as given (no search)."""
        return config.retention is not None or config.ratios is not None

    def example_config(self, num_layers):
        return self.config_class(ratios=tuple(1 - 0.5 * (l + 1) / num_layers for l in range(num_layers)))

    def off_config(self, num_layers):
        return self.config_class(ratios=(1.0,) * num_layers)


@register
class PowerBert(RetentionMethod):
    name = "power-bert"
    config_class = PowerBertConfig
    layer_class = PowerBertLayer

    def check_input(self, config, seq_len):
        super().check_input(config, seq_len)
        if config.soft_extract and config.soft_length and seq_len > config.soft_length:
            raise FcabenchError(f"soft_length {config.soft_length} is shorter than the input ({seq_len} tokens)")

    def setup(self, bert, config):
        if config.soft_extract:
            length = config.soft_length or encoders.max_length(bert.config)
            for layer in encoders.layers(bert):
                layer.rank_weights = torch.nn.Parameter(torch.ones(length, device=bert.device))

    def loss_term(self, model):
        return soft_extract_penalty(model) if method_config(model).soft_extract else None

    def parameter_groups(self, model):
        config = method_config(model)
        if not config.soft_extract:
            return []
        return [{"params": [layer.rank_weights for layer in encoders.layers(model)], "lr": config.soft_lr}]

    @torch.no_grad()
    def after_step(self, model):
        if method_config(model).soft_extract:
            for layer in encoders.layers(model):
                layer.rank_weights.clamp_(0, 1)


def soft_extract_penalty(model, lam: float | None = None) -> torch.Tensor:
    """lambda * sum_l l * sum(W_l): the L1 term that pushes the soft retention weights down (default: the config's)."""
    lam = method_config(model).soft_lambda if lam is None else lam
    layers = encoders.layers(model)
    return lam * sum((l + 1) * layer.rank_weights.sum() for l, layer in enumerate(layers))


def derive_retention(model) -> tuple[int, ...]:
    """The hard configuration a soft-extract run learned: k_l = max(1, int(sum W_l)), non-increasing."""
    counts, previous = [], None
    for layer in encoders.layers(model):
        k = max(1, int(layer.rank_weights.detach().clamp(0, 1).sum()))
        previous = k if previous is None else min(previous, k)
        counts.append(previous)
    return tuple(counts)
