"""BERT-base's cost at a padded length: the denominator of ``flops_rel_bert_base``.

The closed form of the encoder's matrix multiplications (``fcabench.flops.closed_form``; no embeddings,
softmax, LayerNorm, pooler or classifier): per layer 12 n d^2 + 2 n^2 d MACs for n tokens and hidden
size d. It is the formula LTP's and TR-BERT's code use, so their FLOPs ratios share this denominator.
"""

from __future__ import annotations

from fcabench.flops.closed_form import BERT_BASE, vanilla_encoder_macs

BERT_BASE_CITATION = "fcabench closed form of the BERT-base encoder (12 layers x (12 n d^2 + 2 n^2 d), d = 768)"


def bert_base_macs(seq_len: int) -> int:
    """BERT-base encoder MACs at ``seq_len`` (FLOPs are twice this)."""
    return vanilla_encoder_macs(BERT_BASE, int(seq_len))
