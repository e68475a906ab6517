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
