/* cmd_demo.c: `iclab demo` — the default experiment in a few minutes on 2
 * cores, in three parts that each reproduce one result on d = 5 linear
 * regression (docs/experiments/):
 *   1. a transformer learns in context: the looped model's error at k = 2d
 *      next to least squares and the zero estimator (iclab eval);
 *   2. looping: 3 blocks applied twice against 6 independent blocks, trained
 *      for the same steps, compared on the same prompts (iclab compare);
 *   3. layer surgery on the model of part 1: skip, duplicate, shuffle and
 *      loop variants against the original (iclab surgery).
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

static const cli_opt OPTS[] = {
    {"out", "DIR", "runs/demo", "demo directory (an interrupted demo resumes from here)"},
    {"prompts", "N", "1280", "evaluation prompts of every part"},
};

/* The recipe both models train with (chosen by measurement: docs/demo.md);
 * any run-config key may override it except the architecture keys below. */
static const char *const DEMO_KEYS[][2] = {
    {"task", "linear_regression"}, {"n_dims", "5"},          {"n_positions", "11"},     {"n_points", "11"},
    {"n_embd", "32"},              {"n_head", "2"},          {"batch_size", "64"},      {"learning_rate", "2e-3"},
    {"lr_schedule", "cosine"},     {"warmup_steps", "200"},  {"min_lr_ratio", "0.05"},  {"train_steps", "6000"},
    {"seed", "1"},                 {"log_every", "50"},      {"save_every", "500"},
};
/* What tells the two models apart; the demo sets these itself. */
static const char *const ARCH_KEYS[] = {"n_layer", "loops", "loss_loops", "grad_loops", "schedule", NULL};

typedef struct {
    const char *name, *n_layer, *loops, *what;
} demo_model;
static const demo_model MODELS[2] = {
    {"plain6", "6", "1", "6 independent blocks"},
    {"looped3x2", "3", "2", "3 blocks applied twice"},
};
/* the model of parts 1 and 3 (index into MODELS): the looped one, the one
 * that reaches the target within the demo's steps (docs/demo.md) */
#define PART1_MODEL 1
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
static int part_stamp(char *buf, size_t len, json_t *cmds, const long steps[2]) {
    const char *line = json_string_value(json_array_get(cmds, json_array_size(cmds) - 1));
    return snprintf(buf, len, "%s\nsteps %ld %ld\n", line ? line : "", steps[0], steps[1]) < (int)len ? 0 : -1;
}

static int part_done(const char *stamp_path, const char *stamp) {
    char *old = NULL;
    size_t n;
    ic_err ignored;
    int same = ic_read_file(stamp_path, &old, &n, 1 << 16, &ignored) == 0 && strcmp(old, stamp) == 0;
    free(old);
    return same;
}

/* ---- training both models at once ----
 * Each model trains in a child process on one core (threads = 1: its
 * numbers are the same on any machine, and two single-threaded runs keep
 * going on a busy machine where two threads of one run would wait for each
 * other). The children report through a shared page; the parent draws one
 * progress line for both and waits. The children have their own process
 * group: the parent passes a stop request (Ctrl-C, SIGTERM) on to each once,
 * and each saves its state and exits 130. */
typedef struct {
    ic_progress p;        /* the child's last step */
    volatile int running; /* 1 from the first step until it returns */
    int status;           /* exit: 0 done, 1 failed (msg), 130 stopped */
    int resumed;
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

static void draw_both(const train_slot *s, int tty, double *last_plain) {
    char line[512];
    int n = 0;
    double rate = 0, eta = 0;
    for (int m = 0; m < 2; m++) {
        n += snprintf(line + n, sizeof line - (size_t)n, "%s%s %ld/%ld loss %.4g", m ? "  |  " : "", MODELS[m].name,
                      s[m].p.step, s[m].p.total, s[m].p.loss);
        rate += s[m].p.steps_per_s;
        if (s[m].p.eta_s > eta) eta = s[m].p.eta_s;
    }
    snprintf(line + n, sizeof line - (size_t)n, "  |  %.0f steps/s  ETA %.0f s", rate, eta);
    if (tty) fprintf(stderr, "\r\033[K%s", line);
    else if (now_s() - *last_plain >= 15) {
        fprintf(stderr, "%s\n", line);
        *last_plain = now_s();
    }
    fflush(stderr);
}

/* Runs both trainings; returns the two slots (munmap them) with each
 * child's outcome, or NULL (errno) if they could not be started. */
static train_slot *train_both(ic_run_config cfg[2], char mdir[2][4096]) {
    train_slot *slots = mmap(NULL, 2 * sizeof *slots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED) return NULL;
    memset(slots, 0, 2 * sizeof *slots);
    volatile sig_atomic_t *stop = cli_install_stop_handler();
    pid_t pid[2] = {-1, -1};
    fflush(stdout);
    fflush(stderr);
    for (int m = 0; m < 2; m++) {
        slots[m].resumed = ic_train_dir_has_run(mdir[m]);
        pid[m] = fork();
        if (pid[m] < 0) {
            int e = errno;
            if (m == 1) { kill(pid[0], SIGINT); waitpid(pid[0], NULL, 0); }
            munmap(slots, 2 * sizeof *slots);
            errno = e;
            return NULL;
        }
        if (pid[m] == 0) {
            train_slot *ts = &slots[m];
            /* the parent forwards one stop request (a terminal's Ctrl-C would
             * otherwise reach the child twice: the second ends it unsaved),
             * and a parent that dies asks the child to stop too */
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGINT);
            if (getppid() == 1) _exit(130);
            cfg[m].threads = 1;
            cli_set_threads(1);
            ic_train_hooks hooks = {.progress = slot_progress, .message = slot_message, .ctx = ts, .stop = stop};
            ic_err err = {{0}};
            int r = ic_train_run(mdir[m], &cfg[m], ts->resumed, &hooks, &ts->res, &err);
            if (r) snprintf(ts->msg, sizeof ts->msg, "%s", err.msg);
            ts->status = r ? 1 : ts->res.outcome == IC_TRAIN_STOPPED ? 130 : 0;
            fflush(stdout);
            fflush(stderr);
            _exit(ts->status == 130 ? 130 : r ? 1 : 0);
        }
    }
    const int tty = isatty(2);
    double last_plain = 0;
    int left = 2, forwarded = 0;
    while (left > 0) {
        if (*stop && !forwarded) {
            for (int m = 0; m < 2; m++)
                if (pid[m] > 0) kill(pid[m], SIGINT);
            forwarded = 1;
        }
        for (int m = 0; m < 2; m++) {
            int st;
            if (pid[m] > 0 && waitpid(pid[m], &st, WNOHANG) == pid[m]) {
                pid[m] = -1;
                left--;
                /* a child killed before it recorded an outcome */
                if (WIFSIGNALED(st)) slots[m].status = 128 + WTERMSIG(st);
                else if (WEXITSTATUS(st) != slots[m].status) slots[m].status = WEXITSTATUS(st) ? WEXITSTATUS(st) : slots[m].status;
            }
        }
        if (slots[0].running || slots[1].running) draw_both(slots, tty, &last_plain);
        if (left > 0) usleep(200000);
    }
    if (tty) fprintf(stderr, "\n");
    return slots;
}

/* "iclab train ..." for model md: the recipe, the flags given, the architecture. */
static int add_train_command(json_t *cmds, const char *mdir, const demo_model *md, const cli_args *a) {
    const size_t nk = sizeof DEMO_KEYS / sizeof *DEMO_KEYS;
    char **targv = malloc(sizeof *targv * (2 * nk + 2 * (size_t)a->n_keys + 12));
    char(*opt)[64] = malloc(sizeof *opt * (nk + (size_t)a->n_keys));
    if (!targv || !opt) { free(targv); free(opt); return -1; }
    int t = 0;
    targv[t++] = "train";
    targv[t++] = "--out";
    targv[t++] = (char *)mdir;
    for (size_t i = 0; i < nk + (size_t)a->n_keys; i++) {
        const char *k = i < nk ? DEMO_KEYS[i][0] : a->key_name[i - nk], *v = i < nk ? DEMO_KEYS[i][1] : a->key_val[i - nk];
        snprintf(opt[i], sizeof opt[i], "--%s", k);
        targv[t++] = opt[i];
        targv[t++] = (char *)v;
    }
    char *arch[] = {"--n_layer", (char *)md->n_layer, "--loops", (char *)md->loops, "--grad_loops", (char *)md->loops,
                    "--threads", "1"};
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

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    const double t_start = now_s();
    ic_run_config *cfg = malloc(2 * sizeof *cfg);
    json_t *demo = json_object(), *cmds = json_array(), *wall = json_object();
    ic_err err = {{0}};
    const char *dir = cli_get(&a, "out") ? cli_get(&a, "out") : "runs/demo";
    int n_prompts;
    char loadavg[64] = "";
    if (!cfg || !demo || !cmds || !wall) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    if ((rc = cli_get_int(&a, "prompts", 10, 1000000, 1280, &n_prompts))) goto done;
    for (int i = 0; i < a.n_keys; i++)
        for (int j = 0; ARCH_KEYS[j]; j++)
            if (strcmp(a.key_name[i], ARCH_KEYS[j]) == 0) {
                cli_error(cmd, "option '--%s': the demo's two architectures are fixed (6 blocks; 3 blocks x 2 loops); "
                          "train others with iclab train", a.key_name[i]);
                rc = CLI_USAGE;
                goto done;
            }
    for (int m = 0; m < 2; m++) {
        ic_run_config *c = &cfg[m];
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
        if (ic_run_config_set(c, "n_layer", MODELS[m].n_layer, &err) || ic_run_config_set(c, "loops", MODELS[m].loops, &err) ||
            ic_run_config_set(c, "grad_loops", MODELS[m].loops, &err) || ic_run_config_validate(c, &err)) {
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
    printf("iclab demo: in-context linear regression, d = %d, %d points per prompt; two transformers (e = %d, %d heads), "
           "%ld training steps each, then evaluation, comparison and layer surgery on %d fresh prompts.\n"
           "Output: %s (Ctrl-C stops; running the demo again resumes)\n\n",
           d, cfg[0].n_points, cfg[0].model.n_embd, cfg[0].model.n_head, cfg[0].train_steps, n_prompts, dir);

    /* 1-2: train both models at once, one core each (or resume them; a
     * finished one trains nothing) */
    char mdir[2][4096], mpath[2][4096];
    long steps[2] = {0, 0};
    for (int m = 0; m < 2; m++) {
        if (ic_path_join(mdir[m], sizeof mdir[m], dir, MODELS[m].name, &err) ||
            ic_path_join(mpath[m], sizeof mpath[m], mdir[m], "model.safetensors", &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
        printf("[train %s] %s: %s%s\n", MODELS[m].name, MODELS[m].what, ic_train_dir_has_run(mdir[m]) ? "resuming " : "",
               mdir[m]);
        if (add_train_command(cmds, mdir[m], &MODELS[m], &a)) { cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
    }
    fflush(stdout);
    {
        const double t0 = now_s();
        train_slot *slots = train_both(cfg, mdir);
        if (!slots) { cli_error(cmd, "cannot start the training processes: %s", strerror(errno)); rc = CLI_FAIL; goto done; }
        int stopped = 0, failed = 0;
        for (int m = 0; m < 2; m++) {
            train_slot *ts = &slots[m];
            if (ts->status == 1) {
                failed = 1;
                cli_error(cmd, "%s: %s%s", MODELS[m].name, ts->msg,
                          ts->resumed ? " (an earlier demo with another config? use --out OTHER_DIR)" : "");
            } else if (ts->status == 130) {
                stopped = 1;
            } else if (ts->status != 0) {
                failed = 1;
                cli_error(cmd, "%s: the training process ended with status %d", MODELS[m].name, ts->status);
            } else {
                steps[m] = ts->res.step;
                if (ts->res.step == ts->res.start_step) printf("  %s: already trained: %ld steps\n", MODELS[m].name, ts->res.step);
                else printf("  %s: trained %ld steps in %.1f s (last training loss %.4g)\n", MODELS[m].name,
                            ts->res.step - ts->res.start_step, ts->res.wall_s, ts->res.final_loss);
            }
        }
        munmap(slots, 2 * sizeof *slots);
        if (failed) { rc = CLI_FAIL; goto done; }
        if (stopped) { rc = 130; goto done; }
        json_object_set_new(wall, "train", json_real(round((now_s() - t0) * 10) / 10));
    }

    /* the analyses, as iclab commands */
    char prompts[32], part_dir[3][4096], log[4096], out_file[4096];
    snprintf(prompts, sizeof prompts, "%d", n_prompts);
    static const char *const PART[3] = {"eval", "compare", "surgery"};
    char labels[128];
    snprintf(labels, sizeof labels, "%s,%s", MODELS[0].name, MODELS[1].name);
    char both[8200];
    snprintf(both, sizeof both, "%s,%s", mpath[0], mpath[1]);
    char *argv_eval[] = {"eval", "--model", mpath[PART1_MODEL], "--out", part_dir[0], "--baselines", "least_squares,zero",
                         "--prompts", prompts, "--seed", "4242", NULL};
    char *argv_cmp[] = {"compare", "--models", both, "--labels", labels, "--out", part_dir[1], "--prompts", prompts, NULL};
    /* its body has 3 blocks: the shuffles permute all three (6 orders) */
    char *argv_sur[] = {"surgery", "--model", mpath[PART1_MODEL], "--out", part_dir[2], "--sweep",
                        "skip-each,duplicate-each,shuffle,loops", "--span", "0-2", "--shuffles", "6",
                        "--prompts", prompts, NULL};
    char **argvs[3] = {argv_eval, argv_cmp, argv_sur};
    for (int p = 0; p < 3; p++)
        if (ic_path_join(part_dir[p], sizeof part_dir[p], dir, PART[p], &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    for (int p = 0; p < 3; p++) {
        add_command(cmds, argvs[p]);
        char stamp[4096];
        if (ic_path_join(out_file, sizeof out_file, part_dir[p], "demo_stamp.txt", &err) ||
            ic_path_join(log, sizeof log, dir, p == 0 ? "eval.log" : p == 1 ? "compare.log" : "surgery.log", &err) ||
            part_stamp(stamp, sizeof stamp, cmds, steps)) {
            cli_error(cmd, "%s", err.msg[0] ? err.msg : "path too long");
            rc = CLI_FAIL;
            goto done;
        }
        if (part_done(out_file, stamp)) {
            printf("[%s] already done: %s\n", PART[p], part_dir[p]);
            continue;
        }
        printf("[%s] %s (its table: %s)\n", PART[p], part_dir[p], log);
        const double t0 = now_s();
        unlink(log);
        int r = run_iclab(cmd, argvs[p], log);
        if (r != 0) {
            if (r != 130) cli_error(cmd, "the %s part failed (exit %d); its output: %s", PART[p], r, log);
            rc = r;
            goto done;
        }
        json_object_set_new(wall, PART[p], json_real(round((now_s() - t0) * 10) / 10));
        if (ic_write_file_atomic(out_file, stamp, strlen(stamp), &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
    }

    /* the demo's record, its pages and the summary */
    json_object_set_new(demo, "n_dims", json_integer(d));
    json_object_set_new(demo, "n_points", json_integer(cfg[0].n_points));
    json_object_set_new(demo, "n_embd", json_integer(cfg[0].model.n_embd));
    json_object_set_new(demo, "n_head", json_integer(cfg[0].model.n_head));
    json_object_set_new(demo, "batch_size", json_integer(cfg[0].batch_size));
    json_object_set_new(demo, "learning_rate", json_real(cfg[0].learning_rate));
    json_object_set_new(demo, "train_steps", json_integer(cfg[0].train_steps));
    json_object_set_new(demo, "prompts", json_integer(n_prompts));
    json_object_set_new(demo, "target", json_real(TARGET));
    json_object_set_new(demo, "model", json_string(MODELS[PART1_MODEL].name));
    json_object_set_new(demo, "plain", json_string(MODELS[0].name));
    json_object_set_new(demo, "looped", json_string(MODELS[1].name));
    json_object_set_new(demo, "loadavg_at_start", json_string(loadavg));
    json_t *parts = json_object();
    json_object_set_new(parts, "plain6", json_string(MODELS[0].name));
    json_object_set_new(parts, "looped3x2", json_string(MODELS[1].name));
    for (int p = 0; p < 3; p++) json_object_set_new(parts, PART[p], json_string(PART[p]));
    json_object_set_new(demo, "parts", parts);
    json_object_set_new(wall, "total", json_real(round((now_s() - t_start) * 10) / 10));
    json_object_set_new(demo, "wall_s_this_call", json_incref(wall));
    json_object_set_new(demo, "commands", json_incref(cmds));
    {
        char path[4096];
        char *js = json_dumps(demo, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        int bad = !js || ic_path_join(path, sizeof path, dir, "demo.json", &err) ||
                  ic_write_file_atomic(path, js, strlen(js), &err);
        free(js);
        if (bad) { cli_error(cmd, "%s", err.msg[0] ? err.msg : "out of memory"); rc = CLI_FAIL; goto done; }
    }
    for (int p = 0; p < 3; p++)
        if (ic_page_write(part_dir[p], 0, &err)) { cli_error(cmd, "%s", err.msg); rc = CLI_FAIL; goto done; }
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
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_demo = {
    "demo",
    "the default experiment: in-context learning, looped vs plain, layer surgery (a few minutes on 2 cores)",
    "iclab demo [--out DIR] [--prompts N] [--KEY VALUE ...]",
    "Trains two small transformers on in-context linear regression (d = 5, 11 points per\n"
    "prompt): 6 independent blocks, and 3 blocks applied twice, for the same steps. Then\n"
    "(1) the looped model's error as the prompt grows, next to least squares and the zero\n"
    "estimator (iclab eval); (2) the looped model against the 6-block one on the same prompts,\n"
    "with the paired ratio and its 90% interval (iclab compare); (3) layer surgery on the looped\n"
    "model: skipping, duplicating, shuffling its blocks and looping its body (iclab surgery).\n"
    "About 2-3 minutes on 2 quiet cores (docs/demo.md). Prints a summary\n"
    "in plain words and writes DIR/report.html (and a page per part). Ctrl-C stops; running\n"
    "the demo again resumes training and skips the parts already done. Run-config keys\n"
    "(e.g. --train_steps 500 for a quick look) apply to both models; the architecture keys\n"
    "(n_layer, loops, ...) are the demo's own.",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    1,
    run,
};
