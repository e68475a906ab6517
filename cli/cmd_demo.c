/* cmd_demo.c: `iclab demo` — the default experiment in a few minutes on 2
 * cores, in three parts that each reproduce one result on d = 5 linear
 * regression (docs/experiments/):
 *   1. a transformer learns in context: the error at k = 2d of the model
 *      chosen on held-out prompts, next to least squares and the zero
 *      estimator (iclab eval);
 *   2. looping: 3 blocks applied twice against 6 independent blocks, trained
 *      for the same steps at several seeds, compared on the same prompts per
 *      seed (iclab compare) and pooled over the seeds (src/page.c);
 *   3. layer surgery on the model of part 1: skip, duplicate, shuffle and
 *      loop variants against the original (iclab surgery).
 * The model of parts 1 and 3 is the one of all trained runs with the lowest
 * error at k = 2d on validation prompts (iclab compare with another prompt
 * seed than the test prompts of the parts), so its choice does not look at
 * the prompts it is reported on.
 * Training runs here (ic_train_run: resumable); the analyses run as iclab
 * child processes, so each part is exactly the command the summary prints,
 * with its own files and page. A part done before (same command, same
 * models) is not run again; an interrupted training resumes. The findings come from
 * the parts' files through src/page.h, the same lines runs/demo/report.html
 * states. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "page.h"
#include "progress.h"
#include "train.h"

#define DEFAULT_SEEDS "1"
static const cli_opt OPTS[] = {
    {"out", "DIR", "runs/demo", "demo directory (an interrupted demo resumes from here)"},
    {"prompts", "N", "1280", "evaluation prompts of every part"},
    {"seeds", "LIST", DEFAULT_SEEDS, "training seeds of each model (model init and data); part 2 pools over them"},
    {"jobs", "N", "2", "trainings at once, one thread each"},
};
#define MAX_SEEDS 16
#define MAX_RUNS (2 * MAX_SEEDS)
/* the validation prompts that choose the model of parts 1 and 3: another
 * seed than the parts' test prompts (4242) */
#define SELECT_SEED "1717"

/* The recipe both models train with (chosen by measurement: docs/demo.md);
 * any run-config key may override it except the architecture keys below. */
static const char *const DEMO_KEYS[][2] = {
    {"task", "linear_regression"}, {"n_dims", "5"},          {"n_positions", "11"},     {"n_points", "11"},
    {"n_embd", "64"},              {"n_head", "4"},          {"batch_size", "64"},      {"learning_rate", "1e-3"},
    {"lr_schedule", "cosine"},     {"warmup_steps", "500"},  {"min_lr_ratio", "0.05"},  {"train_steps", "5000"},
    {"log_every", "50"},           {"save_every", "500"},
};
/* What tells the runs apart; the demo sets these itself (seed: --seeds). */
static const char *const ARCH_KEYS[] = {"n_layer", "loops", "loss_loops", "grad_loops", "schedule", "seed", NULL};

typedef struct {
    const char *name, *n_layer, *loops, *what;
} demo_model;
static const demo_model MODELS[2] = {
    {"plain6", "6", "1", "6 independent blocks"},
    {"looped3x2", "3", "2", "3 blocks applied twice"},
};
#define TARGET 0.05

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs this iclab binary with argv (argv[0] = the command name), its
 * standard output appended to log; returns its exit status (128 + signal). */
static int run_iclab(const cli_command *cmd, char *const argv[], const char *log) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) { cli_error(cmd, "cannot find the iclab binary (/proc/self/exe)"); return CLI_FAIL; }
    self[n] = 0;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) { cli_error(cmd, "fork: %s", strerror(errno)); return CLI_FAIL; }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) dup2(fd, 1);
        char *args[40];
        int i = 0;
        args[i++] = "iclab";
        for (int j = 0; argv[j] && i < 39; j++) args[i++] = argv[j];
        args[i] = NULL;
        execv(self, args);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) { cli_error(cmd, "waitpid: %s", strerror(errno)); return CLI_FAIL; }
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* Appends "iclab a b c" to the list of commands (shell-quoted where needed). */
static void add_command(json_t *cmds, char *const argv[]) {
    char line[2048] = "iclab";
    for (int i = 0; argv[i]; i++) {
        size_t u = strlen(line);
        int quote = strpbrk(argv[i], " ,;()*'\"") != NULL;
        snprintf(line + u, sizeof line - u, quote ? " '%s'" : " %s", argv[i]);
    }
    json_array_append_new(cmds, json_string(line));
}

/* A part is done when its directory holds the stamp the demo wrote after
 * it succeeded, naming the same command on the same models (their steps). */
static int part_stamp(char *buf, size_t len, json_t *cmds, const long *steps, int n) {
    const char *line = json_string_value(json_array_get(cmds, json_array_size(cmds) - 1));
    int u = snprintf(buf, len, "%s\nsteps", line ? line : "");
    for (int i = 0; i < n && u > 0 && (size_t)u < len; i++) u += snprintf(buf + u, len - (size_t)u, " %ld", steps[i]);
    if (u > 0 && (size_t)u < len) u += snprintf(buf + u, len - (size_t)u, "\n");
    return u > 0 && (size_t)u < len ? 0 : -1;
}

static int part_done(const char *stamp_path, const char *stamp) {
    char *old = NULL;
    size_t n;
    ic_err ignored;
    int same = ic_read_file(stamp_path, &old, &n, 1 << 16, &ignored) == 0 && strcmp(old, stamp) == 0;
    free(old);
    return same;
}

/* ---- training the runs, a few at a time ----
 * Each run trains in a child process on one core (threads = 1: its numbers
 * are the same on any machine, and single-threaded runs keep going on a busy
 * machine where two threads of one run would wait for each other), at most
 * `jobs` at once. The children report through a shared page; the parent
 * draws one progress line for all and waits. The children have their own
 * process group: the parent passes a stop request (Ctrl-C, SIGTERM) on to
 * each running one once, and each saves its state and exits 130; runs not
 * started yet are not started. */
typedef struct {
    ic_progress p;        /* the child's last step */
    volatile int running; /* 1 from the first step until it returns */
    int status;           /* exit: 0 done, 1 failed (msg), 130 stopped, -1 not run */
    int resumed;
    int finished; /* reaped by the parent */
    ic_train_result res;
    char msg[512];
} train_slot;

static void slot_progress(void *ctx, const ic_progress *p) {
    train_slot *s = ctx;
    s->p = *p;
    s->running = 1;
}

static void slot_message(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, isatty(2) ? "\r\033[K%s\n" : "%s\n", line);
}

typedef struct {
    char name[64]; /* plain6/seed1 */
    char dir[4096];
    char model[4096]; /* dir/model.safetensors */
    int m, seed;      /* index into MODELS, its seed */
} demo_run;

/* One line for all runs: those running with their step and loss, how many
 * are done, the steps per second of all and the time left at that rate. */
static void draw_all(const train_slot *s, const demo_run *runs, int n, int tty, double *last_plain) {
    char line[1024];
    int u = 0, done = 0;
    double rate = 0, left = 0;
    for (int i = 0; i < n; i++) {
        const long total = s[i].p.total > 0 ? s[i].p.total : 0;
        if (s[i].finished) { done++; continue; }
        if (!s[i].running) continue;
        left += (double)(total - s[i].p.step);
        rate += s[i].p.steps_per_s;
        if (u < (int)sizeof line - 100)
            u += snprintf(line + u, sizeof line - (size_t)u, "%s %ld/%ld loss %.4g  |  ", runs[i].name, s[i].p.step, total,
                          s[i].p.loss);
    }
    /* the runs not started yet: as many steps as the first one */
    for (int i = 0; i < n; i++)
        if (s[i].status == -1) left += (double)(s[0].p.total > 0 ? s[0].p.total : 0);
    snprintf(line + u, sizeof line - (size_t)u, "%d/%d runs done  |  %.0f steps/s  ETA %.0f s", done, n, rate,
             rate > 0 ? left / rate : 0.0);
    if (tty) fprintf(stderr, "\r\033[K%s", line);
    else if (now_s() - *last_plain >= 15) {
        fprintf(stderr, "%s\n", line);
        *last_plain = now_s();
    }
    fflush(stderr);
}

/* Starts run i in a child; its pid, or -1 (errno). */
static pid_t start_run(train_slot *slots, int i, ic_run_config *cfg, const demo_run *run, volatile sig_atomic_t *stop) {
    slots[i].resumed = ic_train_dir_has_run(run->dir);
    slots[i].status = 0;
    pid_t pid = fork();
    if (pid != 0) return pid;
    train_slot *ts = &slots[i];
    /* the parent forwards one stop request (a terminal's Ctrl-C would
     * otherwise reach the child twice: the second ends it unsaved), and a
     * parent that dies asks the child to stop too */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGINT);
    if (getppid() == 1) _exit(130);
    cfg->threads = 1;
    cli_set_threads(1);
    ic_train_hooks hooks = {.progress = slot_progress, .message = slot_message, .ctx = ts, .stop = stop};
    ic_err err = {{0}};
    int r = ic_train_run(run->dir, cfg, ts->resumed, &hooks, &ts->res, &err);
    if (r) snprintf(ts->msg, sizeof ts->msg, "%s", err.msg);
    ts->status = r ? 1 : ts->res.outcome == IC_TRAIN_STOPPED ? 130 : 0;
    ts->running = 0;
    fflush(stdout);
    fflush(stderr);
    _exit(ts->status == 130 ? 130 : r ? 1 : 0);
}

/* Trains the n runs, `jobs` at a time, in order; returns their slots
 * (munmap n of them) with each child's outcome (-1: not started, after a
 * stop request), or NULL (errno) if none could be started. */
static train_slot *train_all(ic_run_config *cfg, const demo_run *runs, int n, int jobs) {
    train_slot *slots = mmap(NULL, (size_t)n * sizeof *slots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED) return NULL;
    memset(slots, 0, (size_t)n * sizeof *slots);
    for (int i = 0; i < n; i++) slots[i].status = -1;
    volatile sig_atomic_t *stop = cli_install_stop_handler();
    pid_t pid[MAX_RUNS];
    for (int i = 0; i < n; i++) pid[i] = -1;
    const int tty = isatty(2);
    double last_plain = 0;
    int next = 0, running = 0, forwarded = 0;
    while (running > 0 || (next < n && !*stop)) {
        while (running < jobs && next < n && !*stop) {
            fflush(stdout);
            fflush(stderr);
            pid[next] = start_run(slots, next, &cfg[next], &runs[next], stop);
            if (pid[next] < 0) {
                int e = errno;
                for (int i = 0; i < next; i++)
                    if (pid[i] > 0) { kill(pid[i], SIGINT); waitpid(pid[i], NULL, 0); }
                munmap(slots, (size_t)n * sizeof *slots);
                errno = e;
                return NULL;
            }
            next++;
            running++;
        }
        if (*stop && !forwarded) {
            for (int i = 0; i < n; i++)
                if (pid[i] > 0) kill(pid[i], SIGINT);
            forwarded = 1;
        }
        for (int i = 0; i < n; i++) {
            int st;
            if (pid[i] > 0 && waitpid(pid[i], &st, WNOHANG) == pid[i]) {
                pid[i] = -1;
                running--;
                slots[i].running = 0;
                slots[i].finished = 1;
                /* a child killed before it recorded an outcome */
                if (WIFSIGNALED(st)) slots[i].status = 128 + WTERMSIG(st);
                else if (WEXITSTATUS(st) != slots[i].status) slots[i].status = WEXITSTATUS(st) ? WEXITSTATUS(st) : slots[i].status;
            }
        }
        draw_all(slots, runs, n, tty, &last_plain);
        if (running > 0) usleep(200000);
    }
    if (tty) fprintf(stderr, "\n");
    return slots;
}

/* "iclab train ..." for a run: the recipe, the flags given, the architecture, the seed. */
static int add_train_command(json_t *cmds, const demo_run *run, const cli_args *a) {
    const demo_model *md = &MODELS[run->m];
    const size_t nk = sizeof DEMO_KEYS / sizeof *DEMO_KEYS;
    char **targv = malloc(sizeof *targv * (2 * nk + 2 * (size_t)a->n_keys + 14));
    char(*opt)[64] = malloc(sizeof *opt * (nk + (size_t)a->n_keys));
    if (!targv || !opt) { free(targv); free(opt); return -1; }
    int t = 0;
    targv[t++] = "train";
    targv[t++] = "--out";
    targv[t++] = (char *)run->dir;
    for (size_t i = 0; i < nk + (size_t)a->n_keys; i++) {
        const char *k = i < nk ? DEMO_KEYS[i][0] : a->key_name[i - nk], *v = i < nk ? DEMO_KEYS[i][1] : a->key_val[i - nk];
        snprintf(opt[i], sizeof opt[i], "--%s", k);
        targv[t++] = opt[i];
        targv[t++] = (char *)v;
    }
    char seed[24];
    snprintf(seed, sizeof seed, "%d", run->seed);
    char *arch[] = {"--n_layer", (char *)md->n_layer, "--loops", (char *)md->loops, "--grad_loops", (char *)md->loops,
                    "--seed", seed, "--threads", "1"};
    for (size_t i = 0; i < sizeof arch / sizeof *arch; i++) targv[t++] = arch[i];
    targv[t] = NULL;
    add_command(cmds, targv);
    free(targv);
    free(opt);
    return 0;
}

static void print_wrapped(const char *text, int width) {
    const char *p = text;
    int first = 1;
    while (*p) {
        int avail = width - (first ? 2 : 5);
        int len = (int)strlen(p);
        int cut = len;
        if (len > avail) {
            cut = avail;
            while (cut > 0 && p[cut] != ' ') cut--;
            if (cut == 0) cut = avail;
        }
        printf("%s%.*s\n", first ? "- " : "     ", cut, p);
        p += cut;
        while (*p == ' ') p++;
        first = 0;
    }
}

/* Runs one analysis part (argv, an iclab command) into part_dir unless its
 * stamp says it was done with the same command on the same models; its
 * output appended to log, its wall time into wall[key]. */
static int run_part(const cli_command *cmd, json_t *cmds, char **argv, const char *part_dir, const char *log,
                    const long *steps, int n, json_t *wall, const char *key) {
    ic_err err = {{0}};
    char stamp[8192], stamp_path[4096];
    add_command(cmds, argv);
    if (ic_path_join(stamp_path, sizeof stamp_path, part_dir, "demo_stamp.txt", &err) ||
        part_stamp(stamp, sizeof stamp, cmds, steps, n)) {
        cli_error(cmd, "%s", err.msg[0] ? err.msg : "path too long");
        return CLI_FAIL;
    }
    if (part_done(stamp_path, stamp)) {
        printf("[%s] already done: %s\n", key, part_dir);
        return CLI_OK;
    }
    printf("[%s] %s (its table: %s)\n", key, part_dir, log);
    const double t0 = now_s();
    unlink(log);
    int r = run_iclab(cmd, argv, log);
    if (r != 0) {
        if (r != 130) cli_error(cmd, "the %s part failed (exit %d); its output: %s", key, r, log);
        return r;
    }
    json_object_set_new(wall, key, json_real(round((now_s() - t0) * 10) / 10));
    if (ic_write_file_atomic(stamp_path, stamp, strlen(stamp), &err)) { cli_error(cmd, "%s", err.msg); return CLI_FAIL; }
    return CLI_OK;
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    const double t_start = now_s();
    int seeds[MAX_SEEDS], ns = 0, jobs = 2, n_prompts;
    ic_run_config *cfg = malloc(MAX_RUNS * sizeof *cfg);
    demo_run *runs = calloc(MAX_RUNS, sizeof *runs);
    json_t *demo = json_object(), *cmds = json_array(), *wall = json_object();
    ic_err err = {{0}};
    const char *dir = cli_get(&a, "out") ? cli_get(&a, "out") : "runs/demo";
    char loadavg[64] = "";
    if (!cfg || !runs || !demo || !cmds || !wall) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if ((rc = cli_get_int(&a, "prompts", 10, 1000000, 1280, &n_prompts))) goto done;
    if ((rc = cli_get_int(&a, "jobs", 1, 64, 2, &jobs))) goto done;
    if ((rc = cli_int_list(cmd, "seeds", cli_get(&a, "seeds") ? cli_get(&a, "seeds") : DEFAULT_SEEDS, 0, 1000000000, 0, seeds,
                           MAX_SEEDS, &ns)))
        goto done;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < i; j++)
            if (seeds[i] == seeds[j]) {
                cli_error(cmd, "--seeds '%s': seed %d appears twice", cli_get(&a, "seeds"), seeds[i]);
                rc = CLI_USAGE;
                goto done;
            }
    for (int i = 0; i < a.n_keys; i++)
        for (int j = 0; ARCH_KEYS[j]; j++)
            if (strcmp(a.key_name[i], ARCH_KEYS[j]) == 0) {
                if (strcmp(ARCH_KEYS[j], "seed") == 0)
                    cli_error(cmd, "option '--seed': the demo trains every model at each of --seeds (e.g. --seeds 1,2,3)");
                else
                    cli_error(cmd, "option '--%s': the demo's two architectures are fixed (6 blocks; 3 blocks x 2 loops); "
                              "train others with iclab train", a.key_name[i]);
                rc = CLI_USAGE;
                goto done;
            }
    /* the runs: both models at each seed, in seed order, so that the two
     * models of a seed train at the same time */
    const int n = 2 * ns;
    for (int r = 0; r < n; r++) {
        demo_run *run = &runs[r];
        run->m = r % 2;
        run->seed = seeds[r / 2];
        snprintf(run->name, sizeof run->name, "%s/seed%d", MODELS[run->m].name, run->seed);
        if (ic_path_join(run->dir, sizeof run->dir, dir, run->name, &err) ||
            ic_path_join(run->model, sizeof run->model, run->dir, "model.safetensors", &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
        ic_run_config *c = &cfg[r];
        ic_run_config_default(c);
        for (size_t i = 0; i < sizeof DEMO_KEYS / sizeof *DEMO_KEYS; i++)
            if (ic_run_config_set(c, DEMO_KEYS[i][0], DEMO_KEYS[i][1], &err)) {
                cli_error(cmd, "internal demo config: %s", err.msg);
                rc = CLI_FAIL;
                goto done;
            }
        for (int i = 0; i < a.n_keys; i++) {
            int bad = strcmp(a.key_name[i], "config") == 0 ? ic_run_config_load_file(c, a.key_val[i], &err)
                                                           : ic_run_config_set(c, a.key_name[i], a.key_val[i], &err);
            if (bad) { cli_error(cmd, "option '--%s': %s", a.key_name[i], err.msg); rc = CLI_USAGE; goto done; }
        }
        char seed[24];
        snprintf(seed, sizeof seed, "%d", run->seed);
        if (ic_run_config_set(c, "n_layer", MODELS[run->m].n_layer, &err) ||
            ic_run_config_set(c, "loops", MODELS[run->m].loops, &err) ||
            ic_run_config_set(c, "grad_loops", MODELS[run->m].loops, &err) || ic_run_config_set(c, "seed", seed, &err) ||
            ic_run_config_validate(c, &err)) {
            cli_error(cmd, "invalid config: %s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
    }
    {
        cli_path ins[CLI_MAX_OPTS];
        if ((rc = cli_check_overwrite(cmd, ins, cli_config_inputs(&a, ins, CLI_MAX_OPTS), NULL, 0, NULL, NULL))) goto done;
    }
    if (ic_mkdirs(dir, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    {
        FILE *f = fopen("/proc/loadavg", "r");
        if (f) {
            if (fgets(loadavg, sizeof loadavg, f)) loadavg[strcspn(loadavg, "\n")] = 0;
            fclose(f);
        }
    }
    cli_set_threads(cfg[0].threads); /* the analyses; each training child uses one thread */
    const int d = cfg[0].model.n_dims;
    char seed_list[256] = "";
    for (int i = 0, u = 0; i < ns && u < (int)sizeof seed_list - 16; i++)
        u += snprintf(seed_list + u, sizeof seed_list - (size_t)u, "%s%d", i ? "," : "", seeds[i]);
    printf("iclab demo: in-context linear regression, d = %d, %d points per prompt; two transformers (e = %d, %d heads) "
           "at %d seed%s each (%s), %ld training steps per run, %d runs at a time; then evaluation, comparison and layer "
           "surgery on %d fresh prompts.\nOutput: %s (Ctrl-C stops; running the demo again resumes)\n\n",
           d, cfg[0].n_points, cfg[0].model.n_embd, cfg[0].model.n_head, ns, ns == 1 ? "" : "s", seed_list, cfg[0].train_steps, jobs,
           n_prompts, dir);

    /* 1-2: train every run (or resume it; a finished one trains nothing) */
    long steps[MAX_RUNS] = {0};
    for (int m = 0; m < 2; m++) printf("[train %s] %s: %s/%s/seedS\n", MODELS[m].name, MODELS[m].what, dir, MODELS[m].name);
    for (int r = 0; r < n; r++)
        if (add_train_command(cmds, &runs[r], &a)) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    fflush(stdout);
    {
        const double t0 = now_s();
        train_slot *slots = train_all(cfg, runs, n, jobs);
        if (!slots) { cli_error(cmd, "cannot start the training processes: %s", strerror(errno)); rc = CLI_FAIL; goto done; }
        int stopped = 0, failed = 0;
        for (int r = 0; r < n; r++) {
            train_slot *ts = &slots[r];
            if (ts->status == 1) {
                failed = 1;
                cli_error(cmd, "%s: %s%s", runs[r].name, ts->msg,
                          ts->resumed ? " (an earlier demo with another config? use --out OTHER_DIR)" : "");
            } else if (ts->status == 130 || ts->status == -1) {
                stopped = 1;
            } else if (ts->status != 0) {
                failed = 1;
                cli_error(cmd, "%s: the training process ended with status %d", runs[r].name, ts->status);
            } else {
                steps[r] = ts->res.step;
                if (ts->res.step == ts->res.start_step) printf("  %s: already trained: %ld steps\n", runs[r].name, ts->res.step);
                else printf("  %s: trained %ld steps in %.1f s (last training loss %.4g)\n", runs[r].name,
                            ts->res.step - ts->res.start_step, ts->res.wall_s, ts->res.final_loss);
            }
        }
        munmap(slots, (size_t)n * sizeof *slots);
        if (failed) { rc = CLI_FAIL; goto done; }
        if (stopped) { rc = 130; goto done; }
        json_object_set_new(wall, "train", json_real(round((now_s() - t0) * 10) / 10));
    }

    /* the analyses, as iclab commands */
    char prompts[32], path[4096], log[4096];
    snprintf(prompts, sizeof prompts, "%d", n_prompts);
    json_t *parts = json_object(), *compares = json_array();
    json_object_set_new(demo, "parts", parts);
    for (int r = 0; r < n; r++) json_object_set_new(parts, runs[r].name, json_string(runs[r].name));
    /* choose the model of parts 1 and 3 on validation prompts */
    int best = -1;
    {
        const size_t models_len = MAX_RUNS * 4100;
        char *models = malloc(models_len), labels[MAX_RUNS * 70];
        if (!models) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
        size_t um = 0, ul = 0;
        for (int r = 0; r < n; r++) {
            um += (size_t)snprintf(models + um, models_len - um, "%s%s", r ? "," : "", runs[r].model);
            ul += (size_t)snprintf(labels + ul, sizeof labels - ul, "%s%s", r ? "," : "", runs[r].name);
        }
        char part_dir[4096];
        char *argv_sel[] = {"compare", "--models", models, "--labels", labels, "--out", part_dir, "--prompts", prompts,
                            "--seed", SELECT_SEED, NULL};
        if (ic_path_join(part_dir, sizeof part_dir, dir, "select", &err) || ic_path_join(log, sizeof log, dir, "select.log", &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
        } else {
            rc = run_part(cmd, cmds, argv_sel, part_dir, log, steps, n, wall, "select");
        }
        free(models);
        if (rc) goto done;
        double e;
        if (ic_page_compare_best(part_dir, 2 * d, &best, &e, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
        json_object_set_new(parts, "select", json_string("select"));
        printf("  chosen for parts 1 and 3: %s (error %.3g at k = %d on the validation prompts)\n", runs[best].name, e, 2 * d);
    }
    {
        char part_dir[4096];
        char *argv_eval[] = {"eval", "--model", runs[best].model, "--out", part_dir, "--baselines", "least_squares,zero",
                             "--prompts", prompts, "--seed", "4242", NULL};
        if (ic_path_join(part_dir, sizeof part_dir, dir, "eval", &err) || ic_path_join(log, sizeof log, dir, "eval.log", &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
        if ((rc = run_part(cmd, cmds, argv_eval, part_dir, log, steps, n, wall, "eval"))) goto done;
        json_object_set_new(parts, "eval", json_string("eval"));
    }
    for (int i = 0; i < ns; i++) {
        char both[8200], labels[128], rel[64], part_dir[4096], key[64];
        snprintf(both, sizeof both, "%s,%s", runs[2 * i].model, runs[2 * i + 1].model);
        snprintf(labels, sizeof labels, "%s,%s", MODELS[0].name, MODELS[1].name);
        snprintf(rel, sizeof rel, "compare/seed%d", seeds[i]);
        snprintf(key, sizeof key, "compare seed %d", seeds[i]);
        char *argv_cmp[] = {"compare", "--models", both, "--labels", labels, "--out", part_dir, "--prompts", prompts,
                            "--seed", "4242", NULL};
        char logname[64];
        snprintf(logname, sizeof logname, "compare_seed%d.log", seeds[i]);
        if (ic_path_join(part_dir, sizeof part_dir, dir, rel, &err) || ic_path_join(log, sizeof log, dir, logname, &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
        if ((rc = run_part(cmd, cmds, argv_cmp, part_dir, log, steps, n, wall, key))) goto done;
        json_object_set_new(parts, rel, json_string(rel));
        json_t *c = json_object();
        json_object_set_new(c, "seed", json_integer(seeds[i]));
        json_object_set_new(c, "dir", json_string(rel));
        json_array_append_new(compares, c);
    }
    {
        /* the shuffles permute every block of the chosen model's body */
        char part_dir[4096], span[32];
        snprintf(span, sizeof span, "0-%d", cfg[best].model.n_layer - 1);
        char *argv_sur[] = {"surgery", "--model", runs[best].model, "--out", part_dir, "--sweep",
                            "skip-each,duplicate-each,shuffle,loops", "--span", span, "--shuffles", "6",
                            "--prompts", prompts, NULL};
        if (ic_path_join(part_dir, sizeof part_dir, dir, "surgery", &err) || ic_path_join(log, sizeof log, dir, "surgery.log", &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
        if ((rc = run_part(cmd, cmds, argv_sur, part_dir, log, steps, n, wall, "surgery"))) goto done;
        json_object_set_new(parts, "surgery", json_string("surgery"));
    }

    /* the demo's record, its pages and the summary */
    char label[96], selection[256];
    snprintf(label, sizeof label, "%s seed %d", MODELS[runs[best].m].name, runs[best].seed);
    snprintf(selection, sizeof selection,
             "chosen as the lowest error at k = %d of the %d trained runs on %d validation prompts, not the test prompts "
             "reported here", 2 * d, n, n_prompts);
    json_object_set_new(demo, "n_dims", json_integer(d));
    json_object_set_new(demo, "n_points", json_integer(cfg[0].n_points));
    json_object_set_new(demo, "n_embd", json_integer(cfg[0].model.n_embd));
    json_object_set_new(demo, "n_head", json_integer(cfg[0].model.n_head));
    json_object_set_new(demo, "batch_size", json_integer(cfg[0].batch_size));
    json_object_set_new(demo, "learning_rate", json_real(cfg[0].learning_rate));
    json_object_set_new(demo, "train_steps", json_integer(cfg[0].train_steps));
    json_t *js = json_array();
    for (int i = 0; i < ns; i++) json_array_append_new(js, json_integer(seeds[i]));
    json_object_set_new(demo, "seeds", js);
    json_object_set_new(demo, "prompts", json_integer(n_prompts));
    json_object_set_new(demo, "target", json_real(TARGET));
    json_object_set_new(demo, "model", json_string(runs[best].name));
    json_object_set_new(demo, "model_label", json_string(label));
    json_object_set_new(demo, "selection", json_string(selection));
    json_object_set_new(demo, "plain", json_string(MODELS[0].name));
    json_object_set_new(demo, "looped", json_string(MODELS[1].name));
    json_object_set_new(demo, "compares", compares);
    json_object_set_new(demo, "loadavg_at_start", json_string(loadavg));
    json_object_set_new(wall, "total", json_real(round((now_s() - t_start) * 10) / 10));
    json_object_set_new(demo, "wall_s_this_call", json_incref(wall));
    json_object_set_new(demo, "commands", json_incref(cmds));
    {
        char *text = json_dumps(demo, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        int bad = !text || ic_path_join(path, sizeof path, dir, "demo.json", &err) ||
                  ic_write_file_atomic(path, text, strlen(text), &err);
        free(text);
        if (bad) { cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory"); rc = CLI_FAIL; goto done; }
    }
    {
        const char *k;
        json_t *v;
        json_object_foreach(parts, k, v) {
            if (ic_path_join(path, sizeof path, dir, json_string_value(v), &err) || ic_page_write(path, 0, &err)) {
                cli_error(cmd, "%s", err.msg);
                rc = CLI_FAIL;
                goto done;
            }
        }
    }
    if (ic_page_write(dir, 0, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    char **lines = NULL;
    int nl = 0;
    if (ic_page_demo_findings(dir, &lines, &nl, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    printf("\n== What the demo found (d = %d linear regression, %d fresh prompts, 90%% intervals) ==\n", d, n_prompts);
    for (int i = 0; i < nl; i++) print_wrapped(lines[i], 100);
    ic_page_lines_free(lines, nl);
    printf("\nEverything, with figures and the numbers behind each line: %s/report.html\n", dir);
    printf("(this call: %.0f s; load average at its start: %s)\n", now_s() - t_start, loadavg);
    rc = CLI_OK;
done:
    json_decref(demo);
    json_decref(cmds);
    json_decref(wall);
    free(cfg);
    free(runs);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_demo = {
    "demo",
    "the default experiment: in-context learning, looped vs plain over seeds, layer surgery (a few minutes on 2 cores)",
    "iclab demo [--out DIR] [--prompts N] [--seeds LIST] [--jobs N] [--KEY VALUE ...]",
    "Trains two small transformers on in-context linear regression (d = 5, 11 points per\n"
    "prompt), 6 independent blocks and 3 blocks applied twice, for the same steps at each\n"
    "of --seeds, --jobs runs at a time on one thread each. The model of parts 1 and 3 is the\n"
    "run with the lowest error at k = 2d on validation prompts (not the test prompts of the\n"
    "parts). Then (1) its error as the prompt grows, next to least squares and the zero\n"
    "estimator (iclab eval); (2) the looped model against the 6-block one on the same prompts,\n"
    "per seed with the paired ratio and its 90% interval (iclab compare), and, given more than one\n"
    "seed, pooled over them (geometric mean, 90% interval over the seeds); (3) layer surgery on the model of\n"
    "part 1: skipping, duplicating, shuffling its blocks and looping its body (iclab surgery).\n"
    "About 3 minutes on 2 free cores (docs/demo.md: 185 s from a clean clone). Prints a summary in plain words and\n"
    "writes DIR/report.html (and a page per part). Ctrl-C stops; running the demo again\n"
    "resumes training and skips the parts already done. Run-config keys (e.g. --train_steps\n"
    "500 for a quick look) apply to every run; the architecture keys (n_layer, loops, ...)\n"
    "and seed are the demo's own.",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    1,
    run,
};
