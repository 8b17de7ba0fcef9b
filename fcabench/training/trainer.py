"""Hugging Face ``Trainer`` with a method's training hooks, the best epoch kept, and a rich progress bar.

The hooks that act during a stage are those of the method the stage's config belongs to, i.e. of
``methods.applied(model)`` (FCA's search is PoWER-BERT's soft extraction): no training code names a method.

- :class:`MethodTrainer` computes a step's loss through ``Method.training_loss`` (the task loss plus
  ``Method.loss_term``, or a method's own passes) and gives ``Method.parameter_groups``
  their own optimizer groups (own learning rate, no weight decay);
- :class:`AfterStepCallback` calls ``Method.after_step`` after every optimizer step (PoWER-BERT projects
  its retention weights back to [0, 1]);
- :class:`BestEpochCallback` keeps the weights of the epoch with the best validation metric in memory
  (no checkpoint written per epoch) and restores them when training ends.
"""

from __future__ import annotations

from transformers import Trainer, TrainerCallback

from fcabench import methods


def acting_method(model):
    """The method whose hooks act on ``model`` now (None: the unpatched model trains plainly)."""
    patched = methods.applied(model)
    return patched.method if patched else None


class MethodTrainer(Trainer):
    """Modifications: ``compute_loss`` adds the method's loss term; ``create_optimizer`` adds its groups."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        def forward(batch):
            return Trainer.compute_loss(self, model, batch, return_outputs=True, num_items_in_batch=num_items_in_batch)

        method = acting_method(model) if model.training else None
        loss, outputs = method.training_loss(model, inputs, forward) if method else forward(inputs)
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model=None):
        if self.optimizer is not None:
            return self.optimizer
        model = model or self.model
        method = acting_method(model)
        extra = list(method.parameter_groups(model)) if method else []
        own = {id(p) for group in extra for p in group["params"]}
        decay = set(self.get_decay_parameter_names(model))
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad and id(p) not in own]
        groups = [
            {"params": [p for n, p in named if n in decay], "weight_decay": self.args.weight_decay},
            {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
            *({"weight_decay": 0.0, **group} for group in extra),
        ]
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        self.optimizer = optimizer_cls([g for g in groups if g["params"]], **optimizer_kwargs)
        return self.optimizer


class AfterStepCallback(TrainerCallback):
    def on_step_end(self, args, state, control, model=None, **kwargs):
        method = acting_method(model) if model is not None else None
        if method:
            method.after_step(model)


class BestEpochCallback(TrainerCallback):
    """Remember the best evaluation by ``metric``; restore its weights at the end (``keep="best"``), or
    keep the last epoch's (``keep="last"``: a configuration search is read off where it ended)."""

    def __init__(self, metric: str, greater_is_better: bool = True, keep: str = "best"):
        self.key, self.greater, self.keep = f"eval_{metric}", greater_is_better, keep
        self.history: list[dict] = []  # one entry per evaluation: epoch, step, metrics
        self.best: dict | None = None
        self._state = None

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        entry = {"epoch": round(state.epoch or 0.0, 4), "step": state.global_step, **(metrics or {})}
        self.history.append(entry)
        value = entry.get(self.key)
        better = self.best is None or (
            value is not None and (value > self.best[self.key] if self.greater else value < self.best[self.key])
        )
        if self.keep == "last" or better:
            self.best = entry
            self._state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self._state is not None and model is not None:
            model.load_state_dict(self._state)

    def description(self) -> str:
        if self.best is None:
            return "the final weights (one epoch or a step budget: no epoch to choose between)"
        rule = (
            "last evaluation (a search ends where it converged)"
            if self.keep == "last"
            else f"best validation {self.key[5:]}"
        )
        return f"{rule} of {len(self.history)} evaluation(s): epoch {self.best['epoch']}, step {self.best['step']}"


class RichProgressCallback(TrainerCallback):
    """fcabench's progress bar over optimizer steps, with the latest loss and metrics (replaces tqdm's)."""

    def __init__(self, title: str):
        self.title, self.stack, self.bar = title, None, None

    def on_train_begin(self, args, state, control, **kwargs):
        from contextlib import ExitStack

        from fcabench.progress import progress_bar

        self.stack = ExitStack()
        self.bar = self.stack.enter_context(progress_bar(self.title, total=state.max_steps))

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar:
            self.bar.to(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        from fcabench.tasks.metrics import METRICS

        if self.bar and logs:
            shown = {k: v for k, v in logs.items() if k in ("loss", "eval_loss") or k.removeprefix("eval_") in METRICS}
            if shown:
                self.bar.note(" ".join(f"{k}={v:.4g}" for k, v in shown.items()))

    def on_train_end(self, args, state, control, **kwargs):
        if self.stack:
            self.stack.close()
            self.stack = self.bar = None
