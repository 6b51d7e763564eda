/* gates/sigma/layernorm: LayerNorm and RMSNorm (research/sigma.md §4 "LayerNorm per element") run by
 * the dealer and both parties over the in-memory channel (tests/sigma_harness.h): the revealed output
 * equals the fixed-point emulation of the same steps exactly, its error against the float function is
 * printed and bounded, and measured key bytes, bits, bytes and rounds equal the cost function. The
 * options (ff_sigma_norm_opts): rsqrt tables of 9, 13 and 16 bits the same way, keys of one width refused
 * by parties run with another, bad widths refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/dpf.h"
#include "gates/fss/lut.h"
#include "gates/sigma/layernorm.h"
#include "gates/sigma/op.h"
#include "gates/sigma/truncate.h"
#include "sigma_harness.h"

typedef struct {
  int rms;
  size_t R, d;
  const uint64_t *x, *gamma, *beta; /* x (R, d) P1's; gamma, beta (d) P0's */
  const ff_sigma_norm_opts *opts;   /* NULL: SIGMA's gates */
} ln_case;

static ff_status ln_graph(ff_op *op, const void *arg, sh_result *r) {
  const ln_case *c = arg;
  const int64_t xs[2] = {(int64_t)c->R, (int64_t)c->d}, ws[1] = {(int64_t)c->d};
  ff_wire x = {0}, g = {0}, b = {0}, y = {0};
  ff_gate_cost before[2];
  ff_status st;
  /* Owners alternate (gamma P0, x P1, beta P0): two one-way messages in a row from one party would
   * be one round on the channel but two in the inputs' cost-only rule. */
  if ((st = ff_op_input(op, 0, 1, ws, c->gamma, &g)) || (st = ff_op_input(op, 1, 2, xs, c->x, &x)) ||
      (!c->rms && (st = ff_op_input(op, 0, 1, ws, c->beta, &b))))
    goto done;
  sh_gate_begin(op, before);
  if (c->opts)
    st = c->rms ? ff_op_rmsnorm_ex(op, &x, &g, &y, c->opts) : ff_op_layernorm_ex(op, &x, &g, &b, &y, c->opts);
  else
    st = c->rms ? ff_op_rmsnorm(op, &x, &g, &y) : ff_op_layernorm(op, &x, &g, &b, &y);
  if (st) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&g);
  ff_wire_free(&b);
  ff_wire_free(&y);
  return st;
}

static int64_t uniform(ff_rng *rng, int64_t lo, int64_t hi) {
  uint64_t v;
  assert_int_equal(ff_rng_ring(rng, &v, 1, 62), FF_OK);
  return lo + (int64_t)(v % (uint64_t)(hi - lo));
}

/* Row kinds: 0 normal (|noise| < 2^noise_bits), 1 tiny variance (noise in {-1, 0, 1}), 2 constant,
 * 3 one outlier. Offsets up to +-2^off_bits (LayerNorm's large offsets). */
static uint64_t *make_rows(ff_rng *rng, int bw, size_t R, size_t d, int off_bits, int noise_bits, int *kind) {
  uint64_t *x = sh_xmalloc(R * d * sizeof *x);
  for (size_t i = 0; i < R; i++) {
    kind[i] = (int)(i % 4);
    const int64_t off = off_bits ? uniform(rng, -((int64_t)1 << off_bits), (int64_t)1 << off_bits) : 0;
    const int64_t a = (int64_t)1 << noise_bits;
    for (size_t j = 0; j < d; j++) {
      int64_t v = off;
      if (kind[i] == 0) v += uniform(rng, -a, a);
      if (kind[i] == 1) v += uniform(rng, -1, 2);
      if (kind[i] == 3) v += j == 5 ? a : uniform(rng, -a / 16, a / 16);
      x[i * d + j] = ff_ring_from_signed(v, bw);
    }
  }
  return x;
}

/* One case: exact against the emulation, costs against the formula, float error printed and (when
 * bounded) bounded on the rows whose standard deviation is at least 2^-4 (the floor of the mean and
 * the table's m-bit mantissa, 7 unless opts say otherwise, are the approximations; tiny-variance rows
 * are checked exactly only). Not bounded: d not a power of two with large offsets, where SIGMA's mean
 * S floor(2^12 / d) / 2^12 is off by S (2^12 / d - floor(2^12 / d)) / 2^12 (1.6% of the mean at d 96,
 * 6.25% at d 768). */
static void check_case_ex(int bw, int rms, size_t R, size_t d, int off_bits, int noise_bits, uint64_t seed, int bounded,
                          const ff_sigma_norm_opts *opts) {
  const int scale = 12, b = opts && opts->rsqrt_bits ? opts->rsqrt_bits : 13, m = b - 6;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 1000 + seed);
  int *kind = sh_xmalloc(R * sizeof *kind);
  uint64_t *x = make_rows(&rng, bw, R, d, off_bits, noise_bits, kind);
  uint64_t *g = sh_xmalloc(d * sizeof *g), *bt = sh_xmalloc(d * sizeof *bt), *ref = sh_xmalloc(R * d * sizeof *ref);
  for (size_t j = 0; j < d; j++) {
    g[j] = ff_ring_from_signed(uniform(&rng, -(1 << 13), 1 << 13), bw);  /* gamma in [-2, 2) */
    bt[j] = ff_ring_from_signed(uniform(&rng, -(1 << 14), 1 << 14), bw); /* beta in [-4, 4) */
  }
  ln_case c = {.rms = rms, .R = R, .d = d, .x = x, .gamma = g, .beta = rms ? NULL : bt, .opts = opts};
  sh_spec sp = {.bw = bw, .scale = scale, .graph = ln_graph, .arg = &c};
  sh_run rr;
  sh_run_all(&sp, seed, &rr, NULL);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  assert_int_equal(ff_sigma_layernorm_emulate_ex(bw, scale, R, d, rms, opts, x, g, rms ? NULL : bt, ref), FF_OK);
  assert_int_equal(rr.party[1].n_out, R * d);
  for (size_t e = 0; e < R * d; e++)
    if (rr.party[1].out[e] != ref[e])
      fail_msg("%s bw %d d %zu rsqrt_bits %d seed %llu: element %zu (row kind %d): got %lld, emulation %lld",
               rms ? "RMSNorm" : "LayerNorm", bw, d, b, (unsigned long long)seed, e, kind[e / d],
               (long long)ff_ring_signed(rr.party[1].out[e], bw), (long long)ff_ring_signed(ref[e], bw));
  ff_gate_cost want[2];
  assert_int_equal((rms ? ff_sigma_rmsnorm_cost_ex : ff_sigma_layernorm_cost_ex)(R, d, bw, scale, opts, &want[0]),
                   FF_OK);
  want[1] = want[0];
  sh_check_costs(&rr, want);
  /* Float reference. */
  const double f = 4096.0;
  double worst = 0, worst_tiny = 0;
  for (size_t i = 0; i < R; i++) {
    double mean = 0, var = 0;
    for (size_t j = 0; j < d; j++) mean += ff_ring_signed(x[i * d + j], bw) / f;
    mean = rms ? 0 : mean / (double)d;
    for (size_t j = 0; j < d; j++) {
      const double v = ff_ring_signed(x[i * d + j], bw) / f - mean;
      var += v * v;
    }
    var /= (double)d;
    for (size_t j = 0; j < d; j++) {
      const double xn = var > 0 ? (ff_ring_signed(x[i * d + j], bw) / f - mean) / sqrt(var) : 0;
      const double want_f = xn * (ff_ring_signed(g[j], bw) / f) + (rms ? 0 : ff_ring_signed(bt[j], bw) / f);
      const double err = fabs(ff_ring_signed(rr.party[1].out[i * d + j], bw) / f - want_f);
      if (sqrt(var) >= 1.0 / 16) worst = err > worst ? err : worst;
      else worst_tiny = err > worst_tiny ? err : worst_tiny;
    }
  }
  /* rsqrt: m-bit mantissa at its midpoint, |err| <= 2^-(m+1) relative; normalised values <= sqrt(d),
   * |gamma| < 2: 2 sqrt(d) 2^-(m+1) plus the truncations' few 2^-12. */
  const double bound = 2.0 * sqrt((double)d) * ldexp(1.0, -(m + 1)) + 0.01;
  printf("  %s bw %d d %3zu R %zu rsqrt_bits %2d: exact == emulation; max |err| vs float %.5f (std >= 2^-4 "
         "rows%s%.4f), %.5f (tiny-variance rows); key %.2f B/elem, %.2f bits/elem, %llu rounds\n",
         rms ? "RMSNorm  " : "LayerNorm", bw, d, R, b, worst, bounded ? ", bound " : ", unbounded ",
         bounded ? bound : 0.0, worst_tiny, (double)want[0].key_bytes / (double)(R * d),
         (double)want[0].bits_sent / (double)(R * d), (unsigned long long)want[0].rounds);
  if (bounded) assert_true(worst <= bound);
  sh_run_free(&rr);
  free(kind);
  free(x);
  free(g);
  free(bt);
  free(ref);
}

static void check_case(int bw, int rms, size_t R, size_t d, int off_bits, int noise_bits, uint64_t seed, int bounded) {
  check_case_ex(bw, rms, R, d, off_bits, noise_bits, seed, bounded, NULL);
}

static void test_layernorm(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 2; seed++) {
    check_case(50, 0, 4, 64, 22, 14, seed, 1);
    check_case(50, 0, 4, 128, 22, 14, seed, 1);
    /* Not a power of two: x floor(2^12 / 96) = 42, TrFloor by 12; exact, and bounded without offsets. */
    check_case(50, 0, 4, 96, 22, 14, seed, 0);
    check_case(50, 0, 4, 96, 0, 14, seed, 1);
  }
  check_case(37, 0, 4, 128, 16, 11, 3, 1); /* bert-tiny's ring */
}

static void test_rmsnorm(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 2; seed++) {
    check_case(50, 1, 4, 64, 12, 14, seed, 1);
    check_case(50, 1, 4, 128, 12, 14, seed, 1);
    check_case(50, 1, 4, 96, 12, 14, seed, 1);
  }
  check_case(48, 1, 4, 128, 12, 14, 4, 1); /* llama's ring */
}

/* The formula against research/sigma.md at bw 50, scale 12, d 768 (bert-base), R 128. */
static void test_cost_figures(void **state) {
  (void)state;
  const size_t R = 128, d = 768, N = R * d;
  ff_gate_cost c;
  ff_sigma_rsqrt_cost(R, 50, &c);
  /* Per row: DCF(50) 725.375 + 47/8 + 8 (2*48 + 3) + TrWithSlack(s 40, 13 bits) 588.25 + LUT_13 172.125
   * = 2283.625 B; 47 + 63 + 14 + 101 = 225 bits; 7 rounds. */
  assert_int_equal(8 * c.key_bytes, 18269 * R);
  assert_int_equal(c.bits_sent, 225 * R);
  assert_int_equal(c.rounds, 7);
  ff_sigma_layernorm_cost(R, d, 50, 12, &c);
  /* 321.5 B/elem (16 squares + 2 x (16 Beaver + 136.75 TrWithSlack)) + per row 676.75 (mean) +
   * 2283.625 (rsqrt) + 8 (r_rsq) + 8 d (r_gamma). */
  assert_int_equal(8 * c.key_bytes, 2572 * N + 23747 * R + 64 * d);
  assert_int_equal(c.bits_sent, 202 * N + (90 + 50 + 225) * R);
  assert_int_equal(8 * c.bytes_sent, c.bits_sent);
  assert_int_equal(c.rounds, 18);
  printf("  LayerNorm bert-base (R 128, d 768): %.2f B/elem key, %.3f bits/elem, %llu rounds (sigma.md: ~322 B, ~202 "
         "bits, 11 GPU rounds + 5 LLAMA reconstructs + 3 syncs)\n",
         (double)c.key_bytes / N, (double)c.bits_sent / N, (unsigned long long)c.rounds);
  ff_sigma_rmsnorm_cost(R, d, 50, 12, &c);
  assert_int_equal(8 * c.key_bytes, 2572 * N + (23747 - 5414) * R + 64 * d);
  assert_int_equal(c.bits_sent, 202 * N + (50 + 225) * R);
  assert_int_equal(c.rounds, 14);
}

/* ---- Options: the rsqrt table's width (layernorm.h ff_sigma_norm_opts) ------------------------------------ */

/* rsqrt_bits 9, 13 (given explicitly: SIGMA's gate) and 16, on both gates; at bw 50 and 51, 16 bits make the
 * normalisation's message (V^', E^) 66 and 67 bits wide: the field-by-field packing past 64 bits. */
static void test_rsqrt_bits(void **state) {
  (void)state;
  const int bits[] = {9, 13, 16};
  for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
    const ff_sigma_norm_opts o = {.rsqrt_bits = bits[i]};
    check_case_ex(50, 0, 4, 64, 22, 14, 10 + i, 1, &o);
    check_case_ex(50, 0, 4, 96, 0, 14, 20 + i, 1, &o);
    check_case_ex(51, 0, 4, 128, 22, 14, 30 + i, 1, &o);
    check_case_ex(37, 0, 4, 128, 16, 11, 40 + i, 1, &o);
    check_case_ex(50, 1, 4, 128, 12, 14, 50 + i, 1, &o);
    check_case_ex(48, 1, 4, 96, 12, 14, 60 + i, 1, &o);
  }
}

/* The cost formula at other widths: rsqrt per row at bw 50, b = 16 (m = 10): the mantissa's TrWithSlack
 * by L - m = 37 to 16 bits and LUT_16; 47 + 66 + 17 + 101 = 231 bits, the 66-bit message taking
 * ceil(66 R / 8) bytes; rounds unchanged. */
static void test_rsqrt_bits_cost(void **state) {
  (void)state;
  const size_t R = 13; /* 66 R bits: not whole bytes */
  const ff_sigma_norm_opts o16 = {.rsqrt_bits = 16}, o9 = {.rsqrt_bits = 9};
  ff_gate_cost c13, c16, c9, tr, lut;
  ff_sigma_rsqrt_cost(R, 50, &c13);
  assert_int_equal(ff_sigma_rsqrt_cost_ex(R, 50, &o16, &c16), FF_OK);
  assert_int_equal(c16.bits_sent, 231 * R);
  assert_int_equal(c16.rounds, 7);
  ff_sigma_trslack_cost(R, 50, 37, 16, &tr);
  ff_lut_cost_vec(16, 50, R, 1, 1, &lut);
  assert_int_equal(c16.key_bytes, ff_dpf_key_bytes(50, R) + (47 * R + 7) / 8 + 8 * (2 * 48 + 3) * R + tr.key_bytes +
                                      lut.key_bytes);
  assert_int_equal(c16.bytes_sent, (47 * R + 7) / 8 + (66 * R + 7) / 8 + tr.bytes_sent + lut.bytes_sent);
  assert_int_equal(ff_sigma_rsqrt_cost_ex(R, 50, &o9, &c9), FF_OK);
  assert_int_equal(c9.bits_sent, (47 + 59 + 10 + 101) * R);
  /* LayerNorm = the rest + rsqrt, at every width. */
  ff_gate_cost l13, l16;
  ff_sigma_layernorm_cost(R, 64, 50, 12, &l13);
  assert_int_equal(ff_sigma_layernorm_cost_ex(R, 64, 50, 12, &o16, &l16), FF_OK);
  sh_assert_cost_equal(sh_cost_sub(l16, c16), sh_cost_sub(l13, c13));
}

/* Keys dealt with one width, parties run with another: FF_EMISMATCH at the gate's tag; 13 given
 * explicitly is SIGMA's gate, accepted. */
static void ln_mismatch(int rms, const ff_sigma_norm_opts *deal, const ff_sigma_norm_opts *run, ff_status want) {
  const int bw = 50;
  const size_t R = 4, d = 64;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 77);
  int kind[4];
  uint64_t *x = make_rows(&rng, bw, R, d, 12, 14, kind), *g = sh_xmalloc(d * 8), *bt = sh_xmalloc(d * 8),
           *ref = sh_xmalloc(R * d * 8);
  for (size_t j = 0; j < d; j++) {
    g[j] = ff_ring_from_signed(uniform(&rng, -(1 << 13), 1 << 13), bw);
    bt[j] = ff_ring_from_signed(uniform(&rng, -(1 << 14), 1 << 14), bw);
  }
  ln_case dc = {.rms = rms, .R = R, .d = d, .x = x, .gamma = g, .beta = rms ? NULL : bt, .opts = deal};
  ln_case rc = dc;
  rc.opts = run;
  const sh_spec ds = {.bw = bw, .scale = 12, .graph = ln_graph, .arg = &dc};
  const sh_spec rs = {.bw = bw, .scale = 12, .graph = ln_graph, .arg = &rc};
  sh_keys k;
  sh_result dealer = {0}, r[2];
  uint64_t bytes[2];
  ff_status st[2];
  sh_deal(&ds, 5, "test-sigma-layernorm-mismatch", &dealer, &k);
  sh_run_parties(&rs, FF_BACKEND_CPU, &k, r, bytes, st, NULL);
  assert_int_equal(st[0], want);
  assert_int_equal(st[1], want);
  if (want == FF_OK) {
    assert_int_equal(ff_sigma_layernorm_emulate_ex(bw, 12, R, d, rms, run, x, g, rms ? NULL : bt, ref), FF_OK);
    assert_memory_equal(r[1].out, ref, R * d * 8);
  }
  printf("  %s keys dealt with rsqrt_bits %d, run with %d: %s\n", rms ? "RMSNorm" : "LayerNorm",
         deal ? deal->rsqrt_bits : 0, run ? run->rsqrt_bits : 0,
         want == FF_OK ? "accepted, output == emulation" : "refused (FF_EMISMATCH)");
  sh_keys_free(&k);
  free(dealer.out), free(r[0].out), free(r[1].out);
  free(x), free(g), free(bt), free(ref);
}

static void test_rsqrt_bits_mismatch(void **state) {
  (void)state;
  const ff_sigma_norm_opts o9 = {.rsqrt_bits = 9}, o13 = {.rsqrt_bits = 13}, o16 = {.rsqrt_bits = 16};
  ln_mismatch(0, NULL, &o9, FF_EMISMATCH);
  ln_mismatch(0, &o16, &o9, FF_EMISMATCH);
  ln_mismatch(1, &o16, NULL, FF_EMISMATCH);
  ln_mismatch(0, NULL, &o13, FF_OK);
  ln_mismatch(1, &o13, NULL, FF_OK);
}

/* Bad widths: FF_EINVAL from the cost functions, the emulation and the gates (cost-only role), and from
 * the kernels for mantissa bits outside 2..10. */
static void test_rsqrt_bits_invalid(void **state) {
  (void)state;
  const ff_sigma_norm_opts bad[] = {{.rsqrt_bits = 7}, {.rsqrt_bits = 17}, {.rsqrt_bits = -1}};
  uint64_t x[8] = {0}, g[4] = {0}, y[8];
  const int64_t xs[2] = {2, 4}, ws[1] = {4};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ff_gate_cost c;
    assert_int_equal(ff_sigma_rsqrt_cost_ex(2, 50, &bad[i], &c), FF_EINVAL);
    assert_int_equal(ff_sigma_layernorm_cost_ex(2, 4, 50, 12, &bad[i], &c), FF_EINVAL);
    assert_int_equal(ff_sigma_rmsnorm_cost_ex(2, 4, 50, 12, &bad[i], &c), FF_EINVAL);
    assert_int_equal(c.key_bytes, 0);
    assert_int_equal(ff_sigma_layernorm_emulate_ex(50, 12, 2, 4, 1, &bad[i], x, g, NULL, y), FF_EINVAL);
    ff_op *op;
    const ff_op_params cp = {.role = FF_OP_COST, .bw = 50, .scale = 12};
    assert_int_equal(ff_op_create(&op, &cp), FF_OK);
    ff_wire xw = {0}, gw = {0}, bw = {0}, yw = {0};
    assert_int_equal(ff_op_input(op, 0, 1, ws, NULL, &gw), FF_OK);
    assert_int_equal(ff_op_input(op, 1, 2, xs, NULL, &xw), FF_OK);
    assert_int_equal(ff_op_input(op, 0, 1, ws, NULL, &bw), FF_OK);
    assert_int_equal(ff_op_layernorm_ex(op, &xw, &gw, &bw, &yw, &bad[i]), FF_EINVAL);
    assert_int_equal(ff_op_rmsnorm_ex(op, &xw, &gw, &yw, &bad[i]), FF_EINVAL);
    ff_wire_free(&xw), ff_wire_free(&gw), ff_wire_free(&bw);
    ff_op_destroy(op);
  }
  ff_ctx cpu;
  assert_int_equal(ff_ctx_init(&cpu, FF_BACKEND_CPU, 0), FF_OK);
  uint64_t e[2] = {0}, idx[1];
  assert_int_equal(ff_sigma_rsqrt_index(&cpu, 1, 1, e + 1, e, idx), FF_EINVAL);
  assert_int_equal(ff_sigma_rsqrt_index(&cpu, 11, 1, e + 1, e, idx), FF_EINVAL);
  assert_int_equal(ff_sigma_rsqrt_index(&cpu, 10, 1, e + 1, e, idx), FF_OK);
  ff_ctx_destroy(&cpu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cost_figures),
      cmocka_unit_test(test_layernorm),
      cmocka_unit_test(test_rmsnorm),
      cmocka_unit_test(test_rsqrt_bits_cost),
      cmocka_unit_test(test_rsqrt_bits_invalid),
      cmocka_unit_test(test_rsqrt_bits),
      cmocka_unit_test(test_rsqrt_bits_mismatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
