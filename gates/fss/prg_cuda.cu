// CUDA twins of prg.c: AES-128 blocks and the fixed-key MMO PRG G(s) = (AES_k0(s) ^ s, AES_k1(s) ^ s)
// of DESIGN.md §2, with the shared-memory table AES of fss_cuda.h (SIGMA's layout, research/sigma.md
// §3). Test: tests/test_fss_cuda.c (known answers and CUDA == CPU on random blocks).
#include <pthread.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "gates/fss/fss_cuda.h"
#include "gates/fss/prg.h"

// One thread per block of data, grid-stride. mode 0: out = AES_k0(in) (plain encryption, k0 is the
// caller's key); mode 1: left/right = both MMO children; mode 2: out = the child named by dir.
__global__ void __launch_bounds__(FF__CUDA_THREADS) ff__prg_kernel(ff__aes_keys keys, int mode, const uint4 *in,
                                                                  const uint8_t *dir, uint4 *out, uint4 *out2, size_t n) {
  __shared__ ff__aes_smem sm;
  ff__aes_smem_init(sm, keys);
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const uint4 s = in[i];  // read before any write: in place is allowed for modes 0 and 2
    if (mode == 0) {
      out[i] = ff__aes_enc(sm, 0, s);
    } else if (mode == 1) {
      out[i] = ff__mmo(sm, 0, s);
      out2[i] = ff__mmo(sm, 1, s);
    } else {
      out[i] = ff__mmo(sm, dir[i] != 0, s);
    }
  }
}

static int ff__misaligned(const void *p) { return ((uintptr_t)p & 15) != 0; }

static ff_status ff__prg_launch(const char *fn, ff_ctx *ctx, const ff__aes_keys &keys, int mode, const ff_block *in,
                                const uint8_t *dir, ff_block *out, ff_block *out2, size_t n) {
  ff_status st = ff__cuda_ctx_check(fn, ctx);
  if (st) return st;
  if (n == 0) return FF_OK;
  if (!in || !out || (mode == 1 && !out2) || (mode == 2 && !dir)) {
    FF_ERROR("%s: an array is NULL", fn);
    return FF_EINVAL;
  }
  if (ff__misaligned(in) || ff__misaligned(out) || (out2 && ff__misaligned(out2))) {
    FF_ERROR("%s: block arrays must be 16-byte aligned (as cudaMalloc returns them)", fn);
    return FF_EINVAL;
  }
  ff__prg_kernel<<<ff__cuda_blocks(n), FF__CUDA_THREADS, 0, ff__cuda_stream(ctx)>>>(
      keys, mode, (const uint4 *)in, dir, (uint4 *)out, (uint4 *)out2, n);
  return FF_CUDA_CHECK(cudaGetLastError());
}

extern "C" ff_status ff_aes128_encrypt_blocks_cuda(ff_ctx *ctx, const ff_aes128_key *ks, const ff_block *in, ff_block *out,
                                                   size_t n) {
  if (!ks) {
    FF_ERROR("ff_aes128_encrypt_blocks_cuda: key is NULL");
    return FF_EINVAL;
  }
  ff__aes_keys keys;
  memcpy(keys.rk[0], ks->rk, sizeof keys.rk[0]);
  memcpy(keys.rk[1], ks->rk, sizeof keys.rk[1]);
  return ff__prg_launch("ff_aes128_encrypt_blocks_cuda", ctx, keys, 0, in, NULL, out, NULL, n);
}

extern "C" ff_status ff_prg_expand_cuda(ff_ctx *ctx, const ff_block *s, ff_block *left, ff_block *right, size_t n) {
  return ff__prg_launch("ff_prg_expand_cuda", ctx, ff__aes_prg_keys(), 1, s, NULL, left, right, n);
}

extern "C" ff_status ff_prg_expand_dir_cuda(ff_ctx *ctx, const ff_block *s, const uint8_t *dir, ff_block *out, size_t n) {
  return ff__prg_launch("ff_prg_expand_dir_cuda", ctx, ff__aes_prg_keys(), 2, s, dir, out, NULL, n);
}

// ---- The dealer's generator on the device (prg.h ff_rng_draw_cuda) ----------------------------------------

// Writes the first len (<= 16) bytes of b to p (any alignment), little-endian word by word.
__device__ __forceinline__ void ff__put_bytes(uint8_t *p, uint4 b, size_t len) {
  const uint32_t w[4] = {b.x, b.y, b.z, b.w};
  if (len == 16 && ((uintptr_t)p & 15) == 0) {
    *(uint4 *)p = b;
    return;
  }
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(w[i >> 2] >> (8 * (i & 3)));
}

__device__ __forceinline__ uint64_t ff__bswap64(uint64_t v) {
  return ((uint64_t)__byte_perm((uint32_t)v, 0, 0x0123) << 32) | __byte_perm((uint32_t)(v >> 32), 0, 0x0123);
}

// Counter mode: block i of the draw is AES_K(T0 + first + i), the counter a big-endian 128-bit integer (its
// high half in bytes 0..7), as core/rand.c's ff__ctr_bytes; the last block's unused bytes are not written.
__global__ void __launch_bounds__(FF__CUDA_THREADS) ff__ctr_kernel(ff__aes_keys keys, uint64_t t0_hi, uint64_t t0_lo,
                                                                  uint64_t first, uint8_t *out, size_t n) {
  __shared__ ff__aes_smem sm;
  ff__aes_smem_init(sm, keys);
  const size_t nb = n / 16 + (n % 16 != 0);
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < nb; i += (size_t)gridDim.x * blockDim.x) {
    const uint64_t add = first + i, lo = t0_lo + add, hi = t0_hi + (add < first) + (lo < add);
    const uint64_t w0 = ff__bswap64(hi), w1 = ff__bswap64(lo);
    const uint4 ctr = make_uint4((uint32_t)w0, (uint32_t)(w0 >> 32), (uint32_t)w1, (uint32_t)(w1 >> 32));
    const size_t at = 16 * i;
    ff__put_bytes(out + at, ff__aes_enc(sm, 0, ctr), n - at < 16 ? n - at : 16);
  }
}

// xoshiro256** (core/rand.c), its state in four words.
__device__ __forceinline__ uint64_t ff__xo_next(uint64_t s[4]) {
  const uint64_t r = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = s[3] << 45 | s[3] >> 19;
  return r;
}

#define FF__XO_WORDS_PER_THREAD 4096

// Seeded: thread t makes words [t W, (t + 1) W) of the draw (W = FF__XO_WORDS_PER_THREAD) from the state
// s0 jumped ahead t W steps with the powers pw (T^(2^i) by columns, core/rand.h ff__rng_xo_powers); the
// last word's unused bytes are not written.
__global__ void __launch_bounds__(FF__CUDA_THREADS) ff__xo_kernel(const uint64_t *pw, uint64_t s0, uint64_t s1,
                                                                 uint64_t s2, uint64_t s3, uint8_t *out, size_t n) {
  const size_t words = n / 8 + (n % 8 != 0), ranges = (words + FF__XO_WORDS_PER_THREAD - 1) / FF__XO_WORDS_PER_THREAD;
  for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < ranges; t += (size_t)gridDim.x * blockDim.x) {
    uint64_t s[4] = {s0, s1, s2, s3};
    uint64_t k = (uint64_t)t * FF__XO_WORDS_PER_THREAD;
    for (int i = 0; k; i++, k >>= 1) {
      if (!(k & 1)) continue;
      const uint64_t *m = pw + (size_t)i * 256 * 4;
      uint64_t r[4] = {0, 0, 0, 0};
      for (int j = 0; j < 256; j++)
        if ((s[j >> 6] >> (j & 63)) & 1)
          for (int w = 0; w < 4; w++) r[w] ^= m[j * 4 + w];
      for (int w = 0; w < 4; w++) s[w] = r[w];
    }
    const size_t lo = t * FF__XO_WORDS_PER_THREAD;
    const size_t hi = lo + FF__XO_WORDS_PER_THREAD < words ? lo + FF__XO_WORDS_PER_THREAD : words;
    for (size_t w = lo; w < hi; w++) {
      const uint64_t v = ff__xo_next(s);
      const size_t at = 8 * w, len = n - at < 8 ? n - at : 8;
      if (len == 8 && ((uintptr_t)(out + at) & 7) == 0) {
        *(uint64_t *)(out + at) = v;
      } else {
        for (size_t b = 0; b < len; b++) out[at + b] = (uint8_t)(v >> (8 * b));
      }
    }
  }
}

// The jump-ahead table in the current device's memory, made on the first seeded draw there and kept for the
// process (512 KiB per device; a dealer draws many times per layer, and staging it per draw cost an upload
// each). NULL with a logged error when it cannot be made.
#define FF__XO_MAX_DEVICES 64
static pthread_mutex_t ff__xo_mu = PTHREAD_MUTEX_INITIALIZER;
static void *ff__xo_dev_table[FF__XO_MAX_DEVICES];

static const uint64_t *ff__xo_device_powers(const char *fn) {
  int dev = -1;
  if (FF_CUDA_CHECK(cudaGetDevice(&dev)) || dev < 0 || dev >= FF__XO_MAX_DEVICES) return NULL;
  pthread_mutex_lock(&ff__xo_mu);
  void *t = ff__xo_dev_table[dev];
  if (!t) {
    const uint64_t(*pw)[256][4] = ff__rng_xo_powers();
    const size_t bytes = 64 * sizeof *pw;
    if (!pw) {
      FF_ERROR("%s: no memory for the generator's jump-ahead table", fn);
    } else if (FF_CUDA_CHECK(cudaMalloc(&t, bytes))) {
      t = NULL;
    } else if (FF_CUDA_CHECK(cudaMemcpy(t, pw, bytes, cudaMemcpyHostToDevice))) {
      (void)cudaFree(t);
      t = NULL;
    }
    ff__xo_dev_table[dev] = t;
  }
  pthread_mutex_unlock(&ff__xo_mu);
  return (const uint64_t *)t;
}

extern "C" ff_status ff_rng_draw_cuda(ff_ctx *ctx, ff_rng *rng, void *out, size_t n) {
  const char *fn = "ff_rng_draw_cuda";
  ff_status st = ff__cuda_ctx_check(fn, ctx);
  if (st) return st;
  if (!rng || (n && !out)) {
    FF_ERROR("%s: generator or output is NULL", fn);
    return FF_EINVAL;
  }
  ff__rng_claim c;
  if ((st = ff__rng_claim_bytes(rng, n, &c)) || n == 0) return st;
  const cudaStream_t s = ff__cuda_stream(ctx);
  if (!c.seeded) {
    ff__aes_keys keys;
    memcpy(keys.rk[0], c.key->rk, sizeof keys.rk[0]);
    memcpy(keys.rk[1], c.key->rk, sizeof keys.rk[1]);
    ff__ctr_kernel<<<ff__cuda_blocks(n / 16 + 1), FF__CUDA_THREADS, 0, s>>>(keys, c.t0_hi, c.t0_lo, c.first,
                                                                           (uint8_t *)out, n);
    memset(&keys, 0, sizeof keys); // the generator's key schedule is secret
    return FF_CUDA_CHECK(cudaGetLastError());
  }
  const uint64_t *dpw = ff__xo_device_powers(fn);
  if (!dpw) return FF_ENOMEM;
  const size_t words = n / 8 + (n % 8 != 0), ranges = (words + FF__XO_WORDS_PER_THREAD - 1) / FF__XO_WORDS_PER_THREAD;
  ff__xo_kernel<<<ff__cuda_blocks(ranges), FF__CUDA_THREADS, 0, s>>>(dpw, c.s[0], c.s[1], c.s[2], c.s[3],
                                                                     (uint8_t *)out, n);
  return FF_CUDA_CHECK(cudaGetLastError());
}
