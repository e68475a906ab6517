/* cmd_init.c: `iclab init` — a freshly initialised model saved as safetensors. */
#include <stdio.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "cli.h"

static const cli_opt OPTS[] = {
    {"out", "FILE", NULL, "where to write the model (.safetensors, written atomically; required)"},
};

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_run_config *cfg = malloc(sizeof *cfg);
    ic_schedule *s = malloc(sizeof *s);
    ic_model m = {0};
    ic_err err = {{0}};
    char *cfg_json = NULL;
    if (!cfg || !s) {
        cli_error(cmd, "out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    if ((rc = cli_require(&a, "out")) || (rc = cli_build_config(&a, cfg))) goto done;
    const char *out = cli_get(&a, "out");
    cli_path ins[CLI_MAX_OPTS];
    const cli_path outs[] = {{"out", out}};
    if ((rc = cli_check_overwrite(cmd, ins, cli_config_inputs(&a, ins, CLI_MAX_OPTS), outs, 1, NULL, NULL))) goto done;
    cli_set_threads(cfg->threads);
    if (ic_run_config_schedule(cfg, s, &err) || ic_model_create(&m, &cfg->model, &err)) {
        cli_error(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto done;
    }
    ic_model_init_weights(&m, cfg->seed);
    /* the full run config goes along in the metadata, for the record */
    cfg_json = ic_run_config_to_json(cfg);
    const char *keys[] = {"iclab_run_config"};
    const char *vals[] = {cfg_json};
    ic_precision dtype = IC_PREC_FP32; /* checkpoint_dtype, checked by cli_build_config */
    ic_precision_parse(cfg->checkpoint_dtype, &dtype);
    if (ic_checkpoint_save_as(out, &m, s, dtype, keys, vals, cfg_json ? 1 : 0, &err)) {
        cli_error(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto done;
    }
    char summary[512];
    cli_config_summary(cfg, summary, sizeof summary);
    printf("%s: %zu parameters; %s seed=%llu\n", out, m.num_params, summary, (unsigned long long)cfg->seed);
    rc = CLI_OK;
done:
    free(cfg_json);
    ic_model_free(&m);
    free(cfg);
    free(s);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_init = {
    "init",
    "create a model with fresh (seeded GPT-2) weights and save it as safetensors",
    "iclab init --out FILE [--config FILE] [--KEY VALUE ...]",
    "Builds the run config (defaults, then --config files, then flags), validates it,\n"
    "initialises the weights from --seed and writes FILE with Garg et al.'s tensor\n"
    "names; the model config, schedule (schedule/loops/loss_loops/inject/loop_lnf)\n"
    "and the whole run config are stored in the file's metadata.\n"
    "Example: iclab init --out tiny.safetensors --n_dims 5 --n_embd 32 --n_layer 3 --n_head 2",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    1,
    run,
};
