/* main.c: `iclab <command> [options]` — dispatch and the command list.
 * Each command lives in its own cli/cmd_*.c; argument parsing and help
 * text in cli/args.c. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "cli.h"

static const cli_command *const COMMANDS[] = {
    &cli_cmd_demo, &cli_cmd_train, &cli_cmd_eval, &cli_cmd_loops, &cli_cmd_surgery, &cli_cmd_compare, &cli_cmd_plot, &cli_cmd_init, &cli_cmd_predict, &cli_cmd_bench, &cli_cmd_make_prompts,
    &cli_cmd_help_config,
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

/* OpenMP threads busy-wait between parallel regions by default. When
 * anything else runs on the machine that makes a 2-thread step several times
 * slower than 1 thread (measured: small model 134 ms/step active vs 48 ms
 * passive with one core busy; 26 vs 28 ms on an idle machine). libgomp reads
 * OMP_WAIT_POLICY when it loads, before main, so unless the user chose a
 * policy we re-execute ourselves once with "passive". */
static void prefer_passive_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("ICLAB_NO_REEXEC")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv("ICLAB_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): carry on with the default policy */
}

int main(int argc, char **argv) {
    prefer_passive_wait(argv);
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
