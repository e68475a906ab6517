/* cmd_train.c: `iclab train` — train a model into a run directory, or
 * resume one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fsutil.h"
#include "mpi.h"
#include "progress.h"
#include "train.h"

static const cli_opt OPTS[] = {
    {"out", "DIR", NULL, "run directory to create (config.json, metrics.csv, model.safetensors, loss.svg, state)"},
    {"resume", "DIR", NULL, "continue the run in DIR from its last checkpoint (only --train_steps, --threads, "
                            "--log_every, --save_every, --checksum_every, --checkpoint_dtype may be changed; also on another number "
                            "of MPI ranks)"},
};

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_run_config *cfg = malloc(sizeof *cfg);
    ic_err err = {{0}};
    const ic_comm *comm = NULL;
    const char *out = cli_get(&a, "out"), *resume = cli_get(&a, "resume");
    if (!cfg) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if (!out == !resume) {
        cli_error(cmd, "give exactly one of --out DIR (a new run) or --resume DIR");
        rc = CLI_USAGE;
        goto done;
    }
    const char *dir = out ? out : resume;
    /* under mpirun/srun: one rank of a data-parallel run (mpi.h) */
    comm = cli_comm_start(cmd->name);
    if (!comm) { rc = CLI_FAIL; goto done; }
    const int root = comm->rank == 0;
    if (resume && !root) {
        /* rank 0 reads the run and sends it; these ranks need not see DIR */
        ic_run_config_default(cfg);
    } else if (resume) {
        if (ic_train_dir_config(resume, cfg, &err)) {
            cli_error(cmd, "cannot resume %s: %s", resume, err.msg);
            rc = CLI_FAIL;
            goto done;
        }
        for (int i = 0; i < a.n_keys; i++) {
            if (!ic_run_config_may_change(a.key_name[i])) {
                cli_error(cmd, "--%s cannot change when resuming (it would change the run); only --train_steps, "
                          "--threads, --log_every, --save_every, --checksum_every, --checkpoint_dtype can", a.key_name[i]);
                rc = CLI_USAGE;
                goto done;
            }
            if (ic_run_config_set(cfg, a.key_name[i], a.key_val[i], &err)) {
                cli_error(cmd, "option '--%s': %s", a.key_name[i], err.msg);
                rc = CLI_USAGE;
                goto done;
            }
        }
    } else if ((rc = cli_build_config(&a, cfg))) {
        goto done;
    } else if (root) {
        static const char *const written[] = {"config.json", "metrics.csv", "state.safetensors", "model.safetensors",
                                              "loss.svg", NULL};
        cli_path ins[CLI_MAX_OPTS];
        const cli_path od = {"out", out};
        if ((rc = cli_check_overwrite(cmd, ins, cli_config_inputs(&a, ins, CLI_MAX_OPTS), NULL, 0, &od, written))) goto done;
    }
    ic_precision prec; /* a CPU without bf16: one line, before the run's header (the trainer checks again) */
    if (root && !ic_precision_parse(cfg->precision, &prec) && ic_precision_check(prec, NULL, &err)) {
        cli_error(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto done;
    }
    cli_set_threads(cfg->threads);
    cli_progress prog;
    char label[64] = "train";
    if (comm->size > 1) snprintf(label, sizeof label, "train (%d ranks)", comm->size);
    cli_progress_init(&prog, label, cfg->log_every);
    /* rank 0 alone shows progress and messages */
    ic_train_hooks hooks = {.progress = root ? cli_progress_cb : NULL, .message = root ? cli_message_cb : NULL,
                            .ctx = &prog, .stop = cli_install_stop_handler(), .comm = comm};
    const char *stop_after = getenv("ICLAB_STOP_AFTER"); /* tests: simulate an interruption */
    if (stop_after) hooks.stop_after = atol(stop_after);
    char summary[512];
    cli_config_summary(cfg, summary, sizeof summary);
    if (root && comm->size > 1)
        fprintf(stderr, "%s %s on %d MPI ranks: %s task=%s steps=%ld\n", resume ? "resuming" : "training", dir,
                comm->size, summary, cfg->task, cfg->train_steps);
    else if (root)
        fprintf(stderr, "%s %s: %s task=%s steps=%ld\n", resume ? "resuming" : "training", dir, summary, cfg->task,
                cfg->train_steps);
    ic_train_result res;
    if (ic_train_run(dir, resume && !root ? NULL : cfg, resume != NULL, &hooks, &res, &err)) {
        cli_message_cb(&prog, "");
        cli_error(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto done;
    }
    cli_comm_finish();
    if (!root) {
        rc = res.outcome == IC_TRAIN_STOPPED ? 130 : CLI_OK;
        goto done;
    }
    if (res.outcome == IC_TRAIN_STOPPED) {
        rc = 130; /* interrupted, state saved */
        goto done;
    }
    if (res.step == res.start_step)
        printf("%s is already complete at step %ld of %ld (last logged loss %.5g); nothing to train (to continue, "
               "resume with --train_steps above %ld)\n", dir, res.step, cfg->train_steps, res.final_loss, res.step);
    else
        printf("%s/model.safetensors: %ld steps (%ld in this run), final loss %.5g, %.1f s\n", dir, res.step,
               res.step - res.start_step, res.final_loss, res.wall_s);
    rc = CLI_OK;
done:
    /* a rank that fails may leave the others waiting in a collective for it: end them all */
    if (comm && comm->size > 1 && rc != CLI_OK && rc != 130 && comm->abort) comm->abort(comm, rc);
    cli_comm_finish();
    free(cfg);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_train = {
    "train",
    "train a model on an in-context task into a run directory (resumable; Ctrl-C saves)",
    "iclab train --out DIR [--config FILE] [--KEY VALUE ...] | iclab train --resume DIR [--train_steps N]",
    "Builds the run config (defaults, then --config files, then flags; see 'iclab help-config'\n"
    "and docs/config.md), then trains with fresh prompts every step. DIR receives config.json,\n"
    "metrics.csv, model.safetensors and loss.svg; state.safetensors is rewritten atomically\n"
    "every save_every steps. Ctrl-C (or SIGTERM) saves a checkpoint and exits with code 130;\n"
    "'iclab train --resume DIR' continues bit-identically. A NaN/Inf loss or a failed write\n"
    "stops the run with an error and keeps the last good checkpoint. DIR is locked while a\n"
    "run uses it (iclab.lock); --out refuses a directory holding any run file; --resume\n"
    "checks the state (format, checksums, ranges, the config it was trained with).\n"
    "Example: iclab train --config configs/garg_tiny.json --out runs/tiny",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    1,
    run,
};
