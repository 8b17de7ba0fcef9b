"""Patching a Hugging Face encoder in place so that its layers really run on fewer units.

As in ToMe, ``module.__class__`` is swapped for a class that adds the method's behaviour to the library's
own (:func:`fcabench.encoders.swap_class`), so the weights and the checkpoint's structure stay as they are.
The classes below are written against the encoder adapter (:mod:`fcabench.encoders`: a layer's attention
module, its attention output and its FFN), not against one family's class names. These do the work:

- :class:`ReducingSelfAttention` (the self-attention module): takes a boolean keep mask instead of an additive
  mask, can hand back the attention statistics a method scores with
  (:class:`~fcabench.methods.attention.AttentionStats`), can attend to a per-head subset of keys and
  values, and adds a per-key logit bias when the forward state holds one.
- :class:`ReducingLayer` (a layer): attention, then the method's ``reduce`` hook, then the FFN on
  what the hook kept, so that the FFN and all later layers run on fewer units.
- :class:`ReducingEncoder` (the module holding the layers): carries the (hidden, keep) pair from layer to
  layer, owns the :class:`ForwardState` of the call, and records the units each layer processed, per example, in a
  :class:`UnitRecord`.
- :class:`RecordingEmbeddings` (the embeddings): hands the input ids to the forward state, for methods
  that read them.

A method subclasses :class:`ReducingLayer` (usually overriding ``reduce`` alone) and registers a
:class:`~fcabench.methods.method.Method`. Modifications to Hugging Face's behaviour, all of them:
the encoder returns the reduced units (``last_hidden_state`` is shorter than the input, [CLS] first),
layers that score compute attention eagerly (SDPA does not return probabilities; the MACs are the
same), and units a method appended to the input may go through the FFN as a call of their own
(:meth:`ReducingLayer.run_ffn`; the same result).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields

import torch
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions

from fcabench.methods.attention import AttentionNeeds, attend

# Fewer appended rows stay in the layer's one FFN call: a call of their own reads the FFN's weights again, and
# PFC@7's pass ran 1.09x as long with 8 such rows (128 tokens x batch 1), 1.02x with 64 (512 x 8)
# (benchmarks/ffn_split.py, docs/speed.md).
SEPARATE_FFN_ROWS = 64


@dataclass
class UnitRecord:
    """Units each layer processed in the last forward pass, per example.

    The keep masks are stored and counted only when asked, so recording adds no work to the forward
    pass (nor to a traced count of it).
    """

    masks_in: list[torch.Tensor] = field(default_factory=list)  # layer l: (batch, width) bool, units entering attention
    masks_out: list[torch.Tensor] = field(default_factory=list)  # layer l: (batch, width) bool, units entering the FFN
    keys: dict[int, torch.Tensor] = field(default_factory=dict)  # layer l: (batch,) keys summed over heads, if pruned
    heads: int = 1  # attention heads: an unpruned layer attends to heads x tokens_in keys
    appended: int = 0  # units the encoder appended to every input before the first layer (learned tokens)

    @property
    def tokens_in(self) -> torch.Tensor:
        """(batch, layers) units entering each layer's attention."""
        return torch.stack([m.sum(-1) for m in self.masks_in], dim=1).cpu()

    @property
    def tokens_out(self) -> torch.Tensor:
        """(batch, layers) units leaving each layer (entering its FFN)."""
        return torch.stack([m.sum(-1) for m in self.masks_out], dim=1).cpu()

    @property
    def keys_total(self) -> torch.Tensor:
        """(batch, layers) keys attended, summed over heads; heads x tokens_in where keys are not pruned."""
        columns = [self.keys[l].cpu() if l in self.keys else self.heads * n for l, n in enumerate(self.tokens_in.T)]
        return torch.stack(columns, dim=1)

    def per_example(self, width: int | None = None) -> list[list[tuple[int, int, int]]]:
        """(tokens_in, tokens_out, keys_total) per layer of every example. With ``width`` (the padded length),
        a layer that still runs on the input's padded layout (its mask is the input's own object) counts
        ``width`` units and the appended ones, and heads x as many keys unless it prunes keys."""
        t_in, t_out, keys = self.tokens_in.tolist(), self.tokens_out.tolist(), self.keys_total.tolist()
        if width is None:
            return [list(zip(*row)) for row in zip(t_in, t_out, keys)]
        width += self.appended
        original = self.masks_in[0]
        full_in = [m is original for m in self.masks_in]
        full_out = [m is original for m in self.masks_out]
        return [
            [
                (
                    width if fi else a,
                    width if fo else b,
                    self.heads * width if fi and l not in self.keys else k,
                )
                for l, (a, b, k, fi, fo) in enumerate(zip(a_row, b_row, k_row, full_in, full_out))
            ]
            for a_row, b_row, k_row in zip(t_in, t_out, keys)
        ]

    def example(self, i: int) -> list[tuple[int, int, int]]:
        """(tokens_in, tokens_out, keys_total) per layer for example i."""
        rows = zip(self.tokens_in[i].tolist(), self.tokens_out[i].tolist(), self.keys_total[i].tolist())
        return [tuple(r) for r in rows]


@dataclass
class ForwardState:
    """Everything the patched modules share during one forward pass; the encoder owns it.

    One object per patched model (``encoder.state``), reset by the encoder at the start of every call
    (:meth:`begin`), passed to every layer, and left as it is after the call so that it can be read.
    A method that keeps more per-call values subclasses it (``Method.state_class``) with defaulted
    fields; they are reset too.
    """

    input_ids: torch.Tensor | None = None  # (batch, n) ids of the call, for methods that read them (else None)
    keep_in: torch.Tensor | None = None  # (batch, n) bool: the input's real units, before any method's hook
    num_layers: int = 0  # depth of the encoder
    units: UnitRecord | None = None  # the units each layer processed in this call
    keep: torch.Tensor | None = None  # (batch, width) bool: the units left after the last layer
    key_bias: torch.Tensor | None = None  # (batch, n) additive attention-logit bias per key unit, or None

    def begin(self, keep: torch.Tensor, num_layers: int, heads: int) -> None:
        """Reset every field to its default for a new call (the embeddings' input ids stay)."""
        input_ids = self.input_ids
        for f in fields(self):
            setattr(self, f.name, f.default_factory() if f.default_factory is not MISSING else f.default)
        self.input_ids, self.keep_in, self.num_layers = input_ids, keep, num_layers
        self.units = UnitRecord(heads=heads)

    @property
    def lengths(self) -> torch.Tensor:
        """(batch,) real tokens of the input; schedules given as ratios read it. Counted when asked, so
        that a pass which never reads it holds nothing beside what vanilla holds."""
        return self.keep_in.sum(dim=1)


def keep_mask_from(attention_mask: torch.Tensor | None, hidden: torch.Tensor) -> torch.Tensor:
    """The (batch, n) boolean padding mask behind whatever mask Hugging Face built.

    transformers passes None (no padding), a boolean (batch, 1, q, n) mask, or an additive float one;
    a key is real if any query may attend to it.
    """
    batch, n = hidden.shape[:2]
    if attention_mask is None:
        return torch.ones((), dtype=torch.bool, device=hidden.device).expand(batch, n)  # a view of one byte
    mask = attention_mask
    if mask.dtype != torch.bool:
        mask = mask > torch.finfo(mask.dtype).min / 2
    if mask.dim() == 4:
        mask = mask[:, 0].any(dim=-2)
    return mask.expand(batch, n).bool()


class ReducingSelfAttention:
    """Self-attention on a keep mask, optionally returning attention statistics or attending to a key subset.

    Modifications: ``forward(hidden, keep, need_stats=False, kv_index=None, kv_valid=None, bias=None,
    need_keys=False) -> (context, AttentionStats | None)``. ``kv_index`` (batch, heads, t) gathers t keys
    and values per head after the projections, so Q K^T and A V shrink to n x t per head; ``kv_valid``
    (batch, heads, t) masks the slots a head does not use. ``bias`` is an additive per-key logit bias.
    The arithmetic is :func:`~fcabench.methods.attention.attend`'s: SDPA unless statistics are needed or
    the model is configured for eager attention.
    """

    def forward(
        self,
        hidden,
        keep,
        need_stats: bool = False,
        kv_index: torch.Tensor | None = None,
        kv_valid=None,
        bias: torch.Tensor | None = None,
        need_keys: bool = False,
    ):
        batch, n, _ = hidden.shape
        heads, head_dim = self.head_count(), self.attention_head_size

        def split(x, contiguous=False):
            x = x.view(batch, n, heads, head_dim).transpose(1, 2)
            return x.contiguous() if contiguous else x

        # The statistics are computed block by block, and each block's matmul would copy strided keys and
        # values; copied here once instead, the projections' own layout is freed at once.
        query, key, value = self.qkv_projections()
        q, k, v = split(query(hidden)), split(key(hidden), need_stats), split(value(hidden), need_stats)
        key_keep = keep  # (batch, n): the keys are the queries' own units
        if kv_index is not None:
            index = kv_index[..., None].expand(-1, -1, -1, head_dim)
            k, v = k.gather(2, index), v.gather(2, index)
            key_keep = keep[:, None, :].expand(-1, heads, -1).gather(2, kv_index)
            if kv_valid is not None:
                key_keep = key_keep & kv_valid
        context, stats = attend(
            q,
            k,
            v,
            key_keep,
            keep,
            scale=self.scaling,
            dropout_p=self.dropout.p,
            training=self.training,
            bias=bias,
            need_stats=need_stats,
            need_keys=need_keys,
            eager=self.config._attn_implementation == "eager",
        )
        return context.transpose(1, 2).reshape(batch, n, heads * head_dim), stats


class ReducingLayer:
    """An encoder layer with a reduction step between attention and FFN.

    Modifications: ``forward(hidden, keep, state) -> (hidden, keep)``; ``reduce`` (identity here) may
    drop, merge or add units; the FFN runs on what it returns; ``after_ffn`` (identity) sees the output.
    ``attention_keys`` may choose a per-head key subset. The family's parts (``attention_core``,
    ``attention_out``, ``ffn_out``) come from :mod:`fcabench.encoders`. Set once when the method is applied: ``index``
    (the layer's position), ``method_config`` (the method's frozen config) and ``needs`` (what ``reduce`` reads from
    attention).
    """

    index: int = 0  # position in the encoder
    method_config = None
    needs: AttentionNeeds = AttentionNeeds()

    def forward(self, hidden, keep, state: ForwardState):
        kv_index, kv_valid = self.attention_keys(keep, state) or (None, None)
        bias = state.key_bias[:, None, None, :] if state.key_bias is not None else None
        context, stats = self.attention_core()(
            hidden,
            keep,
            need_stats=self.needs.stats,
            kv_index=kv_index,
            kv_valid=kv_valid,
            bias=bias,
            need_keys=self.needs.keys,
        )
        del kv_index, kv_valid  # this layer's key subset: reduce() replaces the state's with the next layer's
        attended = self.attention_out(context, hidden)
        del context  # dead after the residual: the FFN should not run beside it
        attended, keep = self.reduce(attended, keep, stats, state)
        del stats  # may hold the key vectors (ToMe); free them before the FFN too
        return self.after_ffn(self.run_ffn(attended, state), keep, state), keep

    def run_ffn(self, hidden, state: ForwardState):
        """The FFN. Where a method appended units to the input (combination tokens), the rows beyond the
        input's count go through it as a call of their own once there are ``SEPARATE_FFN_ROWS`` of them, so
        that the intermediate, where the layer's memory peaks, is never wider than vanilla's; the FFN works
        row by row, so the result is the same. Not with autograd on: backward keeps both pieces anyway."""
        rows = hidden.flatten(0, 1)
        input_rows = state.keep_in.numel()
        if torch.is_grad_enabled() or rows.shape[0] - input_rows < SEPARATE_FFN_ROWS:
            return self.ffn_out(hidden)
        return torch.cat([self.ffn_out(rows[:input_rows]), self.ffn_out(rows[input_rows:])]).view_as(hidden)

    def attention_keys(self, keep, state: ForwardState):
        """``(kv_index, kv_valid)``, each (batch, heads, t), to attend to a key subset per head; None: all keys."""
        return None

    def reduce(self, hidden, keep, stats, state: ForwardState):
        return hidden, keep

    def after_ffn(self, output, keep, state: ForwardState):
        """Hook on the layer's output (e.g. LTP's soft mask, which the official code applies there)."""
        return output


class ReducingEncoder:
    """The layers' container, passing (hidden, keep) between ReducingLayers and records unit counts.

    Modifications: the returned ``last_hidden_state`` holds the units left after the last layer;
    ``self.state`` is the :class:`ForwardState` of the last call (``state.units``, ``state.keep``).
    Hooks: ``prepare`` before the first layer, ``before_layer`` before each, ``finish`` after the last.
    """

    state: ForwardState | None = None

    def forward(self, hidden_states, attention_mask=None, *args, **kwargs):
        keep = keep_mask_from(attention_mask, hidden_states)
        state = self.state
        state.begin(keep, len(self.layer), self.layer[0].attention_core().head_count())
        hidden_states, keep = self.prepare(hidden_states, keep, state)
        state.units.appended = keep.shape[-1] - state.keep_in.shape[-1]
        for i, layer in enumerate(self.layer):
            hidden_states, keep = self.before_layer(i, hidden_states, keep, state)
            state.units.masks_in.append(keep)
            hidden_states, keep = layer(hidden_states, keep, state)
            state.units.masks_out.append(keep)
        hidden_states, keep = self.finish(hidden_states, keep, state)
        state.keep = keep
        return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=hidden_states)

    def prepare(self, hidden, keep, state: ForwardState):
        """Hook before the first layer (e.g. to append learned tokens)."""
        return hidden, keep

    def before_layer(self, index: int, hidden, keep, state: ForwardState):
        """Hook before layer ``index`` (e.g. to set tokens aside for some layers)."""
        return hidden, keep

    def finish(self, hidden, keep, state: ForwardState):
        """Hook after the last layer (e.g. to restore dropped tokens)."""
        return hidden, keep


class RecordingEmbeddings:
    """Modifications: hands the input ids to the forward state it shares with the encoder."""

    state: ForwardState | None = None

    def forward(self, input_ids=None, *args, **kwargs):
        self.state.input_ids = input_ids
        return super().forward(input_ids, *args, **kwargs)
