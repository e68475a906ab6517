/* cmd_surgery.c: `iclab surgery` — sweeps of schedule variants of a trained
 * model at inference (skip, duplicate, swap, shuffle, reverse, middle-repeat,
 * parallel, loops), each scored on the same prompts as the unmodified model
 * (library: surgery.h; schedule language: schedule.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "outdir.h"
#include "surgery.h"
#include "tasks.h"

static const cli_opt OPTS[] = {
    {"model", "FILE", NULL, "model checkpoint (.safetensors; required)"},
    {"out", "DIR", NULL, "output directory: <sweep>.csv/.json and SVG plots per sweep (required)"},
    {"sweep", "LIST", "all", "comma-separated: skip-each, duplicate-each, duplicate-block, swap-matrix, shuffle, "
                             "reverse, middle-repeat, parallel, loops; or all"},
    {"k", "LIST", "d,2d", "positions (in-context examples) where ratios and distances are reported; the last ranks best/worst"},
    {"prompts", "N", "1280", "evaluation prompts of the model's task"},
    {"n_points", "N", "the model's training n_points", "points per prompt"},
    {"seed", "S", "4242", "seed of the evaluation prompts"},
    {"bootstrap", "N", "1000", "bootstrap resamples for the intervals (0: none)"},
    {"shuffles", "N", "20", "shuffle: seeds 1..N"},
    {"span", "A-B", "1-(slots-2)", "shuffle: the slots permuted"},
    {"par_loops", "LIST", "1,2", "parallel: how many times the parallel step is applied"},
    {"max_loops", "N", "max(20, 4 x trained loops)", "loops: run the body 1..N times"},
    {"batch_size", "B", "256", "prompts per forward pass"},
    {"n_head", "N", "from the metadata", "attention heads; needed for a file without iclab metadata"},
    {"threads", "N", "0 = all cores", "threads for BLAS and OpenMP"},
};

/* "1,2,5" -> out[0..*n); each in [lo, hi]. d substitutes "d"/"2d"-style
 * entries (an integer multiple of d, or d/2) when d > 0. */
static int int_list(const cli_command *cmd, const char *opt, const char *text, int lo, int hi, int d, int *out, int max,
                    int *n) {
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v;
        if (d > 0 && (!strncmp(p, "d/2", 3))) { v = d / 2; end = (char *)p + 3; }
        else {
            v = strtol(p, &end, 10);
            if (end == p && *p == 'd') v = 1;
            if (d > 0 && *end == 'd') { v *= d; end++; }
            else if (end == p) { cli_error(cmd, "--%s '%s': expected an integer at character %d", opt, text, (int)(p - text) + 1); return CLI_USAGE; }
        }
        if (v < lo || v > hi) { cli_error(cmd, "--%s '%s': %ld is not in %d..%d", opt, text, v, lo, hi); return CLI_USAGE; }
        if (*n >= max) { cli_error(cmd, "--%s: at most %d values", opt, max); return CLI_USAGE; }
        out[(*n)++] = (int)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) { cli_error(cmd, "--%s '%s': expected ',' at character %d", opt, text, (int)(p - text) + 1); return CLI_USAGE; }
    }
    if (!*n) { cli_error(cmd, "--%s is empty", opt); return CLI_USAGE; }
    return 0;
}

typedef struct {
    const char *name;
    double t0;
    int tty;
} progress_ctx;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void progress(void *ctx, int done, int total) {
    progress_ctx *p = ctx;
    double el = now_s() - p->t0, eta = done ? el / done * (total - done) : 0;
    if (p->tty || done == total)
        fprintf(stderr, "%s%-16s %4d/%-4d variants  %.1f variants/s  ETA %.0fs%s", p->tty ? "\r" : "", p->name, done, total,
                el > 0 ? done / el : 0.0, eta, done == total || !p->tty ? "\n" : "");
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_model m = {0};
    ic_schedule *s = malloc(sizeof *s);
    ic_run_config *rcfg = malloc(sizeof *rcfg);
    ic_err err = {{0}};
    float *xs = NULL, *ys = NULL;
    ic_variant *v = NULL;
    ic_variant_result *res = NULL, rb = {0};
    int nv = 0, B, n_points = 0, batch, n_head = 0, threads, n_boot, shuffles, max_loops;
    unsigned long long seed;
    if (!s || !rcfg) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if ((rc = cli_require(&a, "model")) || (rc = cli_require(&a, "out")) ||
        (rc = cli_get_int(&a, "prompts", 2, 10000000, 1280, &B)) ||
        (rc = cli_get_int(&a, "n_points", 1, 100000, 0, &n_points)) ||
        (rc = cli_get_int(&a, "batch_size", 1, 1 << 20, 256, &batch)) ||
        (rc = cli_get_int(&a, "bootstrap", 0, 100000, 1000, &n_boot)) ||
        (rc = cli_get_int(&a, "shuffles", 1, 100000, 20, &shuffles)) ||
        (rc = cli_get_int(&a, "max_loops", 0, IC_MAX_LOOPS, 0, &max_loops)) ||
        (rc = cli_get_int(&a, "n_head", 0, 65536, 0, &n_head)) ||
        (rc = cli_get_int(&a, "threads", 0, 1024, 0, &threads)) || (rc = cli_get_u64(&a, "seed", 4242, &seed)))
        goto done;
    /* which sweeps */
    int want[IC_NUM_SWEEPS] = {0};
    {
        const char *sw = cli_get(&a, "sweep") ? cli_get(&a, "sweep") : "all";
        char buf[512];
        snprintf(buf, sizeof buf, "%s", sw);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            ic_sweep_kind k;
            if (!strcmp(tok, "all")) {
                for (int i = 0; i < IC_NUM_SWEEPS; i++) want[i] = 1;
                continue;
            }
            if (ic_sweep_parse(tok, &k, &err)) { cli_error(cmd, "--sweep: %s", err.msg); rc = CLI_USAGE; goto done; }
            want[k] = 1;
        }
    }
    rc = CLI_FAIL;
    const char *model_path = cli_get(&a, "model"), *dir = cli_get(&a, "out");
    {
        static const char *const written[] = {"*.csv", "*.json", "*.svg", NULL};
        const cli_path ins[] = {{"model", model_path}}, od = {"out", dir};
        if (cli_check_overwrite(cmd, ins, (int)(sizeof ins / sizeof *ins), NULL, 0, &od, written)) goto done;
    }
    cli_set_threads(threads);
    if (cli_load_model(cmd, model_path, n_head, &m, s, rcfg, &n_points)) goto done;
    const int d = m.cfg.n_dims, n = n_points, S = ic_schedule_slots(s);

    ic_sweep_opts so;
    ic_sweep_opts_default(&so, s);
    so.shuffles = shuffles;
    if (max_loops) so.max_loops = max_loops;
    if (cli_get(&a, "par_loops") &&
        (rc = int_list(cmd, "par_loops", cli_get(&a, "par_loops"), 1, 1000, 0, so.par_loops, IC_SWEEP_MAX_PAR, &so.n_par_loops)))
        goto done;
    if (cli_get(&a, "span")) {
        int sp[2], ns = 0;
        const char *t = cli_get(&a, "span");
        char *end;
        long lo = strtol(t, &end, 10), hi = -1;
        if (end != t && *end == '-') { const char *u = end + 1; hi = strtol(u, &end, 10); ns = end != u && !*end ? 2 : 0; }
        if (ns != 2 || lo < 0 || hi <= lo || hi >= S) {
            cli_error(cmd, "--span '%s': expected A-B with 0 <= A < B <= %d (the body's slots)", t, S - 1);
            rc = CLI_USAGE;
            goto done;
        }
        sp[0] = (int)lo; sp[1] = (int)hi;
        so.span_lo = sp[0]; so.span_hi = sp[1];
    }
    rc = CLI_FAIL;
    ic_surgery_opts o = {.B = B, .n = n, .n_boot = n_boot, .boot_seed = seed + 1, .chunk = batch};
    {
        int ks[IC_SWEEP_MAX_K], nk;
        if ((rc = int_list(cmd, "k", cli_get(&a, "k") ? cli_get(&a, "k") : "d,2d", 0, n - 1, d, ks, IC_SWEEP_MAX_K, &nk))) {
            if (!cli_get(&a, "k")) cli_error(cmd, "the prompts have %d points: give --k", n);
            goto done;
        }
        rc = CLI_FAIL;
        o.nk = nk;
        memcpy(o.ks, ks, sizeof ks);
    }

    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    if (cli_outdir_begin(cmd, &od, dir, &model_path, 1)) goto done;
    dir = od.tmp;
    ic_task_spec task;
    if (ic_run_config_task(rcfg, d, &task, &o.norm, &err)) { cli_error(cmd, "%s: %s", model_path, err.msg); goto done; }
    {
        /* the largest forward: the body at the most loops a sweep runs; prompts, the
         * loops sweep's predictions of every variant, squared errors */
        ic_schedule *ls = malloc(sizeof *ls);
        if (!ls) { cli_error(cmd, "out of memory"); goto done; }
        *ls = *s;
        if (so.max_loops > ls->loops) ls->loops = so.max_loops;
        ls->loss_loops = 1;
        ls->grad_loops = 0;
        const double Bn = (double)B * n;
        const double extra = Bn * (d + 1.0) * 4 + Bn * 4 * (so.max_loops + 1.0) + Bn * 16 + (double)n_boot * IC_SWEEP_MAX_K * 8;
        int bad = cli_check_memory(cmd, &m, ls, B, n, batch, 0, extra, "--batch_size, --prompts, --max_loops or --n_points");
        free(ls);
        if (bad) goto done;
    }
    xs = malloc(sizeof(float) * (size_t)B * n * d);
    ys = malloc(sizeof(float) * (size_t)B * n);
    if (!xs || !ys) { cli_error(cmd, "out of memory"); goto done; }
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    if (ic_task_sample(&task, &rng, B, n, d, xs, ys, NULL, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    o.task = &task;

    char sched_buf[64];
    ic_schedule_format(s, sched_buf, sizeof sched_buf);
    printf("%s: body %s%s (%d slots), %d loop%s; %d prompts of %s, %d points; ratios = variant / original error\n",
           model_path, sched_buf, strlen(sched_buf) >= sizeof sched_buf - 1 ? "..." : "", S, s->loops,
           s->loops > 1 ? "s" : "", B, ic_task_name(task.kind), n);
    progress_ctx pc = {.tty = isatty(2)};
    o.progress = progress;
    o.progress_ctx = &pc;
    for (int kk = 0; kk < IC_NUM_SWEEPS; kk++) {
        if (!want[kk]) continue;
        const ic_sweep_kind k = (ic_sweep_kind)kk;
        if (ic_sweep_variants(k, s, m.cfg.n_layer, &so, &v, &nv, &err)) {
            cli_error(cmd, "%s: %s", ic_sweep_name(k), err.msg);
            goto done;
        }
        res = calloc((size_t)(nv ? nv : 1), sizeof *res);
        if (!res) { cli_error(cmd, "out of memory"); goto done; }
        pc.name = ic_sweep_name(k);
        pc.t0 = now_s();
        if (ic_surgery_eval(&m, s, v, nv, xs, ys, &o, &rb, res, &err) ||
            ic_surgery_write(dir, k, &so, &o, s, v, &rb, res, nv, &err)) {
            cli_error(cmd, "%s: %s", ic_sweep_name(k), err.msg);
            goto done;
        }
        printf("%-16s original err k=%d: %.4g", ic_sweep_name(k), o.ks[o.nk - 1], rb.err[o.nk - 1]);
        for (int q = 0; q < o.nk; q++) {
            int bi = ic_surgery_best(res, nv, q, 0), wi = ic_surgery_best(res, nv, q, 1);
            if (bi < 0) continue;
            printf("\n    k=%-3d best %-22s %.3f [%.3f, %.3f]   worst %-22s %.3g", o.ks[q], v[bi].label, res[bi].ratio[q],
                   res[bi].ratio_lo[q], res[bi].ratio_hi[q], v[wi].label, res[wi].ratio[q]);
        }
        printf("\n");
        ic_surgery_results_free(&rb, 1);
        ic_surgery_results_free(res, nv);
        free(res); res = NULL;
        free(v); v = NULL;
        nv = 0;
    }
    printf("wrote %s/<sweep>.csv, .json, .svg\n", od.out);
    rc = CLI_OK;
done:
    ic_surgery_results_free(&rb, 1);
    ic_surgery_results_free(res, nv);
    free(res); free(v);
    ic_model_free(&m);
    free(s); free(rcfg); free(xs); free(ys);
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
