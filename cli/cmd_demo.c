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
    cli_set_threads(cfg[0].threads);
    const int d = cfg[0].model.n_dims;
    printf("iclab demo: in-context linear regression, d = %d, %d points per prompt; two transformers (e = %d, %d heads), "
           "%ld training steps each, then evaluation, comparison and layer surgery on %d fresh prompts.\n"
           "Output: %s (Ctrl-C stops; running the demo again resumes)\n\n",
           d, cfg[0].n_points, cfg[0].model.n_embd, cfg[0].model.n_head, cfg[0].train_steps, n_prompts, dir);

    /* 1-2: train both models (or resume them; a finished one trains nothing) */
    char mdir[2][4096], mpath[2][4096];
    long steps[2] = {0, 0};
    for (int m = 0; m < 2; m++) {
        if (ic_path_join(mdir[m], sizeof mdir[m], dir, MODELS[m].name, &err) ||
            ic_path_join(mpath[m], sizeof mpath[m], mdir[m], "model.safetensors", &err)) {
            cli_error(cmd, "%s", err.msg);
            rc = CLI_FAIL;
            goto done;
        }
        int resume = ic_train_dir_has_run(mdir[m]);
        printf("[train %s] %s: %s%s\n", MODELS[m].name, MODELS[m].what, resume ? "resuming " : "", mdir[m]);
        fflush(stdout);
        cli_progress prog;
        cli_progress_init(&prog, MODELS[m].name, 1000);
        ic_train_hooks hooks = {.progress = cli_progress_cb, .message = cli_message_cb, .ctx = &prog,
                                .stop = cli_install_stop_handler()};
        ic_train_result res;
        const double t0 = now_s();
        if (ic_train_run(mdir[m], &cfg[m], resume, &hooks, &res, &err)) {
            cli_error(cmd, "%s%s", err.msg, resume ? " (an earlier demo with another config? use --out OTHER_DIR)" : "");
            rc = CLI_FAIL;
            goto done;
        }
        if (res.outcome == IC_TRAIN_STOPPED) { rc = 130; goto done; }
        steps[m] = res.step;
        json_object_set_new(wall, MODELS[m].name, json_real(round((now_s() - t0) * 10) / 10));
        if (res.step == res.start_step) printf("  already trained: %ld steps\n", res.step);
        else printf("  trained %ld steps in %.1f s (last training loss %.4g)\n", res.step - res.start_step, res.wall_s,
                    res.final_loss);
        /* the same training as an iclab command: the recipe, the flags given, the architecture */
        const size_t nk = sizeof DEMO_KEYS / sizeof *DEMO_KEYS;
        char **targv = malloc(sizeof *targv * (2 * nk + 2 * (size_t)a.n_keys + 12));
        char (*opt)[64] = malloc(sizeof *opt * (nk + (size_t)a.n_keys));
        if (!targv || !opt) { free(targv); free(opt); cli_error(cmd, "out of memory"); rc = CLI_FAIL; goto done; }
        int t = 0;
        targv[t++] = "train";
        targv[t++] = "--out";
        targv[t++] = mdir[m];
        for (size_t i = 0; i < nk + (size_t)a.n_keys; i++) {
            const char *k = i < nk ? DEMO_KEYS[i][0] : a.key_name[i - nk], *v = i < nk ? DEMO_KEYS[i][1] : a.key_val[i - nk];
            snprintf(opt[i], sizeof opt[i], "--%s", k);
            targv[t++] = opt[i];
            targv[t++] = (char *)v;
        }
        targv[t++] = "--n_layer";
        targv[t++] = (char *)MODELS[m].n_layer;
        targv[t++] = "--loops";
        targv[t++] = (char *)MODELS[m].loops;
        targv[t++] = "--grad_loops";
        targv[t++] = (char *)MODELS[m].loops;
        targv[t] = NULL;
        add_command(cmds, targv);
        free(targv);
        free(opt);
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
