/* cmd_make_prompts.c: `iclab make-prompts` — a prompt file of in-context
 * linear regression, so predict can be tried without Python. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "sysmem.h"
#include "rng.h"
#include "safetensors.h"

#define MAX_ELEMENTS (1ull << 30) /* xs floats: 4 GiB */

static const cli_opt OPTS[] = {
    {"out", "FILE", NULL, "where to write the prompts (.safetensors, written atomically; required)"},
    {"n_dims", "d", NULL, "dimension of each x (required)"},
    {"n_points", "n", NULL, "points (x, y) per prompt (required)"},
    {"prompts", "B", NULL, "number of prompts (required)"},
    {"seed", "S", "0", "random seed"},
    {"noise", "SIGMA", "0", "standard deviation of Gaussian noise added to each y"},
};

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    int d = 0, n = 0, B = 0;
    unsigned long long seed = 0;
    double noise = 0;
    float *xs = NULL, *ys = NULL, *ws = NULL;
    if ((rc = cli_require(&a, "out")) || (rc = cli_require(&a, "n_dims")) || (rc = cli_require(&a, "n_points")) ||
        (rc = cli_require(&a, "prompts")) || (rc = cli_get_int(&a, "n_dims", 1, 100000, 0, &d)) ||
        (rc = cli_get_int(&a, "n_points", 1, 100000, 0, &n)) ||
        (rc = cli_get_int(&a, "prompts", 1, 100000000, 0, &B)) || (rc = cli_get_u64(&a, "seed", 0, &seed)) ||
        (rc = cli_get_double(&a, "noise", 0, 1e6, 0, &noise)))
        goto done;
    const char *out = cli_get(&a, "out");
    const unsigned long long nx = (unsigned long long)B * n * d;
    if (nx > MAX_ELEMENTS) {
        cli_error(cmd, "%d prompts x %d points x %d dims = %llu floats is more than this command writes (%llu)", B, n,
                  d, nx, MAX_ELEMENTS);
        rc = CLI_USAGE;
        goto done;
    }
    rc = CLI_FAIL;
    {
        /* the tensors, and the file image the writer builds from them */
        ic_err err;
        const double bytes = 2.0 * sizeof(float) * ((double)nx + (double)B * n + (double)B * d);
        if (ic_mem_check(bytes, "make-prompts", "lower --prompts or --n_points", &err)) {
            cli_error(cmd, "%s", err.msg);
            goto done;
        }
    }
    xs = malloc(sizeof(float) * (size_t)nx);
    ys = malloc(sizeof(float) * (size_t)B * n);
    ws = malloc(sizeof(float) * (size_t)B * d);
    if (!xs || !ys || !ws) {
        cli_error(cmd, "out of memory for %d prompts of %d points", B, n);
        goto done;
    }
    /* per prompt: w (d normals), then per point x (d normals), then the noise draw if any */
    ic_rng r;
    ic_rng_seed(&r, (uint64_t)seed);
    for (int b = 0; b < B; b++) {
        float *w = ws + (size_t)b * d;
        for (int k = 0; k < d; k++) w[k] = (float)ic_rng_normal(&r);
        for (int i = 0; i < n; i++) {
            float *x = xs + ((size_t)b * n + i) * d;
            double y = 0;
            for (int k = 0; k < d; k++) {
                x[k] = (float)ic_rng_normal(&r);
                y += (double)x[k] * w[k];
            }
            if (noise > 0) y += noise * ic_rng_normal(&r);
            ys[(size_t)b * n + i] = (float)y;
        }
    }
    st_wtensor t[3] = {
        {"xs", ST_F32, 3, {B, n, d}, xs},
        {"ys", ST_F32, 2, {B, n}, ys},
        {"w", ST_F32, 2, {B, d}, ws},
    };
    char seed_buf[32], noise_buf[32];
    snprintf(seed_buf, sizeof seed_buf, "%llu", seed);
    snprintf(noise_buf, sizeof noise_buf, "%.17g", noise);
    const char *mk[] = {"task", "seed", "noise"};
    const char *mv[] = {"linear_regression", seed_buf, noise_buf};
    ic_err err = {{0}};
    if (st_write_file(out, t, 3, mk, mv, 3, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    printf("%s: %d prompts of linear regression, xs [%d,%d,%d], ys [%d,%d], w [%d,%d]; seed %llu, noise %g\n", out, B,
           B, n, d, B, n, B, d, seed, noise);
    rc = CLI_OK;
done:
    free(xs);
    free(ys);
    free(ws);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_make_prompts = {
    "make-prompts",
    "write a prompt file of in-context linear regression (x ~ N(0,I), y = x.w)",
    "iclab make-prompts --out FILE --n_dims d --n_points n --prompts B [--seed S] [--noise SIGMA]",
    "Writes xs F32 [B,n,d], ys F32 [B,n] and the task vectors w F32 [B,d]: per\n"
    "prompt w ~ N(0,I_d), then each point x ~ N(0,I_d), y = x.w (+ noise * N(0,1)),\n"
    "drawn in that order from the seeded generator of src/rng.h.\n"
    "Example: iclab make-prompts --out p.safetensors --n_dims 5 --n_points 11 --prompts 64 --seed 1",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
