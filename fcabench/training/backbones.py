"""The model a task's training starts from: a classifier of the task's size on any supported backbone
(a preset-free folder, a hub name, or a named model of :data:`fcabench.models.NAMED`)."""

from __future__ import annotations

import sys

from fcabench.errors import FcabenchError
from fcabench.models import resolve


def load_for_task(model: str, task, seed: int = 0):
    """(a sequence classifier of the model's family, tokenizer) for ``task``: a fresh head of the task's
    size, a regression head (one output, MSE) for regression tasks. The head's initialisation follows ``seed``."""
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from fcabench import encoders
    from fcabench.models import checkpoint_config

    path = resolve(model)
    config = checkpoint_config(path)  # one clear error for a missing folder or an unsupported family
    try:
        encoders.family_of_config(config)
    except FcabenchError as error:
        raise FcabenchError(f"{model!r}: {error}") from None
    labels = task.labels or ("score",)
    transformers.set_seed(seed)
    kept = getattr(config, "num_labels", None)
    if getattr(config, "architectures", None) and any("SequenceClassification" in a for a in config.architectures):
        if kept != task.num_labels:  # a classifier of another task: its backbone, with a new head of this task's size
            print(f"{model}: its {kept}-label head is replaced by a new {task.num_labels}-label head", file=sys.stderr)
    classifier = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=task.num_labels,
        problem_type="regression" if task.regression else "single_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        ignore_mismatched_sizes=True,  # a head of another size is dropped (said above), never a traceback
    )
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoders.check_tokenizer(tokenizer, classifier.config, str(path))
    return classifier, tokenizer
