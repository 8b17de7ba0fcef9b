"""The run schema: one row = one score (or one cost-only observation) of one method configuration.

Rows are flat, like lm-evaluation-harness and timm benchmark rows: a run scored on three metrics is three
rows that share ``run_id``. Units are in the names (``macs``, ``latency_ms``, ``peak_mem_mb``); ratios
say what they are relative to. Every row says where it comes from: ``source`` plus ``citation`` and
``source_note`` for published numbers, the provenance fields for runs measured by fcabench.

Cost convention fcabench normalises to (see ``normalisation``):
  * ``macs``: multiply-adds per sequence at the *padded* length ``seq_len``; ``flops`` = 2 x ``macs``. For a
    run scored by fcabench it is the mean over the scored examples, batches padded to ``seq_len``: a layer that
    still runs on the padded layout counts ``seq_len`` units, a reduced layer the units it kept, and no method
    keeps padding, so an example shorter than a layer's kept count costs less there. The mean is then a
    fraction and depends on the split's lengths; it equals the closed form of one full-length input (what
    ``fcabench profile -n seq_len`` prints, an integer) when every example is at least as long as what each
    layer keeps, and always for vanilla;
  * ``flops_rel_bert_base``: FLOPs divided by BERT-base's at the same padded length, counted by the same
    counter (the source's own BERT-base count where it gives one, else fcabench's closed form of the
    BERT-base encoder, :mod:`fcabench.runs.reference`).
What a source printed is kept beside the normalised value (``flops_as_printed``, ``speedup_as_printed``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from fcabench.runs.legacy import LEGACY_CONFIG_KEYS, LEGACY_METHODS

SCHEMA_VERSION = 1

SOURCES = ("measured", "published", "claim", "derived")
# measured:  run by fcabench (provenance fields filled in)
# published: a row of a paper's or official repository's results table
# claim:     a headline claim (abstract, README, author's reply): a single point, not a table
# derived:   computed here from a closed form, not measured and not published

INTERMEDIATE_STAGES = ("search", "soft")
# stages whose scored model is not the method's result (a configuration search, LTP's soft thresholds):
# a trade-off plot or a study table shows the stages after them; except where the search is the last stage and
# keeps a front of configurations of one trained model (LAT): that front is the result
FRONT_METHODS = ("lat",)
FRONT_LABEL = "front"  # config_label of a front's configurations scored one by one (evaluate --front)


def intermediate(runs):
    """Mask of the rows of a run frame whose stage is intermediate (see INTERMEDIATE_STAGES)."""
    return runs["stage"].isin(INTERMEDIATE_STAGES) & ~runs["method"].isin(FRONT_METHODS)


NORMALISATIONS = ("exact", "converted", "not-normalisable")
# exact:            ``macs``/``flops`` counted in fcabench's convention (measured or closed form)
# converted:        derived from the printed value by the rule in ``normalisation_note`` (x2, 1/factor, ...)
# not-normalisable: no comparable cost (wall-clock only, ratio on an unstated data set, no cost given);
#                   ``macs``, ``flops`` and ``flops_rel_bert_base`` stay empty

COUNT_LENGTHS = ("padded", "real", "unknown")

METHOD_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Run:
    """One stored row. Field order is the column order of :func:`fcabench.runs.load`."""

    # --- what was run ---
    run_id: str  # shared by the rows (metrics) of one run; unique per run
    method: str  # method key, e.g. "fca", "power-bert", "vanilla" (the unreduced reference); lower-case, hyphens
    model: str  # backbone checkpoint or architecture, e.g. "bert-base-uncased", "roberta-base"
    task: str  # data set, e.g. "SST-2", "BBC News"; "any" for task-independent costs
    source: str  # one of SOURCES
    method_label: str | None = None  # the method's name as the source printed it, e.g. "ours-PFC"
    method_config: dict = field(default_factory=dict)  # configuration (dataclasses.asdict of the method's)
    config_label: str | None = None  # short label for plots, e.g. "p=0.9", "layer 7"
    split: str | None = None  # "test", "validation", ...; None when the source does not say

    # --- quality ---
    metric: str | None = None  # "accuracy", "f1", "f1_macro", "matthews_corr", "spearman"...; None: cost only
    score: float | None = None  # on the metric's 0-100 scale, as printed (correlations x 100)
    claim_text: str | None = None  # for claims: the claim in words, e.g. "< 1% accuracy loss on GLUE"

    # --- cost ---
    seq_len: int | None = None  # padded sequence length the cost refers to (tokens)
    batch_size: int | None = None  # sequences per forward pass for latency_ms / peak_mem_mb
    macs: float | None = None  # multiply-adds per sequence at seq_len (a scored run: the mean over its examples)
    flops: float | None = None  # = 2 x macs
    flops_rel_bert_base: float | None = None  # flops / BERT-base flops at seq_len (same counter)
    flops_as_printed: str | None = None  # cost exactly as the source printed it, e.g. "0.544x", "35.3"
    flops_unit_as_printed: str | None = None  # what that printed number is, e.g. "MACs (torchprofile)"
    count_length: str = "unknown"  # one of COUNT_LENGTHS: the length the source counted at
    count_scope: str | None = None  # what is counted, e.g. "encoder matmuls (closed form)"
    normalisation: str = "not-normalisable"  # one of NORMALISATIONS
    normalisation_note: str | None = None  # the conversion rule, or why no conversion is possible
    speedup: float | None = None  # x over the same backbone without reduction (wall-clock or throughput)
    speedup_as_printed: str | None = None  # e.g. "4.5", "1.64x", "2-5"
    speedup_basis: str | None = None  # what was timed, e.g. "inference, batch 128", "training (probably)"
    latency_ms: float | None = None  # wall-clock of one forward pass over batch_size sequences
    peak_mem_mb: float | None = None  # peak accelerator (or host) memory during that pass, MiB
    mem_rel_bert_base: float | None = None  # memory relative to BERT-base, when only a ratio is published

    # --- where it comes from ---
    citation: str | None = None  # paper / repository, e.g. "PoWER-BERT (Goyal et al., ICML 2020)"
    source_note: str | None = None  # exact place: table, README, commit; caveats of the source
    source_file: str | None = None  # bundled table the row was imported from, e.g. "powerbert_glue_test.csv"

    # --- provenance of measured runs ---
    fcabench_version: str | None = None
    torch_version: str | None = None
    transformers_version: str | None = None
    git_commit: str | None = None  # `git rev-parse HEAD`, "+dirty" when the tree had changes
    date_utc: str | None = None  # ISO 8601, e.g. "2025-01-31T12:00:00Z"
    hardware: str | None = None  # GPU name or CPU model the timing ran on (also for published timings)

    # --- training and evaluation by fcabench (fcabench.train / fcabench.evaluate) ---
    seed: int | None = None  # random seed of training: head initialisation, data order, dropout
    stage: str | None = None  # stage that produced the scored model: "fine-tune", "search", "retrain", "soft",
    #                           "hard"; "training-free" = a method applied to a fine-tuned checkpoint, no training
    parent_run_id: str | None = None  # run_id of the stage whose checkpoint this one started from
    train_epochs: float | None = None  # epochs the stage was given
    train_max_steps: int | None = None  # cap on optimizer steps, when one was set
    train_steps: int | None = None  # optimizer steps actually taken
    train_batch_size: int | None = None  # examples per optimizer step
    train_learning_rate: float | None = None  # peak learning rate of the backbone (linear decay, AdamW)
    train_warmup_ratio: float | None = None  # fraction of the steps over which the learning rate warms up
    train_weight_decay: float | None = None  # AdamW weight decay of the backbone's weights (not biases, LayerNorms)
    train_precision: str | None = None  # fp32, bf16 or fp16 (autocast) of the training steps
    train_threads: int | None = None  # torch intra-op threads the training had
    train_examples: int | None = None  # training examples used
    train_wall_time_s: float | None = None  # wall-clock seconds of the stage's training, evaluation excluded
    epoch_selection: str | None = None  # how the scored weights were chosen, e.g. "best validation accuracy
    #                                      of 3 evaluation(s): epoch 2.0, step 224"
    data_source: str | None = None  # where the scored examples come from (package and file, local file, hub set)
    data_examples: int | None = None  # number of scored examples
    data_sha256: str | None = None  # SHA-256 of the scored examples (ids, texts, labels, in order)
    data_split_note: str | None = None  # how the split was made where the data set has no official one
    checkpoint_sha256: str | None = None  # SHA-256 naming the scored weights (model and method parameters)
    warning: str | None = None  # what fcabench warned about when it stored the run, e.g. a one-class model
    repeat_of: str | None = None  # a run stored again on purpose (--force): the run_id it repeats
    sweep_job: str | None = None  # the sweep job whose runs these are (set when a sweep merges them)
    point_id: str | None = None  # the configuration asked for, the same at every seed: settings, options, start
    macs_real_mean: float | None = None  # mean MACs per sequence, each scored example at its real length
    macs_real_p10: float | None = None  # 10th percentile of those per-example MACs
    macs_real_median: float | None = None  # median of those per-example MACs
    macs_real_p90: float | None = None  # 90th percentile of those per-example MACs
    length_real_mean: float | None = None  # mean real length of the scored examples (tokens, after truncation)
    latency_device: str | None = None  # device latency_ms / peak_mem_mb were taken on, e.g. "cpu", "cuda:0"
    latency_threads: int | None = None  # torch intra-op threads during the timing
    latency_warmup: int | None = None  # untimed passes before the timed ones
    latency_repeats: int | None = None  # timed passes; latency_ms is their median
    latency_note: str | None = None  # the rest of the protocol: inputs, statistic, how memory was read
    precision: str | None = None  # fp32, bf16 or fp16 (autocast) of the scoring passes and the latency timing

    schema_version: int = SCHEMA_VERSION

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict in column order (validated)."""
        return validate_record(dataclasses.asdict(self))


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Run))
_TYPES = typing.get_type_hints(Run)
_REQUIRED = tuple(
    f.name
    for f in dataclasses.fields(Run)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
_DEFAULTS = {
    f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
    for f in dataclasses.fields(Run)
    if f.name not in _REQUIRED
}


class RowError(ValueError):
    """A row that breaks the schema; ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"field '{field_name}': {message}")
        self.field = field_name
        self.message = message


def _base_type(annotation: Any) -> type:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def _coerce(name: str, value: Any) -> Any:
    """Check one value against the field's type; ints are accepted for floats, nothing else is coerced."""
    annotation = _TYPES[name]
    if value is None:
        if type(None) in typing.get_args(annotation):
            return None
        if name in _DEFAULTS and _DEFAULTS[name] is not None:
            return _DEFAULTS[name]
        raise RowError(name, "is required but missing")
    base = _base_type(annotation)
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RowError(name, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise RowError(name, f"expected a finite number, got {value!r}")
        return float(value)
    if base is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise RowError(name, f"expected an integer, got {value!r}")
        return int(value)
    if base is str:
        if not isinstance(value, str):
            raise RowError(name, f"expected a string, got {value!r}")
        return value
    if base is dict:
        if not isinstance(value, dict):
            raise RowError(name, f"expected an object (dict), got {value!r}")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as error:
            raise RowError(name, f"is not JSON-serialisable ({error})") from None
        return value
    raise AssertionError(f"unhandled type for {name}: {annotation}")  # schema bug, not user error


def validate_record(record: dict[str, Any]) -> dict[str, Any]:
    """Return the record with every schema field, in column order; raise :class:`RowError` on the first
    field that breaks the schema. Checks types, vocabularies and the cross-field rules below."""
    if not isinstance(record, dict):
        raise RowError("<row>", f"expected a JSON object, got {type(record).__name__}")
    unknown = sorted(set(record) - set(COLUMNS))
    if unknown:  # a typo in a field name would otherwise silently drop a number
        raise RowError(unknown[0], f"is not a schema field (known: {', '.join(COLUMNS)})")
    out = {name: _coerce(name, record.get(name, _DEFAULTS.get(name))) for name in COLUMNS}

    for name in _REQUIRED:
        if not out[name].strip():
            raise RowError(name, "must not be empty")
    if not METHOD_KEY.match(out["method"]):
        raise RowError("method", f"{out['method']!r} is not a method key (lower-case letters, digits, hyphens)")
    if out["method"] in LEGACY_METHODS:  # old files are translated when read (fcabench.runs.legacy)
        raise RowError("method", f"{out['method']!r} is the old name of {LEGACY_METHODS[out['method']]!r}")
    old_keys = sorted(LEGACY_CONFIG_KEYS.get(out["method"], {}).keys() & out["method_config"].keys())
    if old_keys:
        renames = LEGACY_CONFIG_KEYS[out["method"]]
        raise RowError("method_config", ", ".join(f"{k!r} is the old name of {renames[k]!r}" for k in old_keys))
    for name, allowed in (("source", SOURCES), ("normalisation", NORMALISATIONS), ("count_length", COUNT_LENGTHS)):
        if out[name] not in allowed:
            raise RowError(name, f"{out[name]!r} is not one of {', '.join(allowed)}")
    if out["schema_version"] > SCHEMA_VERSION:
        raise RowError("schema_version", f"{out['schema_version']} is newer than this fcabench ({SCHEMA_VERSION})")

    for name in (
        "macs",
        "flops",
        "flops_rel_bert_base",
        "latency_ms",
        "peak_mem_mb",
        "mem_rel_bert_base",
        "speedup",
        "train_wall_time_s",
        "macs_real_mean",
        "macs_real_p10",
        "macs_real_median",
        "macs_real_p90",
    ):
        if out[name] is not None and out[name] < 0:
            raise RowError(name, f"must not be negative, got {out[name]}")
    for name in ("seq_len", "batch_size"):
        if out[name] is not None and out[name] < 1:
            raise RowError(name, f"must be at least 1, got {out[name]}")
    if (out["metric"] is None) != (out["score"] is None) and out["source"] != "claim":
        missing = "score" if out["score"] is None else "metric"
        raise RowError(missing, "metric and score come together (a claim may state a metric without a score)")

    if out["macs"] is not None or out["flops"] is not None:
        if out["macs"] is None or out["flops"] is None:
            raise RowError("flops" if out["flops"] is None else "macs", "macs and flops come together")
        if not math.isclose(out["flops"], 2 * out["macs"], rel_tol=1e-9):
            raise RowError("flops", f"must be 2 x macs ({2 * out['macs']:.6g}), got {out['flops']:.6g}")
    cost = any(out[name] is not None for name in ("macs", "flops_rel_bert_base"))
    if out["normalisation"] == "not-normalisable" and cost:
        raise RowError("normalisation", "is 'not-normalisable' but macs or flops_rel_bert_base is set")
    if out["normalisation"] != "not-normalisable" and not cost:
        raise RowError("normalisation", f"is {out['normalisation']!r} but neither macs nor flops_rel_bert_base is set")

    if out["source"] == "measured":
        for name in ("fcabench_version", "torch_version", "date_utc", "hardware"):
            if not out[name]:
                raise RowError(name, "is required for a measured run (use fcabench.runs.measured_run)")
    else:
        for name in ("citation", "source_note"):
            if not out[name]:
                raise RowError(name, f"is required for a {out['source']} row: say where the number comes from")
    return out
