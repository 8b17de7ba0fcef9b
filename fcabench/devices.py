"""Where models run: one check of a device name, used by profile, bench, train and evaluate alike."""

from __future__ import annotations

import torch

from fcabench.errors import FcabenchError


def check_device(device: str) -> torch.device:
    """The torch device for ``device`` ("cpu", "cuda", "cuda:N"), or one clear error when it is not usable here."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise FcabenchError(f"unknown device {device!r}; use cpu or cuda[:N]") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise FcabenchError(f"device {device!r}: CUDA is not available on this machine")
    if parsed.type not in ("cpu", "cuda"):
        raise FcabenchError(f"device {device!r}: use cpu or cuda[:N]")
    return parsed


def default_device(device: str | None = None) -> str:
    """``device`` checked, or CUDA when it is available and none is named, else the CPU."""
    if device:
        return str(check_device(device))
    return "cuda" if torch.cuda.is_available() else "cpu"
