"""``fcabench.compare``: several methods profiled side by side, each against vanilla at the same length.

What ``fcabench profile -m vanilla,fca,...`` prints, as a library call: one table of every method's rows
with the configuration that ran (``config``, resolved for the model) and its label (``config_label``), the
whole model's MACs over vanilla's (``macs_rel_vanilla``, the closed form of the unreduced model), the
closed form's encoder MACs of each pass beside the traced ones, and the notes a reader should see: a
configuration that costs more than vanilla or removes nothing, one that asked for more than the input
allowed, a value-dependent method counted on a preset's random weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from fcabench import methods  # profiler by module: tests replace its prepare_model and profile
from fcabench.counting import profiler
from fcabench.counting.profiler import closed_form_table, encoder_macs, head_macs
from fcabench.encoders import base_model
from fcabench.flops.closed_form import Shape, vanilla_encoder_macs
from fcabench.models import PRESETS, check_lengths


@dataclass
class Comparison:
    """The methods' profiles (``table``) and what was measured beside them."""

    table: pd.DataFrame  # profile rows of every method and length, with config, config_label, macs_rel_vanilla
    models: dict = field(default_factory=dict)  # method name -> the patched model that ran
    closed: dict = field(default_factory=dict)  # (method, n) -> closed-form encoder MACs of that pass
    vanilla: dict = field(default_factory=dict)  # n -> whole-model MACs of the unreduced model
    notes: list[str] = field(default_factory=list)  # warnings for the reader


def compare(
    model: str,
    names: Sequence[str],
    seq_lens: Sequence[int],
    batch_size: int = 1,
    *,
    options: dict[str, dict] | None = None,
    attn: str | None = None,
    head: str = "auto",
    device: str | None = None,
) -> Comparison:
    """Profile each method in ``names`` (with ``options[name]``) on ``model`` at each length."""
    options = options or {}
    result, frames = Comparison(table=pd.DataFrame()), []
    for name in names:
        prepared, label = load(model, name, options.get(name, {}), attn, head, device)
        check_lengths(prepared, list(seq_lens), batch_size)
        for n in seq_lens:  # one length at a time: the closed form reads the units of this very pass
            frame = profiler.profile(prepared, n, batch_size)
            frame["model"] = label
            frames.append(with_config_columns(frame, prepared))
            result.closed[(name, n)] = closed_form_encoder_macs(prepared, n)
        result.models[name] = prepared
    table = pd.concat(frames, ignore_index=True)
    result.vanilla = {n: vanilla_macs(next(iter(result.models.values())), n) for n in seq_lens}
    totals = table.groupby(["method", "seq_len"], sort=False)["macs"].sum()
    table["macs_rel_vanilla"] = [totals[(m, n)] / result.vanilla[n] for m, n in zip(table["method"], table["seq_len"])]
    result.table = table
    result.notes = random_weights_notes(model, names)
    for name, part in table.groupby("method", sort=False):
        result.notes += saving_notes(name, part, result.vanilla)
    for prepared in result.models.values():
        result.notes += shortfall_notes(table, prepared)
    return result


def load(model, name: str, options: dict, attn=None, head: str = "auto", device=None):
    """(a fresh model for ``name``, its label); "vanilla" is the unpatched model, weightless for presets."""
    return profiler.prepare_model(
        model, None if name == "vanilla" else name, attn_implementation=attn, head=head, device=device, **options
    )


def vanilla_macs(model, seq_len: int) -> int:
    """Whole-model MACs of the unreduced ``model`` on ``seq_len`` tokens (the closed form; the profile's trace
    of the unpatched model gives the same integer; the embedding lookup costs 0)."""
    shape = Shape.of(base_model(model).config)
    return vanilla_encoder_macs(shape, seq_len) + sum(head_macs(model, seq_len).values())


def closed_form_encoder_macs(model, seq_len: int) -> int:
    """The closed form's encoder MACs for the units the model's last forward pass recorded."""
    units = methods.unit_record(model).example(0) if methods.applied(model) else None
    return encoder_macs(closed_form_table(model, seq_len, units))


def with_config_columns(frame: pd.DataFrame, model) -> pd.DataFrame:
    """``config`` (every option, computed defaults resolved for this model) and ``config_label`` (what differs
    from the defaults) of the method ``model`` is patched with."""
    patched = methods.applied(model)
    frame["config"] = methods.describe(patched.config, base_model(model).config) if patched else ""
    frame["config_label"] = methods.config_label(patched.config) if patched else "default"
    return frame


def random_weights_notes(model: str, names: Sequence[str]) -> list[str]:
    """A preset has random weights: counts of a method that follows attention scores show the mechanism only."""
    if not isinstance(model, str) or model not in PRESETS:
        return []
    return [
        f"{name}'s unit counts depend on the weights, and preset {model!r} has random weights (seed 0): "
        "the counts show the mechanism, not a trained model's savings; pass --model FOLDER of a trained checkpoint"
        for name in names
        if methods.get(name).units_depend_on_weights
    ]


def saving_notes(method: str, part: pd.DataFrame, vanilla: dict[int, int]) -> list[str]:
    """A configuration that costs more than vanilla, or removes nothing, at some length."""
    if method == "vanilla":
        return []
    notes = []
    for n, rows in part.groupby("seq_len", sort=False):
        layers = rows[rows["layer"].notna()]
        total, ratio = int(rows["macs"].sum()), rows["macs"].sum() / vanilla[n]
        removed_nothing = bool((layers["tokens_in"] == n).all() and (layers["tokens_out"] == n).all())
        config = rows["config_label"].iloc[0]
        if total > vanilla[n]:
            notes.append(
                f"{method} ({config}) at n = {n} costs {ratio:.3f}x vanilla ({total:,} vs {vanilla[n]:,} MACs): "
                "it adds more work than it removes"
            )
        elif removed_nothing and total == vanilla[n]:
            notes.append(f"{method} ({config}) at n = {n} removes no unit in any layer: it costs what vanilla costs")
    return notes


def shortfall_notes(table: pd.DataFrame, model) -> list[str]:
    """What ran when a configuration asked for more than the input allowed (e.g. ToMe's r above n / 2)."""
    patched = methods.applied(model)
    if patched is None:
        return []
    notes, name = [], patched.method.name
    for n, rows in table[table["method"] == name].groupby("seq_len", sort=False):
        layers = rows[rows["layer"].notna()].sort_values("layer")
        units = list(zip(layers["tokens_in"].astype(int), layers["tokens_out"].astype(int)))
        text = patched.method.shortfall(patched.config, units)
        if text:
            notes.append(f"{name} ({rows['config_label'].iloc[0]}) at n = {n}: {text}")
    return notes
