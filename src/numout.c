#include "numout.h"

#include <math.h>
#include <stdio.h>

json_t *ic_json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *ic_json_nums(const double *v, int n) {
    json_t *a = json_array();
    if (!a) return NULL;
    for (int i = 0; i < n; i++)
        if (json_array_append_new(a, ic_json_num(v[i]))) {
            /* out of memory: a short array would misplace every later value */
            json_decref(a);
            return NULL;
        }
    return a;
}

ic_numtext ic_csv_num(double v, int prec) {
    ic_numtext t = {{0}};
    if (prec < 1) prec = 1;
    if (prec > 17) prec = 17;
    if (isfinite(v)) snprintf(t.s, sizeof t.s, "%.*g", prec, v);
    return t;
}
