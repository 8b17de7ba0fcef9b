"""The measured BBC News study with MiniLM-L6: vanilla, PoWER-BERT, FCA (5 clusters) and LTP, each trained
through all of its stages, scored on the validation and test splits and stored under results/.

    python benchmarks/bbc_news_measured.py vanilla      # fine-tune on the full training split
    python benchmarks/bbc_news_measured.py power-bert   # search -> retrain from the vanilla checkpoint
    python benchmarks/bbc_news_measured.py fca          #   (the three methods may run at the same time)
    python benchmarks/bbc_news_measured.py ltp          # soft -> hard thresholds
    python benchmarks/bbc_news_measured.py evaluate     # test-split scores, MACs and latency of every final model
                                                        #   (evaluate-vanilla: the vanilla one alone)
    python benchmarks/bbc_news_measured.py vanilla-control  # vanilla trained 20 + 40 steps more (the methods' budget)
    python benchmarks/bbc_news_measured.py figure       # the final models beside the published rows
    python benchmarks/bbc_news_measured.py budget       # print the budget below

Budget (CPU only: a 2-core machine shared with other work, ~100-300 MiniLM-L6 training tokens per second):
length 128 tokens (the paper reads 512), batches of 16, AdamW with linear decay, seed 0.
- vanilla: 1 epoch over the full training split (1,781 articles, 112 steps), learning rate 5e-5;
- PoWER-BERT and FCA: from the vanilla checkpoint, soft-extract search 20 steps (backbone 5e-5; retention
  weights: learning rate 3e-2 and lambda 7e-3, a learning rate above the papers' 1e-4..3e-3 because 20
  steps must move the weights at all), the derived retention scaled to 0.5 x vanilla's encoder MACs at
  n = 128 (closed form, fcabench.train's macs_ratio), then retrain 40 steps;
- LTP: from the vanilla checkpoint, soft thresholds 20 steps, hard thresholds 40 steps, the method's
  defaults otherwise;
- vanilla-control: vanilla given the same extra steps (20, then 40, from the vanilla checkpoint);
- validation scores come from the training stages (the full validation split, 221 articles), test scores
  (223 articles) and latency from fcabench.evaluate.
Checkpoints go to out/bbc-news/ (not committed); runs to results/measured_bbc_news.jsonl.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = str(ROOT / "results" / "measured_bbc_news.jsonl")
OUT = ROOT / "out" / "bbc-news"
COMMON = dict(seq_len=128, batch_size=16, learning_rate=5e-5, seed=0, results=RESULTS, progress=False)
SEARCH = dict(soft_lambda=7e-3, soft_lr=3e-2)
FINAL = {
    "vanilla": "vanilla/fine-tune",
    "power-bert": "power-bert/retrain",
    "fca": "fca/retrain",
    "ltp": "ltp/hard",
    "vanilla-control": "vanilla-control/fine-tune",
}


def vanilla():
    import fcabench

    return fcabench.train("minilm-l6", "bbc-news", "vanilla", output_dir=str(OUT / "vanilla"), epochs=1.0, **COMMON)


def searched(method: str, options: dict):
    import fcabench

    start = str(OUT / "vanilla" / "fine-tune")
    first = fcabench.train(
        "minilm-l6",
        "bbc-news",
        method,
        method_options=options,
        stages=["search"],
        from_checkpoint=start,
        output_dir=str(OUT / method),
        max_steps=20,
        **COMMON,
    )
    second = fcabench.train(
        "minilm-l6",
        "bbc-news",
        method,
        method_options=options,
        stages=["retrain"],
        from_checkpoint=str(OUT / method / "search"),
        output_dir=str(OUT / method),
        max_steps=40,
        macs_ratio=0.5,
        **COMMON,
    )
    return first + second


def ltp():
    import fcabench

    start = str(OUT / "vanilla" / "fine-tune")
    first = fcabench.train(
        "minilm-l6",
        "bbc-news",
        "ltp",
        stages=["soft"],
        from_checkpoint=start,
        output_dir=str(OUT / "ltp"),
        max_steps=20,
        **COMMON,
    )
    second = fcabench.train(
        "minilm-l6",
        "bbc-news",
        "ltp",
        stages=["hard"],
        from_checkpoint=str(OUT / "ltp" / "soft"),
        output_dir=str(OUT / "ltp"),
        max_steps=40,
        **COMMON,
    )
    return first + second


def vanilla_control():
    """Vanilla given the methods' extra budget (20 then 40 more steps from the vanilla checkpoint): without
    it the methods' scores would mix the effect of reducing with that of training longer."""
    import fcabench

    first = fcabench.train(
        "minilm-l6",
        "bbc-news",
        "vanilla",
        from_checkpoint=str(OUT / "vanilla" / "fine-tune"),
        output_dir=str(OUT / "vanilla-control-20"),
        max_steps=20,
        **COMMON,
    )
    second = fcabench.train(
        "minilm-l6",
        "bbc-news",
        "vanilla",
        from_checkpoint=str(OUT / "vanilla-control-20" / "fine-tune"),
        output_dir=str(OUT / "vanilla-control"),
        max_steps=40,
        **COMMON,
    )
    return first + second + evaluate(["vanilla-control"])


def evaluate(names=tuple(FINAL)):
    import json

    import fcabench
    from fcabench.training.checkpoint import weights_sha256

    done = set()
    if Path(RESULTS).exists():  # a checkpoint already scored on the test split is not scored twice
        done = {
            (r["checkpoint_sha256"], r["split"]) for r in map(json.loads, open(RESULTS)) if r.get("checkpoint_sha256")
        }
    runs = []
    for name in names:
        folder = OUT / FINAL[name]
        if not folder.is_dir():
            print(f"{name}: no checkpoint at {folder} yet")
        elif (weights_sha256(folder), "test") in done:
            print(f"{name}: {folder} already scored on the test split")
        else:
            runs += fcabench.evaluate(str(folder), "bbc-news", "test", batch_size=32, results=RESULTS)
    return runs


def figure():
    """The Pareto figure of the final models (their validation and test runs) beside the published BBC News rows."""
    import json
    import subprocess

    from fcabench.training.checkpoint import weights_sha256

    final = OUT / "final_runs.jsonl"
    models = {weights_sha256(OUT / folder) for folder in FINAL.values() if (OUT / folder).is_dir()}
    rows = [line for line in open(RESULTS) if json.loads(line)["checkpoint_sha256"] in models]
    final.write_text("".join(rows))
    published = ROOT / "fcabench" / "data" / "published"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fcabench",
            "plot",
            "pareto",
            str(final),
            str(published),
            "--task",
            "bbc-news",
            "--x",
            "flops-rel",
            "--width",
            "6.9",
            "-o",
            str(OUT / "pareto_bbc_news.png"),
        ],
        check=True,
    )
    return []


STEPS = {
    "vanilla": vanilla,
    "power-bert": lambda: searched("power-bert", SEARCH),
    "fca": lambda: searched("fca", dict(SEARCH, clusters=5)),
    "ltp": ltp,
    "evaluate": evaluate,
    "evaluate-vanilla": lambda: evaluate(["vanilla"]),
    "vanilla-control": vanilla_control,
    "figure": figure,
}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in [*STEPS, "budget"]:
        sys.exit(f"usage: {Path(__file__).name} {{{'|'.join([*STEPS, 'budget'])}}}")
    print(__doc__.split("Budget", 1)[1].split("Checkpoints")[0].join(("Budget", "")))
    if argv[0] == "budget":
        return
    from transformers.utils import logging

    logging.set_verbosity_error()
    for run in STEPS[argv[0]]():
        print(
            f"{run.stage:>13} {run.method:>10} {run.split:>10} {run.metric:>9} {run.score:7.2f}  "
            f"MACs/seq {run.macs / 1e9:.3f} G  config {run.config_label}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
