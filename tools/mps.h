/* A private CUDA MPS daemon for the two parties of one local run (`fusefss run --gpu-share mps`): with
 * both parties' processes on one GPU, their CUDA contexts otherwise take turns on it (time slicing), so
 * that each one's kernels wait for the other's; under MPS the two processes' kernels share one server
 * context and run at once. The parties stay two processes with their own memory and their own TCP link;
 * only how the GPU is shared changes (docs/running.md "Sharing one GPU"). The daemon is the driver's
 * nvidia-cuda-mps-control, started with a pipe and log directory of its own (so it touches no other
 * MPS daemon on the host) and stopped after the run. Test: tests/test_mps.c (with a stand-in control
 * program; the real daemon on a GPU host: dev/gpu/mps.sh, docs/results.md), tests/test_run_e2e.c (the
 * option's refusals). */
#ifndef FF_TOOLS_MPS_H
#define FF_TOOLS_MPS_H

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int on;          /* a daemon was started by ff_mps_start and not stopped yet */
  char dir[64];    /* its private directory: pipe/ and log/ */
} ff_mps;

/* Starts the daemon in a fresh directory under $TMPDIR (or /tmp) and points this process's environment
 * (CUDA_MPS_PIPE_DIRECTORY, CUDA_MPS_LOG_DIRECTORY) at it, for the processes forked after. Call before
 * any CUDA work of those processes. FF_ENOENT when nvidia-cuda-mps-control is not on PATH, FF_EIO when
 * it does not start; the message says which. */
ff_status ff_mps_start(ff_mps *m);
/* Asks the daemon to quit (it stops its server first), waits for it (at most a few seconds), removes
 * the directory and the environment variables. Safe on a daemon that was never started. */
void ff_mps_stop(ff_mps *m);

#ifdef __cplusplus
}
#endif

#endif
