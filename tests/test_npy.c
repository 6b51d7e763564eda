/* The .npy reader and writer (tools/npy.h): files written here byte by byte as numpy.lib.format lays them
 * out (versions 1.0 and 2.0, float32 and float64), read back exactly; the writer's file read back; and each
 * malformed file (wrong magic, version, dtype, big-endian, Fortran order, shapes, truncated or long data, a
 * header that is not the dictionary, a FIFO) refused with FF_EFORMAT / FF_EINVAL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/npy.h"

static char dir[64];
static const double zeros[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/ff_npy_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Writes a .npy by hand: prefix, header `dict` padded to 64 bytes (version 1: u16 length; 2: u32), data. */
static const char *put(const char *name, const char *magic, int major, const char *dict, const void *data, size_t n) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  const size_t pre = major == 1 ? 10 : 12, hl = ((pre + strlen(dict) + 1 + 63) / 64) * 64 - pre;
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  unsigned char p[12];
  memcpy(p, magic, 6);
  p[6] = (unsigned char)major;
  p[7] = 0;
  for (int i = 0; i < (major == 1 ? 2 : 4); i++) p[8 + i] = (unsigned char)(hl >> (8 * i));
  assert_int_equal(fwrite(p, 1, pre, f), pre);
  char *h = malloc(hl);
  memset(h, ' ', hl);
  memcpy(h, dict, strlen(dict));
  h[hl - 1] = '\n';
  assert_int_equal(fwrite(h, 1, hl, f), hl);
  free(h);
  if (n) assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  return path;
}

static void test_read_f32_f64(void **state) {
  (void)state;
  const float f[6] = {1.5f, -2.25f, 3e-3f, 0, 1e30f, -7};
  ff_npy a;
  const char *p = put("f32.npy", "\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, sizeof f);
  assert_int_equal(ff_npy_read(p, 0, &a), FF_OK);
  assert_int_equal(a.ndim, 2);
  assert_int_equal(a.shape[0], 2);
  assert_int_equal(a.shape[1], 3);
  for (int i = 0; i < 6; i++) assert_true(a.v[i] == (double)f[i]);
  ff_npy_free(&a);
  const double d[4] = {0.1, -1e-300, 12345.678, 2};
  p = put("f64.npy", "\x93NUMPY", 2, "{\"shape\": (1, 2, 2), \"fortran_order\": False, \"descr\": \"<f8\"}", d, sizeof d);
  assert_int_equal(ff_npy_read(p, 0, &a), FF_OK);
  assert_int_equal(a.ndim, 3);
  for (int i = 0; i < 4; i++) assert_true(a.v[i] == d[i]);
  ff_npy_free(&a);
}

static void test_write_read(void **state) {
  (void)state;
  double v[2 * 3 * 5];
  for (int i = 0; i < 30; i++) v[i] = (i - 15) * 0.125;
  char path[128];
  snprintf(path, sizeof path, "%s/w.npy", dir);
  const int64_t shape[3] = {2, 3, 5};
  assert_int_equal(ff_npy_write_f32(path, 3, shape, v), FF_OK);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_size % 64, (30 * 4) % 64); /* the header is padded to 64 bytes, as numpy's */
  ff_npy a;
  assert_int_equal(ff_npy_read(path, 0, &a), FF_OK);
  assert_int_equal(a.ndim, 3);
  assert_int_equal(a.shape[2], 5);
  for (int i = 0; i < 30; i++) assert_true(a.v[i] == v[i]);
  ff_npy_free(&a);
  assert_int_equal(ff_npy_write_f32(path, 4, shape, v), FF_EINVAL);
}

static void refused(const char *name, const char *magic, int major, const char *dict, size_t n, ff_status want) {
  ff_npy a;
  const char *p = put(name, magic, major, dict, zeros, n);
  const ff_status st = ff_npy_read(p, 0, &a);
  if (st != want) fail_msg("%s: status %d, expected %d", name, (int)st, (int)want);
  assert_null(a.v);
}

static void test_bad_files(void **state) {
  (void)state;
  const char *ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 4), }";
  refused("magic.npy", "\x93NUMPZ", 1, ok, 64, FF_EFORMAT);
  refused("version.npy", "\x93NUMPY", 4, ok, 64, FF_EFORMAT);
  refused("int.npy", "\x93NUMPY", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 4), }", 64, FF_EFORMAT);
  refused("f16.npy", "\x93NUMPY", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }", 16, FF_EFORMAT);
  refused("big.npy", "\x93NUMPY", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 4), }", 64, FF_EFORMAT);
  refused("fortran.npy", "\x93NUMPY", 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 4), }", 64, FF_EFORMAT);
  refused("short.npy", "\x93NUMPY", 1, ok, 63, FF_EFORMAT);
  refused("long.npy", "\x93NUMPY", 1, ok, 65, FF_EFORMAT);
  refused("scalar.npy", "\x93NUMPY", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8, FF_EFORMAT);
  refused("4d.npy", "\x93NUMPY", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 2, 4), }", 64, FF_EFORMAT);
  refused("zero.npy", "\x93NUMPY", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4), }", 0, FF_EFORMAT);
  refused("nodict.npy", "\x93NUMPY", 1, "shape=(2,4)", 64, FF_EFORMAT);
  refused("extra.npy", "\x93NUMPY", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 4), 'x': 1}", 64, FF_EFORMAT);
  refused("nodescr.npy", "\x93NUMPY", 1, "{'fortran_order': False, 'shape': (2, 4), }", 64, FF_EFORMAT);
  refused("struct.npy", "\x93NUMPY", 1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2, 4), }", 64, FF_EFORMAT);
  /* A header length beyond the file, and a file shorter than the prefix. */
  char path[128];
  snprintf(path, sizeof path, "%s/hl.npy", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite("\x93NUMPY\x01\x00\xff\xff{}", 1, 12, f), 12);
  assert_int_equal(fclose(f), 0);
  ff_npy a;
  assert_int_equal(ff_npy_read(path, 0, &a), FF_EFORMAT);
  f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite("\x93NUM", 1, 4, f), 4);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(ff_npy_read(path, 0, &a), FF_EFORMAT);
  /* Not a regular file, and a file over the cap. */
  snprintf(path, sizeof path, "%s/fifo.npy", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  assert_int_equal(ff_npy_read(path, 0, &a), FF_EINVAL);
  assert_int_equal(ff_npy_read(dir, 0, &a), FF_EINVAL);
  const char *p = put("cap.npy", "\x93NUMPY", 1, ok, zeros, 64);
  assert_int_equal(ff_npy_read(p, 100, &a), FF_ERANGE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read_f32_f64),
      cmocka_unit_test(test_write_read),
      cmocka_unit_test(test_bad_files),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
