/* cmd_bench.c: `iclab bench` — time the training step. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "numout.h"

static const cli_opt OPTS[] = {
    {"steps", "N", "10", "measured training steps (forward + backward + Adam)"},
    {"warmup", "N", "2", "untimed steps before measuring"},
    {"json", NULL, NULL, "print one JSON object (results and config) instead of the table"},
    {"inference", "B", NULL, "also time forward passes alone (inference) on B prompts: prompts per second, with the "
                             "products in --precision as the training step's"},
    {"ceiling_s", "S", "1", "seconds of the FMA-ceiling measurement (0: skip it)"},
};

/* What the BLAS kernel check found (main.c may have chosen the kernels). */
static void blas_kernel_note(char *buf, size_t len) {
    const char *auto_from = getenv("ICLAB_BLAS_AUTO_FROM"), *user = getenv("OPENBLAS_CORETYPE");
    const char *sugg = ic_blas_coretype_suggestion(NULL);
    if (auto_from && user)
        snprintf(buf, len, "set by iclab: OpenBLAS chose %s for this CPU, iclab asked for %s", auto_from, user);
    else if (user && sugg)
        snprintf(buf, len, "OPENBLAS_CORETYPE=%s set by the user; this CPU can run %s kernels (faster)", user, sugg);
    else if (user)
        snprintf(buf, len, "OPENBLAS_CORETYPE=%s set by the user", user);
    else if (sugg)
        snprintf(buf, len, "OpenBLAS's own choice; this CPU can run %s kernels (faster)", sugg);
    else
        snprintf(buf, len, "OpenBLAS's own choice, right for this CPU");
}

typedef struct {
    ic_ceiling ceil;             /* ceil.gflops 0 = not measured */
    int inf_batch;               /* 0 = not measured */
    ic_bench_inf inf;
} extra;

static int print_json(const cli_command *cmd, const ic_run_config *cfg, const ic_bench_result *r, const extra *x) {
    json_t *o = json_object();
    json_t *cj = ic_run_config_json(cfg);
    if (!o || !cj) {
        json_decref(o);
        json_decref(cj);
        cli_error(cmd, "could not build the JSON output");
        return CLI_FAIL;
    }
    json_object_set_new(o, "ms_per_step", ic_json_num(r->ms_per_step));
    json_object_set_new(o, "ms_min", ic_json_num(r->ms_min));
    json_object_set_new(o, "ms_max", ic_json_num(r->ms_max));
    json_object_set_new(o, "ms_q1", ic_json_num(r->ms_q1));
    json_object_set_new(o, "ms_q3", ic_json_num(r->ms_q3));
    json_object_set_new(o, "ms_forward_backward", ic_json_num(r->ms_pass));
    json_object_set_new(o, "shards", json_integer(r->shards));
    json_object_set_new(o, "ms_update", ic_json_num(r->ms_update));
    json_object_set_new(o, "gflops", ic_json_num(r->gflops));
    json_object_set_new(o, "flops_per_step", ic_json_num(r->flops_per_step));
    json_object_set_new(o, "steps", json_integer(r->steps));
    json_object_set_new(o, "warmup", json_integer(r->warmup));
    json_object_set_new(o, "threads", json_integer(r->threads));
    json_object_set_new(o, "omp_wait_policy", json_string(getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "default"));
    json_object_set_new(o, "num_params", json_integer((json_int_t)r->num_params));
    json_object_set_new(o, "peak_rss_mb", ic_json_num((double)r->peak_rss_kb / 1024.0));
    json_object_set_new(o, "blas", json_string(r->blas));
    char note[256];
    blas_kernel_note(note, sizeof note);
    json_object_set_new(o, "blas_kernels", json_string(ic_blas_corename()));
    json_object_set_new(o, "blas_kernel_note", json_string(note));
    json_object_set_new(o, "cpu", json_string(x->ceil.cpu));
    json_object_set_new(o, "cpu_features", json_string(x->ceil.features));
    if (x->ceil.gflops > 0) {
        json_object_set_new(o, "fma_ceiling_gflops", ic_json_num(x->ceil.gflops));
        json_object_set_new(o, "fma_ceiling_isa", json_string(x->ceil.isa));
        json_object_set_new(o, "fma_ceiling_lanes", json_integer(x->ceil.lanes));
        json_object_set_new(o, "fraction_of_ceiling", ic_json_num(r->gflops / x->ceil.gflops));
        if (x->ceil.bf16_gflops > 0) {
            json_object_set_new(o, "bf16_peak_gflops", ic_json_num(x->ceil.bf16_gflops));
            json_object_set_new(o, "bf16_peak_isa", json_string(x->ceil.bf16_isa));
            json_object_set_new(o, "fraction_of_bf16_peak", ic_json_num(r->gflops / x->ceil.bf16_gflops));
        }
        if (x->ceil.clock_ghz > 0) json_object_set_new(o, "clock_ghz", ic_json_num(x->ceil.clock_ghz));
        if (x->ceil.amx_bf16_vendor_gflops > 0)
            json_object_set_new(o, "amx_bf16_vendor_gflops", ic_json_num(x->ceil.amx_bf16_vendor_gflops));
    }
    if (x->inf_batch) {
        json_object_set_new(o, "inference_batch", json_integer(x->inf_batch));
        json_object_set_new(o, "inference_ms_per_batch", ic_json_num(x->inf.ms_per_batch));
        json_object_set_new(o, "inference_ms_q1", ic_json_num(x->inf.ms_q1));
        json_object_set_new(o, "inference_ms_q3", ic_json_num(x->inf.ms_q3));
        json_object_set_new(o, "inference_shards", json_integer(x->inf.shards));
        json_object_set_new(o, "inference_precision", json_string(ic_precision_name(x->inf.prec)));
        json_object_set_new(o, "inference_prompts_per_s", ic_json_num(x->inf.prompts_per_s));
    }
    json_object_set_new(o, "config", cj);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    json_decref(o);
    if (!text) {
        cli_error(cmd, "could not format the JSON output");
        return CLI_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return CLI_OK;
}

static void print_table(const ic_run_config *cfg, const ic_bench_result *r, const extra *x) {
    char summary[512];
    cli_config_summary(cfg, summary, sizeof summary);
    printf("cpu         %s (%s)\n", x->ceil.cpu, x->ceil.features);
    printf("config      %s n_points=%d batch_size=%d\n", summary, cfg->n_points, cfg->batch_size);
    printf("params      %zu\n", r->num_params);
    printf("steps       %d measured after %d warmup\n", r->steps, r->warmup);
    printf("ms/step     median %.3f   quartiles %.3f %.3f   min %.3f   max %.3f\n", r->ms_per_step, r->ms_q1, r->ms_q3,
           r->ms_min, r->ms_max);
    printf("  forward + backward  %.3f ms (batch in %d shard%s, one thread each)\n", r->ms_pass, r->shards,
           r->shards == 1 ? "" : "s");
    printf("  update              %.3f ms\n", r->ms_update);
    printf("GFLOP/s     %.2f   (%.4g GFLOP per step, %s products)\n", r->gflops, r->flops_per_step / 1e9,
           cfg->precision);
    if (x->ceil.gflops > 0) {
        printf("ceiling     %.1f GFLOP/s fp32 measured (%s: %d-lane FMA loop, registers only, %d thread%s): step at %.0f%%\n",
               x->ceil.gflops, x->ceil.isa, x->ceil.lanes, x->ceil.threads, x->ceil.threads == 1 ? "" : "s", 100.0 * r->gflops / x->ceil.gflops);
        if (x->ceil.clock_ghz > 0) printf("clock       %.2f GHz measured (dependent integer adds)\n", x->ceil.clock_ghz);
        if (x->ceil.bf16_gflops > 0)
            printf("bf16 peak   %.1f GFLOP/s measured (%s dot products into fp32, registers only)\n", x->ceil.bf16_gflops,
                   x->ceil.bf16_isa);
        if (x->ceil.bf16_gflops > 0 && !strcmp(cfg->precision, "bf16"))
            printf("precision   bf16 products (fp32 sums, fp32 weights): step at %.0f%% of the bf16 peak\n",
                   100.0 * r->gflops / x->ceil.bf16_gflops);
        if (x->ceil.amx_bf16_vendor_gflops > 0)
            printf("AMX bf16    %.0f GFLOP/s vendor figure, not measured (1024 flops/cycle/core x %d x %.2f GHz measured clock)\n",
                   x->ceil.amx_bf16_vendor_gflops, x->ceil.threads, x->ceil.clock_ghz);
    }
    if (x->inf_batch)
        printf("inference   %.3f ms per %d prompts (forward only, %s products, %d shard%s): %.0f prompts/s\n",
               x->inf.ms_per_batch, x->inf_batch, ic_precision_name(x->inf.prec), x->inf.shards,
               x->inf.shards == 1 ? "" : "s", x->inf.prompts_per_s);
    printf("threads     %d (OpenMP wait policy: %s)\n", r->threads,
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "default");
    char note[256];
    blas_kernel_note(note, sizeof note);
    printf("BLAS        %s (%s)\n", r->blas, note);
    printf("peak RSS    %.1f MB\n", (double)r->peak_rss_kb / 1024.0);
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_run_config *cfg = malloc(sizeof *cfg);
    int steps = 10, warmup = 2, inf_batch = 0;
    double ceiling_s = 1;
    extra x = {0};
    if (!cfg) {
        cli_error(cmd, "out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    if ((rc = cli_get_int(&a, "steps", 1, 1000000, 10, &steps)) ||
        (rc = cli_get_int(&a, "warmup", 0, 1000000, 2, &warmup)) ||
        (rc = cli_get_int(&a, "inference", 1, 1 << 20, 0, &inf_batch)) ||
        (rc = cli_get_double(&a, "ceiling_s", 0, 60, 1, &ceiling_s)) || (rc = cli_build_config(&a, cfg)))
        goto done;
    cli_set_threads(cfg->threads);
    ic_bench_result r;
    ic_err err = {{0}};
    if (ic_bench_train_step(cfg, warmup, steps, &r, &err)) {
        cli_error(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto done;
    }
    if (inf_batch) {
        x.inf_batch = inf_batch;
        if (ic_bench_inference(cfg, inf_batch, 1, steps, &x.inf, &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
    }
    ic_bench_ceiling(ceiling_s, &x.ceil); /* names the CPU even with --ceiling_s 0 */
    if (cli_get(&a, "json")) {
        rc = print_json(cmd, cfg, &r, &x);
    } else {
        print_table(cfg, &r, &x);
        rc = CLI_OK;
    }
done:
    free(cfg);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_bench = {
    "bench",
    "time the training step (forward + backward + Adam) on random prompts",
    "iclab bench [--steps N] [--warmup N] [--json] [--config FILE] [--KEY VALUE ...]",
    "Builds a random model and random linear-regression prompts from the run config\n"
    "(batch_size prompts of n_points points) and reports the median time per step,\n"
    "its parts, model GFLOP/s, the fraction of the machine's measured FMA ceiling, threads,\n"
    "the BLAS and kernel set in use (and whether iclab chose it: see docs/performance.md)\n"
    "and peak memory; --inference B also times forward passes alone.\n"
    "--precision bf16 (a config key) runs the products of both on bf16 operands with fp32\n"
    "sums (needs AVX512_BF16 or AMX-BF16); the output names the precision of each.\n"
    "Standard bench: iclab bench   (Garg et al.'s defaults)\n"
    "Small bench:    iclab bench --n_dims 5 --n_embd 64 --n_layer 6 --n_head 4 --n_points 11 --n_positions 11",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    1,
    run,
};
