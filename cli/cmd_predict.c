/* cmd_predict.c: `iclab predict` — run a saved model on a prompt file. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "baselines.h"
#include "eval.h"
#include "prompts.h"
#include "schedule.h"
#include "safetensors.h"

static const cli_opt OPTS[] = {
    {"model", "FILE", NULL, "model checkpoint (.safetensors, from 'iclab init' or a converted Garg et al. file; required unless --baseline)"},
    {"baseline", "NAME", NULL, "score the prompts with a classical solver instead of a model: least_squares, ridge:0.1, averaging, knn:3, lasso:0.01, gd:100, newton:5, tree, tree:4, relu_net, zero (docs/baselines.md)"},
    {"prompts", "FILE", NULL, "prompt file with xs F32 [B,n,d] and ys F32 [B,n] (e.g. from 'iclab make-prompts'; required)"},
    {"out", "FILE", NULL, "where to write pred F32 [B,n] (.safetensors, written atomically; required)"},
    {"schedule", "TEXT", "the model's", "blocks to run per loop, in the schedule language (docs/schedules.md): a list "
                                         "0,1,1,2 replaces the body; operations like 'skip(2)' or 'dup(2-3)' edit the model's own body"},
    {"loops", "N", "the model's", "times the body is run (looped models)"},
    {"n_head", "N", "from the metadata", "attention heads; needed for a file without iclab metadata"},
    {"batch_size", "B", "256", "prompts per forward pass (memory vs. speed; results agree up to float rounding)"},
    {"threads", "N", "0 = all cores", "threads for BLAS and OpenMP"},
};

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_model m = {0};
    ic_prompts pr = {0};
    ic_schedule *s = malloc(sizeof *s);
    float *pred = NULL;
    ic_err err = {{0}};
    int loops = 0, n_head = 0, batch = 256, threads = 0;
    if (!s) {
        cli_error(cmd, "out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    const char *bl_text = cli_get(&a, "baseline");
    if ((!bl_text && (rc = cli_require(&a, "model"))) || (rc = cli_require(&a, "prompts")) ||
        (rc = cli_require(&a, "out")) || (rc = cli_get_int(&a, "loops", 1, IC_MAX_LOOPS, 0, &loops)) ||
        (rc = cli_get_int(&a, "n_head", 0, 65536, 0, &n_head)) ||
        (rc = cli_get_int(&a, "batch_size", 1, 1 << 20, 256, &batch)) ||
        (rc = cli_get_int(&a, "threads", 0, 1024, 0, &threads)))
        goto done;
    const char *model_path = cli_get(&a, "model"), *prompts_path = cli_get(&a, "prompts"),
               *out_path = cli_get(&a, "out"), *sched_text = cli_get(&a, "schedule");
    if (bl_text && model_path) {
        cli_error(cmd, "give either --model or --baseline, not both");
        rc = CLI_USAGE;
        goto done;
    }
    ic_baseline_spec bl;
    if (bl_text && ic_baseline_parse(bl_text, &bl, &err)) {
        cli_error(cmd, "--baseline: %s", err.msg);
        rc = CLI_USAGE;
        goto done;
    }
    rc = CLI_FAIL;
    const cli_path ins[] = {{"model", model_path}, {"prompts", prompts_path}}, outs[] = {{"out", out_path}};
    if (cli_check_overwrite(cmd, ins, 2, outs, 1, NULL, NULL)) goto done;
    cli_set_threads(threads);

    /* the model, and the schedule to run it with */
    if (!bl_text) {
        char notice[512] = "";
        if (ic_checkpoint_load(model_path, &m, s, n_head, notice, sizeof notice, &err)) {
            cli_error(cmd, "%s", err.msg);
            goto done;
        }
        if (notice[0]) fprintf(stderr, "iclab predict: %s: %s\n", model_path, notice);
        if (sched_text && ic_schedule_parse(s, sched_text, s, m.cfg.n_layer, &err)) {
            cli_error(cmd, "--schedule: %s", err.msg);
            goto done;
        }
        if (loops > 0) ic_schedule_set_loops(s, loops);
        if (ic_schedule_validate(s, m.cfg.n_layer, &err)) {
            cli_error(cmd, "%s%s", sched_text || loops ? "" : "schedule stored in the model: ", err.msg);
            goto done;
        }
    }

    /* the prompts */
    if (ic_prompts_load(prompts_path, bl_text ? 0 : m.cfg.n_dims, bl_text ? 0 : m.cfg.n_positions, &pr, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    const int B = pr.B, n = pr.n, d = pr.d;
    const size_t ny = (size_t)B * n;
    if (!bl_text && cli_check_memory(cmd, &m, s, B, n, batch, 0, 4.0 * ny, "--batch_size or --loops")) goto done;
    pred = malloc(sizeof(float) * ny);
    if (!pred) {
        cli_error(cmd, "out of memory for %d prompts of %d points", B, n);
        goto done;
    }
    if (bl_text ? ic_baseline_predict(&bl, pr.xs, pr.ys, B, n, d, pred, &err)
                : ic_model_predict(&m, s, pr.xs, pr.ys, B, n, batch, pred, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    double se = 0.0;
    for (size_t i = 0; i < ny; i++) {
        double e = (double)pred[i] - pr.ys[i];
        se += e * e;
    }
    const double mse_d = se / (double)ny / d;

    /* the output, with what produced it in the metadata */
    char *sched_buf = malloc(8 * IC_MAX_SCHEDULE + 16);
    if (!sched_buf) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    char loops_buf[32];
    int wrc;
    st_wtensor t = {"pred", ST_F32, 2, {B, n}, pred};
    if (bl_text) {
        ic_baseline_label(&bl, sched_buf, 8 * IC_MAX_SCHEDULE + 16);
        const char *mk[] = {"baseline"};
        const char *mv[] = {sched_buf};
        wrc = st_write_file(out_path, &t, 1, mk, mv, 1, &err);
    } else {
        ic_schedule_format(s, sched_buf, 8 * IC_MAX_SCHEDULE + 16);
        snprintf(loops_buf, sizeof loops_buf, "%d", s->loops);
        const char *mk[] = {"schedule", "loops", "inject", "loop_lnf"};
        const char *mv[] = {sched_buf, loops_buf, s->inject ? "true" : "false", s->loop_lnf ? "true" : "false"};
        wrc = st_write_file(out_path, &t, 1, mk, mv, 4, &err);
    }
    free(sched_buf);
    if (wrc) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    if (bl_text)
        printf("%s: pred [%d,%d]; mse/d %.6g over %d prompts x %d points (d=%d, baseline %s)\n", out_path, B, n, mse_d,
               B, n, d, bl_text);
    else
        printf("%s: pred [%d,%d]; mse/d %.6g over %d prompts x %d points (d=%d, loops=%d)\n", out_path, B, n, mse_d, B,
               n, d, s->loops);
    rc = CLI_OK;
done:
    ic_prompts_free(&pr);
    ic_model_free(&m);
    free(s);
    free(pred);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_predict = {
    "predict",
    "run a model on a prompt file and write its predictions (and print mse/d)",
    "iclab predict (--model FILE | --baseline NAME) --prompts FILE --out FILE [--schedule TEXT] [--loops N] [--n_head N] [--batch_size B]",
    "Loads the model and the prompts (xs [B,n,d], ys [B,n], both F32), runs the\n"
    "forward pass without gradients and writes pred F32 [B,n]: at each x position,\n"
    "the prediction of its y from the earlier pairs, after the last loop. Prints\n"
    "the squared error averaged over prompts and positions, divided by d (Garg et\n"
    "al.'s normalisation: the zero predictor scores about 1 on N(0,I) tasks).\n"
    "--schedule and --loops override the schedule stored in the model; --loops\n"
    "lowers loss_loops to at most N. The identity schedule reproduces the model.\n"
    "--schedule takes the schedule language (docs/schedules.md): a list 0,1,1,2\n"
    "replaces the body; operations edit the model's own body: --schedule 'skip(2)'.\n"
    "Example: iclab predict --model tiny.safetensors --prompts p.safetensors --out pred.safetensors --schedule 0,1,1,2",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
