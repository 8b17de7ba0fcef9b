"""fcabench: what a token-reduction method for BERT really buys — exact FLOPs per layer, accuracy, speed, memory.

``fcabench.profile``, ``fcabench.methods``, ``fcabench.runs`` and ``fcabench.plots`` are imported on first
use, so that commands that need neither torch nor transformers (``fcabench runs``, ``fcabench plot``)
start quickly.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "profile": "fcabench.counting.profiler",
    "closed_form_table": "fcabench.counting.profiler",
    "encoder_macs": "fcabench.counting.profiler",
    "compare": "fcabench.counting.comparison",
    "methods": None,
    "models": None,
    "runs": None,
    "plots": None,
    "tasks": None,
    "train": "fcabench.training",
    "evaluate": "fcabench.training",
    "load_checkpoint": "fcabench.training",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fcabench' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name] or f"fcabench.{name}")
    value = getattr(module, name) if _LAZY[name] else module
    globals()[name] = value
    return value
