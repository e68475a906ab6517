#!/usr/bin/env bash
# bf16_cli_test.sh: `--precision bf16` end to end (src/gemm.h). Where the CPU
# has AVX512_BF16 or AMX-BF16 (from /proc/cpuinfo's flags): a bf16 training
# run writes an all-F32 checkpoint (the weights stay fp32; only the products'
# operands are rounded) that `iclab eval` loads, and `bench --precision bf16`
# reports the step against the bf16 peak; `eval --precision bf16` and `bench
# --inference` run the model's products in bf16 and say so. Elsewhere: bf16 is
# refused with one line, before anything is written. Other precisions are
# refused anywhere.
# Last line: "N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh"
TINY=(--n_layer 2 --n_embd 16 --n_head 2 --n_positions 6 --n_points 6 --n_dims 3 --batch_size 8)
flag() { grep -m1 '^flags' /proc/cpuinfo | grep -qw "$1"; }
BF16=0; { flag avx512_bf16 || flag amx_bf16; } && BF16=1

"$BIN" train --out r0 "${TINY[@]}" --train_steps 5 --precision fp16 >out.txt 2>err.txt; rc=$?
check "precision fp16 refused" '[ $rc -ne 0 ] && grep -q "precision: expected fp32 or bf16" err.txt && [ ! -e r0 ]'

if [ "$BF16" = 1 ]; then
    "$BIN" train --out r1 "${TINY[@]}" --train_steps 20 --log_every 5 --precision bf16 >out.txt 2>err.txt; rc=$?
    check "bf16 training exits 0" '[ $rc -eq 0 ]'
    check "config.json records bf16" 'grep -q "\"precision\": \"bf16\"" r1/config.json'
    python3 - r1/model.safetensors <<'PY' 2>perr.txt
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
dt = {v["dtype"] for k, v in h.items() if k != "__metadata__"}
assert dt == {"F32"}, dt
PY
    check "bf16-trained checkpoint is all F32" '[ $? -eq 0 ]' || cat perr.txt
    "$BIN" eval --model r1/model.safetensors --out ev --prompts 16 >out.txt 2>err.txt; rc=$?
    check "eval (fp32) loads the bf16-trained model" '[ $rc -eq 0 ]' || cat err.txt
    "$BIN" eval --model r1/model.safetensors --out ev16 --prompts 16 --precision bf16 >out16.txt 2>err.txt; rc=$?
    check "eval --precision bf16 exits 0" '[ $rc -eq 0 ]' || cat err.txt
    check "eval names the products' precision" 'grep -q "fp32 products" out.txt && grep -q "bf16 products" out16.txt'
    python3 - <<'PY' 2>perr.txt
import json
a, b = json.load(open("ev/results.json")), json.load(open("ev16/results.json"))
assert a["precision"] == "fp32" and b["precision"] == "bf16", (a["precision"], b["precision"])
ma, mb = a["settings"]["standard"]["transformer"]["mean"], b["settings"]["standard"]["transformer"]["mean"]
assert ma != mb, "bf16 eval gave fp32's curve"
assert max(abs(x - y) / x for x, y in zip(ma, mb)) < 0.15, (ma, mb)
assert a["settings"]["standard"]["least_squares"]["mean"] == b["settings"]["standard"]["least_squares"]["mean"]
PY
    check "results.json records the precision; bf16 moves the model's curve only, and a little" '[ $? -eq 0 ]' || cat perr.txt
    "$BIN" eval --model r1/model.safetensors --out ev2 --prompts 16 --precision fp16 >out.txt 2>err.txt; rc=$?
    check "eval --precision fp16 refused, one line, nothing written" \
        '[ $rc -ne 0 ] && grep -q "precision: expected fp32 or bf16" err.txt && [ "$(grep -c . err.txt)" -eq 1 ] && [ ! -e ev2 ]'
    "$BIN" bench "${TINY[@]}" --steps 2 --warmup 0 --ceiling_s 0.05 --precision bf16 --inference 16 --json >b.json 2>err.txt; rc=$?
    check "bench --precision bf16 exits 0" '[ $rc -eq 0 ]'
    python3 -c 'import json; o = json.load(open("b.json")); assert o["config"]["precision"] == "bf16"; assert 0 < o["fraction_of_bf16_peak"] <= 1, o' 2>perr.txt
    check "bench reports the step against the bf16 peak" '[ $? -eq 0 ]' || cat perr.txt
    python3 -c 'import json; o = json.load(open("b.json")); assert o["inference_precision"] == "bf16", o' 2>perr.txt
    check "bench --inference runs (and says) bf16" '[ $? -eq 0 ]' || cat perr.txt
    "$BIN" bench "${TINY[@]}" --steps 2 --warmup 0 --ceiling_s 0 --precision bf16 --inference 16 >out.txt 2>err.txt
    check "bench table: inference in bf16 products" 'grep -q "^inference .*bf16 products" out.txt'
else
    "$BIN" train --out r1 "${TINY[@]}" --train_steps 5 --precision bf16 >out.txt 2>err.txt; rc=$?
    check "bf16 refused on this CPU, nothing written" '[ $rc -ne 0 ] && grep -q "AVX512_BF16" err.txt && [ ! -e r1 ]'
    check "the refusal is one line" '[ "$(grep -c . err.txt)" -eq 1 ]'
    "$BIN" train --out r2 "${TINY[@]}" --train_steps 5 >out.txt 2>err.txt
    "$BIN" eval --model r2/model.safetensors --out ev16 --prompts 16 --precision bf16 >out.txt 2>err.txt; rc=$?
    check "eval --precision bf16 refused on this CPU, one line, nothing written" \
        '[ $rc -ne 0 ] && grep -q "AVX512_BF16" err.txt && [ "$(grep -c . err.txt)" -eq 1 ] && [ ! -e ev16 ]'
    "$BIN" bench "${TINY[@]}" --steps 1 --warmup 0 --ceiling_s 0 --precision bf16 --inference 16 >out.txt 2>err.txt; rc=$?
    check "bench --precision bf16 refused on this CPU, one line" '[ $rc -ne 0 ] && [ "$(grep -c . err.txt)" -eq 1 ]'
fi
finish
