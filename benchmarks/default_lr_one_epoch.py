"""Does one epoch at the default learning rate train? A user's small CSV and the shipped tasks, at 2e-5 and 5e-5.

The CSV is made here: 800 tweets of the shipped tweet-sentiment set, negative against positive at 2:1 (so a
model that predicts the majority class scores 66.7 %), written as text,label. Each run trains MiniLM-L6 for
one epoch with fcabench's defaults otherwise (batch 16, 10 % warm-up, weight decay 0.01) and prints the
validation accuracy and whether the model predicts more than one class.

    python benchmarks/default_lr_one_epoch.py                         # the CSV at 2e-5 and 5e-5 (n = 128)
    python benchmarks/default_lr_one_epoch.py --shipped               # + bbc-news (n = 128), 1,600 tweets (n = 64)
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import fcabench
from fcabench import tasks


def user_csv(path: Path, rows: int = 800) -> Path:
    train = tasks.get("tweet-sentiment").load("train").dataset
    negative = [r["text"] for r in train if r["label"] == 0][: rows * 2 // 3]
    positive = [r["text"] for r in train if r["label"] == 2][: rows - len(negative)]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([(t, "negative") for t in negative] + [(t, "positive") for t in positive])
    return path


def one_epoch(task: str, lr: float, seq_len: int, folder: str, **options) -> str:
    start = time.perf_counter()
    runs = fcabench.train(
        "minilm-l6",
        task,
        output_dir=folder,
        seq_len=seq_len,
        epochs=1.0,
        learning_rate=lr,
        results=f"{folder}.jsonl",
        progress=False,
        **options,
    )
    run = next(r for r in runs if r.metric == "accuracy")
    classes = f"warning: {run.warning}" if run.warning else "more than one class predicted"
    return (
        f"{Path(task).stem:>16} n = {seq_len:<3} lr {lr:g}: {run.train_steps} steps, validation accuracy "
        f"{run.score:.1f} % of {run.data_examples}; {classes}; {time.perf_counter() - start:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipped", action="store_true", help="also one epoch of bbc-news and of 1,600 tweets at 5e-5")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = str(user_csv(Path(scratch) / "tweets800.csv"))
        for lr in (2e-5, 5e-5):
            print(one_epoch(path, lr, 128, f"{scratch}/csv-{lr:g}"), flush=True)
        if args.shipped:
            print(one_epoch("bbc-news", 5e-5, 128, f"{scratch}/bbc"), flush=True)
            print(
                one_epoch(
                    "tweet-sentiment", 5e-5, 64, f"{scratch}/tweets", max_train_examples=1600, max_eval_examples=1000
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
