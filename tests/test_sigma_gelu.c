/* GELU and SiLU (gates/sigma/gelu.h; research/sigma.md §4 "GELU per element") run by the dealer and
 * both parties over the in-memory channel (tests/sigma_harness.h): the revealed output equals the
 * fixed-point emulation of the same steps exactly, stays within a printed bound of the float
 * function, and the measured costs equal the cost function and the exact per-element figures. */
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
#include "gates/sigma/gelu.h"
#include "gates/sigma/op.h"
#include "sigma_harness.h"

static const uint64_t seeds[] = {1, 2, 0x5eed5eedULL};

/* ---- The fixed-point emulation ------------------------------------------------------------------------ */

static double act_float(ff_sigma_act a, double x) {
  return a == FF_SIGMA_GELU ? x * 0.5 * (1 + erf(x / sqrt(2.0))) : x / (1 + exp(-x));
}

/* SIGMA's genLUT, written again here: T[i] = (u64)((max(0, x) - f(x)) 2^scale), x = i / 64. */
static void table(ff_sigma_act a, int scale, int bw, uint64_t *tab) {
  const int k = a == FF_SIGMA_GELU ? 8 : 10;
  for (int i = 0; i < (1 << k); i++) {
    const double x = i / 64.0, f = act_float(a, x);
    tab[i] = ff_ring_reduce((uint64_t)(((x > 0 ? x : 0) - f) * (double)(1 << scale)), bw);
  }
}

/* y = ReLU(x) - T[min(|floor(x / 2^(scale-6))|, 2^k - 1)] mod 2^bw. */
static uint64_t emulate(ff_sigma_act a, int bw, int scale, const uint64_t *tab, uint64_t xr) {
  const int k = a == FF_SIGMA_GELU ? 8 : 10;
  const int64_t x = ff_ring_signed(xr, bw), xt = sh_floor_div_pow2(x, scale - 6), c = ((int64_t)1 << k) - 1;
  const int64_t m = xt < 0 ? -xt : xt;
  return ff_ring_from_signed((x > 0 ? x : 0) - (int64_t)tab[m < c ? m : c], bw);
}

/* ---- The graph -------------------------------------------------------------------------------------------- */

static ff_status act_fn(ff_op *op, const ff_wire *x, ff_wire *y, const void *user) {
  return ff_op_act(op, *(const ff_sigma_act *)user, x, y);
}

/* N inputs: the window edges (|x| around 2^(scale-6) c), then half uniform in the window +-2^(k+1)
 * steps, half uniform over the whole domain |x| < 2^(bw - scale - 1), with sh_make_inputs' edges. */
static uint64_t *inputs(ff_rng *rng, size_t N, ff_sigma_act a, int bw, int scale) {
  const int k = ff_sigma_act_clip_bits(a), s = scale - 6;
  const int64_t lim = (int64_t)1 << (bw - scale - 1), c = ((int64_t)1 << k) - 1, w = (int64_t)1 << (k + 1 + s);
  uint64_t *x = sh_make_inputs(rng, N, bw, -lim, lim, s);
  uint64_t *near = sh_make_inputs(rng, N / 2, bw, -w, w, s);
  memcpy(x + N / 2, near, N / 2 * sizeof *x);
  free(near);
  const int64_t edge[] = {c << s,       (c << s) - 1, (c << s) + 1, (c + 1) << s,       ((c + 1) << s) - 1,
                          -(c << s),    -(c << s) - 1, -(c << s) + 1, -((c + 1) << s),   -((c + 1) << s) + 1,
                          -((c - 1) << s), (c - 1) << s, lim - 1,     -lim,              1 << scale};
  for (size_t i = 0; i < sizeof edge / sizeof edge[0] && 12 + i < N; i++) x[12 + i] = ff_ring_from_signed(edge[i], bw);
  return x;
}

static void check_act(ff_sigma_act a, int bw, size_t N) {
  const int scale = 12, k = ff_sigma_act_clip_bits(a);
  uint64_t *tab = sh_xmalloc(((size_t)1 << k) * sizeof *tab), *tab2 = sh_xmalloc(((size_t)1 << k) * sizeof *tab2);
  table(a, scale, bw, tab);
  assert_int_equal(ff_sigma_act_table(a, scale, bw, tab2), FF_OK);
  assert_memory_equal(tab, tab2, ((size_t)1 << k) * sizeof *tab);
  assert_int_equal(tab[0], 0);
  assert_int_equal(tab[((size_t)1 << k) - 1], 0); /* beyond the clip, f = ReLU exactly */
  ff_gate_cost want;
  ff_sigma_act_cost(N, a, bw, scale, &want);
  const ff_gate_cost want2[2] = {want, want};
  double max_err = 0, sum_err = 0, max_err_win = 0;
  size_t n_err = 0;
  for (size_t si = 0; si < 3; si++) {
    ff_rng rng;
    ff_rng_init_seeded(&rng, 700 + seeds[si] + (uint64_t)bw);
    uint64_t *x = inputs(&rng, N, a, bw, scale);
    sh_unary u = {.N = N, .x = x, .fn = act_fn, .user = &a};
    const sh_spec sp = {.bw = bw, .scale = scale, .graph = sh_unary_graph, .arg = &u};
    sh_run rr;
    sh_run_all(&sp, seeds[si], &rr, NULL);
    sh_check_costs(&rr, want2);
    assert_int_equal(rr.party[1].n_out, N);
    assert_int_equal(rr.party[1].out_bw, bw);
    for (size_t i = 0; i < N; i++) {
      const uint64_t ref = emulate(a, bw, scale, tab, x[i]);
      if (rr.party[1].out[i] != ref)
        fail_msg("%s bw %d seed %llu element %zu: x %lld, got %lld, want %lld", a ? "SiLU" : "GELU", bw,
                 (unsigned long long)seeds[si], i, (long long)ff_ring_signed(x[i], bw),
                 (long long)ff_ring_signed(rr.party[1].out[i], bw), (long long)ff_ring_signed(ref, bw));
      const double xf = (double)ff_ring_signed(x[i], bw) / 4096.0;
      const double err = fabs((double)ff_ring_signed(ref, bw) / 4096.0 - act_float(a, xf));
      if (err > max_err) max_err = err;
      if (fabs(xf) < 2 * (double)(1 << k) / 64 && err > max_err_win) max_err_win = err;
      sum_err += err;
      n_err++;
    }
    sh_run_free(&rr);
    free(x);
  }
  printf("%s bw %d: max |err| vs float %.6f (window %.6f), mean %.6f over %zu inputs; key %.3f B, %llu bits, "
         "%llu rounds per element\n",
         a ? "SiLU" : "GELU", bw, max_err, max_err_win, sum_err / (double)n_err, n_err,
         (double)want.key_bytes / (double)N, (unsigned long long)(want.bits_sent / N),
         (unsigned long long)want.rounds);
  /* |d/dx (ReLU - f)| <= 1/2 over a 1/64 step, plus the table's floor (2^-12) and the tail past the clip. */
  assert_true(max_err < 0.5 / 64 + 1.0 / 4096 + 2e-4);
  free(tab);
  free(tab2);
}

static void test_gelu(void **state) {
  (void)state;
  check_act(FF_SIGMA_GELU, 50, 256);
  check_act(FF_SIGMA_GELU, 37, 200);
  check_act(FF_SIGMA_GELU, 51, 64);
}

static void test_silu(void **state) {
  (void)state;
  check_act(FF_SIGMA_SILU, 48, 200);
}

/* ---- Costs -------------------------------------------------------------------------------------------------
 * Per element, in eighths of a byte (exact for N a multiple of 8):
 *   GELU bw 50: 32.125 + (435.125 + 2/8) + 8 + 92.125 + 40 = 607.625 B; 1+33+2+8+1+50+50 = 145 bits.
 *   GELU bw 37: 398.0 B, 106 bits; bw 51: 623.75 B, 148 bits. SiLU bw 48: 615.375 B (mux 16 B), 141 bits.
 * sigma.md's table says 611.6 / 402.0 / 627.8 / 619.4: 4 B more than SIGMA's key layout at every width. */
static void test_cost_figures(void **state) {
  (void)state;
  const struct {
    ff_sigma_act a;
    int bw;
    uint64_t eighths, bits, sigma_md_eighths;
  } f[] = {{FF_SIGMA_GELU, 50, 4861, 145, 4893}, {FF_SIGMA_GELU, 37, 3184, 106, 3216},
           {FF_SIGMA_GELU, 51, 4990, 148, 5022}, {FF_SIGMA_SILU, 48, 4923, 141, 4955}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    for (size_t N = 8; N <= 8192; N *= 8) {
      ff_gate_cost c;
      ff_sigma_act_cost(N, f[i].a, f[i].bw, 12, &c);
      assert_int_equal(8 * c.key_bytes, f[i].eighths * N);
      assert_int_equal(f[i].sigma_md_eighths - f[i].eighths, 32); /* the 4 B discrepancy, documented */
      assert_int_equal(c.bits_sent, f[i].bits * N);
      assert_int_equal(8 * c.bytes_sent, c.bits_sent); /* N a multiple of 8: every message whole bytes */
      assert_int_equal(c.rounds, 7);
    }
  ff_gate_cost g, s;
  ff_sigma_gelu_cost(64, 50, 12, &g);
  ff_sigma_act_cost(64, FF_SIGMA_GELU, 50, 12, &s);
  assert_memory_equal(&g, &s, sizeof g);
  ff_sigma_silu_cost(64, 48, 12, &g);
  ff_sigma_act_cost(64, FF_SIGMA_SILU, 48, 12, &s);
  assert_memory_equal(&g, &s, sizeof g);
}

/* Odd N: the bit rows and the packed messages end inside a byte. */
static void test_odd_shapes(void **state) {
  (void)state;
  check_act(FF_SIGMA_GELU, 50, 37);
  check_act(FF_SIGMA_SILU, 48, 13);
}

/* Scopes: Activation::GELU holds the whole gate (7 rounds, 145 bits a element, whole bytes at N = 64)
 * with TruncRescale (2 rounds) and its own 3 reconstructs nested in it. */
static void test_scopes(void **state) {
  (void)state;
  const size_t N = 64;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 5);
  uint64_t *x = inputs(&rng, N, FF_SIGMA_GELU, 50, 12);
  ff_sigma_act a = FF_SIGMA_GELU;
  sh_unary u = {.N = N, .x = x, .fn = act_fn, .user = &a};
  const sh_spec sp = {.bw = 50, .scale = 12, .graph = sh_unary_graph, .arg = &u};
  ff_prof *prof[2];
  for (int p = 0; p < 2; p++) {
    ff_prof_opts o = {.party = p, .run_id = "test-sigma-gelu"};
    assert_int_equal(ff_prof_create(&prof[p], &o), FF_OK);
  }
  sh_run rr;
  sh_run_all(&sp, 3, &rr, prof);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  for (int p = 0; p < 2; p++) {
    const ff_prof_rep *rep = ff_prof_rep_get(prof[p], 0);
    const int g = ff_prof_find(rep, "Activation::GELU"), t = ff_prof_find(rep, "Activation::GELU/TruncRescale"),
              r = ff_prof_find(rep, "Activation::GELU/Reconstruct");
    assert_true(g >= 0 && t >= 0 && r >= 0);
    assert_int_equal(rep->nodes[g].rounds, 7);
    assert_int_equal(rep->nodes[g].sent_B, 145 * N / 8);
    assert_int_equal(rep->nodes[t].rounds, 2);
    assert_int_equal(rep->nodes[r].calls, 3);
    ff_prof_destroy(prof[p]);
  }
  sh_run_free(&rr);
  free(x);
}

/* Bad parameters are refused before any traffic. */
static void test_bad_params(void **state) {
  (void)state;
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF); /* the refusals below log on purpose */
  ff_op *op;
  ff_op_params cp = {.role = FF_OP_COST, .bw = 20, .scale = 12};
  assert_int_equal(ff_op_create(&op, &cp), FF_OK);
  const int64_t shape[1] = {8};
  ff_wire x, y;
  assert_int_equal(ff_op_input(op, 1, 1, shape, NULL, &x), FF_OK);
  assert_int_equal(ff_op_gelu(op, &x, &y), FF_EINVAL); /* truncated ring 20 - 24 + 7 = 3 bits */
  assert_int_equal(ff_op_act(op, (ff_sigma_act)7, &x, &y), FF_EINVAL);
  ff_wire_free(&x);
  ff_op_destroy(op);
  assert_int_equal(ff_sigma_act_table((ff_sigma_act)7, 12, 50, NULL), FF_EINVAL);
  ff_log_set_level(saved);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cost_figures), cmocka_unit_test(test_gelu),       cmocka_unit_test(test_silu),
      cmocka_unit_test(test_odd_shapes),   cmocka_unit_test(test_scopes),
      cmocka_unit_test(test_bad_params),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
