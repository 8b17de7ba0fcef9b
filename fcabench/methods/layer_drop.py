"""``layer-drop``: keep ``k`` of the encoder's L layers, the second baseline any method must beat.

What a user with a MAC budget can do instead of removing tokens: remove layers, then fine-tune. "Poor Man's
BERT" (Sajjad et al. 2020) compares the rules; ``drop`` offers its two best, dropping the top layers (``top``,
its best on 12-layer models) and alternate dropping (``alternate``: every other layer from the top, the last
layer first, then the ones below it that are left). The default is ``alternate``, the better one measured
here: MiniLM-L6 keeping 3 of 6 layers, three seeds, +2.54 points [+1.20, +4.19] over ``top`` on BBC News
(n = 128) and +1.94 [+0.81, +2.97] on the tweets (n = 64), paired on the test splits (docs/study.md).

Decisions (docs/methods.md, "Layer dropping"):
- A dropped layer passes its input through unchanged and processes no unit: the unit record holds 0 for it
  and the closed form prices it at 0 MACs. Its weights stay in the model (the checkpoint keeps its
  structure); they are never read.
- The pooler and the task head read the last kept layer's output, as in a model cut to ``k`` layers.
- A MAC budget turns ``k``: the encoder's cost moves in steps of 1/L, so the closest count is taken and the
  MACs it reaches are recorded (``budget.Resolved.achieved``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from fcabench import encoders
from fcabench.errors import FcabenchError
from fcabench.methods.base import ForwardState, ReducingEncoder, ReducingLayer
from fcabench.methods.registry import Method, register

RULES = ("top", "alternate")


@dataclass(frozen=True)
class LayerDropConfig:
    k: int | None = None  # layers kept; unset: all
    drop: Literal["top", "alternate"] = "alternate"  # which layers go: Sajjad et al. 2020's rules (module docstring)

    def __post_init__(self):
        if self.k is not None and self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.drop not in RULES:
            raise ValueError(f"drop must be one of {', '.join(RULES)}, got {self.drop!r}")

    def dropped(self, layers: int) -> frozenset[int]:
        """0-based indices of the dropped layers of an encoder of ``layers`` layers."""
        count = 0 if self.k is None else layers - self.k
        if self.drop == "top":
            order = list(range(layers - 1, -1, -1))
        else:
            order = list(range(layers - 1, -1, -2)) + list(range(layers - 2, -1, -2))
        return frozenset(order[:count])


@dataclass
class LayerDropState(ForwardState):
    held: torch.Tensor | None = field(default=None)  # the keep mask set aside while dropped layers pass


class LayerDropLayer(ReducingLayer):
    """Modifications: a dropped layer returns its input as it is."""

    dropped: bool = False

    def forward(self, hidden, keep, state):
        if self.dropped:
            return hidden, keep
        return super().forward(hidden, keep, state)


class LayerDropEncoder(ReducingEncoder):
    """Modifications: a dropped layer is handed an empty keep mask, so that the record counts no unit for it;
    the real mask is restored before the next kept layer and at the end."""

    def before_layer(self, index, hidden, keep, state):
        if self.layer[index].dropped:
            if state.held is None:
                state.held = keep
            return hidden, torch.zeros_like(keep)
        return self.restore(hidden, keep, state)

    def finish(self, hidden, keep, state):
        return self.restore(hidden, keep, state)

    @staticmethod
    def restore(hidden, keep, state):
        if state.held is not None:
            keep, state.held = state.held, None
        return hidden, keep


@register
class LayerDrop(Method):
    name = "layer-drop"
    config_class = LayerDropConfig
    layer_class = LayerDropLayer
    encoder_class = LayerDropEncoder
    state_class = LayerDropState
    budget_knob = "k"  # what a MAC budget turns (fcabench.counting.budget)
    budget_exact = False  # the cost moves in steps of 1/L: the closest k is taken

    def budget_interval(self, layers, seq_len):
        return 1.0, float(layers)

    def validate(self, config, model_config):
        layers = model_config.num_hidden_layers
        if config.k is not None and config.k > layers:
            raise FcabenchError(f"layer-drop keeps k = {config.k} layers; the model has {layers}")

    def setup(self, bert, config):
        layers = encoders.layers(bert)
        gone = config.dropped(len(layers))
        for index, layer in enumerate(layers):
            layer.dropped = index in gone

    def example_config(self, num_layers):
        return LayerDropConfig(k=max(1, num_layers - 1), drop="alternate")

    def off_config(self, num_layers):
        return LayerDropConfig()
