/* context.c: the evaluation context shared by the analysis commands (cli.h):
 * one way to load a model, apply --schedule / --loops and find its task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "schedule.h"

int cli_model_load(const cli_command *cmd, const cli_ctx_opts *o, const char *path, int with_run, cli_model *L) {
    memset(L, 0, sizeof *L);
    ic_err err = {{0}};
    if (!path) path = o->model;
    L->s = malloc(sizeof *L->s);
    L->rcfg = malloc(sizeof *L->rcfg);
    if (!L->s || !L->rcfg) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    if (with_run) {
        L->n = o->n_points;
        if (cli_load_model(cmd, path, o->n_head, &L->m, L->s, L->rcfg, &L->n)) return CLI_FAIL;
    } else {
        char notice[512] = "";
        if (ic_checkpoint_load(path, &L->m, L->s, o->n_head, notice, sizeof notice, &err)) {
            cli_error(cmd, "%s", err.msg);
            return CLI_FAIL;
        }
        if (notice[0]) fprintf(stderr, "iclab %s: %s: %s\n", cmd->name, path, notice);
        ic_run_config_default(L->rcfg);
    }
    L->d = L->m.cfg.n_dims;
    if (o->schedule && ic_schedule_parse(L->s, o->schedule, L->s, L->m.cfg.n_layer, &err)) {
        cli_error(cmd, "--schedule: %s", err.msg);
        return CLI_FAIL;
    }
    if (o->loops > 0) ic_schedule_set_loops(L->s, o->loops);
    if (ic_schedule_validate(L->s, L->m.cfg.n_layer, &err)) {
        cli_error(cmd, "%s%s", o->schedule || o->loops ? "" : "schedule stored in the model: ", err.msg);
        return CLI_FAIL;
    }
    return 0;
}

int cli_model_task(const cli_command *cmd, const cli_model *L, const char *path, ic_task_spec *task, double *norm) {
    ic_err err = {{0}};
    if (ic_run_config_task(L->rcfg, L->d, task, norm, &err)) {
        cli_error(cmd, "%s: %s", path, err.msg);
        return CLI_FAIL;
    }
    return 0;
}

int cli_check_memory_loops(const cli_command *cmd, const cli_model *L, int loops, int parts, int B, int chunk, double extra,
                           const char *lower) {
    ic_schedule *ls = malloc(sizeof *ls);
    if (!ls) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    *ls = *L->s;
    if (loops > 0) ls->loops = loops;
    ls->loss_loops = 1;
    ls->grad_loops = parts ? ls->loops : 0;
    int rc = cli_check_memory(cmd, &L->m, ls, B, L->n, chunk, parts, extra, lower);
    free(ls);
    return rc;
}

void cli_model_free(cli_model *L) {
    ic_model_free(&L->m);
    free(L->s);
    free(L->rcfg);
    memset(L, 0, sizeof *L);
}
