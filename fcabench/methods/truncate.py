"""``truncate``: the encoder sees only ``keep`` tokens of each example, the first baseline any method must beat.

What a user with a MAC budget does before any token-reduction method: cut the input. ``side`` picks which
tokens stay: ``head`` (the first ones), ``tail`` (the last ones) or ``head+tail`` (the first and the last,
the best of the truncation rules for long documents in "How to Fine-Tune BERT for Text Classification?",
Sun et al. 2019, which keeps the first 128 and the last 382 of 510: ``head_share`` = 0.25 of the slots).
The first and the last real tokens ([CLS] and [SEP] of a single-segment input) are always kept, so ``keep``
counts them; an example of ``keep`` tokens or fewer is left whole.

Decisions (docs/methods.md, "Truncation"):
- The cut happens before the first layer, on the embeddings: every layer, and so every count, runs on the
  kept tokens alone. The kept tokens keep the position embeddings they had in the full input: for ``head``
  that is what a truncating tokenizer gives except for [SEP] (its own position rather than ``keep`` - 1); for
  ``tail`` the tokens keep their later positions. ELECTRA's embedding projection (outside the encoder)
  runs on the whole input, as the profile counts it.
- Retrained (``fcabench train --method truncate``) is fine-tuning from the pretrained weights with the cut
  in place, vanilla's own recipe at the shorter length; training-free is a fine-tuned vanilla checkpoint
  scored with the cut.
- A MAC budget turns ``keep`` (the closed form at the padded length: a kept count below the length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from fcabench.errors import FcabenchError
from fcabench.methods import ops
from fcabench.methods.base import ReducingEncoder
from fcabench.methods.registry import Method, register

SIDES = ("head", "tail", "head+tail")


@dataclass(frozen=True)
class TruncateConfig:
    keep: int | None = None  # tokens each example keeps, its first and last real tokens included; unset: all
    side: Literal["head", "tail", "head+tail"] = "head"  # which tokens stay
    head_share: float = 0.25  # head+tail: the share of the slots between the first and last tokens taken from the head

    def __post_init__(self):
        if self.keep is not None and self.keep < 2:
            raise ValueError(f"keep must be >= 2 (the first and last tokens always stay), got {self.keep}")
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {', '.join(SIDES)}, got {self.side!r}")
        if not 0 <= self.head_share <= 1:
            raise ValueError(f"head_share must be in [0, 1], got {self.head_share}")

    def head_slots(self) -> int:
        """Tokens kept after the first one, from the front (the rest of the ``keep`` - 2 slots come from the end)."""
        slots = self.keep - 2
        return {"head": slots, "tail": 0}.get(self.side, round(slots * self.head_share))


def truncation_mask(keep: torch.Tensor, config: TruncateConfig) -> torch.Tensor:
    """(batch, n) bool: the real units ``config`` keeps of each example (``keep``: the real units)."""
    rank = keep.long().cumsum(dim=1) - 1  # position among the example's real units
    last = keep.sum(dim=1, keepdim=True) - 1
    head = config.head_slots()
    tail = config.keep - 2 - head
    return keep & ((rank <= head) | (rank >= last - tail))


class TruncateEncoder(ReducingEncoder):
    """Modifications: before the first layer, each example's units beyond ``keep`` are removed."""

    def prepare(self, hidden, keep, state):
        config = self.layer[0].method_config
        if config.keep is None or config.keep >= hidden.shape[1]:
            return hidden, keep
        return ops.gather_units(hidden, *ops.positions(truncation_mask(keep, config), width=config.keep))


@register
class Truncate(Method):
    name = "truncate"
    config_class = TruncateConfig
    encoder_class = TruncateEncoder
    budget_knob = "keep"  # what a MAC budget turns (fcabench.counting.budget)

    def budget_interval(self, layers, seq_len):
        return 2.0, float(seq_len)

    def check_input(self, config, seq_len):
        if seq_len < 2:
            raise FcabenchError("truncate needs inputs of at least 2 tokens (the first and last always stay)")

    def example_config(self, num_layers):
        return TruncateConfig(keep=4, side="head+tail", head_share=0.5)

    def off_config(self, num_layers):
        return TruncateConfig()
