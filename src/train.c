/* train.c: the training step, resumable state and run directories (train.h). */
#include "train.h"

#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "fsutil.h"
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
    memset(t, 0, sizeof *t);
    if (ic_run_config_validate(cfg, err)) return -1;
    /* before anything is allocated or written: a config that cannot fit is refused */
    if (ic_run_config_check_memory(cfg, ic_default_shards(), err)) return -1;
    t->cfg = *cfg;
    ic_task_kind kind;
    if (ic_task_parse(cfg->task, &kind, err)) return ic_err_prefix(err, "task");
    ic_task_spec_default(&t->task, kind, cfg->model.n_dims);
    t->task.sparsity = cfg->sparsity;
    t->task.noise_std = cfg->noise_std;
    t->task.hidden = cfg->hidden;
    t->task.depth = cfg->depth;
    t->task.x_scale = cfg->x_scale;
    if (ic_run_config_schedule(cfg, &t->sched, err)) return -1;
    if (ic_model_create(&t->model, &cfg->model, err)) return -1;
    ic_model_init_weights(&t->model, cfg->seed);
    if (ic_adam_create(&t->opt, t->model.num_params, err)) goto fail;
    t->opt.weight_decay = strcmp(cfg->optimizer, "adamw") == 0 ? cfg->weight_decay : 0.0;
    ic_rng_seed(&t->data_rng, data_seed_of(cfg));
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
    ic_model_free(&t->model);
    ic_adam_free(&t->opt);
    free(t->xs);
    free(t->ys);
    memset(t, 0, sizeof *t);
}

int ic_trainer_step(ic_trainer *t, ic_step_stats *st, ic_err *err) {
    const ic_run_config *c = &t->cfg;
    const long step = t->step;
    const int d = ic_curriculum_value(c->curriculum_dims_start, c->model.n_dims, c->curriculum_dims_inc,
                                      c->curriculum_dims_interval, step);
    const int n = ic_curriculum_value(c->curriculum_points_start, c->n_points, c->curriculum_points_inc,
                                      c->curriculum_points_interval, step);
    const int loops = ic_curriculum_value(c->curriculum_loops_start, c->loops, c->curriculum_loops_inc,
                                          c->curriculum_loops_interval, step);
    const int B = c->batch_size;
    if (ic_task_sample(&t->task, &t->data_rng, B, n, d, t->xs, t->ys, NULL, err)) return -1;
    t->sched.loops = loops;
    t->sched.loss_loops = c->loss_loops < loops ? c->loss_loops : loops;
    t->sched.grad_loops = c->grad_loops < loops ? c->grad_loops : loops; /* 0 stays 0 (= loss_loops) */
    ic_model_zero_grad(&t->model);
    if (ic_model_train_pass(&t->model, &t->shards, ic_default_shards(), &t->sched, t->xs, t->ys, B, n, err))
        return -1;
    const double loss = t->model.loss;
    if (!isfinite(loss)) return ic_errf(err, "loss is %s at step %ld", isnan(loss) ? "NaN" : "infinite", step + 1);
    const double gnorm = ic_clip_grad_norm(t->model.grads_mem, t->model.num_params, c->grad_clip);
    if (!isfinite(gnorm)) return ic_errf(err, "gradient norm is not finite at step %ld", step + 1);
    const double lr = ic_lr_at(c, step);
    ic_adam_update(&t->opt, t->model.params_mem, t->model.grads_mem, lr);
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
    char *cfg = ic_run_config_to_json(&t->cfg);
    if (!cfg) return ic_errf(err, "out of memory");
    const char *keys[] = {"format", "iclab_train_state", "iclab_run_config"};
    const char *vals[] = {"iclab-train-state-1", state, cfg};
    int rc = st_write_file(path, ts, 3, keys, vals, 3, err);
    free(cfg);
    return rc;
}

static int hex64(json_t *v, uint64_t *out) {
    const char *s = json_string_value(v);
    if (!s || strlen(s) != 16) return -1;
    char *end;
    *out = strtoull(s, &end, 16);
    return *end ? -1 : 0;
}

int ic_trainer_load_state(ic_trainer *t, const char *path, ic_err *err) {
    st_file f;
    if (st_read_file(path, &f, err)) return -1;
    int rc = -1;
    json_t *o = NULL;
    const char *meta = st_meta(&f, "iclab_train_state");
    if (!meta) { ic_errf(err, "%s: not an iclab training state (no iclab_train_state metadata)", path); goto done; }
    o = json_loads(meta, 0, NULL);
    json_t *rng = json_object_get(o, "rng");
    json_t *step = json_object_get(o, "step"), *astep = json_object_get(o, "adam_step");
    uint64_t s[4], spare;
    if (!json_is_object(o) || !json_is_integer(step) || !json_is_integer(astep) || json_array_size(rng) != 4 ||
        hex64(json_array_get(rng, 0), &s[0]) || hex64(json_array_get(rng, 1), &s[1]) ||
        hex64(json_array_get(rng, 2), &s[2]) || hex64(json_array_get(rng, 3), &s[3]) ||
        hex64(json_object_get(o, "rng_spare"), &spare) || !json_is_integer(json_object_get(o, "rng_has_spare"))) {
        ic_errf(err, "%s: malformed iclab_train_state metadata", path);
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
    }
    t->step = (long)json_integer_value(step);
    t->opt.step = (long)json_integer_value(astep);
    memcpy(t->data_rng.s, s, sizeof s);
    memcpy(&t->data_rng.spare, &spare, sizeof spare);
    t->data_rng.has_spare = (int)json_integer_value(json_object_get(o, "rng_has_spare"));
    rc = 0;
done:
    json_decref(o);
    st_free(&f);
    return rc;
}

/* ---------------- run directory ---------------- */

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

/* Keeps the header and the rows with step <= upto (a run interrupted after
 * its last checkpoint may have logged further), rewriting the file
 * atomically, and loads the kept loss values into l. */
static int metrics_truncate(const char *path, long upto, metric_log *l, ic_err *err) {
    char *text = NULL;
    size_t len;
    if (!ic_file_exists(path)) return ic_write_file_atomic(path, METRICS_HEADER, strlen(METRICS_HEADER), err);
    if (ic_read_file(path, &text, &len, (size_t)1 << 30, err)) return -1;
    char *out = malloc(len + sizeof METRICS_HEADER);
    if (!out) { free(text); return ic_errf(err, "out of memory"); }
    size_t used = 0;
    memcpy(out, METRICS_HEADER, strlen(METRICS_HEADER));
    used = strlen(METRICS_HEADER);
    char *line = strchr(text, '\n');
    line = line ? line + 1 : text + len;
    while (*line) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line + 1) : strlen(line);
        long step;
        double loss, excess;
        if (sscanf(line, "%ld,%lf,%lf", &step, &loss, &excess) == 3 && step <= upto && nl) {
            memcpy(out + used, line, ll);
            used += ll;
            log_push(l, (double)step, loss, excess);
        }
        line += ll;
    }
    free(text);
    int rc = ic_write_file_atomic(path, out, used, err);
    free(out);
    return rc;
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

static void say(const ic_train_hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const ic_train_hooks *h, const char *fmt, ...) {
    if (!h || !h->message) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    h->message(h->ctx, line);
}

static int checkpoint(const ic_trainer *t, const char *dir, const metric_log *l, ic_err *err) {
    char path[4096];
    if (ic_path_join(path, sizeof path, dir, "state.safetensors", err)) return -1;
    if (ic_trainer_save_state(t, path, err)) return -1;
    if (ic_path_join(path, sizeof path, dir, "model.safetensors", err)) return -1;
    char stepbuf[32];
    snprintf(stepbuf, sizeof stepbuf, "%ld", t->step);
    char *cfg = ic_run_config_to_json(&t->cfg);
    const char *keys[] = {"train_step", "iclab_run_config"}, *vals[] = {stepbuf, cfg ? cfg : "{}"};
    /* the saved schedule is the configured one at its final loop count */
    int rc = ic_checkpoint_save(path, &t->model, &t->sched, keys, vals, 2, err);
    free(cfg);
    if (rc) return -1;
    return l->n ? write_loss_plot(dir, l, err) : 0;
}

int ic_train_run(const char *dir, const ic_run_config *cfg, int resume, const ic_train_hooks *hooks,
                 ic_train_result *res, ic_err *err) {
    memset(res, 0, sizeof *res);
    char state_path[4096], cfg_path[4096], metrics_path[4096];
    if (ic_path_join(state_path, sizeof state_path, dir, "state.safetensors", err) ||
        ic_path_join(cfg_path, sizeof cfg_path, dir, "config.json", err) ||
        ic_path_join(metrics_path, sizeof metrics_path, dir, "metrics.csv", err))
        return -1;
    if (!cfg) return ic_errf(err, "no config given");
    if (!resume && ic_file_exists(state_path))
        return ic_errf(err, "%s already holds a run; resume it with --resume %s, or choose another --out", dir, dir);
    if (resume && !ic_file_exists(state_path))
        return ic_errf(err, "%s holds no run to resume (no state.safetensors)", dir);
    ic_trainer t;
    if (ic_trainer_init(&t, cfg, err)) return -1; /* a bad config leaves no directory behind */
    if (ic_mkdirs(dir, err)) { ic_trainer_free(&t); return -1; }
    metric_log l = {0};
    FILE *mf = NULL;
    int rc = -1;
    if (resume) {
        if (ic_trainer_load_state(&t, state_path, err)) goto done;
        if (metrics_truncate(metrics_path, t.step, &l, err)) goto done;
        say(hooks, "resuming %s at step %ld of %ld", dir, t.step, cfg->train_steps);
    } else {
        if (ic_write_file_atomic(metrics_path, METRICS_HEADER, strlen(METRICS_HEADER), err)) goto done;
        /* step-0 checkpoint: a run is resumable (and has a last good state) from the start */
        if (checkpoint(&t, dir, &l, err)) goto done;
    }
    char *cj = ic_run_config_to_json(cfg);
    if (!cj) { ic_errf(err, "out of memory"); goto done; }
    int wrc = ic_write_file_atomic(cfg_path, cj, strlen(cj), err);
    free(cj);
    if (wrc) goto done;
    mf = fopen(metrics_path, "a");
    if (!mf) { ic_errf(err, "%s: cannot open for appending", metrics_path); goto done; }

    const double t0 = now_s();
    double last_t = t0, ema_rate = 0.0;
    long done_here = 0, last_saved = t.step;
    res->outcome = IC_TRAIN_DONE;
    while (t.step < cfg->train_steps) {
        if ((hooks && hooks->stop && *hooks->stop) || (hooks && hooks->stop_after > 0 && done_here >= hooks->stop_after)) {
            res->outcome = IC_TRAIN_STOPPED;
            break;
        }
        ic_step_stats st;
        if (ic_trainer_step(&t, &st, err)) {
            ic_err_prefix(err, "%s: stopped; the last good checkpoint (step %ld) is kept", dir, last_saved);
            goto done;
        }
        done_here++;
        double now = now_s(), dt = now - last_t;
        last_t = now;
        double rate = dt > 0 ? 1.0 / dt : 0.0;
        ema_rate = done_here == 1 ? rate : 0.9 * ema_rate + 0.1 * rate;
        res->final_loss = st.loss;
        if (t.step % cfg->log_every == 0 || t.step == cfg->train_steps) {
            fprintf(mf, "%ld,%.8g,%.8g,%.6g,%.6g,%.4g,%d,%d,%d,%.3f\n", st.step, st.loss, st.excess_loss, st.lr,
                    st.grad_norm, ema_rate, st.n_dims, st.n_points, st.loops, now - t0);
            fflush(mf);
            log_push(&l, (double)st.step, st.loss, st.excess_loss);
        }
        if (hooks && hooks->progress) {
            ic_progress p = {.step = t.step, .total = cfg->train_steps, .loss = st.loss, .excess_loss = st.excess_loss,
                             .lr = st.lr, .steps_per_s = ema_rate, .elapsed_s = now - t0,
                             .eta_s = ema_rate > 0 ? (cfg->train_steps - t.step) / ema_rate : 0,
                             .n_dims = st.n_dims, .n_points = st.n_points, .loops = st.loops};
            hooks->progress(hooks->ctx, &p);
        }
        if (t.step % cfg->save_every == 0 && t.step < cfg->train_steps) {
            if (checkpoint(&t, dir, &l, err)) goto done;
            last_saved = t.step;
        }
    }
    if (checkpoint(&t, dir, &l, err)) goto done;
    if (res->outcome == IC_TRAIN_STOPPED)
        say(hooks, "stopped at step %ld; checkpoint saved; continue with: iclab train --resume %s", t.step, dir);
    res->step = t.step;
    res->wall_s = now_s() - t0;
    rc = 0;
done:
    if (mf) fclose(mf);
    log_free(&l);
    ic_trainer_free(&t);
    return rc;
}
