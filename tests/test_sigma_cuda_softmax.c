/* gates/sigma/softmax on the CUDA backend (op.h "What runs where"; research/sigma.md §4 "Softmax per
 * attention row"): one CPU dealer makes the keys for rows of 16, 128 and 12 (non-causal) and for causal
 * (B, n, n) scores with n = 8, 13 and 128, which both CPU parties and both CUDA parties evaluate; the CUDA
 * run reveals the CPU run's output byte for byte, both equal ff_sigma_softmax_emulate (causal_emulate),
 * and every measured cost equals ff_sigma_softmax_cost (causal_cost); the same with options (reciprocal tables
 * of 16 and 10 bits, a nExp hook: the _ex functions). Then each softmax _cuda kernel,
 * the causal packing's included, against its _cpu twin. Needs a GPU; exits 77 (skipped) without one. The
 * two-party runner: tests/sigma_cuda_harness.h. */
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
#include "gates/sigma/op.h"
#include "gates/sigma/softmax.h"
#include "gates/sigma/truncate.h"
#include "sigma_cuda_harness.h"

static ff_ctx cpu, gpu; /* kernel tests: one context per backend */

/* ---- The softmax as a graph ----------------------------------------------------------------------------- */

typedef struct {
  int bw;
  size_t R, n;
  int causal;        /* ff_op_softmax_causal on (R / n, n, n); else ff_op_softmax on (R, n) */
  const uint64_t *x; /* (R, n) P1's scores mod 2^bw, scale 12 */
  const ff_sigma_softmax_opts *opts; /* NULL: SIGMA's softmax (the plain functions) */
} spec;

static ff_status graph(ff_op *op, const void *arg, sh_result *r) {
  const spec *sp = arg;
  const int64_t shape2[2] = {(int64_t)sp->R, (int64_t)sp->n};
  const int64_t shape3[3] = {(int64_t)(sp->R / sp->n), (int64_t)sp->n, (int64_t)sp->n};
  ff_wire x = {0}, y = {0};
  ff_status st;
  if ((st = ff_op_input(op, 1, sp->causal ? 3 : 2, sp->causal ? shape3 : shape2, sp->x, &x))) goto done;
  ff_gate_cost before[2];
  sh_gate_begin(op, before);
  if (sp->opts)
    st = sp->causal ? ff_op_softmax_causal_ex(op, &x, &y, sp->opts) : ff_op_softmax_ex(op, &x, &y, sp->opts);
  else
    st = sp->causal ? ff_op_softmax_causal(op, &x, &y) : ff_op_softmax(op, &x, &y);
  if (st) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

/* One dealer (CPU, seeded), its keys evaluated by CPU parties and by CUDA parties. */
static void check_softmax(const spec *sp, uint64_t seed) {
  const sh_spec hs = {.bw = sp->bw, .scale = 12, .graph = graph, .arg = sp};
  scu_run rr;
  scu_run_cpu_cuda(&hs, seed, "test-sigma-cuda-softmax", &rr);
  const sh_result *rc = rr.cpu, *rg = rr.cuda;
  /* The CUDA run reveals the CPU run's output, byte for byte, and both are the emulation's. */
  const size_t N = sp->R * sp->n;
  assert_int_equal(rc[1].n_out, N);
  assert_int_equal(rg[1].n_out, N);
  const char *what = sp->causal ? "causal softmax" : "softmax";
  uint64_t *ref = sh_xmalloc(N * sizeof *ref);
  if (sp->opts)
    assert_int_equal((sp->causal ? ff_sigma_softmax_causal_emulate_ex : ff_sigma_softmax_emulate_ex)(
                         sp->bw, sp->R, sp->n, sp->opts, sp->x, ref),
                     FF_OK);
  else if (sp->causal)
    ff_sigma_softmax_causal_emulate(sp->bw, sp->R, sp->n, sp->x, ref);
  else
    ff_sigma_softmax_emulate(sp->bw, sp->R, sp->n, sp->x, ref);
  if (memcmp(rg[1].out, rc[1].out, N * sizeof *ref) != 0)
    fail_msg("%s %zu x %zu seed %llu: CUDA != CPU", what, sp->R, sp->n, (unsigned long long)seed);
  for (size_t i = 0; i < N; i++)
    if (rc[1].out[i] != ref[i])
      fail_msg("%s %zu x %zu seed %llu element %zu: got %llu, emulation %llu", what, sp->R, sp->n,
               (unsigned long long)seed, i, (unsigned long long)rc[1].out[i], (unsigned long long)ref[i]);
  /* Every measured cost is the formula's, on both backends; the streams were read to the end. Per
   * element: per packed element for the causal gate. */
  ff_gate_cost want;
  if (sp->opts)
    assert_int_equal((sp->causal ? ff_sigma_softmax_causal_cost_ex : ff_sigma_softmax_cost_ex)(sp->R, sp->n, sp->bw,
                                                                                               sp->opts, &want),
                     FF_OK);
  else if (sp->causal)
    ff_sigma_softmax_causal_cost(sp->R, sp->n, sp->bw, &want);
  else
    ff_sigma_softmax_cost(sp->R, sp->n, sp->bw, &want);
  scu_check_costs(&rr, (const ff_gate_cost[2]){want, want});
  const double per = (double)(sp->causal ? ff_sigma_causal_numel(sp->R, sp->n, 0) : N);
  printf("%s %zu x %zu (bw %d, inv_bits %d%s): CUDA == CPU == emulation; %.1f B/elem, %.1f bits/elem, %llu rounds\n",
         what, sp->R, sp->n, sp->bw, sp->opts ? sp->opts->inv_bits : 0,
         sp->opts && sp->opts->nexp ? ", nExp hooked" : "",
         (double)want.key_bytes / per, (double)want.bits_sent / per, (unsigned long long)want.rounds);
  free(ref);
  scu_run_free(&rr);
}

/* (R, n) scores uniform in [-spread, spread) (real, scale 12); with `equal_row`, row 0 all equal. */
static uint64_t *scores(ff_rng *rng, size_t R, size_t n, double spread, int bw, int equal_row) {
  uint64_t *x = sh_xmalloc(R * n * sizeof *x);
  const uint64_t span = (uint64_t)(2 * spread * 4096);
  for (size_t i = 0; i < R * n; i++)
    x[i] = ff_ring_from_signed((int64_t)(ff_rng_u64(rng) % span) - (int64_t)(spread * 4096), bw);
  if (equal_row)
    for (size_t j = 0; j < n; j++) x[j] = ff_ring_from_signed(-3 * 4096 + 17, bw);
  return x;
}

static const uint64_t seeds[] = {1, 0x5eed5eedULL};

/* ---- The gate, CUDA parties against CPU parties --------------------------------------------------------- */

static void test_gate_softmax(void **state) {
  (void)state;
  /* spread 40 puts most max - x beyond the clip 2^16 - 1 (16.0); spread 6 keeps them inside. n = 12
   * has an odd max-tree level and an all-equal row; n = 16 and 128 are powers of two. */
  const struct { int bw; size_t R, n; double spread; int equal_row; } cases[] = {
      {50, 4, 16, 6.0, 0}, {50, 3, 16, 40.0, 1}, {50, 2, 128, 6.0, 0}, {50, 2, 128, 40.0, 0},
      {50, 5, 12, 6.0, 1}, {37, 3, 12, 40.0, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t k = 0; k < 2; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 300 + 17 * c + seeds[k]);
      uint64_t *x = scores(&rng, cases[c].R, cases[c].n, cases[c].spread, cases[c].bw, cases[c].equal_row);
      const spec sp = {cases[c].bw, cases[c].R, cases[c].n, 0, x, NULL};
      check_softmax(&sp, seeds[k] + c);
      free(x);
    }
}

static void test_gate_softmax_causal(void **state) {
  (void)state;
  /* B blocks of (n, n): two blocks of 8 (a power of two, rows of 1..8 values), one of 13 (odd levels in
   * the ragged tree), one of 128 (SIGMA's 8576 comparisons per block). Row 0 of a block is one value. */
  const struct { int bw; size_t B, n; double spread; int equal_row; } cases[] = {
      {50, 2, 8, 6.0, 0}, {50, 2, 8, 40.0, 1}, {50, 1, 13, 6.0, 0}, {37, 1, 13, 40.0, 1}, {50, 1, 128, 6.0, 0},
      {50, 1, 128, 40.0, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t k = 0; k < 2; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 700 + 17 * c + seeds[k]);
      const size_t R = cases[c].B * cases[c].n;
      uint64_t *x = scores(&rng, R, cases[c].n, cases[c].spread, cases[c].bw, cases[c].equal_row);
      const spec sp = {cases[c].bw, R, cases[c].n, 1, x, NULL};
      check_softmax(&sp, seeds[k] + 40 + c);
      free(x);
    }
}

/* ---- Options: other reciprocal widths, and a nExp hook (softmax.h ff_sigma_softmax_opts) ---------------------- */

/* The hook of tests/test_sigma_softmax.c: SIGMA's nExp of x1 / 2 (TrWithSlack by 1, then ff_sigma_nexp), both
 * with CUDA kernels; its output must land in device memory on a CUDA party. */
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

static void test_gate_softmax_opts(void **state) {
  (void)state;
  const ff_sigma_softmax_opts inv16 = {.inv_bits = 16}, inv10 = {.inv_bits = 10};
  const ff_sigma_softmax_opts half = {
      .nexp = half_nexp, .nexp_cost = half_nexp_cost, .nexp_emulate = half_nexp_emulate};
  ff_sigma_softmax_opts half10 = half;
  half10.inv_bits = 10;
  /* b = 16 at n = 128 (t = 3); b = 10 causal at n = 32 (t = 7); the hook, alone at n = 128 and with b = 10
   * causal at n = 32. */
  const struct { size_t R, n; int causal; double spread; const ff_sigma_softmax_opts *opts; } cases[] = {
      {3, 128, 0, 6.0, &inv16}, {64, 32, 1, 20.0, &inv10}, {2, 128, 0, 20.0, &half}, {32, 32, 1, 6.0, &half10}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ff_rng rng;
    ff_rng_init_seeded(&rng, 900 + 17 * c);
    uint64_t *x = scores(&rng, cases[c].R, cases[c].n, cases[c].spread, 50, 0);
    const spec sp = {50, cases[c].R, cases[c].n, cases[c].causal, x, cases[c].opts};
    check_softmax(&sp, 80 + c);
    free(x);
  }
}

/* ---- Kernels, _cuda against _cpu ------------------------------------------------------------------------- */

static void test_kernel_maxtree(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 51);
  const size_t R = 37;
  const size_t ms[] = {128, 12, 7, 3, 2};
  const int rings[] = {40, 64, 1};
  for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
    for (size_t b = 0; b < sizeof rings / sizeof rings[0]; b++) {
      const size_t m = ms[a], h = m / 2, m2 = (m + 1) / 2;
      const int ring = rings[b];
      uint64_t *v = scu_rand_u64(&rng, R * m), *relu = scu_rand_u64(&rng, R * h);
      uint64_t *d = sh_xmalloc(R * h * 8), *next = sh_xmalloc(R * m2 * 8);
      assert_int_equal(ff_sigma_maxtree_diff_cpu(&cpu, ring, R, m, v, d), FF_OK);
      assert_int_equal(ff_sigma_maxtree_next_cpu(&cpu, ring, R, m, v, relu, next), FF_OK);
      uint64_t *dv = scu_dev_up(v, R * m * 8), *drelu = scu_dev_up(relu, R * h * 8);
      uint64_t *dd = scu_dev_garbage(R * h * 8), *dnext = scu_dev_garbage(R * m2 * 8);
      assert_int_equal(ff_sigma_maxtree_diff(&gpu, ring, R, m, dv, dd), FF_OK);
      assert_int_equal(ff_sigma_maxtree_next(&gpu, ring, R, m, dv, drelu, dnext), FF_OK);
      scu_dev_down_cmp(dd, d, R * h * 8, "ff_sigma_maxtree_diff_cuda");
      scu_dev_down_cmp(dnext, next, R * m2 * 8, "ff_sigma_maxtree_next_cuda");
      ff_cuda_free(dv), ff_cuda_free(drelu), ff_cuda_free(dd), ff_cuda_free(dnext);
      free(v), free(relu), free(d), free(next);
    }
}

static void test_kernel_sub_rowsum(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 52);
  const struct { size_t R, n; int ring; } cases[] = {{37, 128, 40}, {300, 12, 50}, {5, 1000, 64}, {1, 3, 13}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const size_t R = cases[c].R, n = cases[c].n, N = R * n;
    const int ring = cases[c].ring;
    uint64_t *mx = scu_rand_u64(&rng, R), *x = scu_rand_u64(&rng, N), *x1 = sh_xmalloc(N * 8), *sum = sh_xmalloc(R * 8);
    assert_int_equal(ff_sigma_softmax_sub_cpu(&cpu, ring, R, n, mx, x, x1), FF_OK);
    assert_int_equal(ff_sigma_rowsum_cpu(&cpu, ring, R, n, x, sum), FF_OK);
    uint64_t *dmx = scu_dev_up(mx, R * 8), *dx = scu_dev_up(x, N * 8);
    uint64_t *dx1 = scu_dev_garbage(N * 8), *dsum = scu_dev_garbage(R * 8);
    assert_int_equal(ff_sigma_softmax_sub(&gpu, ring, R, n, dmx, dx, dx1), FF_OK);
    assert_int_equal(ff_sigma_rowsum(&gpu, ring, R, n, dx, dsum), FF_OK);
    scu_dev_down_cmp(dx1, x1, N * 8, "ff_sigma_softmax_sub_cuda");
    scu_dev_down_cmp(dsum, sum, R * 8, "ff_sigma_rowsum_cuda");
    ff_cuda_free(dmx), ff_cuda_free(dx), ff_cuda_free(dx1), ff_cuda_free(dsum);
    free(mx), free(x), free(x1), free(sum);
  }
}

static void test_kernel_add_const_bcast(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 53);
  const size_t N = 1003;
  const struct { int ring; uint64_t c; } cases[] = {
      {1, 1}, {40, (uint64_t)0 - 65535}, {16, 65535}, {64, 0x8000000000000001ULL}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    uint64_t *in = scu_rand_u64(&rng, N), *out = sh_xmalloc(N * 8);
    if (cases[k].ring == 1)
      for (size_t i = 0; i < N; i++) in[i] &= 1; /* the flip of revealed bits */
    assert_int_equal(ff_sigma_add_const_cpu(&cpu, cases[k].ring, N, in, cases[k].c, out), FF_OK);
    if (cases[k].ring == 1)
      for (size_t i = 0; i < N; i++) assert_int_equal(out[i], in[i] ^ 1);
    uint64_t *din = scu_dev_up(in, N * 8), *dout = scu_dev_garbage(N * 8);
    assert_int_equal(ff_sigma_add_const(&gpu, cases[k].ring, N, din, cases[k].c, dout), FF_OK);
    scu_dev_down_cmp(dout, out, N * 8, "ff_sigma_add_const_cuda");
    assert_int_equal(ff_sigma_add_const(&gpu, cases[k].ring, N, din, cases[k].c, din), FF_OK); /* in place */
    scu_dev_down_cmp(din, out, N * 8, "ff_sigma_add_const_cuda (in place)");
    ff_cuda_free(din), ff_cuda_free(dout);
    free(in), free(out);
  }
  const struct { size_t R, n; } bc[] = {{37, 128}, {1003, 1}, {3, 12}};
  for (size_t k = 0; k < sizeof bc / sizeof bc[0]; k++) {
    const size_t R = bc[k].R, n = bc[k].n;
    uint64_t *in = scu_rand_u64(&rng, R), *out = sh_xmalloc(R * n * 8);
    assert_int_equal(ff_sigma_row_bcast_cpu(&cpu, R, n, in, out), FF_OK);
    uint64_t *din = scu_dev_up(in, R * 8), *dout = scu_dev_garbage(R * n * 8);
    assert_int_equal(ff_sigma_row_bcast(&gpu, R, n, din, dout), FF_OK);
    scu_dev_down_cmp(dout, out, R * n * 8, "ff_sigma_row_bcast_cuda");
    ff_cuda_free(din), ff_cuda_free(dout);
    free(in), free(out);
  }
}

/* The causal packing's kernels: odd row counts (not a multiple of n, and a partial last block), n from 1
 * (one value per row) to 128, rings 1, 40, 50, 64. */
static const struct { size_t R, n; int ring; } causal_cases[] = {
    {37, 13, 40}, {16, 8, 50}, {128, 128, 64}, {301, 3, 1}, {7, 1, 40}, {259, 128, 50}, {45, 12, 13},
};

static void test_kernel_causal_pack(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 54);
  for (size_t c = 0; c < sizeof causal_cases / sizeof causal_cases[0]; c++) {
    const size_t R = causal_cases[c].R, n = causal_cases[c].n, N = R * n, Np = ff_sigma_causal_numel(R, n, 0);
    const int ring = causal_cases[c].ring;
    size_t want_np = 0;
    for (size_t r = 0; r < R; r++) want_np += r % n + 1;
    assert_int_equal(Np, want_np);
    uint64_t *x = scu_rand_u64(&rng, N), *mx = scu_rand_u64(&rng, R), *e = scu_rand_u64(&rng, Np);
    uint64_t *xp = sh_xmalloc(Np * 8), *y = sh_xmalloc(N * 8), *x1 = sh_xmalloc(Np * 8), *sum = sh_xmalloc(R * 8),
             *bc = sh_xmalloc(Np * 8);
    assert_int_equal(ff_sigma_causal_pack_cpu(&cpu, ring, R, n, x, xp), FF_OK);
    assert_int_equal(ff_sigma_causal_unpack_cpu(&cpu, R, n, xp, y), FF_OK);
    assert_int_equal(ff_sigma_causal_sub_cpu(&cpu, ring, R, n, mx, e, x1), FF_OK);
    assert_int_equal(ff_sigma_causal_rowsum_cpu(&cpu, ring, R, n, e, sum), FF_OK);
    assert_int_equal(ff_sigma_causal_bcast_cpu(&cpu, R, n, mx, bc), FF_OK);
    /* The reference itself: unpack(pack(x)) is x mod 2^ring on and below the diagonal, 0 above. */
    for (size_t r = 0; r < R; r++)
      for (size_t j = 0; j < n; j++)
        assert_int_equal(y[r * n + j], j <= r % n ? ff_ring_reduce(x[r * n + j], ring) : 0);
    uint64_t *dx = scu_dev_up(x, N * 8), *dmx = scu_dev_up(mx, R * 8), *de = scu_dev_up(e, Np * 8);
    uint64_t *dxp = scu_dev_garbage(Np * 8), *dy = scu_dev_garbage(N * 8), *dx1 = scu_dev_garbage(Np * 8),
             *dsum = scu_dev_garbage(R * 8), *dbc = scu_dev_garbage(Np * 8);
    assert_int_equal(ff_sigma_causal_pack(&gpu, ring, R, n, dx, dxp), FF_OK);
    assert_int_equal(ff_sigma_causal_unpack(&gpu, R, n, dxp, dy), FF_OK);
    assert_int_equal(ff_sigma_causal_sub(&gpu, ring, R, n, dmx, de, dx1), FF_OK);
    assert_int_equal(ff_sigma_causal_rowsum(&gpu, ring, R, n, de, dsum), FF_OK);
    assert_int_equal(ff_sigma_causal_bcast(&gpu, R, n, dmx, dbc), FF_OK);
    scu_dev_down_cmp(dxp, xp, Np * 8, "ff_sigma_causal_pack_cuda");
    scu_dev_down_cmp(dy, y, N * 8, "ff_sigma_causal_unpack_cuda");
    scu_dev_down_cmp(dx1, x1, Np * 8, "ff_sigma_causal_sub_cuda");
    scu_dev_down_cmp(dsum, sum, R * 8, "ff_sigma_causal_rowsum_cuda");
    scu_dev_down_cmp(dbc, bc, Np * 8, "ff_sigma_causal_bcast_cuda");
    ff_cuda_free(dx), ff_cuda_free(dmx), ff_cuda_free(de), ff_cuda_free(dxp), ff_cuda_free(dy), ff_cuda_free(dx1),
        ff_cuda_free(dsum), ff_cuda_free(dbc);
    free(x), free(mx), free(e), free(xp), free(y), free(x1), free(sum), free(bc);
  }
}

static void test_kernel_causal_maxtree(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 55);
  for (size_t c = 0; c < sizeof causal_cases / sizeof causal_cases[0]; c++) {
    const size_t R = causal_cases[c].R, n = causal_cases[c].n;
    const int ring = causal_cases[c].ring;
    int L = 0;
    while (((size_t)1 << L) < n) L++;
    /* Every level the gate runs, and one beyond (one value per row, compared with itself). */
    for (int l = 0; l <= L; l++) {
      const size_t m = ff_sigma_causal_numel(R, n, l), h = ff_sigma_causal_numel(R, n, l + 1);
      uint64_t *v = scu_rand_u64(&rng, m), *relu = scu_rand_u64(&rng, h);
      uint64_t *d = sh_xmalloc(h * 8), *next = sh_xmalloc(h * 8);
      assert_int_equal(ff_sigma_causal_maxtree_diff_cpu(&cpu, ring, R, n, l, v, d), FF_OK);
      assert_int_equal(ff_sigma_causal_maxtree_next_cpu(&cpu, ring, R, n, l, v, relu, next), FF_OK);
      uint64_t *dv = scu_dev_up(v, m * 8), *drelu = scu_dev_up(relu, h * 8);
      uint64_t *dd = scu_dev_garbage(h * 8), *dnext = scu_dev_garbage(h * 8);
      assert_int_equal(ff_sigma_causal_maxtree_diff(&gpu, ring, R, n, l, dv, dd), FF_OK);
      assert_int_equal(ff_sigma_causal_maxtree_next(&gpu, ring, R, n, l, dv, drelu, dnext), FF_OK);
      char what[96];
      snprintf(what, sizeof what, "ff_sigma_causal_maxtree_diff_cuda (R %zu, n %zu, level %d)", R, n, l);
      scu_dev_down_cmp(dd, d, h * 8, what);
      snprintf(what, sizeof what, "ff_sigma_causal_maxtree_next_cuda (R %zu, n %zu, level %d)", R, n, l);
      scu_dev_down_cmp(dnext, next, h * 8, what);
      ff_cuda_free(dv), ff_cuda_free(drelu), ff_cuda_free(dd), ff_cuda_free(dnext);
      free(v), free(relu), free(d), free(next);
    }
  }
  /* A level outside 0..62 is refused by both. */
  uint64_t one = 0;
  assert_int_equal(ff_sigma_causal_maxtree_diff_cpu(&cpu, 40, 1, 1, 63, &one, &one), FF_EINVAL);
  assert_int_equal(ff_sigma_causal_maxtree_diff(&gpu, 40, 1, 1, -1, &one, &one), FF_EINVAL);
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_sigma_cuda_softmax: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernel_maxtree),
      cmocka_unit_test(test_kernel_sub_rowsum),
      cmocka_unit_test(test_kernel_add_const_bcast),
      cmocka_unit_test(test_kernel_causal_pack),
      cmocka_unit_test(test_kernel_causal_maxtree),
      cmocka_unit_test(test_gate_softmax),
      cmocka_unit_test(test_gate_softmax_causal),
      cmocka_unit_test(test_gate_softmax_opts),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
