/* Randomness (core/rand.h): AES-128 in counter mode keyed from getrandom, and a seeded xoshiro256**
 * stream for tests. Test: tests/test_core.c. */
#include "core/rand.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/ring.h"

/* ---- Seeded: xoshiro256** from splitmix64 (tests and benchmarks) ----------------------------------- */

static uint64_t ff__splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static inline uint64_t ff__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t ff__xoshiro_next(uint64_t s[4]) {
  uint64_t result = ff__rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = ff__rotl(s[3], 45);
  return result;
}

static void ff__xoshiro_bytes(uint64_t s[4], uint8_t *p, size_t n) {
  while (n >= 8) {
    uint64_t v = ff__xoshiro_next(s);
    memcpy(p, &v, 8);
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t v = ff__xoshiro_next(s);
    memcpy(p, &v, n);
  }
}

/* Jumping ahead. xoshiro256**'s state moves linearly over GF(2) (xors, shifts and a rotation): after k
 * steps it is T^k s for one 256 x 256-bit matrix T. ff__xo_pow[i] holds T^(2^i) by columns (column j:
 * the image of the state whose only set bit is bit j % 64 of word j / 64), made once by squaring, so a
 * jump of k steps is one matrix-vector product per set bit of k: a large draw is split over threads, each
 * starting its own range of words where the sequential stream would be (the same bytes). */
#define FF__XO_PAR_WORDS (UINT64_C(1) << 17) /* 1 MiB of words per thread at least */

static uint64_t (*ff__xo_pow)[256][4]; /* (64) the powers; NULL if they could not be allocated */
static pthread_once_t ff__xo_once = PTHREAD_ONCE_INIT;

static void ff__xo_apply(const uint64_t m[256][4], uint64_t s[4]) {
  uint64_t r[4] = {0, 0, 0, 0};
  for (int j = 0; j < 256; j++)
    if ((s[j >> 6] >> (j & 63)) & 1)
      for (int w = 0; w < 4; w++) r[w] ^= m[j][w];
  memcpy(s, r, sizeof r);
}

static void ff__xo_init(void) {
  uint64_t(*pw)[256][4] = malloc(64 * sizeof *pw); /* 512 KiB */
  if (!pw) return;                                  /* draws then stay sequential */
  for (int j = 0; j < 256; j++) {
    uint64_t s[4] = {0, 0, 0, 0};
    s[j >> 6] = UINT64_C(1) << (j & 63);
    (void)ff__xoshiro_next(s);
    memcpy(pw[0][j], s, sizeof s);
  }
  for (int i = 1; i < 64; i++)
    for (int j = 0; j < 256; j++) {
      uint64_t s[4];
      memcpy(s, pw[i - 1][j], sizeof s);
      ff__xo_apply(pw[i - 1], s);
      memcpy(pw[i][j], s, sizeof s);
    }
  ff__xo_pow = pw;
}

static void ff__xo_jump(uint64_t s[4], uint64_t k) {
  for (int i = 0; k; i++, k >>= 1)
    if (k & 1) ff__xo_apply(ff__xo_pow[i], s);
}

typedef struct {
  const uint64_t *s; /* the state at the draw's first word */
  uint8_t *p;
  size_t n;
} ff__xo_job;

static void ff__xo_range(void *arg, size_t lo, size_t hi) {
  const ff__xo_job *j = arg;
  uint64_t s[4];
  memcpy(s, j->s, sizeof s);
  ff__xo_jump(s, lo);
  const size_t end = 8 * hi < j->n ? 8 * hi : j->n;
  ff__xoshiro_bytes(s, j->p + 8 * lo, end - 8 * lo);
}

/* A seeded draw of n bytes: ceil(n / 8) words, the last one's unused bytes dropped; several threads for a
 * large one. */
static void ff__xoshiro_draw(uint64_t s[4], uint8_t *p, size_t n) {
  const uint64_t words = n / 8 + (n % 8 != 0);
  if (words >= 2 * FF__XO_PAR_WORDS && ff_cpu_count() > 1) {
    pthread_once(&ff__xo_once, ff__xo_init);
    if (ff__xo_pow) {
      ff__xo_job job = {s, p, n};
      ff_parallel_for((size_t)words, FF__XO_PAR_WORDS, 0, ff__xo_range, &job);
      ff__xo_jump(s, words);
      return;
    }
  }
  ff__xoshiro_bytes(s, p, n);
}

/* ---- OS-keyed: AES-128-CTR ------------------------------------------------------------------------- */

/* Forks seen by this process: the child handler counts them, a generator keyed before the latest
 * one re-keys. Registered once, at the first keying. */
static uint64_t ff__forks;
static pthread_once_t ff__atfork_once = PTHREAD_ONCE_INIT;
static void ff__on_fork_child(void) { __atomic_add_fetch(&ff__forks, 1, __ATOMIC_RELAXED); }
static void ff__atfork_register(void) { (void)pthread_atfork(NULL, NULL, ff__on_fork_child); }

static uint64_t ff__load_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static void ff__set_ctr(ff_rng *rng, const uint8_t key[16], const uint8_t t0[16]) {
  ff_aes128_expand_key(key, &rng->key);
  rng->t0_hi = ff__load_be64(t0);
  rng->t0_lo = ff__load_be64(t0 + 8);
  rng->blocks = 0;
  rng->keyed = 1;
}

static ff_status ff__getrandom(uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      FF_ERROR("getrandom failed: %s", strerror(errno));
      return FF_EIO;
    }
    p += got;
    n -= (size_t)got;
  }
  return FF_OK;
}

/* K and T0 from 32 bytes of the OS. */
static ff_status ff__rekey(ff_rng *rng) {
  pthread_once(&ff__atfork_once, ff__atfork_register);
  uint8_t seed[32];
  const uint64_t forks = __atomic_load_n(&ff__forks, __ATOMIC_RELAXED);
  ff_status st = ff__getrandom(seed, sizeof seed);
  if (!st) {
    ff__set_ctr(rng, seed, seed + 16);
    rng->fork_gen = forks;
  }
  explicit_bzero(seed, sizeof seed);
  return st;
}

/* n bytes of blocks first, first + 1, ...: block i is AES_K(T0 + i), T0 + i big-endian mod 2^128. Whole
 * blocks are made in place in p when it is aligned for them; through a buffer on the stack otherwise, and
 * for a last partial block. */
static void ff__ctr_bytes(const ff_rng *rng, uint64_t first, uint8_t *p, size_t n) {
  enum { B = 64 }; /* blocks per AES call: 1 KiB, 8 AES-NI batches */
  ff_block buf[B];
  const int aligned = (uintptr_t)p % _Alignof(ff_block) == 0;
  uint64_t lo = rng->t0_lo + first, hi = rng->t0_hi + (lo < first);
  while (n > 0) {
    const size_t want = n / 16 + (n % 16 != 0), nb = want < B ? want : B, take = n < 16 * nb ? n : 16 * nb;
    ff_block *b = aligned && take == 16 * nb ? (ff_block *)(void *)p : buf;
    for (size_t i = 0; i < nb; i++) {
      b[i].lo = __builtin_bswap64(hi); /* bytes 0..7 of the counter block: its high half, big-endian */
      b[i].hi = __builtin_bswap64(lo);
      hi += ++lo == 0;
    }
    ff_aes128_encrypt_blocks(&rng->key, b, b, nb);
    if (b == buf) memcpy(p, buf, take);
    p += take;
    n -= take;
  }
  explicit_bzero(buf, sizeof buf); /* the masks drawn are secret */
}

/* A large draw is made by several threads (core/ctx.h ff_parallel_for), each its own range of the blocks
 * claimed: the same bytes, since block i depends on i alone. */
#define FF__CTR_PAR_BLOCKS (UINT64_C(1) << 16) /* 1 MiB per thread at least */

typedef struct {
  const ff_rng *rng;
  uint64_t first;
  uint8_t *p;
  size_t n;
} ff__ctr_job;

static void ff__ctr_range(void *arg, size_t lo, size_t hi) {
  const ff__ctr_job *j = arg;
  const size_t end = 16 * hi < j->n ? 16 * hi : j->n;
  ff__ctr_bytes(j->rng, j->first + lo, j->p + 16 * lo, end - 16 * lo);
}

/* The blocks of a counter-mode draw of n > 0 bytes: keys the generator first if it is not (or was keyed
 * before a fork), then claims ceil(n / 16) blocks with one atomic add; *first gets the first. */
static ff_status ff__ctr_claim(ff_rng *rng, size_t n, uint64_t *first) {
  if (!rng->keyed || rng->fork_gen != __atomic_load_n(&ff__forks, __ATOMIC_RELAXED)) {
    ff_status st = ff__rekey(rng);
    if (st) return st;
  }
  *first = __atomic_fetch_add(&rng->blocks, n / 16 + (n % 16 != 0), __ATOMIC_RELAXED);
  return FF_OK;
}

/* ---- The API ---------------------------------------------------------------------------------------- */

void ff_rng_init_os(ff_rng *rng) {
  memset(rng, 0, sizeof *rng);
  (void)ff__rekey(rng); /* a failure is logged; the first draw tries again */
}

void ff_rng_init_seeded(ff_rng *rng, uint64_t seed) {
  memset(rng, 0, sizeof *rng);
  rng->seeded = 1;
  rng->seed = seed;
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) rng->s[i] = ff__splitmix64(&x);
}

void ff_rng_init_shared(ff_rng *rng, ff_rng *of) {
  memset(rng, 0, sizeof *rng);
  rng->shared = of;
}

void ff__rng_init_ctr(ff_rng *rng, const uint8_t key[16], const uint8_t t0[16]) {
  memset(rng, 0, sizeof *rng);
  pthread_once(&ff__atfork_once, ff__atfork_register);
  ff__set_ctr(rng, key, t0);
  rng->fork_gen = __atomic_load_n(&ff__forks, __ATOMIC_RELAXED);
}

ff_status ff_rng_bytes(ff_rng *rng, void *buf, size_t n) {
  while (rng->shared) rng = rng->shared;
  if (rng->seeded) {
    ff__xoshiro_draw(rng->s, buf, n);
    return FF_OK;
  }
  if (!n) return FF_OK;
  uint64_t first;
  ff_status st = ff__ctr_claim(rng, n, &first);
  if (st) return st;
  const uint64_t nb = n / 16 + (n % 16 != 0);
  if (nb < 2 * FF__CTR_PAR_BLOCKS) {
    ff__ctr_bytes(rng, first, buf, n);
    return FF_OK;
  }
  ff__ctr_job job = {rng, first, buf, n};
  ff_parallel_for((size_t)nb, FF__CTR_PAR_BLOCKS, 0, ff__ctr_range, &job);
  return FF_OK;
}

const uint64_t (*ff__rng_xo_powers(void))[256][4] {
  pthread_once(&ff__xo_once, ff__xo_init);
  return (const uint64_t(*)[256][4])ff__xo_pow;
}

ff_status ff__rng_claim_bytes(ff_rng *rng, size_t n, ff__rng_claim *out) {
  while (rng->shared) rng = rng->shared;
  memset(out, 0, sizeof *out);
  if (rng->seeded) {
    out->seeded = 1;
    memcpy(out->s, rng->s, sizeof out->s);
    const uint64_t words = n / 8 + (n % 8 != 0);
    /* A jump costs up to 64 products of 256 columns: short draws step instead (also without the table). */
    if (words >= 1024 && ff__rng_xo_powers()) {
      ff__xo_jump(rng->s, words);
    } else {
      for (uint64_t w = 0; w < words; w++) (void)ff__xoshiro_next(rng->s);
    }
    return FF_OK;
  }
  if (!n) return FF_OK; /* as ff_rng_bytes: nothing claimed, nothing keyed (out->key NULL) */
  ff_status st = ff__ctr_claim(rng, n, &out->first);
  if (st) return st;
  out->key = &rng->key;
  out->t0_hi = rng->t0_hi;
  out->t0_lo = rng->t0_lo;
  return FF_OK;
}

void ff__rng_claim_make(const ff__rng_claim *c, void *out, size_t n) {
  if (!n) return;
  if (c->seeded) {
    uint64_t s[4];
    memcpy(s, c->s, sizeof s);
    ff__xoshiro_bytes(s, out, n);
    return;
  }
  ff_rng view; /* ff__ctr_bytes reads the key and T0 only */
  memset(&view, 0, sizeof view);
  view.key = *c->key;
  view.t0_hi = c->t0_hi;
  view.t0_lo = c->t0_lo;
  ff__ctr_bytes(&view, c->first, out, n);
  explicit_bzero(&view.key, sizeof view.key);
}

ff_status ff_rng_ring(ff_rng *rng, uint64_t *out, size_t n, int bw) {
  ff_status st = ff_rng_bytes(rng, out, n * sizeof *out);
  if (st) return st;
  uint64_t m = ff_ring_mask(bw);
  for (size_t i = 0; i < n; i++) out[i] &= m;
  return FF_OK;
}

uint64_t ff_rng_u64(ff_rng *rng) {
  uint64_t v = 0;
  (void)ff_rng_bytes(rng, &v, sizeof v);
  return v;
}
