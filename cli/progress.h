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
/* Installs a SIGINT/SIGTERM handler that sets the returned flag (a second
 * Ctrl-C kills as usual). */
volatile sig_atomic_t *cli_install_stop_handler(void);

#endif
