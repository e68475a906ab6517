#include "progress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Stop requests (CLI-only state, set by the signal handlers).
 *
 * The first SIGINT, SIGTERM or SIGHUP sets stop_flag: training stops at the
 * next step boundary, saves a checkpoint and exits 130. If the process is
 * still running grace_s seconds later (a computation that never reaches that
 * point, e.g. OpenBLAS retrying an allocation forever under a memory limit),
 * SIGALRM ends it; so does a second request, at once. Both write one
 * preformatted line with write(2) and _exit(128 + signal): nothing in a
 * handler allocates, locks or uses stdio. */
static volatile sig_atomic_t stop_flag, stop_sig;
static unsigned grace_s = CLI_STOP_GRACE_S;
static long test_hang_step; /* ICLAB_TEST_HANG=N (tests): step N never ends (the progress callback does not return) */
static char cmd_name[64] = "iclab";
static char msg_second[256], msg_grace[256];
static size_t len_second, len_grace;

void cli_signals_init(const char *command) {
    /* a closed stdout/stderr (`iclab train | head`, a dropped SSH session) is
     * no reason to lose a run: writes to it fail with EPIPE and are ignored */
    signal(SIGPIPE, SIG_IGN);
    if (command && command[0] != '-') snprintf(cmd_name, sizeof cmd_name, "iclab %s", command);
}

static void say_and_exit(const char *msg, size_t len, int code) {
    ssize_t w = write(STDERR_FILENO, msg, len);
    (void)w;
    _exit(code);
}

static void on_stop(int sig) {
    if (stop_flag) say_and_exit(msg_second, len_second, 128 + sig);
    stop_flag = 1;
    stop_sig = sig;
    if (grace_s) alarm(grace_s);
}

static void on_grace(int sig) {
    (void)sig;
    say_and_exit(msg_grace, len_grace, 128 + (stop_sig ? stop_sig : SIGTERM));
}

volatile sig_atomic_t *cli_install_stop_handler(void) {
    stop_flag = 0;
    stop_sig = 0;
    grace_s = CLI_STOP_GRACE_S;
    const char *g = getenv("ICLAB_STOP_GRACE");
    if (g && *g) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(g, &end, 10);
        if (end == g || *end || errno || v > 86400 || g[0] == '-')
            fprintf(stderr, "%s: ICLAB_STOP_GRACE='%s' is not a number of seconds in 0..86400; using %u\n", cmd_name, g,
                    (unsigned)CLI_STOP_GRACE_S);
        else
            grace_s = (unsigned)v;
    }
    const char *h = getenv("ICLAB_TEST_HANG");
    test_hang_step = h ? atol(h) : 0;
    int n = snprintf(msg_second, sizeof msg_second,
                     "%s: second stop request: ending now (the run keeps its last saved checkpoint)\n", cmd_name);
    len_second = n > 0 ? ((size_t)n < sizeof msg_second ? (size_t)n : sizeof msg_second - 1) : 0;
    n = snprintf(msg_grace, sizeof msg_grace,
                 "%s: still running %u s after the stop request: ending now (the run keeps its last saved checkpoint)\n",
                 cmd_name, grace_s);
    len_grace = n > 0 ? ((size_t)n < sizeof msg_grace ? (size_t)n : sizeof msg_grace - 1) : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaddset(&sa.sa_mask, SIGALRM);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_grace;
    sigaction(SIGALRM, &sa, NULL);
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
    if (test_hang_step > 0 && pr->step >= test_hang_step)
        for (;;) pause(); /* a step that never ends: only the grace period or a second stop request end it */
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

void cli_bar_init(cli_bar *b, const char *prefix, const char *unit) {
    memset(b, 0, sizeof *b);
    b->prefix = prefix;
    b->unit = unit;
    b->tty = isatty(STDERR_FILENO);
}

void cli_bar_end(cli_bar *b) {
    if (b->drawn) fputc('\n', stderr);
    b->drawn = 0;
}

void cli_bar_cb(void *ctx, const char *stage, int done, int total) {
    cli_bar *b = ctx;
    const double t = now_s();
    if (strncmp(b->stage, stage, sizeof b->stage - 1) != 0) { /* a new stage */
        cli_bar_end(b);
        snprintf(b->stage, sizeof b->stage, "%s", stage);
        b->t0 = b->last = t;
    }
    const int end = done >= total;
    if (!end && t - b->last < (b->tty ? 0.1 : CLI_BAR_LOG_S)) return;
    b->last = t;
    const double el = t - b->t0, rate = el > 0 ? done / el : 0.0;
    char eta[32], unit[40] = "";
    fmt_time(eta, sizeof eta, done > 0 ? el / done * (total - done) : -1);
    if (b->unit) snprintf(unit, sizeof unit, " %s", b->unit);
    if (b->tty) {
        const int W = 24;
        int filled = total > 0 ? (int)((double)W * done / total) : W;
        char bar[32];
        for (int i = 0; i < W; i++) bar[i] = i < filled ? '#' : '.';
        bar[W] = 0;
        fprintf(stderr, "\r\033[K%s: %s [%s] %d/%d%s  %.1f/s  ETA %s", b->prefix, stage, bar, done, total, unit, rate, eta);
        b->drawn = 1;
        if (end) cli_bar_end(b);
    } else {
        fprintf(stderr, "%s: %s %d/%d%s  %.1f/s  %s %s\n", b->prefix, stage, done, total, unit, rate,
                end ? "took" : "ETA", end ? (fmt_time(eta, sizeof eta, el), eta) : eta);
    }
    fflush(stderr);
}

void cli_message_cb(void *ctx, const char *line) {
    cli_progress *p = ctx;
    if (p->drawn) {
        fprintf(stderr, "\n");
        p->drawn = 0;
    }
    fprintf(stderr, "%s\n", line);
}
