/* Clocks: CLOCK_MONOTONIC nanoseconds for every duration in fusefss, CLOCK_REALTIME only for the
 * run's start stamp. */
#ifndef FF_CORE_TIME_H
#define FF_CORE_TIME_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline uint64_t ff_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ff_unix_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps ns nanoseconds (restarting after signals). */
void ff_sleep_ns(uint64_t ns);

#ifdef __cplusplus
}
#endif

#endif
