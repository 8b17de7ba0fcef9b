#!/usr/bin/env bash
# Runs the measured study (both tasks, one after the other) in the background, at low priority; each
# `fcabench sweep run` resumes where an interrupted one stopped and merges its runs into its specification's store (results/<name>.jsonl).
# Usage (from the repository root): nohup sweeps/run_study.sh [SPEC ...] > out/study.log 2>&1 &
# (no SPEC: BBC News at n = 128, the tweets at n = 64, then Focus on the Core's n = 512 claims).
# SWEEP_OPTIONS goes to each `fcabench sweep run`, e.g. SWEEP_OPTIONS="--only *@2x" for the 2x points first.
# It runs a snapshot of the package (out/study-code/, copied at start), so that editing or merging the
# checkout while the study runs cannot mix two versions of the code inside one job.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
if [ -z "${STUDY_CODE:-}" ]; then
    rm -rf out/study-code && mkdir -p out/study-code && cp -r fcabench out/study-code/
    # the commit the runs record (fcabench/runs/provenance.py), "+dirty" when the copied tree had changes
    { git rev-parse HEAD && git status --porcelain --untracked-files=no | grep -q . && echo +dirty; } 2>/dev/null \
        | tr -d '\n' > out/study-code/COMMIT
    STUDY_CODE=out/study-code
fi
case $STUDY_CODE in /*) ;; *) STUDY_CODE="$PWD/$STUDY_CODE" ;; esac
export PYTHONPATH="$STUDY_CODE"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
RUN_SNAPSHOT='import sys; del sys.path[0]; from fcabench.cli import main; sys.argv[0] = "fcabench"; main()'
SPECS=("$@")
[ ${#SPECS[@]} -gt 0 ] || SPECS=(sweeps/bbc-news-minilm.toml sweeps/tweet-sentiment-minilm.toml sweeps/bbc-news-minilm-512.toml)
for spec in "${SPECS[@]}"; do
    echo "== $(date -u +%FT%TZ) $spec"
    # shellcheck disable=SC2086  # SWEEP_OPTIONS is word-split on purpose; set -f keeps its globs for fcabench
    set -f
    # not `python -m fcabench`: -m puts the working directory, the checkout, ahead of the snapshot on sys.path
    nice -n 10 "$PYTHON" -c "$RUN_SNAPSHOT" sweep run "$spec" ${SWEEP_OPTIONS:-}
    set +f
done
echo "== $(date -u +%FT%TZ) done"
