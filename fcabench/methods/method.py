"""The contract every token-reduction method honours: :class:`Method`.

A method is one module under ``fcabench/methods/`` (or any importable module of a user's) that defines
a frozen config dataclass and a :class:`Method` subclass decorated with ``@register``. What the method
needs from the model it declares here, and the generic :meth:`Method.patch` wires it in:

- its modules: ``layer_class`` (the ``reduce`` step), ``encoder_class`` (hooks around the layers),
  ``attention_class`` (the self-attention), ``state_class`` (the per-forward state, one object
  owned by the encoder), ``reads_input_ids`` (the embeddings hand the ids to that state);
- what each layer's ``reduce`` reads from attention: :meth:`attention_needs` (statistics, key
  vectors); an additive per-key logit bias goes through ``ForwardState.key_bias``;
- its own parameters and modules: :meth:`setup`, called once the classes are swapped;
- its cost: :meth:`layer_macs`, the closed form of one layer given its recorded units.

Training hooks, so that no training loop ever names a method: :meth:`stages` (the ordered training
procedure), :meth:`training_loss` (one step's passes), :meth:`loss_term`, :meth:`parameter_groups`,
:meth:`after_step`, :meth:`derive_config`, :meth:`config_is_given`, :meth:`search` (a stage that does not train);
:meth:`example_config` gives a configuration that reduces something, for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from fcabench import encoders
from fcabench.flops.closed_form import Shape, standard_layer_macs
from fcabench.methods.attention import AttentionNeeds
from fcabench.methods.base import (
    ForwardState,
    RecordingEmbeddings,
    ReducingEncoder,
    ReducingLayer,
    ReducingSelfAttention,
)


class _Derived:
    """The config :meth:`Method.derive_config` returned after the stage that derives it."""

    def __repr__(self) -> str:
        return "DERIVED"

    def __reduce__(self):  # one sentinel, also after pickling
        return "DERIVED"


DERIVED = _Derived()


@dataclass(frozen=True)
class Stage:
    """One stage of a method's training procedure.

    The hooks that act during a stage (``loss_term``, ``parameter_groups``, ``after_step``) are those of
    the method the stage's config belongs to (``methods.applied(model)`` once it is applied): FCA's
    configuration search is PoWER-BERT's soft extraction.
    """

    name: str  # "fine-tune", "search", "retrain", "soft", "hard"
    config: Any | None  # method config to train this stage with; None = the UNPATCHED model; DERIVED (see above)
    derive: bool = False  # after this stage, Method.derive_config(model, target) gives the later stages' config
    trains: bool = True  # False: the stage runs Method.search on the previous stage's weights instead of training


class Method:
    """One token-reduction method: how to patch an encoder, what each layer then costs, how it trains."""

    name: str
    config_class: type
    layer_class: type[ReducingLayer] = ReducingLayer
    encoder_class: type[ReducingEncoder] = ReducingEncoder
    attention_class: type[ReducingSelfAttention] = ReducingSelfAttention
    state_class: type[ForwardState] = ForwardState
    reads_input_ids: bool = False  # whether the layers read ForwardState.input_ids
    needs: AttentionNeeds = AttentionNeeds()  # what reduce() reads from attention, in every layer
    # Whether the units a layer keeps follow the values (attention scores), not only the shapes: then a model
    # with random weights gives other counts than a trained one would (the CLI says so).
    units_depend_on_weights: bool = False
    # The option a MAC budget turns (fcabench.counting.budget): a float, an int, or a per-layer ratio schedule;
    # None when the method has none or its cost follows the weights.
    budget_knob: str | None = None
    # Whether a budget is met within its tolerance (True) or by the closest value the knob reaches (a knob that
    # moves the cost in coarse steps, such as a count of layers); the reached cost is recorded either way.
    budget_exact: bool = True

    # --- patching -------------------------------------------------------------------------------

    def validate(self, config, model_config) -> None:
        """Raise FcabenchError if ``config`` cannot run on a model with ``model_config``."""

    def budget_interval(self, layers: int, seq_len: int) -> tuple[float, float] | None:
        """The range a MAC budget bisects the knob over, for a model of ``layers`` layers at ``seq_len``; None:
        (0, 1] for ratios, [0, ``seq_len``] for counts."""
        return None

    def check_input(self, config, seq_len: int) -> None:
        """Raise FcabenchError if ``config`` cannot run on inputs of ``seq_len`` tokens."""

    def attention_needs(self, config, layer: int, layers: int) -> AttentionNeeds:
        """What layer ``layer`` (0-based, of ``layers``) reads from its attention; default ``needs``."""
        return self.needs

    def patch(self, bert, config) -> None:
        """Swap the classes of ``bert``'s modules in place (weights stay), then :meth:`setup`. ``bert``: the
        base model of any supported family (:mod:`fcabench.encoders`)."""
        family = encoders.family_of(bert)
        encoder, layers = encoders.encoder(bert), encoders.layers(bert)
        encoders.swap_class(encoder, self.encoder_class)
        encoder.state = self.state_class()
        if self.reads_input_ids:
            encoders.swap_class(bert.embeddings, RecordingEmbeddings)
            bert.embeddings.state = encoder.state
        for index, layer in enumerate(layers):
            encoders.swap_class(layer, self.layer_class, family.layer_parts)
            encoders.swap_class(encoders.self_attention(layer, family), self.attention_class, family.attention_parts)
            layer.index, layer.method_config = index, config
            layer.needs = self.attention_needs(config, index, len(layers))
        self.setup(bert, config)

    def setup(self, bert, config) -> None:
        """Add the method's own parameters, buffers and modules to the patched ``bert``."""

    def shortfall(self, config, units: list[tuple[int, int]]) -> str | None:
        """What ran, in words, when ``config`` asked for more than the input allowed (``units``: each layer's
        (units in, units out) of one example); None when it ran as asked."""
        return None

    def layer_macs(self, shape: Shape, config, layer: int, n_in: int, n_out: int, keys: int, n0: int) -> dict:
        """Closed-form MACs of ``layer`` given its recorded units; ``n0`` = the input's length."""
        return standard_layer_macs(shape, n_in, n_out, keys)

    # --- training -------------------------------------------------------------------------------

    def training_options(self, options: dict, seq_len: int) -> dict:
        """The options to train with at the padded length ``seq_len`` (e.g. a search's weights cover that
        length); default: as given."""
        return options

    def stages(self, config) -> list[Stage]:
        """The method's training procedure, in order; default: fine-tune with ``config``."""
        return [Stage("fine-tune", config)]

    def training_loss(self, model, inputs: dict, forward) -> tuple[torch.Tensor, Any]:
        """(loss, outputs) of one training step on ``inputs``; ``forward(inputs)`` runs ``model`` and gives
        (task loss, outputs). Default: one pass plus :meth:`loss_term`; a method that trains several
        configurations per step (LAT's sandwich) runs more passes here."""
        loss, outputs = forward(inputs)
        extra = self.loss_term(model)
        return (loss if extra is None else loss + extra), outputs

    def search(self, model, config, score, seq_len: int, seed: int) -> list[tuple[Any, float, float]]:
        """A stage that does not train (``Stage.trains`` False): the configurations it keeps, each with its
        closed-form encoder MACs over vanilla's at ``seq_len`` and its validation score; ``score(config, examples)``
        gives the score (higher is better) of ``model``, run under ``config``, on the validation split or on a fixed
        random draw of ``examples`` of it. A configuration returned must have been scored on the whole split."""
        raise NotImplementedError(f"{self.name} has no search stage")

    def loss_term(self, model) -> torch.Tensor | None:
        """Extra loss after a forward pass of ``model`` (patched with this method), or None."""
        return None

    def parameter_groups(self, model) -> list[dict]:
        """The method's own parameters as optimizer groups, each with its ``"lr"`` (absent: the trainer's)."""
        return []

    def after_step(self, model) -> None:
        """Called after each optimizer step (e.g. to project parameters back into their range)."""

    def derive_config(self, model, target_config):
        """The config of the stages after a search stage, read from ``model`` trained in that stage."""
        return target_config

    def config_is_given(self, config) -> bool:
        """Whether ``config`` already fixes what a search stage would derive (the user gave it): then the
        search is skipped and ``config`` trained as given, never replaced by a derived one."""
        return False

    def example_config(self, num_layers: int):
        """A config that really reduces something on short inputs of a ``num_layers`` model, for tests."""
        return self.config_class()

    def off_config(self, num_layers: int):
        """A config that removes nothing, under which the model equals the unpatched one (tests check it)."""
        return self.config_class()


def method_config(model):
    """The config of the method ``model`` is patched with (fails clearly on an unpatched model)."""
    from fcabench.errors import FcabenchError

    config = getattr(encoders.base_model(model), "fcabench_config", None)  # set by methods.apply
    if config is None:
        raise FcabenchError("the model is not patched with a method")
    return config
