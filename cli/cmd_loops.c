/* cmd_loops.c: `iclab loops` — run a (looped) model for 1..N loops, far past
 * its trained loop count, and report per loop the in-context error and the
 * fixed-point measure (library: src/loops.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "eval.h"
#include "loops.h"
#include "outdir.h"
#include "progress.h"

typedef struct {
    cli_ctx_opts ctx;
    const char *out;
    int max_loops; /* 0: ic_loops_default_max */
    double halt_tol; /* 0: no halting */
} loops_opts;

static const cli_opt OPTS[] = {
    CLI_OPT_MODEL,
    CLI_OPT_OUT(loops_opts, "output directory: loops.csv, loops.json, loops_error.svg, loops_fixed_point.svg (required)"),
    {"max_loops", "N", "4 x the trained loops (at least 20)", "run 1..N loops", CLI_INT, 1, IC_MAX_LOOPS,
     offsetof(loops_opts, max_loops)},
    {"halt_tol", "TOL", "0 (off)",
     "adaptive depth: each prompt stops at the first loop whose own fixed-point measure is below TOL and keeps "
     "that prediction; writes the loops used (loops_used.csv, loops.json 'halting')",
     CLI_DOUBLE, 0, 1e30, offsetof(loops_opts, halt_tol)},
    CLI_OPT_PROMPTS("512", 1, "evaluation prompts (linear regression or the model's task)"),
    CLI_OPT_N_POINTS(1),
    CLI_OPT_BATCH("batch_size", "256", "prompts per forward pass"),
    CLI_OPT_SEED("1234", "seed of the evaluation prompts"),
    CLI_OPT_N_HEAD,
    CLI_OPT_THREADS,
};

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    loops_opts o = {0};
    int rc = cli_parse_opts(cmd, argc, argv, &a, &o);
    if (rc) return rc < 0 ? CLI_OK : rc;
    cli_model L = {0};
    ic_loops_report r = {0};
    ic_err err = {{0}};
    float *xs = NULL, *ys = NULL;
    rc = CLI_FAIL;
    const char *model_path = o.ctx.model, *dir = o.out;
    {
        static const char *const written[] = {"loops.csv", "loops.json", "loops_error.svg", "loops_fixed_point.svg",
                                              "loops_used.csv", NULL};
        const cli_path ins[] = {{"model", model_path}}, od = {"out", dir};
        if (cli_check_overwrite(cmd, ins, 1, NULL, 0, &od, written)) goto done;
    }
    cli_set_threads(o.ctx.threads);
    if (cli_model_load(cmd, &o.ctx, NULL, 1, &L)) goto done;
    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    if (cli_outdir_begin(cmd, &od, dir, &model_path, 1)) goto done;
    dir = od.tmp;
    const int trained = L.s->loops, d = L.d, n = L.n, B = o.ctx.prompts;
    const int Lmax = o.max_loops ? o.max_loops : ic_loops_default_max(trained);
    ic_task_spec task;
    if (cli_model_task(cmd, &L, model_path, &task, NULL)) goto done;
    if (cli_check_memory_loops(cmd, &L, Lmax, 0, B, o.ctx.batch, (double)B * n * (d + 1.0) * 4 + 5.0 * Lmax * 8,
                               "--batch_size, --max_loops or --prompts"))
        goto done;
    if (ic_eval_prompts(&task, o.ctx.seed, B, n, d, &xs, &ys, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    cli_bar bar;
    cli_bar_init(&bar, "iclab loops", NULL);
    const ic_meta meta = {.model = model_path, .task = &task, .d = d, .n = n, .prompts = B, .seed = o.ctx.seed};
    if (ic_loops_run_halting(&L.m, L.s, Lmax, o.halt_tol, xs, ys, B, n, o.ctx.batch, cli_bar_cb, &bar, &r, &err) ||
        ic_loops_write(dir, &r, &meta, &err)) {
        cli_bar_end(&bar);
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    printf("%s: trained loops %d; squared error / d and fixed-point measure per loop (%d prompts, %d points)\n",
           model_path, trained, B, n);
    printf("%6s  %12s  %12s  %12s\n", "loop", "all k", r.ks[1] < n ? "k = d" : "", "fixed point");
    for (int t = 0; t < Lmax; t++) {
        int show = t < 3 || t + 1 == trained || t + 1 == 2 * trained || t + 1 == Lmax ||
                   ((t + 1) % 10 == 0 && Lmax <= 100) || ((t + 1) % 100 == 0);
        if (show)
            printf("%6d  %12.5g  %12.5g  %12.4g%s\n", t + 1, r.err[t], r.err_k[(size_t)t * 3 + 1], r.fixed_point[t],
                   t + 1 == trained ? "   <- trained" : "");
    }
    if (o.halt_tol > 0) {
        double sum = 0;
        int lo = Lmax, hi = 0;
        for (int b = 0; b < B; b++) {
            sum += r.loops_used[b];
            lo = r.loops_used[b] < lo ? r.loops_used[b] : lo;
            hi = r.loops_used[b] > hi ? r.loops_used[b] : hi;
        }
        printf("halting at %g: loops used mean %.2f (min %d, max %d of %d); error at halt %.5g (loops_used.csv)\n",
               o.halt_tol, sum / B, lo, hi, Lmax, r.err[Lmax - 1]);
    }
    printf("wrote %s/loops.csv, loops.json, loops_error.svg, loops_fixed_point.svg%s\n", od.out,
           o.halt_tol > 0 ? ", loops_used.csv" : "");
    rc = CLI_OK;
done:
    ic_loops_report_free(&r);
    cli_model_free(&L);
    free(xs);
    free(ys);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_loops = {
    "loops",
    "run a looped model for 1..N loops: error and fixed-point measure per loop (extrapolation)",
    "iclab loops --model FILE --out DIR [--max_loops N] [--halt_tol TOL] [--prompts N]",
    "Runs the model's body 1..N times (one forward pass with N loops; the prediction after\n"
    "every loop is read out) on fresh prompts of the model's task, and reports per loop the\n"
    "squared error / d (all positions and k = d/2, d, 2d) and |Y_{t+1} - Y_t| / |Y_t|, so you\n"
    "see whether the model converges, stalls or diverges past its trained loop count.\n"
    "--halt_tol TOL runs adaptive depth: each prompt stops at its own fixed point.\n"
    "Example: iclab loops --model runs/looped/model.safetensors --out runs/looped/loops --max_loops 500",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
