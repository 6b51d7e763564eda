/* Issue 16 end to end (the binary named by $FUSEFSS): P1's input from a .npy file and its output to one
 * (`fusefss run --input / --output`), read back and compared with the fixed-point emulation computed here
 * (exactly) and with the float reference (within the bound the run states); bad .npy files refused before
 * any key is made or read; the semantics options (epsilon, tanh GELU, a weights file's config) and --scale
 * with their costs equal to the SIGMA graph's and the emulation exact; a scale that overflows refused.
 * Tests of tools/run.c and tools/npy.c (docs/running.md "Inputs and outputs", "Semantics"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "models/model.h"
#include "tools/npy.h"

static void run_ok(const char *tag, const char *const *args) {
  const int rc = finish(start(tag, args));
  if (rc != 0) fail_msg("fusefss %s: exit %d; stderr:\n%s\nstdout:\n%s", args[0], rc, slurp(tag, "err"), slurp(tag, "out"));
}

static char *path_in(const char *name) {
  static char buf[4][256];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, 256, "%s/%s", tmpdir, name);
  return p;
}

static int exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

/* The test's input: (seq, d) or (batch, seq, d) values about N(0, 1), deterministic. */
static double *make_input(size_t n, unsigned seed) {
  double *v = malloc(n * sizeof *v);
  assert_non_null(v);
  uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < n; i++) {
    double u = 0;
    for (int k = 0; k < 4; k++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      u += (double)(s >> 11) * 0x1.0p-53 - 0.5;
    }
    v[i] = u * sqrt(3.0);
  }
  return v;
}

/* The round trip on bert-tiny (batch 2, seq 5): the output file equals the emulation computed here from the
 * same (fixed-point) input and the run's seeded weights, as float32; the raw file kept by --keep-raw equals it
 * as int64; and the float reference's error is within the bound the default run is held to (0.1). */
static void test_round_trip(void **state) {
  (void)state;
  const ff_model_config *cfg = ff_model_find("bert-tiny");
  const int B = 2, T = 5, d = cfg->d_model;
  const size_t n = (size_t)B * T * d;
  double *xin = make_input(n, 7);
  const int64_t shape[3] = {B, T, d};
  const char *in = path_in("in.npy"), *out = path_in("out.npy"), *dir = path_in("run");
  assert_int_equal(ff_npy_write_f32(in, 3, shape, xin), FF_OK);
  run_ok("rt", (const char *const[]){"run", "--backend", "cpu", "--input", in, "--output", out, "--keep-raw", "--out", dir, NULL});
  const char *so = slurp("rt", "out");
  assert_non_null(strstr(so, "seq 5 batch 2"));
  assert_non_null(strstr(so, "equals the fixed-point emulation"));
  assert_non_null(strstr(so, "relative L2"));
  /* The emulation, here: the input as P1 converts it (float32 in the file, rounded to 2^-12). */
  ff_npy a;
  assert_int_equal(ff_npy_read(in, 0, &a), FF_OK);
  int64_t *x = malloc(n * sizeof *x), *ref = malloc(n * sizeof *ref);
  double *xf = malloc(n * sizeof *xf), *yf = malloc(n * sizeof *yf);
  const double one = ldexp(1.0, cfg->scale);
  for (size_t i = 0; i < n; i++) x[i] = llround(a.v[i] * one), xf[i] = (double)x[i] / one;
  ff_npy_free(&a);
  ff_model_weights w;
  assert_int_equal(ff_model_weights_random(cfg, 1, &w), FF_OK);
  assert_int_equal(ff_model_emulate(cfg, &w, T, B, x, ref), FF_OK);
  assert_int_equal(ff_model_float(cfg, &w, T, B, xf, yf), FF_OK);
  ff_model_weights_free(&w);
  ff_npy y;
  assert_int_equal(ff_npy_read(out, 0, &y), FF_OK);
  assert_int_equal(y.ndim, 3);
  assert_int_equal(y.shape[0], B);
  assert_int_equal(y.shape[1], T);
  assert_int_equal(y.shape[2], d);
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    const double e = (double)(float)((double)ref[i] / one);
    if (y.v[i] != e) fail_msg("output element %zu is %.9g, the emulation gives %.9g", i, y.v[i], e);
    const double err = fabs(y.v[i] - yf[i]);
    worst = err > worst ? err : worst;
  }
  print_message("bert-tiny batch 2 seq 5 from --input: output = emulation exactly; max |output - float| = %g (bound 0.1)\n", worst);
  assert_true(worst < 0.1);
  ff_npy_free(&y);
  /* The raw file: int64 fixed point, (batch * seq, d). */
  char raw[300];
  snprintf(raw, sizeof raw, "%s/output_p1.bin", dir);
  FILE *f = fopen(raw, "rb");
  assert_non_null(f);
  int64_t *r = malloc(n * sizeof *r);
  assert_int_equal(fread(r, sizeof *r, n, f), n);
  assert_int_equal(fgetc(f), EOF);
  fclose(f);
  assert_memory_equal(r, ref, n * sizeof *r);
  /* Without --keep-raw the raw file is not left, and a 2-D input gives a 2-D output. */
  const int64_t shape2[2] = {4, d};
  assert_int_equal(ff_npy_write_f32(in, 2, shape2, xin), FF_OK);
  run_ok("rt2", (const char *const[]){"run", "--backend", "cpu", "--input", in, "--output", out, "--out", dir, NULL});
  assert_false(exists(raw));
  assert_int_equal(ff_npy_read(out, 0, &y), FF_OK);
  assert_int_equal(y.ndim, 2);
  assert_int_equal(y.shape[0], 4);
  ff_npy_free(&y);
  free(r), free(x), free(ref), free(xf), free(yf), free(xin);
}

/* Writes a (seq, d) .npy by hand with header dict and n data bytes (zeros, or `data`). */
static const char *bad_npy(const char *name, const char *magic, const char *dict, const void *data, size_t n) {
  const char *p = path_in(name);
  const size_t hl = ((10 + strlen(dict) + 1 + 63) / 64) * 64 - 10;
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  unsigned char pre[10];
  memcpy(pre, magic, 6);
  pre[6] = 1, pre[7] = 0, pre[8] = (unsigned char)hl, pre[9] = (unsigned char)(hl >> 8);
  fwrite(pre, 1, 10, f);
  char *h = malloc(hl);
  memset(h, ' ', hl);
  memcpy(h, dict, strlen(dict));
  h[hl - 1] = '\n';
  fwrite(h, 1, hl, f);
  free(h);
  unsigned char *z = calloc(1, n ? n : 1);
  fwrite(data ? data : z, 1, n, f);
  free(z);
  assert_int_equal(fclose(f), 0);
  return p;
}

/* Each bad input: exit 1 with a message naming the file and the fault, and no key file made (local
 * pipeline) or read (party 1: the key file named does not exist, and the error is the input's). */
static void expect_refused(const char *in, const char *needle) {
  const char *dir = path_in("bad");
  expect(1, needle, (const char *const[]){"run", "--backend", "cpu", "--input", in, "--out", dir, NULL});
  assert_non_null(strstr(slurp("cmd", "err"), in));
  char k[300];
  snprintf(k, sizeof k, "%s/keys_p0.ffk", dir);
  assert_false(exists(k));
  expect(1, needle, (const char *const[]){"run", "--backend", "cpu", "--party", "1", "--peer", "127.0.0.1:9", "--keys",
                                          path_in("no-such-keys.ffk"), "--input", in, "--out", dir, NULL});
}

static void test_bad_inputs(void **state) {
  (void)state;
  const char *f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 128), }";
  const size_t n = 4 * 128 * 4;
  expect_refused(bad_npy("magic.npy", "\x93NUMPX", f4, NULL, n), "not a NumPy .npy file");
  expect_refused(bad_npy("shape.npy", "\x93NUMPY", "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 64), }", NULL,
                         4 * 64 * 4),
                 "has shape (4, 64); model bert-tiny takes (seq, 128)");
  expect_refused(bad_npy("fortran.npy", "\x93NUMPY", "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 128), }", NULL, n),
                 "Fortran");
  expect_refused(bad_npy("big.npy", "\x93NUMPY", "{'descr': '>f4', 'fortran_order': False, 'shape': (4, 128), }", NULL, n),
                 "big-endian");
  expect_refused(bad_npy("int.npy", "\x93NUMPY", "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 128), }", NULL, n),
                 "must be float32 or float64");
  expect_refused(bad_npy("trunc.npy", "\x93NUMPY", f4, NULL, n - 3), "is truncated");
  expect_refused(bad_npy("short.npy", "\x93NUMPY", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 128), }", NULL,
                         2 * 128 * 4),
                 "seq 2");
  float v[4 * 128] = {0};
  v[2 * 128 + 5] = NAN;
  expect_refused(bad_npy("nan.npy", "\x93NUMPY", f4, v, n), "element (2, 5) is NaN");
  v[2 * 128 + 5] = 0;
  v[3 * 128 + 127] = 5000.0f; /* bert-tiny: |x| < 2^(37 - 24 - 2) = 2048 */
  expect_refused(bad_npy("range.npy", "\x93NUMPY", f4, v, n), "element (3, 127) = 5000 is beyond the fixed-point range");
  /* --seq that disagrees with the file: a usage error. */
  v[3 * 128 + 127] = 0;
  const char *ok = bad_npy("ok.npy", "\x93NUMPY", f4, v, n);
  expect(2, "the input's shape sets them", (const char *const[]){"run", "--input", ok, "--seq", "8", "--out", path_in("bad"), NULL});
  expect(2, "party 1's", (const char *const[]){"run", "--party", "0", "--listen", ":9", "--input", ok, NULL});
  expect(2, "overwrite its own input", (const char *const[]){"run", "--input", ok, "--output", ok, NULL});
}

/* The link bytes and rounds of `fusefss cost` with and without extra arguments (as text of the total row). */
static void cost_total(const char *tag, const char *const *extra, char *buf, size_t n) {
  const char *args[32] = {"cost", "--format", "csv", "--model", "gpt2", "--layers", "1", "--seq", "6"};
  int k = 9;
  for (int i = 0; extra[i]; i++) args[k++] = extra[i];
  args[k] = NULL;
  run_ok(tag, args);
  const char *t = strstr(slurp(tag, "out"), "\"total (one inference)\"");
  assert_non_null(t);
  snprintf(buf, n, "%.*s", (int)strcspn(t, "\n"), t);
}

/* The semantics cost nothing: the cost model's totals (key bytes, link bytes, rounds) are SIGMA's, and a run
 * with them is exact against the emulation and equal to its cost model in every scope (the run checks both
 * and exits 1 otherwise). Its float reference uses them too (recorded in the output line). */
static void test_semantics(void **state) {
  (void)state;
  char base[512], sem[512];
  cost_total("c0", (const char *const[]){NULL}, base, sizeof base);
  cost_total("c1", (const char *const[]){"--gelu", "tanh", "--norm-eps", "1e-5", NULL}, sem, sizeof sem);
  assert_string_equal(base, sem);
  run_ok("sem", (const char *const[]){"run", "--backend", "cpu", "--model", "gpt2", "--layers", "1", "--seq", "6", "--gelu",
                                      "tanh", "--norm-eps", "1e-5", "--out", path_in("sem"), NULL});
  const char *so = slurp("sem", "out");
  assert_non_null(strstr(so, "equals the fixed-point emulation"));
  assert_non_null(strstr(so, "norm eps 1e-05, tanh GELU"));
  /* A weights file that carries a config: the run takes it, and --semantics sigma ignores it. */
  ff_model_config c = *ff_model_find("bert-tiny");
  c.sem.norm_eps = 1e-3;
  c.sem.gelu_tanh = 1;
  ff_model_weights w;
  assert_int_equal(ff_model_weights_random(&c, 3, &w), FF_OK);
  const char *wf = path_in("w.ffw");
  assert_int_equal(ff_model_weights_save(&w, wf), FF_OK);
  ff_model_weights_free(&w);
  ff_model_semantics s;
  int found = 0;
  assert_int_equal(ff_model_weights_semantics(wf, &s, &found), FF_OK);
  assert_int_equal(found, 1);
  assert_true(s.norm_eps == 1e-3 && s.gelu_tanh == 1);
  run_ok("wsem", (const char *const[]){"run", "--backend", "cpu", "--seq", "4", "--weights", wf, "--out", path_in("wsem"), NULL});
  assert_non_null(strstr(slurp("wsem", "out"), "norm eps 0.001, tanh GELU, rope base 10000; weights file's config"));
  run_ok("wsig", (const char *const[]){"run", "--backend", "cpu", "--seq", "4", "--weights", wf, "--semantics", "sigma",
                                       "--out", path_in("wsig"), NULL});
  assert_non_null(strstr(slurp("wsig", "out"), "norm eps 0, erf GELU, rope base 10000; SIGMA's defaults"));
  /* Keys dealt with one semantics refuse a party run with another (before going online). */
  const char *kd = path_in("keys");
  run_ok("kg", (const char *const[]){"keygen", "--backend", "cpu", "--seq", "4", "--norm-eps", "1e-4", "--out", kd, NULL});
  char k1[300];
  snprintf(k1, sizeof k1, "%s/keys_p1.ffk", kd);
  expect(1, "was made with norm eps 0.0001", (const char *const[]){"run", "--backend", "cpu", "--seq", "4", "--party", "1",
                                                                    "--peer", "127.0.0.1:9", "--keys", k1, "--gelu", "tanh",
                                                                    "--norm-eps", "1e-4", "--out", kd, NULL});
}

/* --scale: another scale runs exactly (the softmax at 12 inside, rescaled); one that overflows is refused. */
static void test_scale(void **state) {
  (void)state;
  run_ok("s10", (const char *const[]){"run", "--backend", "cpu", "--seq", "4", "--scale", "10", "--out", path_in("s10"), NULL});
  assert_non_null(strstr(slurp("s10", "out"), "scale 10"));
  assert_non_null(strstr(slurp("s10", "out"), "equals the fixed-point emulation"));
  run_ok("s16", (const char *const[]){"run", "--backend", "cpu", "--model", "gpt2", "--layers", "1", "--seq", "4", "--scale",
                                      "16", "--out", path_in("s16"), NULL});
  assert_non_null(strstr(slurp("s16", "out"), "equals the fixed-point emulation"));
  expect(2, "overflows model bert-tiny's 37-bit ring", (const char *const[]){"run", "--scale", "13", NULL});
  expect(2, "use scale <= 18", (const char *const[]){"cost", "--model", "gpt2", "--scale", "19", NULL});
  expect(2, "outside 7..20", (const char *const[]){"cost", "--scale", "6", NULL});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_semantics, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scale, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
