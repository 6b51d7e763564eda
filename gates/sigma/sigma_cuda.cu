// CUDA twins of the sigma gates' per-element kernels (research/sigma.md §4; GPU-MPC fss/gpu_truncate.cu,
// gpu_relu.cu, gpu_mul.cu, gpu_matmul.cu): TR stage, DReLU, elementwise mul, matmul (through gates/gemm)
// and the op session's helpers. Same signatures and bit-identical outputs as the _cpu references in
// truncate.c, relu.c, mul.c, matmul.c, op.c; device pointers, enqueued on ctx->stream, no waiting.
// Test: tests/test_sigma_cuda.c.
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/gemm/ring_gemm.h"
#include "gates/sigma/matmul.h"
#include "gates/sigma/mul.h"
#include "gates/sigma/relu.h"
#include "gates/sigma/truncate.h"

namespace {

#include "gates/sigma/sigma_cuda_util.cuh"


__global__ void tr_points_kernel(size_t N, uint64_t add, uint64_t in_mask, uint64_t cmp_mask, const uint64_t *xhat,
                                 uint64_t *pts) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < N) pts[i] = ((xhat[i] + add) & in_mask) & cmp_mask;
}

__global__ void tr_local_kernel(size_t N, ff_sigma_tr_params p, int p1, const uint64_t *xhat, const uint64_t *chat,
                                const uint64_t *__restrict__ key, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t xp = (xhat[i] + p.add) & ring_mask(p.bw_in);
  uint64_t v = (chat[i] & 1) ? key[N + i] : key[i];
  if (p.slack && !((xp >> (p.bw_in - 1)) & 1)) v += key[2 * N + i];
  if (p1) v += xp >> p.shift;
  out[i] = v & ring_mask(p.bw_out);
}

__global__ void mask_kernel(size_t N, uint64_t m, const uint64_t *in, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < N) out[i] = in[i] & m;
}

__global__ void drelu_local_kernel(size_t N, int bin, const uint64_t *xhat, uint64_t *share) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < N) share[i] ^= 1 ^ ((xhat[i] >> (bin - 1)) & 1);
}

__global__ void mul_local_kernel(size_t N, uint64_t p1, uint64_t m, const uint64_t *xhat, const uint64_t *yhat,
                                 const uint64_t *__restrict__ key, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t x = xhat[i], y = yhat[i];
  out[i] = (p1 * x * y - x * key[N + i] - y * key[i] + key[2 * N + i]) & m;
}

// wb = [p1] W^ - b (mod 2^64; the GEMM reduces its inputs mod 2^bw).
__global__ void matmul_wb_kernel(size_t n, uint64_t p1, const uint64_t *what, const uint64_t *b, uint64_t *wb) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) wb[i] = p1 * what[i] - b[i];
}

__global__ void matmul_finish_kernel(size_t n, uint64_t m, const uint64_t *aw, const uint64_t *c, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = (out[i] - aw[i] + c[i]) & m;
}

__global__ void cmp_share_kernel(size_t N, const uint8_t *dcf, const uint8_t *mask, uint64_t *share) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < N) share[i] = (uint64_t)(((dcf[i / 8] ^ mask[i / 8]) >> (i % 8)) & 1);
}

// The dealer's kernels (op_internal.h; the CPU twins in op.c and truncate.c).
__global__ void tr_deal_kernel(size_t N, ff_sigma_tr_params p, const uint64_t *r, const uint64_t *m,
                               const uint64_t *r_out, uint64_t *key) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t base = -(r[i] >> p.shift) + p.cst + r_out[i], mo = ring_mask(p.bw_out);
  key[i] = (base + p.coef * m[i]) & mo;
  key[N + i] = (base + p.coef * (m[i] ^ 1)) & mo;
  if (p.slack) key[2 * N + i] = ((r[i] >> (p.bw_in - 1)) << (p.bw_in - p.shift)) & mo;
}

__global__ void share_split_kernel(size_t n, uint64_t m, const uint64_t *v, uint64_t *s0, uint64_t *s1) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint64_t a = s0[i] & m;
  s0[i] = a;
  s1[i] = (v[i] - a) & m;
}

__global__ void cmp_bits_kernel(size_t n, int bits, const uint64_t *r, const uint64_t *m, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = ((r[i] >> (bits - 1)) & 1) ^ (m[i] & 1);
}

__global__ void mul_add_kernel(size_t n, uint64_t mask, const uint64_t *a, const uint64_t *b, const uint64_t *c,
                               uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = (a[i] * b[i] + c[i]) & mask;
}

__global__ void add_reduce_kernel(size_t n, uint64_t m, const uint64_t *a, const uint64_t *b, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = (a[i] + b[i]) & m;
}

__global__ void narrow_kernel(size_t n, int eb, const uint64_t *in, uint8_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint64_t v = in[i];
  for (int b = 0; b < eb; b++) out[i * eb + b] = (uint8_t)(v >> (8 * b));
}

// One thread per packed byte j of row r: party 0's drawn byte with the pad bits cleared, party 1's that
// XOR the row's bits i = 8j..8j+7.
__global__ void bit_shares_kernel(size_t rows, size_t N, size_t mb, const uint64_t *bits, uint8_t *m) {
  const size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= rows * mb) return;
  const size_t r = t / mb, j = t % mb;
  unsigned keep = 0xffu, packed = 0;
  for (unsigned k = 0; k < 8; k++) {
    const size_t i = 8 * j + k;
    if (i >= N) {
      keep &= ~(1u << k);
      continue;
    }
    packed |= (unsigned)(bits[r * N + i] & 1) << k;
  }
  const uint8_t b = (uint8_t)(m[t] & keep);
  m[t] = b;
  m[rows * mb + t] = (uint8_t)(b ^ packed);
}

}  // namespace

// ---- truncate.h ---------------------------------------------------------------------------------------

extern "C" ff_status ff_sigma_tr_points_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N,
                                             const uint64_t *xhat, uint64_t *pts) {
  ff_status st = check("ff_sigma_tr_points_cuda", ctx, N, xhat, pts);
  if (st || !N) return st;
  tr_points_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, p->add, ff_ring_mask(p->bw_in),
                                                                    ff_ring_mask(p->n_cmp), xhat, pts);
  return launched();
}

extern "C" ff_status ff_sigma_tr_local_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                            const uint64_t *chat, const uint64_t *key, uint64_t *out) {
  ff_status st = check("ff_sigma_tr_local_cuda", ctx, N, xhat, out);
  if (!st) st = check("ff_sigma_tr_local_cuda", ctx, N, chat, key);
  if (st || !N) return st;
  tr_local_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, *p, ctx->party == 1, xhat, chat, key, out);
  return launched();
}

extern "C" ff_status ff_sigma_tr_deal_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *r,
                                           const uint64_t *m, const uint64_t *r_out, uint64_t *key) {
  ff_status st = check("ff_sigma_tr_deal_cuda", ctx, N, r, m);
  if (!st) st = check("ff_sigma_tr_deal_cuda", ctx, N, r_out, key);
  if (st || !N) return st;
  tr_deal_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, *p, r, m, r_out, key);
  return launched();
}

// ---- relu.h -----------------------------------------------------------------------------------------------

extern "C" ff_status ff_sigma_drelu_points_cuda(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat,
                                                uint64_t *pts) {
  ff_status st = check("ff_sigma_drelu_points_cuda", ctx, N, xhat, pts);
  if (st || !N) return st;
  mask_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, ff_ring_mask(bin - 1), xhat, pts);
  return launched();
}

extern "C" ff_status ff_sigma_drelu_local_cuda(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat,
                                               uint64_t *share) {
  ff_status st = check("ff_sigma_drelu_local_cuda", ctx, N, xhat, share);
  if (st || !N || ctx->party != 1) return st;  // only party 1 adds the public term
  drelu_local_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, bin, xhat, share);
  return launched();
}

// ---- mul.h -------------------------------------------------------------------------------------------------

extern "C" ff_status ff_sigma_mul_local_cuda(ff_ctx *ctx, int bw, size_t N, const uint64_t *xhat,
                                             const uint64_t *yhat, const uint64_t *key, uint64_t *out) {
  ff_status st = check("ff_sigma_mul_local_cuda", ctx, N, xhat, yhat);
  if (!st) st = check("ff_sigma_mul_local_cuda", ctx, N, key, out);
  if (st || !N) return st;
  mul_local_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, (uint64_t)(ctx->party == 1),
                                                                    ff_ring_mask(bw), xhat, yhat, key, out);
  return launched();
}

// ---- matmul.h -------------------------------------------------------------------------------------------

extern "C" ff_status ff_sigma_matmul_local_cuda(ff_ctx *ctx, int bw, size_t M, size_t K, size_t N,
                                                const uint64_t *xhat, const uint64_t *what, const uint64_t *a,
                                                const uint64_t *b, const uint64_t *c, uint64_t *out) {
  const char *fn = "ff_sigma_matmul_local_cuda";
  ff_status st = check(fn, ctx, M * N, c, out);
  if (!st) st = check(fn, ctx, M * K, xhat, a);
  if (!st) st = check(fn, ctx, K * N, what, b);
  if (st || !M || !N) return st;
  cudaStream_t s = stream_of(ctx);
  uint64_t *wb = NULL, *aw = NULL;
  if ((st = FF_CUDA_CHECK(cudaMallocAsync(&wb, (K * N > 0 ? K * N : 1) * sizeof *wb, s))) ||
      (st = FF_CUDA_CHECK(cudaMallocAsync(&aw, M * N * sizeof *aw, s))))
    goto done;
  if (K * N > 0) {
    matmul_wb_kernel<<<blocks_for(K * N), kThreads, 0, s>>>(K * N, (uint64_t)(ctx->party == 1), what, b, wb);
    if ((st = launched())) goto done;
  }
  if ((st = ff_ring_gemm_cuda(ctx, bw, M, N, K, xhat, wb, out)) ||
      (st = ff_ring_gemm_cuda(ctx, bw, M, N, K, a, what, aw)))
    goto done;
  matmul_finish_kernel<<<blocks_for(M * N), kThreads, 0, s>>>(M * N, ff_ring_mask(bw), aw, c, out);
  st = launched();
done:
  // Freed in stream order, after the kernels that read them.
  if (wb) (void)FF_CUDA_CHECK(cudaFreeAsync(wb, s));
  if (aw) (void)FF_CUDA_CHECK(cudaFreeAsync(aw, s));
  return st;
}

// ---- op_internal.h ----------------------------------------------------------------------------------------

extern "C" ff_status ff__sigma_reduce_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *in, uint64_t *out) {
  ff_status st = check("ff__sigma_reduce_cuda", ctx, n, in, out);
  if (st || !n) return st;
  mask_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, ff_ring_mask(bits), in, out);
  return launched();
}

extern "C" ff_status ff__sigma_cmp_share_cuda(ff_ctx *ctx, size_t N, const uint8_t *dcf, const uint8_t *mask,
                                              uint64_t *share) {
  ff_status st = check("ff__sigma_cmp_share_cuda", ctx, N, dcf, mask);
  if (!st) st = check("ff__sigma_cmp_share_cuda", ctx, N, share, share);
  if (st || !N) return st;
  cmp_share_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(N, dcf, mask, share);
  return launched();
}

extern "C" ff_status ff__sigma_share_split_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *v, uint64_t *s0,
                                                uint64_t *s1) {
  ff_status st = check("ff__sigma_share_split_cuda", ctx, n, v, s0);
  if (!st) st = check("ff__sigma_share_split_cuda", ctx, n, s1, s1);
  if (st || !n) return st;
  share_split_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, ff_ring_mask(bits), v, s0, s1);
  return launched();
}

extern "C" ff_status ff__sigma_narrow_cuda(ff_ctx *ctx, size_t n, int eb, const uint64_t *in, uint8_t *out) {
  ff_status st = check("ff__sigma_narrow_cuda", ctx, n, in, out);
  if (st || !n) return st;
  if (eb < 1 || eb > 8) {
    FF_ERROR("ff__sigma_narrow_cuda: %d bytes per value is outside 1..8", eb);
    return FF_EINVAL;
  }
  narrow_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, eb, in, out);
  return launched();
}

extern "C" ff_status ff__sigma_bit_shares_cuda(ff_ctx *ctx, size_t rows, size_t N, const uint64_t *bits, uint8_t *m) {
  ff_status st = check("ff__sigma_bit_shares_cuda", ctx, rows * N, bits, m);
  if (st || !rows || !N) return st;
  const size_t mb = (N + 7) / 8;
  bit_shares_kernel<<<blocks_for(rows * mb), kThreads, 0, stream_of(ctx)>>>(rows, N, mb, bits, m);
  return launched();
}

extern "C" ff_status ff__sigma_add_reduce_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                               uint64_t *out) {
  ff_status st = check("ff__sigma_add_reduce_cuda", ctx, n, a, b);
  if (!st) st = check("ff__sigma_add_reduce_cuda", ctx, n, out, out);
  if (st || !n) return st;
  add_reduce_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, ff_ring_mask(bits), a, b, out);
  return launched();
}

extern "C" ff_status ff__sigma_cmp_bits_cuda(ff_ctx *ctx, int bits, size_t n, const uint64_t *r, const uint64_t *m,
                                             uint64_t *out) {
  ff_status st = check("ff__sigma_cmp_bits_cuda", ctx, n, r, m);
  if (!st) st = check("ff__sigma_cmp_bits_cuda", ctx, n, out, out);
  if (st || !n) return st;
  cmp_bits_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, bits, r, m, out);
  return launched();
}

extern "C" ff_status ff__sigma_mul_add_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                            const uint64_t *c, uint64_t *out) {
  ff_status st = check("ff__sigma_mul_add_cuda", ctx, n, a, b);
  if (!st) st = check("ff__sigma_mul_add_cuda", ctx, n, c, out);
  if (st || !n) return st;
  mul_add_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, ff_ring_mask(bits), a, b, c, out);
  return launched();
}
