"""The method registry: names, config dataclasses, resolving a method by name, applying it.

A method is a :class:`~fcabench.methods.method.Method` subclass registered with :func:`register`. Its
``config_class`` is a frozen dataclass whose fields are the method's options (the CLI builds it from
``--field value`` pairs; :func:`config_to_dict` stores it). Every module of the ``fcabench.methods``
package is imported once on first use (so adding a method is adding one file), then every entry point
of the group ``fcabench.methods``; a method in any importable module is reached as
``"package.module:ClassName"``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import pkgutil
import types
import typing
from typing import Any, NamedTuple

import torch

from fcabench import encoders
from fcabench.encoders import base_model
from fcabench.errors import FcabenchError
from fcabench.methods.method import DERIVED, Method, Stage  # noqa: F401  (re-exported)

ENTRY_POINT_GROUP = "fcabench.methods"
_REGISTRY: dict[str, Method] = {}
_discovered = False


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` (a Method subclass with a unique ``name``) available by name."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise FcabenchError(f"{cls!r} is not a subclass of fcabench.methods.Method")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or ":" in name:
        raise FcabenchError(f"{cls.__qualname__} needs a class attribute name (a non-empty string without ':')")
    if not dataclasses.is_dataclass(getattr(cls, "config_class", None)):
        raise FcabenchError(f"method {name!r}: config_class must be a dataclass")
    existing = _REGISTRY.get(name)
    if existing is not None and type(existing) is not cls:
        raise FcabenchError(
            f"a method named {name!r} is already registered ({_where(type(existing))}); cannot register {_where(cls)}"
        )
    _REGISTRY[name] = cls()
    return cls


def _where(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def discover() -> None:
    """Import every module of this package, then the entry points; once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("fcabench.methods")
    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
        importlib.import_module(f"fcabench.methods.{module}")
    load_entry_points()


def load_entry_points() -> None:
    """Register the Method subclasses that installed packages declare in the ``fcabench.methods`` group."""
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as error:  # a broken plug-in must not take the built-in methods down
            raise FcabenchError(
                f"entry point {entry.name!r} ({entry.value}) of {ENTRY_POINT_GROUP} failed: {error}"
            ) from None
        if isinstance(loaded, type) and issubclass(loaded, Method) and type(_REGISTRY.get(loaded.name)) is not loaded:
            register(loaded)


def names() -> list[str]:
    """Registered method names, vanilla (the reference) first, the others alphabetically."""
    discover()
    return sorted(_REGISTRY, key=lambda name: (name != "vanilla", name))


def get(name: str) -> Method:
    """The registered method ``name``, or the Method subclass ``"package.module:ClassName"`` (registered on first
    use)."""
    discover()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        return _resolve(name)
    raise FcabenchError(f"unknown method {name!r}; methods: {', '.join(names())} (or package.module:ClassName)")


def _resolve(spec: str) -> Method:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise FcabenchError(f"cannot import {module_name!r} for method {spec!r}: {error}") from None
    cls = getattr(module, attribute, None)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise FcabenchError(f"{spec!r} is not a Method subclass")
    if type(_REGISTRY.get(getattr(cls, "name", None))) is not cls:
        register(cls)
    return _REGISTRY[cls.name]


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
            raise FcabenchError(
                f"{name}: cannot read --{key.replace('_', '-')} {text!r}: expected {_in_words(hints[key])}"
            ) from None
    return parsed


def _in_words(hint) -> str:
    """What an option takes, as a person says it (not Python's name of the type)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _in_words(args[0]) + " (or none)"
    if origin is tuple:
        return f"{_in_words(args[0]).removeprefix('a ').removeprefix('an ')}s separated by commas, one per layer"
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(hint))
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}.get(hint, "a value")


def _convert(hint, text: str):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if text.lower() == "none":  # said, not implied: an empty value is a mistake, not the default
            return None
        return _convert(args[0], text)
    if typing.get_origin(hint) is tuple:
        parts = text.split(",")
        if any(not part.strip() for part in parts):
            raise ValueError(text)  # "" or "1,,2": an empty item
        return tuple(_convert(args[0], part) for part in parts)
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
        if options:
            raise FcabenchError("pass a method name with options, or a method config alone")
        config, name = name_or_config, method_of(name_or_config).name
    bert = base_model(model)
    if getattr(bert, "fcabench_method", None):
        raise FcabenchError(f"model is already patched with {bert.fcabench_method}; load a fresh copy")
    method = get(name)
    method.validate(config, bert.config)
    method.patch(bert, config)
    bert.fcabench_method, bert.fcabench_config = method.name, config
    return model


def method_of(config) -> Method:
    """The registered method whose config class ``config`` is an instance of."""
    discover()
    matches = [m for m in _REGISTRY.values() if type(config) is m.config_class]
    if not matches:
        raise FcabenchError("pass a method name with options, or a method config alone")
    return matches[0]


class Applied(NamedTuple):
    """The method a model is patched with and its configuration."""

    method: Method
    config: Any


def applied(model: torch.nn.Module) -> Applied | None:
    """(method, config) of a patched model, or None for an unpatched one."""
    bert = base_model(model)
    name = getattr(bert, "fcabench_method", None)
    return Applied(get(name), bert.fcabench_config) if name else None


def unit_record(model: torch.nn.Module):
    """The :class:`~fcabench.methods.base.UnitRecord` of the model's last forward pass."""
    state = getattr(encoders.encoder(model), "state", None)
    record = getattr(state, "units", None)
    if record is None:
        raise FcabenchError("no unit counts: apply a method and run a forward pass first")
    return record
