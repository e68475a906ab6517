/* main.c: `iclab <command> [options]` — dispatch and the command list.
 * Each command lives in its own cli/cmd_*.c; argument parsing and help
 * text in cli/args.c. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "progress.h"

static const cli_command *const COMMANDS[] = {
    &cli_cmd_demo, &cli_cmd_train, &cli_cmd_eval, &cli_cmd_loops, &cli_cmd_probe, &cli_cmd_surgery, &cli_cmd_compare, &cli_cmd_report, &cli_cmd_plot, &cli_cmd_init, &cli_cmd_import, &cli_cmd_predict, &cli_cmd_bench, &cli_cmd_make_prompts,
    &cli_cmd_sweep, &cli_cmd_help_config,
};
#define NCOMMANDS ((int)(sizeof COMMANDS / sizeof *COMMANDS))

static const cli_command *find_command(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i]->name, name) == 0) return COMMANDS[i];
    return NULL;
}

static void print_overview(FILE *f) {
    fprintf(f, "iclab: in-context learning lab (Garg et al. regression transformers, looped models)\n\n"
               "usage: iclab <command> [options]\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-14s%s\n", COMMANDS[i]->name, COMMANDS[i]->summary);
    fprintf(f, "  %-14s%s\n", "help", "this list; 'iclab help <command>' shows one command's options");
    fprintf(f, "\nRun 'iclab <command> --help' for a command's usage, options and defaults.\n");
}

/* Settings that must be in the environment before the OpenMP and OpenBLAS
 * libraries load (they read it before main), so we set them and re-execute
 * ourselves once:
 *
 * - OMP_WAIT_POLICY=passive unless the user chose a policy. OpenMP threads
 *   busy-wait between parallel regions by default; when anything else runs
 *   on the machine that makes a 2-thread step several times slower than 1
 *   thread (measured: small model 134 ms/step active vs 48 ms passive with
 *   one core busy; 26 vs 28 ms on an idle machine).
 * - OPENBLAS_CORETYPE, unless the user set it, when OpenBLAS picked kernels
 *   weaker than the CPU runs (docs/performance.md: Debian's OpenBLAS falls back to
 *   SSE "Prescott" kernels on CPU models it does not know, 4x slower);
 *   ICLAB_BLAS_AUTO_FROM records what OpenBLAS had chosen (iclab bench shows
 *   it). ICLAB_TEST_CORENAME pretends OpenBLAS chose that kernel set, to test
 *   this path on a machine it recognises. */
static void reexec_with_settings(char **argv) {
    if (getenv("ICLAB_NO_REEXEC")) return;
    int change = 0;
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        change = 1;
    }
    if (!getenv("OPENBLAS_CORETYPE")) {
        const char *seen = getenv("ICLAB_TEST_CORENAME");
        const char *want = ic_blas_coretype_suggestion(seen);
        if (want) {
            setenv("ICLAB_BLAS_AUTO_FROM", seen ? seen : ic_blas_corename(), 1);
            setenv("OPENBLAS_CORETYPE", want, 1);
            change = 1;
        }
    }
    if (!change) return;
    setenv("ICLAB_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): carry on with the current settings */
}

int main(int argc, char **argv) {
    reexec_with_settings(argv);
    cli_signals_init(argc > 1 ? argv[1] : NULL);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_overview(stdout);
        return CLI_OK;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            print_overview(stdout);
            return CLI_OK;
        }
        const cli_command *c = find_command(argv[2]);
        if (!c) {
            fprintf(stderr, "iclab help: unknown command '%s' (see 'iclab --help')\n", argv[2]);
            return CLI_USAGE;
        }
        cli_print_help(c, stdout);
        return CLI_OK;
    }
    const cli_command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "iclab: unknown %s '%s' (see 'iclab --help')\n", name[0] == '-' ? "option" : "command", name);
        return CLI_USAGE;
    }
    return cmd->run(cmd, argc - 1, argv + 1);
}
