"""What ``fcabench bench --task`` times, read as training and scoring read it: a split's examples tokenised by the
training code (:func:`from_task`), and a checkpoint's models (:func:`models_for`)."""

from __future__ import annotations

from fcabench.errors import FcabenchError
from fcabench.speed.workload import Workload


def from_task(task, split: str, tokenizer, seq_len: int, max_examples: int | None = None, seed: int = 0) -> Workload:
    """The split's examples tokenised as training and scoring tokenise them (truncated to ``seq_len``)."""
    from fcabench.training import data

    examples = task.load(split, max_examples=max_examples, seed=seed)
    encoded = data.tokenize(examples, tokenizer, seq_len)
    segments = tuple(map(tuple, encoded["token_type_ids"])) if "token_type_ids" in encoded.column_names else None
    described = f"{task.name} {split}, {len(encoded)} examples" + (" (a fixed draw)" if max_examples else "")
    return Workload(tuple(map(tuple, encoded["input_ids"])), seq_len, described, segments)


def models_for(model: str, setups, device: str = "cpu") -> tuple[dict, object, int | None]:
    """(label -> model, tokenizer, the checkpoint's length or None) for timing real
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
    own, seq_len = {}, None
    if (Path(model).expanduser() / ckpt.MANIFEST_FILE).is_file():
        bare, tokenizer, manifest = ckpt.load_checkpoint(model, patched=False, device=device)
        trained, _, _ = ckpt.load_checkpoint(model, device=device)
        patched = methods.applied(trained)
        if patched:
            own[patched.method.name] = trained.eval()
        seq_len = manifest.get("seq_len")
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
    return models, tokenizer, seq_len
