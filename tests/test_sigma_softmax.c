/* gates/sigma/softmax on the CPU (research/sigma.md §4 "Softmax per attention row"): dealer, both
 * parties over the in-memory channel (tests/sigma_harness.h) and cost-only, for rows of n = 8, 12, 16
 * and 128. The revealed output equals the fixed-point emulation exactly; its error against the float
 * softmax is printed and bounded; measured costs equal ff_sigma_softmax_cost, whose per-element figures
 * at n = 128, bw = 50 are checked against the closed formula and sigma.md's approximations. The options
 * (ff_sigma_softmax_opts): reciprocal tables of 10 and 16 bits, nExp hooks (SIGMA's own, and a
 * temperature-2 one built of TrWithSlack and SIGMA's nExp), keys of one option set refused by parties
 * run with another, bad options refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/lut.h"
#include "gates/sigma/op.h"
#include "gates/sigma/softmax.h"
#include "gates/sigma/truncate.h"
#include "sigma_harness.h"

typedef struct {
  size_t R, n;
  const uint64_t *x; /* (R, n) P1's scores mod 2^bw, scale 12 */
} sm_spec;

static ff_status sm_graph(ff_op *op, const void *arg, sh_result *r) {
  const sm_spec *sp = arg;
  const int64_t shape[2] = {(int64_t)sp->R, (int64_t)sp->n};
  ff_wire x = {0}, y = {0};
  ff_gate_cost before[2];
  ff_status st;
  if ((st = ff_op_input(op, 1, 2, shape, sp->x, &x))) goto done;
  sh_gate_begin(op, before);
  if ((st = ff_op_softmax(op, &x, &y))) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

/* Scores uniform in [-spread, spread) (real), row 0 of the n = 12 case all equal. */
static uint64_t *sm_inputs(ff_rng *rng, size_t R, size_t n, double spread, int bw) {
  uint64_t *x = sh_xmalloc(R * n * sizeof *x);
  const uint64_t span = (uint64_t)(2 * spread * 4096);
  for (size_t i = 0; i < R * n; i++)
    x[i] = ff_ring_from_signed((int64_t)(ff_rng_u64(rng) % span) - (int64_t)(spread * 4096), bw);
  if (n == 12)
    for (size_t j = 0; j < n; j++) x[j] = ff_ring_from_signed(-3 * 4096 + 17, bw);
  return x;
}

static double sm_run(size_t R, size_t n, double spread, uint64_t seed) {
  const int bw = 50;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 1000 + seed + n);
  uint64_t *x = sm_inputs(&rng, R, n, spread, bw);
  const sm_spec sp = {R, n, x};
  const sh_spec hs = {.bw = bw, .scale = 12, .graph = sm_graph, .arg = &sp};
  sh_run rr;
  sh_run_all(&hs, seed, &rr, NULL);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  assert_int_equal(rr.party[1].n_out, R * n);
  uint64_t *ref = sh_xmalloc(R * n * sizeof *ref);
  ff_sigma_softmax_emulate(bw, R, n, x, ref);
  double maxerr = 0;
  for (size_t r = 0; r < R; r++) {
    double mx = -1e300, sum = 0;
    for (size_t j = 0; j < n; j++) mx = fmax(mx, ff_ring_signed(x[r * n + j], bw) / 4096.0);
    for (size_t j = 0; j < n; j++) sum += exp(ff_ring_signed(x[r * n + j], bw) / 4096.0 - mx);
    for (size_t j = 0; j < n; j++) {
      const size_t i = r * n + j;
      if (rr.party[1].out[i] != ref[i])
        fail_msg("n %zu seed %llu element %zu: protocol %llu, emulation %llu", n, (unsigned long long)seed, i,
                 (unsigned long long)rr.party[1].out[i], (unsigned long long)ref[i]);
      const double want = exp(ff_ring_signed(x[i], bw) / 4096.0 - mx) / sum;
      maxerr = fmax(maxerr, fabs(ff_ring_signed(ref[i], bw) / 4096.0 - want));
    }
  }
  ff_gate_cost want;
  ff_sigma_softmax_cost(R, n, bw, &want);
  const ff_gate_cost want2[2] = {want, want};
  sh_check_costs(&rr, want2);
  printf("softmax n %3zu R %zu spread %5.1f seed %llu: max |y - softmax| = %.5f; key %llu B, sent %llu bits, "
         "%llu rounds\n",
         n, R, spread, (unsigned long long)seed, maxerr, (unsigned long long)want.key_bytes,
         (unsigned long long)want.bits_sent, (unsigned long long)want.rounds);
  free(ref);
  free(x);
  sh_run_free(&rr);
  return maxerr;
}

/* Error bound: the inverse's input keeps 6 fractional bits of the row sum s >= 1 (relative error
 * < 2^-6 on 1/s), the tables and the two truncations lose a few 2^-12 each. */
#define SM_FLOAT_BOUND 0.02

static void test_softmax_rows(void **state) {
  (void)state;
  const struct {
    size_t R, n;
    double spread;
  } cases[] = {{6, 8, 6.0}, {5, 12, 8.0}, {4, 16, 24.0}, {3, 128, 6.0}, {2, 128, 20.0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (uint64_t seed = 1; seed <= 2; seed++) {
      const double err = sm_run(cases[c].R, cases[c].n, cases[c].spread, seed);
      assert_true(err < SM_FLOAT_BOUND);
    }
}

/* ceil(log2 n) levels of 2 rounds + nExp 13 + inverse 5 + windowMul 3. */
static void test_softmax_rounds(void **state) {
  (void)state;
  const size_t ns[] = {3, 8, 12, 16, 100, 128, 1024};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
    ff_gate_cost c;
    ff_sigma_softmax_cost(2, ns[i], 50, &c);
    int L = 0;
    while (((size_t)1 << L) < ns[i]) L++;
    assert_int_equal(c.rounds, 2 * L + 13 + 5 + 3);
  }
}

/* Per element at n = 128, bw = 50 (R = 8 makes every batch a multiple of 8: no byte rounding). */
static void test_softmax_cost_formula(void **state) {
  (void)state;
  const size_t R = 8, n = 128, N = R * n;
  ff_gate_cost c;
  ff_sigma_softmax_cost(R, n, 50, &c);
  const double dcf38 = 16 * 31 + 32 + 31 / 8.0, dcf39 = 16 * 32 + 32 + 32 / 8.0, dcf8 = 16 + 32 + 1 / 8.0,
               dcf12 = 16 * 5 + 32 + 5 / 8.0, dcf6 = 8, lut8 = 92.125, lut13 = 172.125;
  const double max_b = 127.0 / 128 * (dcf38 + 0.125 + 40);
  const double tr12 = dcf12 + 0.125 + 24;
  /* SIGMA's narrow key words: the clip's select key in u16 (5 x 2 B), the 16 -> 8 TrWithSlack's
   * correction in u8 (3 x 1 B), the inverse's 19 -> 13 TrWithSlack in u16 (3 x 2 B). */
  const double nexp_b = (dcf39 + 0.125 + 10) + 2 * lut8 + (dcf8 + 0.125 + 3) + 24 + tr12;
  const double inv_b = (dcf6 + 0.125 + 6 + lut13) / 128;
  const double win_b = 16 + 8.0 / 128 + tr12;
  const double key = max_b + nexp_b + inv_b + win_b;
  const double bits = 127.0 / 128 * 41 + (17 + 101 + 9 + 101 + 101) + (14 + 101) / 128.0 + 101;
  printf("softmax n 128 bw 50 per element: key %.4f B (exact formula), bits %.4f, rounds %llu\n",
         (double)c.key_bytes / N, (double)c.bits_sent / N, (unsigned long long)c.rounds);
  assert_true(fabs(nexp_b - 954.375) < 1e-9); /* sigma.md: nExp ~954 B */
  assert_true(fabs((double)c.key_bytes - key * N) < 1e-6);
  assert_true(fabs((double)c.bits_sent - bits * N) < 1e-6);
  assert_int_equal(c.rounds, 35);
  /* The documented figure 1676.17 (= 1727.31 with u64 words - 30 - 21 - 18/128); sigma.md: ~1676 B,
   * ~471.6 bits, 35 rounds. */
  printf("softmax n 128 bw 50: key %.2f B/elem (sigma.md ~1676), bits %.2f (sigma.md ~471.6)\n", key, bits);
  assert_true(fabs(key - 1676.17) < 0.005);
  assert_true(fabs(key - 1676) < 0.5);
  assert_true(fabs(bits - 471.6) < 0.05);
}

/* ---- Causal ------------------------------------------------------------------------------------------------ */

typedef struct {
  size_t B, n;
  const uint64_t *x; /* (B, n, n) */
} smc_spec;

static ff_status smc_graph(ff_op *op, const void *arg, sh_result *r) {
  const smc_spec *sp = arg;
  const int64_t shape[3] = {(int64_t)sp->B, (int64_t)sp->n, (int64_t)sp->n};
  ff_wire x = {0}, y = {0};
  ff_gate_cost before[2];
  ff_status st;
  if ((st = ff_op_input(op, 1, 3, shape, sp->x, &x))) goto done;
  sh_gate_begin(op, before);
  if ((st = ff_op_softmax_causal(op, &x, &y))) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

static double smc_run(size_t B, size_t n, double spread, uint64_t seed) {
  const int bw = 50;
  const size_t R = B * n;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 2000 + seed + n);
  uint64_t *x = sm_inputs(&rng, R, n, spread, bw);
  const smc_spec sp = {B, n, x};
  const sh_spec hs = {.bw = bw, .scale = 12, .graph = smc_graph, .arg = &sp};
  sh_run rr;
  sh_run_all(&hs, seed, &rr, NULL);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  assert_int_equal(rr.party[1].n_out, R * n);
  uint64_t *ref = sh_xmalloc(R * n * sizeof *ref);
  ff_sigma_softmax_causal_emulate(bw, R, n, x, ref);
  double maxerr = 0;
  for (size_t r = 0; r < R; r++) {
    const size_t len = r % n + 1;
    double mx = -1e300, sum = 0;
    for (size_t j = 0; j < len; j++) mx = fmax(mx, ff_ring_signed(x[r * n + j], bw) / 4096.0);
    for (size_t j = 0; j < len; j++) sum += exp(ff_ring_signed(x[r * n + j], bw) / 4096.0 - mx);
    for (size_t j = 0; j < n; j++) {
      const size_t i = r * n + j;
      if (rr.party[1].out[i] != ref[i])
        fail_msg("causal n %zu seed %llu element %zu: protocol %llu, emulation %llu", n, (unsigned long long)seed, i,
                 (unsigned long long)rr.party[1].out[i], (unsigned long long)ref[i]);
      if (j >= len) {
        assert_int_equal(ref[i], 0);
        continue;
      }
      const double want = exp(ff_ring_signed(x[i], bw) / 4096.0 - mx) / sum;
      maxerr = fmax(maxerr, fabs(ff_ring_signed(ref[i], bw) / 4096.0 - want));
    }
  }
  ff_gate_cost want;
  ff_sigma_softmax_causal_cost(R, n, bw, &want);
  const ff_gate_cost want2[2] = {want, want};
  sh_check_costs(&rr, want2);
  printf("causal softmax B %zu n %3zu spread %5.1f seed %llu: max |y - softmax| = %.5f; key %llu B, sent %llu bits, "
         "%llu rounds\n",
         B, n, spread, (unsigned long long)seed, maxerr, (unsigned long long)want.key_bytes,
         (unsigned long long)want.bits_sent, (unsigned long long)want.rounds);
  free(ref);
  free(x);
  sh_run_free(&rr);
  return maxerr;
}

static void test_softmax_causal_rows(void **state) {
  (void)state;
  const struct {
    size_t B, n;
    double spread;
  } cases[] = {{1, 8, 6.0}, {2, 12, 8.0}, {1, 16, 24.0}, {1, 128, 6.0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (uint64_t seed = 1; seed <= 2; seed++)
      assert_true(smc_run(cases[c].B, cases[c].n, cases[c].spread, seed) < SM_FLOAT_BOUND);
}

/* Per packed element (n(n+1)/2 = 8256 per block) at n = 128, bw = 50 (B = 8: batches multiples of 8). */
static void test_softmax_causal_cost_formula(void **state) {
  (void)state;
  const size_t B = 8, n = 128, R = B * n, Np = B * n * (n + 1) / 2;
  ff_gate_cost c;
  ff_sigma_softmax_causal_cost(R, n, 50, &c);
  const double dcf38 = 16 * 31 + 32 + 31 / 8.0, dcf39 = 16 * 32 + 32 + 32 / 8.0, dcf8 = 16 + 32 + 1 / 8.0,
               dcf12 = 16 * 5 + 32 + 5 / 8.0, dcf6 = 8, lut8 = 92.125, lut13 = 172.125;
  const double cmp = 4160 + 2112 + 1088 + 576 + 320 + 192 + 128; /* per block: 8576 (sigma.md) */
  assert_true(cmp == 8576);
  const double per = 8256; /* packed elements per block */
  const double max_b = cmp / per * (dcf38 + 0.125 + 40);
  const double tr12 = dcf12 + 0.125 + 24;
  const double nexp_b = (dcf39 + 0.125 + 10) + 2 * lut8 + (dcf8 + 0.125 + 3) + 24 + tr12;
  const double inv_b = (dcf6 + 0.125 + 6 + lut13) * n / per;
  const double win_b = 16 + 8.0 * n / per + tr12;
  const double key = max_b + nexp_b + inv_b + win_b;
  const double bits = cmp / per * 41 + (17 + 101 + 9 + 101 + 101) + (14 + 101) * n / per + 101;
  printf("causal softmax n 128 bw 50 per packed element: key %.4f B (sigma.md ~1704), bits %.4f (~474), "
         "rounds %llu\n",
         (double)c.key_bytes / Np, (double)c.bits_sent / Np, (unsigned long long)c.rounds);
  assert_true(fabs((double)c.key_bytes - key * Np) < 1e-3);
  assert_true(fabs((double)c.bits_sent - bits * Np) < 1e-3);
  assert_int_equal(c.rounds, 35);
  assert_true(fabs(key - 1704) < 2);
  assert_true(fabs(bits - 474) < 1);
}

/* ---- Options: the reciprocal's width and a nExp hook (softmax.h ff_sigma_softmax_opts) ------------------------ */

/* A test hook: SIGMA's nExp of x1 / 2, i.e. the softmax at temperature 2 (TrWithSlack by 1, then the exported
 * nExp step). Its gates write their own tags and keys inside the softmax's. */
static ff_status half_nexp(void *arg, ff_op *op, const ff_wire *x1, ff_wire *e) {
  (void)arg;
  ff_wire h = {0};
  ff_status st = ff_op_trslack(op, x1, 1, x1->bw, &h);
  if (!st) st = ff_sigma_nexp(NULL, op, &h, e);
  ff_wire_free(&h);
  return st;
}

static void half_nexp_cost(void *arg, size_t N, int bw, int ring, ff_gate_cost *c) {
  (void)arg;
  ff_gate_cost t;
  ff_sigma_trslack_cost(N, ring, 1, ring, c);
  ff_sigma_nexp_cost(NULL, N, bw, ring, &t);
  *c = ff_gate_cost_add(*c, t);
}

static void half_nexp_emulate(void *arg, int bw, int ring, size_t N, const uint64_t *x1, uint64_t *e) {
  (void)arg;
  uint64_t *h = sh_xmalloc(N * sizeof *h);
  for (size_t i = 0; i < N; i++) h[i] = ff_ring_reduce(x1[i], ring) >> 1;
  ff_sigma_nexp_emulate(NULL, bw, ring, N, h, e);
  free(h);
}

typedef struct {
  size_t R, n; /* R rows of n; causal: R / n blocks of (n, n) */
  int causal;
  const ff_sigma_softmax_opts *opts;
  const uint64_t *x; /* (R, n) P1's scores mod 2^bw, scale 12 */
} smx_spec;

static ff_status smx_graph(ff_op *op, const void *arg, sh_result *r) {
  const smx_spec *sp = arg;
  const int64_t shape2[2] = {(int64_t)sp->R, (int64_t)sp->n};
  const int64_t shape3[3] = {(int64_t)(sp->R / sp->n), (int64_t)sp->n, (int64_t)sp->n};
  ff_wire x = {0}, y = {0};
  ff_gate_cost before[2];
  ff_status st;
  if ((st = ff_op_input(op, 1, sp->causal ? 3 : 2, sp->causal ? shape3 : shape2, sp->x, &x))) goto done;
  sh_gate_begin(op, before);
  if ((st = sp->causal ? ff_op_softmax_causal_ex(op, &x, &y, sp->opts) : ff_op_softmax_ex(op, &x, &y, sp->opts)))
    goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

static int smx_ceil_log2(size_t n) {
  int k = 0;
  while (((size_t)1 << k) < n) k++;
  return k;
}

/* The gate with options: exact against the options' emulation, costs against the options' cost function,
 * and the float error against softmax(x / temp) (temp 2 for half_nexp), bounded by the reciprocal's
 * resolution 2^(t-12), t = k - b, plus the few 2^-12 of the tables and truncations. Returns the error. */
static double smx_run(size_t R, size_t n, int causal, double spread, const ff_sigma_softmax_opts *opts, double temp,
                      uint64_t seed) {
  const int bw = 50;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 3000 + seed + n);
  uint64_t *x = sm_inputs(&rng, R, n, spread, bw);
  const smx_spec sp = {R, n, causal, opts, x};
  const sh_spec hs = {.bw = bw, .scale = 12, .graph = smx_graph, .arg = &sp};
  sh_run rr;
  sh_run_all(&hs, seed, &rr, NULL);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  assert_int_equal(rr.party[1].n_out, R * n);
  uint64_t *ref = sh_xmalloc(R * n * sizeof *ref);
  assert_int_equal((causal ? ff_sigma_softmax_causal_emulate_ex : ff_sigma_softmax_emulate_ex)(bw, R, n, opts, x, ref),
                   FF_OK);
  double maxerr = 0;
  for (size_t r = 0; r < R; r++) {
    const size_t len = causal ? r % n + 1 : n;
    double mx = -1e300, sum = 0;
    for (size_t j = 0; j < len; j++) mx = fmax(mx, ff_ring_signed(x[r * n + j], bw) / 4096.0 / temp);
    for (size_t j = 0; j < len; j++) sum += exp(ff_ring_signed(x[r * n + j], bw) / 4096.0 / temp - mx);
    for (size_t j = 0; j < n; j++) {
      const size_t i = r * n + j;
      if (rr.party[1].out[i] != ref[i])
        fail_msg("%s n %zu inv_bits %d%s seed %llu element %zu: protocol %llu, emulation %llu",
                 causal ? "causal" : "softmax", n, opts ? opts->inv_bits : 0, opts && opts->nexp ? " hooked" : "",
                 (unsigned long long)seed, i, (unsigned long long)rr.party[1].out[i], (unsigned long long)ref[i]);
      if (j >= len) continue;
      const double want = exp(ff_ring_signed(x[i], bw) / 4096.0 / temp - mx) / sum;
      maxerr = fmax(maxerr, fabs(ff_ring_signed(ref[i], bw) / 4096.0 - want));
    }
  }
  ff_gate_cost want;
  assert_int_equal((causal ? ff_sigma_softmax_causal_cost_ex : ff_sigma_softmax_cost_ex)(R, n, bw, opts, &want), FF_OK);
  const ff_gate_cost want2[2] = {want, want};
  sh_check_costs(&rr, want2);
  const int k = 12 + smx_ceil_log2(n), b = opts && opts->inv_bits ? opts->inv_bits : k - 6;
  const double bound = ldexp(1.0, k - b - 12) + SM_FLOAT_BOUND;
  printf("%s n %3zu R %zu inv_bits %2d (t %d)%s seed %llu: exact == emulation; max |y - softmax(x/%.0f)| = %.5f "
         "(bound %.4f); key %llu B, sent %llu bits, %llu rounds\n",
         causal ? "causal " : "softmax", n, R, b, k - b, opts && opts->nexp ? " hooked" : "", (unsigned long long)seed,
         temp, maxerr, bound, (unsigned long long)want.key_bytes, (unsigned long long)want.bits_sent,
         (unsigned long long)want.rounds);
  assert_true(maxerr < bound);
  free(ref);
  free(x);
  sh_run_free(&rr);
  return maxerr;
}

/* inv_bits default, 10 and 16 on rows of 12 (k 16: 16 is refused), 32 and 128, causal and not. */
static void test_softmax_inv_bits(void **state) {
  (void)state;
  const int bits[] = {0, 10, 16};
  const struct {
    size_t R, n;
    int causal;
    double spread;
  } cases[] = {{5, 12, 0, 8.0}, {4, 32, 0, 20.0}, {3, 128, 0, 6.0}, {24, 12, 1, 8.0}, {128, 128, 1, 6.0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
      const ff_sigma_softmax_opts o = {.inv_bits = bits[i]};
      ff_gate_cost cost;
      if (bits[i] >= 12 + smx_ceil_log2(cases[c].n)) { /* b >= k: refused everywhere */
        assert_int_equal(ff_sigma_softmax_cost_ex(cases[c].R, cases[c].n, 50, &o, &cost), FF_EINVAL);
        continue;
      }
      smx_run(cases[c].R, cases[c].n, cases[c].causal, cases[c].spread, &o, 1.0, 1 + i);
    }
  /* The inverse's key at b = 16, n = 128: TrWithSlack(19, 3 -> 16) in u16 words and LUT_16, per row;
   * nothing else changes, nor do the rounds. */
  ff_gate_cost c13, c16, lut13, lut16;
  const ff_sigma_softmax_opts o16 = {.inv_bits = 16};
  ff_sigma_softmax_cost(8, 128, 50, &c13);
  assert_int_equal(ff_sigma_softmax_cost_ex(8, 128, 50, &o16, &c16), FF_OK);
  ff_lut_cost(13, 50, 8, &lut13);
  ff_lut_cost(16, 50, 8, &lut16);
  assert_int_equal(c16.rounds, c13.rounds);
  assert_int_equal(c16.bits_sent - c13.bits_sent, 8 * 3); /* TrWithSlack reveals 1 + b bits */
  /* DCF(3) is a 1-byte truth table, DCF(6) an 8-byte one; the words stay u16. */
  assert_int_equal(c16.key_bytes - c13.key_bytes, 8 * (1 - 8) + lut16.key_bytes - lut13.key_bytes);
}

static const ff_sigma_softmax_opts sigma_hook = {
    .nexp = ff_sigma_nexp, .nexp_cost = ff_sigma_nexp_cost, .nexp_emulate = ff_sigma_nexp_emulate};
static const ff_sigma_softmax_opts half_hook = {
    .nexp = half_nexp, .nexp_cost = half_nexp_cost, .nexp_emulate = half_nexp_emulate};

static void test_softmax_nexp_hook(void **state) {
  (void)state;
  /* SIGMA's own nExp through the hook: SIGMA's outputs and costs exactly. */
  for (int causal = 0; causal < 2; causal++) {
    const size_t R = causal ? 32 : 4, n = causal ? 16 : 128;
    ff_rng rng;
    ff_rng_init_seeded(&rng, 3000 + 5 + n); /* smx_run's inputs for seed 5 */
    uint64_t *x = sm_inputs(&rng, R, n, 6.0, 50), *a = sh_xmalloc(R * n * 8), *b = sh_xmalloc(R * n * 8);
    assert_int_equal((causal ? ff_sigma_softmax_causal_emulate_ex : ff_sigma_softmax_emulate_ex)(50, R, n, &sigma_hook,
                                                                                                 x, a),
                     FF_OK);
    (causal ? ff_sigma_softmax_causal_emulate : ff_sigma_softmax_emulate)(50, R, n, x, b);
    assert_memory_equal(a, b, R * n * 8);
    ff_gate_cost ch, cd;
    assert_int_equal((causal ? ff_sigma_softmax_causal_cost_ex : ff_sigma_softmax_cost_ex)(R, n, 50, &sigma_hook, &ch),
                     FF_OK);
    (causal ? ff_sigma_softmax_causal_cost : ff_sigma_softmax_cost)(R, n, 50, &cd);
    sh_assert_cost_equal(ch, cd);
    smx_run(R, n, causal, 6.0, &sigma_hook, 1.0, 5);
    free(x), free(a), free(b);
  }
  /* Another hook (temperature 2), alone and with a narrower reciprocal. */
  ff_sigma_softmax_opts half10 = half_hook;
  half10.inv_bits = 10;
  smx_run(4, 128, 0, 20.0, &half_hook, 2.0, 6);
  smx_run(5, 12, 0, 8.0, &half10, 2.0, 7);
  smx_run(16, 16, 1, 24.0, &half_hook, 2.0, 8);
  smx_run(24, 12, 1, 8.0, &half10, 2.0, 9);
}

/* Keys dealt with one option set, parties run with another: FF_EMISMATCH at the softmax's tag before any
 * key byte is read. b = k - 6 given explicitly (11 at n = 32) is SIGMA's default: the same gate, accepted. */
static void smx_mismatch(const ff_sigma_softmax_opts *deal, const ff_sigma_softmax_opts *run, int causal,
                         ff_status want) {
  const size_t n = 32, R = causal ? 32 : 4;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 4000 + (uint64_t)causal);
  uint64_t *x = sm_inputs(&rng, R, n, 6.0, 50), *ref = sh_xmalloc(R * n * sizeof *ref);
  const smx_spec dsp = {R, n, causal, deal, x}, rsp = {R, n, causal, run, x};
  const sh_spec dhs = {.bw = 50, .scale = 12, .graph = smx_graph, .arg = &dsp};
  const sh_spec rhs = {.bw = 50, .scale = 12, .graph = smx_graph, .arg = &rsp};
  sh_keys k;
  sh_result dealer = {0}, r[2];
  uint64_t bytes[2];
  ff_status st[2];
  sh_deal(&dhs, 11, "test-sigma-softmax-mismatch", &dealer, &k);
  sh_run_parties(&rhs, FF_BACKEND_CPU, &k, r, bytes, st, NULL);
  assert_int_equal(st[0], want);
  assert_int_equal(st[1], want);
  if (want == FF_OK) {
    assert_int_equal((causal ? ff_sigma_softmax_causal_emulate_ex : ff_sigma_softmax_emulate_ex)(50, R, n, run, x, ref),
                     FF_OK);
    assert_memory_equal(r[1].out, ref, R * n * sizeof *ref);
  }
  printf("softmax keys dealt with inv_bits %d%s, run with inv_bits %d%s (%s): %s\n", deal ? deal->inv_bits : 0,
         deal && deal->nexp ? " hooked" : "", run ? run->inv_bits : 0, run && run->nexp ? " hooked" : "",
         causal ? "causal" : "non-causal", want == FF_OK ? "accepted, output == emulation" : "refused (FF_EMISMATCH)");
  sh_keys_free(&k);
  free(dealer.out), free(r[0].out), free(r[1].out);
  free(x), free(ref);
}

static void test_softmax_opts_mismatch(void **state) {
  (void)state;
  const ff_sigma_softmax_opts inv10 = {.inv_bits = 10}, inv16 = {.inv_bits = 16}, inv11 = {.inv_bits = 11};
  ff_sigma_softmax_opts half10 = half_hook;
  half10.inv_bits = 10;
  smx_mismatch(NULL, &inv10, 0, FF_EMISMATCH);
  smx_mismatch(&inv16, &inv10, 0, FF_EMISMATCH);
  smx_mismatch(NULL, &sigma_hook, 0, FF_EMISMATCH);
  smx_mismatch(&half_hook, NULL, 1, FF_EMISMATCH);
  smx_mismatch(&inv10, &half10, 1, FF_EMISMATCH);
  smx_mismatch(NULL, &inv11, 0, FF_OK);
  smx_mismatch(&inv11, NULL, 1, FF_OK);
}

/* Bad options: FF_EINVAL from the cost functions, the emulations and the gate (cost-only role here). */
static void test_softmax_opts_invalid(void **state) {
  (void)state;
  const size_t R = 8, n = 8; /* k = 15 */
  const ff_sigma_softmax_opts bad[] = {
      {.inv_bits = 7},
      {.inv_bits = 17},
      {.inv_bits = 15},
      {.nexp = ff_sigma_nexp},
      {.nexp = ff_sigma_nexp, .nexp_cost = ff_sigma_nexp_cost},
      {.nexp_emulate = ff_sigma_nexp_emulate},
  };
  uint64_t x[64] = {0}, y[64];
  const int64_t shape[3] = {1, (int64_t)n, (int64_t)n};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ff_gate_cost c;
    assert_int_equal(ff_sigma_softmax_cost_ex(R, n, 50, &bad[i], &c), FF_EINVAL);
    assert_int_equal(c.key_bytes, 0);
    assert_int_equal(ff_sigma_softmax_causal_cost_ex(R, n, 50, &bad[i], &c), FF_EINVAL);
    assert_int_equal(ff_sigma_softmax_emulate_ex(50, R, n, &bad[i], x, y), FF_EINVAL);
    assert_int_equal(ff_sigma_softmax_causal_emulate_ex(50, R, n, &bad[i], x, y), FF_EINVAL);
    ff_op *op;
    const ff_op_params cp = {.role = FF_OP_COST, .bw = 50, .scale = 12};
    assert_int_equal(ff_op_create(&op, &cp), FF_OK);
    ff_wire xw = {0}, yw = {0};
    assert_int_equal(ff_op_input(op, 1, 3, shape, NULL, &xw), FF_OK);
    assert_int_equal(ff_op_softmax_ex(op, &xw, &yw, &bad[i]), FF_EINVAL);
    assert_int_equal(ff_op_softmax_causal_ex(op, &xw, &yw, &bad[i]), FF_EINVAL);
    ff_wire_free(&xw);
    ff_op_destroy(op);
  }
  /* Not bad: b = 14 < k = 15, and a zeroed struct (SIGMA's). */
  const ff_sigma_softmax_opts ok14 = {.inv_bits = 14}, zero = {0};
  ff_gate_cost c, d;
  assert_int_equal(ff_sigma_softmax_cost_ex(R, n, 50, &ok14, &c), FF_OK);
  assert_int_equal(ff_sigma_softmax_cost_ex(R, n, 50, &zero, &c), FF_OK);
  ff_sigma_softmax_cost(R, n, 50, &d);
  sh_assert_cost_equal(c, d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_softmax_rounds),
      cmocka_unit_test(test_softmax_cost_formula),
      cmocka_unit_test(test_softmax_rows),
      cmocka_unit_test(test_softmax_causal_cost_formula),
      cmocka_unit_test(test_softmax_causal_rows),
      cmocka_unit_test(test_softmax_opts_invalid),
      cmocka_unit_test(test_softmax_inv_bits),
      cmocka_unit_test(test_softmax_nexp_hook),
      cmocka_unit_test(test_softmax_opts_mismatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
