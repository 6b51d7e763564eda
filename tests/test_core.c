/* core/: status table, ring and fixed point, randomness, tensors, backend names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "core/status.h"
#include "core/tensor.h"

static void test_status_messages(void **state) {
  (void)state;
  const ff_status all[] = {FF_OK, FF_EINVAL, FF_ENOMEM, FF_EIO, FF_ENOENT, FF_EFORMAT, FF_EMISMATCH, FF_ECONN,
                           FF_ETIMEDOUT, FF_EADDRINUSE, FF_EPROTO, FF_ERANGE, FF_ECUDA, FF_ENOTSUP, FF_ESTATE, FF_ECHILD};
  size_t n = sizeof all / sizeof all[0];
  for (size_t i = 0; i < n; i++) {
    assert_string_not_equal(ff_strerror(all[i]), "unknown status");
    for (size_t j = 0; j < i; j++) assert_string_not_equal(ff_strerror(all[i]), ff_strerror(all[j]));
  }
  assert_string_equal(ff_strerror((ff_status)-999), "unknown status");
  assert_string_equal(ff_status_name(FF_ETIMEDOUT), "FF_ETIMEDOUT");
}

static void test_ring(void **state) {
  (void)state;
  assert_true(ff_ring_mask(1) == 1);
  assert_true(ff_ring_mask(37) == (UINT64_C(1) << 37) - 1);
  assert_true(ff_ring_mask(64) == ~UINT64_C(0));
  /* bw 50: 2^49 is the most negative value, 2^49 - 1 the most positive. */
  assert_true(ff_ring_signed(UINT64_C(1) << 49, 50) == -(INT64_C(1) << 49));
  assert_true(ff_ring_signed((UINT64_C(1) << 49) - 1, 50) == (INT64_C(1) << 49) - 1);
  assert_true(ff_ring_signed(ff_ring_mask(50), 50) == -1);
  assert_true(ff_ring_signed(~UINT64_C(0), 64) == -1);
  assert_true(ff_ring_from_signed(-1, 37) == ff_ring_mask(37));
  /* Fixed point, scale 12: 1.5 -> 6144; -0.25 -> 2^50 - 1024; rounding half away from zero. */
  assert_true(ff_fixed_encode(1.5, 50, 12) == 6144);
  assert_true(ff_fixed_encode(-0.25, 50, 12) == (UINT64_C(1) << 50) - 1024);
  assert_true(ff_fixed_encode(0.5 / 4096.0, 50, 12) == 1);
  assert_true(ff_fixed_encode(-0.5 / 4096.0, 50, 12) == ff_ring_mask(50));
  assert_true(ff_fixed_decode(6144, 50, 12) == 1.5);
  assert_true(ff_fixed_decode((UINT64_C(1) << 50) - 1024, 50, 12) == -0.25);
  assert_true(ff_ring_params_valid(50, 12));
  assert_false(ff_ring_params_valid(0, 0));
  assert_false(ff_ring_params_valid(65, 12));
  assert_false(ff_ring_params_valid(12, 12));
}

static void test_rng(void **state) {
  (void)state;
  ff_rng a, b, c;
  ff_rng_init_seeded(&a, 42);
  ff_rng_init_seeded(&b, 42);
  ff_rng_init_seeded(&c, 43);
  uint64_t x[16], y[16], z[16];
  assert_int_equal(ff_rng_ring(&a, x, 16, 37), FF_OK);
  assert_int_equal(ff_rng_ring(&b, y, 16, 37), FF_OK);
  assert_int_equal(ff_rng_ring(&c, z, 16, 37), FF_OK);
  assert_memory_equal(x, y, sizeof x);
  assert_memory_not_equal(x, z, sizeof x);
  uint64_t or_all = 0;
  for (int i = 0; i < 16; i++) {
    assert_true(x[i] <= ff_ring_mask(37));
    or_all |= x[i];
  }
  assert_true(or_all >> 30); /* high bits of the 37-bit ring are used */
  ff_rng os;
  ff_rng_init_os(&os);
  uint8_t buf[33];
  memset(buf, 0, sizeof buf);
  assert_int_equal(ff_rng_bytes(&os, buf, sizeof buf), FF_OK);
  int nonzero = 0;
  for (size_t i = 0; i < sizeof buf; i++) nonzero += buf[i] != 0;
  assert_true(nonzero > 0);
}

static void test_tensor(void **state) {
  (void)state;
  ff_tensor t;
  int64_t shape[2] = {3, 4};
  assert_int_equal(ff_tensor_alloc(&t, 2, shape), FF_OK);
  assert_int_equal(t.numel, 12);
  assert_true(t.data[11] == 0);
  char buf[64];
  assert_string_equal(ff_shape_str(t.ndim, t.shape, buf, sizeof buf), "(3, 4)");
  ff_tensor_free(&t);
  assert_null(t.data);
  ff_log_set_level(FF_LOG_OFF); /* the failures below log errors on purpose */
  int64_t bad[2] = {3, -1};
  assert_int_equal(ff_tensor_alloc(&t, 2, bad), FF_EINVAL);
  int64_t huge[3] = {INT64_C(1) << 30, INT64_C(1) << 30, INT64_C(1) << 30};
  assert_int_equal(ff_tensor_alloc(&t, 3, huge), FF_ERANGE);
  ff_log_set_level(FF_LOG_WARN);
}

static void test_backend_names(void **state) {
  (void)state;
  ff_backend b;
  assert_int_equal(ff_backend_parse("cpu", &b), FF_OK);
  assert_int_equal(b, FF_BACKEND_CPU);
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_backend_parse("tpu", &b), FF_EINVAL);
  ff_log_set_level(FF_LOG_WARN);
  assert_string_equal(ff_backend_name(FF_BACKEND_CUDA), "cuda");
  assert_int_equal(ff_log_parse_level("debug"), FF_LOG_DEBUG);
  assert_int_equal(ff_log_parse_level("loud"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_messages), cmocka_unit_test(test_ring), cmocka_unit_test(test_rng),
      cmocka_unit_test(test_tensor), cmocka_unit_test(test_backend_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
