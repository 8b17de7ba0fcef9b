"""fvcore op handles: what every traced op costs, in multiply-adds or in non-matmul operations.

fvcore counts only a few ops and silently skips the rest (``aten::scaled_dot_product_attention``,
Hugging Face BERT's default attention, among them). Here every op a BERT forward can hit is
classified, and an op that is in neither table makes the profiler fail with its name.

Each handle returns a Counter keyed ``"macs:<op>"`` (matmul work, one multiply-add each) or
``"ops:<op>"`` (non-matmul work, reported apart and never mixed into MACs). Per-element constants of
the non-matmul ops (a convention, stated once here):

=====================  ===========================================================================
op                     non-matmul operations per element
=====================  ===========================================================================
add, sub, mul, div     1 per output element (residual adds, scaling, bias of a linear layer)
comparisons, where     1 per output element (masking)
sum, mean, amax, max   1 per input element (reductions)
softmax                5 per element: max, subtract, exp, sum, divide
layer_norm             7 per element: mean, subtract, square, sum, normalise, scale, shift
gelu                   5 per element: erf counted as 1, plus divide, add, multiply, multiply
tanh, exp, sigmoid     1, 1 and 3 (exp, add, divide) per element
topk, sort             1 and ceil(log2 n) comparisons per input element
=====================  ===========================================================================
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable

from fvcore.nn.jit_handles import get_shape

Handle = Callable[[list[Any], list[Any]], Counter]

MACS = "macs:"
OPS = "ops:"


def _numel(shape: list[int] | None) -> int:
    return math.prod(shape) if shape else 1


def _broadcast_batch(a: list[int], b: list[int]) -> int:
    """Product of the broadcast batch dimensions of two matmul operands."""
    a, b = a[:-2], b[:-2]
    width = max(len(a), len(b))
    a, b = [1] * (width - len(a)) + a, [1] * (width - len(b)) + b
    return math.prod(max(x, y) for x, y in zip(a, b))


def linear(inputs, outputs) -> Counter:
    """y = x W^T + b: one MAC per (output element x input feature); the bias add is non-matmul."""
    w = get_shape(inputs[1])
    out = _numel(get_shape(outputs[0]))
    counts = Counter({MACS + "linear": out * w[-1]})
    if len(inputs) > 2 and get_shape(inputs[2]) is not None:
        counts[OPS + "linear_bias"] = out
    return counts


def addmm(inputs, outputs) -> Counter:
    """bias + m1 @ m2 (a 2-D linear layer as TorchScript records it)."""
    m1, m2 = get_shape(inputs[1]), get_shape(inputs[2])
    return Counter({MACS + "addmm": m1[0] * m1[1] * m2[1], OPS + "addmm_bias": m1[0] * m2[1]})


def matmul(inputs, outputs) -> Counter:
    """Batched a @ b with broadcasting; a 1-D operand is a vector."""
    a, b = get_shape(inputs[0]), get_shape(inputs[1])
    if len(a) == 1:
        a = [1] + a
    if len(b) == 1:
        b = b + [1]
    return Counter({MACS + "matmul": _broadcast_batch(a, b) * a[-2] * a[-1] * b[-1]})


def scaled_dot_product_attention(inputs, outputs) -> Counter:
    """softmax(Q K^T / sqrt(d) + mask) V: B h n m (d_k + d_v) MACs, softmax over B h n m apart."""
    q, k, v = (get_shape(t) for t in inputs[:3])
    scores = _broadcast_batch(q, k) * q[-2] * k[-2]
    return Counter(
        {
            MACS + "scaled_dot_product_attention": scores * (q[-1] + v[-1]),
            OPS + "sdpa_softmax": 5 * scores,
            OPS + "sdpa_scale_and_mask": 2 * scores,
        }
    )


def per_output(name: str, per_element: int = 1) -> Handle:
    return lambda inputs, outputs: Counter({OPS + name: per_element * _numel(get_shape(outputs[0]))})


def per_input(name: str, per_element: int = 1) -> Handle:
    return lambda inputs, outputs: Counter({OPS + name: per_element * _numel(get_shape(inputs[0]))})


def _sort(inputs, outputs) -> Counter:
    shape = get_shape(inputs[0])
    return Counter({OPS + "sort": _numel(shape) * max(1, math.ceil(math.log2(max(shape[-1], 2))))})


MATMUL_HANDLES: dict[str, Handle] = {
    "aten::linear": linear,
    "aten::addmm": addmm,
    "aten::matmul": matmul,
    "aten::mm": matmul,
    "aten::bmm": matmul,
    "aten::scaled_dot_product_attention": scaled_dot_product_attention,
}

_ELEMENTWISE = ["add", "sub", "rsub", "mul", "div", "neg", "reciprocal", "pow", "sqrt", "rsqrt", "log"]
_COMPARE = [
    "gt",
    "lt",
    "ge",
    "le",
    "eq",
    "ne",
    "where",
    "masked_fill",
    "logical_and",
    "logical_or",
    "logical_not",
    "bitwise_not",
    "__and__",
    "__or__",
    "clamp",
    "clamp_min",
    "clamp_max",
    "minimum",
    "maximum",
]
_REDUCE = ["sum", "mean", "amax", "amin", "max", "min", "cumsum", "any", "all", "argmax", "argmin"]

NONMATMUL_HANDLES: dict[str, Handle] = {
    **{f"aten::{op}": per_output(op) for op in _ELEMENTWISE},
    **{f"aten::{op}_": per_output(op) for op in _ELEMENTWISE},
    **{f"aten::{op}": per_output(op) for op in _COMPARE},
    **{f"aten::{op}_": per_output(op) for op in _COMPARE},
    **{f"aten::{op}": per_input(op) for op in _REDUCE},
    "aten::softmax": per_output("softmax", 5),
    "aten::_softmax": per_output("softmax", 5),
    "aten::log_softmax": per_output("log_softmax", 5),
    "aten::layer_norm": per_output("layer_norm", 7),
    "aten::gelu": per_output("gelu", 5),
    "aten::tanh": per_output("tanh", 1),
    "aten::exp": per_output("exp", 1),
    "aten::sigmoid": per_output("sigmoid", 3),
    "aten::relu": per_output("relu", 1),
    "aten::topk": per_input("topk", 1),
    "aten::sort": _sort,
    "aten::scatter_add": per_input("scatter_add"),  # one add per element of the (same-shaped) source
    "aten::scatter_add_": per_input("scatter_add"),
    "aten::argsort": _sort,
}

# Data movement and bookkeeping: no arithmetic. The embedding lookup is free here, not a dense matmul
# (counting it as one inflates BERT-base by about 27% at n = 128; see docs/counting.md).
FREE_OPS: frozenset[str] = frozenset(
    f"aten::{op}"
    for op in """
    view reshape permute transpose t contiguous expand expand_as unsqueeze squeeze flatten unflatten
    select slice narrow index index_select gather scatter scatter_ index_put index_put_ masked_select
    take_along_dim cat stack split chunk unbind repeat repeat_interleave embedding dropout feature_dropout
    detach clone copy_ to type_as size numel dim Int Float Bool ScalarImplicit IntImplicit
    zeros zeros_like ones ones_like full full_like empty empty_like new_zeros new_ones new_full new_empty
    arange lift_fresh alias fill_ zero_ masked_fill_scalar floor_divide remainder floor ceil
    one_hot nonzero diagonal diag_embed tril triu constant_pad_nd pad sym_size _unsafe_view resolve_conj
    resolve_neg scalar_tensor tensor as_strided
    """.split()
)

ALL_HANDLES: dict[str, Handle] = {**MATMUL_HANDLES, **NONMATMUL_HANDLES}
