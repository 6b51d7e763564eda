/* gates/sigma/layernorm on the CUDA backend (op.h "What runs where"): LayerNorm (d 64, 96) and RMSNorm
 * (d 64), also with rsqrt tables of 16 and 9 bits (ff_sigma_norm_opts), one CPU dealer's keys evaluated by
 * CPU parties and by CUDA parties (own contexts and streams, two threads, ff_chan_mem_pair): the CUDA run
 * reveals the CPU run's output byte for byte, both equal ff_sigma_layernorm_emulate(_ex), and every
 * measured cost equals the cost function. Then each _cuda kernel of layernorm.h against its _cpu twin (the
 * rsqrt's at mantissa widths 2..10). Needs a GPU; exits 77 (skipped) without one. The two-party runner:
 * tests/sigma_cuda_harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/cuda.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/layernorm.h"
#include "gates/sigma/op.h"
#include "sigma_cuda_harness.h"

static ff_ctx cpu, gpu; /* kernel tests: one context per backend; party set per call */

/* ---- One LayerNorm / RMSNorm as a graph ------------------------------------------------------------------ */

typedef struct {
  int rms, bw, scale;
  size_t R, d;
  const uint64_t *x, *gamma, *beta; /* x (R, d) P1's; gamma, beta (d) P0's */
  const ff_sigma_norm_opts *opts;   /* NULL: SIGMA's gates */
} spec;

static ff_status graph(ff_op *op, const void *arg, sh_result *r) {
  const spec *sp = arg;
  const int64_t xs[2] = {(int64_t)sp->R, (int64_t)sp->d}, ws[1] = {(int64_t)sp->d};
  ff_wire x = {0}, g = {0}, b = {0}, y = {0};
  ff_status st;
  /* Owners alternate (gamma P0, x P1, beta P0), as tests/test_sigma_layernorm.c. */
  if ((st = ff_op_input(op, 0, 1, ws, sp->gamma, &g)) || (st = ff_op_input(op, 1, 2, xs, sp->x, &x)) ||
      (!sp->rms && (st = ff_op_input(op, 0, 1, ws, sp->beta, &b))))
    goto done;
  ff_gate_cost before[2];
  sh_gate_begin(op, before);
  if (sp->opts)
    st = sp->rms ? ff_op_rmsnorm_ex(op, &x, &g, &y, sp->opts) : ff_op_layernorm_ex(op, &x, &g, &b, &y, sp->opts);
  else
    st = sp->rms ? ff_op_rmsnorm(op, &x, &g, &y) : ff_op_layernorm(op, &x, &g, &b, &y);
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

/* One dealer (CPU, seeded), its keys evaluated by CPU parties and by CUDA parties. */
static void check_gate(const spec *sp, uint64_t seed) {
  const sh_spec hs = {.bw = sp->bw, .scale = sp->scale, .graph = graph, .arg = sp};
  scu_run rr;
  scu_run_cpu_cuda(&hs, seed, "test-sigma-cuda-layernorm", &rr);
  const sh_result *rc = rr.cpu, *rg = rr.cuda;
  /* The CUDA run reveals the CPU run's output, byte for byte, and both are the emulation. */
  const size_t n = sp->R * sp->d;
  assert_int_equal(rc[1].n_out, n);
  assert_int_equal(rg[1].n_out, n);
  uint64_t *ref = sh_xmalloc(n * sizeof *ref);
  assert_int_equal(ff_sigma_layernorm_emulate_ex(sp->bw, sp->scale, sp->R, sp->d, sp->rms, sp->opts, sp->x, sp->gamma,
                                                 sp->rms ? NULL : sp->beta, ref),
                   FF_OK);
  if (memcmp(rg[1].out, rc[1].out, n * sizeof *ref) != 0)
    fail_msg("%s d %zu seed %llu: CUDA != CPU", sp->rms ? "RMSNorm" : "LayerNorm", sp->d, (unsigned long long)seed);
  for (size_t i = 0; i < n; i++)
    if (rc[1].out[i] != ref[i])
      fail_msg("%s d %zu seed %llu, element %zu: got %llu, emulation %llu", sp->rms ? "RMSNorm" : "LayerNorm", sp->d,
               (unsigned long long)seed, i, (unsigned long long)rc[1].out[i], (unsigned long long)ref[i]);
  /* Every measured cost is the formula's, on both backends; the streams were read to the end. */
  ff_gate_cost want;
  assert_int_equal((sp->rms ? ff_sigma_rmsnorm_cost_ex : ff_sigma_layernorm_cost_ex)(sp->R, sp->d, sp->bw, sp->scale,
                                                                                      sp->opts, &want),
                   FF_OK);
  scu_check_costs(&rr, (const ff_gate_cost[2]){want, want});
  printf("  %s bw %d d %zu R %zu rsqrt_bits %d seed %llu: CUDA == CPU == emulation; %llu key B, %llu bits, %llu rounds "
         "per party\n",
         sp->rms ? "RMSNorm  " : "LayerNorm", sp->bw, sp->d, sp->R, sp->opts ? sp->opts->rsqrt_bits : 0,
         (unsigned long long)seed,
         (unsigned long long)want.key_bytes, (unsigned long long)want.bits_sent, (unsigned long long)want.rounds);
  free(ref);
  scu_run_free(&rr);
}

static int64_t uniform(ff_rng *rng, int64_t lo, int64_t hi) {
  return lo + (int64_t)(ff_rng_u64(rng) % (uint64_t)(hi - lo));
}

/* Rows as tests/test_sigma_layernorm.c: kind i % 4 = normal (|noise| < 2^14), tiny variance, constant,
 * one outlier; offsets up to +-2^off_bits. gamma in [-2, 2), beta in [-4, 4) at scale 12. */
static void check_case_ex(int rms, size_t R, size_t d, int off_bits, uint64_t seed, const ff_sigma_norm_opts *opts) {
  const int bw = 50, scale = 12;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 2000 + seed);
  uint64_t *x = sh_xmalloc(R * d * sizeof *x), *g = sh_xmalloc(d * sizeof *g), *b = sh_xmalloc(d * sizeof *b);
  const int64_t a = (int64_t)1 << 14;
  for (size_t i = 0; i < R; i++) {
    const int kind = (int)(i % 4);
    const int64_t off = off_bits ? uniform(&rng, -((int64_t)1 << off_bits), (int64_t)1 << off_bits) : 0;
    for (size_t j = 0; j < d; j++) {
      int64_t v = off;
      if (kind == 0) v += uniform(&rng, -a, a);
      if (kind == 1) v += uniform(&rng, -1, 2);
      if (kind == 3) v += j == 5 ? a : uniform(&rng, -a / 16, a / 16);
      x[i * d + j] = ff_ring_from_signed(v, bw);
    }
  }
  for (size_t j = 0; j < d; j++) {
    g[j] = ff_ring_from_signed(uniform(&rng, -(1 << 13), 1 << 13), bw);
    b[j] = ff_ring_from_signed(uniform(&rng, -(1 << 14), 1 << 14), bw);
  }
  spec sp = {.rms = rms, .bw = bw, .scale = scale, .R = R, .d = d, .x = x, .gamma = g, .beta = b, .opts = opts};
  check_gate(&sp, seed);
  free(x), free(g), free(b);
}

static void check_case(int rms, size_t R, size_t d, int off_bits, uint64_t seed) {
  check_case_ex(rms, R, d, off_bits, seed, NULL);
}

static void test_gate_layernorm(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 2; seed++) {
    check_case(0, 8, 64, 22, seed);
    check_case(0, 8, 96, 22, seed); /* not a power of two: x floor(2^12 / 96), TrFloor by 12 */
  }
}

static void test_gate_rmsnorm(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 2; seed++) check_case(1, 8, 64, 12, seed);
}

/* Other rsqrt widths (ff_sigma_norm_opts): 16 bits at bw 50 (the normalisation's 66-bit message) and 9. */
static void test_gate_rsqrt_bits(void **state) {
  (void)state;
  const ff_sigma_norm_opts o16 = {.rsqrt_bits = 16}, o9 = {.rsqrt_bits = 9};
  check_case_ex(0, 8, 64, 22, 3, &o16);
  check_case_ex(1, 8, 96, 12, 4, &o9);
}

/* ---- Kernels: _cuda against _cpu on random inputs ----------------------------------------------------------- */

static void test_kernels(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 51);
  /* mant: the rsqrt table's mantissa bits (SIGMA's 7; 2..10 with ff_sigma_norm_opts). */
  const struct { int bw; size_t R, d; int mant; } cases[] = {{50, 7, 64, 7}, {37, 33, 96, 3}, {48, 3, 777, 10},
                                                             {20, 1, 2, 7}, {51, 5, 64, 2}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int party = 0; party < 2; party++) {
      cpu.party = gpu.party = party;
      const int bw = cases[c].bw, L = bw - 3, mant = cases[c].mant;
      const size_t R = cases[c].R, d = cases[c].d, N = R * d, J = (size_t)L + 1, nkey = (2 * J + 3) * R;
      const size_t ltb = (J * R + 7) / 8, mb = ((size_t)L * R + 7) / 8;
      const uint64_t mult = ff_rng_u64(&rng) & 0xfff;
      uint64_t *x = scu_rand_u64(&rng, N), *mu = scu_rand_u64(&rng, R), *k2 = scu_rand_u64(&rng, 2 * N),
               *kw = scu_rand_u64(&rng, 2 * N + R + d), *wr = scu_rand_u64(&rng, R), *wc = scu_rand_u64(&rng, d),
               *v = scu_rand_u64(&rng, R), *chat = scu_rand_u64(&rng, (size_t)L * R), *kn = scu_rand_u64(&rng, nkey),
               *e = scu_rand_u64(&rng, 2 * R), *b = scu_rand_u64(&rng, d);
      for (size_t i = 0; i < R; i++) v[i] = ff_ring_reduce(v[i], bw);
      uint8_t *lt = sh_xmalloc(ltb), *mask = sh_xmalloc(mb);
      assert_int_equal(ff_rng_bytes(&rng, lt, ltb), FF_OK);
      assert_int_equal(ff_rng_bytes(&rng, mask, mb), FF_OK);
      /* CPU. */
      uint64_t *sum = sh_xmalloc(R * 8), *xc = sh_xmalloc(N * 8), *sq = sh_xmalloc(R * 8), *nrm = sh_xmalloc(2 * R * 8),
               *wmr = sh_xmalloc(N * 8), *wmc = sh_xmalloc(N * 8), *pts = sh_xmalloc(J * R * 8),
               *cb = sh_xmalloc((size_t)L * R * 8), *idx = sh_xmalloc(R * 8), *y = sh_xmalloc(N * 8);
      memcpy(y, x, N * 8);
      assert_int_equal(ff_sigma_ln_rowsum_cpu(&cpu, bw, R, d, mult, x, sum), FF_OK);
      assert_int_equal(ff_sigma_ln_center_cpu(&cpu, bw, R, d, x, mu, xc), FF_OK);
      assert_int_equal(ff_sigma_ln_square_cpu(&cpu, bw, R, d, x, k2, sq), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_normalize_cpu(&cpu, bw, mant, R, chat, v, kn, nrm), FF_OK);
      assert_int_equal(ff_sigma_ln_wmul_cpu(&cpu, bw, R, d, 1, x, wr, kw, wmr), FF_OK);
      assert_int_equal(ff_sigma_ln_wmul_cpu(&cpu, bw, R, d, 0, x, wc, kw, wmc), FF_OK);
      assert_int_equal(ff_sigma_ln_addcol_cpu(&cpu, bw, R, d, y, b), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_points_cpu(&cpu, bw, R, v, pts), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_bits_cpu(&cpu, bw, R, v, lt, mask, cb), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_index_cpu(&cpu, mant, R, e + R, e, idx), FF_OK);
      /* CUDA, through the dispatchers. */
      uint64_t *dx = scu_dev_up(x, N * 8), *dmu = scu_dev_up(mu, R * 8), *dk2 = scu_dev_up(k2, 2 * N * 8),
               *dkw = scu_dev_up(kw, (2 * N + R + d) * 8), *dwr = scu_dev_up(wr, R * 8), *dwc = scu_dev_up(wc, d * 8),
               *dv = scu_dev_up(v, R * 8), *dchat = scu_dev_up(chat, (size_t)L * R * 8), *dkn = scu_dev_up(kn, nkey * 8),
               *de = scu_dev_up(e, 2 * R * 8), *db = scu_dev_up(b, d * 8), *dy = scu_dev_up(x, N * 8);
      uint8_t *dlt = scu_dev_up(lt, ltb), *dmask = scu_dev_up(mask, mb);
      uint64_t *dsum = scu_dev_garbage(R * 8), *dxc = scu_dev_garbage(N * 8), *dsq = scu_dev_garbage(R * 8),
               *dnrm = scu_dev_garbage(2 * R * 8), *dwmr = scu_dev_garbage(N * 8), *dwmc = scu_dev_garbage(N * 8),
               *dpts = scu_dev_garbage(J * R * 8), *dcb = scu_dev_garbage((size_t)L * R * 8), *didx = scu_dev_garbage(R * 8);
      assert_int_equal(ff_sigma_ln_rowsum(&gpu, bw, R, d, mult, dx, dsum), FF_OK);
      assert_int_equal(ff_sigma_ln_center(&gpu, bw, R, d, dx, dmu, dxc), FF_OK);
      assert_int_equal(ff_sigma_ln_square(&gpu, bw, R, d, dx, dk2, dsq), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_normalize(&gpu, bw, mant, R, dchat, dv, dkn, dnrm), FF_OK);
      assert_int_equal(ff_sigma_ln_wmul(&gpu, bw, R, d, 1, dx, dwr, dkw, dwmr), FF_OK);
      assert_int_equal(ff_sigma_ln_wmul(&gpu, bw, R, d, 0, dx, dwc, dkw, dwmc), FF_OK);
      assert_int_equal(ff_sigma_ln_addcol(&gpu, bw, R, d, dy, db), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_points(&gpu, bw, R, dv, dpts), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_bits(&gpu, bw, R, dv, dlt, dmask, dcb), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_index(&gpu, mant, R, de + R, de, didx), FF_OK);
      scu_dev_down_cmp(dsum, sum, R * 8, "ff_sigma_ln_rowsum_cuda");
      scu_dev_down_cmp(dxc, xc, N * 8, "ff_sigma_ln_center_cuda");
      scu_dev_down_cmp(dsq, sq, R * 8, "ff_sigma_ln_square_cuda");
      scu_dev_down_cmp(dnrm, nrm, 2 * R * 8, "ff_sigma_rsqrt_normalize_cuda");
      scu_dev_down_cmp(dwmr, wmr, N * 8, "ff_sigma_ln_wmul_cuda (per row)");
      scu_dev_down_cmp(dwmc, wmc, N * 8, "ff_sigma_ln_wmul_cuda (per column)");
      scu_dev_down_cmp(dy, y, N * 8, "ff_sigma_ln_addcol_cuda");
      scu_dev_down_cmp(dpts, pts, J * R * 8, "ff_sigma_rsqrt_points_cuda");
      scu_dev_down_cmp(dcb, cb, (size_t)L * R * 8, "ff_sigma_rsqrt_bits_cuda");
      scu_dev_down_cmp(didx, idx, R * 8, "ff_sigma_rsqrt_index_cuda");
      void *dev_bufs[] = {dx, dmu, dk2, dkw, dwr, dwc, dv, dchat, dkn, de, db, dy, dlt, dmask,
                          dsum, dxc, dsq, dnrm, dwmr, dwmc, dpts, dcb, didx};
      for (size_t i = 0; i < sizeof dev_bufs / sizeof dev_bufs[0]; i++) ff_cuda_free(dev_bufs[i]);
      void *host_bufs[] = {x, mu, k2, kw, wr, wc, v, chat, kn, e, b, lt, mask,
                           sum, xc, sq, nrm, wmr, wmc, pts, cb, idx, y};
      for (size_t i = 0; i < sizeof host_bufs / sizeof host_bufs[0]; i++) free(host_bufs[i]);
    }
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_sigma_cuda_layernorm: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernels),
      cmocka_unit_test(test_gate_layernorm),
      cmocka_unit_test(test_gate_rmsnorm),
      cmocka_unit_test(test_gate_rsqrt_bits),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
