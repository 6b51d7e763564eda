/* gates/sigma on the CUDA backend (op.h "What runs where"): for TrFloor, TrWithSlack, DReLU, ReLU,
 * elementwise mul, matmul, GELU and SiLU, one dealer (CPU) makes the keys, which both CPU parties and both CUDA
 * parties (own contexts and streams, two threads, ff_chan_mem_pair) evaluate: the CUDA run reveals
 * the CPU run's output byte for byte, both equal the cleartext reference, and every measured cost
 * equals the cost function. Then each _cuda kernel against its _cpu twin on random inputs. Needs a
 * GPU; exits 77 (skipped) without one. The two-party runner: tests/sigma_cuda_harness.h. */
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
#include "gates/fss/lut.h"
#include "gates/fss/select.h"
#include "gates/sigma/gelu.h"
#include "gates/sigma/matmul.h"
#include "gates/sigma/mul.h"
#include "gates/sigma/op.h"
#include "gates/sigma/op_internal.h"
#include "gates/sigma/relu.h"
#include "gates/sigma/truncate.h"
#include "sigma_cuda_harness.h"

static ff_ctx cpu, gpu; /* kernel tests: one context per backend; party set per call */

/* ---- One gate as a graph -------------------------------------------------------------------------------- */

typedef sh_gate gate_kind;

typedef struct {
  gate_kind kind;
  int bw, scale, s, b_out;
  size_t M, K, N;    /* elementwise: N elements; matmul: X (M, K), W (K, N) */
  const uint64_t *x; /* P1's input */
  const uint64_t *y; /* P0's input (mul, matmul) */
} spec;

static ff_status graph(ff_op *op, const void *arg, sh_result *r) {
  const spec *sp = arg;
  ff_wire x = {0}, w = {0}, y = {0};
  ff_status st;
  if (sp->kind == SH_MATMUL) {
    const int64_t xs[2] = {(int64_t)sp->M, (int64_t)sp->K}, ws[2] = {(int64_t)sp->K, (int64_t)sp->N};
    if ((st = ff_op_input(op, 1, 2, xs, sp->x, &x)) || (st = ff_op_input(op, 0, 2, ws, sp->y, &w))) goto done;
  } else {
    const int64_t xs[1] = {(int64_t)sp->N};
    if ((st = ff_op_input(op, 1, 1, xs, sp->x, &x))) goto done;
    if (sp->kind == SH_MUL && (st = ff_op_input(op, 0, 1, xs, sp->y, &w))) goto done;
  }
  ff_gate_cost before[2];
  sh_gate_begin(op, before);
  switch (sp->kind) {
    case SH_TRFLOOR: st = ff_op_trfloor(op, &x, sp->s, &y); break;
    case SH_TRSLACK: st = ff_op_trslack(op, &x, sp->s, sp->b_out, &y); break;
    case SH_DRELU: st = ff_op_drelu(op, &x, &y); break;
    case SH_RELU: st = ff_op_relu(op, &x, sp->b_out, &y); break;
    case SH_MUL: st = ff_op_mul(op, &x, &w, &y); break;
    case SH_MATMUL: st = ff_op_matmul(op, &x, &w, &y); break;
    case SH_GELU: st = ff_op_gelu(op, &x, &y); break;
    case SH_SILU: st = ff_op_silu(op, &x, &y); break;
  }
  if (st) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&w);
  ff_wire_free(&y);
  return st;
}

/* ---- Reference and checks ---------------------------------------------------------------------------------- */

static void reference(const spec *sp, uint64_t *ref) {
  sh_gate_reference(sp->kind, sp->bw, sp->scale, sp->s, sp->b_out, sp->M, sp->K, sp->N, sp->x, sp->y, ref);
}

static void formula(const spec *sp, ff_gate_cost *c) {
  switch (sp->kind) {
    case SH_TRFLOOR: ff_sigma_trfloor_cost(sp->N, sp->bw, sp->s, c); break;
    case SH_TRSLACK: ff_sigma_trslack_cost(sp->N, sp->bw, sp->s, sp->b_out, c); break;
    case SH_DRELU: ff_sigma_drelu_cost(sp->N, sp->bw, c); break;
    case SH_RELU: ff_sigma_relu_cost(sp->N, sp->bw, sp->b_out, c); break;
    case SH_MUL: ff_sigma_mul_cost(sp->N, sp->bw, sp->scale, c); break;
    case SH_MATMUL: ff_sigma_matmul_cost(sp->M, sp->K, sp->N, sp->bw, sp->scale, c); break;
    case SH_GELU: ff_sigma_gelu_cost(sp->N, sp->bw, sp->scale, c); break;
    case SH_SILU: ff_sigma_silu_cost(sp->N, sp->bw, sp->scale, c); break;
  }
}

/* One dealer (CPU, seeded), its keys evaluated by CPU parties and by CUDA parties. */
static void check_gate(const spec *sp, uint64_t seed) {
  const sh_spec hs = {.bw = sp->bw, .scale = sp->scale, .graph = graph, .arg = sp};
  scu_run rr;
  scu_run_cpu_cuda(&hs, seed, "test-sigma-cuda", &rr);
  const sh_result *rc = rr.cpu, *rg = rr.cuda;
  /* The CUDA run reveals the CPU run's output, byte for byte, and both are the reference. */
  const size_t n = rc[1].n_out;
  assert_int_equal(rg[1].n_out, n);
  uint64_t *ref = sh_xmalloc(n * sizeof *ref);
  reference(sp, ref);
  if (memcmp(rg[1].out, rc[1].out, n * sizeof *ref) != 0) fail_msg("gate %d seed %llu: CUDA != CPU", (int)sp->kind,
                                                                    (unsigned long long)seed);
  for (size_t i = 0; i < n; i++)
    if (rc[1].out[i] != ref[i])
      fail_msg("gate %d, seed %llu, element %zu: got %llu, want %llu", (int)sp->kind, (unsigned long long)seed, i,
               (unsigned long long)rc[1].out[i], (unsigned long long)ref[i]);
  /* Every measured cost is the formula's, on both backends; the streams were read to the end. */
  ff_gate_cost want;
  formula(sp, &want);
  scu_check_costs(&rr, (const ff_gate_cost[2]){want, want});
  free(ref);
  scu_run_free(&rr);
}

/* n values: edge cases first, then uniform in [lo, hi), as ring elements mod 2^bw. */
static uint64_t *make_inputs(ff_rng *rng, size_t n, int bw, int64_t lo, int64_t hi, int s) {
  uint64_t *x = sh_xmalloc(n * sizeof *x);
  const int64_t edge[] = {0, 1, -1, lo, hi - 1, lo + 1, hi - 2, (int64_t)1 << s, -((int64_t)1 << s),
                          ((int64_t)1 << s) - 1, -((int64_t)1 << s) + 1};
  const uint64_t span = (uint64_t)hi - (uint64_t)lo;
  for (size_t i = 0; i < n; i++) {
    int64_t v;
    if (i < sizeof edge / sizeof edge[0] && edge[i] >= lo && edge[i] < hi)
      v = edge[i];
    else
      v = (int64_t)((uint64_t)lo + ff_rng_u64(rng) % span);
    x[i] = ff_ring_from_signed(v, bw);
  }
  return x;
}

static const uint64_t seeds[] = {1, 0x5eed5eedULL};

/* ---- Gates, CUDA parties against CPU parties ---------------------------------------------------------------- */

static void test_gate_trfloor(void **state) {
  (void)state;
  /* s = 3: the comparison is a truth table (sstab) rather than a DPF. */
  const struct { int bw, s; size_t N; } cases[] = {{50, 12, 64}, {37, 12, 1000}, {16, 3, 64}, {64, 12, 40}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t k = 0; k < 2; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 100 + seeds[k]);
      const int bw = cases[c].bw;
      const int64_t half = bw == 64 ? INT64_MAX : (int64_t)1 << (bw - 1);
      uint64_t *x = make_inputs(&rng, cases[c].N, bw, bw == 64 ? INT64_MIN : -half, half, cases[c].s);
      spec sp = {.kind = SH_TRFLOOR, .bw = bw, .scale = 12, .s = cases[c].s, .N = cases[c].N, .x = x};
      check_gate(&sp, seeds[k]);
      free(x);
    }
}

static void test_gate_trslack(void **state) {
  (void)state;
  const struct { int bw, s, b_out; size_t N; } cases[] = {{50, 12, 50, 64}, {50, 6, 33, 300}, {37, 6, 20, 40}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t k = 0; k < 2; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 200 + seeds[k]);
      const int bw = cases[c].bw;
      const int64_t q = (int64_t)1 << (bw - 2);
      uint64_t *x = make_inputs(&rng, cases[c].N, bw, -q, q, cases[c].s);
      spec sp = {.kind = SH_TRSLACK, .bw = bw, .scale = 12, .s = cases[c].s, .b_out = cases[c].b_out,
                 .N = cases[c].N, .x = x};
      check_gate(&sp, seeds[k]);
      free(x);
    }
}

static void test_gate_drelu_relu(void **state) {
  (void)state;
  const struct { int bin, b_out; size_t N; } cases[] = {{50, 50, 64}, {40, 16, 500}, {8, 8, 64}, {6, 4, 32}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t k = 0; k < 2; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 300 + seeds[k]);
      const int bw = cases[c].bin;
      const int64_t half = (int64_t)1 << (bw - 1);
      uint64_t *x = make_inputs(&rng, cases[c].N, bw, -half, half, 2);
      spec sp = {.kind = SH_DRELU, .bw = bw, .scale = 1, .N = cases[c].N, .x = x};
      check_gate(&sp, seeds[k]);
      sp.kind = SH_RELU;
      sp.b_out = cases[c].b_out;
      check_gate(&sp, seeds[k]);
      free(x);
    }
}

static void test_gate_mul(void **state) {
  (void)state;
  const struct { int bw, scale; size_t N; } cases[] = {{50, 12, 64}, {37, 12, 700}, {64, 12, 16}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t k = 0; k < 2; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 400 + seeds[k]);
      const int bw = cases[c].bw;
      const int64_t m = (int64_t)1 << ((bw - 2) / 2);
      uint64_t *x = make_inputs(&rng, cases[c].N, bw, -m, m, 6), *y = make_inputs(&rng, cases[c].N, bw, -m, m, 1);
      spec sp = {.kind = SH_MUL, .bw = bw, .scale = cases[c].scale, .N = cases[c].N, .x = x, .y = y};
      check_gate(&sp, seeds[k]);
      free(x);
      free(y);
    }
}

static void test_gate_matmul(void **state) {
  (void)state;
  const struct { int bw; size_t M, K, N; } cases[] = {{50, 4, 8, 8}, {37, 8, 3, 5}, {50, 1, 16, 8}, {50, 64, 128, 96}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t k = 0; k < 2; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 500 + seeds[k]);
      const int bw = cases[c].bw;
      uint64_t *x = make_inputs(&rng, cases[c].M * cases[c].K, bw, -(1 << 16), 1 << 16, 12);
      uint64_t *w = make_inputs(&rng, cases[c].K * cases[c].N, bw, -(1 << 16), 1 << 16, 12);
      spec sp = {.kind = SH_MATMUL, .bw = bw, .scale = 12, .M = cases[c].M, .K = cases[c].K, .N = cases[c].N,
                 .x = x, .y = w};
      check_gate(&sp, seeds[k]);
      free(x);
      free(w);
    }
}

/* GELU (bw 50) and SiLU (bw 48) at scale 12: the whole domain |x| < 2^(bw - scale - 1), and the
 * clipped region around 0 where the LUT correction is non-zero. */
static void test_gate_gelu_silu(void **state) {
  (void)state;
  const struct { gate_kind kind; int bw; size_t N; int64_t lim; } cases[] = {
      {SH_GELU, 50, 64, (int64_t)1 << 37}, {SH_GELU, 50, 1000, (int64_t)1 << 17}, {SH_GELU, 50, 13, (int64_t)1 << 15},
      {SH_SILU, 48, 64, (int64_t)1 << 35}, {SH_SILU, 48, 777, (int64_t)1 << 17}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t k = 0; k < 2; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 600 + seeds[k]);
      uint64_t *x = make_inputs(&rng, cases[c].N, cases[c].bw, -cases[c].lim + 1, cases[c].lim, 6);
      spec sp = {.kind = cases[c].kind, .bw = cases[c].bw, .scale = 12, .N = cases[c].N, .x = x};
      check_gate(&sp, seeds[k]);
      free(x);
    }
}

/* ---- Kernels: _cuda against _cpu on random inputs ----------------------------------------------------------- */

static void test_kernel_tr(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 41);
  const size_t N = 1000;
  /* TrFloor's two stages, TrWithSlack, and 64-bit rings. */
  const ff_sigma_tr_params ps[] = {
      {.bw_in = 50, .add = 0, .shift = 12, .n_cmp = 12, .bw_out = 38, .coef = ff_ring_mask(38), .cst = 0, .slack = 0},
      {.bw_in = 38, .add = UINT64_C(1) << 37, .shift = 0, .n_cmp = 38, .bw_out = 50, .coef = UINT64_C(1) << 38,
       .cst = ff_ring_reduce(-(UINT64_C(1) << 37), 50), .slack = 0},
      {.bw_in = 50, .add = UINT64_C(1) << 48, .shift = 12, .n_cmp = 12, .bw_out = 33, .coef = ff_ring_mask(33),
       .cst = 5, .slack = 1},
      {.bw_in = 64, .add = UINT64_C(1) << 62, .shift = 20, .n_cmp = 20, .bw_out = 64, .coef = ~UINT64_C(0),
       .cst = 0, .slack = 1},
  };
  for (size_t c = 0; c < sizeof ps / sizeof ps[0]; c++)
    for (int party = 0; party < 2; party++) {
      cpu.party = gpu.party = party;
      uint64_t *xhat = scu_rand_u64(&rng, N), *chat = scu_rand_u64(&rng, N), *key = scu_rand_u64(&rng, 3 * N);
      uint64_t *pts = sh_xmalloc(N * sizeof *pts), *out = sh_xmalloc(N * sizeof *out);
      assert_int_equal(ff_sigma_tr_points_cpu(&cpu, &ps[c], N, xhat, pts), FF_OK);
      assert_int_equal(ff_sigma_tr_local_cpu(&cpu, &ps[c], N, xhat, chat, key, out), FF_OK);
      uint64_t *dx = scu_dev_up(xhat, N * 8), *dc = scu_dev_up(chat, N * 8), *dk = scu_dev_up(key, 3 * N * 8);
      uint64_t *dp = scu_dev_garbage(N * 8), *dout = scu_dev_garbage(N * 8);
      assert_int_equal(ff_sigma_tr_points(&gpu, &ps[c], N, dx, dp), FF_OK);
      assert_int_equal(ff_sigma_tr_local(&gpu, &ps[c], N, dx, dc, dk, dout), FF_OK);
      scu_dev_down_cmp(dp, pts, N * 8, "ff_sigma_tr_points_cuda");
      scu_dev_down_cmp(dout, out, N * 8, "ff_sigma_tr_local_cuda");
      ff_cuda_free(dx), ff_cuda_free(dc), ff_cuda_free(dk), ff_cuda_free(dp), ff_cuda_free(dout);
      free(xhat), free(chat), free(key), free(pts), free(out);
    }
}

static void test_kernel_drelu(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 42);
  const size_t N = 777;
  const int bins[] = {2, 8, 40, 50, 64};
  for (size_t c = 0; c < sizeof bins / sizeof bins[0]; c++)
    for (int party = 0; party < 2; party++) {
      cpu.party = gpu.party = party;
      uint64_t *xhat = scu_rand_u64(&rng, N), *share = sh_xmalloc(N * 8), *pts = sh_xmalloc(N * 8);
      for (size_t i = 0; i < N; i++) share[i] = ff_rng_u64(&rng) & 1;
      uint64_t *dx = scu_dev_up(xhat, N * 8), *ds = scu_dev_up(share, N * 8), *dp = scu_dev_garbage(N * 8);
      assert_int_equal(ff_sigma_drelu_points_cpu(&cpu, bins[c], N, xhat, pts), FF_OK);
      assert_int_equal(ff_sigma_drelu_local_cpu(&cpu, bins[c], N, xhat, share), FF_OK);
      assert_int_equal(ff_sigma_drelu_points(&gpu, bins[c], N, dx, dp), FF_OK);
      assert_int_equal(ff_sigma_drelu_local(&gpu, bins[c], N, dx, ds), FF_OK);
      scu_dev_down_cmp(dp, pts, N * 8, "ff_sigma_drelu_points_cuda");
      scu_dev_down_cmp(ds, share, N * 8, "ff_sigma_drelu_local_cuda");
      ff_cuda_free(dx), ff_cuda_free(ds), ff_cuda_free(dp);
      free(xhat), free(share), free(pts);
    }
}

static void test_kernel_mul(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 43);
  const size_t N = 1025;
  const int bws[] = {37, 50, 64};
  for (size_t c = 0; c < sizeof bws / sizeof bws[0]; c++)
    for (int party = 0; party < 2; party++) {
      cpu.party = gpu.party = party;
      uint64_t *x = scu_rand_u64(&rng, N), *y = scu_rand_u64(&rng, N), *key = scu_rand_u64(&rng, 3 * N), *out = sh_xmalloc(N * 8);
      assert_int_equal(ff_sigma_mul_local_cpu(&cpu, bws[c], N, x, y, key, out), FF_OK);
      uint64_t *dx = scu_dev_up(x, N * 8), *dy = scu_dev_up(y, N * 8), *dk = scu_dev_up(key, 3 * N * 8), *dout = scu_dev_garbage(N * 8);
      assert_int_equal(ff_sigma_mul_local(&gpu, bws[c], N, dx, dy, dk, dout), FF_OK);
      scu_dev_down_cmp(dout, out, N * 8, "ff_sigma_mul_local_cuda");
      ff_cuda_free(dx), ff_cuda_free(dy), ff_cuda_free(dk), ff_cuda_free(dout);
      free(x), free(y), free(key), free(out);
    }
}

static void test_kernel_matmul(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 44);
  /* The last case has 2^28 multiply-adds: gates/gemm's AUTO picks its int8 tensor-core limbs there. */
  const struct { int bw; size_t M, K, N; } cases[] = {
      {50, 4, 8, 8}, {37, 33, 70, 17}, {64, 1, 1, 1}, {50, 128, 256, 64}, {50, 512, 1024, 512}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int party = 0; party < 2; party++) {
      cpu.party = gpu.party = party;
      const size_t M = cases[c].M, K = cases[c].K, N = cases[c].N;
      uint64_t *x = scu_rand_u64(&rng, M * K), *w = scu_rand_u64(&rng, K * N), *a = scu_rand_u64(&rng, M * K),
               *b = scu_rand_u64(&rng, K * N), *cc = scu_rand_u64(&rng, M * N), *out = sh_xmalloc(M * N * 8);
      assert_int_equal(ff_sigma_matmul_local_cpu(&cpu, cases[c].bw, M, K, N, x, w, a, b, cc, out), FF_OK);
      uint64_t *dx = scu_dev_up(x, M * K * 8), *dw = scu_dev_up(w, K * N * 8), *da = scu_dev_up(a, M * K * 8),
               *db = scu_dev_up(b, K * N * 8), *dc = scu_dev_up(cc, M * N * 8), *dout = scu_dev_garbage(M * N * 8);
      assert_int_equal(ff_sigma_matmul_local(&gpu, cases[c].bw, M, K, N, dx, dw, da, db, dc, dout), FF_OK);
      scu_dev_down_cmp(dout, out, M * N * 8, "ff_sigma_matmul_local_cuda");
      ff_cuda_free(dx), ff_cuda_free(dw), ff_cuda_free(da), ff_cuda_free(db), ff_cuda_free(dc), ff_cuda_free(dout);
      free(x), free(w), free(a), free(b), free(cc), free(out);
    }
}

/* The op session's device helpers: reduction mod 2^bits and the comparison's share bits. */
static void test_kernel_helpers(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 45);
  const size_t N = 1001, mb = (N + 7) / 8;
  uint64_t *v = scu_rand_u64(&rng, N), *want = sh_xmalloc(N * 8);
  const int bits[] = {1, 13, 50, 64};
  for (size_t c = 0; c < sizeof bits / sizeof bits[0]; c++) {
    for (size_t i = 0; i < N; i++) want[i] = ff_ring_reduce(v[i], bits[c]);
    uint64_t *dv = scu_dev_up(v, N * 8), *dout = scu_dev_garbage(N * 8);
    assert_int_equal(ff__sigma_reduce_cuda(&gpu, N, bits[c], dv, dout), FF_OK);
    scu_dev_down_cmp(dout, want, N * 8, "ff__sigma_reduce_cuda");
    ff_cuda_free(dv), ff_cuda_free(dout);
  }
  uint8_t *dcf = sh_xmalloc(mb), *mask = sh_xmalloc(mb);
  assert_int_equal(ff_rng_bytes(&rng, dcf, mb), FF_OK);
  assert_int_equal(ff_rng_bytes(&rng, mask, mb), FF_OK);
  for (size_t i = 0; i < N; i++) want[i] = (uint64_t)(((dcf[i / 8] ^ mask[i / 8]) >> (i % 8)) & 1);
  void *dd = scu_dev_up(dcf, mb), *dm = scu_dev_up(mask, mb), *ds = scu_dev_garbage(N * 8);
  assert_int_equal(ff__sigma_cmp_share_cuda(&gpu, N, dd, dm, ds), FF_OK);
  scu_dev_down_cmp(ds, want, N * 8, "ff__sigma_cmp_share_cuda");
  ff_cuda_free(dd), ff_cuda_free(dm), ff_cuda_free(ds);
  free(v), free(want), free(dcf), free(mask);
}

static void test_kernel_gelu(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 46);
  const size_t N = 1003;
  const struct { int bt, k, bw; } cases[] = {{33, 8, 50}, {31, 10, 48}, {10, 8, 20}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int party = 0; party < 2; party++) {
      cpu.party = gpu.party = party;
      const int bt = cases[c].bt, k = cases[c].k, bw = cases[c].bw;
      const uint64_t clip = (UINT64_C(1) << k) - 1;
      uint64_t *xt = scu_rand_u64(&rng, N), *cmp = sh_xmalloc(3 * N * 8), *md = sh_xmalloc(2 * N * 8);
      uint64_t *c01 = scu_rand_u64(&rng, 8 * N), *relu = scu_rand_u64(&rng, N), *lut = scu_rand_u64(&rng, N);
      for (size_t i = 0; i < N; i++) xt[i] = ff_ring_reduce(xt[i], bt);
      for (size_t i = 0; i < 3 * N; i++) cmp[i] = ff_rng_u64(&rng) & 1;
      for (size_t i = 0; i < 2 * N; i++) md[i] = ff_rng_u64(&rng) & 1;
      uint64_t *pts = sh_xmalloc(3 * N * 8), *dic = sh_xmalloc(2 * N * 8), *mux = sh_xmalloc(N * 8), *fin = sh_xmalloc(N * 8);
      memcpy(fin, relu, N * 8);
      assert_int_equal(ff_sigma_gelu_points_cpu(&cpu, bt, clip, N, xt, pts), FF_OK);
      assert_int_equal(ff_sigma_gelu_bits_cpu(&cpu, bt, clip, N, xt, cmp, md, md + N, dic), FF_OK);
      assert_int_equal(ff_sigma_gelu_mux_cpu(&cpu, k, N, dic, dic + N, xt, c01, c01 + 4 * N, mux), FF_OK);
      assert_int_equal(ff_sigma_gelu_final_cpu(&cpu, bw, N, fin, lut), FF_OK);
      uint64_t *dx = scu_dev_up(xt, N * 8), *dcmp = scu_dev_up(cmp, 3 * N * 8), *dmd = scu_dev_up(md, 2 * N * 8),
               *dc01 = scu_dev_up(c01, 8 * N * 8), *drelu = scu_dev_up(relu, N * 8), *dlut = scu_dev_up(lut, N * 8);
      uint64_t *dpts = scu_dev_garbage(3 * N * 8), *ddic = scu_dev_garbage(2 * N * 8), *dmux = scu_dev_garbage(N * 8);
      assert_int_equal(ff_sigma_gelu_points(&gpu, bt, clip, N, dx, dpts), FF_OK);
      assert_int_equal(ff_sigma_gelu_bits(&gpu, bt, clip, N, dx, dcmp, dmd, dmd + N, ddic), FF_OK);
      assert_int_equal(ff_sigma_gelu_mux(&gpu, k, N, ddic, ddic + N, dx, dc01, dc01 + 4 * N, dmux), FF_OK);
      assert_int_equal(ff_sigma_gelu_final(&gpu, bw, N, drelu, dlut), FF_OK);
      scu_dev_down_cmp(dpts, pts, 3 * N * 8, "ff_sigma_gelu_points_cuda");
      scu_dev_down_cmp(ddic, dic, 2 * N * 8, "ff_sigma_gelu_bits_cuda");
      scu_dev_down_cmp(dmux, mux, N * 8, "ff_sigma_gelu_mux_cuda");
      scu_dev_down_cmp(drelu, fin, N * 8, "ff_sigma_gelu_final_cuda");
      ff_cuda_free(dx), ff_cuda_free(dcmp), ff_cuda_free(dmd), ff_cuda_free(dc01), ff_cuda_free(drelu);
      ff_cuda_free(dlut), ff_cuda_free(dpts), ff_cuda_free(ddic), ff_cuda_free(dmux);
      free(xt), free(cmp), free(md), free(c01), free(relu), free(lut), free(pts), free(dic), free(mux), free(fin);
    }
}

/* The unpacking helpers of op_internal.h: bits to 0/1 words, eb-byte values to words. */
static void test_kernel_unpack(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 47);
  const size_t n = 1001;
  uint8_t *in = sh_xmalloc(8 * n);
  uint64_t *want = sh_xmalloc(n * 8);
  assert_int_equal(ff_rng_bytes(&rng, in, 8 * n), FF_OK);
  void *din = scu_dev_up(in, 8 * n);
  uint64_t *dout = scu_dev_garbage(n * 8);
  for (size_t i = 0; i < n; i++) want[i] = (in[i / 8] >> (i % 8)) & 1;
  assert_int_equal(ff__sigma_unpack_bits_cuda(&gpu, n, din, dout), FF_OK);
  scu_dev_down_cmp(dout, want, n * 8, "ff__sigma_unpack_bits_cuda");
  for (int eb = 1; eb <= 8; eb++) {
    for (size_t i = 0; i < n; i++) {
      want[i] = 0;
      for (int b = 0; b < eb; b++) want[i] |= (uint64_t)in[i * (size_t)eb + (size_t)b] << (8 * b);
    }
    assert_int_equal(ff__sigma_widen_cuda(&gpu, n, eb, din, dout), FF_OK);
    scu_dev_down_cmp(dout, want, n * 8, "ff__sigma_widen_cuda");
  }
  ff_cuda_free(din), ff_cuda_free(dout);
  free(in), free(want);
}

/* The dealer's kernels (op_internal.h "The dealer's device path"; truncate.h, gelu.h, select.h, lut.h): each
 * _cuda against its _cpu twin, on odd sizes, every word width and rows that end inside a byte. */
static void test_kernel_dealer(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 48);
  const size_t N = 1001;
  const ff_sigma_tr_params ps[] = {
      {.bw_in = 50, .add = 0, .shift = 12, .n_cmp = 12, .bw_out = 38, .coef = ff_ring_mask(38), .cst = 0, .slack = 0},
      {.bw_in = 38, .add = UINT64_C(1) << 37, .shift = 0, .n_cmp = 38, .bw_out = 50, .coef = UINT64_C(1) << 38,
       .cst = ff_ring_reduce(-(UINT64_C(1) << 37), 50), .slack = 0},
      {.bw_in = 50, .add = UINT64_C(1) << 48, .shift = 12, .n_cmp = 12, .bw_out = 13, .coef = ff_ring_mask(13),
       .cst = 5, .slack = 1},
      {.bw_in = 64, .add = UINT64_C(1) << 62, .shift = 20, .n_cmp = 20, .bw_out = 64, .coef = ~UINT64_C(0),
       .cst = 7, .slack = 1},
  };
  for (size_t c = 0; c < sizeof ps / sizeof ps[0]; c++) {
    uint64_t *r = scu_rand_u64(&rng, N), *m = scu_rand_u64(&rng, N), *ro = scu_rand_u64(&rng, N);
    for (size_t i = 0; i < N; i++) r[i] = ff_ring_reduce(r[i], ps[c].bw_in), m[i] &= 1;
    uint64_t *key = sh_xmalloc(3 * N * 8);
    memset(key, 0, 3 * N * 8);
    assert_int_equal(ff_sigma_tr_deal_cpu(&cpu, &ps[c], N, r, m, ro, key), FF_OK);
    uint64_t *dr = scu_dev_up(r, N * 8), *dm = scu_dev_up(m, N * 8), *dro = scu_dev_up(ro, N * 8);
    uint64_t *dk = scu_dev_up(key, 3 * N * 8); /* the third row stays as the CPU left it without slack */
    assert_int_equal(ff_sigma_tr_deal_cuda(&gpu, &ps[c], N, dr, dm, dro, dk), FF_OK);
    scu_dev_down_cmp(dk, key, 3 * N * 8, "ff_sigma_tr_deal_cuda");
    ff_cuda_free(dr), ff_cuda_free(dm), ff_cuda_free(dro), ff_cuda_free(dk);
    free(r), free(m), free(ro), free(key);
  }
  /* Share split and narrowing for every ring width's word size. */
  const int bits[] = {1, 8, 13, 37, 50, 57, 64};
  for (size_t c = 0; c < sizeof bits / sizeof bits[0]; c++) {
    const int eb = (bits[c] + 7) / 8;
    uint64_t *v = scu_rand_u64(&rng, N), *s = scu_rand_u64(&rng, 2 * N);
    uint8_t *w = sh_xmalloc(N * (size_t)eb);
    uint64_t *dv = scu_dev_up(v, N * 8), *ds = scu_dev_up(s, 2 * N * 8);
    uint8_t *dw = scu_dev_garbage(N * (size_t)eb);
    assert_int_equal(ff__sigma_share_split_cpu(&cpu, N, bits[c], v, s, s + N), FF_OK);
    assert_int_equal(ff__sigma_share_split_cuda(&gpu, N, bits[c], dv, ds, ds + N), FF_OK);
    scu_dev_down_cmp(ds, s, 2 * N * 8, "ff__sigma_share_split_cuda");
    for (size_t i = 0; i < N; i++)
      assert_true(ff_ring_reduce(s[i] + s[N + i], bits[c]) == ff_ring_reduce(v[i], bits[c]));
    assert_int_equal(ff__sigma_narrow_cpu(&cpu, N, eb, s + N, w), FF_OK);
    assert_int_equal(ff__sigma_narrow_cuda(&gpu, N, eb, ds + N, dw), FF_OK);
    scu_dev_down_cmp(dw, w, N * (size_t)eb, "ff__sigma_narrow_cuda");
    ff_cuda_free(dv), ff_cuda_free(ds), ff_cuda_free(dw);
    free(v), free(s), free(w);
  }
  /* The comparison bits and GELU's and SiLU's mux tables (k 8 and 10; bt 31 and 33), the select key's
   * values, and the Beaver key's product word. */
  const struct { int bt, k; } acts[] = {{31, 8}, {33, 10}};
  for (size_t c = 0; c < sizeof acts / sizeof acts[0]; c++) {
    uint64_t *rt = scu_rand_u64(&rng, N), *md = scu_rand_u64(&rng, N), *mic = scu_rand_u64(&rng, N);
    uint64_t *rc = scu_rand_u64(&rng, N), *ry = scu_rand_u64(&rng, N), *ro = scu_rand_u64(&rng, N);
    for (size_t i = 0; i < N; i++) {
      rt[i] = ff_ring_reduce(rt[i], acts[c].bt);
      rc[i] = ff_ring_reduce(rc[i], acts[c].k);
    }
    uint64_t *mbits = sh_xmalloc(N * 8), *c01 = sh_xmalloc(8 * N * 8), *vals = sh_xmalloc(5 * N * 8);
    assert_int_equal(ff__sigma_cmp_bits_cpu(&cpu, acts[c].bt, N, rt, md, mbits), FF_OK);
    assert_int_equal(ff_sigma_gelu_deal_mux_cpu(&cpu, acts[c].k, N, rt, md, mic, rc, c01), FF_OK);
    assert_int_equal(ff_select_key_values_cpu(&cpu, N, md, ry, ro, vals), FF_OK);
    uint64_t *drt = scu_dev_up(rt, N * 8), *dmd = scu_dev_up(md, N * 8), *dmic = scu_dev_up(mic, N * 8);
    uint64_t *drc = scu_dev_up(rc, N * 8), *dry = scu_dev_up(ry, N * 8), *dro = scu_dev_up(ro, N * 8);
    uint64_t *dbits = scu_dev_garbage(N * 8), *dc01 = scu_dev_garbage(8 * N * 8);
    uint64_t *dvals = scu_dev_garbage(5 * N * 8);
    assert_int_equal(ff__sigma_cmp_bits_cuda(&gpu, acts[c].bt, N, drt, dmd, dbits), FF_OK);
    assert_int_equal(ff_sigma_gelu_deal_mux_cuda(&gpu, acts[c].k, N, drt, dmd, dmic, drc, dc01), FF_OK);
    assert_int_equal(ff_select_key_values_cuda(&gpu, N, dmd, dry, dro, dvals), FF_OK);
    scu_dev_down_cmp(dbits, mbits, N * 8, "ff__sigma_cmp_bits_cuda");
    scu_dev_down_cmp(dc01, c01, 8 * N * 8, "ff_sigma_gelu_deal_mux_cuda");
    scu_dev_down_cmp(dvals, vals, 5 * N * 8, "ff_select_key_values_cuda");
    assert_int_equal(ff__sigma_mul_add_cpu(&cpu, N, acts[c].bt, rt, ry, ro, vals), FF_OK);
    assert_int_equal(ff__sigma_mul_add_cuda(&gpu, N, acts[c].bt, drt, dry, dro, dvals), FF_OK);
    scu_dev_down_cmp(dvals, vals, N * 8, "ff__sigma_mul_add_cuda");
    ff_cuda_free(drt), ff_cuda_free(dmd), ff_cuda_free(dmic), ff_cuda_free(drc), ff_cuda_free(dry);
    ff_cuda_free(dro), ff_cuda_free(dbits), ff_cuda_free(dc01), ff_cuda_free(dvals);
    free(rt), free(md), free(mic), free(rc), free(ry), free(ro), free(mbits), free(c01), free(vals);
  }
  /* The LUT dealer's tR words and mask arithmetic (lut.h), N a multiple of 8 and not, one and two tables. */
  const size_t lns[] = {8, 13, 1001};
  for (size_t c = 0; c < sizeof lns / sizeof lns[0]; c++)
    for (size_t tables = 1; tables <= 2; tables++) {
      const size_t n = lns[c], nb = (n + 7) / 8, TN = tables * n;
      const int levels = 9, b_out = 37;
      uint8_t *tr = sh_xmalloc(levels * nb + 8), *words = sh_xmalloc(4 * n), *um = sh_xmalloc(3 * nb);
      uint64_t *rv = scu_rand_u64(&rng, TN), *rs = scu_rand_u64(&rng, TN), *rxo = sh_xmalloc(2 * TN * 8);
      assert_int_equal(ff_rng_bytes(&rng, tr, levels * nb + 8), FF_OK);
      assert_int_equal(ff_rng_bytes(&rng, um, 3 * nb), FF_OK);
      uint8_t *dtr = scu_dev_up(tr, levels * nb + 8), *dum = scu_dev_up(um, 3 * nb), *dwords = scu_dev_garbage(4 * n);
      uint64_t *drv = scu_dev_up(rv, TN * 8), *drs = scu_dev_up(rs, TN * 8), *drxo = scu_dev_garbage(2 * TN * 8);
      assert_int_equal(ff__lut_tr_words_cpu(&cpu, tr, levels, n, words), FF_OK);
      assert_int_equal(ff__lut_tr_words_cuda(&gpu, dtr, levels, n, dwords), FF_OK);
      scu_dev_down_cmp(dwords, words, 4 * n, "ff__lut_tr_words_cuda");
      /* um: r_u | u0 | u1 (garbage in u1, and in u0's pad bits) */
      assert_int_equal(ff__lut_masks_cpu(&cpu, n, TN, b_out, um, um + nb, um + 2 * nb, rxo, rv, rs, rxo + TN), FF_OK);
      assert_int_equal(ff__lut_masks_cuda(&gpu, n, TN, b_out, dum, dum + nb, dum + 2 * nb, drxo, drv, drs, drxo + TN),
                       FF_OK);
      scu_dev_down_cmp(dum, um, 3 * nb, "ff__lut_masks_cuda (u masks)");
      scu_dev_down_cmp(drxo, rxo, 2 * TN * 8, "ff__lut_masks_cuda (r_x, r_out)");
      ff_cuda_free(dtr), ff_cuda_free(dum), ff_cuda_free(dwords), ff_cuda_free(drv), ff_cuda_free(drs);
      ff_cuda_free(drxo);
      free(tr), free(words), free(um), free(rv), free(rs), free(rxo);
    }
  /* Bit shares: rows of N bits, N a multiple of 8 and not. */
  const size_t ns[] = {1, 8, 13, 1001}, rows = 3;
  for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
    const size_t n = ns[c], mb = (n + 7) / 8;
    uint64_t *b = scu_rand_u64(&rng, rows * n);
    uint8_t *sh = sh_xmalloc(2 * rows * mb);
    assert_int_equal(ff_rng_bytes(&rng, sh, 2 * rows * mb), FF_OK);
    uint64_t *db = scu_dev_up(b, rows * n * 8);
    uint8_t *dsh = scu_dev_up(sh, 2 * rows * mb);
    assert_int_equal(ff__sigma_bit_shares_cpu(&cpu, rows, n, b, sh), FF_OK);
    assert_int_equal(ff__sigma_bit_shares_cuda(&gpu, rows, n, db, dsh), FF_OK);
    scu_dev_down_cmp(dsh, sh, 2 * rows * mb, "ff__sigma_bit_shares_cuda");
    for (size_t r = 0; r < rows; r++)
      for (size_t i = 0; i < n; i++)
        assert_true((((sh[r * mb + i / 8] ^ sh[(rows + r) * mb + i / 8]) >> (i % 8)) & 1) == (b[r * n + i] & 1));
    ff_cuda_free(db), ff_cuda_free(dsh);
    free(b), free(sh);
  }
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_sigma_cuda: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernel_tr),       cmocka_unit_test(test_kernel_drelu),
      cmocka_unit_test(test_kernel_mul),      cmocka_unit_test(test_kernel_matmul),
      cmocka_unit_test(test_kernel_helpers),  cmocka_unit_test(test_gate_trfloor),
      cmocka_unit_test(test_gate_trslack),    cmocka_unit_test(test_gate_drelu_relu),
      cmocka_unit_test(test_gate_mul),        cmocka_unit_test(test_gate_matmul),
      cmocka_unit_test(test_kernel_gelu),     cmocka_unit_test(test_kernel_unpack),
      cmocka_unit_test(test_gate_gelu_silu),  cmocka_unit_test(test_kernel_dealer),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
