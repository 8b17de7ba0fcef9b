"""Training steps per second: ``fcabench train`` beside a plain Hugging Face ``Trainer`` loop, fp32 and bf16.

Both train MiniLM-L6 (a fresh classification head) on the same BBC News training examples, padded to the same
length, with the same batch, AdamW and the same number of steps; evaluation is not timed (fcabench's stage
time ``train_wall_time_s`` excludes it, the plain loop evaluates nothing). The two alternate, A B A B, and
each figure is the median over the rounds. Run it with nothing else on the machine.

    python benchmarks/train_throughput.py                        # n = 128, batch 16, 30 steps, 2 rounds, fp32 and bf16
    python benchmarks/train_throughput.py --device cuda --steps 100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import fcabench
from fcabench import tasks
from fcabench.training import data
from fcabench.training.backbones import load_for_task


def plain_loop(task, split, steps: int, seq_len: int, batch: int, precision: str, device: str) -> float:
    """Steps per second of transformers' Trainer on the unpatched model, nothing of fcabench in the loop."""
    from transformers import PrinterCallback, Trainer, TrainingArguments

    model, tokenizer = load_for_task("minilm-l6", task, seed=0)
    encoded = data.tokenize(split, tokenizer, seq_len)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            max_steps=steps,
            per_device_train_batch_size=batch,
            learning_rate=5e-5,
            warmup_steps=0.1,
            weight_decay=0.01,
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=0,
            data_seed=0,
            use_cpu=device == "cpu",
            bf16=precision == "bf16",
            dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model, args=args, train_dataset=encoded, data_collator=data.collator(tokenizer, seq_len)
        )
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        trainer.train()
        return trainer.state.global_step / (time.perf_counter() - start)


def fcabench_train(task, steps: int, seq_len: int, batch: int, precision: str, device: str) -> float:
    """Steps per second of ``fcabench.train`` (vanilla), from the stage's own training time."""
    with tempfile.TemporaryDirectory() as scratch:
        runs = fcabench.train(
            "minilm-l6",
            task,
            output_dir=f"{scratch}/out",
            seq_len=seq_len,
            max_steps=steps,
            batch_size=batch,
            max_train_examples=steps * batch,
            max_eval_examples=batch,
            precision=precision,
            device=device,
            results=f"{scratch}/runs.jsonl",
            progress=False,
        )
    return runs[0].train_steps / runs[0].train_wall_time_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--seq-len", type=int, default=128)
    parser.add_argument("-b", "--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision", default="fp32,bf16")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    task = tasks.get("bbc-news")
    split = task.load("train", max_examples=args.steps * args.batch_size, seed=0)  # what fcabench.train draws
    print(
        f"MiniLM-L6, bbc-news, n = {args.seq_len}, batch {args.batch_size}, {args.steps} steps, {args.rounds} "
        f"rounds (median), device {args.device}, {torch.get_num_threads()} threads"
    )
    print(
        f"{'precision':>9} | {'plain Trainer steps/s':>21} | {'fcabench train steps/s':>22} | ratio"
        " | tokens/s (fcabench)"
    )
    for precision in args.precision.split(","):
        plain, ours = [], []
        for _ in range(args.rounds):
            plain.append(plain_loop(task, split, args.steps, args.seq_len, args.batch_size, precision, args.device))
            ours.append(fcabench_train(task, args.steps, args.seq_len, args.batch_size, precision, args.device))
        a, b = statistics.median(plain), statistics.median(ours)
        print(f"{precision:>9} | {a:21.3f} | {b:22.3f} | {b / a:5.2f} | {b * args.batch_size * args.seq_len:,.0f}")


if __name__ == "__main__":
    main()
