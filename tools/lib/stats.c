/* Median and quartiles by linear interpolation (type 7), DESIGN.md §6. The tools take statistics only
 * after merging the parties per repetition (the max of two medians is a different, wrong number).
 * Test: tests/test_merge.c. */
#include "tools/lib/analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

double ff_quantile_sorted(const double *sorted, size_t n, double q) {
  if (n == 0) return 0.0;
  if (q <= 0) return sorted[0];
  if (q >= 1) return sorted[n - 1];
  double h = (double)(n - 1) * q;
  size_t lo = (size_t)floor(h);
  if (lo + 1 >= n) return sorted[n - 1];
  double frac = h - (double)lo;
  /* Written as a + frac (b - a) so that equal neighbours give that value exactly. */
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

static int ff__cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

ff_status ff_stats_compute(const double *x, size_t n, ff_stats *out) {
  memset(out, 0, sizeof *out);
  if (n == 0 || !x) return FF_EINVAL;
  /* Small arrays (one value per repetition) live on the stack; larger ones on the heap. */
  double stack_buf[64];
  double *s = n <= 64 ? stack_buf : malloc(n * sizeof *s);
  if (!s) return FF_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (isnan(x[i])) {
      if (s != stack_buf) free(s);
      FF_ERROR("statistics: NaN among %zu values", n);
      return FF_EINVAL;
    }
    s[i] = x[i];
  }
  qsort(s, n, sizeof *s, ff__cmp_double);
  out->n = n;
  out->min = s[0];
  out->max = s[n - 1];
  out->median = ff_quantile_sorted(s, n, 0.5);
  out->p25 = ff_quantile_sorted(s, n, 0.25);
  out->p75 = ff_quantile_sorted(s, n, 0.75);
  if (s != stack_buf) free(s);
  return FF_OK;
}

double ff_stats_median(const double *x, size_t n) {
  ff_stats s;
  return ff_stats_compute(x, n, &s) == FF_OK ? s.median : 0.0;
}
