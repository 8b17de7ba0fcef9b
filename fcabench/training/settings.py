"""How every stage of a method trains: one dataclass holds the settings, their defaults, their help and their
checks; ``fcabench.train`` takes it (or its fields as keywords), ``fcabench train`` takes its defaults and help
for its options, and a sweep specification's ``[train]`` table takes its fields as keys.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from fcabench import encoders, methods
from fcabench.errors import FcabenchError
from fcabench.training.scoring import PRECISIONS

__all__ = [
    "AT_REAL_LENGTHS",
    "DEFAULTS",
    "MACS_AT",
    "PRECISIONS",
    "TrainSettings",
    "check_length_and_batch",
    "check_stage_names",
    "value_problem",
]

MACS_AT = ("padded", "real")  # where a MAC budget is met: see TrainSettings.macs_at
AT_REAL_LENGTHS = "at the real lengths"  # in a run's note when its budget was met there (sweeps match on it)


def _setting(default, help: str, flag: str | None = None):
    return field(default=default, metadata={"help": help, "flag": flag})


SEED_MAX = 2**32 - 1  # numpy's and the Trainer's seeds are 32-bit


def _whole(low: int, high: float = math.inf):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _number(ok):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and ok(v)


def _optional(rule):
    return lambda v: v is None or rule(v)


# What each setting must be, checked before any work for every caller (the CLI, fcabench.train, a sweep's
# [train] table): a value that cannot be meant (inf, nan, a negative seed) is refused, never trained with.
RULES = {
    "seq_len": (_optional(_whole(2)), "a whole number of tokens, at least 2"),
    "epochs": (_number(lambda v: v > 0), "a finite number above 0"),
    "max_steps": (_optional(_whole(1)), "a whole number, at least 1"),
    "batch_size": (_whole(1), "a whole number, at least 1"),
    "learning_rate": (_number(lambda v: v > 0), "a finite number above 0"),
    "warmup_ratio": (_number(lambda v: 0 <= v < 1), "a fraction in [0, 1)"),
    "weight_decay": (_number(lambda v: v >= 0), "a finite number, 0 or above"),
    "seed": (_whole(0, SEED_MAX), f"a whole number from 0 to {SEED_MAX}"),
    "subset_seed": (_optional(_whole(0, SEED_MAX)), f"a whole number from 0 to {SEED_MAX}"),
    "precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
    "device": (_optional(lambda v: isinstance(v, str) and v.strip() != ""), "a device name (cpu, cuda, cuda:1)"),
    "max_train_examples": (_optional(_whole(1)), "a whole number, at least 1"),
    "max_eval_examples": (_optional(_whole(1)), "a whole number, at least 1"),
    "macs_ratio": (_optional(_number(lambda v: 0 < v <= 1)), "a fraction in (0, 1]"),
    "macs_at": (lambda v: v in MACS_AT, f"one of {', '.join(MACS_AT)}"),
    "report_to": (_optional(lambda v: isinstance(v, str) and v.strip() != ""), "logger names (tensorboard, wandb)"),
}


def value_problem(name: str, value) -> str | None:
    """What setting ``name`` must be, when ``value`` is not that; None when it is."""
    ok, requirement = RULES[name]
    return None if ok(value) else f"must be {requirement}, got {value!r}"


@dataclass(frozen=True)
class TrainSettings:
    """The settings of one ``fcabench.train`` call. The defaults are BERT's fine-tuning recipe (Devlin et al.
    2019: learning rate 2e-5 to 5e-5, 2 to 4 epochs, 10 % linear warm-up, weight decay 0.01), which
    PoWER-BERT's official code also uses; the top learning rate, so that one epoch of a small data set trains
    (at 2e-5 an 800-row CSV stayed at its majority class)."""

    seq_len: int | None = _setting(None, "Padded length in tokens (default: --from's, else the task's).", "--seq-len")
    epochs: float = _setting(3.0, "Epochs per stage.", "--epochs")
    max_steps: int | None = _setting(None, "Optimizer steps per stage (overrides --epochs).", "--max-steps")
    batch_size: int = _setting(16, "Examples per optimizer step.", "--batch-size")
    learning_rate: float = _setting(5e-5, "Peak learning rate of the backbone.", "--lr")
    warmup_ratio: float = _setting(0.1, "Fraction of the steps the learning rate warms up over.", "--warmup-ratio")
    weight_decay: float = _setting(0.01, "AdamW's weight decay.", "--weight-decay")
    seed: int = _setting(0, "Seed of the head's initialisation, the data order and the subsets.", "--seed")
    subset_seed: int | None = _setting(
        None, "Seed of the --max-*-examples subsets alone: the same subset for every --seed.", "--subset-seed"
    )
    precision: str = _setting(
        "fp32",
        "fp32, bf16 (CPU with AVX-512 BF16 or AMX, CUDA) or fp16 (CUDA): autocast for the training steps; "
        "validation is scored in fp32.",
        "--precision",
    )
    device: str | None = _setting(None, "cpu, cuda, cuda:1 ... (default: cuda if available).", "--device")
    max_train_examples: int | None = _setting(
        None, "A fixed random subset of the training split.", "--max-train-examples"
    )
    max_eval_examples: int | None = _setting(
        None, "A fixed random subset of the validation split.", "--max-eval-examples"
    )
    macs_ratio: float | None = _setting(
        None, "Scale a derived retention to this fraction of vanilla encoder MACs.", "--macs-ratio"
    )
    macs_at: str = _setting(
        "padded",
        "Where --macs-ratio is met: padded (one input of --seq-len tokens) or real (training examples, each at "
        "its own length).",
        "--macs-at",
    )
    report_to: str | None = _setting(None, "Trainer loggers (tensorboard, wandb...); default none.", "--report-to")

    def __post_init__(self):
        for item in dataclasses.fields(self):
            problem = value_problem(item.name, getattr(self, item.name))
            if problem:
                raise FcabenchError(f"{item.metadata['flag']} {problem}")

    @classmethod
    def help(cls, name: str) -> str:
        return _field(name).metadata["help"]

    def check(self, plan, method, model_config) -> None:
        """Every setting and every stage's configuration checked against the model, before any work."""
        check_length_and_batch(self.seq_len, encoders.max_length(model_config), self.batch_size)
        if self.macs_at != "padded" and self.macs_ratio is None:
            raise FcabenchError("--macs-at real needs --macs-ratio")
        for stage in plan:
            if stage.config is not None and stage.config is not methods.DERIVED:
                acting = methods.method_of(stage.config)
                acting.validate(stage.config, model_config)
                acting.check_input(stage.config, self.seq_len)
        if self.macs_ratio is not None:
            fields = {f.name for f in dataclasses.fields(method.config_class)}
            if plan[-1].config is None or plan[-1].derive or "retention" not in fields:
                raise FcabenchError(
                    f"--macs-ratio scales a retention configuration (power-bert, fca); {method.name}'s "
                    f"final stage {plan[-1].name} has none"
                )
        _check_report_to(self.report_to)


def _field(name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(TrainSettings) if f.name == name)


DEFAULTS = TrainSettings()


def check_length_and_batch(seq_len: int, limit: int, batch_size: int) -> None:
    """The padded length a model takes (from 2, [CLS] and one more, to its maximum) and a batch of at least one."""
    if not 2 <= seq_len <= limit:
        raise FcabenchError(f"--seq-len must be from 2 to the model's maximum {limit}, got {seq_len}")
    if batch_size < 1:
        raise FcabenchError(f"--batch-size must be at least 1, got {batch_size}")


def check_stage_names(known: list[str], stages) -> str | None:
    """What is wrong with the ``stages`` asked of a method whose stages are ``known`` (in the order they run), or
    None: names it has, each once, in its order."""
    unknown = [s for s in stages if s not in known]
    if unknown:
        return f"has no stage(s) {', '.join(unknown)}; its stages: {', '.join(known)}"
    if len(set(stages)) != len(stages):
        return f"a stage is named twice in {', '.join(stages)}"
    if list(stages) != sorted(stages, key=known.index):
        return f"stages run in the order {', '.join(known)}, not {', '.join(stages)}"
    return None


def _check_report_to(report_to: str | None) -> None:
    """Loggers the Trainer knows and this machine has, before any work (the Trainer would fail at its start)."""
    if not report_to or report_to == "none":
        return
    from transformers.integrations import get_available_reporting_integrations
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    for name in (part.strip() for part in report_to.split(",")):
        if name not in INTEGRATION_TO_CALLBACK:
            raise FcabenchError(
                f"--report-to {name}: not a logger the Trainer knows ({', '.join(INTEGRATION_TO_CALLBACK)})"
            )
        if name not in get_available_reporting_integrations():
            raise FcabenchError(f"--report-to {name}: its package is not installed here")
