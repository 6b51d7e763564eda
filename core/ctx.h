/* The execution context passed explicitly to every operation: backend, party, CUDA stream, the
 * randomness source, the peer channel and the scope recorder. Nothing here is global or
 * thread-local; the scope stack (scope/scope.h) is the one thread-local state, by design. */
#ifndef FF_CORE_CTX_H
#define FF_CORE_CTX_H

#include "core/cuda.h"
#include "core/rand.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FF_BACKEND_CPU = 0, FF_BACKEND_CUDA = 1 } ff_backend;

#define FF_DEALER (-1) /* ff_ctx.party of the dealer */

struct ff_chan; /* comm/chan.h */
struct ff_prof; /* scope/scope.h */

typedef struct ff_ctx {
  ff_backend backend;
  int party;               /* 0, 1, or FF_DEALER */
  ff_stream *stream;       /* the party's CUDA stream; NULL on the CPU backend */
  ff_rng rng;              /* masks and seeds: the OS by default, seeded only when asked */
  struct ff_chan *chan;    /* channel to the peer; NULL for the dealer */
  struct ff_prof *prof;    /* scope recorder; NULL when not profiling */
  struct ff_ctx *keygen_dev; /* a dealer's host context (CPU backend, host keys): the CUDA context whose
                                stream runs gates/fss's tree keygens (DPF, DCF, LUT) and the matmul keys'
                                products (gates/gemm ff_ring_gemm_batched_host) through host staging,
                                byte-identical to the CPU's; NULL: they run on the host. Borrowed; set by
                                ff_op_create for a dealer on a CUDA context (gates/sigma/op.h). */
  ff_cuda_stage *stage;    /* CUDA: the reconstruct staging of this context's stream (core/cuda.h), made
                              at the first device reconstruct; freed by ff_ctx_destroy */
} ff_ctx;

/* Initialises ctx for `party` on `backend` (creating the CUDA stream when needed) with OS
 * randomness. Channel and recorder are attached by the caller. */
ff_status ff_ctx_init(ff_ctx *ctx, ff_backend backend, int party);
void ff_ctx_destroy(ff_ctx *ctx);

/* ---- Host threads ----------------------------------------------------------------------------------
 * The CPUs this process may run on (its affinity mask: cpusets and taskset count), at least 1. */
int ff_cpu_count(void);
/* Tests only: ff_cpu_count returns n from now on (0: the affinity mask again), so that the splits over
 * threads (ff_parallel_for, and what sizes its work by the CPU count) are exercised on any machine. */
void ff__cpu_count_override(int n);
/* Splits [0, n) into contiguous ranges over up to ff_cpu_count() threads (at most max_threads when
 * positive) so that each range has at least min_per_thread items, and calls fn(arg, lo, hi) once per
 * range; the calling thread takes the first range, and a range whose thread cannot start is run by the
 * caller too. Returns when every range is done. fn must make each item's result independent of the
 * split (then the result is the same for any thread count). n = 0 calls nothing. */
void ff_parallel_for(size_t n, size_t min_per_thread, int max_threads, void (*fn)(void *arg, size_t lo, size_t hi),
                     void *arg);

/* CUDA when this build has it and a device is present, else CPU. */
ff_backend ff_backend_auto(void);
const char *ff_backend_name(ff_backend b);
/* "cpu", "cuda" or "auto"; FF_EINVAL (logged, listing the valid names) otherwise, FF_ENOTSUP for
 * "cuda" in a build or on a machine without it. */
ff_status ff_backend_parse(const char *s, ff_backend *out);

#ifdef __cplusplus
}
#endif

#endif
