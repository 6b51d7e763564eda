/* The CUDA runtime as seen from C code that must also build without CUDA: device discovery and
 * streams behind opaque pointers (no CUDA type in a public header). In a CPU-only build every call
 * reports "no device" or FF_ENOTSUP. Error checks for CUDA code are in core/cuda_check.h. */
#ifndef FF_CORE_CUDA_H
#define FF_CORE_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ff_stream ff_stream; /* a cudaStream_t */

/* 1 when this build has the CUDA backend. */
int ff_cuda_built(void);
/* Number of usable CUDA devices (0 without CUDA, without a driver or without a GPU). */
int ff_cuda_device_count(void);
/* "NVIDIA H100 80GB HBM3 (sm_90)" of the current device, or an error. */
ff_status ff_cuda_device_name(char *buf, size_t n);
/* Free and total memory of the current device in bytes (cudaMemGetInfo), for the check that keys fit
 * (`fusefss run`); FF_ENOTSUP without CUDA. Starts CUDA in this process. */
ff_status ff_cuda_mem_info(uint64_t *free_b, uint64_t *total_b);
/* Makes device `ordinal` (0-based, as cudaSetDevice and nvidia-smi count them) this thread's device,
 * for the streams and memory made after it; call it before any other CUDA work of the process (a party's
 * first step). FF_EINVAL (logged, naming the devices there are) for an ordinal the machine lacks. */
ff_status ff_cuda_use_device(int ordinal);
/* The calling thread's device ordinal, or -1 without CUDA or a device. */
int ff_cuda_current_device(void);
ff_status ff_cuda_stream_create(ff_stream **out);
void ff_cuda_stream_destroy(ff_stream *s);
ff_status ff_cuda_stream_sync(ff_stream *s);
/* Device memory for code that must stay free of CUDA types (tools, tests): allocate, free, and
 * copies host<->device that wait for the whole device before and after (so they are ordered with
 * every stream's work; never use them on a hot path). All report FF_ECUDA (logged) on failure,
 * FF_ENOTSUP without CUDA. */
ff_status ff_cuda_malloc(void **p, size_t n);
void ff_cuda_free(void *p);
ff_status ff_cuda_copy_to_device(void *dst, const void *src, size_t n);
ff_status ff_cuda_copy_to_host(void *dst, const void *src, size_t n);

/* ---- Stream-ordered device memory (the runtime's hot paths) -------------------------------------------
 * Wires, keys and scratch of a CUDA party come from the device's default memory pool, allocated and freed
 * in the order of the stream that uses them (cudaMallocAsync / cudaFreeAsync): no device-wide
 * synchronisation, unlike cudaMalloc / cudaFree. The pool keeps what is freed (its release threshold is
 * raised to "never" when the first stream is created), so once an inference has run, later ones are
 * served from memory the pool already holds and make no driver allocation. Each allocation remembers its
 * stream, so a free needs only the pointer and is ordered after that stream's work. The memory is NOT
 * zeroed. Both return FF_ENOMEM / FF_ECUDA (logged) on failure, FF_ENOTSUP without CUDA. */
ff_status ff_dev_alloc(ff_stream *s, size_t n, void **out);
void ff_dev_free(void *p);

/* Pinned (page-locked) host memory, for copies that overlap the stream's work; counted below. */
ff_status ff_cuda_host_alloc(void **p, size_t n);
void ff_cuda_host_free(void *p);
/* As ff_cuda_host_alloc, for a caller with a fallback: a failure logs nothing and leaves no error behind
 * for the thread's next cudaGetLastError (a later kernel launch check would otherwise report it).
 * FF_ENOMEM, or FF_ENOTSUP without CUDA. */
ff_status ff_cuda_host_try_alloc(void **p, size_t n);

/* The runtime's allocation counters, for tests and reports that an online phase allocates nothing:
 * process-wide and monotonic except pool_reserved_B. */
typedef struct {
  unsigned long long dev_allocs;       /* ff_dev_alloc calls */
  unsigned long long dev_sync_allocs;  /* cudaMalloc calls of the runtime (ff_cuda_malloc, tables) */
  unsigned long long pinned_allocs;    /* ff_cuda_host_alloc calls */
  unsigned long long staging_grows;    /* reconstruct staging (ff_cuda_stage_reserve) that had to grow */
  unsigned long long pool_reserved_B;  /* device memory the pool holds now (0 without CUDA) */
  unsigned long long pool_peak_B;      /* the most it has held since the process started (0 without CUDA) */
} ff_alloc_stats;
void ff_alloc_stats_get(ff_alloc_stats *out);
/* Counts one cudaMalloc made by CUDA code outside core (template tables). */
void ff__alloc_note_sync_alloc(void);

/* ---- Reconstruct staging ---------------------------------------------------------------------------
 * Per stream (one per CUDA context): a device buffer for this party's packed shares, one for the
 * peer's, their pinned host mirrors, and events that mark each piece of a download. Grown on demand
 * (counted in staging_grows), kept for the context's life; ff_ctx_destroy frees it. */
typedef struct ff_cuda_stage {
  void *dev_out, *dev_in;   /* device, cap bytes each (+16 bytes of slack for 8-byte unaligned reads) */
  void *host_out, *host_in; /* pinned, cap bytes each */
  size_t cap;
  void **events;            /* n_events cudaEvent_t */
  int n_events;
} ff_cuda_stage;
/* Makes `st` hold at least `bytes` per buffer and `events` events. */
ff_status ff_cuda_stage_reserve(ff_cuda_stage **st, size_t bytes, int events);
void ff_cuda_stage_free(ff_cuda_stage *st);

#ifdef __cplusplus
}
#endif

#endif
