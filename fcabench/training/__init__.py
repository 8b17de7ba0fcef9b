"""Training and evaluation: ``fcabench.train`` runs a method's stages on a task, ``fcabench.evaluate``
scores a checkpoint; both append runs (accuracy, MACs, speed, provenance) to the store.
"""

from fcabench.training.checkpoint import load_checkpoint, save_checkpoint
from fcabench.training.evaluate import evaluate
from fcabench.training.train import train

__all__ = ["evaluate", "load_checkpoint", "save_checkpoint", "train"]
