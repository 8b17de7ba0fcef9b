"""Speed as a deployment sees it, for the study's 2x configurations: does a method's cut survive the best vanilla?

For each setting (MiniLM-L6 on BBC News at n = 128 and 512, on the tweets at n = 64) every method runs at the
configuration of its best retrained point at about 2x fewer MACs in the study's store (``fcabench sweep table``'s
row; seed 0's configuration where seeds derive their own), beside vanilla, on the test split's real examples:
single-stream, fixed batch 8 and offline; max, dynamic and sorted padding; eager, compiled and ONNX Runtime (a
method that cannot be exported has no ONNX rows). The weights are MiniLM-L6's pretrained encoder with a fresh
head: a fixed schedule's time does not depend on them; methods whose kept counts follow the scores (LTP, Focus on
the Core's fuzzy cap) keep what these weights make them keep, which the table's MAC cut shows.

Run it with nothing else on the machine:

    python benchmarks/deployment_speed.py --out docs/figures/deployment            # every setting, 3 passes
    python benchmarks/deployment_speed.py --settings tweets-64 --max-examples 64 --passes 1 --runtimes eager

It writes ``<out>/<setting>.csv`` (every unit) and ``<out>/<setting>-verdict.md``, and prints both. Synthetic
inputs on BERT-base (random weights), for continuity with the earlier figures:
``python benchmarks/efficiency_vs_mac_cut.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from fcabench import methods, sweep
from fcabench.runs import load, study
from fcabench.speed import scenarios
from fcabench.speed.bench import Setup
from fcabench.training import workloads
from fcabench.training.train import resolve_task

SETTINGS = {
    "bbc-128": ("sweeps/bbc-news-minilm.toml", "bbc-news", 128),
    "bbc-512": ("sweeps/bbc-news-minilm-512.toml", "bbc-news", 512),
    "tweets-64": ("sweeps/tweet-sentiment-minilm.toml", "tweet-sentiment", 64),
}


def study_setups(spec_path: str, task: str) -> list[Setup]:
    """Each method's best retrained 2x point in the study's store, as a bench setup named after its variant."""
    spec = sweep.load_spec(spec_path)
    points = sweep.study_points(spec, load(spec.results))[task]
    best = study.best_at(points)
    setups = []
    for row in best[(best["regime"] == "retrained") & best["score"].notna()].itertuples():
        point = points[(points["group"] == row.group)].iloc[0]
        config = (
            json.loads(point["method_config"]) if isinstance(point["method_config"], str) else point["method_config"]
        )
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        methods.make_config(point["method"], **options)  # a stored configuration that no longer builds fails here
        setups.append(Setup.of(row.variant, point["method"], **options))
    return setups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated of {', '.join(SETTINGS)}")
    parser.add_argument("--max-examples", type=int, default=None, help="a fixed draw of the test split")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="the fixed-batch scenario's")
    parser.add_argument("--scenarios", default=",".join(scenarios.SCENARIOS))
    parser.add_argument("--paddings", default="max,dynamic,sorted")
    parser.add_argument("--runtimes", default=",".join(scenarios.RUNTIMES))
    parser.add_argument("--out", type=Path, default=Path("out/deployment"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.settings.split(","):
        spec, task, n = SETTINGS[name]
        started = time.perf_counter()
        setups = study_setups(spec, task)
        models, tokenizer, _ = workloads.models_for("minilm-l6", setups)
        work = workloads.from_task(resolve_task(task), "test", tokenizer, n, args.max_examples)
        frames = [
            scenarios.run(
                models,
                work,
                scenario,
                args.paddings.split(","),
                args.batch_size,
                args.passes,
                runtimes=args.runtimes.split(","),
                skip_unexportable=True,
            )
            for scenario in args.scenarios.split(",")
        ]
        table = pd.concat(frames, ignore_index=True)
        table["threads"], table["seq_len"] = torch.get_num_threads(), n
        table.to_csv(args.out / f"{name}.csv", index=False)
        verdict = scenarios.verdict(table)
        (args.out / f"{name}-verdict.md").write_text(verdict.to_markdown(index=False, floatfmt=".2f") + "\n")
        print(f"== {name}: {work.source}, n = {n}, {torch.get_num_threads()} threads, {args.passes} passes, "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        print(verdict.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
