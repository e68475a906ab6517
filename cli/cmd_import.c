/* cmd_import.c: `iclab import` — a PyTorch checkpoint (torch.save zip) to an
 * iclab safetensors checkpoint, through the restricted reader of
 * src/torchimport.h (nothing in the file is executed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "torchimport.h"

static const cli_opt OPTS[] = {
    {"out", "FILE", NULL, "where to write the iclab model (.safetensors, written atomically; required)"},
    {"n_head", "N", "from the config", "attention heads (the tensors do not say); must agree with the config if both are given"},
    {"config", "FILE", "config.yaml next to FILE.pt", "Garg et al.'s or Yang et al.'s run config.yaml (model.n_head, training.task, ...)"},
    {"loops", "N", "the config's training.curriculum.loops.end", "loops of a Yang et al. looped model (recorded in its schedule)"},
};

static int run(const cli_command *cmd, int argc, char **argv) {
    /* the checkpoint is the one positional argument: iclab import FILE.pt --out ... */
    const char *in = NULL;
    if (argc >= 2 && strncmp(argv[1], "--", 2) != 0) {
        in = argv[1];
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_import_opts o = {0};
    ic_import_report rep;
    ic_err err = {{0}};
    if ((rc = cli_require(&a, "out")) || (rc = cli_get_int(&a, "n_head", 0, 65536, 0, &o.n_head)) ||
        (rc = cli_get_int(&a, "loops", 1, IC_MAX_LOOPS, 0, &o.loops)))
        goto done;
    if (!in) {
        cli_error(cmd, "give the checkpoint first: iclab import FILE.pt --out FILE");
        rc = CLI_USAGE;
        goto done;
    }
    o.config_path = cli_get(&a, "config");
    const char *out = cli_get(&a, "out");
    cli_path ins[2] = {{"FILE.pt", in}, {"config", o.config_path}};
    const cli_path outs[] = {{"out", out}};
    if ((rc = cli_check_overwrite(cmd, ins, o.config_path ? 2 : 1, outs, 1, NULL, NULL))) goto done;
    if (ic_torch_import(in, out, &o, &rep, &err)) {
        cli_error(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto done;
    }
    if (rep.notice[0]) fprintf(stderr, "iclab import: %s\n", rep.notice);
    printf("%s: n_dims=%d n_positions=%d n_embd=%d n_layer=%d n_head=%d layout=%s dtypes=%s", out, rep.cfg.n_dims,
           rep.cfg.n_positions, rep.cfg.n_embd, rep.cfg.n_layer, rep.cfg.n_head, rep.layout, rep.dtypes);
    if (rep.has_train_step) printf(" train_step=%lld", rep.train_step);
    if (rep.looped) printf(" loops=%d loss_loops=%d", rep.loops, rep.loss_loops);
    if (rep.task[0]) printf(" task=%s", rep.task);
    if (rep.config_used[0]) printf(" config=%s", rep.config_used);
    printf("\n");
    rc = CLI_OK;
done:
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_import = {
    "import",
    "convert a PyTorch checkpoint (torch.save: Garg et al.'s or Yang et al.'s) into an iclab safetensors model",
    "iclab import FILE.pt --out FILE [--n_head N] [--config config.yaml] [--loops N]",
    "Reads the zip archive torch.save writes (PyTorch >= 1.6) with a restricted\n"
    "unpickler that executes nothing: only tensors, storages, OrderedDict and plain\n"
    "values are accepted, any other global (os.system, eval, ...) is refused with its\n"
    "byte offset. Takes a bare state_dict or Garg et al.'s training state\n"
    "(model_state_dict; train_step is recorded). F32/F16/BF16/F64 tensors become F32.\n"
    "The model config comes from the tensor shapes, n_head from --n_head or config.yaml,\n"
    "and the task and n_points from config.yaml's training section.\n"
    "Yang et al.'s looped models (family gpt2_loop, nanoGPT tensor names) become\n"
    "iclab looped models (inject and loop_lnf on): loops from the config's\n"
    "training.curriculum.loops.end or --loops, loss_loops from n_loop_window.",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
