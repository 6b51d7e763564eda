/* Ring matrix products, CPU reference: C = A * B mod 2^bw with wrapping 64-bit multiply-adds and one
 * reduction per output (2^bw divides 2^64, so wrapping mod 2^64 first is exact). Argument checks and
 * dispatch shared with ring_gemm_cuda.cu. Test: tests/test_gemm.c (against a naive triple loop). */
#include "gates/gemm/ring_gemm.h"

#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "core/ring.h"
#include "scope/scope.h"

const char *ff_gemm_algo_name(ff_gemm_algo algo) {
  switch (algo) {
    case FF_GEMM_AUTO: return "auto";
    case FF_GEMM_SIMT: return "simt";
    case FF_GEMM_INT8_LIMBS: return "int8-limbs";
  }
  return "?";
}

/* a * b into *out; 1 when it overflows size_t. */
static int ff__mul_overflows(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out); }

/* 1 when `batch` matrices of `size` elements at `stride` apart do not fit size_t elements (or bytes). */
static int ff__span_overflows(size_t batch, size_t stride, size_t size) {
  size_t last, span, bytes;
  if (batch == 0) return 0;
  return ff__mul_overflows(batch - 1, stride, &last) || __builtin_add_overflow(last, size, &span) ||
         ff__mul_overflows(span, sizeof(uint64_t), &bytes);
}

ff_status ff__ring_gemm_check(const char *fn, const ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K,
                              const uint64_t *A, size_t stride_a, const uint64_t *B, size_t stride_b, const uint64_t *C,
                              size_t stride_c) {
  if (!ctx) {
    FF_ERROR("%s: context is NULL", fn);
    return FF_EINVAL;
  }
  if (bw < 1 || bw > 64) {
    FF_ERROR("%s: bw must be 1..64, not %d", fn, bw);
    return FF_EINVAL;
  }
  size_t mk, kn, mn;
  if (ff__mul_overflows(M, K, &mk) || ff__mul_overflows(K, N, &kn) || ff__mul_overflows(M, N, &mn) ||
      ff__span_overflows(batch, stride_a, mk) || ff__span_overflows(batch, stride_b, kn) ||
      ff__span_overflows(batch, stride_c, mn)) {
    FF_ERROR("%s: sizes overflow (batch %zu, M %zu, N %zu, K %zu)", fn, batch, M, N, K);
    return FF_ERANGE;
  }
  if (batch == 0 || mn == 0) return FF_OK; /* nothing to write: pointers may be NULL */
  if (!C || (K > 0 && (!A || !B))) {
    FF_ERROR("%s: NULL matrix (A %p, B %p, C %p)", fn, (const void *)A, (const void *)B, (const void *)C);
    return FF_EINVAL;
  }
  if (batch > 1 && stride_c < mn) {
    FF_ERROR("%s: stride_c %zu is smaller than one output (M*N = %zu): outputs would overlap", fn, stride_c, mn);
    return FF_EINVAL;
  }
  return FF_OK;
}

/* One batched product: rows of the batch's stacked outputs (row r: matrix r / M, its row r % M). */
typedef struct {
  int bw;
  size_t M, N, K;
  const uint64_t *A, *B;
  size_t sa, sb, sc;
  uint64_t *C;
} ff__gemm_job;

/* Rows [lo, hi), i-k-j order: the inner loop streams a row of B into a row of C. */
static void ff__gemm_rows(void *arg, size_t lo, size_t hi) {
  const ff__gemm_job *j = arg;
  const uint64_t mask = ff_ring_mask(j->bw);
  for (size_t r = lo; r < hi; r++) {
    const size_t b = r / j->M, i = r % j->M;
    uint64_t *c = j->C + b * j->sc + i * j->N;
    memset(c, 0, j->N * sizeof *c);
    for (size_t k = 0; k < j->K; k++) {
      const uint64_t a = j->A[b * j->sa + i * j->K + k];
      const uint64_t *brow = j->B + b * j->sb + k * j->N;
      for (size_t n = 0; n < j->N; n++) c[n] += a * brow[n];
    }
    for (size_t n = 0; n < j->N; n++) c[n] &= mask;
  }
}

/* Products of at least this many multiply-adds per thread are split by rows over the CPUs this process
 * may use (core/ctx.h ff_parallel_for; each output row is written by one thread, so the result does not
 * depend on the split). */
#define FF__GEMM_THREAD_MACS ((size_t)1 << 22)

static void ff__gemm(int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A, size_t sa,
                     const uint64_t *B, size_t sb, uint64_t *C, size_t sc) {
  ff__gemm_job job = {bw, M, N, K, A, B, sa, sb, sc, C};
  size_t row_macs; /* multiply-adds per output row; an overflow is simply "large" */
  if (__builtin_mul_overflow(N, K ? K : 1, &row_macs)) row_macs = SIZE_MAX;
  const size_t rows_per_thread = row_macs >= FF__GEMM_THREAD_MACS ? 1 : FF__GEMM_THREAD_MACS / row_macs;
  ff_parallel_for(batch * M, rows_per_thread, 0, ff__gemm_rows, &job);
}

ff_status ff_ring_gemm_batched_cpu(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                                   size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c) {
  ff_status st =
      ff__ring_gemm_check("ff_ring_gemm_batched_cpu", ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
  if (st || batch == 0 || M == 0 || N == 0) return st;
  ff__gemm(bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
  return FF_OK;
}

ff_status ff_ring_gemm_cpu(ff_ctx *ctx, int bw, size_t M, size_t N, size_t K, const uint64_t *A, const uint64_t *B,
                           uint64_t *C) {
  ff_status st = ff__ring_gemm_check("ff_ring_gemm_cpu", ctx, bw, 1, M, N, K, A, 0, B, 0, C, 0);
  if (st || M == 0 || N == 0) return st;
  ff__gemm(bw, 1, M, N, K, A, 0, B, 0, C, 0);
  return FF_OK;
}

/* ---- Dispatch --------------------------------------------------------------------------------------- */

#ifndef FF_HAVE_CUDA
static ff_status ff__no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend (configure with a CUDA compiler)", fn);
  return FF_ENOTSUP;
}
ff_status ff_ring_gemm_batched_cuda_ex(ff_ctx *ctx, ff_gemm_algo algo, int bw, size_t batch, size_t M, size_t N,
                                       size_t K, const uint64_t *A, size_t stride_a, const uint64_t *B, size_t stride_b,
                                       uint64_t *C, size_t stride_c) {
  return ff__no_cuda("ff_ring_gemm_batched_cuda_ex");
}
ff_status ff_ring_gemm_batched_cuda(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                                    size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c) {
  return ff__no_cuda("ff_ring_gemm_batched_cuda");
}
ff_status ff_ring_gemm_cuda_ex(ff_ctx *ctx, ff_gemm_algo algo, int bw, size_t M, size_t N, size_t K, const uint64_t *A,
                               const uint64_t *B, uint64_t *C) {
  return ff__no_cuda("ff_ring_gemm_cuda_ex");
}
ff_status ff_ring_gemm_cuda(ff_ctx *ctx, int bw, size_t M, size_t N, size_t K, const uint64_t *A, const uint64_t *B,
                            uint64_t *C) {
  return ff__no_cuda("ff_ring_gemm_cuda");
}
ff_status ff__ring_gemm_staged(ff_ctx *dev, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                               size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c) {
  return ff__no_cuda("ff_ring_gemm_batched_host (staged on the device)");
}
#endif

ff_status ff_ring_gemm(ff_ctx *ctx, int bw, size_t M, size_t N, size_t K, const uint64_t *A, const uint64_t *B,
                       uint64_t *C) {
  FF_SCOPE("Linear::GEMM");
  if (!ctx) {
    FF_ERROR("ff_ring_gemm: context is NULL");
    return FF_EINVAL;
  }
  return ctx->backend == FF_BACKEND_CUDA ? ff_ring_gemm_cuda(ctx, bw, M, N, K, A, B, C)
                                         : ff_ring_gemm_cpu(ctx, bw, M, N, K, A, B, C);
}

ff_status ff_ring_gemm_batched(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                               size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c) {
  FF_SCOPE("Linear::GEMM");
  if (!ctx) {
    FF_ERROR("ff_ring_gemm_batched: context is NULL");
    return FF_EINVAL;
  }
  return ctx->backend == FF_BACKEND_CUDA
             ? ff_ring_gemm_batched_cuda(ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c)
             : ff_ring_gemm_batched_cpu(ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
}

ff_status ff_ring_gemm_batched_host(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                                    size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c) {
  const char *fn = "ff_ring_gemm_batched_host";
  ff_status st = ff__ring_gemm_check(fn, ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
  if (st) return st;
  if (ctx->backend != FF_BACKEND_CPU) {
    FF_ERROR("%s: the context must be a host context (CPU backend; a dealer's, whose keygen_dev may be a GPU)", fn);
    return FF_EINVAL;
  }
  if (batch == 0 || M == 0 || N == 0) return FF_OK;
  if (ctx->keygen_dev && K > 0) {
    st = ff__ring_gemm_staged(ctx->keygen_dev, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
    if (st != FF_ENOMEM) return st;
    FF_WARN("%s: no device memory for a %zu x %zu x %zu product (batch %zu): made on the host instead", fn, M, K, N,
            batch);
  }
  ff__gemm(bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
  return FF_OK;
}
