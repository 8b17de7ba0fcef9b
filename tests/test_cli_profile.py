"""``fcabench profile`` end to end: exact totals in its output, files by extension, one-line errors."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from fcabench.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_bert_base_totals_are_printed_exactly(attn):
    result = run("profile", "--seq-len", "64,128", "--attn", attn)
    assert result.exit_code == 0, result.output
    assert "encoder MACs 5,511,315,456" in result.output
    assert "encoder MACs 11,173,625,856 (FLOPs 22,347,251,712); closed form 11,173,625,856: equal" in result.output
    assert "GMACs" in result.output and "GFLOPs" in result.output


def test_fca_profile_with_method_options_and_check():
    result = run("profile", "--method", "fca", "--retention", "34,33,32,32,31,30,30,30,30,29,28,28",
                 "--clusters", "5", "--seq-len", "64", "--check")
    assert result.exit_code == 0, result.output
    assert "encoder MACs 3,123,762,432" in result.output and ": equal" in result.output
    assert "FlopCounterMode" in result.output


def test_check_names_the_sdpa_gap_of_flop_counter_mode():
    result = run("profile", "--seq-len", "128", "--check")
    assert "misses SDPA: 301,989,888 MACs" in result.output  # 12 layers x 2 n^2 d at n = 128
    assert "the gap is exactly the SDPA op" in result.output


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet", ".md"])
def test_output_file_by_extension(tmp_path, suffix):
    path = tmp_path / f"profile{suffix}"
    assert run("profile", "--seq-len", "64", "--output", str(path)).exit_code == 0
    if suffix == ".csv":
        table = pd.read_csv(path)
    elif suffix == ".json":
        table = pd.DataFrame(json.loads(path.read_text()))
    elif suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        assert "| encoder.layer.11 |" in path.read_text()
        return
    assert table.loc[table["layer"].notna(), "macs"].sum() == 5_511_315_456


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "bert-huge"], "cannot load model 'bert-huge' (not a preset: bert-base, bert-large"),
        (["--seq-len", "600"], "exceeds the model's max_position_embeddings (512)"),
        (["--seq-len", "0"], "sequence length must be positive"),
        (["--batch-size", "-1"], "batch size must be positive"),
        (["--method", "fcb"], "unknown method 'fcb'"),
        (["--method", "fca", "--clusterz", "3"], "unknown option(s) for fca: clusterz"),
        (["--method", "fca", "--retention", "3,5,1,1,1,1,1,1,1,1,1,1"], "non-increasing"),
        (["--method", "fca", "--retention", "a,b"], "cannot read --retention"),
        (["--model", "/nonexistent/folder"], "no model at"),
        (["--output", "/tmp/table.xlsx"], "cannot write 'table.xlsx'"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code_2(args, message):
    result = subprocess.run([sys.executable, "-m", "fcabench", "profile", *args], capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_list_methods_shows_their_options():
    result = run("profile", "--list-methods")
    assert "fca: --retention" in result.output and "--clusters (default 5)" in result.output


def test_per_example_counts_over_a_length_distribution():
    result = run("profile", "--method", "ltp", "--lengths", "uniform:16:64:8")
    assert result.exit_code == 0, result.output
    assert "8 examples" in result.output and "length convention: real" in result.output
    assert "median" in result.output and "p90" in result.output


def test_per_example_counts_over_a_text_file(tmp_path, minilm_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("a short line .\na somewhat longer line of plain text follows here .\n")
    output = tmp_path / "examples.csv"
    result = run("profile", "--model", str(minilm_path), "--method", "ltp", "--text", str(lines), "--output", str(output))
    assert result.exit_code == 0, result.output
    examples = pd.read_csv(output)
    assert len(examples) == 2 and examples["length"].iloc[0] < examples["length"].iloc[1]
    assert (examples["flops"] == 2 * examples["macs"]).all()
