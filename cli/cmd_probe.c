/* cmd_probe.c: `iclab probe` — what each layer (schedule step) computes:
 * readout lens, linear probes, similarity of errors with classical solvers,
 * residual geometry, components of each step's update and their ablation
 * (library: src/proberun.h on src/probe.h; docs/probing.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outdir.h"
#include "progress.h"
#include "proberun.h"
#include "schedule.h"

typedef struct {
    cli_ctx_opts ctx;
    const char *out, *what, *ablate_ranks, *gd_steps, *newton_steps, *dump;
    int train_prompts, rank, prev_y, no_cka;
    double lambda;
} probe_opts;

#define OFF(f) offsetof(probe_opts, f)
static const cli_opt OPTS[] = {
    CLI_OPT_MODEL,
    CLI_OPT_OUT(probe_opts, "output directory: JSON + CSV per analysis and SVG plots (required)"),
    {"what", "LIST", "lens,probes,sime,geometry,components", "analyses to run (comma-separated, or all)", CLI_STR, 0, 0,
     OFF(what)},
    CLI_OPT_PROMPTS("512", 2, "held-out prompts every analysis is measured on"),
    {"train_prompts", "N", "2048", "prompts the linear probes are fitted on (seed S+1)", CLI_INT, 2, 10000000,
     OFF(train_prompts)},
    CLI_OPT_SEED("1234", "seed of the held-out prompts (training prompts: S+1)"),
    CLI_OPT_N_POINTS(2),
    CLI_OPT_SCHEDULE,
    CLI_OPT_LOOPS,
    {"rank", "R", "4", "rank of the write subspaces compared between steps", CLI_INT, 1, 65536, OFF(rank)},
    {"ablate_ranks", "LIST", "0,1,2,4,...,C", "ranks r whose top-r write directions are projected out", CLI_STR_OPT, 0, 0,
     OFF(ablate_ranks)},
    {"gd_steps", "LIST", "1,2,3,5,10,20,50,100,200,500,1000,2000,5000", "gradient-descent step counts for SimE (eta 0.01)",
     CLI_STR, 0, 0, OFF(gd_steps)},
    {"newton_steps", "LIST", "0-24", "iterative-Newton step counts for SimE (a-b: a range)", CLI_STR, 0, 0,
     OFF(newton_steps)},
    {"lambda", "L", "1e-4", "probe ridge, relative to the mean feature variance", CLI_DOUBLE, 0, 1e6, OFF(lambda)},
    {"prev_y", NULL, NULL, "probe features also include the residual at the previous y token", CLI_FLAG, 0, 0, OFF(prev_y)},
    {"no_cka", NULL, NULL, "skip the CKA matrices (the slow part of geometry for many states)", CLI_FLAG, 0, 0, OFF(no_cka)},
    {"dump", "FILE", NULL, "also write the captured residuals (+ attention/MLP outputs) to a safetensors file", CLI_STR_OPT,
     0, 0, OFF(dump)},
    CLI_OPT_BATCH("chunk", "128", "prompts per forward pass"),
    CLI_OPT_N_HEAD,
    CLI_OPT_THREADS,
};

/* The table on stdout: per state the lens error, the best SimE matches and the probes' R^2. */
static void print_summary(const ic_probe_report *r) {
    const int *want = r->o.want, kd = r->kd, n = r->n;
    printf("\n%-14s %11s %11s", "state", "lens err", kd >= 0 ? "lens k=d" : "");
    if (want[IC_AN_SIME]) printf(" %8s %6s %8s %6s %7s", "newton k", "SimE", "gd k", "SimE", "LS SimE");
    if (want[IC_AN_PROBES]) printf(" %7s %7s %7s %7s %7s", "R2 y", "R2 w", "R2 xty", "R2 lsq", "shuf y");
    printf("\n");
    for (int k = 0; k < r->S; k++) {
        double all = 0.0;
        for (int i = 0; i < n; i++) all += r->curves[(size_t)k * n + i];
        printf("%-14s %11.4g %11.4g", r->labels[k], all / n, kd >= 0 ? r->curves[(size_t)k * n + kd] : NAN);
        if (want[IC_AN_SIME]) {
            const ic_sime_family *f = r->fam;
            printf(" %8d %6.3f %8d %6.3f %7.3f", f[0].ks[f[0].best[k]], f[0].sime[(size_t)k * (f[0].nk + 1) + f[0].best[k]],
                   f[1].ks[f[1].best[k]], f[1].sime[(size_t)k * (f[1].nk + 1) + f[1].best[k]], r->sime_ls[k]);
        }
        if (want[IC_AN_PROBES]) {
            const ic_probe_score *p = &r->scores[(size_t)k * IC_PT_COUNT];
            printf(" %7.3f %7.3f %7.3f %7.3f %7.3f", p[IC_PT_Y].r2, p[IC_PT_W].r2, p[IC_PT_XTY].r2, p[IC_PT_LSQ].r2,
                   p[IC_PT_Y].r2_shuf);
        }
        printf("\n");
    }
    if (want[IC_AN_COMPONENTS]) {
        const int nr = r->o.nranks;
        printf("\nablation: final error (all positions) with the top-r write directions of a step removed\n%-14s", "step");
        for (int ri = 0; ri < nr; ri++) printf(" %9d", r->o.ranks[ri]);
        printf("\n");
        for (int row = 0; row < r->R; row++) {
            printf("%-14s", r->steplabels[row]);
            for (int ri = 0; ri < nr; ri++) printf(" %9.4g", r->abl[(size_t)row * nr + ri]);
            printf("\n");
        }
    }
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    probe_opts o = {0};
    int rc = cli_parse_opts(cmd, argc, argv, &a, &o);
    if (rc) return rc < 0 ? CLI_OK : rc;
    cli_model L = {0};
    ic_probe_report r = {0};
    ic_err err = {{0}};
    ic_probe_opts po = {.B = o.ctx.prompts, .Bt = o.train_prompts, .seed = o.ctx.seed, .chunk = o.ctx.batch,
                        .rank = o.rank, .lambda = o.lambda, .prev_y = o.prev_y, .cka = !o.no_cka, .parts = o.dump != NULL};
    rc = CLI_USAGE;
    if (ic_probe_parse_what(o.what, po.want, &err)) { cli_error(cmd, "--what: %s", err.msg); goto done; }
    if ((rc = cli_int_list(cmd, "newton_steps", o.newton_steps, 0, 1000, 0, po.newton, IC_PROBE_MAX_K, &po.n_newton)) ||
        (rc = cli_int_list(cmd, "gd_steps", o.gd_steps, 0, 1000000, 0, po.gd, IC_PROBE_MAX_K, &po.n_gd)))
        goto done;
    rc = CLI_FAIL;
    const char *model_path = o.ctx.model, *dir = o.out;
    {
        static const char *const written[] = {"*.csv", "*.json", "*.svg", NULL};
        const cli_path ins[] = {{"model", model_path}}, od = {"out", dir}, outs[] = {{"dump", o.dump}};
        if (cli_check_overwrite(cmd, ins, 1, outs, 1, &od, written)) goto done;
    }
    cli_set_threads(o.ctx.threads);
    if (cli_model_load(cmd, &o.ctx, NULL, 1, &L)) goto done;
    ic_schedule *s = L.s;
    s->loss_loops = 1;
    s->grad_loops = 0;
    const int d = L.d, n = L.n, C = L.m.cfg.n_embd, B = po.B, Bt = po.Bt;
    if (n < 2) { cli_error(cmd, "probing needs prompts of at least 2 points"); goto done; }
    if (o.ablate_ranks &&
        (rc = cli_int_list(cmd, "ablate_ranks", o.ablate_ranks, 0, C, 0, po.ranks, IC_PROBE_MAX_K, &po.nranks)))
        goto done;
    rc = CLI_FAIL;
    ic_task_spec task;
    if (cli_model_task(cmd, &L, model_path, &task, NULL)) goto done;
    {
        /* the capture of every state (+ attention/MLP parts for --dump, from a forward that
         * stores every loop's activations), the training prompts' capture per 4 chunks */
        const int chunk = po.chunk;
        const int NS = ic_schedule_slots(s);
        const double states = (double)s->loops * (NS + 1), BTC = (double)B * 2 * n * C;
        const int tc = 4 * chunk < Bt ? 4 * chunk : Bt;
        const double extra = BTC * states * 4 + (po.parts ? 2.0 * BTC * s->loops * NS * 4 : 0) + (double)B * n * (d + 2.0) * 4 +
                             (double)tc * 2 * n * C * states * 4 + (double)Bt * n * (d + 1.0) * 4 +
                             2.0 * Bt * (n - 1) * IC_PT_COLS(d) * 8;
        if (cli_check_memory_loops(cmd, &L, 0, po.parts, B, chunk, extra, "--prompts, --train_prompts, --chunk or --n_points"))
            goto done;
    }
    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    if (cli_outdir_begin(cmd, &od, dir, &model_path, 1)) goto done;
    dir = od.tmp;
    char sched_text[8192];
    ic_schedule_format(s, sched_text, sizeof sched_text);
    printf("iclab probe: %s, schedule %s x %d loop%s, %s, d=%d, %d points, %d held-out prompts (seed %llu)\n", model_path,
           sched_text, s->loops, s->loops > 1 ? "s" : "", ic_task_name(task.kind), d, n, B, o.ctx.seed);
    fflush(stdout);
    cli_bar bar;
    cli_bar_init(&bar, "iclab probe", NULL);
    const ic_meta meta = {.model = model_path, .sched = s, .loops = s->loops, .task = &task, .d = d, .n = n, .prompts = B,
                          .seed = o.ctx.seed};
    if (ic_probe_run(&L.m, s, &task, n, &po, cli_bar_cb, &bar, &r, &err)) {
        cli_bar_end(&bar);
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    if (o.dump) {
        const char *k[3] = {"model", "seed", "task"};
        char sd[32];
        snprintf(sd, sizeof sd, "%llu", o.ctx.seed);
        const char *v[3] = {model_path, sd, ic_task_name(task.kind)};
        char dump_at[4096]; /* a --dump inside DIR goes in with the rest */
        if (ic_outdir_path(&od, o.dump, dump_at, sizeof dump_at, &err) || ic_capture_dump(dump_at, &r.cap, k, v, 3, &err)) {
            cli_error(cmd, "--dump: %s", err.msg);
            goto done;
        }
        printf("wrote %s (%d states of [%d,%d,%d])\n", o.dump, r.S, B, 2 * n, C);
    }
    if (ic_probe_write(dir, &r, &meta, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    print_summary(&r);
    printf("wrote %s/ (", od.out);
    for (int i = 0, first = 1; i < IC_AN_COUNT; i++)
        if (po.want[i]) {
            printf("%s%s", first ? "" : ", ", ic_probe_analysis_name(i));
            first = 0;
        }
    printf(")\n");
    rc = CLI_OK;
done:
    ic_probe_report_free(&r);
    cli_model_free(&L);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_probe = {
    "probe",
    "what each layer computes: readout lens, linear probes, SimE with GD/Newton, residual geometry, ablations",
    "iclab probe --model FILE --out DIR [--what lens,probes,sime,geometry,components] [--prompts N] [--dump FILE]",
    "Captures the residual stream after every schedule step (and every loop's input) on held-out\n"
    "prompts of the model's task and analyses it (docs/probing.md):\n"
    "  lens        ln_f + read_out on every state: error per state and position\n"
    "  probes      ridge probes from the x-token residual to y_i, the true w, X^T y / i and the\n"
    "              prefix least-squares w; held-out R^2, with a shuffled-target control\n"
    "  sime        similarity of errors (Fu et al.) of each state's lens with k-step iterative\n"
    "              Newton, k-step gradient descent and least squares; best-matching k per state\n"
    "  geometry    cosine / linear-CKA matrices between states, block influence, residual norms\n"
    "              (all, x and y tokens)\n"
    "  components  SVD of each step's update, overlap of top-r write subspaces, and the final\n"
    "              error when the top-r directions of one step are projected out (ablation)\n"
    "Writes JSON + CSV per analysis and SVG plots into DIR; a table on stdout.\n"
    "Example: iclab probe --model docs/experiments/d5_small/model.safetensors --out runs/probe_d5",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
