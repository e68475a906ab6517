# tests/lib.sh: shared prelude of the end-to-end shell tests (sourced).
# Sets BIN (absolute path of the iclab binary, from $ICLAB_BIN), moves into a
# fresh temporary directory removed on exit, and defines the counters and
# helpers; finish prints "N passed, M failed" and returns non-zero on failure.
BIN=${ICLAB_BIN:-build/iclab}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
if [ ! -x "$BIN" ]; then
    echo "$0: $BIN is not an executable (build it with make)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iclab_test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
# check NAME CONDITION: CONDITION is evaluated by the shell
check() { if eval "$2"; then ok; else bad "$1"; fi; }
finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
# poison_rows IN OUT TENSOR ROWS: copies the checkpoint IN to OUT with the first
# element of each listed row (comma-separated) of the F32 matrix TENSOR set to
# NaN. Poisoning row 2k of _backbone.wpe.weight (the position embedding of the
# k-th x token) makes the model's predictions NaN at positions k.. (causal
# attention carries the NaN forward) and leaves positions 0..k-1 untouched.
poison_rows() {
    python3 - "$@" <<'PY'
import json, struct, sys
src, dst, name, rows = sys.argv[1], sys.argv[2], sys.argv[3], [int(r) for r in sys.argv[4].split(",")]
b = bytearray(open(src, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])[name]
assert t["dtype"] == "F32" and len(t["shape"]) == 2, t
for r in rows:
    off = 8 + n + t["data_offsets"][0] + r * t["shape"][1] * 4
    b[off:off + 4] = struct.pack("<f", float("nan"))
open(dst, "wb").write(b)
PY
}
