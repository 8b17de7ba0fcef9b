"""Exactness over encoder families: for every family x method x length, the traced count (fvcore + fcabench's
handles), the closed form from the recorded units, and torch's FlopCounterMode (plus the SDPA op it counts
as 0 on CPU, see fcabench/counting/check.py) on one random sequence.

    python benchmarks/families_exactness.py                 # n = 64 and 256, every method at its defaults
    python benchmarks/families_exactness.py -n 128 --markdown

Families: the presets bert-base, roberta-base, electra-base and distilbert-base (random weights), XLM-R and
CamemBERT at roberta-base's shape under their own model types, and ELECTRA-small's shape (embeddings 128
wide, layers 256: the projection outside the encoder is counted too). Exit code 1 if any count differs.
"""

from __future__ import annotations

import argparse
import copy
import sys

import pandas as pd
from transformers import AutoConfig, AutoModel

from fcabench import methods
from fcabench.counting.check import cross_check
from fcabench.models import PRESETS, load_model, randomly_initialised

ROBERTA_SHAPE = PRESETS["roberta-base"][1]
EXTRA = {
    "xlm-roberta (roberta-base shape)": ("xlm-roberta", {**ROBERTA_SHAPE, "vocab_size": 50265}),
    "camembert (roberta-base shape)": ("camembert", {**ROBERTA_SHAPE, "bos_token_id": 0, "eos_token_id": 2}),
    "electra-small shape": (
        "electra",
        dict(embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024),
    ),
}


def models():
    for preset in ("bert-base", "roberta-base", "electra-base", "distilbert-base"):
        yield preset, load_model(preset)
    for label, (model_type, values) in EXTRA.items():
        import torch

        with torch.device("meta"):
            model = AutoModel.from_config(AutoConfig.for_model(model_type, **values))
        yield label, randomly_initialised(model).eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--seq-len", type=int, action="append", help="lengths (default 64 and 256)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows = []
    for label, base in models():
        for n in args.seq_len or [64, 256]:
            for name in methods.names():
                model = copy.deepcopy(base)
                if name != "vanilla":
                    methods.apply(model, name)
                table = cross_check(model, n).set_index("counter")["macs"]
                plain = table["torch FlopCounterMode (FLOPs / 2)"]
                independent = table.get("FlopCounterMode + fcabench's SDPA count", plain)  # CPU SDPA counted as 0
                traced = int(table["fvcore + fcabench handles (traced)"])
                closed = int(table["closed form from recorded units"])
                rows.append(
                    dict(
                        family=label,
                        method=name,
                        n=n,
                        traced=traced,
                        closed_form=closed,
                        independent=int(independent),
                        equal=traced == closed == int(independent),
                    )
                )
                print(
                    f"{label:34s} {name:11s} n={n:4d} traced {traced:>15,} closed {closed:>15,} "
                    f"independent {int(independent):>15,} {'equal' if rows[-1]['equal'] else 'DIFFER'}",
                    flush=True,
                )
    frame = pd.DataFrame(rows)
    if args.markdown:
        print(frame.to_markdown(index=False, intfmt=","))
    print(f"{int(frame['equal'].sum())} of {len(frame)} equal (whole-model MACs per sequence)")
    return 0 if frame["equal"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
