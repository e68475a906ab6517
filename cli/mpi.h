/* mpi.h: the CLI's communicator (src/comm.h) over MPI.
 *
 * MPI is optional: cli/mpi.c is compiled with mpicc (ICLAB_MPI defined)
 * when the Makefile finds it, and without it otherwise. Even when built in,
 * MPI is initialised only when a launcher started this process as one of a
 * job (mpirun/mpiexec: OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK; Slurm's
 * srun with PMI/PMIx), and never with ICLAB_MPI=0 (what `iclab sweep` gives
 * its child processes); a plain run does exactly what it did without MPI. */
#ifndef ICLAB_CLI_MPI_H
#define ICLAB_CLI_MPI_H

#include "comm.h"

/* The communicator of this process (ic_comm_single() when not launched as
 * part of a job). NULL after printing one line on stderr when the process
 * is one of a job of several but this iclab was built without MPI, or MPI
 * fails to start. cmd names the command in that line. */
const ic_comm *cli_comm_start(const char *cmd);
/* Ends MPI if cli_comm_start started it (every rank, at the end). */
void cli_comm_finish(void);
/* 1 if this binary has MPI built in. */
int cli_mpi_built(void);

#endif
