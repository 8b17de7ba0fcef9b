"""What a speed benchmark runs: real examples of a task split (or synthetic sequences), batched as a server would.

Batching policies, applied to vanilla and every method alike:

- ``max``: every batch padded to the length ``n`` (what fcabench's synthetic benchmark and its training do);
- ``dynamic``: each batch, in the split's order, padded to its longest example;
- ``sorted``: the examples sorted by length (longest first), batched, each batch padded to its longest; outputs
  are put back in the split's order.

A method that removes tokens is credited with the padding it drops under ``max``; under ``dynamic`` and
``sorted`` vanilla drops most of it too, which is the comparison a deployment makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fcabench.errors import FcabenchError
from fcabench.models import padded_inputs

PADDINGS = ("max", "dynamic", "sorted")


@dataclass(frozen=True)
class Workload:
    """Token ids per example (each at most ``seq_len`` long, [CLS] first), and where they came from."""

    ids: tuple[tuple[int, ...], ...]
    seq_len: int
    source: str  # "bbc-news test, 223 examples" or "synthetic: ..."
    segments: tuple[tuple[int, ...], ...] | None = None  # token type ids of sentence pairs

    def __post_init__(self):
        if not self.ids:
            raise FcabenchError(f"{self.source}: no examples to time")
        longest = max(map(len, self.ids))
        if longest > self.seq_len:
            raise FcabenchError(f"{self.source}: an example has {longest} tokens, more than n = {self.seq_len}")

    @property
    def lengths(self) -> list[int]:
        return [len(row) for row in self.ids]


@dataclass(frozen=True)
class Batch:
    index: tuple[int, ...]  # the examples it holds, positions in the workload
    inputs: dict  # input_ids, attention_mask (token_type_ids), padded to ``width``
    width: int


def from_task(task, split: str, tokenizer, seq_len: int, max_examples: int | None = None, seed: int = 0) -> Workload:
    """The split's examples tokenised as training and scoring tokenise them (truncated to ``seq_len``)."""
    from fcabench.training import data

    examples = task.load(split, max_examples=max_examples, seed=seed)
    encoded = data.tokenize(examples, tokenizer, seq_len)
    segments = tuple(map(tuple, encoded["token_type_ids"])) if "token_type_ids" in encoded.column_names else None
    described = f"{task.name} {split}, {len(encoded)} examples" + (" (a fixed draw)" if max_examples else "")
    return Workload(tuple(map(tuple, encoded["input_ids"])), seq_len, described, segments)


def batches(workload: Workload, batch_size: int, padding: str, device="cpu") -> list[Batch]:
    """The workload in batches of ``batch_size`` under a batching policy (see the module docstring)."""
    if padding not in PADDINGS:
        raise FcabenchError(f"unknown padding {padding!r}; paddings: {', '.join(PADDINGS)}")
    if batch_size < 1:
        raise FcabenchError(f"batch size must be at least 1, got {batch_size}")
    order = list(range(len(workload.ids)))
    if padding == "sorted":
        order.sort(key=lambda i: -len(workload.ids[i]))
    out = []
    for start in range(0, len(order), batch_size):
        index = tuple(order[start : start + batch_size])
        rows = [workload.ids[i] for i in index]
        width = workload.seq_len if padding == "max" else max(map(len, rows))
        segments = [workload.segments[i] for i in index] if workload.segments else None
        out.append(Batch(index, padded_inputs(rows, width, segments, device), width))
    return out


@torch.inference_mode()
def predict(model, workload: Workload, batch_size: int, padding: str) -> torch.Tensor:
    """Logits of every example, in the workload's order, whatever order the batches ran in."""
    device = next(model.parameters()).device
    logits: list = [None] * len(workload.ids)
    for batch in batches(workload, batch_size, padding, device):
        out = model(**batch.inputs).logits.float().cpu()
        for row, i in enumerate(batch.index):
            logits[i] = out[row]
    return torch.stack(logits)


def models_for(model: str, setups, device: str = "cpu") -> tuple[dict, object, int | None, str | None]:
    """(label -> model, tokenizer, the checkpoint's length or None, the checkpoint's task or None) for timing real
    examples: ``model`` a fcabench checkpoint (vanilla = its fine-tuned weights unpatched, plus its own method
    under its name), a named model or a folder with a tokenizer. Every other setup's method is applied to
    the same weights."""
    import copy
    from pathlib import Path

    from transformers import AutoTokenizer

    from fcabench import methods
    from fcabench.models import PRESETS, load_model, resolve
    from fcabench.training import checkpoint as ckpt

    if model in PRESETS:
        raise FcabenchError(
            f"{model} is a preset with random weights and no tokenizer; time real examples with a named model "
            "(minilm-l6), a folder or a checkpoint, or leave --task out for synthetic inputs"
        )
    own, seq_len, task = {}, None, None
    if (Path(model).expanduser() / ckpt.MANIFEST_FILE).is_file():
        bare, tokenizer, manifest = ckpt.load_checkpoint(model, patched=False, device=device)
        trained, _, _ = ckpt.load_checkpoint(model, device=device)
        patched = methods.applied(trained)
        if patched:
            own[patched.method.name] = trained.eval()
        seq_len, task = manifest.get("seq_len"), manifest.get("task")
    else:
        bare = load_model(model, head="sequence-classification", device=device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolve(model))
        except (OSError, ValueError):
            raise FcabenchError(f"{model}: no tokenizer to tokenise real examples with") from None
    models = {"vanilla": bare.eval(), **own}
    for setup in setups:
        if setup.method in (None, "vanilla") or setup.label in models:
            continue
        models[setup.label] = methods.apply(copy.deepcopy(bare), setup.method, **dict(setup.options)).eval()
    return models, tokenizer, seq_len, task
