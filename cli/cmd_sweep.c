/* cmd_sweep.c: `iclab sweep` — the runs of a plan (src/sweep.h), each
 * training and analysis step a child process of this very binary, spread
 * over MPI ranks when started by mpirun/srun (cli/mpi.h).
 *
 * Children, not threads or in-process calls: a run that fails, crashes or
 * is killed by the OOM killer is reported and the others go on, and each
 * child is exactly the `iclab train`/`eval`/... a user would run (the same
 * output, locks, resume). They get ICLAB_MPI=0 (they are not ranks of the
 * job) and their own process group, so a Ctrl-C reaches the sweep alone,
 * which asks each running child once to stop (SIGTERM: a training saves its
 * checkpoint) and records the runs as pending. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "mpi.h"
#include "numout.h"
#include "sweep.h"
#include "train.h"

extern char **environ;

static const cli_opt OPTS[] = {
    {"plan", "FILE", NULL, "the sweep plan (JSON: configs, seeds, overrides, variants, steps; docs/distributed.md)"},
    {"out", "DIR", NULL, "sweep directory: one run directory per run, sweep.json, summary.csv (rerun to resume)"},
    {"jobs", "N", "1", "child processes at once on each rank"},
    {"seeds", "LIST", NULL, "seeds to run instead of the plan's, e.g. 1,2,3"},
    {"only", "LIST", NULL, "only these of the plan's configs, e.g. plain6,looped3x2"},
    {"list", NULL, NULL, "print each run's state and training command, then the steps, and exit"},
};

static volatile sig_atomic_t stop_requests;
static void on_stop(int sig) {
    (void)sig;
    stop_requests++;
}

typedef struct {
    int run;     /* index into the plan */
    int stage;   /* 0: train, 1..n_steps: step stage-1 */
    pid_t pid;   /* 0: slot free */
    double t0;
    char log[4096];
} slot;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* environ with ICLAB_MPI=0 (malloc'ed array; the strings are environ's) */
static char **child_environ(void) {
    int n = 0;
    while (environ[n]) n++;
    char **e = malloc(sizeof *e * (size_t)(n + 2));
    if (!e) return NULL;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "ICLAB_MPI=", 10) != 0) e[k++] = environ[i];
    e[k++] = "ICLAB_MPI=0";
    e[k] = NULL;
    return e;
}

/* the last non-empty line of a log file (the child's error) */
static void last_line(const char *path, char *buf, size_t len) {
    char *text = NULL;
    size_t n;
    ic_err ignored;
    buf[0] = 0;
    if (ic_read_file(path, &text, &n, (size_t)1 << 26, &ignored)) return;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) n--;
    size_t s = n;
    while (s > 0 && text[s - 1] != '\n' && text[s - 1] != '\r') s--;
    snprintf(buf, len, "%.*s", (int)(n - s), text + s);
    free(text);
}

/* Starts stage st of run i in a child; returns its pid (0 after filling
 * err when it cannot start). */
static pid_t spawn_stage(const char *out, const ic_plan *p, int i, int st, char **envp, char *log, size_t log_len,
                         ic_err *err) {
    const ic_plan_run *r = &p->runs[i];
    char run_dir[4096], model[4096], step_out[4096], threads[32], steps[32];
    if (ic_path_join(run_dir, sizeof run_dir, out, r->name, err) || ic_mkdirs(run_dir, err)) return 0;
    const char *stage_name = st == 0 ? "train" : p->steps[st - 1].command;
    char logname[128];
    snprintf(logname, sizeof logname, "%s.log", st == 0 ? "train" : p->steps[st - 1].out);
    if (ic_path_join(log, log_len, run_dir, logname, err)) return 0;
    snprintf(threads, sizeof threads, "%d", r->cfg->threads);
    snprintf(steps, sizeof steps, "%ld", r->cfg->train_steps);
    const int max = 16 + r->argc + (st ? p->steps[st - 1].argc : 0);
    char **argv = calloc((size_t)max, sizeof *argv);
    if (!argv) { ic_errf(err, "out of memory"); return 0; }
    int n = 0;
    argv[n++] = "iclab";
    argv[n++] = (char *)stage_name;
    if (st == 0 && ic_train_dir_has_run(run_dir)) {
        /* interrupted (or finished, then it trains nothing): resume with the keys that may change */
        argv[n++] = "--resume";
        argv[n++] = run_dir;
        argv[n++] = "--train_steps";
        argv[n++] = steps;
        argv[n++] = "--threads";
        argv[n++] = threads;
    } else if (st == 0) {
        argv[n++] = "--out";
        argv[n++] = run_dir;
        for (int k = 0; k < r->argc; k++) argv[n++] = r->argv[k];
    } else {
        if (ic_path_join(model, sizeof model, run_dir, "model.safetensors", err) ||
            ic_path_join(step_out, sizeof step_out, run_dir, p->steps[st - 1].out, err)) {
            free(argv);
            return 0;
        }
        argv[n++] = "--model";
        argv[n++] = model;
        argv[n++] = "--out";
        argv[n++] = step_out;
        argv[n++] = "--threads";
        argv[n++] = threads;
        for (int k = 0; k < p->steps[st - 1].argc; k++) argv[n++] = p->steps[st - 1].argv[k];
    }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&at);
    /* its own process group: a Ctrl-C reaches the sweep, which forwards one stop request */
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGHUP);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(argv);
    if (rc) {
        ic_errf(err, "cannot start iclab %s: %s", stage_name, strerror(rc));
        return 0;
    }
    return pid;
}

/* the first stage of run i still to do: 0 (train, always: a finished run
 * resumes to nothing), or a step whose output is missing */
static int next_stage(const char *out, const ic_plan *p, int i, int after) {
    for (int st = after + 1; st <= p->n_steps; st++) {
        char path[4096], run_dir[4096];
        ic_err ignored;
        if (ic_path_join(run_dir, sizeof run_dir, out, p->runs[i].name, &ignored) ||
            ic_path_join(path, sizeof path, run_dir, p->steps[st - 1].out, &ignored) || !ic_file_exists(path))
            return st;
    }
    return -1; /* all done */
}

static void print_table(const char *out, const ic_plan *p, const ic_plan_result *res) {
    int w = 4, counts[3] = {0, 0, 0};
    for (int i = 0; i < p->n_runs; i++) {
        int l = (int)strlen(p->runs[i].name);
        if (l > w) w = l;
        counts[res[i].status]++;
    }
    printf("sweep %s: %d runs: %d done, %d failed, %d pending\n", out, p->n_runs, counts[IC_PLAN_DONE],
           counts[IC_PLAN_FAILED], counts[IC_PLAN_PENDING]);
    printf("%-*s  %-7s  %8s  %10s  %10s  %8s  %s\n", w, "run", "status", "step", "loss", "excess", "wall_s", "error");
    for (int i = 0; i < p->n_runs; i++) {
        const double *m = res[i].metrics;
        printf("%-*s  %-7s  %8s  %10s  %10s  %8s  %s\n", w, p->runs[i].name, ic_plan_status_name(res[i].status),
               isfinite(m[0]) ? ic_csv_num(m[0], 10).s : "-", isfinite(m[1]) ? ic_csv_num(m[1], 5).s : "-",
               isfinite(m[2]) ? ic_csv_num(m[2], 5).s : "-", isfinite(m[3]) ? ic_csv_num(m[3], 4).s : "-",
               res[i].status == IC_PLAN_FAILED ? res[i].error : "");
    }
}

/* Every rank's results to rank 0 (rank r broadcasts its own, as JSON). */
static int gather_results(const ic_comm *cm, const ic_plan *p, ic_plan_result *res, ic_err *err) {
    for (int r = 1; r < cm->size; r++) {
        char *text = NULL;
        size_t len = 0;
        if (cm->rank == r) {
            /* "[i, result]\n" per run of this rank */
            size_t cap = 1024, used = 0;
            text = malloc(cap);
            for (int i = r; text && i < p->n_runs; i += cm->size) {
                char *j = ic_plan_result_to_json(&res[i]);
                size_t need = (j ? strlen(j) : 0) + 32;
                if (used + need >= cap) {
                    char *t2 = realloc(text, cap = 2 * (cap + need));
                    if (!t2) { free(text); text = NULL; free(j); break; }
                    text = t2;
                }
                used += (size_t)snprintf(text + used, cap - used, "%d %s\n", i, j ? j : "{}");
                free(j);
            }
            if (!text) return ic_errf(err, "out of memory");
            len = used;
        }
        if (ic_comm_bcast_bytes(cm, &text, &len, r, err)) { free(text); return -1; }
        if (cm->rank == 0) {
            for (char *line = text; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl) *nl = 0;
                int i = atoi(line);
                const char *sp = strchr(line, ' ');
                if (sp && i >= 0 && i < p->n_runs && ic_plan_result_from_json(sp + 1, &res[i], err)) {
                    free(text);
                    return -1;
                }
                line = nl ? nl + 1 : NULL;
            }
        }
        free(text);
    }
    return 0;
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_plan plan = {0};
    ic_plan_result *res = NULL;
    slot *slots = NULL;
    char **envp = NULL;
    ic_err err = {{0}};
    ic_dir_lock lock = {.fd = -1};
    const ic_comm *cm = NULL;
    int jobs, interrupted = 0, gathered = 0;
    if ((rc = cli_require(&a, "plan")) || (rc = cli_require(&a, "out")) ||
        (rc = cli_get_int(&a, "jobs", 1, 1024, 1, &jobs)))
        goto done;
    for (int i = 0; i < a.n_keys; i++)
        if (!strcmp(a.key_name[i], "config")) {
            cli_error(cmd, "--config: the plan names the configs; give run-config keys as --KEY VALUE");
            rc = CLI_USAGE;
            goto done;
        }
    const char *out = cli_get(&a, "out");
    ic_plan_opts opts = {.seeds = cli_get(&a, "seeds"), .only = cli_get(&a, "only"), .n_keys = a.n_keys,
                          .key_name = a.key_name, .key_val = a.key_val};
    if (ic_plan_load(cli_get(&a, "plan"), &opts, &plan, &err)) {
        cli_error(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto done;
    }
    if (cli_get(&a, "list")) {
        for (int i = 0; i < plan.n_runs; i++) {
            ic_plan_result r;
            ic_plan_run_state(out, &plan, i, &r);
            printf("%s  %s  iclab train --out %s/%s", plan.runs[i].name,
                   plan.runs[i].error ? "invalid" : ic_plan_status_name(r.status), out, plan.runs[i].name);
            for (int k = 0; k < plan.runs[i].argc; k++) printf(" %s", plan.runs[i].argv[k]);
            printf(plan.runs[i].error ? "\n    (%s)\n" : "\n", plan.runs[i].error);
        }
        for (int s = 0; s < plan.n_steps; s++) {
            printf("step %d: iclab %s --model <run>/model.safetensors --out <run>/%s", s + 1, plan.steps[s].command,
                   plan.steps[s].out);
            for (int k = 0; k < plan.steps[s].argc; k++) printf(" %s", plan.steps[s].argv[k]);
            printf("\n");
        }
        goto done;
    }
    cm = cli_comm_start(cmd->name);
    if (!cm) { rc = CLI_FAIL; goto done; }
    const int root = cm->rank == 0;
    res = calloc((size_t)plan.n_runs, sizeof *res);
    slots = calloc((size_t)jobs, sizeof *slots);
    envp = child_environ();
    if (!res || !slots || !envp) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    /* rank 0 takes the directory (one sweep per directory: the ranks of one
     * job share its lock) and writes the first sweep.json; the others start
     * only once it did, and end with it when it could not */
    int ready = 1;
    if (root) {
        ready = !ic_mkdirs(out, &err) && !ic_dir_lock_acquire(&lock, out, "sweep.lock", &err);
        for (int i = 0; ready && i < plan.n_runs; i++) ic_plan_run_state(out, &plan, i, &res[i]);
        if (ready) ready = !ic_plan_write_summary(out, &plan, res, &err);
        if (!ready) cli_error(cmd, "%s", err.msg);
    }
    if (cm->size > 1 && cm->bcast(cm, &ready, sizeof ready, 0, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    if (!ready) {
        if (!root) cli_error(cmd, "rank 0 could not start the sweep (its message says why)");
        gathered = 1; /* every rank ends here: nobody waits */
        rc = CLI_FAIL;
        goto done;
    }
    for (int i = 0; !root && i < plan.n_runs; i++) ic_plan_run_state(out, &plan, i, &res[i]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    /* this rank's runs: i % size == rank; the finished ones are skipped */
    int queue = cm->rank, running = 0, forwarded = 0, mine = 0, skipped = 0;
    for (int i = cm->rank; i < plan.n_runs; i += cm->size) {
        mine++;
        if (res[i].status == IC_PLAN_DONE) skipped++;
    }
    if (cm->size > 1)
        fprintf(stderr, "sweep %s, rank %d of %d: %d run%s here (%d already done), %d at once\n", out, cm->rank,
                cm->size, mine, mine == 1 ? "" : "s", skipped, jobs);
    else
        fprintf(stderr, "sweep %s: %d run%s (%d already done), %d at once\n", out, mine, mine == 1 ? "" : "s", skipped,
                jobs);
    for (;;) {
        if (stop_requests && !forwarded) {
            for (int s = 0; s < jobs; s++)
                if (slots[s].pid > 0) kill(slots[s].pid, SIGTERM);
            forwarded = 1;
            interrupted = 1;
        }
        if (stop_requests > 1) {
            for (int s = 0; s < jobs; s++)
                if (slots[s].pid > 0) kill(slots[s].pid, SIGKILL);
        }
        /* start runs while a slot is free */
        while (!stop_requests && running < jobs && queue < plan.n_runs) {
            const int i = queue;
            queue += cm->size;
            if (res[i].status == IC_PLAN_DONE) continue;
            if (plan.runs[i].error) {
                res[i].status = IC_PLAN_FAILED;
                snprintf(res[i].error, sizeof res[i].error, "%s", plan.runs[i].error);
                if (ic_plan_record(out, &plan, i, &res[i], &err)) fprintf(stderr, "iclab sweep: %s\n", err.msg);
                fprintf(stderr, "FAILED %s: %s\n", plan.runs[i].name, res[i].error);
                continue;
            }
            int s = 0;
            while (slots[s].pid) s++;
            slots[s] = (slot){.run = i, .stage = 0, .t0 = now_s()};
            slots[s].pid = spawn_stage(out, &plan, i, 0, envp, slots[s].log, sizeof slots[s].log, &err);
            if (!slots[s].pid) {
                res[i].status = IC_PLAN_FAILED;
                snprintf(res[i].error, sizeof res[i].error, "%s", err.msg);
                ic_plan_record(out, &plan, i, &res[i], &err);
                continue;
            }
            running++;
            fprintf(stderr, "start %s: train\n", plan.runs[i].name);
        }
        if (!running) break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        int s = 0;
        while (s < jobs && slots[s].pid != pid) s++;
        if (s == jobs) continue; /* not ours */
        slot *sl = &slots[s];
        const int i = sl->run;
        const char *what = sl->stage == 0 ? "train" : plan.steps[sl->stage - 1].command;
        const int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        const int stopped = stop_requests && (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 130));
        int next = ok && !stop_requests ? next_stage(out, &plan, i, sl->stage) : -1;
        if (ok && next > 0) {
            sl->stage = next;
            sl->pid = spawn_stage(out, &plan, i, next, envp, sl->log, sizeof sl->log, &err);
            if (sl->pid) {
                fprintf(stderr, "start %s: %s\n", plan.runs[i].name, plan.steps[next - 1].command);
                continue;
            }
            res[i].status = IC_PLAN_FAILED;
            snprintf(res[i].error, sizeof res[i].error, "%s", err.msg);
        } else if (ok && !stop_requests) {
            res[i].status = IC_PLAN_DONE;
        } else if (ok || stopped) {
            res[i].status = IC_PLAN_PENDING; /* interrupted: resumes on the next sweep */
        } else {
            char line[400];
            last_line(sl->log, line, sizeof line);
            res[i].status = IC_PLAN_FAILED;
            if (WIFSIGNALED(status))
                snprintf(res[i].error, sizeof res[i].error, "%s killed by signal %d (%s)", what,
                         WTERMSIG(status), strsignal(WTERMSIG(status)));
            else
                snprintf(res[i].error, sizeof res[i].error, "%s exited with code %d: %s", what, WEXITSTATUS(status),
                         line[0] ? line : "(no output)");
        }
        if (res[i].status != IC_PLAN_PENDING && ic_plan_record(out, &plan, i, &res[i], &err))
            fprintf(stderr, "iclab sweep: %s\n", err.msg);
        if (res[i].status == IC_PLAN_DONE)
            fprintf(stderr, "done %s (%.1f s)\n", plan.runs[i].name, now_s() - sl->t0);
        else if (res[i].status == IC_PLAN_FAILED)
            fprintf(stderr, "FAILED %s: %s\n", plan.runs[i].name, res[i].error);
        else
            fprintf(stderr, "interrupted %s (resumes on the next sweep)\n", plan.runs[i].name);
        sl->pid = 0;
        running--;
    }
    /* every rank's results to rank 0, which writes the summary */
    if (cm->size > 1) {
        double stopped = interrupted;
        if (cm->allreduce_f64(cm, &stopped, 1, &err) || gather_results(cm, &plan, res, &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
        interrupted = stopped > 0;
    }
    gathered = 1;
    if (root) {
        /* the metrics of runs done elsewhere or earlier as they are on disk now */
        for (int i = 0; i < plan.n_runs; i++)
            if (res[i].status == IC_PLAN_DONE && !isfinite(res[i].metrics[0])) ic_plan_run_state(out, &plan, i, &res[i]);
        if (ic_plan_write_summary(out, &plan, res, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
        print_table(out, &plan, res);
        int failed = 0;
        for (int i = 0; i < plan.n_runs; i++) failed += res[i].status == IC_PLAN_FAILED;
        rc = interrupted ? 130 : failed ? CLI_FAIL : CLI_OK;
        if (interrupted) fprintf(stderr, "iclab sweep: interrupted; run it again to resume\n");
    } else {
        rc = interrupted ? 130 : CLI_OK;
    }
done:
    ic_dir_lock_release(&lock);
    /* a rank that fails before the results are gathered would leave the others waiting there: end them all */
    if (cm && cm->size > 1 && !gathered && rc != CLI_OK && cm->abort) cm->abort(cm, rc);
    cli_comm_finish();
    free(envp);
    free(slots);
    free(res);
    ic_plan_free(&plan);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_sweep = {
    "sweep",
    "run a plan of training runs (configs x seeds x overrides, then eval/loops/surgery/probe) as child processes, "
    "over MPI ranks under mpirun; resumable",
    "iclab sweep --plan PLAN --out DIR [--jobs N] [--seeds 1,2,3] [--only A,B] [--KEY VALUE ...]",
    "Expands the plan (docs/distributed.md, 'Sweeps') into runs CONFIG[/VARIANT]/seedS, each trained\n"
    "in DIR/<run> by a child `iclab train` (its log in DIR/<run>/train.log), then each step of the\n"
    "plan by a child `iclab eval|loops|surgery|probe --model DIR/<run>/model.safetensors --out\n"
    "DIR/<run>/<out>`. A run that fails is reported and the others go on. Run again to resume:\n"
    "finished runs are skipped, interrupted ones resume (train --resume), failed ones are retried.\n"
    "Under `mpirun -np N` run i goes to rank i mod N. --KEY VALUE (run-config keys, e.g.\n"
    "--train_steps 1000 --threads 1) apply to every run after the plan's. Writes DIR/sweep.json\n"
    "(the plan, each run's name, dir, status, error, final metrics) and DIR/summary.csv, and\n"
    "prints a table. Ctrl-C asks each running child to stop (training saves a checkpoint).\n"
    "Exit code: 0 all done, 1 a run failed, 130 interrupted.\n"
    "Example: iclab sweep --plan experiments/looped/plan.json --out runs/looped --jobs 2",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    1,
    run,
};
