"""Speed as a deployment sees it: batching policies that never change a prediction, and the scenarios'
arithmetic (quantiles, examples per second, paired speed-ups, the best offline batch) on constructed timings."""

from __future__ import annotations

import copy
import statistics

import pytest
import torch

from fcabench import methods
from fcabench.errors import FcabenchError
from fcabench.speed import scenarios
from fcabench.speed.scenarios import Timed, Unit
from fcabench.speed.workload import Workload, batches, predict
from tests.conftest import tiny_model

LAYERS = 4


def workload(lengths=(12, 5, 9, 3, 12, 7, 10), seq_len=14, seed=0) -> Workload:
    generator = torch.Generator().manual_seed(seed)
    rows = tuple((2, *torch.randint(5, 90, (n - 2,), generator=generator).tolist(), 3) for n in lengths)
    return Workload(rows, seq_len, "constructed")


def example_model(name: str):
    """A tiny model in eval mode with ``name``'s example configuration (vanilla: unpatched)."""
    model = tiny_model(layers=LAYERS, seed=2, distinct=True)
    if name != "vanilla":
        methods.apply(model, methods.get(name).example_config(LAYERS))
    return model.eval()


def test_each_policy_pads_as_it_says_and_covers_every_example_once():
    work = workload()
    for padding, widths in [("max", [14, 14, 14]), ("dynamic", [12, 12, 10]), ("sorted", [12, 9, 3])]:
        plan = batches(work, 3, padding)
        assert [b.width for b in plan] == widths
        assert sorted(i for b in plan for i in b.index) == list(range(7))
        for batch in plan:
            assert batch.inputs["attention_mask"].sum(dim=1).tolist() == [len(work.ids[i]) for i in batch.index]
    assert [b.index for b in batches(work, 3, "sorted")][0] == (0, 4, 6)  # the longest first


@pytest.mark.parametrize("name", methods.names())
def test_dynamic_and_sorted_batching_give_the_predictions_of_max_padding(name):
    model = example_model(name)
    work = workload()
    padded = predict(model, work, 3, "max")
    for padding in ("dynamic", "sorted"):
        torch.testing.assert_close(predict(model, work, 3, padding), padded, atol=1e-5, rtol=1e-5)


def test_a_workload_longer_than_n_or_empty_is_refused():
    with pytest.raises(FcabenchError, match="more than n = 4"):
        Workload(((2, 5, 6, 7, 3),), 4, "too long")
    with pytest.raises(FcabenchError, match="no examples"):
        Workload((), 4, "empty")
    with pytest.raises(FcabenchError, match="unknown padding 'bucket'"):
        batches(workload(), 2, "bucket")


def test_quantiles_and_throughput_on_known_values():
    q = scenarios.quantiles(range(1, 101))
    assert q == pytest.approx({"p50": 50.5, "p90": 90.1, "p99": 99.01})
    assert scenarios.examples_per_second(100, 2000.0) == 50.0


def _timed(per_example_ms: dict[int, list[float]], macs: float) -> Timed:
    """Passes of batch-1 runs: pass k holds each example's k-th time."""
    passes = [[((i,), times[k]) for i, times in per_example_ms.items()] for k in range(2)]
    return Timed(passes, [macs] * len(per_example_ms))


def test_single_stream_pairs_each_example_with_vanilla_s_time_on_it():
    base = _timed({0: [10.0, 10.0], 1: [20.0, 20.0], 2: [40.0, 40.0]}, 100.0)
    fast = _timed({0: [5.0, 5.0], 1: [5.0, 5.0], 2: [40.0, 40.0]}, 50.0)  # ratios 2, 4, 1: median 2
    rows = scenarios._rows({Unit("vanilla", "max"): base, Unit("m", "max"): fast}, "single-stream", 1, 3)
    row = rows[Unit("m", "max")]
    assert row["speedup"] == 2.0 and row["latency_p50_ms"] == 5.0 and row["macs"] == 50.0
    assert row["examples_per_s"] == pytest.approx(1000 * 3 / 50)  # a pass: 5 + 5 + 40 ms


def test_batched_speedup_is_the_median_of_per_pass_ratios():
    base = Timed([[((0, 1), 10.0), ((2, 3), 10.0)], [((0, 1), 30.0), ((2, 3), 30.0)]], [1.0] * 4)
    unit = Timed([[((0, 1), 5.0), ((2, 3), 5.0)], [((0, 1), 20.0), ((2, 3), 20.0)]], [1.0] * 4)
    rows = scenarios._rows({Unit("vanilla", "max"): base, Unit("m", "max"): unit}, "fixed-batch", 2, 4)
    assert rows[Unit("m", "max")]["speedup"] == pytest.approx(statistics.median([20 / 10, 60 / 40]))
    assert rows[Unit("m", "max")]["latency_p50_ms"] == 12.5


def test_the_scenarios_run_every_unit_and_count_the_macs_that_ran():
    reference = tiny_model(layers=LAYERS, seed=1)
    pruned = methods.apply(copy.deepcopy(reference), "power-bert", ratios=(0.9, 0.7, 0.5, 0.4))
    models = {"vanilla": reference.eval(), "power-bert": pruned.eval()}
    work = workload()
    for scenario in scenarios.SCENARIOS:
        frame = scenarios.run(models, work, scenario, paddings=("max", "dynamic"), batch_size=3, passes=1, warmup=1)
        assert len(frame) == 4 and set(frame["padding"]) == {"max", "dynamic"}
        by = frame.set_index(["label", "padding"])
        assert by.loc[("vanilla", "max"), "speedup"] == 1.0 and by.loc[("vanilla", "max"), "mac_cut"] == 1.0
        assert by.loc[("vanilla", "dynamic"), "mac_cut"] > 1  # padding dropped: fewer MACs as run
        assert by.loc[("power-bert", "dynamic"), "mac_cut"] > by.loc[("vanilla", "dynamic"), "mac_cut"]
        if scenario == "offline":
            assert set(frame["batch_size"]) <= set(scenarios.OFFLINE_BATCHES)
    verdict = scenarios.verdict(frame)
    assert list(verdict["model"]) == ["power-bert", "power-bert"]
    assert verdict["best_vanilla"].str.startswith("vanilla · ").all()


def test_bench_times_a_checkpoints_real_examples_with_its_own_method(tmp_path, tiny_backbone, capsys):
    import fcabench
    from tests.helpers import cli

    settings = dict(seq_len=16, max_steps=1, batch_size=4, max_train_examples=8, max_eval_examples=8, progress=False)
    fcabench.train(
        tiny_backbone, "tweet-sentiment", output_dir=tmp_path / "v", results=tmp_path / "r.jsonl", **settings
    )
    fcabench.train(
        method="power-bert", method_options=dict(retention=(12, 8)), from_checkpoint=str(tmp_path / "v" / "fine-tune"),
        output_dir=tmp_path / "p", results=tmp_path / "r.jsonl", **settings,
    )  # fmt: skip
    table = tmp_path / "speed.csv"
    code, out, err = cli(
        capsys, "bench", "--model", str(tmp_path / "p" / "retrain"), "--task", "tweet-sentiment", "--max-examples",
        "6", "--padding", "max,dynamic", "--scenario", "single-stream,fixed-batch", "-b", "2", "--passes", "1",
        "-m", "truncate keep=8", "--no-store", "-o", str(table),
    )  # fmt: skip
    assert code == 0, err
    assert "tweet-sentiment test, 6 examples (a fixed draw), n = 16" in out and "verdict" in out
    import pandas as pd

    rows = pd.read_csv(table)
    assert set(rows["label"]) == {"vanilla", "power-bert", "truncate keep=8"}
    assert len(rows) == 2 * 3 * 2  # scenarios x models x paddings


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "bert-base", "--task", "tweet-sentiment"], "bert-base is a preset with random weights"),
        (["--model", "minilm-l6", "--task", "tweet-sentiment", "--padding", "bucket"], "unknown --padding 'bucket'"),
        (["--model", "minilm-l6", "--task", "tweet-sentiment", "--scenario", "server"], "unknown --scenario 'server'"),
        (["--model", "minilm-l6", "--task", "tweet-sentiment", "-b", "1,8"], "give one --seq-len and one --batch-size"),
    ],
)
def test_bench_on_real_examples_refuses_bad_usage_in_one_line(capsys, args, message):
    from tests.helpers import assert_one_line_error, cli

    assert_one_line_error(*cli(capsys, "bench", *args, "--no-store"), message)


COMPILED_ATOL = 1e-4  # float32 sums reassociated by the compiler; logits of order 1
STATIC = ["vanilla", "power-bert", "fca", "lat", "tome", "truncate", "layer-drop"]  # kept counts fixed given n


@pytest.mark.slow  # dynamo traces and compiles each model
@pytest.mark.parametrize("name", STATIC)
def test_methods_with_counts_fixed_given_n_trace_into_one_graph_and_agree_with_eager(name):
    import torch._dynamo

    model = example_model(name)
    work = workload()
    batch = batches(work, 3, "dynamic")[0]
    torch._dynamo.reset()
    graphs = []

    def capture(graph, example_inputs):  # the captured graph, run as it is
        graphs.append(graph)
        return graph.forward

    with torch.inference_mode():
        eager = model(**batch.inputs).logits
        compiled = torch.compile(model, backend=capture, dynamic=False)  # bench compiles dynamic=True; slower to trace
        torch.testing.assert_close(compiled(**batch.inputs).logits, eager, atol=COMPILED_ATOL, rtol=0)
        assert len(graphs) == 1  # one graph: no break
        if name != "vanilla":  # the compiled pass records the same units
            record = methods.unit_record(model).tokens_out
            model(**batch.inputs)
            assert torch.equal(record, methods.unit_record(model).tokens_out)


@pytest.mark.slow  # inductor compiles each unit (about a minute on two cores)
def test_compiled_units_are_timed_after_compiling_and_say_what_it_took():
    reference = tiny_model(layers=2, seed=1)
    pruned = methods.apply(copy.deepcopy(reference), "power-bert", ratios=(0.7, 0.5))
    models = {"vanilla": reference.eval(), "power-bert": pruned.eval()}
    frame = scenarios.run(
        models, workload(), "fixed-batch", paddings=("max",), batch_size=4, passes=1, runtimes=("eager", "compiled")
    )
    compiled = frame[frame["runtime"] == "compiled"].set_index("label")
    assert (compiled["graph_breaks"] == 0).all() and (compiled["graphs"] >= 1).all()
    assert (compiled["compile_s"] > 0).all() and frame[frame["runtime"] == "eager"]["compile_s"].isna().all()
    assert set(scenarios.verdict(frame)["runtime"]) == {"eager", "compiled"}


ONNX_ATOL = 1e-4  # float32, another runtime's kernels


@pytest.mark.slow  # each export traces the model and builds an ONNX Runtime session
@pytest.mark.parametrize("name, exports", [("vanilla", 1), ("power-bert", 2), ("lat", 2)])
def test_exported_models_agree_with_eager_and_a_method_re_exports_for_a_new_shape(name, exports):
    pytest.importorskip("onnxruntime")
    from fcabench.speed.onnx import OnnxRunner

    model = example_model(name)
    runner = OnnxRunner(model, name)
    for batch in (batches(workload(), 3, "dynamic")[0], batches(workload(), 2, "max")[0]):
        with torch.inference_mode():
            eager = model(**batch.inputs).logits
        torch.testing.assert_close(runner(**batch.inputs).logits, eager, atol=ONNX_ATOL, rtol=0)
    assert runner.exports == exports  # vanilla's one graph takes any shape; a method's widths follow n
    assert runner.max_abs_diff < ONNX_ATOL


@pytest.mark.slow  # dynamo explains MiniLM (and the exporter tries ToMe)
@pytest.mark.parametrize(
    "method, message",
    [
        (
            "token-drop",
            "token-drop (token-drop) cannot be exported to ONNX: its forward pass reads counts off the data",
        ),
        ("tome", "tome cannot be exported to ONNX: torch.onnx.export failed"),  # one graph, but not an exportable one
    ],
)
def test_a_method_that_cannot_be_exported_is_refused_in_one_line(capsys, method, message):
    pytest.importorskip("onnxruntime")
    from tests.helpers import assert_one_line_error, cli

    args = ["--model", "minilm-l6", "--task", "tweet-sentiment", "--max-examples", "4", "-n", "32", "-m", method]
    refused = cli(capsys, "bench", *args, "--runtime", "onnxruntime", "--scenario", "fixed-batch", "--no-store")
    assert_one_line_error(*refused, message)
