"""Checkpoint folders that rebuild the patched model they were saved from, or are refused.

A folder holds the Hugging Face model (``config.json``, ``model.safetensors``: the backbone and head
weights only, loadable by plain transformers), its tokenizer, ``method_state.safetensors`` (the method's
own parameters, e.g. LTP's thresholds, when it has any) and, written last, the manifest ``fcabench.json``:
what the folder holds (every file with its SHA-256), the method and its configuration, the task and its
label names, the length, the stage, its training settings and the runs it produced.

A training-free checkpoint holds no weights of its own: its manifest names its parent checkpoint and that
parent's weight hash, and loading applies the method to the parent (``self_contained=True`` copies them).

A folder is written under a hidden temporary name and moved into place only when complete, so a folder
under the final name is complete or absent; an existing folder is replaced only when ``overwrite`` is
given, and of two writers of one folder only the first to finish succeeds. :func:`read_manifest` refuses,
with one line, a folder whose manifest is missing, unreadable, incomplete or does not match its files: it must
list what loading reads (config, weights, tokenizer), and the folder may hold nothing it does not list. The
tokenizer must be the model's (:func:`fcabench.encoders.check_tokenizer`), when written and when read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from fcabench import methods
from fcabench.encoders import check_tokenizer
from fcabench.errors import FcabenchError
from fcabench.tables import check_writable_folder

MANIFEST_FILE = "fcabench.json"
METHOD_STATE_FILE = "method_state.safetensors"
PREDICTIONS_FILE = "predictions.parquet"  # the validation predictions of the stage's runs
WEIGHTS_FILE = "model.safetensors"
FORMAT = "fcabench-checkpoint/2"

config_to_dict, config_from_dict = methods.config_to_dict, methods.config_from_dict


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_target(folder: str | Path, overwrite: bool = False) -> None:
    """Refuse, before any work, a checkpoint folder that exists (unless ``overwrite``) or cannot be written."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise FcabenchError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FcabenchError(f"{folder}: a checkpoint folder already exists; pass --overwrite to replace it")
    parent = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise FcabenchError(f"{folder}: cannot write there ({parent} is not a folder)")
    check_writable_folder(folder, parent)


def save_checkpoint(
    model,
    tokenizer,
    folder: str | Path,
    meta: dict,
    *,
    weights_from: str | Path | None = None,
    overwrite: bool = False,
    predictions=None,
) -> Path:
    """Write ``model`` (patched or not) with the manifest ``meta`` to ``folder``, atomically; returns the folder.

    ``weights_from``: a checkpoint folder whose weights ``model`` carries unchanged (a training-free stage);
    the new folder then refers to them instead of holding a copy. ``predictions``: the per-example predictions
    of the stage's runs (:mod:`fcabench.runs.predictions`), kept with it.
    """
    from safetensors.torch import save_file

    folder = Path(folder).expanduser()
    check_target(folder, overwrite)
    if tokenizer is not None and weights_from is None:
        check_tokenizer(tokenizer, model.config, str(folder))
    patched = methods.applied(model)
    manifest = dict(
        meta,
        format=FORMAT,
        method=patched.method.name if patched else None,
        method_config=config_to_dict(patched.config) if patched else None,
        weights_from=None,
    )
    state = model.state_dict()
    if patched:  # the method's parameters (on patched modules) go apart: config.json + weights stay plain transformers
        import torch

        with torch.device("meta"):  # the unpatched model's keys, without allocating its weights
            plain_keys = set(type(model)(model.config).state_dict())
    else:
        plain_keys = set(state)
    extra = {k: v.detach().cpu().contiguous() for k, v in state.items() if k not in plain_keys}
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(folder)
    partial = folder.parent / f".{folder.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        if weights_from is not None:
            source = Path(weights_from).expanduser().resolve()
            manifest["weights_from"] = {"folder": str(source), "weights_sha256": weights_sha256(source)}
        else:
            model.save_pretrained(partial, state_dict={k: v for k, v in state.items() if k in plain_keys})
            tokenizer.save_pretrained(partial)
        if extra:
            save_file(extra, str(partial / METHOD_STATE_FILE))
        if predictions is not None:
            from fcabench.runs import predictions as kept

            kept.write(
                predictions,
                partial / PREDICTIONS_FILE,
                run_id=meta["run_id"],
                data_sha256=meta["runs"][0]["data_sha256"],
            )
        manifest["files"] = {p.name: file_sha256(p) for p in sorted(partial.iterdir()) if p.is_file()}
        (partial / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
        _publish(partial, folder, overwrite)
    except BaseException as error:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(error, OSError):  # a full disk: one line, and nothing of the checkpoint is left
            raise FcabenchError(
                f"cannot write checkpoint {folder}: {error.strerror or error}; nothing was written"
            ) from None
        raise
    return folder


def _remove_abandoned(folder: Path) -> None:
    """Remove what a killed writer of ``folder`` left: ``.<name>.partial-<pid>-*`` folders whose process is gone."""
    for stale in folder.parent.glob(f".{folder.name}.partial-*"):
        pid = stale.name.rsplit(".partial-", 1)[1].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return True


def _publish(partial: Path, folder: Path, overwrite: bool) -> None:
    """Move the complete ``partial`` folder to ``folder``; a rename onto a non-empty folder fails, so of two
    writers only the first succeeds."""
    replaced = None
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise FcabenchError(f"{folder}: another writer finished this checkpoint first; nothing was replaced")
        replaced = folder.parent / f".{folder.name}.replaced-{uuid.uuid4().hex[:8]}"
        folder.rename(replaced)
    try:
        partial.rename(folder)
    except OSError:
        if replaced is not None and not folder.exists():
            replaced.rename(folder)
        raise FcabenchError(f"{folder}: another writer finished this checkpoint first; nothing was replaced") from None
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)


def read_manifest(folder: str | Path, *, verify: bool = True) -> dict:
    """The manifest of a complete checkpoint folder; one clear error for anything else.

    ``verify`` checks every file the manifest lists against its hash (and a referred parent's weights).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FcabenchError(f"no checkpoint at {str(folder)!r}: no such folder")
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise FcabenchError(
            f"{folder}: not a complete fcabench checkpoint (no {MANIFEST_FILE}: an unfinished write, "
            f"or a folder fcabench did not write)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FcabenchError(f"{path}: not a readable manifest ({error.__class__.__name__}: {error})") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("files"), dict)
    ):
        raise FcabenchError(f"{path}: not a manifest of this fcabench version (expected format {FORMAT})")
    if verify:
        _check_coverage(folder, manifest)
        for name, digest in manifest["files"].items():
            file = folder / name
            if not file.is_file():
                raise FcabenchError(f"{folder}: incomplete checkpoint, {name} is missing")
            if file_sha256(file) != digest:
                raise FcabenchError(f"{folder}: {name} does not match its manifest (changed or truncated)")
        parent = manifest.get("weights_from")
        if parent and weights_sha256(parent["folder"]) != parent["weights_sha256"]:
            raise FcabenchError(f"{folder}: the weights it refers to in {parent['folder']} have changed")
    return manifest


# What loading reads: a checkpoint with its own weights needs each of these listed (one name of a group is
# enough: a large model's weights are sharded behind an index).
NEEDED = (("config.json",), (WEIGHTS_FILE, f"{WEIGHTS_FILE}.index.json"), ("tokenizer_config.json",))


def _check_coverage(folder: Path, manifest: dict) -> None:
    """The manifest covers the folder: every file loading needs is listed (so a hash vouches for it), and no file
    lies there unlisted (a foreign weights or tokenizer file that loading would read)."""
    listed = set(manifest["files"])
    if not manifest.get("weights_from"):
        for group in NEEDED:
            if not listed & set(group):
                raise FcabenchError(f"{folder}: the manifest does not list {group[0]}; a checkpoint is what it lists")
    present = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    unlisted = sorted(present - listed - {MANIFEST_FILE})
    if unlisted:
        raise FcabenchError(f"{folder}: {unlisted[0]} is not in the manifest; remove it or write the checkpoint again")


def weights_sha256(folder: str | Path) -> str:
    """SHA-256 naming a checkpoint's weights, from the hashes in the manifests: the model's own (or those of
    the checkpoint it refers to), combined with the method's own parameters where it has any."""
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder, verify=False)
    files, parent = manifest["files"], manifest.get("weights_from")
    digest = (
        parent["weights_sha256"] if parent else hashlib.sha256(f"model:{files.get(WEIGHTS_FILE)}".encode()).hexdigest()
    )
    if METHOD_STATE_FILE in files:
        digest = hashlib.sha256(f"{digest}+method:{files[METHOD_STATE_FILE]}".encode()).hexdigest()
    return digest


def load_checkpoint(folder: str | Path, *, patched: bool = True, device: str = "cpu") -> tuple[Any, Any, dict]:
    """(model, tokenizer, manifest) of a checkpoint folder; ``patched=False`` gives the bare fine-tuned model."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    parent = manifest.get("weights_from")
    try:
        if parent:
            model, tokenizer, _ = load_checkpoint(parent["folder"], patched=False, device=device)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(folder)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            check_tokenizer(tokenizer, model.config, str(folder))
        if patched and manifest.get("method_config") is not None:
            methods.apply(model, config_from_dict(manifest["method"], manifest["method_config"]))
            state_file = folder / METHOD_STATE_FILE
            if state_file.is_file():
                extra = load_file(str(state_file))
                missing = [k for k in extra if k not in model.state_dict()]
                if missing:
                    raise FcabenchError(
                        f"{state_file}: parameters {', '.join(missing)} do not belong to {manifest['method']}"
                    )
                model.load_state_dict(extra, strict=False)
    except (OSError, SafetensorError, ValueError) as error:
        raise FcabenchError(f"{folder}: cannot load the checkpoint ({str(error).splitlines()[0]})") from None
    return model.to(device).eval(), tokenizer, manifest
