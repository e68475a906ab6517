/* schedule.c: the schedule (schedule.h): default, validation, format,
 * slot walk, and the schedule language (docs/schedules.md).
 *
 * The language parser is a hand-written recursive-descent parser, one function per grammar rule.
 * Why not a generator (lex/yacc) or a regex pass: the grammar is tiny (five
 * rules, one character of look-ahead), and every error has to name the exact
 * 1-based column of the offending character and what the rule expected
 * there, which is one line at the point of failure here and awkward to get
 * out of a generated parser. It also keeps the library free of build-time
 * tools.
 *
 * No global state: one call owns a heap workspace (the body being built, a
 * scratch body for operations, slot tables). The expression is expanded
 * straight into a fixed IC_MAX_SCHEDULE array; every expansion (a range, a
 * repeat, dup, parallel, middle) computes the resulting length in 64 bits and
 * refuses it BEFORE writing anything, so "0-5*100000" costs nothing. Integers
 * are parsed with an overflow check against a bound, and bracket nesting is
 * bounded, so the recursion depth is too. s is written only on success. */
#include "schedule.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* ---------------- the schedule struct ---------------- */

void ic_schedule_default(ic_schedule *s, int n_layer) {
    memset(s, 0, sizeof *s);
    s->n = n_layer < IC_MAX_SCHEDULE ? n_layer : IC_MAX_SCHEDULE;
    for (int i = 0; i < s->n; i++) s->steps[i] = i;
    s->loops = 1;
    s->loss_loops = 1;
    s->grad_loops = 0;
    s->inject = 1;
    s->loop_lnf = 1;
}

int ic_schedule_validate(const ic_schedule *s, int n_layer, ic_err *err) {
    if (s->n < 1) return ic_errf(err, "schedule is empty");
    if (s->n > IC_MAX_SCHEDULE) return ic_errf(err, "schedule has %d steps, more than %d", s->n, IC_MAX_SCHEDULE);
    for (int i = 0; i < s->n; i++)
        if (s->steps[i] < 0 || s->steps[i] >= n_layer)
            return ic_errf(err, "schedule step %d names block %d, but the model has blocks 0..%d", i + 1,
                           s->steps[i], n_layer - 1);
    if (s->par[0] != 0) return ic_errf(err, "schedule step 1 cannot run in parallel with a step before it");
    for (int i = 1; i < s->n; i++)
        if (s->par[i] > 1) return ic_errf(err, "schedule step %d: parallel flag must be 0 or 1 (got %d)", i + 1, s->par[i]);
    if (s->loops < 1 || s->loops > IC_MAX_LOOPS) return ic_errf(err, "loops must be in 1..%d (got %d)", IC_MAX_LOOPS, s->loops);
    if (s->loss_loops < 1 || s->loss_loops > s->loops)
        return ic_errf(err, "loss_loops must be in 1..loops=%d (got %d)", s->loops, s->loss_loops);
    if (s->grad_loops != 0 && (s->grad_loops < s->loss_loops || s->grad_loops > s->loops))
        return ic_errf(err, "grad_loops must be 0 (= loss_loops) or in loss_loops=%d..loops=%d (got %d)", s->loss_loops,
                       s->loops, s->grad_loops);
    if (s->prelude < 0 || s->coda < 0 || s->prelude + s->coda >= s->n)
        return ic_errf(err, "schedule: prelude (%d steps) and coda (%d steps) must leave a looped core of at least one "
                       "step in the body of %d", s->prelude, s->coda, s->n);
    if (s->par[s->prelude] || (s->coda && s->par[s->n - s->coda]))
        return ic_errf(err, "schedule: the looped core's bounds cut through a parallel group");
    if (s->coda && s->loop_lnf)
        return ic_errf(err, "schedule: a coda needs loop_lnf false (the loop state is the core's output; ln_f "
                       "belongs to the read-out after the coda)");
    if (s->loop_signal != 0 && s->loop_signal != 1)
        return ic_errf(err, "schedule: loop_signal must be 0 or 1 (got %d)", s->loop_signal);
    return 0;
}

int ic_schedule_grad_loops(const ic_schedule *s) { return s->grad_loops ? s->grad_loops : s->loss_loops; }

void ic_schedule_set_loops(ic_schedule *s, int loops) {
    s->loops = loops;
    if (s->loss_loops > loops) s->loss_loops = loops;
    if (s->grad_loops > loops) s->grad_loops = loops;
}

char *ic_schedule_format(const ic_schedule *s, char *buf, size_t len) {
    size_t used = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    for (int i = 0; i < s->n && used < len; i++) {
        int opens = !s->par[i] && i + 1 < s->n && s->par[i + 1];
        int closes = s->par[i] && (i + 1 == s->n || !s->par[i + 1]);
        const char *sep = i == 0 ? "" : s->par[i] ? "|" : ",";
        const int core = s->prelude || s->coda; /* braces mark the core only when there is a prelude or coda */
        const char *cb = core && i == s->prelude ? "{" : "", *ce = core && i == s->n - s->coda - 1 ? "}" : "";
        int w = snprintf(buf + used, len - used, "%s%s%s%d%s%s", sep, cb, opens ? "(" : "", s->steps[i],
                         closes ? ")" : "", ce);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

int ic_schedule_slots(const ic_schedule *s) {
    int k = 0;
    for (int i = 0; i < s->n; i++) k += !s->par[i];
    return k;
}

int ic_schedule_group_end(const ic_schedule *s, int j0) {
    int j1 = j0 + 1;
    while (j1 < s->n && s->par[j1]) j1++;
    return j1;
}

int ic_schedule_group_start(const ic_schedule *s, int j1) {
    int j0 = j1 - 1;
    while (j0 > 0 && s->par[j0]) j0--;
    return j0;
}

/* ---------------- the schedule language ---------------- */

#define MAX_INT 1000000000ULL /* block indices, slots, repeat counts, K */
#define MAX_DEPTH 64          /* nested '[' */
#define OP_LIST "id, skip, swap, reverse, shuffle, middle, dup, parallel"

typedef struct {
    int n;
    int steps[IC_MAX_SCHEDULE];
    unsigned char par[IC_MAX_SCHEDULE];
} body;

typedef struct {
    const char *text;
    size_t len, pos;
    int n_layer;
    int depth;
    int last_lone; /* the last factor was a single INT (so '-' could have followed) */
    int core_b, core_e; /* the '{' '}' core of cur: entries core_b..core_e-1; -1: none */
    int in_core;        /* parsing inside '{' '}' */
    int last_core;      /* the last factor was the core (it may not be repeated) */
    ic_err *err;
    body cur;                         /* the expression's expansion, then the current body */
    body tmp;                         /* an operation's result */
    int start[IC_MAX_SCHEDULE + 1];   /* slot k of cur: steps start[k] .. start[k+1]-1 */
    int perm[IC_MAX_SCHEDULE];        /* shuffle */
} parser;

/* ---------------- characters ---------------- */

static int peek(const parser *p) { return p->pos < p->len ? (unsigned char)p->text[p->pos] : 0; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static void skip_ws(parser *p) {
    while (is_space(peek(p))) p->pos++;
}

/* ---------------- errors ---------------- */

/* The text as quoted in a message: whole when short, else a window of 60
 * bytes around byte `at` with "..." marking the cuts; control characters
 * become '?' so the message stays one line. */
static void excerpt(const parser *p, size_t at, char *out, size_t cap) {
    const size_t W = 60;
    size_t a = 0, b = p->len;
    if (p->len > 72) {
        a = at > W / 2 ? at - W / 2 : 0;
        if (a + W > p->len) a = p->len - W;
        b = a + W;
    }
    size_t o = 0;
    if (a > 0) o += (size_t)snprintf(out + o, cap - o, "...");
    for (size_t i = a; i < b && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)p->text[i];
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[o] = '\0';
    if (b < p->len && o + 4 < cap) snprintf(out + o, cap - o, "...");
}

/* "schedule 'TEXT': " + the formatted message; returns -1. */
static int fail(const parser *p, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail(const parser *p, size_t at, const char *fmt, ...) {
    char q[80], msg[400];
    excerpt(p, at, q, sizeof q);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ic_errf(p->err, "schedule '%s': %s", q, msg);
}

/* The character at `at` as a message shows it: 'x', end of the text, byte 0x01. */
static void describe(const parser *p, size_t at, char *out, size_t cap) {
    if (at >= p->len) {
        snprintf(out, cap, "end of the text");
        return;
    }
    unsigned char c = (unsigned char)p->text[at];
    if (c >= 0x20 && c < 0x7f) snprintf(out, cap, "'%c'", c);
    else snprintf(out, cap, "byte 0x%02x", c);
}

/* A syntax error: "at column N ('x'): expected WHAT". */
static int expected(const parser *p, size_t at, const char *what) {
    char c[32];
    describe(p, at, c, sizeof c);
    return fail(p, at, "at column %zu (%s): expected %s", at + 1, c, what);
}

/* ---------------- numbers ---------------- */

/* An unsigned decimal at p->pos (a digit is there) into *v; > max is an error. */
static int parse_uint(parser *p, uint64_t max, uint64_t *v) {
    size_t at = p->pos;
    uint64_t x = 0;
    while (is_digit(peek(p))) {
        uint64_t d = (uint64_t)(peek(p) - '0');
        if (x > (max - d) / 10) return fail(p, at, "at column %zu: number too large (at most %llu)", at + 1, (unsigned long long)max);
        x = x * 10 + d;
        p->pos++;
    }
    *v = x;
    return 0;
}

/* ---------------- expressions ---------------- */

static int parse_expr(parser *p, int closer, size_t open_at);

static int check_room(const parser *p, size_t at, uint64_t total) {
    if (total > IC_MAX_SCHEDULE)
        return fail(p, at, "at column %zu: the body would be %llu steps long, over the limit of %d steps", at + 1,
                    (unsigned long long)total, IC_MAX_SCHEDULE);
    return 0;
}

/* A block index at p->pos (a digit is there), checked against the model. */
static int parse_block(parser *p, uint64_t *v) {
    size_t at = p->pos;
    if (parse_uint(p, MAX_INT, v)) return -1;
    if (p->n_layer > 0 && *v >= (uint64_t)p->n_layer)
        return fail(p, at, "block %llu at column %zu is not in the model (blocks 0..%d)", (unsigned long long)*v, at + 1,
                    p->n_layer - 1);
    return 0;
}

/* INT | INT '-' INT at p->pos (a digit is there), appended to cur. In a
 * group every member but the group's first gets par 1 (*first: no member
 * yet). */
static int parse_blocks(parser *p, int in_group, int *first) {
    size_t at = p->pos;
    uint64_t a, b;
    if (parse_block(p, &a)) return -1;
    b = a;
    skip_ws(p);
    p->last_lone = 1;
    if (peek(p) == '-') {
        p->pos++;
        skip_ws(p);
        if (!is_digit(peek(p))) return expected(p, p->pos, "a block index after '-'");
        if (parse_block(p, &b)) return -1;
        p->last_lone = 0;
        skip_ws(p);
    }
    uint64_t count = (a <= b ? b - a : a - b) + 1;
    if (check_room(p, at, (uint64_t)p->cur.n + count)) return -1;
    for (uint64_t i = 0; i < count; i++) {
        int k = p->cur.n++;
        p->cur.steps[k] = (int)(a <= b ? a + i : a - i);
        p->cur.par[k] = (unsigned char)(in_group && !*first);
        *first = 0;
    }
    return 0;
}

/* '(' blocks ')' at p->pos. */
static int parse_group(parser *p) {
    size_t open_at = p->pos;
    p->pos++;
    int first = 1;
    for (;;) {
        skip_ws(p);
        if (!is_digit(peek(p))) {
            if (first && peek(p) == ')') return expected(p, p->pos, "a block index (a parallel group cannot be empty)");
            return expected(p, p->pos, first ? "a block index" : "a block index after '|'");
        }
        if (parse_blocks(p, 1, &first)) return -1;
        int c = peek(p); /* parse_blocks skipped the whitespace */
        if (c == '|') {
            p->pos++;
            continue;
        }
        if (c == ')') {
            p->pos++;
            break;
        }
        char what[160];
        snprintf(what, sizeof what, "%s'|' or ')'%s", p->last_lone ? "'-', " : "",
                 c == ',' ? " (members of a parallel group are separated by '|')" : "");
        if (c == 0) {
            size_t n = strlen(what);
            snprintf(what + n, sizeof what - n, " (the '(' at column %zu is not closed)", open_at + 1);
        }
        return expected(p, p->pos, what);
    }
    p->last_lone = 0;
    return 0;
}

/* factor := INT | INT '-' INT | '[' expr ']' | '(' blocks ')' */
static int parse_factor(parser *p) {
    skip_ws(p);
    size_t at = p->pos;
    int c = peek(p);
    if (is_digit(c)) {
        int first = 1;
        return parse_blocks(p, 0, &first);
    }
    if (c == '[') {
        if (p->depth >= MAX_DEPTH) return fail(p, at, "at column %zu: brackets nested more than %d deep", at + 1, MAX_DEPTH);
        p->pos++;
        p->depth++;
        if (parse_expr(p, ']', at)) return -1;
        p->pos++; /* parse_expr stopped on the ']' */
        p->depth--;
        p->last_lone = 0;
        return 0;
    }
    if (c == '(') return parse_group(p);
    if (c == '{') {
        if (p->depth > 0 || p->in_core)
            return fail(p, at, "at column %zu: the looped core '{...}' must be a term of the top-level expression, not "
                        "inside '[' or '{'", at + 1);
        if (p->core_b >= 0)
            return fail(p, at, "at column %zu: a second looped core '{': a body has one", at + 1);
        p->pos++;
        p->in_core = 1;
        p->core_b = p->cur.n;
        if (parse_expr(p, '}', at)) return -1;
        p->pos++; /* parse_expr stopped on the '}' */
        p->in_core = 0;
        p->core_e = p->cur.n;
        p->last_lone = 0;
        p->last_core = 1;
        return 0;
    }
    return expected(p, at, "a block index, '[' or '('");
}

/* term := factor ('*' INT)? ; *repeated: the '*' was there. */
static int parse_term(parser *p, int *repeated) {
    int start = p->cur.n;
    *repeated = 0;
    p->last_core = 0;
    if (parse_factor(p)) return -1;
    skip_ws(p);
    if (peek(p) != '*') return 0;
    if (p->last_core)
        return fail(p, p->pos, "at column %zu: the looped core '{...}' cannot be repeated with '*' (its loop count is "
                    "the loops setting)", p->pos + 1);
    p->pos++;
    skip_ws(p);
    size_t at = p->pos;
    if (!is_digit(peek(p))) return expected(p, at, "a repeat count (an integer >= 1) after '*'");
    uint64_t k;
    if (parse_uint(p, MAX_INT, &k)) return -1;
    if (k == 0) return fail(p, at, "at column %zu: the repeat count must be at least 1", at + 1);
    uint64_t len = (uint64_t)(p->cur.n - start);
    if (check_room(p, at, (uint64_t)start + len * k)) return -1;
    for (uint64_t r = 1; r < k; r++) {
        memcpy(p->cur.steps + start + r * len, p->cur.steps + start, len * sizeof p->cur.steps[0]);
        memcpy(p->cur.par + start + r * len, p->cur.par + start, len);
    }
    p->cur.n = start + (int)(len * k);
    *repeated = 1;
    skip_ws(p);
    return 0;
}

/* expr := term (',' term)*. Stops on the closer (']'; 0 at the top level: ';'
 * or the end) without consuming it; anything else is an error that lists
 * what could have come. */
static int parse_expr(parser *p, int closer, size_t open_at) {
    for (;;) {
        int rep;
        if (parse_term(p, &rep)) return -1;
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (closer ? c == closer : (c == ';' || c == 0)) return 0;
        char what[200];
        size_t n = (size_t)snprintf(what, sizeof what, "%s%s", p->last_lone && !rep ? "'-', " : "", rep ? "" : "'*', ");
        if (closer) {
            snprintf(what + n, sizeof what - n, "',' or '%c'", closer);
            if (c == 0) {
                n = strlen(what);
                snprintf(what + n, sizeof what - n, " (the '%c' at column %zu is not closed)", closer == '}' ? '{' : '[',
                         open_at + 1);
            }
        } else {
            snprintf(what + n, sizeof what - n, "',', ';' or the end of the text%s",
                     c == ']' ? " (this ']' has no matching '[')"
                     : c == ')' ? " (this ')' has no matching '(')"
                     : c == '|' ? " ('|' separates the members of a parallel group, inside '(' ')')"
                     : c == '}' ? " (this '}' has no matching '{')"
                                : "");
        }
        return expected(p, p->pos, what);
    }
}

/* ---------------- operations ---------------- */

typedef enum { OP_ID, OP_SKIP, OP_SWAP, OP_REVERSE, OP_SHUFFLE, OP_MIDDLE, OP_DUP, OP_PARALLEL, NUM_OPS } op_kind;
static const char *const OP_NAMES[NUM_OPS] = {"id", "skip", "swap", "reverse", "shuffle", "middle", "dup", "parallel"};

/* Slot table of cur: slot k is steps start[k]..start[k+1]-1; returns the count. */
static int slot_table(parser *p) {
    int k = 0;
    for (int i = 0; i < p->cur.n; i++)
        if (i == 0 || !p->cur.par[i]) p->start[k++] = i;
    p->start[k] = p->cur.n;
    return k;
}

static int slot_len(const parser *p, int k) { return p->start[k + 1] - p->start[k]; }

/* Appends slot k of cur to tmp (capacity checked by the caller). */
static void put_slot(parser *p, int k) {
    int a = p->start[k], n = slot_len(p, k);
    memcpy(p->tmp.steps + p->tmp.n, p->cur.steps + a, (size_t)n * sizeof p->tmp.steps[0]);
    memcpy(p->tmp.par + p->tmp.n, p->cur.par + a, (size_t)n);
    p->tmp.par[p->tmp.n] = 0;
    p->tmp.n += n;
}

static void put_slots(parser *p, int k0, int k1) {
    for (int k = k0; k <= k1; k++) put_slot(p, k);
}

/* A slot index (< nslots) after optional whitespace; `what` names it in errors. */
static int parse_slot(parser *p, int nslots, const char *what, int *v, size_t *col) {
    skip_ws(p);
    size_t at = p->pos;
    if (!is_digit(peek(p))) return expected(p, at, what);
    uint64_t x;
    if (parse_uint(p, MAX_INT, &x)) return -1;
    if (x >= (uint64_t)nslots)
        return fail(p, at, "at column %zu: slot %llu is past the end of the body (%d slot%s: %s%d)", at + 1,
                    (unsigned long long)x, nslots, nslots == 1 ? "" : "s", nslots == 1 ? "" : "0..", nslots - 1);
    *v = (int)x;
    if (col) *col = at;
    return 0;
}

/* SPAN := slot ('-' slot)?, ascending. *lone: no '-'. */
static int parse_span(parser *p, int nslots, int *a, int *b, int *lone) {
    size_t at;
    if (parse_slot(p, nslots, "a slot index", a, &at)) return -1;
    *b = *a;
    *lone = 1;
    skip_ws(p);
    if (peek(p) == '-') {
        p->pos++;
        if (parse_slot(p, nslots, "a slot index after '-'", b, NULL)) return -1;
        *lone = 0;
        if (*b < *a)
            return fail(p, at, "at column %zu: the slot range %d-%d is descending: a span is written low-high (%d-%d)",
                        at + 1, *a, *b, *b, *a);
    }
    skip_ws(p);
    return 0;
}

/* ')' closing an operation's arguments; `more`: what else could have come. */
static int close_args(parser *p, const char *more) {
    skip_ws(p);
    if (peek(p) == ')') {
        p->pos++;
        return 0;
    }
    char what[160];
    snprintf(what, sizeof what, "%s')'", more);
    return expected(p, p->pos, what);
}

/* The INT after an operation's ',' (K or a seed) into *v, at least min; *col: its column. */
static int parse_count(parser *p, const char *name, uint64_t max, uint64_t min, uint64_t *v, size_t *col) {
    skip_ws(p);
    *col = p->pos;
    if (!is_digit(peek(p))) return expected(p, p->pos, name);
    if (parse_uint(p, max, v)) return -1;
    if (*v < min)
        return fail(p, *col, "at column %zu: %s must be at least %llu (got %llu)", *col + 1, name, (unsigned long long)min,
                    (unsigned long long)*v);
    return 0;
}

static int op_too_long(const parser *p, size_t at, const char *name, uint64_t total) {
    return fail(p, at, "at column %zu: %s would make the body %llu steps long, over the limit of %d steps", at + 1, name,
                (unsigned long long)total, IC_MAX_SCHEDULE);
}

/* One operation at p->pos (a letter is there), applied to cur. */
static int parse_op(parser *p) {
    size_t at = p->pos, e = at;
    while (e < p->len && (is_alpha((unsigned char)p->text[e]) || is_digit((unsigned char)p->text[e]))) e++;
    size_t nlen = e - at;
    int op = -1;
    for (int i = 0; i < NUM_OPS; i++)
        if (strlen(OP_NAMES[i]) == nlen && memcmp(OP_NAMES[i], p->text + at, nlen) == 0) op = i;
    if (op < 0)
        return fail(p, at, "at column %zu: unknown operation '%.*s%s' (known: " OP_LIST ")", at + 1,
                    (int)(nlen > 24 ? 24 : nlen), p->text + at, nlen > 24 ? "..." : "");
    const char *name = OP_NAMES[op];
    p->pos = e;
    const int ns = slot_table(p);
    const int n = p->cur.n;
    int a = 0, b = 0, lone = 1;
    uint64_t k = 1, seed = 0;
    size_t col;
    char what[160];
    skip_ws(p);
    if (op == OP_ID || op == OP_MIDDLE) {
        int given = 0; /* middle: a span was given */
        if (peek(p) == '(') {
            p->pos++;
            skip_ws(p);
            if (op == OP_MIDDLE && peek(p) != ')') {
                if (parse_span(p, ns, &a, &b, &lone) || close_args(p, lone ? "'-' or " : "")) return -1;
                given = 1;
            } else if (close_args(p, "")) { /* id( x: id takes no arguments */
                return -1;
            }
        }
        if (op == OP_MIDDLE && !given) {
            if (ns < 3)
                return fail(p, at,
                            "at column %zu: middle without a span acts on slots 1..n-2 and needs at least 3 slots "
                            "(the body has %d); give a span, e.g. middle(0-%d)",
                            at + 1, ns, ns - 1);
            a = 1;
            b = ns - 2;
        }
    } else {
        if (peek(p) != '(') {
            snprintf(what, sizeof what, "'(' after '%s'", name);
            return expected(p, p->pos, what);
        }
        p->pos++;
        if (op == OP_SWAP) {
            if (parse_slot(p, ns, "a slot index", &a, NULL)) return -1;
            skip_ws(p);
            if (peek(p) != ',') return expected(p, p->pos, "',' and a second slot (swap(i, j) exchanges two slots)");
            p->pos++;
            if (parse_slot(p, ns, "a second slot index", &b, NULL) || close_args(p, "")) return -1;
        } else {
            if (parse_span(p, ns, &a, &b, &lone)) return -1;
            if (op == OP_SHUFFLE) {
                if (peek(p) != ',') {
                    snprintf(what, sizeof what, "%s',' and a seed (shuffle(SPAN, SEED))", lone ? "'-' or " : "");
                    return expected(p, p->pos, what);
                }
                p->pos++;
                if (parse_count(p, "a seed (an integer >= 0)", UINT64_MAX, 0, &seed, &col) || close_args(p, ""))
                    return -1;
            } else if ((op == OP_DUP || op == OP_PARALLEL) && peek(p) == ',') {
                p->pos++;
                if (parse_count(p, "K", MAX_INT, 1, &k, &col) || close_args(p, "")) return -1;
            } else {
                if (op == OP_DUP || op == OP_PARALLEL)
                    snprintf(what, sizeof what, "%s',' and K, or ", lone ? "'-', " : "");
                else
                    snprintf(what, sizeof what, "%s", lone ? "'-' or " : "");
                if (close_args(p, what)) return -1;
            }
        }
    }

    /* apply: build tmp from cur's slots (lengths checked first) */
    body *t = &p->tmp;
    const int span = p->start[b + 1] - p->start[a]; /* steps in slots a..b */
    t->n = 0;
    switch (op) {
    case OP_ID: return 0;
    case OP_SKIP:
        if (a == 0 && b == ns - 1)
            return fail(p, at, "at column %zu: skip removes every slot (%d of %d): the body would be empty", at + 1,
                        ns, ns);
        put_slots(p, 0, a - 1);
        put_slots(p, b + 1, ns - 1);
        break;
    case OP_SWAP:
        for (int i = 0; i < ns; i++) put_slot(p, i == a ? b : i == b ? a : i);
        break;
    case OP_REVERSE:
        put_slots(p, 0, a - 1);
        for (int i = b; i >= a; i--) put_slot(p, i);
        put_slots(p, b + 1, ns - 1);
        break;
    case OP_SHUFFLE: {
        ic_rng r;
        ic_rng_seed(&r, seed);
        const int w = b - a + 1;
        for (int i = 0; i < w; i++) p->perm[i] = a + i;
        for (int i = w - 1; i >= 1; i--) {
            int j = (int)ic_rng_below(&r, (uint64_t)i + 1);
            int x = p->perm[i];
            p->perm[i] = p->perm[j];
            p->perm[j] = x;
        }
        put_slots(p, 0, a - 1);
        for (int i = 0; i < w; i++) put_slot(p, p->perm[i]);
        put_slots(p, b + 1, ns - 1);
        break;
    }
    case OP_MIDDLE: {
        const int m = a + (b - a) / 2;
        uint64_t total = (uint64_t)(n - span) + (uint64_t)(b - a + 1) * (uint64_t)slot_len(p, m);
        if (total > IC_MAX_SCHEDULE) return op_too_long(p, at, name, total);
        put_slots(p, 0, a - 1);
        for (int i = a; i <= b; i++) put_slot(p, m);
        put_slots(p, b + 1, ns - 1);
        break;
    }
    case OP_DUP: {
        uint64_t total = (uint64_t)n + (uint64_t)span * k;
        if (total > IC_MAX_SCHEDULE) return op_too_long(p, at, name, total);
        put_slots(p, 0, b);
        for (uint64_t r = 0; r < k; r++) put_slots(p, a, b);
        put_slots(p, b + 1, ns - 1);
        break;
    }
    case OP_PARALLEL: {
        uint64_t total = (uint64_t)(n - span) + (uint64_t)span * k;
        if (total > IC_MAX_SCHEDULE) return op_too_long(p, at, name, total);
        put_slots(p, 0, a - 1);
        for (uint64_t r = 0; r < k; r++) {
            int g = t->n;
            put_slots(p, a, b);
            for (int i = g; i < t->n; i++) t->par[i] = i > g;
        }
        put_slots(p, b + 1, ns - 1);
        break;
    }
    }
    p->cur.n = t->n;
    memcpy(p->cur.steps, t->steps, (size_t)t->n * sizeof t->steps[0]);
    memcpy(p->cur.par, t->par, (size_t)t->n);
    return 0;
}

/* ---------------- text ---------------- */

/* The body a leading operation acts on. */
static int load_base(parser *p, const ic_schedule *base, size_t at) {
    if (base) {
        int n = base->n;
        if (n < 1 || n > IC_MAX_SCHEDULE)
            return fail(p, at, "at column %zu: the base schedule has %d steps; an operation needs 1..%d", at + 1, n,
                        IC_MAX_SCHEDULE);
        p->cur.n = n;
        for (int i = 0; i < n; i++) {
            p->cur.steps[i] = base->steps[i];
            p->cur.par[i] = i > 0 && base->par[i];
        }
        if (base->prelude || base->coda) { /* refused by parse_text */
            p->core_b = base->prelude;
            p->core_e = n - base->coda;
        }
        return 0;
    }
    if (p->n_layer <= 0)
        return fail(p, at, "at column %zu: an operation needs a body to act on, and there is neither a base schedule "
                    "nor a model size", at + 1);
    p->cur.n = p->n_layer < IC_MAX_SCHEDULE ? p->n_layer : IC_MAX_SCHEDULE;
    for (int i = 0; i < p->cur.n; i++) {
        p->cur.steps[i] = i;
        p->cur.par[i] = 0;
    }
    return 0;
}

/* text := part (';' part)* */
static int parse_text(parser *p, const ic_schedule *base) {
    for (int first = 1;; first = 0) {
        skip_ws(p);
        size_t at = p->pos;
        int c = peek(p);
        if (first && (is_digit(c) || c == '[' || c == '(' || c == '{')) {
            if (parse_expr(p, 0, 0)) return -1;
        } else if (is_alpha(c)) {
            if (first && load_base(p, base, at)) return -1;
            if (p->core_b >= 0)
                return fail(p, at, "at column %zu: operations on a body with a prelude or coda are not supported "
                            "(slots would move across the looped core's bounds); write the body out", at + 1);
            if (parse_op(p)) return -1;
            skip_ws(p);
            if (peek(p) != ';' && peek(p) != 0) return expected(p, p->pos, "';' or the end of the text");
        } else if (first) {
            return expected(p, at,
                            c == 0 ? "a block index, '[', '(' or an operation name (the schedule is empty)"
                                   : "a block index, '[', '(' or an operation name");
        } else {
            return expected(p, at, "an operation name (" OP_LIST ")");
        }
        if (peek(p) == 0) return 0;
        p->pos++; /* ';' */
    }
}

int ic_schedule_parse(ic_schedule *s, const char *text, const ic_schedule *base, int n_layer, ic_err *err) {
    if (!text) text = "";
    parser *p = malloc(sizeof *p);
    if (!p) return ic_errf(err, "out of memory parsing schedule");
    p->text = text;
    p->len = strlen(text);
    p->pos = 0;
    p->n_layer = n_layer;
    p->depth = 0;
    p->last_lone = 0;
    p->err = err;
    p->cur.n = 0;
    p->tmp.n = 0;
    p->core_b = p->core_e = -1;
    p->in_core = p->last_core = 0;
    int rc = parse_text(p, base);
    if (rc == 0 && p->core_b >= 0 && p->core_e == p->core_b)
        rc = fail(p, p->len, "the looped core '{}' is empty");
    if (rc == 0) {
        /* base may be s: it was copied into p->cur before s is written */
        s->n = p->cur.n;
        memcpy(s->steps, p->cur.steps, (size_t)p->cur.n * sizeof s->steps[0]);
        memcpy(s->par, p->cur.par, (size_t)p->cur.n);
        memset(s->steps + p->cur.n, 0, (size_t)(IC_MAX_SCHEDULE - p->cur.n) * sizeof s->steps[0]);
        memset(s->par + p->cur.n, 0, (size_t)(IC_MAX_SCHEDULE - p->cur.n));
        s->par[0] = 0;
        s->prelude = p->core_b >= 0 ? p->core_b : 0;
        s->coda = p->core_b >= 0 ? p->cur.n - p->core_e : 0;
    }
    free(p);
    return rc;
}
