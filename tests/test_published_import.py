"""The bundled published runs: stored once as the copied tables, normalised by the stated rules when read."""

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import fcabench.runs as runs
from fcabench.runs.published import TABLES, convert_folder
from fcabench.runs.reference import bert_base_macs

REPO = Path(__file__).resolve().parents[1]
FOCUS_NAMES = {"variant", "keep_ratio", "combine_layer", "num_combine_tokens"}


@pytest.fixture(scope="module")
def published():
    return runs.load(TABLES)


def source_rows(name):
    with open(TABLES / name, newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_tables_are_the_only_stored_copy_and_live_inside_the_package():
    assert TABLES.is_relative_to(REPO / "fcabench") and len(list(TABLES.glob("*.csv"))) == 17
    assert not list((REPO / "fcabench" / "data").glob("*.jsonl"))
    assert not list((REPO / "results").rglob("published*"))


def test_default_load_gives_the_converted_tables_then_the_checkout_runs(published):
    converted, _ = convert_folder(TABLES)
    default = runs.load()
    assert len(published) == len(converted) == 272
    bundled = default[default["store_file"].str.startswith(str(TABLES))].drop(columns=["store_file", "store_line"])
    assert bundled.reset_index(drop=True).equals(
        runs.store.to_frame([runs.validate_record(dataclasses.asdict(r)) for r in converted])
    )
    assert published["store_line"].isna().all()
    assert (published["store_file"].map(lambda f: Path(f).name) == published["source_file"]).all()


def test_published_rows_load_from_an_installed_package_without_the_checkout(tmp_path):
    """The wheel's layout: the package alone, no results/ beside it."""
    import shutil

    shutil.copytree(REPO / "fcabench", tmp_path / "fcabench", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import fcabench.runs as r; df = r.load(); print(len(df), r.default_results_dir(), "
        "df.loc[df.run_id == 'powerbert-glue-test-cola-power-bert', 'score'].item())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["272", "None", "52.3"]


def test_one_name_for_the_unreduced_model():
    assert "bert-base" not in set(runs.load(TABLES)["method"])


def test_focus_core_configs_use_the_config_dataclass_field_names(published):
    from fcabench.methods.focus_core import FocusCoreConfig

    fields = {f.name for f in dataclasses.fields(FocusCoreConfig)}
    configs = [json.loads(c) for c in published.loc[published["method"] == "focus-core", "method_config"]]
    used = set().union(*configs)
    assert FOCUS_NAMES <= used  # every table's setting is named
    assert used - fields == {"inserted_without_replacing"}  # the paper's L11*: inserted, no layer replaced
    t4 = published[
        (published["source_file"] == "focus_core_t4_preservation_ratio.csv") & (published["method"] == "focus-core")
    ]
    assert sorted(json.loads(c)["keep_ratio"] for c in t4["method_config"]) == [
        0.6,
        0.65,
        0.7,
        0.75,
        0.8,
        0.85,
        0.9,
        0.95,
    ]


def test_every_row_cites_its_source(published):
    assert published["citation"].notna().all() and published["source_note"].notna().all()
    assert published["source_file"].map(lambda f: (TABLES / f).is_file()).all()


def test_powerbert_rows_keep_scores_timings_and_are_wall_clock_only(published):
    for row in source_rows("powerbert_glue_test.csv"):
        if row["table"] != "README results table (GLUE test)":
            continue
        stored = published[
            (published["source_file"] == "powerbert_glue_test.csv")
            & (published["task"] == row["task"])
            & (published["method_label"] == row["method"])
        ]
        assert len(stored) == 1
        assert stored["score"].iloc[0] == float(row["value"])
        assert stored["speedup_as_printed"].iloc[0] == row["speedup"]
    power = published[(published["method"] == "power-bert") & (published["source"] == "published")]
    assert len(power) == 9
    assert (power["normalisation"] == "not-normalisable").all() and power["flops"].isna().all()
    cola = power[power["task"] == "CoLA"].iloc[0]
    assert (cola["latency_ms"], cola["batch_size"], cola["seq_len"]) == (201.0, 128, 64)  # README: 898ms->201ms


def test_bert_base_references_get_the_closed_form_at_the_task_length(published):
    ref = published[(published["method"] == "vanilla") & (published["source_file"] == "powerbert_glue_test.csv")]
    assert len(ref) == 9
    for row in ref.itertuples():
        assert row.macs == bert_base_macs(row.seq_len) and row.flops == 2 * row.macs
        assert row.flops_rel_bert_base == 1.0 and row.speedup == 1.0


def test_focus_core_table5_reduction_factor_becomes_a_relative_flops(published):
    t5 = published[published["source_file"] == "focus_core_t5_combining_layer.csv"]
    layer7 = t5[t5["config_label"] == "L7"].iloc[0]
    assert layer7["flops_as_printed"] == "1.84x"  # Table 5 prints BERT/model
    assert layer7["flops_rel_bert_base"] == pytest.approx(1 / 1.84)
    assert layer7["macs"] == pytest.approx(bert_base_macs(512) / 1.84)
    assert layer7["normalisation"] == "converted"
    assert "variant" not in json.loads(layer7["method_config"])  # Table 5 does not say which variant


def test_table3_ratios_on_an_unstated_dataset_are_kept_as_printed_only(published):
    t3 = published[(published["source_file"] == "focus_core_t3_efficiency.csv") & (published["method"] != "vanilla")]
    assert len(t3) == 9
    assert (t3["normalisation"] == "not-normalisable").all()
    assert t3["flops_rel_bert_base"].isna().all()
    pfc7 = t3[t3["config_label"] == "PFC L7"].iloc[0]
    assert (pfc7["flops_as_printed"], pfc7["speedup"], pfc7["mem_rel_bert_base"]) == ("0.544x", 1.64, 0.61)


def test_table2_has_every_printed_score(published):
    source = source_rows("focus_core_t2_accuracy.csv")
    t2 = published[published["source_file"] == "focus_core_t2_accuracy.csv"]
    assert len(t2) == len(source)
    arxiv_pfc = t2[(t2["task"] == "arXiv") & (t2["config_label"] == "PFC L11") & (t2["metric"] == "f1_macro")]
    assert arxiv_pfc["score"].tolist() == [58.1]  # the paper's headline: macro-F1 52.5 -> 58.1


def test_headline_claims_are_flagged_and_include_fca_and_ltp(published):
    claims = published[published["source"] == "claim"]
    assert {"fca", "ltp", "power-bert", "transkimmer", "tr-bert", "tome", "lat", "token-drop"} <= set(claims["method"])
    fca = claims[claims["method"] == "fca"].iloc[0]
    assert "2x" in fca["claim_text"] and fca["normalisation"] == "not-normalisable"
    ltp_flops = claims[(claims["method"] == "ltp") & claims["flops_as_printed"].notna()].iloc[0]
    assert ltp_flops["count_length"] == "real" and ltp_flops["flops_as_printed"] == "2.1x fewer FLOPs"


def test_lat_macs_are_doubled_into_flops(published):
    anchor = published[published["source_file"] == "claims_lat.csv"].iloc[0]
    assert anchor["macs"] == 35_340_779_904 and anchor["flops"] == 2 * 35_340_779_904


def test_hyperparameter_tables_are_not_runs(published):
    assert not {"powerbert_hparams.csv", "fca_code_hparams.csv", "focus_core_t1_datasets.csv"} & set(
        published["source_file"]
    )
    trbert = published[published["source_file"] == "claims_trbert.csv"]
    assert len(trbert) == 1  # the speed-up claim; the alpha hyper-parameters are skipped
