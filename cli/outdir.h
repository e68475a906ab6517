/* outdir.h: the output directory of an analysis command (eval, loops, probe,
 * surgery, compare), written as a whole.
 *
 * cli_outdir_begin starts OUT with ic_outdir_begin (src/fsutil.h: checks,
 * leftovers of dead processes removed, a temporary sibling OUT.tmp-<pid>-XXXXXX)
 * and then forks. The child returns 0 and does the command's work, writing
 * into od->tmp; the parent only waits:
 *
 *   - the child exits 0: the parent swaps od->tmp in as OUT (ic_outdir_commit)
 *     and exits 0;
 *   - the child fails (exit code c) or dies of a signal s: the parent removes
 *     od->tmp, says "nothing written: OUT unchanged" and exits c (or 128 + s);
 *   - SIGINT, SIGTERM or SIGHUP reach the parent: it kills the child at once
 *     (SIGKILL: its work is discarded anyway), removes od->tmp, says
 *     "interrupted: OUT unchanged" and exits 130.
 *
 * So OUT is never seen half-written, whatever stops the work (including a
 * computation stuck in a library, or the kernel's OOM killer taking the
 * child); if the parent itself is killed with SIGKILL, the child follows it
 * (PR_SET_PDEATHSIG) and the next run on OUT removes the temporary directory.
 * Call it before the command's first parallel region (the child must not
 * inherit an OpenMP thread pool) and before its long computations (so they
 * run in the child, where an interruption can stop them).
 *
 * ICLAB_TEST_HOLD_COMMIT=1 (tests only): the parent waits, with the finished
 * files in od->tmp, for a stop request instead of committing them. */
#ifndef ICLAB_CLI_OUTDIR_H
#define ICLAB_CLI_OUTDIR_H

#include "cli.h"
#include "fsutil.h"

/* inputs: the files the command reads (NULL entries skipped); one inside OUT
 * is refused. Returns 0 in the child; CLI_FAIL (message printed, nothing
 * created) if OUT cannot be begun. The parent never returns. */
int cli_outdir_begin(const cli_command *cmd, ic_outdir *od, const char *out, const char *const *inputs, int n_inputs);

#endif
