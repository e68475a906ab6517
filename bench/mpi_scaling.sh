#!/usr/bin/env bash
# Data-parallel scaling on one machine (docs/distributed.md): ms per training
# step of `iclab train` for the small and the standard benchmark configs
# (the ones `iclab bench` and docs/performance.md use), as
#   1x1  one process, one thread
#   1x2  one process, two threads (the batch in two shards, ic_model_train_pass)
#   2x1  two MPI ranks of one thread (the batch in two slices, one MPI_Allreduce per step)
# Each layout runs REPS times; a step's time is measured between the metrics
# rows at STEPS/2 and STEPS (the first half warms up). Prints one markdown row
# per config and layout: median, min, max ms/step, and the load average.
#
# usage: bash bench/mpi_scaling.sh [REPS] [SMALL_STEPS] [STANDARD_STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
SMALL_STEPS=${2:-80}
STANDARD_STEPS=${3:-8}
make -s build/iclab
BIN=$PWD/build/iclab
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
SMALL=(--n_dims 5 --n_embd 64 --n_layer 6 --n_head 4 --n_points 11 --n_positions 11)
STANDARD=()
one() { # name steps layout -> ms per step of the second half
    local name=$1 steps=$2 layout=$3 dir=$TMP/run.$RANDOM
    shift 3
    local args=("$@" --train_steps "$steps" --log_every $((steps / 2)) --save_every 1000000000 --out "$dir")
    case $layout in
    1x1) "$BIN" train "${args[@]}" --threads 1 >/dev/null 2>&1 ;;
    1x2) "$BIN" train "${args[@]}" --threads 2 >/dev/null 2>&1 ;;
    2x1) mpirun --oversubscribe --allow-run-as-root -np 2 "$BIN" train "${args[@]}" --threads 1 >/dev/null 2>&1 ;;
    esac
    awk -F, -v h=$((steps / 2)) 'NR == 2 { a = $10 } NR == 3 { printf "%.1f\n", ($10 - a) * 1000 / h }' "$dir/metrics.csv"
    rm -rf "$dir"
}
echo "| config | layout | median ms/step | min | max | load average (1 min) before |"
echo "|---|---|---|---|---|---|"
for cfg in small standard; do
    if [ $cfg = small ]; then steps=$SMALL_STEPS; a=("${SMALL[@]}"); else steps=$STANDARD_STEPS; a=("${STANDARD[@]}"); fi
    for layout in 1x1 1x2 2x1; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        v=()
        for _ in $(seq "$REPS"); do v+=("$(one $cfg "$steps" $layout "${a[@]}")"); done
        printf '%s\n' "${v[@]}" | sort -g | awk -v c=$cfg -v l=$layout -v ld="$load" \
            '{ x[NR] = $1 } END { printf "| %s | %s | %.1f | %.1f | %.1f | %s |\n", c, l, x[int((NR + 1) / 2)], x[1], x[NR], ld }'
    done
done
