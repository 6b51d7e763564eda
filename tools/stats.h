/* Summary statistics across repetitions (median, p25, p75, min, max, n), the one implementation used
 * by merge, report, amdahl and project (DESIGN.md §6; research/profiling.md §5).
 * Test: tests/test_merge.c (stats cases). */
#ifndef FF_TOOLS_STATS_H
#define FF_TOOLS_STATS_H

#include <stddef.h>

#include "core/status.h"

typedef struct {
  double median, p25, p75, min, max;
  size_t n; /* number of samples; 0 means "no data" and every other field is 0 */
} ff_stats;

/* The q-quantile (0 <= q <= 1) of n >= 1 values sorted ascending, by linear interpolation between
 * order statistics: h = (n - 1) q, result = x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * This is Hyndman & Fan's type 7, numpy's default ("linear") and R's default. */
double ff_quantile_sorted(const double *sorted, size_t n, double q);

/* Statistics of x[0..n). x is not modified. n == 0 gives FF_EINVAL and *out zeroed; a NaN in x gives
 * FF_EINVAL. */
ff_status ff_stats_compute(const double *x, size_t n, ff_stats *out);
/* The median of x[0..n), or 0 where ff_stats_compute fails (no values, a NaN). */
double ff_stats_median(const double *x, size_t n);

#endif
