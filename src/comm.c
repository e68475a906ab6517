/* comm.c: the one-process communicator and helpers over any communicator (comm.h). */
#include "comm.h"

#include <stdlib.h>
#include <string.h>

static int single_f32(const ic_comm *c, float *buf, size_t n, ic_err *err) { return 0; }
static int single_f64(const ic_comm *c, double *buf, size_t n, ic_err *err) { return 0; }
static int single_bcast(const ic_comm *c, void *buf, size_t bytes, int root, ic_err *err) { return 0; }
static int single_allgather(const ic_comm *c, uint64_t v, uint64_t *all, ic_err *err) {
    all[0] = v;
    return 0;
}

static const ic_comm SINGLE = {
    .rank = 0, .size = 1, .allreduce_f32 = single_f32, .allreduce_f64 = single_f64, .bcast = single_bcast,
    .allgather_u64 = single_allgather, .abort = NULL,
};

const ic_comm *ic_comm_single(void) { return &SINGLE; }

void ic_comm_slice(int B, int size, int r, int *start, int *count) {
    const int q = B / size, extra = B % size;
    *count = q + (r < extra);
    *start = r * q + (r < extra ? r : extra);
}

uint64_t ic_comm_digest_f32(const float *x, size_t n) {
    const unsigned char *p = (const unsigned char *)x;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n * sizeof *x; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

int ic_comm_bcast_bytes(const ic_comm *c, char **buf, size_t *len, int root, ic_err *err) {
    uint64_t n = c->rank == root ? (uint64_t)*len : 0;
    if (c->bcast(c, &n, sizeof n, root, err)) return -1;
    if (c->rank != root) {
        *buf = malloc((size_t)n + 1);
        if (!*buf) return ic_errf(err, "out of memory for %llu broadcast bytes", (unsigned long long)n);
        (*buf)[n] = 0;
        *len = (size_t)n;
    }
    return n ? c->bcast(c, *buf, (size_t)n, root, err) : 0;
}
