/* cmd_surgery.c: `iclab surgery` — sweeps of schedule variants of a trained
 * model at inference (skip, duplicate, swap, shuffle, reverse, middle-repeat,
 * parallel, loops), each scored on the same prompts as the unmodified model
 * (library: surgery.h; schedule language: schedule.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outdir.h"
#include "progress.h"
#include "surgery.h"
#include "tasks.h"

typedef struct {
    cli_ctx_opts ctx;
    const char *out, *sweep, *k, *span, *par_loops;
    int shuffles, max_loops;
} surgery_opts;

#define OFF(f) offsetof(surgery_opts, f)
static const cli_opt OPTS[] = {
    CLI_OPT_MODEL,
    CLI_OPT_OUT(surgery_opts, "output directory: <sweep>.csv/.json and SVG plots per sweep (required)"),
    {"sweep", "LIST", "all", "comma-separated: skip-each, duplicate-each, duplicate-block, swap-matrix, shuffle, "
                             "reverse, middle-repeat, parallel, loops; or all", CLI_STR, 0, 0, OFF(sweep)},
    {"k", "LIST", "d,2d", "positions (in-context examples) where ratios and distances are reported; the last ranks best/worst",
     CLI_STR_OPT, 0, 0, OFF(k)},
    CLI_OPT_PROMPTS("1280", 2, "evaluation prompts of the model's task"),
    CLI_OPT_N_POINTS(1),
    CLI_OPT_SEED("4242", "seed of the evaluation prompts"),
    CLI_OPT_BOOTSTRAP("bootstrap resamples for the intervals (0: none)"),
    {"shuffles", "N", "20", "shuffle: seeds 1..N", CLI_INT, 1, 100000, OFF(shuffles)},
    {"span", "A-B", "1-(slots-2)", "shuffle: the slots permuted (default the middle; the whole body when the middle has < 2 slots)", CLI_STR_OPT, 0, 0, OFF(span)},
    {"par_loops", "LIST", "1,2", "parallel: how many times the parallel step is applied", CLI_STR_OPT, 0, 0, OFF(par_loops)},
    {"max_loops", "N", "max(20, 4 x trained loops)", "loops: run the body 1..N times", CLI_INT, 0, IC_MAX_LOOPS,
     OFF(max_loops)},
    CLI_OPT_BATCH("batch_size", "256", "prompts per forward pass"),
    CLI_OPT_N_HEAD,
    CLI_OPT_THREADS,
};

typedef struct {
    cli_bar bar;
    const char *sweep;
} sweep_progress;

static void progress(void *ctx, int done, int total) {
    sweep_progress *p = ctx;
    cli_bar_cb(&p->bar, p->sweep, done, total);
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    surgery_opts o = {0};
    int rc = cli_parse_opts(cmd, argc, argv, &a, &o);
    if (rc) return rc < 0 ? CLI_OK : rc;
    cli_model L = {0};
    ic_err err = {{0}};
    float *xs = NULL, *ys = NULL;
    ic_variant *v = NULL;
    ic_variant_result *res = NULL, rb = {0};
    int nv = 0;
    int want[IC_NUM_SWEEPS];
    if (ic_sweep_parse_list(o.sweep, want, &err)) { cli_error(cmd, "--sweep: %s", err.msg); rc = CLI_USAGE; goto done; }
    rc = CLI_FAIL;
    const char *model_path = o.ctx.model, *dir = o.out;
    {
        static const char *const written[] = {"*.csv", "*.json", "*.svg", NULL};
        const cli_path ins[] = {{"model", model_path}}, od = {"out", dir};
        if (cli_check_overwrite(cmd, ins, 1, NULL, 0, &od, written)) goto done;
    }
    cli_set_threads(o.ctx.threads);
    if (cli_model_load(cmd, &o.ctx, NULL, 1, &L)) goto done;
    const ic_schedule *s = L.s;
    const int d = L.d, n = L.n, S = ic_schedule_slots(s), B = o.ctx.prompts;

    ic_sweep_opts so;
    ic_sweep_opts_default(&so, s);
    so.shuffles = o.shuffles;
    if (o.max_loops) so.max_loops = o.max_loops;
    if (o.par_loops && (rc = cli_int_list(cmd, "par_loops", o.par_loops, 1, 1000, 0, so.par_loops, IC_SWEEP_MAX_PAR,
                                          &so.n_par_loops)))
        goto done;
    if (o.span) {
        const char *t = o.span;
        char *end;
        long lo = strtol(t, &end, 10), hi = -1;
        int ok = 0;
        if (end != t && *end == '-') {
            const char *u = end + 1;
            hi = strtol(u, &end, 10);
            ok = end != u && !*end;
        }
        if (!ok || lo < 0 || hi <= lo || hi >= S) {
            cli_error(cmd, "--span '%s': expected A-B with 0 <= A < B <= %d (the body's slots)", t, S - 1);
            rc = CLI_USAGE;
            goto done;
        }
        so.span_lo = (int)lo;
        so.span_hi = (int)hi;
    }
    ic_surgery_opts so2 = {.B = B, .n = n, .n_boot = o.ctx.bootstrap, .boot_seed = o.ctx.seed + 1, .chunk = o.ctx.batch};
    if ((rc = cli_int_list(cmd, "k", o.k ? o.k : "d,2d", 0, n - 1, d, so2.ks, IC_SWEEP_MAX_K, &so2.nk))) {
        if (!o.k) cli_error(cmd, "the prompts have %d points: give --k", n);
        goto done;
    }
    rc = CLI_FAIL;

    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    if (cli_outdir_begin(cmd, &od, dir, &model_path, 1)) goto done;
    dir = od.tmp;
    ic_task_spec task;
    if (cli_model_task(cmd, &L, model_path, &task, &so2.norm)) goto done;
    {
        /* the largest forward: the body at the most loops a sweep runs; prompts, the
         * loops sweep's predictions of every variant, squared errors */
        const double Bn = (double)B * n;
        const double extra =
            Bn * (d + 1.0) * 4 + Bn * 4 * (so.max_loops + 1.0) + Bn * 16 + (double)o.ctx.bootstrap * IC_SWEEP_MAX_K * 8;
        if (cli_check_memory_loops(cmd, &L, so.max_loops > s->loops ? so.max_loops : s->loops, 0, B, o.ctx.batch, extra,
                                   "--batch_size, --prompts, --max_loops or --n_points"))
            goto done;
    }
    if (ic_eval_prompts(&task, o.ctx.seed, B, n, d, &xs, &ys, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    so2.task = &task;

    char sched_buf[64];
    ic_schedule_format(s, sched_buf, sizeof sched_buf);
    printf("%s: body %s%s (%d slots), %d loop%s; %d prompts of %s, %d points; ratios = variant / original error\n",
           model_path, sched_buf, strlen(sched_buf) >= sizeof sched_buf - 1 ? "..." : "", S, s->loops,
           s->loops > 1 ? "s" : "", B, ic_task_name(task.kind), n);
    sweep_progress pc;
    cli_bar_init(&pc.bar, "iclab surgery", "variants");
    so2.progress = progress;
    so2.progress_ctx = &pc;
    for (int kk = 0; kk < IC_NUM_SWEEPS; kk++) {
        if (!want[kk]) continue;
        const ic_sweep_kind k = (ic_sweep_kind)kk;
        if (ic_sweep_variants(k, s, L.m.cfg.n_layer, &so, &v, &nv, &err)) {
            cli_error(cmd, "%s: %s", ic_sweep_name(k), err.msg);
            goto done;
        }
        res = calloc((size_t)(nv ? nv : 1), sizeof *res);
        if (!res) { cli_error(cmd, "out of memory"); goto done; }
        pc.sweep = ic_sweep_name(k);
        progress(&pc, 0, nv);
        if (ic_surgery_eval(&L.m, s, v, nv, xs, ys, &so2, &rb, res, &err) ||
            ic_surgery_write(dir, k, &so, &so2, s, v, &rb, res, nv, &err)) {
            cli_bar_end(&pc.bar);
            cli_error(cmd, "%s: %s", ic_sweep_name(k), err.msg);
            goto done;
        }
        printf("%-16s original err k=%d: %.4g", ic_sweep_name(k), so2.ks[so2.nk - 1], rb.err[so2.nk - 1]);
        for (int q = 0; q < so2.nk; q++) {
            int bi = ic_surgery_best(res, nv, q, 0), wi = ic_surgery_best(res, nv, q, 1);
            if (bi < 0) continue;
            printf("\n    k=%-3d best %-22s %.3f [%.3f, %.3f]   worst %-22s %.3g", so2.ks[q], v[bi].label, res[bi].ratio[q],
                   res[bi].ratio_lo[q], res[bi].ratio_hi[q], v[wi].label, res[wi].ratio[q]);
        }
        printf("\n");
        ic_surgery_results_free(&rb, 1);
        ic_surgery_results_free(res, nv);
        free(res);
        res = NULL;
        free(v);
        v = NULL;
        nv = 0;
    }
    printf("wrote %s/<sweep>.csv, .json, .svg\n", od.out);
    rc = CLI_OK;
done:
    ic_surgery_results_free(&rb, 1);
    ic_surgery_results_free(res, nv);
    free(res);
    free(v);
    cli_model_free(&L);
    free(xs);
    free(ys);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_surgery = {
    "surgery",
    "layer surgery sweeps: skip, duplicate, swap, shuffle, reverse, repeat, parallel, loops",
    "iclab surgery --model FILE --out DIR [--sweep LIST] [--k LIST] [--prompts N]",
    "Runs families of schedule variants of the model's own body (docs/schedules.md) on the same\n"
    "prompts as the unmodified model and reports, per variant, the error curve, the error ratio to\n"
    "the unmodified model at chosen k with a paired bootstrap 90% interval, and the mean squared\n"
    "distance between their predictions. Each variant's label is a schedule you can pass to\n"
    "`iclab eval --schedule`. Plots: heatmaps (duplicate-block start x end, swap matrix, reverse,\n"
    "middle-repeat and parallel spans), bars (skip-each, duplicate-each, shuffle), the ratio per loop\n"
    "count (loops), and the best and worst variants' curves against the original.\n"
    "Example: iclab surgery --model runs/demo/model.safetensors --out runs/demo/surgery --sweep skip-each,swap-matrix",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
