/* cmd_probe.c: `iclab probe` — what each layer (schedule step) computes:
 * readout lens, linear probes, similarity of errors with classical solvers,
 * residual geometry, components of each step's update and their ablation
 * (src/probe.h, docs/probing.md). */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines.h"
#include "checkpoint.h"
#include "cli.h"
#include "outdir.h"
#include "eval.h"
#include "fsutil.h"
#include "numout.h"
#include "plot.h"
#include "probe.h"
#include "schedule.h"
#include "tasks.h"

static const cli_opt OPTS[] = {
    {"model", "FILE", NULL, "model checkpoint (.safetensors; required)"},
    {"out", "DIR", NULL, "output directory: JSON + CSV per analysis and SVG plots (required)"},
    {"what", "LIST", "lens,probes,sime,geometry,components", "analyses to run (comma-separated, or all)"},
    {"prompts", "N", "512", "held-out prompts every analysis is measured on"},
    {"train_prompts", "N", "2048", "prompts the linear probes are fitted on (seed S+1)"},
    {"seed", "S", "1234", "seed of the held-out prompts (training prompts: S+1)"},
    {"n_points", "N", "the model's training n_points", "points per prompt"},
    {"schedule", "S", "the model's", "schedule to run (docs/schedules.md; operations apply to the model's)"},
    {"loops", "N", "the model's", "times the body is run (looped models)"},
    {"rank", "R", "4", "rank of the write subspaces compared between steps"},
    {"ablate_ranks", "LIST", "0,1,2,4,...,C", "ranks r whose top-r write directions are projected out"},
    {"gd_steps", "LIST", "1,2,3,5,10,20,50,100,200,500,1000,2000,5000", "gradient-descent step counts for SimE (eta 0.01)"},
    {"newton_steps", "LIST", "0-24", "iterative-Newton step counts for SimE (a-b: a range)"},
    {"lambda", "L", "1e-4", "probe ridge, relative to the mean feature variance"},
    {"prev_y", NULL, NULL, "probe features also include the residual at the previous y token"},
    {"no_cka", NULL, NULL, "skip the CKA matrices (the slow part of geometry for many states)"},
    {"dump", "FILE", NULL, "also write the captured residuals (+ attention/MLP outputs) to a safetensors file"},
    {"chunk", "N", "128", "prompts per forward pass"},
    {"n_head", "N", "from the metadata", "attention heads; needed for a file without iclab metadata"},
    {"threads", "N", "0 = all cores", "threads for BLAS and OpenMP"},
};

/* ---------------- small helpers ---------------- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = (b->cap ? 2 * b->cap : 4096) + (size_t)k + 1;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
}

/* Every number goes through numout.h: NaN/Inf (influence of a loop input, k past
 * the prompt, a target the task lacks) is null in the JSON and empty in the CSV. */
static json_t *jmat(const double *v, int rows, int cols) {
    json_t *a = json_array();
    for (int i = 0; i < rows; i++) json_array_append_new(a, ic_json_nums(v + (size_t)i * cols, cols));
    return a;
}

static json_t *jlabels(char **labels, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(labels[i]));
    return a;
}

static int write_text(const char *dir, const char *name, sbuf *b, ic_err *err) {
    char path[4096];
    if (b->oom) return ic_errf(err, "out of memory writing %s", name);
    if (ic_path_join(path, sizeof path, dir, name, err)) return -1;
    return ic_write_file_atomic(path, b->p ? b->p : "", b->n, err);
}

static int write_json(const char *dir, const char *name, json_t *j, ic_err *err) {
    char path[4096];
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!s) return ic_errf(err, "out of memory writing %s", name);
    int rc = ic_path_join(path, sizeof path, dir, name, err) || ic_write_file_atomic(path, s, strlen(s), err) ? -1 : 0;
    free(s);
    return rc;
}

static int heatmap(const char *dir, const char *name, const char *title, const char *xl, const char *yl,
                   const double *v, int rows, int cols, char **rl, char **cl, int logc, double lo, double hi,
                   ic_err *err) {
    char path[4096];
    ic_plot_opts o = {.title = title, .xlabel = xl, .ylabel = yl, .ymin = lo, .ymax = hi};
    if (ic_path_join(path, sizeof path, dir, name, err)) return -1;
    return ic_plot_heatmap(path, &o, v, rows, cols, (const char *const *)rl, (const char *const *)cl, logc,
                           rows * cols <= 400, err);
}

static int lines(const char *dir, const char *name, const char *title, const char *xl, const char *yl, int logy,
                 const ic_series *s, int ns, ic_err *err) {
    char path[4096];
    ic_plot_opts o = {.title = title, .xlabel = xl, .ylabel = yl, .logy = logy, .ymin = NAN, .ymax = NAN};
    if (ic_path_join(path, sizeof path, dir, name, err)) return -1;
    return ic_plot_lines(path, &o, s, ns, err);
}

/* "1,2,5-8" into out (at most max values, each in lo..hi); returns the count or -1. */
static int parse_int_list(const char *text, int lo, int hi, int *out, int max) {
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b;
        if (end == p) return -1;
        p = end;
        b = a;
        if (*p == '-') {
            p++;
            b = strtol(p, &end, 10);
            if (end == p) return -1;
            p = end;
        }
        if (a < lo || b > hi || b < a) return -1;
        for (long v = a; v <= b; v++) {
            if (n >= max) return -1;
            out[n++] = (int)v;
        }
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return n;
}

static void progress(const char *what, int done, int total) {
    fprintf(stderr, "\riclab probe: %s %d/%d   ", what, done, total);
    if (done == total) fprintf(stderr, "\n");
}

static void cka_progress(void *ctx, int done, int total) {
    (void)ctx;
    if (done == total || done % 16 == 0) progress("geometry (CKA pairs)", done, total);
}

/* Squared error / d per position for B prompts: out[n] (mean over prompts). */
static void err_curve(const float *pred, const float *ys, int B, int n, int d, double *out) {
    for (int i = 0; i < n; i++) out[i] = 0.0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            double e = (double)pred[(size_t)b * n + i] - ys[(size_t)b * n + i];
            out[i] += e * e / d / B;
        }
}

static double mean_range(const double *v, int a, int b) {
    double s = 0.0;
    for (int i = a; i < b; i++) s += v[i];
    return b > a ? s / (b - a) : NAN;
}

#define MAX_K 256

typedef struct {
    const char *name;   /* "newton", "gd" */
    int ks[MAX_K], nk;
    double *sime;       /* [S, nk + 1]: the last column is least squares */
    int *best;          /* [S]: argmax over the k columns */
} family;

/* ---------------- the command ---------------- */

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_model m = {0};
    ic_schedule *s = malloc(sizeof *s);
    ic_run_config *rcfg = malloc(sizeof *rcfg);
    ic_err err = {{0}};
    ic_capture cap = {0}, tcap = {0};
    ic_task_params tp = {0}, ttp = {0};
    ic_probe_fit pf = {0};
    ic_geometry geo = {0};
    ic_components comp = {0};
    float *xs = NULL, *ys = NULL, *txs = NULL, *tys = NULL, *lens = NULL, *bpred = NULL, *apred = NULL;
    double *curves = NULL, *ttar = NULL, *tshuf = NULL, *htar = NULL, *ov = NULL, *abl = NULL, *ablk = NULL;
    ic_probe_score *scores = NULL;
    char **labels = NULL, **klabels = NULL, **steplabels = NULL;
    family fam[2] = {{.name = "newton"}, {.name = "gd"}};
    double *sime_ls = NULL;
    int ranks[MAX_K], nranks = 0, S = 0;
    int B, Bt, n_points = 0, loops = 0, rank, chunk, n_head = 0, threads;
    unsigned long long seed;
    double lambda;
    if (!s || !rcfg) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if ((rc = cli_require(&a, "model")) || (rc = cli_require(&a, "out")) ||
        (rc = cli_get_int(&a, "prompts", 2, 10000000, 512, &B)) ||
        (rc = cli_get_int(&a, "train_prompts", 2, 10000000, 2048, &Bt)) ||
        (rc = cli_get_int(&a, "n_points", 2, 100000, 0, &n_points)) ||
        (rc = cli_get_int(&a, "loops", 1, IC_MAX_LOOPS, 0, &loops)) ||
        (rc = cli_get_int(&a, "rank", 1, 65536, 4, &rank)) || (rc = cli_get_int(&a, "chunk", 1, 1 << 20, 128, &chunk)) ||
        (rc = cli_get_int(&a, "n_head", 0, 65536, 0, &n_head)) ||
        (rc = cli_get_int(&a, "threads", 0, 1024, 0, &threads)) || (rc = cli_get_u64(&a, "seed", 1234, &seed)) ||
        (rc = cli_get_double(&a, "lambda", 0.0, 1e6, 1e-4, &lambda)))
        goto done;
    rc = CLI_USAGE;
    int want[5] = {0};
    static const char *const WHAT[5] = {"lens", "probes", "sime", "geometry", "components"};
    {
        const char *w = cli_get(&a, "what") ? cli_get(&a, "what") : "all";
        char buf[512];
        snprintf(buf, sizeof buf, "%s", w);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int found = 0;
            for (int i = 0; i < 5; i++)
                if (!strcmp(tok, WHAT[i]) || !strcmp(tok, "all")) want[i] = found = 1;
            if (!found) {
                cli_error(cmd, "--what: unknown analysis '%s' (lens, probes, sime, geometry, components, all)", tok);
                goto done;
            }
        }
    }
    const int W_LENS = want[0], W_PROBES = want[1], W_SIME = want[2], W_GEO = want[3], W_COMP = want[4];
    fam[0].nk = parse_int_list(cli_get(&a, "newton_steps") ? cli_get(&a, "newton_steps") : "0-24", 0, 1000, fam[0].ks, MAX_K);
    fam[1].nk = parse_int_list(cli_get(&a, "gd_steps") ? cli_get(&a, "gd_steps") : "1,2,3,5,10,20,50,100,200,500,1000,2000,5000", 0,
                               1000000, fam[1].ks, MAX_K);
    if (fam[0].nk < 1 || fam[1].nk < 1) {
        cli_error(cmd, "--newton_steps / --gd_steps: expected a list like 1,2,5-8 of at most %d step counts", MAX_K);
        goto done;
    }
    rc = CLI_FAIL;
    const char *model_path = cli_get(&a, "model"), *dir = cli_get(&a, "out");
    {
        static const char *const written[] = {"*.csv", "*.json", "*.svg", NULL};
        const cli_path ins[] = {{"model", model_path}}, od = {"out", dir}, outs[] = {{"dump", cli_get(&a, "dump")}};
        if (cli_check_overwrite(cmd, ins, 1, outs, 1, &od, written)) goto done;
    }
    cli_set_threads(threads);
    if (cli_load_model(cmd, model_path, n_head, &m, s, rcfg, &n_points)) goto done;
    if (n_points < 2) { cli_error(cmd, "probing needs prompts of at least 2 points"); goto done; }
    if (cli_get(&a, "schedule") && ic_schedule_parse(s, cli_get(&a, "schedule"), s, m.cfg.n_layer, &err)) {
        cli_error(cmd, "--schedule: %s", err.msg);
        rc = CLI_USAGE;
        goto done;
    }
    if (loops) s->loops = loops;
    s->loss_loops = 1;
    s->grad_loops = 0;
    if (ic_schedule_validate(s, m.cfg.n_layer, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    const int d = m.cfg.n_dims, n = n_points, C = m.cfg.n_embd;
    if (cli_get(&a, "ablate_ranks")) {
        nranks = parse_int_list(cli_get(&a, "ablate_ranks"), 0, C, ranks, MAX_K);
        if (nranks < 1) { cli_error(cmd, "--ablate_ranks: expected ranks in 0..%d like 0,1,4,%d", C, C); rc = CLI_USAGE; goto done; }
    } else {
        ranks[nranks++] = 0;
        for (int r = 1; r < C && nranks < MAX_K - 1; r *= 2) ranks[nranks++] = r;
        ranks[nranks++] = C;
    }
    if (rank > C) rank = C;
    ic_task_spec task;
    if (ic_run_config_task(rcfg, d, &task, NULL, &err)) { cli_error(cmd, "%s: %s", model_path, err.msg); goto done; }
    const ic_task_kind kind = task.kind;
    {
        /* the capture of every state (+ attention/MLP parts for --dump, from a forward that
         * stores every loop's activations), the training prompts' capture per 4 chunks */
        const int NS = ic_schedule_slots(s);
        const double states = (double)s->loops * (NS + 1), BTC = (double)B * 2 * n * C;
        const int dump = cli_get(&a, "dump") != NULL, tc = 4 * chunk < Bt ? 4 * chunk : Bt;
        const double extra = BTC * states * 4 + (dump ? 2.0 * BTC * s->loops * NS * 4 : 0) + (double)B * n * (d + 2.0) * 4 +
                             (double)tc * 2 * n * C * states * 4 + (double)Bt * n * (d + 1.0) * 4 +
                             2.0 * Bt * (n - 1) * IC_PT_COLS(d) * 8;
        ic_schedule *ps = malloc(sizeof *ps);
        if (!ps) { cli_error(cmd, "out of memory"); goto done; }
        *ps = *s;
        if (dump) ps->grad_loops = ps->loops;
        int bad = cli_check_memory(cmd, &m, ps, B, n, chunk, dump, extra, "--prompts, --train_prompts, --chunk or --n_points");
        free(ps);
        if (bad) goto done;
    }
    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    if (cli_outdir_begin(cmd, &od, dir, &model_path, 1)) goto done;
    dir = od.tmp;
    char sched_text[8192];
    ic_schedule_format(s, sched_text, sizeof sched_text);
    printf("iclab probe: %s, schedule %s x %d loop%s, %s, d=%d, %d points, %d held-out prompts (seed %llu)\n",
           model_path, sched_text, s->loops, s->loops > 1 ? "s" : "", ic_task_name(kind), d, n, B, seed);

    /* held-out prompts and their capture */
    xs = malloc(sizeof(float) * (size_t)B * n * d);
    ys = malloc(sizeof(float) * (size_t)B * n);
    if (!xs || !ys) { cli_error(cmd, "out of memory"); goto done; }
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    if (ic_task_sample(&task, &rng, B, n, d, xs, ys, &tp, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    const char *dump = cli_get(&a, "dump");
    progress("capture", 0, 1);
    if (ic_probe_capture(&m, s, xs, ys, B, n, chunk, dump != NULL, &cap, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    progress("capture", 1, 1);
    S = cap.n_states;
    const int NS = cap.n_steps, R = cap.loops * NS;
    labels = calloc((size_t)S, sizeof *labels);
    steplabels = calloc((size_t)R, sizeof *steplabels);
    if (!labels || !steplabels) { cli_error(cmd, "out of memory"); goto done; }
    for (int k = 0; k < S; k++) {
        labels[k] = malloc(96);
        if (!labels[k]) { cli_error(cmd, "out of memory"); goto done; }
        ic_capture_label(&cap, k, labels[k], 96);
    }
    for (int l = 0; l < cap.loops; l++)
        for (int q = 0; q < NS; q++) steplabels[l * NS + q] = labels[ic_capture_index(&cap, l, q + 1)];
    json_t *meta = json_pack("{s:s,s:s,s:i,s:s,s:i,s:i,s:i,s:o}", "model", model_path, "schedule", sched_text, "loops",
                             s->loops, "task", ic_task_name(kind), "n_dims", d, "n_points", n, "prompts", B, "seed",
                             ic_json_u64(seed));
    json_object_set_new(meta, "task_spec", ic_task_spec_json(&task)); /* what the prompts were drawn from */
    json_object_set_new(meta, "states", jlabels(labels, S));
    json_object_set_new(meta, "state_definition",
                        json_string("state 'in' is a loop's input; 'j:bK' the residual after step j (block K); "
                                    "'lL.' prefixes loop L"));
    if (dump) {
        const char *k[3] = {"model", "seed", "task"};
        char sd[32];
        snprintf(sd, sizeof sd, "%llu", seed);
        const char *v[3] = {model_path, sd, ic_task_name(kind)};
        char dump_at[4096]; /* a --dump inside DIR goes in with the rest */
        if (ic_outdir_path(&od, dump, dump_at, sizeof dump_at, &err) || ic_capture_dump(dump_at, &cap, k, v, 3, &err)) {
            cli_error(cmd, "--dump: %s", err.msg);
            goto meta_done;
        }
        printf("wrote %s (%d states of [%d,%d,%d])\n", dump, S, B, 2 * n, C);
    }

    lens = malloc(sizeof(float) * (size_t)S * B * n);
    curves = malloc(sizeof(double) * (size_t)S * n);
    if (!lens || !curves) { cli_error(cmd, "out of memory"); goto meta_done; }
    if (ic_probe_lens(&m, &cap, lens, &err)) { cli_error(cmd, "%s", err.msg); goto meta_done; }
    for (int k = 0; k < S; k++) err_curve(lens + (size_t)k * B * n, ys, B, n, d, curves + (size_t)k * n);
    const int kd = d < n ? d : -1, k2d = 2 * d < n ? 2 * d : -1;

    /* ---- lens ---- */
    if (W_LENS) {
        sbuf csv = {0}, pos = {0};
        sb_printf(&csv, "state,label,err_all,err_k%d,err_k%d\n", d, 2 * d);
        sb_printf(&pos, "state,label");
        for (int i = 0; i < n; i++) sb_printf(&pos, ",k%d", i);
        sb_printf(&pos, "\n");
        double *ea = malloc(sizeof(double) * S), *e1 = malloc(sizeof(double) * S), *e2 = malloc(sizeof(double) * S),
               *sx = malloc(sizeof(double) * S);
        json_t *jl = json_array();
        if (!ea || !e1 || !e2 || !sx) { free(ea); free(e1); free(e2); free(sx); cli_error(cmd, "out of memory"); goto meta_done; }
        for (int k = 0; k < S; k++) {
            const double *c = curves + (size_t)k * n;
            sx[k] = k;
            ea[k] = mean_range(c, 0, n);
            e1[k] = kd >= 0 ? c[kd] : NAN;
            e2[k] = k2d >= 0 ? c[k2d] : NAN;
            sb_printf(&csv, "%d,%s,%s,%s,%s\n", k, labels[k], ic_csv_num(ea[k], 6).s, ic_csv_num(e1[k], 6).s,
                      ic_csv_num(e2[k], 6).s);
            sb_printf(&pos, "%d,%s", k, labels[k]);
            for (int i = 0; i < n; i++) sb_printf(&pos, ",%s", ic_csv_num(c[i], 6).s);
            sb_printf(&pos, "\n");
            json_array_append_new(jl, json_pack("{s:i,s:s,s:o,s:o,s:o,s:o}", "state", k, "label", labels[k], "err_all",
                                                ic_json_num(ea[k]), "err_k_d", ic_json_num(e1[k]), "err_k_2d", ic_json_num(e2[k]), "curve",
                                                ic_json_nums(c, n)));
        }
        json_t *j = json_pack("{s:O,s:s,s:o}", "meta", meta, "definition",
                              "pred = read_out(ln_f(h)) at the x tokens, with the model's ln_f and read_out; "
                              "error = (pred - y)^2 / d per position, mean over prompts; err_all: mean over positions",
                              "states", jl);
        ic_series ser[3];
        int ns = 0;
        char l1[32], l2[32];
        snprintf(l1, sizeof l1, "k = d = %d", d);
        snprintf(l2, sizeof l2, "k = 2d = %d", 2 * d);
        ser[ns++] = (ic_series){.label = "all positions", .x = sx, .y = ea, .n = S};
        if (kd >= 0) ser[ns++] = (ic_series){.label = l1, .x = sx, .y = e1, .n = S, .dashed = 1};
        if (k2d >= 0) ser[ns++] = (ic_series){.label = l2, .x = sx, .y = e2, .n = S, .dashed = 1};
        char **poslab = calloc((size_t)n, sizeof *poslab);
        int bad = !poslab;
        for (int i = 0; i < n && !bad; i++) {
            poslab[i] = malloc(16);
            if (!poslab[i]) bad = 1;
            else snprintf(poslab[i], 16, "%d", i);
        }
        bad = bad || write_text(dir, "lens.csv", &csv, &err) || write_text(dir, "lens_positions.csv", &pos, &err) ||
              write_json(dir, "lens.json", j, &err) ||
              lines(dir, "lens_error.svg", "Readout lens: error per state (state 0 = embedding)", "state",
                    "squared error / d", 1, ser, ns, &err) ||
              heatmap(dir, "lens_positions.svg", "Readout lens: error per state and position", "position k", "state",
                      curves, S, n, labels, poslab, 1, NAN, NAN, &err);
        for (int i = 0; poslab && i < n; i++) free(poslab[i]);
        free(poslab);
        json_decref(j);
        free(csv.p);
        free(pos.p);
        free(ea); free(e1); free(e2); free(sx);
        if (bad) { cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory"); goto meta_done; }
    }

    /* ---- probes ---- */
    if (W_PROBES) {
        const int KT = IC_PT_COLS(d), prev_y = cli_get(&a, "prev_y") != NULL;
        txs = malloc(sizeof(float) * (size_t)Bt * n * d);
        tys = malloc(sizeof(float) * (size_t)Bt * n);
        ttar = malloc(sizeof(double) * (size_t)Bt * (n - 1) * KT);
        tshuf = malloc(sizeof(double) * (size_t)Bt * (n - 1) * KT);
        htar = malloc(sizeof(double) * (size_t)B * (n - 1) * KT);
        scores = malloc(sizeof *scores * (size_t)S * IC_PT_COUNT);
        if (!txs || !tys || !ttar || !tshuf || !htar || !scores) { cli_error(cmd, "out of memory"); goto meta_done; }
        ic_rng trng;
        ic_rng_seed(&trng, seed + 1);
        if (ic_task_sample(&task, &trng, Bt, n, d, txs, tys, &ttp, &err) ||
            ic_probe_targets(txs, tys, ttp.w, Bt, n, d, ttar, &err) ||
            ic_probe_targets(xs, ys, tp.w, B, n, d, htar, &err) ||
            ic_probe_fit_init(&pf, S, C, d, prev_y, &err) ||
            ic_probe_shuffle_rows(ttar, Bt, n, KT, seed ^ 0x5eedULL, tshuf, &err)) {
            cli_error(cmd, "probes: %s", err.msg);
            goto meta_done;
        }
        const int tc = chunk * 4;
        for (int b0 = 0; b0 < Bt; b0 += tc) {
            const int nb = Bt - b0 < tc ? Bt - b0 : tc;
            progress("probes (training prompts)", b0, Bt);
            if (ic_probe_capture(&m, s, txs + (size_t)b0 * n * d, tys + (size_t)b0 * n, nb, n, chunk, 0, &tcap, &err) ||
                ic_probe_fit_add(&pf, &tcap, ttar + (size_t)b0 * (n - 1) * KT, tshuf + (size_t)b0 * (n - 1) * KT, &err)) {
                cli_error(cmd, "probes: %s", err.msg);
                goto meta_done;
            }
        }
        progress("probes (training prompts)", Bt, Bt);
        ic_capture_free(&tcap);
        if (ic_probe_fit_solve(&pf, lambda, &err) || ic_probe_fit_score(&pf, &cap, htar, scores, &err)) {
            cli_error(cmd, "probes: %s", err.msg);
            goto meta_done;
        }
        sbuf csv = {0};
        sb_printf(&csv, "state,label,target,r2,mse,r2_shuffled,mse_shuffled\n");
        json_t *jt = json_object();
        double *sx = malloc(sizeof(double) * S), *r2 = malloc(sizeof(double) * S * IC_PT_COUNT * 2);
        if (!sx || !r2) { free(sx); free(r2); free(csv.p); json_decref(jt); cli_error(cmd, "out of memory"); goto meta_done; }
        for (int t = 0; t < IC_PT_COUNT; t++) {
            json_t *r = json_array(), *ms = json_array(), *rs = json_array(), *mss = json_array();
            for (int k = 0; k < S; k++) {
                const ic_probe_score *p = &scores[(size_t)k * IC_PT_COUNT + t];
                json_array_append_new(r, ic_json_num(p->r2));
                json_array_append_new(ms, ic_json_num(p->mse));
                json_array_append_new(rs, ic_json_num(p->r2_shuf));
                json_array_append_new(mss, ic_json_num(p->mse_shuf));
                r2[(size_t)(2 * t) * S + k] = p->r2;
                r2[(size_t)(2 * t + 1) * S + k] = p->r2_shuf;
            }
            json_object_set_new(jt, ic_probe_target_name(t),
                                json_pack("{s:o,s:o,s:o,s:o}", "r2", r, "mse", ms, "r2_shuffled", rs, "mse_shuffled", mss));
        }
        for (int k = 0; k < S; k++) {
            sx[k] = k;
            for (int t = 0; t < IC_PT_COUNT; t++) {
                const ic_probe_score *p = &scores[(size_t)k * IC_PT_COUNT + t];
                sb_printf(&csv, "%d,%s,%s,%s,%s,%s,%s\n", k, labels[k], ic_probe_target_name(t), ic_csv_num(p->r2, 6).s,
                          ic_csv_num(p->mse, 6).s, ic_csv_num(p->r2_shuf, 6).s, ic_csv_num(p->mse_shuf, 6).s);
            }
        }
        json_t *j = json_pack("{s:O,s:s,s:i,s:o,s:o,s:b,s:o}", "meta", meta, "definition",
                              "ridge probe from the residual at x_i's token (points i = 1..n-1) to each target, "
                              "fitted on train_prompts prompts (seed+1), scored on the held-out prompts: "
                              "R^2 = 1 - SSE/SST (SST about the held-out mean, summed over the target's components); "
                              "shuffled: the same probe fitted on targets permuted across training prompts",
                              "train_prompts", Bt, "train_seed", ic_json_u64(seed + 1), "lambda", ic_json_num(lambda), "prev_y",
                              prev_y, "targets", jt);
        ic_series ser[2 * IC_PT_COUNT];
        char sl[IC_PT_COUNT][40];
        int ns = 0;
        for (int t = 0; t < IC_PT_COUNT; t++) {
            if (!tp.w && t == IC_PT_W) continue;
            ser[ns++] = (ic_series){.label = ic_probe_target_name(t), .x = sx, .y = r2 + (size_t)(2 * t) * S, .n = S};
            snprintf(sl[t], sizeof sl[t], "%s (shuffled)", ic_probe_target_name(t));
            ser[ns++] = (ic_series){.label = sl[t], .x = sx, .y = r2 + (size_t)(2 * t + 1) * S, .n = S, .dashed = 1};
        }
        int bad = write_text(dir, "probes.csv", &csv, &err) || write_json(dir, "probes.json", j, &err) ||
                  lines(dir, "probes_r2.svg", "Linear probes: held-out R^2 per state", "state", "R^2", 0, ser, ns, &err);
        json_decref(j);
        free(csv.p);
        free(sx);
        free(r2);
        if (bad) { cli_error(cmd, "%s", err.msg); goto meta_done; }
    }

    /* ---- SimE ---- */
    if (W_SIME) {
        bpred = malloc(sizeof(float) * (size_t)B * n);
        sime_ls = malloc(sizeof(double) * S);
        if (!bpred || !sime_ls) { cli_error(cmd, "out of memory"); goto meta_done; }
        ic_baseline_spec ls;
        ic_baseline_defaults(IC_BL_LEAST_SQUARES, &ls);
        if (ic_baseline_predict(&ls, xs, ys, B, n, d, bpred, &err)) { cli_error(cmd, "%s", err.msg); goto meta_done; }
        for (int k = 0; k < S; k++) sime_ls[k] = ic_sime(lens + (size_t)k * B * n, bpred, ys, B, n, 1, NULL);
        for (int f = 0; f < 2; f++) {
            family *fm = &fam[f];
            const int nc = fm->nk + 1;
            fm->sime = malloc(sizeof(double) * (size_t)S * nc);
            fm->best = malloc(sizeof(int) * (size_t)S);
            if (!fm->sime || !fm->best) { cli_error(cmd, "out of memory"); goto meta_done; }
            for (int c = 0; c < fm->nk; c++) {
                progress(f ? "sime (gradient descent)" : "sime (Newton)", c, fm->nk);
                ic_baseline_spec sp;
                ic_baseline_defaults(f ? IC_BL_GD : IC_BL_NEWTON, &sp);
                sp.steps = fm->ks[c];
                if (ic_baseline_predict(&sp, xs, ys, B, n, d, bpred, &err)) { cli_error(cmd, "%s", err.msg); goto meta_done; }
                for (int k = 0; k < S; k++) fm->sime[(size_t)k * nc + c] = ic_sime(lens + (size_t)k * B * n, bpred, ys, B, n, 1, NULL);
            }
            progress(f ? "sime (gradient descent)" : "sime (Newton)", fm->nk, fm->nk);
            for (int k = 0; k < S; k++) {
                fm->sime[(size_t)k * nc + fm->nk] = sime_ls[k];
                int best = 0;
                for (int c = 1; c < fm->nk; c++)
                    if (fm->sime[(size_t)k * nc + c] > fm->sime[(size_t)k * nc + best]) best = c;
                fm->best[k] = best;
            }
        }
        sbuf csv = {0}, bcsv = {0};
        sb_printf(&csv, "state,label,solver,steps,sime\n");
        sb_printf(&bcsv, "state,label,best_newton_steps,sime_newton,best_gd_steps,sime_gd,sime_least_squares\n");
        json_t *jf = json_object();
        for (int f = 0; f < 2; f++) {
            const family *fm = &fam[f];
            const int nc = fm->nk + 1;
            json_t *ks = json_array(), *best = json_array(), *bests = json_array();
            for (int c = 0; c < fm->nk; c++) json_array_append_new(ks, json_integer(fm->ks[c]));
            for (int k = 0; k < S; k++) {
                json_array_append_new(best, json_integer(fm->ks[fm->best[k]]));
                json_array_append_new(bests, ic_json_num(fm->sime[(size_t)k * nc + fm->best[k]]));
                for (int c = 0; c < fm->nk; c++)
                    sb_printf(&csv, "%d,%s,%s,%d,%s\n", k, labels[k], fm->name, fm->ks[c],
                              ic_csv_num(fm->sime[(size_t)k * nc + c], 6).s);
            }
            json_t *mat = json_array();
            for (int k = 0; k < S; k++) json_array_append_new(mat, ic_json_nums(fm->sime + (size_t)k * nc, fm->nk));
            json_object_set_new(jf, fm->name, json_pack("{s:o,s:o,s:o,s:o}", "steps", ks, "sime", mat, "best_steps", best,
                                                        "best_sime", bests));
        }
        for (int k = 0; k < S; k++) {
            sb_printf(&csv, "%d,%s,least_squares,,%s\n", k, labels[k], ic_csv_num(sime_ls[k], 6).s);
            sb_printf(&bcsv, "%d,%s,%d,%s,%d,%s,%s\n", k, labels[k], fam[0].ks[fam[0].best[k]],
                      ic_csv_num(fam[0].sime[(size_t)k * (fam[0].nk + 1) + fam[0].best[k]], 6).s, fam[1].ks[fam[1].best[k]],
                      ic_csv_num(fam[1].sime[(size_t)k * (fam[1].nk + 1) + fam[1].best[k]], 6).s, ic_csv_num(sime_ls[k], 6).s);
        }
        json_object_set_new(jf, "least_squares", ic_json_nums(sime_ls, S));
        json_t *j = json_pack("{s:O,s:s,s:f,s:o}", "meta", meta, "definition",
                              "per prompt, the error vectors (pred_i - y_i, points i = 1..n-1) of the state's lens "
                              "prediction and of the solver; their cosine; mean over prompts (Fu et al.). best_steps: "
                              "argmax over the step counts",
                              "gd_eta", 0.01, "families", jf);
        int bad = write_text(dir, "sime.csv", &csv, &err) || write_text(dir, "sime_best.csv", &bcsv, &err) ||
                  write_json(dir, "sime.json", j, &err);
        json_decref(j);
        free(csv.p);
        free(bcsv.p);
        for (int f = 0; f < 2 && !bad; f++) {
            family *fm = &fam[f];
            char **cl = calloc((size_t)fm->nk + 1, sizeof *cl);
            if (!cl) { bad = 1; break; }
            for (int c = 0; c <= fm->nk && !bad; c++) {
                cl[c] = malloc(16);
                if (!cl[c]) bad = 1;
                else if (c < fm->nk) snprintf(cl[c], 16, "%d", fm->ks[c]);
                else snprintf(cl[c], 16, "LS");
            }
            char title[128], name[64], xl[64];
            snprintf(title, sizeof title, "SimE: lens vs %s (last column: least squares)", f ? "gradient descent" : "iterative Newton");
            snprintf(name, sizeof name, "sime_%s.svg", fm->name);
            snprintf(xl, sizeof xl, "%s steps", f ? "GD" : "Newton");
            bad = bad || heatmap(dir, name, title, xl, "state", fm->sime, S, fm->nk + 1, labels, cl, 0, NAN, NAN, &err);
            for (int c = 0; c <= fm->nk; c++) free(cl[c]);
            free(cl);
        }
        double *sx = malloc(sizeof(double) * S), *bn = malloc(sizeof(double) * S), *bg = malloc(sizeof(double) * S);
        if (!bad && sx && bn && bg) {
            for (int k = 0; k < S; k++) {
                sx[k] = k;
                bn[k] = fam[0].sime[(size_t)k * (fam[0].nk + 1) + fam[0].best[k]];
                bg[k] = fam[1].sime[(size_t)k * (fam[1].nk + 1) + fam[1].best[k]];
            }
            ic_series ser[3] = {{.label = "best Newton", .x = sx, .y = bn, .n = S},
                                {.label = "best GD", .x = sx, .y = bg, .n = S},
                                {.label = "least squares", .x = sx, .y = sime_ls, .n = S, .dashed = 1}};
            bad = lines(dir, "sime_best.svg", "SimE of the best-matching solver per state", "state", "SimE", 0, ser, 3, &err);
        } else if (!bad) {
            bad = 1;
        }
        free(sx); free(bn); free(bg);
        if (bad) { cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory"); goto meta_done; }
    }

    /* ---- geometry ---- */
    if (W_GEO) {
        const int cka = cli_get(&a, "no_cka") == NULL;
        progress("geometry (cosines)", 0, 1);
        if (ic_probe_geometry(&cap, cka, &geo, cka_progress, NULL, &err)) { cli_error(cmd, "%s", err.msg); goto meta_done; }
        if (!cka) progress("geometry (cosines)", 1, 1);
        sbuf st = {0};
        sb_printf(&st, "state,label,norm_all,norm_x,norm_y,influence_all,influence_x,influence_y\n");
        for (int k = 0; k < S; k++)
            sb_printf(&st, "%d,%s,%s,%s,%s,%s,%s,%s\n", k, labels[k], ic_csv_num(geo.norm[0][k], 6).s,
                      ic_csv_num(geo.norm[1][k], 6).s, ic_csv_num(geo.norm[2][k], 6).s, ic_csv_num(geo.influence[0][k], 6).s,
                      ic_csv_num(geo.influence[1][k], 6).s, ic_csv_num(geo.influence[2][k], 6).s);
        json_t *jg = json_object();
        int bad = write_text(dir, "geometry_states.csv", &st, &err);
        free(st.p);
        for (int w = 0; w < IC_TOK_COUNT && !bad; w++) {
            for (int which = 0; which < 2 && !bad; which++) {
                const double *mat = which ? geo.cka[w] : geo.cos[w];
                if (!mat) continue;
                sbuf mc = {0};
                sb_printf(&mc, "state");
                for (int k = 0; k < S; k++) sb_printf(&mc, ",%s", labels[k]);
                sb_printf(&mc, "\n");
                for (int i = 0; i < S; i++) {
                    sb_printf(&mc, "%s", labels[i]);
                    for (int k = 0; k < S; k++) sb_printf(&mc, ",%s", ic_csv_num(mat[(size_t)i * S + k], 6).s);
                    sb_printf(&mc, "\n");
                }
                char name[64], title[128];
                snprintf(name, sizeof name, "%s_%s.csv", which ? "cka" : "cos", ic_tok_name(w));
                bad = write_text(dir, name, &mc, &err);
                free(mc.p);
                snprintf(name, sizeof name, "%s_%s.svg", which ? "cka" : "cos", ic_tok_name(w));
                snprintf(title, sizeof title, "%s between states (%s tokens)", which ? "Linear CKA" : "Mean cosine similarity",
                         ic_tok_name(w));
                bad = bad || heatmap(dir, name, title, "state", "state", mat, S, S, labels, labels, 0, NAN, NAN, &err);
            }
            json_object_set_new(jg, ic_tok_name(w),
                                json_pack("{s:o,s:o,s:o,s:o}", "cos", jmat(geo.cos[w], S, S), "cka",
                                          geo.cka[w] ? jmat(geo.cka[w], S, S) : json_null(), "norm", ic_json_nums(geo.norm[w], S),
                                          "influence", ic_json_nums(geo.influence[w], S)));
        }
        json_t *j = json_pack("{s:O,s:s,s:o}", "meta", meta, "definition",
                              "cos[i][j] = mean over tokens of cos(h_i, h_j); cka = linear CKA of the centred token x C "
                              "matrices; norm = mean |h|; influence = 1 - mean cos(previous state, state) (null for loop "
                              "inputs); per token class: all, x tokens (even), y tokens (odd)",
                              "tokens", jg);
        bad = bad || write_json(dir, "geometry.json", j, &err);
        json_decref(j);
        double *sx = malloc(sizeof(double) * S);
        if (!bad && sx) {
            for (int k = 0; k < S; k++) sx[k] = k;
            ic_series sn[3], si[3];
            for (int w = 0; w < IC_TOK_COUNT; w++) {
                sn[w] = (ic_series){.label = ic_tok_name(w), .x = sx, .y = geo.norm[w], .n = S, .dashed = w > 0};
                si[w] = (ic_series){.label = ic_tok_name(w), .x = sx, .y = geo.influence[w], .n = S, .dashed = w > 0};
            }
            bad = lines(dir, "geometry_norm.svg", "Residual norm per state", "state", "mean |h|", 0, sn, 3, &err) ||
                  lines(dir, "geometry_influence.svg", "Block influence 1 - cos(in, out) per state", "state", "influence",
                        0, si, 3, &err);
        } else if (!bad) {
            bad = 1;
        }
        free(sx);
        if (bad) { cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory"); goto meta_done; }
    }

    /* ---- components and ablation ---- */
    if (W_COMP) {
        progress("components (SVD)", 0, 1);
        if (ic_probe_components(&cap, &comp, &err)) { cli_error(cmd, "%s", err.msg); goto meta_done; }
        progress("components (SVD)", 1, 1);
        ov = malloc(sizeof(double) * (size_t)R * R);
        abl = malloc(sizeof(double) * (size_t)R * nranks);
        ablk = malloc(sizeof(double) * (size_t)R * nranks);
        apred = malloc(sizeof(float) * (size_t)B * n);
        klabels = calloc((size_t)nranks, sizeof *klabels);
        double *curve = malloc(sizeof(double) * n);
        if (!ov || !abl || !ablk || !apred || !klabels || !curve) { free(curve); cli_error(cmd, "out of memory"); goto meta_done; }
        for (int i = 0; i < R; i++)
            for (int j = 0; j < R; j++)
                ov[(size_t)i * R + j] = ic_subspace_overlap(comp.dirs + (size_t)i * C * C, comp.dirs + (size_t)j * C * C, C, rank);
        /* the intact model (r = 0 changes nothing, bit for bit: run once) */
        if (ic_probe_ablate(&m, s, xs, ys, B, n, chunk, 0, 0, comp.dirs, 0, apred, &err)) {
            free(curve);
            cli_error(cmd, "ablation: %s", err.msg);
            goto meta_done;
        }
        err_curve(apred, ys, B, n, d, curve);
        const double ref_all = mean_range(curve, 0, n), ref_kd = kd >= 0 ? curve[kd] : NAN;
        int done_ab = 0, todo = 0;
        for (int ri = 0; ri < nranks; ri++) todo += ranks[ri] > 0 ? R : 0;
        for (int row = 0; row < R; row++)
            for (int ri = 0; ri < nranks; ri++) {
                if (ranks[ri] == 0) {
                    abl[(size_t)row * nranks + ri] = ref_all;
                    ablk[(size_t)row * nranks + ri] = ref_kd;
                    continue;
                }
                progress("ablation", done_ab++, todo);
                if (ic_probe_ablate(&m, s, xs, ys, B, n, chunk, row / NS, row % NS, comp.dirs + (size_t)row * C * C,
                                    ranks[ri], apred, &err)) {
                    free(curve);
                    cli_error(cmd, "ablation: %s", err.msg);
                    goto meta_done;
                }
                err_curve(apred, ys, B, n, d, curve);
                abl[(size_t)row * nranks + ri] = mean_range(curve, 0, n);
                ablk[(size_t)row * nranks + ri] = kd >= 0 ? curve[kd] : NAN;
            }
        progress("ablation", todo, todo);
        free(curve);
        for (int ri = 0; ri < nranks; ri++) {
            klabels[ri] = malloc(16);
            if (!klabels[ri]) { cli_error(cmd, "out of memory"); goto meta_done; }
            snprintf(klabels[ri], 16, "%d", ranks[ri]);
        }
        sbuf cc = {0}, oc = {0}, ac = {0};
        sb_printf(&cc, "step,label,k,singular_value,explained,cumulative\n");
        json_t *jrows = json_array();
        for (int row = 0; row < R; row++) {
            double cum = 0.0;
            for (int k = 0; k < C; k++) {
                cum += comp.evr[(size_t)row * C + k];
                sb_printf(&cc, "%d,%s,%d,%s,%s,%s\n", row, steplabels[row], k + 1, ic_csv_num(comp.sv[(size_t)row * C + k], 6).s,
                          ic_csv_num(comp.evr[(size_t)row * C + k], 6).s, ic_csv_num(cum, 6).s);
            }
            json_array_append_new(jrows, json_pack("{s:s,s:i,s:i,s:o,s:o,s:o,s:o}", "label", steplabels[row], "loop",
                                                   row / NS, "step", row % NS, "singular_values",
                                                   ic_json_nums(comp.sv + (size_t)row * C, C), "explained",
                                                   ic_json_nums(comp.evr + (size_t)row * C, C), "ablation_err_all",
                                                   ic_json_nums(abl + (size_t)row * nranks, nranks), "ablation_err_k_d",
                                                   ic_json_nums(ablk + (size_t)row * nranks, nranks)));
        }
        sb_printf(&oc, "step");
        for (int j = 0; j < R; j++) sb_printf(&oc, ",%s", steplabels[j]);
        sb_printf(&oc, "\n");
        for (int i = 0; i < R; i++) {
            sb_printf(&oc, "%s", steplabels[i]);
            for (int j = 0; j < R; j++) sb_printf(&oc, ",%s", ic_csv_num(ov[(size_t)i * R + j], 6).s);
            sb_printf(&oc, "\n");
        }
        sb_printf(&ac, "step,label,rank,err_all,err_k%d\n", d);
        for (int row = 0; row < R; row++)
            for (int ri = 0; ri < nranks; ri++)
                sb_printf(&ac, "%d,%s,%d,%s,%s\n", row, steplabels[row], ranks[ri], ic_csv_num(abl[(size_t)row * nranks + ri], 6).s,
                          ic_csv_num(ablk[(size_t)row * nranks + ri], 6).s);
        json_t *jr = json_array();
        for (int ri = 0; ri < nranks; ri++) json_array_append_new(jr, json_integer(ranks[ri]));
        json_t *j = json_pack("{s:O,s:s,s:i,s:o,s:o,s:o,s:o,s:o}", "meta", meta, "definition",
                              "update D = h_out - h_in of each step (B*T tokens x C), uncentred SVD: explained = "
                              "sv_k^2 / |D|_F^2; overlap = |U_r V_r^T|_F^2 / r (mean squared cosine of the principal "
                              "angles between top-r write subspaces); ablation: h_out' = h_out - U_r U_r^T D during the "
                              "forward, error = squared error / d of the final prediction (all positions, and k = d)",
                              "rank", rank, "overlap", jmat(ov, R, R), "ablation_ranks", jr, "reference_err_all",
                              ic_json_num(ref_all), "reference_err_k_d", ic_json_num(ref_kd), "steps", jrows);
        int bad = write_text(dir, "components.csv", &cc, &err) || write_text(dir, "overlap.csv", &oc, &err) ||
                  write_text(dir, "ablation.csv", &ac, &err) || write_json(dir, "components.json", j, &err);
        json_decref(j);
        free(cc.p);
        free(oc.p);
        free(ac.p);
        char title[160];
        snprintf(title, sizeof title, "Overlap of the top-%d write subspaces (mean cos^2 of principal angles)", rank);
        bad = bad || heatmap(dir, "overlap.svg", title, "step", "step", ov, R, R, steplabels, steplabels, 0, 0.0, 1.0, &err);
        snprintf(title, sizeof title, "Final error with the top-r write directions of a step removed (intact: %.4g)", ref_all);
        bad = bad || heatmap(dir, "ablation.svg", title, "r (directions removed)", "step", abl, R, nranks, steplabels,
                             klabels, 1, NAN, NAN, &err);
        /* cumulative explained variance per step */
        double *cx = malloc(sizeof(double) * C), *cum = malloc(sizeof(double) * (size_t)R * C);
        ic_series *ser = malloc(sizeof *ser * (size_t)R);
        if (!bad && cx && cum && ser) {
            for (int k = 0; k < C; k++) cx[k] = k + 1;
            for (int row = 0; row < R; row++) {
                double c = 0.0;
                for (int k = 0; k < C; k++) cum[(size_t)row * C + k] = c += comp.evr[(size_t)row * C + k];
                ser[row] = (ic_series){.label = steplabels[row], .x = cx, .y = cum + (size_t)row * C, .n = C};
            }
            bad = lines(dir, "components_explained.svg", "Cumulative explained fraction of each step's update",
                        "directions k", "fraction of |D|^2", 0, ser, R, &err);
        } else if (!bad) {
            bad = 1;
        }
        free(cx); free(cum); free(ser);
        if (bad) { cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory"); goto meta_done; }
    }

    /* ---- summary ---- */
    printf("\n%-14s %11s %11s", "state", "lens err", kd >= 0 ? "lens k=d" : "");
    if (W_SIME) printf(" %8s %6s %8s %6s %7s", "newton k", "SimE", "gd k", "SimE", "LS SimE");
    if (W_PROBES) printf(" %7s %7s %7s %7s %7s", "R2 y", "R2 w", "R2 xty", "R2 lsq", "shuf y");
    printf("\n");
    for (int k = 0; k < S; k++) {
        printf("%-14s %11.4g %11.4g", labels[k], mean_range(curves + (size_t)k * n, 0, n),
               kd >= 0 ? curves[(size_t)k * n + kd] : NAN);
        if (W_SIME)
            printf(" %8d %6.3f %8d %6.3f %7.3f", fam[0].ks[fam[0].best[k]],
                   fam[0].sime[(size_t)k * (fam[0].nk + 1) + fam[0].best[k]], fam[1].ks[fam[1].best[k]],
                   fam[1].sime[(size_t)k * (fam[1].nk + 1) + fam[1].best[k]], sime_ls[k]);
        if (W_PROBES) {
            const ic_probe_score *p = &scores[(size_t)k * IC_PT_COUNT];
            printf(" %7.3f %7.3f %7.3f %7.3f %7.3f", p[IC_PT_Y].r2, p[IC_PT_W].r2, p[IC_PT_XTY].r2, p[IC_PT_LSQ].r2,
                   p[IC_PT_Y].r2_shuf);
        }
        printf("\n");
    }
    if (W_COMP) {
        printf("\nablation: final error (all positions) with the top-r write directions of a step removed\n%-14s", "step");
        for (int ri = 0; ri < nranks; ri++) printf(" %9s", klabels[ri]);
        printf("\n");
        for (int row = 0; row < R; row++) {
            printf("%-14s", steplabels[row]);
            for (int ri = 0; ri < nranks; ri++) printf(" %9.4g", abl[(size_t)row * nranks + ri]);
            printf("\n");
        }
    }
    printf("wrote %s/ (", od.out);
    for (int i = 0, first = 1; i < 5; i++)
        if (want[i]) {
            printf("%s%s", first ? "" : ", ", WHAT[i]);
            first = 0;
        }
    printf(")\n");
    rc = CLI_OK;
meta_done:
    json_decref(meta);
done:
    ic_model_free(&m);
    ic_capture_free(&cap);
    ic_capture_free(&tcap);
    ic_task_params_free(&tp);
    ic_task_params_free(&ttp);
    ic_probe_fit_free(&pf);
    ic_geometry_free(&geo);
    ic_components_free(&comp);
    for (int f = 0; f < 2; f++) {
        free(fam[f].sime);
        free(fam[f].best);
    }
    if (labels)
        for (int k = 0; k < S; k++) free(labels[k]);
    if (klabels)
        for (int i = 0; i < nranks; i++) free(klabels[i]);
    free(labels); free(klabels); free(steplabels);
    free(s); free(rcfg); free(xs); free(ys); free(txs); free(tys); free(lens); free(bpred); free(apred);
    free(curves); free(ttar); free(tshuf); free(htar); free(ov); free(abl); free(ablk); free(scores); free(sime_ls);
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
