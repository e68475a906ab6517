/* cmd_bench.c: `iclab bench` — time the training step. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "cli.h"

static const cli_opt OPTS[] = {
    {"steps", "N", "10", "measured training steps (forward + backward + Adam)"},
    {"warmup", "N", "2", "untimed steps before measuring"},
    {"json", NULL, NULL, "print one JSON object (results and config) instead of the table"},
};

static int print_json(const cli_command *cmd, const ic_run_config *cfg, const ic_bench_result *r) {
    json_t *o = json_object();
    char *cfg_text = ic_run_config_to_json(cfg);
    json_t *cj = cfg_text ? json_loads(cfg_text, 0, NULL) : NULL;
    free(cfg_text);
    if (!o || !cj) {
        json_decref(o);
        json_decref(cj);
        cli_error(cmd, "could not build the JSON output");
        return CLI_FAIL;
    }
    json_object_set_new(o, "ms_per_step", json_real(r->ms_per_step));
    json_object_set_new(o, "ms_min", json_real(r->ms_min));
    json_object_set_new(o, "ms_max", json_real(r->ms_max));
    json_object_set_new(o, "ms_forward", json_real(r->ms_forward));
    json_object_set_new(o, "ms_backward", json_real(r->ms_backward));
    json_object_set_new(o, "ms_update", json_real(r->ms_update));
    json_object_set_new(o, "gflops", json_real(r->gflops));
    json_object_set_new(o, "flops_per_step", json_real(r->flops_per_step));
    json_object_set_new(o, "steps", json_integer(r->steps));
    json_object_set_new(o, "warmup", json_integer(r->warmup));
    json_object_set_new(o, "threads", json_integer(r->threads));
    json_object_set_new(o, "omp_wait_policy", json_string(getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "default"));
    json_object_set_new(o, "num_params", json_integer((json_int_t)r->num_params));
    json_object_set_new(o, "peak_rss_mb", json_real((double)r->peak_rss_kb / 1024.0));
    json_object_set_new(o, "blas", json_string(r->blas));
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

static void print_table(const ic_run_config *cfg, const ic_bench_result *r) {
    char summary[512];
    cli_config_summary(cfg, summary, sizeof summary);
    printf("config      %s n_points=%d batch_size=%d\n", summary, cfg->n_points, cfg->batch_size);
    printf("params      %zu\n", r->num_params);
    printf("steps       %d measured after %d warmup\n", r->steps, r->warmup);
    printf("ms/step     median %.3f   min %.3f   max %.3f\n", r->ms_per_step, r->ms_min, r->ms_max);
    printf("  forward   %.3f ms\n", r->ms_forward);
    printf("  backward  %.3f ms\n", r->ms_backward);
    printf("  update    %.3f ms\n", r->ms_update);
    printf("GFLOP/s     %.2f   (%.4g GFLOP per step)\n", r->gflops, r->flops_per_step / 1e9);
    printf("threads     %d (OpenMP wait policy: %s)\n", r->threads,
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "default");
    printf("BLAS        %s\n", r->blas);
    printf("peak RSS    %.1f MB\n", (double)r->peak_rss_kb / 1024.0);
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_run_config *cfg = malloc(sizeof *cfg);
    int steps = 10, warmup = 2;
    if (!cfg) {
        cli_error(cmd, "out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    if ((rc = cli_get_int(&a, "steps", 1, 1000000, 10, &steps)) ||
        (rc = cli_get_int(&a, "warmup", 0, 1000000, 2, &warmup)) || (rc = cli_build_config(&a, cfg)))
        goto done;
    cli_set_threads(cfg->threads);
    ic_bench_result r;
    ic_err err = {{0}};
    if (ic_bench_train_step(cfg, warmup, steps, &r, &err)) {
        cli_error(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto done;
    }
    if (cli_get(&a, "json")) {
        rc = print_json(cmd, cfg, &r);
    } else {
        print_table(cfg, &r);
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
    "its parts, model GFLOP/s, threads, the BLAS in use and peak memory.\n"
    "Standard bench: iclab bench   (Garg et al.'s defaults)\n"
    "Small bench:    iclab bench --n_dims 5 --n_embd 64 --n_layer 6 --n_head 4 --n_points 11 --n_positions 11",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    1,
    run,
};
