"""The encoder adapter: where a supported encoder keeps its layers, and each layer its parts.

Methods, counters and loaders are written against this module, never against one library's class names.
Two layer structures cover the supported families (``SUPPORTED`` names them):

- **BERT-structured** (BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA; MiniLM checkpoints are BERT):
  ``<base>.encoder.layer[i]``, each with ``attention.self.{query,key,value}``, ``attention.output``
  (dense, dropout, Add & LayerNorm) and the FFN ``intermediate`` + ``output`` (``feed_forward_chunk``).
  In transformers these are the same code under another name (RoBERTa's self-attention only adds a
  decoder cache, unused in an encoder).
- **DistilBERT**: ``<base>.transformer.layer[i]``, each with ``attention.{q_lin,k_lin,v_lin,out_lin}``
  (the output projection inside the attention module), ``sa_layer_norm``, ``ffn.{lin1,lin2}`` and
  ``output_layer_norm``.

A patched module keeps its own class as a base: :func:`swap_class` gives it a class made of the
method's class, the family's parts mixin and the module's class, so the weights, the state dict and
``isinstance`` checks against the library's class stay as they were.

What each sequence-classification head reads (after units are removed or merged the encoder returns the
kept units, [CLS]/<s> first): BERT's pooler and ELECTRA's, RoBERTa's, XLM-R's, CamemBERT's and DistilBERT's
heads all read unit 0, which every method keeps in place. Focus on the Core's combining variants end
with the m combination units only: BERT's pooler then reads their mean (the paper's pooling); the other
families' heads, which have no pooler to swap, read the first combination unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fcabench.errors import FcabenchError


class BertLayerParts:
    """A BERT-structured layer's parts, for the patched layer's forward (names that no family uses itself)."""

    def attention_core(self):
        """The module computing the attention context from the hidden states."""
        return self.attention.self

    def attention_out(self, context, hidden):
        """Output projection, dropout, Add & LayerNorm."""
        return self.attention.output(context, hidden)

    def ffn_out(self, hidden):
        """The FFN with its dropout, Add & LayerNorm."""
        return self.feed_forward_chunk(hidden)


class DistilBertLayerParts:
    """A DistilBERT layer's parts: the output projection lives in the attention module."""

    def attention_core(self):
        return self.attention

    def attention_out(self, context, hidden):
        return self.sa_layer_norm(self.attention.out_lin(context) + hidden)

    def ffn_out(self, hidden):
        return self.output_layer_norm(self.ffn(hidden) + hidden)


class BertAttentionParts:
    def qkv_projections(self):
        return self.query, self.key, self.value

    def head_count(self) -> int:
        return self.num_attention_heads


class DistilBertAttentionParts:
    def qkv_projections(self):
        return self.q_lin, self.k_lin, self.v_lin

    def head_count(self) -> int:
        return self.n_heads


@dataclass(frozen=True)
class Family:
    """One layer structure: where its parts are, by module path (for patching and for tracing)."""

    name: str
    model_types: tuple[str, ...]  # config.model_type values of this structure
    encoder: str  # the base model's attribute holding ``layer``, the list of layers
    self_attention: str  # path from a layer to the module computing the attention context
    projections: tuple[str, str, str, str]  # query, key, value, output projection (paths from a layer)
    attention_modules: tuple[str, ...]  # the attention block's modules (projections, matmuls, Add & Norm)
    ffn_modules: tuple[str, ...]  # the FFN block's modules (with its Add & Norm)
    layer_parts: type
    attention_parts: type


BERT_STRUCTURED = Family(
    name="bert-structured",
    model_types=("bert", "roberta", "xlm-roberta", "camembert", "electra"),
    encoder="encoder",
    self_attention="attention.self",
    projections=("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"),
    attention_modules=("attention",),
    ffn_modules=("intermediate", "output"),
    layer_parts=BertLayerParts,
    attention_parts=BertAttentionParts,
)
DISTILBERT = Family(
    name="distilbert",
    model_types=("distilbert",),
    encoder="transformer",
    self_attention="attention",
    projections=("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"),
    attention_modules=("attention", "sa_layer_norm"),
    ffn_modules=("ffn", "output_layer_norm"),
    layer_parts=DistilBertLayerParts,
    attention_parts=DistilBertAttentionParts,
)
FAMILIES = (BERT_STRUCTURED, DISTILBERT)
SUPPORTED = "BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA (and MiniLM), DistilBERT"
# Families whose positions start after the padding id (position ids pad_token_id + 1 onwards).
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")


def family_of_config(config) -> Family:
    """The family of a model configuration; anything else is refused naming the supported ones."""
    model_type = getattr(config, "model_type", None)
    if getattr(config, "is_decoder", False):
        # Every patched layer attends through a per-key keep mask; a causal mask cannot be expressed in it.
        raise FcabenchError(
            f"a {model_type!r} configuration with is_decoder=True is a causal decoder; fcabench patches encoders "
            "(bidirectional attention) only"
        )
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    raise FcabenchError(f"a {model_type!r} model is not supported (supported encoders: {SUPPORTED})")


def base_model(model: torch.nn.Module):
    """The encoder model (BertModel, RobertaModel, DistilBertModel, ...) inside a task model, or the model itself."""
    config = getattr(model, "config", None)
    if config is None or not isinstance(model, torch.nn.Module):
        raise FcabenchError(
            f"{type(model).__name__} is not a Hugging Face encoder model (supported encoders: {SUPPORTED})"
        )
    family = family_of_config(config)
    base = getattr(model, "base_model", model)
    if not hasattr(base, family.encoder):
        raise FcabenchError(
            f"{type(model).__name__} has no {family.encoder} (expected an encoder model or a task model around one)"
        )
    return base


def family_of(model: torch.nn.Module) -> Family:
    return family_of_config(base_model(model).config)


def encoder(model: torch.nn.Module) -> torch.nn.Module:
    """The module holding the layers (``encoder`` or ``transformer``)."""
    base = base_model(model)
    return getattr(base, family_of_config(base.config).encoder)


def layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    return encoder(model).layer


def self_attention(layer: torch.nn.Module, family: Family) -> torch.nn.Module:
    return layer.get_submodule(family.self_attention)


def pooler(model: torch.nn.Module):
    """The base model's pooler, or None (RoBERTa's task heads, ELECTRA and DistilBERT have none)."""
    return getattr(base_model(model), "pooler", None)


def intermediate_size(config) -> int:
    """The FFN width (DistilBERT calls it ``hidden_dim``)."""
    return config.intermediate_size if hasattr(config, "intermediate_size") else config.hidden_dim


# Special-token ids of the uncased BERT vocabulary (BERT, ELECTRA and DistilBERT checkpoints share it; the
# cased vocabularies give these four the same ids).
UNK_ID = 100  # [UNK]
CLS_ID = 101  # [CLS]
SEP_ID = 102  # [SEP]
MASK_ID = 103  # [MASK]
SPECIAL_IDS = (CLS_ID, SEP_ID, MASK_ID, UNK_ID)  # the ids a method may be told never to drop

# A vocabulary too small to hold those ids (the tests' tiny models) uses these instead.
SMALL_VOCAB_CLS_ID = 1
SMALL_VOCAB_SEP_ID = 2
BPE_UNK_ID = 3  # <unk> of RoBERTa's, XLM-R's and CamemBERT's vocabularies


@dataclass(frozen=True)
class VocabIds:
    cls: int
    sep: int
    mask: int


def vocab_ids(vocab_size: int) -> VocabIds:
    """[CLS], [SEP] and [MASK] of a BERT vocabulary of ``vocab_size`` ids: BERT's uncased ids where the
    vocabulary holds them, else [CLS] 1, [SEP] 2 and [MASK] the last id."""
    return VocabIds(
        cls=CLS_ID if vocab_size > CLS_ID else SMALL_VOCAB_CLS_ID,
        sep=SEP_ID if vocab_size > SEP_ID else SMALL_VOCAB_SEP_ID,
        mask=MASK_ID if vocab_size > MASK_ID else vocab_size - 1,
    )


def special_ids(config) -> VocabIds:
    """[CLS], [SEP] and [MASK] of a model's vocabulary: BERT's (:func:`vocab_ids`), or for RoBERTa-style BPE
    vocabularies <s> and </s> from the config and <mask>, the last id."""
    if getattr(config, "model_type", None) in OFFSET_POSITIONS:
        return VocabIds(cls=config.bos_token_id, sep=config.eos_token_id, mask=config.vocab_size - 1)
    return vocab_ids(config.vocab_size)


def protected_ids(config) -> tuple[int, ...]:
    """The ids a method keeps unless told otherwise: [CLS], [SEP], [MASK], [UNK] of BERT's vocabulary, or
    <s>, </s>, <mask>, <unk> (3) of a BPE one."""
    if getattr(config, "model_type", None) in OFFSET_POSITIONS:
        ids = special_ids(config)
        return (ids.cls, ids.sep, ids.mask, BPE_UNK_ID)
    return SPECIAL_IDS


def max_length(config) -> int:
    """The longest input the position embeddings take: RoBERTa-style positions start after the padding id."""
    if getattr(config, "model_type", None) in OFFSET_POSITIONS:
        return config.max_position_embeddings - config.pad_token_id - 1
    return config.max_position_embeddings


_MIXED: dict[tuple[type, ...], type] = {}


def swap_class(module: torch.nn.Module, cls: type, parts: type | None = None) -> None:
    """Give ``module`` the class ``cls`` (a method's class), mixed with ``parts`` and the module's own class.

    The class it had before patching stays a base (a module patched twice keeps its library class).
    """
    original = getattr(type(module), "library_class", type(module))
    bases = (cls, parts, original) if parts is not None else (cls, original)
    mixed = _MIXED.get(bases)
    if mixed is None:
        mixed = type(
            cls.__name__,
            bases,
            {"library_class": original, "__module__": cls.__module__, "__qualname__": cls.__qualname__},
        )
        _MIXED[bases] = mixed
    module.__class__ = mixed


def check_tokenizer(tokenizer, config, where: str) -> None:
    """Refuse a tokenizer that is not the model's (of another family, or with edited special tokens): every id it
    can give lies inside the model's vocabulary, its padding id is the model's, no special token carries another
    role's name (swapped [CLS]/[SEP] entries)."""
    size = config.vocab_size
    if len(tokenizer) > size:
        raise FcabenchError(
            f"{where}: the tokenizer has {len(tokenizer):,} tokens, the model's vocabulary {size:,}: "
            f"not this model's tokenizer (or tokens were added beyond its vocabulary)"
        )
    named = {n: getattr(tokenizer, f"{n}_token_id", None) for n in ("cls", "sep", "pad", "mask", "unk", "bos", "eos")}
    outside = [f"{n} {i}" for n, i in named.items() if i is not None and not 0 <= i < size]
    if outside:
        raise FcabenchError(f"{where}: the tokenizer's special ids {', '.join(outside)} lie outside the vocabulary")
    pad = getattr(config, "pad_token_id", None)
    if pad is not None and named["pad"] is not None and named["pad"] != pad:
        raise FcabenchError(f"{where}: the tokenizer pads with id {named['pad']}, the model with {pad}")
    roles = {role: getattr(tokenizer, f"{role}_token", None) for role in CONVENTIONAL_NAMES}
    for role, token in roles.items():
        other = next((r for r, names in CONVENTIONAL_NAMES.items() if r != role and token in names), None)
        if other is not None:
            raise FcabenchError(
                f"{where}: the tokenizer names {token} as its {role} token, the {other} token's name: edited?"
            )


# The names the encoder families give their special tokens, by role: a tokenizer that names one role's token
# after another role (cls_token "[SEP]") has had its special tokens exchanged.
CONVENTIONAL_NAMES = {
    "cls": ("[CLS]", "<s>"),
    "sep": ("[SEP]", "</s>"),
    "pad": ("[PAD]", "<pad>"),
    "mask": ("[MASK]", "<mask>"),
    "unk": ("[UNK]", "<unk>"),
}
