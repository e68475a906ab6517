/* train.c: the training step, resumable state and run directories (train.h). */
#include "train.h"

#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fsutil.h"
#include "numout.h"
#include "ops.h"
#include "page.h"
#include "plot.h"
#include "safetensors.h"

/* ---------------- schedules of values ---------------- */

int ic_curriculum_value(int start, int end, int inc, int interval, long step) {
    if (start <= 0 || start >= end) return end;
    if (interval < 1) interval = 1;
    long v = (long)start + (long)inc * (step / interval);
    return v < end ? (int)v : end;
}

double ic_lr_at(const ic_run_config *c, long step) {
    double lr = c->learning_rate;
    if (c->warmup_steps > 0 && step < c->warmup_steps) return lr * (double)(step + 1) / (double)c->warmup_steps;
    if (strcmp(c->lr_schedule, "cosine") == 0) {
        long span = c->train_steps - c->warmup_steps;
        double p = span > 0 ? (double)(step - c->warmup_steps) / (double)span : 1.0;
        if (p > 1.0) p = 1.0;
        double lo = lr * c->min_lr_ratio;
        return lo + 0.5 * (lr - lo) * (1.0 + cos(M_PI * p));
    }
    return lr;
}

double ic_clip_grad_norm(float *g, size_t n, double max_norm) {
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        float s = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++) g[i] *= s;
    }
    return norm;
}

double ic_linear_optimum(int d, int n) {
    double s = 0.0;
    for (int k = 0; k < n; k++) s += d - k > 0 ? d - k : 0;
    return n > 0 ? s / n : 0.0;
}

/* ---------------- the trainer ---------------- */

static uint64_t data_seed_of(const ic_run_config *c) {
    /* derived so that changing only seed changes the data too, but the model
     * init and data streams never coincide */
    return c->data_seed ? c->data_seed : c->seed * 0x9E3779B97F4A7C15ULL + 0x5EEDDA7AULL;
}

int ic_trainer_init(ic_trainer *t, const ic_run_config *cfg, ic_err *err) {
    ic_cpu cpu;
    ic_cpu_detect(&cpu);
    return ic_trainer_init_cpu(t, cfg, &cpu, err);
}

int ic_trainer_init_cpu(ic_trainer *t, const ic_run_config *cfg, const ic_cpu *cpu, ic_err *err) {
    memset(t, 0, sizeof *t);
    if (ic_run_config_validate(cfg, err)) return -1;
    /* before anything is allocated or written: a config that cannot fit is refused */
    if (ic_run_config_check_memory(cfg, ic_default_shards(), err)) return -1;
    t->cfg = *cfg;
    if (ic_run_config_task(cfg, cfg->model.n_dims, &t->task, NULL, err)) return -1;
    if (ic_run_config_schedule(cfg, &t->sched, err)) return -1;
    if (ic_model_create(&t->model, &cfg->model, err)) return -1;
    ic_model_init_weights(&t->model, cfg->seed);
    if (ic_adam_create(&t->opt, t->model.num_params, err) || ic_grads_create(&t->grads, &t->model, err)) goto fail;
    t->opt.weight_decay = strcmp(cfg->optimizer, "adamw") == 0 ? cfg->weight_decay : 0.0;
    ic_precision prec = IC_PREC_FP32;
    if (ic_precision_parse(cfg->precision, &prec) || ic_precision_check(prec, cpu, err)) goto fail;
    ic_gemm_set_precision(&t->ws.gemm, prec); /* the shards take it from here (ic_model_train_pass) */
    ic_rng_seed(&t->data_rng, data_seed_of(cfg));
    t->comm = ic_comm_single();
    size_t B = (size_t)cfg->batch_size, n = (size_t)cfg->n_points, d = (size_t)cfg->model.n_dims;
    t->xs = malloc(sizeof(float) * B * n * d);
    t->ys = malloc(sizeof(float) * B * n);
    if (!t->xs || !t->ys) { ic_errf(err, "out of memory for a batch of prompts"); goto fail; }
    return 0;
fail:
    ic_trainer_free(t);
    return -1;
}

void ic_trainer_free(ic_trainer *t) {
    ic_shards_free(&t->shards);
    ic_workspace_free(&t->ws);
    ic_grads_free(&t->grads);
    ic_model_free(&t->model);
    ic_adam_free(&t->opt);
    free(t->xs);
    free(t->ys);
    memset(t, 0, sizeof *t);
}

/* ---- data-parallel pieces of the step (comm.h) ---- */

static uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t ic_trainer_prompt_seed(const ic_run_config *cfg, long step, int b) {
    return mix64(mix64(data_seed_of(cfg) ^ mix64((uint64_t)step + 0x243F6A8885A308D3ULL)) + (uint64_t)b);
}

/* This rank's prompts of the step into t->xs/ys at their place in the batch
 * ([B,n,n_dims] for this step's n; d active dimensions): per_prompt draws only prompts b0..b0+nb-1,
 * each from its own generator; stream draws the whole batch from data_rng
 * (every rank, so the stream's state stays the same on all). */
static int sample_prompts(ic_trainer *t, long step, int B, int b0, int nb, int n, int d, ic_err *err) {
    if (strcmp(t->cfg.data_scheme, "stream") == 0)
        return ic_task_sample(&t->task, &t->data_rng, B, n, d, t->xs, t->ys, NULL, err);
    const size_t D = (size_t)t->cfg.model.n_dims;
    for (int b = b0; b < b0 + nb; b++) {
        ic_rng r;
        ic_rng_seed(&r, ic_trainer_prompt_seed(&t->cfg, step, b));
        if (ic_task_sample(&t->task, &r, 1, n, d, t->xs + (size_t)b * n * D, t->ys + (size_t)b * n, NULL, err))
            return -1;
    }
    return 0;
}

/* The batch's mean gradient and loss from each rank's mean over its nb of
 * B prompts: sum_r (B_r / B) g_r, summed over the ranks in place. */
static int allreduce_step(ic_trainer *t, int nb, int B, double *loss, ic_err *err) {
    const ic_comm *cm = t->comm;
    if (cm->size == 1) return 0;
    const double w = cm->test_equal_weights ? 1.0 / cm->size : (double)nb / B;
    const float wf = (float)w;
    float *g = t->grads.mem;
    for (size_t i = 0; i < t->model.num_params; i++) g[i] *= wf;
    double l = *loss * w;
    if (cm->allreduce_f32(cm, g, t->model.num_params, err) || cm->allreduce_f64(cm, &l, 1, err)) return -1;
    *loss = l;
    return 0;
}

int ic_trainer_check_replicas(const ic_trainer *t, ic_err *err) {
    const ic_comm *cm = t->comm;
    if (cm->size == 1) return 0;
    uint64_t *all = malloc(sizeof *all * (size_t)cm->size);
    if (!all) return ic_errf(err, "out of memory");
    int rc = cm->allgather_u64(cm, ic_comm_digest_f32(t->model.params_mem, t->model.num_params), all, err);
    for (int r = 1; rc == 0 && r < cm->size; r++)
        if (all[r] != all[0])
            rc = ic_errf(err, "parameters differ between ranks after step %ld (rank %d's checksum %016llx, rank 0's "
                         "%016llx): the replicas diverged (a reduction that is not the same on every rank, or a "
                         "faulty node)", t->step, r, (unsigned long long)all[r], (unsigned long long)all[0]);
    free(all);
    return rc;
}

int ic_trainer_step_loops(const ic_run_config *c, long step) {
    const int max = ic_curriculum_value(c->curriculum_loops_start, c->loops, c->curriculum_loops_inc,
                                        c->curriculum_loops_interval, step);
    if (strcmp(c->loops_sampling, "poisson") != 0) return max;
    // 1 + Poisson(loops_mean - 1): count the arrivals of a unit-rate Poisson process (Exp(1) gaps)
    // up to time loops_mean - 1, stopping at the truncation; exact for any mean, no exp() underflow
    ic_rng r;
    ic_rng_seed(&r, mix64(data_seed_of(c) ^ mix64((uint64_t)step + 0x13198A2E03707344ULL)));
    const double lambda = c->loops_mean - 1.0;
    int L = 1;
    double time = -log(1.0 - ic_rng_uniform(&r));
    while (time <= lambda && L < max) {
        L++;
        time += -log(1.0 - ic_rng_uniform(&r));
    }
    return L;
}

int ic_trainer_step(ic_trainer *t, ic_step_stats *st, ic_err *err) {
    const ic_run_config *c = &t->cfg;
    const long step = t->step;
    const int d = ic_curriculum_value(c->curriculum_dims_start, c->model.n_dims, c->curriculum_dims_inc,
                                      c->curriculum_dims_interval, step);
    const int n = ic_curriculum_value(c->curriculum_points_start, c->n_points, c->curriculum_points_inc,
                                      c->curriculum_points_interval, step);
    const int loops = ic_trainer_step_loops(c, step);
    const int B = c->batch_size;
    int b0, nb; /* this rank's slice of the batch (all of it alone) */
    ic_comm_slice(B, t->comm->size, t->comm->rank, &b0, &nb);
    if (nb < 1) return ic_errf(err, "batch_size %d is smaller than the %d ranks", B, t->comm->size);
    if (sample_prompts(t, step, B, b0, nb, n, d, err)) return -1;
    t->sched.loops = loops;
    t->sched.loss_loops = c->loss_loops < loops ? c->loss_loops : loops;
    t->sched.grad_loops = c->grad_loops < loops ? c->grad_loops : loops; /* 0 stays 0 (= loss_loops) */
    ic_grads_zero(&t->grads);
    if (ic_model_train_pass(&t->model, &t->grads, &t->ws, &t->shards, ic_default_shards(), &t->sched,
                            t->xs + (size_t)b0 * n * c->model.n_dims, t->ys + (size_t)b0 * n, nb, n, err))
        return -1;
    double loss = t->ws.loss;
    if (allreduce_step(t, nb, B, &loss, err)) return -1; /* data-parallel: the batch's gradient and loss */
    if (!isfinite(loss)) return ic_errf(err, "loss is %s at step %ld", isnan(loss) ? "NaN" : "infinite", step + 1);
    const double gnorm = ic_clip_grad_norm(t->grads.mem, t->model.num_params, c->grad_clip);
    if (!isfinite(gnorm)) return ic_errf(err, "gradient norm is not finite at step %ld", step + 1);
    const double lr = ic_lr_at(c, step);
    ic_adam_update(&t->opt, t->model.params_mem, t->grads.mem, lr);
    t->step++;
    if (st) {
        st->step = t->step;
        st->loss = loss;
        double opt = ic_linear_optimum(d, n);
        st->excess_loss = opt > 0 ? loss / opt : NAN;
        st->lr = lr;
        st->grad_norm = gnorm;
        st->n_dims = d;
        st->n_points = n;
        st->loops = loops;
    }
    return 0;
}

/* ---------------- resume state ---------------- */

#define STATE_FORMAT "iclab-train-state-2"        /* 2: per-tensor checksums (IC_CHECKSUM_KEY) */
#define STATE_FORMAT_V1 "iclab-train-state-1"     /* read: written before checksums */

int ic_run_config_may_change(const char *key) {
    return !strcmp(key, "train_steps") || !strcmp(key, "threads") || !strcmp(key, "log_every") ||
           !strcmp(key, "save_every") || !strcmp(key, "checksum_every") || !strcmp(key, "mpi_ranks") ||
           !strcmp(key, "checkpoint_dtype"); /* the model file's format only: the state stays fp32 */
}

static int json_value_equal(json_t *x, json_t *y) {
    if (json_is_integer(x) && json_is_integer(y)) return json_integer_value(x) == json_integer_value(y);
    if (json_is_number(x) && json_is_number(y)) return json_number_value(x) == json_number_value(y);
    return json_equal(x, y);
}

/* First key that may not change and differs between the config objects oa
 * and ob (a key ob lacks counts as def's value, so records from before a key
 * existed still compare; a key only ob has differs). */
static int json_config_diff(json_t *oa, json_t *ob, json_t *def, char *key, size_t key_len, char *va, char *vb,
                            size_t val_len) {
    const char *k;
    json_t *x;
    json_object_foreach(oa, k, x) {
        json_t *y = json_object_get(ob, k);
        if (!y) y = json_object_get(def, k);
        if (ic_run_config_may_change(k) || (y && json_value_equal(x, y))) continue;
        char *sx = json_dumps(x, JSON_ENCODE_ANY), *sy = y ? json_dumps(y, JSON_ENCODE_ANY) : NULL;
        snprintf(key, key_len, "%s", k);
        snprintf(va, val_len, "%s", sx ? sx : "?");
        snprintf(vb, val_len, "%s", sy ? sy : "(absent)");
        free(sx);
        free(sy);
        return 1;
    }
    json_object_foreach(ob, k, x) {
        if (json_object_get(oa, k)) continue;
        char *sx = json_dumps(x, JSON_ENCODE_ANY);
        snprintf(key, key_len, "%s", k);
        snprintf(va, val_len, "(no such key)");
        snprintf(vb, val_len, "%s", sx ? sx : "?");
        free(sx);
        return 1;
    }
    return 0;
}

int ic_run_config_diff(const ic_run_config *a, const ic_run_config *b, char *key, size_t key_len, char *va,
                       char *vb, size_t val_len) {
    json_t *oa = ic_run_config_json(a), *ob = ic_run_config_json(b);
    int differs = oa && ob ? json_config_diff(oa, ob, ob, key, key_len, va, vb, val_len) : -1;
    json_decref(oa);
    json_decref(ob);
    return differs;
}

int ic_trainer_save_state(const ic_trainer *t, const char *path, ic_err *err) {
    const int64_t n = (int64_t)t->model.num_params;
    st_wtensor ts[3] = {
        {.name = "params", .dtype = ST_F32, .ndim = 1, .shape = {n}, .data = t->model.params_mem},
        {.name = "adam_m", .dtype = ST_F32, .ndim = 1, .shape = {n}, .data = t->opt.m},
        {.name = "adam_v", .dtype = ST_F32, .ndim = 1, .shape = {n}, .data = t->opt.v},
    };
    uint64_t spare_bits;
    memcpy(&spare_bits, &t->data_rng.spare, sizeof spare_bits);
    char state[512];
    snprintf(state, sizeof state,
             "{\"step\":%ld,\"adam_step\":%ld,\"rng\":[\"%016" PRIx64 "\",\"%016" PRIx64 "\",\"%016" PRIx64
             "\",\"%016" PRIx64 "\"],\"rng_spare\":\"%016" PRIx64 "\",\"rng_has_spare\":%d}",
             t->step, t->opt.step, t->data_rng.s[0], t->data_rng.s[1], t->data_rng.s[2], t->data_rng.s[3],
             spare_bits, t->data_rng.has_spare);
    char *cfg = ic_run_config_to_json(&t->cfg), *crc = ic_checksums_json(ts, 3);
    if (!cfg || !crc) {
        free(cfg);
        free(crc);
        return ic_errf(err, "out of memory");
    }
    const char *keys[] = {"format", "iclab_train_state", "iclab_run_config", IC_CHECKSUM_KEY};
    const char *vals[] = {STATE_FORMAT, state, cfg, crc};
    int rc = st_write_file(path, ts, 3, keys, vals, 4, err);
    free(cfg);
    free(crc);
    return rc;
}

static int hex64(json_t *v, uint64_t *out) {
    const char *s = json_string_value(v);
    if (!s || strlen(s) != 16) return -1;
    char *end;
    *out = strtoull(s, &end, 16);
    return *end ? -1 : 0;
}

/* The run config recorded in a state file (the defaults overlaid with it). */
static int state_run_config(const st_file *f, const char *path, ic_run_config *rc_out, ic_err *err) {
    const char *j = st_meta(f, "iclab_run_config");
    if (!j) return ic_errf(err, "%s: no 'iclab_run_config' metadata (the run config it was trained with)", path);
    ic_run_config_legacy(rc_out); /* a key it lacks: what it was trained with then */
    if (ic_run_config_load_json(rc_out, j, "its 'iclab_run_config' metadata", err)) return ic_err_prefix(err, "%s", path);
    if (ic_run_config_validate(rc_out, err)) return ic_err_prefix(err, "%s: its 'iclab_run_config' metadata", path);
    return 0;
}

int ic_trainer_load_state(ic_trainer *t, const char *path, ic_err *err) {
    st_file f;
    if (st_read_file(path, &f, err)) return -1;
    int rc = -1;
    json_t *o = NULL, *saved = NULL, *ours = NULL, *def = NULL;
    ic_run_config *defaults = malloc(sizeof *defaults);
    if (!defaults) { ic_errf(err, "out of memory"); goto done; }
    const char *fmt = st_meta(&f, "format");
    const char *meta = st_meta(&f, "iclab_train_state");
    if (!meta || !fmt) { ic_errf(err, "%s: not an iclab training state (no iclab_train_state metadata)", path); goto done; }
    const int v1 = strcmp(fmt, STATE_FORMAT_V1) == 0;
    if (!v1 && strcmp(fmt, STATE_FORMAT) != 0) {
        ic_errf(err, "%s: unknown training-state format '%.40s' (this iclab reads %s and %s); written by a newer iclab?",
                path, fmt, STATE_FORMAT_V1, STATE_FORMAT);
        goto done;
    }
    if (ic_checksums_verify(&f, !v1, err)) { ic_err_prefix(err, "%s", path); goto done; }
    o = json_loads(meta, JSON_REJECT_DUPLICATES, NULL);
    json_t *rng = json_object_get(o, "rng");
    json_t *step = json_object_get(o, "step"), *astep = json_object_get(o, "adam_step");
    json_t *has_spare = json_object_get(o, "rng_has_spare");
    uint64_t s[4], spare;
    if (!json_is_object(o) || !json_is_integer(step) || !json_is_integer(astep) || json_array_size(rng) != 4 ||
        hex64(json_array_get(rng, 0), &s[0]) || hex64(json_array_get(rng, 1), &s[1]) ||
        hex64(json_array_get(rng, 2), &s[2]) || hex64(json_array_get(rng, 3), &s[3]) ||
        hex64(json_object_get(o, "rng_spare"), &spare) || !json_is_integer(has_spare)) {
        ic_errf(err, "%s: malformed iclab_train_state metadata", path);
        goto done;
    }
    /* what it was trained with: everything but the keys that may change must be ours */
    const char *saved_text = st_meta(&f, "iclab_run_config");
    saved = saved_text ? json_loads(saved_text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *saved_steps = json_object_get(saved, "train_steps");
    if (!json_is_object(saved) || !json_is_integer(saved_steps)) {
        ic_errf(err, "%s: %s 'iclab_run_config' metadata (the run config it was trained with)", path,
                saved_text ? "malformed" : "no");
        goto done;
    }
    ours = ic_run_config_json(&t->cfg);
    ic_run_config_legacy(defaults); /* a key the state lacks: what it was trained with then */
    def = ic_run_config_json(defaults);
    if (!ours || !def) { ic_errf(err, "out of memory"); goto done; }
    char key[64], va[256], vb[256];
    if (json_config_diff(ours, saved, def, key, sizeof key, va, vb, sizeof va)) {
        ic_errf(err, "%s: %s is %s in the run config but %s in the state, which was trained with it (config.json "
                "edited?); only train_steps, threads, log_every, save_every, checksum_every, checkpoint_dtype and mpi_ranks may change when resuming",
                path, key, va, vb);
        goto done;
    }
    const json_int_t st_step = json_integer_value(step), st_astep = json_integer_value(astep);
    const json_int_t saved_total = json_integer_value(saved_steps);
    if (st_step < 0 || st_step > saved_total) {
        ic_errf(err, "%s: step %lld is outside the run's 0..%lld (its train_steps): the state is corrupted", path,
                (long long)st_step, (long long)saved_total);
        goto done;
    }
    if (st_astep != st_step) {
        ic_errf(err, "%s: adam_step %lld differs from step %lld (one optimiser update per step): the state is corrupted",
                path, (long long)st_astep, (long long)st_step);
        goto done;
    }
    const json_int_t hs = json_integer_value(has_spare);
    if ((hs != 0 && hs != 1) || (s[0] | s[1] | s[2] | s[3]) == 0) {
        ic_errf(err, "%s: the prompt RNG state is invalid (%s): the state is corrupted", path,
                hs != 0 && hs != 1 ? "rng_has_spare is not 0 or 1" : "all-zero generator");
        goto done;
    }
    const char *names[3] = {"params", "adam_m", "adam_v"};
    float *dst[3] = {t->model.params_mem, t->opt.m, t->opt.v};
    for (int i = 0; i < 3; i++) {
        const st_tensor *tt = st_find(&f, names[i]);
        if (!tt) { ic_errf(err, "%s: missing tensor '%s'", path, names[i]); goto done; }
        if (tt->numel != t->model.num_params) {
            ic_errf(err, "%s: '%s' has %" PRIu64 " values but this config's model has %zu parameters", path,
                    names[i], tt->numel, t->model.num_params);
            goto done;
        }
        if (st_read_f32(&f, tt, dst[i], t->model.num_params, err)) goto done;
        if (ic_check_finite(names[i], dst[i], t->model.num_params, err)) { ic_err_prefix(err, "%s", path); goto done; }
    }
    for (size_t i = 0; i < t->model.num_params; i++)
        if (t->opt.v[i] < 0) {
            ic_errf(err, "%s: tensor 'adam_v' holds a negative second moment at index %zu: the state is corrupted", path, i);
            goto done;
        }
    t->step = (long)st_step;
    t->opt.step = (long)st_astep;
    memcpy(t->data_rng.s, s, sizeof s);
    memcpy(&t->data_rng.spare, &spare, sizeof spare);
    t->data_rng.has_spare = (int)hs;
    rc = 0;
done:
    free(defaults);
    json_decref(o);
    json_decref(saved);
    json_decref(ours);
    json_decref(def);
    st_free(&f);
    return rc;
}

/* ---------------- run directory ---------------- */

/* Every file a run writes (and nothing else: ic_remove_atomic_temps only
 * touches their temporary files). */
static const char *const RUN_FILES[] = {"config.json", "state.safetensors", "model.safetensors", "metrics.csv",
                                        "loss.svg", "report.html"};
#define N_RUN_FILES ((int)(sizeof RUN_FILES / sizeof *RUN_FILES))
#define LOCK_NAME "iclab.lock"

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ic_train_dir_has_run(const char *dir) {
    char path[4096];
    for (int i = 0; i < N_RUN_FILES; i++)
        if (ic_path_join(path, sizeof path, dir, RUN_FILES[i], NULL) == 0 && ic_file_exists(path)) return 1;
    return 0;
}

int ic_train_dir_config(const char *dir, ic_run_config *cfg, ic_err *err) {
    char cfg_path[4096], state_path[4096];
    if (ic_path_join(cfg_path, sizeof cfg_path, dir, "config.json", err) ||
        ic_path_join(state_path, sizeof state_path, dir, "state.safetensors", err))
        return -1;
    if (!ic_file_exists(dir)) return ic_errf(err, "%s does not exist: there is no run to resume (start one with --out %s)", dir, dir);
    if (!is_dir(dir)) return ic_errf(err, "%s is not a directory", dir);
    ic_run_config_legacy(cfg); /* a key an older config.json lacks: what its run was trained with */
    if (ic_file_exists(cfg_path)) return ic_run_config_load_file(cfg, cfg_path, err);
    if (!ic_file_exists(state_path))
        return ic_errf(err, "%s holds no run to resume (no config.json, no state.safetensors); start one with --out %s",
                       dir, dir);
    /* config.json lost (an older iclab wrote it last): the state records the config */
    st_file f;
    if (st_read_file(state_path, &f, err)) return -1;
    int rc = state_run_config(&f, state_path, cfg, err);
    st_free(&f);
    return rc;
}

typedef struct {
    double *step, *loss, *excess;
    size_t n, cap;
} metric_log;

static int log_push(metric_log *l, double step, double loss, double excess) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        double *a = realloc(l->step, cap * sizeof *a);
        if (!a) return -1;
        l->step = a;
        double *b = realloc(l->loss, cap * sizeof *b);
        if (!b) return -1;
        l->loss = b;
        double *e = realloc(l->excess, cap * sizeof *e);
        if (!e) return -1;
        l->excess = e;
        l->cap = cap;
    }
    l->step[l->n] = step;
    l->loss[l->n] = loss;
    l->excess[l->n] = excess;
    l->n++;
    return 0;
}

static void log_free(metric_log *l) {
    free(l->step);
    free(l->loss);
    free(l->excess);
    memset(l, 0, sizeof *l);
}

static const char METRICS_HEADER[] = "step,loss,excess_loss,lr,grad_norm,steps_per_s,n_dims,n_points,loops,wall_s\n";
#define METRICS_FIELDS 10

/* One metrics.csv row (without its newline): exactly the ten fields, each a
 * whole number where an integer belongs (step, n_dims, n_points, loops), a
 * number or an empty field (undefined, numout.h: read as NaN) for loss,
 * excess_loss, lr, grad_norm and steps_per_s, a number for wall_s; step >= 1. */
static int parse_metrics_row(const char *line, size_t len, double v[METRICS_FIELDS]) {
    char buf[512];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, line, len);
    buf[len] = 0;
    char *p = buf;
    for (int i = 0; i < METRICS_FIELDS; i++) {
        char *end;
        if (i >= 1 && i <= 5 && *p == ',') { /* an empty number field: undefined */
            v[i] = NAN;
            p++;
            continue;
        }
        if (i == 0 || (i >= 6 && i <= 8)) {
            if (!(*p >= '0' && *p <= '9')) return -1;
            v[i] = (double)strtol(p, &end, 10);
        } else {
            if (*p == 0 || *p == ',' || *p == ' ') return -1;
            v[i] = strtod(p, &end);
        }
        if (end == p || *end != (i == METRICS_FIELDS - 1 ? '\0' : ',')) return -1;
        p = end + 1;
    }
    return v[0] < 1 ? -1 : 0;
}

static void say(const ic_train_hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keeps the header and the well-formed rows with strictly increasing steps
 * <= upto (a run interrupted after its last checkpoint may have logged
 * further; a failed write may have left half a row), rewriting the file
 * atomically when anything changes, and loads the kept loss values into l.
 * Dropped malformed or out-of-order rows are reported through hooks. */
static int metrics_truncate(const char *path, long upto, metric_log *l, const ic_train_hooks *hooks, ic_err *err) {
    char *text = NULL;
    size_t len;
    const size_t hl = strlen(METRICS_HEADER);
    if (!ic_file_exists(path)) return ic_write_file_atomic(path, METRICS_HEADER, hl, err);
    if (ic_read_file(path, &text, &len, (size_t)1 << 30, err)) return -1;
    char *out = malloc(len + hl + 1);
    if (!out) { free(text); return ic_errf(err, "out of memory"); }
    memcpy(out, METRICS_HEADER, hl);
    size_t used = hl;
    const char *line = text;
    if (len >= hl && memcmp(text, METRICS_HEADER, hl) == 0) line += hl;
    long prev = 0, lineno = line == text ? 1 : 2, bad = 0, first_bad = 0;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        double v[METRICS_FIELDS];
        int ok = nl && parse_metrics_row(line, ll, v) == 0;
        const long step = ok ? (long)v[0] : 0;
        const double loss = v[1], excess = v[2];
        if (ok && step > upto) {
            /* logged after the last checkpoint: the resumed run logs it again */
        } else if (ok && step > prev) {
            memcpy(out + used, line, ll + 1);
            used += ll + 1;
            prev = step;
            if (log_push(l, (double)step, loss, excess)) { free(text); free(out); return ic_errf(err, "out of memory"); }
        } else if (ll > 0 || nl == NULL) {
            if (!bad++) first_bad = lineno;
        }
        line += ll + (nl ? 1 : 0);
        lineno++;
    }
    int rc = 0;
    if (used != len || memcmp(out, text, len) != 0) rc = ic_write_file_atomic(path, out, used, err);
    if (rc == 0 && bad)
        say(hooks, "%s: dropped %ld malformed or out-of-order row%s (the first at line %ld)", path, bad,
            bad > 1 ? "s" : "", first_bad);
    free(text);
    free(out);
    return rc;
}

int ic_train_dir_last_metrics(const char *dir, double v[10], ic_err *err) {
    char path[4096], *text = NULL;
    size_t len;
    if (ic_path_join(path, sizeof path, dir, "metrics.csv", err) || ic_read_file(path, &text, &len, (size_t)1 << 30, err))
        return -1;
    /* the last complete line (a row is written with its newline) */
    int rc = ic_errf(err, "%s: no metrics row", path);
    size_t end = len;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && text[start - 1] != '\n') start--;
        if (end - start > 1 && text[end - 1] == '\n' && parse_metrics_row(text + start, end - 1 - start, v) == 0) {
            rc = 0;
            break;
        }
        end = start;
    }
    free(text);
    return rc;
}

/* Whether metrics.csv holds any row after its header. */
static int metrics_has_rows(const char *path) {
    char *text = NULL;
    size_t len;
    ic_err ignored;
    if (!ic_file_exists(path) || ic_read_file(path, &text, &len, (size_t)1 << 30, &ignored)) return 0;
    const char *nl = strchr(text, '\n');
    int rows = nl && nl[1] != 0;
    free(text);
    return rows;
}

static int write_loss_plot(const char *dir, const metric_log *l, ic_err *err) {
    char path[4096];
    if (ic_path_join(path, sizeof path, dir, "loss.svg", err)) return -1;
    ic_series s[2] = {
        {.label = "training loss (MSE)", .x = l->step, .y = l->loss, .n = (int)l->n},
        {.label = "excess loss (loss / linear optimum)", .x = l->step, .y = l->excess, .n = (int)l->n, .dashed = 1},
    };
    ic_plot_opts o = {.title = "Training loss", .xlabel = "step", .ylabel = "loss", .logy = 1,
                      .ymin = NAN, .ymax = NAN};
    return ic_plot_lines(path, &o, s, 2, err);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void say(const ic_train_hooks *h, const char *fmt, ...) {
    if (!h || !h->message) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    h->message(h->ctx, line);
}

/* Flushes the appended metrics rows to the disk (before a checkpoint, so a
 * state never refers to rows a crash could lose). */
static int metrics_sync(FILE *mf, const char *path, ic_err *err) {
    if (fflush(mf) != 0 || fsync(fileno(mf)) != 0)
        return ic_errf(err, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}

/* The run's page (src/page.h), so a browser shows the progress: after every
 * checkpoint and at most every PAGE_EVERY_S seconds in between (then with a
 * fresh loss plot); live: the run goes on (the page reloads itself). The
 * page is a view of the files above, not part of the run: one that cannot
 * be written is reported once and training goes on. */
#define PAGE_EVERY_S 2.0
typedef struct {
    const ic_train_hooks *hooks;
    int warned;
    double last;
} page_state;

static void write_page(const char *dir, const metric_log *l, int live, int with_plot, page_state *ps) {
    ic_err e;
    if ((with_plot && l->n && write_loss_plot(dir, l, &e)) || ic_page_write(dir, live ? 10 : 0, &e)) {
        if (!ps->warned) say(ps->hooks, "%s: report.html not updated (training goes on): %s", dir, e.msg);
        ps->warned = 1;
    }
}

/* state (the commit point), then the model and the plot, then the page;
 * *saved_step is the step of the newest state on disk */
static int checkpoint(const ic_trainer *t, const char *dir, const metric_log *l, long *saved_step, int live,
                      page_state *ps, ic_err *err) {
    char path[4096];
    ic_precision dtype; /* checkpoint_dtype: the model file's tensors; the state is always fp32 */
    if (ic_precision_parse(t->cfg.checkpoint_dtype, &dtype))
        return ic_errf(err, "checkpoint_dtype: expected fp32 or bf16, got '%s'", t->cfg.checkpoint_dtype);
    if (ic_path_join(path, sizeof path, dir, "state.safetensors", err)) return -1;
    if (ic_trainer_save_state(t, path, err)) return -1;
    if (saved_step) *saved_step = t->step;
    if (ic_path_join(path, sizeof path, dir, "model.safetensors", err)) return -1;
    char stepbuf[32];
    snprintf(stepbuf, sizeof stepbuf, "%ld", t->step);
    char *cfg = ic_run_config_to_json(&t->cfg);
    const char *keys[] = {"train_step", "iclab_run_config"}, *vals[] = {stepbuf, cfg ? cfg : "{}"};
    /* the saved schedule is the configured one at the last step's loop count; with random
     * depth at its truncation (the curriculum's value), not the last step's draw */
    ic_schedule *ss = malloc(sizeof *ss);
    if (!ss) {
        free(cfg);
        return ic_errf(err, "out of memory");
    }
    *ss = t->sched;
    if (!strcmp(t->cfg.loops_sampling, "poisson")) {
        const ic_run_config *c = &t->cfg;
        const int L = ic_curriculum_value(c->curriculum_loops_start, c->loops, c->curriculum_loops_inc,
                                          c->curriculum_loops_interval, t->step > 0 ? t->step - 1 : 0);
        ss->loops = L;
        ss->loss_loops = c->loss_loops < L ? c->loss_loops : L;
        ss->grad_loops = c->grad_loops < L ? c->grad_loops : L;
    }
    int rc = ic_checkpoint_save_as(path, &t->model, ss, dtype, keys, vals, 2, err);
    free(ss);
    free(cfg);
    if (rc) return -1;
    if (l->n && write_loss_plot(dir, l, err)) return -1;
    write_page(dir, l, live, 0, ps);
    return 0;
}

/* config.json (atomic), unless it already says exactly this */
static int write_config(const char *path, const ic_run_config *cfg, ic_err *err) {
    char *cj = ic_run_config_to_json(cfg), *old = NULL;
    if (!cj) return ic_errf(err, "out of memory");
    size_t len;
    ic_err ignored;
    int rc = 0;
    if (!ic_file_exists(path) || ic_read_file(path, &old, &len, (size_t)1 << 24, &ignored) || strcmp(old, cj) != 0)
        rc = ic_write_file_atomic(path, cj, strlen(cj), err);
    free(old);
    free(cj);
    return rc;
}

/* ---- the data-parallel run (every rank but 0 follows rank 0) ---- */

/* Rank 0 → the others: the config the run uses, then the state it starts
 * from (step, prompt generator, parameters, Adam's moments). On rank 0, t is
 * set up; on the others t is zeroed and set up here from what arrives. */
static int share_start(ic_trainer *t, ic_err *err) {
    const ic_comm *cm = t->comm;
    char *cj = NULL;
    size_t len = 0;
    int ok = 1; /* rank 0 set the run up (share_failure sends 0) */
    if (cm->bcast(cm, &ok, sizeof ok, 0, err)) return -1;
    if (!ok) return ic_errf(err, "rank 0 could not start the run (its message says why)");
    if (cm->rank == 0) {
        cj = ic_run_config_to_json(&t->cfg);
        if (!cj) return ic_errf(err, "out of memory");
        len = strlen(cj);
    }
    if (ic_comm_bcast_bytes(cm, &cj, &len, 0, err)) { free(cj); return -1; }
    if (cm->rank != 0) {
        ic_run_config *rc = malloc(sizeof *rc);
        int bad = !rc;
        if (rc) {
            ic_run_config_default(rc);
            bad = ic_run_config_load_json(rc, cj, "rank 0's run config", err) || ic_trainer_init(t, rc, err);
            if (!bad) ic_set_threads(rc->threads); /* as rank 0's caller did (the CLI, the C API) */
        }
        free(rc);
        if (bad) { free(cj); return rc ? -1 : ic_errf(err, "out of memory"); }
        t->comm = cm;
    }
    free(cj);
    long steps[2] = {t->step, t->opt.step};
    const size_t n = t->model.num_params;
    if (cm->bcast(cm, steps, sizeof steps, 0, err) || cm->bcast(cm, &t->data_rng, sizeof t->data_rng, 0, err) ||
        cm->bcast(cm, t->model.params_mem, n * sizeof(float), 0, err) ||
        cm->bcast(cm, t->opt.m, n * sizeof(float), 0, err) || cm->bcast(cm, t->opt.v, n * sizeof(float), 0, err))
        return -1;
    t->step = steps[0];
    t->opt.step = steps[1];
    return 0;
}

/* Rank 0 → the others, instead of share_start: the run did not start. */
static void share_failure(const ic_comm *cm) {
    int ok = 0;
    ic_err ignored;
    cm->bcast(cm, &ok, sizeof ok, 0, &ignored);
}

/* Whether to stop before the next step: a stop request or stop_after on any
 * rank stops every rank there (collective: one number summed per step). */
static int agree_stop(const ic_trainer *t, const ic_train_hooks *hooks, long done_here, int *stop, ic_err *err) {
    double s = (hooks && hooks->stop && *hooks->stop) || (hooks && hooks->stop_after > 0 && done_here >= hooks->stop_after);
    if (t->comm->size > 1 && t->comm->allreduce_f64(t->comm, &s, 1, err)) return -1;
    *stop = s > 0;
    return 0;
}

/* ic_trainer_check_replicas every checksum_every steps (several ranks) */
static int replica_check_due(const ic_trainer *t, ic_err *err) {
    const long k = t->cfg.checksum_every;
    return t->comm->size > 1 && k > 0 && t->step % k == 0 ? ic_trainer_check_replicas(t, err) : 0;
}

/* The loop body every rank runs: *stop when a rank asked to stop (nothing
 * done), else one step and, when due, the replica check. */
static int run_one_step(ic_trainer *t, const ic_train_hooks *hooks, long done_here, ic_step_stats *st, int *stop,
                        ic_err *err) {
    if (agree_stop(t, hooks, done_here, stop, err)) return -1;
    if (*stop) return 0;
    return ic_trainer_step(t, st, err) || replica_check_due(t, err) ? -1 : 0;
}

/* A rank other than 0: receives the run from rank 0, then takes the same
 * steps, writing nothing; the same stops, checks and errors. */
static int follow_run(const ic_comm *cm, const ic_train_hooks *hooks, ic_train_result *res, ic_err *err) {
    ic_trainer t;
    memset(&t, 0, sizeof t);
    t.comm = cm;
    int rc = -1;
    if (share_start(&t, err)) goto done;
    res->start_step = t.step;
    res->outcome = IC_TRAIN_DONE;
    const double t0 = now_s();
    long done_here = 0;
    while (t.step < t.cfg.train_steps) {
        int stop_now;
        ic_step_stats st;
        if (run_one_step(&t, hooks, done_here, &st, &stop_now, err)) goto done;
        if (stop_now) {
            res->outcome = IC_TRAIN_STOPPED;
            break;
        }
        res->final_loss = st.loss;
        done_here++;
    }
    if (ic_trainer_check_replicas(&t, err)) goto done;
    res->step = t.step;
    res->wall_s = now_s() - t0;
    rc = 0;
done:
    if (rc) ic_err_prefix(err, "rank %d of %d", cm->rank, cm->size);
    ic_trainer_free(&t);
    return rc;
}

static int lead_run(const char *dir, const ic_run_config *cfg, int resume, const ic_train_hooks *hooks,
                    const ic_comm *cm, int *shared, ic_train_result *res, ic_err *err);

int ic_train_run(const char *dir, const ic_run_config *cfg, int resume, const ic_train_hooks *hooks,
                 ic_train_result *res, ic_err *err) {
    memset(res, 0, sizeof *res);
    res->final_loss = NAN;
    const ic_comm *cm = hooks && hooks->comm ? hooks->comm : ic_comm_single();
    if (cm->rank != 0) return follow_run(cm, hooks, res, err);
    int shared = 0;
    const int rc = lead_run(dir, cfg, resume, hooks, cm, &shared, res, err);
    /* the others wait for the start: tell them it failed */
    if (rc && cm->size > 1 && !shared) share_failure(cm);
    return rc;
}

/* rank 0 (or a process alone): the run in dir; *shared once the start went
 * to the other ranks */
static int lead_run(const char *dir, const ic_run_config *cfg, int resume, const ic_train_hooks *hooks,
                    const ic_comm *cm, int *shared, ic_train_result *res, ic_err *err) {
    memset(res, 0, sizeof *res);
    res->final_loss = NAN;
    char state_path[4096], cfg_path[4096], metrics_path[4096], model_path[4096];
    if (ic_path_join(state_path, sizeof state_path, dir, "state.safetensors", err) ||
        ic_path_join(cfg_path, sizeof cfg_path, dir, "config.json", err) ||
        ic_path_join(metrics_path, sizeof metrics_path, dir, "metrics.csv", err) ||
        ic_path_join(model_path, sizeof model_path, dir, "model.safetensors", err))
        return -1;
    if (!cfg && !resume) return ic_errf(err, "no config given");
    if (cfg && cfg->batch_size < cm->size)
        return ic_errf(err, "batch_size %d is smaller than the %d ranks: each rank needs a prompt", cfg->batch_size,
                       cm->size);
    ic_trainer t;
    memset(&t, 0, sizeof t);
    ic_dir_lock lock = {.fd = -1};
    ic_run_config *dcfg = NULL; /* the directory's config (resume) */
    ic_run_config *ranked = malloc(sizeof *ranked); /* the config used, with mpi_ranks = cm->size */
    if (!ranked) return ic_errf(err, "out of memory");
    metric_log l = {0};
    page_state ps = {hooks, 0, 0.0};
    FILE *mf = NULL;
    int rc = -1, created = 0, wrote_files = 0, started = 0;
    if (!resume) {
        /* a bad config, or one that cannot be allocated, leaves nothing behind */
        *ranked = *cfg;
        ranked->mpi_ranks = cm->size;
        if (ic_trainer_init(&t, ranked, err)) { free(ranked); return -1; }
        created = !ic_file_exists(dir);
        if (ic_mkdirs(dir, err)) goto done;
    } else if (!is_dir(dir)) {
        free(ranked);
        return ic_errf(err, ic_file_exists(dir) ? "%s is not a directory" : "%s does not exist: there is no run to resume",
                       dir);
    }
    /* one process per run directory */
    if (ic_dir_lock_acquire(&lock, dir, LOCK_NAME, err)) goto done;
    int n_tmp;
    unsigned long long tmp_bytes;
    if (ic_remove_atomic_temps(dir, RUN_FILES, N_RUN_FILES, &n_tmp, &tmp_bytes, err)) goto done;
    if (n_tmp)
        say(hooks, "%s: removed %d temporary file%s (%.1f %s) left by an interrupted run", dir, n_tmp,
            n_tmp > 1 ? "s" : "", tmp_bytes >= 1000000 ? (double)tmp_bytes / 1e6 : (double)tmp_bytes / 1e3,
            tmp_bytes >= 1000000 ? "MB" : "kB");

    if (!resume) {
        for (int i = 0; i < N_RUN_FILES; i++) {
            char p[4096];
            if (ic_path_join(p, sizeof p, dir, RUN_FILES[i], err)) goto done;
            if (ic_file_exists(p)) {
                ic_errf(err, "%s already holds a run (%s); resume it with --resume %s, or choose another --out", dir,
                        RUN_FILES[i], dir);
                goto done;
            }
        }
        /* the transaction: config.json first (a directory with it can always be
         * resumed), then the metrics header, then the step-0 state (the commit
         * point of every checkpoint) and model */
        wrote_files = 1;
        if (write_config(cfg_path, ranked, err)) goto done;
        if (ic_write_file_atomic(metrics_path, METRICS_HEADER, strlen(METRICS_HEADER), err)) goto done;
        if (checkpoint(&t, dir, &l, NULL, 1, &ps, err)) goto done;
    } else {
        dcfg = malloc(sizeof *dcfg);
        if (!dcfg) { ic_errf(err, "out of memory"); goto done; }
        if (ic_file_exists(cfg_path)) {
            ic_run_config_legacy(dcfg);
            if (ic_run_config_load_file(dcfg, cfg_path, err)) goto done;
        } else if (ic_file_exists(state_path)) {
            /* left by an older iclab killed before it wrote config.json: the state records it */
            if (ic_train_dir_config(dir, dcfg, err) || write_config(cfg_path, dcfg, err)) goto done;
            say(hooks, "%s: config.json was missing; restored it from state.safetensors", dir);
        } else {
            ic_errf(err, "%s holds no run to resume (no config.json, no state.safetensors); start one with --out %s",
                    dir, dir);
            goto done;
        }
        char key[64], va[256], vb[256];
        *ranked = cfg ? *cfg : *dcfg;
        /* the prompt scheme is the run's own: a caller that builds its config afresh (a demo
         * run again, the C API) has today's default, which must not refuse an older
         * directory trained on the stream */
        memcpy(ranked->data_scheme, dcfg->data_scheme, sizeof ranked->data_scheme);
        if (cfg) {
            int d = ic_run_config_diff(ranked, dcfg, key, sizeof key, va, vb, sizeof va);
            if (d < 0) { ic_errf(err, "out of memory"); goto done; }
            if (d) {
                ic_errf(err, "%s is %s here but %s in %s; only train_steps, threads, log_every, save_every, "
                        "checksum_every, checkpoint_dtype and mpi_ranks may change when resuming", key, va, vb, cfg_path);
                goto done;
            }
        }
        ranked->mpi_ranks = cm->size;
        const ic_run_config *use = ranked;
        if (use->batch_size < cm->size) {
            ic_errf(err, "batch_size %d of %s is smaller than the %d ranks: each rank needs a prompt", use->batch_size,
                    cfg_path, cm->size);
            goto done;
        }
        if (ic_trainer_init(&t, use, err)) { ic_err_prefix(err, "%s", cfg_path); goto done; }
        if (ic_file_exists(state_path)) {
            if (ic_trainer_load_state(&t, state_path, err)) goto done;
            if (metrics_truncate(metrics_path, t.step, &l, hooks, err)) goto done;
        } else if (ic_file_exists(model_path) || metrics_has_rows(metrics_path)) {
            ic_errf(err, "%s has no state.safetensors but holds a trained model or metrics: it cannot resume without "
                    "its state (keep what is there and train anew with another --out)", dir);
            goto done;
        } else {
            /* killed after config.json, before the step-0 state: the start is redone */
            say(hooks, "%s: the run never reached its first checkpoint; starting it from step 0", dir);
            if (ic_write_file_atomic(metrics_path, METRICS_HEADER, strlen(METRICS_HEADER), err)) goto done;
            if (checkpoint(&t, dir, &l, NULL, 1, &ps, err)) goto done;
        }
        if (use->train_steps < t.step) {
            ic_errf(err, "%s is at step %ld, past train_steps %ld; nothing was changed (to train further, give "
                    "train_steps above %ld)", dir, t.step, use->train_steps, t.step);
            goto done;
        }
        if (write_config(cfg_path, use, err)) goto done;
        if (t.step < use->train_steps) say(hooks, "resuming %s at step %ld of %ld", dir, t.step, use->train_steps);
    }
    started = 1;
    t.comm = cm;
    *shared = 1;
    if (cm->size > 1 && share_start(&t, err)) goto done;
    const ic_run_config *c = &t.cfg;
    res->start_step = t.step;
    if (l.n) res->final_loss = l.loss[l.n - 1];
    mf = fopen(metrics_path, "a");
    if (!mf) { ic_errf(err, "%s: cannot open for appending: %s", metrics_path, strerror(errno)); goto done; }

    const double t0 = now_s();
    double last_t = t0, ema_rate = 0.0;
    ps.last = t0;
    long done_here = 0, last_saved = t.step;
    res->outcome = IC_TRAIN_DONE;
    while (t.step < c->train_steps) {
        int stop_now;
        ic_step_stats st;
        if (run_one_step(&t, hooks, done_here, &st, &stop_now, err)) goto stopped;
        if (stop_now) {
            res->outcome = IC_TRAIN_STOPPED;
            break;
        }
        done_here++;
        double now = now_s(), dt = now - last_t;
        last_t = now;
        double rate = dt > 0 ? 1.0 / dt : 0.0;
        ema_rate = done_here == 1 ? rate : 0.9 * ema_rate + 0.1 * rate;
        res->final_loss = st.loss;
        if (t.step % c->log_every == 0 || t.step == c->train_steps) {
            /* a failed write (disk full) stops the run: a log with holes or half rows is not kept */
            if (fprintf(mf, "%ld,%s,%s,%s,%s,%s,%d,%d,%d,%.3f\n", st.step, ic_csv_num(st.loss, 8).s,
                        ic_csv_num(st.excess_loss, 8).s, ic_csv_num(st.lr, 6).s, ic_csv_num(st.grad_norm, 6).s,
                        ic_csv_num(ema_rate, 4).s, st.n_dims, st.n_points, st.loops, now - t0) < 0 ||
                fflush(mf) != 0) {
                ic_errf(err, "%s: cannot write: %s", metrics_path, strerror(errno));
                goto stopped;
            }
            if (log_push(&l, (double)st.step, st.loss, st.excess_loss)) { ic_errf(err, "out of memory"); goto stopped; }
            if (now - ps.last >= PAGE_EVERY_S) {
                write_page(dir, &l, 1, 1, &ps);
                ps.last = now;
            }
        }
        if (hooks && hooks->progress) {
            ic_progress p = {.step = t.step, .total = c->train_steps, .loss = st.loss, .excess_loss = st.excess_loss,
                             .lr = st.lr, .steps_per_s = ema_rate, .elapsed_s = now - t0,
                             .eta_s = ema_rate > 0 ? (c->train_steps - t.step) / ema_rate : 0,
                             .n_dims = st.n_dims, .n_points = st.n_points, .loops = st.loops};
            hooks->progress(hooks->ctx, &p);
        }
        if (t.step % c->save_every == 0 && t.step < c->train_steps) {
            if (metrics_sync(mf, metrics_path, err) || checkpoint(&t, dir, &l, &last_saved, 1, &ps, err)) goto stopped;
            ps.last = now;
        }
    }
    if (ic_trainer_check_replicas(&t, err) || metrics_sync(mf, metrics_path, err) ||
        checkpoint(&t, dir, &l, &last_saved, 0, &ps, err))
        goto stopped;
    int closed = fclose(mf);
    mf = NULL;
    if (closed != 0) { ic_errf(err, "%s: cannot write: %s", metrics_path, strerror(errno)); goto stopped; }
    if (res->outcome == IC_TRAIN_STOPPED)
        say(hooks, "stopped at step %ld; checkpoint saved; continue with: iclab train --resume %s", t.step, dir);
    res->step = t.step;
    res->wall_s = now_s() - t0;
    rc = 0;
    goto done;
stopped:
    ic_err_prefix(err, "%s: stopped; the last good checkpoint (step %ld) is kept", dir, last_saved);
done:
    if (mf) fclose(mf);
    if (rc && wrote_files && !started) {
        /* a new run that failed before its first checkpoint leaves no run behind */
        for (int i = 0; i < N_RUN_FILES; i++) {
            char p[4096];
            if (ic_path_join(p, sizeof p, dir, RUN_FILES[i], NULL) == 0) unlink(p);
        }
    }
    ic_dir_lock_release(&lock);
    if (rc && created && !started) rmdir(dir); /* only if empty: never anything we did not make */
    free(dcfg);
    free(ranked);
    log_free(&l);
    ic_trainer_free(&t);
    return rc;
}
