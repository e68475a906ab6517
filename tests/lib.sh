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
# poison_rows IN OUT TENSOR ROWS: copies the checkpoint IN to OUT with every
# element of each listed row (comma-separated) of the F32 matrix TENSOR set to
# 3e38, a finite float whose sums overflow: a layernorm of that token computes
# inf - inf, so the model's predictions are NaN from there on while every
# parameter is finite (a checkpoint with a NaN or Inf parameter is refused at
# load, and the edited tensor's checksum would be refused too, so OUT carries
# no iclab_crc32 entry: like a file written by PyTorch). Poisoning row 2k of
# _backbone.wpe.weight (the position embedding of the k-th x token) makes the
# predictions NaN at positions k.. (causal attention carries the NaN forward)
# and leaves positions 0..k-1 untouched.
poison_rows() {
    python3 - "$@" <<'PY'
import json, struct, sys
src, dst, name, rows = sys.argv[1], sys.argv[2], sys.argv[3], [int(r) for r in sys.argv[4].split(",")]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
head = json.loads(b[8:8 + n])
data = bytearray(b[8 + n:])
t = head[name]
assert t["dtype"] == "F32" and len(t["shape"]) == 2, t
for r in rows:
    off = t["data_offsets"][0] + r * t["shape"][1] * 4
    data[off:off + 4 * t["shape"][1]] = struct.pack("<%df" % t["shape"][1], *([3e38] * t["shape"][1]))
head.get("__metadata__", {}).pop("iclab_crc32", None)
h = json.dumps(head).encode()
h += b" " * (-len(h) % 8)
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + bytes(data))
PY
}
