/* progress.h: the progress displays: training's (train and demo), the
 * analyses' (cli_bar: eval, probe, surgery, loops, compare), both a redrawn
 * bar on a terminal and sparse plain lines otherwise; and Ctrl-C handling. */
#ifndef ICLAB_CLI_PROGRESS_H
#define ICLAB_CLI_PROGRESS_H

#include <signal.h>

#include "train.h"

typedef struct {
    int tty;           /* stderr is a terminal */
    long plain_every;  /* non-TTY: a line every this many steps */
    double last_draw;  /* seconds */
    int drawn;         /* a bar is on screen (needs a newline before other output) */
    const char *label;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *label, long plain_every);
/* ic_train_hooks callbacks (ctx = cli_progress*) */
void cli_progress_cb(void *ctx, const ic_progress *pr);
void cli_message_cb(void *ctx, const char *line);
/* The analyses' progress (an ic_progress_fn, src/output.h): on a terminal a
 * bar redrawn at most 10 times a second, "iclab probe: ablation [####....]
 * 12/24 steps  3.1/s  ETA 4s"; otherwise (a log) one plain line when a
 * stage ends and at most one every CLI_BAR_LOG_S seconds while it runs. */
#define CLI_BAR_LOG_S 10.0
typedef struct {
    const char *prefix;  /* "iclab probe" */
    const char *unit;    /* "variants"; NULL: none */
    int tty;
    int drawn;           /* a bar without its newline is on screen */
    double t0, last;     /* start of the stage, last draw or line */
    char stage[64];
} cli_bar;
void cli_bar_init(cli_bar *b, const char *prefix, const char *unit);
void cli_bar_cb(void *ctx, const char *stage, int done, int total);
/* Ends a bar left on screen (before other output). */
void cli_bar_end(cli_bar *b);

/* Seconds a stop request may take to reach a safe point before the process
 * is ended anyway (ICLAB_STOP_GRACE overrides; 0: wait for ever). */
#define CLI_STOP_GRACE_S 10
/* Called once by main: ignores SIGPIPE (writes to a closed stdout/stderr then
 * fail quietly instead of killing the process) and records the command name
 * for the messages below. */
void cli_signals_init(const char *command);
/* Installs the stop handler for SIGINT, SIGTERM and SIGHUP and returns the
 * flag it sets on the first request (training checks it at every step, then
 * saves and returns). A second request, or the grace period passing with the
 * process still running, writes one line to stderr and ends the process with
 * exit code 128 + the signal. ICLAB_TEST_HANG=N (tests only): the progress
 * callback of step N never returns, as a computation stuck inside a step
 * would not. */
volatile sig_atomic_t *cli_install_stop_handler(void);

#endif
