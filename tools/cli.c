/* Usage errors, unit parsing and human formatting for the fusefss command. Test: tests/test_cli.c. */
#include "tools/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

int ff_cli_usage_error(const char *cmd, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "fusefss %s: error: %s\nTry 'fusefss %s --help'.\n", cmd, msg, cmd);
  return FF_EXIT_USAGE;
}

int ff_cli_fail(const char *cmd, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "fusefss %s: error: %s\n", cmd, msg);
  return FF_EXIT_FAIL;
}

int ff_parse_int(const char *s, long long lo, long long hi, long long *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int ff_parse_double(const char *s, double *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

/* Splits "1.5MiB" into 1.5 and "MiB". */
static int ff__number_unit(const char *s, double *v, const char **unit) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  if (errno || end == s || !isfinite(*v) || *v < 0) return -1;
  while (*end == ' ') end++;
  *unit = end;
  return 0;
}

int ff_parse_size(const char *s, uint64_t *out) {
  static const struct { const char *u; double mul; } units[] = {
      {"", 1},          {"B", 1},          {"KiB", 1024.0},   {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"kB", 1e3},      {"KB", 1e3},       {"MB", 1e6},       {"GB", 1e9},        {"K", 1024.0},
      {"M", 1048576.0}, {"G", 1073741824.0}};
  double v;
  const char *u;
  if (ff__number_unit(s, &v, &u)) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(u, units[i].u) == 0) {
      double b = v * units[i].mul;
      if (b > 1.8e19 || b != floor(b)) return -1;
      *out = (uint64_t)b;
      return 0;
    }
  }
  return -1;
}

int ff_parse_duration_ns(const char *s, uint64_t *out) {
  static const struct { const char *u; double mul; } units[] = {
      {"", 1e6}, {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  double v;
  const char *u;
  if (ff__number_unit(s, &v, &u)) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(u, units[i].u) == 0) {
      double ns = v * units[i].mul;
      if (ns > 1e18) return -1;
      *out = (uint64_t)llround(ns);
      return 0;
    }
  }
  return -1;
}

int ff_parse_bandwidth(const char *s, double *out_Bps) {
  static const struct { const char *u; double mul; } units[] = {
      {"", 1},          {"B/s", 1},        {"kB/s", 1e3},    {"KB/s", 1e3},     {"MB/s", 1e6},
      {"GB/s", 1e9},    {"KiB/s", 1024.0}, {"MiB/s", 1048576.0}, {"GiB/s", 1073741824.0},
      {"kbit/s", 125.0}, {"Mbit/s", 125e3}, {"Gbit/s", 125e6}};
  double v;
  const char *u;
  if (ff__number_unit(s, &v, &u)) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(u, units[i].u) == 0) {
      /* 1 B/s .. 1e18 B/s: finite (1e306Mbit/s overflowed to inf, found by tests/fuzz/fuzz_cli), and
       * safe to convert to the channel's integer cap (comm/chan.h), where 0 would mean no cap. */
      const double b = v * units[i].mul;
      if (!(b >= 1 && b <= 1e18)) return -1;
      *out_Bps = b;
      return 0;
    }
  }
  return -1;
}

int ff_parse_hostport(const char *s, char *host, size_t host_n, int *port, int allow_zero) {
  if (!s || !*s) return -1;
  const char *colon = strrchr(s, ':');
  const char *p = colon ? colon + 1 : s;
  long long v;
  if (ff_parse_int(p, allow_zero ? 0 : 1, 65535, &v)) return -1;
  size_t hl = colon ? (size_t)(colon - s) : 0;
  if (hl >= host_n) return -1;
  if (hl && s[0] == '[' && s[hl - 1] == ']') { /* [::1]:7000 */
    memcpy(host, s + 1, hl - 2);
    host[hl - 2] = 0;
  } else {
    memcpy(host, s, hl);
    host[hl] = 0;
  }
  *port = (int)v;
  return 0;
}

int ff_parse_backends(const char *s, int *cpu, int *gpu) {
  if (!s) return -1;
  if (strcmp(s, "cpu") == 0)
    *cpu = 1, *gpu = 0;
  else if (strcmp(s, "cuda") == 0)
    *cpu = 0, *gpu = 1;
  else if (strcmp(s, "all") == 0)
    *cpu = 1, *gpu = -1;
  else
    return -1;
  return 0;
}

int ff_cli_progress_enabled(void) { return isatty(STDERR_FILENO); }

void ff_cli_progress(const char *label, uint64_t done, uint64_t total) {
  if (!ff_cli_progress_enabled() || total == 0) return;
  enum { W = 30 };
  int fill = (int)((double)done / (double)total * W);
  char bar[W + 1];
  for (int i = 0; i < W; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
  bar[W] = 0;
  fprintf(stderr, "\r%s [%s] %llu/%llu", label, bar, (unsigned long long)done, (unsigned long long)total);
  if (done >= total) fputc('\n', stderr);
  fflush(stderr);
}

int ff_cli_finish_stdout(void) {
  /* A full disk or a closed pipe shows only at the flush (stdio buffers): report it, exit 1. */
  errno = 0;
  const int bad = fflush(stdout) != 0 || ferror(stdout);
  if (!bad) return FF_EXIT_OK;
  const int e = errno;
  fprintf(stderr, "fusefss: error: cannot write the output to stdout: %s\n", e ? strerror(e) : "write error");
  return FF_EXIT_FAIL;
}
