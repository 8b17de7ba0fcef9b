#!/usr/bin/env bash
# The efficiency table on a GPU (issue: per-layer time and memory), one prepared run that fits in a quarter of an
# hour on one H100: every method at 2x fewer encoder MACs beside vanilla (BERT-base, random weights), batch 1, 32
# and 128 at n = 128 and 512, in fp32 and bf16, each point also against the linear-layer bound; memory at
# 512 x 32; the PFC@7 training step at 512 x 8 beside the paper's 1.64x and 0.61x.
# Usage (from the repository root, on the GPU machine): benchmarks/gpu_efficiency.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-out/gpu}}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt"
for dtype in fp32 bf16; do
    python benchmarks/efficiency_vs_mac_cut.py --device cuda --dtype "$dtype" \
        --points 128x1,128x32,128x128,512x1,512x32,512x128 --warmup 3 --repeats 20 --linear-bound \
        --memory-first --memory-point 512x32 --train-point 512x8 --train-repeats 5 \
        --output "$out/efficiency-$dtype.csv" 2>&1 | tee "$out/efficiency-$dtype.txt"
done
