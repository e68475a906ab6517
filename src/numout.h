/* numout.h: how result files write numbers (docs/cli.md, "Missing values").
 *
 * One policy for every JSON and CSV output: a non-finite number (NaN, +Inf,
 * -Inf) means "undefined" (an error curve of a diverged predictor, a ratio
 * to a zero error, the fixed-point measure of loop 1, ...) and is written as
 * JSON null and as an empty CSV field. Finite numbers are written as before.
 *
 * Why helpers rather than json_real/printf: jansson refuses non-finite
 * reals (json_real(NAN) is NULL), so json_array_append_new silently drops
 * the element and shifts every later position, and json_pack with a NaN
 * "f" returns NULL, dropping the whole object; printf writes "nan", "-nan"
 * or "inf", which spreadsheet and pandas readers disagree on. */
#ifndef ICLAB_NUMOUT_H
#define ICLAB_NUMOUT_H

#include <jansson.h>

/* A JSON number, or json_null() when v is not finite. Never NULL except when
 * out of memory. Use "o" (not "f") to put a double into json_pack. */
json_t *ic_json_num(double v);

/* A JSON array of v[0..n-1] through ic_json_num: always n elements, a
 * non-finite value is null at its own position. */
json_t *ic_json_nums(const double *v, int n);

/* A CSV field: v as "%.*g" with prec significant digits (1..17), or the empty
 * string when v is not finite. Returned by value so that several fit in one
 * printf call: ic_csv_num(x, 6).s lives until the end of the full expression
 * that contains the call (C11 6.2.4p8), e.g.
 *     fprintf(f, "%d,%s,%s\n", k, ic_csv_num(a, 6).s, ic_csv_num(b, 6).s); */
typedef struct {
    char s[32];
} ic_numtext;
ic_numtext ic_csv_num(double v, int prec);

#endif
