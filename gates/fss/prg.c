/* AES-128 (FIPS-197) and the fixed-key MMO PRG of the GGM tree (DESIGN.md §2). The AES-NI paths
 * carry target attributes rather than a file-wide -maes, so the portable fallback in the same file
 * stays runnable on CPUs without AES-NI; the choice is made once per process.
 * Test: tests/test_prg.c. */
#include "gates/fss/prg.h"

#include <pthread.h>
#include <string.h>

#include <wmmintrin.h>

#include "core/log.h"

_Static_assert(sizeof(ff_block) == 16, "ff_block is one AES block");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ff_block's byte layout assumes a little-endian host");

/* ---- Portable AES ---------------------------------------------------------------------------------
 * Byte-wise FIPS-197. The S-box is computed (GF(2^8) inverse + affine map) rather than typed in, so
 * a typo cannot hide in 256 constants; the known-answer tests check the result. */

static uint8_t ff__sbox[256];
static pthread_once_t ff__sbox_once = PTHREAD_ONCE_INIT;

static uint8_t ff__gf_mul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  while (b) {
    if (b & 1) p ^= a;
    a = (uint8_t)((a << 1) ^ ((a >> 7) * 0x1b));
    b >>= 1;
  }
  return p;
}

static inline uint8_t ff__xtime(uint8_t a) { return (uint8_t)((a << 1) ^ ((a >> 7) * 0x1b)); }

static uint8_t ff__rotl8(uint8_t x, int r) { return (uint8_t)((x << r) | (x >> (8 - r))); }

static void ff__sbox_init(void) {
  for (int x = 0; x < 256; x++) {
    uint8_t inv = 0; /* x^254 = x^-1 in GF(2^8), 0 for 0 */
    if (x) {
      uint8_t acc = 1, base = (uint8_t)x;
      for (int e = 254; e; e >>= 1) {
        if (e & 1) acc = ff__gf_mul(acc, base);
        base = ff__gf_mul(base, base);
      }
      inv = acc;
    }
    ff__sbox[x] = (uint8_t)(inv ^ ff__rotl8(inv, 1) ^ ff__rotl8(inv, 2) ^ ff__rotl8(inv, 3) ^ ff__rotl8(inv, 4) ^ 0x63);
  }
}

void ff_aes128_expand_key(const uint8_t key[16], ff_aes128_key *ks) {
  pthread_once(&ff__sbox_once, ff__sbox_init);
  uint8_t w[176];
  memcpy(w, key, 16);
  uint8_t rcon = 1;
  for (int i = 4; i < 44; i++) {
    uint8_t t[4];
    memcpy(t, &w[4 * (i - 1)], 4);
    if (i % 4 == 0) { /* RotWord, SubWord, Rcon */
      uint8_t t0 = t[0];
      t[0] = (uint8_t)(ff__sbox[t[1]] ^ rcon);
      t[1] = ff__sbox[t[2]];
      t[2] = ff__sbox[t[3]];
      t[3] = ff__sbox[t0];
      rcon = (uint8_t)((rcon << 1) ^ ((rcon >> 7) * 0x1b));
    }
    for (int b = 0; b < 4; b++) w[4 * i + b] = (uint8_t)(w[4 * (i - 4) + b] ^ t[b]);
  }
  memcpy(ks->rk, w, sizeof w);
}

static void ff__aes_portable_one(const ff_aes128_key *ks, const ff_block *in, ff_block *out) {
  const uint8_t *rk = (const uint8_t *)ks->rk;
  uint8_t s[16], t[16];
  memcpy(s, in, 16);
  for (int i = 0; i < 16; i++) s[i] ^= rk[i];
  for (int r = 1; r <= 10; r++) {
    /* SubBytes and ShiftRows: byte (row, col) sits at 4*col + row; row r rotates left by r. */
    for (int c = 0; c < 4; c++)
      for (int row = 0; row < 4; row++) t[4 * c + row] = ff__sbox[s[4 * ((c + row) & 3) + row]];
    if (r < 10) { /* MixColumns */
      for (int c = 0; c < 4; c++) {
        uint8_t a0 = t[4 * c], a1 = t[4 * c + 1], a2 = t[4 * c + 2], a3 = t[4 * c + 3];
        uint8_t all = (uint8_t)(a0 ^ a1 ^ a2 ^ a3);
        s[4 * c + 0] = (uint8_t)(a0 ^ all ^ ff__xtime((uint8_t)(a0 ^ a1)));
        s[4 * c + 1] = (uint8_t)(a1 ^ all ^ ff__xtime((uint8_t)(a1 ^ a2)));
        s[4 * c + 2] = (uint8_t)(a2 ^ all ^ ff__xtime((uint8_t)(a2 ^ a3)));
        s[4 * c + 3] = (uint8_t)(a3 ^ all ^ ff__xtime((uint8_t)(a3 ^ a0)));
      }
    } else {
      memcpy(s, t, 16);
    }
    for (int i = 0; i < 16; i++) s[i] ^= rk[16 * r + i];
  }
  memcpy(out, s, 16);
}

void ff__aes128_encrypt_blocks_portable(const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n) {
  pthread_once(&ff__sbox_once, ff__sbox_init);
  for (size_t i = 0; i < n; i++) ff__aes_portable_one(ks, &in[i], &out[i]);
}

/* ---- AES-NI -----------------------------------------------------------------------------------------
 * aesenc has a latency of several cycles but a throughput of about one per cycle, so 8 independent
 * blocks are kept in flight per round. */

#define FF__AESNI __attribute__((target("aes,sse2")))
#define FF__LANES 8

FF__AESNI static inline __m128i ff__ld(const ff_block *b) { return _mm_loadu_si128((const __m128i *)b); }
FF__AESNI static inline void ff__st(ff_block *b, __m128i v) { _mm_storeu_si128((__m128i *)b, v); }

FF__AESNI static inline __m128i ff__aesni_one(const ff_aes128_key *ks, __m128i b) {
  b = _mm_xor_si128(b, ff__ld(&ks->rk[0]));
  for (int r = 1; r < 10; r++) b = _mm_aesenc_si128(b, ff__ld(&ks->rk[r]));
  return _mm_aesenclast_si128(b, ff__ld(&ks->rk[10]));
}

/* out[i] = AES_{keys[i]}(in[i]) (^ in[i] when mmo) for FF__LANES blocks, each with its own key. */
FF__AESNI static inline void ff__aesni_lanes(const ff_aes128_key *const *keys, const ff_block *in, ff_block *out, int mmo) {
  __m128i s[FF__LANES], b[FF__LANES];
#pragma GCC unroll 8
  for (int l = 0; l < FF__LANES; l++) {
    s[l] = ff__ld(&in[l]);
    b[l] = _mm_xor_si128(s[l], ff__ld(&keys[l]->rk[0]));
  }
  for (int r = 1; r < 10; r++) {
#pragma GCC unroll 8
    for (int l = 0; l < FF__LANES; l++) b[l] = _mm_aesenc_si128(b[l], ff__ld(&keys[l]->rk[r]));
  }
#pragma GCC unroll 8
  for (int l = 0; l < FF__LANES; l++) {
    b[l] = _mm_aesenclast_si128(b[l], ff__ld(&keys[l]->rk[10]));
    if (mmo) b[l] = _mm_xor_si128(b[l], s[l]);
    ff__st(&out[l], b[l]);
  }
}

FF__AESNI static void ff__aesni_encrypt(const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n) {
  const ff_aes128_key *keys[FF__LANES];
  for (int l = 0; l < FF__LANES; l++) keys[l] = ks;
  size_t i = 0;
  for (; i + FF__LANES <= n; i += FF__LANES) ff__aesni_lanes(keys, &in[i], &out[i], 0);
  for (; i < n; i++) ff__st(&out[i], ff__aesni_one(ks, ff__ld(&in[i])));
}

/* ---- Dispatch and the PRG keys ------------------------------------------------------------------- */

static ff_aes128_key ff__prg_keys[2];
static int ff__use_aesni;
static pthread_once_t ff__prg_once = PTHREAD_ONCE_INIT;

static void ff__prg_init(void) {
  __builtin_cpu_init();
  ff__use_aesni = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse2");
  ff_aes128_expand_key((const uint8_t *)"fusefss:prg:key0", &ff__prg_keys[0]);
  ff_aes128_expand_key((const uint8_t *)"fusefss:prg:key1", &ff__prg_keys[1]);
}

static inline void ff__prg_ready(void) { pthread_once(&ff__prg_once, ff__prg_init); }

void ff__aes128_force_portable(int on) {
  ff__prg_ready();
  ff__use_aesni = on ? 0 : __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse2");
}

int ff_aes128_have_aesni(void) {
  ff__prg_ready();
  return ff__use_aesni;
}

const ff_aes128_key *ff_prg_key(int side) {
  ff__prg_ready();
  return &ff__prg_keys[side != 0];
}

void ff_aes128_encrypt_blocks(const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n) {
  ff__prg_ready();
  if (ff__use_aesni)
    ff__aesni_encrypt(ks, in, out, n);
  else
    ff__aes128_encrypt_blocks_portable(ks, in, out, n);
}

static inline void ff__xor_into(ff_block *dst, const ff_block *src) {
  dst->lo ^= src->lo;
  dst->hi ^= src->hi;
}

/* Generic MMO over a per-block key choice; chunks of FF__LANES go through AES-NI when present. */
static void ff__mmo(const ff_block *s, const uint8_t *dir, int fixed_side, ff_block *out, size_t n) {
  size_t i = 0;
  if (ff__use_aesni) {
    const ff_aes128_key *keys[FF__LANES];
    for (; i + FF__LANES <= n; i += FF__LANES) {
      for (int l = 0; l < FF__LANES; l++) keys[l] = &ff__prg_keys[dir ? dir[i + l] != 0 : fixed_side];
      ff__aesni_lanes(keys, &s[i], &out[i], 1);
    }
  }
  for (; i < n; i++) {
    ff_block in = s[i], b;
    const ff_aes128_key *k = &ff__prg_keys[dir ? dir[i] != 0 : fixed_side];
    if (ff__use_aesni)
      ff__aesni_encrypt(k, &in, &b, 1);
    else
      ff__aes_portable_one(k, &in, &b);
    ff__xor_into(&b, &in);
    out[i] = b;
  }
}

void ff_prg_expand(const ff_block *s, ff_block *left, ff_block *right, size_t n) {
  ff__prg_ready();
  /* Two passes of 8-lane batches keep the pipeline as full as one interleaved pass would. */
  ff__mmo(s, NULL, 0, left, n);
  ff__mmo(s, NULL, 1, right, n);
}

void ff_prg_expand_dir(const ff_block *s, const uint8_t *dir, ff_block *out, size_t n) {
  ff__prg_ready();
  ff__mmo(s, dir, 0, out, n);
}

#ifndef FF_HAVE_CUDA
/* The CUDA twins live in prg_cuda.cu; a build without CUDA answers clearly. */
static ff_status ff__prg_no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend (configure with a CUDA compiler)", fn);
  return FF_ENOTSUP;
}
ff_status ff_aes128_encrypt_blocks_cuda(ff_ctx *ctx, const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n) {
  return ff__prg_no_cuda("ff_aes128_encrypt_blocks_cuda");
}
ff_status ff_prg_expand_cuda(ff_ctx *ctx, const ff_block *s, ff_block *left, ff_block *right, size_t n) {
  return ff__prg_no_cuda("ff_prg_expand_cuda");
}
ff_status ff_prg_expand_dir_cuda(ff_ctx *ctx, const ff_block *s, const uint8_t *dir, ff_block *out, size_t n) {
  return ff__prg_no_cuda("ff_prg_expand_dir_cuda");
}
#endif
