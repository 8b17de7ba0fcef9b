"""``fcabench profile`` end to end: exact totals in its output, files by extension, one-line errors."""

import io
import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from fcabench.cli import app
from fcabench.runs.published import TABLES

runner = CliRunner()
BUNDLED = TABLES  # the published tables bundled in the package, read as runs


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
    result = run(
        "profile",
        "--method",
        "fca",
        "--retention",
        "34,33,32,32,31,30,30,30,30,29,28,28",
        "--clusters",
        "5",
        "--seq-len",
        "64",
        "--check",
    )
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
        (
            ["--model", "bert-huge"],
            "cannot load model 'bert-huge' (not a preset: bert-base, bert-large, roberta-base, electra-base, "
            "distilbert-base",
        ),
        (["--seq-len", "600"], "exceeds the model's longest input (512 positions)"),
        (["--seq-len", "0"], "--seq-len takes integers of at least 1"),
        (["--batch-size", "-1"], "batch size must be positive"),
        (["--method", "fcb"], "unknown method 'fcb'"),
        (["--method", "fca", "--clusterz", "3"], "--clusterz: no such option for fca; valid options: aggregation"),
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


def test_list_methods_shows_their_options_with_resolved_defaults():
    result = run("profile", "--list-methods")
    assert "fca:\n  --retention int,... (default: unset)" in result.output
    assert "--clusters int (default: 5)" in result.output
    # PoWER-BERT's unset schedule is shown as what it means: 2^-floor(3 l / L) for BERT-base's 12 layers.
    assert "--ratios float,... (default: 1,1,1,1,0.5,0.5,0.5,0.5,0.25,0.25,0.25,0.25 for bert-base)" in result.output
    # token-drop's span scales the paper's layers 7-11 of 12: [6, 11) 0-based for BERT-base.
    assert "--span int,... (default: 6,11 for bert-base)" in result.output
    assert "None" not in result.output.replace("is None", "").replace("None =", "")


def test_per_example_counts_over_a_length_distribution():
    result = run("profile", "--method", "ltp", "--lengths", "uniform:16:64:8")
    assert result.exit_code == 0, result.output
    assert "8 examples" in result.output and "length convention: real" in result.output
    assert "median" in result.output and "p90" in result.output


def test_per_example_counts_over_a_text_file(tmp_path, minilm_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("a short line .\na somewhat longer line of plain text follows here .\n")
    output = tmp_path / "examples.csv"
    result = run(
        "profile", "--model", str(minilm_path), "--method", "ltp", "--text", str(lines), "--output", str(output)
    )
    assert result.exit_code == 0, result.output
    examples = pd.read_csv(output)
    assert len(examples) == 2 and examples["length"].iloc[0] < examples["length"].iloc[1]
    assert (examples["flops"] == 2 * examples["macs"]).all()


def test_several_methods_in_one_table_with_ratios_to_vanilla_at_the_same_length():
    result = run("profile", "--method", "vanilla,fca,power-bert", "--fca.clusters", "1", "--seq-len", "64")
    assert result.exit_code == 0, result.output
    assert "× vanilla (n = 64)" in result.output and "fca\nunits in" not in result.output
    header = next(line for line in result.output.splitlines() if "module" in line)
    assert header.count("units in") == 3 and header.count("GMACs") == 3  # a pair of columns per method
    assert "vanilla: encoder MACs 5,511,315,456" in result.output  # the table's reference, exact
    assert "fca: encoder MACs" in result.output and ": equal" in result.output


def test_profile_as_json_on_stdout_with_configuration_and_ratio():
    result = runner.invoke(app, ["profile", "-m", "vanilla,fca", "--clusters", "2", "-n", "64,128", "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = pd.DataFrame(json.loads(result.stdout))
    assert set(rows["method"]) == {"vanilla", "fca"} and set(rows["seq_len"]) == {64, 128}
    fca = rows[rows["method"] == "fca"]
    assert set(fca["config_label"]) == {"clusters=2"}
    config = fca["config"].iloc[0].split()
    assert "ratios=1,1,1,1,0.5,0.5,0.5,0.5,0.25,0.25,0.25,0.25" in config and "clusters=2" in config  # resolved
    for n in (64, 128):
        mine = fca[fca["seq_len"] == n]
        vanilla = rows[(rows["method"] == "vanilla") & (rows["seq_len"] == n)]
        assert mine["macs_rel_vanilla"].iloc[0] == pytest.approx(mine["macs"].sum() / vanilla["macs"].sum())
    assert (
        rows.loc[rows["layer"].notna() & (rows["method"] == "vanilla") & (rows["seq_len"] == 64), "macs"].sum()
        == 5_511_315_456
    )


def test_configurations_that_save_nothing_say_so():
    costly = runner.invoke(app, ["profile", "--method", "fca", "--clusters", "100", "--seq-len", "64"])
    assert costly.exit_code == 0, costly.output
    assert "warning: fca (clusters=100) at n = 64 costs 1.0" in costly.output and "x vanilla" in costly.output
    idle = runner.invoke(app, ["profile", "--method", "ltp", "--thresholds", ",".join(["-1"] * 12), "-n", "16"])
    assert idle.exit_code == 0, idle.output
    assert "warning: ltp (thresholds=" in idle.output and "removes no unit in any layer" in idle.output
    assert "random weights" in idle.output  # LTP's counts follow attention scores


def test_text_lines_cut_at_the_maximum_length_are_counted(tmp_path, minilm_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("a short line .\n" + "word " * 700 + "\n")
    output = tmp_path / "examples.csv"
    result = run("profile", "--model", str(minilm_path), "--text", str(lines), "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "2 examples (1 cut at the model's maximum of 512 tokens)" in result.output
    examples = pd.read_csv(output)
    assert examples["cut_to_max_length"].tolist() == [False, True] and examples["length"].iloc[1] == 512


def test_runs_list_as_csv_and_json():
    from fcabench.cli import app as root

    listed = runner.invoke(root, ["runs", "list", "--runs", str(BUNDLED), "-m", "power-bert", "-f", "csv"])
    assert listed.exit_code == 0, listed.output
    table = pd.read_csv(io.StringIO(listed.stdout))
    assert len(table) > 9 and set(table["method"]) == {"power-bert"} and "flops_rel_bert_base" in table.columns
    as_json = runner.invoke(root, ["runs", "list", "--runs", str(BUNDLED), "-m", "power-bert", "-f", "json"])
    assert pd.DataFrame(json.loads(as_json.stdout))["run_id"].tolist() == table["run_id"].tolist()
