"""Scaling a retention configuration to a MAC budget (PoWER-BERT and FCA).

The search gives the shape of the configuration (how fast the units fall over the layers); bisection on
one scale factor s, k_l(s) = max(1, min(n, round(s k_l))), kept non-increasing, finds the configuration
whose encoder MACs at length n are closest to ``ratio`` x the unpatched encoder's, counted by the closed
form on one full-length input.
"""

from __future__ import annotations

import copy
import dataclasses

import torch

from fcabench import methods
from fcabench.errors import FcabenchError
from fcabench.training.scoring import encoder_macs_at

ITERATIONS = 30  # bisection steps on s; the counts are integers, so it settles long before


def scaled(retention: tuple[int, ...], s: float, n: int) -> tuple[int, ...]:
    counts, previous = [], n
    for k in retention:
        previous = min(previous, max(1, min(n, round(s * k))))
        counts.append(previous)
    return tuple(counts)


def fit_retention(model, config, seq_len: int, ratio: float):
    """``config`` with its retention scaled so that encoder MACs ~= ``ratio`` x the unpatched model's.

    A configuration of ratios (or the default schedule) is first turned into the retention it gives at ``seq_len``.
    """
    if not hasattr(config, "retention"):
        raise FcabenchError(f"a MAC budget needs a retention configuration; {type(config).__name__} has none")
    if config.retention is None:
        n = torch.tensor([seq_len])
        layers = model.config.num_hidden_layers
        config = dataclasses.replace(
            config, ratios=None, retention=tuple(int(config.counts(n, layer, layers)[0]) for layer in range(layers))
        )
    if not 0 < ratio <= 1:
        raise FcabenchError(f"macs_ratio must be in (0, 1], got {ratio}")
    bare = copy.deepcopy(model)
    if methods.applied(bare):
        raise FcabenchError("fit_retention needs the unpatched model")
    target = ratio * encoder_macs_at(bare, seq_len)
    cache: dict = {}

    def cost(retention):
        if retention not in cache:
            candidate = copy.deepcopy(bare)
            methods.apply(candidate, dataclasses.replace(config, retention=retention))
            cache[retention] = encoder_macs_at(candidate, seq_len)
        return cache[retention]

    low, high = 0.0, seq_len / max(1, min(config.retention))
    for _ in range(ITERATIONS):
        middle = (low + high) / 2
        if cost(scaled(config.retention, middle, seq_len)) > target:
            high = middle
        else:
            low = middle
    best = min({scaled(config.retention, s, seq_len) for s in (low, high)}, key=lambda r: abs(cost(r) - target))
    return dataclasses.replace(config, retention=best), cost(best) / (target / ratio)
