/* Randomness for masks and seeds. By default every byte comes from the OS (getrandom). A seeded
 * generator exists for reproducible tests and benchmarks only: it is xoshiro256** expanded from the
 * seed with splitmix64, NOT cryptographic, and a run that uses it records the seed in its log.
 * Test: tests/test_core.c. */
#ifndef FF_CORE_RAND_H
#define FF_CORE_RAND_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int seeded;       /* 0: getrandom; 1: xoshiro256** from `seed` */
  uint64_t seed;    /* the seed given, for the log */
  uint64_t s[4];    /* xoshiro256** state when seeded */
} ff_rng;

/* OS randomness. */
void ff_rng_init_os(ff_rng *rng);
/* Deterministic stream from a seed (tests and benchmarks only). */
void ff_rng_init_seeded(ff_rng *rng, uint64_t seed);

/* Fills buf with n random bytes. Fails only if the OS source fails. */
ff_status ff_rng_bytes(ff_rng *rng, void *buf, size_t n);
/* n uniform elements of Z_2^bw. */
ff_status ff_rng_ring(ff_rng *rng, uint64_t *out, size_t n, int bw);
/* One uniform 64-bit value (aborts the caller's work with 0 on an OS failure, which is logged). */
uint64_t ff_rng_u64(ff_rng *rng);

#ifdef __cplusplus
}
#endif

#endif
