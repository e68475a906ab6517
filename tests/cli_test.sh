#!/usr/bin/env bash
# cli_test.sh: end-to-end tests of the iclab command line.
#
# Drives $ICLAB_BIN (default build/iclab) in a temporary directory: help and
# usage errors, init -> make-prompts -> predict, schedule overrides, every
# bad-input path of predict (one clear line, exit 1, no crash, no output
# file), looped models, bench --json and a Garg-style checkpoint without
# metadata. Needs bash and python3 (standard library only). Last line:
# "N passed, M failed"; exit status non-zero if any test failed.
set -u

. "$(dirname "$0")/lib.sh"

# run CMD...: runs the binary, stdout -> out.txt, stderr -> err.txt, status in RC
run() {
    "$BIN" "$@" >out.txt 2>err.txt
    RC=$?
}

# expect_ok NAME ARGS...: exit 0
expect_ok() {
    local name=$1
    shift
    run "$@"
    if [ "$RC" -eq 0 ]; then ok; else bad "$name: exit $RC, stderr: $(head -c 300 err.txt)"; fi
}

# expect_fail NAME CODE WORD OUTFILE ARGS...: exits with CODE (or any failure
# below 128 if CODE is "any"), prints exactly one stderr line containing WORD
# (an extended regex, case-insensitive), and OUTFILE (if not "-") does not exist.
expect_fail() {
    local name=$1 code=$2 word=$3 outfile=$4
    shift 4
    [ "$outfile" != - ] && rm -f "$outfile"
    run "$@"
    local lines
    lines=$(wc -l <err.txt)
    if [ "$RC" -ge 128 ]; then
        bad "$name: crashed (exit $RC)"
    elif [ "$RC" -eq 0 ]; then
        bad "$name: succeeded but should fail"
    elif [ "$code" != any ] && [ "$RC" -ne "$code" ]; then
        bad "$name: exit $RC, expected $code ($(head -c 300 err.txt))"
    elif [ "$lines" -ne 1 ]; then
        bad "$name: expected one line on stderr, got $lines: $(head -c 300 err.txt)"
    elif ! grep -Eqi -- "$word" err.txt; then
        bad "$name: message does not mention '$word': $(cat err.txt)"
    elif [ "$outfile" != - ] && [ -e "$outfile" ]; then
        bad "$name: left an output file $outfile"
    else
        ok
    fi
}

# A small stdlib-only safetensors helper.
cat >st.py <<'EOF'
import json, struct, sys, random

SIZES = {"F32": 4, "F64": 8, "I32": 4}
FMT = {"F32": "f", "F64": "d", "I32": "i"}

def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]

def write(path, header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)

def build(path, tensors, meta=None):
    header, data = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        vals = [random.gauss(0, 1) if dtype != "I32" else 1 for _ in range(n)]
        raw = struct.pack("<%d%s" % (n, FMT[dtype]), *vals)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    write(path, header, data)

cmd = sys.argv[1]
if cmd == "shape":            # shape FILE NAME -> "F32 [2,3]"
    h, _ = read(sys.argv[2])
    t = h[sys.argv[3]]
    print("%s [%s]" % (t["dtype"], ",".join(str(s) for s in t["shape"])))
elif cmd == "prompts":        # prompts OUT XS_DTYPE XS_SHAPE YS_DTYPE YS_SHAPE ("-" omits a tensor)
    random.seed(1)
    ts = []
    for name, dt, sh in (("xs", sys.argv[3], sys.argv[4]), ("ys", sys.argv[5], sys.argv[6])):
        if dt != "-":
            ts.append((name, dt, [int(s) for s in sh.split(",") if s != ""]))
    build(sys.argv[2], ts)
elif cmd == "garg":           # garg IN OUT: drop __metadata__, add an unused _backbone.wte.weight
    h, data = read(sys.argv[2])
    h.pop("__metadata__", None)
    e = h["_read_in.weight"]["shape"][0]
    raw = struct.pack("<%df" % (3 * e), *([0.5] * (3 * e)))
    h["_backbone.wte.weight"] = {"dtype": "F32", "shape": [3, e], "data_offsets": [len(data), len(data) + len(raw)]}
    write(sys.argv[3], h, data + raw)
elif cmd == "meta":           # meta FILE KEY -> value
    h, _ = read(sys.argv[2])
    print(h.get("__metadata__", {}).get(sys.argv[3], ""))
EOF
st() { python3 st.py "$@"; }

# ---------------------------------------------------------------- help
expect_ok "iclab --help" --help
grep -q predict out.txt && grep -q make-prompts out.txt || bad "--help does not list the commands"
expect_ok "iclab (no args)"
expect_ok "iclab help" help
expect_ok "iclab help predict" help predict
grep -q -- --prompts out.txt || bad "help predict does not show --prompts"

check_help() { # CMD OPTION...
    local cmd=$1
    shift
    run "$cmd" --help
    if [ "$RC" -ne 0 ]; then
        bad "$cmd --help: exit $RC"
        return
    fi
    local o
    for o in "$@"; do
        if ! grep -q -- "--$o\b" out.txt; then
            bad "$cmd --help does not mention --$o"
            return
        fi
    done
    ok
}
check_help init out config n_dims n_embd n_layer n_head n_positions schedule loops loss_loops inject loop_lnf seed threads
check_help predict model prompts out schedule loops n_head batch_size threads
check_help bench steps warmup json config n_points batch_size threads
check_help make-prompts out n_dims n_points prompts seed noise
check_help help-config
grep -q "default" <("$BIN" predict --help) && ok || bad "predict --help shows no defaults"

expect_fail "unknown command" 2 "unknown command.*frobnicate" - frobnicate
expect_fail "unknown option (init)" 2 "unknown option.*--bogus" - init --out m.safetensors --bogus 3
expect_fail "unknown option (predict)" 2 "unknown option.*--nope" - predict --nope
expect_fail "unknown option (bench)" 2 "unknown option.*--speed" - bench --speed=3
expect_fail "unknown top-level option" 2 "unknown option" - --frobnicate
expect_fail "missing value" 2 "needs a value" - init --out
expect_fail "missing --out" 2 "missing.*--out" - init --n_dims 5
expect_fail "bad int flag" 2 "n_embd" - init --out m.safetensors --n_embd abc
expect_fail "bad bool flag" 2 "inject" - init --out m.safetensors --inject=maybe
expect_fail "invalid config" 1 "n_head|divisible" m.safetensors init --out m.safetensors --n_embd 30 --n_head 4

# ---------------------------------------------------------------- init + predict
TINY=(--n_dims 5 --n_embd 32 --n_layer 3 --n_head 2 --n_positions 16 --n_points 11)
expect_ok "init tiny" init --out m.safetensors "${TINY[@]}" --seed 7
grep -q "m.safetensors" out.txt && grep -Eq "[0-9]+ parameters" out.txt || bad "init summary line: $(cat out.txt)"
echo '{"n_dims": 5, "n_embd": 32, "n_layer": 3, "n_head": 2, "n_positions": 16, "n_points": 11, "seed": 7}' >tiny.json
expect_ok "init --config" init --out m_json.safetensors --config tiny.json
cmp -s m.safetensors m_json.safetensors && ok || bad "init from --config differs from init with flags"
expect_ok "init: n_points follows a smaller n_positions" init --out m_np.safetensors --n_dims 5 --n_embd 32 --n_layer 1 --n_head 2 --n_positions 7
echo '{"n_positions": 7, "n_points": 9}' >np.json
expect_fail "n_points > n_positions from --config" 1 "n_points" bad.safetensors init --out bad.safetensors --config np.json
expect_fail "n_points > n_positions from flags" 1 "n_points" bad.safetensors init --out bad.safetensors --n_positions 7 --n_points 9
expect_fail "missing --config file" 1 "no_such.json" bad.safetensors init --out bad.safetensors --config no_such.json
echo '{"n_embd": 32,' >broken.json
expect_fail "broken --config JSON" 1 "broken.json.*JSON" bad.safetensors init --out bad.safetensors --config broken.json
echo '{"n_embed": 32}' >typo.json
expect_fail "unknown key in --config" 1 "n_embed" bad.safetensors init --out bad.safetensors --config typo.json
expect_ok "init --config + flag override" init --out m_json2.safetensors --config tiny.json --seed=8 --inject 0
[ "$(st meta m_json2.safetensors iclab_schedule)" != "$(st meta m.safetensors iclab_schedule)" ] && ok ||
    bad "--inject 0 did not reach the stored schedule"

expect_ok "make-prompts" make-prompts --out p.safetensors --n_dims 5 --n_points 11 --prompts 40 --seed 1
[ "$(st shape p.safetensors xs)" = "F32 [40,11,5]" ] && [ "$(st shape p.safetensors ys)" = "F32 [40,11]" ] && ok ||
    bad "make-prompts shapes: $(st shape p.safetensors xs) / $(st shape p.safetensors ys)"

expect_ok "predict" predict --model m.safetensors --prompts p.safetensors --out o.safetensors
[ "$(st shape o.safetensors pred)" = "F32 [40,11]" ] && ok || bad "pred shape: $(st shape o.safetensors pred)"
grep -Eq "mse/d [0-9.e+-]+" out.txt && grep -q "40 prompts" out.txt && ok || bad "predict summary line: $(cat out.txt)"
expect_ok "predict again" predict --model m.safetensors --prompts p.safetensors --out o_again.safetensors
cmp -s o.safetensors o_again.safetensors && ok || bad "predict is not deterministic"
expect_ok "predict identity schedule" predict --model m.safetensors --prompts p.safetensors --out o_id.safetensors --schedule 0,1,2
cmp -s o.safetensors o_id.safetensors && ok || bad "identity --schedule output differs from no --schedule"
expect_ok "predict --batch_size 7" predict --model m.safetensors --prompts p.safetensors --out o_b7.safetensors --batch_size 7
[ "$(st shape o_b7.safetensors pred)" = "F32 [40,11]" ] && ok || bad "chunked pred shape"
expect_ok "predict other schedule" predict --model m.safetensors --prompts p.safetensors --out o_dup.safetensors --schedule 0,1,1,2
cmp -s o.safetensors o_dup.safetensors && bad "schedule 0,1,1,2 gives the same output as 0,1,2" || ok

# ---------------------------------------------------------------- predict: bad input
P=(--model m.safetensors --prompts p.safetensors)
expect_fail "schedule names a missing block" 1 "block 5" bad.safetensors predict "${P[@]}" --out bad.safetensors --schedule 0,5
expect_fail "empty schedule" 1 "empty" bad.safetensors predict "${P[@]}" --out bad.safetensors --schedule ""
expect_fail "malformed schedule" 1 "schedule" bad.safetensors predict "${P[@]}" --out bad.safetensors --schedule 0,x
expect_fail "bad --loops" 2 "loops" bad.safetensors predict "${P[@]}" --out bad.safetensors --loops 0
expect_fail "bad --batch_size" 2 "batch_size" bad.safetensors predict "${P[@]}" --out bad.safetensors --batch_size -3

st prompts p_f64.safetensors F64 4,11,5 F32 4,11
expect_fail "F64 xs" 1 "F64" bad.safetensors predict --model m.safetensors --prompts p_f64.safetensors --out bad.safetensors
st prompts p_f64y.safetensors F32 4,11,5 F64 4,11
expect_fail "F64 ys" 1 "ys.*F64" bad.safetensors predict --model m.safetensors --prompts p_f64y.safetensors --out bad.safetensors
st prompts p_rank.safetensors F32 44,5 F32 4,11
expect_fail "rank-2 xs" 1 "rank" bad.safetensors predict --model m.safetensors --prompts p_rank.safetensors --out bad.safetensors
st prompts p_d.safetensors F32 4,11,6 F32 4,11
expect_fail "wrong d" 1 "n_dims|d=6" bad.safetensors predict --model m.safetensors --prompts p_d.safetensors --out bad.safetensors
st prompts p_ys.safetensors F32 4,11,5 F32 4,10
expect_fail "ys shape mismatch" 1 "ys" bad.safetensors predict --model m.safetensors --prompts p_ys.safetensors --out bad.safetensors
st prompts p_n.safetensors F32 2,17,5 F32 2,17
expect_fail "n beyond positions" 1 "position" bad.safetensors predict --model m.safetensors --prompts p_n.safetensors --out bad.safetensors
st prompts p_n0.safetensors F32 2,0,5 F32 2,0
expect_fail "n = 0" 1 "0 points" bad.safetensors predict --model m.safetensors --prompts p_n0.safetensors --out bad.safetensors
st prompts p_b0.safetensors F32 0,11,5 F32 0,11
expect_fail "B = 0" 1 "0 prompts" bad.safetensors predict --model m.safetensors --prompts p_b0.safetensors --out bad.safetensors
st prompts p_noys.safetensors F32 4,11,5 - -
expect_fail "missing ys" 1 "missing.*ys" bad.safetensors predict --model m.safetensors --prompts p_noys.safetensors --out bad.safetensors
head -c 1000 m.safetensors >trunc_head.safetensors
expect_fail "truncated model (header)" 1 "trunc_head.*(end of file|truncat)" bad.safetensors predict --model trunc_head.safetensors --prompts p.safetensors --out bad.safetensors
head -c $(($(wc -c <m.safetensors) - 64)) m.safetensors >trunc_data.safetensors
expect_fail "truncated model (data)" 1 "trunc_data.*(end of file|truncat)" bad.safetensors predict --model trunc_data.safetensors --prompts p.safetensors --out bad.safetensors
head -c 5 p.safetensors >tiny_prompts.safetensors
expect_fail "truncated prompts" 1 "tiny_prompts" bad.safetensors predict --model m.safetensors --prompts tiny_prompts.safetensors --out bad.safetensors
expect_fail "missing model file" 1 "no_such_model.*(no such|cannot open)" bad.safetensors predict --model no_such_model.safetensors --prompts p.safetensors --out bad.safetensors
expect_fail "missing prompts file" 1 "no_such_prompts.*(no such|cannot open)" bad.safetensors predict --model m.safetensors --prompts no_such_prompts.safetensors --out bad.safetensors
expect_fail "prompts file is a model" 1 "missing tensor 'xs'" bad.safetensors predict --model m.safetensors --prompts m.safetensors --out bad.safetensors
expect_fail "unwritable output" 1 "no_dir" - predict "${P[@]}" --out no_dir/o.safetensors
expect_fail "missing --prompts" 2 "prompts" bad.safetensors predict --model m.safetensors --out bad.safetensors
expect_fail "make-prompts bad n_dims" 2 "n_dims" bad.safetensors make-prompts --out bad.safetensors --n_dims 0 --n_points 3 --prompts 2
expect_fail "make-prompts negative noise" 2 "noise" bad.safetensors make-prompts --out bad.safetensors --n_dims 2 --n_points 3 --prompts 2 --noise -1

# ---------------------------------------------------------------- looped model
expect_ok "init looped" init --out loop.safetensors --n_dims 5 --n_embd 32 --n_layer 1 --n_head 2 --n_positions 16 \
    --n_points 11 --loops 4 --loss_loops 3 --seed 2
expect_ok "predict looped (stored loops)" predict --model loop.safetensors --prompts p.safetensors --out l4.safetensors
grep -q "loops=4" out.txt && ok || bad "looped predict did not run 4 loops: $(cat out.txt)"
expect_ok "predict --loops 10" predict --model loop.safetensors --prompts p.safetensors --out l10.safetensors --loops 10
grep -q "loops=10" out.txt && ok || bad "--loops 10 not applied: $(cat out.txt)"
cmp -s l4.safetensors l10.safetensors && bad "--loops 10 gives the same output as 4 loops" || ok
expect_ok "predict --loops 1 (loss_loops lowered)" predict --model loop.safetensors --prompts p.safetensors --out l1.safetensors --loops 1
[ "$(st shape l10.safetensors pred)" = "F32 [40,11]" ] && ok || bad "looped pred shape"
expect_ok "predict --loops 4 equals stored" predict --model loop.safetensors --prompts p.safetensors --out l4b.safetensors --loops 4
cmp -s l4.safetensors l4b.safetensors && ok || bad "--loops 4 differs from the stored 4 loops"

# ---------------------------------------------------------------- Garg-style checkpoint
st garg m.safetensors garg.safetensors
expect_ok "Garg checkpoint with --n_head" predict --model garg.safetensors --prompts p.safetensors --out g.safetensors --n_head 2
grep -qi "wte" err.txt && ok || bad "no notice about the ignored wte tensor: $(cat err.txt)"
cmp -s o.safetensors g.safetensors && ok || bad "Garg-style copy predicts differently from the original"
expect_fail "Garg checkpoint without --n_head" 1 "n_head" g2.safetensors predict --model garg.safetensors --prompts p.safetensors --out g2.safetensors
expect_fail "--n_head disagreeing with metadata" 1 "n_head" g3.safetensors predict "${P[@]}" --out g3.safetensors --n_head 4

# ---------------------------------------------------------------- bench
expect_ok "bench --json" bench --json --steps 2 --warmup 1 --n_dims 5 --n_embd 32 --n_layer 2 --n_head 2 \
    --n_points 11 --n_positions 11 --batch_size 8 --threads 1
if python3 -c '
import json, sys
o = json.load(sys.stdin)
for k in ("ms_per_step", "gflops", "threads", "num_params", "config"):
    assert k in o, k
assert o["ms_per_step"] > 0 and o["threads"] == 1 and o["config"]["n_embd"] == 32
' <out.txt; then ok; else bad "bench --json output: $(head -c 400 out.txt)"; fi
[ "$(wc -l <out.txt)" -eq 1 ] && ok || bad "bench --json printed more than one line"
expect_ok "bench table" bench --steps 1 --warmup 0 --n_dims 5 --n_embd 32 --n_layer 2 --n_head 2 \
    --n_points 11 --n_positions 11 --batch_size 8
grep -q "ms/step" out.txt && grep -q "GFLOP/s" out.txt && ok || bad "bench table: $(cat out.txt)"
expect_fail "bench bad steps" 2 "steps" - bench --steps 0

# ---------------------------------------------------------------- help-config
expect_ok "help-config" help-config
grep -q "| \`n_embd\` |" out.txt && ok || bad "help-config lacks n_embd"

finish
