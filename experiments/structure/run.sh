#!/usr/bin/env bash
# The looped-structure search at equal compute (experiments/structure/plan.json),
# a thin wrapper of `iclab sweep`. Every config runs 6 block applications per
# training forward (prelude + L x core + the coda once), with equal steps, data
# and seeds (3):
#   plain6                       6 independent blocks
#   k{1,2,3}L{6,3,2}             a core of k blocks looped L = 6/k times, injection,
#                                full backpropagation, loss on the last loop; and each with
#     _noinject                  no input injection
#     _trunc                     gradient through the last L/2 loops only (grad_loops)
#     _lossall                   loss averaged over every loop (loss_loops = L)
#     _rand                      random depth: L ~ min(2L, 1 + Poisson(L - 1)) per step
#     _rand_signal               the same with the sinusoidal loop signal
#   p1k2L2c1, p1k1L4c1           prelude / looped core / coda: 0,{1,2},3 x2 and 0,{1},2 x4
#   p1k2L2c1_rand_signal         the first with random depth (mean 2, at most 4) and the signal
# then evaluates each (eval with least squares, loops 1..40, loops with halting
# at 1e-3) on the same prompts. Budget: experiments/structure/README.md.
#
# usage: bash experiments/structure/run.sh [OUT] [SEEDS] [STEPS] [JOBS]
#   OUT   run root (default runs/structure); rerun to resume
#   SEEDS training seeds (default "1 2 3")
#   STEPS training steps per run (default 5000)
#   JOBS  runs in parallel, one thread each (default 2)
# environment: ONLY (a comma list of config names, default all)
set -euo pipefail
cd "$(dirname "$0")/../.."
. experiments/sweep.sh
OUT=${1:-runs/structure}
SEEDS=${2:-"1 2 3"}
STEPS=${3:-5000}
JOBS=${4:-2}
make -s build/iclab
sweep_plan experiments/structure/plan.json "$OUT" "$SEEDS" "$STEPS" "$JOBS"
# the report of a full run (not of an ONLY subset) into OUT/report: tables.md, results.json, figures/
sweep_report experiments/structure/report.py "$OUT/report" "$OUT" "$OUT/report"
