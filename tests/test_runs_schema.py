"""The schema's rules, and the BERT-base denominator against the published closed-form table."""

import pytest

from fcabench.runs.reference import bert_base_macs
from fcabench.runs.schema import COLUMNS, RowError, Run, validate_record

PROVENANCE = dict(
    fcabench_version="0.1.0",
    torch_version="2.13",
    transformers_version="5.23",
    git_commit=None,
    date_utc="2025-01-01T00:00:00Z",
    hardware="test CPU",
)


def measured(**changes):
    record = dict(
        run_id="r1",
        method="fca",
        model="bert-base-uncased",
        task="SST-2",
        source="measured",
        metric="accuracy",
        score=91.0,
        seq_len=64,
        macs=100.0,
        flops=200.0,
        flops_rel_bert_base=0.5,
        normalisation="exact",
        **PROVENANCE,
    )
    record.update(changes)
    return record


# docs/counting.md, "The closed form of one encoder layer": BERT-base encoder MACs by length (a cited table).
@pytest.mark.parametrize(
    "n, macs",
    [(64, 5_511_315_456), (128, 11_173_625_856), (256, 22_951_231_488), (384, 35_332_816_896), (512, 48_318_382_080)],
)
def test_bert_base_reference_matches_the_published_closed_form(n, macs):
    assert bert_base_macs(n) == macs


def test_a_valid_record_comes_back_complete_and_in_column_order():
    out = validate_record(measured())
    assert tuple(out) == COLUMNS
    assert out["method_config"] == {} and out["schema_version"] == 1


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(flops=300.0), "flops"),  # not 2 x macs
        (dict(score="high"), "score"),
        (dict(seq_len=64.5), "seq_len"),
        (dict(method="FCA BERT"), "method"),
        (dict(source="blog"), "source"),
        (dict(hardware=None), "hardware"),  # measured runs need provenance
        (dict(scroe=1.0), "scroe"),  # a typo must not silently drop a number
        (dict(macs=-1.0, flops=-2.0), "macs"),
        (dict(normalisation="not-normalisable"), "normalisation"),  # but it has macs
        (dict(score=None), "score"),  # a metric without a score
    ],
)
def test_broken_rows_name_the_field(changes, field):
    with pytest.raises(RowError) as error:
        validate_record(measured(**changes))
    assert error.value.field == field
    assert f"'{field}'" in str(error.value)


def test_published_rows_need_a_citation_and_a_note():
    row = dict(run_id="p", method="power-bert", model="m", task="CoLA", source="published")
    with pytest.raises(RowError, match="citation"):
        validate_record(row)
    assert validate_record(dict(row, citation="paper", source_note="Table 1"))["count_length"] == "unknown"


def test_run_dataclass_round_trips_through_the_validator():
    run = Run(**measured(method_config={"k": 5}))
    assert run.to_record()["method_config"] == {"k": 5}
