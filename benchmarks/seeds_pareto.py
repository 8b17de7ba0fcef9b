"""Three seeds, one point each with its interval: vanilla, PoWER-BERT retrained and FCA training-free on BBC News.

A small budget, to show the seeds-and-intervals protocol end to end (it is not the measured study): MiniLM-L6 at
n = 64, for each seed a fine-tuning of ``--steps`` steps on ``--train-examples`` training articles; from it
PoWER-BERT retrained for the same steps and FCA (5 clusters) applied without training, both at half of vanilla's
encoder MACs (``--macs-ratio 0.5``); every final checkpoint scored on the full test split. Then the aggregate
table, the paired comparisons against vanilla, and the Pareto figure with 95 % intervals over seeds.

    python benchmarks/seeds_pareto.py --out out/seeds -o docs/figures/pareto-seeds.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import fcabench
from fcabench import runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/seeds"))
    parser.add_argument("-o", "--figure", type=Path, default=Path("docs/figures/pareto-seeds.png"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--train-examples", type=int, default=640)
    parser.add_argument("-n", "--seq-len", type=int, default=64)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = str(args.out / "runs.jsonl")
    common = dict(
        seq_len=args.seq_len,
        max_steps=args.steps,
        max_train_examples=args.train_examples,
        results=store,
        progress=False,
    )
    start = time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        folder = args.out / f"seed{seed}"
        vanilla = folder / "vanilla" / "fine-tune"
        fcabench.train("minilm-l6", "bbc-news", output_dir=str(folder / "vanilla"), seed=seed, **common)
        fcabench.train(
            method="power-bert",
            from_checkpoint=str(vanilla),
            method_options={"ratios": (1.0,) * 6},
            macs_ratio=0.5,
            output_dir=str(folder / "power-bert"),
            seed=seed,
            **common,
        )
        fcabench.train(
            method="fca",
            from_checkpoint=str(vanilla),
            training_free=True,
            macs_ratio=0.5,
            output_dir=str(folder / "fca"),
            seed=seed,
            **{k: v for k, v in common.items() if k != "max_steps"},
        )
        for final in (vanilla, folder / "power-bert" / "retrain", folder / "fca" / "training-free"):
            fcabench.evaluate(str(final), split="test", results=store, measure_latency=False)
    print(f"trained and scored in {time.perf_counter() - start:.0f} s (CPU)")
    stored = runs.load(store)
    table = runs.aggregate(stored[stored["split"] == "test"])
    print(
        table[
            ["group_id", "method", "stage", "metric", "n", "mean", "std", "ci_low", "ci_high", "macs_mean"]
        ].to_string(index=False, float_format=lambda v: f"{v:.4g}")
    )
    accuracy = table[table["metric"] == "accuracy"]
    base = accuracy[accuracy["method"] == "vanilla"]["group_id"].iloc[0]
    for _, row in accuracy[accuracy["method"] != "vanilla"].iterrows():
        print(f"{row['method']} ({row['stage']}) vs vanilla, test: {runs.compare_runs(stored, row['group_id'], base)}")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fcabench",
            "plot",
            "pareto",
            store,
            "--x",
            "macs-rel",
            "--width",
            "6.9",
            "-o",
            str(args.figure),
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
