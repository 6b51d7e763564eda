/* The sigma suite's linear glue (gates/sigma/linear.h) on the CPU: every local op and the batched, causal
 * matmul run by the dealer and both parties over the in-memory channel (tests/sigma_harness.h). Revealed
 * outputs equal cleartext references written out here exactly; the local ops cost nothing; the matmul's
 * measured key bytes, bits and rounds equal ff_sigma_matmul_ex_cost, which is ff_sigma_matmul_cost for one
 * batch and linear.h's formula worked by hand for a causal case; bad shapes give FF_EINVAL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/linear.h"
#include "gates/sigma/matmul.h"
#include "gates/sigma/op.h"
#include "gates/sigma/truncate.h"
#include "sigma_harness.h"

enum { SCALE = 12 };

/* ---- One op as a graph: P1 inputs x, P0 inputs y (when the op takes it), the op, reveal ----------------- */

typedef enum { L_ADD, L_ADD_BIAS, L_MUL_PUBLIC, L_PERMUTE, L_SPLIT, L_RESHAPE, L_MATMUL } lkind;

typedef struct {
  lkind kind;
  int bw;
  int xnd, ynd;
  int64_t xshape[6], yshape[6];
  const uint64_t *x, *y;   /* P1's and P0's inputs mod 2^bw (y: add, add_bias, matmul) */
  int64_t c;               /* mul_public */
  int nd;                  /* permute: dims, perm; split: parts of shape (nd, dims); reshape: (nd, dims) */
  int64_t dims[6];
  int perm[6];
  int parts;
  ff_sigma_mm_opts o;      /* matmul */
} lspec;

static ff_status reveal(ff_op *op, const ff_wire *w, int n_w, sh_result *r) {
  size_t n = 0;
  for (int i = 0; i < n_w; i++) n += w[i].numel;
  r->n_out = n;
  r->out_bw = w[0].bw;
  r->out = sh_xmalloc(n * sizeof *r->out);
  ff_status st = FF_OK;
  size_t off = 0;
  for (int i = 0; i < n_w && !st; off += w[i].numel, i++) st = ff_op_output(op, &w[i], r->out + off);
  return st;
}

static ff_status graph(ff_op *op, const void *arg, sh_result *r) {
  const lspec *sp = arg;
  ff_wire x = {0}, y = {0}, z = {0}, parts[8] = {{0}};
  ff_status st;
  if ((st = ff_op_input(op, 1, sp->xnd, sp->xshape, sp->x, &x))) goto done;
  if (sp->ynd && (st = ff_op_input(op, 0, sp->ynd, sp->yshape, sp->y, &y))) goto done;
  ff_gate_cost before[2];
  sh_gate_begin(op, before);
  switch (sp->kind) {
    case L_ADD: st = ff_op_add(op, &x, &y, &z); break;
    case L_ADD_BIAS: st = ff_op_add_bias(op, &x, &y, &z); break;
    case L_MUL_PUBLIC: st = ff_op_mul_public(op, &x, sp->c, &z); break;
    case L_PERMUTE: st = ff_op_permute(op, &x, sp->nd, sp->dims, sp->perm, &z); break;
    case L_SPLIT: st = ff_op_split(op, &x, sp->parts, sp->nd, sp->dims, parts); break;
    case L_RESHAPE: st = ff_wire_reshape(&x, sp->nd, sp->dims); break;
    case L_MATMUL: st = ff_op_matmul_ex(op, &x, &y, &sp->o, &z); break;
  }
  if (st) goto done;
  sh_gate_end(op, before, r);
  if (sp->kind == L_SPLIT) {
    for (int i = 0; i < sp->parts; i++) {
      assert_int_equal(parts[i].ndim, sp->nd);
      assert_memory_equal(parts[i].shape, sp->dims, (size_t)sp->nd * sizeof *sp->dims);
    }
    st = reveal(op, parts, sp->parts, r);
  } else if (sp->kind == L_RESHAPE) {
    assert_int_equal(x.ndim, sp->nd);
    assert_memory_equal(x.shape, sp->dims, (size_t)sp->nd * sizeof *sp->dims);
    st = reveal(op, &x, 1, r);
  } else {
    st = reveal(op, &z, 1, r);
  }
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  ff_wire_free(&z);
  for (int i = 0; i < 8; i++) ff_wire_free(&parts[i]);
  return st;
}

static size_t numel(int nd, const int64_t *s) {
  size_t n = 1;
  for (int i = 0; i < nd; i++) n *= (size_t)s[i];
  return n;
}

/* Runs the op through dealer, parties and cost-only; the revealed output must be ref (n values). */
static void run_and_check(const lspec *sp, uint64_t seed, const uint64_t *ref, size_t n, const ff_gate_cost want[2]) {
  const sh_spec hs = {.bw = sp->bw, .scale = SCALE, .graph = graph, .arg = sp};
  sh_run rr;
  sh_run_all(&hs, seed, &rr, NULL);
  sh_check_costs(&rr, want);
  assert_int_equal(rr.party[1].n_out, n);
  for (size_t i = 0; i < n; i++)
    if (rr.party[1].out[i] != ref[i])
      fail_msg("op %d bw %d seed %llu element %zu: got %llu, want %llu", (int)sp->kind, sp->bw,
               (unsigned long long)seed, i, (unsigned long long)rr.party[1].out[i], (unsigned long long)ref[i]);
  sh_run_free(&rr);
}

static uint64_t *rand_ring(ff_rng *rng, size_t n, int bw) {
  uint64_t *v = sh_xmalloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = ff_ring_reduce(ff_rng_u64(rng), bw);
  return v;
}

static const ff_gate_cost kFree[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}};

/* ---- Local ops ------------------------------------------------------------------------------------------- */

static void test_add(void **state) {
  (void)state;
  const int bws[] = {50, 37, 64};
  for (size_t b = 0; b < sizeof bws / sizeof bws[0]; b++) {
    const int bw = bws[b];
    ff_rng rng;
    ff_rng_init_seeded(&rng, 100 + (uint64_t)bw);
    const size_t n = 3 * 5 * 7;
    uint64_t *x = rand_ring(&rng, n, bw), *y = rand_ring(&rng, n, bw), *ref = sh_xmalloc(n * 8);
    for (size_t i = 0; i < n; i++) ref[i] = ff_ring_reduce(x[i] + y[i], bw);
    const lspec sp = {.kind = L_ADD, .bw = bw, .xnd = 3, .ynd = 3, .xshape = {3, 5, 7}, .yshape = {3, 5, 7},
                      .x = x, .y = y};
    run_and_check(&sp, 1, ref, n, kFree);
    free(x), free(y), free(ref);
  }
}

static void test_add_bias(void **state) {
  (void)state;
  const struct { int bw, nd; int64_t s[3]; } cases[] = {{50, 2, {4, 9}}, {37, 3, {2, 3, 5}}, {48, 1, {6}}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int bw = cases[c].bw, nd = cases[c].nd;
    const size_t n = numel(nd, cases[c].s), N = (size_t)cases[c].s[nd - 1];
    ff_rng rng;
    ff_rng_init_seeded(&rng, 200 + c);
    uint64_t *x = rand_ring(&rng, n, bw), *b = rand_ring(&rng, N, bw), *ref = sh_xmalloc(n * 8);
    for (size_t i = 0; i < n; i++) ref[i] = ff_ring_reduce(x[i] + b[i % N], bw);
    lspec sp = {.kind = L_ADD_BIAS, .bw = bw, .xnd = nd, .ynd = 1, .yshape = {(int64_t)N}, .x = x, .y = b};
    memcpy(sp.xshape, cases[c].s, sizeof cases[c].s);
    run_and_check(&sp, 2, ref, n, kFree);
    free(x), free(b), free(ref);
  }
}

static void test_mul_public(void **state) {
  (void)state;
  const int64_t cs[] = {3, -1, -7, 0, ((int64_t)1 << 40) + 5, INT64_MIN};
  for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++)
    for (int bw = 37; bw <= 64; bw += 27) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 300 + c * 100 + (uint64_t)bw);
      const size_t n = 33;
      uint64_t *x = rand_ring(&rng, n, bw), *ref = sh_xmalloc(n * 8);
      /* Signed product in the ring: c x mod 2^bw. */
      for (size_t i = 0; i < n; i++) ref[i] = ff_ring_from_signed((int64_t)((uint64_t)cs[c] * x[i]), bw);
      const lspec sp = {.kind = L_MUL_PUBLIC, .bw = bw, .xnd = 1, .xshape = {(int64_t)n}, .x = x, .c = cs[c]};
      run_and_check(&sp, 3, ref, n, kFree);
      free(x), free(ref);
    }
}

/* y's dimension i is x's dimension perm[i]: each x element goes to the y index of its permuted coordinates. */
static void permute_reference(int nd, const int64_t *dims, const int *perm, const uint64_t *x, uint64_t *y) {
  const size_t n = numel(nd, dims);
  for (size_t e = 0; e < n; e++) {
    int64_t c[6];
    size_t rest = e;
    for (int i = nd - 1; i >= 0; i--) {
      c[i] = (int64_t)(rest % (size_t)dims[i]);
      rest /= (size_t)dims[i];
    }
    size_t off = 0;
    for (int i = 0; i < nd; i++) off = off * (size_t)dims[perm[i]] + (size_t)c[perm[i]];
    y[off] = x[e];
  }
}

static void test_permute(void **state) {
  (void)state;
  const struct { int nd; int64_t d[6]; int p[6]; } cases[] = {
      {1, {7}, {0}},
      {2, {3, 5}, {1, 0}},
      {3, {2, 3, 5}, {1, 0, 2}},           /* (B, T, H) -> (T, B, H) */
      {4, {2, 5, 3, 4}, {0, 2, 1, 3}},     /* heads split: (B, T, H, d) -> (B, H, T, d) */
      {4, {3, 1, 5, 2}, {3, 2, 1, 0}},
      {5, {2, 3, 1, 5, 3}, {4, 0, 3, 1, 2}},
      {6, {2, 3, 2, 1, 3, 5}, {5, 3, 1, 0, 4, 2}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int bw = 50, nd = cases[c].nd;
    const size_t n = numel(nd, cases[c].d);
    ff_rng rng;
    ff_rng_init_seeded(&rng, 400 + c);
    uint64_t *x = rand_ring(&rng, n, bw), *ref = sh_xmalloc(n * 8);
    permute_reference(nd, cases[c].d, cases[c].p, x, ref);
    /* The wire arrives flat; permute views it as dims. */
    lspec sp = {.kind = L_PERMUTE, .bw = bw, .xnd = 1, .xshape = {(int64_t)n}, .x = x, .nd = nd};
    memcpy(sp.dims, cases[c].d, sizeof sp.dims);
    memcpy(sp.perm, cases[c].p, sizeof sp.perm);
    run_and_check(&sp, 4, ref, n, kFree);
    /* The kernel alone, on the same data. */
    uint64_t *y = sh_xmalloc(n * 8);
    assert_int_equal(ff_sigma_permute_cpu(NULL, nd, cases[c].d, cases[c].p, x, y), FF_OK);
    assert_memory_equal(y, ref, n * 8);
    free(x), free(ref), free(y);
  }
}

static void test_split_reshape(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 500);
  const int bw = 50;
  /* QKV: (T, 3 D) -> 3 x (T, D) needs a permute first; split takes consecutive blocks: (3, T, D) -> 3 x (T, D). */
  const size_t n = 3 * 4 * 6;
  uint64_t *x = rand_ring(&rng, n, bw);
  lspec sp = {.kind = L_SPLIT, .bw = bw, .xnd = 3, .xshape = {3, 4, 6}, .x = x, .parts = 3, .nd = 2, .dims = {4, 6}};
  run_and_check(&sp, 5, x, n, kFree);
  sp.parts = 4, sp.nd = 3, sp.dims[0] = 3, sp.dims[1] = 2, sp.dims[2] = 3; /* any shape of the right size */
  run_and_check(&sp, 6, x, n, kFree);
  sp.parts = 1, sp.nd = 1, sp.dims[0] = (int64_t)n;
  run_and_check(&sp, 7, x, n, kFree);
  const lspec rs = {.kind = L_RESHAPE, .bw = bw, .xnd = 3, .xshape = {3, 4, 6}, .x = x, .nd = 4, .dims = {2, 3, 2, 6}};
  run_and_check(&rs, 8, x, n, kFree);
  free(x);
}

/* ---- Tril pack / unpack ------------------------------------------------------------------------------------- */

static void test_tril(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 600);
  const size_t Bs[] = {1, 3}, ns[] = {1, 5, 16};
  for (size_t bi = 0; bi < 2; bi++)
    for (size_t ni = 0; ni < 3; ni++) {
      const size_t B = Bs[bi], n = ns[ni], tri = n * (n + 1) / 2;
      uint64_t *x = rand_ring(&rng, B * n * n, 64), *p = sh_xmalloc(B * tri * 8), *y = sh_xmalloc(B * n * n * 8);
      assert_int_equal(ff_sigma_tril_pack(NULL, B, n, x, p), FF_OK);
      size_t k = 0;
      for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < n; i++)
          for (size_t j = 0; j <= i; j++) assert_true(p[k++] == x[b * n * n + i * n + j]);
      memset(y, 0xa5, B * n * n * 8);
      assert_int_equal(ff_sigma_tril_unpack(NULL, B, n, p, y), FF_OK);
      for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < n; i++)
          for (size_t j = 0; j < n; j++) assert_true(y[(b * n + i) * n + j] == (j <= i ? x[(b * n + i) * n + j] : 0));
      free(x), free(p), free(y);
    }
}

/* ---- Batched, causal matmul ----------------------------------------------------------------------------- */

/* floor(X W / 2^shift) per batch on the signed values, 0 above the diagonal when causal. */
static void matmul_reference(int bw, size_t B, size_t M, size_t K, size_t N, int shift, int causal,
                             const uint64_t *x, const uint64_t *w, uint64_t *ref) {
  for (size_t b = 0; b < B; b++)
    for (size_t i = 0; i < M; i++)
      for (size_t j = 0; j < N; j++) {
        int64_t acc = 0;
        for (size_t k = 0; k < K; k++)
          acc += ff_ring_signed(x[(b * M + i) * K + k], bw) * ff_ring_signed(w[(b * K + k) * N + j], bw);
        int64_t q = acc / ((int64_t)1 << shift);
        if (acc % ((int64_t)1 << shift) != 0 && acc < 0) q--; /* floor, not truncation toward zero */
        ref[(b * M + i) * N + j] = causal && j > i ? 0 : ff_ring_from_signed(q, bw);
      }
}

static void check_matmul(int bw, size_t B, int ndim, size_t M, size_t K, size_t N, int shift, int causal,
                         int64_t lim, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *x = sh_make_inputs(&rng, B * M * K, bw, -lim, lim, shift);
  uint64_t *w = sh_make_inputs(&rng, B * K * N, bw, -lim, lim, shift);
  uint64_t *ref = sh_xmalloc(B * M * N * 8);
  matmul_reference(bw, B, M, K, N, shift, causal, x, w, ref);
  lspec sp = {.kind = L_MATMUL, .bw = bw, .xnd = ndim, .ynd = ndim, .x = x, .y = w, .o = {shift, causal}};
  if (ndim == 3) {
    const int64_t xs[3] = {(int64_t)B, (int64_t)M, (int64_t)K}, ws[3] = {(int64_t)B, (int64_t)K, (int64_t)N};
    memcpy(sp.xshape, xs, sizeof xs), memcpy(sp.yshape, ws, sizeof ws);
  } else {
    assert_int_equal(B, 1);
    const int64_t xs[2] = {(int64_t)M, (int64_t)K}, ws[2] = {(int64_t)K, (int64_t)N};
    memcpy(sp.xshape, xs, sizeof xs), memcpy(sp.yshape, ws, sizeof ws);
  }
  ff_gate_cost want;
  ff_sigma_matmul_ex_cost(B, M, K, N, bw, &sp.o, &want);
  assert_int_equal(want.rounds, 5); /* one reconstruct and one TrFloor, whatever B */
  const ff_gate_cost want2[2] = {want, want};
  run_and_check(&sp, seed, ref, B * M * N, want2);
  printf("  matmul_ex bw %d B %zu (%dD) %zux%zux%zu shift %d causal %d: exact; %llu key B, %llu bits, %llu rounds\n",
         bw, B, ndim, M, K, N, shift, causal, (unsigned long long)want.key_bytes, (unsigned long long)want.bits_sent,
         (unsigned long long)want.rounds);
  free(x), free(w), free(ref);
}

static void test_matmul_ex(void **state) {
  (void)state;
  const int shifts[] = {12, 15};
  for (int si = 0; si < 2; si++) {
    const int s = shifts[si];
    /* |entries| < 2^16 and K <= 16: |sums| < 2^36, inside bw 50's signed range. */
    const int64_t lim = (int64_t)1 << 16;
    check_matmul(50, 1, 2, 4, 8, 6, s, 0, lim, 10 + si);
    check_matmul(50, 1, 3, 4, 8, 6, s, 0, lim, 20 + si);
    check_matmul(50, 3, 3, 4, 8, 6, s, 0, lim, 30 + si);
    check_matmul(50, 3, 3, 1, 16, 8, s, 0, lim, 40 + si);
    check_matmul(50, 1, 2, 5, 7, 5, s, 1, lim, 50 + si);
    check_matmul(50, 3, 3, 5, 7, 5, s, 1, lim, 60 + si);
    check_matmul(50, 1, 3, 16, 8, 16, s, 1, lim, 70 + si);
    check_matmul(50, 3, 3, 16, 8, 16, s, 1, lim, 80 + si);
    /* bw 37 (bert-tiny) with smaller entries: |sums| < 2^3 2^24 = 2^27. */
    check_matmul(37, 3, 3, 5, 8, 5, s, 1, (int64_t)1 << 12, 90 + si);
    check_matmul(37, 3, 3, 3, 8, 7, s, 0, (int64_t)1 << 12, 95 + si);
  }
}

/* ---- Costs ---------------------------------------------------------------------------------------------- */

static void test_costs(void **state) {
  (void)state;
  /* One batch, not causal, shift = scale: exactly ff_op_matmul's cost. */
  const size_t shapes[][3] = {{4, 8, 8}, {128, 768, 3072}, {1, 16, 8}, {7, 3, 5}};
  for (size_t i = 0; i < 4; i++)
    for (int bw = 37; bw <= 50; bw += 13) {
      ff_gate_cost a, b;
      const ff_sigma_mm_opts o = {SCALE, 0};
      ff_sigma_matmul_ex_cost(1, shapes[i][0], shapes[i][1], shapes[i][2], bw, &o, &a);
      ff_sigma_matmul_cost(shapes[i][0], shapes[i][1], shapes[i][2], bw, SCALE, &b);
      sh_assert_cost_equal(a, b);
    }
  /* Causal by hand: B 4, M = N 4, K 3, bw 50, shift 12. C = 4 * 4*5/2 = 40 packed outputs.
   *   Beaver key: 8 (B M K + B K N + C) = 8 (48 + 48 + 40) = 1088 B.
   *   TrFloor(40, bw 50, s 12): DCF(12) = 40 (16*5 + 32) + 40*5/8 = 4480 + 25 = 4505 B,
   *     DCF(38) = 40 (16*31 + 32) + 40*31/8 = 21120 + 155 = 21275 B, two mask bit sets 2 * 40/8 = 10 B and
   *     two 2-element corrections 2 * 16 * 40 = 1280 B: 27070 B (= 40 * 676.75).
   *   Key bytes 1088 + 27070 = 28158. Bits: 40 * 50 (the product) + 40 * (1 + 38 + 1 + 50) = 2000 + 3600 = 5600.
   *   Bytes: 40*50/8 = 250, then the TrFloor's four messages 5 + 190 + 5 + 250 = 450: 700. Rounds 1 + 4 = 5. */
  const ff_sigma_mm_opts causal = {12, 1};
  ff_gate_cost c;
  ff_sigma_matmul_ex_cost(4, 4, 3, 4, 50, &causal, &c);
  assert_int_equal(c.key_bytes, 28158);
  assert_int_equal(c.bits_sent, 5600);
  assert_int_equal(c.bytes_sent, 700);
  assert_int_equal(c.rounds, 5);
  /* Not causal, the same shapes: 64 outputs. */
  const ff_sigma_mm_opts full = {12, 0};
  ff_sigma_matmul_ex_cost(4, 4, 3, 4, 50, &full, &c);
  assert_int_equal(c.key_bytes, 8 * (48 + 48 + 64) + 64 * 67675 / 100);
  assert_int_equal(c.bits_sent, 64 * 140);
  assert_int_equal(c.rounds, 5);
  /* The local ops cost nothing in cost-only mode; matmul_ex charges its formula. */
  ff_op *op = NULL;
  const ff_op_params p = {.role = FF_OP_COST, .bw = 50, .scale = SCALE};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  const int64_t xs[3] = {4, 4, 3}, ws[3] = {4, 3, 4};
  ff_wire x = {0}, w = {0}, y = {0}, z = {0};
  assert_int_equal(ff_op_input(op, 1, 3, xs, NULL, &x), FF_OK);
  assert_int_equal(ff_op_input(op, 0, 3, ws, NULL, &w), FF_OK);
  const ff_gate_cost before = ff_op_cost(op, 0);
  assert_int_equal(ff_op_matmul_ex(op, &x, &w, &causal, &y), FF_OK);
  assert_int_equal(y.ndim, 3);
  assert_int_equal(y.shape[0], 4), assert_int_equal(y.shape[1], 4), assert_int_equal(y.shape[2], 4);
  assert_null(y.v);
  const ff_gate_cost mid = ff_op_cost(op, 0);
  assert_int_equal(mid.key_bytes - before.key_bytes, 28158);
  assert_int_equal(ff_op_mul_public(op, &y, 3, &z), FF_OK);
  assert_int_equal(z.numel, 64);
  sh_assert_cost_equal(ff_op_cost(op, 0), mid);
  ff_wire_free(&x), ff_wire_free(&w), ff_wire_free(&y), ff_wire_free(&z);
  ff_op_destroy(op);
}

/* ---- Bad shapes ----------------------------------------------------------------------------------------- */

static void test_bad_shapes(void **state) {
  (void)state;
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  ff_op *op = NULL;
  const ff_op_params p = {.role = FF_OP_COST, .bw = 50, .scale = SCALE};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  ff_wire a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, m = {0}, y = {0}, parts[8]; /* outs: `parts` wires */
  const int64_t s234[3] = {2, 3, 4}, s256[3] = {2, 5, 6}, s246[3] = {2, 4, 6}, s346[3] = {3, 4, 6}, s34[2] = {3, 4},
                s4[1] = {4}, s5[1] = {5}, s33[3] = {2, 3, 3};
  assert_int_equal(ff_op_input(op, 0, 3, s234, NULL, &a), FF_OK);
  assert_int_equal(ff_op_input(op, 0, 3, s256, NULL, &b), FF_OK);
  assert_int_equal(ff_op_input(op, 0, 3, s346, NULL, &c), FF_OK);
  assert_int_equal(ff_op_input(op, 0, 2, s34, NULL, &d), FF_OK);
  assert_int_equal(ff_op_input(op, 0, 1, s5, NULL, &e), FF_OK);
  assert_int_equal(ff_op_input(op, 0, 3, s33, NULL, &m), FF_OK);
  const ff_sigma_mm_opts o = {12, 0}, oc = {12, 1}, o0 = {0, 0}, obw = {50, 0}, o2 = {12, 2};
  /* matmul: K mismatch, ndim mismatch, B mismatch, causal with M != N, shifts outside 1..bw-1, NULL opts. */
  assert_int_equal(ff_op_matmul_ex(op, &a, &b, &o, &y), FF_EINVAL);
  assert_int_equal(ff_op_matmul_ex(op, &a, &d, &o, &y), FF_EINVAL);
  ff_wire w4 = {0};
  assert_int_equal(ff_op_input(op, 0, 3, s246, NULL, &w4), FF_OK); /* (2, 4, 6): K 4 fits a (2, 3, 4) */
  assert_int_equal(ff_op_matmul_ex(op, &a, &w4, &oc, &y), FF_EINVAL); /* M 3 != N 6 */
  assert_int_equal(ff_op_matmul_ex(op, &a, &w4, &o0, &y), FF_EINVAL);
  assert_int_equal(ff_op_matmul_ex(op, &a, &w4, &obw, &y), FF_EINVAL);
  assert_int_equal(ff_op_matmul_ex(op, &a, &w4, &o2, &y), FF_EINVAL);
  assert_int_equal(ff_op_matmul_ex(op, &a, &w4, NULL, &y), FF_EINVAL);
  assert_int_equal(ff_op_matmul_ex(op, &c, &w4, &o, &y), FF_EINVAL); /* B 3 vs 2 */
  assert_int_equal(ff_op_matmul_ex(op, &a, &w4, &o, &y), FF_OK);
  assert_int_equal(y.numel, 2 * 3 * 6);
  ff_wire_free(&y);
  assert_int_equal(ff_op_matmul_ex(op, &m, &m, &oc, &y), FF_OK); /* (2, 3, 3)^2, causal */
  ff_wire_free(&y);
  /* add: shapes or widths differ; the output is an input. */
  assert_int_equal(ff_op_add(op, &a, &b, &y), FF_EINVAL);
  assert_int_equal(ff_op_add(op, &a, &a, &a), FF_EINVAL);
  assert_int_equal(ff_op_add(op, &a, NULL, &y), FF_EINVAL);
  ff_wire a37 = a;
  a37.bw = 37;
  assert_int_equal(ff_op_add(op, &a, &a37, &y), FF_EINVAL);
  assert_int_equal(ff_op_add(op, &a, &a, &y), FF_OK);
  ff_wire_free(&y);
  /* add_bias: the bias is not (N). */
  assert_int_equal(ff_op_add_bias(op, &a, &e, &y), FF_EINVAL);
  assert_int_equal(ff_op_add_bias(op, &a, &d, &y), FF_EINVAL);
  ff_wire b4 = {0};
  assert_int_equal(ff_op_input(op, 0, 1, s4, NULL, &b4), FF_OK);
  assert_int_equal(ff_op_add_bias(op, &a, &b4, &y), FF_OK);
  ff_wire_free(&y);
  /* permute: not a permutation, wrong element count, too many dimensions. */
  const int64_t dims[3] = {2, 3, 4}, dims7[7] = {1, 1, 1, 1, 1, 2, 12};
  const int bad[3] = {0, 0, 1}, out[3] = {0, 1, 3}, good[3] = {2, 0, 1}, p7[7] = {0, 1, 2, 3, 4, 5, 6};
  assert_int_equal(ff_op_permute(op, &a, 3, dims, bad, &y), FF_EINVAL);
  assert_int_equal(ff_op_permute(op, &a, 3, dims, out, &y), FF_EINVAL);
  assert_int_equal(ff_op_permute(op, &b, 3, dims, good, &y), FF_EINVAL);
  assert_int_equal(ff_op_permute(op, &a, 7, dims7, p7, &y), FF_EINVAL);
  assert_int_equal(ff_op_permute(op, &a, 0, dims, good, &y), FF_EINVAL);
  assert_int_equal(ff_op_permute(op, &a, 3, dims, good, &y), FF_OK);
  assert_int_equal(y.shape[0], 4), assert_int_equal(y.shape[1], 2), assert_int_equal(y.shape[2], 3);
  ff_wire_free(&y);
  /* split: parts that do not divide, a shape of the wrong size. */
  assert_int_equal(ff_op_split(op, &a, 5, 1, s4, parts), FF_EINVAL);
  assert_int_equal(ff_op_split(op, &a, 4, 1, s5, parts), FF_EINVAL);
  assert_int_equal(ff_op_split(op, &a, 0, 1, s4, parts), FF_EINVAL);
  assert_int_equal(ff_op_split(op, &a, 2, 2, s34, parts), FF_OK);
  ff_wire_free(&parts[0]), ff_wire_free(&parts[1]);
  /* reshape: another element count. */
  assert_int_equal(ff_wire_reshape(&a, 2, s34), FF_EINVAL);
  assert_int_equal(ff_wire_reshape(&a, 0, s34), FF_EINVAL);
  assert_int_equal(a.ndim, 3);
  const int64_t s64[2] = {6, 4};
  assert_int_equal(ff_wire_reshape(&a, 2, s64), FF_OK);
  assert_int_equal(a.ndim, 2);
  /* Kernels: widths outside 1..64. */
  uint64_t v = 0;
  assert_int_equal(ff_sigma_add_cpu(NULL, 0, 1, &v, &v, &v), FF_EINVAL);
  assert_int_equal(ff_sigma_mul_public_cpu(NULL, 65, 1, &v, 1, &v), FF_EINVAL);
  ff_wire_free(&a), ff_wire_free(&b), ff_wire_free(&c), ff_wire_free(&d), ff_wire_free(&e), ff_wire_free(&m);
  ff_wire_free(&w4), ff_wire_free(&b4);
  ff_op_destroy(op);
  ff_log_set_level(saved);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add),          cmocka_unit_test(test_add_bias), cmocka_unit_test(test_mul_public),
      cmocka_unit_test(test_permute),      cmocka_unit_test(test_split_reshape), cmocka_unit_test(test_tril),
      cmocka_unit_test(test_matmul_ex),    cmocka_unit_test(test_costs),    cmocka_unit_test(test_bad_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
