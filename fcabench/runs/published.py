"""Turn the bundled published tables (``fcabench/data/published/*.csv``, numbers as printed) into runs.

The tables are the one stored copy of the published numbers: :func:`fcabench.runs.load` converts them when
it reads them, so a change to a rule below reaches every published row at once.

Naming: the unreduced reference is the method ``vanilla``, as for a measured run; a Focus-on-the-Core
configuration uses the field names of ``FocusCoreConfig`` (``variant``, ``keep_ratio``, ``combine_layer``,
``num_combine_tokens``), so that measured and published runs of one configuration group together.

Normalisation rules (one convention: FLOPs = 2 x MACs, at the padded task length, relative to BERT-base):
  * BERT-base reference rows get the closed-form encoder MACs at the task's padded length ("exact") and
    speed-up 1 by definition; nothing else about them is invented.
  * A printed MAC count ("GFLOPs" that are really MACs: LAT, torchprofile) becomes FLOPs = 2 x MACs and its
    ratio to the same source's BERT-base count ("converted").
  * A printed FLOPs *reduction factor* on a stated data set (Focus on the Core, Table 5) becomes
    1 / factor relative to BERT, and that ratio times BERT-base's MACs at 512 ("converted").
  * Not normalisable (kept as printed only): wall-clock-only rows (PoWER-BERT), ratios on an unstated data
    set (Focus on the Core, Table 3), FLOPs ratios of headline claims counted at real length on
    unnamed GLUE tasks (LTP, FCA), vision models (ToMe).
Rows that are not results (hyper-parameters, data-set statistics, a user's re-run) are skipped, each with
the reason in :data:`SKIPPED_FILES` or the ``skipped`` list :func:`convert_folder` returns.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from collections.abc import Callable
from pathlib import Path

from fcabench.errors import FcabenchError
from fcabench.runs.reference import BERT_BASE_CITATION, bert_base_macs
from fcabench.runs.schema import RowError, Run, validate_record

SKIPPED_FILES = {
    "powerbert_hparams.csv": "training hyper-parameters and retention configurations, not results",
    "fca_code_hparams.csv": "training settings from FCA's code, not results",
    "focus_core_t1_datasets.csv": "data-set statistics, not results",
}
BERT_MODEL = "bert-base-uncased"
REFERENCE_METHOD = "vanilla"  # the unreduced model, as measured runs call it
TABLES = Path(__file__).resolve().parents[1] / "data" / "published"  # the bundled tables, inside the package
CLOSED_FORM_NOTE = (
    "BERT-base is the reference: closed-form encoder MACs at the padded length (not printed by the source)"
)
CLOSED_FORM_SCOPE = "encoder matmuls (closed form)"

Row = dict[str, str]


# ---------------------------------------------------------------- parsing printed values


def number(text: str | None) -> float | None:
    """A printed number: "52.3", "(97.7)", "1.64x", "0.544x" -> float; "-", "" or a range -> None."""
    if text is None:
        return None
    text = text.strip().strip("()").strip()
    if text.endswith("x"):
        text = text[:-1]
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def printed(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def integer_prefix(text: str | None) -> int | None:
    """ "512 (first 512 tokens; ...)" -> 512, "197 tokens" -> 197, "" -> None."""
    match = re.match(r"\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


def slug(*parts: object) -> str:
    text = "-".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^a-z0-9.=]+", "-", text.lower()).strip("-")


METRICS = {
    "matthews corr": "matthews_corr",
    "accuracy": "accuracy",
    "f1": "f1",
    "spearman": "spearman",
    "f1_macro": "f1_macro",
    "f1_micro": "f1_micro",
}


def metric_key(text: str) -> str:
    """ "Matthews corr (test)" -> "matthews_corr"; unknown metrics become snake_case."""
    base = re.sub(r"\s*\(.*\)\s*$", "", text).strip().lower()
    return METRICS.get(base, re.sub(r"[^a-z0-9]+", "_", base).strip("_"))


def task_name(text: str) -> str:
    """ "SST-2 (C=2)" -> "SST-2"; everything else as printed."""
    return re.sub(r"\s*\(C=\d+\)\s*$", "", text.strip())


# ---------------------------------------------------------------- building rows


def reference_cost(seq_len: int) -> dict:
    """Cost fields of a BERT-base reference row at ``seq_len``."""
    macs = float(bert_base_macs(seq_len))
    return dict(
        macs=macs,
        flops=2 * macs,
        flops_rel_bert_base=1.0,
        normalisation="exact",
        normalisation_note=CLOSED_FORM_NOTE,
        count_length="padded",
        count_scope=CLOSED_FORM_SCOPE,
        speedup=1.0,
        speedup_basis="reference (1 by definition)",
    )


def source_fields(row: Row, file: str) -> dict:
    note = "; ".join(part for part in (printed(row.get("table")), printed(row.get("source_note"))) if part)
    return dict(citation=row["paper"], source_note=note, source_file=file)


def reduction_factor_cost(factor: float, seq_len: int, printed_text: str, note: str) -> dict:
    """Cost fields from "N x fewer FLOPs than BERT" on a stated data set."""
    rel = 1.0 / factor
    macs = rel * bert_base_macs(seq_len)
    return dict(
        flops_rel_bert_base=rel,
        macs=macs,
        flops=2 * macs,
        flops_as_printed=printed_text,
        normalisation="converted",
        normalisation_note=note,
    )


def group(rows: list[Row], *keys: str) -> dict[tuple, list[Row]]:
    """Rows grouped by ``keys`` in order of first appearance (one group = one run)."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple((row.get(k) or "").strip() for k in keys), []).append(row)
    return groups


def by_metric(rows: list[Row]) -> dict[str, Row]:
    return {row["metric"].strip(): row for row in rows}


# ---------------------------------------------------------------- PoWER-BERT


def powerbert_glue_test(rows: list[Row], file: str) -> list[Run]:
    runs = []
    timed = {(r["task"], r["method"]): r for r in rows if "inference time" in r["metric"]}
    for row in rows:
        if "inference time" in row["metric"]:
            continue  # merged into the score row of the same task and method
        common = source_fields(row, file)
        if row["table"].startswith("abstract"):
            target = "ALBERT" if "ALBERT" in row["method"] else "BERT-base"
            runs.append(
                Run(
                    run_id=slug(file[:-4], "claim", target),
                    method="power-bert",
                    method_label=row["method"],
                    model="albert" if target == "ALBERT" else BERT_MODEL,
                    task="GLUE",
                    source="claim",
                    claim_text=f"{row['metric']}: {row['speedup']}x (over {target}, max over GLUE tasks)",
                    speedup=number(row["speedup"]),
                    speedup_as_printed=printed(row["speedup"]),
                    speedup_basis="inference wall-clock",
                    normalisation_note="wall-clock only, no FLOPs",
                    **common,
                )
            )
            continue
        seq_len = int(row["seq_len"])
        time_row = timed.get((row["task"], row["method"]))
        latency = number(time_row["value"]) if time_row else None
        is_reference = row["method"] == "BERT-base"
        if is_reference:
            cost = reference_cost(seq_len)
        else:
            cost = dict(
                normalisation="not-normalisable",
                speedup=number(row["speedup"]),
                normalisation_note="the source reports wall-clock time only (K80, batch 128), no FLOPs",
                speedup_basis="inference wall-clock, K80 GPU, batch 128",
            )
        runs.append(
            Run(
                run_id=slug(file[:-4], row["task"], row["method"]),
                method=REFERENCE_METHOD if is_reference else "power-bert",
                method_label=row["method"],
                model=BERT_MODEL,
                task=row["task"],
                split="test",
                metric=metric_key(row["metric"]),
                score=number(row["value"]),
                seq_len=seq_len,
                batch_size=128 if latency is not None else None,
                latency_ms=latency,
                hardware="NVIDIA K80 (as published)" if latency is not None else None,
                speedup_as_printed=printed(row["speedup"]),
                source="published",
                **cost,
                **common,
            )
        )
    return runs


# ---------------------------------------------------------------- Focus on the Core

FOCUS_BASELINES = {  # printed name -> (method key, model)
    "BigBird": ("bigbird", "BigBird"),
    "Longformer": ("longformer", "Longformer"),
    "F-TFM": ("funnel", "Funnel Transformer (F-TFM)"),
    "Transkimmer": ("transkimmer", BERT_MODEL),
    "BERT": (REFERENCE_METHOD, BERT_MODEL),
}
FOCUS_NO_COST = "no FLOPs in this table (Table 3 gives ratios on an unstated data set)"
FOCUS_SPEEDUP_BASIS = "wall-clock ratio to BERT; probably training time (paper: 'accelerating the training speed')"


def focus_variant(method: str, setting: str) -> tuple[str, str, dict]:
    """(method key, model, configuration) of a Focus-on-the-Core table row."""
    if method in FOCUS_BASELINES:
        key, model = FOCUS_BASELINES[method]
        return key, model, {}
    config: dict = {}
    # The variant as named: "ours-PFC ..." or "... (ours-PF)"; Table 5's "variant not stated" stays unnamed.
    variant = re.match(r"ours-(PFC|PF|P|C)\b", method) or re.search(r"\(ours-(PFC|PF|P|C)\)", method)
    if variant:
        config["variant"] = variant.group(1)
    layer = re.search(r"layer (\d+)", setting)
    if layer:
        config["combine_layer"] = int(layer.group(1))  # 1-based, as in the paper and FocusCoreConfig
    if "(*)" in setting:
        config["inserted_without_replacing"] = True  # the paper's L11*: no FocusCoreConfig field runs it
    ratio = re.search(r"p=([\d.]+)", setting)
    if ratio:
        config["keep_ratio"] = float(ratio.group(1))  # the paper's preservation ratio p
    tokens = re.search(r"m=(\d+)", setting)
    if tokens:
        config["num_combine_tokens"] = int(tokens.group(1))  # the paper's m
    return "focus-core", BERT_MODEL, config


def focus_label(config: dict) -> str | None:
    parts = []
    if "variant" in config:
        parts.append(config["variant"])
    if "combine_layer" in config:
        parts.append(f"L{config['combine_layer']}" + ("*" if config.get("inserted_without_replacing") else ""))
    if "keep_ratio" in config:
        parts.append(f"p={config['keep_ratio']:g}")
    if "num_combine_tokens" in config:
        parts.append(f"m={config['num_combine_tokens']}")
    return " ".join(parts) or None


def focus_core(rows: list[Row], file: str) -> list[Run]:
    """Tables 2 to 6: one run per (task, method, setting); its printed metrics become rows."""
    runs = []
    cost_metrics = {
        "flops_relative_to_bert",
        "memory_cost_relative_to_bert",
        "speedup_vs_bert",
        "flops_reduction_factor_vs_bert",
    }
    for (task, method, setting), group_rows in group(rows, "task", "method", "setting").items():
        metrics = by_metric(group_rows)
        key, model, config = focus_variant(method, setting)
        seq_len = integer_prefix(group_rows[0]["seq_len"])
        common = source_fields(group_rows[0], file)
        cost: dict = dict(normalisation="not-normalisable", normalisation_note=FOCUS_NO_COST)
        if key == REFERENCE_METHOD:
            cost = reference_cost(seq_len)
        speed = metrics.get("speedup_vs_bert")
        if speed is not None and number(speed["value"]) is not None:
            cost.update(
                speedup=number(speed["value"]),
                speedup_as_printed=printed(speed["value"]),
                speedup_basis=FOCUS_SPEEDUP_BASIS,
            )
        memory = metrics.get("memory_cost_relative_to_bert")
        if memory is not None:
            cost["mem_rel_bert_base"] = number(memory["value"])
        if "flops_relative_to_bert" in metrics and key != REFERENCE_METHOD:  # Table 3: data set not stated
            cost.update(
                flops_as_printed=printed(metrics["flops_relative_to_bert"]["value"]),
                flops_unit_as_printed="FLOPs relative to BERT (Table 3)",
                normalisation_note="ratio to BERT on an unstated data set, by a counter that gives "
                "key/value pruning (P, PF) no credit",
            )
        if "flops_reduction_factor_vs_bert" in metrics:  # Table 5: BBC News
            text = metrics["flops_reduction_factor_vs_bert"]["value"]
            cost.update(
                reduction_factor_cost(
                    number(text),
                    seq_len,
                    printed(text),
                    "relative FLOPs = 1 / printed reduction factor (BERT/model, BBC News, the paper's own "
                    "counter); macs = that ratio x BERT-base encoder MACs at 512",
                )
            )
            cost["flops_unit_as_printed"] = "FLOPs reduction factor BERT/model (Table 5)"
        run_id = slug(file[:-4], task_name(task), method.split(" (")[0], setting.replace("(*)", " inserted"))
        scored = [m for m in metrics if m not in cost_metrics]
        template = dict(
            run_id=run_id,
            method=key,
            method_label=method,
            method_config=config,
            config_label=focus_label(config),
            model=model,
            task=task_name(task),
            seq_len=seq_len,
            source="published",
            **cost,
            **common,
        )
        if not scored:  # a cost-only run (Table 3)
            if any(v is not None for v in (cost.get("speedup"), cost.get("mem_rel_bert_base"))):
                runs.append(Run(**template))
            continue
        for metric in scored:
            value = number(metrics[metric]["value"])
            runs.append(Run(metric=metric_key(metric), score=value, **template))
    return runs


# ---------------------------------------------------------------- headline claims

CLAIM_FILES = {  # file -> (method key, model of the non-reference rows)
    "claims_ltp.csv": ("ltp", "roberta-base"),
    "claims_lat.csv": ("lat", BERT_MODEL),
    "claims_tokendrop.csv": ("token-drop", BERT_MODEL),
    "claims_trbert.csv": ("tr-bert", BERT_MODEL),
    "claims_transkimmer.csv": ("transkimmer", BERT_MODEL),
    "claims_tome.csv": ("tome", None),
    "claims_fca.csv": ("fca", BERT_MODEL),
}
SKIP_CLAIM_ROWS = (  # (file, pattern in metric or table, reason)
    ("claims_trbert.csv", "alpha", "harmonic coefficients are hyper-parameters, not results"),
    ("claims_tokendrop.csv", "token_keep_k", "the configuration of the pre-training, not a result"),
    ("claims_transkimmer.csv", "user report", "a user's re-run in a GitHub issue, not a published result"),
)


def claim_skip_reason(file: str, row: Row) -> str | None:
    for skip_file, pattern, reason in SKIP_CLAIM_ROWS:
        if file == skip_file and (pattern in row["metric"] or pattern in row["table"]):
            return reason
    return None


def claims(rows: list[Row], file: str, skipped: list[str]) -> list[Run]:
    method_key, model = CLAIM_FILES[file]
    runs = []
    lat_reference_macs = None
    for index, row in enumerate(rows):
        reason = claim_skip_reason(file, row)
        if reason:
            skipped.append(f"{file} row {index + 2}: {reason}")
            continue
        common = source_fields(row, file)
        metric_text, value, speed = row["metric"], printed(row["value"]), printed(row["speedup"])
        is_reference = row["method"].lower().startswith("bert")
        fields: dict = dict(
            method=REFERENCE_METHOD if is_reference else method_key,
            method_label=row["method"],
            model=BERT_MODEL if is_reference else model,
            task=row["task"],
            source="claim",
            seq_len=integer_prefix(row["seq_len"]),
            normalisation="not-normalisable",
            speedup_as_printed=speed,
        )
        text = f"{metric_text}: {value}" if value else metric_text
        if "FLOPs reduction" in metric_text:
            fields.update(
                flops_as_printed=f"{speed}x fewer FLOPs",
                count_length="real" if method_key == "ltp" else "unknown",
                flops_unit_as_printed="FLOPs reduction factor vs the unreduced model",
                normalisation_note="a ratio over GLUE tasks that are not named (FLOPs at each example's "
                "real length for LTP)",
                speedup_as_printed=None,
            )
            text = f"{metric_text}: {speed}x"
        elif "MACs" in metric_text or row.get("flops_g"):
            macs = number(value) if "MACs" in metric_text else number(row["flops_g"]) * 1e9
            if is_reference:
                lat_reference_macs = macs
            if lat_reference_macs is None:
                raise FcabenchError(f"{file} row {index + 2}: a MAC count before its source's BERT-base count")
            fields.update(
                macs=macs,
                flops=2 * macs,
                flops_rel_bert_base=macs / lat_reference_macs,
                flops_as_printed=row["flops_g"] if "MACs" not in metric_text else value,
                flops_unit_as_printed="MACs (torchprofile; the source calls them (G)FLOPs)",
                count_length="padded",
                count_scope="torchprofile: all ops incl. embeddings and head",
                normalisation="converted",
                normalisation_note="flops = 2 x printed MACs; ratio to the same source's BERT-base count",
            )
            if number(speed) is not None:
                fields.update(
                    speedup=number(speed),
                    speedup_basis="reference (1 by definition)"
                    if is_reference
                    else "latency ratio to BERT Base, Intel Xeon 8280, batch 32",
                )
            latency = re.search(r"latency ([\d.]+) ms", row["source_note"])
            if latency:
                fields.update(
                    latency_ms=float(latency.group(1)),
                    batch_size=32,
                    hardware="Intel Xeon Platinum 8280 (as published)",
                )
            if metric_text in ("F1",):
                fields.update(metric="f1", score=number(value))
            config = re.search(r"length config \(([\d,]+)\)", row["method"])
            if config:
                fields.update(method_config={"length_config": config.group(1)}, config_label="length config")
            if "MiniLM" in row["method"]:
                fields["model"] = "MiniLMv2-L6-H384"
        elif "->" in (value or ""):  # ToMe: "81.41 -> 79.30 / 953 -> 1564"
            accuracy = re.match(r"\s*([\d.]+)\s*->\s*([\d.]+)", value)
            vision = re.match(r"(\S+) original vs ToMe r=(\d+)", row["method"])
            fields.update(
                metric="top1_accuracy",
                score=float(accuracy.group(2)),
                speedup=number(speed),
                speedup_basis="throughput (im/s), V100",
                model=vision.group(1),
                method_config={"r": int(vision.group(2))},
                config_label=f"r={vision.group(2)}",
                normalisation_note="a vision model; throughput only",
            )
        elif number(speed) is not None:
            fields.update(speedup=number(speed), speedup_basis=metric_text, normalisation_note="speed only, no FLOPs")
            text = f"{metric_text}: {speed}x"
        elif speed:
            fields["normalisation_note"] = "a range, not a point"
            text = f"{metric_text}: {speed}x"
        fields["claim_text"] = text
        if fields.get("normalisation") == "not-normalisable" and not fields.get("normalisation_note"):
            fields["normalisation_note"] = "no cost stated"
        runs.append(Run(run_id=slug(file[:-4], index + 1, row["task"]), **fields, **common))
    return runs


def bert_base_derived(rows: list[Row], file: str) -> list[Run]:
    """The closed-form BERT-base costs; the printed (rounded) value must agree with ours to 0.1%."""
    runs = []
    for row in rows:
        seq_len = int(row["seq_len"])
        exact = bert_base_macs(seq_len)
        if abs(number(row["value"]) - exact) > 1e-3 * exact:
            raise FcabenchError(
                f"{file}: printed BERT-base MACs {row['value']} at n={seq_len} disagree with the closed form {exact}"
            )
        cost = reference_cost(seq_len)
        del cost["speedup"], cost["speedup_basis"]
        cost["normalisation_note"] = "closed form; printed (rounded) value kept in flops_as_printed"
        runs.append(
            Run(
                run_id=slug(file[:-4], seq_len),
                method=REFERENCE_METHOD,
                method_label=row["method"],
                model=BERT_MODEL,
                task="any",
                seq_len=seq_len,
                source="derived",
                flops_as_printed=row["value"],
                flops_unit_as_printed="encoder MACs",
                **cost,
                **dict(source_fields(row, file), citation=f"{row['paper']}: {BERT_BASE_CITATION}"),
            )
        )
    return runs


# ---------------------------------------------------------------- folder


def read_table(path: Path) -> list[Row]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def converter(file: str) -> Callable[[list[Row], str, list[str]], list[Run]] | None:
    if file == "powerbert_glue_test.csv":
        return lambda rows, name, skipped: powerbert_glue_test(rows, name)
    if file.startswith("focus_core_t") and file not in SKIPPED_FILES:
        return lambda rows, name, skipped: focus_core(rows, name)
    if file == "claims_bertbase.csv":
        return lambda rows, name, skipped: bert_base_derived(rows, name)
    if file in CLAIM_FILES:
        return claims
    return None


def convert_table(path: Path, skipped: list[str] | None = None) -> list[Run]:
    """Runs from one published table; raises FcabenchError naming the file and row on a bad value."""
    skipped = [] if skipped is None else skipped
    convert = converter(path.name)
    if convert is None:
        skipped.append(f"{path.name}: {SKIPPED_FILES.get(path.name, 'not a known published table')}")
        return []
    try:
        runs = convert(read_table(path), path.name, skipped)
        for run in runs:
            validate_record(dataclasses.asdict(run))  # a converter bug must not reach the store
        return runs
    except FcabenchError:
        raise
    except (RowError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise FcabenchError(f"{path}: cannot convert this published table ({type(error).__name__}: {error})") from None


def convert_folder(folder: str | Path) -> tuple[list[Run], list[str]]:
    """All runs from a folder of published tables, in file-name order, and what was skipped and why."""
    folder = Path(folder)
    tables = sorted(folder.glob("*.csv"))
    if not tables:
        raise FcabenchError(f"{folder}: no published tables (*.csv) here")
    runs: list[Run] = []
    skipped: list[str] = []
    for path in tables:
        runs.extend(convert_table(path, skipped))
    return runs, skipped


def is_published_table(path: str | Path) -> bool:
    """True for a folder of published tables or one such CSV (header starts with ``paper,table``)."""
    path = Path(path)
    if path.is_dir():
        return any(path.glob("*.csv"))
    if path.suffix != ".csv" or not path.is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as handle:  # only the header is looked at
        return handle.readline().startswith("paper,table")
