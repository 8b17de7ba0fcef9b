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
    if not (need_stats or eager):
        attn_mask = mask
        if bias is not None:  # SDPA takes an additive float mask: the bias on real keys, -inf elsewhere
            attn_mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(~mask, float("-inf")) + bias
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout, scale=scale)
        return context, (AttentionStats(None, None, k) if need_keys else None)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1)
    context = torch.matmul(F.dropout(probs, dropout, training), v)
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
