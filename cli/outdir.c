/* outdir.c: analysis output directories written as a whole (see outdir.h). */
#include "outdir.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

static volatile sig_atomic_t stop_sig; /* the parent's first stop request */

static void on_stop(int sig) {
    if (!stop_sig) stop_sig = sig;
}

static void on_child(int sig) { (void)sig; }

static const int SIGS[4] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};

/* The parent: waits for the child, then commits or removes the directory. */
static void supervise(const cli_command *cmd, ic_outdir *od, pid_t child, const sigset_t *blocked) {
    const char *h = getenv("ICLAB_TEST_HOLD_COMMIT");
    const int hold = h && *h && strcmp(h, "0") != 0;
    int status = 0, done = 0, killed = 0, announced = 0;
    for (;;) {
        if (!done) {
            pid_t r = waitpid(child, &status, WNOHANG);
            if (r == child || (r < 0 && errno == ECHILD)) done = 1;
        }
        if (stop_sig && !done && !killed) {
            kill(child, SIGKILL);
            killed = 1;
            continue;
        }
        if (done && (stop_sig || !hold)) break;
        if (done && !announced) {
            fprintf(stderr, "iclab %s: holding the finished files in %s (ICLAB_TEST_HOLD_COMMIT)\n", cmd->name, od->tmp);
            announced = 1;
        }
        /* wait for SIGCHLD or a stop request (blocked here, so taken from the
         * queue; another thread may take one with the handler instead, which
         * the next round sees: hence the timeout) */
        struct timespec ts = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(blocked, NULL, &ts);
        if ((sig == SIGINT || sig == SIGTERM || sig == SIGHUP) && !stop_sig) stop_sig = sig;
    }
    /* a stop request still pending, or one that ended the child (Ctrl-C at a
     * terminal reaches both processes), counts as an interruption */
    sigset_t pending;
    if (!stop_sig && sigpending(&pending) == 0)
        for (int i = 0; i < 3; i++)
            if (sigismember(&pending, SIGS[i])) stop_sig = SIGS[i];
    if (!stop_sig && WIFSIGNALED(status))
        for (int i = 0; i < 3; i++)
            if (WTERMSIG(status) == SIGS[i]) stop_sig = SIGS[i];
    ic_err err = {{0}};
    const char *state = od->existed ? "unchanged" : "not created";
    if (stop_sig) {
        int arc = ic_outdir_abort(od, &err);
        cli_error(cmd, "interrupted: %s %s%s%s", od->out, state, arc ? "; " : "", arc ? err.msg : "");
        _exit(130);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (ic_outdir_commit(od, &err)) {
            cli_error(cmd, "%s", err.msg);
            _exit(CLI_FAIL);
        }
        _exit(CLI_OK);
    }
    int arc = ic_outdir_abort(od, &err);
    if (WIFSIGNALED(status)) {
        int s = WTERMSIG(status);
        cli_error(cmd, "ended by signal %d (%s): %s %s%s%s", s, strsignal(s), od->out, state, arc ? "; " : "",
                  arc ? err.msg : "");
        _exit(128 + s);
    }
    cli_error(cmd, "nothing written: %s %s%s%s", od->out, state, arc ? "; " : "", arc ? err.msg : "");
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : CLI_FAIL);
}

int cli_outdir_begin(const cli_command *cmd, ic_outdir *od, const char *out, const char *const *inputs, int n_inputs) {
    ic_err err = {{0}};
    if (ic_outdir_begin(od, out, inputs, n_inputs, &err)) {
        cli_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    /* block the signals until the parent waits for them, so none is lost in between */
    sigset_t block, old;
    sigemptyset(&block);
    for (int i = 0; i < 4; i++) sigaddset(&block, SIGS[i]);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    struct sigaction sa, prev[4];
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    stop_sig = 0;
    for (int i = 0; i < 4; i++) {
        sa.sa_handler = SIGS[i] == SIGCHLD ? on_child : on_stop;
        sigaction(SIGS[i], &sa, &prev[i]);
    }
    fflush(stdout);
    fflush(stderr);
    const pid_t parent = getpid();
    pid_t child = fork();
    if (child != 0) {
        if (child > 0) supervise(cmd, od, child, &block); /* does not return */
        int e = errno;
        for (int i = 0; i < 4; i++) sigaction(SIGS[i], &prev[i], NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        ic_outdir_abort(od, &err);
        cli_error(cmd, "cannot start the work: fork: %s (%s unchanged)", strerror(e), od->out);
        return CLI_FAIL;
    }
    /* the child: the command's own signal dispositions and mask */
    for (int i = 0; i < 4; i++) sigaction(SIGS[i], &prev[i], NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
#if defined(__linux__)
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* the parent killed outright: do not work on unseen */
    if (getppid() != parent) _exit(CLI_FAIL);
#else
    (void)parent;
#endif
    return 0;
}
