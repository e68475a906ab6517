/* cmd_compare.c: `iclab compare` — several models on the same prompts, each
 * against the first with paired bootstrap intervals (e.g. a looped model
 * against the plain one it is compared with; surgery.h's statistics). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outdir.h"
#include "eval.h"
#include "fsutil.h"
#include "numout.h"
#include "plot.h"
#include "surgery.h"
#include "tasks.h"

#define MAX_MODELS 16

static const cli_opt OPTS[] = {
    {"models", "LIST", NULL, "comma-separated checkpoints; the first is the reference (required)"},
    {"labels", "LIST", "the file names", "comma-separated names, one per model"},
    {"out", "DIR", NULL, "output directory: compare.csv, compare.json, compare.svg (required)"},
    {"k", "LIST", "d,2d", "positions where errors, ratios and distances are reported"},
    {"prompts", "N", "1280", "evaluation prompts of the first model's task"},
    {"n_points", "N", "the first model's training n_points", "points per prompt"},
    {"seed", "S", "4242", "seed of the evaluation prompts"},
    {"bootstrap", "N", "1000", "bootstrap resamples (0: none)"},
    {"batch_size", "B", "256", "prompts per forward pass"},
    {"threads", "N", "0 = all cores", "threads for BLAS and OpenMP"},
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
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    char *mlist = NULL, *llist = NULL, *paths[MAX_MODELS], *labels[MAX_MODELS];
    ic_model m = {0};
    ic_schedule *s = malloc(sizeof *s);
    ic_run_config *rcfg = malloc(sizeof *rcfg);
    ic_err err = {{0}};
    float *xs = NULL, *ys = NULL, *preds = NULL;
    ic_variant_result res[MAX_MODELS];
    memset(res, 0, sizeof res);
    json_t *root = NULL;
    int nm = 0, B, n_points = 0, batch, threads, n_boot, d = 0, n = 0;
    unsigned long long seed;
    double norm = 0;
    if (!s || !rcfg) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if ((rc = cli_require(&a, "models")) || (rc = cli_require(&a, "out")) ||
        (rc = cli_get_int(&a, "prompts", 2, 10000000, 1280, &B)) ||
        (rc = cli_get_int(&a, "n_points", 1, 100000, 0, &n_points)) ||
        (rc = cli_get_int(&a, "batch_size", 1, 1 << 20, 256, &batch)) ||
        (rc = cli_get_int(&a, "bootstrap", 0, 100000, 1000, &n_boot)) ||
        (rc = cli_get_int(&a, "threads", 0, 1024, 0, &threads)) || (rc = cli_get_u64(&a, "seed", 4242, &seed)))
        goto done;
    rc = CLI_USAGE;
    mlist = strdup(cli_get(&a, "models"));
    if (!mlist || (nm = split(mlist, paths, MAX_MODELS)) < 1) {
        cli_error(cmd, "--models: give 1..%d comma-separated checkpoints", MAX_MODELS);
        goto done;
    }
    for (int i = 0; i < nm; i++) labels[i] = paths[i];
    if (cli_get(&a, "labels")) {
        llist = strdup(cli_get(&a, "labels"));
        if (!llist || split(llist, labels, MAX_MODELS) != nm) {
            cli_error(cmd, "--labels: give one name per model (%d)", nm);
            goto done;
        }
    }
    rc = CLI_FAIL;
    const char *dir = cli_get(&a, "out");
    {
        static const char *const written[] = {"compare.csv", "compare.json", "compare.svg", NULL};
        cli_path ins[MAX_MODELS];
        for (int i = 0; i < nm; i++) ins[i] = (cli_path){"models", paths[i]};
        const cli_path od = {"out", dir};
        if (cli_check_overwrite(cmd, ins, nm, NULL, 0, &od, written)) goto done;
    }
    cli_set_threads(threads);
    ic_surgery_opts o = {.B = B, .n_boot = n_boot, .boot_seed = seed + 1, .chunk = batch};
    ic_task_spec task; /* the first model's: every model sees its prompts */
    ic_outdir od; /* the files go to od.tmp and replace DIR as a whole at the end */
    if (cli_outdir_begin(cmd, &od, dir, (const char *const *)paths, nm)) goto done;
    dir = od.tmp;
    for (int i = 0; i < nm; i++) {
        int np = i == 0 ? n_points : n;
        if (cli_load_model(cmd, paths[i], 0, &m, s, rcfg, &np)) goto done;
        if (i == 0) {
            /* the prompts: the first model's task */
            d = m.cfg.n_dims;
            n = np;
            if (ic_run_config_task(rcfg, d, &task, &norm, &err)) { cli_error(cmd, "%s: %s", paths[i], err.msg); goto done; }
            if (cli_check_memory(cmd, &m, s, B, n, batch, 0, (double)B * n * (d + 1.0 + nm) * 4,
                                 "--batch_size, --prompts or --n_points"))
                goto done;
            xs = malloc(sizeof(float) * (size_t)B * n * d);
            ys = malloc(sizeof(float) * (size_t)B * n);
            preds = malloc(sizeof(float) * (size_t)B * n * nm);
            if (!xs || !ys || !preds) { cli_error(cmd, "out of memory"); goto done; }
            ic_rng rng;
            ic_rng_seed(&rng, seed);
            if (ic_task_sample(&task, &rng, B, n, d, xs, ys, NULL, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
            o.n = n;
            o.norm = norm;
            int nk;
            char ks_text[64];
            snprintf(ks_text, sizeof ks_text, "%d,%d", d, 2 * d);
            const char *kt = cli_get(&a, "k") ? cli_get(&a, "k") : ks_text;
            /* a plain list of integers */
            char *kl = strdup(kt), *kp[IC_SWEEP_MAX_K + 1];
            if (!kl) { cli_error(cmd, "out of memory"); goto done; }
            nk = split(kl, kp, IC_SWEEP_MAX_K);
            for (int j = 0; j < nk; j++) {
                char *end;
                long v = strtol(kp[j], &end, 10);
                if (end == kp[j] || *end || v < 0 || v >= n) {
                    cli_error(cmd, "--k '%s': '%s' is not a position in 0..%d", kt, kp[j], n - 1);
                    free(kl);
                    rc = CLI_USAGE;
                    goto done;
                }
                o.ks[j] = (int)v;
            }
            free(kl);
            if (nk < 1) {
                cli_error(cmd, "--k: give 1..%d positions", IC_SWEEP_MAX_K);
                rc = CLI_USAGE;
                goto done;
            }
            o.nk = nk;
        } else if (m.cfg.n_dims != d || m.cfg.n_positions < n) {
            cli_error(cmd, "%s: needs n_dims %d and at least %d positions (has %d and %d)", paths[i], d, n, m.cfg.n_dims,
                      m.cfg.n_positions);
            goto done;
        }
        if (ic_model_predict(&m, s, xs, ys, B, n, batch, preds + (size_t)i * B * n, &err)) {
            cli_error(cmd, "%s: %s", paths[i], err.msg);
            goto done;
        }
        ic_model_free(&m);
        memset(&m, 0, sizeof m);
        if (ic_paired_stats(preds + (size_t)i * B * n, i ? preds : NULL, ys, &o, &res[i], &err)) {
            cli_error(cmd, "%s", err.msg);
            goto done;
        }
    }
    /* CSV, JSON, plot, table */
    {
        /* room for every row: the quoted path and label plus 5 numbers per k */
        size_t cap = 256 + 64 * (size_t)o.nk, used = 0;
        for (int i = 0; i < nm; i++) cap += strlen(paths[i]) + strlen(labels[i]) + 64 + 96 * (size_t)o.nk;
        char *csv = malloc(cap);
        if (!csv) { cli_error(cmd, "out of memory"); goto done; }
        used += (size_t)snprintf(csv, cap, "model,label");
        for (int q = 0; q < o.nk; q++)
            used += (size_t)snprintf(csv + used, cap - used, ",err_k%d,ratio_k%d,ratio_lo90_k%d,ratio_hi90_k%d,dist_k%d", o.ks[q],
                                     o.ks[q], o.ks[q], o.ks[q], o.ks[q]);
        used += (size_t)snprintf(csv + used, cap - used, ",err_all\n");
        root = json_object();
        json_t *arr = json_array();
        printf("%d prompts, %d points, seed %llu; ratio = model / %s on the same prompts [paired bootstrap 90%%]\n", B, n, seed,
               labels[0]);
        for (int i = 0; i < nm; i++) {
            const ic_variant_result *r = &res[i];
            used += (size_t)snprintf(csv + used, cap - used, "\"%s\",\"%s\"", paths[i], labels[i]);
            json_t *at = json_array();
            printf("%-24s", labels[i]);
            for (int q = 0; q < o.nk; q++) {
                /* a NaN/Inf value (a diverged model) is empty / null, never dropped (numout.h) */
                used += (size_t)snprintf(csv + used, cap - used, ",%s,%s,%s,%s,%s", ic_csv_num(r->err[q], 6).s,
                                         ic_csv_num(r->ratio[q], 6).s, ic_csv_num(r->ratio_lo[q], 6).s,
                                         ic_csv_num(r->ratio_hi[q], 6).s, ic_csv_num(r->dist[q], 6).s);
                json_array_append_new(at, json_pack("{s:i,s:o,s:o,s:o,s:o,s:o}", "k", o.ks[q], "err", ic_json_num(r->err[q]),
                                                    "ratio", ic_json_num(r->ratio[q]), "ratio_lo90",
                                                    ic_json_num(r->ratio_lo[q]), "ratio_hi90", ic_json_num(r->ratio_hi[q]),
                                                    "dist", ic_json_num(r->dist[q])));
                printf("  k=%-3d err %-10.4g ratio %.3f [%.3f, %.3f]", o.ks[q], r->err[q], r->ratio[q], r->ratio_lo[q],
                       r->ratio_hi[q]);
            }
            printf("\n");
            used += (size_t)snprintf(csv + used, cap - used, ",%s\n", ic_csv_num(r->err_all, 6).s);
            json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:o,s:{s:o,s:o,s:o}}", "model", paths[i], "label", labels[i], "at_k",
                                                 at, "err_all_positions", ic_json_num(r->err_all), "curve", "mean",
                                                 ic_json_nums(r->curve.mean, n), "lo90", ic_json_nums(r->curve.lo, n), "hi90",
                                                 ic_json_nums(r->curve.hi, n)));
        }
        json_object_set_new(root, "prompts", json_integer(B));
        json_object_set_new(root, "n_points", json_integer(n));
        json_object_set_new(root, "task_spec", ic_task_spec_json(&task));
        json_object_set_new(root, "seed", ic_json_u64(seed));
        json_object_set_new(root, "reference", json_string(labels[0]));
        json_object_set_new(root, "ratio_definition",
                            json_string("mean error of the model / mean error of the reference at k, same prompts; interval: "
                                        "paired percentile bootstrap over prompts, 90%; null = undefined"));
        json_object_set_new(root, "models", arr);
        char *js = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        char path[4096];
        int wrc = !js || ic_path_join(path, sizeof path, dir, "compare.json", &err) ||
                  ic_write_file_atomic(path, js, strlen(js), &err) || ic_path_join(path, sizeof path, dir, "compare.csv", &err) ||
                  ic_write_file_atomic(path, csv, used, &err);
        free(js);
        free(csv);
        if (wrc) { cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory"); goto done; }
        double *px = malloc(sizeof(double) * (size_t)n);
        ic_series ser[MAX_MODELS];
        if (!px) { cli_error(cmd, "out of memory"); goto done; }
        for (int k = 0; k < n; k++) px[k] = k;
        for (int i = 0; i < nm; i++)
            ser[i] = (ic_series){.label = labels[i], .x = px, .y = res[i].curve.mean, .n = n, .lo = res[i].curve.lo,
                                 .hi = res[i].curve.hi};
        ic_plot_opts po = ic_plot_default_opts();
        po.title = "In-context error on the same prompts (90% bootstrap bands)";
        po.xlabel = "in-context examples k";
        po.ylabel = norm == d ? "squared error / d" : "squared error / s";
        po.logy = 1;
        wrc = ic_path_join(path, sizeof path, dir, "compare.svg", &err) || ic_plot_lines(path, &po, ser, nm, &err);
        free(px);
        if (wrc) { cli_error(cmd, "%s", err.msg); goto done; }
        printf("wrote %s/compare.csv, compare.json, compare.svg\n", od.out);
    }
    rc = CLI_OK;
done:
    json_decref(root);
    ic_surgery_results_free(res, MAX_MODELS);
    ic_model_free(&m);
    free(s); free(rcfg); free(xs); free(ys); free(preds); free(mlist); free(llist);
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
    "schedule (looped models their trained loop count).\n"
    "Example: iclab compare --models runs/plain6/model.safetensors,runs/looped3x2/model.safetensors\n"
    "         --labels plain6,looped3x2 --out runs/cmp",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
