/* capi.c: the flat C API of capi.h over the library (checkpoint, eval,
 * probe, baselines, prompts, tasks, train). Each function does what the
 * matching CLI command does with the same inputs, so results agree bit for
 * bit (tests/python/test_iclab.py checks them against the CLI). */
#include "capi.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines.h"
#include "checkpoint.h"
#include "config.h"
#include "eval.h"
#include "ops.h"
#include "probe.h"
#include "prompts.h"
#include "rng.h"
#include "schedule.h"
#include "sysmem.h"
#include "tasks.h"
#include "train.h"

struct iclab_model {
    ic_model m;
    ic_schedule sched; /* the stored one */
    ic_schedule run;   /* scratch: the one a call runs */
    char notice[512];
};

struct iclab_capture {
    ic_capture cap;
};

/* The library's message into the caller's buffer; returns -1. */
static int fail(const ic_err *e, char *buf, size_t len) {
    if (buf && len) snprintf(buf, len, "%s", e->msg);
    return -1;
}

const char *iclab_version(void) { return ICLAB_VERSION; }
int iclab_api_version(void) { return ICLAB_API_VERSION; }

void iclab_set_threads(int n) { ic_set_threads(n); }

/* ---------------- models ---------------- */

iclab_model *iclab_model_load(const char *path, int n_head, char *errbuf, size_t errlen) {
    ic_err err = {{0}};
    if (!path) {
        ic_errf(&err, "model path is NULL");
        fail(&err, errbuf, errlen);
        return NULL;
    }
    iclab_model *h = calloc(1, sizeof *h);
    if (!h) {
        ic_errf(&err, "%s: out of memory", path);
        fail(&err, errbuf, errlen);
        return NULL;
    }
    if (n_head < 0) {
        ic_errf(&err, "n_head must be >= 0 (0: from the metadata), got %d", n_head);
    } else if (ic_checkpoint_load(path, &h->m, &h->sched, n_head, h->notice, sizeof h->notice, &err) == 0) {
        return h;
    }
    ic_model_free(&h->m);
    free(h);
    fail(&err, errbuf, errlen);
    return NULL;
}

void iclab_model_free(iclab_model *h) {
    if (!h) return;
    ic_model_free(&h->m);
    free(h);
}

void iclab_model_shape(const iclab_model *h, int *n_dims, int *n_positions, int *n_embd, int *n_layer, int *n_head) {
    const ic_config *c = &h->m.cfg;
    if (n_dims) *n_dims = c->n_dims;
    if (n_positions) *n_positions = c->n_positions;
    if (n_embd) *n_embd = c->n_embd;
    if (n_layer) *n_layer = c->n_layer;
    if (n_head) *n_head = c->n_head;
}

int iclab_model_schedule(const iclab_model *h, char *buf, size_t len, int *loops) {
    char *text = malloc(8 * IC_MAX_SCHEDULE + 16);
    int n = 0;
    if (text) {
        ic_schedule_format(&h->sched, text, 8 * IC_MAX_SCHEDULE + 16);
        n = (int)strlen(text);
        if (buf && len) snprintf(buf, len, "%s", text);
        free(text);
    } else if (buf && len) {
        buf[0] = '\0';
    }
    if (loops) *loops = h->sched.loops;
    return n;
}

const char *iclab_model_notice(const iclab_model *h) { return h->notice; }

const float *iclab_model_param(const iclab_model *h, const char *name, size_t *count, char *errbuf, size_t errlen) {
    ic_err err = {{0}};
    for (int k = 0; name && k < IC_NUM_PARAM_TENSORS; k++) {
        if (strcmp(ic_param_name(k), name) == 0) {
            if (count) *count = h->m.param_sizes[k];
            return ic_model_tensor(&h->m, k, 0);
        }
    }
    char names[512] = "";
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "", ic_param_name(k));
    }
    ic_errf(&err, "unknown parameter tensor '%s' (one of: %s)", name ? name : "(null)", names);
    fail(&err, errbuf, errlen);
    return NULL;
}

/* The prompts fit the model and are finite (what ic_prompts_load checks of a file). */
static int check_prompts(const ic_model *m, const float *xs, const float *ys, int B, int n, int d, ic_err *err) {
    if (!xs || !ys) return ic_errf(err, "xs and ys must not be NULL");
    if (B < 1 || n < 1) return ic_errf(err, "prompts: need at least 1 prompt of 1 point, got B=%d n=%d", B, n);
    if (m && d != m->cfg.n_dims)
        return ic_errf(err, "prompts have d=%d but the model takes n_dims=%d", d, m->cfg.n_dims);
    if (d < 1) return ic_errf(err, "prompts: d must be >= 1, got %d", d);
    if (m && n > m->cfg.n_positions)
        return ic_errf(err, "prompts have n=%d points but the model has n_positions=%d", n, m->cfg.n_positions);
    if (ic_check_finite("xs", xs, (size_t)B * n * d, err) || ic_check_finite("ys", ys, (size_t)B * n, err))
        return -1;
    return 0;
}

/* h->run = the stored schedule edited by text/loops, as `iclab predict` does. */
static int run_schedule(iclab_model *h, const char *text, int loops, ic_err *err) {
    h->run = h->sched;
    if (text && text[0]) {
        if (ic_schedule_parse(&h->run, text, &h->sched, h->m.cfg.n_layer, err)) return -1;
    }
    if (loops < 0 || loops > IC_MAX_LOOPS) return ic_errf(err, "loops must be in 0..%d (0: the model's), got %d", IC_MAX_LOOPS, loops);
    if (loops > 0) ic_schedule_set_loops(&h->run, loops);
    if (ic_schedule_validate(&h->run, h->m.cfg.n_layer, err))
        return (text && text[0]) || loops ? -1 : ic_err_prefix(err, "schedule stored in the model");
    return 0;
}

static int check_memory(const iclab_model *h, int B, int n, int chunk, int need_grad, double extra, ic_err *err) {
    ic_mem_bytes mb;
    ic_model_mem_estimate(&h->m.cfg, &h->run, chunk < B ? chunk : B, n, need_grad, 1, &mb);
    return ic_mem_check(mb.total - mb.params + extra, "iclab", "lower the batch or loops", err);
}

int iclab_model_predict(iclab_model *h, const float *xs, const float *ys, int B, int n, int d, const char *schedule,
                        int loops, int batch, float *pred, char *errbuf, size_t errlen) {
    ic_err err = {{0}};
    if (batch <= 0) batch = 256;
    if (!pred) ic_errf(&err, "pred must not be NULL");
    else if (check_prompts(&h->m, xs, ys, B, n, d, &err) || run_schedule(h, schedule, loops, &err) ||
        check_memory(h, B, n, batch, 0, 0.0, &err) ||
        ic_model_predict(&h->m, &h->run, xs, ys, B, n, batch, pred, &err))
        ;
    else
        return 0;
    return fail(&err, errbuf, errlen);
}

/* ---------------- capture ---------------- */

iclab_capture *iclab_model_capture(iclab_model *h, const float *xs, const float *ys, int B, int n, int d,
                                   const char *schedule, int loops, int batch, int parts, char *errbuf,
                                   size_t errlen) {
    ic_err err = {{0}};
    if (batch <= 0) batch = 256;
    iclab_capture *c = calloc(1, sizeof *c);
    if (!c) ic_errf(&err, "out of memory");
    else if (check_prompts(&h->m, xs, ys, B, n, d, &err) || run_schedule(h, schedule, loops, &err) ||
             check_memory(h, B, n, batch, parts != 0, 0.0, &err) ||
             ic_probe_capture(&h->m, &h->run, xs, ys, B, n, batch, parts != 0, &c->cap, &err))
        ;
    else
        return c;
    iclab_capture_free(c);
    fail(&err, errbuf, errlen);
    return NULL;
}

void iclab_capture_free(iclab_capture *c) {
    if (!c) return;
    ic_capture_free(&c->cap);
    free(c);
}

void iclab_capture_shape(const iclab_capture *c, int *n_states, int *B, int *n, int *T, int *C, int *loops,
                         int *n_steps) {
    if (n_states) *n_states = c->cap.n_states;
    if (B) *B = c->cap.B;
    if (n) *n = c->cap.n;
    if (T) *T = c->cap.T;
    if (C) *C = c->cap.C;
    if (loops) *loops = c->cap.loops;
    if (n_steps) *n_steps = c->cap.n_steps;
}

const float *iclab_capture_resid(const iclab_capture *c) { return c->cap.resid; }
const float *iclab_capture_preds(const iclab_capture *c) { return c->cap.preds; }
const float *iclab_capture_attn(const iclab_capture *c) { return c->cap.attn; }
const float *iclab_capture_mlp(const iclab_capture *c) { return c->cap.mlp; }

int iclab_capture_label(const iclab_capture *c, int k, char *buf, size_t len) {
    if (k < 0 || k >= c->cap.n_states || !buf || !len) return -1;
    ic_capture_label(&c->cap, k, buf, len);
    return 0;
}

int iclab_capture_lens(const iclab_model *h, const iclab_capture *c, float *pred, char *errbuf, size_t errlen) {
    ic_err err = {{0}};
    if (!pred)
        ic_errf(&err, "pred must not be NULL");
    else if (c->cap.C != h->m.cfg.n_embd)
        ic_errf(&err, "the capture has C=%d but the model n_embd=%d", c->cap.C, h->m.cfg.n_embd);
    else if (ic_probe_lens(&h->m, &c->cap, pred, &err) == 0)
        return 0;
    return fail(&err, errbuf, errlen);
}

/* ---------------- baselines, prompts ---------------- */

int iclab_baseline_predict(const char *name, const float *xs, const float *ys, int B, int n, int d, float *pred,
                           char *errbuf, size_t errlen) {
    ic_err err = {{0}};
    ic_baseline_spec bl;
    if (!name) ic_errf(&err, "baseline name is NULL");
    else if (!pred) ic_errf(&err, "pred must not be NULL");
    else if (ic_baseline_parse(name, &bl, &err) || check_prompts(NULL, xs, ys, B, n, d, &err) ||
             ic_baseline_predict(&bl, xs, ys, B, n, d, pred, &err))
        ;
    else
        return 0;
    return fail(&err, errbuf, errlen);
}

int iclab_prompts_load(const char *path, int *B, int *n, int *d, float *xs, float *ys, char *errbuf, size_t errlen) {
    ic_err err = {{0}};
    ic_prompts p = {0};
    if (!path) ic_errf(&err, "prompt file path is NULL");
    if (!path || ic_prompts_load(path, 0, 0, &p, &err)) return fail(&err, errbuf, errlen);
    if (B) *B = p.B;
    if (n) *n = p.n;
    if (d) *d = p.d;
    if (xs) memcpy(xs, p.xs, sizeof(float) * (size_t)p.B * p.n * p.d);
    if (ys) memcpy(ys, p.ys, sizeof(float) * (size_t)p.B * p.n);
    ic_prompts_free(&p);
    return 0;
}

/* The task keys iclab_make_prompts takes from params_json. */
static const char *const TASK_KEYS[] = {"sparsity", "noise_std", "hidden", "depth", "x_scale"};

int iclab_make_prompts(const char *task, int B, int n, int d, uint64_t seed, const char *params_json, float *xs,
                       float *ys, float *w, int *has_w, char *errbuf, size_t errlen) {
    ic_err err = {{0}};
    ic_run_config *cfg = malloc(sizeof *cfg);
    json_t *root = NULL;
    ic_task_params tp = {0};
    int rc = -1;
    if (!cfg) { ic_errf(&err, "out of memory"); goto done; }
    if (!task || !xs || !ys) { ic_errf(&err, "task, xs and ys must not be NULL"); goto done; }
    if (B < 1 || n < 1 || d < 1) { ic_errf(&err, "need B, n, d >= 1, got B=%d n=%d d=%d", B, n, d); goto done; }
    ic_run_config_default(cfg);
    if (ic_run_config_set(cfg, "task", task, &err)) { ic_err_prefix(&err, "task"); goto done; }
    if (params_json && params_json[0]) {
        json_error_t je;
        root = json_loads(params_json, 0, &je);
        if (!root || !json_is_object(root)) {
            ic_errf(&err, "task parameters: not a JSON object (%s)", root ? "another JSON value" : je.text);
            goto done;
        }
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val) {
            size_t k = 0;
            while (k < sizeof TASK_KEYS / sizeof *TASK_KEYS && strcmp(TASK_KEYS[k], key) != 0) k++;
            if (k == sizeof TASK_KEYS / sizeof *TASK_KEYS) {
                ic_errf(&err, "task parameter '%s' unknown (one of: sparsity, noise_std, hidden, depth, x_scale)", key);
                goto done;
            }
        }
        if (ic_run_config_load_json(cfg, params_json, "task parameters", &err)) goto done;
    }
    ic_task_spec spec;
    if (ic_run_config_task(cfg, d, &spec, NULL, &err)) goto done;
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    if (ic_task_sample(&spec, &rng, B, n, d, xs, ys, &tp, &err)) goto done;
    if (has_w) *has_w = tp.w != NULL;
    if (w && tp.w) memcpy(w, tp.w, sizeof(float) * (size_t)B * d);
    rc = 0;
done:
    ic_task_params_free(&tp);
    json_decref(root);
    free(cfg);
    return rc ? fail(&err, errbuf, errlen) : 0;
}

/* ---------------- training ---------------- */

typedef struct {
    iclab_progress_fn progress;
    iclab_message_fn message;
    void *ctx;
    volatile sig_atomic_t stop;
} train_ctx;

static void progress_cb(void *p, const ic_progress *pr) {
    train_ctx *t = p;
    if (t->progress &&
        t->progress(t->ctx, pr->step, pr->total, pr->loss, pr->excess_loss, pr->lr, pr->elapsed_s))
        t->stop = 1;
}

static void message_cb(void *p, const char *line) {
    train_ctx *t = p;
    if (t->message) t->message(t->ctx, line);
}

int iclab_train(const char *config_json, const char *out_dir, int resume, iclab_progress_fn progress,
                iclab_message_fn message, void *ctx, long *steps, double *final_loss, char *errbuf, size_t errlen) {
    ic_err err = {{0}};
    ic_run_config *cfg = malloc(sizeof *cfg);
    int rc = -1;
    if (!cfg) { ic_errf(&err, "out of memory"); goto done; }
    if (!out_dir) { ic_errf(&err, "run directory is NULL"); goto done; }
    if (resume) {
        if (ic_train_dir_config(out_dir, cfg, &err)) { ic_err_prefix(&err, "cannot resume %s", out_dir); goto done; }
        if (config_json && config_json[0]) {
            /* only the keys that may change (as `iclab train --resume`) */
            json_error_t je;
            json_t *root = json_loads(config_json, 0, &je);
            if (!root || !json_is_object(root)) {
                json_decref(root);
                ic_errf(&err, "config: not a JSON object (%s)", root ? "another JSON value" : je.text);
                goto done;
            }
            const char *key;
            json_t *val;
            int bad = 0;
            json_object_foreach(root, key, val) {
                if (!ic_run_config_may_change(key)) {
                    ic_errf(&err, "config key '%s' cannot change when resuming (it would change the run); only "
                            "train_steps, threads, log_every, save_every can", key);
                    bad = 1;
                    break;
                }
            }
            json_decref(root);
            if (bad || ic_run_config_load_json(cfg, config_json, "config", &err)) goto done;
        }
    } else {
        ic_run_config_default(cfg);
        /* n_points left unset follows a smaller n_positions, as in the CLI */
        const int def_points = cfg->n_points;
        cfg->n_points = 0;
        if (config_json && config_json[0] && ic_run_config_load_json(cfg, config_json, "config", &err)) goto done;
        if (cfg->n_points == 0) cfg->n_points = def_points < cfg->model.n_positions ? def_points : cfg->model.n_positions;
        if (ic_run_config_validate(cfg, &err)) { ic_err_prefix(&err, "invalid config"); goto done; }
    }
    iclab_set_threads(cfg->threads);
    train_ctx tc = {progress, message, ctx, 0};
    ic_train_hooks hooks = {.progress = progress_cb, .message = message_cb, .ctx = &tc, .stop = &tc.stop};
    ic_train_result res;
    if (ic_train_run(out_dir, cfg, resume != 0, &hooks, &res, &err)) goto done;
    if (steps) *steps = res.step;
    if (final_loss) *final_loss = res.final_loss;
    rc = res.outcome == IC_TRAIN_STOPPED ? 1 : 0;
done:
    free(cfg);
    return rc < 0 ? fail(&err, errbuf, errlen) : rc;
}
