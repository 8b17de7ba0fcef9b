"""``vanilla``: BERT through fcabench's patched encoder with nothing removed.

The reference every method is tested against: its outputs equal the unpatched model's, and it records
unit counts like any other method.
"""

from __future__ import annotations

from dataclasses import dataclass

from fcabench.methods.registry import Method, register


@dataclass(frozen=True)
class VanillaConfig:
    """No options: every layer keeps every unit."""


@register
class Vanilla(Method):
    name = "vanilla"
    config_class = VanillaConfig
