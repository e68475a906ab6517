/* cmd_loops.c: `iclab loops` — run a (looped) model for 1..N loops, far past
 * its trained loop count, and report per loop the in-context error and the
 * fixed-point measure |Y_{t+1} - Y_t| / |Y_t|: does it converge, stall or
 * diverge? (docs/cli.md) */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "fsutil.h"
#include "numout.h"
#include "outdir.h"
#include "plot.h"
#include "tasks.h"

static const cli_opt OPTS[] = {
    {"model", "FILE", NULL, "model checkpoint (.safetensors; required)"},
    {"out", "DIR", NULL, "output directory: loops.csv, loops.json, loops_error.svg, loops_fixed_point.svg (required)"},
    {"max_loops", "N", "4 x the trained loops (at least 20)", "run 1..N loops"},
    {"prompts", "N", "512", "evaluation prompts (linear regression or the model's task)"},
    {"n_points", "N", "the model's training n_points", "points per prompt"},
    {"batch_size", "B", "256", "prompts per forward pass"},
    {"seed", "S", "1234", "seed of the evaluation prompts"},
    {"n_head", "N", "from the metadata", "attention heads; needed for a file without iclab metadata"},
    {"threads", "N", "0 = all cores", "threads for BLAS and OpenMP"},
};

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_model m = {0};
    ic_workspace *ws = calloc(1, sizeof *ws); /* zeroed: an empty workspace */
    ic_schedule *s = malloc(sizeof *s);
    ic_run_config *rcfg = malloc(sizeof *rcfg);
    ic_err err = {{0}};
    float *xs = NULL, *ys = NULL;
    double *se = NULL, *sek = NULL, *delta = NULL, *dnum = NULL, *dden = NULL;
    json_t *report = NULL;
    int max_loops = 0, B, n_points = 0, batch, n_head = 0, threads;
    unsigned long long seed;
    if (!ws || !s || !rcfg) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if ((rc = cli_require(&a, "model")) || (rc = cli_require(&a, "out")) ||
        (rc = cli_get_int(&a, "max_loops", 1, IC_MAX_LOOPS, 0, &max_loops)) ||
        (rc = cli_get_int(&a, "prompts", 1, 10000000, 512, &B)) ||
        (rc = cli_get_int(&a, "n_points", 1, 100000, 0, &n_points)) ||
        (rc = cli_get_int(&a, "batch_size", 1, 1 << 20, 256, &batch)) ||
        (rc = cli_get_int(&a, "n_head", 0, 65536, 0, &n_head)) ||
        (rc = cli_get_int(&a, "threads", 0, 1024, 0, &threads)) || (rc = cli_get_u64(&a, "seed", 1234, &seed)))
        goto done;
    rc = CLI_FAIL;
    const char *model_path = cli_get(&a, "model"), *dir = cli_get(&a, "out");
    {
        static const char *const written[] = {"loops.csv", "loops.json", "loops_error.svg", "loops_fixed_point.svg", NULL};
        const cli_path ins[] = {{"model", model_path}}, od = {"out", dir};
        if (cli_check_overwrite(cmd, ins, (int)(sizeof ins / sizeof *ins), NULL, 0, &od, written)) goto done;
    }
    cli_set_threads(threads);
    if (cli_load_model(cmd, model_path, n_head, &m, s, rcfg, &n_points)) goto done;
    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    const char *inputs[] = {model_path};
    if (cli_outdir_begin(cmd, &od, dir, inputs, 1)) goto done;
    dir = od.tmp;
    const int trained = s->loops, d = m.cfg.n_dims;
    if (!max_loops) max_loops = 4 * trained > 20 ? 4 * trained : 20;
    const int n = n_points, L = max_loops;
    ic_task_spec task;
    if (ic_run_config_task(rcfg, d, &task, NULL, &err)) { cli_error(cmd, "%s: %s", model_path, err.msg); goto done; }
    {
        ic_schedule *ls = malloc(sizeof *ls);
        if (!ls) { cli_error(cmd, "out of memory"); goto done; }
        *ls = *s;
        ls->loops = L;
        ls->loss_loops = 1;
        ls->grad_loops = 0;
        const double extra = (double)B * n * (d + 1.0) * 4 + 5.0 * L * 8;
        int bad = cli_check_memory(cmd, &m, ls, B, n, batch, 0, extra, "--batch_size, --max_loops or --prompts");
        free(ls);
        if (bad) goto done;
    }
    xs = malloc(sizeof(float) * (size_t)B * n * d);
    ys = malloc(sizeof(float) * (size_t)B * n);
    se = calloc((size_t)L, sizeof(double));      /* squared error / d, all positions */
    sek = calloc((size_t)L * 3, sizeof(double)); /* at k = d/2, d, 2d */
    delta = calloc((size_t)L, sizeof(double));
    dnum = calloc((size_t)L, sizeof(double)); /* the fixed-point measure's sums over all prompts */
    dden = calloc((size_t)L, sizeof(double));
    if (!xs || !ys || !se || !sek || !delta || !dnum || !dden) { cli_error(cmd, "out of memory"); goto done; }
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    if (ic_task_sample(&task, &rng, B, n, d, xs, ys, NULL, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    s->loops = L;
    s->loss_loops = 1;
    s->grad_loops = 0;
    const int ks[3] = {d / 2, d, 2 * d};
    for (int b0 = 0; b0 < B; b0 += batch) {
        int nb = B - b0 < batch ? B - b0 : batch;
        const float *y = ys + (size_t)b0 * n;
        if (ic_model_forward(&m, ws, s, xs + (size_t)b0 * n * d, y, nb, n, 0, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
        for (int t = 0; t < L; t++) {
            const float *p = ic_workspace_preds(ws, t);
            for (int b = 0; b < nb; b++)
                for (int i = 0; i < n; i++) {
                    double e = (double)p[(size_t)b * n + i] - y[(size_t)b * n + i];
                    se[t] += e * e / d / ((double)B * n);
                    for (int j = 0; j < 3; j++)
                        if (i == ks[j]) sek[(size_t)t * 3 + j] += e * e / d / B;
                }
            /* sums, not the chunk's ratio: a mean of chunk ratios would depend on --batch_size */
            dnum[t] += ws->loop_delta_num[t];
            dden[t] += ws->loop_delta_den[t];
        }
        fprintf(stderr, "\riclab loops: %d/%d prompts", b0 + nb, B);
    }
    fprintf(stderr, "\n");
    for (int t = 0; t < L; t++) delta[t] = t > 0 && dden[t] > 0 ? sqrt(dnum[t] / dden[t]) : NAN;

    /* CSV, JSON, plots */
    size_t cap = 128 + (size_t)L * 120, used = 0;
    char *csv = malloc(cap);
    if (!csv) { cli_error(cmd, "out of memory"); goto done; }
    used += (size_t)snprintf(csv, cap, "loop,err_all_positions,err_k%d,err_k%d,err_k%d,fixed_point\n", ks[0], ks[1], ks[2]);
    report = json_object();
    json_t *jl = json_array();
    for (int t = 0; t < L; t++) {
        /* undefined (loop 1's fixed point, k past the prompt, a NaN model): empty / null (numout.h) */
        used += (size_t)snprintf(csv + used, cap - used, "%d,%s,%s,%s,%s,%s\n", t + 1, ic_csv_num(se[t], 6).s,
                                 ic_csv_num(ks[0] < n ? sek[t * 3] : NAN, 6).s, ic_csv_num(ks[1] < n ? sek[t * 3 + 1] : NAN, 6).s,
                                 ic_csv_num(ks[2] < n ? sek[t * 3 + 2] : NAN, 6).s, ic_csv_num(delta[t], 6).s);
        json_array_append_new(jl, json_pack("{s:i,s:o,s:o}", "loop", t + 1, "err", ic_json_num(se[t]), "fixed_point",
                                            ic_json_num(delta[t])));
    }
    char path[4096];
    if (ic_path_join(path, sizeof path, dir, "loops.csv", &err) || ic_write_file_atomic(path, csv, used, &err)) {
        free(csv);
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    free(csv);
    json_object_set_new(report, "model", json_string(model_path));
    json_object_set_new(report, "trained_loops", json_integer(trained));
    json_object_set_new(report, "task", json_string(ic_task_name(task.kind)));
    json_object_set_new(report, "task_spec", ic_task_spec_json(&task)); /* what the prompts were drawn from */
    json_object_set_new(report, "prompts", json_integer(B));
    json_object_set_new(report, "n_points", json_integer(n));
    json_object_set_new(report, "fixed_point_definition", json_string("|Y_{t+1} - Y_t|_F / |Y_t|_F over all prompts (independent of --batch_size); null = undefined (loop 1)"));
    json_object_set_new(report, "loops", jl);
    char *js = json_dumps(report, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!js || ic_path_join(path, sizeof path, dir, "loops.json", &err) || ic_write_file_atomic(path, js, strlen(js), &err)) {
        free(js);
        cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory");
        goto done;
    }
    free(js);
    double *lx = malloc(sizeof(double) * (size_t)L), *ek[3];
    for (int j = 0; j < 3; j++) ek[j] = malloc(sizeof(double) * (size_t)L);
    if (!lx || !ek[0] || !ek[1] || !ek[2]) { cli_error(cmd, "out of memory"); goto plots_done; }
    for (int t = 0; t < L; t++) {
        lx[t] = t + 1;
        for (int j = 0; j < 3; j++) ek[j][t] = ks[j] < n ? sek[t * 3 + j] : NAN;
    }
    char lab[3][32];
    ic_series ser[4];
    int ns = 0;
    ser[ns++] = (ic_series){.label = "all positions", .x = lx, .y = se, .n = L};
    for (int j = 0; j < 3; j++)
        if (ks[j] < n) {
            snprintf(lab[j], sizeof lab[j], "k = %d", ks[j]);
            ser[ns++] = (ic_series){.label = lab[j], .x = lx, .y = ek[j], .n = L, .dashed = 1};
        }
    char title[160];
    snprintf(title, sizeof title, "Error per loop (trained with %d loop%s)", trained, trained > 1 ? "s" : "");
    ic_plot_opts o = {.title = title, .xlabel = "loops", .ylabel = "squared error / d", .logy = 1, .ymin = NAN, .ymax = NAN};
    if (ic_path_join(path, sizeof path, dir, "loops_error.svg", &err) || ic_plot_lines(path, &o, ser, ns, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto plots_done;
    }
    ic_series fp = {.label = "|Y(t+1) - Y(t)| / |Y(t)|", .x = lx, .y = delta, .n = L};
    ic_plot_opts o2 = {.title = "Fixed-point measure per loop", .xlabel = "loops", .ylabel = "relative change", .logy = 1,
                       .ymin = NAN, .ymax = NAN};
    if (ic_path_join(path, sizeof path, dir, "loops_fixed_point.svg", &err) || ic_plot_lines(path, &o2, &fp, 1, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto plots_done;
    }
    printf("%s: trained loops %d; squared error / d and fixed-point measure per loop (%d prompts, %d points)\n",
           model_path, trained, B, n);
    printf("%6s  %12s  %12s  %12s\n", "loop", "all k", ks[1] < n ? "k = d" : "", "fixed point");
    for (int t = 0; t < L; t++) {
        int show = t < 3 || t + 1 == trained || t + 1 == 2 * trained || t + 1 == L || ((t + 1) % 10 == 0 && L <= 100) ||
                   ((t + 1) % 100 == 0);
        if (show)
            printf("%6d  %12.5g  %12.5g  %12.4g%s\n", t + 1, se[t], ks[1] < n ? sek[t * 3 + 1] : NAN, delta[t],
                   t + 1 == trained ? "   <- trained" : "");
    }
    printf("wrote %s/loops.csv, loops.json, loops_error.svg, loops_fixed_point.svg\n", od.out);
    rc = CLI_OK;
plots_done:
    free(lx);
    for (int j = 0; j < 3; j++) free(ek[j]);
done:
    json_decref(report);
    if (ws) ic_workspace_free(ws);
    free(ws);
    ic_model_free(&m);
    free(s); free(rcfg); free(xs); free(ys); free(se); free(sek); free(delta); free(dnum); free(dden);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_loops = {
    "loops",
    "run a looped model for 1..N loops: error and fixed-point measure per loop (extrapolation)",
    "iclab loops --model FILE --out DIR [--max_loops N] [--prompts N]",
    "Runs the model's body 1..N times (one forward pass with N loops; the prediction after\n"
    "every loop is read out) on fresh prompts of the model's task, and reports per loop the\n"
    "squared error / d (all positions and k = d/2, d, 2d) and |Y_{t+1} - Y_t| / |Y_t|, so you\n"
    "see whether the model converges, stalls or diverges past its trained loop count.\n"
    "Example: iclab loops --model runs/looped/model.safetensors --out runs/looped/loops --max_loops 500",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
