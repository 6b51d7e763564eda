/* The sparse suf regime (gates/suf/sparse.h; research/suf_origin.md §7 B.5, C.10, D; suf.md §5) run by the
 * dealer and both parties over the in-memory channel (tests/sigma_harness.h): the padded partition and the
 * step encoding exhaustively on narrow views, every gate equal to its emulation exactly (edges, the legal
 * range, far outside it), the built-ins within their stated float bounds (exhaustive in the window),
 * measured costs equal to the cost function and to hand-worked figures, key length independent of the
 * masks, and the --insecure-no-padding ablation: still correct, key length now mask-dependent, its cost
 * against the padded gate's, its warning and its tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/dcf.h"
#include "gates/sigma/op.h"
#include "gates/suf/sparse.h"
#include "sigma_harness.h"

/* ---- Specifications ------------------------------------------------------------------------------------- */

static const ff_suf_sparse_spec *builtin(ff_suf_fn fn, int bw_in, int bw, int e, int kw, int degree, int insecure) {
  const ff_suf_sparse_params p = {.fn = fn, .bw_in = bw_in, .bw = bw, .scale = 12, .e = e, .k_window = kw,
                                  .degree = degree, .fb = degree ? FF_SUF_SPARSE_FB : 0,
                                  .insecure_no_padding = insecure};
  const ff_suf_sparse_spec *sp = ff_suf_sparse_spec_get(&p);
  assert_non_null(sp);
  return sp;
}

/* A random custom table on a narrow view: K distinct starts (alpha_0 = 0; with `runs`, a run of starts one
 * apart so that pieces of length 1 occur), small coefficients so that no piece reaches 2^(bw-1). */
static void custom(ff_suf_sparse_spec *sp, int bw_in, int bw, int e, int is_signed, int K, int fb, int slopes,
                   int runs, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  memset(sp, 0, sizeof *sp);
  *sp = (ff_suf_sparse_spec){.name = "custom", .fn = FF_SUF_NFN, .bw_in = bw_in, .bw = bw, .scale = 4, .e = e,
                             .is_signed = is_signed, .K = K, .fb = fb};
  const uint64_t E = UINT64_C(1) << e;
  int n = 1;
  sp->alpha[0] = 0;
  if (runs)
    for (; n < K / 2; n++) sp->alpha[n] = (uint64_t)n; /* starts 0, 1, 2, ...: pieces of length 1 */
  while (n < K) {
    const uint64_t a = ff_rng_u64(&rng) % E;
    int dup = 0;
    for (int i = 0; i < n; i++) dup |= sp->alpha[i] == a;
    if (!dup) sp->alpha[n++] = a;
  }
  for (int i = 1; i < K; i++) /* insertion sort */
    for (int j = i; j > 0 && sp->alpha[j] < sp->alpha[j - 1]; j--) {
      const uint64_t t = sp->alpha[j];
      sp->alpha[j] = sp->alpha[j - 1];
      sp->alpha[j - 1] = t;
    }
  for (int i = 0; i < K; i++) {
    sp->a[i] = ff_ring_from_signed((int64_t)(ff_rng_u64(&rng) % 2001) - 1000, bw);
    sp->b[i] = slopes ? ff_ring_from_signed((int64_t)(ff_rng_u64(&rng) % 61) - 30, bw) : 0;
  }
  assert_int_equal(ff_suf_sparse_spec_check(sp), FF_OK);
}

/* ---- The partition and the step encoding (exhaustive on narrow views) -----------------------------------
 * For every view mask rho: the padded partition has exactly K + 1 pieces from 0, strictly rising; the
 * unpadded one K + 1 or K, K exactly when a start lands on 0; both put every v^ in the piece of v = v^ - rho;
 * and out(v^) = v_{M-1} + sum_j (v_j - v_{j+1}) [v^ < B_{j+1}] gives that piece's payload. */
static void check_partitions(const ff_suf_sparse_spec *sp) {
  const uint64_t E = UINT64_C(1) << sp->e, em = E - 1;
  uint64_t starts[FF_SUF_SPARSE_MAX_PIECES + 1];
  int piece[FF_SUF_SPARSE_MAX_PIECES + 1];
  size_t nowrap = 0;
  for (uint64_t rho = 0; rho < E; rho++) {
    int on_zero = 0;
    for (int i = 0; i < sp->K; i++) on_zero |= ((sp->alpha[i] + rho) & em) == 0;
    nowrap += (size_t)on_zero;
    for (int pad = 0; pad < 2; pad++) {
      const int M = ff_suf_sparse_partition(sp, rho, pad, starts, piece);
      assert_int_equal(M, pad || !on_zero ? sp->K + 1 : sp->K);
      assert_int_equal(starts[0], 0);
      for (int j = 1; j < M; j++) assert_true(starts[j] > starts[j - 1] && starts[j] < E);
      int j = 0;
      for (uint64_t vh = 0; vh < E; vh++) {
        while (j + 1 < M && starts[j + 1] <= vh) j++;
        const uint64_t v = (vh - rho) & em;
        int want = 0;
        while (want + 1 < sp->K && sp->alpha[want + 1] <= v) want++;
        if (piece[j] != want)
          fail_msg("K %d e %d rho %llu pad %d: v^ %llu in rotated piece %d (original %d), want %d", sp->K, sp->e,
                   (unsigned long long)rho, pad, (unsigned long long)vh, j, piece[j], want);
        uint64_t out = (uint64_t)(piece[M - 1] * 7 + 3); /* payload v_j = 7 piece + 3 */
        for (int q = 0; q + 1 < M; q++)
          if (vh < starts[q + 1]) out += (uint64_t)(piece[q] * 7 + 3) - (uint64_t)(piece[q + 1] * 7 + 3);
        assert_int_equal(out, (uint64_t)(want * 7 + 3));
      }
    }
  }
  printf("partition K %d e %d: %llu masks x %llu points, padded always %d pieces; unpadded %d pieces on %zu masks "
         "(a start on 0), %d on the rest\n",
         sp->K, sp->e, (unsigned long long)E, (unsigned long long)E, sp->K + 1, sp->K, nowrap, sp->K + 1);
}

/* The same on a wide view, for masks that put each start on 0 (and next to it) and random ones, at each
 * rotated start, just below it and at random points. */
static void check_partitions_sampled(const ff_suf_sparse_spec *sp, size_t n_random) {
  const uint64_t em = ff_ring_mask(sp->e);
  uint64_t starts[FF_SUF_SPARSE_MAX_PIECES + 1];
  int piece[FF_SUF_SPARSE_MAX_PIECES + 1];
  ff_rng rng;
  ff_rng_init_seeded(&rng, 17);
  const size_t n_rho = 3 * (size_t)sp->K + n_random;
  for (size_t t = 0; t < n_rho; t++) {
    const uint64_t rho = t < 3 * (size_t)sp->K ? (0 - sp->alpha[t / 3] + (t % 3) - 1) & em : ff_rng_u64(&rng) & em;
    int on_zero = 0;
    for (int i = 0; i < sp->K; i++) on_zero |= ((sp->alpha[i] + rho) & em) == 0;
    for (int pad = 0; pad < 2; pad++) {
      const int M = ff_suf_sparse_partition(sp, rho, pad, starts, piece);
      assert_int_equal(M, pad || !on_zero ? sp->K + 1 : sp->K);
      assert_int_equal(starts[0], 0);
      for (int j = 1; j < M; j++) assert_true(starts[j] > starts[j - 1] && starts[j] <= em);
      for (int q = 0; q < 3 * M + 8; q++) {
        const uint64_t vh = q < 3 * M ? (starts[q / 3] + (uint64_t)(q % 3) - 1) & em : ff_rng_u64(&rng) & em;
        int j = 0;
        while (j + 1 < M && starts[j + 1] <= vh) j++;
        const uint64_t v = (vh - rho) & em;
        int want = 0;
        while (want + 1 < sp->K && sp->alpha[want + 1] <= v) want++;
        assert_int_equal(piece[j], want);
      }
    }
  }
  printf("partition %s K %d e %d: %zu masks (each start on 0, and next to it), padded always %d pieces\n", sp->name,
         sp->K, sp->e, n_rho, sp->K + 1);
}

static void test_partition(void **state) {
  (void)state;
  ff_suf_sparse_spec sp;
  custom(&sp, 16, 16, 8, 1, 18, 0, 1, 0, 1);
  check_partitions(&sp);
  custom(&sp, 16, 16, 8, 0, 12, 0, 1, 1, 2); /* pieces of length 1 */
  check_partitions(&sp);
  custom(&sp, 16, 16, 6, 1, 2, 0, 1, 0, 3); /* K = 2 */
  check_partitions(&sp);
  custom(&sp, 16, 16, 5, 0, 31, 0, 0, 1, 4); /* K = 2^e - 1: one piece of length 2 to split */
  for (int i = 0; i < 31; i++) sp.alpha[i] = (uint64_t)i;
  assert_int_equal(ff_suf_sparse_spec_check(&sp), FF_OK);
  check_partitions(&sp);
  /* The built-ins' starts on their views. */
  check_partitions_sampled(builtin(FF_SUF_GELU, 50, 50, 38, 16, 1, 0), 2000);
  check_partitions_sampled(builtin(FF_SUF_NEXP, 40, 50, 38, 16, 0, 0), 2000);
}

/* ---- Float bounds -------------------------------------------------------------------------------------------
 * Every ulp of the window and a sweep of the legal range outside it, through the emulation (== the gate,
 * tested below): max |y - f(x)| inside and outside against the stated bound. */
static void legal_range(const ff_suf_sparse_spec *sp, int64_t *lo, int64_t *hi) {
  *lo = sp->is_signed ? -((int64_t)1 << (sp->e - 1)) : 0;
  *hi = sp->is_signed ? (int64_t)1 << (sp->e - 1) : (int64_t)1 << sp->e;
}

static void check_float_bound(const ff_suf_sparse_spec *sp) {
  int64_t lo, hi;
  legal_range(sp, &lo, &hi);
  const size_t W = (size_t)(sp->w_hi - sp->w_lo), S = 200000;
  uint64_t *x = sh_xmalloc((W + S) * sizeof *x), *y = sh_xmalloc((W + S) * sizeof *y);
  for (size_t i = 0; i < W; i++) x[i] = ff_ring_from_signed(sp->w_lo + (int64_t)i, sp->bw_in);
  ff_rng rng;
  ff_rng_init_seeded(&rng, 99);
  for (size_t i = 0; i < S; i++) {
    const double u = (double)(ff_rng_u64(&rng) >> 11) / 9007199254740992.0;
    const double lim = (double)(hi - 1), edge = (double)(sp->w_hi > 0 ? sp->w_hi : 1);
    int64_t v = (int64_t)(edge * pow(lim / edge, u));
    if (i % 16 == 0) v = i % 32 == 0 ? hi - 1 - (int64_t)(i / 32) : lo + (int64_t)(i / 32);
    if (sp->is_signed && (ff_rng_u64(&rng) & 1) && v > lo) v = -v;
    if (v < lo) v = lo;
    if (v >= hi) v = hi - 1;
    x[W + i] = ff_ring_from_signed(v, sp->bw_in);
  }
  ff_suf_sparse_emulate(sp, W + S, x, y);
  double max_in = 0, max_out = 0, sum_in = 0;
  size_t n_in = 0;
  for (size_t i = 0; i < W + S; i++) {
    const double xf = ff_suf_sparse_input_real(sp, x[i]);
    const double yf = ldexp((double)ff_ring_signed(y[i], sp->bw), -sp->scale);
    const double err = fabs(yf - ff_suf_float(sp->fn, xf));
    const int64_t xs = sp->is_signed ? ff_ring_signed(x[i], sp->bw_in) : (int64_t)x[i];
    if (xs >= sp->w_lo && xs < sp->w_hi) {
      sum_in += err, n_in++;
      if (err > max_in) max_in = err;
    } else if (err > max_out) {
      max_out = err;
    }
  }
  printf("suf sparse %s degree %d (in %d, out %d, e %d, %d window pieces, fb %d): max |err| %.6f in the window "
         "(exhaustive, %zu values, mean %.6f), %.3g outside (%zu samples to |x| = 2^%d); stated bound %.6f (inside "
         "%.6f, tails %.3g, slope %.4f)\n",
         sp->name, sp->window_degree, sp->bw_in, sp->bw, sp->e, sp->k_window, sp->fb, max_in, W, sum_in / (double)n_in,
         max_out, S, sp->e - 1 - sp->scale, sp->err_bound, sp->err_inside, sp->tail, sp->lipschitz);
  assert_true(max_in <= sp->err_bound);
  assert_true(max_out <= sp->err_bound);
  free(x);
  free(y);
}

static void test_float_bounds(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    check_float_bound(builtin(FF_SUF_GELU, 50, 50, 38, 16, d, 0));
    check_float_bound(builtin(FF_SUF_SILU, 50, 50, 38, 16, d, 0));
    check_float_bound(builtin(FF_SUF_GELU, 37, 37, 25, 8, d, 0));
  }
  check_float_bound(builtin(FF_SUF_NEXP, 40, 50, 38, 16, 0, 0));
  check_float_bound(builtin(FF_SUF_NEXP, 50, 50, 38, 16, 1, 0)); /* degree 1: p = 2, one ring */
  check_float_bound(builtin(FF_SUF_SILU, 48, 48, 36, 12, 1, 0)); /* pieces of unequal length (2^17 / 12) */
}

/* ---- The gate, two parties ------------------------------------------------------------------------------- */

/* The gate's input ring may be narrower than the op's (nExp): both the mask and the masked value reduce. */
static ff_status sparse_fn(ff_op *op, const ff_wire *x, ff_wire *y, const void *user) {
  const ff_suf_sparse_spec *sp = user;
  if (x->bw == sp->bw_in) return ff_op_suf_sparse(op, sp, x, y);
  ff_wire xn = *x;
  xn.bw = sp->bw_in;
  xn.v = NULL;
  if (x->v) {
    if (!(xn.v = malloc(x->numel * sizeof *xn.v))) return FF_ENOMEM;
    for (size_t i = 0; i < x->numel; i++) xn.v[i] = ff_ring_reduce(x->v[i], sp->bw_in);
  }
  const ff_status st = ff_op_suf_sparse(op, sp, &xn, y);
  free(xn.v);
  return st;
}

/* N inputs (ring values of op_bw bits): edges (0, +-1, each piece's first and last view value and their
 * neighbours, the legal extremes, the ring's), then uniform in the window (built-ins) or the view, log-uniform
 * over the legal range, and a few uniform over the whole ring (outside the view: the emulation still holds). */
static uint64_t *gate_inputs(const ff_suf_sparse_spec *sp, int op_bw, size_t N, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  int64_t lo, hi;
  legal_range(sp, &lo, &hi);
  int64_t edges[8 + 4 * FF_SUF_SPARSE_MAX_PIECES];
  size_t ne = 0;
  const int64_t rmax = op_bw >= 64 ? INT64_MAX : ((int64_t)1 << (op_bw - 1)) - 1;
  edges[ne++] = 0, edges[ne++] = 1, edges[ne++] = -1, edges[ne++] = lo, edges[ne++] = hi - 1;
  edges[ne++] = rmax, edges[ne++] = -rmax - 1, edges[ne++] = rmax / 3;
  for (int i = 0; i < sp->K; i++) {
    const int64_t s = (int64_t)sp->alpha[i] - (int64_t)sp->off;
    edges[ne++] = s, edges[ne++] = s - 1, edges[ne++] = s + 1, edges[ne++] = s + 2;
  }
  uint64_t *x = sh_xmalloc(N * sizeof *x);
  for (size_t i = 0; i < N; i++) {
    int64_t v;
    if (i < ne) {
      v = edges[i];
    } else if (i % 4 == 0) {
      v = sp->w_hi > sp->w_lo ? sp->w_lo + (int64_t)(ff_rng_u64(&rng) % (uint64_t)(sp->w_hi - sp->w_lo))
                              : lo + (int64_t)(ff_rng_u64(&rng) % (uint64_t)(hi - lo));
    } else if (i % 16 == 1) {
      x[i] = ff_ring_reduce(ff_rng_u64(&rng), op_bw);
      continue;
    } else {
      const double u = (double)(ff_rng_u64(&rng) >> 11) / 9007199254740992.0;
      v = (int64_t)pow((double)(hi - 1), u);
      if (sp->is_signed && (ff_rng_u64(&rng) & 1)) v = -v;
    }
    if (i >= ne && v < lo) v = lo;
    if (i >= ne && v >= hi) v = hi - 1;
    x[i] = ff_ring_from_signed(v, op_bw);
  }
  return x;
}

/* Runs the gate on N inputs, checks every output against the emulation; costs as the cost function when
 * the specification pads (the ablation's measured cost is checked in test_insecure_ablation). */
static void run_gate(const ff_suf_sparse_spec *sp, int op_bw, int op_scale, size_t N, uint64_t seed, sh_run *rr,
                     uint64_t **xout) {
  uint64_t *x = gate_inputs(sp, op_bw, N, 1000 * seed + (uint64_t)sp->K);
  sh_unary u = {.N = N, .x = x, .fn = sparse_fn, .user = sp};
  const sh_spec hs = {.bw = op_bw, .scale = op_scale, .graph = sh_unary_graph, .arg = &u};
  ff_log_level lv = ff_log_get_level();
  if (sp->insecure_no_padding) ff_log_set_level(FF_LOG_ERROR); /* its warnings: test_insecure_ablation */
  sh_run_all(&hs, seed, rr, NULL);
  ff_log_set_level(lv);
  assert_int_equal(rr->st[0], FF_OK);
  assert_int_equal(rr->st[1], FF_OK);
  if (!sp->insecure_no_padding) {
    ff_gate_cost want;
    ff_suf_sparse_cost(sp, N, &want);
    sh_check_costs(rr, (const ff_gate_cost[2]){want, want});
  }
  assert_int_equal(rr->party[1].n_out, N);
  uint64_t *xin = sh_xmalloc(N * sizeof *xin), *ref = sh_xmalloc(N * sizeof *ref);
  for (size_t i = 0; i < N; i++) xin[i] = ff_ring_reduce(x[i], sp->bw_in);
  ff_suf_sparse_emulate(sp, N, xin, ref);
  for (size_t i = 0; i < N; i++)
    if (rr->party[1].out[i] != ref[i])
      fail_msg("suf sparse %s seed %llu element %zu: x %.6f (ring %llx), got %lld, want %lld", sp->name,
               (unsigned long long)seed, i, ff_suf_sparse_input_real(sp, xin[i]), (unsigned long long)xin[i],
               (long long)ff_ring_signed(rr->party[1].out[i], sp->bw), (long long)ff_ring_signed(ref[i], sp->bw));
  free(xin);
  free(ref);
  if (xout) *xout = x;
  else free(x);
}

static void check_gate(const ff_suf_sparse_spec *sp, int op_bw, int op_scale, size_t N) {
  for (uint64_t seed = 1; seed <= 2; seed++) {
    sh_run rr;
    run_gate(sp, op_bw, op_scale, N, seed, &rr, NULL);
    sh_run_free(&rr);
  }
  ff_gate_cost c;
  ff_suf_sparse_cost(sp, N, &c);
  printf("suf sparse %s K %d p %d fb %d (in %d, out %d, e %d): %zu elements x 2 seeds == emulation; key %.3f B, "
         "%llu bits, %llu rounds per element\n",
         sp->name, sp->K, sp->p, sp->fb, sp->bw_in, sp->bw, sp->e, N, (double)c.key_bytes / (double)N,
         (unsigned long long)(c.bits_sent / N), (unsigned long long)c.rounds);
}

static void test_gelu_silu(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    check_gate(builtin(FF_SUF_GELU, 50, 50, 38, 16, d, 0), 50, 12, 240);
    check_gate(builtin(FF_SUF_SILU, 48, 48, 36, 16, d, 0), 48, 12, 120);
  }
  check_gate(builtin(FF_SUF_GELU, 37, 37, 25, 8, 1, 0), 37, 12, 100);
  check_gate(builtin(FF_SUF_GELU, 50, 50, 16, 4, 0, 0), 50, 12, 100); /* a narrow view: |x| >= 8 leaves it */
}

static void test_nexp_and_custom(void **state) {
  (void)state;
  check_gate(builtin(FF_SUF_NEXP, 40, 50, 38, 16, 0, 0), 50, 12, 120); /* p = 1, input ring narrower */
  check_gate(builtin(FF_SUF_NEXP, 50, 50, 38, 16, 1, 0), 50, 12, 120);
  ff_suf_sparse_spec sp;
  /* Narrow views: starts land on 0 under ~K/2^e of the masks, so the split padding runs too. */
  custom(&sp, 24, 24, 8, 1, 18, 3, 1, 0, 11);
  check_gate(&sp, 24, 4, 400);
  custom(&sp, 16, 20, 7, 0, 9, 0, 0, 1, 12); /* p = 1, pieces of length 1, input ring narrower */
  check_gate(&sp, 20, 4, 300);
  custom(&sp, 30, 30, 10, 0, 32, 0, 1, 0, 13); /* K = 32, unsigned, no ARS */
  check_gate(&sp, 30, 4, 200);
}

/* ---- Costs --------------------------------------------------------------------------------------------------
 * Per element in eighths of a byte (N a multiple of 8), worked out by hand from sparse.h and dcf.h:
 *   DCF(n, p, bw) = 16(n+1) + n/8 + ceil(bw/8) p (n+1): (38, 2, 50) 1174.75; (36, 2, 48) 1040.5; (38, 1, 50) 901.75.
 *   GELU bw 50 e 38, 16 window pieces (K = 18): degree 0: 18 x 1174.75 + 2 x 7 = 21159.5 B; 50 bits; 1 round.
 *     degree 1, fb 6: + TrFloor(50, 6) = 8 (truth table) + 16*37 + 32 + 37/8 + 2 (1/8 + 16) = 668.875: 21828.375 B;
 *     50 + 1 + 44 + 1 + 50 = 146 bits; 5 rounds.
 *   SiLU bw 48 e 36, K = 18, degree 0: 18 x 1040.5 + 2 x 6 = 18741 B; 48 bits.
 *   nExp 40 -> 50, e 38, K = 17, degree 0 (p = 1): 17 x 901.75 + 7 = 15336.75 B; 50 bits.
 *   The ablation of GELU degree 0: + 1/8 B of piece counts; K - 1 = 17 keys on a non-wrapping element. */
static void test_cost_figures(void **state) {
  (void)state;
  const struct {
    const ff_suf_sparse_spec *sp;
    uint64_t eighths, bits, rounds;
  } f[] = {{builtin(FF_SUF_GELU, 50, 50, 38, 16, 0, 0), 169276, 50, 1},
           {builtin(FF_SUF_GELU, 50, 50, 38, 16, 1, 0), 174627, 146, 5},
           {builtin(FF_SUF_SILU, 48, 48, 36, 16, 0, 0), 149928, 48, 1},
           {builtin(FF_SUF_NEXP, 40, 50, 38, 16, 0, 0), 122694, 50, 1},
           {builtin(FF_SUF_GELU, 50, 50, 38, 16, 0, 1), 169277, 50, 1}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    for (size_t N = 8; N <= 8192; N *= 8) {
      ff_gate_cost c;
      ff_suf_sparse_cost(f[i].sp, N, &c);
      assert_int_equal(c.key_bytes * 8, f[i].eighths * N);
      assert_int_equal(c.bits_sent, f[i].bits * N);
      assert_int_equal(c.rounds, f[i].rounds);
    }
  ff_gate_cost c;
  ff_suf_sparse_cost_unpadded(builtin(FF_SUF_GELU, 50, 50, 38, 16, 0, 1), 8, 8, &c);
  assert_int_equal(c.key_bytes * 8, (169277 - 9398) * 8);
}

/* ---- Shape independence ----------------------------------------------------------------------------------
 * The dealer's streams for one specification and shape have the same length whatever the masks: deal 40
 * times with different seeds and compare. On the narrow custom view about one element in 14 has a start on
 * 0 (the split branch of the padding), so both branches meet in every dealing. */
static size_t deal_lengths(const ff_suf_sparse_spec *sp, int op_bw, size_t N, uint64_t seed, size_t len[2],
                           uint64_t *gate_key) {
  uint64_t *x = gate_inputs(sp, op_bw, N, 5);
  sh_unary u = {.N = N, .x = x, .fn = sparse_fn, .user = sp};
  const sh_spec hs = {.bw = op_bw, .scale = 4, .graph = sh_unary_graph, .arg = &u};
  sh_result dealer = {0};
  sh_keys k = {0};
  char id[32];
  snprintf(id, sizeof id, "shape-%llu", (unsigned long long)seed);
  ff_log_level lv = ff_log_get_level();
  if (sp->insecure_no_padding) ff_log_set_level(FF_LOG_ERROR);
  sh_deal(&hs, seed, id, &dealer, &k);
  ff_log_set_level(lv);
  for (int p = 0; p < 2; p++) len[p] = k.len[p];
  if (gate_key) *gate_key = dealer.gate[0].key_bytes;
  sh_keys_free(&k);
  free(dealer.out);
  free(x);
  return len[0];
}

static void test_shape_independence(void **state) {
  (void)state;
  ff_suf_sparse_spec narrow;
  custom(&narrow, 24, 24, 8, 1, 18, 3, 1, 0, 21);
  const struct {
    const ff_suf_sparse_spec *sp;
    int op_bw;
  } cs[] = {{builtin(FF_SUF_GELU, 50, 50, 38, 16, 0, 0), 50},
            {builtin(FF_SUF_GELU, 50, 50, 38, 16, 1, 0), 50},
            {builtin(FF_SUF_NEXP, 40, 50, 38, 16, 0, 0), 50},
            {&narrow, 24}};
  for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
    const size_t N = 37; /* not a multiple of 8 */
    size_t len0[2] = {0, 0}, len[2];
    for (uint64_t seed = 1; seed <= 40; seed++) {
      deal_lengths(cs[ci].sp, cs[ci].op_bw, N, seed * 7919, len, NULL);
      for (int p = 0; p < 2; p++) {
        if (seed == 1) len0[p] = len[p];
        assert_int_equal(len[p], len0[p]);
      }
    }
    printf("suf sparse %s (e %d, K %d): 40 dealings of %zu elements, key streams of %zu / %zu bytes every time\n",
           cs[ci].sp->name, cs[ci].sp->e, cs[ci].sp->K, N, len0[0], len0[1]);
  }
}

/* ---- The ablation ------------------------------------------------------------------------------------------- */

/* stderr of one cost-only call of the gate, into buf. */
static void capture_warning(const ff_suf_sparse_spec *sp, char *buf, size_t cap) {
  ff_op *op = NULL;
  const ff_op_params p = {.role = FF_OP_COST, .bw = sp->bw, .scale = 12};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  ff_wire x = {.bw = sp->bw_in, .ndim = 1, .shape = {8}, .numel = 8}, y;
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  fflush(stderr);
  const int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  const ff_status st = ff_op_suf_sparse(op, sp, &x, &y);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  assert_int_equal(st, FF_OK);
  rewind(tmp);
  const size_t n = fread(buf, 1, cap - 1, tmp);
  buf[n] = 0;
  fclose(tmp);
  ff_wire_free(&y);
  ff_op_destroy(op);
}

static int count(const char *s, const char *sub) {
  int n = 0;
  for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
  return n;
}

static void test_insecure_ablation(void **state) {
  (void)state;
  ff_suf_sparse_spec padded, bare;
  custom(&padded, 24, 24, 8, 1, 18, 3, 1, 0, 31);
  bare = padded;
  bare.insecure_no_padding = 1;
  assert_int_equal(ff_suf_sparse_spec_check(&bare), FF_OK);
  const size_t N = 64;
  /* (a) Still correct, on the narrow view and on GELU at e = 38. */
  for (uint64_t seed = 1; seed <= 3; seed++) {
    sh_run rr;
    run_gate(&bare, 24, 4, 300, seed, &rr, NULL);
    sh_run_free(&rr);
  }
  const ff_suf_sparse_spec *gelu = builtin(FF_SUF_GELU, 50, 50, 38, 16, 0, 0);
  const ff_suf_sparse_spec *gelu_bare = builtin(FF_SUF_GELU, 50, 50, 38, 16, 0, 1);
  sh_run rr;
  run_gate(gelu_bare, 50, 12, 120, 7, &rr, NULL);
  sh_run_free(&rr);
  /* (b) The key length now depends on the masks; each dealing's is the exact unpadded cost for its number
   * of non-wrapping rotations, and the padded gate's length never moves. */
  ff_gate_cost pc, bound;
  ff_suf_sparse_cost(&padded, N, &pc);
  ff_suf_sparse_cost(&bare, N, &bound);
  size_t len[2], lmin = SIZE_MAX, lmax = 0, plen0 = 0, nowrap_total = 0;
  uint64_t bare_key_total = 0;
  const int dealings = 40;
  for (int s = 1; s <= dealings; s++) {
    uint64_t gk = 0;
    const size_t l = deal_lengths(&bare, 24, N, (uint64_t)s * 104729, len, &gk);
    if (l < lmin) lmin = l;
    if (l > lmax) lmax = l;
    size_t nowrap = N + 1;
    for (size_t n = 0; n <= N && nowrap > N; n++) {
      ff_gate_cost c;
      ff_suf_sparse_cost_unpadded(&bare, N, n, &c);
      if (c.key_bytes == gk) nowrap = n;
    }
    assert_true(nowrap <= N);
    assert_true(gk <= bound.key_bytes);
    nowrap_total += nowrap;
    bare_key_total += gk;
    const size_t pl = deal_lengths(&padded, 24, N, (uint64_t)s * 104729, len, &gk);
    if (s == 1) plen0 = pl;
    assert_int_equal(pl, plen0);
    assert_int_equal(gk, pc.key_bytes);
  }
  assert_true(lmin < lmax);
  /* (c) What padding costs: one DCF key on each element whose rotation does not wrap. */
  const double dcf_key = (double)ff_dcf_key_bytes(padded.e, padded.p, padded.bw, 8) / 8;
  printf("ablation, K %d e %d, %d dealings of %zu elements: unpadded key streams %zu..%zu bytes (the leak), padded "
         "%zu every time; %zu of %zu rotations did not wrap (expected K/2^e = %.4f of them); key per element: padded "
         "%.3f B, unpadded %.3f B on average (padding costs %.3f B = one %.3f-B DCF key per non-wrapping element)\n",
         padded.K, padded.e, dealings, N, lmin, lmax, plen0, nowrap_total, (size_t)dealings * N,
         (double)padded.K / (double)(1u << padded.e), (double)pc.key_bytes / (double)N,
         (double)bare_key_total / (double)((size_t)dealings * N),
         ((double)pc.key_bytes * dealings - (double)bare_key_total) / (double)((size_t)dealings * N), dcf_key);
  ff_gate_cost g0, gb, gnw;
  ff_suf_sparse_cost(gelu, 8, &g0);
  ff_suf_sparse_cost(gelu_bare, 8, &gb);
  ff_suf_sparse_cost_unpadded(gelu_bare, 8, 8, &gnw);
  printf("ablation, GELU K %d e %d degree 0, per element: padded %.3f B; unpadded %.3f B when the rotation wraps, %.3f "
         "B when a start lands on 0 (probability K/2^e = %.2g): padding costs %.3f B there, %.3g B on average\n",
         gelu->K, gelu->e, (double)g0.key_bytes / 8, (double)gb.key_bytes / 8, (double)gnw.key_bytes / 8,
         (double)gelu->K / ldexp(1.0, gelu->e), (double)(g0.key_bytes - gnw.key_bytes) / 8,
         (double)(g0.key_bytes - gnw.key_bytes) / 8 * (double)gelu->K / ldexp(1.0, gelu->e));
  /* The warning, once per call, and the tag: padded keys refused by the ablation's parties. */
  char buf[4096];
  capture_warning(gelu_bare, buf, sizeof buf);
  assert_int_equal(count(buf, "insecure:"), 1);
  assert_int_equal(count(buf, "key shape depends on the mask"), 1);
  capture_warning(gelu, buf, sizeof buf);
  assert_int_equal(count(buf, "insecure"), 0);
  uint64_t *x = gate_inputs(gelu, 50, 16, 3);
  sh_unary ud = {.N = 16, .x = x, .fn = sparse_fn, .user = gelu};
  sh_unary up = {.N = 16, .x = x, .fn = sparse_fn, .user = gelu_bare};
  const sh_spec hd = {.bw = 50, .scale = 12, .graph = sh_unary_graph, .arg = &ud};
  const sh_spec hp = {.bw = 50, .scale = 12, .graph = sh_unary_graph, .arg = &up};
  sh_result dealer = {0}, res[2];
  sh_keys k;
  uint64_t sb[2];
  ff_status st[2];
  sh_deal(&hd, 5, "tag-check", &dealer, &k);
  ff_log_set_level(FF_LOG_OFF);
  sh_run_parties(&hp, FF_BACKEND_CPU, &k, res, sb, st, NULL);
  ff_log_set_level(FF_LOG_WARN);
  assert_int_equal(st[0], FF_EMISMATCH);
  assert_int_equal(st[1], FF_EMISMATCH);
  for (int p = 0; p < 2; p++) free(res[p].out);
  free(dealer.out);
  sh_keys_free(&k);
  free(x);
}

/* ---- Scopes ----------------------------------------------------------------------------------------------------
 * The gate runs in its caller's scope: the lookup (key reads, the DCFs, the sum and Horner) in
 * FSS::IntervalLookup with no traffic, then one Reconstruct, then TrFloor's TruncRescale (4 rounds). */
static ff_status gelu_scoped(ff_op *op, const ff_wire *x, ff_wire *y, const void *user) {
  FF_SCOPE("Activation::GELU");
  return ff_op_suf_sparse(op, user, x, y);
}

static void test_scopes(void **state) {
  (void)state;
  const ff_suf_sparse_spec *sp = builtin(FF_SUF_GELU, 50, 50, 38, 16, 1, 0);
  const size_t N = 64;
  uint64_t *x = gate_inputs(sp, 50, N, 9);
  sh_unary u = {.N = N, .x = x, .fn = gelu_scoped, .user = sp};
  const sh_spec hs = {.bw = 50, .scale = 12, .graph = sh_unary_graph, .arg = &u};
  ff_prof *prof[2];
  for (int p = 0; p < 2; p++) {
    ff_prof_opts o = {.party = p, .run_id = "test-suf-sparse"};
    assert_int_equal(ff_prof_create(&prof[p], &o), FF_OK);
  }
  sh_run rr;
  sh_run_all(&hs, 3, &rr, prof);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  for (int p = 0; p < 2; p++) {
    const ff_prof_rep *rep = ff_prof_rep_get(prof[p], 0);
    const int g = ff_prof_find(rep, "Activation::GELU"), l = ff_prof_find(rep, "Activation::GELU/FSS::IntervalLookup");
    const int d = ff_prof_find(rep, "Activation::GELU/FSS::IntervalLookup/FSS::DCF");
    const int r = ff_prof_find(rep, "Activation::GELU/Reconstruct");
    const int t = ff_prof_find(rep, "Activation::GELU/TruncRescale");
    assert_true(g >= 0 && l >= 0 && d >= 0 && r >= 0 && t >= 0);
    assert_int_equal(rep->nodes[g].rounds, 5);
    assert_int_equal(rep->nodes[l].rounds, 0);
    assert_int_equal(rep->nodes[l].sent_B, 0);
    assert_int_equal(rep->nodes[r].rounds, 1);
    assert_int_equal(rep->nodes[r].sent_B, 50 * N / 8);
    assert_int_equal(rep->nodes[t].rounds, 4);
    ff_prof_destroy(prof[p]);
  }
  sh_run_free(&rr);
  free(x);
}

/* ---- Refusals ------------------------------------------------------------------------------------------------ */

static void test_refusals(void **state) {
  (void)state;
  ff_log_set_level(FF_LOG_OFF);
  const ff_suf_sparse_params ok = {.fn = FF_SUF_GELU, .bw_in = 50, .bw = 50, .scale = 12, .e = 38, .k_window = 16};
  ff_suf_sparse_params p = ok;
  p.k_window = 31; /* K = 33 */
  assert_null(ff_suf_sparse_spec_get(&p));
  p = ok, p.e = 15; /* the view not wider than the window */
  assert_null(ff_suf_sparse_spec_get(&p));
  p = ok, p.bw = 40; /* the upper tail x across rings */
  assert_null(ff_suf_sparse_spec_get(&p));
  p = ok, p.fb = 3; /* degree 0 with an ARS */
  assert_null(ff_suf_sparse_spec_get(&p));
  p = ok, p.degree = 1, p.fb = 13; /* e + fb > bw: the tail x 2^fb would wrap */
  assert_null(ff_suf_sparse_spec_get(&p));
  p = ok, p.degree = 2;
  assert_null(ff_suf_sparse_spec_get(&p));
  p = ok, p.fn = (ff_suf_fn)9;
  assert_null(ff_suf_sparse_spec_get(&p));
  p = ok, p.degree = 1, p.fb = 12; /* e + fb = bw: fits */
  assert_non_null(ff_suf_sparse_spec_get(&p));
  assert_ptr_equal(ff_suf_sparse_spec_get(&ok), ff_suf_sparse_spec_get(&ok)); /* the cache */
  ff_suf_sparse_spec sp;
  custom(&sp, 24, 24, 8, 1, 18, 3, 1, 0, 41);
  ff_suf_sparse_spec bad = sp;
  bad.alpha[0] = 1;
  assert_int_equal(ff_suf_sparse_spec_check(&bad), FF_EINVAL);
  bad = sp, bad.alpha[5] = bad.alpha[4];
  assert_int_equal(ff_suf_sparse_spec_check(&bad), FF_EINVAL);
  bad = sp, bad.alpha[17] = 256;
  assert_int_equal(ff_suf_sparse_spec_check(&bad), FF_EINVAL);
  bad = sp, bad.a[3] = UINT64_C(1) << 24;
  assert_int_equal(ff_suf_sparse_spec_check(&bad), FF_EINVAL);
  bad = sp, bad.bw_in = 30;
  assert_int_equal(ff_suf_sparse_spec_check(&bad), FF_EINVAL); /* slopes across rings */
  bad = sp, bad.b[17] = UINT64_C(1) << 20;
  assert_int_equal(ff_suf_sparse_spec_check(&bad), FF_EINVAL); /* reaches 2^23 before the ARS */
  bad = sp, bad.e = 4;
  assert_int_equal(ff_suf_sparse_spec_check(&bad), FF_EINVAL); /* K >= 2^e */
  bad = sp, bad.K = 1;
  assert_int_equal(ff_suf_sparse_spec_check(&bad), FF_EINVAL);
  /* The gate: a wrong input width, an unchecked specification. */
  ff_op *op = NULL;
  const ff_op_params cp = {.role = FF_OP_COST, .bw = 24, .scale = 4};
  assert_int_equal(ff_op_create(&op, &cp), FF_OK);
  ff_wire x = {.bw = 20, .ndim = 1, .shape = {8}, .numel = 8}, y;
  assert_int_equal(ff_op_suf_sparse(op, &sp, &x, &y), FF_EINVAL);
  x.bw = 24;
  bad = sp, bad.p = 0;
  assert_int_equal(ff_op_suf_sparse(op, &bad, &x, &y), FF_EINVAL);
  assert_int_equal(ff_op_suf_sparse(op, NULL, &x, &y), FF_EINVAL);
  ff_log_set_level(FF_LOG_WARN);
  assert_int_equal(ff_op_suf_sparse(op, &sp, &x, &y), FF_OK);
  ff_gate_cost want;
  ff_suf_sparse_cost(&sp, 8, &want);
  assert_int_equal(ff_op_cost(op, 0).key_bytes, want.key_bytes);
  assert_int_equal(y.bw, 24);
  ff_wire_free(&y);
  ff_op_destroy(op);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_partition),         cmocka_unit_test(test_float_bounds),
      cmocka_unit_test(test_cost_figures),      cmocka_unit_test(test_gelu_silu),
      cmocka_unit_test(test_nexp_and_custom),   cmocka_unit_test(test_shape_independence),
      cmocka_unit_test(test_insecure_ablation), cmocka_unit_test(test_scopes),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
