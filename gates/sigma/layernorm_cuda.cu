// CUDA twins of LayerNorm/RMSNorm's kernels (research/sigma.md §4 "LayerNorm per element"; GPU-MPC
// fss/gpu_layernorm.cu): row sums, centring, squares, the rsqrt's points, bits, normalisation and LUT
// index, the broadcast Beaver product and the beta add. Same signatures and bit-identical outputs as the
// _cpu references in layernorm.c; device pointers, enqueued on ctx->stream, no waiting.
// Test: tests/test_sigma_cuda_layernorm.c.
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/layernorm.h"

namespace {

#include "gates/sigma/sigma_cuda_util.cuh"

// The rsqrt table's exponent bits; its mantissa bits m are the kernels' parameter, as in the CPU twins.
constexpr int kExpBits = FF_SIGMA_RSQRT_EXP_BITS;

ff_status check_mant(const char *fn, int mant) {
  if (mant + kExpBits >= FF_SIGMA_RSQRT_MIN_BITS && mant + kExpBits <= FF_SIGMA_RSQRT_MAX_BITS) return FF_OK;
  FF_ERROR("%s: %d mantissa bits is outside %d..%d", fn, mant, FF_SIGMA_RSQRT_MIN_BITS - kExpBits,
           FF_SIGMA_RSQRT_MAX_BITS - kExpBits);
  return FF_EINVAL;
}

// The per-row kernels launch one block per row (gridDim.x < 2^31).
ff_status rows_fit(const char *fn, size_t R) {
  if (R <= 0x7fffffffu) return FF_OK;
  FF_ERROR("%s: %zu rows exceed one launch's grid", fn, R);
  return FF_ERANGE;
}

// Sum of the block's per-thread values mod 2^64 (exact: ring addition is associative); thread 0 has it.
__device__ uint64_t block_sum(uint64_t v) {
  __shared__ uint64_t sh[kThreads];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  return sh[0];
}

// One block per row.
__global__ void rowsum_kernel(size_t d, uint64_t m, uint64_t mult, const uint64_t *x, uint64_t *sum) {
  const size_t i = blockIdx.x;
  uint64_t acc = 0;
  for (size_t j = threadIdx.x; j < d; j += blockDim.x) acc += x[i * d + j];
  acc = block_sum(acc);
  if (threadIdx.x == 0) sum[i] = (acc * mult) & m;
}

__global__ void square_kernel(size_t R, size_t d, uint64_t m, uint64_t p1, const uint64_t *xhat, const uint64_t *key,
                              uint64_t *out) {
  const size_t i = blockIdx.x, N = R * d;
  const uint64_t *A = key, *B = key + N;
  uint64_t acc = 0;
  for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
    const size_t e = i * d + j;
    acc += p1 * xhat[e] * xhat[e] - A[e] * xhat[e] + B[e];
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[i] = acc & m;
}

__global__ void center_kernel(size_t N, size_t d, uint64_t m, const uint64_t *x, const uint64_t *mu, uint64_t *xc) {
  const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e < N) xc[e] = (x[e] - mu[e / d]) & m;
}

__global__ void wmul_kernel(size_t R, size_t d, int per_row, uint64_t m, uint64_t p1, const uint64_t *xhat,
                            const uint64_t *what, const uint64_t *key, uint64_t *out) {
  const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x, N = R * d;
  if (e >= N) return;
  const size_t W = per_row ? R : d, w = per_row ? e / d : e % d;
  const uint64_t *A = key, *B = key + N, *C = key + N + W;
  out[e] = (p1 * xhat[e] * what[w] - xhat[e] * B[w] - what[w] * A[e] + C[e]) & m;
}

__global__ void addcol_kernel(size_t N, size_t d, uint64_t m, uint64_t *y, const uint64_t *b) {
  const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e < N) y[e] = (y[e] + b[e % d]) & m;
}

// pts (J, R): row t = 0 is V^, row t >= 1 is V^ - 2^t mod 2^bw.
__global__ void points_kernel(size_t R, size_t J, uint64_t m, const uint64_t *vhat, uint64_t *pts) {
  const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= J * R) return;
  const size_t t = e / R, i = e % R;
  pts[e] = t == 0 ? vhat[i] : (vhat[i] - (1ull << t)) & m;
}

__global__ void bits_kernel(size_t R, size_t L, uint64_t p1, const uint64_t *vhat, const uint8_t *lt,
                            const uint8_t *mask, uint64_t *c) {
  const size_t f = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (f >= L * R) return;
  const size_t t = f / R + 1, i = f % R, e = t * R + i;
  const uint64_t pub = p1 & (uint64_t)(vhat[i] < (1ull << t));
  c[f] = ((uint64_t)(lt[e / 8] >> (e % 8)) ^ (uint64_t)(lt[i / 8] >> (i % 8)) ^ (uint64_t)(mask[f / 8] >> (f % 8)) ^
          pub) &
         1;
}

// One thread per row: the one-hot select-sum of layernorm.h step 4b, mant mantissa bits.
__global__ void normalize_kernel(size_t R, int L, int mant, uint64_t m, uint64_t p1, const uint64_t *chat,
                                 const uint64_t *vhat, const uint64_t *key, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R) return;
  const size_t J = (size_t)L + 1;
  const uint64_t *rho = key, *rhorv = key + J * R, *rv = key + 2 * J * R, *rvp = rv + R, *rk = rvp + R;
  uint64_t vp = rvp[i], ex = rk[i];
  const uint64_t v = vhat[i], r = rv[i];
  for (size_t j = 0; j <= (size_t)L; j++) {
    const uint64_t lo = j == 0 ? 0 : chat[(j - 1) * R + i] & 1;
    const uint64_t hi = j == (size_t)L ? 1 : chat[j * R + i] & 1;
    const uint64_t oh = lo ^ hi, sgn = 1 - 2 * oh;
    const uint64_t pw = 1ull << (L - (int)j);
    const uint64_t rh = rho[j * R + i];
    vp += pw * (p1 * oh * v - oh * r + sgn * (rh * v - rhorv[j * R + i]));
    ex += ((uint64_t)j << mant) * (p1 * oh + sgn * rh);
  }
  out[i] = vp & m;
  out[R + i] = ex & ((1ull << (mant + kExpBits)) - 1);
}

__global__ void index_kernel(size_t R, int mant, const uint64_t *ehat, const uint64_t *mhat, uint64_t *idx) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < R) idx[i] = (ehat[i] + mhat[i] - (1ull << mant)) & ((1ull << (mant + kExpBits)) - 1);
}

uint64_t p1_of(const ff_ctx *ctx) { return (uint64_t)(ctx->party == 1); }

}  // namespace

extern "C" ff_status ff_sigma_ln_rowsum_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t mult,
                                             const uint64_t *x, uint64_t *sum) {
  ff_status st = check("ff_sigma_ln_rowsum_cuda", ctx, R * d, x, sum);
  if (!st) st = rows_fit("ff_sigma_ln_rowsum_cuda", R);
  if (st || !R) return st;
  rowsum_kernel<<<(unsigned)R, kThreads, 0, stream_of(ctx)>>>(d, ff_ring_mask(bw), mult, x, sum);
  return launched();
}

extern "C" ff_status ff_sigma_ln_center_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *x,
                                             const uint64_t *mu, uint64_t *xc) {
  const char *fn = "ff_sigma_ln_center_cuda";
  ff_status st = check(fn, ctx, R * d, x, mu);
  if (!st) st = check(fn, ctx, R * d, xc, xc);
  if (st || !R || !d) return st;
  center_kernel<<<blocks_for(R * d), kThreads, 0, stream_of(ctx)>>>(R * d, d, ff_ring_mask(bw), x, mu, xc);
  return launched();
}

extern "C" ff_status ff_sigma_ln_square_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *xhat,
                                             const uint64_t *key, uint64_t *out) {
  const char *fn = "ff_sigma_ln_square_cuda";
  ff_status st = check(fn, ctx, R * d, xhat, key);
  if (!st) st = check(fn, ctx, R, out, out);
  if (!st) st = rows_fit(fn, R);
  if (st || !R) return st;
  square_kernel<<<(unsigned)R, kThreads, 0, stream_of(ctx)>>>(R, d, ff_ring_mask(bw), p1_of(ctx), xhat, key, out);
  return launched();
}

extern "C" ff_status ff_sigma_rsqrt_normalize_cuda(ff_ctx *ctx, int bw, int mant, size_t R, const uint64_t *chat,
                                                   const uint64_t *vhat, const uint64_t *key, uint64_t *out) {
  const char *fn = "ff_sigma_rsqrt_normalize_cuda";
  ff_status st = check_mant(fn, mant);
  if (!st) st = check(fn, ctx, R, chat, vhat);
  if (!st) st = check(fn, ctx, R, key, out);
  if (st || !R) return st;
  normalize_kernel<<<blocks_for(R), kThreads, 0, stream_of(ctx)>>>(R, bw - 3, mant, ff_ring_mask(bw), p1_of(ctx), chat,
                                                                   vhat, key, out);
  return launched();
}

extern "C" ff_status ff_sigma_ln_wmul_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, int per_row, const uint64_t *xhat,
                                           const uint64_t *what, const uint64_t *key, uint64_t *out) {
  const char *fn = "ff_sigma_ln_wmul_cuda";
  ff_status st = check(fn, ctx, R * d, xhat, what);
  if (!st) st = check(fn, ctx, R * d, key, out);
  if (st || !R || !d) return st;
  wmul_kernel<<<blocks_for(R * d), kThreads, 0, stream_of(ctx)>>>(R, d, per_row, ff_ring_mask(bw), p1_of(ctx), xhat,
                                                                  what, key, out);
  return launched();
}

extern "C" ff_status ff_sigma_ln_addcol_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t *y, const uint64_t *b) {
  ff_status st = check("ff_sigma_ln_addcol_cuda", ctx, R * d, y, b);
  if (st || !R || !d) return st;
  addcol_kernel<<<blocks_for(R * d), kThreads, 0, stream_of(ctx)>>>(R * d, d, ff_ring_mask(bw), y, b);
  return launched();
}

extern "C" ff_status ff_sigma_rsqrt_points_cuda(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, uint64_t *pts) {
  ff_status st = check("ff_sigma_rsqrt_points_cuda", ctx, R, vhat, pts);
  const size_t J = (size_t)(bw - 3) + 1;
  if (st || !R) return st;
  points_kernel<<<blocks_for(J * R), kThreads, 0, stream_of(ctx)>>>(R, J, ff_ring_mask(bw), vhat, pts);
  return launched();
}

extern "C" ff_status ff_sigma_rsqrt_bits_cuda(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, const uint8_t *lt,
                                              const uint8_t *mask, uint64_t *c) {
  const char *fn = "ff_sigma_rsqrt_bits_cuda";
  ff_status st = check(fn, ctx, R, vhat, lt);
  if (!st) st = check(fn, ctx, R, mask, c);
  const size_t L = (size_t)(bw - 3);
  if (st || !R) return st;
  bits_kernel<<<blocks_for(L * R), kThreads, 0, stream_of(ctx)>>>(R, L, p1_of(ctx), vhat, lt, mask, c);
  return launched();
}

extern "C" ff_status ff_sigma_rsqrt_index_cuda(ff_ctx *ctx, int mant, size_t R, const uint64_t *ehat,
                                               const uint64_t *mhat, uint64_t *idx) {
  const char *fn = "ff_sigma_rsqrt_index_cuda";
  ff_status st = check_mant(fn, mant);
  if (!st) st = check(fn, ctx, R, ehat, mhat);
  if (!st) st = check(fn, ctx, R, idx, idx);
  if (st || !R) return st;
  index_kernel<<<blocks_for(R), kThreads, 0, stream_of(ctx)>>>(R, mant, ehat, mhat, idx);
  return launched();
}
