"""Turning a cost target ("encoder MACs = 0.5 x vanilla's") into a method option, by bisection: the one home
of budgets, for sweeps (:func:`resolve`), training (:func:`fit_retention`) and benchmarks (:func:`for_cut`).

The cost of a configuration is the closed form (:func:`fcabench.closed_form_table`) of the units a
patched model really processes on one sequence of the padded length: a forward pass records the units
per layer, the method's ``layer_macs`` prices them (pooling, combining and other method work
included). The knob is one option of the method's config:

* a float in an interval (``keep_ratio`` of token dropping and Focus on the Core): the option itself;
* a per-layer ratio schedule (``ratios`` of PoWER-BERT and FCA): ``x`` gives r_l = x^((l+1)/L), a
  geometric decay ending at ``x`` in the last layer, so one number spans every cost from vanilla down;
* an integer (e.g. tokens merged per layer): the option itself, rounded.

The knob is the method's own declaration (``Method.budget_knob``) unless a specification names another.
The cost must not depend on the weights (``Method.units_depend_on_weights``): for methods that choose by
learned thresholds or scores (LTP, Focus on the Core's fuzzy cap) a MAC budget means nothing before
training, and a specification lists their options instead.

:func:`fit_retention` scales a searched retention configuration to a budget on the real model
(PoWER-BERT and FCA in training): one scale factor s, k_l(s) = max(1, min(n, round(s k_l))), kept
non-increasing, bisected with the same :func:`bisect`; the budget is met on one input of the padded length,
or on the training examples at their real lengths (``--macs-at real``), where a count above an example's
length keeps the whole example and costs nothing.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import types
import typing

import torch

from fcabench.errors import FcabenchError

BISECTION_STEPS = 20  # float knobs: the interval shrinks 2^-20, far below one token's worth of cost
RETENTION_STEPS = 30  # bisection steps on the retention's scale factor; the counts are integers, so it settles early
KNOB_DIGITS = 4  # decimals kept of a float knob, so configurations stay readable in run records


@dataclasses.dataclass(frozen=True)
class Resolved:
    """One budget target turned into options."""

    options: dict  # the method options that meet the target (knob included)
    target: float  # the requested encoder MACs / vanilla's
    achieved: float  # what the options cost, same ratio, by the closed form at seq_len
    knob: str
    value: float  # the knob's scalar (for schedules: the last layer's ratio)


def resolve(
    model: str,
    method: str,
    options: dict,
    targets,
    seq_len: int,
    *,
    knob: str | None = None,
    interval: tuple[float, float] | None = None,
    tolerance: float = 0.05,
) -> list[Resolved]:
    """Options meeting each of ``targets`` (fractions of vanilla's encoder MACs at ``seq_len``)."""
    from fcabench import methods

    declared = methods.get(method)
    if declared.units_depend_on_weights:
        raise FcabenchError(
            f"{method}'s cost depends on the weights (the units it keeps follow the scores), so a MAC budget "
            "cannot be met before training; list its options instead"
        )
    knob = knob or declared.budget_knob
    if knob is None:
        raise FcabenchError(f"{method} has no budget knob; list its options instead")
    config_class = declared.config_class
    hints = typing.get_type_hints(config_class)
    if knob not in hints:
        raise FcabenchError(f"{method} has no option {knob!r} to meet a budget with")
    if knob in options:
        raise FcabenchError(f"{method}: option {knob!r} is set by the budget; remove it from options/grid/configs")
    kind = _kind(hints[knob])
    low, high = (
        interval
        or declared.budget_interval(_layers(model), seq_len)
        or ((1e-4, 1.0) if kind in ("float", "schedule") else (0.0, float(seq_len)))
    )
    cost = functools.partial(_relative_cost, model, method, tuple(sorted(options.items())), knob, kind, seq_len)
    ends = {low: cost(low), high: cost(high)}
    rising = ends[high] >= ends[low]
    resolved = []
    for target in targets:
        value, achieved = bisect(cost, low, high, target, rising, integer=(kind == "int"))
        if declared.budget_exact and abs(achieved - target) > tolerance * target:
            reach = f"{min(ends.values()):.3f}..{max(ends.values()):.3f}"
            raise FcabenchError(
                f"{method} with {dict(options) or 'default options'} cannot reach encoder MACs {target} x vanilla "
                f"at length {seq_len} by turning {knob!r} (closest {achieved:.3f}; reachable {reach})"
            )
        resolved.append(
            Resolved({**options, knob: _knob_value(kind, value, _layers(model))}, target, achieved, knob, value)
        )
    return resolved


def _kind(hint) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) else hint
    if typing.get_origin(base) is tuple:
        return "schedule"
    if base is float:
        return "float"
    if base is int:
        return "int"
    raise FcabenchError(f"cannot meet a budget by turning an option of type {hint}")


def _knob_value(kind: str, value: float, layers: int):
    if kind == "int":
        return int(round(value))
    if kind == "schedule":
        return tuple(round(value ** ((l + 1) / layers), KNOB_DIGITS) for l in range(layers))
    return round(value, KNOB_DIGITS)


def bisect(
    cost,
    low: float,
    high: float,
    target: float,
    rising: bool = True,
    integer: bool = False,
    steps: int = BISECTION_STEPS,
) -> tuple[float, float]:
    """(knob value, its cost) with the cost closest to ``target``, for a cost monotone in the knob (``rising``:
    it grows with the knob); ``integer`` knobs are tried at whole values only."""
    tried = {}
    for _ in range(steps):
        middle = (low + high) / 2
        if integer:
            middle = float(int(middle))
        tried[middle] = cost(middle)
        if (tried[middle] < target) == rising:
            low = middle
        else:
            high = middle
        if integer and high - low <= 1:
            break
    for end in (low, high):
        tried.setdefault(end, cost(end))
    best = min(tried, key=lambda v: (abs(tried[v] - target), v))
    return best, tried[best]


@functools.lru_cache(maxsize=4096)
def _relative_cost(
    model: str, method: str, options: tuple, knob: str, kind: str, seq_len: int, value: float, seed: int = 0
) -> float:
    """Encoder MACs of the method with knob = value, over vanilla's, on one sequence of seq_len tokens."""
    from fcabench import methods
    from fcabench.flops.closed_form import Shape, encoder_macs_from_units, vanilla_encoder_macs
    from fcabench.models import synthetic_batch

    config = _architecture(model)
    narrow = _narrow_model(model, seed)
    method_config = methods.make_config(
        method, **dict(options), **{knob: _knob_value(kind, value, config.num_hidden_layers)}
    )
    with _patched(narrow, method_config):
        methods.get(method).check_input(method_config, seq_len)
        with torch.no_grad():
            narrow(**synthetic_batch(narrow, seq_len, 1))
        units = methods.unit_record(narrow).example(0)
    shape = Shape.of(config)  # the real model's dimensions price the units the narrow copy recorded
    macs = encoder_macs_from_units(shape, seq_len, units, (methods.get(method), method_config))
    return macs / vanilla_encoder_macs(shape, seq_len)


@contextlib.contextmanager
def _patched(model: torch.nn.Module, method_config):
    """Apply a method to the cached narrow model, and undo it afterwards (classes, attributes, added
    parameters and submodules), which is much faster than copying or rebuilding the model each time."""
    from fcabench import methods

    saved = [
        (m, m.__class__, set(vars(m)), set(m._parameters), set(m._buffers), set(m._modules)) for m in model.modules()
    ]
    try:
        methods.apply(model, method_config)
        yield model
    finally:
        for module, cls, attributes, parameters, buffers, children in saved:
            module.__class__ = cls
            for name in set(vars(module)) - attributes:
                delattr(module, name)
            for registry, before in (
                (module._parameters, parameters),
                (module._buffers, buffers),
                (module._modules, children),
            ):
                for name in set(registry) - before:
                    del registry[name]


@functools.lru_cache(maxsize=8)
def _narrow_model(name: str, seed: int):
    """A copy of the architecture with the same depth, heads, vocabulary and lengths but 4 dimensions per
    head, randomly initialised: the units these methods keep depend on neither widths nor values (checked
    on two seeds), and a forward pass of it costs little."""
    from transformers import AutoModelForSequenceClassification

    from fcabench.models import randomly_initialised

    config = _architecture(name)
    narrow = copy.deepcopy(config)
    narrow.hidden_size = 4 * config.num_attention_heads  # DistilBERT's configuration maps it to its dim
    setattr(
        narrow,
        "intermediate_size" if hasattr(config, "intermediate_size") else "hidden_dim",
        8 * config.num_attention_heads,
    )
    if hasattr(narrow, "embedding_size"):  # ELECTRA
        narrow.embedding_size = narrow.hidden_size
    narrow._attn_implementation = "eager"
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(narrow, attn_implementation="eager")
    return randomly_initialised(model, seed=seed).eval()


@functools.lru_cache(maxsize=8)
def _architecture(name: str):
    """The named model's configuration (nothing but the config file is read)."""
    from transformers import AutoConfig

    from fcabench import models

    if name in models.PRESETS:
        return models.preset_config(name)
    path = models.resolve(name)  # named models such as "minilm-l6" live in their wheel's folder
    try:
        return AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError) as error:
        raise FcabenchError(f"cannot read the configuration of model {name!r}: {str(error).splitlines()[0]}") from None


def _layers(model: str) -> int:
    return _architecture(model).num_hidden_layers


def for_cut(method: str, seq_len: int, cut: float = 2.0, model: str = "bert-base", **options) -> dict:
    """The options of ``method`` (its budget knob turned) whose closed-form encoder MACs on one ``seq_len``-token
    input are vanilla's / ``cut`` (what the speed benchmarks run at about 2x fewer MACs)."""
    return resolve(model, method, options, [1 / cut], seq_len)[0].options


def scaled(retention: tuple[int, ...], s: float, n: int) -> tuple[int, ...]:
    """``retention`` x s, each count in [1, n], kept non-increasing."""
    counts, previous = [], n
    for k in retention:
        previous = min(previous, max(1, min(n, round(s * k))))
        counts.append(previous)
    return tuple(counts)


def encoder_macs_at(model, seq_len: int) -> int:
    """Encoder MACs of one full-length synthetic sequence (no padding), from recorded units + closed form."""
    from fcabench.counting import dynamic
    from fcabench.counting.profiler import head_macs

    inputs = dynamic.inputs_from_lengths(model, [seq_len])
    total = int(dynamic.profile_examples(model, inputs)["macs"].iloc[0])
    return total - sum(head_macs(model, seq_len).values())


def fit_retention(model, config, seq_len: int, ratio: float, measure=None):
    """(``config`` with its retention scaled so that encoder MACs ~= ``ratio`` x the unpatched model's, the ratio
    it reaches). ``measure(model)`` gives the encoder MACs the ratio is of: by default the closed form on one
    full-length input of the real model (:func:`encoder_macs_at`); training passes a measure over examples at
    their real lengths. A configuration of ratios (or the default schedule) is first turned into the retention
    it gives at ``seq_len``."""
    from fcabench import methods

    if not hasattr(config, "retention"):
        raise FcabenchError(f"a MAC budget needs a retention configuration; {type(config).__name__} has none")
    if config.retention is None:
        n = torch.tensor([seq_len])
        layers = model.config.num_hidden_layers
        config = dataclasses.replace(
            config, ratios=None, retention=tuple(int(config.counts(n, layer, layers)[0]) for layer in range(layers))
        )
    if not 0 < ratio <= 1:
        raise FcabenchError(f"macs_ratio must be in (0, 1], got {ratio}")
    bare = copy.deepcopy(model)
    if methods.applied(bare):
        raise FcabenchError("fit_retention needs the unpatched model")
    measure = measure or functools.partial(encoder_macs_at, seq_len=seq_len)
    vanilla = measure(bare)

    @functools.cache  # the counts are integers: many scale factors give the same retention
    def cost_of(retention: tuple[int, ...]) -> float:
        candidate = copy.deepcopy(bare)
        methods.apply(candidate, dataclasses.replace(config, retention=retention))
        return measure(candidate) / vanilla

    def cost(s: float) -> float:
        return cost_of(scaled(config.retention, s, seq_len))

    s, reached = bisect(cost, 0.0, seq_len / max(1, min(config.retention)), ratio, steps=RETENTION_STEPS)
    return dataclasses.replace(config, retention=scaled(config.retention, s, seq_len)), reached
