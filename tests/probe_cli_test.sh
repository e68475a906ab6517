#!/usr/bin/env bash
# probe_cli_test.sh: end-to-end test of `iclab probe` on a small initialised
# model (every analysis, the dump, a looped schedule, usage errors).
# Last line: "N passed, M failed"; exit status non-zero if any failed.
set -u
. "$(dirname "$0")/lib.sh"

"$BIN" init --out m.safetensors --n_dims 3 --n_positions 8 --n_points 8 --n_embd 16 --n_layer 3 --n_head 2 >/dev/null 2>&1
"$BIN" probe --model m.safetensors --out pr --prompts 40 --train_prompts 80 --gd_steps 1,10 --newton_steps 0-3 \
    --ablate_ranks 0,2,16 --dump pr/cap.safetensors >out.txt 2>err.txt; rc=$?
check "probe exits 0" '[ $rc -eq 0 ]'
for f in lens.csv lens.json lens_error.svg lens_positions.svg probes.csv probes.json probes_r2.svg sime.csv sime_best.csv \
         sime.json sime_newton.svg sime_gd.svg cos_all.svg cka_y.csv geometry.json geometry_states.csv components.json \
         overlap.svg ablation.csv ablation.svg components_explained.svg cap.safetensors; do
    check "probe wrote $f" "[ -s pr/$f ]"
done
check "progress on stderr" 'grep -q "iclab probe: capture" err.txt'
check "summary table names every state" 'grep -q "^in " out.txt && grep -q "^3:b2 " out.txt'
python3 - <<'PY' 2>err.txt
import json
L = json.load(open("pr/lens.json"))
assert [s["label"] for s in L["states"]] == ["in", "1:b0", "2:b1", "3:b2"]
S = json.load(open("pr/sime.json"))["families"]
assert S["newton"]["steps"] == [0, 1, 2, 3] and len(S["newton"]["sime"]) == 4 and len(S["newton"]["sime"][0]) == 4
C = json.load(open("pr/components.json"))
assert C["ablation_ranks"] == [0, 2, 16] and len(C["steps"]) == 3
ref = C["reference_err_all"]
assert all(abs(s["ablation_err_all"][0] - ref) == 0 for s in C["steps"])   # r = 0 is the intact model
assert abs(L["states"][-1]["err_all"] - ref) < 1e-9 * max(1, ref)           # lens of the last state = the model
P = json.load(open("pr/probes.json"))
assert all(abs(v) < 0.5 for v in P["targets"]["y"]["r2_shuffled"])
PY
check "JSON outputs are consistent (labels, grids, r = 0 = intact = last lens)" '[ $? -eq 0 ]'
check "ablation.csv has a row per step and rank" '[ $(wc -l <pr/ablation.csv) -eq 10 ]'

"$BIN" probe --model m.safetensors --out pl --what lens,geometry --schedule 0,1 --loops 2 --prompts 20 --no_cka >out.txt 2>err.txt; rc=$?
check "looped schedule runs" '[ $rc -eq 0 ] && grep -q "^l2.in " out.txt && grep -q "^l2.2:b1 " out.txt'
check "no_cka leaves CKA out" '[ ! -e pl/cka_all.csv ] && [ -s pl/cos_all.csv ]'

"$BIN" probe --model m.safetensors --out px --what lenses >out.txt 2>err.txt; rc=$?
check "unknown analysis is a usage error naming it" '[ $rc -eq 2 ] && grep -q lenses err.txt'
"$BIN" probe --model m.safetensors --out px --ablate_ranks 99 >out.txt 2>err.txt; rc=$?
check "ablation rank beyond C is a usage error" '[ $rc -eq 2 ]'
"$BIN" probe --out px >out.txt 2>err.txt; rc=$?
check "missing --model is a usage error" '[ $rc -eq 2 ] && grep -q model err.txt'
"$BIN" probe --help >out.txt 2>&1; rc=$?
check "--help lists every option" '[ $rc -eq 0 ] && grep -q -- "--ablate_ranks" out.txt && grep -q -- "--dump" out.txt'
finish
