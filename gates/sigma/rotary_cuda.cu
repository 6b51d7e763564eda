// CUDA twin of the rotary embedding's local map (rotary.h; research/sigma.md §4 "Attention"; GPU-MPC
// fss/gpu_mha.cu, rotEmbKernel): u = the public rotate-half map of x mod 2^bw, one thread per (row, k) pair.
// Same signature and bit-identical output as ff_sigma_rotary_apply_cpu; device pointers (the cos/sin table
// too: made on the host by ff_sigma_rotary_table and uploaded), enqueued on ctx->stream, no waiting.
// Test: tests/test_sigma_cuda_rotary.c.
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/rotary.h"

namespace {

#include "gates/sigma/sigma_cuda_util.cuh"

// Thread e handles row r = e / h, column pair (k, k + h), k = e % h, at position t = r mod T.
__global__ void rotary_kernel(size_t n, size_t T, size_t h, uint64_t m, const int64_t *cs, const int64_t *sn,
                              const uint64_t *x, uint64_t *u) {
  const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= n) return;
  const size_t r = e / h, k = e % h, t = r % T, d = 2 * h;
  const uint64_t c = (uint64_t)cs[t * h + k], s = (uint64_t)sn[t * h + k];
  const uint64_t a = x[r * d + k], b = x[r * d + k + h];
  u[r * d + k] = (c * a - s * b) & m;
  u[r * d + k + h] = (c * b + s * a) & m;
}

}  // namespace

extern "C" ff_status ff_sigma_rotary_apply_cuda(ff_ctx *ctx, int bw, size_t rows, int T, int d, const int64_t *cs,
                                                const int64_t *sn, const uint64_t *x, uint64_t *u) {
  const char *fn = "ff_sigma_rotary_apply_cuda";
  if (T < 1 || d < 2 || d % 2) {
    FF_ERROR("%s: need T >= 1 and d even >= 2 (T %d, d %d)", fn, T, d);
    return FF_EINVAL;
  }
  const size_t n = rows * (size_t)d;
  ff_status st = check(fn, ctx, n, x, u);
  if (!st) st = check(fn, ctx, n, cs, sn);
  if (st || !n) return st;
  const size_t pairs = rows * (size_t)(d / 2);
  rotary_kernel<<<blocks_for(pairs), kThreads, 0, stream_of(ctx)>>>(pairs, (size_t)T, (size_t)(d / 2),
                                                                    ff_ring_mask(bw), cs, sn, x, u);
  return launched();
}
