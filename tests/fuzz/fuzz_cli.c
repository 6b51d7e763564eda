/* libFuzzer harness: the command-line parsers of tools/cli.c (sizes, durations, bandwidths, integers,
 * numbers, host:port, backends), the option-value parsers of the tools (groupings, conventions,
 * metrics) and the suf knobs (--suf NAME=VALUE, gates/suf/spec.h). The input is one option value; each parser's result is checked against its contract
 * (a size is a whole number of bytes, a duration fits 1e18 ns, a bandwidth is in 1 .. 1e18 B/s,
 * a port is in range). Seeds: the examples of `fusefss --help` and docs (tests/fuzz/fuzz_seeds.c).
 * docs/fuzzing.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gates/suf/spec.h"
#include "tools/lib/analysis.h"
#include "tools/cli.h"
#include "fuzz_util.h"

#define CHECK(cond)                                                                                         \
  do {                                                                                                      \
    if (!(cond)) __builtin_trap();                                                                          \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  uint64_t u = 0;
  double d = 0;
  long long ll = 0;
  if (ff_parse_size(s, &u) == 0) CHECK(u <= (uint64_t)1.8e19);
  if (ff_parse_duration_ns(s, &u) == 0) CHECK(u <= (uint64_t)1e18);
  if (ff_parse_bandwidth(s, &d) == 0) CHECK(d >= 1 && d <= 1e18);
  if (ff_parse_double(s, &d) == 0) CHECK(isfinite(d));
  if (ff_parse_int(s, -1000, 1000, &ll) == 0) CHECK(ll >= -1000 && ll <= 1000);
  if (ff_parse_int(s, INT64_MIN, INT64_MAX, &ll) == 0) CHECK(1);
  char host[64];
  int port = -1;
  if (ff_parse_hostport(s, host, sizeof host, &port, 0) == 0) CHECK(port >= 1 && port <= 65535 && strlen(host) < sizeof host);
  if (ff_parse_hostport(s, host, sizeof host, &port, 1) == 0) CHECK(port >= 0 && port <= 65535);
  int cpu = -2, gpu = -2;
  if (ff_parse_backends(s, &cpu, &gpu) == 0) CHECK(cpu >= 0 && gpu >= -1);
  (void)ff_group_by_parse(s);
  (void)ff_convention_parse(s);
  (void)ff_metric_parse(s);
  ff_suf_config suf;
  ff_suf_config_default(&suf);
  if (ff_suf_config_set(&suf, s) == FF_OK) {
    char js[1024];
    (void)ff_suf_config_json(&suf, js, sizeof js);
    (void)ff_suf_config_check(&suf, 37, 12);
    (void)ff_suf_config_e(&suf, 50, 12);
  }
  char buf[64];
  if (ff_parse_double(s, &d) == 0) {
    (void)ff_fmt_ns(d, buf, sizeof buf);
    (void)ff_fmt_bytes(d, buf, sizeof buf);
  }
  free(s);
  return 0;
}
