/* cmd_eval.c: `iclab eval` — in-context error curves of a model and of
 * classical baselines on the same prompts, under distribution shifts
 * (library: src/evalrun.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evalrun.h"
#include "outdir.h"
#include "progress.h"

typedef struct {
    cli_ctx_opts ctx;
    const char *out, *task, *settings, *baselines, *prompt_file, *precision;
    int sparsity, hidden, depth;
    double noise_std, halt_tol;
} eval_opts;

#define OFF(f) offsetof(eval_opts, f)
static const cli_opt OPTS[] = {
    CLI_OPT_MODEL,
    CLI_OPT_OUT(eval_opts, "output directory: results.json, one CSV and two SVGs per setting (required)"),
    {"task", "NAME", "the model's training task", "function class of the prompts (see docs/tasks.md); its parameters "
                                                  "are the model's unless the flags below give them",
     CLI_STR_OPT, 0, 0, OFF(task)},
    CLI_OPT_PROMPTS("1280", 1, "prompts per setting"),
    CLI_OPT_N_POINTS(1),
    {"settings", "LIST", "standard", "comma-separated: standard, noisy[:std], scale_x:c, scale_y:c, skewed, "
                                      "half_subspace, random_quadrants, orthogonal_query, overlapping_query, or all",
     CLI_STR, 0, 0, OFF(settings)},
    {"baselines", "LIST", "task-dependent", "comma-separated solvers (docs/baselines.md), e.g. least_squares,averaging,knn:3",
     CLI_STR_OPT, 0, 0, OFF(baselines)},
    {"prompt_file", "FILE", NULL, "evaluate on these prompts (xs [B,n,d], ys [B,n]) instead of sampling", CLI_STR_OPT, 0, 0,
     OFF(prompt_file)},
    CLI_OPT_SCHEDULE,
    CLI_OPT_LOOPS,
    {"halt_tol", "TOL", "0 (off)",
     "adaptive depth: the model stops each prompt at the first loop whose own fixed-point measure is below TOL "
     "(at most --loops loops); results.json gives the loops used",
     CLI_DOUBLE, 0, 1e30, OFF(halt_tol)},
    {"precision", "P", "fp32",
     "the model's matrix products: fp32, or bf16 (operands rounded to bf16, fp32 sums; needs AVX512_BF16 or "
     "AMX-BF16). Not taken from the training run: results.json records the one used",
     CLI_STR, 0, 0, OFF(precision)},
    CLI_OPT_N_HEAD,
    CLI_OPT_SEED("1234", "seed of the evaluation prompts (the same seed gives the same prompts)"),
    CLI_OPT_BOOTSTRAP("bootstrap resamples for the 90% intervals (0: none)"),
    {"sparsity", "S", "the model's", "non-zero coordinates (sparse_linear_regression)", CLI_INT, 1, 100000, OFF(sparsity)},
    {"noise_std", "S", "the model's", "label noise std (noisy_linear_regression)", CLI_DOUBLE, 0, 1e6, OFF(noise_std)},
    {"hidden", "H", "the model's", "hidden units (relu_2nn_regression)", CLI_INT, 1, 100000, OFF(hidden)},
    {"depth", "D", "the model's", "tree depth (decision_tree)", CLI_INT, 1, 20, OFF(depth)},
    CLI_OPT_THREADS,
};

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    eval_opts o = {0};
    int rc = cli_parse_opts(cmd, argc, argv, &a, &o);
    if (rc) return rc < 0 ? CLI_OK : rc;
    cli_model L = {0};
    ic_prompts pf = {0};
    ic_eval_report r = {0};
    ic_err err = {{0}};
    const char *model_path = o.ctx.model, *dir = o.out;
    rc = CLI_FAIL;
    {
        static const char *const written[] = {"results.json", "*.csv", "*.svg", NULL};
        const cli_path ins[] = {{"model", model_path}, {"prompt_file", o.prompt_file}}, od = {"out", dir};
        if (cli_check_overwrite(cmd, ins, 2, NULL, 0, &od, written)) goto done;
    }
    ic_precision prec;
    if (ic_precision_parse(o.precision, &prec)) {
        cli_error(cmd, "--precision: expected fp32 or bf16, got '%s'", o.precision);
        rc = CLI_USAGE;
        goto done;
    }
    if (ic_precision_check(prec, NULL, &err)) { cli_error(cmd, "%s", err.msg); goto done; } /* before anything is written */
    cli_set_threads(o.ctx.threads);

    /* the model, its schedule and (if recorded) its training config */
    if (cli_model_load(cmd, &o.ctx, NULL, 1, &L)) goto done;
    const int d = L.d;
    /* the model's recorded task with the flags on top, then the one mapping to a spec
     * (every parameter the flags leave alone, x_scale included, stays the model's) */
    if (o.task && ic_run_config_set(L.rcfg, "task", o.task, &err)) { cli_error(cmd, "--%s", err.msg); goto done; }
    if (o.sparsity) L.rcfg->sparsity = o.sparsity;
    if (o.hidden) L.rcfg->hidden = o.hidden;
    if (o.depth) L.rcfg->depth = o.depth;
    if (cli_get(&a, "noise_std")) L.rcfg->noise_std = o.noise_std;
    ic_task_spec task;
    double norm;
    if (ic_run_config_task(L.rcfg, d, &task, &norm, &err)) {
        if (o.task) cli_error(cmd, "--%s", err.msg);
        else cli_error(cmd, "%s: %s", model_path, err.msg);
        goto done;
    }

    /* predictors (the model, then the baselines) and settings */
    ic_predictor preds[IC_EVAL_MAX_PRED];
    ic_shift shifts[IC_EVAL_MAX_SETTINGS];
    ic_eval_spec spec = {.B = o.ctx.prompts, .n = L.n, .seed = o.ctx.seed, .n_boot = o.ctx.bootstrap, .shifts = shifts,
                         .pred = preds, .halt_tol = o.halt_tol, .precision = prec};
    if (ic_eval_predictors(o.baselines, task.kind, preds, &spec.np, &err)) {
        cli_error(cmd, "--baselines: %s", err.msg);
        rc = CLI_USAGE;
        goto done;
    }
    if (o.prompt_file) {
        if (ic_prompts_load(o.prompt_file, d, L.m.cfg.n_positions, &pf, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
        spec.file = &pf;
        spec.B = pf.B;
        spec.n = pf.n;
    } else if (ic_eval_settings(o.settings, shifts, &spec.nset, &err)) {
        cli_error(cmd, "--settings: %s", err.msg);
        rc = CLI_USAGE;
        goto done;
    }
    const int B = spec.B, n = spec.n;
    {
        /* prompts, shifted queries, predictions, errors, per-position prompts, bootstrap */
        const double Bn = (double)B * n;
        const double extra = Bn * (2.0 * d + 3) * 4 + Bn * 8 + Bn * (d + 2.0) * 4 + (double)o.ctx.bootstrap * n * 8 + 4.0 * B;
        if (cli_check_memory(cmd, &L.m, L.s, B, n, 256, 0, extra, "--prompts, --n_points or --loops")) goto done;
    }
    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    const char *inputs[] = {model_path, o.prompt_file};
    if (cli_outdir_begin(cmd, &od, dir, inputs, 2)) goto done;
    dir = od.tmp;

    printf("iclab eval: %s on %s, d=%d, %d points, %d prompts per setting, %s products (paired: every predictor sees "
           "the same prompts)\n",
           model_path, ic_task_name(task.kind), d, n, B, ic_precision_name(prec));
    fflush(stdout);
    cli_bar bar;
    cli_bar_init(&bar, "iclab eval", "predictors");
    const ic_meta meta = {.model = model_path, .sched = L.s, .loops = L.s->loops, .task = &task, .d = d, .n = n,
                          .prompts = B, .seed = o.ctx.seed};
    if (ic_eval_run(&L.m, L.s, &task, norm, &spec, cli_bar_cb, &bar, &r, &err) || ic_eval_write(dir, &r, &meta, &err)) {
        cli_bar_end(&bar);
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    const int ks[3] = {d / 2, d, 2 * d};
    for (int si = 0; si < r.nset; si++) {
        printf("\n[%s] %s%s\n%-22s", r.label[si], r.metric, r.per_position[si] ? " (each position on its own prompt)" : "",
               "predictor");
        for (int j = 0; j < 3; j++)
            if (ks[j] < n) printf("  k=%-5d%14s", ks[j], "");
        printf("  prompts/s\n");
        for (int i = 0; i < r.np; i++) {
            const ic_curve *c = &r.curves[si * r.np + i];
            const double secs = r.seconds[si * r.np + i];
            printf("%-22s", r.pred[i].label);
            for (int j = 0; j < 3; j++)
                if (ks[j] < n) printf("  %-8.4g [%-7.3g,%7.3g]", c->mean[ks[j]], c->lo[ks[j]], c->hi[ks[j]]);
            printf("  %.0f\n", secs > 0 ? B / secs : 0.0);
        }
        if (r.halt_tol > 0) {
            const long *c = r.loops_count + (size_t)si * (r.L + 1);
            double sum = 0, tot = 0;
            for (int t = 1; t <= r.L; t++) sum += (double)t * c[t], tot += (double)c[t];
            printf("(halting at %g: the model used %.2f loops on average, at most %d)\n", r.halt_tol,
                   tot > 0 ? sum / tot : 0.0, r.L);
        }
    }
    printf("\nwrote %s/results.json and, per setting, <setting>.csv, <setting>.svg, <setting>_log.svg (':' written as '_')\n",
           od.out);
    rc = CLI_OK;
done:
    ic_eval_report_free(&r);
    ic_prompts_free(&pf);
    cli_model_free(&L);
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
    "--precision bf16 runs the model's products on bf16 operands with fp32 sums (the default\n"
    "is fp32, whatever precision the model was trained in); results.json says which.\n"
    "--schedule takes the schedule language (docs/schedules.md): a list 0,1,1,2 replaces\n"
    "the body; operations edit the model's own body, e.g. --schedule 'skip(2)' or 'dup(2-3)'.\n"
    "Example: iclab eval --model runs/tiny/model.safetensors --out runs/tiny/eval --settings standard,scale_x:2,skewed",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
