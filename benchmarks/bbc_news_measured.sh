#!/usr/bin/env bash
# The whole measured BBC News study (budget: python benchmarks/bbc_news_measured.py budget), in the background
# on a shared CPU: vanilla first, then PoWER-BERT, FCA and LTP at the same time (one thread each), then vanilla
# given the methods' extra steps, the test-split evaluations and the Pareto figure. Logs under out/bbc-news/logs/. Skips steps already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
LOGS=out/bbc-news/logs
mkdir -p "$LOGS"
export PYTHONPATH=$PWD
step() { OMP_NUM_THREADS=$2 nice "$PY" benchmarks/bbc_news_measured.py "$1" > "$LOGS/$1.log" 2>&1; }
[ -f out/bbc-news/vanilla/fine-tune/fcabench.json ] || step vanilla 2
pids=()
for method in power-bert fca ltp; do
  final=$([ "$method" = ltp ] && echo hard || echo retrain)
  if [ ! -f "out/bbc-news/$method/$final/fcabench.json" ]; then step "$method" 1 & pids+=($!); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
[ -f out/bbc-news/vanilla-control/fine-tune/fcabench.json ] || step vanilla-control 2
step evaluate 2
step figure 1
echo "done: results/measured_bbc_news.jsonl, out/bbc-news/pareto_bbc_news.png"
