"""The method registry: names, config dataclasses, patching, and each method's closed-form cost.

A method is a :class:`Method` subclass registered with :func:`register`. Its ``config_class`` is a
frozen dataclass whose fields are the method's options (the CLI builds it from ``--field value``
pairs, a run record stores ``dataclasses.asdict`` of it).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import torch

from fcabench.errors import FcabenchError
from fcabench.flops.closed_form import Shape, standard_layer_macs
from fcabench.methods.base import ReducingEncoder, ReducingLayer, ReducingSelfAttention
from fcabench.models import base_model

_REGISTRY: dict[str, "Method"] = {}


class Method:
    """One token-reduction method: how to patch a BERT and what each layer then costs."""

    name: str
    config_class: type
    layer_class: type[ReducingLayer] = ReducingLayer
    encoder_class: type[ReducingEncoder] = ReducingEncoder

    def validate(self, config, model_config) -> None:
        """Raise FcabenchError if ``config`` cannot run on a model with ``model_config``."""

    def check_input(self, config, seq_len: int) -> None:
        """Raise FcabenchError if ``config`` cannot run on inputs of ``seq_len`` tokens."""

    def patch(self, bert, config) -> None:
        """Swap the classes of ``bert``'s modules in place; weights stay where they are."""
        bert.encoder.__class__ = self.encoder_class
        for index, layer in enumerate(bert.encoder.layer):
            layer.__class__ = self.layer_class
            layer.attention.self.__class__ = ReducingSelfAttention
            layer.index, layer.method_config = index, config

    def layer_macs(self, shape: Shape, config, layer: int, n_in: int, n_out: int, keys: int, n0: int) -> dict:
        """Closed-form MACs of ``layer`` given its recorded units; ``n0`` = the input's length."""
        return standard_layer_macs(shape, n_in, n_out, keys)


def register(cls: type[Method]) -> type[Method]:
    _REGISTRY[cls.name] = cls()
    return cls


def names() -> list[str]:
    """Registered method names."""
    return list(_REGISTRY)


def get(name: str) -> Method:
    if name not in _REGISTRY:
        raise FcabenchError(f"unknown method {name!r}; methods: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def make_config(name: str, **options):
    """The method's config dataclass from keyword options; unknown options name the valid ones."""
    cls = get(name).config_class
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        valid = ", ".join(fields) if fields else "none"
        raise FcabenchError(f"unknown option(s) for {name}: {', '.join(unknown)}; valid options: {valid}")
    try:
        return cls(**options)
    except (TypeError, ValueError) as error:
        raise FcabenchError(f"{name}: {error}") from None


def parse_options(name: str, raw: dict[str, str]) -> dict[str, Any]:
    """Convert CLI strings to the types of the method's config fields ("34,33,32" -> (34, 33, 32))."""
    cls = get(name).config_class
    hints = typing.get_type_hints(cls)
    parsed = {}
    for key, text in raw.items():
        if key not in hints:
            make_config(name, **{key: None})  # raises with the list of valid options
        try:
            parsed[key] = _convert(hints[key], text)
        except ValueError:
            raise FcabenchError(f"{name}: cannot read --{key.replace('_', '-')} {text!r} as {hints[key]}") from None
    return parsed


def _convert(hint, text: str):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if text.lower() in ("none", ""):
            return None
        return _convert(args[0], text)
    if typing.get_origin(hint) is tuple:
        return tuple(_convert(args[0], part) for part in text.split(",") if part.strip())
    if hint is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return text.lower() in ("true", "1", "yes")
    if typing.get_origin(hint) is typing.Literal:
        if text not in typing.get_args(hint):
            raise ValueError(text)
        return text
    return hint(text)


def apply(model: torch.nn.Module, name_or_config, **options) -> torch.nn.Module:
    """Patch ``model`` in place with a method, keeping its weights; returns the model.

    ``apply(model, "fca", retention=(34, 33, ...), clusters=5)`` or ``apply(model, FCAConfig(...))``.
    """
    if isinstance(name_or_config, str):
        name, config = name_or_config, make_config(name_or_config, **options)
    else:
        config = name_or_config
        matches = [m for m in _REGISTRY.values() if isinstance(config, m.config_class)]
        if not matches or options:
            raise FcabenchError("pass a method name with options, or a method config alone")
        name = matches[0].name
    bert = base_model(model)
    if getattr(bert, "fcabench_method", None):
        raise FcabenchError(f"model is already patched with {bert.fcabench_method}; load a fresh copy")
    method = get(name)
    method.validate(config, bert.config)
    method.patch(bert, config)
    bert.fcabench_method, bert.fcabench_config = name, config
    return model


def applied(model: torch.nn.Module) -> tuple[Method, Any] | None:
    """(method, config) of a patched model, or None for an unpatched one."""
    bert = base_model(model)
    name = getattr(bert, "fcabench_method", None)
    return (get(name), bert.fcabench_config) if name else None


def unit_record(model: torch.nn.Module):
    """The :class:`~fcabench.methods.base.UnitRecord` of the model's last forward pass."""
    record = getattr(base_model(model).encoder, "units", None)
    if record is None:
        raise FcabenchError("no unit counts: apply a method and run a forward pass first")
    return record
