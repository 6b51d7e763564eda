/* The rotary embedding (gates/sigma/rotary.h; research/sigma.md §4 "Attention") run by the dealer and
 * both parties over the in-memory channel (tests/sigma_harness.h): the revealed output equals the
 * fixed-point emulation of the same steps exactly, stays within a printed bound of the float rotary,
 * and the measured costs equal the cost function and the exact per-element figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/op.h"
#include "gates/sigma/rotary.h"
#include "sigma_harness.h"

enum { SCALE = 12, F = SCALE - 3 };

/* ---- The fixed-point emulation ------------------------------------------------------------------------ */

static double angle(int t, int k, int d) { return (double)t / pow(10000.0, 2.0 * k / (double)d); }

/* The table written again: toward zero at F bits, 2^F clamped to 2^F - 1. */
static void table(int T, int d, int64_t *cs, int64_t *sn) {
  const int h = d / 2;
  for (int t = 0; t < T; t++)
    for (int k = 0; k < h; k++) {
      const double c = trunc(cos(angle(t, k, d)) * (double)(1 << F)), s = trunc(sin(angle(t, k, d)) * (double)(1 << F));
      cs[t * h + k] = (int64_t)c - (c == (double)(1 << F));
      sn[t * h + k] = (int64_t)s - (s == (double)(1 << F));
    }
}


/* ---- The graph: P1 inputs x (H, T, d), rotary, reveal ----------------------------------------------------- */

typedef struct {
  int64_t shape[3];
  const uint64_t *x;
} rot_arg;

static ff_status rot_graph(ff_op *op, const void *arg, sh_result *r) {
  const rot_arg *a = arg;
  ff_wire x = {0}, y = {0};
  ff_gate_cost before[2];
  ff_status st;
  if ((st = ff_op_input(op, 1, 3, a->shape, a->x, &x))) goto done;
  sh_gate_begin(op, before);
  if ((st = ff_op_rotary(op, &x, &y))) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

static void check_rotary(int bw, int H, int T, int d) {
  const size_t N = (size_t)H * T * d, rows = (size_t)H * T, nt = (size_t)T * (d / 2);
  int64_t *cs = sh_xmalloc(2 * nt * sizeof *cs), *cs2 = sh_xmalloc(2 * nt * sizeof *cs2);
  table(T, d, cs, cs + nt);
  assert_int_equal(ff_sigma_rotary_table(T, d, F, cs2, cs2 + nt), FF_OK);
  assert_memory_equal(cs, cs2, 2 * nt * sizeof *cs);
  assert_int_equal(cs[0], (1 << F) - 1); /* t = 0: cos 1 clamped, sin 0 */
  assert_int_equal(cs[nt], 0);
  ff_gate_cost want[2];
  ff_sigma_rotary_cost(N, bw, SCALE, want);
  uint64_t *ref = sh_xmalloc(N * sizeof *ref);
  /* Two ranges: realistic activations |x| < 8, and the largest the slack allows, |x| < 2^(bw-4-F) raw. */
  const int64_t lims[2] = {(int64_t)8 << SCALE, (int64_t)1 << (bw - 4 - F)};
  for (int ri = 0; ri < 2; ri++) {
    ff_rng rng;
    ff_rng_init_seeded(&rng, 900 + (uint64_t)(bw * 1000 + T * 10 + d + ri));
    uint64_t *x = sh_make_inputs(&rng, N, bw, -lims[ri], lims[ri], F);
    const rot_arg a = {{H, T, d}, x};
    const sh_spec sp = {.bw = bw, .scale = SCALE, .graph = rot_graph, .arg = &a};
    sh_run rr;
    sh_run_all(&sp, 11 + (uint64_t)ri, &rr, NULL);
    sh_check_costs(&rr, want);
    assert_int_equal(rr.party[1].n_out, N);
    assert_int_equal(rr.party[1].out_bw, bw);
    sh_rotary_reference(bw, F, rows, T, d, cs, cs + nt, x, ref);
    double max_err = 0, max_rel = 0;
    for (size_t i = 0; i < N; i++) {
      if (rr.party[1].out[i] != ref[i])
        fail_msg("bw %d H %d T %d d %d range %d element %zu: got %lld, want %lld", bw, H, T, d, ri, i,
                 (long long)ff_ring_signed(rr.party[1].out[i], bw), (long long)ff_ring_signed(ref[i], bw));
      /* Float rotary: y_j = cos x_j -+ sin x_partner. Bound: table error < 2^-F per term times |x|, plus
       * the floor's 2^-SCALE. */
      const size_t r = i / (size_t)d;
      const int j = (int)(i % (size_t)d), h = d / 2, k = j % h, t = (int)(r % (size_t)T);
      const double xj = (double)ff_ring_signed(x[i], bw) / (1 << SCALE);
      const double xp = (double)ff_ring_signed(x[r * d + (j + h) % d], bw) / (1 << SCALE);
      const double th = angle(t, k, d), yf = cos(th) * xj + (j < h ? -sin(th) : sin(th)) * xp;
      const double err = fabs((double)ff_ring_signed(ref[i], bw) / (1 << SCALE) - yf);
      const double bound = (fabs(xj) + fabs(xp)) / (1 << F) + 1.0 / (1 << SCALE) + 1e-9;
      if (err > bound) fail_msg("element %zu: float error %g > bound %g", i, err, bound);
      if (err > max_err) max_err = err;
      if (err / bound > max_rel) max_rel = err / bound;
    }
    printf("rotary bw %d H %d T %d d %d |x| < %g: max |err| vs float %.3g (max err/bound %.3f)\n", bw, H, T, d,
           (double)lims[ri] / (1 << SCALE), max_err, max_rel);
    sh_run_free(&rr);
    free(x);
  }
  free(ref);
  free(cs);
  free(cs2);
}

static void test_cost_figures(void **state) {
  (void)state;
  ff_gate_cost c[2];
  /* bw 50, scale 12, f = 9: DCF(9) 64.25 + 1/8 + 24 = 88.375 B/elem; 51 bits; 2 rounds. */
  ff_sigma_rotary_cost(8000, 50, SCALE, c);
  for (int p = 0; p < 2; p++) {
    assert_int_equal(c[p].key_bytes, 8000 / 8 * 707);
    assert_int_equal(c[p].bits_sent, 8000 * 51);
    assert_int_equal(c[p].bytes_sent, 1000 + 8000 * 50 / 8);
    assert_int_equal(c[p].rounds, 2);
  }
  ff_sigma_rotary_cost(8000, 48, SCALE, c); /* Llama's bw 48 */
  assert_int_equal(c[0].key_bytes, 8000 / 8 * 707);
  assert_int_equal(c[0].bits_sent, 8000 * 49);
  /* Q and K (two calls, as SIGMA's attention): 2 x 88.375 B/elem, 4 rounds, cost-only. */
  ff_op *op = NULL;
  const ff_op_params p = {.role = FF_OP_COST, .bw = 48, .scale = SCALE};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  const int64_t shape[3] = {32, 128, 128};
  ff_wire q = {0}, k = {0}, qr = {0}, kr = {0};
  assert_int_equal(ff_op_input(op, 0, 3, shape, NULL, &q), FF_OK);
  assert_int_equal(ff_op_input(op, 0, 3, shape, NULL, &k), FF_OK);
  const ff_gate_cost b = ff_op_cost(op, 1);
  assert_int_equal(ff_op_rotary(op, &q, &qr), FF_OK);
  assert_int_equal(ff_op_rotary(op, &k, &kr), FF_OK);
  const ff_gate_cost g = sh_cost_sub(ff_op_cost(op, 1), b);
  const uint64_t N = 32 * 128 * 128;
  assert_int_equal(g.key_bytes, 2 * N / 8 * 707);
  assert_int_equal(g.bits_sent, 2 * N * 49);
  assert_int_equal(g.rounds, 4);
  ff_wire_free(&q), ff_wire_free(&k), ff_wire_free(&qr), ff_wire_free(&kr);
  ff_op_destroy(op);
  /* The scope is registered in family Linear (rotary.h). */
  const int id = ff_scope_register("Rotary", "Linear");
  assert_true(id >= 0);
  assert_string_equal(ff_scope_family(id), "Linear");
}

static void test_rotary_t16(void **state) {
  (void)state;
  check_rotary(48, 2, 16, 64);
  check_rotary(48, 2, 16, 128);
}

static void test_rotary_t128(void **state) {
  (void)state;
  check_rotary(48, 1, 128, 64);
  check_rotary(48, 1, 128, 128);
  check_rotary(50, 1, 128, 128);
}

static void test_bad_params(void **state) {
  (void)state;
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  ff_op *op = NULL;
  const ff_op_params p = {.role = FF_OP_COST, .bw = 48, .scale = SCALE};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  ff_wire x = {0}, y = {0};
  const int64_t odd[2] = {4, 7}, one[1] = {8};
  assert_int_equal(ff_op_input(op, 0, 2, odd, NULL, &x), FF_OK);
  assert_int_equal(ff_op_rotary(op, &x, &y), FF_EINVAL);
  ff_wire_free(&x);
  assert_int_equal(ff_op_input(op, 0, 1, one, NULL, &x), FF_OK);
  assert_int_equal(ff_op_rotary(op, &x, &y), FF_EINVAL);
  ff_wire_free(&x);
  ff_op_destroy(op);
  int64_t t[2];
  assert_int_equal(ff_sigma_rotary_table(1, 3, F, t, t), FF_EINVAL);
  assert_int_equal(ff_sigma_rotary_table(1, 2, 0, t, t), FF_EINVAL);
  ff_log_set_level(saved);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cost_figures),
      cmocka_unit_test(test_rotary_t16),
      cmocka_unit_test(test_rotary_t128),
      cmocka_unit_test(test_bad_params),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
