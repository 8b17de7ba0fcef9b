"""Method options on the command line: several methods in one command, and configurations shown resolved.

Syntax (``fcabench profile --method vanilla,fca,power-bert ...``):

- ``--clusters 1`` is shared: it goes to every listed method that has a ``clusters`` field (an option no
  listed method has is an error);
- ``--fca.clusters 1`` goes to ``fca`` alone and wins over a shared value;
- ``--name=value`` works as well as ``--name value``; a yes/no option given alone (``--soft-extract``)
  means true.

Options are the fields of each method's frozen config dataclass; the comment beside a field is its help.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from functools import cache

from fcabench.errors import FcabenchError
from fcabench.methods.configs import option_text, resolved_fields


def comma_list(text: str, option: str, what: str = "values") -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; an empty item (``1,,2``, a trailing comma) is a usage error, never skipped."""
    parts = [part.strip() for part in text.split(",")]
    if any(not part for part in parts):
        raise FcabenchError(f"{option} takes {what} separated by commas, got {text!r} (an empty item)")
    return parts


def positive_ints(text: str, option: str) -> list[int]:
    """``"1,8"`` -> ``[1, 8]``: whole numbers of at least 1, no empty item."""
    parts = comma_list(text, option, "integers")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        raise FcabenchError(f"{option} takes integers separated by commas, got {text!r}") from None
    if min(values) < 1:
        raise FcabenchError(f"{option} takes integers of at least 1, got {text!r}")
    return values


def method_list(text: str | None) -> list[str]:
    """``"vanilla,fca"`` -> ``["vanilla", "fca"]``; an empty item or a repeated name is an error."""
    from fcabench import methods

    if text is None:
        return ["vanilla"]
    names = comma_list(text, "--method", "names")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise FcabenchError(f"--method names {', '.join(repeated)} twice")
    for name in names:
        methods.get(name)  # an unknown name fails here, with the list of valid ones
    return names


def _bool_field(name: str, field: str) -> bool:
    from fcabench import methods

    hint = typing.get_type_hints(methods.get(name).config_class).get(field)
    return hint is bool or bool in typing.get_args(hint)


def split_args(args: list[str]) -> list[tuple[str | None, str, str | None]]:
    """Raw extra arguments -> (method or None, field, text or None) triples, in the order given."""
    triples, i = [], 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or len(token) == 2:
            raise FcabenchError(f"method options come as --name value or --method.name value; cannot read {token!r}")
        key, value = token[2:], None
        if "=" in key:
            key, value = key.split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            value = args[i + 1]
            i += 1
        i += 1
        method, _, field = key.rpartition(".")
        triples.append((method or None, field.replace("-", "_"), value))
    return triples


def options_per_method(names: list[str], args: list[str]) -> dict[str, dict[str, str]]:
    """Distribute ``args`` over the methods in ``names``: {method: {field: text}}, per-method over shared."""
    from fcabench import methods

    fields = {name: {f.name for f in dataclasses.fields(methods.get(name).config_class)} for name in names}
    shared: dict[str, str] = {}
    own: dict[str, dict[str, str]] = {name: {} for name in names}
    for method, field, value in split_args(args):
        flag = f"--{method + '.' if method else ''}{field.replace('_', '-')}"
        if method is not None and method not in names:
            raise FcabenchError(f"{flag}: {method!r} is not among the methods of this command ({', '.join(names)})")
        owners = [method] if method else [name for name in names if field in fields[name]]
        if method and field not in fields[method] or not owners:
            listed = method or ", ".join(names)
            valid = sorted(set().union(*(fields[n] for n in owners or names)))
            raise FcabenchError(
                f"{flag}: no such option for {listed}; valid options: "
                f"{', '.join(v.replace('_', '-') for v in valid) or 'none'}"
            )
        if value is None:
            if not all(_bool_field(name, field) for name in owners):
                raise FcabenchError(f"{flag} needs a value")
            value = "true"
        (own[method] if method else shared)[field] = value
    return {name: {**{k: v for k, v in shared.items() if k in fields[name]}, **own[name]} for name in names}


# --- showing a configuration --------------------------------------------------------------------------


@cache
def field_comments(config_class: type) -> dict[str, str]:
    """The comment written beside each field of a config dataclass (its help text)."""
    comments: dict[str, str] = {}
    for cls in config_class.__mro__:  # fields inherited from a base config carry their comments there
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for match in re.finditer(r"^\s+(\w+)\s*:[^=\n]*=[^#\n]*#\s*(.+)$", source, flags=re.MULTILINE):
            comments.setdefault(match.group(1), match.group(2).strip())
    return comments


def methods_help(layers: int = 12) -> str:
    """Every method's options with their types, defaults (computed ones for BERT-base) and help."""
    from types import SimpleNamespace

    from fcabench import methods

    model_config = SimpleNamespace(num_hidden_layers=layers, max_position_embeddings=512)
    lines = []
    for name in methods.names():
        cls = methods.get(name).config_class
        comments = field_comments(cls)
        hints = typing.get_type_hints(cls)
        try:
            defaults = resolved_fields(cls(), model_config)
        except (TypeError, ValueError):
            defaults = {}
        lines.append(f"{name}:" if dataclasses.fields(cls) else f"{name}: no options")
        for field in dataclasses.fields(cls):
            stored, shown = getattr(field, "default", None), defaults.get(field.name)
            if shown is None:
                default = "unset"
            elif stored is None:
                default = f"{option_text(shown)} for bert-base"
            else:
                default = option_text(shown)
            kind = _type_name(hints.get(field.name))
            help_text = comments.get(field.name, "")
            lines.append(
                f"  --{field.name.replace('_', '-')} {kind} (default: {default})"
                + (f"  {help_text}" if help_text else "")
            )
    return "\n".join(lines)


def _type_name(hint) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Literal:
        return "|".join(map(str, typing.get_args(hint)))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return _type_name(args[0]) if len(args) == 1 else "|".join(_type_name(a) for a in args)
    if typing.get_origin(hint) is tuple:
        return f"{_type_name(args[0])},..."
    if hint is bool:
        return "[true|false]"
    return getattr(hint, "__name__", str(hint))
