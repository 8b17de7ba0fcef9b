"""Self-attention that hands a method the statistics it scores with, not the whole probability tensor.

Every method that scores units reads a few reductions of the attention probabilities
``A[b, head, query, key]``, never the (batch, heads, n, n) tensor itself:

- ``received[b, h, j]``: the attention key j receives in head h, summed over the *real* query rows
  (padded queries do not vote; padded keys get probability 0 anyway);
- ``self_prob[b, h, i]``: the attention unit i pays to itself, ``A[b, h, i, i]`` (only when the keys
  are the queries' own units; None for per-head key subsets);
- ``keys``: the key vectors, for methods that compare units by their keys (token merging).

:func:`attend` computes the context and, when asked, these statistics. Here it is the plain eager
computation (it materialises the probabilities once, as Hugging Face's eager attention does); an
implementation that never holds the whole tensor may replace its inside as long as it returns the
same values. Without statistics it runs PyTorch's fused ``scaled_dot_product_attention``, so a layer
that scores nothing costs what Hugging Face's SDPA attention costs.

With statistics, :func:`attend` runs the attention in blocks (:func:`attend_blocked`) of query rows and of
batch x heads slices: each block's scores, probabilities, context rows and its share of
``received``/``self_prob`` are computed together, so at most one block of probabilities exists at a time
(:func:`block_shape`: on CUDA about twice as many numbers as q, on the CPU a block that fits in cache)
instead of the whole (batch, heads, n, n_keys) tensor. The matmuls are the same Q K^T and A V split
by rows and slices (no extra multiply-adds; the traced count and the closed form are unchanged). Elementwise
passes are saved too: the scale is applied to each block of q rather than to the scores, and on the CPU the
key mask and the query-row weighting are skipped when the batch has no padding (a check that would
cost a device synchronisation on CUDA, where they always run). :func:`attend_reference` is the plain
eager computation on the whole tensor, kept for tests and comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fcabench.methods.ops import compiling


@dataclass
class AttentionStats:
    """Reductions of one layer's attention probabilities (before dropout)."""

    received: torch.Tensor | None  # (batch, heads, n_keys): sum over real query rows; None if not asked
    self_prob: torch.Tensor | None  # (batch, heads, n): the diagonal; None when keys are per-head subsets
    keys: torch.Tensor | None = None  # (batch, heads, n_keys, head_dim): key vectors, only when asked


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_keep: torch.Tensor,
    query_keep: torch.Tensor,
    *,
    scale: float,
    dropout_p: float,
    training: bool,
    bias: torch.Tensor | None = None,
    need_stats: bool = False,
    need_keys: bool = False,
    eager: bool = False,
) -> tuple[torch.Tensor, AttentionStats | None]:
    """softmax(q k^T scale + bias, masked to real keys) v, and the statistics asked for.

    ``q`` (batch, heads, n, head_dim); ``k``, ``v`` (batch, heads, n_keys, head_dim). ``key_keep``:
    (batch, n_keys) bool when the keys are the queries' own units (then ``self_prob`` is returned), or
    (batch, heads, n_keys) for per-head key subsets. ``query_keep``: (batch, n) bool, the real query rows.
    ``bias``: an additive logit bias per key, broadcastable to (batch, heads, 1, n_keys).
    ``eager`` forces the explicit computation even without statistics (a model configured for eager
    attention). Returns ``(context (batch, heads, n, head_dim), stats or None)``.
    """
    options = dict(scale=scale, dropout_p=dropout_p, training=training, bias=bias, need_keys=need_keys)
    if need_stats:
        return attend_blocked(q, k, v, key_keep, query_keep, **options)
    if eager:
        return attend_reference(q, k, v, key_keep, query_keep, **options)
    per_head = key_keep.dim() == 3
    attn_mask = key_keep[:, :, None, :] if per_head else key_keep[:, None, None, :]  # (batch, 1|heads, 1, n_keys)
    if bias is not None:  # SDPA takes an additive float mask: the bias on real keys, -inf elsewhere
        attn_mask = (
            torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device).masked_fill(~attn_mask, float("-inf")) + bias
        )
    dropout = dropout_p if training else 0.0
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout, scale=scale)
    return context, (AttentionStats(None, None, k) if need_keys else None)


def attend_reference(
    q, k, v, key_keep, query_keep, *, scale, dropout_p, training, bias=None, need_stats=False, need_keys=False
):
    """The eager computation on the whole probability tensor (the definition :func:`attend` must equal)."""
    per_head = key_keep.dim() == 3
    mask = key_keep[:, :, None, :] if per_head else key_keep[:, None, None, :]
    dropout = dropout_p if training else 0.0
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1, dtype=torch.float32)  # fp32 under autocast too: the statistics rank units
    context = torch.matmul(F.dropout(probs, dropout, training).to(v.dtype), v)
    if not (need_stats or need_keys):
        return context, None
    received = self_prob = None
    if need_stats:
        received = (probs * query_keep[:, None, :, None].to(probs.dtype)).sum(dim=2)
        self_prob = None if per_head else probs.diagonal(dim1=-2, dim2=-1)
    return context, AttentionStats(received, self_prob, k if need_keys else None)


@dataclass(frozen=True)
class AttentionNeeds:
    """What a layer's ``reduce`` reads from its attention (set per layer when a method is applied)."""

    stats: bool = False  # AttentionStats.received / self_prob, for scoring units
    keys: bool = False  # AttentionStats.keys, for comparing units by their keys


BLOCK_SCALE = 2.0  # on CUDA a block of probabilities holds BLOCK_SCALE x as many numbers as q (two hidden states)
CPU_BLOCK_NUMBERS = 2**19  # on the CPU, probabilities per block: 2 MiB in fp32, which stays in cache (below)
CPU_MAX_ROWS = 128  # on the CPU, query rows per block at most: more slices of fewer rows ran faster at batch 1


def block_shape(
    batch: int, heads: int, n_keys: int, n: int, head_dim: int, on_cpu: bool = False, numbers: int | None = None
) -> tuple[int, int]:
    """(slices of batch x heads, query rows) per block of the scoring attention.

    On CUDA every slice at once, with as many rows as make the block's probabilities BLOCK_SCALE times as large
    as q (2 head_dim rows when n_keys = n): few, large kernels, and never more than a few hidden states' worth
    of attention. On the CPU a block holds about CPU_BLOCK_NUMBERS probabilities (whole rows first, then as many
    slices as fit), so that its softmax, context matmul and per-key sum find it in cache (512 KiB of L2 per core
    here). With BERT-base's heads on 2 cores (``benchmarks/attention_blocks.py``, 15 interleaved repeats) 2^19
    ran the attention at 1.04x the fused kernel's time at n = 128, batch 8 and 1.24x at n = 512, batch 8, where
    blocks over every slice (64 rows) had taken 1.7x or more; at batch 1 every slice fits at n = 128 (1.11x),
    and at n = 512 no size came within 1.45x of the fused kernel. ``numbers`` overrides CPU_BLOCK_NUMBERS."""
    slices = batch * heads
    if on_cpu:
        numbers = numbers or CPU_BLOCK_NUMBERS
        rows = min(n, CPU_MAX_ROWS, max(16, numbers // n_keys))
        return max(1, min(slices, numbers // (rows * n_keys))), rows
    elements = BLOCK_SCALE * slices * n * head_dim
    return slices, int(min(n, max(16, elements // max(1, slices * n_keys))))


def _slices(batch: int, heads: int, group: int):
    """(batch range, head range) of each group of ``group`` batch x heads slices: whole examples when a group
    covers all heads, else heads of one example."""
    if group >= heads:
        step = group // heads
        return [(slice(b, b + step), slice(None)) for b in range(0, batch, step)]
    return [(slice(b, b + 1), slice(h, h + group)) for b in range(batch) for h in range(0, heads, group)]


def attend_blocked(
    q,
    k,
    v,
    key_keep,
    query_keep,
    *,
    scale,
    dropout_p,
    training,
    bias=None,
    need_keys=False,
    rows: int | None = None,
    group: int | None = None,
):
    """Context and statistics in blocks (:func:`block_shape`); never holds the whole probability tensor.

    Arguments as :func:`attend` (statistics always computed); ``rows`` and ``group`` (batch x heads slices per
    block) override :func:`block_shape`. Differentiable (training runs through it, every slice in each block);
    dropout applies to the context only, as in the reference.
    """
    batch, heads, n, _ = q.shape
    n_keys = k.shape[2]
    per_head = key_keep.dim() == 3
    dropout = dropout_p if training else 0.0
    on_cpu = q.device.type == "cpu"
    full = (batch, heads, 1, n_keys)  # masks and bias as views of this shape, so that blocks slice them alike
    # Masks are skipped where they cannot change anything; checking costs a synchronisation on CUDA.
    key_mask = (
        None
        if on_cpu and not compiling() and bool(key_keep.all())
        else ~(key_keep[:, :, None, :] if per_head else key_keep[:, None, None, :]).expand(full)
    )
    bias = None if bias is None else bias.expand(full)
    weights = (
        None if on_cpu and not compiling() and bool(query_keep.all()) else query_keep[:, None, :, None].to(q.dtype)
    )
    picked_group, picked_rows = block_shape(batch, heads, n_keys, n, q.shape[-1], on_cpu)
    rows, group = rows or picked_rows, group or picked_group
    # A batched matmul copies strided k and v (projections seen as (batch, heads, n, d)) once per block
    # to fold batch and heads; contiguous ones it reads as they are (ReducingSelfAttention passes those).
    keys_t, v = k.contiguous().transpose(-1, -2), v.contiguous()
    lowest = torch.finfo(q.dtype).min
    # Without autograd the context rows are written in place (no list of blocks to concatenate), into
    # (batch, n, heads, d) memory: the caller's merge of the heads is then a view, not a copy. With autograd
    # each block takes every slice, so that the row blocks concatenate.
    in_place = not (torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad))
    if in_place:
        context = q.new_empty(batch, n, heads, v.shape[-1]).transpose(1, 2)
        received = q.new_zeros(batch, heads, n_keys, dtype=torch.float32)
        self_prob = None if per_head else q.new_empty(batch, heads, n, dtype=torch.float32)
    else:
        group, contexts, diagonals, received = batch * heads, [], [], None
    for b, h in _slices(batch, heads, group):
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            scores = torch.matmul(q[b, h, start:stop] * scale, keys_t[b, h])  # (.., rows, n_keys); scale on q
            if bias is not None:
                scores = scores + bias[b, h]
            if key_mask is not None:
                mask = key_mask[b, h]
                scores = scores.masked_fill_(mask, lowest) if in_place else scores.masked_fill(mask, lowest)
            probs = scores.softmax(dim=-1, dtype=torch.float32)  # fp32 under autocast too: the statistics rank units
            del scores
            attended = (F.dropout(probs, dropout, training) if dropout else probs).to(v.dtype)
            part = (probs if weights is None else probs * weights[b, :, start:stop]).sum(dim=2)
            diagonal = None if per_head else probs.diagonal(offset=start, dim1=-2, dim2=-1)
            if in_place:
                context[b, h, start:stop] = torch.matmul(attended, v[b, h])
                received[b, h] += part
                if diagonal is not None:
                    self_prob[b, h, start:stop] = diagonal
            else:
                contexts.append(torch.matmul(attended, v))
                received = part if received is None else received + part
                if diagonal is not None:
                    diagonals.append(diagonal.clone())  # a view would keep the block alive
            del probs, attended  # else this block's probabilities live on beside the next block's
    if not in_place:
        context = contexts[0] if len(contexts) == 1 else torch.cat(contexts, dim=2)
        self_prob = None if per_head else (diagonals[0] if len(diagonals) == 1 else torch.cat(diagonals, dim=-1))
    return context, AttentionStats(received, self_prob, k if need_keys else None)
