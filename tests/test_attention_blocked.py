"""Blocked attention statistics: equal to the eager reference on the whole probability tensor."""

import pytest
import torch

from fcabench.methods import attention
from fcabench.methods.attention import attend, attend_blocked, attend_reference


def _inputs(batch=3, heads=4, n=13, n_keys=None, dim=8, padded=True, device="cpu", seed=0):
    generator = torch.Generator().manual_seed(seed)
    n_keys = n_keys or n
    q = torch.randn(batch, heads, n, dim, generator=generator).to(device)
    k, v = (torch.randn(batch, heads, n_keys, dim, generator=generator).to(device) for _ in range(2))
    keep = torch.ones(batch, n, dtype=torch.bool)
    if padded:
        keep[1, 9:] = False
        keep[2, 4:] = False
    return q, k, v, keep.to(device)


def _compare(out, ref):
    (context, stats), (ref_context, ref_stats) = out, ref
    torch.testing.assert_close(context, ref_context, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(stats.received, ref_stats.received, atol=1e-5, rtol=1e-5)
    if ref_stats.self_prob is None:
        assert stats.self_prob is None
    else:
        torch.testing.assert_close(stats.self_prob, ref_stats.self_prob, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("rows", [1, 4, 5, 13, 64])
@pytest.mark.parametrize("group", [1, 3, 4, 8, 12])  # heads of one example, all heads of one or more examples
@pytest.mark.parametrize("with_bias", [False, True])
def test_blocks_equal_the_whole_tensor(padded, rows, group, with_bias):
    q, k, v, keep = _inputs(padded=padded)
    bias = torch.randn(3, 1, 1, 13, generator=torch.Generator().manual_seed(2)) if with_bias else None
    options = dict(scale=0.35, dropout_p=0.1, training=False, bias=bias)
    _compare(
        attend_blocked(q, k, v, keep, keep, rows=rows, group=group, **options),
        attend_reference(q, k, v, keep, keep, need_stats=True, **options),
    )


@pytest.mark.parametrize("padded", [False, True])
def test_per_head_key_subsets(padded):
    q, k, v, keep = _inputs(padded=padded, n_keys=6)
    subset = keep[:, None, :6].expand(-1, 4, -1).clone()
    subset[:, 1, 2] = False
    options = dict(scale=0.35, dropout_p=0.0, training=False)
    _compare(
        attend_blocked(q, k, v, subset, keep, rows=5, group=2, **options),
        attend_reference(q, k, v, subset, keep, need_stats=True, **options),
    )


def test_gradients_equal_the_reference():
    q, k, v, keep = _inputs()
    grads = []
    for fn in (
        lambda *a: attend_blocked(*a, rows=4, scale=0.35, dropout_p=0.0, training=True),
        lambda *a: attend_reference(*a, scale=0.35, dropout_p=0.0, training=True, need_stats=True),
    ):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        context, stats = fn(*leaves, keep, keep)
        (context.square().sum() + (stats.received * torch.arange(13.0)).sum() + stats.self_prob.sum()).backward()
        grads.append([t.grad for t in leaves])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_attend_with_stats_never_holds_the_whole_tensor(monkeypatch):
    q, k, v, keep = _inputs(n=40)
    monkeypatch.setattr(attention, "CPU_BLOCK_NUMBERS", 2 * 40 * 40)  # whole rows, 2 of the 12 slices
    shapes = []
    real_softmax = torch.Tensor.softmax
    monkeypatch.setattr(
        torch.Tensor, "softmax", lambda self, *a, **kw: shapes.append(self.shape) or real_softmax(self, *a, **kw)
    )
    _compare(
        attend(q, k, v, keep, keep, scale=0.35, dropout_p=0.0, training=False, need_stats=True),
        attend_reference(q, k, v, keep, keep, scale=0.35, dropout_p=0.0, training=False, need_stats=True),
    )
    blocked = shapes[: len(shapes) - 1]  # the reference's own softmax is last
    assert [tuple(s[:3]) for s in blocked] == [(1, 2, 40)] * 6 and shapes[-1][2] == 40


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("padded", [False, True])
def test_cuda_equals_the_reference(padded):
    q, k, v, keep = _inputs(padded=padded, device="cuda")
    options = dict(scale=0.35, dropout_p=0.0, training=False)
    _compare(
        attend_blocked(q, k, v, keep, keep, rows=4, **options),
        attend_reference(q, k, v, keep, keep, need_stats=True, **options),
    )
