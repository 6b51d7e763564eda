/* getrandom-backed randomness, and a seeded xoshiro256** stream for tests. Test: tests/test_core.c. */
#include "core/rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/ring.h"

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

void ff_rng_init_os(ff_rng *rng) { memset(rng, 0, sizeof *rng); }

void ff_rng_init_seeded(ff_rng *rng, uint64_t seed) {
  memset(rng, 0, sizeof *rng);
  rng->seeded = 1;
  rng->seed = seed;
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) rng->s[i] = ff__splitmix64(&x);
}

ff_status ff_rng_bytes(ff_rng *rng, void *buf, size_t n) {
  uint8_t *p = buf;
  if (rng->seeded) {
    while (n >= 8) {
      uint64_t v = ff__xoshiro_next(rng->s);
      memcpy(p, &v, 8);
      p += 8;
      n -= 8;
    }
    if (n) {
      uint64_t v = ff__xoshiro_next(rng->s);
      memcpy(p, &v, n);
    }
    return FF_OK;
  }
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
