/* The suf gate (gates/suf/suf.h, spec.h; research/suf_spec.md) run by the dealer and both parties over
 * the in-memory channel (tests/sigma_harness.h): the packed-compare identity, every gate equal to its
 * fixed-point emulation exactly, within its stated bound of the float function over the whole legal
 * input range (exhaustive inside the window, far outside it too), measured costs equal to the cost
 * function and to the per-element figures, key length independent of the masks, the knobs. */
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
#include "gates/suf/spec.h"
#include "gates/suf/sparse.h"
#include "gates/suf/suf.h"
#include "sigma_harness.h"

/* ---- The identity behind the packed compare (suf.md §4.2) ------------------------------------------------
 * 1[x < beta] = A ^ B ^ P on k-bit values, checked for every k <= 6, x, r and beta in [0, 2^k]; this is
 * what lets one DPF key at r answer every threshold. */
static void test_packed_compare_identity(void **state) {
  (void)state;
  for (int k = 1; k <= 6; k++) {
    const uint64_t N = UINT64_C(1) << k;
    for (uint64_t x = 0; x < N; x++)
      for (uint64_t r = 0; r < N; r++)
        for (uint64_t beta = 0; beta <= N; beta++) {
          const uint64_t xh = (x + r) % N;
          const int A = ((xh - beta) & (N - 1)) < r, B = xh < r, P = xh < beta;
          if ((A ^ B ^ P) != (x < beta)) fail_msg("k %d x %llu r %llu beta %llu", k, (unsigned long long)x,
                                                  (unsigned long long)r, (unsigned long long)beta);
          assert_int_equal(A - B + P, x < beta); /* also as integers */
        }
  }
}

/* ---- Specifications ------------------------------------------------------------------------------------- */

typedef struct {
  ff_suf_fn fn;
  int bw_in, bw, e, k;
} spec_case;

static const ff_suf_spec *get(const spec_case *c) {
  const ff_suf_spec *sp = ff_suf_spec_get(c->fn, c->bw_in, c->bw, 12, c->e, c->k);
  assert_non_null(sp);
  return sp;
}

/* The input real range the spec calls legal, as ring values: signed |x| < 2^(e-1), unsigned [0, 2^e). */
static void legal_range(const ff_suf_spec *sp, int64_t *lo, int64_t *hi) {
  *lo = sp->is_signed ? -((int64_t)1 << (sp->e - 1)) : 0;
  *hi = sp->is_signed ? (int64_t)1 << (sp->e - 1) : (int64_t)1 << sp->e;
}

/* Every ulp of the window and a sweep of the legal range outside it, through the emulation: max and mean
 * |y - f(x)| against spec->err_bound. */
static void check_float_bound(const ff_suf_spec *sp) {
  int64_t lo, hi;
  legal_range(sp, &lo, &hi);
  const size_t W = (size_t)(sp->w_hi - sp->w_lo), S = 200000;
  uint64_t *x = sh_xmalloc((W + S) * sizeof *x), *y = sh_xmalloc((W + S) * sizeof *y);
  for (size_t i = 0; i < W; i++) x[i] = ff_ring_from_signed(sp->w_lo + (int64_t)i, sp->bw_in);
  ff_rng rng;
  ff_rng_init_seeded(&rng, 99);
  for (size_t i = 0; i < S; i++) {
    /* log-uniform magnitudes from the window's edge to the legal range's end, both signs where legal */
    const double u = (double)(ff_rng_u64(&rng) >> 11) / 9007199254740992.0;
    const double lim = (double)(hi - 1), edge = (double)(sp->w_hi > 0 ? sp->w_hi : 1);
    int64_t v = (int64_t)(edge * pow(lim / edge, u));
    if (i % 16 == 0) v = i % 32 == 0 ? hi - 1 - (int64_t)(i / 32) : lo + (int64_t)(i / 32);
    if (sp->is_signed && (ff_rng_u64(&rng) & 1) && v > lo) v = -v;
    if (v < lo) v = lo;
    if (v >= hi) v = hi - 1;
    x[W + i] = ff_ring_from_signed(v, sp->bw_in);
  }
  ff_suf_emulate(sp, W + S, x, y);
  double max_in = 0, max_out = 0, sum = 0;
  for (size_t i = 0; i < W + S; i++) {
    const double xf = ff_suf_input_real(sp, x[i]);
    const double yf = ldexp((double)ff_ring_signed(y[i], sp->bw), -sp->scale);
    const double err = fabs(yf - ff_suf_float(sp->fn, xf));
    const int64_t xs = sp->is_signed ? ff_ring_signed(x[i], sp->bw_in) : (int64_t)x[i];
    const int in = xs >= sp->w_lo && xs < sp->w_hi;
    if (in && err > max_in) max_in = err;
    if (!in && err > max_out) max_out = err;
    sum += err;
  }
  printf("suf %s (in %d, out %d bits, e %d, k %d, s %d): max |err| %.6f in the window (exhaustive, %zu values), "
         "%.3g outside (%zu samples to |x| = 2^%d); mean %.6f; stated bound %.6f (slope %.4f)\n",
         sp->name, sp->bw_in, sp->bw, sp->e, sp->k, sp->s, max_in, W, max_out, S, sp->e - 1 - sp->scale,
         sum / (double)(W + S), sp->err_bound, sp->lipschitz);
  assert_true(max_in <= sp->err_bound);
  assert_true(max_out <= sp->err_bound);
  free(x);
  free(y);
}

static void test_float_bounds(void **state) {
  (void)state;
  const spec_case c[] = {{FF_SUF_GELU, 50, 50, 38, 8}, {FF_SUF_GELU, 37, 37, 25, 8}, {FF_SUF_GELU, 50, 50, 38, 10},
                         {FF_SUF_GELU, 50, 50, 24, 5}, {FF_SUF_SILU, 48, 48, 36, 10}, {FF_SUF_SILU, 50, 50, 38, 8},
                         {FF_SUF_NEXP, 40, 50, 38, 10}, {FF_SUF_NEXP, 27, 37, 25, 12}};
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) check_float_bound(get(&c[i]));
}

/* ---- The gate, two parties ----------------------------------------------------------------------------------- */

/* P1's input arrives on the op's bw; the gate's input ring may be narrower (nExp reads softmax's
 * bin + 2 bits): both the mask and the masked value reduce mod 2^bw_in, which is again a masked wire. */
static ff_status suf_fn(ff_op *op, const ff_wire *x, ff_wire *y, const void *user) {
  const ff_suf_spec *sp = user;
  ff_wire xn;
  ff_status st = sh_narrow(op, x, sp->bw_in, &xn);
  if (!st) st = ff_op_suf(op, sp, &xn, y);
  sh_narrow_free(op, x, &xn);
  return st;
}

/* N inputs for sp: edges (window ends +-1, 0, the legal extremes, multiples of 2^s), a quarter
 * uniform in the window, the rest log-uniform over the legal range. Ring values of the op's bw. */
static uint64_t *gate_inputs(const ff_suf_spec *sp, int op_bw, size_t N, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  int64_t lo, hi;
  legal_range(sp, &lo, &hi);
  uint64_t *x = sh_xmalloc(N * sizeof *x);
  const int64_t edges[] = {0, 1, -1, sp->w_lo, sp->w_lo - 1, sp->w_lo + 1, sp->w_hi, sp->w_hi - 1, sp->w_hi + 1,
                           lo, hi - 1, (int64_t)1 << sp->s, ((int64_t)1 << sp->s) - 1, sp->w_lo + ((int64_t)1 << sp->s),
                           sp->w_hi - ((int64_t)1 << sp->s), 3 * sp->w_hi, -3 * sp->w_hi};
  for (size_t i = 0; i < N; i++) {
    int64_t v;
    if (i < sizeof edges / sizeof edges[0]) {
      v = edges[i];
    } else if (i % 4 == 0) {
      v = sp->w_lo + (int64_t)(ff_rng_u64(&rng) % (uint64_t)(sp->w_hi - sp->w_lo));
    } else {
      const double u = (double)(ff_rng_u64(&rng) >> 11) / 9007199254740992.0;
      v = (int64_t)pow((double)(hi - 1), u);
      if (sp->is_signed && (ff_rng_u64(&rng) & 1)) v = -v;
    }
    if (v < lo) v = lo;
    if (v >= hi) v = hi - 1;
    x[i] = ff_ring_from_signed(v, op_bw);
  }
  return x;
}

static void check_gate(const spec_case *c, size_t N) {
  const ff_suf_spec *sp = get(c);
  ff_gate_cost want;
  ff_suf_cost(sp, N, &want);
  const ff_gate_cost want2[2] = {want, want};
  uint64_t *ref = sh_xmalloc(N * sizeof *ref), *xin = sh_xmalloc(N * sizeof *xin);
  for (uint64_t seed = 1; seed <= 2; seed++) {
    uint64_t *x = gate_inputs(sp, c->bw, N, 1000 * seed + (uint64_t)c->fn);
    sh_unary u = {.N = N, .x = x, .fn = suf_fn, .user = sp};
    const sh_spec hs = {.bw = c->bw, .scale = 12, .graph = sh_unary_graph, .arg = &u};
    sh_run rr;
    sh_run_all(&hs, seed, &rr, NULL);
    sh_check_costs(&rr, want2);
    assert_int_equal(rr.party[1].n_out, N);
    assert_int_equal(rr.party[1].out_bw, c->bw);
    for (size_t i = 0; i < N; i++) xin[i] = ff_ring_reduce(x[i], c->bw_in);
    ff_suf_emulate(sp, N, xin, ref);
    for (size_t i = 0; i < N; i++)
      if (rr.party[1].out[i] != ref[i])
        fail_msg("suf %s seed %llu element %zu: x %.6f, got %lld, want %lld", sp->name, (unsigned long long)seed, i,
                 ff_suf_input_real(sp, xin[i]), (long long)ff_ring_signed(rr.party[1].out[i], c->bw),
                 (long long)ff_ring_signed(ref[i], c->bw));
    sh_run_free(&rr);
    free(x);
  }
  printf("suf %s (in %d, out %d, e %d, k %d): %zu elements x 2 seeds == emulation; key %.3f B, %llu bits, %llu "
         "rounds per element\n",
         sp->name, c->bw_in, c->bw, c->e, c->k, N, (double)want.key_bytes / (double)N,
         (unsigned long long)(want.bits_sent / N), (unsigned long long)want.rounds);
  free(ref);
  free(xin);
}

static void test_gelu(void **state) {
  (void)state;
  check_gate(&(spec_case){FF_SUF_GELU, 50, 50, 38, 8}, 600);
  check_gate(&(spec_case){FF_SUF_GELU, 37, 37, 25, 8}, 200);
  check_gate(&(spec_case){FF_SUF_GELU, 51, 51, 39, 5}, 100); /* K = 32: s = 10, a DPF carry, 8-bit lookup */
  check_gate(&(spec_case){FF_SUF_GELU, 50, 50, 20, 9}, 100); /* a narrow view */
}

static void test_silu(void **state) {
  (void)state;
  check_gate(&(spec_case){FF_SUF_SILU, 48, 48, 36, 10}, 300);
  check_gate(&(spec_case){FF_SUF_SILU, 50, 50, 38, 12}, 64);
}

static void test_nexp(void **state) {
  (void)state;
  check_gate(&(spec_case){FF_SUF_NEXP, 40, 50, 38, 10}, 400);
  check_gate(&(spec_case){FF_SUF_NEXP, 27, 37, 25, 10}, 100);
  check_gate(&(spec_case){FF_SUF_NEXP, 40, 50, 38, 16}, 40); /* s = 0: no carry */
}

/* ---- Costs --------------------------------------------------------------------------------------------------
 * Per element in eighths of a byte (N a multiple of 8), worked out by hand from suf.h's layout:
 *   GELU bw 50 e 38 k 8: DPF(38) 16*31 + 32 + 31/8 = 531.875 | 3 mask bits .375 | truth table s = 7: 16 |
 *     2 index words of 1 B | LUT DPF(8) 16*3 + 1/8 and its u mask 1/8 = 48.25 | 9 words of 7 B = 63: 661.5 B;
 *     3 + 8 + 1 + 2*50 = 112 bits.
 *   SiLU bw 48 e 36 k 10: 499.625 + .375 + 16 + 4 + (80 + 3/8 + 1/8) + 9*6 = 654.5 B; 3 + 10 + 1 + 96 = 110 bits.
 *   nExp 40 -> 50, e 38, k 10 (s 6): 531.875 + .25 + 8 + 4 + 80.5 + 6*7 = 666.625 B; 2 + 10 + 1 + 100 = 113.
 *   GELU bw 37 e 25 k 8: 16*18 + 32 + 18/8 = 322.25 + .375 + 16 + 2 + 48.25 + 9*5 = 433.875 B; 86 bits. */
static void test_cost_figures(void **state) {
  (void)state;
  const struct {
    spec_case c;
    uint64_t eighths, bits;
  } f[] = {{{FF_SUF_GELU, 50, 50, 38, 8}, 5292, 112},
           {{FF_SUF_SILU, 48, 48, 36, 10}, 5236, 110},
           {{FF_SUF_NEXP, 40, 50, 38, 10}, 5333, 113},
           {{FF_SUF_GELU, 37, 37, 25, 8}, 3471, 86}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    for (size_t N = 8; N <= 8192; N *= 8) {
      ff_gate_cost c;
      ff_suf_cost(get(&f[i].c), N, &c);
      assert_int_equal(c.key_bytes * 8, f[i].eighths * N);
      assert_int_equal(c.bits_sent, f[i].bits * N);
      assert_int_equal(c.rounds, 4);
    }
}

/* ---- Shape independence ----------------------------------------------------------------------------------
 * The dealer's streams for one specification and shape have the same length whatever the masks: deal
 * 40 times with different seeds (fresh masks, fresh inputs are irrelevant to the dealer) and compare. */
static void test_shape_independence(void **state) {
  (void)state;
  const spec_case cs[] = {{FF_SUF_GELU, 50, 50, 38, 8}, {FF_SUF_NEXP, 40, 50, 38, 10}, {FF_SUF_GELU, 51, 51, 39, 5}};
  for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
    const ff_suf_spec *sp = get(&cs[ci]);
    const size_t N = 37; /* not a multiple of 8: the bit rows' padding must not depend on masks either */
    uint64_t *x = gate_inputs(sp, cs[ci].bw, N, 5);
    sh_unary u = {.N = N, .x = x, .fn = suf_fn, .user = sp};
    const sh_spec hs = {.bw = cs[ci].bw, .scale = 12, .graph = sh_unary_graph, .arg = &u};
    size_t len0[2] = {0, 0};
    for (uint64_t seed = 1; seed <= 40; seed++) {
      sh_result dealer = {0};
      sh_keys k = {0};
      char id[32];
      snprintf(id, sizeof id, "shape-%llu", (unsigned long long)seed);
      sh_deal(&hs, seed * 7919, id, &dealer, &k);
      for (int p = 0; p < 2; p++) {
        if (seed == 1) len0[p] = k.len[p];
        assert_int_equal(k.len[p], len0[p]);
      }
      sh_keys_free(&k);
      free(dealer.out);
    }
    printf("suf %s: 40 dealings of %zu elements, key streams of %zu / %zu bytes every time\n", sp->name, N, len0[0],
           len0[1]);
    free(x);
  }
}

/* ---- Errors and knobs ------------------------------------------------------------------------------------------ */

static void test_spec_refusals(void **state) {
  (void)state;
  ff_log_set_level(FF_LOG_OFF);
  assert_null(ff_suf_spec_get(FF_SUF_GELU, 50, 50, 12, 38, 4));   /* K < 32 */
  assert_null(ff_suf_spec_get(FF_SUF_GELU, 50, 50, 12, 38, 16));  /* k above the 15-bit window */
  assert_null(ff_suf_spec_get(FF_SUF_GELU, 50, 50, 12, 15, 8));    /* the view narrower than the window */
  assert_null(ff_suf_spec_get(FF_SUF_GELU, 50, 50, 12, 51, 8));    /* the view wider than the ring */
  assert_null(ff_suf_spec_get(FF_SUF_GELU, 50, 40, 12, 38, 8));    /* a ReLU base across rings */
  assert_null(ff_suf_spec_get((ff_suf_fn)7, 50, 50, 12, 38, 8));
  ff_log_set_level(FF_LOG_WARN);
  /* The cache compiles a parameter set once. */
  const int before = ff_suf_spec_cache_size();
  const ff_suf_spec *a = ff_suf_spec_get(FF_SUF_GELU, 50, 50, 12, 38, 8), *b = ff_suf_spec_get(FF_SUF_GELU, 50, 50, 12, 38, 8);
  assert_ptr_equal(a, b);
  assert_true(ff_suf_spec_cache_size() <= before + 1);
}

static void test_wrong_input_width(void **state) {
  (void)state;
  const ff_suf_spec *sp = ff_suf_spec_get(FF_SUF_NEXP, 40, 50, 12, 38, 10);
  ff_op *op = NULL;
  const ff_op_params p = {.role = FF_OP_COST, .bw = 50, .scale = 12};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  ff_wire x = {.bw = 50, .ndim = 1, .shape = {8}, .numel = 8}, y;
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_op_suf(op, sp, &x, &y), FF_EINVAL);
  assert_int_equal(ff_op_suf(op, NULL, &x, &y), FF_EINVAL);
  ff_log_set_level(FF_LOG_WARN);
  x.bw = 40;
  assert_int_equal(ff_op_suf(op, sp, &x, &y), FF_OK);
  assert_int_equal(y.bw, 50);
  ff_gate_cost want;
  ff_suf_cost(sp, 8, &want);
  assert_int_equal(ff_op_cost(op, 0).key_bytes, want.key_bytes);
  ff_wire_free(&y);
  ff_op_destroy(op);
}

static void test_knobs(void **state) {
  (void)state;
  ff_suf_config c;
  ff_suf_config_default(&c);
  assert_int_equal(c.activation + c.softmax + c.layernorm, 3);
  assert_int_equal(c.gelu_intervals, 256);
  assert_int_equal(c.silu_intervals, 1024);
  assert_int_equal(c.nexp_bits, 10);
  assert_int_equal(c.rsqrt_bits, 13);
  assert_int_equal(ff_suf_config_e(&c, 50, 12), 38);
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_OK);
  assert_int_equal(ff_suf_config_set(&c, "SUF_GELU_INTERVALS=512"), FF_OK);
  assert_int_equal(c.gelu_intervals, 512);
  assert_int_equal(ff_suf_config_set(&c, "silu_intervals=256"), FF_OK);
  assert_int_equal(c.silu_intervals, 256);
  assert_int_equal(ff_suf_config_set(&c, "FUSEFSS_NEXP_BITS=12"), FF_OK);
  assert_int_equal(c.nexp_bits, 12);
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_suf_config_set(&c, "SUF_NO_SUCH=1"), FF_EINVAL);
  assert_int_equal(ff_suf_config_set(&c, "SUF_ACTIVATION=2"), FF_EINVAL);
  assert_int_equal(ff_suf_config_set(&c, "SUF_ACTIVATION"), FF_EINVAL);
  assert_int_equal(ff_suf_config_set(&c, "SUF_NEXP_BITS=ten"), FF_EINVAL);
  c.gelu_intervals = 300;
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_EINVAL);
  c.gelu_intervals = 256;
  c.effective_bits = 12;
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_EINVAL);
  c.effective_bits = 0;
  setenv("SUF_SOFTMAX", "0", 1);
  setenv("FUSEFSS_LAYERNORM", "0", 1);
  assert_int_equal(ff_suf_config_from_env(&c), FF_OK);
  assert_int_equal(c.softmax, 0);
  assert_int_equal(c.layernorm, 0);
  setenv("SUF_RSQRT_BITS", "99", 1);
  assert_int_equal(ff_suf_config_from_env(&c), FF_EINVAL);
  unsetenv("SUF_RSQRT_BITS");
  unsetenv("SUF_SOFTMAX");
  unsetenv("FUSEFSS_LAYERNORM");
  ff_log_set_level(FF_LOG_WARN);
  char buf[512];
  const size_t n = ff_suf_config_json(&c, buf, sizeof buf);
  assert_true(n < sizeof buf);
  assert_non_null(strstr(buf, "\"SUF_NEXP_BITS\":12"));
  assert_non_null(strstr(buf, "\"SUF_SOFTMAX\":0"));
  assert_null(strstr(buf, "insecure"));
  assert_int_equal(buf[0], '{');
  assert_int_equal(buf[strlen(buf) - 1], '}');
}

/* The sparse regime by the knobs: *_INTERVALS 2..16 (any count) selects it for that activation only,
 * 17..31 and non-powers of two above are refused, SUF_DEGREE 1 and the ablation need a sparse activation,
 * the specification the knobs select has their K, degree and view, and the JSON records the ablation. */
static void test_knobs_sparse(void **state) {
  (void)state;
  ff_suf_config c;
  ff_suf_config_default(&c);
  assert_false(ff_suf_config_sparse(&c, FF_SUF_GELU));
  assert_int_equal(ff_suf_config_set(&c, "SUF_GELU_INTERVALS=12"), FF_OK);
  assert_int_equal(ff_suf_config_set(&c, "SUF_DEGREE=1"), FF_OK);
  assert_true(ff_suf_config_sparse(&c, FF_SUF_GELU));
  assert_false(ff_suf_config_sparse(&c, FF_SUF_SILU));
  assert_false(ff_suf_config_sparse(&c, FF_SUF_NEXP));
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_OK);
  const ff_suf_sparse_spec *sp = ff_suf_sparse_spec_for(FF_SUF_GELU, &c, 50, 12);
  assert_non_null(sp);
  assert_int_equal(sp->k_window, 12);
  assert_int_equal(sp->K, 14); /* + the two tails */
  assert_int_equal(sp->window_degree, 1);
  assert_int_equal(sp->fb, FF_SUF_SPARSE_FB);
  assert_int_equal(sp->e, 38);
  assert_int_equal(sp->insecure_no_padding, 0);
  ff_log_set_level(FF_LOG_OFF);
  assert_null(ff_suf_sparse_spec_for(FF_SUF_SILU, &c, 50, 12)); /* SiLU stays dense */
  c.degree = 0;
  for (int v = 17; v < 32; v++) {
    c.gelu_intervals = v;
    assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_EINVAL);
  }
  c.gelu_intervals = 48;
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_EINVAL);
  assert_int_equal(ff_suf_config_set(&c, "SUF_GELU_INTERVALS=1"), FF_EINVAL);
  assert_int_equal(ff_suf_config_set(&c, "SUF_DEGREE=2"), FF_EINVAL);
  c.gelu_intervals = 256, c.degree = 1; /* both dense: degree 1 has nothing to apply to */
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_EINVAL);
  c.degree = 0, c.insecure_no_padding = 1;
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_EINVAL);
  c.silu_intervals = 16, c.degree = 1, c.activation = 0; /* sparse, but the activations are sigma's */
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_EINVAL);
  c.activation = 1, c.effective_bits = 46; /* degree 1: e + fb = 52 > bw */
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_EINVAL);
  ff_log_set_level(FF_LOG_WARN);
  c.effective_bits = 0;
  assert_int_equal(ff_suf_config_check(&c, 50, 12), FF_OK);
  sp = ff_suf_sparse_spec_for(FF_SUF_SILU, &c, 50, 12);
  assert_non_null(sp);
  assert_int_equal(sp->insecure_no_padding, 1);
  char buf[512];
  assert_true(ff_suf_config_json(&c, buf, sizeof buf) < sizeof buf);
  assert_non_null(strstr(buf, "\"SUF_SILU_INTERVALS\":16,"));
  assert_non_null(strstr(buf, "\"SUF_DEGREE\":1,"));
  assert_non_null(strstr(buf, ",\"insecure_no_padding\":1}"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_compare_identity), cmocka_unit_test(test_float_bounds),
      cmocka_unit_test(test_cost_figures),            cmocka_unit_test(test_gelu),
      cmocka_unit_test(test_silu),                    cmocka_unit_test(test_nexp),
      cmocka_unit_test(test_shape_independence),      cmocka_unit_test(test_spec_refusals),
      cmocka_unit_test(test_wrong_input_width),       cmocka_unit_test(test_knobs),
      cmocka_unit_test(test_knobs_sparse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
