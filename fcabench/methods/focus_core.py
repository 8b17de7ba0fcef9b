"""``focus-core``: fuzzy key/value pruning and token combining (Yun, Kim, Kim, Findings of EMNLP 2023).

Three pieces, switched on by the variant (the paper's ablations): ``P`` plain key/value pruning, ``PF``
fuzzy pruning, ``C`` token combining alone, ``PFC`` fuzzy pruning and combining (default).

- **Key/value pruning** (P, PF): queries keep every token and its hidden state; from layer 2 on each head
  attends to a shrinking subset of keys and values, physically gathered after the projections (so Q K^T
  and A V cost n x t per head). Head h keeps ``floor(p t_h)`` of the t_h token keys it attended in the
  previous layer (cumulative: a key pruned from a head stays pruned in that head).
- **Fuzzy cap** (PF, PFC): the keys of a layer that may be pruned are only those with
  ``s <= a + (1 - alpha) (b - a)``, a and b the 25th and 75th percentiles of the layer's key scores over
  all heads, alpha = 0.9 the alpha-cut of the linear Unimportance membership.
- **Token combining** (C, PFC): m learnable combination tokens are appended after the embeddings (never
  pruned: always keys and values of every head). The combining module replaces layer L: each real token
  is assigned to one of the m slots by a Gumbel-softmax over ``W_q LN(c) . W_k LN(e) / sqrt(d)``,
  hardened with the straight-through trick (noise only in training; argmax at eval); each slot becomes
  ``c + W_o(mean of W_v e over its tokens)``. After it only the m slots go on, and the pooler reads their
  mean (its dense + tanh weights kept).

Decisions (docs/methods.md, "Focus on the Core"), each recorded here:
- Reading of the fuzzy rule: remove the usual count ``t - floor(p t)`` per head, lowest scores first, but
  only from the candidate set; remove fewer if the head has fewer candidates. The quantiles are taken per
  example over the scores of all (head, token key) pairs still attended; combination tokens are neither
  scored into the quantiles nor pruned. The paper's second alpha-cut (0.01, on Importance) does not change
  this candidate set, so it is not an option. ``P`` is the same rule without the cap.
- Scores: the score of key j in head h is the mean over the real query rows (combination tokens included)
  of the attention it receives in that head. Since keys are gathered *before* attention, layer l's
  probabilities (over the keys it kept) choose layer l + 1's keys; layer 1 attends to all keys.
- ``floor(p t)`` is read with p as a decimal (a 1e-9 guard, so 0.29 x 100 keeps 29, not 28).
- Heads are batched in one matmul, so a layer computes every head over the widest head's key count (the
  others are masked). That is what the profiler counts and what ``UnitRecord.keys`` records (heads x
  widest, per example); the useful per-head counts are in ``encoder.state.kv_counts`` (layer -> (batch, heads)).
- Layer numbering: ``combine_layer`` is 1-based, as the paper prints it (``combine_layer=7`` replaces
  ``encoder.layer.6``). The default is floor(11 L / 12): 11 for BERT-base, scaled for other depths.
- Combination tokens exist only in variants with C (P and PF are BERT plus pruning, read from [CLS], as the
  paper's "1x" FLOPs for them implies); ``num_combine_tokens=0`` switches combining off in any variant.
  They are initialised N(0, initializer_range) as in GroupViT, and carry no position embedding.
- The combining module's W_q, W_k, W_v, W_o start as copies of the replaced layer's query, key, value and
  attention-output weights; its two LayerNorms start as identity. The replaced layer's own modules stay
  (unused) so the checkpoint's structure is unchanged. An empty slot adds ``W_o 0`` (the bias only).
- After the combining module nothing is pruned (only combination tokens are left).
- Layers whose next layer prunes compute attention eagerly (the scores need the probabilities), so at
  inference they hold the n x t probabilities that SDPA would not; in training both keep them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from fcabench import encoders
from fcabench.encoders import base_model
from fcabench.errors import FcabenchError
from fcabench.flops.closed_form import Shape, layer_macs_from_units, standard_layer_macs
from fcabench.methods import ops
from fcabench.methods.attention import AttentionNeeds
from fcabench.methods.base import ForwardState, ReducingEncoder, ReducingLayer
from fcabench.methods.registry import Method, applied, register

VARIANTS = ("P", "PF", "C", "PFC")


@dataclass(frozen=True)
class FocusCoreConfig:
    variant: Literal["P", "PF", "C", "PFC"] = "PFC"  # the paper's ablations: Pruning, Fuzzy, Combining
    keep_ratio: float = 0.9  # p: each head keeps floor(p t) of its keys per layer, from layer 2 on
    combine_layer: int | None = None  # 1-based layer the combining module replaces; None = floor(11 L / 12)
    num_combine_tokens: int = 8  # m combination tokens (paper's Table 6 best); 0 = no combining
    quantiles: tuple[float, float] = (0.25, 0.75)  # a and b of the fuzzy memberships
    alpha_cut: float = 0.9  # Unimportance alpha-cut: candidates score <= a + (1 - alpha) (b - a)
    tau: float = 1.0  # Gumbel-softmax temperature while training

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if not 0 < self.keep_ratio <= 1:
            raise ValueError(f"keep_ratio must be in (0, 1], got {self.keep_ratio}")
        if self.combine_layer is not None and self.combine_layer < 1:
            raise ValueError(f"combine_layer is 1-based (the paper's numbering), got {self.combine_layer}")
        if self.num_combine_tokens < 0:
            raise ValueError(f"num_combine_tokens must be >= 0, got {self.num_combine_tokens}")
        object.__setattr__(self, "quantiles", tuple(float(q) for q in self.quantiles))
        a, b = self.quantiles if len(self.quantiles) == 2 else (1, 0)
        if not 0 <= a <= b <= 1:
            raise ValueError(f"quantiles must be two values 0 <= a <= b <= 1, got {self.quantiles}")
        if not 0 <= self.alpha_cut <= 1:
            raise ValueError(f"alpha_cut must be in [0, 1], got {self.alpha_cut}")
        if self.tau <= 0:
            raise ValueError(f"tau must be positive, got {self.tau}")

    @property
    def prunes(self) -> bool:
        return self.variant.startswith("P")

    @property
    def fuzzy(self) -> bool:
        return "F" in self.variant

    @property
    def tokens(self) -> int:
        """m combination tokens actually used (0 without combining)."""
        return self.num_combine_tokens if "C" in self.variant else 0

    def combine_index(self, layers: int) -> int | None:
        """0-based index of the replaced layer, or None without combining."""
        if not self.tokens:
            return None
        one_based = self.combine_layer if self.combine_layer is not None else max(1, 11 * layers // 12)
        return one_based - 1

    def pruned(self, layer: int, layers: int) -> bool:
        """Whether ``layer`` (0-based) attends to a pruned key set."""
        end = self.combine_index(layers)
        return self.prunes and layer >= 1 and (end is None or layer < end)


def kept_keys(t: torch.Tensor, p: float) -> torch.Tensor:
    """floor(p t), with p read as a decimal (see the module docstring)."""
    return torch.floor(t.double() * p + 1e-9).long()


def masked_quantile(values: torch.Tensor, mask: torch.Tensor, q: float) -> torch.Tensor:
    """Per-row q-quantile of ``values[mask]`` (rows: dim 0), linear interpolation as ``torch.quantile``."""
    flat, valid = values.flatten(1), mask.flatten(1)
    ordered = flat.masked_fill(~valid, float("inf")).sort(dim=1).values  # valid entries first
    count = valid.sum(dim=1, keepdim=True).clamp_min(1)
    position = (count - 1).to(values.dtype) * q
    low = position.floor().long()
    high = torch.minimum(low + 1, count - 1)
    below, above = ordered.gather(1, low), ordered.gather(1, high)
    return (below + (position - low) * (above - below)).squeeze(1)


@dataclass
class FocusState(ForwardState):
    # (batch, heads, width) bool: the keys each head attends in the next pruned layer. Held through the FFN,
    # where the layer's memory peaks, as one byte per key and head rather than as int64 indices and a mask.
    kv: torch.Tensor | None = None
    tokens: int = 0  # token units of the call; combination tokens follow them
    kv_counts: dict = field(
        default_factory=dict
    )  # layer -> (batch, heads) keys each head attended (combination tokens included)


class FocusLayer(ReducingLayer):
    """Modifications: attends to the key subset chosen by the previous layer, and (when the next layer
    prunes) scores its keys to choose the next layer's subset."""

    def attention_keys(self, keep, state):
        if not self.method_config.pruned(self.index, state.num_layers):
            return None
        index, valid = ops.positions(state.kv)
        # per example alone: every head computed over the widest head's keys
        state.units.keys[self.index] = valid.sum(-1).amax(-1) * valid.shape[1]
        state.kv_counts[self.index] = valid.sum(-1)
        return index, valid

    def reduce(self, hidden, keep, stats, state):
        if self.needs.stats:
            kv = state.kv if self.method_config.pruned(self.index, state.num_layers) else None
            state.kv = self.next_keys(stats, keep, kv, state.tokens)
        return hidden, keep

    def next_keys(self, stats, keep, kv, tokens: int):
        """(batch, heads, width) bool: the keys each head keeps in the next layer, from this layer's ``kv``."""
        config = self.method_config
        batch, heads = stats.received.shape[:2]
        width = keep.shape[1]
        if kv is None:
            index = torch.arange(width, device=keep.device).expand(batch, heads, -1)
            valid = keep[:, None, :].expand(-1, heads, -1)
        else:
            index, valid = ops.positions(kv)
        valid = valid & keep[:, None, :].expand(-1, heads, -1).gather(2, index)
        received = stats.received / keep.sum(dim=1)[:, None, None]  # (batch, heads, t): mean over real queries
        combination = index >= tokens
        prunable = valid & ~combination
        t = prunable.sum(dim=-1)
        kept = kept_keys(t, config.keep_ratio)
        if config.fuzzy:
            a = masked_quantile(received, prunable, config.quantiles[0])
            b = masked_quantile(received, prunable, config.quantiles[1])
            threshold = a + (1 - config.alpha_cut) * (b - a)
            candidates = prunable & (received <= threshold[:, None, None])
            kept = torch.maximum(kept, t - candidates.sum(dim=-1))
        counts = kept + (valid & combination).sum(dim=-1)
        ranked = received.masked_fill(combination, float("inf"))  # combination tokens are never pruned
        top, top_valid = ops.keep_top(ranked.flatten(0, 1), valid.flatten(0, 1), counts.flatten(), protect_first=False)
        top, top_valid = top.view(batch, heads, -1), top_valid.view(batch, heads, -1)
        chosen = torch.zeros(batch, heads, width, dtype=torch.bool, device=keep.device)
        return chosen.scatter(2, index.gather(2, top), top_valid)  # the positions are distinct: no slot written twice


class TokenCombining(nn.Module):
    """Assign every real token to one of m slots (hard Gumbel-softmax) and add each slot's projected mean."""

    def __init__(self, hidden: int, tau: float = 1.0, eps: float = 1e-12):
        super().__init__()
        self.norm_tokens, self.norm_units = nn.LayerNorm(hidden, eps=eps), nn.LayerNorm(hidden, eps=eps)
        self.query, self.key = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.value, self.out = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.tau = tau

    def assignment(self, logits: torch.Tensor) -> torch.Tensor:
        """One-hot over the slots (dim 1) per token; straight-through Gumbel-softmax while training."""
        if self.training:
            return F.gumbel_softmax(logits, tau=self.tau, hard=True, dim=1)
        return F.one_hot(logits.argmax(dim=1), logits.shape[1]).transpose(1, 2).to(logits.dtype)

    def forward(self, units: torch.Tensor, unit_keep: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """units (batch, n, d) with keep (batch, n); slots (batch, m, d) -> (batch, m, d)."""
        q = self.query(self.norm_tokens(slots))
        k = self.key(self.norm_units(units))
        logits = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(q.shape[-1])  # (batch, m, n)
        assign = self.assignment(logits) * unit_keep[:, None, :].to(logits.dtype)
        members = assign.sum(dim=-1, keepdim=True).clamp_min(1)
        mean = torch.matmul(assign, self.value(units)) / members
        return slots + self.out(mean)


class CombiningLayer(FocusLayer):
    """Modifications: the layer is replaced by its ``combine`` module; only the m slots leave it."""

    def forward(self, hidden, keep, state):
        tokens = state.tokens
        units, slots = hidden[:, :tokens], hidden[:, tokens:]
        combined = self.combine(units, keep[:, :tokens], slots)
        return combined, keep[:, tokens:]


class FocusEncoder(ReducingEncoder):
    """Modifications: ``prepare`` appends the combination tokens."""

    def prepare(self, hidden, keep, state):
        state.tokens = hidden.shape[1]
        tokens = getattr(self, "combination_tokens", None)
        if tokens is None:
            return hidden, keep
        batch = hidden.shape[0]
        hidden = torch.cat([hidden, tokens.to(hidden.dtype).expand(batch, -1, -1)], dim=1)
        keep = torch.cat([keep, keep.new_ones(batch, tokens.shape[0])], dim=1)
        return hidden, keep


class MeanPooler:
    """A pooler (dense + activation, as BERT's and RoBERTa's) that reads the mean of the (combination) units
    instead of the first one."""

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states.mean(dim=1)))


@register
class FocusCore(Method):
    name = "focus-core"
    config_class = FocusCoreConfig
    layer_class = FocusLayer
    encoder_class = FocusEncoder
    state_class = FocusState
    units_depend_on_weights = True  # the fuzzy cap keeps as many keys as score above the quantile threshold

    def validate(self, config, model_config):
        layers = model_config.num_hidden_layers
        if config.combine_layer is not None and config.tokens and config.combine_layer > layers:
            raise FcabenchError(f"combine_layer {config.combine_layer} (1-based) exceeds the model's {layers} layers")

    def attention_needs(self, config, layer, layers):
        """A layer whose next layer prunes scores its keys."""
        return AttentionNeeds(stats=config.pruned(layer + 1, layers))

    def example_config(self, num_layers):
        if num_layers < 3:  # no room for pruning before a combining layer
            return FocusCoreConfig(variant="PF", keep_ratio=0.7)
        return FocusCoreConfig(keep_ratio=0.7, combine_layer=num_layers)

    def off_config(self, num_layers):
        return FocusCoreConfig(variant="PF", keep_ratio=1.0, num_combine_tokens=0)

    def parameter_groups(self, model):
        """The combination tokens and the combining module, at the trainer's learning rate (the paper gives none
        apart)."""
        encoder = encoders.encoder(model)
        tokens = getattr(encoder, "combination_tokens", None)
        if tokens is None:
            return []
        combine = next(layer.combine for layer in encoder.layer if isinstance(layer, CombiningLayer))
        return [{"params": [tokens, *combine.parameters()]}]

    def setup(self, bert, config):
        encoder, family = encoders.encoder(bert), encoders.family_of(bert)
        end = config.combine_index(len(encoder.layer))
        if end is None:
            return
        device, hidden = bert.embeddings.word_embeddings.weight.device, bert.config.hidden_size
        tokens = torch.empty(config.tokens, hidden, device=device).normal_(0.0, bert.config.initializer_range)
        encoder.combination_tokens = nn.Parameter(tokens)
        replaced = encoder.layer[end]
        eps = getattr(bert.config, "layer_norm_eps", 1e-12)  # DistilBERT's LayerNorms use 1e-12 and do not say
        combine = TokenCombining(hidden, config.tau, eps).to(device).train(bert.training)
        sources = [replaced.get_submodule(path) for path in family.projections]
        with torch.no_grad():
            for target, source in zip([combine.query, combine.key, combine.value, combine.out], sources):
                target.weight.copy_(source.weight)
                target.bias.copy_(source.bias)
        replaced.combine = combine
        encoders.swap_class(replaced, CombiningLayer, family.layer_parts)
        if encoders.pooler(bert) is not None:
            encoders.swap_class(encoders.pooler(bert), MeanPooler)

    def layer_macs(self, shape: Shape, config, layer, n_in, n_out, keys, n0):
        """Standard layers before and after; the combining layer costs its module alone (``macs_method``)."""
        if layer != config.combine_index(shape.layers):
            return standard_layer_macs(shape, n_in, n_out, keys)
        return dict(macs_attn_proj=0, macs_attn_matmul=0, macs_ffn=0, macs_method=combining_macs(shape, n_in, n_out)[0])


def combining_macs(shape: Shape, n_in: int, m: int) -> tuple[int, int]:
    """(all, linear-only) MACs of the combining module on n_in units of which m are combination tokens.

    W_q and W_o on the m slots, W_k and W_v on the n tokens; the logits and the slot means are m x n x d each.
    """
    d, n = shape.hidden, n_in - m
    linear = 2 * m * d * d + 2 * n * d * d
    return linear + 2 * m * n * d, linear


def compare_conventions(model, seq_len: int, units=None) -> pd.DataFrame:
    """Per-layer encoder MACs under fcabench's count and the paper's (linear layers only), closed form.

    ``units`` as for ``fcabench.closed_form_table`` (default: an unpatched model on ``seq_len`` tokens).
    The paper's count leaves out Q K^T and A V, so key/value pruning (P, PF) shows no saving in it.
    """
    bert = base_model(model)
    shape = Shape.of(bert.config)
    patched = applied(model)
    focus = patched if patched is not None and isinstance(patched.method, FocusCore) else None
    combine = focus.config.combine_index(shape.layers) if focus else None
    rows = []
    for row in layer_macs_from_units(shape, seq_len, units, focus):
        n_in, n_out = row["tokens_in"], row["tokens_out"]
        if row["layer"] == combine:
            paper = combining_macs(shape, n_in, n_out)[1]
        else:
            paper = row["macs_attn_proj"] + row["macs_ffn"]
        rows.append(
            dict(
                layer=row["layer"],
                tokens_in=n_in,
                tokens_out=n_out,
                keys=row["keys"],
                macs=row["macs"],
                macs_paper=paper,
            )
        )
    return pd.DataFrame(rows)


def paper_convention_macs(model, seq_len: int, units=None) -> int:
    """Encoder MACs counting linear layers only, as the paper's FLOPs column does (P and PF give 1x)."""
    return int(compare_conventions(model, seq_len, units)["macs_paper"].sum())
