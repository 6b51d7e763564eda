/* Fixed-point encode/decode for Z_2^bw. Test: tests/test_core.c. */
#include "core/ring.h"

#include <math.h>

uint64_t ff_fixed_encode(double v, int bw, int scale) {
  double s = ldexp(v, scale);
  double r = s < 0 ? -floor(-s + 0.5) : floor(s + 0.5);
  /* Values outside the signed range wrap, as they would on the ring; clamp the conversion itself
   * so that it is defined behaviour in C. */
  if (r >= 9223372036854775807.0) r = 9223372036854775807.0;
  if (r <= -9223372036854775808.0) r = -9223372036854775808.0;
  return ff_ring_from_signed((int64_t)r, bw);
}

double ff_fixed_decode(uint64_t x, int bw, int scale) { return ldexp((double)ff_ring_signed(x, bw), -scale); }

int ff_ring_params_valid(int bw, int scale) { return bw >= 1 && bw <= 64 && scale >= 0 && scale < bw; }
