"""``token-drop``: skip the middle layers for unimportant tokens (Hou et al., ACL 2022).

The paper (12 layers) runs layers 1-6 on all tokens, layers 7-11 on the kept tokens only, and lets every
token rejoin for layer 12. Here the layers that see only the kept tokens are a span [start, end) of
0-based layer indices; the dropped tokens keep the hidden state they had after layer start-1 and rejoin,
in their original positions, before layer ``end``. The output has the input's full length.

Decisions (docs/methods.md, "Token dropping"; the paper is a *pretraining* method, applied here at
fine-tuning and inference time):
- Default span for depth L: [max(1, L//2), max(start+1, L-1)), i.e. the paper's 7-11 of 12 (0-based
  [6, 11)); [12, 23) for 24 layers, [1, 2) for 2 (there the span reaches the last layer and the
  dropped tokens rejoin only in the output). The span must start at layer 1 or later: the layer before
  it chooses the tokens.
- Tokens kept: ``keep_count`` real tokens, or ceil(``keep_ratio`` x real length) (default 0.5: the
  paper keeps 256 of 512), capped at the real length; forced tokens are kept even beyond that count.
- Forced tokens: position 0 ([CLS] by position, which the pooler and classifiers read) and every token
  whose id is in ``special_ids`` (default [CLS], [SEP], [MASK], [UNK] of the uncased BERT vocabulary:
  101, 102, 103, 100). Padding is never kept.
- Importance: ``"attention"`` (default, because it needs nothing learned) is the attention each token
  receives in layer start-1, averaged over heads and real query rows (``ops.attention_received``),
  computed inside that layer's call so the profiler books it there. ``"table"`` is the paper's
  per-vocabulary importance: a running average of each vocabulary id's masked-LM loss, built by
  :func:`build_importance_table` and passed as a tensor or a ``torch.save``-d file (``table``).
  Higher loss = more important (the paper keeps the tokens the model finds hardest).
- Table without an MLM head (a BertModel or a classifier): the per-token loss is the masked-LM loss
  through the input embedding matrix (logits = h E^T). BERT's own MLM decoder is tied to E, so this is
  its head without the transform layer and the output bias: the closest loss such a model defines.
  ELECTRA with embeddings narrower than the encoder maps h back through its embedding projection's
  transpose first (:func:`tied_logits`).

Kept tokens keep their original order; scoring adds no multiply-adds (only comparisons and sums), so
the closed form is the standard layer on the recorded counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from fcabench import encoders
from fcabench.encoders import base_model
from fcabench.errors import FcabenchError
from fcabench.methods import ops
from fcabench.methods.attention import AttentionNeeds
from fcabench.methods.base import ForwardState, ReducingEncoder, ReducingLayer
from fcabench.methods.registry import Method, register


@dataclass(frozen=True)
class TokenDropConfig:
    span: tuple[int, ...] | None = (
        None  # (start, end): 0-based layers [start, end) see only kept tokens; default scales the paper's 7-11 of 12
    )
    keep_ratio: float = 0.5  # kept fraction of each example's real tokens, rounded up (paper: 256 of 512)
    keep_count: int | None = None  # kept tokens per example instead of a ratio (capped at its real length)
    importance: Literal["attention", "table"] = "attention"  # attention needs nothing learned; table is the paper's
    table: str | torch.Tensor | None = field(
        default=None, compare=False
    )  # importance per vocabulary id: a 1-D tensor or a torch.save-d file
    special_ids: tuple[int, ...] | None = None  # ids always kept; default [CLS], [SEP], [MASK], [UNK] of uncased BERT

    def __post_init__(self):
        if self.span is not None:
            span = tuple(int(x) for x in self.span)
            if len(span) != 2 or span[0] < 1 or span[1] <= span[0]:
                raise ValueError(f"span must be (start, end) with 1 <= start < end, got {self.span}")
            object.__setattr__(self, "span", span)
        if not 0 < self.keep_ratio <= 1:
            raise ValueError(f"keep_ratio must be in (0, 1], got {self.keep_ratio}")
        if self.keep_count is not None and self.keep_count < 1:
            raise ValueError(f"keep_count must be >= 1, got {self.keep_count}")
        if self.importance not in ("attention", "table"):
            raise ValueError(f"importance must be attention or table, got {self.importance!r}")
        if self.importance == "table" and self.table is None:
            raise ValueError("importance='table' needs a table (build one with build_importance_table)")
        if self.special_ids is not None:
            object.__setattr__(self, "special_ids", tuple(int(i) for i in self.special_ids))

    def span_for(self, layers: int) -> tuple[int, int]:
        """[start, end) for a model of ``layers`` layers."""
        if self.span is not None:
            return self.span
        start = max(1, layers // 2)
        return start, max(start + 1, layers - 1)

    def counts(self, lengths: torch.Tensor) -> torch.Tensor:
        """Tokens each example keeps (before forced tokens), from its real length."""
        if self.keep_count is not None:
            return lengths.clamp(max=self.keep_count)
        return torch.ceil(lengths * self.keep_ratio).long().clamp(1).minimum(lengths)


def load_table(table, vocab_size: int) -> torch.Tensor:
    """A 1-D float importance table of ``vocab_size`` entries from a tensor or a torch.save-d file."""
    if isinstance(table, (str, Path)):
        path = Path(table).expanduser()
        if not path.is_file():
            raise FcabenchError(f"token-drop: no importance table at {str(path)!r}")
        table = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(table, torch.Tensor) or table.dim() != 1:
        raise FcabenchError("token-drop: the importance table must be a 1-D tensor (one value per vocabulary id)")
    if table.numel() != vocab_size:
        raise FcabenchError(
            f"token-drop: the importance table has {table.numel()} entries; the vocabulary has {vocab_size}"
        )
    return table.float()


@dataclass
class TokenDropState(ForwardState):
    selection: tuple[torch.Tensor, torch.Tensor] | None = None  # (index, valid) chosen by layer start-1
    full: tuple[torch.Tensor, torch.Tensor] | None = None  # (hidden, keep) of all tokens, set aside during the span


class TokenDropLayer(ReducingLayer):
    """Modifications: layer start-1 scores its tokens in ``reduce`` and puts the choice in the forward state.

    Nothing is removed inside a layer: the encoder gathers the chosen tokens before the span.
    """

    def reduce(self, hidden, keep, stats, state):
        if self.index == self.method_config.span_for(state.num_layers)[0] - 1:
            state.selection = self.select(keep, stats, state.input_ids)
        return hidden, keep

    def select(self, keep, stats, ids):
        config = self.method_config
        forced = torch.zeros_like(keep)
        forced[:, 0] = True
        if ids is not None:
            forced = forced | (ids[..., None] == self.special_ids).any(dim=-1)
        forced = forced & keep
        if config.importance == "table":
            if ids is None:
                raise FcabenchError("token-drop with importance='table' needs input_ids (not inputs_embeds)")
            scores = self.importance_table[ids]
        else:
            scores = ops.attention_received(stats, keep)
        counts = torch.maximum(config.counts(keep.sum(dim=1)), forced.sum(dim=1))
        scores = scores.masked_fill(forced, float("inf"))
        return ops.keep_top(scores, keep, counts)


def rejoin(full: torch.Tensor, part: torch.Tensor, index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``full`` with the valid units of ``part`` written back at their original positions."""
    index = index[..., None].expand(-1, -1, full.shape[-1])
    part = torch.where(valid[..., None], part, full.gather(1, index))  # invalid slots write back what was there
    return full.scatter(1, index, part)


class TokenDropEncoder(ReducingEncoder):
    """Modifications: layers [start, end) run on the tokens layer start-1 chose; the rest rejoin after.

    ``last_hidden_state`` has the input's full length.
    """

    def before_layer(self, index, hidden, keep, state):
        start, end = self.layer[0].method_config.span_for(len(self.layer))
        if index == start:
            state.full = hidden, keep
            return ops.gather_units(hidden, *state.selection)
        if index == end:
            return self.rejoin(hidden, state)
        return hidden, keep

    def finish(self, hidden, keep, state):
        if self.layer[0].method_config.span_for(len(self.layer))[1] == len(self.layer):
            return self.rejoin(hidden, state)
        return hidden, keep

    @staticmethod
    def rejoin(hidden, state):
        (full_hidden, full_keep), state.full = state.full, None  # else the old states outlive the rejoin
        return rejoin(full_hidden, hidden, *state.selection), full_keep


@register
class TokenDrop(Method):
    name = "token-drop"
    config_class = TokenDropConfig
    layer_class = TokenDropLayer
    budget_knob = "keep_ratio"  # what a MAC budget turns (fcabench.counting.budget)
    encoder_class = TokenDropEncoder
    state_class = TokenDropState
    reads_input_ids = True  # special tokens are kept by id

    def validate(self, config, model_config):
        layers = model_config.num_hidden_layers
        if layers < 2:
            raise FcabenchError("token-drop needs at least 2 layers (one to choose the tokens, one to skip)")
        start, end = config.span_for(layers)
        if end > layers:
            raise FcabenchError(f"token-drop span ({start}, {end}) exceeds the model's {layers} layers")
        if config.importance == "table":
            load_table(config.table, model_config.vocab_size)

    def attention_needs(self, config, layer, layers):
        """Only the layer before the span scores, and only by attention."""
        return AttentionNeeds(stats=layer == config.span_for(layers)[0] - 1 and config.importance == "attention")

    def setup(self, bert, config):
        start, _ = config.span_for(len(encoders.layers(bert)))
        device = bert.embeddings.word_embeddings.weight.device
        specials = config.special_ids if config.special_ids is not None else encoders.protected_ids(bert.config)
        chooser = encoders.layers(bert)[start - 1]
        chooser.register_buffer(
            "special_ids", torch.tensor(specials, dtype=torch.long, device=device), persistent=False
        )
        if config.importance == "table":
            table = load_table(config.table, bert.config.vocab_size).to(device)
            chooser.register_buffer("importance_table", table, persistent=False)

    def example_config(self, num_layers):
        return TokenDropConfig(keep_ratio=0.4)

    def off_config(self, num_layers):
        return TokenDropConfig(keep_ratio=1.0)


def tied_logits(bert, hidden: torch.Tensor) -> torch.Tensor:
    """Vocabulary logits h E^T through the input embeddings. Where the embeddings are narrower than the encoder
    (ELECTRA's ``embeddings_project`` maps them up), h is first taken back to the embeddings' width through that
    projection's transpose, as the input embedding is tied to both."""
    project = getattr(bert, "embeddings_project", None)
    if project is not None:
        hidden = hidden @ project.weight
    return hidden @ bert.embeddings.word_embeddings.weight.T


@torch.no_grad()
def build_importance_table(
    model: torch.nn.Module,
    batches,
    *,
    mask_prob: float = 0.15,
    mask_id: int | None = None,
    special_ids: tuple[int, ...] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Per-vocabulary importance: each id's average masked-LM loss over ``batches`` (the paper's table).

    ``batches``: an iterable of dicts with ``input_ids`` (and optionally ``attention_mask``) or of id
    tensors. In every batch ``mask_prob`` of the real, non-special tokens are replaced by ``mask_id``
    (default 103, [MASK] of uncased BERT, or the last id of a smaller vocabulary) and the cross-entropy
    of predicting each original id is added to that id's running average. Uses the model's MLM head if
    it has one (BertForMaskedLM, BertForPreTraining), else the tied input embeddings (see the module
    docstring). Ids never masked get the average of the ids that were. Returns a (vocab_size,) tensor;
    save it with ``torch.save`` to pass a path as ``table``.
    """
    bert = base_model(model)
    vocab = bert.config.vocab_size
    mask_id = mask_id if mask_id is not None else encoders.special_ids(bert.config).mask
    specials = torch.tensor(special_ids if special_ids is not None else encoders.protected_ids(bert.config))
    head = getattr(getattr(model, "cls", None), "predictions", None)
    device = bert.embeddings.word_embeddings.weight.device
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(vocab, dtype=torch.float64)
    seen = torch.zeros(vocab, dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            if isinstance(batch, torch.Tensor):
                batch = {"input_ids": batch}
            ids = batch["input_ids"].cpu()
            if ids.dim() == 1:
                ids = ids[None]
            real = batch.get("attention_mask", torch.ones_like(ids)).cpu().bool()
            candidates = real & ~torch.isin(ids, specials)
            candidates[:, 0] = False
            chosen = candidates & (torch.rand(ids.shape, generator=generator) < mask_prob)
            if not chosen.any():
                continue
            masked = ids.masked_fill(chosen, mask_id)
            out = bert(input_ids=masked.to(device), attention_mask=real.long().to(device))
            hidden = out.last_hidden_state
            if hidden.shape[1] != ids.shape[1]:
                raise FcabenchError("build_importance_table needs a model whose output keeps every token (unpatched)")
            hidden = hidden[chosen.to(device)]
            logits = head(hidden) if head is not None else tied_logits(bert, hidden)
            targets = ids[chosen]
            losses = torch.nn.functional.cross_entropy(logits.float(), targets.to(device), reduction="none").cpu()
            total.index_add_(0, targets, losses.double())
            seen.index_add_(0, targets, torch.ones_like(losses, dtype=torch.float64))
    finally:
        model.train(was_training)
    if not seen.any():
        raise FcabenchError("build_importance_table: no token was masked; give more (or longer) batches")
    table = torch.where(seen > 0, total / seen.clamp_min(1), total.sum() / seen.sum())
    return table.float()
