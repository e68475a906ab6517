/* test_schedule.c: the schedule language (src/schedule.h, docs/schedules.md).
 *
 * Every construct and every operation against hand-written index lists and
 * par flags; chains, operations on bodies with parallel groups, shuffle's
 * documented procedure; the plain list syntax; format -> parse round trips;
 * a table of malformed inputs, each with the column and phrase its message
 * must contain (and s unchanged); length and overflow limits; the config
 * key; and the fuzzer's corpus (fuzz/corpus_schedule/) replayed with the
 * harness's invariants. Run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "model.h"
#include "rng.h"
#include "schedule.h"
#include "testutil.h"

#define CORPUS_DIR "fuzz/corpus_schedule"
#define FMT_LEN (8 * IC_MAX_SCHEDULE + 16)

/* ---- helpers ---- */

/* A schedule filled with a pattern (so "unchanged" and "loop fields kept"
 * can be checked with memcmp). */
static void fill_pattern(ic_schedule *s) {
    memset(s, 0x5a, sizeof *s);
    s->n = 3;
    s->loops = 7;
    s->loss_loops = 2;
    s->grad_loops = 5;
    s->inject = 0;
    s->loop_lnf = 1;
    s->prelude = s->coda = 0;
    s->loop_signal = 1;
}

/* par given as a string of '0'/'1' (NULL: all 0). */
static void assert_body(const char *text, const ic_schedule *s, int n, const int *steps, const char *par) {
    char got[FMT_LEN];
    ic_schedule_format(s, got, sizeof got);
    if (s->n != n) fail_msg("'%s': got %d steps (%s), want %d", text, s->n, got, n);
    for (int i = 0; i < n; i++) {
        int want_par = par ? par[i] - '0' : 0;
        if (s->steps[i] != steps[i] || s->par[i] != want_par)
            fail_msg("'%s': step %d is %d (par %d), want %d (par %d); got %s", text, i, s->steps[i], s->par[i], steps[i],
                     want_par, got);
    }
    /* entries past n are zeroed, loop fields kept */
    for (int i = n; i < IC_MAX_SCHEDULE; i++)
        if (s->steps[i] || s->par[i]) fail_msg("'%s': entry %d past n is not zero", text, i);
    assert_int_equal(s->loops, 7);
    assert_int_equal(s->loss_loops, 2);
    assert_int_equal(s->grad_loops, 5);
    assert_int_equal(s->inject, 0);
    assert_int_equal(s->loop_lnf, 1);
}

typedef struct {
    const char *text;
    int n;
    int steps[24];
    const char *par; /* '0'/'1' per step; NULL: all 0 */
} body_case;

static void run_cases(const body_case *c, int nc, const ic_schedule *base, int n_layer) {
    for (int i = 0; i < nc; i++) {
        ic_schedule *s = malloc(sizeof *s);
        assert_non_null(s);
        fill_pattern(s);
        ic_err err = {{0}};
        if (ic_schedule_parse(s, c[i].text, base, n_layer, &err)) fail_msg("'%s' failed: %s", c[i].text, err.msg);
        assert_body(c[i].text, s, c[i].n, c[i].steps, c[i].par);
        free(s);
    }
}

static ic_schedule *parse_new(const char *text, const ic_schedule *base, int n_layer) {
    ic_schedule *s = malloc(sizeof *s);
    assert_non_null(s);
    fill_pattern(s);
    ic_err err = {{0}};
    if (ic_schedule_parse(s, text, base, n_layer, &err)) fail_msg("'%s' failed: %s", text, err.msg);
    return s;
}

#define NCASES(a) ((int)(sizeof(a) / sizeof(a)[0]))

/* ---- the struct: default, validation, the slot walk ---- */

static void test_struct_and_slots(void **st) {
    (void)st;
    ic_schedule *s = malloc(sizeof *s);
    assert_non_null(s);
    ic_err err = {{0}};
    ic_schedule_default(s, 5);
    assert_int_equal(s->n, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(s->steps[i], i), assert_int_equal(s->par[i], 0);
    assert_int_equal(s->loops, 1);
    assert_int_equal(s->loss_loops, 1);
    assert_int_equal(ic_schedule_grad_loops(s), 1);
    assert_int_equal(ic_schedule_validate(s, 5, &err), 0);
    assert_int_equal(ic_schedule_validate(s, 4, &err), -1); /* block 4 is not in a 4-block model */
    assert_non_null(strstr(err.msg, "blocks 0..3"));
    s->loops = 6;
    s->loss_loops = 2;
    assert_int_equal(ic_schedule_grad_loops(s), 2);
    s->grad_loops = 1;
    assert_int_equal(ic_schedule_validate(s, 5, &err), -1);
    assert_non_null(strstr(err.msg, "grad_loops"));
    s->grad_loops = 5;
    assert_int_equal(ic_schedule_grad_loops(s), 5);
    ic_schedule_set_loops(s, 3); /* a --loops override lowers loss and gradient loops */
    assert_int_equal(s->loops, 3);
    assert_int_equal(s->loss_loops, 2);
    assert_int_equal(s->grad_loops, 3);
    assert_int_equal(ic_schedule_validate(s, 5, &err), 0);
    free(s);

    /* slots forwards and backwards: the groups of 0,(1|2),3,(4|4|0),1 */
    static const struct {
        const char *text;
        int slots, starts[8], ends[8];
    } cases[] = {
        {"0,(1|2),3,(4|4|0),1", 5, {0, 1, 3, 4, 7}, {1, 3, 4, 7, 8}},
        {"2", 1, {0}, {1}},
        {"(0|1)", 1, {0}, {2}},
        {"3,2,1,0", 4, {0, 1, 2, 3}, {1, 2, 3, 4}},
        {"(0|1),(2|3)", 2, {0, 2}, {2, 4}},
    };
    for (int c = 0; c < NCASES(cases); c++) {
        ic_schedule *g = parse_new(cases[c].text, NULL, 5);
        assert_int_equal(ic_schedule_slots(g), cases[c].slots);
        int q = 0;
        for (int j0 = 0; j0 < g->n; j0 = ic_schedule_group_end(g, j0), q++) {
            assert_true(q < cases[c].slots);
            assert_int_equal(j0, cases[c].starts[q]);
            assert_int_equal(ic_schedule_group_end(g, j0), cases[c].ends[q]);
        }
        assert_int_equal(q, cases[c].slots);
        for (int j1 = g->n; j1 > 0; j1 = ic_schedule_group_start(g, j1)) {
            q--;
            assert_int_equal(j1, cases[c].ends[q]);
            assert_int_equal(ic_schedule_group_start(g, j1), cases[c].starts[q]);
        }
        assert_int_equal(q, 0);
        free(g);
    }
}

/* ---- expressions ---- */

static void test_expressions(void **st) {
    (void)st;
    static const body_case C[] = {
        {"3", 1, {3}, NULL},
        {"0,1,1,2", 4, {0, 1, 1, 2}, NULL},
        {"0-5", 6, {0, 1, 2, 3, 4, 5}, NULL},
        {"5-3", 3, {5, 4, 3}, NULL},
        {"5-0", 6, {5, 4, 3, 2, 1, 0}, NULL},
        {"2-2", 1, {2}, NULL},
        {"0-2,4,1-0", 6, {0, 1, 2, 4, 1, 0}, NULL},
        {"3*3", 3, {3, 3, 3}, NULL},
        {"0,1*3", 4, {0, 1, 1, 1}, NULL},
        {"0-2*2", 6, {0, 1, 2, 0, 1, 2}, NULL},
        {"[0,1]*2", 4, {0, 1, 0, 1}, NULL},
        {"[0]", 1, {0}, NULL},
        {"[[0,1]*2,2]*2", 10, {0, 1, 0, 1, 2, 0, 1, 0, 1, 2}, NULL},
        {"[5-4,[0]],[[3]]*2", 5, {5, 4, 0, 3, 3}, NULL},
        {"(2|3|4)", 3, {2, 3, 4}, "011"},
        {"(2-4)", 3, {2, 3, 4}, "011"},
        {"(4-2)", 3, {4, 3, 2}, "011"},
        {"(0|2-3|5)", 4, {0, 2, 3, 5}, "0111"},
        {"(2)", 1, {2}, "0"},
        {"(2|2)", 2, {2, 2}, "01"},
        {"(2-3)*3", 6, {2, 3, 2, 3, 2, 3}, "010101"},
        {"0,(1|2)*2,3", 6, {0, 1, 2, 1, 2, 3}, "001010"},
        {"(1|2),(1|2)", 4, {1, 2, 1, 2}, "0101"},
        {"(1|2),3,(4|5)", 5, {1, 2, 3, 4, 5}, "01001"},
        {"[(1|2),3]*2", 6, {1, 2, 3, 1, 2, 3}, "010010"},
        {"[0,[(4|5)*2]]", 5, {0, 4, 5, 4, 5}, "00101"},
        {" 0 - 2 , [ 1 ] * 2 ", 5, {0, 1, 2, 1, 1}, NULL},
        {"\t0,\n1\r,\v2\f", 3, {0, 1, 2}, NULL},
        {"( 2 | 3 - 4 ) * 2", 6, {2, 3, 4, 2, 3, 4}, "011011"},
        {"007,00", 2, {7, 0}, NULL},
    };
    run_cases(C, NCASES(C), NULL, 8);
}

/* ---- operations on the default body 0..5 ---- */

static void test_operations(void **st) {
    (void)st;
    static const body_case C[] = {
        {"id", 6, {0, 1, 2, 3, 4, 5}, NULL},
        {"id()", 6, {0, 1, 2, 3, 4, 5}, NULL},
        {" id ( ) ", 6, {0, 1, 2, 3, 4, 5}, NULL},
        {"skip(2)", 5, {0, 1, 3, 4, 5}, NULL},
        {"skip(0)", 5, {1, 2, 3, 4, 5}, NULL},
        {"skip(5)", 5, {0, 1, 2, 3, 4}, NULL},
        {"skip(1-3)", 3, {0, 4, 5}, NULL},
        {"skip(0-4)", 1, {5}, NULL},
        {"skip(2-2)", 5, {0, 1, 3, 4, 5}, NULL},
        {"swap(1,4)", 6, {0, 4, 2, 3, 1, 5}, NULL},
        {"swap(4, 1)", 6, {0, 4, 2, 3, 1, 5}, NULL},
        {"swap(0,5)", 6, {5, 1, 2, 3, 4, 0}, NULL},
        {"swap(2,2)", 6, {0, 1, 2, 3, 4, 5}, NULL},
        {"reverse(1-4)", 6, {0, 4, 3, 2, 1, 5}, NULL},
        {"reverse(0-5)", 6, {5, 4, 3, 2, 1, 0}, NULL},
        {"reverse(3)", 6, {0, 1, 2, 3, 4, 5}, NULL},
        {"reverse(4-5)", 6, {0, 1, 2, 3, 5, 4}, NULL},
        {"middle", 6, {0, 2, 2, 2, 2, 5}, NULL},   /* slots 1..4, lower middle 2 */
        {"middle()", 6, {0, 2, 2, 2, 2, 5}, NULL},
        {"middle(0-3)", 6, {1, 1, 1, 1, 4, 5}, NULL}, /* even width: lower middle */
        {"middle(1-3)", 6, {0, 2, 2, 2, 4, 5}, NULL},
        {"middle(0-5)", 6, {2, 2, 2, 2, 2, 2}, NULL},
        {"middle(4-5)", 6, {0, 1, 2, 3, 4, 4}, NULL},
        {"middle(2)", 6, {0, 1, 2, 3, 4, 5}, NULL},
        {"dup(2-3)", 8, {0, 1, 2, 3, 2, 3, 4, 5}, NULL},
        {"dup(2)", 7, {0, 1, 2, 2, 3, 4, 5}, NULL},
        {"dup(5)", 7, {0, 1, 2, 3, 4, 5, 5}, NULL},
        {"dup(0)", 7, {0, 0, 1, 2, 3, 4, 5}, NULL},
        {"dup(2-3, 2)", 10, {0, 1, 2, 3, 2, 3, 2, 3, 4, 5}, NULL},
        {"dup(1,1)", 7, {0, 1, 1, 2, 3, 4, 5}, NULL},
        {"dup(0-5)", 12, {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, NULL},
        {"parallel(2-3)", 6, {0, 1, 2, 3, 4, 5}, "000100"},
        {"parallel(2-3, 2)", 8, {0, 1, 2, 3, 2, 3, 4, 5}, "00010100"},
        {"parallel(0-5)", 6, {0, 1, 2, 3, 4, 5}, "011111"},
        {"parallel(1-4,1)", 6, {0, 1, 2, 3, 4, 5}, "001110"},
        {"parallel(2)", 6, {0, 1, 2, 3, 4, 5}, NULL},
        {"parallel(2, 3)", 8, {0, 1, 2, 2, 2, 3, 4, 5}, NULL},
        {"parallel(4-5,3)", 10, {0, 1, 2, 3, 4, 5, 4, 5, 4, 5}, "0000010101"},
    };
    run_cases(C, NCASES(C), NULL, 6);
}

/* ---- chains, and an expression followed by operations ---- */

static void test_chains(void **st) {
    (void)st;
    static const body_case C[] = {
        {"swap(1,2);skip(0)", 5, {2, 1, 3, 4, 5}, NULL},
        {"0-3;reverse(1-2)", 4, {0, 2, 1, 3}, NULL},
        {"skip(0);skip(0)", 4, {2, 3, 4, 5}, NULL},
        {"skip(0) ; skip(0) ; id", 4, {2, 3, 4, 5}, NULL},
        {"dup(1);swap(0,2)", 7, {1, 1, 0, 2, 3, 4, 5}, NULL},
        {"0-3;skip(1);id", 3, {0, 2, 3}, NULL},
        {"5-0;skip(0);reverse(0-4)", 5, {0, 1, 2, 3, 4}, NULL},
        {"[0,1]*3;dup(4-5)", 8, {0, 1, 0, 1, 0, 1, 0, 1}, NULL},
        {"parallel(1-2);dup(1,2)", 10, {0, 1, 2, 1, 2, 1, 2, 3, 4, 5}, "0010101000"},
        {"parallel(1-2);skip(1)", 4, {0, 3, 4, 5}, NULL},
        /* after parallel(1-2) there are 5 slots: middle acts on 1..3 */
        {"parallel(1-2);middle", 5, {0, 3, 3, 3, 5}, NULL},
        {"0,(1|2),3;skip(1)", 2, {0, 3}, NULL},
        {"0,(1|2),3;parallel(0-1)", 4, {0, 1, 2, 3}, "0110"},
        {"0-2;dup(0-2,2);skip(0)", 8, {1, 2, 0, 1, 2, 0, 1, 2}, NULL},
    };
    run_cases(C, NCASES(C), NULL, 6);
}

/* ---- operations on a body that already has groups ---- */

static void test_ops_on_groups(void **st) {
    (void)st;
    ic_schedule *base = parse_new("0,(1|2),3,(4|5)", NULL, 6); /* slots: 0 (1|2) 3 (4|5) */
    static const body_case C[] = {
        {"id", 6, {0, 1, 2, 3, 4, 5}, "001001"},
        {"skip(1)", 4, {0, 3, 4, 5}, "0001"},
        {"skip(3)", 4, {0, 1, 2, 3}, "0010"},
        {"skip(0-1)", 3, {3, 4, 5}, "001"},
        {"swap(1,3)", 6, {0, 4, 5, 3, 1, 2}, "001001"},
        {"swap(0,1)", 6, {1, 2, 0, 3, 4, 5}, "010001"},
        {"reverse(0-3)", 6, {4, 5, 3, 1, 2, 0}, "010010"},
        {"dup(1)", 8, {0, 1, 2, 1, 2, 3, 4, 5}, "00101001"},
        {"dup(1-2,2)", 12, {0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 5}, "001001001001"},
        {"middle(0-2)", 8, {1, 2, 1, 2, 1, 2, 4, 5}, "01010101"}, /* the middle slot is a group */
        {"middle", 7, {0, 1, 2, 1, 2, 4, 5}, "0010101"},            /* slots 1..2: middle slot 1 */
        {"middle(2-3)", 5, {0, 1, 2, 3, 3}, "00100"},                /* lower middle: slot 2 = block 3 */
        {"parallel(1-2)", 6, {0, 1, 2, 3, 4, 5}, "001101"},
        {"parallel(0-3)", 6, {0, 1, 2, 3, 4, 5}, "011111"},
        {"parallel(1,2)", 8, {0, 1, 2, 1, 2, 3, 4, 5}, "00101001"},
        {"parallel(3);skip(0)", 5, {1, 2, 3, 4, 5}, "01001"},
        {"shuffle(2,9)", 6, {0, 1, 2, 3, 4, 5}, "001001"}, /* one slot: nothing drawn */
    };
    run_cases(C, NCASES(C), base, 6);

    /* a slot past the end counts groups once */
    ic_schedule s;
    fill_pattern(&s);
    ic_err err = {{0}};
    assert_int_equal(ic_schedule_parse(&s, "skip(4)", base, 6, &err), -1);
    assert_non_null(strstr(err.msg, "slot 4 is past the end of the body (4 slots: 0..3)"));
    free(base);
}

/* ---- the base argument ---- */

static void test_base(void **st) {
    (void)st;
    ic_err err = {{0}};
    ic_schedule *base = parse_new("3,0,2", NULL, 0);
    static const body_case C[] = {
        {"skip(0)", 2, {0, 2}, NULL},
        {"id", 3, {3, 0, 2}, NULL},
        {"dup(2)", 4, {3, 0, 2, 2}, NULL},
        {"1,1", 2, {1, 1}, NULL}, /* an expression ignores the base */
    };
    run_cases(C, NCASES(C), base, 6);

    /* base NULL: 0..n_layer-1 */
    static const body_case D[] = {{"id", 3, {0, 1, 2}, NULL}, {"skip(1)", 2, {0, 2}, NULL}};
    run_cases(D, NCASES(D), NULL, 3);

    /* base may be s itself */
    ic_schedule *s = parse_new("0,(1|2),3", NULL, 4);
    assert_int_equal(ic_schedule_parse(s, "swap(0,1);dup(2)", s, 4, &err), 0);
    assert_int_equal(s->n, 5);
    const int want[] = {1, 2, 0, 3, 3};
    const unsigned char wpar[] = {0, 1, 0, 0, 0};
    assert_memory_equal(s->steps, want, sizeof want);
    assert_memory_equal(s->par, wpar, sizeof wpar);

    /* base NULL and no model size: a leading operation has nothing to act on */
    ic_schedule before = *s;
    assert_int_equal(ic_schedule_parse(s, "skip(1)", NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "needs a body"));
    assert_memory_equal(s, &before, sizeof before);
    /* a base without steps cannot be operated on */
    ic_schedule *empty = calloc(1, sizeof *empty);
    assert_non_null(empty);
    assert_int_equal(ic_schedule_parse(s, "id", empty, 6, &err), -1);
    assert_non_null(strstr(err.msg, "the base schedule has 0 steps"));
    assert_memory_equal(s, &before, sizeof before);
    assert_int_equal(ic_schedule_parse(s, "0,1", empty, 6, &err), 0); /* an expression does not need it */
    free(empty);
    /* ... and an expression is fine, unchecked */
    assert_int_equal(ic_schedule_parse(s, "4000,9", NULL, 0, &err), 0);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->steps[0], 4000);

    /* n_layer above IC_MAX_SCHEDULE: the default body is 0..IC_MAX_SCHEDULE-1, as ic_schedule_default */
    assert_int_equal(ic_schedule_parse(s, "id", NULL, 4096, &err), 0);
    assert_int_equal(s->n, IC_MAX_SCHEDULE);
    assert_int_equal(s->steps[IC_MAX_SCHEDULE - 1], IC_MAX_SCHEDULE - 1);
    assert_int_equal(ic_schedule_parse(s, "4095", NULL, 4096, &err), 0);
    assert_int_equal(ic_schedule_parse(s, "4096", NULL, 4096, &err), -1);
    assert_non_null(strstr(err.msg, "block 4096 at column 1 is not in the model (blocks 0..4095)"));
    free(s);
    free(base);
}

/* ---- shuffle ---- */

/* The procedure documented in schedule.h, written out independently. */
static void shuffle_ref(int *slots, int a, int b, uint64_t seed) {
    ic_rng r;
    ic_rng_seed(&r, seed);
    int w = b - a + 1, perm[64];
    for (int k = 0; k < w; k++) perm[k] = slots[a + k];
    for (int i = w - 1; i >= 1; i--) {
        int j = (int)ic_rng_below(&r, (uint64_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int k = 0; k < w; k++) slots[a + k] = perm[k];
}

static void test_shuffle(void **st) {
    (void)st;
    ic_err err = {{0}};
    /* pinned: the procedure must not change (documented for reproduction) */
    static const body_case C[] = {
        {"shuffle(0-5, 1)", 6, {3, 5, 4, 0, 2, 1}, NULL},
        {"shuffle(0-5,2)", 6, {4, 0, 3, 1, 2, 5}, NULL},
        {"shuffle(2, 7)", 6, {0, 1, 2, 3, 4, 5}, NULL},
    };
    run_cases(C, NCASES(C), NULL, 6);

    char text[64];
    int distinct = 0;
    int prev[12] = {0};
    for (uint64_t seed = 0; seed < 40; seed++) {
        snprintf(text, sizeof text, "shuffle(2-9, %llu)", (unsigned long long)seed);
        ic_schedule *s = parse_new(text, NULL, 12);
        ic_schedule *s2 = parse_new(text, NULL, 12);
        /* same seed, same order */
        assert_int_equal(s->n, 12);
        assert_memory_equal(s->steps, s2->steps, sizeof s->steps);
        /* the span only, and a permutation of it */
        assert_int_equal(s->steps[0], 0);
        assert_int_equal(s->steps[1], 1);
        assert_int_equal(s->steps[10], 10);
        assert_int_equal(s->steps[11], 11);
        int seen[12] = {0};
        for (int i = 2; i <= 9; i++) {
            assert_true(s->steps[i] >= 2 && s->steps[i] <= 9);
            seen[s->steps[i]]++;
        }
        for (int i = 2; i <= 9; i++) assert_int_equal(seen[i], 1);
        /* the documented procedure */
        int ref[12];
        for (int i = 0; i < 12; i++) ref[i] = i;
        shuffle_ref(ref, 2, 9, seed);
        assert_memory_equal(s->steps, ref, sizeof ref);
        if (seed > 0 && memcmp(prev, s->steps, sizeof prev) != 0) distinct++;
        memcpy(prev, s->steps, sizeof prev);
        free(s);
        free(s2);
    }
    /* different seeds give different orders (8! orders: repeats are rare) */
    assert_true(distinct >= 37);
    ic_schedule *a = parse_new("shuffle(0-5,1)", NULL, 6), *b = parse_new("shuffle(0-5,3)", NULL, 6);
    assert_memory_not_equal(a->steps, b->steps, 6 * sizeof(int));
    free(a);
    free(b);

    /* groups move whole */
    ic_schedule *base = parse_new("0,(1|2),3,(4|5),6", NULL, 7);
    for (uint64_t seed = 1; seed <= 20; seed++) {
        snprintf(text, sizeof text, "shuffle(0-4,%llu)", (unsigned long long)seed);
        ic_schedule *s = malloc(sizeof *s);
        fill_pattern(s);
        assert_int_equal(ic_schedule_parse(s, text, base, 7, &err), 0);
        assert_int_equal(s->n, 7);
        int slots_ref[5] = {0, 1, 2, 3, 4};
        shuffle_ref(slots_ref, 0, 4, seed);
        static const int members[5][2] = {{0, -1}, {1, 2}, {3, -1}, {4, 5}, {6, -1}};
        int at = 0;
        for (int k = 0; k < 5; k++) {
            const int *m = members[slots_ref[k]];
            assert_int_equal(s->steps[at], m[0]);
            assert_int_equal(s->par[at], 0);
            at++;
            if (m[1] >= 0) {
                assert_int_equal(s->steps[at], m[1]);
                assert_int_equal(s->par[at], 1);
                at++;
            }
        }
        free(s);
    }
    /* seeds use the full 64 bits */
    ic_schedule *big = parse_new("shuffle(0-5,18446744073709551615)", NULL, 6);
    free(big);
    free(base);
}

/* ---- the plain list syntax ---- */

static void test_plain_lists(void **st) {
    (void)st;
    static const struct {
        const char *text;
        int n, steps[5];
    } lists[] = {{"0", 1, {0}},         {"0,1,1,2", 4, {0, 1, 1, 2}}, {"0, 1,2 ,3", 4, {0, 1, 2, 3}},
                 {"2,0,1,1", 4, {2, 0, 1, 1}}, {"3,3,3,3,0", 5, {3, 3, 3, 3, 0}}, {" 1 , 0 ", 2, {1, 0}}};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
        ic_schedule a;
        ic_err err = {{0}};
        fill_pattern(&a);
        assert_int_equal(ic_schedule_parse(&a, lists[i].text, NULL, 4, &err), 0);
        assert_int_equal(a.n, lists[i].n);
        assert_memory_equal(a.steps, lists[i].steps, (size_t)a.n * sizeof a.steps[0]);
        for (int j = 0; j < a.n; j++) assert_int_equal(a.par[j], 0);
    }
}

/* ---- format -> parse ---- */

static void roundtrip(const ic_schedule *s, int n_layer) {
    char *buf = malloc(FMT_LEN);
    assert_non_null(buf);
    ic_schedule_format(s, buf, FMT_LEN);
    assert_true(strlen(buf) < FMT_LEN - 1);
    ic_schedule *t = malloc(sizeof *t);
    assert_non_null(t);
    fill_pattern(t);
    ic_err err = {{0}};
    if (ic_schedule_parse(t, buf, NULL, n_layer, &err)) fail_msg("format output '%.60s' does not parse: %s", buf, err.msg);
    assert_int_equal(t->n, s->n);
    assert_memory_equal(t->steps, s->steps, (size_t)s->n * sizeof s->steps[0]);
    assert_memory_equal(t->par, s->par, (size_t)s->n);
    assert_int_equal(t->prelude, s->prelude);
    assert_int_equal(t->coda, s->coda);
    free(t);
    free(buf);
}

static void test_format_roundtrip(void **st) {
    (void)st;
    const char *texts[] = {"0-5",        "(2|3)",           "0,(1|2),3",          "(0-5)",         "(1|2),(1|2)",
                           "(2-3)*4,1",  "[(0|1),2]*3",     "parallel(2-3, 2)",   "parallel(0-5)", "dup(2-3)",
                           "(2|2),(2)",  "0,(4-1),5,(5|0)", "parallel(1-2);dup(1,3);reverse(0-5)"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        ic_schedule *s = parse_new(texts[i], NULL, 6);
        roundtrip(s, 6);
        free(s);
    }
    /* the formatted text of a known body, and random bodies up to the limit */
    ic_schedule *s = parse_new("parallel(2-3, 2)", NULL, 6);
    char buf[128];
    assert_string_equal(ic_schedule_format(s, buf, sizeof buf), "0,1,(2|3),(2|3),4,5");
    free(s);
    tu_rng r = tu_rng_make(5);
    s = malloc(sizeof *s);
    assert_non_null(s);
    for (int trial = 0; trial < 200; trial++) {
        fill_pattern(s);
        s->n = 1 + (int)(tu_rng_u64(&r) % (trial < 20 ? IC_MAX_SCHEDULE : 40));
        if (trial == 0) s->n = IC_MAX_SCHEDULE;
        for (int i = 0; i < s->n; i++) {
            s->steps[i] = (int)(tu_rng_u64(&r) % (trial < 10 ? 4096 : 7));
            s->par[i] = i > 0 && tu_rng_u64(&r) % 3 == 0;
        }
        roundtrip(s, 4096);
    }
    free(s);
}

/* ---- errors ---- */

typedef struct {
    const char *text;
    int n_layer;
    const char *where;  /* the column part of the message */
    const char *phrase; /* what it says */
} bad_case;

static void check_bad(const bad_case *c, const ic_schedule *base) {
    ic_schedule *s = malloc(sizeof *s), *before = malloc(sizeof *before);
    assert_non_null(s);
    assert_non_null(before);
    fill_pattern(s);
    *before = *s;
    ic_err err = {{0}};
    if (ic_schedule_parse(s, c->text, base, c->n_layer, &err) != -1) fail_msg("'%s' was accepted", c->text);
    if (strncmp(err.msg, "schedule '", 10) != 0) fail_msg("'%s': message does not quote the text: %s", c->text, err.msg);
    if (!strstr(err.msg, c->where)) fail_msg("'%s': message \"%s\" lacks \"%s\"", c->text, err.msg, c->where);
    if (!strstr(err.msg, c->phrase)) fail_msg("'%s': message \"%s\" lacks \"%s\"", c->text, err.msg, c->phrase);
    if (strchr(err.msg, '\n')) fail_msg("'%s': message is not one line", c->text);
    if (memcmp(s, before, sizeof *s)) fail_msg("'%s': s changed on error", c->text);
    free(s);
    free(before);
}

static void test_errors(void **st) {
    (void)st;
    static const bad_case B[] = {
        /* syntax */
        {"0,1,x", 6, "at column 5 ('x')", "expected a block index, '[' or '('"},
        {"", 6, "at column 1 (end of the text)", "the schedule is empty"},
        {"   ", 6, "at column 4 (end of the text)", "the schedule is empty"},
        {",", 6, "at column 1 (',')", "expected a block index, '[', '(' or an operation name"},
        {"0,", 6, "at column 3 (end of the text)", "expected a block index, '[' or '('"},
        {"0,,1", 6, "at column 3 (',')", "expected a block index"},
        {"0,-1", 6, "at column 3 ('-')", "expected a block index"},
        {"0 1", 6, "at column 3 ('1')", "expected '-', '*', ',', ';' or the end of the text"},
        {"0-2 1", 6, "at column 5 ('1')", "expected '*', ',', ';' or the end of the text"},
        {"0*2*2", 6, "at column 4 ('*')", "expected ',', ';' or the end of the text"},
        {"0-", 6, "at column 3 (end of the text)", "a block index after '-'"},
        {"0-x", 6, "at column 3 ('x')", "a block index after '-'"},
        {"0*", 6, "at column 3 (end of the text)", "a repeat count"},
        {"0*x", 6, "at column 3 ('x')", "a repeat count"},
        {"0,\x01", 6, "at column 3 (byte 0x01)", "expected a block index"},
        {"0,1\n,x", 6, "at column 6 ('x')", "schedule '0,1?,x'"},
        /* brackets */
        {"[0,1", 6, "at column 5 (end of the text)", "expected '-', '*', ',' or ']' (the '[' at column 1 is not closed)"},
        {"[[0],1", 6, "at column 7 (end of the text)", "the '[' at column 1 is not closed"},
        {"[]", 6, "at column 2 (']')", "expected a block index, '[' or '('"},
        {"0,1]", 6, "at column 4 (']')", "this ']' has no matching '['"},
        {"0)", 6, "at column 2 (')')", "this ')' has no matching '('"},
        {"[0)", 6, "at column 3 (')')", "expected '-', '*', ',' or ']'"},
        {"(2|3", 6, "at column 5 (end of the text)", "the '(' at column 1 is not closed"},
        {"(2|3]", 6, "at column 5 (']')", "expected '-', '|' or ')'"},
        {"()", 6, "at column 2 (')')", "a parallel group cannot be empty"},
        {"0,( )", 6, "at column 5 (')')", "a parallel group cannot be empty"},
        {"(2,3)", 6, "at column 3 (',')", "members of a parallel group are separated by '|'"},
        {"(2|)", 6, "at column 4 (')')", "a block index after '|'"},
        {"([0])", 6, "at column 2 ('[')", "expected a block index"},
        {"0|1", 6, "at column 2 ('|')", "inside '(' ')'"},
        /* blocks and numbers */
        {"0,7", 6, "block 7 at column 3", "is not in the model (blocks 0..5)"},
        {"6-0", 6, "block 6 at column 1", "is not in the model (blocks 0..5)"},
        {"0-9", 6, "block 9 at column 3", "is not in the model"},
        {"(1|8)", 6, "block 8 at column 4", "is not in the model"},
        {"1000000000", 6, "block 1000000000 at column 1", "is not in the model"},
        {"1000000001", 6, "at column 1", "number too large (at most 1000000000)"},
        {"4294967297", 0, "at column 1", "number too large"},
        {"0,99999999999999999999999", 0, "at column 3", "number too large"},
        {"0*0", 6, "at column 3", "the repeat count must be at least 1"},
        {"0*99999999999", 6, "at column 3", "number too large"},
        /* operations */
        {"foo(1)", 6, "at column 1", "unknown operation 'foo' (known: id, skip, swap, reverse, shuffle, middle, dup, parallel)"},
        {"Skip(1)", 6, "at column 1", "unknown operation 'Skip'"},
        {"skip2(1)", 6, "at column 1", "unknown operation 'skip2'"},
        {"0;bar", 6, "at column 3", "unknown operation 'bar'"},
        {"skip(9)", 6, "at column 6", "slot 9 is past the end of the body (6 slots: 0..5)"},
        {"skip(1-6)", 6, "at column 8", "slot 6 is past the end of the body (6 slots: 0..5)"},
        {"0;skip(1)", 6, "at column 8", "slot 1 is past the end of the body (1 slot: 0)"},
        {"skip(0-5)", 6, "at column 1", "the body would be empty"},
        {"0,1;skip(0);skip(0)", 6, "at column 13", "the body would be empty"},
        {"skip(3-1)", 6, "at column 6", "the slot range 3-1 is descending: a span is written low-high (1-3)"},
        {"skip()", 6, "at column 6 (')')", "expected a slot index"},
        {"skip(2", 6, "at column 7 (end of the text)", "expected '-' or ')'"},
        {"skip(2-3", 6, "at column 9 (end of the text)", "expected ')'"},
        {"skip(2,3)", 6, "at column 7 (',')", "expected '-' or ')'"},
        {"skip 2", 6, "at column 6 ('2')", "expected '(' after 'skip'"},
        {"skip", 6, "at column 5 (end of the text)", "expected '(' after 'skip'"},
        {"skip(2)x", 6, "at column 8 ('x')", "expected ';' or the end of the text"},
        {"skip(2) skip(1)", 6, "at column 9 ('s')", "expected ';' or the end of the text"},
        {"skip(1);", 6, "at column 9 (end of the text)", "expected an operation name (id, skip"},
        {"0;1", 6, "at column 3 ('1')", "expected an operation name"},
        {"0-3;", 6, "at column 5 (end of the text)", "expected an operation name"},
        {"skip(1);;", 6, "at column 9 (';')", "expected an operation name"},
        {"swap(1)", 6, "at column 7 (')')", "expected ',' and a second slot (swap(i, j) exchanges two slots)"},
        {"swap(1-2,3)", 6, "at column 7 ('-')", "expected ','"},
        {"swap(1,)", 6, "at column 8 (')')", "expected a second slot index"},
        {"swap(1,2,3)", 6, "at column 9 (',')", "expected ')'"},
        {"swap(1,6)", 6, "at column 8", "slot 6 is past the end"},
        {"reverse(2-1)", 6, "at column 9", "descending"},
        {"shuffle(0-5)", 6, "at column 12 (')')", "expected ',' and a seed"},
        {"shuffle(0)", 6, "at column 10 (')')", "expected '-' or ',' and a seed"},
        {"shuffle(0-5,)", 6, "at column 13 (')')", "expected a seed"},
        {"shuffle(0-5,-1)", 6, "at column 13 ('-')", "expected a seed"},
        {"shuffle(0-5,18446744073709551616)", 6, "at column 13", "number too large (at most 18446744073709551615)"},
        {"shuffle(0-5,1,2)", 6, "at column 14 (',')", "expected ')'"},
        {"middle(", 6, "at column 8 (end of the text)", "expected a slot index"},
        {"middle(1-2-3)", 6, "at column 11 ('-')", "expected ')'"},
        {"middle", 2, "at column 1", "needs at least 3 slots (the body has 2)"},
        {"0,1;middle()", 6, "at column 5", "needs at least 3 slots"},
        {"id(3)", 6, "at column 4 ('3')", "expected ')'"},
        {"id x", 6, "at column 4 ('x')", "expected ';' or the end of the text"},
        {"dup(1,0)", 6, "at column 7", "K must be at least 1 (got 0)"},
        {"dup(1,)", 6, "at column 7 (')')", "expected K"},
        {"dup(1", 6, "at column 6 (end of the text)", "expected '-', ',' and K, or ')'"},
        {"dup(1-2;", 6, "at column 8 (';')", "expected ',' and K, or ')'"},
        {"parallel(1-2, 0)", 6, "at column 15", "K must be at least 1 (got 0)"},
        {"parallel(1-2,1000000001)", 6, "at column 14", "number too large"},
        /* lengths */
        {"0-5*100000", 6, "at column 5", "the body would be 600000 steps long, over the limit of 1024 steps"},
        {"0*1025", 6, "at column 3", "1025 steps long, over the limit of 1024"},
        {"[0,1]*513", 6, "at column 7", "1026 steps long"},
        {"0-1024", 0, "at column 1", "1025 steps long"},
        {"0-1000000000", 0, "at column 1", "1000000001 steps long"},
        {"0*1000000000", 0, "at column 3", "1000000000 steps long"},
        {"[0-5*100]*100", 6, "at column 11", "60000 steps long"},
        {"[0*1000,0-5*5]", 6, "at column 13", "1030 steps long"},
        {"0*1000,(0-5)*5", 6, "at column 14", "1030 steps long"},
        {"(0-5)*171", 6, "at column 7", "1026 steps long"},
        {"dup(0-5,170)", 6, "at column 1", "dup would make the body 1026 steps long, over the limit of 1024"},
        {"dup(0-5,1000000000)", 6, "at column 1", "6000000006 steps long"},
        {"parallel(0-5,1000)", 6, "at column 1", "parallel would make the body 6000 steps long"},
        {"0*1010,(0-5),0;middle(1009-1011)", 6, "at column 16", "middle would make the body 1027 steps long"},
    };
    for (int i = 0; i < NCASES(B); i++) check_bad(&B[i], NULL);

    /* errors on a base with a group */
    ic_schedule *base = parse_new("0,(1|2),3", NULL, 6);
    static const bad_case G[] = {
        {"skip(3)", 6, "at column 6", "slot 3 is past the end of the body (3 slots: 0..2)"},
        {"swap(0,3)", 6, "at column 8", "slot 3 is past the end"},
    };
    for (int i = 0; i < NCASES(G); i++) check_bad(&G[i], base);
    free(base);
}

/* The looped core '{...}': prelude and coda entry counts, the text's round
 * trip, and what may not be written. */
static void test_core(void **st) {
    (void)st;
    static const struct {
        const char *text, *fmt;
        int n, prelude, coda;
    } C[] = {
        {"0,{1,2},3", "0,{1,2},3", 4, 1, 1},
        {"{0-2},3", "{0,1,2},3", 4, 0, 1},
        {"0,{1}", "0,{1}", 2, 1, 0},
        {"{0,1}", "0,1", 2, 0, 0}, /* the whole body: no prelude, no coda, no braces */
        {"[0,1]*2,{(2|3),2},4,5", "0,1,0,1,{(2|3),2},4,5", 9, 4, 2},
        {"0, { [1,2]*2 } ,3", "0,{1,2,1,2},3", 6, 1, 1},
        {"0,{(1|2)},(3|4)", "0,{(1|2)},(3|4)", 5, 1, 2},
    };
    for (int i = 0; i < NCASES(C); i++) {
        ic_schedule *s = parse_new(C[i].text, NULL, 6);
        char buf[FMT_LEN];
        if (s->n != C[i].n || s->prelude != C[i].prelude || s->coda != C[i].coda)
            fail_msg("'%s': n %d prelude %d coda %d", C[i].text, s->n, s->prelude, s->coda);
        assert_string_equal(ic_schedule_format(s, buf, sizeof buf), C[i].fmt);
        roundtrip(s, 6);
        assert_int_equal(s->loops, 7); /* loop fields kept */
        free(s);
    }
    /* an expression without braces resets a base's prelude and coda */
    ic_schedule *s = parse_new("0,{1},2", NULL, 6);
    ic_err err;
    assert_int_equal(ic_schedule_parse(s, "0,1,2", NULL, 6, &err), 0);
    assert_int_equal(s->prelude, 0);
    assert_int_equal(s->coda, 0);
    /* validation: a core is left, its bounds do not cut a group, a coda needs loop_lnf off */
    ic_schedule v;
    ic_schedule_default(&v, 4);
    v.prelude = 2;
    v.coda = 2;
    assert_int_equal(ic_schedule_validate(&v, 4, &err), -1);
    assert_non_null(strstr(err.msg, "looped core of at least one step"));
    v.prelude = 1;
    v.coda = 1;
    assert_int_equal(ic_schedule_validate(&v, 4, &err), -1);
    assert_non_null(strstr(err.msg, "a coda needs loop_lnf false"));
    v.loop_lnf = 0;
    assert_int_equal(ic_schedule_validate(&v, 4, &err), 0);
    v.par[1] = 1;
    assert_int_equal(ic_schedule_validate(&v, 4, &err), -1);
    assert_non_null(strstr(err.msg, "cut through a parallel group"));
    free(s);
    static const bad_case B[] = {
        {"0,{1},{2}", 6, "at column 7", "a second looped core"},
        {"[0,{1}]", 6, "at column 4", "must be a term of the top-level expression"},
        {"{0,{1}}", 6, "at column 4", "must be a term of the top-level expression"},
        {"0,{1}*2", 6, "at column 6", "cannot be repeated"},
        {"0,{}", 6, "at column 4 ('}')", "expected a block index"},
        {"0,{1,2", 6, "at column 7 (end of the text)", "(the '{' at column 3 is not closed)"},
        {"0,1}", 6, "at column 4 ('}')", "this '}' has no matching '{'"},
        {"0,{1},2;skip(0)", 6, "at column 9", "operations on a body with a prelude or coda"},
        {"0,{(1|2)|3}", 6, "at column 9 ('|')", "expected"},
    };
    for (int i = 0; i < NCASES(B); i++) check_bad(&B[i], NULL);
    ic_schedule *base = parse_new("0,{1},2", NULL, 6);
    static const bad_case O[] = {{"skip(0)", 6, "at column 1", "operations on a body with a prelude or coda"}};
    check_bad(&O[0], base);
    free(base);
}

static void test_nesting_and_long_texts(void **st) {
    (void)st;
    ic_err err = {{0}};
    char *t = malloc(20000);
    assert_non_null(t);
    /* 64 levels of '[' are fine, 65 are not */
    int k = 0;
    for (int i = 0; i < 64; i++) t[k++] = '[';
    t[k++] = '1';
    for (int i = 0; i < 64; i++) t[k++] = ']';
    t[k] = 0;
    ic_schedule *s = parse_new(t, NULL, 6);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->steps[0], 1);
    k = 0;
    for (int i = 0; i < 65; i++) t[k++] = '[';
    t[k++] = '1';
    for (int i = 0; i < 65; i++) t[k++] = ']';
    t[k] = 0;
    bad_case deep = {t, 6, "at column 65", "brackets nested more than 64 deep"};
    check_bad(&deep, NULL);
    /* 10000 '[': no recursion past the limit */
    memset(t, '[', 10000);
    t[10000] = 0;
    check_bad(&deep, NULL);

    /* a long text is quoted as a window around the column */
    k = 0;
    for (int i = 0; i < 1000; i++) k += sprintf(t + k, "1,");
    k += sprintf(t + k, "x,2,3");
    char where[64];
    snprintf(where, sizeof where, "at column %d ('x')", 2001);
    bad_case lng = {t, 6, where, "1,1,1,x,2,3'"};
    check_bad(&lng, NULL);
    assert_int_equal(ic_schedule_parse(s, t, NULL, 6, &err), -1);
    assert_non_null(strstr(err.msg, "schedule '..."));
    assert_true(strlen(err.msg) < 300);
    /* 1024 steps written out are fine, 1025 are not */
    k = 0;
    for (int i = 0; i < IC_MAX_SCHEDULE; i++) k += sprintf(t + k, i ? ",%d" : "%d", i % 6);
    assert_int_equal(ic_schedule_parse(s, t, NULL, 6, &err), 0);
    assert_int_equal(s->n, IC_MAX_SCHEDULE);
    sprintf(t + k, ",0");
    snprintf(where, sizeof where, "at column %d", k + 2);
    bad_case over = {t, 6, where, "1025 steps long"};
    check_bad(&over, NULL);
    /* exactly at the limit with every construct */
    static const struct {
        const char *text;
        int n_layer;
    } at_limit[] = {{"0*1024", 6},     {"[0,1]*512", 6},         {"0-1023", 0},      {"(0-1023)", 0},
                    {"dup(0-511)", 512}, {"parallel(0-511,2)", 512}, {"0*1000,1*24", 6}, {"middle(0-1023)", 1024},
                    {"0*1010,(0-5),0;middle(1010-1011)", 6}};
    for (size_t i = 0; i < sizeof at_limit / sizeof *at_limit; i++) {
        if (ic_schedule_parse(s, at_limit[i].text, NULL, at_limit[i].n_layer, &err))
            fail_msg("'%s': %s", at_limit[i].text, err.msg);
        if (i + 1 < sizeof at_limit / sizeof *at_limit) assert_int_equal(s->n, IC_MAX_SCHEDULE);
    }
    free(s);
    free(t);
}

/* ---- the config key ---- */

static void test_config_key(void **st) {
    (void)st;
    ic_run_config *c = malloc(sizeof *c);
    ic_schedule *s = malloc(sizeof *s);
    assert_non_null(c);
    assert_non_null(s);
    ic_err err = {{0}};
    ic_run_config_default(c);
    assert_int_equal(ic_run_config_set(c, "n_layer", "4", &err), 0);
    assert_int_equal(ic_run_config_set(c, "schedule", "dup(1-2)", &err), 0);
    assert_int_equal(ic_run_config_schedule(c, s, &err), 0);
    const int want[] = {0, 1, 2, 1, 2, 3};
    assert_int_equal(s->n, 6);
    assert_memory_equal(s->steps, want, sizeof want);
    assert_int_equal(ic_run_config_set(c, "schedule", "0,(1|2)*2,3", &err), 0);
    assert_int_equal(ic_run_config_schedule(c, s, &err), 0);
    assert_int_equal(s->n, 6);
    assert_int_equal(s->par[2], 1);
    assert_int_equal(ic_run_config_set(c, "schedule", "0,4", &err), 0);
    assert_int_equal(ic_run_config_schedule(c, s, &err), -1);
    assert_non_null(strstr(err.msg, "block 4 at column 3 is not in the model (blocks 0..3)"));
    free(c);
    free(s);
}

/* ---- the fuzzer's corpus and finds ---- */

/* The harness's checks (fuzz/fuzz_schedule.c): base 0,1,(2|3),4,5,6,7 and
 * n_layer 8; also base NULL. */
static void check_input(const char *name, const char *text, const ic_schedule *base) {
    ic_schedule *s = malloc(sizeof *s), *before = malloc(sizeof *before);
    assert_non_null(s);
    assert_non_null(before);
    fill_pattern(s);
    *before = *s;
    ic_err err = {{0}};
    int rc = ic_schedule_parse(s, text, base, 8, &err);
    if (rc == 0) {
        if (s->n < 1 || s->n > IC_MAX_SCHEDULE) fail_msg("%s: n = %d", name, s->n);
        assert_int_equal(s->par[0], 0);
        for (int i = 0; i < s->n; i++) {
            assert_true(s->steps[i] >= 0 && s->steps[i] < 8);
            assert_true(s->par[i] <= 1);
        }
        assert_int_equal(s->loops, before->loops);
        roundtrip(s, 8);
    } else {
        assert_int_equal(rc, -1);
        assert_true(err.msg[0] != '\0');
        assert_null(strchr(err.msg, '\n'));
        assert_memory_equal(s, before, sizeof *s);
    }
    free(s);
    free(before);
}

static void test_fuzz_corpus(void **st) {
    (void)st;
    ic_schedule *base = parse_new("0,1,(2|3),4,5,6,7", NULL, 8);
    DIR *d = opendir(CORPUS_DIR);
    if (!d) fail_msg("cannot open %s", CORPUS_DIR);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", CORPUS_DIR, de->d_name);
        FILE *f = fopen(p, "rb");
        if (!f) fail_msg("cannot open %s", p);
        char *text = malloc(65537);
        assert_non_null(text);
        size_t n = fread(text, 1, 65536, f);
        fclose(f);
        text[n] = '\0';
        check_input(p, text, base);
        check_input(p, text, NULL);
        /* ok_* must parse on the harness's base, bad_* must not */
        ic_schedule *s = malloc(sizeof *s);
        ic_err err = {{0}};
        int rc = ic_schedule_parse(s, text, base, 8, &err);
        if (!strncmp(de->d_name, "ok_", 3) && rc) fail_msg("%s was rejected: %s", p, err.msg);
        if (!strncmp(de->d_name, "bad_", 4) && !rc) fail_msg("%s was accepted", p);
        free(s);
        free(text);
        files++;
    }
    closedir(d);
    assert_true(files >= 10);
    free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_struct_and_slots),
        cmocka_unit_test(test_core),
        cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_chains),
        cmocka_unit_test(test_ops_on_groups),
        cmocka_unit_test(test_base),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_plain_lists),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nesting_and_long_texts),
        cmocka_unit_test(test_config_key),
        cmocka_unit_test(test_fuzz_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
