/* fuzz_schedule.c: libFuzzer harness for the schedule language parser
 * (src/schedule.c).
 *
 * Each input is NUL-terminated (a copy; bytes after an inner NUL are not
 * seen) and parsed twice with n_layer 8: once on a fixed base with a
 * parallel group, 0,1,(2|3),4,5,6,7 (7 slots), and once with base NULL
 * (0..7). Either parse must
 *  - fail cleanly: rc -1, one line "schedule 'TEXT': ..." quoting the text
 *    (a short one whole), naming a column within 1..len+1, and s untouched
 *    (memcmp against a snapshot); or
 *  - succeed with n in 1..IC_MAX_SCHEDULE, every index in 0..7, par[0] == 0,
 *    par in {0, 1}, entries past n zero, the loop fields kept; and
 *    ic_schedule_format's text must parse back (base NULL) to the same
 *    steps and par, and a second parse of the input gives the same result.
 * Any violation calls abort(). ASan, UBSan (halt_on_error) and LSan watch
 * for memory errors, undefined behaviour (e.g. signed overflow) and leaks.
 *
 * Build and run: see fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

#define N_LAYER 8
#define FMT_LEN (8 * IC_MAX_SCHEDULE + 16)

#define CHECK(cond)                                                                                  \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "fuzz_schedule: check failed at line %d: %s\n", __LINE__, #cond);       \
            abort();                                                                                 \
        }                                                                                            \
    } while (0)

static void sentinel(ic_schedule *s) {
    memset(s, 0xa5, sizeof *s);
    s->n = 2;
    s->loops = 3;
    s->loss_loops = 2;
    s->grad_loops = 0;
    s->inject = 1;
    s->loop_lnf = 0;
}

/* A short text (<= 72 bytes) is quoted whole, control bytes as '?', and the
 * message after it names a column within 1..len+1; a long one is quoted as
 * a window, and the message still names a column. */
static void check_message(const char *msg, const char *text, size_t len) {
    CHECK(strncmp(msg, "schedule '", 10) == 0);
    if (len > 72) {
        CHECK(strstr(msg, "column ") != NULL);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        CHECK(msg[10 + i] == ((c < 0x20 || c == 0x7f) ? '?' : (char)c));
    }
    const char *rest = msg + 10 + len;
    CHECK(strncmp(rest, "': ", 3) == 0);
    rest += 3;
    const char *col = NULL;
    if (strncmp(rest, "at column ", 10) == 0) col = rest + 10;
    else if (strncmp(rest, "block ", 6) == 0 && strstr(rest, " at column ")) col = strstr(rest, " at column ") + 11;
    CHECK(col != NULL);
    unsigned long c = strtoul(col, NULL, 10);
    CHECK(c >= 1 && c <= len + 1);
}

static void check_one(const char *text, size_t len, const ic_schedule *base, ic_schedule *s, ic_schedule *t,
                      char *buf) {
    ic_schedule *snap = malloc(sizeof *snap);
    CHECK(snap != NULL);
    sentinel(s);
    *snap = *s;
    ic_err e;
    memset(&e, 0, sizeof e);
    int rc = ic_schedule_parse(s, text, base, N_LAYER, &e);
    if (rc != 0) {
        CHECK(rc == -1);
        CHECK(e.msg[0] != '\0');
        CHECK(strchr(e.msg, '\n') == NULL);
        check_message(e.msg, text, len);
        CHECK(memcmp(s, snap, sizeof *s) == 0);
        free(snap);
        return;
    }
    CHECK(s->n >= 1 && s->n <= IC_MAX_SCHEDULE);
    CHECK(s->par[0] == 0);
    for (int i = 0; i < s->n; i++) {
        CHECK(s->steps[i] >= 0 && s->steps[i] < N_LAYER);
        CHECK(s->par[i] <= 1);
    }
    for (int i = s->n; i < IC_MAX_SCHEDULE; i++) CHECK(s->steps[i] == 0 && s->par[i] == 0);
    CHECK(s->loops == snap->loops && s->loss_loops == snap->loss_loops && s->grad_loops == snap->grad_loops &&
          s->inject == snap->inject && s->loop_lnf == snap->loop_lnf);

    /* deterministic */
    sentinel(t);
    CHECK(ic_schedule_parse(t, text, base, N_LAYER, &e) == 0);
    CHECK(memcmp(s, t, sizeof *s) == 0);

    /* format -> parse reproduces steps and par */
    ic_schedule_format(s, buf, FMT_LEN);
    CHECK(strlen(buf) < FMT_LEN - 1);
    sentinel(t);
    if (ic_schedule_parse(t, buf, NULL, N_LAYER, &e) != 0) {
        fprintf(stderr, "fuzz_schedule: format output does not parse: %s\n", e.msg);
        abort();
    }
    CHECK(t->n == s->n);
    CHECK(memcmp(t->steps, s->steps, (size_t)s->n * sizeof s->steps[0]) == 0);
    CHECK(memcmp(t->par, s->par, (size_t)s->n) == 0);
    free(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text);

    ic_schedule *base = malloc(sizeof *base), *s = malloc(sizeof *s), *t = malloc(sizeof *t);
    char *buf = malloc(FMT_LEN);
    CHECK(base && s && t && buf);
    memset(base, 0, sizeof *base);
    static const int steps[] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const unsigned char par[] = {0, 0, 0, 1, 0, 0, 0, 0};
    base->n = 8;
    memcpy(base->steps, steps, sizeof steps);
    memcpy(base->par, par, sizeof par);
    base->loops = base->loss_loops = 1;

    check_one(text, len, base, s, t, buf);
    check_one(text, len, NULL, s, t, buf);

    free(buf);
    free(t);
    free(s);
    free(base);
    free(text);
    return 0;
}
