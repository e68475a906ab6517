/* comm.h: the communicator the trainer uses for data-parallel training over
 * several processes (ranks), without the library depending on MPI.
 *
 * The library only calls these operations; the MPI implementation lives in
 * the CLI (cli/mpi.c, built when mpicc is found), and ic_comm_single() is
 * the one-process communicator every plain run uses (size 1: each
 * operation is the identity). Tests can supply their own (e.g. ranks as
 * threads). Every operation is collective: all ranks call it in the same
 * order with the same sizes. Each returns 0, or -1 with err filled. */
#ifndef ICLAB_COMM_H
#define ICLAB_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct ic_comm ic_comm;
struct ic_comm {
    int rank, size;
    /* buf[i] = the sum over ranks of buf[i], the same bits on every rank */
    int (*allreduce_f32)(const ic_comm *c, float *buf, size_t n, ic_err *err);
    int (*allreduce_f64)(const ic_comm *c, double *buf, size_t n, ic_err *err);
    /* root's bytes into every rank's buf */
    int (*bcast)(const ic_comm *c, void *buf, size_t bytes, int root, ic_err *err);
    /* all[r] = rank r's v, on every rank (all has size entries) */
    int (*allgather_u64)(const ic_comm *c, uint64_t v, uint64_t *all, ic_err *err);
    /* ends every rank's process with code (after the caller printed why);
     * NULL: the process is alone, the caller just returns */
    void (*abort)(const ic_comm *c, int code);
    /* tests only: the data-parallel step weights each rank's mean gradient
     * by 1/size instead of its share of the batch (wrong when size does not
     * divide the batch: the tests prove they catch it) */
    int test_equal_weights;
    void *ctx;
};

/* The communicator of a process alone: rank 0 of 1. */
const ic_comm *ic_comm_single(void);

/* Rank r's slice of B items over size ranks: [*start, *start + *count),
 * consecutive, the first B % size ranks one longer. */
void ic_comm_slice(int B, int size, int r, int *start, int *count);

/* One 64-bit digest of n floats' bits (FNV-1a), to compare replicas. */
uint64_t ic_comm_digest_f32(const float *x, size_t n);

/* Broadcast of a length-prefixed byte string from root: on root *buf/len
 * are its bytes; on the others *buf receives a malloc'ed copy (caller
 * frees), NUL-terminated, and *len its length. */
int ic_comm_bcast_bytes(const ic_comm *c, char **buf, size_t *len, int root, ic_err *err);

#endif
