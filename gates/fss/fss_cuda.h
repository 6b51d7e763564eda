// Internal device helpers of gates/fss, included only by its .cu files: table AES-128 in shared
// memory (SIGMA's gpu_aes_shm layout, research/sigma.md §3) driving the fixed-key MMO PRG of
// DESIGN.md §2, and 128-bit block helpers. Test: tests/test_fss_cuda.c (against the CPU in prg.c).
#ifndef FF_GATES_FSS_FSS_CUDA_H
#define FF_GATES_FSS_FSS_CUDA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cuda_runtime.h>

#include "core/ctx.h"
#include "core/log.h"
#include "gates/fss/prg.h"

// Every fss kernel runs 256 threads per block (a multiple of 32: the bit-packing kernels give each
// warp 32 consecutive outputs) and a grid-stride loop over at most FF__CUDA_MAX_BLOCKS blocks, so
// that a block's table prologue (below) is paid once for many items on large batches.
#define FF__CUDA_THREADS 256
#define FF__CUDA_MAX_BLOCKS 4096

static inline unsigned ff__cuda_blocks(size_t items) {
  size_t b = (items + FF__CUDA_THREADS - 1) / FF__CUDA_THREADS;
  return (unsigned)(b < FF__CUDA_MAX_BLOCKS ? b : FF__CUDA_MAX_BLOCKS);
}

static inline cudaStream_t ff__cuda_stream(const ff_ctx *ctx) { return (cudaStream_t)ctx->stream; }

static inline ff_status ff__cuda_ctx_check(const char *fn, const ff_ctx *ctx) {
  if (!ctx) {
    FF_ERROR("%s: context is NULL", fn);
    return FF_EINVAL;
  }
  return FF_OK;
}

// ---- Blocks ------------------------------------------------------------------------------------------
// A uint4 holds an ff_block's 16 bytes in order: x = bytes 0..3 (little-endian), ..., w = bytes 12..15.
// So the DPF's control bit (bit 0 of lo) is bit 0 of x, and leaf k is bit k%32 of word k/32. In AES
// terms word c is state column c, row r in bits 8r..8r+7.

__device__ __forceinline__ uint4 ff__x4(uint4 a, uint4 b) { return make_uint4(a.x ^ b.x, a.y ^ b.y, a.z ^ b.z, a.w ^ b.w); }
// a when t is 1, zero when t is 0: corrections are applied without branches, as on the CPU.
__device__ __forceinline__ uint4 ff__if4(uint4 a, uint32_t t) {
  const uint32_t m = 0u - (t & 1u);
  return make_uint4(a.x & m, a.y & m, a.z & m, a.w & m);
}
__device__ __forceinline__ uint32_t ff__lsb4(uint4 a) { return a.x & 1u; }
__device__ __forceinline__ uint4 ff__set_lsb4(uint4 a, uint32_t t) {
  a.x = (a.x & ~1u) | (t & 1u);
  return a;
}
__device__ __forceinline__ uint64_t ff__mask_n(int n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }

// ---- Table AES-128 in shared memory ------------------------------------------------------------------
// Rounds 1..9 use one T-table, T0[x] = (2S[x], S[x], S[x], 3S[x]) as rows 0..3 of a column; the
// tables of rows 1..3 are T0 rotated by 8, 16, 24 bits (one funnel shift each). T0 is replicated 32
// times, t0[x][lane], so lane l always reads bank l: the 32 lanes of a warp never conflict whatever
// bytes they look up (SIGMA's layout; 32 KiB). The last round needs the S-box itself, which is byte 1
// of T0[x]: reading it from the replicated T0 saves SIGMA's separate 8 KiB S-box copy. T0 is computed
// in the prologue of every block from GF(2^8) arithmetic (no typed-in table for a typo to hide in;
// the known-answer tests check it) -- about 1k instructions per thread, once per block.
//
// Round keys: the expanded schedules (FIPS-197, computed once on the host by ff_aes128_expand_key;
// the PRG's two are expanded once per process) travel as a kernel parameter and are copied to shared
// memory. Threads that pick different keys (the right or left child) read two addresses 44 words
// apart, i.e. in different banks, so that is conflict-free too.
struct ff__aes_keys {
  uint32_t rk[2][44];  // (2 keys, 11 rounds x 4 columns) round-key words
};

struct ff__aes_smem {
  uint32_t t0[256][32];  // (256 bytes, 32 bank copies) T0, 32 KiB
  uint32_t rk[2][44];
};

// The PRG's two fixed keys k0 (left) and k1 (right), from the host schedules of prg.c.
static inline ff__aes_keys ff__aes_prg_keys(void) {
  ff__aes_keys k;
  memcpy(k.rk[0], ff_prg_key(0)->rk, sizeof k.rk[0]);
  memcpy(k.rk[1], ff_prg_key(1)->rk, sizeof k.rk[1]);
  return k;
}

__device__ __forceinline__ uint32_t ff__gf_mul(uint32_t a, uint32_t b) {
  uint32_t p = 0;
#pragma unroll
  for (int i = 0; i < 8; i++) {
    p ^= a & (0u - (b & 1u));
    a = (a << 1) ^ (((a >> 7) & 1u) * 0x11bu);  // multiply by x modulo x^8 + x^4 + x^3 + x + 1
    b >>= 1;
  }
  return p;
}

__device__ __forceinline__ uint32_t ff__sbox_of(uint32_t x) {
  uint32_t inv = 1, base = x;  // x^254 = x^-1 in GF(2^8) (0 for 0)
#pragma unroll
  for (int e = 254; e; e >>= 1) {
    if (e & 1) inv = ff__gf_mul(inv, base);
    base = ff__gf_mul(base, base);
  }
  if (x == 0) inv = 0;
  uint32_t r = inv;
#pragma unroll
  for (int k = 1; k <= 4; k++) r ^= ((inv << k) | (inv >> (8 - k))) & 0xffu;  // the affine map
  return r ^ 0x63u;
}

// Fills sm from keys. Every thread of the block must call it (it ends with __syncthreads), before
// any thread leaves the kernel.
__device__ __forceinline__ void ff__aes_smem_init(ff__aes_smem &sm, const ff__aes_keys &keys) {
  for (int x = threadIdx.x; x < 256; x += blockDim.x) {
    const uint32_t s = ff__sbox_of((uint32_t)x), s2 = ff__gf_mul(s, 2);
    const uint32_t t = s2 | (s << 8) | (s << 16) | ((s2 ^ s) << 24);
    // Copy c of entry x goes to bank c; starting at c = x staggers a warp's 32 stores over 32 banks.
    for (int i = 0; i < 32; i++) sm.t0[x][(i + x) & 31] = t;
  }
  for (int i = threadIdx.x; i < 2 * 44; i += blockDim.x) sm.rk[i / 44][i % 44] = keys.rk[i / 44][i % 44];
  __syncthreads();
}

__device__ __forceinline__ uint32_t ff__rotl(uint32_t x, int r) { return __funnelshift_l(x, x, r); }

// AES-128 encryption of b under round keys sm.rk[side].
__device__ __forceinline__ uint4 ff__aes_enc(const ff__aes_smem &sm, int side, uint4 b) {
  const uint32_t *rk = sm.rk[side];
  const uint32_t(*t0)[32] = sm.t0;
  const int lane = threadIdx.x & 31;
#define FF__T(v) t0[(v)][lane]
  uint32_t s0 = b.x ^ rk[0], s1 = b.y ^ rk[1], s2 = b.z ^ rk[2], s3 = b.w ^ rk[3];
#pragma unroll
  for (int r = 1; r < 10; r++) {
    // Column c takes row r from column c + r (ShiftRows), looks up SubBytes+MixColumns in T0 rotated
    // to row r, and adds the round key.
    const uint32_t n0 = FF__T(s0 & 0xff) ^ ff__rotl(FF__T((s1 >> 8) & 0xff), 8) ^ ff__rotl(FF__T((s2 >> 16) & 0xff), 16) ^
                        ff__rotl(FF__T(s3 >> 24), 24) ^ rk[4 * r];
    const uint32_t n1 = FF__T(s1 & 0xff) ^ ff__rotl(FF__T((s2 >> 8) & 0xff), 8) ^ ff__rotl(FF__T((s3 >> 16) & 0xff), 16) ^
                        ff__rotl(FF__T(s0 >> 24), 24) ^ rk[4 * r + 1];
    const uint32_t n2 = FF__T(s2 & 0xff) ^ ff__rotl(FF__T((s3 >> 8) & 0xff), 8) ^ ff__rotl(FF__T((s0 >> 16) & 0xff), 16) ^
                        ff__rotl(FF__T(s1 >> 24), 24) ^ rk[4 * r + 2];
    const uint32_t n3 = FF__T(s3 & 0xff) ^ ff__rotl(FF__T((s0 >> 8) & 0xff), 8) ^ ff__rotl(FF__T((s1 >> 16) & 0xff), 16) ^
                        ff__rotl(FF__T(s2 >> 24), 24) ^ rk[4 * r + 3];
    s0 = n0, s1 = n1, s2 = n2, s3 = n3;
  }
  // Last round: SubBytes (S = byte 1 of T0) and ShiftRows, no MixColumns.
#define FF__S(v) ((FF__T(v) >> 8) & 0xffu)
  uint4 o;
  o.x = (FF__S(s0 & 0xff) | (FF__S((s1 >> 8) & 0xff) << 8) | (FF__S((s2 >> 16) & 0xff) << 16) | (FF__S(s3 >> 24) << 24)) ^ rk[40];
  o.y = (FF__S(s1 & 0xff) | (FF__S((s2 >> 8) & 0xff) << 8) | (FF__S((s3 >> 16) & 0xff) << 16) | (FF__S(s0 >> 24) << 24)) ^ rk[41];
  o.z = (FF__S(s2 & 0xff) | (FF__S((s3 >> 8) & 0xff) << 8) | (FF__S((s0 >> 16) & 0xff) << 16) | (FF__S(s1 >> 24) << 24)) ^ rk[42];
  o.w = (FF__S(s3 & 0xff) | (FF__S((s0 >> 8) & 0xff) << 8) | (FF__S((s1 >> 16) & 0xff) << 16) | (FF__S(s2 >> 24) << 24)) ^ rk[43];
#undef FF__S
#undef FF__T
  return o;
}

// The PRG half G_side(s) = AES_k_side(s) ^ s (Matyas-Meyer-Oseas); side 0 left child, 1 right. The
// caller clears the control bit of s first, as on the CPU.
__device__ __forceinline__ uint4 ff__mmo(const ff__aes_smem &sm, int side, uint4 s) {
  return ff__x4(ff__aes_enc(sm, side, s), s);
}

#endif
