"""Export to paper tables and data files; the runs CLI."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

import fcabench.runs as runs
from fcabench.cli.runs import app
from fcabench.errors import FcabenchError
from fcabench.runs.published import TABLES

BUNDLED = TABLES  # the published tables bundled in the package, read as runs


@pytest.fixture(scope="module")
def t5():
    df = runs.load(BUNDLED)
    return df[df["source_file"] == "focus_core_t5_combining_layer.csv"]


def test_markdown_table_has_units_and_one_row_per_run(t5):
    text = runs.to_markdown(t5)
    lines = text.strip().splitlines()
    assert "GFLOPs" in lines[0] and "FLOPs / BERT-base" in lines[0]
    assert len(lines) == 2 + len(t5)
    assert "0.543" in text  # 1 / 1.84, three decimals


def test_latex_table_escapes_and_uses_booktabs(t5):
    text = runs.to_latex(t5, caption="Focus on the Core, 50% of tokens & more")
    assert r"\toprule" in text and r"\bottomrule" in text
    assert r"50\% of tokens \& more" in text
    assert text.count(r"\\") == len(t5) + 1


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_data_exports_keep_every_column(tmp_path, t5, suffix):
    path = runs.export(t5, tmp_path / f"t5{suffix}")
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert list(back.columns) == list(t5.columns)
    assert back["score"].tolist() == t5["score"].tolist()


def test_an_exported_csv_imports_back_without_duplicates(tmp_path, t5):
    exported = runs.export(t5, tmp_path / "t5.csv")
    store = tmp_path / "store.jsonl"
    assert runs.import_runs(exported, store).added == len(t5)
    again = runs.import_runs(exported, store)
    assert (again.added, again.already_present) == (0, len(t5))
    assert runs.load(store)["flops_rel_bert_base"].tolist() == pytest.approx(t5["flops_rel_bert_base"].tolist())


def test_unknown_export_format_is_a_user_error(tmp_path, t5):
    with pytest.raises(FcabenchError, match="xlsx"):
        runs.export(t5, tmp_path / "t.xlsx")


def test_cli_list_show_import_export(tmp_path):
    cli = CliRunner()
    listed = cli.invoke(app, ["list", "--runs", str(BUNDLED), "--method", "power-bert", "--task", "CoLA"])
    assert listed.exit_code == 0, listed.output
    assert "powerbert-glue-test-cola-power-bert" in listed.output and "52.3" in listed.output

    shown = cli.invoke(app, ["show", "powerbert-glue-test-cola-power-bert", "--runs", str(BUNDLED)])
    assert shown.exit_code == 0 and "latency_ms" in shown.output and "NVIDIA K80" in shown.output

    store = tmp_path / "pub.jsonl"
    imported = cli.invoke(app, ["import", str(TABLES), "--to", str(store)])
    assert imported.exit_code == 0, imported.output
    assert f"imported {len(runs.load(TABLES))} rows" in imported.output
    assert "skipped powerbert_hparams.csv" in imported.output

    table = tmp_path / "t.tex"
    exported = cli.invoke(app, ["export", str(table), "--runs", str(store), "--source", "published", "-t", "BBC News"])
    assert exported.exit_code == 0 and r"\begin{tabular}" in table.read_text()


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"run_id": "x"}\n')
    done = subprocess.run(
        [sys.executable, "-m", "fcabench", "runs", "list", "--runs", str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert f"{bad}:1" in done.stderr and "field 'method'" in done.stderr
    assert json.loads(bad.read_text()) == {"run_id": "x"}
