// CUDA twins of dcf.c: DCF keygen (one thread per element, both parties) and evaluation at points (one
// thread per (point, element)), BCGGIKR21 Fig. 1 with the value blocks of dcf.h. Byte-identical to the
// CPU reference, whose comments the code here does not repeat. Kernels are instantiated per payload
// width p (1..8) so that the p running sums stay in registers. Test: tests/test_dcf_cuda.c.
#include "core/cuda_check.h"
#include "gates/fss/dcf.h"
#include "gates/fss/fss_cuda.h"

// A key's arrays as kernels see them (layout in dcf.h). seed and scw are 16-byte aligned (the buffer
// comes from cudaMalloc and they start it); the word arrays are byte arrays of W-byte words.
struct ff__dcf_dev {
  uint4 *seed;    // (N)
  uint4 *scw;     // (n, N)
  uint8_t *tR;    // (n, N) bits
  uint8_t *vcw;   // (n, p, N) words
  uint8_t *fcw;   // (p, N) words
  int n, bw, W;
  size_t N;
};

static ff__dcf_dev ff__dcf_dev_of(const ff_dcf_key *k) {
  ff__dcf_dev d;
  d.seed = (uint4 *)k->seed;
  d.scw = (uint4 *)k->scw;
  d.tR = k->tR;
  d.vcw = k->vcw;
  d.fcw = k->fcw;
  d.n = k->n;
  d.bw = k->bw;
  d.W = (int)ff_dcf_word_bytes(k->bw);
  d.N = k->N;
  return d;
}

__device__ __forceinline__ uint64_t ff__dcf_word_get(const uint8_t *a, size_t i, int W) {
  const uint8_t *b = a + i * (size_t)W;
  uint64_t v = 0;
  for (int k = 0; k < W; k++) v |= (uint64_t)b[k] << (8 * k);
  return v;
}

__device__ __forceinline__ void ff__dcf_word_put(uint8_t *a, size_t i, int W, uint64_t v) {
  uint8_t *b = a + i * (size_t)W;
  for (int k = 0; k < W; k++) b[k] = (uint8_t)(v >> (8 * k));
}

// u ^ T_m: the tweak m in the hi word, i.e. bytes 8..11 (dcf.h).
__device__ __forceinline__ uint4 ff__dcf_tweak(uint4 u, uint32_t m) { return make_uint4(u.x, u.y, u.z ^ m, u.w); }
// The lo (half 0) or hi (half 1) 64 bits of a block, mod 2^bw (Convert).
__device__ __forceinline__ uint64_t ff__dcf_half(uint4 v, int half, uint64_t mask) {
  return (half ? ((uint64_t)v.w << 32 | v.z) : ((uint64_t)v.y << 32 | v.x)) & mask;
}

// ---- Keygen: one thread per element walking alpha's path, both parties at once -------------------------
// The tR bits go to a byte per (level, element) in scratch (tRb[i*N + j]) and are packed afterwards by
// ff__dcf_pack_bits_kernel: neighbouring elements share tR bytes, and packing in a second pass needs no
// atomics on bytes that other threads write.

template <int P>
__global__ void __launch_bounds__(FF__CUDA_THREADS)
    ff__dcf_keygen_kernel(ff__aes_keys keys, const uint64_t *alpha, const uint64_t *beta, const uint4 *roots,
                          ff__dcf_dev k0, ff__dcf_dev k1, uint8_t *tRb) {
  __shared__ ff__aes_smem sm;
  ff__aes_smem_init(sm, keys);
  constexpr int H = (P + 1) / 2;
  const int n = k0.n, W = k0.W;
  const size_t N = k0.N;
  const uint64_t mask = ff__mask_n(k0.bw);
  for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < N; j += (size_t)gridDim.x * blockDim.x) {
    const uint64_t a = alpha[j] & ff__mask_n(n);
    uint4 s0 = ff__set_lsb4(roots[j], 0u), s1 = ff__set_lsb4(roots[N + j], 1u);  // t_b^(0) = b
    k0.seed[j] = s0;
    k1.seed[j] = s1;
    uint64_t va[P];
#pragma unroll
    for (int w = 0; w < P; w++) va[w] = 0;
    for (int i = 0; i < n; i++) {
      const uint4 u0 = ff__set_lsb4(s0, 0), u1 = ff__set_lsb4(s1, 0);
      const uint4 left0 = ff__mmo(sm, 0, u0), right0 = ff__mmo(sm, 1, u0);
      const uint4 left1 = ff__mmo(sm, 0, u1), right1 = ff__mmo(sm, 1, u1);
      const uint32_t keep = (uint32_t)(a >> (n - 1 - i)) & 1u, lose = keep ^ 1u, neg = ff__lsb4(s1);
      const uint4 dL = ff__x4(left0, left1), dR = ff__x4(right0, right1);
      const uint4 scw = ff__set_lsb4(keep ? dL : dR, 0);
      const uint32_t tL = ff__lsb4(dL) ^ keep ^ 1u, tR = ff__lsb4(dR) ^ keep;
      k0.scw[(size_t)i * N + j] = k1.scw[(size_t)i * N + j] = ff__set_lsb4(scw, tL);
      tRb[(size_t)i * N + j] = (uint8_t)tR;
#pragma unroll
      for (int m = 1; m <= H; m++) {
        // Value block m of both parties on the Lose and Keep sides.
        const uint4 t0 = ff__dcf_tweak(u0, m), t1 = ff__dcf_tweak(u1, m);
        const uint4 l0 = ff__mmo(sm, (int)lose, t0), l1 = ff__mmo(sm, (int)lose, t1);
        const uint4 e0 = ff__mmo(sm, (int)keep, t0), e1 = ff__mmo(sm, (int)keep, t1);
#pragma unroll
        for (int half = 0; half < 2; half++) {
          const int w = 2 * (m - 1) + half;
          if (w >= P) break;
          uint64_t cw = ff__dcf_half(l1, half, mask) - ff__dcf_half(l0, half, mask) - va[w];
          if (lose == 0) cw += beta[(size_t)w * N + j];
          if (neg) cw = 0 - cw;
          cw &= mask;
          va[w] = (va[w] + ff__dcf_half(e0, half, mask) - ff__dcf_half(e1, half, mask) + (neg ? 0 - cw : cw)) & mask;
          const size_t at = ((size_t)i * P + w) * N + j;
          ff__dcf_word_put(k0.vcw, at, W, cw);
          ff__dcf_word_put(k1.vcw, at, W, cw);
        }
      }
      const uint4 corr = ff__set_lsb4(scw, keep ? tR : tL);
      s0 = ff__x4(keep ? right0 : left0, ff__if4(corr, ff__lsb4(s0)));
      s1 = ff__x4(keep ? right1 : left1, ff__if4(corr, ff__lsb4(s1)));
    }
    const uint32_t neg = ff__lsb4(s1);
    const uint4 u0 = ff__set_lsb4(s0, 0), u1 = ff__set_lsb4(s1, 0);
#pragma unroll
    for (int m = 1; m <= H; m++) {
      const uint4 c0 = ff__mmo(sm, 0, ff__dcf_tweak(u0, m)), c1 = ff__mmo(sm, 0, ff__dcf_tweak(u1, m));
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int w = 2 * (m - 1) + half;
        if (w >= P) break;
        uint64_t cw = ff__dcf_half(c1, half, mask) - ff__dcf_half(c0, half, mask) - va[w];
        if (neg) cw = 0 - cw;
        ff__dcf_word_put(k0.fcw, (size_t)w * N + j, W, cw & mask);
        ff__dcf_word_put(k1.fcw, (size_t)w * N + j, W, cw & mask);
      }
    }
  }
}

// Byte b of both tR arrays from the scratch bytes of bits 8b..8b+7 (pad bits past n*N zero).
__global__ void __launch_bounds__(FF__CUDA_THREADS)
    ff__dcf_pack_bits_kernel(const uint8_t *tRb, size_t bits, uint8_t *tR0, uint8_t *tR1) {
  const size_t bytes = (bits + 7) / 8;
  for (size_t b = (size_t)blockIdx.x * blockDim.x + threadIdx.x; b < bytes; b += (size_t)gridDim.x * blockDim.x) {
    uint32_t v = 0;
    for (int k = 0; k < 8; k++)
      if (8 * b + k < bits) v |= (uint32_t)(tRb[8 * b + k] & 1u) << k;
    tR0[b] = tR1[b] = (uint8_t)v;
  }
}

template <int P>
static void ff__dcf_keygen_launch(cudaStream_t s, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                                  const ff_dcf_key *k0, const ff_dcf_key *k1, uint8_t *tRb) {
  ff__dcf_keygen_kernel<P><<<ff__cuda_blocks(k0->N), FF__CUDA_THREADS, 0, s>>>(
      ff__aes_prg_keys(), alpha, beta, (const uint4 *)roots, ff__dcf_dev_of(k0), ff__dcf_dev_of(k1), tRb);
}

extern "C" ff_status ff_dcf_keygen_cuda(ff_ctx *ctx, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                                        ff_dcf_key *k0, ff_dcf_key *k1) {
  const char *fn = "ff_dcf_keygen_cuda";
  ff_status st;
  if ((st = ff__cuda_ctx_check(fn, ctx)) || (st = ff__dcf_keygen_check(fn, alpha, beta, roots, k0, k1, FF_MEM_DEVICE)))
    return st;
  if (((uintptr_t)roots & 15) != 0) {
    FF_ERROR("%s: roots must be 16-byte aligned (as cudaMalloc returns them)", fn);
    return FF_EINVAL;
  }
  cudaStream_t s = ff__cuda_stream(ctx);
  const size_t bits = (size_t)k0->n * k0->N;  // fits: the key holds 16 bytes per (level, element)
  void *tRb = NULL;
  if ((st = FF_CUDA_CHECK(cudaMallocAsync(&tRb, bits, s)))) return st;
  switch (k0->p) {
#define FF__CASE(P)                                                                  \
  case P:                                                                            \
    ff__dcf_keygen_launch<P>(s, alpha, beta, roots, k0, k1, (uint8_t *)tRb);         \
    break;
    FF__CASE(1) FF__CASE(2) FF__CASE(3) FF__CASE(4) FF__CASE(5) FF__CASE(6) FF__CASE(7) FF__CASE(8)
#undef FF__CASE
  }
  st = FF_CUDA_CHECK(cudaGetLastError());
  if (!st) {
    ff__dcf_pack_bits_kernel<<<ff__cuda_blocks((bits + 7) / 8), FF__CUDA_THREADS, 0, s>>>((const uint8_t *)tRb, bits,
                                                                                          k0->tR, k1->tR);
    st = FF_CUDA_CHECK(cudaGetLastError());
  }
  // Freed in stream order, after the packing kernel has read it (no device-wide sync).
  const ff_status st2 = FF_CUDA_CHECK(cudaFreeAsync(tRb, s));
  return st ? st : st2;
}

// ---- Evaluation along a path: one thread per (point, element) -----------------------------------------
// Item q = e*N + j reads element j's stripes at [i*N + j] (coalesced across a warp) and writes word w of
// its result at [(e*P + w)*N + j] (coalesced too).

template <int P>
__global__ void __launch_bounds__(FF__CUDA_THREADS)
    ff__dcf_eval_kernel(ff__aes_keys keys, ff__dcf_dev k, size_t total, const uint64_t *x, uint64_t *out) {
  __shared__ ff__aes_smem sm;
  ff__aes_smem_init(sm, keys);
  constexpr int H = (P + 1) / 2;
  const int n = k.n, W = k.W;
  const size_t N = k.N;
  const uint64_t mask = ff__mask_n(k.bw);
  for (size_t q = (size_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (size_t)gridDim.x * blockDim.x) {
    const size_t j = q % N, e = q / N;
    const uint64_t xv = x[q] & ff__mask_n(n);
    uint4 s = k.seed[j];
    const uint32_t party = ff__lsb4(s);
    uint64_t acc[P];
#pragma unroll
    for (int w = 0; w < P; w++) acc[w] = 0;
    for (int i = 0; i < n; i++) {
      const uint32_t d = (uint32_t)(xv >> (n - 1 - i)) & 1u, t = ff__lsb4(s);
      const uint4 u = ff__set_lsb4(s, 0);
      const uint4 child = ff__mmo(sm, (int)d, u);
#pragma unroll
      for (int m = 1; m <= H; m++) {
        const uint4 v = ff__mmo(sm, (int)d, ff__dcf_tweak(u, m));
#pragma unroll
        for (int half = 0; half < 2; half++) {
          const int w = 2 * (m - 1) + half;
          if (w >= P) break;
          acc[w] += ff__dcf_half(v, half, mask);
          if (t) acc[w] += ff__dcf_word_get(k.vcw, ((size_t)i * P + w) * N + j, W);
        }
      }
      uint4 cw = k.scw[(size_t)i * N + j];
      if (d) {
        const size_t b = (size_t)i * N + j;
        cw = ff__set_lsb4(cw, (k.tR[b >> 3] >> (b & 7)) & 1u);
      }
      s = ff__x4(child, ff__if4(cw, t));
    }
    const uint32_t t = ff__lsb4(s);
    const uint4 u = ff__set_lsb4(s, 0);
#pragma unroll
    for (int m = 1; m <= H; m++) {
      const uint4 v = ff__mmo(sm, 0, ff__dcf_tweak(u, m));
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int w = 2 * (m - 1) + half;
        if (w >= P) break;
        uint64_t y = acc[w] + ff__dcf_half(v, half, mask);
        if (t) y += ff__dcf_word_get(k.fcw, (size_t)w * N + j, W);
        out[(e * P + w) * N + j] = (party ? 0 - y : y) & mask;
      }
    }
  }
}

template <int P>
static void ff__dcf_eval_launch(cudaStream_t s, const ff_dcf_key *k, size_t total, const uint64_t *x, uint64_t *out) {
  ff__dcf_eval_kernel<P><<<ff__cuda_blocks(total), FF__CUDA_THREADS, 0, s>>>(ff__aes_prg_keys(), ff__dcf_dev_of(k),
                                                                           total, x, out);
}

extern "C" ff_status ff_dcf_eval_cuda(ff_ctx *ctx, const ff_dcf_key *k, size_t E, const uint64_t *x, uint64_t *out) {
  const char *fn = "ff_dcf_eval_cuda";
  size_t total;
  ff_status st;
  if ((st = ff__cuda_ctx_check(fn, ctx)) || (st = ff__dcf_eval_check(fn, k, FF_MEM_DEVICE, E, x, out, &total))) return st;
  cudaStream_t s = ff__cuda_stream(ctx);
  switch (k->p) {
#define FF__CASE(P)                               \
  case P:                                         \
    ff__dcf_eval_launch<P>(s, k, total, x, out);  \
    break;
    FF__CASE(1) FF__CASE(2) FF__CASE(3) FF__CASE(4) FF__CASE(5) FF__CASE(6) FF__CASE(7) FF__CASE(8)
#undef FF__CASE
  }
  return FF_CUDA_CHECK(cudaGetLastError());
}
