/* schedule.h: the schedule, one module: what runs (the struct), the
 * default body, validation against a model's block count, the text form
 * (format and the schedule language parser, docs/schedules.md), the
 * effective gradient depth, a --loops override, and the walk over the
 * body's sequential steps (slots, parallel groups). It depends on nothing
 * but err.h and rng.h, so the schedule fuzzer (fuzz/fuzz_schedule.c) links
 * without BLAS. Symbols as in docs/architecture.md ("Glossary").
 *
 * A schedule text is a body expression, or a chain of named surgery
 * operations, or a body expression followed by operations:
 *
 *   text    := part (';' part)*         the first part may be an expression (it
 *                                       becomes the current body) or an
 *                                       operation (applied to the base); every
 *                                       later part is an operation applied to the
 *                                       current body
 *   expr    := term (',' term)*         concatenation
 *   term    := factor ('*' INT)?        repeat the factor INT >= 1 times
 *   factor  := INT                      a block index
 *            | INT '-' INT              an inclusive range, ascending or
 *                                       descending: 5-3 = 5,4,3
 *            | '[' expr ']'             grouping: [0,1]*2 = 0,1,0,1
 *            | '(' blocks ')'           a parallel group: the blocks run on the
 *                                       same input, their outputs are averaged:
 *                                       (2|3|4), or (2-4) for a range; a group
 *                                       repeated, (2-4)*3, is a looped parallel
 *                                       step
 *   blocks  := (INT | INT '-' INT) ('|' (INT | INT '-' INT))*
 *   core    := '{' expr '}'             at most once, as a term of the top-level
 *                                       expression (not inside '[' ']', not
 *                                       repeated): the looped core; the terms
 *                                       before it are the prelude (run once), the
 *                                       terms after it the coda: 0,{1,2},3 is
 *                                       Geiping et al.'s 1 + 2xL + 1. Without
 *                                       braces the whole body is the core.
 *
 * Operations act on SLOTS: 0-based sequential positions in the current body
 * (in the default body 0..n_layer-1, slot i holds block i; a parallel group is one
 * slot and moves, repeats or disappears whole). SPAN is a slot or an
 * inclusive slot range a-b (a <= b); a slot past the end of the body is an
 * error naming the body's slot count.
 *
 *   id                     the current body unchanged
 *   skip(SPAN)             remove the slots
 *   swap(i, j)             exchange slots i and j
 *   reverse(SPAN)          reverse the order of the slots
 *   shuffle(SPAN, SEED)    permute the slots with a seeded RNG (rng.h,
 *                          Fisher-Yates; the same seed gives the same order)
 *   middle(SPAN)           every slot of SPAN runs the block of SPAN's middle
 *                          slot (lower middle for an even width); without
 *                          SPAN: slots 1..n-2 (Painters' "repeat the middle
 *                          layer in every middle slot")
 *   dup(SPAN[, K])         the slots of SPAN run again, K more times (default
 *                          1), right after SPAN: dup(2-3) of 0..5 is
 *                          0,1,2,3,2,3,4,5
 *   parallel(SPAN[, K])    the slots of SPAN become one parallel group
 *                          (mean of their outputs on the same input), applied
 *                          K times (default 1): parallel(2-3, 2) of 0..5 is
 *                          0,1,(2|3),(2|3),4,5; slots that are groups
 *                          contribute all their members
 *
 * Details the grammar leaves open (tests/test_schedule.c pins each down):
 *  - INT is unsigned decimal, at most 1000000000 (SEED: at most 2^64-1);
 *    there are no negative numbers. '*' binds tighter than ',': 0,1*2 is
 *    0,1,1. '[' nests at most 64 deep.
 *  - A group of one block, (2), is the plain step 2; a group's members may
 *    repeat, (2|2), and its ranges may descend, (4-2) = (4|3|2).
 *  - Operation names are case-sensitive; id and middle may also be written
 *    id() and middle(). swap(i, i) changes nothing. skip of every slot is an
 *    error (the body would be empty). K >= 1. parallel of one plain slot
 *    leaves it a plain step. When middle's middle slot is a group, every
 *    slot of SPAN becomes a copy of that group.
 *  - Operations on a body with a prelude or coda (from the text or the
 *    base) are an error: slots would move across the core's bounds.
 *  - Every result, also an intermediate one, has at most IC_MAX_SCHEDULE
 *    steps (a group counts its members); lengths are computed before
 *    anything is expanded, so 0-5*100000 is a clean error.
 *  - shuffle(a-b, SEED), exactly: ic_rng_seed(&r, SEED); w = b-a+1;
 *    perm[k] = a+k for k < w; for i = w-1 down to 1: j = ic_rng_below(&r,
 *    i+1), exchange perm[i] and perm[j]; then new slot a+k is old slot
 *    perm[k] (the slots outside a..b stay). A span of one slot draws nothing.
 *
 * Whitespace (space, tab, newline, CR, VT, FF) is allowed between tokens,
 * not inside a number or a name. Errors are one line: "schedule 'TEXT': at
 * column N ('c'): expected ...", with N the 1-based byte offset of the
 * offending character in the text (the end of the text is column len+1),
 * or a named problem at a column (a block not in the model, a slot past the
 * end of the body, a count out of range, an unknown operation, which lists
 * the known ones). A long text is quoted as a 60-byte window around the
 * column. */
#ifndef ICLAB_SCHEDULE_H
#define ICLAB_SCHEDULE_H

#include <stddef.h>

#include "err.h"

#define IC_MAX_SCHEDULE 1024 /* body length limit */
#define IC_MAX_LOOPS 100000

typedef struct {
    int n;                       /* body length (entries; each member of a group counts), 1..IC_MAX_SCHEDULE */
    int steps[IC_MAX_SCHEDULE];  /* block indices, each in [0, n_layer) */
    unsigned char par[IC_MAX_SCHEDULE]; /* par[i] = 1: step i runs in parallel with step i-1,
                                    on the same input; a parallel group (a step with par 0
                                    and the par-1 steps after it) outputs the mean of its
                                    members' outputs (= input + mean of their updates).
                                    par[0] = 0; all 0: a plain sequential body */
    int loops;                   /* L >= 1 */
    int loss_loops;              /* L_loss, 1..L: the last L_loss loops' outputs carry loss (averaged) */
    int grad_loops;              /* L_grad, L_loss..L: the last L_grad loops carry gradient (0: L_grad =
                                    L_loss, Yang et al.'s truncation); L_grad = L backpropagates through all */
    int inject;                  /* input injection between loops */
    int loop_lnf;                /* ln_f output fed back to the next loop */
    int prelude, coda;           /* entries of the body before and after the looped core (the
                                    text's '{' '}'): steps[0..prelude) run once before the loops,
                                    the core steps[prelude..n-coda) runs L times, the coda
                                    steps[n-coda..n) after every loop that is read out (model.h).
                                    0, 0: the whole body is the core (every schedule before them) */
    int loop_signal;             /* 1: the sinusoidal embedding of the loop index t is added to
                                    every loop's input (model.h) */
} ic_schedule;

/* 0,1,...,n_layer-1 (at most IC_MAX_SCHEDULE steps); one loop; injection and per-loop ln_f on. */
void ic_schedule_default(ic_schedule *s, int n_layer);
/* Fails, saying which field and why, unless s is a schedule a model of
 * n_layer blocks can run. */
int ic_schedule_validate(const ic_schedule *s, int n_layer, ic_err *err);
/* The effective L_grad (grad_loops, or loss_loops when it is 0). */
int ic_schedule_grad_loops(const ic_schedule *s);
/* Runs the body `loops` times (loops >= 1), lowering loss_loops and grad_loops
 * to at most that: a --loops override at inference. */
void ic_schedule_set_loops(ic_schedule *s, int loops);
/* "0,1,(2|3),4" into buf (parallel groups in parentheses, members joined by
 * '|'; the text parses back with ic_schedule_parse); returns buf. */
char *ic_schedule_format(const ic_schedule *s, char *buf, size_t len);

/* Sequential steps. A slot (a sequential step) is a plain step or a whole
 * parallel group; the body's slots are numbered 0..ic_schedule_slots()-1.
 * Slot iteration over the body entries:
 *     for (int j0 = 0; j0 < s->n; j0 = ic_schedule_group_end(s, j0)) ...
 * visits each slot's entries j0..ic_schedule_group_end(s, j0)-1 in order. */
int ic_schedule_slots(const ic_schedule *s);
/* End (exclusive) of the slot that starts at entry j0 (par[j0] = 0). */
int ic_schedule_group_end(const ic_schedule *s, int j0);
/* Start of the slot that ends just before entry j1 (0 < j1 <= n): the walk
 * backwards, for (j1 = s->n; j1 > 0; j1 = j0) { j0 = ic_schedule_group_start(s, j1); ... }. */
int ic_schedule_group_start(const ic_schedule *s, int j1);

/* Parses text into s->n, s->steps and s->par (entries past n are zeroed);
 * keeps s's loop fields (loops, loss_loops, grad_loops, inject, loop_lnf).
 * base: the body named operations act on when text starts with one (NULL:
 * 0..min(n_layer, IC_MAX_SCHEDULE)-1; base's loop fields are ignored; base
 * may be s itself). n_layer > 0: block indices written in the text must lie
 * in 0..n_layer-1 (checked here, with the column); <= 0: not checked, and a
 * leading operation then needs a base. On error s is unchanged and err says
 * why. */
int ic_schedule_parse(ic_schedule *s, const char *text, const ic_schedule *base, int n_layer, ic_err *err);

#endif
