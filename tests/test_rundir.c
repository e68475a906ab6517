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
    // real leftovers: ic_write_file_atomic's temp names, today's and an older iclab's
    const char *names[] = {"state.safetensors", "model.safetensors"};
    const char *doomed[] = {".iclab-Ab3xYz.tmp", ".iclab-000000.tmp", "state.safetensors.tmpAb3xYz",
                            "model.safetensors.tmp000000"};
    const char *kept[] = {"state.safetensors", "state.safetensors.tmpAb3xY", "state.safetensors.tmpAb3xYz1",
                          "other.csv.tmpAb3xYz", "state.safetensors.tmp-b3xYz", "xstate.safetensors.tmpAb3xYz",
                          ".iclab-Ab3xY.tmp", ".iclab-Ab3xYz.tmpx", "iclab-Ab3xYz.tmp", ".iclab-Ab3-Yz.tmp"};
    const int nd = 4, nk = 10;
    char p[600];
    for (int i = 0; i < nd; i++) { snprintf(p, sizeof p, "%s/%s", dir, doomed[i]); write_text(p, "12345"); }
    for (int i = 0; i < nk; i++) { snprintf(p, sizeof p, "%s/%s", dir, kept[i]); write_text(p, "x"); }
    int n;
    unsigned long long bytes;
    assert_int_equal(ic_remove_atomic_temps(dir, names, 2, &n, &bytes, &err), 0);
    assert_int_equal(n, nd);
    assert_int_equal(bytes, 5 * nd);
    for (int i = 0; i < nd; i++) { snprintf(p, sizeof p, "%s/%s", dir, doomed[i]); assert_false(ic_file_exists(p)); }
    for (int i = 0; i < nk; i++) { snprintf(p, sizeof p, "%s/%s", dir, kept[i]); assert_true(ic_file_exists(p)); }
    assert_int_equal(ic_remove_atomic_temps(tu_tmp_path("missing"), names, 2, &n, &bytes, &err), -1);
}

static const ic_config CFG = {.n_dims = 4, .n_positions = 6, .n_embd = 8, .n_layer = 2, .n_head = 2};

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
    tu_rewrite_meta(path, path, IC_CHECKSUM_KEY, NULL); /* as a PyTorch-written file would be */
    assert_int_equal(ic_checkpoint_load(path, &l, &s, 0, NULL, 0, &err), 0);
    ic_model_free(&l);
    // a non-finite parameter is refused with its tensor and index, checksum or not
    float *w = ic_model_tensor(&m, IC_P_FC_W, 1);
    w[7] = NAN;
    assert_int_equal(ic_checkpoint_save(path, &m, NULL, NULL, NULL, 0, &err), 0);
    assert_int_equal(ic_checkpoint_load(path, &l, &s, 0, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "_backbone.h.1.mlp.c_fc.weight"));
    assert_non_null(strstr(err.msg, "NaN at index 7"));
    w[7] = 1.0f;
    ic_model_tensor(&m, IC_P_READ_OUT_B, 0)[0] = -INFINITY;
    assert_int_equal(ic_checkpoint_save(path, &m, NULL, NULL, NULL, 0, &err), 0);
    tu_rewrite_meta(path, path, IC_CHECKSUM_KEY, NULL); /* as a PyTorch-written file would be */
    assert_int_equal(ic_checkpoint_load(path, &l, &s, 0, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "'_read_out.bias' holds -inf at index 0"));
    ic_model_free(&m);
}


/* ---------------- training state and run directory ---------------- */

static void tiny_config(ic_run_config *c) {
    ic_err err;
    ic_run_config_default(c);
    const char *kv[][2] = {{"n_dims", "4"},     {"n_positions", "6"}, {"n_points", "6"},   {"n_embd", "16"},
                           {"n_layer", "2"},    {"n_head", "2"},      {"batch_size", "8"}, {"train_steps", "12"},
                           {"learning_rate", "1e-3"}, {"log_every", "1"}, {"save_every", "4"}, {"seed", "7"},
                           {"threads", "1"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) assert_int_equal(ic_run_config_set(c, kv[i][0], kv[i][1], &err), 0);
    assert_int_equal(ic_run_config_validate(c, &err), 0);
}

/* copies src to dst, replacing metadata key's value (NULL: dropping the key)
 * and, if flip_tensor is non-NULL, flipping one bit of that tensor's first byte */
static void rewrite_state(const char *src, const char *dst, const char *key, const char *val, const char *flip_tensor) {
    st_file f;
    ic_err err;
    assert_int_equal(st_read_file(src, &f, &err), 0);
    st_wtensor ts[8];
    assert_true(f.n_tensors <= 8);
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        ts[i] = (st_wtensor){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = f.buf + f.data_start + t->begin};
        memcpy(ts[i].shape, t->shape, sizeof t->shape);
        if (flip_tensor && !strcmp(t->name, flip_tensor)) f.buf[f.data_start + t->begin] ^= 0x01;
    }
    const char *k[16], *v[16];
    int nm = 0, found = 0;
    for (int i = 0; i < f.n_meta; i++) {
        if (key && !strcmp(f.meta_keys[i], key)) {
            found = 1;
            if (!val) continue;
            k[nm] = key;
            v[nm++] = val;
        } else {
            k[nm] = f.meta_keys[i];
            v[nm++] = f.meta_vals[i];
        }
    }
    assert_true(!key || found);
    assert_int_equal(st_write_file(dst, ts, f.n_tensors, k, v, nm, &err), 0);
    st_free(&f);
}

/* the state's iclab_train_state text with its "step"/"adam_step" changed */
static void state_meta_with(const char *path, long step, long adam_step, char *out, size_t len) {
    st_file f;
    ic_err err;
    assert_int_equal(st_read_file(path, &f, &err), 0);
    const char *m = st_meta(&f, "iclab_train_state");
    assert_non_null(m);
    const char *rest = strstr(m, ",\"rng\"");
    assert_non_null(rest);
    snprintf(out, len, "{\"step\":%ld,\"adam_step\":%ld%s", step, adam_step, rest);
    st_free(&f);
}

static int load_into_fresh(const ic_run_config *c, const char *path, ic_err *err) {
    ic_trainer t;
    assert_int_equal(ic_trainer_init(&t, c, err), 0);
    int rc = ic_trainer_load_state(&t, path, err);
    ic_trainer_free(&t);
    return rc;
}

static void test_state_validation(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    ic_trainer t;
    assert_int_equal(ic_trainer_init(&t, &c, &err), 0);
    for (int i = 0; i < 5; i++) assert_int_equal(ic_trainer_step(&t, NULL, &err), 0);
    const char *good = tu_tmp_path("good.safetensors"), *bad = tu_tmp_path("bad.safetensors");
    assert_int_equal(ic_trainer_save_state(&t, good, &err), 0);
    assert_int_equal(load_into_fresh(&c, good, &err), 0);
    char meta[1024];
    // an unknown format version
    rewrite_state(good, bad, "format", "iclab-train-state-9", NULL);
    assert_int_equal(load_into_fresh(&c, bad, &err), -1);
    assert_non_null(strstr(err.msg, "unknown training-state format 'iclab-train-state-9'"));
    // step past the run's train_steps (12), negative, and adam_step != step
    state_meta_with(good, 13, 13, meta, sizeof meta);
    rewrite_state(good, bad, "iclab_train_state", meta, NULL);
    assert_int_equal(load_into_fresh(&c, bad, &err), -1);
    assert_non_null(strstr(err.msg, "step 13 is outside the run's 0..12"));
    state_meta_with(good, -3, -3, meta, sizeof meta);
    rewrite_state(good, bad, "iclab_train_state", meta, NULL);
    assert_int_equal(load_into_fresh(&c, bad, &err), -1);
    assert_non_null(strstr(err.msg, "step -3 is outside"));
    state_meta_with(good, 5, 4, meta, sizeof meta);
    rewrite_state(good, bad, "iclab_train_state", meta, NULL);
    assert_int_equal(load_into_fresh(&c, bad, &err), -1);
    assert_non_null(strstr(err.msg, "adam_step 4 differs from step 5"));
    // one flipped bit in a tensor; the checksums removed from a v2 file
    rewrite_state(good, bad, NULL, NULL, "adam_m");
    assert_int_equal(load_into_fresh(&c, bad, &err), -1);
    assert_non_null(strstr(err.msg, "'adam_m' fails its checksum"));
    rewrite_state(good, bad, IC_CHECKSUM_KEY, NULL, NULL);
    assert_int_equal(load_into_fresh(&c, bad, &err), -1);
    assert_non_null(strstr(err.msg, IC_CHECKSUM_KEY));
    // a version-1 state (before checksums) still loads
    rewrite_state(good, bad, IC_CHECKSUM_KEY, NULL, NULL);
    rewrite_state(bad, bad, "format", "iclab-train-state-1", NULL);
    assert_int_equal(load_into_fresh(&c, bad, &err), 0);
    // the run config it was trained with must be ours but for train_steps, threads, log_every, save_every
    ic_run_config d = c;
    d.learning_rate = 0.5;
    assert_int_equal(load_into_fresh(&d, good, &err), -1);
    assert_non_null(strstr(err.msg, "learning_rate is 0.5 in the run config but 0.001 in the state"));
    d = c;
    snprintf(d.task, sizeof d.task, "noisy_linear_regression");
    assert_int_equal(load_into_fresh(&d, good, &err), -1);
    assert_non_null(strstr(err.msg, "task is \"noisy_linear_regression\""));
    d = c;
    d.batch_size = 4;
    assert_int_equal(load_into_fresh(&d, good, &err), -1);
    assert_non_null(strstr(err.msg, "batch_size is 4"));
    d = c;
    d.train_steps = 100;
    d.threads = 2;
    d.log_every = 3;
    d.save_every = 7;
    assert_int_equal(load_into_fresh(&d, good, &err), 0);
    // a non-finite parameter, even with valid checksums
    t.model.params_mem[17] = NAN;
    assert_int_equal(ic_trainer_save_state(&t, bad, &err), 0);
    assert_int_equal(load_into_fresh(&c, bad, &err), -1);
    assert_non_null(strstr(err.msg, "'params' holds NaN at index 17"));
    ic_trainer_free(&t);
}

typedef struct {
    char lines[16][600];
    int n;
} captured;

static void capture(void *ctx, const char *line) {
    captured *c = ctx;
    if (c->n < 16) snprintf(c->lines[c->n++], sizeof c->lines[0], "%s", line);
}

static int captured_has(const captured *c, const char *needle) {
    for (int i = 0; i < c->n; i++)
        if (strstr(c->lines[i], needle)) return 1;
    return 0;
}

static void read_whole(const char *path, char **text) {
    ic_err err;
    assert_int_equal(ic_read_file(path, text, NULL, 1 << 24, &err), 0);
}

static void file_path(char *buf, size_t len, const char *dir, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

static void assert_same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    ic_err err;
    assert_int_equal(ic_read_file(a, &x, &nx, 1 << 26, &err), 0);
    assert_int_equal(ic_read_file(b, &y, &ny, 1 << 26, &err), 0);
    assert_int_equal(nx, ny);
    assert_memory_equal(x, y, nx);
    free(x);
    free(y);
}

static void test_run_directory_rules(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    ic_train_result r;
    char p[600], q[600];
    const char *ref = tu_tmp_path("ref");
    assert_int_equal(ic_train_run(ref, &c, 0, NULL, &r, &err), 0);
    assert_int_equal(r.start_step, 0);
    assert_int_equal(r.step, 12);
    file_path(p, sizeof p, ref, "iclab.lock");
    assert_false(ic_file_exists(p)); // released

    // a finished run: resuming trains nothing, says so through start_step, reports the last loss
    assert_int_equal(ic_train_run(ref, NULL, 1, NULL, &r, &err), 0);
    assert_int_equal(r.start_step, 12);
    assert_int_equal(r.step, 12);
    assert_true(isfinite(r.final_loss) && r.final_loss > 0);
    // ... and one past the requested train_steps is an error that changes nothing
    ic_run_config d = c;
    d.train_steps = 5;
    assert_int_equal(ic_train_run(ref, &d, 1, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "at step 12, past train_steps 5"));
    // a cfg differing from config.json in a key that may not change
    d = c;
    d.learning_rate = 0.01;
    assert_int_equal(ic_train_run(ref, &d, 1, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "learning_rate is 0.01 here but 0.001 in"));
    // a locked directory
    ic_dir_lock lk;
    assert_int_equal(ic_dir_lock_acquire(&lk, ref, "iclab.lock", &err), 0);
    assert_int_equal(ic_train_run(ref, NULL, 1, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "is locked by pid"));
    ic_dir_lock_release(&lk);

    // --out refuses a directory holding any run file, even without a state
    const char *only_metrics = tu_tmp_path("only_metrics");
    assert_int_equal(ic_mkdirs(only_metrics, &err), 0);
    file_path(p, sizeof p, only_metrics, "metrics.csv");
    write_text(p, "step,loss\n");
    assert_int_equal(ic_train_run(only_metrics, &c, 0, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "already holds a run (metrics.csv)"));
    // a finished run whose state was deleted: neither overwritten nor restarted
    const char *nostate = tu_tmp_path("nostate");
    assert_int_equal(ic_train_run(nostate, &c, 0, NULL, &r, &err), 0);
    file_path(p, sizeof p, nostate, "state.safetensors");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(ic_train_run(nostate, &c, 0, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "already holds a run"));
    assert_int_equal(ic_train_run(nostate, NULL, 1, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "no state.safetensors but holds a trained model"));

    // killed after config.json, before the first state: resumes from step 0, identical to ref
    const char *cfg_only = tu_tmp_path("cfg_only");
    assert_int_equal(ic_mkdirs(cfg_only, &err), 0);
    file_path(p, sizeof p, ref, "config.json");
    file_path(q, sizeof q, cfg_only, "config.json");
    char *text;
    read_whole(p, &text);
    write_text(q, text);
    free(text);
    file_path(q, sizeof q, cfg_only, "state.safetensors.tmpAbCdEf"); // a killed writer's leftover
    write_text(q, "partial");
    captured cap = {.n = 0};
    ic_train_hooks h = {.message = capture, .ctx = &cap};
    assert_int_equal(ic_train_run(cfg_only, NULL, 1, &h, &r, &err), 0);
    assert_int_equal(r.step, 12);
    assert_true(captured_has(&cap, "removed 1 temporary file"));
    assert_true(captured_has(&cap, "starting it from step 0"));
    assert_false(ic_file_exists(q));
    file_path(p, sizeof p, ref, "model.safetensors");
    file_path(q, sizeof q, cfg_only, "model.safetensors");
    assert_same_file(p, q);

    // config.json lost (an older iclab wrote it after the state): restored from the state
    const char *nocfg = tu_tmp_path("nocfg");
    h.stop_after = 5;
    assert_int_equal(ic_train_run(nocfg, &c, 0, &h, &r, &err), 0);
    assert_int_equal(r.outcome, IC_TRAIN_STOPPED);
    file_path(p, sizeof p, nocfg, "config.json");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(ic_train_dir_config(nocfg, &d, &err), 0);
    assert_int_equal(d.batch_size, 8);
    cap.n = 0;
    h.stop_after = 0;
    assert_int_equal(ic_train_run(nocfg, NULL, 1, &h, &r, &err), 0);
    assert_true(captured_has(&cap, "config.json was missing; restored it"));
    assert_true(ic_file_exists(p));
    file_path(p, sizeof p, ref, "model.safetensors");
    file_path(q, sizeof q, nocfg, "model.safetensors");
    assert_same_file(p, q);

    // an empty or missing directory has nothing to resume
    const char *empty = tu_tmp_path("empty");
    assert_int_equal(ic_mkdirs(empty, &err), 0);
    assert_int_equal(ic_train_dir_config(empty, &d, &err), -1);
    assert_non_null(strstr(err.msg, "holds no run to resume"));
    assert_int_equal(ic_train_run(empty, NULL, 1, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "holds no run to resume"));
    assert_int_equal(ic_train_dir_config(tu_tmp_path("missing"), &d, &err), -1);
    assert_non_null(strstr(err.msg, "does not exist"));
}

static void test_metrics_rows_validated_on_resume(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    ic_train_result r;
    const char *ref = tu_tmp_path("mref"), *dir = tu_tmp_path("mcut");
    assert_int_equal(ic_train_run(ref, &c, 0, NULL, &r, &err), 0);
    ic_train_hooks h = {.stop_after = 6};
    assert_int_equal(ic_train_run(dir, &c, 0, &h, &r, &err), 0); // checkpoint at 6
    char p[600], *text;
    file_path(p, sizeof p, dir, "metrics.csv");
    read_whole(p, &text);
    // damage: a half row merged into the next (a failed write), a duplicate step, garbage, a torn tail
    char *row3 = strstr(text, "\n3,") + 1, *row4 = strstr(text, "\n4,") + 1;
    size_t keep = (size_t)(row3 - text);
    char *bad = malloc(strlen(text) + 512);
    memcpy(bad, text, keep);
    bad[keep] = 0;
    strncat(bad, row3, 9); // "3,<part of the loss>" then row 4 glued on
    strcat(bad, row4);
    strcat(bad, "2,1,1,1,1,1,5,6,1,0.1\n"); // step going back
    strcat(bad, "not a row\n");
    strcat(bad, "7,0.5,0.5");  // torn last row
    write_text(p, bad);
    free(bad);
    free(text);
    captured cap = {.n = 0};
    h = (ic_train_hooks){.message = capture, .ctx = &cap};
    assert_int_equal(ic_train_run(dir, NULL, 1, &h, &r, &err), 0);
    assert_true(captured_has(&cap, "dropped 4 malformed or out-of-order rows"));
    // every row has 10 fields and the steps are 1..12 but for 3 and 4 (the merged row; before the checkpoint)
    read_whole(p, &text);
    long want = 1, rows = 0;
    for (char *line = strtok(strchr(text, '\n') + 1, "\n"); line; line = strtok(NULL, "\n")) {
        int commas = 0;
        for (char *q = line; *q; q++) commas += *q == ',';
        assert_int_equal(commas, 9);
        if (want == 3) want += 2;
        assert_int_equal(atol(line), want);
        want++;
        rows++;
    }
    assert_int_equal(rows, 10);
    free(text);
    char q[600];
    file_path(p, sizeof p, ref, "model.safetensors");
    file_path(q, sizeof q, dir, "model.safetensors");
    assert_same_file(p, q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_dir_lock),
        cmocka_unit_test(test_remove_atomic_temps),
        cmocka_unit_test(test_checkpoint_checksums_and_finite),
        cmocka_unit_test(test_state_validation),
        cmocka_unit_test(test_run_directory_rules),
        cmocka_unit_test(test_metrics_rows_validated_on_resume),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
