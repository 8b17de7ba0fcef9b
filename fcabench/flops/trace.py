"""Count a real forward pass with fvcore and split the counts into the profiler's rows and components.

Rows: ``embeddings``, ``encoder.layer.<i>``, ``pooler``, each task head (``classifier``, ...), and
``other`` for whatever runs outside them (mask construction), so that rows always sum to the total.
Components of an encoder layer, by the module an op runs in:

- attention projections: ``attention.self.{query,key,value}`` and ``attention.output.dense`` (DistilBERT:
  ``attention.{q,k,v,out}_lin``; the paths come from :mod:`fcabench.encoders`);
- attention matmuls: the rest of the attention block (Q K^T and A V, or the fused SDPA op);
- FFN: ``intermediate`` and ``output`` (DistilBERT: ``ffn`` and ``output_layer_norm``);
- method: anything in the layer outside those (scoring, pooling, a replacement module).

Layer rows are named ``encoder.layer.<i>`` in every family.
"""

from __future__ import annotations

from collections import Counter

import torch
from fvcore.nn.jit_analysis import JitModelAnalysis

from fcabench import encoders
from fcabench.encoders import base_model
from fcabench.errors import FcabenchError
from fcabench.flops.handles import ALL_HANDLES, FREE_OPS, MACS, OPS

COMPONENTS = ["macs_attn_proj", "macs_attn_matmul", "macs_ffn", "macs_method", "macs_other"]


class UncountedOpError(FcabenchError):
    """The forward pass hit an op that fcabench cannot count: refuse rather than undercount."""


class _Forward(torch.nn.Module):
    """Positional tensors in, a tuple out: the calling convention TorchScript tracing needs."""

    def __init__(self, model: torch.nn.Module, keys: list[str]):
        super().__init__()
        self.model, self.keys = model, keys

    def forward(self, *tensors):
        out = self.model(**dict(zip(self.keys, tensors)))
        if isinstance(out, torch.Tensor):
            return (out,)
        return tuple(v for v in out.values() if isinstance(v, torch.Tensor))  # a transformers ModelOutput


def count_by_module(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, Counter]:
    """fvcore counts of one forward pass, per module name (descendants included), keyed macs:/ops:."""
    analysis = JitModelAnalysis(_Forward(model, list(inputs)), tuple(inputs.values()))
    analysis.set_op_handle(**ALL_HANDLES)
    analysis._ignored_ops = set(FREE_OPS)  # fvcore's own list skips arithmetic such as max and masked_fill
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    with torch.no_grad():
        counts = analysis.by_module_and_operator()
    missing = analysis.unsupported_ops()
    if missing:
        raise UncountedOpError(
            "cannot count op(s) " + ", ".join(sorted(missing)) + ": add a handle in fcabench/flops/handles.py"
        )
    return {name.removeprefix("model.") if name != "model" else "": c for name, c in counts.items()}


def _split(counter: Counter) -> tuple[int, int]:
    macs = sum(v for k, v in counter.items() if k.startswith(MACS))
    ops = sum(v for k, v in counter.items() if k.startswith(OPS))
    return int(macs), int(ops)


def rows_from_counts(model: torch.nn.Module, counts: dict[str, Counter], per: int = 1) -> list[dict]:
    """Profiler rows from per-module counts; every count divided by ``per`` (the batch size)."""
    bert = base_model(model)
    prefix = next(name for name, module in model.named_modules() if module is bert)
    prefix = f"{prefix}." if prefix else ""
    get = lambda name: counts.get(name, Counter())  # noqa: E731

    def macs_ops(*names: str) -> tuple[int, int]:
        total = Counter()
        for name in names:
            total += get(name)
        return _split(total)

    family = encoders.family_of(bert)
    rows = []
    for i in range(len(encoders.layers(bert))):
        p = f"{prefix}{family.encoder}.layer.{i}"
        proj, _ = macs_ops(*(f"{p}.{path}" for path in family.projections))
        attention, attention_ops = macs_ops(*(f"{p}.{path}" for path in family.attention_modules))
        ffn, ffn_ops = macs_ops(*(f"{p}.{path}" for path in family.ffn_modules))
        layer, layer_ops = macs_ops(p)
        rows.append(
            dict(
                module=f"encoder.layer.{i}",
                layer=i,
                macs_attn_proj=proj,
                macs_attn_matmul=attention - proj,
                macs_ffn=ffn,
                macs_method=layer - attention - ffn,
                macs_other=0,
                nonmatmul_ops=attention_ops + ffn_ops,
                nonmatmul_ops_method=layer_ops - attention_ops - ffn_ops,
            )
        )
    named = [(name, f"{prefix}{name}") for name, _ in bert.named_children() if name != family.encoder]
    named += [(name, name) for name, _ in model.named_children() if prefix and name != prefix[:-1]]
    outside = []
    for label, name in named:
        if name in counts:
            macs, ops = macs_ops(name)
            outside.append(dict(module=label, layer=None, macs_other=macs, nonmatmul_ops=ops))
    total_macs, total_ops = _split(get(""))
    rest_macs = total_macs - sum(
        r["macs_attn_proj"] + r["macs_attn_matmul"] + r["macs_ffn"] + r["macs_method"] for r in rows
    )
    rest_macs -= sum(r["macs_other"] for r in outside)
    rest_ops = total_ops - sum(r["nonmatmul_ops"] + r["nonmatmul_ops_method"] for r in rows)
    rest_ops -= sum(r["nonmatmul_ops"] for r in outside)
    if rest_macs or rest_ops:
        outside.append(dict(module="other", layer=None, macs_other=rest_macs, nonmatmul_ops=rest_ops))
    table = [outside[0]] + rows + outside[1:]
    for row in table:
        for key in COMPONENTS:
            value = row.get(key, 0)
            if value % per:  # every matmul scales with the batch of identical sequences
                raise FcabenchError(f"{row['module']}: {key} = {value} is not divisible by the batch size {per}")
            row[key] = value // per
        for key in ("nonmatmul_ops", "nonmatmul_ops_method"):  # a few ops (mask set-up) are per batch
            row[key] = round(row.get(key, 0) / per)
    return table
