"""Method configurations as data: stored (:func:`config_to_dict`, :func:`config_from_dict`), shown resolved
for a model (:func:`describe`), and labelled by what differs from the defaults (:func:`config_label`)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import torch

from fcabench import encoders
from fcabench.errors import FcabenchError
from fcabench.methods import registry


def config_to_dict(config, drop_tensors: bool = False) -> dict[str, Any]:
    """A method config as plain JSON-able values (tuples as lists), to store beside a checkpoint or in a run.

    A field holding a tensor (a token-drop importance table) is refused, or left out with ``drop_tensors``
    (a measurement that records the configuration it timed, not a checkpoint to rebuild)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise FcabenchError(f"not a method config: {config!r}")
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, torch.Tensor):
            if drop_tensors:
                continue
            raise FcabenchError(f"option {f.name} holds a tensor: save it with torch.save and pass the file's path")
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def config_from_dict(name: str, data: dict[str, Any]):
    """The config of method ``name`` from :func:`config_to_dict`'s output (lists back to tuples)."""
    return registry.make_config(name, **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def resolved_fields(config, model_config) -> dict[str, object]:
    """Every field of ``config``, with a ``None`` that stands for a computed default replaced by its value
    for this model (the per-layer schedule, the combining layer, token-drop's span, the training length)."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    layers = model_config.num_hidden_layers
    hints = typing.get_type_hints(type(config))
    schedule = getattr(config, "schedule", None)
    per_layer = [name for name, value in values.items() if _float_tuple(hints[name])]
    if callable(schedule) and per_layer and all(v is None for k, v in values.items() if _tuple(hints[k])):
        # the default per-layer schedule (PoWER-BERT/FCA ratios, LTP thresholds) applies: show it
        values[per_layer[0]] = tuple(round(float(v), 4) for v in schedule(layers))
    if (
        "combine_layer" in values
        and values["combine_layer"] is None
        and callable(getattr(config, "combine_index", None))
    ):
        index = config.combine_index(layers)
        values["combine_layer"] = None if index is None else index + 1  # shown 1-based, as the field is
    if "span" in values and values["span"] is None and callable(getattr(config, "span_for", None)):
        values["span"] = tuple(config.span_for(layers))  # token-drop's span scales with the depth
    if values.get("soft_length", 0) is None:
        values["soft_length"] = encoders.max_length(model_config)
    return values


def _tuple(hint) -> bool:
    return any(typing.get_origin(h) is tuple for h in (hint, *typing.get_args(hint)))


def _float_tuple(hint) -> bool:
    return any(
        typing.get_origin(h) is tuple and typing.get_args(h)[:1] == (float,) for h in (hint, *typing.get_args(hint))
    )


def option_text(value) -> str:
    """An option's value as the command line writes it (tuples comma-separated, floats short)."""
    if isinstance(value, tuple):
        return ",".join(option_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe(config, model_config) -> str:
    """``retention=34,33,... clusters=5 aggregation=weighted``: the configuration that really ran."""
    values = resolved_fields(config, model_config)
    shown = {name: value for name, value in values.items() if not (value is None or hasattr(value, "shape"))}
    return " ".join(f"{name}={option_text(value)}" for name, value in shown.items())  # tensors left out


def config_label(config) -> str:
    """A short label from the options that differ from the defaults ("default" when none do)."""
    default = type(config)()
    changed = [
        f"{f.name}={option_text(getattr(config, f.name))}"
        for f in dataclasses.fields(config)
        if f.compare and getattr(config, f.name) != getattr(default, f.name)
    ]
    return " ".join(changed) or "default"
