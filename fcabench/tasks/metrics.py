"""The metric registry: every metric fcabench computes or reads, with its function, direction and labels.

Computed as GLUE defines them, with scikit-learn and scipy, on a 0-100 scale: Matthews correlation (CoLA), F1
of the positive class and accuracy (MRPC, QQP), Pearson and Spearman correlation (STS-B), accuracy elsewhere;
macro-F1 for the multi-class document and tweet sets. Scores are x100, the scale of the run store
(``Run.score``). Published tables add metrics fcabench reads but never computes (micro-F1, top-1 accuracy).
A new metric is one function and one :class:`Metric` line in ``REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fcabench.errors import FcabenchError


def _classes(predictions):
    predictions = np.asarray(predictions)
    return predictions.argmax(axis=-1) if predictions.ndim == 2 else predictions


def accuracy(predictions, labels) -> float:
    from sklearn.metrics import accuracy_score

    return 100.0 * accuracy_score(labels, _classes(predictions))


def f1(predictions, labels) -> float:
    """F1 of class 1 (GLUE's "duplicate"/"equivalent" class)."""
    from sklearn.metrics import f1_score

    return 100.0 * f1_score(labels, _classes(predictions), pos_label=1, average="binary", zero_division=0)


def f1_macro(predictions, labels) -> float:
    from sklearn.metrics import f1_score

    return 100.0 * f1_score(labels, _classes(predictions), average="macro", zero_division=0)


def matthews_corr(predictions, labels) -> float:
    from sklearn.metrics import matthews_corrcoef

    return 100.0 * matthews_corrcoef(labels, _classes(predictions))


def _scores(predictions) -> np.ndarray:
    return np.asarray(predictions, dtype=float).reshape(len(predictions), -1)[:, 0]


def pearson(predictions, labels) -> float:
    from scipy.stats import pearsonr

    return 100.0 * float(pearsonr(_scores(predictions), np.asarray(labels, dtype=float))[0])


def spearman(predictions, labels) -> float:
    from scipy.stats import spearmanr

    return 100.0 * float(spearmanr(_scores(predictions), np.asarray(labels, dtype=float))[0])


@dataclass(frozen=True)
class Metric:
    name: str
    function: Callable | None  # (predictions, labels) -> score x100; None: read from published tables only
    label: str  # axis label
    short_label: str  # axis label of a small panel in a grid
    higher_is_better: bool = True
    lowest: float = 0.0  # the scale's ends: an interval never reaches past them
    highest: float = 100.0


REGISTRY = {
    m.name: m
    for m in (
        Metric("accuracy", accuracy, "Accuracy (%)", "Acc. (%)"),
        Metric("f1", f1, "F1 (%)", "F1 (%)"),
        Metric("f1_macro", f1_macro, "Macro-F1 (%)", "Macro-F1 (%)"),
        Metric("matthews_corr", matthews_corr, "Matthews corr. (×100)", "MCC (×100)", lowest=-100.0),
        Metric("pearson", pearson, "Pearson corr. (×100)", "Pearson (×100)", lowest=-100.0),
        Metric("spearman", spearman, "Spearman corr. (×100)", "Spearman (×100)", lowest=-100.0),
        Metric("f1_micro", None, "Micro-F1 (%)", "Micro-F1 (%)"),
        Metric("top1_accuracy", None, "Top-1 accuracy (%)", "Top-1 (%)"),
    )
}
METRICS = {name: m.function for name, m in REGISTRY.items() if m.function is not None}  # what fcabench computes
# The metric a figure shows when none is asked for: the first of these a task has.
PREFERRED = ("accuracy", "f1", "matthews_corr", "spearman", "f1_macro", "top1_accuracy")


def label(name: str, short: bool = False) -> str:
    """The axis label of metric ``name`` (a metric not in the registry is labelled as stored)."""
    metric = REGISTRY.get(name)
    if metric is None:
        return f"{name} (as stored)"
    return metric.short_label if short else metric.label


def within_scale(name: str, low: float, high: float) -> tuple[float, float]:
    """An interval of metric ``name`` cut to the ends of its scale (a t-interval of 99, 100, 100 reaches past
    100 %); a metric not in the registry is left as it is."""
    metric = REGISTRY.get(name)
    if metric is None:
        return low, high
    return max(low, metric.lowest), min(high, metric.highest)


def higher_is_better(name: str) -> bool:
    return REGISTRY[name].higher_is_better if name in REGISTRY else True


def compute(names, predictions, labels) -> dict[str, float]:
    """``{metric: score}`` for the model outputs ``predictions`` (logits, or scores for regression)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise FcabenchError("no examples to score")
    if labels.dtype.kind in "iu" and (labels < 0).any():
        raise FcabenchError("this split has no labels (GLUE's test sets are scored on its server): use validation")
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise FcabenchError(f"unknown metric(s) {', '.join(unknown)}; metrics: {', '.join(METRICS)}")
    return {name: float(METRICS[name](predictions, labels)) for name in names}
