/* sweep.h: sweeps — a plan of training runs (configs x variants x seeds,
 * each with per-run analysis steps), their state in a sweep directory, and
 * the sweep's summary files. `iclab sweep` (cli/cmd_sweep.c) runs the runs
 * as child processes and spreads them over MPI ranks; everything here is
 * plain files and JSON (docs/distributed.md, "Sweeps").
 *
 * A plan (JSON):
 *   {"name": "looped",                              optional, shown in sweep.json
 *    "configs": {"plain6": "cfg/plain6.json",        a config file (relative paths:
 *                "tiny": {"n_embd": 32, ...}},       to the plan's directory) or inline keys
 *    "seeds": [1, 2, 3],                             default [0]; sets `seed`
 *    "data_seed_offset": 1000,                       optional: data_seed = offset + seed
 *    "overrides": {"train_steps": 5000},             optional: keys for every run
 *    "variants": {"lr3": {"learning_rate": 3e-4}},   optional: each run once per variant
 *    "steps": [{"command": "eval", "out": "eval",    optional: after training, in order
 *               "args": ["--seed", "4242"]}]}
 * Run names are CONFIG[/VARIANT]/seedS; each trains in DIR/<name>. A run's
 * keys apply in the order defaults, config, overrides, variant, seed and
 * data_seed, then the sweep's own (--train_steps, --threads). Steps run
 * `iclab COMMAND --model DIR/<name>/model.safetensors --out DIR/<name>/OUT
 * ARGS...` (commands: eval, loops, surgery, probe).
 *
 * State of a run in the sweep directory: DIR/<name>/sweep_run.json (written
 * atomically when the run ends) says done or failed with its error; a run
 * is done when that says done and every step's output exists; anything
 * else is pending (never started, or interrupted: its training resumes). */
#ifndef ICLAB_SWEEP_H
#define ICLAB_SWEEP_H

#include "config.h"
#include "err.h"

typedef struct {
    char *name;          /* CONFIG[/VARIANT]/seedS: also its directory under the sweep's */
    char *config_name;   /* CONFIG */
    int argc;            /* `iclab train` arguments of a new run, after "train --out DIR" */
    char **argv;
    char *error;         /* the run's config does not build (NULL: it does): the run fails with this */
    ic_run_config *cfg;  /* the resolved config (defaults when error) */
} ic_plan_run;

typedef struct {
    char *command, *out; /* eval | loops | surgery | probe; the output directory's name in the run's */
    int argc;
    char **argv;
} ic_plan_step;

typedef struct {
    char *plan_json;     /* the plan as given (compact JSON text), for sweep.json */
    char *name;
    ic_plan_run *runs;
    int n_runs;
    ic_plan_step *steps;
    int n_steps;
} ic_plan;

/* Options of the sweep itself, applied to every run after the plan's keys. */
typedef struct {
    const char *seeds;       /* "1,2,3": replaces the plan's seeds (NULL: the plan's) */
    const char *only;        /* "plain6,looped3x2": only these configs (NULL: all) */
    int n_keys;              /* run-config keys given to the sweep (--train_steps 100) */
    const char *const *key_name, *const *key_val;
} ic_plan_opts;

/* Reads and checks a plan (structure, key names, commands, names that are
 * safe path components, config files that exist) and expands its runs.
 * A run whose config does not validate is kept with its error (it is
 * reported as failed; the others run). Errors name the plan and the entry. */
int ic_plan_load(const char *path, const ic_plan_opts *opts, ic_plan *p, ic_err *err);
void ic_plan_free(ic_plan *p);

typedef enum { IC_PLAN_PENDING = 0, IC_PLAN_DONE = 1, IC_PLAN_FAILED = 2 } ic_plan_status;

#define IC_PLAN_METRICS 4 /* step, loss, excess_loss, wall_s: the last metrics.csv row */
extern const char *const ic_plan_metric_names[IC_PLAN_METRICS];

typedef struct {
    ic_plan_status status;
    char error[512];                 /* failed: one line */
    double metrics[IC_PLAN_METRICS]; /* NaN where unknown */
} ic_plan_result;

const char *ic_plan_status_name(ic_plan_status s);
/* What DIR says of run i (see above); metrics from its metrics.csv if any. */
void ic_plan_run_state(const char *dir, const ic_plan *p, int i, ic_plan_result *r);
/* Records that run i ended (status done or failed, error) in its
 * sweep_run.json, atomically; fills r->metrics from its metrics.csv. */
int ic_plan_record(const char *dir, const ic_plan *p, int i, ic_plan_result *r, ic_err *err);
/* A result as compact JSON text (malloc'ed) and back, to send between ranks. */
char *ic_plan_result_to_json(const ic_plan_result *r);
int ic_plan_result_from_json(const char *text, ic_plan_result *r, ic_err *err);
/* DIR/sweep.json {"plan", "name", "runs": [{"name", "dir", "status",
 * "error", "metrics": {...}}], "counts": {"done", "failed", "pending"}} and
 * DIR/summary.csv (name,dir,status,step,loss,excess_loss,wall_s,error), both
 * atomically. */
int ic_plan_write_summary(const char *dir, const ic_plan *p, const ic_plan_result *r, ic_err *err);

#endif
