#!/usr/bin/env bash
# bench/run.sh: one command, one run: iclab's training step next to PyTorch's
# (Debian python3-torch, same config and threads) for the small and standard
# configs, the fraction of this machine's measured FMA ceiling, and inference
# throughput (forward passes alone, 256 prompts per pass).
# Usage: bash bench/run.sh [THREADS]   (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-2}
make -s build/iclab
STD=(--n_dims 20 --n_positions 101 --n_points 41 --n_embd 256 --n_layer 12 --n_head 8 --batch_size 64)
SMALL=(--n_dims 5 --n_positions 11 --n_points 11 --n_embd 64 --n_layer 6 --n_head 4 --batch_size 64)
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
tiny=(--steps 1 --warmup 0 --n_layer 1 --n_embd 8 --n_head 1 --n_positions 2 --n_points 2)
info=$(OMP_NUM_THREADS=$T build/iclab bench "${tiny[@]}" --threads "$T" --ceiling_s 2 --json)
CEIL=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["fma_ceiling_gflops"])' "$info")
/usr/bin/python3 - "$info" "$T" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
print(f"threads {sys.argv[2]}; {o['blas']} ({o['blas_kernel_note']})")
print(f"CPU {o['cpu']}; fp32 ceiling ({o['fma_ceiling_isa']}, {o['fma_ceiling_lanes']}-lane register-only FMA loop, {sys.argv[2]} threads): {o['fma_ceiling_gflops']:.1f} GFLOP/s")
PY
echo
echo "| config | iclab ms/step | iclab GFLOP/s | % of ceiling | iclab peak RSS MB | PyTorch ms/step | PyTorch GFLOP/s | PyTorch peak RSS MB | iclab speed-up |"
echo "|---|---|---|---|---|---|---|---|---|"
row() { # name steps args...
    local name=$1 steps=$2
    shift 2
    local ic pt
    ic=$(OMP_NUM_THREADS=$T build/iclab bench "$@" --threads "$T" --steps "$steps" --warmup 2 --ceiling_s 0 --json)
    if [ $have_torch = 1 ]; then
        pt=$(cd bench && /usr/bin/python3 torch_bench.py "$@" --threads "$T" --steps "$steps" --warmup 2)
    else
        pt='{"ms_per_step": null, "peak_rss_mb": null, "impl": "pytorch not installed"}'
    fi
    /usr/bin/python3 - "$name" "$ic" "$pt" "$CEIL" <<'PY'
import json, sys
name, ic, pt, ceil = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
ptm = pt.get("ms_per_step")
speed = f"{ptm / ic['ms_per_step']:.2f}x" if ptm else "n/a"
ptg = f"{ic['flops_per_step'] / (ptm * 1e6):.1f}" if ptm else "n/a"
ptr = "n/a" if pt.get("peak_rss_mb") is None else f"{pt['peak_rss_mb']:.0f}"
print(f"| {name} | {ic['ms_per_step']:.1f} | {ic['gflops']:.1f} | {100 * ic['gflops'] / ceil:.0f}% | {ic['peak_rss_mb']:.0f} | "
      f"{'n/a' if ptm is None else f'{ptm:.1f}'} | {ptg} | {ptr} | {speed} |")
PY
}
row "small (d=5, e=64, 6 blocks, 4 heads, 11 points, batch 64)" 20 "${SMALL[@]}"
row "standard (d=20, e=256, 12 blocks, 8 heads, 41 points, batch 64)" 5 "${STD[@]}"
echo
echo "| inference, 256 prompts per forward pass | iclab prompts/s | PyTorch prompts/s | iclab speed-up |"
echo "|---|---|---|---|"
inf() { # name args...
    local name=$1
    shift
    local ic pt
    ic=$(OMP_NUM_THREADS=$T build/iclab bench "$@" --threads "$T" --steps 3 --warmup 1 --ceiling_s 0 --inference 256 --json)
    if [ $have_torch = 1 ]; then
        pt=$(cd bench && /usr/bin/python3 torch_bench.py "$@" --threads "$T" --steps 5 --warmup 0 --inference 256)
    else
        pt='{}'
    fi
    /usr/bin/python3 - "$name" "$ic" "$pt" <<'PY'
import json, sys
name, ic, pt = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
a, b = ic["inference_prompts_per_s"], pt.get("inference_prompts_per_s")
print(f"| {name} | {a:.0f} | {'n/a' if b is None else f'{b:.0f}'} | {'n/a' if b is None else f'{a / b:.2f}x'} |")
PY
}
inf "small" "${SMALL[@]}"
inf "standard" "${STD[@]}"
