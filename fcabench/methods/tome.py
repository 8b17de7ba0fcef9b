"""``tome``: token merging (Bolya et al., ICLR 2023, "Token Merging: Your ViT But Faster") for BERT.

In every layer, between the attention block (after its Add & LayerNorm) and the FFN, up to r units are
merged away, so the FFN and all later layers run on fewer units:

- **similarity**: the layer's keys averaged over heads (one head_dim vector per unit), cosine;
- **bipartite soft matching**: the units alternate into A (even positions) and B (odd positions); each A
  unit finds its most similar B unit; the r A units with the highest such similarity merge into their B
  partners (several may merge into one), the rest of A and all of B stay. One |A| x |B| x head_dim
  matrix product, no iteration;
- **merging**: size-weighted average x = (s_a x_a + s_b x_b) / (s_a + s_b); sizes add (every token
  starts at 1);
- **proportional attention**: later layers add log(size) of each key to the attention logits, so a merged
  unit keeps the attention mass of the tokens it stands for.

Decisions for BERT (docs/methods.md, "ToMe"):
- [CLS] (unit 0, in A) is never merged: its similarity is -inf, as ToMe does for the class token. No
  unit merges into it either (it is not in B), so the pooler reads [CLS] alone.
- [SEP] is not protected: nothing downstream reads it, and ToMe protects only the class token.
- Padding never merges and is never merged into: padded A rows and padded B columns get -inf.
- Each example merges r_b = min(r, (n_b - 1) // 2) units, n_b its real units (every mergeable A unit at
  most), so a padded batch gives each example what it gets alone; the batch is as wide as its widest
  example, padded behind.
- Survivors stay in position order (ToMe for images puts the unmerged A units first); for text this keeps
  the next layer's alternating split between neighbours, and [CLS] stays unit 0.
- Ties in similarity are broken by position (a stable sort), the same alone and in a batch.
- Cost: the similarity is one ceil(n/2) x floor(n/2) x head_dim matrix product per example in every layer
  that merges, booked in the method column (``macs_method``); averaging the keys, normalising and the
  weighted sums are non-matmul operations. A layer with r_l = 0 computes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fcabench.errors import FcabenchError
from fcabench.flops.closed_form import Shape, standard_layer_macs
from fcabench.methods import ops
from fcabench.methods.attention import AttentionNeeds
from fcabench.methods.base import ForwardState, ReducingLayer
from fcabench.methods.registry import Method, register


@dataclass(frozen=True)
class ToMeConfig:
    r: int = 8  # merges per layer: 8 of 128 tokens is the fraction of ToMe's ViT-B setting (13 of 197)
    schedule: tuple[int, ...] | None = None  # r_l per layer instead of a constant r
    proportional: bool = True  # add log(size) to later layers' attention logits (ToMe's proportional attention)

    def __post_init__(self):
        if self.r < 0:
            raise ValueError(f"r must be >= 0, got {self.r}")
        if self.schedule is not None:
            object.__setattr__(self, "schedule", tuple(int(x) for x in self.schedule))
            if not self.schedule or min(self.schedule) < 0:
                raise ValueError(f"schedule must be non-negative merge counts, got {self.schedule}")

    def merges(self, layer: int) -> int:
        """r_l of ``layer`` (0-based)."""
        return self.schedule[layer] if self.schedule is not None else self.r


@dataclass
class ToMeState(ForwardState):
    sizes: torch.Tensor | None = None  # (batch, n) input tokens each unit stands for (None: all 1)


def bipartite_merge(hidden, keep, keys, sizes, r: int):
    """Merge up to ``r`` A units per example into their most similar B units.

    ``hidden`` (batch, n, d), ``keep`` (batch, n) bool, ``keys`` (batch, n, head_dim), ``sizes`` (batch, n).
    Returns ``(hidden, keep, sizes)`` of the survivors, in position order, padded behind.
    """
    batch, n, d = hidden.shape
    if n < 2:  # [CLS] alone: no B unit to merge into
        return hidden, keep, sizes
    keys = keys * (keys * keys).sum(dim=-1, keepdim=True).clamp_min(1e-12).rsqrt()  # unit length: cosine
    similarity = torch.matmul(keys[:, ::2], keys[:, 1::2].transpose(1, 2))  # (batch, |A|, |B|)
    similarity = similarity.masked_fill(~keep[:, None, 1::2], float("-inf"))
    best, partner = similarity.max(dim=-1)  # each A unit's most similar B unit
    mergeable = keep[:, ::2].clone()
    mergeable[:, 0] = False  # [CLS]
    best = best.masked_fill(~mergeable, float("-inf"))
    wanted = ((keep.sum(dim=1) - 1) // 2).clamp(min=0, max=r)  # r_b: at most every mergeable A unit
    # The r_b best A units merge (stable sort: ties go to the earlier position); slots past r_b are idle.
    cap = min(r, max(0, (n - 1) // 2))  # the most any example merges, from the shapes (what a compiled graph takes)
    chosen = best.sort(dim=-1, descending=True, stable=True).indices[:, : ops.gathered_width(wanted.max, cap)]
    active = torch.arange(chosen.shape[1], device=hidden.device) < wanted[:, None]
    survive = keep.clone()
    survive[:, ::2] = keep[:, ::2] & ~torch.zeros_like(mergeable).scatter(1, chosen, active)
    positions = torch.arange(n, device=hidden.device).expand(batch, n)
    width = ops.gathered_width(lambda: survive.sum(dim=1).max(), n - cap)  # survivors grow with the length
    order = (
        torch.where(survive, positions, positions + n).sort(dim=-1).values[:, :width]
    )  # survivors first, by position
    valid = order < n
    index = torch.where(valid, order, order - n)  # not order % n: ONNX cannot take a symbolic divisor
    # Survivors are copied as they are; only the B units that receive change, to the size-weighted average
    # (s_b x_b + sum s_a x_a) / (s_b + sum s_a), computed on those r rows alone (read from ``hidden``, so
    # that ``out`` is written once, in place, and autograd still holds). Entry i's sums are collected at
    # the first entry with its receiver; idle entries write [CLS] (slot 0, never a receiver) back as it is.
    out = hidden.gather(1, index[..., None].expand(-1, -1, d))
    a_pos, b_pos = 2 * chosen, 2 * partner.gather(1, chosen) + 1  # (batch, r) positions
    same = (b_pos[:, :, None] == b_pos[:, None, :]) & active[:, None, :]  # (batch, r, r): same receiver
    first = same.int().argmax(dim=-1) if same.shape[-1] else b_pos  # an active entry finds itself at the latest
    weight = sizes.gather(1, a_pos) * active
    weighted = hidden.gather(1, a_pos[..., None].expand(-1, -1, d)) * weight[..., None]
    merged_in = torch.zeros_like(weighted).scatter_add(1, first[..., None].expand(-1, -1, d), weighted)
    mass_in = torch.zeros_like(weight).scatter_add(1, first, weight)
    s_b = sizes.gather(1, b_pos)
    received = s_b + mass_in.gather(1, first)
    rows = (
        hidden.gather(1, b_pos[..., None].expand(-1, -1, d)) * s_b[..., None]
        + merged_in.gather(1, first[..., None].expand(-1, -1, d))
    ) / received[..., None]
    rows = torch.where(active[..., None], rows, hidden[:, :1])
    slot = survive.long().cumsum(dim=1) - 1  # (batch, n): each survivor's place in ``out``
    receiver = torch.where(active, slot.gather(1, b_pos), 0)
    out.scatter_(1, receiver[..., None].expand(-1, -1, d), rows)
    mass = sizes.gather(1, index).scatter(1, receiver, torch.where(active, received, sizes[:, :1]))
    return out, valid, mass


class ToMeLayer(ReducingLayer):
    """Modifications: ``reduce`` merges r_l units by bipartite soft matching of the keys."""

    def reduce(self, hidden, keep, stats, state):
        config = self.method_config
        r = config.merges(self.index)
        if r == 0:
            return hidden, keep
        sizes = state.sizes if state.sizes is not None else torch.ones_like(keep, dtype=hidden.dtype)
        hidden, keep, state.sizes = bipartite_merge(hidden, keep, stats.keys.mean(dim=1), sizes, r)
        if config.proportional:
            state.key_bias = state.sizes.log()
        return hidden, keep


@register
class ToMe(Method):
    name = "tome"
    config_class = ToMeConfig
    layer_class = ToMeLayer
    budget_knob = "r"  # what a MAC budget turns (fcabench.counting.budget)
    state_class = ToMeState

    def validate(self, config, model_config):
        layers = model_config.num_hidden_layers
        if config.schedule is not None and len(config.schedule) != layers:
            raise FcabenchError(
                f"schedule has {len(config.schedule)} entries; the model has {layers} layers (one per layer)"
            )

    def attention_needs(self, config, layer, layers):
        return AttentionNeeds(keys=config.merges(layer) > 0)

    def layer_macs(self, shape: Shape, config, layer, n_in, n_out, keys, n0):
        """Standard layer plus the similarity, ceil(n/2) x floor(n/2) x head_dim, where the layer merges."""
        macs = standard_layer_macs(shape, n_in, n_out, keys)
        if config.merges(layer):
            macs["macs_method"] = ((n_in + 1) // 2) * (n_in // 2) * shape.head_dim
        return macs

    def shortfall(self, config, units):
        """At most half a layer's units (all but [CLS], in pairs) can merge: say how many did where fewer than r_l."""
        merged = [n_in - n_out for n_in, n_out in units]
        asked = [config.merges(layer) for layer in range(len(units))]
        if all(m >= a for m, a in zip(merged, asked)):
            return None
        return (
            f"asked {', '.join(map(str, asked))} merges per layer; at most half of a layer's units can merge, "
            f"so {', '.join(map(str, merged))} ran"
        )

    def example_config(self, num_layers):
        return ToMeConfig(r=2)

    def off_config(self, num_layers):
        return ToMeConfig(r=0)
