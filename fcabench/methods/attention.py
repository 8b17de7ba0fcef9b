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

With statistics, :func:`attend` runs the attention in blocks of query rows (:func:`attend_blocked`):
each block's scores, probabilities, context rows and its share of ``received``/``self_prob`` are
computed together, so at most one block of probabilities (twice the size of q) exists at a
time (about as many numbers as q, :func:`query_block`) instead of the whole (batch, heads, n, n_keys)
tensor. The matmuls are the same Q K^T and A V split
by rows (no extra multiply-adds; the traced count and the closed form are unchanged). Elementwise passes
are saved too: the scale is applied to each block of q rather than to the scores, and on the CPU the
key mask and the query-row weighting are skipped when the batch has no padding (a check that would
cost a device synchronisation on CUDA, where they always run). :func:`attend_reference` is the plain
eager computation on the whole tensor, kept for tests and comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


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
    per_head = key_keep.dim() == 3
    mask = key_keep[:, :, None, :] if per_head else key_keep[:, None, None, :]  # (batch, 1|heads, 1, n_keys)
    dropout = dropout_p if training else 0.0
    if need_stats:
        return attend_blocked(
            q,
            k,
            v,
            key_keep,
            query_keep,
            scale=scale,
            dropout_p=dropout_p,
            training=training,
            bias=bias,
            need_keys=need_keys,
        )
    if not eager:
        attn_mask = mask
        if bias is not None:  # SDPA takes an additive float mask: the bias on real keys, -inf elsewhere
            attn_mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(~mask, float("-inf")) + bias
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout, scale=scale)
        return context, (AttentionStats(None, None, k) if need_keys else None)
    return attend_reference(
        q,
        k,
        v,
        key_keep,
        query_keep,
        scale=scale,
        dropout_p=dropout_p,
        training=training,
        bias=bias,
        need_stats=need_stats,
        need_keys=need_keys,
    )


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


BLOCK_SCALE = 2.0  # a block of probabilities holds BLOCK_SCALE x as many numbers as q (two hidden states)


CPU_MAX_ROWS = (128, 64)  # on the CPU, the most query rows per block at batch 1 and at larger batches


def query_block(batch: int, heads: int, n_keys: int, n: int, head_dim: int, on_cpu: bool = False) -> int:
    """Query rows per block: the block's probabilities are BLOCK_SCALE times as large as q (2 head_dim rows
    when n_keys = n), so the scoring layer never holds more than a few hidden states' worth of
    attention, whatever the length, while each block's matmuls stay large enough to run efficiently.

    On the CPU also at most 128 rows at batch 1 and 64 above. With BERT-base's heads on 2 cores
    (``benchmarks/attention_blocks.py``, n 128 to 512), 128 rows were the fastest size at batch 1 but ran
    1.5 to 2.2x the fastest at batch 8 and 16, where 64 rows were at or near it."""
    elements = BLOCK_SCALE * batch * heads * n * head_dim
    rows = int(min(n, max(16, elements // max(1, batch * heads * n_keys))))
    return min(rows, CPU_MAX_ROWS[batch > 1]) if on_cpu else rows


def attend_blocked(
    q, k, v, key_keep, query_keep, *, scale, dropout_p, training, bias=None, need_keys=False, block: int | None = None
):
    """Context and statistics in blocks of query rows; never holds the whole probability tensor.

    Arguments as :func:`attend` (statistics always computed); ``block`` overrides :func:`query_block`.
    Differentiable (training runs through it); dropout applies to the context only, as in the reference.
    """
    batch, heads, n, _ = q.shape
    n_keys = k.shape[2]
    per_head = key_keep.dim() == 3
    dropout = dropout_p if training else 0.0
    on_cpu = q.device.type == "cpu"
    # Masks are skipped where they cannot change anything; checking costs a synchronisation on CUDA.
    key_mask = (
        None
        if on_cpu and bool(key_keep.all())
        else ~(key_keep[:, :, None, :] if per_head else key_keep[:, None, None, :])
    )
    weights = None if on_cpu and bool(query_keep.all()) else query_keep[:, None, :, None].to(q.dtype)
    block = block or query_block(batch, heads, n_keys, n, q.shape[-1], on_cpu)
    # A batched matmul copies strided k and v (projections seen as (batch, heads, n, d)) once per block
    # to fold batch and heads; contiguous ones it reads as they are (ReducingSelfAttention passes those).
    keys_t, v = k.contiguous().transpose(-1, -2), v.contiguous()
    lowest = torch.finfo(q.dtype).min
    # Without autograd the context rows are written in place (no list of blocks to concatenate), into
    # (batch, n, heads, d) memory: the caller's merge of the heads is then a view, not a copy.
    in_place = not (torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad))
    context = q.new_empty(batch, n, heads, v.shape[-1]).transpose(1, 2) if in_place else None
    contexts, diagonals, received = [], [], None
    for start in range(0, n, block):
        stop = min(n, start + block)
        scores = torch.matmul(q[:, :, start:stop] * scale, keys_t)  # (batch, heads, rows, n_keys); scale on q
        if bias is not None:
            scores = scores + bias
        if key_mask is not None:
            scores = scores.masked_fill_(key_mask, lowest) if in_place else scores.masked_fill(key_mask, lowest)
        probs = scores.softmax(dim=-1, dtype=torch.float32)  # fp32 under autocast too: the statistics rank units
        del scores
        attended = (F.dropout(probs, dropout, training) if dropout else probs).to(v.dtype)
        if in_place:
            context[:, :, start:stop] = torch.matmul(attended, v)
        else:
            contexts.append(torch.matmul(attended, v))
        part = (probs if weights is None else probs * weights[:, :, start:stop]).sum(dim=2)
        received = part if received is None else received + part
        if not per_head:
            diagonals.append(
                probs.diagonal(offset=start, dim1=-2, dim2=-1).clone()
            )  # a view would keep the block alive
        del probs, attended  # else this block's probabilities live on beside the next block's scores and probabilities
    if not in_place:
        context = contexts[0] if len(contexts) == 1 else torch.cat(contexts, dim=2)
    self_prob = None if per_head else (diagonals[0] if len(diagonals) == 1 else torch.cat(diagonals, dim=-1))
    return context, AttentionStats(received, self_prob, k if need_keys else None)
