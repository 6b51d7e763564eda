/* tools/cli.c: unit parsing and formatting used by every subcommand's options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tools/cli.h"

static void test_sizes(void **state) {
  (void)state;
  uint64_t v;
  assert_int_equal(ff_parse_size("4096", &v), 0);
  assert_true(v == 4096);
  assert_int_equal(ff_parse_size("4KiB", &v), 0);
  assert_true(v == 4096);
  assert_int_equal(ff_parse_size("32MiB", &v), 0);
  assert_true(v == 33554432);
  assert_int_equal(ff_parse_size("1.5GiB", &v), 0);
  assert_true(v == 1610612736);
  assert_int_equal(ff_parse_size("1MB", &v), 0);
  assert_true(v == 1000000);
  assert_int_equal(ff_parse_size("1.5", &v), -1); /* not a whole number of bytes */
  assert_int_equal(ff_parse_size("4 parsecs", &v), -1);
  assert_int_equal(ff_parse_size("-1", &v), -1);
  assert_int_equal(ff_parse_size("", &v), -1);
}

static void test_durations_and_bandwidths(void **state) {
  (void)state;
  uint64_t ns;
  assert_int_equal(ff_parse_duration_ns("0.5ms", &ns), 0);
  assert_true(ns == 500000);
  assert_int_equal(ff_parse_duration_ns("4", &ns), 0); /* bare numbers are milliseconds */
  assert_true(ns == 4000000);
  assert_int_equal(ff_parse_duration_ns("250ns", &ns), 0);
  assert_true(ns == 250);
  assert_int_equal(ff_parse_duration_ns("2s", &ns), 0);
  assert_true(ns == 2000000000);
  assert_int_equal(ff_parse_duration_ns("2 fortnights", &ns), -1);
  double bw;
  assert_int_equal(ff_parse_bandwidth("1GB/s", &bw), 0);
  assert_true(bw == 1e9);
  assert_int_equal(ff_parse_bandwidth("400MB/s", &bw), 0);
  assert_true(bw == 4e8);
  assert_int_equal(ff_parse_bandwidth("10Gbit/s", &bw), 0);
  assert_true(bw == 1.25e9);
  assert_int_equal(ff_parse_bandwidth("0", &bw), -1);
  assert_int_equal(ff_parse_bandwidth("fast", &bw), -1);
  /* 1 B/s .. 1e18 B/s: an overflow to infinity (found by tests/fuzz/fuzz_cli), a value that does not
   * fit the channel's integer cap, or one that would truncate to 0 (no cap) is refused. */
  assert_int_equal(ff_parse_bandwidth("1e306Mbit/s", &bw), -1);
  assert_int_equal(ff_parse_bandwidth("1e20", &bw), -1);
  assert_int_equal(ff_parse_bandwidth("0.5", &bw), -1);
  assert_int_equal(ff_parse_bandwidth("1e18", &bw), 0);
  assert_true(bw == 1e18);
  assert_int_equal(ff_parse_bandwidth("8bit/s", &bw), -1); /* not a unit */
  assert_int_equal(ff_parse_bandwidth("1B/s", &bw), 0);
  assert_true(bw == 1);
}

static void test_hostport_and_ints(void **state) {
  (void)state;
  char host[64];
  int port;
  assert_int_equal(ff_parse_hostport("10.0.0.2:7000", host, sizeof host, &port, 0), 0);
  assert_string_equal(host, "10.0.0.2");
  assert_int_equal(port, 7000);
  assert_int_equal(ff_parse_hostport(":7001", host, sizeof host, &port, 0), 0);
  assert_string_equal(host, "");
  assert_int_equal(port, 7001);
  assert_int_equal(ff_parse_hostport("[::1]:7002", host, sizeof host, &port, 0), 0);
  assert_string_equal(host, "::1");
  assert_int_equal(ff_parse_hostport("host:0", host, sizeof host, &port, 0), -1);
  assert_int_equal(ff_parse_hostport("host:0", host, sizeof host, &port, 1), 0);
  assert_int_equal(ff_parse_hostport("host:70000", host, sizeof host, &port, 0), -1);
  assert_int_equal(ff_parse_hostport("host:http", host, sizeof host, &port, 0), -1);
  int cpu = -5, gpu = -5;
  assert_int_equal(ff_parse_backends("cuda", &cpu, &gpu), 0);
  assert_true(cpu == 0 && gpu == 1);
  assert_int_equal(ff_parse_backends("all", &cpu, &gpu), 0);
  assert_true(cpu == 1 && gpu == -1);
  assert_int_equal(ff_parse_backends("tpu", &cpu, &gpu), -1);
  long long v;
  assert_int_equal(ff_parse_int("12", 0, 100, &v), 0);
  assert_true(v == 12);
  assert_int_equal(ff_parse_int("12x", 0, 100, &v), -1);
  assert_int_equal(ff_parse_int("101", 0, 100, &v), -1);
}

static void test_formatting(void **state) {
  (void)state;
  char buf[32];
  assert_string_equal(ff_fmt_ns(1234567, buf, sizeof buf), "1.235 ms");
  assert_string_equal(ff_fmt_ns(2.5e9, buf, sizeof buf), "2.500 s");
  assert_string_equal(ff_fmt_ns(950, buf, sizeof buf), "950 ns");
  assert_string_equal(ff_fmt_bytes(1536, buf, sizeof buf), "1.50 KiB");
  assert_string_equal(ff_fmt_bytes(3 * 1073741824.0, buf, sizeof buf), "3.000 GiB");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_durations_and_bandwidths),
      cmocka_unit_test(test_hostport_and_ints),
      cmocka_unit_test(test_formatting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
