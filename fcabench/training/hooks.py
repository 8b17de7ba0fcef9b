"""A method's training procedure as the trainer sees it, all through the method contract
(``fcabench.methods.Method``): no training code ever names a method.

The hooks that act during a stage (loss term, parameter groups, after-step) are those of the method the
stage's config belongs to, i.e. of ``methods.applied(model)`` once the config is applied (FCA's search is
PoWER-BERT's soft extraction); ``derive_config`` is the trained method's own.
"""

from __future__ import annotations

from fcabench import methods
from fcabench.methods import DERIVED, Stage

__all__ = ["DERIVED", "Stage", "after_step", "derive_config", "loss_term", "parameter_groups", "stages"]


def stages(method, config) -> list[Stage]:
    return list(method.stages(config))


def _acting(model):
    patched = methods.applied(model)
    return patched.method if patched else None


def loss_term(model):
    method = _acting(model)
    return method.loss_term(model) if method else None


def parameter_groups(model) -> list[dict]:
    method = _acting(model)
    return list(method.parameter_groups(model)) if method else []


def after_step(model) -> None:
    method = _acting(model)
    if method:
        method.after_step(model)


def derive_config(method, model, target_config):
    return method.derive_config(model, target_config)
