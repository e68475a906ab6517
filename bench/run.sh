#!/usr/bin/env bash
# bench/run.sh: one command: iclab's training step next to PyTorch's (Debian
# python3-torch, bench/torch_bench.py: same config, threads and OpenBLAS
# kernels) for the small and standard configs, the fraction of this machine's
# measured FMA ceiling, and inference throughput (forward passes alone, 256
# prompts per pass).
#
# A fair comparison (docs/performance.md, "Method"):
# - Both sides run the same OpenBLAS kernel set, by default the best for this
#   CPU: an OPENBLAS_CORETYPE inherited from the environment is dropped, iclab
#   makes its own choice (src/bench.c, ic_blas_coretype_for: it re-executes
#   itself with a better OPENBLAS_CORETYPE where OpenBLAS picked weaker kernels
#   than the CPU runs) and PyTorch gets the kernels iclab then runs through
#   OPENBLAS_CORETYPE. Each side reports the kernels it really loaded, and a
#   speed-up between different kernel sets is refused.
# - Each side runs twice, interleaved (iclab, PyTorch, iclab, PyTorch), each
#   run under `benchstat.py measure`, which records the CPU time the machine's
#   other processes used meanwhile; the speed-up is refused when they used
#   more than 0.15 of a core during any run (a busy machine), and otherwise
#   printed with the range the two sides' quartiles allow, a side whose own
#   steps spread flagged "noisy" (bench/benchstat.py). What the others used
#   and the load average are printed under the tables.
# Usage: bash bench/run.sh [THREADS [CORETYPE]]   (default 2 threads; CORETYPE
#        forces one OpenBLAS kernel set on both sides, e.g. Haswell or SkylakeX;
#        "env" keeps the environment's OPENBLAS_CORETYPE)
#        BENCH_ONLY=small: only the small model's rows (a quick check)
#        BENCH_STEPS=N: N timed steps per training run (default 20 small, 5 standard)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-2}
case ${2:-} in
    "") unset OPENBLAS_CORETYPE ;;
    env) ;;
    *) export OPENBLAS_CORETYPE=$2 ;;
esac
ONLY=${BENCH_ONLY:-}
make -s build/iclab
PY=/usr/bin/python3
STD=(--n_dims 20 --n_positions 101 --n_points 41 --n_embd 256 --n_layer 12 --n_head 8 --batch_size 64)
SMALL=(--n_dims 5 --n_positions 11 --n_points 11 --n_embd 64 --n_layer 6 --n_head 4 --batch_size 64)
have_torch=0
$PY -c 'import torch' 2>/dev/null && have_torch=1
OUT=$(mktemp -d "${TMPDIR:-/tmp}/iclab_bench.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
tiny=(--steps 1 --warmup 0 --n_layer 1 --n_embd 8 --n_head 1 --n_positions 2 --n_points 2)
OMP_NUM_THREADS=$T build/iclab bench "${tiny[@]}" --threads "$T" --ceiling_s 2 --json >"$OUT/info.json"
CEIL=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["fma_ceiling_gflops"])' "$OUT/info.json")
BF16PEAK=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get("bf16_peak_gflops") or 0)' "$OUT/info.json")
KSET=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["blas_kernels"])' "$OUT/info.json")
# each timed run: its JSON plus what the other processes used meanwhile
measured() { $PY bench/benchstat.py measure -- "$@"; }
# PyTorch: the kernels iclab runs, as many BLAS threads as iclab, and iclab's
# OpenMP wait policy (passive unless the environment chose one: cli/main.c).
# Debian's PyTorch runs libgomp threads and the pthread OpenBLAS's threads;
# with libgomp's default spinning they take each other's cores (measured:
# docs/performance.md, "PyTorch's own variance")
TORCH=(env OPENBLAS_CORETYPE="$KSET" OPENBLAS_NUM_THREADS="$T" OMP_NUM_THREADS="$T"
       OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" $PY bench/torch_bench.py)
if [ $have_torch = 1 ]; then
    "${TORCH[@]}" "${tiny[@]}" --n_dims 2 --batch_size 2 --threads "$T" --steps 1 --warmup 0 >"$OUT/tinfo.json"
else
    echo '{}' >"$OUT/tinfo.json"
fi
$PY - "$OUT/info.json" "$OUT/tinfo.json" "$T" <<'PY'
import json, sys
o, t, threads = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU    {o['cpu']} (/proc/cpuinfo: {model}); ISA {o['cpu_features']}")
print(f"fp32 ceiling {o['fma_ceiling_gflops']:.1f} GFLOP/s ({o['fma_ceiling_isa']}, {o['fma_ceiling_lanes']}-lane "
      f"register-only FMA loop, {threads} threads)")
print(f"iclab   kernels: OpenBLAS {o['blas_kernels']} ({o['blas_kernel_note']}); {o['blas']}; "
      f"{o['threads']} threads, OpenMP wait policy {o['omp_wait_policy']}")
if t:
    print(f"PyTorch kernels: OpenBLAS {t['blas_kernels']} (OPENBLAS_CORETYPE={o['blas_kernels']}, iclab's); "
          f"{t['blas_config']}, {t['blas_threads']} BLAS threads; ATen vector ISA {t['cpu_capability']}; {t['impl']}, "
          f"{t['threads']} threads, OpenMP wait policy {t.get('omp_wait_policy', '?')}")
else:
    print("PyTorch not installed (Debian: python3-torch): no comparison")
PY
echo "steps of each side: two runs, interleaved (iclab, PyTorch, iclab, PyTorch); ms/step = each run's median"
echo
echo "| config | iclab ms/step | iclab GFLOP/s | % of ceiling (fp32 FMA; bf16 rows: bf16 peak) | iclab peak RSS MB | PyTorch ms/step | PyTorch GFLOP/s | PyTorch peak RSS MB | iclab speed-up |"
echo "|---|---|---|---|---|---|---|---|---|"
LOADS=()
# row NAME KEY STEPS CEILING PRECISION ARGS...: iclab in PRECISION against
# PyTorch in fp32. PyTorch runs once per config (KEY), with its fp32 row; the
# bf16 row reuses those runs (PyTorch 1.13 has no bf16 training path to match).
row() {
    local name=$1 key=$2 steps=$3 ceil=$4 prec=$5 r
    shift 5
    local l0
    l0=$(load)
    for r in 1 2; do
        OMP_NUM_THREADS=$T measured build/iclab bench "$@" --precision "$prec" --threads "$T" --steps "$steps" \
            --warmup 2 --ceiling_s 0 --json >"$OUT/ic_${key}_$prec$r.json"
        if [ $have_torch = 1 ] && [ ! -s "$OUT/pt_$key$r.json" ]; then
            measured "${TORCH[@]}" "$@" --threads "$T" --steps "$steps" --warmup 2 >"$OUT/pt_$key$r.json"
        fi
    done
    local pt=()
    [ $have_torch = 1 ] && pt=("$OUT/pt_${key}1.json" "$OUT/pt_${key}2.json")
    $PY bench/benchstat.py train "$name" "$ceil" "$OUT/ic_${key}_${prec}1.json" "$OUT/ic_${key}_${prec}2.json" "${pt[@]}"
    LOADS+=("$($PY bench/benchstat.py loads "$name" "$OUT/ic_${key}_${prec}1.json" "$OUT/ic_${key}_${prec}2.json" "${pt[@]}"); load average $l0 before, $(load) after")
}
SN="small (d=5, e=64, 6 blocks, 4 heads, 11 points, batch 64)"
TN="standard (d=20, e=256, 12 blocks, 8 heads, 41 points, batch 64)"
NS=${BENCH_STEPS:-20}
NT=${BENCH_STEPS:-5}
row "$SN, fp32" small "$NS" "$CEIL" fp32 "${SMALL[@]}"
[ "$ONLY" = small ] || row "$TN, fp32" std "$NT" "$CEIL" fp32 "${STD[@]}"
# bf16 rows where this CPU and build can (iclab refuses otherwise, in one line)
if OMP_NUM_THREADS=$T build/iclab bench "${tiny[@]}" --precision bf16 --threads "$T" --ceiling_s 0 --json >/dev/null 2>"$OUT/bf16.err"; then
    row "$SN, bf16 (PyTorch: fp32)" small "$NS" "$BF16PEAK" bf16 "${SMALL[@]}"
    [ "$ONLY" = small ] || row "$TN, bf16 (PyTorch: fp32)" std "$NT" "$BF16PEAK" bf16 "${STD[@]}"
    BF16=1
else
    echo "| bf16 | $(head -c 200 "$OUT/bf16.err" | tr '\n|' '  ') | | | | | | | |"
    BF16=0
fi
if [ $BF16 = 1 ]; then
    echo
    $PY - "$OUT" "$ONLY" <<'PY'
import json, os, statistics, sys
out, only = sys.argv[1], sys.argv[2]
for key, name in (("small", "small"), ("std", "standard")):
    if only == "small" and key == "std":
        continue
    ms = {p: [json.load(open(os.path.join(out, f"ic_{key}_{p}{r}.json")))["ms_per_step"] for r in (1, 2)]
          for p in ("fp32", "bf16")}
    f, b = statistics.median(ms["fp32"]), statistics.median(ms["bf16"])
    print(f"{name}: iclab bf16 step {b:.1f} ms against fp32 {f:.1f} ms (medians of the two runs): {f / b:.2f}x")
PY
fi
echo
echo "| inference, 256 prompts per forward pass | iclab prompts/s | PyTorch prompts/s | iclab speed-up |"
echo "|---|---|---|---|"
inf() { # name args...
    local name=$1 r
    shift
    local l0
    l0=$(load)
    for r in 1 2; do
        OMP_NUM_THREADS=$T measured build/iclab bench "$@" --threads "$T" --steps 5 --warmup 1 --ceiling_s 0 \
            --inference 256 --json >"$OUT/ic$r.json"
        [ $have_torch = 1 ] && measured "${TORCH[@]}" "$@" --threads "$T" --steps 5 --warmup 0 --inference 256 \
            >"$OUT/pt$r.json"
    done
    local pt=()
    [ $have_torch = 1 ] && pt=("$OUT/pt1.json" "$OUT/pt2.json")
    $PY bench/benchstat.py inference "$name" "$OUT/ic1.json" "$OUT/ic2.json" "${pt[@]}"
    LOADS+=("$($PY bench/benchstat.py loads "inference $name" "$OUT/ic1.json" "$OUT/ic2.json" "${pt[@]}"); load average $l0 before, $(load) after")
}
inf "small" "${SMALL[@]}"
[ "$ONLY" = small ] || inf "standard" "${STD[@]}"
echo
for l in "${LOADS[@]}"; do echo "$l"; done
echo "(a speed-up is refused when other processes used more than ${BENCH_MAX_OTHERS:-0.15} cores during a run; [range]: from the quartiles of both sides' runs; a side is flagged noisy when its steps spread more than ${BENCH_MAX_SPREAD:-0.10} of the median (IQR) or its two runs' medians differ by more than ${BENCH_MAX_PAIR:-0.10}: bench/benchstat.py)"
