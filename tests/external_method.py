"""A token-reduction method defined outside the fcabench package, as a user's own module would define it.

``keep-first`` keeps, in every layer, the first ceil(f x n) of each example's n units (at least one).
Nothing in fcabench names it: it registers itself on import, or is reached as
``tests.external_method:KeepFirst`` (``--method tests.external_method:KeepFirst`` on the command line).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fcabench import methods
from fcabench.methods import ops
from fcabench.methods.base import ReducingLayer


@dataclass(frozen=True)
class KeepFirstConfig:
    fraction: float = 0.5  # share of each example's units every layer keeps, from the front

    def __post_init__(self):
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")


class KeepFirstLayer(ReducingLayer):
    """Modifications: ``reduce`` keeps the first ceil(f n) units of each example."""

    def reduce(self, hidden, keep, stats, state):
        counts = torch.ceil(keep.sum(dim=1) * self.method_config.fraction).long().clamp_min(1)
        width = int(counts.max())
        index = torch.arange(width, device=hidden.device).expand(hidden.shape[0], -1)
        return ops.gather_units(hidden, index, index < counts[:, None])


@methods.register
class KeepFirst(methods.Method):
    name = "keep-first"
    config_class = KeepFirstConfig
    layer_class = KeepFirstLayer

    def example_config(self, num_layers):
        return KeepFirstConfig(fraction=0.7)

    def off_config(self, num_layers):
        return KeepFirstConfig(fraction=1.0)


class KeepFirstPlugin(KeepFirst):
    """Not decorated: registered only when an entry point of the group ``fcabench.methods`` names it."""

    name = "keep-first-plugin"


class NotAMethod:
    """Something a user might name by mistake."""
