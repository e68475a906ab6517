/* cmd_predict.c: `iclab predict` — run a saved model on a prompt file. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "safetensors.h"

static const cli_opt OPTS[] = {
    {"model", "FILE", NULL, "model checkpoint (.safetensors, from 'iclab init' or a converted Garg et al. file; required)"},
    {"prompts", "FILE", NULL, "prompt file with xs F32 [B,n,d] and ys F32 [B,n] (e.g. from 'iclab make-prompts'; required)"},
    {"out", "FILE", NULL, "where to write pred F32 [B,n] (.safetensors, written atomically; required)"},
    {"schedule", "LIST", "the model's", "blocks to run per loop, e.g. 0,1,1,2 (replaces the body)"},
    {"loops", "N", "the model's", "times the body is run (looped models)"},
    {"n_head", "N", "from the metadata", "attention heads; needed for a file without iclab metadata"},
    {"batch_size", "B", "256", "prompts per forward pass (memory vs. speed; results agree up to float rounding)"},
    {"threads", "N", "0 = all cores", "threads for BLAS and OpenMP"},
};

/* Prompt file checks: tensor present, F32, rank; shape and counts checked by the caller. */
static const st_tensor *find_f32(const cli_command *cmd, const st_file *f, const char *path, const char *name,
                                 int rank, const char *shape_doc) {
    const st_tensor *t = st_find(f, name);
    if (!t) {
        cli_error(cmd, "%s: missing tensor '%s' (expected %s F32 %s)", path, name, name, shape_doc);
        return NULL;
    }
    if (t->dtype != ST_F32) {
        cli_error(cmd, "%s: tensor '%s' has dtype %s, expected F32", path, name, st_dtype_name(t->dtype));
        return NULL;
    }
    if (t->ndim != rank) {
        cli_error(cmd, "%s: tensor '%s' has rank %d, expected rank %d %s", path, name, t->ndim, rank, shape_doc);
        return NULL;
    }
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > INT_MAX) {
            cli_error(cmd, "%s: tensor '%s' dimension %d is too large (%lld)", path, name, i, (long long)t->shape[i]);
            return NULL;
        }
    return t;
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_model m = {0};
    st_file pf = {0};
    ic_schedule *s = malloc(sizeof *s);
    float *xs = NULL, *ys = NULL, *pred = NULL;
    ic_err err = {{0}};
    int loops = 0, n_head = 0, batch = 256, threads = 0;
    if (!s) {
        cli_error(cmd, "out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    if ((rc = cli_require(&a, "model")) || (rc = cli_require(&a, "prompts")) || (rc = cli_require(&a, "out")) ||
        (rc = cli_get_int(&a, "loops", 1, IC_MAX_LOOPS, 0, &loops)) ||
        (rc = cli_get_int(&a, "n_head", 0, 65536, 0, &n_head)) ||
        (rc = cli_get_int(&a, "batch_size", 1, 1 << 20, 256, &batch)) ||
        (rc = cli_get_int(&a, "threads", 0, 1024, 0, &threads)))
        goto done;
    const char *model_path = cli_get(&a, "model"), *prompts_path = cli_get(&a, "prompts"),
               *out_path = cli_get(&a, "out"), *sched_text = cli_get(&a, "schedule");
    rc = CLI_FAIL;
    cli_set_threads(threads);

    /* the model, and the schedule to run it with */
    char notice[512] = "";
    if (ic_checkpoint_load(model_path, &m, s, n_head, notice, sizeof notice, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    if (notice[0]) fprintf(stderr, "iclab predict: %s: %s\n", model_path, notice);
    if (sched_text && ic_schedule_parse_list(s, sched_text, &err)) {
        cli_error(cmd, "--schedule: %s", err.msg);
        goto done;
    }
    if (loops > 0) {
        s->loops = loops;
        if (s->loss_loops > loops) s->loss_loops = loops;
    }
    if (ic_schedule_validate(s, &m.cfg, &err)) {
        cli_error(cmd, "%s%s", sched_text || loops ? "" : "schedule stored in the model: ", err.msg);
        goto done;
    }

    /* the prompts */
    if (st_read_file(prompts_path, &pf, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    const st_tensor *tx = find_f32(cmd, &pf, prompts_path, "xs", 3, "[B,n,d]");
    if (!tx) goto done;
    const st_tensor *ty = find_f32(cmd, &pf, prompts_path, "ys", 2, "[B,n]");
    if (!ty) goto done;
    const int B = (int)tx->shape[0], n = (int)tx->shape[1], d = (int)tx->shape[2];
    if (d != m.cfg.n_dims) {
        cli_error(cmd, "%s: xs has d=%d per point but the model expects n_dims=%d", prompts_path, d, m.cfg.n_dims);
        goto done;
    }
    if (ty->shape[0] != B || ty->shape[1] != n) {
        cli_error(cmd, "%s: ys has shape [%lld,%lld] but xs [%d,%d,%d] needs ys [%d,%d]", prompts_path,
                  (long long)ty->shape[0], (long long)ty->shape[1], B, n, d, B, n);
        goto done;
    }
    if (B == 0) {
        cli_error(cmd, "%s: the prompt file has 0 prompts (B = 0)", prompts_path);
        goto done;
    }
    if (n == 0) {
        cli_error(cmd, "%s: prompts have 0 points (n = 0)", prompts_path);
        goto done;
    }
    if (n > m.cfg.n_positions) {
        cli_error(cmd, "%s: prompts have n=%d points but the model's position table holds n_positions=%d", prompts_path,
                  n, m.cfg.n_positions);
        goto done;
    }
    const size_t nx = (size_t)B * n * d, ny = (size_t)B * n;
    xs = malloc(sizeof(float) * nx);
    ys = malloc(sizeof(float) * ny);
    pred = malloc(sizeof(float) * ny);
    if (!xs || !ys || !pred) {
        cli_error(cmd, "out of memory for %d prompts of %d points", B, n);
        goto done;
    }
    if (st_read_f32(&pf, tx, xs, nx, &err) || st_read_f32(&pf, ty, ys, ny, &err)) {
        cli_error(cmd, "%s: %s", prompts_path, err.msg);
        goto done;
    }
    st_free(&pf);

    /* forward in chunks of batch_size prompts */
    double se = 0.0;
    for (int b0 = 0; b0 < B; b0 += batch) {
        int nb = B - b0 < batch ? B - b0 : batch;
        if (ic_model_forward(&m, s, xs + (size_t)b0 * n * d, ys + (size_t)b0 * n, nb, n, 0, &err)) {
            cli_error(cmd, "%s", err.msg);
            goto done;
        }
        const float *p = ic_model_preds(&m, -1);
        if (!p) {
            cli_error(cmd, "the model produced no predictions");
            goto done;
        }
        memcpy(pred + (size_t)b0 * n, p, sizeof(float) * (size_t)nb * n);
        for (size_t i = 0; i < (size_t)nb * n; i++) {
            double e = (double)p[i] - ys[(size_t)b0 * n + i];
            se += e * e;
        }
    }
    const double mse_d = se / (double)ny / d;

    /* the output, with what produced it in the metadata */
    char *sched_buf = malloc(8 * IC_MAX_SCHEDULE + 16);
    if (!sched_buf) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    ic_schedule_format(s, sched_buf, 8 * IC_MAX_SCHEDULE + 16);
    char loops_buf[32];
    snprintf(loops_buf, sizeof loops_buf, "%d", s->loops);
    const char *mk[] = {"schedule", "loops", "inject", "loop_lnf"};
    const char *mv[] = {sched_buf, loops_buf, s->inject ? "true" : "false", s->loop_lnf ? "true" : "false"};
    st_wtensor t = {"pred", ST_F32, 2, {B, n}, pred};
    int wrc = st_write_file(out_path, &t, 1, mk, mv, 4, &err);
    free(sched_buf);
    if (wrc) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    printf("%s: pred [%d,%d]; mse/d %.6g over %d prompts x %d points (d=%d, loops=%d)\n", out_path, B, n, mse_d, B, n,
           d, s->loops);
    rc = CLI_OK;
done:
    st_free(&pf);
    ic_model_free(&m);
    free(s);
    free(xs);
    free(ys);
    free(pred);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_predict = {
    "predict",
    "run a model on a prompt file and write its predictions (and print mse/d)",
    "iclab predict --model FILE --prompts FILE --out FILE [--schedule LIST] [--loops N] [--n_head N] [--batch_size B]",
    "Loads the model and the prompts (xs [B,n,d], ys [B,n], both F32), runs the\n"
    "forward pass without gradients and writes pred F32 [B,n]: at each x position,\n"
    "the prediction of its y from the earlier pairs, after the last loop. Prints\n"
    "the squared error averaged over prompts and positions, divided by d (Garg et\n"
    "al.'s normalisation: the zero predictor scores about 1 on N(0,I) tasks).\n"
    "--schedule and --loops override the schedule stored in the model; --loops\n"
    "lowers loss_loops to at most N. The identity schedule reproduces the model.\n"
    "Example: iclab predict --model tiny.safetensors --prompts p.safetensors --out pred.safetensors --schedule 0,1,1,2",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
