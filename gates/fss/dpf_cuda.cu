// CUDA twins of dpf.c and sstab.c: DPF keygen, evaluation at points, comparison from the DPF key
// (SIGMA's doDcf idea, research/sigma.md §3), full-domain evaluation, and the truth-table lookups.
// Byte-identical to the CPU reference, which the comments here do not repeat (see dpf.c, dpf.h).
// Test: tests/test_fss_cuda.c.
#include "core/cuda_check.h"
#include "gates/fss/dpf.h"
#include "gates/fss/fss_cuda.h"
#include "gates/fss/sstab.h"

// A key's arrays as kernels see them (layout in dpf.h). Blocks are 16-byte aligned: the buffer comes
// from cudaMalloc and every block array starts at a multiple of 16 bytes.
struct ff__dpf_dev {
  uint4 *seed;    // (N)
  uint4 *scw;     // (n-8, N)
  uint4 *l0, *l1; // (N)
  uint8_t *tR;    // (n-7, N) bits; the buffer is padded to 16 bytes, so 32-bit words reach no further
  int n;
  size_t N;
};

static ff__dpf_dev ff__dpf_dev_of(const ff_dpf_key *k) {
  ff__dpf_dev d;
  d.seed = (uint4 *)k->seed;
  d.scw = (uint4 *)k->scw;
  d.l0 = (uint4 *)k->l0;
  d.l1 = (uint4 *)k->l1;
  d.tR = k->tR;
  d.n = k->n;
  d.N = k->N;
  return d;
}

__device__ __forceinline__ uint32_t ff__tR_bit(const ff__dpf_dev &k, size_t i) { return (k.tR[i >> 3] >> (i & 7)) & 1u; }

// ---- Keygen: one thread per element walking alpha's path, both parties at once -------------------------

__global__ void __launch_bounds__(FF__CUDA_THREADS)
    ff__dpf_keygen_kernel(ff__aes_keys keys, const uint64_t *alpha, const uint4 *roots, ff__dpf_dev k0, ff__dpf_dev k1) {
  __shared__ ff__aes_smem sm;
  ff__aes_smem_init(sm, keys);
  const int n = k0.n, L = n - FF_DPF_LEAF_BITS;
  const size_t N = k0.N;
  // tR as 32-bit words for atomicOr: neighbouring elements share words (bit i*N + j), and the tR
  // array starts 16-byte aligned, so bit b is bit b%32 of word b/32 on this little-endian device.
  uint32_t *tR0 = (uint32_t *)k0.tR, *tR1 = (uint32_t *)k1.tR;
  for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < N; j += (size_t)gridDim.x * blockDim.x) {
    const uint64_t a = alpha[j] & ff__mask_n(n);
    uint4 s0 = roots[j], s1 = roots[N + j];
    s1 = ff__set_lsb4(s1, ff__lsb4(s0) ^ 1u);  // the roots' control bits differ
    k0.seed[j] = s0;
    k1.seed[j] = s1;
    for (int i = 0; i < L; i++) {
      const uint4 in0 = ff__set_lsb4(s0, 0), in1 = ff__set_lsb4(s1, 0);
      const uint4 left0 = ff__mmo(sm, 0, in0), right0 = ff__mmo(sm, 1, in0);
      const uint4 left1 = ff__mmo(sm, 0, in1), right1 = ff__mmo(sm, 1, in1);
      const uint32_t keep = (uint32_t)(a >> (n - 1 - i)) & 1u;
      const uint4 dL = ff__x4(left0, left1), dR = ff__x4(right0, right1);
      if (i < L - 1) {
        const uint4 scw = ff__set_lsb4(keep ? dL : dR, 0);
        const uint32_t tL = ff__lsb4(dL) ^ keep ^ 1u, tR = ff__lsb4(dR) ^ keep;
        const uint4 cw = ff__set_lsb4(scw, tL);
        k0.scw[(size_t)i * N + j] = cw;
        k1.scw[(size_t)i * N + j] = cw;
        if (tR) {
          const size_t b = (size_t)i * N + j;
          atomicOr(&tR0[b >> 5], 1u << (b & 31));
          atomicOr(&tR1[b >> 5], 1u << (b & 31));
        }
        const uint4 corr = ff__set_lsb4(scw, keep ? tR : tL);
        s0 = ff__x4(keep ? right0 : left0, ff__if4(corr, ff__lsb4(s0)));
        s1 = ff__x4(keep ? right1 : left1, ff__if4(corr, ff__lsb4(s1)));
      } else {
        const uint32_t pos = (uint32_t)(a & 127);
        uint4 unit = make_uint4(0, 0, 0, 0);
        const uint32_t one = 1u << (pos & 31);
        if (pos < 32) unit.x = one;
        else if (pos < 64) unit.y = one;
        else if (pos < 96) unit.z = one;
        else unit.w = one;
        const uint4 l0 = keep ? dL : ff__x4(dL, unit), l1 = keep ? ff__x4(dR, unit) : dR;
        k0.l0[j] = k1.l0[j] = l0;
        k0.l1[j] = k1.l1[j] = l1;
      }
    }
  }
}

extern "C" ff_status ff_dpf_keygen_cuda(ff_ctx *ctx, const uint64_t *alpha, const ff_block *roots, ff_dpf_key *k0,
                                        ff_dpf_key *k1) {
  const char *fn = "ff_dpf_keygen_cuda";
  ff_status st;
  if ((st = ff__cuda_ctx_check(fn, ctx)) || (st = ff__dpf_keygen_check(fn, alpha, roots, k0, k1, FF_MEM_DEVICE))) return st;
  if (((uintptr_t)roots & 15) != 0) {
    FF_ERROR("%s: roots must be 16-byte aligned (as cudaMalloc returns them)", fn);
    return FF_EINVAL;
  }
  const size_t tR_bytes = ((size_t)(k0->n - FF_DPF_LEAF_BITS) * k0->N + 7) / 8;
  cudaStream_t s = ff__cuda_stream(ctx);
  // Bits are OR-ed in, so the tR rows start from zero (a reused key may hold old bits).
  if ((st = FF_CUDA_CHECK(cudaMemsetAsync(k0->tR, 0, tR_bytes, s))) ||
      (st = FF_CUDA_CHECK(cudaMemsetAsync(k1->tR, 0, tR_bytes, s))))
    return st;
  ff__dpf_keygen_kernel<<<ff__cuda_blocks(k0->N), FF__CUDA_THREADS, 0, s>>>(
      ff__aes_prg_keys(), alpha, (const uint4 *)roots, ff__dpf_dev_of(k0), ff__dpf_dev_of(k1));
  return FF_CUDA_CHECK(cudaGetLastError());
}

// ---- Packed bit output -------------------------------------------------------------------------------
// Bit p of out is the result of item p (LSB first). Each warp owns 32 consecutive items starting at a
// multiple of 32, gathers their bits with one ballot and lanes 0..3 store its 4 bytes; bytes past
// ceil(total/8) are not written, and the bits of missing items are zero, so the pad bits of the last
// byte are zero as on the CPU. The loop bound is the same for the whole warp (base is per warp), so
// every lane reaches the ballot.
template <typename F>
__device__ __forceinline__ void ff__for_packed_bits(size_t total, uint8_t *out, F bit_of) {
  const int lane = threadIdx.x & 31;
  const size_t out_bytes = (total + 7) / 8;
  const size_t warps = (size_t)gridDim.x * blockDim.x / 32;
  for (size_t base = ((size_t)blockIdx.x * blockDim.x + threadIdx.x - lane); base < total; base += warps * 32) {
    const size_t p = base + lane;
    const uint32_t bit = p < total ? bit_of(p) : 0u;
    const uint32_t word = __ballot_sync(0xffffffffu, bit);
    const size_t byte = base / 8 + lane;
    if (lane < 4 && byte < out_bytes) out[byte] = (uint8_t)(word >> (8 * lane));
  }
}

// ---- Evaluation along a path: one thread per (element, point) ------------------------------------------
// Item p = e*N + j reads element j's stripes at [i*N + j]: a warp's 32 items are 32 neighbouring
// elements, so the key reads of each level are coalesced.

__device__ __forceinline__ uint32_t ff__dpf_path_bit(const ff__aes_smem &sm, const ff__dpf_dev &k, uint64_t xin, size_t j,
                                                     int lt) {
  const int n = k.n, L = n - FF_DPF_LEAF_BITS;
  const size_t N = k.N;
  const uint64_t xv = xin & ff__mask_n(n);
  uint4 s = k.seed[j];
  uint32_t acc = 0, prev = 1;  // as if the path had come from the right (dpf.h)
  for (int i = 0; i < L; i++) {
    const uint32_t dir = (uint32_t)(xv >> (n - 1 - i)) & 1u, t = ff__lsb4(s);
    acc ^= t & (dir ^ prev);
    prev = dir;
    s = ff__mmo(sm, (int)dir, ff__set_lsb4(s, 0));
    uint4 cw;
    if (i < L - 1) {
      cw = k.scw[(size_t)i * N + j];
      if (dir) cw = ff__set_lsb4(cw, ff__tR_bit(k, (size_t)i * N + j));
    } else {
      cw = dir ? k.l1[j] : k.l0[j];
    }
    s = ff__x4(s, ff__if4(cw, t));
  }
  const uint32_t pos = (uint32_t)(xv & 127);
  if (!lt) {
    const uint32_t w = pos < 64 ? (pos < 32 ? s.x : s.y) : (pos < 96 ? s.z : s.w);
    return (w >> (pos & 31)) & 1u;
  }
  // Leaves at or below x (upto), or above x; word c of upto covers leaves 32c..32c+31.
  uint32_t m[4];
#pragma unroll
  for (int c = 0; c < 4; c++) {
    const int lo = 32 * c;
    const uint32_t upto = (int)pos >= lo + 31 ? ~0u : (int)pos < lo ? 0u : (2u << (pos - lo)) - 1u;
    m[c] = prev ? ~upto : upto;
  }
  const uint32_t par = __popc((s.x & m[0]) ^ (s.y & m[1]) ^ (s.z & m[2]) ^ (s.w & m[3])) & 1u;
  return acc ^ par;
}

__global__ void __launch_bounds__(FF__CUDA_THREADS)
    ff__dpf_paths_kernel(ff__aes_keys keys, ff__dpf_dev k, size_t total, const uint64_t *x, int lt, uint8_t *out) {
  __shared__ ff__aes_smem sm;
  ff__aes_smem_init(sm, keys);
  ff__for_packed_bits(total, out, [&](size_t p) { return ff__dpf_path_bit(sm, k, x[p], p % k.N, lt); });
}

static ff_status ff__dpf_paths_cuda(const char *fn, ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, int lt,
                                    uint8_t *out) {
  size_t total;
  ff_status st;
  if ((st = ff__cuda_ctx_check(fn, ctx)) || (st = ff__dpf_eval_check(fn, k, FF_MEM_DEVICE, E, x, out, &total))) return st;
  ff__dpf_paths_kernel<<<ff__cuda_blocks(total), FF__CUDA_THREADS, 0, ff__cuda_stream(ctx)>>>(
      ff__aes_prg_keys(), ff__dpf_dev_of(k), total, x, lt, out);
  return FF_CUDA_CHECK(cudaGetLastError());
}

extern "C" ff_status ff_dpf_eval_point_cuda(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  return ff__dpf_paths_cuda("ff_dpf_eval_point_cuda", ctx, k, E, x, 0, out);
}

extern "C" ff_status ff_dpf_eval_lt_cuda(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  return ff__dpf_paths_cuda("ff_dpf_eval_lt_cuda", ctx, k, E, x, 1, out);
}

// ---- Full domain: one thread per (element, node of the last tree level) --------------------------------
// The last tree level has W = 2^(L-1) nodes (L = n-7 <= 9, so W <= 256); thread (j, v) walks from the
// root to node v (L-1 AES) and expands it into its two leaf blocks (2 AES), i.e. 32 bytes of output,
// written next to its neighbours' (coalesced 16-byte stores). That is (L+1)/2 times the AES of a
// breadth-first expansion (at most 5x at n = 16, 3.5x at n = 13, none at n = 8) bought with full
// parallelism, no scratch memory and no synchronisation; a DFS per (element, subtree) would remove the
// redundancy if eval_all ever dominates a profile.

__global__ void __launch_bounds__(FF__CUDA_THREADS) ff__dpf_eval_all_kernel(ff__aes_keys keys, ff__dpf_dev k, uint4 *out) {
  __shared__ ff__aes_smem sm;
  ff__aes_smem_init(sm, keys);
  const int L = k.n - FF_DPF_LEAF_BITS;
  const size_t N = k.N, W = (size_t)1 << (L - 1), total = N * W;
  for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
    const size_t j = t >> (L - 1), v = t & (W - 1);
    uint4 s = k.seed[j];
    for (int i = 0; i < L - 1; i++) {
      const uint32_t dir = (uint32_t)(v >> (L - 2 - i)) & 1u, ctl = ff__lsb4(s);
      s = ff__mmo(sm, (int)dir, ff__set_lsb4(s, 0));
      uint4 cw = k.scw[(size_t)i * N + j];
      if (dir) cw = ff__set_lsb4(cw, ff__tR_bit(k, (size_t)i * N + j));
      s = ff__x4(s, ff__if4(cw, ctl));
    }
    const uint32_t ctl = ff__lsb4(s);
    const uint4 c = ff__set_lsb4(s, 0);
    // Element j's row is 2^(n-3) bytes = 2W blocks; node v's leaf blocks are blocks 2v and 2v+1 of it.
    out[j * 2 * W + 2 * v] = ff__x4(ff__mmo(sm, 0, c), ff__if4(k.l0[j], ctl));
    out[j * 2 * W + 2 * v + 1] = ff__x4(ff__mmo(sm, 1, c), ff__if4(k.l1[j], ctl));
  }
}

extern "C" ff_status ff_dpf_eval_all_cuda(ff_ctx *ctx, const ff_dpf_key *k, uint8_t *out) {
  const char *fn = "ff_dpf_eval_all_cuda";
  ff_status st;
  if ((st = ff__cuda_ctx_check(fn, ctx)) || (st = ff__dpf_eval_all_check(fn, k, FF_MEM_DEVICE, out))) return st;
  if (((uintptr_t)out & 15) != 0) {
    FF_ERROR("%s: the output must be 16-byte aligned (as cudaMalloc returns it)", fn);
    return FF_EINVAL;
  }
  const size_t total = k->N << (k->n - FF_DPF_LEAF_BITS - 1);  // fits: the output of 2^(n-3) N bytes is addressable
  ff__dpf_eval_all_kernel<<<ff__cuda_blocks(total), FF__CUDA_THREADS, 0, ff__cuda_stream(ctx)>>>(
      ff__aes_prg_keys(), ff__dpf_dev_of(k), (uint4 *)out);
  return FF_CUDA_CHECK(cudaGetLastError());
}

// ---- Truth tables (n <= 7): one thread per (element, point), table bytes read straight from the key ----

__global__ void __launch_bounds__(FF__CUDA_THREADS)
    ff__sstab_kernel(const uint8_t *tab, int n, size_t B, size_t N, size_t total, const uint64_t *x, int lt, uint8_t *out) {
  ff__for_packed_bits(total, out, [&](size_t p) -> uint32_t {
    const uint8_t *t = tab + (p % N) * B;
    const uint32_t xv = (uint32_t)(x[p] & ff__mask_n(n));
    if (!lt) return (t[xv >> 3] >> (xv & 7)) & 1u;
    uint32_t acc = ((uint32_t)t[xv >> 3] >> (xv & 7)) >> 1;  // entries above x in x's byte
    for (size_t b = (xv >> 3) + 1; b < B; b++) acc ^= t[b];   // and the whole bytes after it
    return __popc(acc) & 1u;
  });
}

static ff_status ff__sstab_cuda(const char *fn, ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, int lt,
                                uint8_t *out) {
  size_t total;
  ff_status st;
  if ((st = ff__cuda_ctx_check(fn, ctx)) || (st = ff__sstab_eval_check(fn, k, FF_MEM_DEVICE, E, x, out, &total))) return st;
  ff__sstab_kernel<<<ff__cuda_blocks(total), FF__CUDA_THREADS, 0, ff__cuda_stream(ctx)>>>(
      k->tab, k->n, ff_sstab_elem_bytes(k->n), k->N, total, x, lt, out);
  return FF_CUDA_CHECK(cudaGetLastError());
}

extern "C" ff_status ff_sstab_eval_point_cuda(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  return ff__sstab_cuda("ff_sstab_eval_point_cuda", ctx, k, E, x, 0, out);
}

extern "C" ff_status ff_sstab_eval_lt_cuda(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  return ff__sstab_cuda("ff_sstab_eval_lt_cuda", ctx, k, E, x, 1, out);
}
