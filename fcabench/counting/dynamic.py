"""Per-example FLOPs for methods whose unit counts depend on the input (LTP, token dropping, ...).

A traced count (``fcabench.profile``) follows the path of one input; a method that keeps a different
number of units for every input has to be counted per input and summarised over a data set. Two
paths give the same integers:

- fast (default): batched forward passes record each example's units per layer
  (:class:`~fcabench.methods.base.UnitRecord`), and the closed form turns them into MACs. Batches are
  bucketed by length (``bucketed=True``): full batches of one length run unpadded and without an
  attention mask, the few examples left over per length are packed in length order; examples of the
  same length share the closed-form work whenever they keep the same units; the last layer's FFN and
  the task head, whose outputs no count reads, are skipped.
  ``bucketed=False`` is the earlier path (length-sorted padded batches, every layer whole), kept for
  comparison; both give identical integers;
- traced: fvcore counts each example alone (batch 1), as ``fcabench.profile`` does.

Length conventions (``length_convention``; every result carries it in a column of that name):

- ``"real"`` (default): each example alone at its real, unpadded length, the convention of LTP and
  TR-BERT;
- ``"padded"``: each example alone, padded to ``pad_to`` tokens (default: the longest input); padding
  slots cost what real units cost for as long as they stay in the tensor (in every layer of an
  unpatched model; up to the first removal for LTP). The fast path supports it for methods that either
  keep the input's layout or gather units (not for key/value pruning).

Unit: ``macs`` are multiply-adds of one sequence (encoder, pooler and classifier head; the embedding
lookup is free), ``flops`` = 2 x ``macs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from fcabench import encoders, methods
from fcabench.counting.profiler import head_macs, prepare_model
from fcabench.encoders import base_model
from fcabench.errors import FcabenchError
from fcabench.flops.closed_form import Shape, encoder_macs_from_units
from fcabench.flops.trace import COMPONENTS, count_by_module, rows_from_counts
from fcabench.models import check_lengths, padded_inputs

CONVENTIONS = ("real", "padded")
QUANTILES = {"p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90}

COLUMNS = [
    "example",
    "method",
    "length",
    "counted_length",
    "length_convention",
    "macs",
    "flops",
    "tokens_in",
    "tokens_out",
]


def profile_examples(
    model_or_name,
    inputs: Sequence[Sequence[int]],
    *,
    fast: bool = True,
    batch_size: int = 32,
    length_convention: str = "real",
    pad_to: int | None = None,
    bucketed: bool = True,
    device: str | None = None,
    method: str | None = None,
    **method_options,
) -> pd.DataFrame:
    """One row per example: its real ``length``, the ``counted_length`` its MACs are counted at, ``macs``,
    ``flops``, and the units entering each layer's attention (``tokens_in``) and FFN (``tokens_out``).

    ``model_or_name``: a loaded model (patched or not) or a preset/checkpoint name, patched with
    ``method`` and its options as in ``fcabench.profile``. ``inputs``: token-id lists, [CLS] first
    (see :func:`inputs_from_lengths`, :func:`inputs_from_texts`). ``fast`` picks the recorded-counts
    path; ``batch_size`` (examples per forward pass) and ``bucketed`` only affect its speed, never its
    numbers. ``device``: where the forward passes run (see ``fcabench.counting.profiler.prepare_model``).
    """
    model, _ = prepare_model(model_or_name, method, device=device, **method_options)
    if length_convention not in CONVENTIONS:
        raise FcabenchError(f"unknown length convention {length_convention!r}; conventions: {', '.join(CONVENTIONS)}")
    rows = [list(map(int, ids)) for ids in inputs]
    if not rows:
        raise FcabenchError("no inputs to profile")
    if any(len(ids) == 0 for ids in rows):
        raise FcabenchError("an input has no tokens")
    lengths = [len(ids) for ids in rows]
    width = None
    if length_convention == "padded":
        width = pad_to if pad_to is not None else max(lengths)
        if width < max(lengths):
            raise FcabenchError(f"pad_to {width} is shorter than the longest input ({max(lengths)} tokens)")
    check_lengths(model, sorted(set(lengths)) + ([width] if width else []), batch_size)
    patched = methods.applied(model)
    if patched:
        for n in sorted(set(lengths)):
            patched.method.check_input(patched.config, n)
    was_training = model.training
    model.eval()
    try:
        if fast:
            results = _fast(model, rows, batch_size, width, bucketed)
        else:
            results = [_traced(model, ids, width) for ids in rows]
    finally:
        model.train(was_training)
    frame = pd.DataFrame(
        [
            dict(example=i, length=n, counted_length=width or n, macs=macs, tokens_in=t_in, tokens_out=t_out)
            for i, (n, (macs, t_in, t_out)) in enumerate(zip(lengths, results))
        ]
    )
    frame["method"] = patched.method.name if patched else "vanilla"
    frame["length_convention"] = length_convention
    frame["macs"] = frame["macs"].astype("int64")
    frame["flops"] = 2 * frame["macs"]
    return frame[COLUMNS]


def summarize(per_example: pd.DataFrame) -> pd.DataFrame:
    """Mean, spread and quantiles of ``macs``, ``flops`` and ``length`` over the examples.

    One row per quantity; columns ``count, mean, std, min, p10, p25, median, p75, p90, max`` and the
    ``length_convention`` the per-example numbers used.
    """
    conventions = per_example["length_convention"].unique()
    if len(conventions) != 1:
        raise FcabenchError("cannot summarise examples counted under different length conventions")
    table = {}
    for quantity in ("macs", "flops", "length"):
        values = per_example[quantity].astype("float64")
        row = dict(
            count=int(values.count()),
            mean=per_example[quantity].sum() / len(values),
            std=values.std(),
            min=values.min(),
        )
        row.update({name: values.quantile(q) for name, q in QUANTILES.items()})
        row["max"] = values.max()
        table[quantity] = row
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame["length_convention"] = conventions[0]
    return frame


def _fast(
    model, rows: list[list[int]], batch_size: int, width: int | None, bucketed: bool = True
) -> list[tuple[int, list, list]]:
    """(macs, tokens_in, tokens_out) per example from recorded units and the closed form."""
    bert = base_model(model)
    shape = Shape.of(bert.config)
    outside_by_length: dict[int, int] = {}  # ELECTRA's embedding projection runs on every (padded) token

    def outside(n: int) -> int:
        if n not in outside_by_length:
            outside_by_length[n] = sum(head_macs(model, n).values())
        return outside_by_length[n]

    patched = methods.applied(model)
    if not patched:  # every layer runs on every token of the tensor
        results = []
        for ids in rows:
            n = width or len(ids)
            macs = encoder_macs_from_units(shape, n) + outside(n)
            results.append((macs, [n] * shape.layers, [n] * shape.layers))
        return results
    method = patched.method
    results: list = [None] * len(rows)
    device = next(model.parameters()).device
    cache: dict[tuple, int] = {}  # (n0, units per layer) -> MACs: same-length examples often keep the same units
    forward = bert if bucketed else model  # the task head reads nothing a count needs
    with _last_ffn_skipped(bert, bucketed), torch.inference_mode():
        for chunk in _batches(rows, batch_size, bucketed):
            inputs = padded_inputs([rows[i] for i in chunk], width, device=device)
            same_length = width is None and len({len(rows[i]) for i in chunk}) == 1
            mask = None if bucketed and same_length else inputs["attention_mask"]
            forward(input_ids=inputs["input_ids"], attention_mask=mask)
            record = methods.unit_record(model)
            if width is not None and record.keys:
                raise FcabenchError(f"{method.name} prunes keys: count the padded convention with fast=False")
            for i, units in zip(chunk, record.per_example(width)):
                n0 = len(rows[i])
                key = (n0, tuple(units))
                if key not in cache:
                    cache[key] = outside(width or n0) + encoder_macs_from_units(shape, n0, units, patched)
                t_in, t_out = [u[0] for u in units], [u[1] for u in units]
                results[i] = (cache[key], t_in, t_out)
    return results


def _batches(rows: list[list[int]], batch_size: int, bucketed: bool) -> list[list[int]]:
    """Example indices per forward pass.

    Bucketed: full batches of one length first (no padding); the examples left over from each length
    (fewer than ``batch_size``) are then packed in length order into padded batches, so that data with
    few examples per length still runs in full batches. Unbucketed: length-sorted runs.
    """
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # similar lengths together: less padding
    if not bucketed:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    buckets: dict[int, list[int]] = {}
    for i in order:
        buckets.setdefault(len(rows[i]), []).append(i)
    batches, rest = [], []
    for bucket in buckets.values():
        full = len(bucket) - len(bucket) % batch_size
        batches += [bucket[start : start + batch_size] for start in range(0, full, batch_size)]
        rest += bucket[full:]
    return batches + [rest[start : start + batch_size] for start in range(0, len(rest), batch_size)]


class _last_ffn_skipped:
    """Within the block, the last layer returns its attention output unchanged: the units it keeps are
    decided before its FFN, so no count reads the FFN's output."""

    def __init__(self, bert, active: bool):
        self.layer = encoders.layers(bert)[-1] if active else None

    def __enter__(self):
        if self.layer is not None:
            self.layer.ffn_out = lambda attended: attended
        return self

    def __exit__(self, *exc):
        if self.layer is not None:
            del self.layer.ffn_out
        return False


def _traced(model, ids: list[int], width: int | None) -> tuple[int, list, list]:
    """(macs, tokens_in, tokens_out) of one example from an fvcore trace of it alone."""
    device = next(model.parameters()).device
    rows = rows_from_counts(model, count_by_module(model, padded_inputs([ids], width, device=device)))
    macs = sum(row.get(c, 0) for row in rows for c in COMPONENTS)
    layers = base_model(model).config.num_hidden_layers
    if methods.applied(model):
        record = methods.unit_record(model)
        if width is not None:  # alone, a tensor is exactly as wide as the units it still carries
            return macs, [m.shape[1] for m in record.masks_in], [m.shape[1] for m in record.masks_out]
        return macs, record.tokens_in[0].tolist(), record.tokens_out[0].tolist()
    n = width or len(ids)
    return macs, [n] * layers, [n] * layers


# --- where the inputs come from: a text file, or a stated distribution of lengths -----------------


def synthetic_lengths(spec: str, seed: int = 0) -> list[int]:
    """Lengths drawn from a stated distribution, reproducibly.

    ``uniform:LOW:HIGH:COUNT`` (integers, both ends included), ``normal:MEAN:STD:COUNT`` (rounded,
    at least 2) or ``fixed:LENGTH:COUNT``; LOW, MEAN and LENGTH are at least 2.
    """
    parts = spec.split(":")
    kind, args = parts[0], parts[1:]
    expected = {"uniform": 3, "normal": 3, "fixed": 2}
    if kind not in expected or len(args) != expected[kind]:
        raise FcabenchError(
            f"cannot read length spec {spec!r}; use uniform:LOW:HIGH:COUNT, normal:MEAN:STD:COUNT or fixed:LENGTH:COUNT"
        )
    try:
        values = [float(a) for a in args]
    except ValueError:
        raise FcabenchError(f"length spec {spec!r} has a value that is not a number") from None
    count = int(values[-1])
    if count <= 0 or values[-1] != count:
        raise FcabenchError(f"length spec {spec!r}: COUNT must be a positive integer")
    if values[0] < 2:  # [CLS] and [SEP] at least: LOW, MEAN or LENGTH
        raise FcabenchError(f"length spec {spec!r}: lengths start at 2 ([CLS] and [SEP]), got {args[0]}")
    generator = torch.Generator().manual_seed(seed)
    if kind == "fixed":
        lengths = torch.full((count,), int(values[0]))
    elif kind == "uniform":
        low, high = int(values[0]), int(values[1])
        if low > high:
            raise FcabenchError(f"length spec {spec!r}: LOW is above HIGH")
        lengths = torch.randint(low, high + 1, (count,), generator=generator)
    else:
        mean, std = values[0], values[1]
        if std < 0:
            raise FcabenchError(f"length spec {spec!r}: STD must be >= 0")
        lengths = (mean + std * torch.randn(count, generator=generator)).round().long().clamp_min(2)
    if int(lengths.min()) < 1:
        raise FcabenchError(f"length spec {spec!r} gives lengths below 1")
    return lengths.tolist()


def inputs_from_lengths(model, lengths: Sequence[int], seed: int = 0) -> list[list[int]]:
    """Random token ids of the given lengths: [CLS] first, [SEP] last, ordinary vocabulary between."""
    config = base_model(model).config
    vocab, ids = config.vocab_size, encoders.special_ids(config)
    low = min(1000, vocab // 2)  # above the special tokens of the uncased vocabularies
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for n in lengths:
        row = torch.randint(low, vocab, (int(n),), generator=generator)
        row[0] = ids.cls
        if n >= 2:
            row[-1] = ids.sep
        rows.append(row.tolist())
    return rows


def read_texts(path: str | Path) -> list[str]:
    """The non-empty lines of a UTF-8 text file, one input each."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FcabenchError(f"no text file at {str(path)!r}")
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise FcabenchError(f"{str(path)!r} has no non-empty lines")
    return texts


def inputs_from_texts(texts: Sequence[str], tokenizer, max_length: int | None = None) -> list[list[int]]:
    """Token ids of each text as the tokenizer makes them ([CLS] ... [SEP]), truncated to ``max_length``."""
    kwargs = dict(truncation=True, max_length=max_length) if max_length else {}
    return [list(tokenizer(text, **kwargs)["input_ids"]) for text in texts]
