"""Helpers the test modules share (no test module imports another): running the CLI in this process, runs and
prediction tables made to order, a tiny learnable task, profiles whose MACs are known by hand, a spam/ham file."""

import json

import numpy as np
import pandas as pd
import torch

import fcabench.runs as runs
from fcabench import encoders, methods
from fcabench.cli import main
from tests.conftest import padded_batch


def cli(capsys, *args):
    """Run ``fcabench ARGS`` in this process through ``main`` (its error handling included)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, message):
    assert code == 2, (code, out, err)
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert message in err, err
    assert "Traceback" not in err + out


PROVENANCE = dict(
    fcabench_version="0.1.0",
    torch_version="2.13",
    transformers_version="5.23",
    git_commit="abc",
    date_utc="2025-01-01T00:00:00Z",
    hardware="test CPU",
)


def make_run(run_id: str, score: float = 90.0, macs: int = 5_000_000_000):
    return runs.measured_run(
        "fca",
        {"k": 5, "keep": [34, 33]},
        "bert-base-uncased",
        "SST-2",
        seq_len=64,
        macs=macs,
        latency_ms=3.5,
        peak_mem_mb=120.0,
        metric="accuracy",
        score=score,
        provenance=PROVENANCE,
        run_id=run_id,
    )


def predictions(correct, n=100, seed=0):
    """A prediction table of 2 classes where the examples in ``correct`` are predicted right."""
    labels = np.random.default_rng(seed).integers(0, 2, n)
    predicted = np.where(np.isin(np.arange(n), correct), labels, 1 - labels)
    return pd.DataFrame(
        {"example": np.arange(n), "example_id": [f"e{i}" for i in range(n)], "label": labels, "prediction": predicted}
    )


VANILLA_MACS = 1_000_000.0


def row(method, stage, score, macs, config=None, real=None, seed=0, seq_len=64):
    return runs.measured_run(
        method,
        config or {},
        "minilm-l6",
        "BBC News",
        seq_len,
        macs,
        metric="accuracy",
        score=score,
        split="validation",
        stage=stage,
        macs_real_mean=real or macs,
        seed=seed,
    )


def learnable_task(examples: int = 24, seed: int = 0):
    """Random sequences of 8 to 12 tokens whose label is the second token's id mod 3 (the tiny head has 3)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(8, 13, (examples,), generator=generator).tolist()
    ids, mask = padded_batch(lengths, seed=seed)
    return ids, mask, ids[:, 1] % 3


def train_stage(model, steps: int = 30):
    """Plain AdamW on the task with the method's own training loss, parameter groups and after-step hook."""
    method, _ = methods.applied(model)
    groups = method.parameter_groups(model)
    own = [p for group in groups for p in group["params"]]
    rest = [p for p in model.parameters() if all(p is not q for q in own)]
    optimizer = torch.optim.AdamW([{"params": rest}, *groups], lr=2e-3, weight_decay=0.0)
    ids, mask, labels = learnable_task()
    torch.manual_seed(0)  # dropout, Gumbel noise
    losses = []

    def forward(batch):
        out = model(**batch)
        return out.loss, out

    for step in range(steps):
        loss, out = method.training_loss(model, dict(input_ids=ids, attention_mask=mask, labels=labels), forward)
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            query = encoders.layers(model)[0].get_submodule(encoders.family_of(model).projections[0]).weight.grad
            assert query is not None and query.abs().sum() > 0, "no gradient reaches the encoder"
            for group in groups:
                assert all(p.grad is not None for p in group["params"]), "a parameter of the method gets no gradient"
                assert sum(float(p.grad.abs().sum()) for p in group["params"]) > 0
        optimizer.step()
        method.after_step(model)
        losses.append(out.loss.item())
    return losses


def closed_form_profile(method: str, tokens: list[int], d: int = 768) -> pd.DataFrame:
    """A profile like fcabench.profile's, from docs/counting.md: layer l runs attention on n_l units and its FFN on
    n_{l+1} (PoWER-BERT placement), so the MACs are known without tracing anything."""

    def outside(module: str, other: int) -> dict:  # a row outside the encoder: its MACs are "other" only
        zeros = dict(macs_attn_proj=0, macs_attn_matmul=0, macs_ffn=0, macs_method=0)
        return dict(module=module, layer=pd.NA, tokens_in=pd.NA, **zeros, macs_other=other)

    rows = [outside("embeddings", 0)]
    for layer, n in enumerate(tokens):
        n_out = tokens[layer + 1] if layer + 1 < len(tokens) else n
        rows.append(
            dict(
                module=f"encoder.layer.{layer}",
                layer=layer,
                tokens_in=n,
                tokens_out=n_out,
                macs_attn_proj=4 * n * d * d,
                macs_attn_matmul=2 * n * n * d,
                macs_ffn=8 * n_out * d * d,
                macs_method=0,
                macs_other=0,
            )
        )
    rows.append(outside("pooler", d * d))
    frame = pd.DataFrame(rows)
    parts = ["macs_attn_proj", "macs_attn_matmul", "macs_ffn", "macs_method", "macs_other"]
    frame["macs"] = frame[parts].sum(axis=1)
    frame["flops"] = 2 * frame["macs"]
    frame["layer"] = frame["layer"].astype("Int64")
    frame.insert(0, "method", method)
    frame.insert(0, "model", "bert-base")
    frame["seq_len"] = tokens[0]
    return frame


def legend_labels(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


SPAM = [
    "win a free prize now",
    "cheap pills buy today",
    "claim your cash reward",
    "free money click here",
    "you won a lottery ticket",
    "limited offer act now",
]


HAM = [
    "meeting moved to noon",
    "see you at lunch",
    "the report is attached",
    "call me when you land",
    "dinner at mom's on sunday",
    "notes from today's class",
]


def write_csv(path, rows):
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    return path


def emails(repeat=5, labels=("spam", "ham")):
    return [(f"{t} {i}", labels[0]) for i in range(repeat) for t in SPAM] + [
        (f"{t} {i}", labels[1]) for i in range(repeat) for t in HAM
    ]


def stored(path):
    return [json.loads(line) for line in open(path)] if path.exists() else []
