// CUDA twins of GELU/SiLU's per-element kernels (research/sigma.md §4 "GELU per element"; GPU-MPC
// fss/gpu_gelu.cu) and the op session's bit-unpacking helpers. Same signatures and bit-identical outputs
// as the _cpu references in gelu.c and op.c; device pointers, enqueued on ctx->stream, no waiting.
// Test: tests/test_sigma_cuda.c.
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/gelu.h"

namespace {

#include "gates/sigma/sigma_cuda_util.cuh"

__device__ __forceinline__ uint64_t msb(uint64_t v, int bits) { return (v >> (bits - 1)) & 1; }

__global__ void gelu_points_kernel(size_t N, int bt, uint64_t clip, const uint64_t *xt, uint64_t *pts) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t m = ring_mask(bt - 1), x = xt[i];
  pts[i] = x & m;
  pts[N + i] = (x - clip) & m;
  pts[2 * N + i] = (x + clip) & m;
}

__global__ void gelu_bits_kernel(size_t N, int bt, uint64_t clip, uint64_t p1, const uint64_t *xt,
                                 const uint64_t *cmp, const uint64_t *md, const uint64_t *mic, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t x = xt[i], m = ring_mask(bt);
  // Read every input before writing: out may not alias cmp, but stay safe for in-place callers.
  const uint64_t c0 = cmp[i], c1 = cmp[N + i], c2 = cmp[2 * N + i], d = md[i], ic = mic[i];
  out[i] = (c0 ^ d ^ (p1 & (1 ^ msb(x, bt)))) & 1;
  out[N + i] = (c1 ^ c2 ^ ic ^ (p1 & (msb((x - clip) & m, bt) ^ msb((x + clip) & m, bt)))) & 1;
}

__global__ void gelu_mux_kernel(size_t N, uint64_t m, const uint64_t *dhat, const uint64_t *ichat,
                                const uint64_t *xt, const uint64_t *c0, const uint64_t *c1, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const size_t j = 4 * i + 2 * (ichat[i] & 1) + (dhat[i] & 1);
  out[i] = (c1[j] * xt[i] + c0[j]) & m;
}

// One thread per element: its four entries of c0 and of c1 (SIGMA's keyGenGeluMuxKernel).
__global__ void gelu_deal_mux_kernel(size_t N, int k, const uint64_t *rt, const uint64_t *md, const uint64_t *mic,
                                     const uint64_t *rclip, uint64_t *c01) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t clip = ring_mask(k), L0[4] = {clip, clip, 0, 0}, L1[4] = {0, 0, clip, 1};
  const size_t mm = 2 * (mic[i] & 1) + (md[i] & 1);
  uint64_t *c0 = c01, *c1 = c01 + 4 * N;
  for (size_t j = 0; j < 4; j++) {
    const size_t idx = 4 * i + (j ^ mm);
    c0[idx] = (L0[j] - L1[j] * rt[i] + rclip[i]) & clip;
    c1[idx] = L1[j];
  }
}

__global__ void sub_kernel(size_t N, uint64_t m, uint64_t *a, const uint64_t *b) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < N) a[i] = (a[i] - b[i]) & m;
}

__global__ void unpack_bits_kernel(size_t n, const uint8_t *bits, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = (bits[i / 8] >> (i % 8)) & 1;
}

__global__ void widen_kernel(size_t n, int eb, const uint8_t *in, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  uint64_t v = 0;
  for (int b = 0; b < eb; b++) v |= (uint64_t)in[i * eb + b] << (8 * b);
  out[i] = v;
}

}  // namespace

// ---- gelu.h --------------------------------------------------------------------------------------------

extern "C" ff_status ff_sigma_gelu_points_cuda(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                                               uint64_t *pts) {
  ff_status st = check("ff_sigma_gelu_points_cuda", ctx, N, xthat, pts);
  if (st || !N) return st;
  gelu_points_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, bt, clip, xthat, pts);
  return launched();
}

extern "C" ff_status ff_sigma_gelu_bits_cuda(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                                             const uint64_t *cmp, const uint64_t *md, const uint64_t *mic,
                                             uint64_t *out) {
  const char *fn = "ff_sigma_gelu_bits_cuda";
  ff_status st = check(fn, ctx, N, xthat, cmp);
  if (!st) st = check(fn, ctx, N, md, mic);
  if (!st) st = check(fn, ctx, N, out, out);
  if (st || !N) return st;
  gelu_bits_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, bt, clip, (uint64_t)(ctx->party == 1), xthat,
                                                                    cmp, md, mic, out);
  return launched();
}

extern "C" ff_status ff_sigma_gelu_mux_cuda(ff_ctx *ctx, int k, size_t N, const uint64_t *dhat,
                                            const uint64_t *ichat, const uint64_t *xthat, const uint64_t *c0,
                                            const uint64_t *c1, uint64_t *out) {
  const char *fn = "ff_sigma_gelu_mux_cuda";
  ff_status st = check(fn, ctx, N, dhat, ichat);
  if (!st) st = check(fn, ctx, N, xthat, out);
  if (!st) st = check(fn, ctx, N, c0, c1);
  if (st || !N) return st;
  gelu_mux_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, ff_ring_mask(k), dhat, ichat, xthat, c0, c1,
                                                                   out);
  return launched();
}

extern "C" ff_status ff_sigma_gelu_final_cuda(ff_ctx *ctx, int bw, size_t N, uint64_t *relu, const uint64_t *lut) {
  ff_status st = check("ff_sigma_gelu_final_cuda", ctx, N, relu, lut);
  if (st || !N) return st;
  sub_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, ff_ring_mask(bw), relu, lut);
  return launched();
}

extern "C" ff_status ff_sigma_gelu_deal_mux_cuda(ff_ctx *ctx, int k, size_t N, const uint64_t *rt, const uint64_t *md,
                                                 const uint64_t *mic, const uint64_t *rclip, uint64_t *c01) {
  ff_status st = check("ff_sigma_gelu_deal_mux_cuda", ctx, N, rt, md);
  if (!st) st = check("ff_sigma_gelu_deal_mux_cuda", ctx, N, mic, rclip);
  if (!st) st = check("ff_sigma_gelu_deal_mux_cuda", ctx, N, c01, c01);
  if (st || !N) return st;
  gelu_deal_mux_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, k, rt, md, mic, rclip, c01);
  return launched();
}

// ---- op_internal.h -----------------------------------------------------------------------------------------

extern "C" ff_status ff__sigma_unpack_bits_cuda(ff_ctx *ctx, size_t n, const uint8_t *bits, uint64_t *out) {
  ff_status st = check("ff__sigma_unpack_bits_cuda", ctx, n, bits, out);
  if (st || !n) return st;
  unpack_bits_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, bits, out);
  return launched();
}

extern "C" ff_status ff__sigma_widen_cuda(ff_ctx *ctx, size_t n, int eb, const uint8_t *in, uint64_t *out) {
  ff_status st = check("ff__sigma_widen_cuda", ctx, n, in, out);
  if (st || !n) return st;
  if (eb < 1 || eb > 8) {
    FF_ERROR("ff__sigma_widen_cuda: %d bytes per value is outside 1..8", eb);
    return FF_EINVAL;
  }
  widen_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, eb, in, out);
  return launched();
}
