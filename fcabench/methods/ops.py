"""Tensor operations every method shares: scoring units, keeping the top ones, gathering, pooling.

Conventions: ``keep`` is a (batch, n) boolean mask of real units; unit 0 is [CLS]; kept units stay in
their original order; a padded batch gives each example the result it would get alone.

Widths: eagerly, a gathered tensor is as wide as the widest example needs (read off the data: units are removed
for real). Under ``torch.compile`` reading a count off the data breaks the graph, so the functions that take a
``width`` use it there instead: an upper bound known from the shapes and the configuration alone (the slots
beyond an example's own count stay masked), which gives the same results.
"""

from __future__ import annotations

import torch


def significance(stats, keep: torch.Tensor) -> torch.Tensor:
    """PoWER-BERT's score: attention each unit receives, averaged over heads, summed over real queries.

    The attention a unit pays to itself is left out. Padded query rows do not add to the sums (the
    official code lets them); padded keys get zero probability anyway. ``stats``: the layer's
    :class:`~fcabench.methods.attention.AttentionStats` (``received`` and ``self_prob``).
    """
    return stats.received.mean(dim=1) - stats.self_prob.mean(dim=1) * keep


def attention_received(stats, keep: torch.Tensor) -> torch.Tensor:
    """LTP's score: attention each unit receives, averaged over heads and over the real query rows."""
    return stats.received.mean(dim=1) / keep.sum(dim=1, keepdim=True).clamp_min(1)


def compiling() -> bool:
    """Whether torch.compile or torch.export is tracing this call (then widths come from shapes, not data)."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting()


def gathered_width(counted, bound: int | None) -> int:
    """A gathered tensor's width: ``counted()`` read off the data, or under torch.compile the static ``bound``."""
    return bound if bound is not None and compiling() else int(counted())


def keep_top(
    scores: torch.Tensor, keep: torch.Tensor, counts: torch.Tensor, protect_first: bool = True, width: int | None = None
):
    """Indices of each example's ``counts[b]`` best real units, [CLS] forced, in original order.

    Returns ``(index, valid)``, both (batch, max(counts)) (compiled: (batch, ``width``)); ``valid`` is False where
    an example keeps fewer units than the widest one (those slots point at padding and stay masked).
    """
    n = scores.shape[1]
    ranked = scores.masked_fill(~keep, float("-inf"))
    if protect_first:
        ranked = ranked.clone()
        ranked[:, 0] = float("inf")
    width = gathered_width(counts.max, width)
    top = ranked.topk(width, dim=-1).indices
    valid = (torch.arange(width, device=scores.device) < counts[:, None]) & keep.gather(1, top)
    order = torch.where(valid, top, top + n).sort(dim=-1).values  # kept units first, by position
    valid = order < n
    return torch.where(valid, order, order - n), valid  # not order % n: ONNX cannot take a symbolic divisor


def positions(mask: torch.Tensor, width: int | None = None):
    """The True positions of each row of ``mask`` (..., n), as ``(index, valid)`` (..., max count) in position
    order; ``valid`` is False where a row has fewer (those slots point at other positions, all distinct)."""
    n = mask.shape[-1]
    width = gathered_width(lambda: mask.sum(dim=-1).max(), width)
    places = torch.arange(n, device=mask.device).expand_as(mask)
    order = torch.where(mask, places, places + n).sort(dim=-1).values[..., :width]
    valid = order < n
    return torch.where(valid, order, order - n), valid  # not order % n: ONNX cannot take a symbolic divisor


def rest_of(keep: torch.Tensor, index: torch.Tensor, valid: torch.Tensor):
    """The real units not selected by ``(index, valid)``, as ``(index, valid)`` in position order."""
    chosen = torch.zeros_like(keep).scatter(1, index, valid)
    return positions(keep & ~chosen, width=keep.shape[1])


def gather_units(hidden: torch.Tensor, index: torch.Tensor, valid: torch.Tensor):
    """The units at ``index`` (batch, k) and their keep mask, gathered together."""
    picked = hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))
    return picked, valid


def ranks(scores: torch.Tensor, keep: torch.Tensor, protect_first: bool = True) -> torch.Tensor:
    """Rank of every unit by score (0 = best), [CLS] first and padding last: (batch, n) long."""
    ranked = scores.masked_fill(~keep, float("-inf"))
    if protect_first:
        ranked = ranked.clone()
        ranked[:, 0] = float("inf")
    order = ranked.argsort(dim=-1, descending=True)
    return order.argsort(dim=-1)


def pool_chunks(units, valid, weights, chunks: int):
    """Pool each example's valid units into ``chunks`` contiguous groups by position.

    Unit r of an example with T valid units goes to group floor(r * g / T), g = min(chunks, T), so no
    group is empty; each group is the weighted mean sum(w x) / sum(w). Returns ``(pooled,
    pooled_valid)`` of width max g. The pooling is one batched matmul, g x T x d multiply-adds per example.
    """
    total = valid.sum(dim=1, keepdim=True)  # (batch, 1)
    groups = total.clamp(max=chunks)
    width = gathered_width(groups.max, min(chunks, units.shape[1])) if units.shape[1] else 0
    rank = valid.long().cumsum(dim=1) - 1  # position among the valid units
    group_of = torch.div(rank * groups, total.clamp_min(1), rounding_mode="floor")
    slots = torch.arange(width, device=units.device)
    assign = (group_of[:, None, :] == slots[None, :, None]) & valid[:, None, :]  # (batch, g, T)
    mass = assign * weights[:, None, :]
    pooled = torch.bmm(mass, units) / mass.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(units.dtype).tiny)
    return pooled, slots[None, :] < groups


def pool_official(units, valid, weights, chunks: int):
    """FCA's official pooling: always ``chunks`` clusters, each sum(w x) over its chunk / the padded chunk length.

    The T valid units (position order) are thought of as zero-padded by k - (T mod k) units (k when T is a
    multiple of k) and cut into k equal chunks of c = floor(T / k) + 1; unit r goes to chunk floor(r / c).
    A chunk of padding alone is an all-zero cluster. Every cluster's mask bit is 1 (see ``fca``). The zero
    padding is never built: one batched matmul, k x T x d multiply-adds per example.
    """
    total = valid.sum(dim=1, keepdim=True)  # (batch, 1)
    length = torch.div(total, chunks, rounding_mode="floor") + 1  # c, the padded chunk length
    rank = valid.long().cumsum(dim=1) - 1
    group_of = torch.div(rank, length, rounding_mode="floor")
    slots = torch.arange(chunks, device=units.device)
    assign = (group_of[:, None, :] == slots[None, :, None]) & valid[:, None, :]  # (batch, k, T)
    pooled = torch.bmm(assign * weights[:, None, :], units) / length[..., None].to(units.dtype)
    return pooled, torch.ones(units.shape[0], chunks, dtype=torch.bool, device=units.device)
