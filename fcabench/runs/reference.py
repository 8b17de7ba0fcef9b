"""BERT-base's cost at a padded length: the denominator of ``flops_rel_bert_base``.

Closed form of the encoder's matrix multiplications (no embeddings, softmax, LayerNorm, pooler or
classifier), per layer 12 n d^2 + 2 n^2 d MACs for n tokens and hidden size d: the Q, K, V and output
projections (4 n d^2), the FFN d -> 4d -> d (8 n d^2), scores and context (2 n^2 d). It is the formula LTP's
and TR-BERT's code use, so their FLOPs ratios share this denominator.
"""

from __future__ import annotations

BERT_BASE_HIDDEN = 768
BERT_BASE_LAYERS = 12
BERT_BASE_CITATION = "fcabench closed form of the BERT-base encoder (12 layers x (12 n d^2 + 2 n^2 d), d = 768)"


def encoder_macs(seq_len: int, hidden: int = BERT_BASE_HIDDEN, layers: int = BERT_BASE_LAYERS) -> int:
    """Matmul MACs of a BERT encoder (FFN width 4 x hidden) on one sequence of ``seq_len`` units."""
    n, d = int(seq_len), int(hidden)
    return layers * (12 * n * d * d + 2 * n * n * d)


def bert_base_macs(seq_len: int) -> int:
    """BERT-base encoder MACs at ``seq_len`` (FLOPs are twice this)."""
    return encoder_macs(seq_len)
