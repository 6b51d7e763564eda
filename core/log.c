/* Leveled logging to stderr; one fprintf per line so that lines of two processes do not interleave
 * mid-line. Test: tests/test_core.c. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int ff__level = -2; /* -2: not yet read from FF_LOG_LEVEL */
static char ff__prefix[32];

static ff_log_level ff__level_from_env(void) {
  const char *s = getenv("FF_LOG_LEVEL");
  int l = s ? ff_log_parse_level(s) : -1;
  return l < 0 ? FF_LOG_WARN : (ff_log_level)l;
}

int ff_log_parse_level(const char *s) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

void ff_log_set_level(ff_log_level level) { atomic_store(&ff__level, (int)level); }

ff_log_level ff_log_get_level(void) {
  int l = atomic_load(&ff__level);
  if (l == -2) {
    l = (int)ff__level_from_env();
    atomic_store(&ff__level, l);
  }
  return (ff_log_level)l;
}

void ff_log_set_prefix(const char *prefix) {
  snprintf(ff__prefix, sizeof ff__prefix, "%s", prefix ? prefix : "");
}

void ff_log(ff_log_level level, const char *fmt, ...) {
  if (level > ff_log_get_level()) return;
  static const char *tags[] = {"error", "warning", "info", "debug"};
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (ff__prefix[0])
    fprintf(stderr, "fusefss[%s]: %s: %s\n", ff__prefix, tags[level], msg);
  else
    fprintf(stderr, "fusefss: %s: %s\n", tags[level], msg);
}
