/* cmd_demo.c: `iclab demo` — the small default experiment: train a small
 * transformer on in-context linear regression (a few minutes on 2 cores),
 * then show its in-context error curve next to least squares and the zero
 * estimator, as a table and as plots. The evaluation prompts come from the
 * task the model was trained on, so overriding a task key (--x_scale 2,
 * --task ...) changes both. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines.h"
#include "checkpoint.h"
#include "cli.h"
#include "eval.h"
#include "fsutil.h"
#include "numout.h"
#include "progress.h"
#include "tasks.h"
#include "train.h"

static const cli_opt OPTS[] = {
    {"out", "DIR", "runs/demo", "run directory (an interrupted demo resumes from here)"},
    {"prompts", "N", "1280", "evaluation prompts"},
};

/* The demo's model and training recipe; every key can still be overridden
 * by flags (iclab demo --train_steps 500 ...). */
static const char *const DEMO_KEYS[][2] = {
    {"task", "linear_regression"}, {"n_dims", "5"},        {"n_positions", "11"},      {"n_points", "11"},
    {"n_embd", "64"},              {"n_layer", "3"},       {"n_head", "2"},            {"batch_size", "64"},
    {"learning_rate", "1e-3"},     {"lr_schedule", "cosine"}, {"warmup_steps", "200"}, {"min_lr_ratio", "0.05"},
    {"train_steps", "4000"},       {"seed", "1"},          {"log_every", "50"},        {"save_every", "500"},
};

static int write_curves(const char *dir, const char *const names[], const ic_curve *curves, int nc,
                        const ic_task_spec *task, const char *metric, ic_err *err) {
    char path[4096];
    const int n = curves[0].n, d = task->n_dims;
    char title[128], what[160];
    snprintf(title, sizeof title, "In-context %s, d = %d", ic_task_name(task->kind), d);
    if (ic_curves_write(dir, "curve", title, metric, names, curves, nc, err)) return -1;
    int rc;
    /* JSON */
    json_t *o = json_object();
    snprintf(what, sizeof what, "%s at each number of in-context examples k", metric);
    json_object_set_new(o, "metric", json_string(what));
    json_object_set_new(o, "n_dims", json_integer(d));
    json_object_set_new(o, "task_spec", ic_task_spec_json(task));
    json_t *cs = json_object();
    for (int c = 0; c < nc; c++) {
        /* NaN/Inf (a diverged curve) stays in place as null (numout.h) */
        json_object_set_new(cs, names[c], json_pack("{s:o,s:o,s:o}", "mean", ic_json_nums(curves[c].mean, n), "lo90",
                                                    ic_json_nums(curves[c].lo, n), "hi90", ic_json_nums(curves[c].hi, n)));
    }
    json_object_set_new(o, "curves", cs);
    char *js = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(o);
    rc = !js || ic_path_join(path, sizeof path, dir, "curve.json", err) || ic_write_file_atomic(path, js, strlen(js), err);
    free(js);
    return rc ? -1 : 0;
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_run_config *cfg = malloc(sizeof *cfg);
    ic_err err = {{0}};
    const char *dir = cli_get(&a, "out") ? cli_get(&a, "out") : "runs/demo";
    int n_prompts;
    float *xs = NULL, *ys = NULL, *pm = NULL, *pl = NULL, *pz = NULL;
    double *sq = NULL;
    ic_curve curves[3] = {{0}};
    ic_model m = {0};
    ic_schedule *s = malloc(sizeof *s);
    if (!cfg || !s) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if ((rc = cli_get_int(&a, "prompts", 10, 1000000, 1280, &n_prompts))) goto done;
    ic_run_config_default(cfg);
    for (size_t i = 0; i < sizeof DEMO_KEYS / sizeof *DEMO_KEYS; i++)
        if (ic_run_config_set(cfg, DEMO_KEYS[i][0], DEMO_KEYS[i][1], &err)) {
            cli_error(cmd, "internal demo config: %s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
    for (int i = 0; i < a.n_keys; i++) {
        int bad = strcmp(a.key_name[i], "config") == 0 ? ic_run_config_load_file(cfg, a.key_val[i], &err)
                                                       : ic_run_config_set(cfg, a.key_name[i], a.key_val[i], &err);
        if (bad) { cli_error(cmd, "option '--%s': %s", a.key_name[i], err.msg); rc = CLI_USAGE; goto done; }
    }
    if (ic_run_config_validate(cfg, &err)) { cli_error(cmd, "invalid config: %s", err.msg); rc = CLI_FAIL; goto done; }
    {
        static const char *const written[] = {"state.safetensors", "model.safetensors", "*.json", "*.csv", "*.svg", NULL};
        cli_path ins[CLI_MAX_OPTS];
        const cli_path od = {"out", dir};
        if ((rc = cli_check_overwrite(cmd, ins, cli_config_inputs(&a, ins, CLI_MAX_OPTS), NULL, 0, &od, written))) goto done;
    }
    cli_set_threads(cfg->threads);

    /* 1. train (resuming an interrupted demo; re-evaluating a finished one) */
    char model_path[4096];
    if (ic_path_join(model_path, sizeof model_path, dir, "model.safetensors", &err)) {
        cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done;
    }
    /* an earlier demo here resumes (or, finished, is only re-evaluated); its
     * config must be this one, except train_steps/threads/log_every/save_every */
    int resume = ic_train_dir_has_run(dir);
    /* the evaluation prompts: the task the model trains on */
    ic_task_spec task;
    double norm;
    if (ic_run_config_task(cfg, cfg->model.n_dims, &task, &norm, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    const char *metric = task.kind == IC_TASK_SPARSE_LINEAR ? "squared error / s" : "squared error / d";
    printf("iclab demo: a %d-block transformer (e=%d, %d heads) learns %s in context, d=%d, "
           "%d points per prompt; %ld training steps\n",
           cfg->model.n_layer, cfg->model.n_embd, cfg->model.n_head, ic_task_name(task.kind), cfg->model.n_dims,
           cfg->n_points, cfg->train_steps);
    fflush(stdout);
    cli_progress prog;
    cli_progress_init(&prog, "demo", 500);
    ic_train_hooks hooks = {.progress = cli_progress_cb, .message = cli_message_cb, .ctx = &prog,
                            .stop = cli_install_stop_handler()};
    ic_train_result res;
    if (ic_train_run(dir, cfg, resume, &hooks, &res, &err)) {
        cli_error(cmd, "%s%s", err.msg, resume ? " (an earlier demo with another config? use --out OTHER_DIR)" : "");
        rc = CLI_FAIL;
        goto done;
    }
    if (res.outcome == IC_TRAIN_STOPPED) { rc = 130; goto done; }
    if (res.step == res.start_step)
        printf("already trained: %ld steps (last logged training loss %.4g); model in %s\n", res.step, res.final_loss,
               model_path);
    else
        printf("trained %ld steps in %.1f s (final training loss %.4g); model in %s\n", res.step - res.start_step,
               res.wall_s, res.final_loss, model_path);

    /* 2. evaluate on fresh prompts: the model, least squares, the zero estimator */
    if (ic_checkpoint_load(model_path, &m, s, 0, NULL, 0, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    const int B = n_prompts, n = cfg->n_points, d = cfg->model.n_dims;
    xs = malloc(sizeof(float) * (size_t)B * n * d);
    ys = malloc(sizeof(float) * (size_t)B * n);
    pm = malloc(sizeof(float) * (size_t)B * n);
    pl = malloc(sizeof(float) * (size_t)B * n);
    pz = calloc((size_t)B * n, sizeof(float));
    sq = malloc(sizeof(double) * (size_t)B * n);
    if (!xs || !ys || !pm || !pl || !pz || !sq) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    ic_rng rng;
    ic_rng_seed(&rng, 0xE7A1u + cfg->seed); /* evaluation prompts: never the training stream */
    if (ic_task_sample(&task, &rng, B, n, d, xs, ys, NULL, &err) ||
        ic_model_predict(&m, s, xs, ys, B, n, 256, pm, &err) ||
        ic_baseline_least_squares(xs, ys, B, n, d, pl, &err)) {
        cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done;
    }
    const float *preds[3] = {pm, pl, pz};
    const char *names[3] = {"transformer", "least_squares", "zero"};
    for (int c = 0; c < 3; c++) {
        ic_squared_errors(preds[c], ys, B, n, norm, sq);
        if (ic_curve_from_errors(sq, B, n, 1000, &rng, &curves[c], &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    }
    printf("\n%s on %d fresh prompts (90%% bootstrap interval)\n", metric, B);
    printf("%4s  %-26s %-26s %s\n", "k", "transformer", "least squares", "zero estimator");
    for (int i = 0; i < n; i++) {
        char c0[64], c1[64];
        snprintf(c0, sizeof c0, "%.4f [%.4f, %.4f]", curves[0].mean[i], curves[0].lo[i], curves[0].hi[i]);
        snprintf(c1, sizeof c1, "%.4f [%.4f, %.4f]", curves[1].mean[i], curves[1].lo[i], curves[1].hi[i]);
        printf("%4d  %-26s %-26s %.4f%s\n", i, c0, c1, curves[2].mean[i], i == d ? "   <- k = d" : "");
    }
    if (write_curves(dir, names, curves, 3, &task, metric, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    printf("\nplots: %s/curve.svg, %s/curve_log.svg, %s/loss.svg; numbers: %s/curve.csv, curve.json\n", dir, dir, dir, dir);
    rc = CLI_OK;
done:
    for (int c = 0; c < 3; c++) ic_curve_free(&curves[c]);
    ic_model_free(&m);
    free(xs); free(ys); free(pm); free(pl); free(pz); free(sq); free(cfg); free(s);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_demo = {
    "demo",
    "the default experiment: train a small model on in-context linear regression, compare with least squares",
    "iclab demo [--out DIR] [--prompts N] [--KEY VALUE ...]",
    "Trains a 3-block transformer (e=64, 2 heads) on in-context linear regression with d=5\n"
    "and 11 points per prompt (a few minutes on 2 cores), then evaluates it on fresh prompts\n"
    "next to least squares and the zero estimator: a table on the terminal, curve.csv,\n"
    "curve.json, curve.svg and curve_log.svg in DIR. Ctrl-C saves; running the demo again\n"
    "resumes. Any run-config key may be overridden (e.g. --train_steps 500 for a quick look);\n"
    "the evaluation prompts come from the trained task, task keys (--x_scale 2) included.",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    1,
    run,
};
