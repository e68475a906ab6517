/* cmd_compare.c: `iclab compare` — several models on the same prompts, each
 * against the first with paired bootstrap intervals (library: src/compare.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"
#include "outdir.h"
#include "progress.h"

typedef struct {
    cli_ctx_opts ctx;
    const char *models, *labels, *out, *k, *loops;
} compare_opts;

static const cli_opt OPTS[] = {
    {"models", "LIST", NULL, "comma-separated checkpoints; the first is the reference (required)", CLI_STR_OPT, 0, 0,
     offsetof(compare_opts, models), 1},
    {"labels", "LIST", "the file names", "comma-separated names, one per model", CLI_STR_OPT, 0, 0,
     offsetof(compare_opts, labels)},
    CLI_OPT_OUT(compare_opts, "output directory: compare.csv, compare.json, compare.svg (required)"),
    {"k", "LIST", "d,2d", "positions where errors, ratios and distances are reported", CLI_STR, 0, 0,
     offsetof(compare_opts, k)},
    {"loops", "LIST", "each model's own", "loop count per model, 0 = the model's own (e.g. 0,6,6: a random-depth model at its mean depth)",
     CLI_STR_OPT, 0, 0, offsetof(compare_opts, loops)},
    CLI_OPT_PROMPTS("1280", 2, "evaluation prompts of the first model's task"),
    CLI_OPT_N_POINTS(1),
    CLI_OPT_SEED("4242", "seed of the evaluation prompts"),
    CLI_OPT_BOOTSTRAP("bootstrap resamples (0: none)"),
    CLI_OPT_BATCH("batch_size", "256", "prompts per forward pass"),
    CLI_OPT_THREADS,
};

/* Splits a comma-separated list in place; returns the count or -1 if more than max. */
static int split(char *text, char **out, int max) {
    int n = 0;
    for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return -1;
        out[n++] = tok;
    }
    return n;
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    compare_opts o = {0};
    int rc = cli_parse_opts(cmd, argc, argv, &a, &o);
    if (rc) return rc < 0 ? CLI_OK : rc;
    char *mlist = NULL, *llist = NULL, *paths[IC_COMPARE_MAX], *labels[IC_COMPARE_MAX];
    cli_model L = {0};
    ic_compare c = {0};
    ic_err err = {{0}};
    int nm = 0;
    rc = CLI_USAGE;
    mlist = strdup(o.models);
    if (!mlist || (nm = split(mlist, paths, IC_COMPARE_MAX)) < 1) {
        cli_error(cmd, "--models: give 1..%d comma-separated checkpoints", IC_COMPARE_MAX);
        goto done;
    }
    for (int i = 0; i < nm; i++) labels[i] = paths[i];
    if (o.labels) {
        llist = strdup(o.labels);
        if (!llist || split(llist, labels, IC_COMPARE_MAX) != nm) {
            cli_error(cmd, "--labels: give one name per model (%d)", nm);
            goto done;
        }
    }
    int loops[IC_COMPARE_MAX] = {0}, n_loops = 0;
    if (o.loops) {
        if ((rc = cli_int_list(cmd, "loops", o.loops, 0, IC_MAX_LOOPS, 0, loops, IC_COMPARE_MAX, &n_loops))) goto done;
        rc = CLI_USAGE;
        if (n_loops != nm) {
            cli_error(cmd, "--loops: give one count per model (%d), 0 for the model's own", nm);
            goto done;
        }
    }
    rc = CLI_FAIL;
    const char *dir = o.out;
    {
        static const char *const written[] = {"compare.csv", "compare.json", "compare.svg", NULL};
        cli_path ins[IC_COMPARE_MAX];
        for (int i = 0; i < nm; i++) ins[i] = (cli_path){"models", paths[i]};
        const cli_path od = {"out", dir};
        if (cli_check_overwrite(cmd, ins, nm, NULL, 0, &od, written)) goto done;
    }
    cli_set_threads(o.ctx.threads);
    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    if (cli_outdir_begin(cmd, &od, dir, (const char *const *)paths, nm)) goto done;
    dir = od.tmp;
    cli_bar bar;
    cli_bar_init(&bar, "iclab compare", "models");
    const int B = o.ctx.prompts;
    for (int i = 0; i < nm; i++) {
        cli_ctx_opts mo = o.ctx;
        if (i > 0) mo.n_points = c.o.n; /* the first model's points */
        mo.loops = loops[i];
        if (cli_model_load(cmd, &mo, paths[i], 1, &L)) goto done;
        if (i == 0) {
            /* the prompts: the first model's task */
            const int d = L.d, n = L.n;
            ic_task_spec task;
            ic_surgery_opts so = {.B = B, .n = n, .n_boot = o.ctx.bootstrap, .boot_seed = o.ctx.seed + 1,
                                  .chunk = o.ctx.batch};
            if (cli_model_task(cmd, &L, paths[0], &task, &so.norm)) goto done;
            if (cli_check_memory(cmd, &L.m, L.s, B, n, o.ctx.batch, 0, (double)B * n * (d + 1.0 + nm) * 4,
                                 "--batch_size, --prompts or --n_points"))
                goto done;
            if ((rc = cli_int_list(cmd, "k", o.k, 0, n - 1, d, so.ks, IC_SWEEP_MAX_K, &so.nk))) goto done;
            rc = CLI_FAIL;
            if (ic_compare_begin(&c, &task, d, &so, o.ctx.seed, nm, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
        }
        cli_bar_cb(&bar, "predicting", i, nm);
        if (ic_compare_add(&c, i, &L.m, L.s, paths[i], labels[i], &err)) {
            cli_bar_end(&bar);
            cli_error(cmd, "%s", err.msg);
            goto done;
        }
        cli_model_free(&L);
    }
    cli_bar_cb(&bar, "predicting", nm, nm);
    if (ic_compare_write(dir, &c, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    printf("%d prompts, %d points, seed %llu; ratio = model / %s on the same prompts [paired bootstrap 90%%]\n", B, c.o.n,
           o.ctx.seed, labels[0]);
    for (int i = 0; i < nm; i++) {
        const ic_variant_result *r = &c.res[i];
        printf("%-24s", labels[i]);
        for (int q = 0; q < c.o.nk; q++)
            printf("  k=%-3d err %-10.4g ratio %.3f [%.3f, %.3f]", c.o.ks[q], r->err[q], r->ratio[q], r->ratio_lo[q],
                   r->ratio_hi[q]);
        printf("\n");
    }
    printf("wrote %s/compare.csv, compare.json, compare.svg\n", od.out);
    rc = CLI_OK;
done:
    ic_compare_free(&c);
    cli_model_free(&L);
    free(mlist);
    free(llist);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_compare = {
    "compare",
    "several models on the same prompts, each against the first with paired intervals",
    "iclab compare --models A,B[,...] --out DIR [--labels LIST] [--k LIST] [--prompts N]",
    "Evaluates every model on the same fresh prompts of the first model's task and reports, per\n"
    "model, the error at each k, the ratio to the first model's error with a paired bootstrap 90%\n"
    "interval (prompts resampled jointly for both models), the mean squared distance between their\n"
    "predictions, and the error curves in one plot. Models must share n_dims; each runs its own\n"
    "schedule (looped models their trained loop count, or --loops).\n"
    "Example: iclab compare --models runs/plain6/model.safetensors,runs/looped3x2/model.safetensors\n"
    "         --labels plain6,looped3x2 --out runs/cmp",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
