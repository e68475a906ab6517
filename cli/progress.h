/* progress.h: the training progress display shared by train and demo:
 * a redrawn bar on a terminal, plain lines otherwise; and Ctrl-C handling. */
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
