/* mpi.c: the ic_comm operations over MPI (cli/mpi.h). Built with mpicc and
 * ICLAB_MPI; without it, only the launcher check remains. */
#include "mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the size of the job this process was launched in by mpirun/srun (1: none) */
static int launched_size(void) {
    const char *v = getenv("ICLAB_MPI");
    if (v && strcmp(v, "0") == 0) return 1;
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if ((v = getenv(names[i])) && atoi(v) > 0) return atoi(v);
    /* PMIx launchers (srun --mpi=pmix) may only name the rank */
    return getenv("PMIX_RANK") ? 2 : 1;
}

#ifdef ICLAB_MPI
#include <limits.h>
#include <mpi.h>

static int started;
static ic_comm COMM;

/* MPI counts are ints: broadcasts go in pieces of at most 2^30 bytes */
#define PIECE ((size_t)1 << 30)
/* The gradient is reduced in buckets of 2^22 elements (16 MB of floats):
 * measured with 2 and 3 ranks on one machine (Open MPI 4.1, shared memory),
 * one MPI_Allreduce of the standard model's 9.5M floats took 0.9-1.6 s
 * (median of 11; its default algorithm for one large buffer), buckets of
 * 2^22 or 2^20 elements 0.12-0.23 s (docs/distributed.md). */
#define BUCKET ((size_t)1 << 22)

static int mpi_fail(ic_err *err, const char *what, int code) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, s, &len);
    return ic_errf(err, "%s failed: %s", what, s);
}

static int allreduce(void *buf, size_t n, MPI_Datatype type, size_t elem, ic_err *err) {
    for (size_t off = 0; off < n; off += BUCKET) {
        size_t k = n - off < BUCKET ? n - off : BUCKET;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * elem, (int)k, type, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Allreduce", rc);
    }
    return 0;
}
static int mpi_allreduce_f32(const ic_comm *c, float *buf, size_t n, ic_err *err) {
    return allreduce(buf, n, MPI_FLOAT, sizeof *buf, err);
}
static int mpi_allreduce_f64(const ic_comm *c, double *buf, size_t n, ic_err *err) {
    return allreduce(buf, n, MPI_DOUBLE, sizeof *buf, err);
}
static int mpi_bcast(const ic_comm *c, void *buf, size_t bytes, int root, ic_err *err) {
    for (size_t off = 0; off < bytes; off += PIECE) {
        size_t k = bytes - off < PIECE ? bytes - off : PIECE;
        int rc = MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Bcast", rc);
    }
    return 0;
}
static int mpi_allgather_u64(const ic_comm *c, uint64_t v, uint64_t *all, ic_err *err) {
    int rc = MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, "MPI_Allgather", rc);
}
static void mpi_abort(const ic_comm *c, int code) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
}

const ic_comm *cli_comm_start(const char *cmd) {
    if (started) return &COMM;
    if (launched_size() <= 1) return ic_comm_single();
    int provided;
    /* MPI_ERRORS_ARE_FATAL stays the handler: a failed collective (a rank
     * that died) ends the whole job instead of leaving ranks waiting */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "iclab %s: MPI_Init failed\n", cmd);
        return NULL;
    }
    started = 1;
    COMM = (ic_comm){.allreduce_f32 = mpi_allreduce_f32, .allreduce_f64 = mpi_allreduce_f64, .bcast = mpi_bcast,
                     .allgather_u64 = mpi_allgather_u64, .abort = mpi_abort};
    MPI_Comm_rank(MPI_COMM_WORLD, &COMM.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &COMM.size);
    const char *t = getenv("ICLAB_TEST_EQUAL_WEIGHTS"); /* tests: the wrong weighting the tests must catch */
    COMM.test_equal_weights = t && strcmp(t, "1") == 0;
    return &COMM;
}

void cli_comm_finish(void) {
    if (started) MPI_Finalize();
    started = 0;
}

int cli_mpi_built(void) { return 1; }

#else

const ic_comm *cli_comm_start(const char *cmd) {
    const int n = launched_size();
    if (n > 1) {
        fprintf(stderr, "iclab %s: started as one of %d processes (mpirun/srun), but this iclab was built without "
                "MPI; install OpenMPI (scripts/install-deps.sh) and rebuild, or run it alone\n", cmd, n);
        return NULL;
    }
    return ic_comm_single();
}

void cli_comm_finish(void) {}

int cli_mpi_built(void) { return 0; }

#endif
