/* Randomness (core/rand.h): AES-128 in counter mode keyed from getrandom, and a seeded xoshiro256**
 * stream for tests. Test: tests/test_core.c. */
#include "core/rand.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

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

/* n bytes of blocks first, first + 1, ...: block i is AES_K(T0 + i), T0 + i big-endian mod 2^128. */
static void ff__ctr_bytes(const ff_rng *rng, uint64_t first, uint8_t *p, size_t n) {
  enum { B = 64 }; /* blocks per AES call: 1 KiB on the stack, 8 AES-NI batches */
  ff_block buf[B];
  uint64_t lo = rng->t0_lo + first, hi = rng->t0_hi + (lo < first);
  while (n > 0) {
    const size_t want = n / 16 + (n % 16 != 0), nb = want < B ? want : B;
    for (size_t i = 0; i < nb; i++) {
      buf[i].lo = __builtin_bswap64(hi); /* bytes 0..7 of the counter block: its high half, big-endian */
      buf[i].hi = __builtin_bswap64(lo);
      hi += ++lo == 0;
    }
    ff_aes128_encrypt_blocks(&rng->key, buf, buf, nb);
    const size_t take = n < 16 * nb ? n : 16 * nb;
    memcpy(p, buf, take);
    p += take;
    n -= take;
  }
  explicit_bzero(buf, sizeof buf); /* the masks drawn are secret */
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
    ff__xoshiro_bytes(rng->s, buf, n);
    return FF_OK;
  }
  if (!n) return FF_OK;
  if (!rng->keyed || rng->fork_gen != __atomic_load_n(&ff__forks, __ATOMIC_RELAXED)) {
    ff_status st = ff__rekey(rng);
    if (st) return st;
  }
  const uint64_t nb = n / 16 + (n % 16 != 0);
  ff__ctr_bytes(rng, __atomic_fetch_add(&rng->blocks, nb, __ATOMIC_RELAXED), buf, n);
  return FF_OK;
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
