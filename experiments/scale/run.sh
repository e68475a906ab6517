#!/usr/bin/env bash
# Experiment 3 of issue 19 (docs/experiments/scale): plain6 against looped3x2 at
# d = 10 (21 points) and d = 20 (41 points) with Garg et al.'s curriculum
# (dimensions from 5, +1 per interval; points from 11, +2 per interval), compressed
# into 5,000 steps: the interval is 500 steps at d = 10 (full size at step 2,500)
# and 250 at d = 20 (full size at step 3,750). e = 64, 4 heads, batch 64, Adam 1e-3,
# cosine; 2 seeds; then eval (least squares) and loops 1..12. A thin wrapper of
# `iclab sweep`. Budget: experiments/scale/README.md.
#
# usage: bash experiments/scale/run.sh [OUT] [SEEDS] [STEPS] [JOBS]
#   OUT   run root (default runs/scale); rerun to resume
#   SEEDS training seeds (default "1 2")
#   STEPS training steps per run (default 5000)
#   JOBS  runs in parallel, one thread each (default 2)
# environment: ONLY (a comma list of config names, default all)
set -euo pipefail
cd "$(dirname "$0")/../.."
. experiments/sweep.sh
OUT=${1:-runs/scale}
SEEDS=${2:-"1 2"}
STEPS=${3:-5000}
JOBS=${4:-2}
make -s build/iclab
sweep_plan experiments/scale/plan.json "$OUT" "$SEEDS" "$STEPS" "$JOBS"
# the report of a full run (not of an ONLY subset) into OUT/report: tables.md, results.json, figures/
sweep_report experiments/scale/report.py "$OUT/report" "$OUT" "$OUT/report"
