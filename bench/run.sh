#!/usr/bin/env bash
# bench/run.sh: one command, one run: iclab's training step next to PyTorch's
# (Debian python3-torch, same config and threads) for the standard and small
# configs. Usage: bash bench/run.sh [THREADS]   (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-2}
make -s build/iclab
STD=(--n_dims 20 --n_positions 101 --n_points 41 --n_embd 256 --n_layer 12 --n_head 8 --batch_size 64)
SMALL=(--n_dims 5 --n_positions 11 --n_points 11 --n_embd 64 --n_layer 6 --n_head 4 --batch_size 64)
row() { # name steps args...
    local name=$1 steps=$2
    shift 2
    local ic pt
    ic=$(OMP_NUM_THREADS=$T build/iclab bench "$@" --threads "$T" --steps "$steps" --warmup 2 --json)
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        pt=$(cd bench && /usr/bin/python3 torch_bench.py "$@" --threads "$T" --steps "$steps" --warmup 2)
    else
        pt='{"ms_per_step": null, "peak_rss_mb": null, "impl": "pytorch not installed"}'
    fi
    /usr/bin/python3 - "$name" "$ic" "$pt" <<'PY'
import json, sys
name, ic, pt = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
ptm = pt.get("ms_per_step")
speed = f"{ptm / ic['ms_per_step']:.2f}x" if ptm else "n/a"
print(f"| {name} | {ic['ms_per_step']:.1f} | {ic['gflops']:.1f} | {ic['peak_rss_mb']:.0f} | "
      f"{ptm if ptm is None else round(ptm, 1)} | {pt.get('peak_rss_mb') if pt.get('peak_rss_mb') is None else round(pt['peak_rss_mb'])} | {speed} |")
PY
}
echo "threads $T; $(build/iclab bench --steps 1 --warmup 0 --n_layer 1 --n_embd 8 --n_head 1 --n_positions 2 --n_points 2 --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["blas"])')"
echo
echo "| config | iclab ms/step | iclab GFLOP/s | iclab peak RSS MB | PyTorch ms/step | PyTorch peak RSS MB | iclab speed-up |"
echo "|---|---|---|---|---|---|---|"
row "small (d=5, e=64, 6 blocks, 4 heads, 11 points, batch 64)" 20 "${SMALL[@]}"
row "standard (d=20, e=256, 12 blocks, 8 heads, 41 points, batch 64)" 5 "${STD[@]}"
