"""Time the profiler over a sweep: bert-base and bert-large, n = 64/128/256/512, batch 1 and 8.

    python benchmarks/profile_sweep.py

Prints seconds per profile and for the whole sweep (target: under 20 s on a 2-core CPU). A script,
not a test: timings depend on the machine.
"""

import time

import fcabench
from fcabench.flops.closed_form import Shape, vanilla_encoder_macs
from fcabench.models import preset_config


def main() -> None:
    start = time.perf_counter()
    for model in ("bert-base", "bert-large"):
        shape = Shape.of(preset_config(model))
        for batch in (1, 8):
            for n in (64, 128, 256, 512):
                t0 = time.perf_counter()
                table = fcabench.profile(model, seq_len=n, batch_size=batch)
                seconds = time.perf_counter() - t0
                exact = fcabench.encoder_macs(table) == vanilla_encoder_macs(shape, n)
                print(f"{model:10s} batch {batch}  n = {n:3d}  {seconds:5.2f} s  encoder MACs exact: {exact}")
    print(f"whole sweep (16 profiles): {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
