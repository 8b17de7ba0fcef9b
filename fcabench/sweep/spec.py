"""Reading a sweep specification (TOML) into frozen dataclasses; every mistake names its key.

A specification (see ``sweeps/`` for real ones)::

    [sweep]
    name = "bbc-news-minilm"          # labels the sweep; default output folder out/sweeps/<name>
    models = ["minilm-l6"]            # model names or folders, as fcabench.train takes them
    tasks = ["bbc-news"]
    seeds = [0]
    score_splits = ["test"]           # also score each job's final checkpoint on these splits (fcabench.evaluate)
    results = "results/study.jsonl"   # the store the jobs' runs are merged into

    [train]                           # keyword arguments of fcabench.train for every job
    seq_len = 64
    max_steps = 30

    [resources]                       # what each job asks of Ray (the local executor ignores it)
    num_cpus = 1

    [[methods]]
    name = "vanilla"                  # unique label; jobs of other entries may start from its checkpoint
    method = "vanilla"

    [[methods]]
    name = "power-bert"
    method = "power-bert"
    from = "vanilla"                  # start from the checkpoint of entry "vanilla" (same model, task, seed)
    stages = ["search", "retrain"]
    budget = { encoder_macs = [0.67, 0.5, 0.33] }   # x vanilla's encoder MACs at train.seq_len
    grid = { soft_lambda = [1e-3] }   # cartesian product of option lists
    configs = [{...}, {...}]          # or explicit option sets
    training_free = false             # true: apply to the `from` checkpoint and evaluate, no training
    seeds = [0, 1, 2]                 # this entry's seeds instead of sweep.seeds (its `from` entry needs them too)
    front_picks = [0.67, 0.5, 0.33]   # a method whose search keeps a front (lat): on each score split, score the
                                      # whole front, then its best configuration (on validation) at each budget

Paths in the specification are relative to the working directory, like the CLI's.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from fcabench.errors import FcabenchError
from fcabench.training.settings import RULES, TrainSettings, check_stage_names, value_problem

# Keyword arguments of fcabench.train a specification may set: the fields of its TrainSettings, and where data
# lives; the sweep itself supplies model, task, method, method_options, stages, from_checkpoint, seed,
# training_free, output_dir, results, progress.
TRAIN_KEYS = (*(f.name for f in fields(TrainSettings) if f.name != "seed"), "data_dir")  # seeds come from [sweep]
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")  # Ray's per-task resource requests
SWEEP_KEYS = ("name", "models", "tasks", "seeds", "score_splits", "results", "out")
METHOD_KEYS = (
    "name",
    "method",
    "options",
    "grid",
    "configs",
    "budget",
    "from",
    "from_checkpoint",
    "stages",
    "training_free",
    "seeds",
    "train",
    "resources",
    "front_picks",
)
SPLITS = ("validation", "test")  # splits a job's final checkpoint may also be scored on
BUDGET_KEYS = ("encoder_macs", "knob", "range", "tolerance")
TOP_KEYS = ("sweep", "train", "resources", "methods")


@dataclass(frozen=True)
class Budget:
    """Operating points given as a cost instead of an option: "encoder MACs = 0.5 x vanilla's"."""

    encoder_macs: tuple[float, ...]  # targets, encoder MACs / vanilla's at the padded train.seq_len
    knob: str | None = None  # config field turned to meet the target; None: the method's usual one
    range: tuple[float, float] | None = None  # the knob's search interval; None: the knob's natural one
    tolerance: float = 0.05  # largest accepted |achieved - target| / target (counts are integers)


@dataclass(frozen=True)
class MethodEntry:
    """One ``[[methods]]`` table: a method and the configurations to run it with."""

    name: str  # unique label within the sweep
    method: str  # registered method name
    options: dict = field(default_factory=dict)  # options every configuration of this entry shares
    grid: dict = field(default_factory=dict)  # option -> list of values; the cartesian product is taken
    configs: tuple[dict, ...] = ()  # explicit option sets (combined with grid and options)
    budget: Budget | None = None  # cost targets resolved to an option by the closed form
    depends_on: str | None = None  # ``from``: another entry whose checkpoint each job starts from
    from_checkpoint: str | None = None  # a checkpoint folder every job starts from (instead of ``from``)
    stages: tuple[str, ...] | None = None  # the method's stages to run; None: all of them
    training_free: bool = False  # apply the method to the starting checkpoint and evaluate only
    train: dict = field(default_factory=dict)  # overrides of [train] for this entry
    resources: dict = field(default_factory=dict)  # overrides of [resources] for this entry
    seeds: tuple[int, ...] | None = None  # None: the sweep's seeds
    front_picks: tuple[float, ...] = ()  # budgets (x vanilla's encoder MACs) at which a front's best is scored


@dataclass(frozen=True)
class SweepSpec:
    """A whole specification file."""

    name: str
    models: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]  # one job per seed and point (an entry may name its own)
    methods: tuple[MethodEntry, ...]
    score_splits: tuple[str, ...] = ()  # splits each job's final checkpoint is also scored on, after training
    train: dict = field(default_factory=dict)  # fcabench.train keywords shared by all jobs
    resources: dict = field(default_factory=lambda: {"num_cpus": 1})  # per-job Ray request
    results: str | None = None  # store to merge into; None: results/runs.jsonl of the checkout
    out: str | None = None  # folder for job files and checkpoints; None: out/sweeps/<name>
    source: str = ""  # the file it was read from

    @property
    def out_dir(self) -> Path:
        return Path(self.out or Path("out") / "sweeps" / safe_name(self.name))


def safe_name(name: str) -> str:
    """``name`` as one file name of letters, digits, '.', '_' and '-' (no folder, no '..'): a spec's name never
    puts its folder outside out/sweeps/."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "sweep"


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a specification file; a mistake raises one FcabenchError naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise FcabenchError(f"{path}: no such sweep specification")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise FcabenchError(f"{path}: not valid TOML ({error})") from None
    try:
        return parse_spec(data, source=str(path))
    except _KeyError as error:
        raise FcabenchError(f"{path}: key '{error.key}': {error.message}") from None


def parse_spec(data: dict, source: str = "<spec>") -> SweepSpec:
    """The checked :class:`SweepSpec` of an already parsed TOML document."""
    _known(data, TOP_KEYS, "")
    sweep = _table(data, "sweep", required=True)
    _known(sweep, SWEEP_KEYS, "sweep.")
    name = _string(sweep, "name", "sweep.", required=True)
    models = tuple(_string_list(sweep, "models", "sweep."))
    tasks = tuple(_string_list(sweep, "tasks", "sweep."))
    for task in tasks:
        _check_task(task)
    seeds = tuple(_seed_list(sweep, "seeds", "sweep.", default=[0]))
    score_splits = tuple(_string_list(sweep, "score_splits", "sweep.")) if "score_splits" in sweep else ()
    for split in score_splits:
        if split not in SPLITS:
            raise _KeyError("sweep.score_splits", f"unknown split {split!r} (splits: {', '.join(SPLITS)})")
    train = _train(_table(data, "train"), "train.")
    resources = _resources(_table(data, "resources"), "resources.") or {"num_cpus": 1}
    raw_methods = data.get("methods")
    if not isinstance(raw_methods, list) or not raw_methods:
        raise _KeyError("methods", "give at least one [[methods]] table")
    entries = [_method_entry(item, f"methods[{i}].") for i, item in enumerate(raw_methods)]
    names = [e.name for e in entries]
    for i, entry in enumerate(entries):
        if names.index(entry.name) != i:
            raise _KeyError(f"methods[{i}].name", f"{entry.name!r} is used by two entries")
        if entry.depends_on is not None and entry.depends_on not in names:
            raise _KeyError(f"methods[{i}].from", f"no entry named {entry.depends_on!r} (entries: {', '.join(names)})")
    return SweepSpec(
        name=name,
        models=models,
        tasks=tasks,
        seeds=seeds,
        methods=tuple(_dependency_order(entries)),
        score_splits=score_splits,
        train=train,
        resources=resources,
        results=_string(sweep, "results", "sweep."),
        out=_string(sweep, "out", "sweep."),
        source=source,
    )


def _check_task(task: str) -> None:
    """A registered task, or a data file that exists."""
    from fcabench import tasks
    from fcabench.tasks.files import READERS

    if task in tasks.names():
        return
    path = Path(task).expanduser()
    if path.suffix.lower() in READERS:
        if not path.is_file():
            raise _KeyError("sweep.tasks", f"no data file {task!r}")
        return
    raise _KeyError("sweep.tasks", f"unknown task {task!r} (tasks: {', '.join(tasks.names())}; or a data file)")


class _KeyError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def _known(table: dict, allowed: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise _KeyError(prefix + key, f"unknown key (known: {', '.join(allowed)})")


def _table(data: dict, key: str, prefix: str = "", required: bool = False) -> dict:
    value = data.get(key)
    if value is None:
        if required:
            raise _KeyError(prefix + key, "missing")
        return {}
    if not isinstance(value, dict):
        raise _KeyError(prefix + key, f"expected a table, got {value!r}")
    return value


def _string(data: dict, key: str, prefix: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _KeyError(prefix + key, "missing" if value is None else f"expected a non-empty string, got {value!r}")
    return value


def _string_list(data: dict, key: str, prefix: str) -> list[str]:
    value = data.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _KeyError(prefix + key, "missing" if value is None else f"expected a list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise _KeyError(prefix + key, f"lists a name twice: {value!r}")
    return value


def _seed_list(data: dict, key: str, prefix: str, default: list[int]) -> list[int]:
    value = data.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise _KeyError(prefix + key, f"expected a list of integers, got {value!r}")
    if len(set(value)) != len(value):
        raise _KeyError(prefix + key, f"lists a value twice: {value!r}")
    for seed in value:
        problem = value_problem("seed", seed)
        if problem:
            raise _KeyError(prefix + key, f"each seed {problem}")
    return value


def _train(table: dict, prefix: str) -> dict:
    """The [train] table, each value checked by the rule fcabench train applies to its option."""
    _known(table, TRAIN_KEYS, prefix)
    for key, value in table.items():
        problem = value_problem(key, value) if key in RULES else None
        if key == "data_dir" and not isinstance(value, str):
            problem = f"expected a string, got {value!r}"
        if problem:
            raise _KeyError(prefix + key, problem)
    return dict(table)


def _resources(table: dict, prefix: str) -> dict:
    _known(table, RESOURCE_KEYS, prefix)
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise _KeyError(prefix + key, f"expected a non-negative number, got {value!r}")
    return dict(table)


def _method_entry(item: Any, prefix: str) -> MethodEntry:
    if not isinstance(item, dict):
        raise _KeyError(prefix.rstrip("."), f"expected a table, got {item!r}")
    _known(item, METHOD_KEYS, prefix)
    method = _string(item, "method", prefix, required=True)
    from fcabench import methods as registry

    if method not in registry.names():
        raise _KeyError(prefix + "method", f"unknown method {method!r} (methods: {', '.join(registry.names())})")
    options = _table(item, "options", prefix)
    grid = _table(item, "grid", prefix)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise _KeyError(f"{prefix}grid.{key}", f"expected a non-empty list of values, got {values!r}")
    configs = item.get("configs", [])
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise _KeyError(prefix + "configs", f"expected a list of option tables, got {configs!r}")
    for key in list(options) + list(grid) + [k for c in configs for k in c]:
        _check_option(method, key, prefix)
    budget = _budget(item.get("budget"), method, prefix + "budget.") if "budget" in item else None
    depends_on = _string(item, "from", prefix)
    from_checkpoint = _string(item, "from_checkpoint", prefix)
    if depends_on and from_checkpoint:
        raise _KeyError(prefix + "from_checkpoint", "give 'from' (another entry) or 'from_checkpoint', not both")
    stages = item.get("stages")
    if stages is not None and (
        not isinstance(stages, list) or not stages or not all(isinstance(s, str) for s in stages)
    ):
        raise _KeyError(prefix + "stages", f"expected a list of stage names, got {stages!r}")
    if stages:
        _check_stages(method, stages, prefix)
    if from_checkpoint and not Path(from_checkpoint).expanduser().is_dir():
        raise _KeyError(prefix + "from_checkpoint", f"no checkpoint folder {from_checkpoint!r}")
    training_free = item.get("training_free", False)
    if not isinstance(training_free, bool):
        raise _KeyError(prefix + "training_free", f"expected true or false, got {training_free!r}")
    if training_free and not (depends_on or from_checkpoint):
        raise _KeyError(
            prefix + "training_free", "a training-free entry needs a fine-tuned model: set 'from' or 'from_checkpoint'"
        )
    return MethodEntry(
        name=_string(item, "name", prefix) or method,
        method=method,
        options=dict(options),
        grid=dict(grid),
        configs=tuple(dict(c) for c in configs),
        budget=budget,
        depends_on=depends_on,
        from_checkpoint=from_checkpoint,
        stages=tuple(stages) if stages else None,
        training_free=training_free,
        train=_train(_table(item, "train", prefix), prefix + "train."),
        resources=_resources(_table(item, "resources", prefix), prefix + "resources."),
        seeds=tuple(_seed_list(item, "seeds", prefix, default=[0])) if "seeds" in item else None,
        front_picks=_front_picks(item, method, prefix),
    )


def _front_picks(item: dict, method: str, prefix: str) -> tuple[float, ...]:
    """Budgets in (0, 1], for a method whose last stage is a search that keeps a front."""
    from fcabench import methods as registry

    if "front_picks" not in item:
        return ()
    picks = _fractions(item["front_picks"], prefix + "front_picks")
    acting = registry.get(method)
    if acting.stages(acting.config_class())[-1].trains:
        raise _KeyError(prefix + "front_picks", f"{method} keeps no front (its last stage trains one configuration)")
    return tuple(picks)


def _fractions(value: Any, key: str) -> list[float]:
    """A non-empty list of fractions of vanilla's encoder MACs, each in (0, 1] (one number: a list of it)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in value)
    ):
        raise _KeyError(key, f"expected fractions of vanilla's encoder MACs in (0, 1], got {value!r}")
    return [float(v) for v in value]


def _check_stages(method: str, stages: list[str], prefix: str) -> None:
    """Stage names the method has, each once, in the method's order (the order they run in)."""
    from fcabench import methods as registry

    acting = registry.get(method)
    known = [s.name for s in acting.stages(acting.config_class())]
    problem = check_stage_names(known, stages)
    if problem:
        raise _KeyError(prefix + "stages", f"{method}: {problem}")


def _check_option(method: str, key: str, prefix: str) -> None:
    import dataclasses

    from fcabench import methods as registry

    fields = [f.name for f in dataclasses.fields(registry.get(method).config_class)]
    if key not in fields:
        raise _KeyError(f"{prefix}{key}", f"not an option of {method} (options: {', '.join(fields) or 'none'})")


def _budget(value: Any, method: str, prefix: str) -> Budget:
    if not isinstance(value, dict):
        raise _KeyError(prefix.rstrip("."), f"expected a table such as {{ encoder_macs = [0.5] }}, got {value!r}")
    _known(value, BUDGET_KEYS, prefix)
    targets = _fractions(value.get("encoder_macs"), prefix + "encoder_macs")
    knob = value.get("knob")
    if knob is not None:
        if not isinstance(knob, str):
            raise _KeyError(prefix + "knob", f"expected an option name, got {knob!r}")
        try:
            _check_option(method, knob, prefix)
        except _KeyError as error:
            raise _KeyError(prefix + "knob", error.message) from None
    interval = value.get("range")
    if interval is not None:
        if (
            not isinstance(interval, list)
            or len(interval) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in interval)
            or not interval[0] < interval[1]
        ):
            raise _KeyError(prefix + "range", f"expected [low, high] with low < high, got {interval!r}")
        interval = (float(interval[0]), float(interval[1]))
    tolerance = value.get("tolerance", 0.05)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < tolerance < 1:
        raise _KeyError(prefix + "tolerance", f"expected a fraction in (0, 1), got {tolerance!r}")
    return Budget(tuple(float(t) for t in targets), knob, interval, float(tolerance))


def _dependency_order(entries: list[MethodEntry]) -> list[MethodEntry]:
    """Entries with every ``from`` before its dependents, otherwise in file order (stable)."""
    by_name = {e.name: e for e in entries}
    ordered: list[MethodEntry] = []
    visiting: set[str] = set()

    def visit(entry: MethodEntry) -> None:
        if entry in ordered:
            return
        if entry.name in visiting:
            raise _KeyError(f"methods.{entry.name}.from", "the 'from' references form a cycle")
        visiting.add(entry.name)
        if entry.depends_on:
            visit(by_name[entry.depends_on])
        visiting.discard(entry.name)
        ordered.append(entry)

    for entry in entries:
        visit(entry)
    return ordered
