// CUDA twins of the sparse suf gate's per-element kernels (sparse.h). Same signatures and bit-identical
// outputs as the _cpu references in sparse.c; device pointers, enqueued on ctx->stream, no waiting.
// Test: tests/test_suf_sparse_cuda.c.
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/suf/sparse.h"

namespace {

#include "gates/sigma/sigma_cuda_util.cuh"

// The public fields of a specification the kernels read, passed by value.
struct Shape {
  int e, bw, p, K;
  uint64_t off;
};

Shape shape_of(const ff_suf_sparse_spec *sp) { return Shape{sp->e, sp->bw, sp->p, sp->K, sp->off}; }

// Padded: one thread per key, boundary-major (key q belongs to element q mod N).
__global__ void points_padded_kernel(Shape h, size_t N, size_t Nk, const uint64_t *xhat, uint64_t *pts) {
  const size_t q = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= Nk) return;
  pts[q] = (xhat[q % N] + h.off) & ring_mask(h.e);
}

// The ablation: one thread per element, its keys at offs[i] .. offs[i+1) - 1.
__global__ void points_offs_kernel(Shape h, size_t N, const uint64_t *offs, const uint64_t *xhat, uint64_t *pts) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t v = (xhat[i] + h.off) & ring_mask(h.e);
  for (uint64_t q = offs[i]; q < offs[i + 1]; q++) pts[q] = v;
}

__global__ void combine_kernel(Shape h, size_t N, const uint64_t *offs, size_t Nk, const uint64_t *xhat,
                               const uint64_t *dcf, const uint64_t *base, uint64_t *y) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  uint64_t c[2] = {0, 0};
  for (int w = 0; w < h.p; w++) {
    const uint64_t *d = dcf + (size_t)w * Nk;
    uint64_t s = base[(size_t)w * N + i];
    if (!offs) {
      for (int j = 0; j < h.K; j++) s += d[(size_t)j * N + i];
    } else {
      for (uint64_t q = offs[i]; q < offs[i + 1]; q++) s += d[q];
    }
    c[w] = s;
  }
  y[i] = (c[0] + c[1] * xhat[i]) & ring_mask(h.bw);
}

}  // namespace

extern "C" ff_status ff_suf_sparse_points_cuda(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N,
                                               const uint64_t *xhat, const uint64_t *offs, size_t Nk, uint64_t *pts) {
  ff_status st = check(__func__, ctx, N, xhat, pts);
  if (st || !N) return st;
  if (offs)
    points_offs_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(shape_of(sp), N, offs, xhat, pts);
  else if (Nk)
    points_padded_kernel<<<blocks_for(Nk), kThreads, 0, stream_of(ctx)>>>(shape_of(sp), N, Nk, xhat, pts);
  return launched();
}

extern "C" ff_status ff_suf_sparse_combine_cuda(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N,
                                                const uint64_t *xhat, const uint64_t *offs, size_t Nk,
                                                const uint64_t *dcf, const uint64_t *base, uint64_t *y) {
  ff_status st = check(__func__, ctx, N, xhat, y);
  if (!st && N && (!dcf || !base)) st = check(__func__, ctx, N, dcf, base);
  if (st || !N) return st;
  combine_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(shape_of(sp), N, offs, Nk, xhat, dcf, base, y);
  return launched();
}
