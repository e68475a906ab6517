/* test_rundir.c: what makes a run directory trustworthy — the directory lock,
 * removal of killed writers' temporary files, per-tensor checksums and the
 * finite-value check of checkpoints, validation of a training state on
 * resume (format, ranges, run config), metrics.csv write failures and
 * malformed rows, and the transaction order of a new run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fsutil.h"
#include "safetensors.h"
#include "testutil.h"
#include "train.h"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* flips one bit of byte `off` from the end of the file */
static void flip_bit_from_end(const char *path, long off) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -off, SEEK_END), 0);
    int c = fgetc(f);
    assert_true(c != EOF);
    assert_int_equal(fseek(f, -off, SEEK_END), 0);
    fputc(c ^ 0x10, f);
    assert_int_equal(fclose(f), 0);
}

static void test_crc32(void **st) {
    (void)st;
    assert_int_equal(ic_crc32(0, "123456789", 9), 0xCBF43926ul); // the standard check value
    assert_int_equal(ic_crc32(0, "", 0), 0);
    // continuing a CRC over a split equals one pass (slicing-by-8 vs the byte tail)
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 37 + 11);
    for (int cut = 0; cut <= 1000; cut += 111)
        assert_int_equal(ic_crc32(ic_crc32(0, buf, (size_t)cut), buf + cut, (size_t)(1000 - cut)), ic_crc32(0, buf, 1000));
    assert_int_equal(ic_crc32(0, buf, 1000), 0xc3905a1dul); // Python: zlib.crc32(bytes((i*37+11)&255 for i in range(1000)))
}

static void test_dir_lock(void **st) {
    (void)st;
    ic_err err;
    const char *dir = tu_tmp_path("lockdir");
    assert_int_equal(ic_mkdirs(dir, &err), 0);
    ic_dir_lock a, b;
    assert_int_equal(ic_dir_lock_acquire(&a, dir, "iclab.lock", &err), 0);
    char path[600], *text;
    snprintf(path, sizeof path, "%s/iclab.lock", dir);
    assert_int_equal(ic_read_file(path, &text, NULL, 4096, &err), 0);
    char want[64];
    snprintf(want, sizeof want, "pid %ld\n", (long)getpid());
    assert_non_null(strstr(text, want)); // names its holder
    assert_non_null(strstr(text, "host "));
    free(text);
    // a second holder (another open file description: flock conflicts even in one process)
    assert_int_equal(ic_dir_lock_acquire(&b, dir, "iclab.lock", &err), -1);
    snprintf(want, sizeof want, "locked by pid %ld on host ", (long)getpid());
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "wait for it"));
    ic_dir_lock_release(&a);
    assert_false(ic_file_exists(path)); // released: the file is gone
    ic_dir_lock_release(&a);            // twice is harmless
    // a lock file left by a dead process (not locked by anyone) does not block
    write_text(path, "pid 999999999\nhost elsewhere\n");
    assert_int_equal(ic_dir_lock_acquire(&b, dir, "iclab.lock", &err), 0);
    ic_dir_lock_release(&b);
    // no such directory
    assert_int_equal(ic_dir_lock_acquire(&b, tu_tmp_path("no/such/dir"), "iclab.lock", &err), -1);
    assert_non_null(strstr(err.msg, "lock"));
}

static void test_remove_atomic_temps(void **st) {
    (void)st;
    ic_err err;
    const char *dir = tu_tmp_path("temps");
    assert_int_equal(ic_mkdirs(dir, &err), 0);
    // a real leftover: ic_write_file_atomic's own temp name
    const char *names[] = {"state.safetensors", "model.safetensors"};
    const char *doomed[] = {"state.safetensors.tmpAb3xYz", "model.safetensors.tmp000000"};
    const char *kept[] = {"state.safetensors", "state.safetensors.tmpAb3xY", "state.safetensors.tmpAb3xYz1",
                          "other.csv.tmpAb3xYz", "state.safetensors.tmp-b3xYz", "xstate.safetensors.tmpAb3xYz"};
    char p[600];
    for (int i = 0; i < 2; i++) { snprintf(p, sizeof p, "%s/%s", dir, doomed[i]); write_text(p, "12345"); }
    for (int i = 0; i < 6; i++) { snprintf(p, sizeof p, "%s/%s", dir, kept[i]); write_text(p, "x"); }
    int n;
    unsigned long long bytes;
    assert_int_equal(ic_remove_atomic_temps(dir, names, 2, &n, &bytes, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(bytes, 10);
    for (int i = 0; i < 2; i++) { snprintf(p, sizeof p, "%s/%s", dir, doomed[i]); assert_false(ic_file_exists(p)); }
    for (int i = 0; i < 6; i++) { snprintf(p, sizeof p, "%s/%s", dir, kept[i]); assert_true(ic_file_exists(p)); }
    assert_int_equal(ic_remove_atomic_temps(tu_tmp_path("missing"), names, 2, &n, &bytes, &err), -1);
}

static const ic_config CFG = {.n_dims = 4, .n_positions = 6, .n_embd = 8, .n_layer = 2, .n_head = 2};

/* rewrites path without the checksum metadata (as a PyTorch-written file would be) */
static void strip_checksums(const char *path) {
    st_file f;
    ic_err err;
    assert_int_equal(st_read_file(path, &f, &err), 0);
    st_wtensor *ts = calloc((size_t)f.n_tensors, sizeof *ts);
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        ts[i].name = t->name;
        ts[i].dtype = t->dtype;
        ts[i].ndim = t->ndim;
        memcpy(ts[i].shape, t->shape, sizeof t->shape);
        ts[i].data = f.buf + f.data_start + t->begin;
    }
    const char *k[16], *v[16];
    int nm = 0;
    for (int i = 0; i < f.n_meta; i++)
        if (strcmp(f.meta_keys[i], IC_CHECKSUM_KEY) != 0) { k[nm] = f.meta_keys[i]; v[nm++] = f.meta_vals[i]; }
    assert_int_equal(st_write_file(path, ts, f.n_tensors, k, v, nm, &err), 0);
    free(ts);
    st_free(&f);
}

static void test_checkpoint_checksums_and_finite(void **st) {
    (void)st;
    ic_model m, l;
    ic_schedule s;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &CFG, &err), 0);
    ic_model_init_weights(&m, 5);
    const char *path = tu_tmp_path("ck.safetensors");
    assert_int_equal(ic_checkpoint_save(path, &m, NULL, NULL, NULL, 0, &err), 0);
    st_file f;
    assert_int_equal(st_read_file(path, &f, &err), 0);
    assert_non_null(st_meta(&f, IC_CHECKSUM_KEY));
    assert_int_equal(ic_checksums_verify(&f, 1, &err), 0);
    st_free(&f);
    assert_int_equal(ic_checkpoint_load(path, &l, &s, 0, NULL, 0, &err), 0);
    ic_model_free(&l);
    // one flipped bit in the last tensor's data (_read_out.bias, the file's last 4 bytes)
    flip_bit_from_end(path, 2);
    assert_int_equal(ic_checkpoint_load(path, &l, &s, 0, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "_read_out.bias"));
    assert_non_null(strstr(err.msg, "checksum"));
    assert_non_null(strstr(err.msg, path));
    // without checksums (a PyTorch-written file) it still loads
    flip_bit_from_end(path, 2);
    strip_checksums(path);
    assert_int_equal(ic_checkpoint_load(path, &l, &s, 0, NULL, 0, &err), 0);
    ic_model_free(&l);
    // a non-finite parameter is refused with its tensor and index, checksum or not
    float *w = ic_model_tensor(&m, 0, IC_P_FC_W, 1);
    w[7] = NAN;
    assert_int_equal(ic_checkpoint_save(path, &m, NULL, NULL, NULL, 0, &err), 0);
    assert_int_equal(ic_checkpoint_load(path, &l, &s, 0, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "_backbone.h.1.mlp.c_fc.weight"));
    assert_non_null(strstr(err.msg, "NaN at index 7"));
    w[7] = 1.0f;
    ic_model_tensor(&m, 0, IC_P_READ_OUT_B, 0)[0] = -INFINITY;
    assert_int_equal(ic_checkpoint_save(path, &m, NULL, NULL, NULL, 0, &err), 0);
    strip_checksums(path);
    assert_int_equal(ic_checkpoint_load(path, &l, &s, 0, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "'_read_out.bias' holds -inf at index 0"));
    ic_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_dir_lock),
        cmocka_unit_test(test_remove_atomic_temps),
        cmocka_unit_test(test_checkpoint_checksums_and_finite),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
