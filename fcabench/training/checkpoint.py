"""Checkpoint folders that rebuild the patched model they were saved from.

A folder holds the Hugging Face model (``config.json``, ``model.safetensors``: the backbone and head
weights only, loadable by plain transformers), its tokenizer, ``fcabench.json`` (method name and
configuration, task, labels, length, stage, the run that produced it) and ``method_state.safetensors``
(the method's own parameters, e.g. LTP's thresholds, when it has any). :func:`load_checkpoint` loads the
model, applies the method with the stored configuration and restores its parameters.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fcabench import methods
from fcabench.errors import FcabenchError

META_FILE = "fcabench.json"
METHOD_STATE_FILE = "method_state.safetensors"


config_to_dict, config_from_dict = methods.config_to_dict, methods.config_from_dict


def save_checkpoint(model, tokenizer, folder: str | Path, meta: dict) -> Path:
    """Write ``model`` (patched or not) and ``meta`` to ``folder``; returns the folder."""
    from safetensors.torch import save_file


    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    patched = methods.applied(model)
    # The method's parameters (registered on patched modules) are kept apart, so that config.json +
    # model.safetensors stay a plain transformers checkpoint.
    if patched:
        import torch

        with torch.device("meta"):  # the unpatched model's keys, without allocating its weights
            plain_keys = set(type(model)(model.config).state_dict())
    else:
        plain_keys = set(state)
    plain = {k: v for k, v in state.items() if k in plain_keys}
    extra = {k: v.detach().cpu().contiguous() for k, v in state.items() if k not in plain_keys}
    model.save_pretrained(folder, state_dict=plain)
    tokenizer.save_pretrained(folder)
    if extra:
        save_file(extra, str(folder / METHOD_STATE_FILE))
    meta = dict(meta)
    if patched:
        meta["method"], meta["method_config"] = patched[0].name, config_to_dict(patched[1])
    else:
        meta.setdefault("method", None)
        meta["method_config"] = None
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return folder


def read_meta(folder: str | Path) -> dict:
    folder = Path(folder).expanduser()
    if not (folder / "config.json").is_file():
        raise FcabenchError(f"no checkpoint at {str(folder)!r}: expected a folder with config.json")
    meta_path = folder / META_FILE
    return json.loads(meta_path.read_text()) if meta_path.is_file() else {}


def load_checkpoint(folder: str | Path, *, patched: bool = True, device: str = "cpu") -> tuple[Any, Any, dict]:
    """(model, tokenizer, meta) of a checkpoint folder; ``patched=False`` gives the bare fine-tuned model."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertForSequenceClassification

    folder = Path(folder).expanduser()
    meta = read_meta(folder)
    model = BertForSequenceClassification.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if patched and meta.get("method_config") is not None:
        methods.apply(model, config_from_dict(meta["method"], meta["method_config"]))
        state_file = folder / METHOD_STATE_FILE
        if state_file.is_file():
            extra = load_file(str(state_file))
            missing = [k for k in extra if k not in model.state_dict()]
            if missing:
                raise FcabenchError(f"{state_file}: parameters {', '.join(missing)} do not belong to {meta['method']}")
            model.load_state_dict(extra, strict=False)
    return model.to(device).eval(), tokenizer, meta


def checkpoint_hash(folder: str | Path) -> str:
    """SHA-256 over the weight files of a checkpoint (model and method state), in name order."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
