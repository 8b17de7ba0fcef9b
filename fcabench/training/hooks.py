"""The training hooks of a method (its stages, loss term, parameter groups, post-step projection).

Methods define them (``fcabench.methods``); a method that defines none is fine-tuned in one stage with
its configuration applied and no extra loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fcabench import methods


@dataclass(frozen=True)
class Stage:
    name: str  # "fine-tune", "search", "retrain", "soft", "hard"
    config: Any | None  # method config while training this stage; None = the unpatched model
    derive: bool = False  # after this stage, derive_config gives the config of DERIVED stages


DERIVED = getattr(methods, "DERIVED", "derived")  # the config derive_config returned


def stages(method, config) -> list:
    hook = getattr(method, "stages", None)
    return list(hook(config)) if hook else [Stage("fine-tune", config)]


def loss_term(method, model):
    hook = getattr(method, "loss_term", None)
    return hook(model) if hook else None


def parameter_groups(method, model) -> list[dict]:
    hook = getattr(method, "parameter_groups", None)
    return list(hook(model)) if hook else []


def after_step(method, model) -> None:
    hook = getattr(method, "after_step", None)
    if hook:
        hook(model)


def derive_config(method, model, target_config):
    hook = getattr(method, "derive_config", None)
    if hook is None:
        from fcabench.errors import FcabenchError

        raise FcabenchError(f"{method.name} cannot derive a configuration from a trained model")
    return hook(model, target_config)
