/* args.c: option parsing, help text and config assembly for the CLI. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "fsutil.h"
#include "ops.h"
#include "sysmem.h"

void cli_error(const cli_command *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "iclab %s: ", cmd ? cmd->name : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_set_threads(int n) { ic_set_threads(n); }

/* ---------------- help ---------------- */

static const char *key_metavar(const ic_key *k) {
    switch (k->type) {
    case IC_KEY_INT:
    case IC_KEY_LONG:
    case IC_KEY_U64: return "N";
    case IC_KEY_DOUBLE: return "X";
    case IC_KEY_BOOL: return "BOOL";
    case IC_KEY_STRING: return strcmp(k->name, "schedule") == 0 ? "LIST" : "TEXT";
    }
    return "V";
}

static void print_opt_line(FILE *f, int width, const char *name, const char *metavar, const char *doc,
                           const char *tail) {
    char left[128];
    snprintf(left, sizeof left, "--%s%s%s", name, metavar ? " " : "", metavar ? metavar : "");
    int pad = width - (int)strlen(left);
    if (pad < 2) pad = 2;
    fprintf(f, "  %s%*s%s%s\n", left, pad, "", doc, tail ? tail : "");
}

static void key_tail(const ic_key *k, char *buf, size_t len) {
    const char *def = k->def && k->def[0] ? k->def : "empty";
    switch (k->type) {
    case IC_KEY_INT:
    case IC_KEY_LONG:
    case IC_KEY_U64:
        snprintf(buf, len, " (default %s%s; %.0f..%.0f)", def,
                 strcmp(k->name, "n_points") == 0 ? ", or n_positions if smaller" : "", k->min, k->max);
        break;
    case IC_KEY_DOUBLE: snprintf(buf, len, " (default %s; %g..%g)", def, k->min, k->max); break;
    case IC_KEY_BOOL: snprintf(buf, len, " (default %s; true/false/1/0)", def); break;
    case IC_KEY_STRING: snprintf(buf, len, " (default %s)", def); break;
    }
}

void cli_print_help(const cli_command *cmd, FILE *f) {
    fprintf(f, "usage: %s\n\n%s\n", cmd->usage, cmd->summary);
    if (cmd->description) fprintf(f, "\n%s\n", cmd->description);
    int width = 24;
    for (int i = 0; i < cmd->n_opts; i++) {
        int w = 4 + (int)strlen(cmd->opts[i].name) + (cmd->opts[i].metavar ? (int)strlen(cmd->opts[i].metavar) : 0);
        if (w > width && w < 40) width = w;
    }
    int nk = 0;
    const ic_key *keys = cmd->config_keys ? ic_run_config_keys(&nk) : NULL;
    for (int i = 0; i < nk; i++) {
        int w = 4 + (int)strlen(keys[i].name) + (int)strlen(key_metavar(&keys[i]));
        if (w > width && w < 40) width = w;
    }
    if (cmd->n_opts) {
        fprintf(f, "\noptions:\n");
        for (int i = 0; i < cmd->n_opts; i++) {
            const cli_opt *o = &cmd->opts[i];
            char tail[160] = "";
            if (o->def) snprintf(tail, sizeof tail, " (default %s)", o->def);
            print_opt_line(f, width, o->name, o->metavar, o->doc, tail);
        }
    }
    print_opt_line(f, width, "help", NULL, "show this help and exit", NULL);
    if (cmd->config_keys) {
        fprintf(f, "\nconfig options (the same keys are accepted in a JSON --config file; applied as\n"
                   "defaults, then every --config file, then the flags in command-line order):\n");
        print_opt_line(f, width, "config", "FILE", "JSON object of config keys, e.g. {\"n_embd\": 64}", NULL);
        for (int i = 0; i < nk; i++) {
            char tail[160];
            key_tail(&keys[i], tail, sizeof tail);
            print_opt_line(f, width, keys[i].name, key_metavar(&keys[i]), keys[i].doc, tail);
        }
        fprintf(f, "  (--key value and --key=value both work; a BOOL flag alone means true)\n");
    }
}

/* ---------------- parsing ---------------- */

static int is_bool_text(const char *v) {
    static const char *const words[] = {"true", "false", "1", "0", "yes", "no", "on", "off"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcmp(v, words[i]) == 0) return 1;
    return 0;
}

static int is_help(const char *s) { return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0; }

void cli_args_free(cli_args *a) {
    free(a->key_name);
    free(a->key_val);
    a->key_name = a->key_val = NULL;
    a->n_keys = 0;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *a) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    for (int i = 1; i < argc; i++)
        if (is_help(argv[i])) {
            cli_print_help(cmd, stdout);
            return -1;
        }
    a->key_name = calloc((size_t)argc + 1, sizeof *a->key_name);
    a->key_val = calloc((size_t)argc + 1, sizeof *a->key_val);
    if (!a->key_name || !a->key_val) {
        cli_error(cmd, "out of memory");
        cli_args_free(a);
        return CLI_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            cli_error(cmd, "unexpected argument '%s' (options look like --name value; see 'iclab %s --help')", arg,
                      cmd->name);
            goto usage;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        char nbuf[128];
        if (nlen >= sizeof nbuf) nlen = sizeof nbuf - 1;
        memcpy(nbuf, name, nlen);
        nbuf[nlen] = '\0';

        int oi = -1;
        for (int k = 0; k < cmd->n_opts; k++)
            if (strcmp(cmd->opts[k].name, nbuf) == 0) oi = k;
        const ic_key *key = NULL;
        int is_config_file = 0;
        if (oi < 0 && cmd->config_keys) {
            if (strcmp(nbuf, "config") == 0) is_config_file = 1;
            else key = ic_run_config_find_key(nbuf);
        }
        if (oi < 0 && !key && !is_config_file) {
            cli_error(cmd, "unknown option '--%s' (see 'iclab %s --help')", nbuf, cmd->name);
            goto usage;
        }
        const char *value;
        if (oi >= 0 && !cmd->opts[oi].metavar) { /* a flag */
            if (eq) {
                cli_error(cmd, "option '--%s' takes no value", nbuf);
                goto usage;
            }
            value = "1";
        } else if (eq) {
            value = eq + 1;
        } else if (key && key->type == IC_KEY_BOOL) {
            if (i + 1 < argc && is_bool_text(argv[i + 1])) value = argv[++i];
            else value = "true";
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            cli_error(cmd, "option '--%s' needs a value (see 'iclab %s --help')", nbuf, cmd->name);
            goto usage;
        }
        if (oi >= 0) {
            a->val[oi] = value;
        } else {
            a->key_name[a->n_keys] = is_config_file ? "config" : key->name;
            a->key_val[a->n_keys] = value;
            a->n_keys++;
        }
    }
    return 0;
usage:
    cli_args_free(a);
    return CLI_USAGE;
}

const char *cli_get(const cli_args *a, const char *name) {
    for (int k = 0; k < a->cmd->n_opts; k++)
        if (strcmp(a->cmd->opts[k].name, name) == 0) return a->val[k];
    return NULL;
}

int cli_require(const cli_args *a, const char *name) {
    const char *v = cli_get(a, name);
    if (v && v[0]) return 0;
    if (v) cli_error(a->cmd, "option '--%s' needs a non-empty value", name);
    else cli_error(a->cmd, "missing required option '--%s' (see 'iclab %s --help')", name, a->cmd->name);
    return CLI_USAGE;
}

int cli_get_long(const cli_args *a, const char *name, long min, long max, long def, long *out) {
    const char *v = cli_get(a, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < min || x > max) {
        cli_error(a->cmd, "option '--%s': expected an integer in %ld..%ld, got '%s'", name, min, max, v);
        return CLI_USAGE;
    }
    *out = x;
    return 0;
}

int cli_get_int(const cli_args *a, const char *name, int min, int max, int def, int *out) {
    long x;
    int rc = cli_get_long(a, name, min, max, def, &x);
    if (rc == 0) *out = (int)x;
    return rc;
}

int cli_get_double(const cli_args *a, const char *name, double min, double max, double def, double *out) {
    const char *v = cli_get(a, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || x < min || x > max) {
        cli_error(a->cmd, "option '--%s': expected a number in %g..%g, got '%s'", name, min, max, v);
        return CLI_USAGE;
    }
    *out = x;
    return 0;
}

int cli_get_u64(const cli_args *a, const char *name, unsigned long long def, unsigned long long *out) {
    const char *v = cli_get(a, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || *end || errno || v[0] == '-' || v[0] == '+' || v[0] == ' ') {
        cli_error(a->cmd, "option '--%s': expected a non-negative integer, got '%s'", name, v);
        return CLI_USAGE;
    }
    *out = x;
    return 0;
}

/* ---------------- integer lists ---------------- */

/* One value at *p: an integer, or with d > 0 "d", "Kd", "d/2". */
static int list_value(const char *p, int d, long *v, const char **end) {
    char *e;
    if (d > 0 && !strncmp(p, "d/2", 3)) {
        *v = d / 2;
        *end = p + 3;
        return 0;
    }
    errno = 0;
    *v = strtol(p, &e, 10);
    if (e == p && d > 0 && *p == 'd') *v = 1;
    else if (e == p || errno) return -1;
    if (d > 0 && *e == 'd') {
        *v *= d;
        e++;
    }
    *end = e;
    return 0;
}

int cli_int_list(const cli_command *cmd, const char *opt, const char *text, int lo, int hi, int d, int *out, int max,
                 int *n) {
    *n = 0;
    const char *p = text;
    while (*p) {
        long a, b;
        const char *end;
        if (list_value(p, d, &a, &end)) {
            cli_error(cmd, "--%s '%s': expected an integer at character %d", opt, text, (int)(p - text) + 1);
            return CLI_USAGE;
        }
        p = end;
        b = a;
        if (*p == '-') {
            if (list_value(p + 1, d, &b, &end)) {
                cli_error(cmd, "--%s '%s': expected an integer at character %d", opt, text, (int)(p - text) + 2);
                return CLI_USAGE;
            }
            p = end;
        }
        if (a < lo || a > hi || b < lo || b > hi) {
            cli_error(cmd, "--%s '%s': %ld is not in %d..%d", opt, text, a < lo || a > hi ? a : b, lo, hi);
            return CLI_USAGE;
        }
        if (b < a) {
            cli_error(cmd, "--%s '%s': the range %ld-%ld is empty", opt, text, a, b);
            return CLI_USAGE;
        }
        for (long v = a; v <= b; v++) {
            if (*n >= max) {
                cli_error(cmd, "--%s: at most %d values", opt, max);
                return CLI_USAGE;
            }
            out[(*n)++] = (int)v;
        }
        if (*p == ',') p++;
        else if (*p) {
            cli_error(cmd, "--%s '%s': expected ',' at character %d", opt, text, (int)(p - text) + 1);
            return CLI_USAGE;
        }
    }
    if (!*n) {
        cli_error(cmd, "--%s is empty", opt);
        return CLI_USAGE;
    }
    return 0;
}

/* ---------------- typed options ---------------- */

/* The value a default text stands for: the text when it reads fully as a
 * number, else 0 (a default described in words, resolved by the command). */
static double def_number(const char *def) {
    if (!def) return 0.0;
    char *end;
    errno = 0;
    double v = strtod(def, &end);
    return end != def && !*end && !errno ? v : 0.0;
}

int cli_parse_opts(const cli_command *cmd, int argc, char **argv, cli_args *a, void *opts) {
    int rc = cli_parse(cmd, argc, argv, a);
    if (rc) return rc;
    for (int i = 0; i < cmd->n_opts && rc == 0; i++) {
        const cli_opt *o = &cmd->opts[i];
        char *at = (char *)opts + o->off;
        if (o->type == CLI_UNTYPED) continue;
        if (o->required) rc = cli_require(a, o->name);
        if (rc) break;
        switch (o->type) {
        case CLI_INT: {
            int v;
            rc = cli_get_int(a, o->name, (int)o->lo, (int)o->hi, (int)def_number(o->def), &v);
            if (!rc) memcpy(at, &v, sizeof v);
            break;
        }
        case CLI_U64: {
            unsigned long long v, def = 0;
            if (o->def) {
                char *end;
                errno = 0;
                def = strtoull(o->def, &end, 10);
                if (end == o->def || *end || errno) def = 0;
            }
            rc = cli_get_u64(a, o->name, def, &v);
            if (!rc) memcpy(at, &v, sizeof v);
            break;
        }
        case CLI_DOUBLE: {
            double v;
            rc = cli_get_double(a, o->name, o->lo, o->hi, def_number(o->def), &v);
            if (!rc) memcpy(at, &v, sizeof v);
            break;
        }
        case CLI_STR:
        case CLI_STR_OPT: {
            const char *v = cli_get(a, o->name);
            if (!v && o->type == CLI_STR) v = o->def;
            memcpy(at, &v, sizeof v);
            break;
        }
        case CLI_FLAG: {
            int v = cli_get(a, o->name) != NULL;
            memcpy(at, &v, sizeof v);
            break;
        }
        case CLI_UNTYPED: break;
        }
    }
    if (rc) cli_args_free(a);
    return rc;
}

/* ---------------- outputs that would replace inputs ---------------- */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The name a file would have in the directory: an exact name, or "*.ext" as a suffix. */
static int written_name(const char *name, const char *const *dir_names) {
    for (int i = 0; dir_names && dir_names[i]; i++) {
        const char *w = dir_names[i];
        if (w[0] == '*') {
            size_t nl = strlen(name), sl = strlen(w + 1);
            if (nl >= sl && !strcmp(name + nl - sl, w + 1)) return 1;
        } else if (!strcmp(name, w)) {
            return 1;
        }
    }
    return 0;
}

int cli_check_overwrite(const cli_command *cmd, const cli_path *inputs, int n_in, const cli_path *outputs, int n_out,
                        const cli_path *out_dir, const char *const *dir_names) {
    for (int i = 0; i < n_in; i++) {
        const char *in = inputs[i].path;
        if (!in) continue;
        for (int o = 0; o < n_out; o++)
            if (outputs[o].path && ic_same_file(in, outputs[o].path)) {
                cli_error(cmd, "--%s %s is the same file as --%s %s: writing it would destroy the input; choose another --%s",
                          outputs[o].opt, outputs[o].path, inputs[i].opt, in, outputs[o].opt);
                return CLI_FAIL;
            }
        if (out_dir && out_dir->path && ic_same_file(in, out_dir->path)) {
            cli_error(cmd, "--%s %s is the same as --%s %s; choose another --%s", out_dir->opt, out_dir->path, inputs[i].opt,
                      in, out_dir->opt);
            return CLI_FAIL;
        }
        if (out_dir && out_dir->path && written_name(base_name(in), dir_names) && ic_file_in_dir(in, out_dir->path)) {
            cli_error(cmd, "--%s %s lies in --%s %s, where this command writes files named like it: it would be overwritten; "
                      "move it or choose another --%s", inputs[i].opt, in, out_dir->opt, out_dir->path, out_dir->opt);
            return CLI_FAIL;
        }
    }
    return 0;
}

int cli_config_inputs(const cli_args *a, cli_path *out, int max) {
    int n = 0;
    for (int i = 0; i < a->n_keys && n < max; i++)
        if (!strcmp(a->key_name[i], "config")) out[n++] = (cli_path){"config", a->key_val[i]};
    return n;
}

/* ---------------- memory ---------------- */

int cli_check_memory(const cli_command *cmd, const ic_model *m, const ic_schedule *s, int B, int n, int chunk, int need_grad,
                     double extra, const char *lower) {
    ic_mem_bytes mb;
    ic_err err;
    char hint[256];
    snprintf(hint, sizeof hint, "lower %s", lower);
    ic_model_mem_estimate(&m->cfg, s, chunk < B ? chunk : B, n, need_grad, 1, &mb);
    /* the parameters are loaded already */
    if (ic_mem_check(mb.total - mb.params + extra, cmd->name, hint, &err)) {
        cli_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    return 0;
}

/* ---------------- config ---------------- */

int cli_build_config(const cli_args *a, ic_run_config *c) {
    ic_err err = {{0}};
    ic_run_config_default(c);
    /* n_points left unset by files and flags follows a smaller n_positions
     * (so `init --n_positions 11` works without --n_points) */
    const int def_points = c->n_points;
    c->n_points = 0;
    for (int i = 0; i < a->n_keys; i++)
        if (strcmp(a->key_name[i], "config") == 0 && ic_run_config_load_file(c, a->key_val[i], &err)) {
            cli_error(a->cmd, "%s", err.msg);
            return CLI_FAIL;
        }
    for (int i = 0; i < a->n_keys; i++)
        if (strcmp(a->key_name[i], "config") != 0 && ic_run_config_set(c, a->key_name[i], a->key_val[i], &err)) {
            cli_error(a->cmd, "option '--%s': %s", a->key_name[i], err.msg);
            return CLI_USAGE;
        }
    if (c->n_points == 0) c->n_points = def_points < c->model.n_positions ? def_points : c->model.n_positions;
    if (ic_run_config_validate(c, &err)) {
        cli_error(a->cmd, "invalid config: %s", err.msg);
        return CLI_FAIL;
    }
    return 0;
}

void cli_config_summary(const ic_run_config *c, char *buf, size_t len) {
    ic_schedule *s = malloc(sizeof *s);
    char sched[160];
    ic_err err;
    if (s && ic_run_config_schedule(c, s, &err) == 0) {
        char *full = malloc(8 * IC_MAX_SCHEDULE + 16);
        if (full) {
            ic_schedule_format(s, full, 8 * IC_MAX_SCHEDULE + 16);
            if (strlen(full) < sizeof sched) {
                snprintf(sched, sizeof sched, "%s", full);
            } else {
                /* cut at a comma and say how long the body is */
                size_t cut = sizeof sched - 32;
                while (cut > 0 && full[cut] != ',') cut--;
                snprintf(sched, sizeof sched, "%.*s,...(%d steps)", (int)cut, full, s->n);
            }
            free(full);
        } else {
            snprintf(sched, sizeof sched, "(%d steps)", s->n);
        }
    } else {
        snprintf(sched, sizeof sched, "%s", c->schedule[0] ? "(invalid)" : "default");
    }
    free(s);
    int w = snprintf(buf, len, "n_dims=%d n_positions=%d n_embd=%d n_layer=%d n_head=%d schedule=%s loops=%d",
                     c->model.n_dims, c->model.n_positions, c->model.n_embd, c->model.n_layer, c->model.n_head,
                     sched, c->loops);
    if (c->loops > 1 && w > 0 && (size_t)w < len)
        w += snprintf(buf + w, len - (size_t)w, " loss_loops=%d inject=%s loop_lnf=%s", c->loss_loops,
                      c->inject ? "true" : "false", c->loop_lnf ? "true" : "false");
    if (c->loop_signal && w > 0 && (size_t)w < len) w += snprintf(buf + w, len - (size_t)w, " loop_signal=true");
    if (strcmp(c->loops_sampling, "fixed") && w > 0 && (size_t)w < len)
        w += snprintf(buf + w, len - (size_t)w, " loops_sampling=%s loops_mean=%g", c->loops_sampling, c->loops_mean);
    if (c->block_kinds[0] && w > 0 && (size_t)w < len)
        snprintf(buf + w, len - (size_t)w, " block_kinds=%.60s%s", c->block_kinds, strlen(c->block_kinds) > 60 ? "..." : "");
}

int cli_load_model(const cli_command *cmd, const char *path, int n_head, ic_model *m, ic_schedule *s,
                   ic_run_config *run_cfg, int *n_points) {
    ic_err err = {{0}};
    char notice[512] = "";
    if (ic_checkpoint_load_run(path, m, s, n_head, notice, sizeof notice, run_cfg, &err)) {
        cli_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    if (notice[0]) fprintf(stderr, "iclab %s: %s: %s\n", cmd->name, path, notice);
    if (!*n_points) *n_points = run_cfg->n_points <= m->cfg.n_positions ? run_cfg->n_points : m->cfg.n_positions;
    if (*n_points > m->cfg.n_positions) {
        cli_error(cmd, "--n_points %d exceeds the model's n_positions %d", *n_points, m->cfg.n_positions);
        return CLI_FAIL;
    }
    return 0;
}
