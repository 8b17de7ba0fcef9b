"""How often LTP's soft mask predicts what its hard pruning predicts, by where the soft mask is applied.

At a low temperature the soft mask sigmoid((score - theta) / T) is nearly 0 or 1, so a soft forward pass
should predict what the hard one (units below theta removed) predicts. The official code multiplies the
layer's output by the mask, after the FFN; an earlier fcabench multiplied the attention output, before it.
This script fine-tunes MiniLM-L6 on BBC News (or starts from a checkpoint), then scores validation texts
with LTP at its default thresholds in hard mode and in soft mode with both placements, and prints the
fraction of texts on which soft and hard agree.

    python benchmarks/ltp_soft_hard_agreement.py                 # fine-tunes first (about a minute on 2 cores)
    python benchmarks/ltp_soft_hard_agreement.py --from out/vanilla/fine-tune --examples 64 -n 64
"""

from __future__ import annotations

import argparse
import copy
import tempfile

import torch

import fcabench
from fcabench import methods
from fcabench.methods.ltp import LTPLayer
from fcabench.training import data, load_checkpoint


class BeforeFFN(LTPLayer):
    """The soft mask on the attention output, before the FFN (the placement fcabench used before)."""

    def reduce(self, hidden, keep, stats, state):
        out, keep = super().reduce(hidden, keep, stats, state)
        mask = state.soft_masks.get(self.index)
        return (out, keep) if mask is None else (out * mask[..., None].to(out.dtype), keep)

    def after_ffn(self, output, keep, state):
        return output


def predictions(model, encoded, seq_len: int, mode: str, layer_class=None) -> torch.Tensor:
    patched = methods.apply(copy.deepcopy(model), "ltp", mode=mode, temperature=TEMPERATURE)
    if layer_class is not None:
        for layer in patched.bert.encoder.layer:
            layer.__class__ = layer_class
    patched.eval()
    ids = torch.zeros(len(encoded), seq_len, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, tokens in enumerate(data.input_ids(encoded)):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
    with torch.no_grad():
        return torch.cat(
            [
                patched(input_ids=ids[i : i + 16], attention_mask=mask[i : i + 16]).logits.argmax(-1)
                for i in range(0, len(ids), 16)
            ]
        )


TEMPERATURE = 0.001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", help="a fine-tuned checkpoint (default: fine-tune one first)")
    parser.add_argument("--examples", type=int, default=64, help="validation texts scored")
    parser.add_argument("-n", "--seq-len", type=int, default=64)
    parser.add_argument("--steps", type=int, default=112, help="fine-tuning steps when no --from is given")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        start = args.start
        if start is None:
            fcabench.train(
                "minilm-l6",
                "bbc-news",
                output_dir=f"{scratch}/vanilla",
                seq_len=args.seq_len,
                max_steps=args.steps,
                results=f"{scratch}/runs.jsonl",
                progress=False,
            )
            start = f"{scratch}/vanilla/fine-tune"
        model, tokenizer, manifest = load_checkpoint(start, patched=False)
        split = fcabench.tasks.get(manifest["task"]).load("validation", max_examples=args.examples)
        encoded = data.tokenize(split, tokenizer, args.seq_len)
        hard = predictions(model, encoded, args.seq_len, "hard")
        print(
            f"LTP, default thresholds, T = {TEMPERATURE}, {len(hard)} {manifest['task']} validation texts, "
            f"n = {args.seq_len}, from {start}"
        )
        for name, layer_class in (("after the FFN (official)", None), ("before the FFN", BeforeFFN)):
            soft = predictions(model, encoded, args.seq_len, "soft", layer_class)
            print(f"  soft mask {name:<26} agrees with hard pruning on {float((soft == hard).float().mean()):.3f}")


if __name__ == "__main__":
    main()
