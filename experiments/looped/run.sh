#!/usr/bin/env bash
# The looped-transformer recipe (issue 6): trains, with equal steps, data and seeds,
#   plain6              6 independent blocks
#   looped3x2           3 blocks looped twice (equal compute, half the parameters), injection
#   looped3x2_noinject  the same without input injection
#   looped6x2           6 blocks looped twice (equal parameters, double compute)
#   yang1xb             1 block looped 8..12 times (Yang et al.)
# then evaluates each on the same prompts and sweeps its loop count, and writes
# a summary table. Configs: configs/looped/*.json.
#
# usage: bash experiments/looped/run.sh [OUT] [SEEDS] [STEPS] [JOBS]
#   OUT   run root (default runs/looped); runs are resumed if present
#   SEEDS training seeds (default "1 2 3")
#   STEPS training steps per run (default 5000, as in docs/experiments/looped;
#         about 2 hours for 3 seeds x 5 architectures on 2 cores; the configs
#         say 20000)
#   JOBS  runs in parallel, one thread each (default 2)
# environment: ARCHS (default all five) and CONFIG_DIR (default configs/looped;
# configs/looped/d10 holds plain6 and looped3x2 at d = 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/looped}
SEEDS=${2:-"1 2 3"}
STEPS=${3:-5000}
JOBS=${4:-2}
ARCHS=${ARCHS:-"plain6 looped3x2 looped3x2_noinject looped6x2 yang1xb"}
CONFIG_DIR=${CONFIG_DIR:-configs/looped}
make -s build/iclab
mkdir -p "$OUT"
# the runs use a private copy of the binary, so rebuilding the tree while
# they run cannot change them half-way
cp build/iclab "$OUT/iclab.tmp" && mv -f "$OUT/iclab.tmp" "$OUT/iclab"
ICLAB=$OUT/iclab
jobs_file=$OUT/jobs.txt
: >"$jobs_file"
for seed in $SEEDS; do
    for arch in $ARCHS; do echo "$arch $seed" >>"$jobs_file"; done
done
one() {
    local arch=$1 seed=$2 dir=$OUT/$1/seed$2
    local steps=()
    [ -n "$STEPS" ] && steps=(--train_steps "$STEPS")
    if [ -e "$dir/state.safetensors" ]; then
        "$ICLAB" train --resume "$dir" "${steps[@]}" --threads 1 >"$dir.train.log" 2>&1 || return 1
    else
        mkdir -p "$OUT/$arch"
        "$ICLAB" train --config "$CONFIG_DIR/$arch.json" --seed "$seed" --data_seed "$((1000 + seed))" \
            "${steps[@]}" --threads 1 --out "$dir" >"$dir.train.log" 2>&1 || return 1
    fi
    "$ICLAB" eval --model "$dir/model.safetensors" --out "$dir/eval" --threads 1 --seed 4242 \
        --baselines least_squares >"$dir.eval.log" 2>&1
    "$ICLAB" loops --model "$dir/model.safetensors" --out "$dir/loops" --threads 1 --max_loops 40 \
        --prompts 256 >"$dir.loops.log" 2>&1
    echo "done $arch seed $seed"
}
export -f one
export OUT STEPS ICLAB CONFIG_DIR
xargs -P "$JOBS" -L 1 bash -c 'one $0 $1' <"$jobs_file"
python3 experiments/looped/report.py "$OUT"
