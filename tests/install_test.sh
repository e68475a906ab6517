# tests/install_test.sh: `make install` into a staging tree (DESTDIR), a C
# program built against it with pkg-config (shared and static), its
# predictions compared bit for bit with `iclab predict`, then `make
# uninstall` leaves no file behind. Uses the build the suite already made
# (make install only copies; the directory comes from ICLAB_BIN).
ROOT=$PWD
. tests/lib.sh
BUILD_DIR=$(dirname "$BIN")
BUILD_REL=${BUILD_DIR#"$ROOT"/}
CC=${CC:-cc}
STAGE=$TMP/stage
PFX=/usr/local
mk() { make -s -C "$ROOT" BUILD="$BUILD_REL" DESTDIR="$STAGE" PREFIX=$PFX "$@"; }

check "make install exits 0" "mk install >install.log 2>&1"
L=$STAGE$PFX/lib
for f in bin/iclab lib/libiclab.a lib/libiclab.so.0.1.0 include/iclab/iclab.h include/iclab/capi.h \
         include/iclab/model.h lib/pkgconfig/iclab.pc; do
    check "installed $f" "[ -f '$STAGE$PFX/$f' ]"
done
check "libiclab.so -> libiclab.so.0" "[ \"\$(readlink '$L/libiclab.so')\" = libiclab.so.0 ]"
check "libiclab.so.0 -> libiclab.so.0.1.0" "[ \"\$(readlink '$L/libiclab.so.0')\" = libiclab.so.0.1.0 ]"
readelf -d "$L/libiclab.so.0.1.0" > dyn.txt 2>&1
check "SONAME libiclab.so.0" "grep -q 'SONAME.*\[libiclab.so.0\]' dyn.txt"
for lib in libopenblas libjansson liblapacke libgomp; do
    check "NEEDED $lib" "grep -q 'NEEDED.*\[$lib' dyn.txt"
done
check "exports iclab_model_predict" "nm -D --defined-only '$L/libiclab.so' | grep -q ' T iclab_model_predict$'"
# every header includes only headers that are installed next to it (or the system's)
miss=0
for h in "$STAGE$PFX"/include/iclab/*.h; do
    for inc in $(sed -n 's/^#include "\(.*\)"/\1/p' "$h"); do
        [ -f "$STAGE$PFX/include/iclab/$inc" ] || { echo "$h includes missing $inc"; miss=1; }
    done
done
check "installed headers' includes resolve" "[ $miss = 0 ]"

export PKG_CONFIG_PATH=$L/pkgconfig PKG_CONFIG_SYSROOT_DIR=$STAGE
check "pkg-config finds iclab 0.1.0" "[ \"\$(pkg-config --modversion iclab)\" = 0.1.0 ]"
# a sanitizer build's library needs the sanitizer runtime in the program too
SAN=
grep -q 'NEEDED.*libasan' dyn.txt && SAN="-fsanitize=address,undefined"
cat > prog.c <<'C'
#include <iclab/iclab.h>
#include <iclab/safetensors.h> /* a low-level header: its includes must resolve too */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    /* prog MODEL PROMPTS PRED_FILE SCHEDULE: 0 when our predictions equal the file's bit for bit */
    char eb[512];
    if (strcmp(iclab_version(), ICLAB_VERSION) != 0) { fprintf(stderr, "version %s\n", iclab_version()); return 2; }
    iclab_model *m = iclab_model_load(argv[1], 0, eb, sizeof eb);
    if (!m) { fprintf(stderr, "load: %s\n", eb); return 2; }
    int B, n, d;
    if (iclab_prompts_load(argv[2], &B, &n, &d, NULL, NULL, eb, sizeof eb)) { fprintf(stderr, "%s\n", eb); return 2; }
    float *xs = malloc(sizeof(float) * B * n * d), *ys = malloc(sizeof(float) * B * n), *pred = malloc(sizeof(float) * B * n);
    if (iclab_prompts_load(argv[2], &B, &n, &d, xs, ys, eb, sizeof eb) ||
        iclab_model_predict(m, xs, ys, B, n, d, argv[4], 0, 0, pred, eb, sizeof eb)) { fprintf(stderr, "%s\n", eb); return 2; }
    st_file f; ic_err err;
    if (st_read_file(argv[3], &f, &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
    const st_tensor *t = st_find(&f, "pred");
    float *ref = malloc(sizeof(float) * B * n);
    if (!t || st_read_f32(&f, t, ref, (size_t)B * n, &err)) { fprintf(stderr, "no pred\n"); return 2; }
    printf("pred[0][%d] = %.9g\n", n - 1, pred[n - 1]);
    /* and an error comes back as one line */
    if (iclab_model_load("no/such.safetensors", 0, eb, sizeof eb) || !strstr(eb, "no/such.safetensors")) return 3;
    int same = memcmp(pred, ref, sizeof(float) * B * n) == 0;
    st_free(&f); iclab_model_free(m); free(xs); free(ys); free(pred); free(ref);
    return same ? 0 : 1;
}
C
check "compiles and links against the shared library (pkg-config)" \
    "$CC -std=c11 $SAN prog.c -o prog \$(pkg-config --cflags --libs iclab) >cc.log 2>&1"
check "links the static library (pkg-config --static)" \
    "$CC -std=c11 $SAN prog.c -o prog_static \$(pkg-config --cflags iclab) '$L/libiclab.a' \$(pkg-config --static --libs iclab | sed 's/-liclab//') >cc_static.log 2>&1"
check "prog uses the installed libiclab.so.0" "LD_LIBRARY_PATH='$L' ldd ./prog | grep -q '$L/libiclab.so.0'"
check "prog_static has no libiclab.so" "! ldd ./prog_static | grep -q libiclab"

"$STAGE$PFX/bin/iclab" init --out m.safetensors --n_dims 3 --n_embd 16 --n_layer 3 --n_head 2 --n_positions 9 --seed 4 >/dev/null
"$STAGE$PFX/bin/iclab" make-prompts --out p.safetensors --n_dims 3 --n_points 9 --prompts 5 --seed 2 >/dev/null
for sch in "" "0,1,1,2" "dup(1)"; do
    "$BIN" predict --model m.safetensors --prompts p.safetensors --out pred.safetensors ${sch:+--schedule "$sch"} >/dev/null
    check "shared: same predictions as iclab predict (schedule '$sch')" "LD_LIBRARY_PATH='$L' ./prog m.safetensors p.safetensors pred.safetensors '$sch' >prog.out"
    check "static: same predictions as iclab predict (schedule '$sch')" "./prog_static m.safetensors p.safetensors pred.safetensors '$sch' >/dev/null"
done
# the check can fail: another schedule's predictions differ
"$BIN" predict --model m.safetensors --prompts p.safetensors --out pred.safetensors --schedule 0,1 >/dev/null
LD_LIBRARY_PATH=$L ./prog m.safetensors p.safetensors pred.safetensors "" >/dev/null
check "prog tells different predictions apart (exit 1)" "[ $? = 1 ]"

check "make uninstall exits 0" "mk uninstall >uninstall.log 2>&1"
left=$(find "$STAGE" \( -type f -o -type l \) | head)
check "uninstall leaves no file or link (left: $left)" "[ -z \"$left\" ]"
check "uninstall removes include/iclab" "[ ! -e '$STAGE$PFX/include/iclab' ]"
finish
