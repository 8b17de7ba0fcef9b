"""attend(): context and statistics equal the explicit probability tensor's, padded batches included."""

import pytest
import torch

from fcabench.methods import ops
from fcabench.methods.attention import attend


def explicit(q, k, v, key_keep, bias=None, scale=0.5):
    """The whole (batch, heads, n, n_keys) probability tensor, computed the textbook way."""
    scores = q @ k.transpose(-1, -2) * scale
    if bias is not None:
        scores = scores + bias
    mask = key_keep[:, :, None, :] if key_keep.dim() == 3 else key_keep[:, None, None, :]
    probs = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    return probs @ v, probs


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 4, 9, 8, generator=generator) for _ in range(3))
    keep = torch.ones(3, 9, dtype=torch.bool)
    keep[1, 6:] = False
    keep[2, 3:] = False
    return q, k, v, keep


@pytest.mark.parametrize("need_stats", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_context_and_stats_equal_the_explicit_tensor(batch, need_stats, with_bias):
    q, k, v, keep = batch
    bias = torch.randn(3, 1, 1, 9, generator=torch.Generator().manual_seed(1)) if with_bias else None
    context, stats = attend(
        q, k, v, keep, keep, scale=0.5, dropout_p=0.0, training=False, bias=bias, need_stats=need_stats, need_keys=True
    )
    expected, probs = explicit(q, k, v, keep, bias)
    real = keep[:, None, :, None]
    torch.testing.assert_close(context * real, expected * real, atol=1e-5, rtol=1e-5)
    assert stats.keys is k
    if need_stats:
        received = (probs * keep[:, None, :, None]).sum(dim=2)
        torch.testing.assert_close(stats.received, received, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(stats.self_prob, probs.diagonal(dim1=-2, dim2=-1), atol=1e-6, rtol=1e-5)
        # the scores the methods use, against their definition on the probability tensor
        mean = probs.mean(dim=1) * keep[:, :, None]
        significance = mean.sum(dim=1) - mean.diagonal(dim1=1, dim2=2)
        torch.testing.assert_close(ops.significance(stats, keep), significance, atol=1e-5, rtol=1e-5)
        ltp = mean.sum(dim=1) / keep.sum(dim=1, keepdim=True)
        torch.testing.assert_close(ops.attention_received(stats, keep), ltp, atol=1e-5, rtol=1e-5)
        assert (stats.received[~keep[:, None, :].expand(-1, 4, -1)] == 0).all()  # padded keys receive nothing


def test_per_head_key_subsets_have_no_diagonal(batch):
    q, k, v, keep = batch
    subset = keep[:, None, :5].expand(-1, 4, -1).clone()
    subset[:, 1, 0] = False
    _, stats = attend(
        q, k[:, :, :5], v[:, :, :5], subset, keep, scale=0.5, dropout_p=0.0, training=False, need_stats=True
    )
    _, probs = explicit(q, k[:, :, :5], v[:, :, :5], subset)
    assert stats.self_prob is None
    torch.testing.assert_close(stats.received, (probs * keep[:, None, :, None]).sum(dim=2), atol=1e-5, rtol=1e-5)
