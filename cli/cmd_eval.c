/* cmd_eval.c: `iclab eval` — in-context error curves of a model and of
 * classical baselines on the same prompts, under distribution shifts. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baselines.h"
#include "checkpoint.h"
#include "cli.h"
#include "eval.h"
#include "fsutil.h"
#include "numout.h"
#include "outdir.h"
#include "prompts.h"
#include "schedule.h"
#include "shifts.h"
#include "tasks.h"

static const cli_opt OPTS[] = {
    {"model", "FILE", NULL, "model checkpoint (.safetensors; required)"},
    {"out", "DIR", NULL, "output directory: results.json, one CSV and two SVGs per setting (required)"},
    {"task", "NAME", "the model's training task", "function class of the prompts (see docs/tasks.md); its parameters "
                                                  "are the model's unless the flags below give them"},
    {"prompts", "N", "1280", "prompts per setting"},
    {"n_points", "N", "the model's training n_points", "points per prompt (<= n_positions)"},
    {"settings", "LIST", "standard", "comma-separated: standard, noisy[:std], scale_x:c, scale_y:c, skewed, "
                                      "half_subspace, random_quadrants, orthogonal_query, overlapping_query, or all"},
    {"baselines", "LIST", "task-dependent", "comma-separated solvers (docs/baselines.md), e.g. least_squares,averaging,knn:3"},
    {"prompt_file", "FILE", NULL, "evaluate on these prompts (xs [B,n,d], ys [B,n]) instead of sampling"},
    {"schedule", "TEXT", "the model's", "blocks to run per loop, in the schedule language (docs/schedules.md): a list "
                                         "0,1,1,2 replaces the body; operations like 'skip(2)' or 'dup(2-3)' edit the model's own body"},
    {"loops", "N", "the model's", "times the body is run (looped models)"},
    {"n_head", "N", "from the metadata", "attention heads; needed for a file without iclab metadata"},
    {"seed", "S", "1234", "seed of the evaluation prompts (the same seed gives the same prompts)"},
    {"bootstrap", "N", "1000", "bootstrap resamples for the 90% intervals (0: none)"},
    {"sparsity", "S", "the model's", "non-zero coordinates (sparse_linear_regression)"},
    {"noise_std", "S", "the model's", "label noise std (noisy_linear_regression)"},
    {"hidden", "H", "the model's", "hidden units (relu_2nn_regression)"},
    {"depth", "D", "the model's", "tree depth (decision_tree)"},
    {"threads", "N", "0 = all cores", "threads for BLAS and OpenMP"},
};

static const char *default_baselines(ic_task_kind k) {
    switch (k) {
    case IC_TASK_SPARSE_LINEAR: return "least_squares,averaging,knn:3,lasso:0.01";
    case IC_TASK_RELU2NN: return "least_squares,knn:3,relu_net";
    case IC_TASK_DECISION_TREE: return "least_squares,knn:3,tree:4,tree";
    default: return "least_squares,averaging,knn:3";
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Splits a comma list in place into at most max items. */
/* Comma-separated items; -1 when there are more than max (not: the rest dropped). */
static int split_list(char *text, char **items, int max) {
    int n = 0;
    for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return -1;
        items[n++] = tok;
    }
    return n;
}

#define MAX_PRED 24

typedef struct {
    char label[96];
    ic_baseline_spec bl;
    int is_model;
} predictor;

static int write_setting(const char *dir, const char *setting, const predictor *p, const ic_curve *c, int np,
                         int d, const char *metric, ic_err *err) {
    const char *labels[MAX_PRED];
    for (int i = 0; i < np; i++) labels[i] = p[i].label; /* the model comes first: drawn solid */
    char title[200];
    snprintf(title, sizeof title, "%s (d = %d)", setting, d);
    return ic_curves_write(dir, setting, title, metric, labels, c, np, err);
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_model m = {0};
    ic_schedule *s = malloc(sizeof *s);
    ic_run_config *rcfg = malloc(sizeof *rcfg);
    ic_prompts pf = {0};
    ic_err err = {{0}};
    char *settings_buf = NULL, *bl_buf = NULL;
    float *xs = NULL, *ys = NULL, *qx = NULL, *qy = NULL, *pred = NULL;
    double *sq = NULL;
    json_t *report = json_object(), *jsettings = json_object();
    ic_curve curves[MAX_PRED];
    memset(curves, 0, sizeof curves);
    int B, n_points = 0, loops = 0, n_head = 0, n_boot, threads, sparsity, hidden, depth;
    unsigned long long seed;
    double noise_std;
    if (!s || !rcfg) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if ((rc = cli_require(&a, "model")) || (rc = cli_require(&a, "out")) ||
        (rc = cli_get_int(&a, "prompts", 1, 10000000, 1280, &B)) ||
        (rc = cli_get_int(&a, "n_points", 1, 100000, 0, &n_points)) ||
        (rc = cli_get_int(&a, "loops", 1, IC_MAX_LOOPS, 0, &loops)) ||
        (rc = cli_get_int(&a, "n_head", 0, 65536, 0, &n_head)) ||
        (rc = cli_get_int(&a, "bootstrap", 0, 100000, 1000, &n_boot)) ||
        (rc = cli_get_int(&a, "threads", 0, 1024, 0, &threads)) ||
        (rc = cli_get_u64(&a, "seed", 1234, &seed)) ||
        (rc = cli_get_int(&a, "sparsity", 1, 100000, 3, &sparsity)) ||
        (rc = cli_get_int(&a, "hidden", 1, 100000, 100, &hidden)) ||
        (rc = cli_get_int(&a, "depth", 1, 20, 4, &depth)) ||
        (rc = cli_get_double(&a, "noise_std", 0, 1e6, 1.0, &noise_std)))
        goto done;
    rc = CLI_FAIL;
    const char *model_path = cli_get(&a, "model"), *dir = cli_get(&a, "out");
    {
        static const char *const written[] = {"results.json", "*.csv", "*.svg", NULL};
        const cli_path ins[] = {{"model", model_path}, {"prompt_file", cli_get(&a, "prompt_file")}}, od = {"out", dir};
        if (cli_check_overwrite(cmd, ins, 2, NULL, 0, &od, written)) goto done;
    }
    cli_set_threads(threads);

    /* the model, its schedule and (if recorded) its training config */
    if (cli_load_model(cmd, model_path, n_head, &m, s, rcfg, &n_points)) goto done;
    if (cli_get(&a, "schedule") && ic_schedule_parse(s, cli_get(&a, "schedule"), s, m.cfg.n_layer, &err)) {
        cli_error(cmd, "--schedule: %s", err.msg);
        goto done;
    }
    if (loops) ic_schedule_set_loops(s, loops);
    if (ic_schedule_validate(s, m.cfg.n_layer, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    const int d = m.cfg.n_dims;
    /* the model's recorded task with the flags on top, then the one mapping to a spec
     * (every parameter the flags leave alone, x_scale included, stays the model's) */
    if (cli_get(&a, "task") && ic_run_config_set(rcfg, "task", cli_get(&a, "task"), &err)) {
        cli_error(cmd, "--%s", err.msg);
        goto done;
    }
    if (cli_get(&a, "sparsity")) rcfg->sparsity = sparsity;
    if (cli_get(&a, "hidden")) rcfg->hidden = hidden;
    if (cli_get(&a, "depth")) rcfg->depth = depth;
    if (cli_get(&a, "noise_std")) rcfg->noise_std = noise_std;
    ic_task_spec task;
    double norm;
    if (ic_run_config_task(rcfg, d, &task, &norm, &err)) {
        if (cli_get(&a, "task")) cli_error(cmd, "--%s", err.msg);
        else cli_error(cmd, "%s: %s", model_path, err.msg);
        goto done;
    }
    const ic_task_kind kind = task.kind;
    const char *metric = kind == IC_TASK_SPARSE_LINEAR ? "squared error / s" : "squared error / d";

    /* predictors: the model, then the baselines */
    predictor preds[MAX_PRED];
    int np = 0;
    memset(preds, 0, sizeof preds);
    snprintf(preds[0].label, sizeof preds[0].label, "transformer");
    preds[0].is_model = 1;
    np = 1;
    bl_buf = strdup(cli_get(&a, "baselines") ? cli_get(&a, "baselines") : default_baselines(kind));
    if (!bl_buf) { cli_error(cmd, "out of memory"); goto done; } /* not: silently no baselines */
    char *items[MAX_PRED];
    int nbl = split_list(bl_buf, items, MAX_PRED - 1);
    if (nbl < 0) { cli_error(cmd, "--baselines: at most %d", MAX_PRED - 1); rc = CLI_USAGE; goto done; }
    for (int i = 0; i < nbl; i++) {
        if (ic_baseline_parse(items[i], &preds[np].bl, &err)) { cli_error(cmd, "--baselines: %s", err.msg); rc = CLI_USAGE; goto done; }
        ic_baseline_label(&preds[np].bl, preds[np].label, sizeof preds[np].label);
        np++;
    }

    /* settings */
    const char *prompt_file = cli_get(&a, "prompt_file");
    const char *settings_text = cli_get(&a, "settings") ? cli_get(&a, "settings") : "standard";
    if (!strcmp(settings_text, "all"))
        settings_text = "standard,noisy:1,scale_x:0.333333,scale_x:0.5,scale_x:2,scale_x:3,scale_y:0.333333,scale_y:0.5,"
                        "scale_y:2,scale_y:3,skewed,half_subspace,random_quadrants,orthogonal_query,overlapping_query";
    settings_buf = strdup(prompt_file ? "file" : settings_text);
    if (!settings_buf) { cli_error(cmd, "out of memory"); goto done; } /* not: silently no settings */
    char *sitems[64];
    int nset = split_list(settings_buf, sitems, 64);
    if (nset < 1) { cli_error(cmd, "--settings: give 1..64 settings"); rc = CLI_USAGE; goto done; }
    ic_shift shifts[64];
    for (int i = 0; i < nset && !prompt_file; i++)
        if (ic_shift_parse(sitems[i], &shifts[i], &err)) { cli_error(cmd, "--settings: %s", err.msg); rc = CLI_USAGE; goto done; }
    if (prompt_file) {
        if (ic_prompts_load(prompt_file, d, m.cfg.n_positions, &pf, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
        B = pf.B;
        n_points = pf.n;
    }
    const int n = n_points;
    {
        /* prompts, shifted queries, predictions, errors, per-position prompts, bootstrap */
        const double Bn = (double)B * n;
        const double extra = Bn * (2.0 * d + 3) * 4 + Bn * 8 + Bn * (d + 2.0) * 4 + (double)n_boot * n * 8 + 4.0 * B;
        if (cli_check_memory(cmd, &m, s, B, n, 256, 0, extra, "--prompts, --n_points or --loops")) goto done;
    }
    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    const char *inputs[] = {model_path, prompt_file};
    if (cli_outdir_begin(cmd, &od, dir, inputs, 2)) goto done;
    dir = od.tmp;
    xs = malloc(sizeof(float) * (size_t)B * n * d);
    ys = malloc(sizeof(float) * (size_t)B * n);
    qx = malloc(sizeof(float) * (size_t)B * n * d);
    qy = malloc(sizeof(float) * (size_t)B * n);
    pred = malloc(sizeof(float) * (size_t)B * n);
    sq = malloc(sizeof(double) * (size_t)B * n);
    if (!xs || !ys || !qx || !qy || !pred || !sq) { cli_error(cmd, "out of memory"); goto done; }

    printf("iclab eval: %s on %s, d=%d, %d points, %d prompts per setting (paired: every predictor sees the same prompts)\n",
           model_path, ic_task_name(kind), d, n, B);
    const int ks[3] = {d / 2, d, 2 * d};
    for (int si = 0; si < nset; si++) {
        char label[64];
        int per_pos = 0;
        if (prompt_file) {
            snprintf(label, sizeof label, "file");
            memcpy(xs, pf.xs, sizeof(float) * (size_t)B * n * d);
            memcpy(ys, pf.ys, sizeof(float) * (size_t)B * n);
        } else {
            ic_shift_label(&shifts[si], label, sizeof label);
            per_pos = ic_shift_is_per_position(&shifts[si]);
            ic_rng rng;
            ic_rng_seed(&rng, seed + 7919u * (uint64_t)si);
            if (ic_shift_sample(&task, &shifts[si], &rng, B, n, xs, ys, qx, qy, &err)) { cli_error(cmd, "%s: %s", label, err.msg); goto done; }
        }
        const float *targets = per_pos ? qy : ys;
        json_t *jpreds = json_object();
        printf("\n[%s] %s%s\n%-22s", label, metric, per_pos ? " (each position on its own prompt)" : "", "predictor");
        for (int j = 0; j < 3; j++) if (ks[j] < n) printf("  k=%-5d%14s", ks[j], "");
        printf("  prompts/s\n");
        for (int i = 0; i < np; i++) {
            double t0 = now_s();
            if (ic_eval_predict(&m, s, preds[i].is_model ? NULL : &preds[i].bl, per_pos, xs, ys, qx, B, n, d, pred, &err)) {
                cli_error(cmd, "%s, %s: %s", label, preds[i].label, err.msg);
                goto done;
            }
            double secs = now_s() - t0;
            ic_squared_errors(pred, targets, B, n, norm, sq);
            ic_rng brng;
            ic_rng_seed(&brng, seed ^ 0xB007u);
            ic_curve_free(&curves[i]);
            if (ic_curve_from_errors(sq, B, n, n_boot, &brng, &curves[i], &err)) { cli_error(cmd, "%s", err.msg); goto done; }
            printf("%-22s", preds[i].label);
            for (int j = 0; j < 3; j++)
                if (ks[j] < n) printf("  %-8.4g [%-7.3g,%7.3g]", curves[i].mean[ks[j]], curves[i].lo[ks[j]], curves[i].hi[ks[j]]);
            printf("  %.0f\n", secs > 0 ? B / secs : 0.0);
            /* a diverged predictor's NaN/Inf positions are null, in place (numout.h) */
            json_object_set_new(jpreds, preds[i].label,
                                json_pack("{s:o,s:o,s:o,s:o,s:o}", "mean", ic_json_nums(curves[i].mean, n), "lo90",
                                          ic_json_nums(curves[i].lo, n), "hi90", ic_json_nums(curves[i].hi, n), "seconds",
                                          ic_json_num(secs), "prompts_per_s", ic_json_num(secs > 0 ? B / secs : 0.0)));
        }
        json_object_set_new(jsettings, label, jpreds);
        if (write_setting(dir, label, preds, curves, np, d, metric, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    }
    char sched_buf[8 * IC_MAX_SCHEDULE + 16]; /* a full body of groups: "(4095|" per step */
    ic_schedule_format(s, sched_buf, sizeof sched_buf);
    json_object_set_new(report, "model", json_string(model_path));
    json_object_set_new(report, "task", json_string(ic_task_name(kind)));
    json_object_set_new(report, "task_spec", ic_task_spec_json(&task)); /* before each setting's shift */
    json_object_set_new(report, "n_dims", json_integer(d));
    json_object_set_new(report, "n_points", json_integer(n));
    json_object_set_new(report, "prompts", json_integer(B));
    json_object_set_new(report, "seed", ic_json_u64(seed));
    json_object_set_new(report, "schedule", json_string(sched_buf));
    json_object_set_new(report, "loops", json_integer(s->loops));
    json_object_set_new(report, "metric", json_string(metric));
    json_object_set_new(report, "interval", json_string("percentile bootstrap over prompts, 90%"));
    json_object_set_new(report, "settings", jsettings);
    jsettings = NULL;
    char *js = json_dumps(report, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    char path[4096];
    if (!js || ic_path_join(path, sizeof path, dir, "results.json", &err) || ic_write_file_atomic(path, js, strlen(js), &err)) {
        free(js);
        cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory");
        goto done;
    }
    free(js);
    printf("\nwrote %s/results.json and, per setting, <setting>.csv, <setting>.svg, <setting>_log.svg (':' written as '_')\n", od.out);
    rc = CLI_OK;
done:
    for (int i = 0; i < MAX_PRED; i++) ic_curve_free(&curves[i]);
    json_decref(report);
    json_decref(jsettings);
    ic_prompts_free(&pf);
    ic_model_free(&m);
    free(s); free(rcfg); free(settings_buf); free(bl_buf);
    free(xs); free(ys); free(qx); free(qy); free(pred); free(sq);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_eval = {
    "eval",
    "in-context error curves of a model and classical baselines on the same prompts, under distribution shifts",
    "iclab eval --model FILE --out DIR [--task NAME] [--prompts N] [--settings LIST] [--baselines LIST] [--schedule TEXT]",
    "For each setting, samples N prompts (or reads --prompt_file), runs the model and every\n"
    "baseline on the same prompts, and reports the squared error at every position k\n"
    "(normalised by d, or by s for sparse tasks) averaged over prompts, with a bootstrap 90%\n"
    "interval. Prints a table at k = d/2, d, 2d with each predictor's prompts/s; writes\n"
    "DIR/results.json and, per setting, a CSV and linear/log SVG plots.\n"
    "--schedule takes the schedule language (docs/schedules.md): a list 0,1,1,2 replaces\n"
    "the body; operations edit the model's own body, e.g. --schedule 'skip(2)' or 'dup(2-3)'.\n"
    "Example: iclab eval --model runs/tiny/model.safetensors --out runs/tiny/eval --settings standard,scale_x:2,skewed",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
