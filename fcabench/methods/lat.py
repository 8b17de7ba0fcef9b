"""``lat``: the Length-Adaptive Transformer (Kim and Cho, ACL 2021): train once with LengthDrop, then search.

Inference is PoWER-BERT's extraction with a given *length configuration*: layer l keeps ``length_config[l]`` units
(counts include [CLS], non-increasing), the most significant by attention received, removed between the
attention block and the FFN. One trained model serves every length configuration, so one model gives a whole
accuracy/MACs front.

Training (``Method.stages``): fine-tune plain BERT, then ``lengthdrop``: each step trains the full model on the
labels and ``num_sandwich + 1`` sub-models (the smallest, every layer keeping ``ceil((1 - bound) l)`` of its
``l`` units, and ``num_sandwich`` random ones, each layer keeping a uniform draw from that range) distilled in
place from the full model's predictions (the sandwich rule); every pass drops each layer with probability
``layer_drop`` (LayerDrop). Then ``search`` (:mod:`fcabench.methods.evolution`): the evolutionary search over
length configurations, scored on the validation split and priced by the closed form; the front it finds is
stored with the checkpoint.

Decisions (docs/methods.md, "Length-Adaptive Transformer"):
- Units are scored by :func:`fcabench.methods.ops.significance` (PoWER-BERT's, which the paper adopts); the
  official code sums attention over every query row, padded ones and the unit's attention to itself included.
- The distillation loss is KL(full || sub) with the full model's distribution as the target (the paper's
  in-place distillation); the official code passes the two distributions to ``KLDivLoss`` the other way round.
  A regression head distils by the squared difference of the outputs.
- Each pass's loss is divided by ``num_sandwich + 2`` and the passes are summed into one backward step (the
  official code runs one backward per pass; the gradient is the same).
- A length configuration longer than an example keeps the whole example (as PoWER-BERT's retention does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fcabench import encoders
from fcabench.errors import FcabenchError
from fcabench.methods import ops
from fcabench.methods.attention import AttentionNeeds
from fcabench.methods.base import ReducingLayer
from fcabench.methods.method import Stage, method_config
from fcabench.methods.power_bert import keeps_everything, kept_counts, kept_width
from fcabench.methods.registry import Method, register

MIN_LENGTH = 2  # the fewest units a sampled configuration keeps ([CLS] and one more), as the official sampler


@dataclass(frozen=True)
class LatConfig:
    length_config: tuple[int, ...] | None = None  # units kept per layer, [CLS] included, non-increasing; unset: all
    lengthdrop: bool = False  # train with LengthDrop and the sandwich rule (the lengthdrop stage)
    length_drop_bound: float = 0.2  # p: a layer keeps between ceil((1 - p) l) and l of its l units (paper: 0.2)
    layer_drop: float = 0.2  # LayerDrop probability of each layer in every training pass (paper's GLUE runs: 0.2)
    num_sandwich: int = 2  # random sub-models per step beside the smallest (paper: 2)
    # the search stage (fcabench.methods.evolution); defaults: the official README's GLUE command
    iterations: int = 30
    population: int = 20
    mutations: int = 30
    crossovers: int = 30
    mutation_prob: float = 0.5
    max_macs_ratio: float = 1.0  # the search keeps configurations at or under this x vanilla's encoder MACs
    search_examples: int | None = None  # validation examples the search scores on (a fixed random draw); unset: all

    def __post_init__(self):
        if self.length_config is not None:
            object.__setattr__(self, "length_config", tuple(int(k) for k in self.length_config))
            if not self.length_config or min(self.length_config) < 1:
                raise ValueError(f"length_config must be counts of at least 1, got {list(self.length_config)}")
            if any(b > a for a, b in zip(self.length_config, self.length_config[1:])):
                raise ValueError(f"length_config must be non-increasing over layers, got {list(self.length_config)}")
        if not 0 <= self.length_drop_bound < 1 or not 0 <= self.layer_drop < 1:
            raise ValueError("length_drop_bound and layer_drop must be in [0, 1)")
        if min(self.num_sandwich, self.iterations, self.mutations, self.crossovers) < 0 or self.population < 1:
            raise ValueError("num_sandwich, iterations, mutations and crossovers must be >= 0, population >= 1")
        if not 0 <= self.mutation_prob <= 1 or not 0 < self.max_macs_ratio <= 1:
            raise ValueError("mutation_prob must be in [0, 1] and max_macs_ratio in (0, 1]")
        if self.search_examples is not None and self.search_examples < 1:
            raise ValueError(f"search_examples must be at least 1, got {self.search_examples}")

    def counts(self, n0: torch.Tensor, layer: int, layers: int) -> torch.Tensor:
        """Units each example keeps in ``layer`` (before clipping to what it still has)."""
        return n0 if self.length_config is None else torch.full_like(n0, self.length_config[layer])

    def bound(self, n: int, layer: int, layers: int) -> int:
        """The most units ``layer`` keeps of inputs padded to ``n`` (compiled graphs)."""
        return n if self.length_config is None else min(n, self.length_config[layer])


class LatLayer(ReducingLayer):
    """Modifications: ``reduce`` keeps the ``length_config[l]`` most significant units; a layer LayerDrop dropped
    for this pass returns its input."""

    dropped: bool = False

    def forward(self, hidden, keep, state):
        return (hidden, keep) if self.dropped else super().forward(hidden, keep, state)

    def reduce(self, hidden, keep, stats, state):
        if self.method_config.length_config is None:
            return hidden, keep
        counts, width = kept_counts(self, keep, state), kept_width(self, keep, state)
        if keeps_everything(counts, keep, width):
            return hidden, keep
        return ops.gather_units(hidden, *ops.keep_top(ops.significance(stats, keep), keep, counts, width=width))


@contextlib.contextmanager
def running(model, lengths: tuple[int, ...] | None, dropped: frozenset[int] = frozenset()):
    """``model`` (patched with ``lat``) runs with the length configuration ``lengths`` (None: every unit) and
    without the layers ``dropped`` until the block ends; one trained model, any configuration."""
    config = dataclasses.replace(method_config(model), length_config=lengths)
    layers = encoders.layers(model)
    saved = [(layer.method_config, layer.needs, layer.dropped) for layer in layers]
    for index, layer in enumerate(layers):
        layer.method_config, layer.dropped = config, index in dropped
        layer.needs = Lat.needs_for(config)
    try:
        yield model
    finally:
        for layer, (old_config, needs, was_dropped) in zip(layers, saved):
            layer.method_config, layer.needs, layer.dropped = old_config, needs, was_dropped


def sample_dropped(layers: int, probability: float, rng: random.Random) -> frozenset[int]:
    """LayerDrop: each layer left out of this pass with ``probability``."""
    return frozenset(i for i in range(layers) if rng.random() < probability)


def sample_lengths(
    n: int, layers: int, bound: float, rng: random.Random, smallest: bool = False, dropped=frozenset()
) -> tuple[int, ...]:
    """A LengthDrop configuration for inputs of ``n`` units: each kept layer keeps between ``ceil((1 - bound) l)``
    and all of the ``l`` units it receives (``smallest``: the fewest), never fewer than ``MIN_LENGTH``; a
    dropped layer passes its units on."""
    lengths, length = [], n
    for layer in range(layers):
        if layer not in dropped:
            low = math.ceil(length * (1 - bound))
            length = low if smallest else rng.randint(low, length)
        length = min(n, max(length, MIN_LENGTH))
        lengths.append(length)
    return tuple(lengths)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """In-place distillation: KL(teacher || student) over classes, batch mean; squared error for one output."""
    if student.shape[-1] == 1:
        return F.mse_loss(student, teacher)
    return F.kl_div(F.log_softmax(student, dim=-1), F.softmax(teacher, dim=-1), reduction="batchmean")


def length_macs_ratio(shape, n: int, lengths: tuple[int, ...] | None) -> float:
    """Closed-form encoder MACs of one ``n``-unit input under ``length_config``, over vanilla's (the search's cost)."""
    from fcabench.flops.closed_form import encoder_macs_from_units, vanilla_encoder_macs

    units, units_in = [], n
    for k in lengths or (n,) * shape.layers:
        units_out = min(k, units_in)
        units.append((units_in, units_out, shape.heads * units_in))
        units_in = units_out
    return encoder_macs_from_units(shape, n, units) / vanilla_encoder_macs(shape, n)


@register
class Lat(Method):
    name = "lat"
    config_class = LatConfig
    layer_class = LatLayer

    @staticmethod
    def needs_for(config) -> AttentionNeeds:
        """Scores are read only where units are removed: the full model attends as vanilla does (SDPA)."""
        return AttentionNeeds(stats=config.length_config is not None or config.lengthdrop)

    def attention_needs(self, config, layer, layers):
        return self.needs_for(config)

    def validate(self, config, model_config):
        layers = model_config.num_hidden_layers
        if config.length_config is not None and len(config.length_config) != layers:
            raise FcabenchError(f"length_config has {len(config.length_config)} entries; the model has {layers} layers")
        longest = encoders.max_length(model_config)
        if config.length_config is not None and config.length_config[0] > longest:
            raise FcabenchError(
                f"length_config keeps {config.length_config[0]} units; the model takes {longest} at most"
            )

    def stages(self, config):
        return [
            Stage("fine-tune", None),
            Stage("lengthdrop", dataclasses.replace(config, length_config=None, lengthdrop=True)),
            Stage("search", dataclasses.replace(config, lengthdrop=False), trains=False),
        ]

    def training_loss(self, model, inputs, forward):
        """The sandwich rule: the full model on the labels, the smallest and ``num_sandwich`` random sub-models on
        the full model's predictions, each pass with LayerDrop; the mean of the ``num_sandwich + 2`` losses."""
        config = method_config(model)
        if not config.lengthdrop:
            return super().training_loss(model, inputs, forward)
        layers, n = len(encoders.layers(model)), inputs["input_ids"].shape[1]
        rng = random.Random(torch.randint(0, 2**62, ()).item())  # follows the trainer's seeded torch generator
        with running(model, None, sample_dropped(layers, config.layer_drop, rng)):
            loss, outputs = forward(inputs)
        teacher = outputs.logits.detach()
        unlabelled = {key: value for key, value in inputs.items() if key != "labels"}
        for index in range(config.num_sandwich + 1):
            dropped = sample_dropped(layers, config.layer_drop, rng)
            lengths = sample_lengths(n, layers, config.length_drop_bound, rng, smallest=index == 0, dropped=dropped)
            with running(model, lengths, dropped):
                student = model(**unlabelled).logits
            loss = loss + distillation_loss(student, teacher)
        return loss / (config.num_sandwich + 2), outputs

    def search(self, model, config, score, seq_len, seed):
        """The front of the evolutionary search: [(configuration, MACs / vanilla's, validation score)], cheapest
        first; a configuration the user gave (``length_config``) is scored alone, no search replaces it. With
        ``search_examples`` the search ranks on that many validation examples; the front it keeps is then scored
        on the whole split."""
        from fcabench.flops.closed_form import Shape
        from fcabench.methods import evolution

        shape = Shape.of(encoders.base_model(model).config)

        def cost(lengths):
            return length_macs_ratio(shape, seq_len, lengths)

        def evaluate(lengths, examples=None):
            with running(model, lengths):
                return score(dataclasses.replace(config, length_config=lengths), examples)

        if config.length_config is not None:
            return [(config, cost(config.length_config), evaluate(config.length_config))]
        front = evolution.evolve(
            lambda lengths: evaluate(lengths, config.search_examples),
            cost,
            seq_len,
            shape.layers,
            config,
            random.Random(seed),
        )
        return [
            (
                dataclasses.replace(config, length_config=c.lengths),
                c.cost,
                c.score if config.search_examples is None else evaluate(c.lengths),
            )
            for c in front
        ]

    def example_config(self, num_layers):
        return LatConfig(length_config=tuple(max(2, 10 - 2 * layer) for layer in range(num_layers)))

    def off_config(self, num_layers):
        return LatConfig()
