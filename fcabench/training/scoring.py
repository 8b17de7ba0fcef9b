"""Scoring a model on a task split: its metrics, its MACs at the padded length and at each example's
real length, optionally its latency; the numbers a stored run carries."""

from __future__ import annotations

import numpy as np
import torch

from fcabench.errors import FcabenchError
from fcabench.tasks import compute_metrics


def predict(model, encoded, batch_size: int, device: str) -> np.ndarray:
    """Model outputs (logits, or scores for regression) for every example, in order."""
    ids = [list(x) for x in encoded["input_ids"]]
    types = [list(x) for x in encoded["token_type_ids"]] if "token_type_ids" in encoded.column_names else None
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together: little padding
    outputs: list = [None] * len(ids)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.zeros(len(chunk), width, dtype=torch.long)
            mask = torch.zeros_like(input_ids)
            token_types = torch.zeros_like(input_ids)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
                if types:
                    token_types[row, : len(ids[i])] = torch.tensor(types[i])
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                           token_type_ids=token_types.to(device)).logits
            for row, i in enumerate(chunk):
                outputs[i] = logits[row].float().cpu().numpy()
    return np.stack(outputs)


def score(task, model, encoded, batch_size: int, device: str) -> dict[str, float]:
    predictions = predict(model, encoded, batch_size, device)
    return compute_metrics(task.metrics, predictions, np.asarray(encoded["labels"]))


def macs(model, encoded, seq_len: int, batch_size: int = 32) -> dict[str, float]:
    """Whole-model MACs per sequence (encoder, pooler, classifier): at the padded length ``seq_len``
    (mean over the examples, each padded to it: equal for every example unless the method's counts depend
    on the input), and at each example's real length (mean and quantiles), by the per-example fast path."""
    from fcabench import dynamic, profiler

    inputs = [list(x) for x in encoded["input_ids"]]
    real = dynamic.profile_examples(model, inputs, batch_size=batch_size)
    try:
        padded_mean = float(dynamic.profile_examples(model, inputs, batch_size=batch_size,
                                                     length_convention="padded", pad_to=seq_len)["macs"].mean())
    except FcabenchError:  # key/value pruning: the fast path counts real lengths only; trace one full input
        table = profiler.profile(model, seq_len)
        padded_mean = float(table["macs"].sum())
    values = real["macs"].astype("float64")
    return {
        "macs": padded_mean,
        "macs_real_mean": float(real["macs"].sum() / len(real)),
        "macs_real_p10": float(values.quantile(0.10)),
        "macs_real_median": float(values.quantile(0.50)),
        "macs_real_p90": float(values.quantile(0.90)),
        "length_real_mean": float(real["length"].mean()),
    }


def encoder_macs_at(model, seq_len: int) -> int:
    """Encoder MACs of one full-length synthetic sequence (no padding), from recorded units + closed form."""
    from fcabench import dynamic
    from fcabench.profiler import head_macs

    inputs = dynamic.inputs_from_lengths(model, [seq_len])
    total = int(dynamic.profile_examples(model, inputs)["macs"].iloc[0])
    return total - sum(head_macs(model).values())
