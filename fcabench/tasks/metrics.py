"""Task metrics as GLUE defines them, computed with scikit-learn and scipy, on a 0-100 scale.

Matthews correlation (CoLA), F1 of the positive class and accuracy (MRPC, QQP), Pearson and Spearman
correlation (STS-B), accuracy elsewhere; macro-F1 for the multi-class document and tweet sets. Scores
are x100, the scale of the run store (``Run.score``).
"""

from __future__ import annotations

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


METRICS = {f.__name__: f for f in (accuracy, f1, f1_macro, matthews_corr, pearson, spearman)}


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
