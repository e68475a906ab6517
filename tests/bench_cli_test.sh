#!/usr/bin/env bash
# bench_cli_test.sh: `iclab bench` names the CPU, reports the kernel set, the
# FMA ceiling (with the widest vectors this CPU has) and inference throughput,
# and iclab picks OpenBLAS kernels itself when OpenBLAS chose ones weaker than
# the CPU (RESEARCH.md §7). Every expectation that depends on the CPU is derived
# here from /proc/cpuinfo's flags. Last line: "N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh"
TINY=(--n_layer 1 --n_embd 8 --n_head 1 --n_positions 4 --n_points 4 --n_dims 2 --batch_size 4 --steps 2 --warmup 0)

# what this CPU runs, from the kernel's view of cpuid (flags the OS cannot
# save are not listed there)
flag() { grep -m1 '^flags' /proc/cpuinfo | grep -qw "$1"; }
if flag avx512f && flag avx512bw && flag avx512vl && flag avx512dq; then
    KSET=SkylakeX # OpenBLAS's AVX-512 kernels
elif flag avx2 && flag fma; then
    KSET=Haswell  # its AVX2 kernels
else
    KSET=""
fi
if flag avx512f; then ISA=avx512f LANES=16; elif flag avx2 && flag fma; then ISA=avx2+fma LANES=8; else ISA=sse LANES=4; fi
BF16=0; flag avx512_bf16 && BF16=1
AMX=0; flag amx_bf16 && AMX=1
echo "this CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2-); ceiling ISA $ISA ($LANES lanes), bf16 $BF16, AMX $AMX, kernels $KSET"

"$BIN" bench "${TINY[@]}" --ceiling_s 0.05 --inference 32 --json >out.json 2>err.txt; rc=$?
check "bench --json exits 0" '[ $rc -eq 0 ]'
ISA=$ISA LANES=$LANES BF16=$BF16 AMX=$AMX python3 - <<'PY' 2>perr.txt
import json, os
o = json.load(open("out.json"))
for k in ["ms_per_step", "gflops", "fma_ceiling_gflops", "fraction_of_ceiling", "blas_kernels", "blas_kernel_note",
          "inference_prompts_per_s", "peak_rss_mb", "cpu", "cpu_features", "fma_ceiling_isa", "fma_ceiling_lanes",
          "ms_q1", "ms_q3", "inference_ms_q1", "inference_ms_q3", "inference_shards"]:
    assert k in o, k
# the quartiles bench/run.sh's busy-machine check reads
assert o["ms_min"] <= o["ms_q1"] <= o["ms_per_step"] <= o["ms_q3"] <= o["ms_max"], o
assert o["inference_ms_q1"] <= o["inference_ms_per_batch"] <= o["inference_ms_q3"], o
assert o["inference_shards"] == min(o["threads"], 32), o
assert o["fma_ceiling_gflops"] > 0 and abs(o["fraction_of_ceiling"] - o["gflops"] / o["fma_ceiling_gflops"]) < 1e-6
assert 0 < o["fraction_of_ceiling"] <= 1, o["fraction_of_ceiling"]
assert o["cpu"], "no CPU name"
assert o["fma_ceiling_isa"] == os.environ["ISA"], (o["fma_ceiling_isa"], os.environ["ISA"])
assert o["fma_ceiling_lanes"] == int(os.environ["LANES"])
assert ("bf16_peak_gflops" in o) == (os.environ["BF16"] == "1"), "bf16 peak iff avx512_bf16"
assert ("amx_bf16_vendor_gflops" in o) == (os.environ["AMX"] == "1"), "AMX figure iff amx_bf16"
if os.environ["BF16"] == "1":
    assert o["bf16_peak_gflops"] > 0 and o["bf16_peak_isa"] == "avx512_bf16"
assert o["inference_batch"] == 32 and o["inference_prompts_per_s"] > 0
assert o["inference_precision"] == "fp32" == o["config"]["precision"], o  # the default
PY
check "bench JSON: ceiling of this CPU's widest ISA, fraction <= 1, CPU named, bf16/AMX iff present" '[ $? -eq 0 ]'
[ -s perr.txt ] && cat perr.txt
"$BIN" bench "${TINY[@]}" --ceiling_s 0.05 >out.txt 2>&1
check "table names the ISA of the ceiling" 'grep -q "^ceiling .*($ISA: $LANES-lane FMA loop" out.txt'
check "table names the CPU" 'grep -q "^cpu  " out.txt'
if [ "$BF16" = 1 ]; then check "table has the measured bf16 peak" 'grep -q "^bf16 peak .* measured (avx512_bf16" out.txt'; fi
"$BIN" bench "${TINY[@]}" --ceiling_s 0 >out.txt 2>&1
check "table names the kernel set" 'grep -q "kernels " out.txt'
check "no ceiling line with --ceiling_s 0" '! grep -q "^ceiling" out.txt'

if [ -n "$KSET" ]; then
    # a user's choice is respected, with a hint naming the kernels this CPU can run
    OPENBLAS_CORETYPE=Prescott "$BIN" bench "${TINY[@]}" --ceiling_s 0 >out.txt 2>&1
    check "the user's OPENBLAS_CORETYPE is kept, with a hint for $KSET" \
        'grep -q "kernels Prescott (OPENBLAS_CORETYPE=Prescott set by the user; this CPU can run $KSET kernels" out.txt'
    if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
        # pretend OpenBLAS fell back to SSE kernels: iclab must ask for the CPU's own set
        ICLAB_TEST_CORENAME=Prescott "$BIN" bench "${TINY[@]}" --ceiling_s 0 >out.txt 2>&1
        check "a misdetected CPU gets $KSET kernels" 'grep -q "kernels $KSET (set by iclab: OpenBLAS chose Prescott" out.txt'
    else
        echo "skip: the automatic kernel choice needs OPENBLAS_CORETYPE unset (it is $OPENBLAS_CORETYPE here)"
    fi
else
    echo "skip: kernel-choice checks need an AVX2+FMA CPU"
fi
finish
