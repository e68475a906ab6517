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

typedef struct {
    cli_ctx_opts ctx;
    const char *baseline, *prompts, *out, *grads;
} predict_opts;

static const cli_opt OPTS[] = {
    {"model", "FILE", NULL, "model checkpoint (.safetensors, from 'iclab init' or a converted Garg et al. file; required unless --baseline)",
     CLI_STR_OPT, 0, 0, CLI_CTX(model)},
    {"baseline", "NAME", NULL, "score the prompts with a classical solver instead of a model: least_squares, ridge:0.1, averaging, knn:3, lasso:0.01, gd:100, newton:5, tree, tree:4, relu_net, zero (docs/baselines.md)",
     CLI_STR_OPT, 0, 0, offsetof(predict_opts, baseline)},
    {"prompts", "FILE", NULL, "prompt file with xs F32 [B,n,d] and ys F32 [B,n] (e.g. from 'iclab make-prompts'; required)",
     CLI_STR_OPT, 0, 0, offsetof(predict_opts, prompts), 1},
    {"out", "FILE", NULL, "where to write pred F32 [B,n] (.safetensors, written atomically; required)", CLI_STR_OPT, 0, 0,
     offsetof(predict_opts, out), 1},
    {"grads", "FILE", NULL,
     "also write the gradient of the loss (MSE of the last loss_loops loops' predictions, one pass over all the "
     "prompts) with respect to every parameter, as safetensors with the checkpoint's names",
     CLI_STR_OPT, 0, 0, offsetof(predict_opts, grads)},
    CLI_OPT_SCHEDULE,
    CLI_OPT_LOOPS,
    CLI_OPT_N_HEAD,
    CLI_OPT_BATCH("batch_size", "256", "prompts per forward pass (memory vs. speed; results agree up to float rounding)"),
    CLI_OPT_THREADS,
};

/* --grads: d loss / d params of one forward and backward over all the
 * prompts, written like a checkpoint (a model whose parameters are the
 * gradient: the same names, shapes and metadata). */
static int write_grads(const cli_command *cmd, const char *path, const ic_model *m, const ic_schedule *s,
                       const ic_prompts *pr) {
    ic_workspace ws;
    ic_workspace_init(&ws);
    ic_grads g;
    ic_err err = {{0}};
    int rc = ic_grads_create(&g, m, &err);
    if (!rc) rc = ic_model_forward(m, &ws, s, pr->xs, pr->ys, pr->B, pr->n, 1, &err);
    if (!rc) rc = ic_model_backward(m, &g, &ws, &err);
    if (!rc) {
        ic_model gm = *m; /* a view: the gradient buffer as the parameters */
        gm.params_mem = g.mem;
        ic_params_point(&gm.params, g.mem, gm.param_sizes);
        char loss[64];
        snprintf(loss, sizeof loss, "%.17g", ws.loss);
        const char *k[] = {"iclab_gradient", "loss"};
        const char *v[] = {"d loss / d parameter; loss = mean over the last loss_loops loops of the MSE of the "
                           "predictions at every x position, over all the prompts", loss};
        rc = ic_checkpoint_save(path, &gm, s, k, v, 2, &err);
    }
    if (rc) cli_error(cmd, "--grads: %s", err.msg);
    ic_grads_free(&g);
    ic_workspace_free(&ws);
    return rc;
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    predict_opts o = {0};
    int rc = cli_parse_opts(cmd, argc, argv, &a, &o);
    if (rc) return rc < 0 ? CLI_OK : rc;
    cli_model L = {0};
    ic_prompts pr = {0};
    float *pred = NULL;
    ic_err err = {{0}};
    const char *bl_text = o.baseline;
    if (!bl_text && (rc = cli_require(&a, "model"))) goto done;
    const char *model_path = o.ctx.model, *prompts_path = o.prompts, *out_path = o.out;
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
    if (bl_text && o.grads) {
        cli_error(cmd, "--grads needs a --model (a baseline has no parameters)");
        rc = CLI_USAGE;
        goto done;
    }
    const cli_path ins[] = {{"model", model_path}, {"prompts", prompts_path}},
                   outs[] = {{"out", out_path}, {"grads", o.grads}};
    if (cli_check_overwrite(cmd, ins, 2, outs, 2, NULL, NULL)) goto done;
    cli_set_threads(o.ctx.threads);

    /* the model, and the schedule to run it with */
    if (!bl_text && cli_model_load(cmd, &o.ctx, NULL, 0, &L)) goto done;
    ic_model *m = &L.m;
    const ic_schedule *s = L.s;

    /* the prompts */
    if (ic_prompts_load(prompts_path, bl_text ? 0 : m->cfg.n_dims, bl_text ? 0 : m->cfg.n_positions, &pr, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    const int B = pr.B, n = pr.n, d = pr.d;
    const size_t ny = (size_t)B * n;
    if (!bl_text && cli_check_memory(cmd, m, s, B, n, o.ctx.batch, 0, 4.0 * ny, "--batch_size or --loops")) goto done;
    pred = malloc(sizeof(float) * ny);
    if (!pred) {
        cli_error(cmd, "out of memory for %d prompts of %d points", B, n);
        goto done;
    }
    if (bl_text ? ic_baseline_predict(&bl, pr.xs, pr.ys, B, n, d, pred, &err)
                : ic_model_predict(m, s, pr.xs, pr.ys, B, n, o.ctx.batch, pred, &err)) {
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
    if (o.grads && write_grads(cmd, o.grads, m, s, &pr)) goto done;
    if (bl_text)
        printf("%s: pred [%d,%d]; mse/d %.6g over %d prompts x %d points (d=%d, baseline %s)\n", out_path, B, n, mse_d,
               B, n, d, bl_text);
    else
        printf("%s: pred [%d,%d]; mse/d %.6g over %d prompts x %d points (d=%d, loops=%d)\n", out_path, B, n, mse_d, B,
               n, d, s->loops);
    rc = CLI_OK;
done:
    ic_prompts_free(&pr);
    cli_model_free(&L);
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
