/* cli.h: the pieces shared by the iclab command-line front end.
 *
 * Each command is described by a cli_command: a name, a one-line summary,
 * a usage line, its own options (cli_opt) and whether it also accepts every
 * run-config key (config.h) as --key value plus --config FILE. The parser
 * (args.c) turns argv into a cli_args; the command reads its options from
 * there, calls the library and prints. No model math lives in cli/.
 *
 * Exit codes: 0 success, 1 bad input or files (CLI_FAIL), 2 usage errors
 * (CLI_USAGE). Errors go to stderr as "iclab <cmd>: <message>". */
#ifndef ICLAB_CLI_H
#define ICLAB_CLI_H

#include <stdio.h>

#include "config.h"
#include "tasks.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_MAX_OPTS 32

typedef struct {
    const char *name;    /* without the leading "--" */
    const char *metavar; /* "FILE", "N", ...; NULL: a flag that takes no value */
    const char *def;     /* default as shown in --help; NULL: none (required or off) */
    const char *doc;     /* one line */
} cli_opt;

typedef struct cli_command cli_command;
struct cli_command {
    const char *name;
    const char *summary;     /* one line for `iclab --help` */
    const char *usage;       /* "iclab predict --model FILE ..." */
    const char *description; /* a few lines shown by --help, may be NULL */
    const cli_opt *opts;
    int n_opts;
    int config_keys;         /* 1: every run-config key is an option, plus --config FILE */
    int (*run)(const cli_command *cmd, int argc, char **argv);
};

typedef struct {
    const cli_command *cmd;
    const char *val[CLI_MAX_OPTS]; /* last value given for each option; flags get "1" */
    /* run-config keys and --config files, in command-line order */
    int n_keys;
    const char **key_name;         /* "config" for a --config FILE entry */
    const char **key_val;
} cli_args;

/* Parses argv (argv[0] is the command name). Returns 0 to go on, -1 when
 * --help was given (help already printed on stdout: exit 0), or CLI_USAGE
 * after printing the problem on stderr. Free with cli_args_free. */
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *a);
void cli_args_free(cli_args *a);

/* Value of option name (NULL if not given). */
const char *cli_get(const cli_args *a, const char *name);
/* Integer option with range check; *out = def when absent. Returns 0 or
 * CLI_USAGE (message printed). */
int cli_get_long(const cli_args *a, const char *name, long min, long max, long def, long *out);
int cli_get_int(const cli_args *a, const char *name, int min, int max, int def, int *out);
int cli_get_double(const cli_args *a, const char *name, double min, double max, double def, double *out);
int cli_get_u64(const cli_args *a, const char *name, unsigned long long def, unsigned long long *out);
/* Fails with CLI_USAGE (message printed) if a required option is absent. */
int cli_require(const cli_args *a, const char *name);

/* Defaults, then each --config FILE, then the key flags, in command-line
 * order; then validation. n_points, if no file or flag sets it, is the
 * default or n_positions, whichever is smaller. Returns 0, CLI_USAGE (a flag value does not
 * parse) or CLI_FAIL (a config file is bad or the config is invalid). */
int cli_build_config(const cli_args *a, ic_run_config *c);

/* "n_dims=20 n_positions=101 ... schedule=0,1,2 loops=1" into buf. */
void cli_config_summary(const ic_run_config *c, char *buf, size_t len);

/* Loads a model for evaluation: its schedule, the run config it was made
 * with (defaults where none is recorded; ic_run_config_task turns it into
 * the model's task for its n_dims), and the points per prompt to use
 * (*n_points: 0 = the recorded n_points, capped by n_positions; larger than
 * n_positions is an error). Prints the notice about ignored tensors and any
 * error. Returns 0 or CLI_FAIL. */
int cli_load_model(const cli_command *cmd, const char *path, int n_head, ic_model *m, ic_schedule *s,
                   ic_run_config *run_cfg, int *n_points);


/* An option naming a file or directory: "prompts", "p.safetensors". */
typedef struct {
    const char *opt;
    const char *path; /* NULL: not given (skipped) */
} cli_path;

/* Refuses (message printed, CLI_FAIL) before anything is written when an
 * output would replace an input: an output file that resolves to the same
 * file as an input (same st_dev/st_ino: also through links, "./x", "../d/x"),
 * or an input that lies in out_dir (may be NULL) under a name the command
 * writes there. dir_names: NULL-terminated names written in out_dir; "*.csv"
 * stands for any name ending in ".csv". Returns 0 when nothing collides. */
int cli_check_overwrite(const cli_command *cmd, const cli_path *inputs, int n_in, const cli_path *outputs, int n_out,
                        const cli_path *out_dir, const char *const *dir_names);
/* The --config FILE entries of a, as inputs: fills up to max, returns how many. */
int cli_config_inputs(const cli_args *a, cli_path *out, int max);

/* Up-front memory check of a command that runs the loaded model m under s
 * on B prompts of n points, chunk prompts per forward pass (need_grad: with
 * stored activations), plus extra bytes of its own arrays still to be
 * allocated. Prints "iclab <cmd>: <cmd> needs X of memory but Y is
 * available (<limit>); lower <lower>" and returns CLI_FAIL when it cannot
 * fit; 0 otherwise. Call it before anything is written. */
int cli_check_memory(const cli_command *cmd, const ic_model *m, const ic_schedule *s, int B, int n, int chunk, int need_grad,
                     double extra, const char *lower);

/* Sets OpenMP and OpenBLAS thread counts; n <= 0 leaves the defaults. */
void cli_set_threads(int n);

/* "iclab <cmd>: <message>" on stderr. */
void cli_error(const cli_command *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Full help of one command (usage, description, every option). */
void cli_print_help(const cli_command *cmd, FILE *f);

/* The commands (one file each). */
extern const cli_command cli_cmd_init;
extern const cli_command cli_cmd_import;
extern const cli_command cli_cmd_predict;
extern const cli_command cli_cmd_bench;
extern const cli_command cli_cmd_make_prompts;
extern const cli_command cli_cmd_help_config;
extern const cli_command cli_cmd_train;
extern const cli_command cli_cmd_demo;
extern const cli_command cli_cmd_report;
extern const cli_command cli_cmd_eval;
extern const cli_command cli_cmd_loops;
extern const cli_command cli_cmd_plot;
extern const cli_command cli_cmd_surgery;
extern const cli_command cli_cmd_compare;
extern const cli_command cli_cmd_probe;

#endif
