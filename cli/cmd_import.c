/* cmd_import.c: `iclab import` — a PyTorch checkpoint (torch.save zip) to an
 * iclab safetensors checkpoint, through the restricted reader of
 * src/torchimport.h (nothing in the file is executed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "torchimport.h"

static const cli_opt OPTS[] = {
    {"out", "FILE", NULL, "where to write the iclab model (.safetensors, written atomically; required)"},
    {"n_head", "N", "from the config", "attention heads (the tensors do not say); must agree with the config if both are given"},
    {"config", "FILE", "config.yaml next to FILE.pt", "Garg et al.'s or Yang et al.'s run config.yaml (model.n_head, training.task, ...)"},
    {"loops", "N", "the config's training.curriculum.loops.end", "loops of a Yang et al. looped model (recorded in its schedule)"},
    {"dtype", "fp32|bf16", "fp32", "the written model's tensors: F32, or BF16 (rounded to nearest even; half the size)"},
};

/* FILE.safetensors: an iclab (or converted Garg et al.) model rewritten in --dtype */
static int convert(const cli_command *cmd, const char *in, const char *out, int n_head, ic_precision dtype) {
    ic_err err = {{0}};
    ic_config c;
    if (ic_checkpoint_convert(in, out, dtype, n_head, &c, &err)) {
        cli_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    printf("%s: n_dims=%d n_positions=%d n_embd=%d n_layer=%d n_head=%d dtype=%s (from %s)\n", out, c.n_dims,
           c.n_positions, c.n_embd, c.n_layer, c.n_head, dtype == IC_PREC_BF16 ? "BF16" : "F32", in);
    return CLI_OK;
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

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
    const char *dt = cli_get(&a, "dtype");
    if (dt && ic_precision_parse(dt, &o.dtype)) {
        cli_error(cmd, "option '--dtype': expected fp32 or bf16, got '%s'", dt);
        rc = CLI_USAGE;
        goto done;
    }
    o.config_path = cli_get(&a, "config");
    const char *out = cli_get(&a, "out");
    if (ends_with(in, ".safetensors")) {
        if (o.config_path || o.loops) {
            cli_error(cmd, "--config and --loops apply to PyTorch checkpoints; %s is a safetensors model", in);
            rc = CLI_USAGE;
            goto done;
        }
        const cli_path cins[] = {{"FILE", in}}, couts[] = {{"out", out}};
        if ((rc = cli_check_overwrite(cmd, cins, 1, couts, 1, NULL, NULL))) goto done;
        rc = convert(cmd, in, out, o.n_head, o.dtype);
        goto done;
    }
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
    "convert a PyTorch checkpoint (torch.save: Garg et al.'s or Yang et al.'s), or a safetensors model, into an iclab safetensors model",
    "iclab import FILE.pt --out FILE [--n_head N] [--config config.yaml] [--loops N] [--dtype fp32|bf16]\n"
    "       iclab import FILE.safetensors --out FILE --dtype fp32|bf16 [--n_head N]",
    "Reads the zip archive torch.save writes (PyTorch >= 1.6) with a restricted\n"
    "unpickler that executes nothing: only tensors, storages, OrderedDict and plain\n"
    "values are accepted, any other global (os.system, eval, ...) is refused with its\n"
    "byte offset. Takes a bare state_dict or Garg et al.'s training state\n"
    "(model_state_dict; train_step is recorded). F32/F16/BF16/F64 tensors become F32\n"
    "(BF16 with --dtype bf16).\n"
    "The model config comes from the tensor shapes, n_head from --n_head or config.yaml,\n"
    "and the task and n_points from config.yaml's training section.\n"
    "Yang et al.'s looped models (family gpt2_loop, nanoGPT tensor names) become\n"
    "iclab looped models (inject and loop_lnf on): loops from the config's\n"
    "training.curriculum.loops.end or --loops, loss_loops from n_loop_window.\n"
    "A FILE ending in .safetensors (an iclab model, any of those dtypes) is checked\n"
    "like every model load and rewritten with --dtype, its metadata kept: e.g.\n"
    "--dtype bf16 halves a model's size (docs/cli.md, \"Model dtype\").",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
