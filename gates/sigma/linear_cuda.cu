// CUDA twins of the sigma suite's linear glue kernels (linear.h; research/sigma.md §4 "Attention"; GPU-MPC
// fss/gpu_add.h, gpu_mha.cu's head split/merge and packLowerTriangularMatrix): add, bias, public scaling,
// permute, causal pack/unpack. Same signatures and bit-identical outputs as the _cpu references in linear.c;
// device pointers, grid-stride kernels enqueued on ctx->stream, no waiting. Test: tests/test_sigma_cuda_linear.c.
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/linear.h"

namespace {

#include "gates/sigma/sigma_cuda_util.cuh"

// Grid-stride loops: enough blocks to fill the device, never more than the work needs.
constexpr unsigned kMaxBlocks = 4096;

inline unsigned grid_for(size_t n) {
  const unsigned b = blocks_for(n < (size_t)kMaxBlocks * kThreads ? n : (size_t)kMaxBlocks * kThreads);
  return b ? b : 1;
}

__device__ __forceinline__ size_t first_index() { return (size_t)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ size_t grid_stride() { return (size_t)blockDim.x * gridDim.x; }

__global__ void add_kernel(size_t n, uint64_t m, const uint64_t *x, const uint64_t *y, uint64_t *z) {
  for (size_t i = first_index(); i < n; i += grid_stride()) z[i] = (x[i] + y[i]) & m;
}

__global__ void add_bias_kernel(size_t n, size_t N, uint64_t m, const uint64_t *x, const uint64_t *b, uint64_t *y) {
  for (size_t i = first_index(); i < n; i += grid_stride()) y[i] = (x[i] + b[i % N]) & m;
}

__global__ void mul_public_kernel(size_t n, uint64_t c, uint64_t m, const uint64_t *x, uint64_t *y) {
  for (size_t i = first_index(); i < n; i += grid_stride()) y[i] = (c * x[i]) & m;
}

// Output element e: its coordinates in y's dimensions give x's offset through the permuted strides.
__global__ void permute_kernel(ff__sigma_permute_plan pl, const uint64_t *x, uint64_t *y) {
  for (size_t e = first_index(); e < pl.n; e += grid_stride()) {
    size_t rest = e, off = 0;
    for (int i = pl.nd - 1; i >= 0; i--) {
      const size_t d = (size_t)pl.ydims[i];
      off += (rest % d) * (size_t)pl.xstride[i];
      rest /= d;
    }
    y[e] = x[off];
  }
}

// One thread per entry of the full (B, n, n) blocks, so no triangular index has to be inverted: entry (i, j)
// with j <= i is packed entry i (i + 1) / 2 + j of its block.
__global__ void tril_pack_kernel(size_t B, size_t n, const uint64_t *x, uint64_t *p) {
  const size_t nn = n * n, tri = n * (n + 1) / 2;
  for (size_t e = first_index(); e < B * nn; e += grid_stride()) {
    const size_t b = e / nn, i = e % nn / n, j = e % n;
    if (j <= i) p[b * tri + i * (i + 1) / 2 + j] = x[e];
  }
}

__global__ void tril_unpack_kernel(size_t B, size_t n, const uint64_t *p, uint64_t *y) {
  const size_t nn = n * n, tri = n * (n + 1) / 2;
  for (size_t e = first_index(); e < B * nn; e += grid_stride()) {
    const size_t b = e / nn, i = e % nn / n, j = e % n;
    y[e] = j <= i ? p[b * tri + i * (i + 1) / 2 + j] : 0;
  }
}

ff_status check_bw(const char *fn, int bw) {
  if (bw < 1 || bw > 64) {
    FF_ERROR("%s: ring width %d is outside 1..64", fn, bw);
    return FF_EINVAL;
  }
  return FF_OK;
}

}  // namespace

extern "C" ff_status ff_sigma_add_cuda(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, const uint64_t *y,
                                       uint64_t *z) {
  const char *fn = "ff_sigma_add_cuda";
  ff_status st = check(fn, ctx, n, x, y);
  if (!st) st = check(fn, ctx, n, z, z);
  if (!st) st = check_bw(fn, bw);
  if (st || !n) return st;
  add_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(n, ff_ring_mask(bw), x, y, z);
  return launched();
}

extern "C" ff_status ff_sigma_add_bias_cuda(ff_ctx *ctx, int bw, size_t R, size_t N, const uint64_t *x,
                                            const uint64_t *b, uint64_t *y) {
  const char *fn = "ff_sigma_add_bias_cuda";
  const size_t n = R * N;
  ff_status st = check(fn, ctx, n, x, b);
  if (!st) st = check(fn, ctx, n, y, y);
  if (!st) st = check_bw(fn, bw);
  if (st || !n) return st;
  add_bias_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(n, N, ff_ring_mask(bw), x, b, y);
  return launched();
}

extern "C" ff_status ff_sigma_mul_public_cuda(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, int64_t c,
                                              uint64_t *y) {
  const char *fn = "ff_sigma_mul_public_cuda";
  ff_status st = check(fn, ctx, n, x, y);
  if (!st) st = check_bw(fn, bw);
  if (st || !n) return st;
  mul_public_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(n, (uint64_t)c, ff_ring_mask(bw), x, y);
  return launched();
}

extern "C" ff_status ff_sigma_permute_cuda(ff_ctx *ctx, int nd, const int64_t *dims, const int *perm,
                                           const uint64_t *x, uint64_t *y) {
  const char *fn = "ff_sigma_permute_cuda";
  ff__sigma_permute_plan pl;
  ff_status st = check(fn, ctx, 0, x, y);
  if (!st) st = ff__sigma_permute_plan_make(fn, nd, dims, perm, &pl);
  if (!st) st = check(fn, ctx, pl.n, x, y);
  if (st) return st;
  permute_kernel<<<grid_for(pl.n), kThreads, 0, stream_of(ctx)>>>(pl, x, y);
  return launched();
}

extern "C" ff_status ff_sigma_tril_pack_cuda(ff_ctx *ctx, size_t B, size_t n, const uint64_t *x, uint64_t *p) {
  ff_status st = check("ff_sigma_tril_pack_cuda", ctx, B * n, x, p);
  if (st || !B || !n) return st;
  tril_pack_kernel<<<grid_for(B * n * n), kThreads, 0, stream_of(ctx)>>>(B, n, x, p);
  return launched();
}

extern "C" ff_status ff_sigma_tril_unpack_cuda(ff_ctx *ctx, size_t B, size_t n, const uint64_t *p, uint64_t *y) {
  ff_status st = check("ff_sigma_tril_unpack_cuda", ctx, B * n, p, y);
  if (st || !B || !n) return st;
  tril_unpack_kernel<<<grid_for(B * n * n), kThreads, 0, stream_of(ctx)>>>(B, n, p, y);
  return launched();
}
