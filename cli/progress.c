#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag; /* CLI-only: set by the signal handler */

static void on_signal(int sig) {
    stop_flag = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

volatile sig_atomic_t *cli_install_stop_handler(void) {
    stop_flag = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &stop_flag;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *label, long plain_every) {
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    p->plain_every = plain_every > 0 ? plain_every : 100;
    p->label = label;
}

static void fmt_time(char *buf, size_t len, double s) {
    if (s < 0 || s > 1e7) snprintf(buf, len, "--");
    else if (s < 60) snprintf(buf, len, "%.0fs", s);
    else if (s < 3600) snprintf(buf, len, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, len, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void cli_progress_cb(void *ctx, const ic_progress *pr) {
    cli_progress *p = ctx;
    char eta[32], el[32];
    fmt_time(eta, sizeof eta, pr->eta_s);
    fmt_time(el, sizeof el, pr->elapsed_s);
    if (p->tty) {
        double t = now_s();
        if (pr->step != pr->total && t - p->last_draw < 0.1) return;
        p->last_draw = t;
        const int W = 24;
        int filled = pr->total > 0 ? (int)((double)W * pr->step / pr->total) : 0;
        char bar[32];
        for (int i = 0; i < W; i++) bar[i] = i < filled ? '#' : '.';
        bar[W] = 0;
        fprintf(stderr, "\r\033[K%s [%s] %ld/%ld  loss %.4g  %.1f steps/s  ETA %s  (d=%d n=%d", p->label, bar,
                pr->step, pr->total, pr->loss, pr->steps_per_s, eta, pr->n_dims, pr->n_points);
        if (pr->loops > 1) fprintf(stderr, " loops=%d", pr->loops);
        fprintf(stderr, ")");
        p->drawn = 1;
        if (pr->step == pr->total) {
            fprintf(stderr, "\n");
            p->drawn = 0;
        }
        fflush(stderr);
    } else if (pr->step % p->plain_every == 0 || pr->step == pr->total) {
        fprintf(stderr, "%s step %ld/%ld loss %.5g excess %.4g lr %.3g %.1f steps/s elapsed %s ETA %s d=%d n=%d loops=%d\n",
                p->label, pr->step, pr->total, pr->loss, pr->excess_loss, pr->lr, pr->steps_per_s, el, eta,
                pr->n_dims, pr->n_points, pr->loops);
    }
}

void cli_message_cb(void *ctx, const char *line) {
    cli_progress *p = ctx;
    if (p->drawn) {
        fprintf(stderr, "\n");
        p->drawn = 0;
    }
    fprintf(stderr, "%s\n", line);
}
