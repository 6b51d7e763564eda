/* AES-128 (FIPS-197): portable byte-wise code and AES-NI, picked once per process (core/aes.h). The
 * AES-NI paths carry target attributes rather than a file-wide -maes, so the portable fallback in the
 * same file stays runnable on CPUs without AES-NI. Test: tests/test_prg.c. */
#include "core/aes.h"

#include <pthread.h>
#include <string.h>

#include <wmmintrin.h>

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

FF__AESNI static inline __m128i ff__ld(const ff_block *b) { return _mm_loadu_si128((const __m128i *)b); }
FF__AESNI static inline void ff__st(ff_block *b, __m128i v) { _mm_storeu_si128((__m128i *)b, v); }

FF__AESNI static inline __m128i ff__aesni_one(const ff_aes128_key *ks, __m128i b) {
  b = _mm_xor_si128(b, ff__ld(&ks->rk[0]));
  for (int r = 1; r < 10; r++) b = _mm_aesenc_si128(b, ff__ld(&ks->rk[r]));
  return _mm_aesenclast_si128(b, ff__ld(&ks->rk[10]));
}

/* out[i] = AES_{keys[i]}(in[i]) (^ in[i] when mmo) for FF__AES128_LANES blocks, each with its own key. */
FF__AESNI static inline void ff__aesni_lanes(const ff_aes128_key *const *keys, const ff_block *in, ff_block *out, int mmo) {
  __m128i s[FF__AES128_LANES], b[FF__AES128_LANES];
#pragma GCC unroll 8
  for (int l = 0; l < FF__AES128_LANES; l++) {
    s[l] = ff__ld(&in[l]);
    b[l] = _mm_xor_si128(s[l], ff__ld(&keys[l]->rk[0]));
  }
  for (int r = 1; r < 10; r++) {
#pragma GCC unroll 8
    for (int l = 0; l < FF__AES128_LANES; l++) b[l] = _mm_aesenc_si128(b[l], ff__ld(&keys[l]->rk[r]));
  }
#pragma GCC unroll 8
  for (int l = 0; l < FF__AES128_LANES; l++) {
    b[l] = _mm_aesenclast_si128(b[l], ff__ld(&keys[l]->rk[10]));
    if (mmo) b[l] = _mm_xor_si128(b[l], s[l]);
    ff__st(&out[l], b[l]);
  }
}

/* One key for every block (the generator's counter mode): the round keys are loaded once per call, not
 * through a pointer per lane and round as in ff__aesni_lanes (with 16 XMM registers and 8 lanes in flight
 * some of them are kept on the stack by the compiler; still about 4x faster measured on the development
 * machine). */
FF__AESNI static void ff__aesni_encrypt(const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n) {
  __m128i rk[11];
  for (int r = 0; r < 11; r++) rk[r] = ff__ld(&ks->rk[r]);
  size_t i = 0;
  for (; i + FF__AES128_LANES <= n; i += FF__AES128_LANES) {
    __m128i b[FF__AES128_LANES];
#pragma GCC unroll 8
    for (int l = 0; l < FF__AES128_LANES; l++) b[l] = _mm_xor_si128(ff__ld(&in[i + l]), rk[0]);
    for (int r = 1; r < 10; r++) {
#pragma GCC unroll 8
      for (int l = 0; l < FF__AES128_LANES; l++) b[l] = _mm_aesenc_si128(b[l], rk[r]);
    }
#pragma GCC unroll 8
    for (int l = 0; l < FF__AES128_LANES; l++) ff__st(&out[i + l], _mm_aesenclast_si128(b[l], rk[10]));
  }
  for (; i < n; i++) ff__st(&out[i], ff__aesni_one(ks, ff__ld(&in[i])));
}

/* ---- Dispatch --------------------------------------------------------------------------------------- */

static int ff__use_aesni;
static int ff__aes_inited; /* set (release) once ff__use_aesni holds the CPU's choice */
static pthread_once_t ff__aes_once = PTHREAD_ONCE_INIT;

static int ff__cpu_has_aesni(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse2");
}

static void ff__aes_init(void) {
  ff__use_aesni = ff__cpu_has_aesni();
  __atomic_store_n(&ff__aes_inited, 1, __ATOMIC_RELEASE);
}

/* The PRG calls in here once per 8 blocks: after the first call this is one load, not pthread_once. */
static inline void ff__aes_ready(void) {
  if (!__atomic_load_n(&ff__aes_inited, __ATOMIC_ACQUIRE)) pthread_once(&ff__aes_once, ff__aes_init);
}

void ff__aes128_force_portable(int on) {
  ff__aes_ready();
  ff__use_aesni = on ? 0 : ff__cpu_has_aesni();
}

int ff_aes128_have_aesni(void) {
  ff__aes_ready();
  return ff__use_aesni;
}

void ff_aes128_encrypt_blocks(const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n) {
  ff__aes_ready();
  if (ff__use_aesni)
    ff__aesni_encrypt(ks, in, out, n);
  else
    ff__aes128_encrypt_blocks_portable(ks, in, out, n);
}

void ff__aes128_lanes(const ff_aes128_key *const keys[FF__AES128_LANES], const ff_block *in, ff_block *out, int mmo) {
  ff__aes_ready();
  if (ff__use_aesni) {
    ff__aesni_lanes(keys, in, out, mmo);
    return;
  }
  for (int l = 0; l < FF__AES128_LANES; l++) {
    const ff_block s = in[l];
    ff_block b;
    ff__aes_portable_one(keys[l], &s, &b);
    if (mmo) b.lo ^= s.lo, b.hi ^= s.hi;
    out[l] = b;
  }
}
