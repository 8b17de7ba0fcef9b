"""fcabench.speed.bench and `fcabench bench`: interleaved timing, memory, ratios, protocol, store rows."""

import copy
import importlib
import json

import pytest
import torch
from typer.testing import CliRunner

from fcabench import methods
from fcabench.cli import app
from fcabench.errors import FcabenchError
from fcabench.runs import validate_record
from fcabench.speed import bench
from tests.conftest import padded_batch, tiny_model


def _models():
    vanilla = tiny_model(layers=2)
    drop = methods.apply(copy.deepcopy(vanilla), "token-drop", keep_ratio=0.5, span=(1, 2))
    return {"vanilla": vanilla, "drop": drop}


def test_interleaved_timing_runs_every_model_every_repeat():
    models = _models()
    calls = []
    for label, model in models.items():
        model.register_forward_hook(lambda *args, label=label: calls.append(label))
    inputs = {"input_ids": torch.ones(1, 8, dtype=torch.long), "attention_mask": torch.ones(1, 8, dtype=torch.long)}
    times = bench.time_interleaved(models, inputs, "inference", bench.Protocol(warmup=1, repeats=3))
    assert {k: len(v) for k, v in times.items()} == {"vanilla": 3, "drop": 3}
    timed = calls[2:]  # after one warm-up step each
    assert timed == ["vanilla", "drop", "drop", "vanilla", "vanilla", "drop"]  # the order rotates


def test_speedup_pairs_the_times_of_each_repeat():
    """The machine slows to half speed in repeat 3, after the method's step and before vanilla's: four of
    five repeats say 2x, and so does their median; the ratio of the two medians would say 4x."""
    vanilla, method = [100, 100, 200, 200, 200], [50, 50, 50, 100, 100]
    assert bench.paired_speedup(vanilla, method) == 2.0
    assert bench.paired_speedup([100, 100, 100], [50, 100, 100]) == 1.0  # a median, not a mean
    with pytest.raises(ValueError):
        bench.paired_speedup([100, 100], [50])


@pytest.mark.parametrize("mode", ["inference", "train"])
def test_bench_table_ratios_and_protocol(mode):
    table = bench.bench(_models(), [16], [2], [mode], bench.Protocol(warmup=1, repeats=2, threads=1))
    assert list(table["label"]) == ["vanilla", "drop"]
    base, drop = table.iloc[0], table.iloc[1]
    assert base["speedup"] == 1.0 and base["mac_cut"] == 1.0 and base["mem_ratio"] == 1.0
    assert drop["encoder_macs"] < base["encoder_macs"]  # token dropping removes units in layer 2
    assert drop["mac_cut"] == pytest.approx(base["encoder_macs"] / drop["encoder_macs"])
    assert drop["efficiency"] == pytest.approx(drop["speedup"] / drop["mac_cut"])
    assert (table["peak_mem_mb"] > 0).all() and (table["latency_p90_ms"] >= table["latency_ms"]).all()
    assert (table["threads"] == 1).all() and (table["repeats"] == 2).all()
    assert "interleaved" in base["protocol"] and "batch 2 x 16" in base["protocol"]


def test_cpu_peak_memory_grows_with_the_batch():
    model = tiny_model(layers=2)
    small = {"input_ids": torch.ones(1, 32, dtype=torch.long)}
    large = {"input_ids": torch.ones(8, 32, dtype=torch.long)}
    assert bench.peak_memory_mb(model, large, "inference") > 4 * bench.peak_memory_mb(model, small, "inference")


def test_runs_carry_the_protocol_and_validate():
    table = bench.bench(_models(), [16], [1], protocol=bench.Protocol(warmup=0, repeats=1, memory=False))
    runs = bench.to_runs(table, "tiny")
    records = [validate_record(run.to_record()) for run in runs]
    assert records[0]["speedup"] is None and records[1]["speedup"] == pytest.approx(table.iloc[1]["speedup"])
    assert all("interleaved" in r["source_note"] for r in records)
    assert records[1]["macs"] == table.iloc[1]["macs"] and records[1]["method_config"]["keep_ratio"] == 0.5


def test_bad_input_is_one_error():
    with pytest.raises(FcabenchError, match="dtype"):
        bench.Protocol(dtype="int8")
    with pytest.raises(FcabenchError, match="baseline"):
        bench.bench({"x": tiny_model()}, [8], [1])
    if not torch.cuda.is_available():
        with pytest.raises(FcabenchError, match="CUDA is not available"):
            bench.Protocol(device="cuda")


def test_cli_prints_table_and_stores(tmp_path):
    folder = tmp_path / "tiny"
    tiny_model(layers=2).save_pretrained(folder)
    store = tmp_path / "runs.jsonl"
    args = [
        "bench",
        "--model",
        str(folder),
        "-m",
        "td=token-drop keep_ratio=0.5 span=1,2",
        "-n",
        "16",
        "-b",
        "1",
        "--warmup",
        "0",
        "-r",
        "1",
        "--no-memory",
        "--results",
        str(store),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "vanilla" in result.output and "td" in result.output
    rows = [json.loads(line) for line in store.read_text().splitlines()]
    assert [r["method"] for r in rows] == ["vanilla", "token-drop"] and rows[1]["source"] == "measured"
    result = CliRunner().invoke(app, args[:-2] + ["--no-store"])
    assert result.exit_code == 0 and len(store.read_text().splitlines()) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bench_uses_the_allocator_peak():
    models = {k: m.cuda() for k, m in _models().items()}
    table = bench.bench(models, [16], [2], protocol=bench.Protocol(device="cuda", warmup=1, repeats=2))
    assert (table["peak_mem_mb"] > 0).all() and (table["device"] == "cuda").all()


def test_profile_cli_device_option():
    result = CliRunner().invoke(app, ["profile", "--model", "bert-base", "-n", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    if not torch.cuda.is_available():
        with pytest.raises(FcabenchError, match="CUDA is not available"):
            CliRunner().invoke(
                app, ["profile", "--model", "bert-base", "-n", "8", "--device", "cuda"], catch_exceptions=False
            )


def test_macs_of_a_batch_are_the_mean_of_its_examples():
    from fcabench.counting.profiler import closed_form_table, encoder_macs

    model = methods.apply(tiny_model(layers=2), "ltp", thresholds=(0.9, 1.0))
    with torch.inference_mode():
        model(input_ids=padded_batch([24] * 4)[0])
    record = methods.unit_record(model)
    per_example = [encoder_macs(closed_form_table(model, 24, record.example(i))) for i in range(4)]
    assert len(set(per_example)) > 1  # the examples keep different counts: the mean is not example 0's
    encoder, _ = bench.macs_of_last_pass(model, 24)
    assert encoder == pytest.approx(sum(per_example) / 4)


def test_per_layer_times_split_each_layer_as_the_macs_are_split(monkeypatch):
    """Every layer's exclusive module times land in the four components; the MACs beside them are the closed
    form's of that pass; vanilla is its own reference. A fake clock makes every module call last 1 ms, so the
    figures are exact: each component's time is the number of its calls."""
    from fcabench.speed import layer_time

    ticks = iter(range(10**6))
    monkeypatch.setattr(layer_time.time, "perf_counter", lambda: next(ticks) / 1000)  # 1 ms per reading
    models = _models()
    inputs = {"input_ids": padded_batch([8])[0], "attention_mask": torch.ones(1, 8, dtype=torch.long)}
    frame = layer_time.per_layer_times(models, inputs, bench.Protocol(warmup=1, repeats=3))
    assert set(frame["component"]) == set(layer_time.COMPONENTS) and len(frame) == 2 * 2 * 4
    vanilla = frame[frame["model"] == "vanilla"].set_index(["layer", "component"])
    assert (vanilla["layer_speedup"] == 1).all() and (vanilla["ms"] > 0).all()
    drop = frame[frame["model"] == "drop"].set_index(["layer", "component"])
    assert drop.loc[(1, "ffn"), "macs"] == vanilla.loc[(1, "ffn"), "macs"] // 2  # half the tokens in layer 1
    assert drop.loc[(0, "attn_proj"), "ms"] == vanilla.loc[(0, "attn_proj"), "ms"]  # the same modules, timed alike


def test_cli_per_layer_table_draws_as_a_figure(tmp_path, capsys):
    from tests.helpers import assert_one_line_error, cli

    table, figure = tmp_path / "layers.csv", tmp_path / "layers.png"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "bench",
            "-m",
            "token-drop",
            "-n",
            "32",
            "--warmup",
            "1",
            "-r",
            "2",
            "--per-layer",
            "--no-store",
            "-o",
            str(table),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "per layer · inference · n = 32" in result.output
    result = runner.invoke(app, ["plot", "layers", "--time", str(table), "-o", str(figure)])
    assert result.exit_code == 0, result.output
    assert figure.stat().st_size > 10_000
    missing = tmp_path / "nothing.csv"
    assert_one_line_error(*cli(capsys, "plot", "layers", "--time", missing), "no such per-layer timing table file")


@pytest.mark.skipif(not importlib.import_module("fcabench.speed.resident").supported(), reason="needs Linux /proc")
def test_resident_memory_is_measured_in_a_process_per_model():
    from fcabench.speed.resident import resident_growth_mb

    growth = resident_growth_mb(
        bench.Setup.of("drop", "token-drop", keep_ratio=0.5), "bert-base", 64, 2, "inference", bench.Protocol()
    )
    assert growth is not None and growth > 0  # one step of a fresh process touches new pages
