/* The ring Z_2^bw stored in uint64_t, and fixed point with `scale` fractional bits (DESIGN.md §2).
 * All helpers are exact integer arithmetic; decoding to double is the only lossy step.
 * Test: tests/test_core.c. */
#ifndef FF_CORE_RING_H
#define FF_CORE_RING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FF_SCALE_DEFAULT 12

/* 2^bw - 1 for 1 <= bw <= 64. */
static inline uint64_t ff_ring_mask(int bw) { return bw >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << bw) - 1; }

/* x mod 2^bw. */
static inline uint64_t ff_ring_reduce(uint64_t x, int bw) { return x & ff_ring_mask(bw); }

/* The signed view of x in [-2^(bw-1), 2^(bw-1)) (two's complement in bw bits). */
static inline int64_t ff_ring_signed(uint64_t x, int bw) {
  x = ff_ring_reduce(x, bw);
  if (bw < 64 && (x >> (bw - 1)) & 1) return (int64_t)(x | ~ff_ring_mask(bw));
  return (int64_t)x;
}

/* Ring element of a signed integer. */
static inline uint64_t ff_ring_from_signed(int64_t v, int bw) { return ff_ring_reduce((uint64_t)v, bw); }

/* Fixed-point encoding: round(v * 2^scale) mod 2^bw (round half away from zero). */
uint64_t ff_fixed_encode(double v, int bw, int scale);

/* Fixed-point decoding of the signed view: signed(x) / 2^scale. */
double ff_fixed_decode(uint64_t x, int bw, int scale);

/* 1 if bw is a legal ring width (1..64) and 0 <= scale < bw, else 0. */
int ff_ring_params_valid(int bw, int scale);

#ifdef __cplusplus
}
#endif

#endif
