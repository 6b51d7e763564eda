// CUDA twins of the softmax's per-element kernels, non-causal and causal (research/sigma.md §4 "Softmax per
// attention row"; GPU-MPC fss/gpu_softmax.cu, gpu_maxpool.cu): same signatures and bit-identical outputs as
// the _cpu references in softmax.c; device pointers, enqueued on ctx->stream, no waiting.
// Test: tests/test_sigma_cuda_softmax.c.
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/softmax.h"

namespace {

#include "gates/sigma/sigma_cuda_util.cuh"

// d (R, h) = v[r, 2j] - v[r, 2j+1], h = m / 2.
__global__ void maxtree_diff_kernel(size_t R, size_t m, uint64_t mask, const uint64_t *v, uint64_t *d) {
  const size_t h = m / 2, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * h) return;
  const size_t r = i / h, j = i % h;
  d[i] = (v[r * m + 2 * j] - v[r * m + 2 * j + 1]) & mask;
}

// next (R, ceil(m/2)): relu[r, j] + v[r, 2j+1]; the odd last element carried unreduced (as the CPU twin).
__global__ void maxtree_next_kernel(size_t R, size_t m, uint64_t mask, const uint64_t *v, const uint64_t *relu,
                                    uint64_t *next) {
  const size_t h = m / 2, m2 = (m + 1) / 2, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * m2) return;
  const size_t r = i / m2, j = i % m2;
  next[i] = j < h ? (relu[r * h + j] + v[r * m + 2 * j + 1]) & mask : v[r * m + m - 1];
}

__global__ void softmax_sub_kernel(size_t R, size_t n, uint64_t mask, const uint64_t *max, const uint64_t *x,
                                   uint64_t *x1) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < R * n) x1[i] = (max[i / n] - x[i]) & mask;
}

// One thread per row (rows are at most a few thousand values): the sum mod 2^64, then reduced.
__global__ void rowsum_kernel(size_t R, size_t n, uint64_t mask, const uint64_t *e, uint64_t *sum) {
  const size_t r = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= R) return;
  uint64_t s = 0;
  for (size_t j = 0; j < n; j++) s += e[r * n + j];
  sum[r] = s & mask;
}

__global__ void add_const_kernel(size_t N, uint64_t mask, const uint64_t *in, uint64_t c, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < N) out[i] = (in[i] + c) & mask;
}

__global__ void row_bcast_kernel(size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < R * n) out[i] = in[i / n];
}

// ---- Causal packing (softmax.h "Causal kernels"). Row r keeps len = (r mod n) + 1 values; at level l it
// holds ceil(len / 2^l). Each thread finds its row's offset in closed form instead of scanning the rows:
// sum_{k=1..K} ceil(k / 2^l) = 2^l q (q + 1) / 2 + t (q + 1), K = q 2^l + t, 0 <= t < 2^l.
__device__ __forceinline__ size_t ceil_shr(size_t a, int l) { return (a + ((size_t)1 << l) - 1) >> l; }

__device__ __forceinline__ size_t ceil_prefix(size_t K, int l) {
  const size_t q = K >> l, t = K & (((size_t)1 << l) - 1);
  return (((size_t)1 << l) * q * (q + 1)) / 2 + t * (q + 1);
}

// Offset of row r in the array packed at level l.
__device__ __forceinline__ size_t causal_offset(size_t r, size_t n, int l) {
  return (r / n) * ceil_prefix(n, l) + ceil_prefix(r % n, l);
}

// One thread per (row, column) of the (R, n) grid; the columns beyond the row's length return (pack, sub,
// bcast) or write the public 0 (unpack).
__global__ void causal_pack_kernel(size_t R, size_t n, uint64_t mask, const uint64_t *x, uint64_t *xp) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * n) return;
  const size_t r = i / n, j = i % n;
  if (j <= r % n) xp[causal_offset(r, n, 0) + j] = x[i] & mask;
}

__global__ void causal_unpack_kernel(size_t R, size_t n, const uint64_t *xp, uint64_t *y) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * n) return;
  const size_t r = i / n, j = i % n;
  y[i] = j <= r % n ? xp[causal_offset(r, n, 0) + j] : 0;
}

__global__ void causal_sub_kernel(size_t R, size_t n, uint64_t mask, const uint64_t *max, const uint64_t *xp,
                                  uint64_t *x1) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * n) return;
  const size_t r = i / n, j = i % n;
  if (j > r % n) return;
  const size_t k = causal_offset(r, n, 0) + j;
  x1[k] = (max[r] - xp[k]) & mask;
}

__global__ void causal_bcast_kernel(size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * n) return;
  const size_t r = i / n, j = i % n;
  if (j <= r % n) out[causal_offset(r, n, 0) + j] = in[r];
}

// One thread per row, as rowsum_kernel.
__global__ void causal_rowsum_kernel(size_t R, size_t n, uint64_t mask, const uint64_t *e, uint64_t *sum) {
  const size_t r = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= R) return;
  const size_t off = causal_offset(r, n, 0), len = r % n + 1;
  uint64_t s = 0;
  for (size_t j = 0; j < len; j++) s += e[off + j];
  sum[r] = s & mask;
}

// One thread per (row, comparison) of the (R, hmax) grid, hmax = ceil(n / 2^(l+1)) (the full row's count):
// v packed at level l (m values in the row), d / next packed at level l + 1 (ceil(m / 2) values).
__global__ void causal_maxtree_diff_kernel(size_t R, size_t n, int l, size_t hmax, uint64_t mask, const uint64_t *v,
                                           uint64_t *d) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * hmax) return;
  const size_t r = i / hmax, j = i % hmax, m = ceil_shr(r % n + 1, l);
  if (j >= (m + 1) / 2) return;
  const size_t a = causal_offset(r, n, l) + 2 * j;
  d[causal_offset(r, n, l + 1) + j] = 2 * j + 1 < m ? (v[a] - v[a + 1]) & mask : 0;
}

__global__ void causal_maxtree_next_kernel(size_t R, size_t n, int l, size_t hmax, uint64_t mask, const uint64_t *v,
                                           const uint64_t *relu, uint64_t *next) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * hmax) return;
  const size_t r = i / hmax, j = i % hmax, m = ceil_shr(r % n + 1, l);
  if (j >= (m + 1) / 2) return;
  const size_t k = causal_offset(r, n, l + 1) + j;
  next[k] = (relu[k] + v[causal_offset(r, n, l) + 2 * j + (2 * j + 1 < m)]) & mask;
}

ff_status check_ring(const char *fn, int ring) {
  if (ring < 1 || ring > 64) {
    FF_ERROR("%s: ring of %d bits is outside 1..64", fn, ring);
    return FF_EINVAL;
  }
  return FF_OK;
}

}  // namespace

// ---- softmax.h -------------------------------------------------------------------------------------------

extern "C" ff_status ff_sigma_maxtree_diff_cuda(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v,
                                                uint64_t *d) {
  const char *fn = "ff_sigma_maxtree_diff_cuda";
  const size_t n = R * (m / 2);
  ff_status st = check(fn, ctx, n, v, d);
  if (!st) st = check_ring(fn, ring);
  if (st || !n) return st;
  maxtree_diff_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(R, m, ff_ring_mask(ring), v, d);
  return launched();
}

extern "C" ff_status ff_sigma_maxtree_next_cuda(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v,
                                                const uint64_t *relu, uint64_t *next) {
  const char *fn = "ff_sigma_maxtree_next_cuda";
  const size_t n = R * ((m + 1) / 2);
  ff_status st = check(fn, ctx, n, v, next);
  if (!st && m >= 2) st = check(fn, ctx, n, relu, relu);
  if (!st) st = check_ring(fn, ring);
  if (st || !n) return st;
  maxtree_next_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(R, m, ff_ring_mask(ring), v, relu, next);
  return launched();
}

extern "C" ff_status ff_sigma_softmax_sub_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max,
                                               const uint64_t *x, uint64_t *x1) {
  const char *fn = "ff_sigma_softmax_sub_cuda";
  const size_t N = R * n;
  ff_status st = check(fn, ctx, N, max, x);
  if (!st) st = check(fn, ctx, N, x1, x1);
  if (!st) st = check_ring(fn, ring);
  if (st || !N) return st;
  softmax_sub_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(R, n, ff_ring_mask(ring), max, x, x1);
  return launched();
}

extern "C" ff_status ff_sigma_rowsum_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e,
                                          uint64_t *sum) {
  const char *fn = "ff_sigma_rowsum_cuda";
  ff_status st = check(fn, ctx, R, sum, sum);
  if (!st && n) st = check(fn, ctx, R, e, e);
  if (!st) st = check_ring(fn, ring);
  if (st || !R) return st;
  rowsum_kernel<<<blocks_for(R), kThreads, 0, stream_of(ctx)>>>(R, n, ff_ring_mask(ring), e, sum);
  return launched();
}

extern "C" ff_status ff_sigma_add_const_cuda(ff_ctx *ctx, int ring, size_t N, const uint64_t *in, uint64_t c,
                                             uint64_t *out) {
  const char *fn = "ff_sigma_add_const_cuda";
  ff_status st = check(fn, ctx, N, in, out);
  if (!st) st = check_ring(fn, ring);
  if (st || !N) return st;
  add_const_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, ff_ring_mask(ring), in, c, out);
  return launched();
}

extern "C" ff_status ff_sigma_row_bcast_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  const size_t N = R * n;
  ff_status st = check("ff_sigma_row_bcast_cuda", ctx, N, in, out);
  if (st || !N) return st;
  row_bcast_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(R, n, in, out);
  return launched();
}

// ---- softmax.h: causal kernels --------------------------------------------------------------------------

namespace {

ff_status check_level(const char *fn, int level) {
  if (level < 0 || level > 62) {
    FF_ERROR("%s: max-tree level %d is outside 0..62", fn, level);
    return FF_EINVAL;
  }
  return FF_OK;
}

}  // namespace

extern "C" ff_status ff_sigma_causal_pack_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *x,
                                               uint64_t *xp) {
  const char *fn = "ff_sigma_causal_pack_cuda";
  const size_t N = R * n;
  ff_status st = check(fn, ctx, N, x, xp);
  if (!st) st = check_ring(fn, ring);
  if (st || !N) return st;
  causal_pack_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(R, n, ff_ring_mask(ring), x, xp);
  return launched();
}

extern "C" ff_status ff_sigma_causal_unpack_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *xp, uint64_t *y) {
  const size_t N = R * n;
  ff_status st = check("ff_sigma_causal_unpack_cuda", ctx, N, xp, y);
  if (st || !N) return st;
  causal_unpack_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(R, n, xp, y);
  return launched();
}

extern "C" ff_status ff_sigma_causal_maxtree_diff_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, int level,
                                                       const uint64_t *v, uint64_t *d) {
  const char *fn = "ff_sigma_causal_maxtree_diff_cuda";
  ff_status st = check_level(fn, level);
  if (st) return st;
  const size_t hmax = n ? ((n - 1) >> (level + 1)) + 1 : 0, N = R * hmax;
  if (!(st = check(fn, ctx, N, v, d))) st = check_ring(fn, ring);
  if (st || !N) return st;
  causal_maxtree_diff_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(R, n, level, hmax, ff_ring_mask(ring), v,
                                                                              d);
  return launched();
}

extern "C" ff_status ff_sigma_causal_maxtree_next_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, int level,
                                                       const uint64_t *v, const uint64_t *relu, uint64_t *next) {
  const char *fn = "ff_sigma_causal_maxtree_next_cuda";
  ff_status st = check_level(fn, level);
  if (st) return st;
  const size_t hmax = n ? ((n - 1) >> (level + 1)) + 1 : 0, N = R * hmax;
  if (!(st = check(fn, ctx, N, v, next))) st = check(fn, ctx, N, relu, relu);
  if (!st) st = check_ring(fn, ring);
  if (st || !N) return st;
  causal_maxtree_next_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(R, n, level, hmax, ff_ring_mask(ring), v,
                                                                              relu, next);
  return launched();
}

extern "C" ff_status ff_sigma_causal_sub_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max,
                                              const uint64_t *xp, uint64_t *x1) {
  const char *fn = "ff_sigma_causal_sub_cuda";
  const size_t N = R * n;
  ff_status st = check(fn, ctx, N, max, xp);
  if (!st) st = check(fn, ctx, N, x1, x1);
  if (!st) st = check_ring(fn, ring);
  if (st || !N) return st;
  causal_sub_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(R, n, ff_ring_mask(ring), max, xp, x1);
  return launched();
}

extern "C" ff_status ff_sigma_causal_rowsum_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e,
                                                 uint64_t *sum) {
  const char *fn = "ff_sigma_causal_rowsum_cuda";
  ff_status st = check(fn, ctx, n ? R : 0, e, sum);
  if (!st) st = check_ring(fn, ring);
  if (st || !R || !n) return st;
  causal_rowsum_kernel<<<blocks_for(R), kThreads, 0, stream_of(ctx)>>>(R, n, ff_ring_mask(ring), e, sum);
  return launched();
}

extern "C" ff_status ff_sigma_causal_bcast_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  const size_t N = R * n;
  ff_status st = check("ff_sigma_causal_bcast_cuda", ctx, N, in, out);
  if (st || !N) return st;
  causal_bcast_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(R, n, in, out);
  return launched();
}
