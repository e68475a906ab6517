#!/usr/bin/env bash
# bench_cli_test.sh: `iclab bench` reports the kernel set, the FMA ceiling and
# inference throughput, and iclab picks OpenBLAS kernels itself when OpenBLAS
# chose ones weaker than the CPU (RESEARCH.md §7). Last line: "N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh"
TINY=(--n_layer 1 --n_embd 8 --n_head 1 --n_positions 4 --n_points 4 --n_dims 2 --batch_size 4 --steps 2 --warmup 0)

"$BIN" bench "${TINY[@]}" --ceiling_s 0.05 --inference 32 --json >out.json 2>err.txt; rc=$?
check "bench --json exits 0" '[ $rc -eq 0 ]'
python3 - <<'PY' 2>perr.txt
import json
o = json.load(open("out.json"))
for k in ["ms_per_step", "gflops", "fma_ceiling_gflops", "fraction_of_ceiling", "blas_kernels", "blas_kernel_note",
          "inference_prompts_per_s", "peak_rss_mb"]:
    assert k in o, k
assert o["fma_ceiling_gflops"] > 0 and abs(o["fraction_of_ceiling"] - o["gflops"] / o["fma_ceiling_gflops"]) < 1e-6
assert o["inference_batch"] == 32 and o["inference_prompts_per_s"] > 0
PY
check "bench JSON has ceiling, fraction, kernels, inference" '[ $? -eq 0 ]'
"$BIN" bench "${TINY[@]}" --ceiling_s 0 >out.txt 2>&1
check "table names the kernel set" 'grep -q "kernels " out.txt'
check "no ceiling line with --ceiling_s 0" '! grep -q "^ceiling" out.txt'

if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    # pretend OpenBLAS fell back to SSE kernels: iclab must ask for AVX2 ones itself
    ICLAB_TEST_CORENAME=Prescott "$BIN" bench "${TINY[@]}" --ceiling_s 0 >out.txt 2>&1
    check "a misdetected AVX2 CPU gets Haswell kernels" 'grep -q "kernels Haswell (set by iclab: OpenBLAS chose Prescott" out.txt'
    # a user's choice is respected, with a hint
    OPENBLAS_CORETYPE=Prescott "$BIN" bench "${TINY[@]}" --ceiling_s 0 >out.txt 2>&1
    check "the user's OPENBLAS_CORETYPE is kept, with a hint" 'grep -q "kernels Prescott (OPENBLAS_CORETYPE=Prescott set by the user; this CPU can run" out.txt'
else
    echo "skip: kernel-choice checks need an AVX2+FMA CPU and no OPENBLAS_CORETYPE"
fi
finish
