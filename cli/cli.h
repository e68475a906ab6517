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

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "tasks.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_MAX_OPTS 32

/* How a typed option is stored (cli_parse_opts): the value goes to the
 * command's option struct at `off`. The default is written once, in `def`:
 * for the numeric types it is the value when it reads fully as a number
 * ("512", "1e-4"), else 0 ("the model's", "0 = all cores": the command
 * resolves 0); for CLI_STR it is the value itself; CLI_STR_OPT's def only
 * describes what happens without the option (the value is NULL). */
typedef enum {
    CLI_UNTYPED = 0, /* read with cli_get and friends */
    CLI_INT,         /* int in [lo, hi] */
    CLI_U64,         /* unsigned long long */
    CLI_DOUBLE,      /* finite double in [lo, hi] */
    CLI_STR,         /* const char *, default def */
    CLI_STR_OPT,     /* const char *, NULL when not given */
    CLI_FLAG         /* int: 1 when given */
} cli_type;

/* Option tables of untyped commands list the first four fields only; the
 * rest are zero (CLI_UNTYPED) by C's rules, which -Wextra would flag in
 * every table. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif

typedef struct {
    const char *name;    /* without the leading "--" */
    const char *metavar; /* "FILE", "N", ...; NULL: a flag that takes no value */
    const char *def;     /* default as shown in --help; NULL: none (required or off) */
    const char *doc;     /* one line */
    cli_type type;       /* CLI_UNTYPED: the command reads it with cli_get */
    double lo, hi;       /* range of CLI_INT / CLI_DOUBLE */
    size_t off;          /* offsetof(the command's option struct, field) */
    int required;        /* a missing or empty value is a usage error */
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
/* cli_parse, then every typed option of the table into opts (defaults, then
 * the given values with their range checks, in table order; fields without a
 * row are left alone, so zero the struct first). Same returns as cli_parse; a, when it returns 0, is to be freed with cli_args_free. */
int cli_parse_opts(const cli_command *cmd, int argc, char **argv, cli_args *a, void *opts);

/* Value of option name (NULL if not given). */
const char *cli_get(const cli_args *a, const char *name);
/* Integer option with range check; *out = def when absent. Returns 0 or
 * CLI_USAGE (message printed). */
int cli_get_long(const cli_args *a, const char *name, long min, long max, long def, long *out);
int cli_get_int(const cli_args *a, const char *name, int min, int max, int def, int *out);
int cli_get_double(const cli_args *a, const char *name, double min, double max, double def, double *out);
int cli_get_u64(const cli_args *a, const char *name, unsigned long long def, unsigned long long *out);
/* The integer lists of the options (--k, --ablate_ranks, --gd_steps, ...):
 * "1,2,5-8": values and inclusive ranges, each in lo..hi, at most max values.
 * With d > 0 also "d", "2d", "d/2" (multiples of d, and half of it). Returns
 * 0, or CLI_USAGE with the problem printed ("--OPT 'TEXT': ..."). */
int cli_int_list(const cli_command *cmd, const char *opt, const char *text, int lo, int hi, int d, int *out, int max,
                 int *n);
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


/* ---------------- the evaluation context (cli/context.c) ----------------
 *
 * The options eval, probe, surgery, loops, compare and predict share, typed
 * once. A command's option struct starts with a cli_ctx_opts, so the rows
 * below (offsets into cli_ctx_opts) fill it; each command passes its own
 * defaults where they differ. */
typedef struct {
    const char *model;
    int n_head;             /* 0: from the metadata */
    int n_points;           /* 0: the model's training n_points */
    const char *schedule;   /* NULL: the model's */
    int loops;              /* 0: the model's */
    int threads;            /* 0: all cores */
    int prompts;
    unsigned long long seed;
    int bootstrap;
    int batch;              /* prompts per forward pass */
} cli_ctx_opts;

#define CLI_CTX(field) offsetof(cli_ctx_opts, field)
#define CLI_OPT_MODEL {"model", "FILE", NULL, "model checkpoint (.safetensors; required)", CLI_STR_OPT, 0, 0, CLI_CTX(model), 1}
#define CLI_OPT_N_HEAD                                                                                                   \
    {"n_head", "N", "from the metadata", "attention heads; needed for a file without iclab metadata", CLI_INT, 0, 65536, \
     CLI_CTX(n_head)}
#define CLI_OPT_N_POINTS(min)                                                                                            \
    {"n_points", "N", "the model's training n_points", "points per prompt (<= n_positions)", CLI_INT, min, 100000,      \
     CLI_CTX(n_points)}
#define CLI_OPT_SCHEDULE                                                                                                 \
    {"schedule", "TEXT", "the model's",                                                                                  \
     "blocks to run per loop, in the schedule language (docs/schedules.md): a list 0,1,1,2 replaces the body; "        \
     "operations like 'skip(2)' or 'dup(2-3)' edit the model's own body",                                                \
     CLI_STR_OPT, 0, 0, CLI_CTX(schedule)}
#define CLI_OPT_LOOPS {"loops", "N", "the model's", "times the body is run (looped models)", CLI_INT, 1, IC_MAX_LOOPS, CLI_CTX(loops)}
#define CLI_OPT_THREADS {"threads", "N", "0 = all cores", "threads for BLAS and OpenMP", CLI_INT, 0, 1024, CLI_CTX(threads)}
#define CLI_OPT_PROMPTS(def, min, doc) {"prompts", "N", def, doc, CLI_INT, min, 10000000, CLI_CTX(prompts)}
#define CLI_OPT_SEED(def, doc) {"seed", "S", def, doc, CLI_U64, 0, 0, CLI_CTX(seed)}
#define CLI_OPT_BOOTSTRAP(doc) {"bootstrap", "N", "1000", doc, CLI_INT, 0, 100000, CLI_CTX(bootstrap)}
#define CLI_OPT_BATCH(name, def, doc) {name, "B", def, doc, CLI_INT, 1, 1 << 20, CLI_CTX(batch)}
/* --out DIR (required) into the `out` field of the command's option struct T */
#define CLI_OPT_OUT(T, doc) {"out", "DIR", NULL, doc, CLI_STR_OPT, 0, 0, offsetof(T, out), 1}

/* A model loaded for evaluation. */
typedef struct {
    ic_model m;
    ic_schedule *s;        /* the model's, with --schedule and --loops applied, validated */
    ic_run_config *rcfg;   /* the run config it was made with (defaults where none is recorded) */
    int n;                 /* points per prompt: --n_points, or the recorded n_points capped by n_positions */
    int d;
} cli_model;

/* Loads path (o->model when NULL) with o->n_head, applies o->schedule and
 * o->loops (ic_schedule_set_loops) and validates the schedule; with_run:
 * also the recorded run config and the points per prompt (o->n_points, or
 * the model's). Messages printed; returns 0 or CLI_FAIL. Free with
 * cli_model_free (also after a failure). */
int cli_model_load(const cli_command *cmd, const cli_ctx_opts *o, const char *path, int with_run, cli_model *L);
/* The model's task (ic_run_config_task on its recorded run config) and the
 * error normaliser (norm may be NULL). Message "PATH: ..." printed. */
int cli_model_task(const cli_command *cmd, const cli_model *L, const char *path, ic_task_spec *task, double *norm);
void cli_model_free(cli_model *L);
/* cli_check_memory for L's schedule run for `loops` loops (<= 0: its own)
 * with one loss loop, on B prompts of L->n points; parts: every loop's
 * activations stored (a forward with gradient storage). */
int cli_check_memory_loops(const cli_command *cmd, const cli_model *L, int loops, int parts, int B, int chunk, double extra,
                           const char *lower);

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
