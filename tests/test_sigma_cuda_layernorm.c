/* gates/sigma/layernorm on the CUDA backend (op.h "What runs where"): LayerNorm (d 64, 96) and RMSNorm
 * (d 64), one CPU dealer's keys evaluated by CPU parties and by CUDA parties (own contexts and streams,
 * two threads, ff_chan_mem_pair): the CUDA run reveals the CPU run's output byte for byte, both equal
 * ff_sigma_layernorm_emulate, and every measured cost equals the cost function. Then each _cuda kernel
 * of layernorm.h against its _cpu twin. Needs a GPU; exits 77 (skipped) without one. The small runner
 * is copied from tests/test_sigma_cuda.c (tests/sigma_harness.h runs CPU parties only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/chan.h"
#include "core/ctx.h"
#include "core/cuda.h"
#include "core/keystream.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/layernorm.h"
#include "gates/sigma/op.h"

static ff_ctx cpu, gpu; /* kernel tests: one context per backend; party set per call */

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  assert_non_null(p);
  return p;
}

/* ---- Device buffers (the copies wait for the whole device: tests only) ------------------------------- */

static void *dev_up(const void *h, size_t bytes) {
  void *d = NULL;
  assert_int_equal(ff_cuda_malloc(&d, bytes), FF_OK);
  assert_int_equal(ff_cuda_copy_to_device(d, h, bytes), FF_OK);
  return d;
}

/* A device buffer of garbage (0xa5 bytes), so that an output the kernel leaves unwritten shows. */
static void *dev_garbage(size_t bytes) {
  uint8_t *h = xmalloc(bytes);
  memset(h, 0xa5, bytes);
  void *d = dev_up(h, bytes);
  free(h);
  return d;
}

static void dev_down_cmp(const void *d, const void *want, size_t bytes, const char *what) {
  uint8_t *h = xmalloc(bytes);
  assert_int_equal(ff_cuda_copy_to_host(h, d, bytes), FF_OK);
  if (memcmp(h, want, bytes) != 0) {
    size_t i = 0;
    while (((const uint8_t *)want)[i] == h[i]) i++;
    fail_msg("%s: CUDA differs from CPU at byte %zu (%02x, want %02x)", what, i, h[i], ((const uint8_t *)want)[i]);
  }
  free(h);
}

static uint64_t *rand_u64(ff_rng *rng, size_t n) {
  uint64_t *v = xmalloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = ff_rng_u64(rng);
  return v;
}

/* ---- One LayerNorm / RMSNorm as a graph ------------------------------------------------------------------ */

typedef struct {
  int rms, bw, scale;
  size_t R, d;
  const uint64_t *x, *gamma, *beta; /* x (R, d) P1's; gamma, beta (d) P0's */
} spec;

typedef struct {
  ff_gate_cost gate[2], total[2];
  uint64_t tags[2];
  uint64_t *out; /* P1: the revealed output */
  size_t n_out;
} result;

static ff_gate_cost cost_sub(ff_gate_cost a, ff_gate_cost b) {
  ff_gate_cost c = {a.key_bytes - b.key_bytes, a.bits_sent - b.bits_sent, a.bytes_sent - b.bytes_sent,
                    a.rounds - b.rounds};
  return c;
}

static ff_status graph(ff_op *op, const spec *sp, result *r) {
  const int64_t xs[2] = {(int64_t)sp->R, (int64_t)sp->d}, ws[1] = {(int64_t)sp->d};
  ff_wire x = {0}, g = {0}, b = {0}, y = {0};
  ff_status st;
  /* Owners alternate (gamma P0, x P1, beta P0), as tests/test_sigma_layernorm.c. */
  if ((st = ff_op_input(op, 0, 1, ws, sp->gamma, &g)) || (st = ff_op_input(op, 1, 2, xs, sp->x, &x)) ||
      (!sp->rms && (st = ff_op_input(op, 0, 1, ws, sp->beta, &b))))
    goto done;
  const ff_gate_cost before[2] = {ff_op_cost(op, 0), ff_op_cost(op, 1)};
  st = sp->rms ? ff_op_rmsnorm(op, &x, &g, &y) : ff_op_layernorm(op, &x, &g, &b, &y);
  if (st) goto done;
  for (int p = 0; p < 2; p++) r->gate[p] = cost_sub(ff_op_cost(op, p), before[p]);
  r->n_out = y.numel;
  r->out = xmalloc(y.numel * sizeof *r->out);
  st = ff_op_output(op, &y, r->out);
done:
  for (int p = 0; p < 2; p++) {
    r->total[p] = ff_op_cost(op, p);
    r->tags[p] = ff_op_tag_bytes(op, p);
  }
  ff_wire_free(&x);
  ff_wire_free(&g);
  ff_wire_free(&b);
  ff_wire_free(&y);
  return st;
}

typedef struct {
  const spec *sp;
  ff_backend backend;
  int party;
  ff_chan *ch;
  const void *keys;
  size_t keys_len;
  result r;
  uint64_t stream_bytes;
  ff_status st;
} party_arg;

static void *party_main(void *arg) {
  party_arg *a = arg;
  ff_ctx ctx;
  ff_keystream *ks = NULL;
  ff_op *op = NULL;
  if ((a->st = ff_ctx_init(&ctx, a->backend, a->party))) goto out;
  ctx.chan = a->ch;
  ff_op_params p = {.role = FF_OP_PARTY, .bw = a->sp->bw, .scale = a->sp->scale, .ctx = &ctx};
  if ((a->st = ff_keystream_open_mem(a->keys, a->keys_len, &ks))) goto done;
  p.keys[a->party] = ks;
  a->stream_bytes = ff_keystream_size(ks);
  if ((a->st = ff_op_create(&op, &p))) goto done;
  a->st = graph(op, a->sp, &a->r);
  if (!a->st) a->st = ff_keystream_close(ks, FF_KEYSTREAM_CHECK_CONSUMED);
  else ff_keystream_close(ks, 0);
  ks = NULL;
done:
  ff_keystream_close(ks, 0);
  ff_op_destroy(op);
  ff_ctx_destroy(&ctx);
out:
  if (a->st) ff_chan_close(a->ch); /* unblock the peer */
  return NULL;
}

/* Both parties of `backend` on the key images; results into r[2], statuses into st[2]. */
static void run_parties(const spec *sp, ff_backend backend, const void *img[2], const size_t len[2], result r[2],
                        uint64_t stream_bytes[2], ff_status st[2]) {
  ff_chan *ends[2];
  assert_int_equal(ff_chan_mem_pair(ends, NULL), FF_OK);
  party_arg a[2];
  pthread_t th[2];
  for (int p = 0; p < 2; p++) {
    a[p] = (party_arg){.sp = sp, .backend = backend, .party = p, .ch = ends[p], .keys = img[p], .keys_len = len[p]};
    assert_int_equal(pthread_create(&th[p], NULL, party_main, &a[p]), 0);
  }
  for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
  for (int p = 0; p < 2; p++) {
    if (!a[p].st) ff_chan_close(ends[p]);
    r[p] = a[p].r;
    st[p] = a[p].st;
    stream_bytes[p] = a[p].stream_bytes;
  }
}

static void assert_cost_equal(ff_gate_cost got, ff_gate_cost want) {
  assert_int_equal(got.key_bytes, want.key_bytes);
  assert_int_equal(got.bits_sent, want.bits_sent);
  assert_int_equal(got.bytes_sent, want.bytes_sent);
  assert_int_equal(got.rounds, want.rounds);
}

/* One dealer (CPU, seeded), its keys evaluated by CPU parties and by CUDA parties. */
static void check_gate(const spec *sp, uint64_t seed) {
  ff_ctx dealer;
  assert_int_equal(ff_ctx_init(&dealer, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  ff_rng_init_seeded(&dealer.rng, seed);
  ff_keystream *w[2];
  for (int p = 0; p < 2; p++) {
    ff_keystream_params kp = {.party = p, .run_id = "test-sigma-cuda-layernorm"};
    assert_int_equal(ff_keystream_create_mem(&kp, &w[p]), FF_OK);
  }
  ff_op *op;
  ff_op_params dp = {.role = FF_OP_DEALER, .bw = sp->bw, .scale = sp->scale, .ctx = &dealer, .keys = {w[0], w[1]}};
  assert_int_equal(ff_op_create(&op, &dp), FF_OK);
  result dr = {0};
  assert_int_equal(graph(op, sp, &dr), FF_OK);
  ff_op_destroy(op);
  const void *img[2];
  size_t len[2];
  for (int p = 0; p < 2; p++) {
    assert_int_equal(ff_keystream_finish(w[p]), FF_OK);
    assert_int_equal(ff_keystream_mem_image(w[p], &img[p], &len[p]), FF_OK);
  }
  result rc[2], rg[2];
  memset(rc, 0, sizeof rc);
  memset(rg, 0, sizeof rg);
  uint64_t bc[2], bg[2];
  ff_status sc[2], sg[2];
  run_parties(sp, FF_BACKEND_CPU, img, len, rc, bc, sc);
  run_parties(sp, FF_BACKEND_CUDA, img, len, rg, bg, sg);
  for (int p = 0; p < 2; p++) {
    assert_int_equal(sc[p], FF_OK);
    assert_int_equal(sg[p], FF_OK);
  }
  /* The CUDA run reveals the CPU run's output, byte for byte, and both are the emulation. */
  const size_t n = sp->R * sp->d;
  assert_int_equal(rc[1].n_out, n);
  assert_int_equal(rg[1].n_out, n);
  uint64_t *ref = xmalloc(n * sizeof *ref);
  ff_sigma_layernorm_emulate(sp->bw, sp->scale, sp->R, sp->d, sp->rms, sp->x, sp->gamma, sp->rms ? NULL : sp->beta,
                             ref);
  if (memcmp(rg[1].out, rc[1].out, n * sizeof *ref) != 0)
    fail_msg("%s d %zu seed %llu: CUDA != CPU", sp->rms ? "RMSNorm" : "LayerNorm", sp->d, (unsigned long long)seed);
  for (size_t i = 0; i < n; i++)
    if (rc[1].out[i] != ref[i])
      fail_msg("%s d %zu seed %llu, element %zu: got %llu, emulation %llu", sp->rms ? "RMSNorm" : "LayerNorm", sp->d,
               (unsigned long long)seed, i, (unsigned long long)rc[1].out[i], (unsigned long long)ref[i]);
  /* Every measured cost is the formula's, on both backends; the streams were read to the end. */
  ff_gate_cost want;
  (sp->rms ? ff_sigma_rmsnorm_cost : ff_sigma_layernorm_cost)(sp->R, sp->d, sp->bw, sp->scale, &want);
  for (int p = 0; p < 2; p++) {
    assert_cost_equal(rc[p].gate[p], want);
    assert_cost_equal(rg[p].gate[p], want);
    assert_int_equal(dr.gate[p].key_bytes, want.key_bytes);
    assert_cost_equal(rg[p].total[p], rc[p].total[p]);
    assert_int_equal(bg[p], rg[p].total[p].key_bytes + rg[p].tags[p]);
    assert_int_equal(bc[p], bg[p]);
  }
  printf("  %s bw %d d %zu R %zu seed %llu: CUDA == CPU == emulation; %llu key B, %llu bits, %llu rounds per party\n",
         sp->rms ? "RMSNorm  " : "LayerNorm", sp->bw, sp->d, sp->R, (unsigned long long)seed,
         (unsigned long long)want.key_bytes, (unsigned long long)want.bits_sent, (unsigned long long)want.rounds);
  free(ref);
  for (int p = 0; p < 2; p++) {
    free(rc[p].out);
    free(rg[p].out);
    ff_keystream_close(w[p], 0);
  }
  free(dr.out);
  ff_ctx_destroy(&dealer);
}

static int64_t uniform(ff_rng *rng, int64_t lo, int64_t hi) {
  return lo + (int64_t)(ff_rng_u64(rng) % (uint64_t)(hi - lo));
}

/* Rows as tests/test_sigma_layernorm.c: kind i % 4 = normal (|noise| < 2^14), tiny variance, constant,
 * one outlier; offsets up to +-2^off_bits. gamma in [-2, 2), beta in [-4, 4) at scale 12. */
static void check_case(int rms, size_t R, size_t d, int off_bits, uint64_t seed) {
  const int bw = 50, scale = 12;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 2000 + seed);
  uint64_t *x = xmalloc(R * d * sizeof *x), *g = xmalloc(d * sizeof *g), *b = xmalloc(d * sizeof *b);
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
  spec sp = {.rms = rms, .bw = bw, .scale = scale, .R = R, .d = d, .x = x, .gamma = g, .beta = b};
  check_gate(&sp, seed);
  free(x), free(g), free(b);
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

/* ---- Kernels: _cuda against _cpu on random inputs ----------------------------------------------------------- */

static void test_kernels(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 51);
  const struct { int bw; size_t R, d; } cases[] = {{50, 7, 64}, {37, 33, 96}, {48, 3, 777}, {20, 1, 2}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int party = 0; party < 2; party++) {
      cpu.party = gpu.party = party;
      const int bw = cases[c].bw, L = bw - 3;
      const size_t R = cases[c].R, d = cases[c].d, N = R * d, J = (size_t)L + 1, nkey = (2 * J + 3) * R;
      const size_t ltb = (J * R + 7) / 8, mb = ((size_t)L * R + 7) / 8;
      const uint64_t mult = ff_rng_u64(&rng) & 0xfff;
      uint64_t *x = rand_u64(&rng, N), *mu = rand_u64(&rng, R), *k2 = rand_u64(&rng, 2 * N),
               *kw = rand_u64(&rng, 2 * N + R + d), *wr = rand_u64(&rng, R), *wc = rand_u64(&rng, d),
               *v = rand_u64(&rng, R), *chat = rand_u64(&rng, (size_t)L * R), *kn = rand_u64(&rng, nkey),
               *e = rand_u64(&rng, 2 * R), *b = rand_u64(&rng, d);
      for (size_t i = 0; i < R; i++) v[i] = ff_ring_reduce(v[i], bw);
      uint8_t *lt = xmalloc(ltb), *mask = xmalloc(mb);
      assert_int_equal(ff_rng_bytes(&rng, lt, ltb), FF_OK);
      assert_int_equal(ff_rng_bytes(&rng, mask, mb), FF_OK);
      /* CPU. */
      uint64_t *sum = xmalloc(R * 8), *xc = xmalloc(N * 8), *sq = xmalloc(R * 8), *nrm = xmalloc(2 * R * 8),
               *wmr = xmalloc(N * 8), *wmc = xmalloc(N * 8), *pts = xmalloc(J * R * 8),
               *cb = xmalloc((size_t)L * R * 8), *idx = xmalloc(R * 8), *y = xmalloc(N * 8);
      memcpy(y, x, N * 8);
      assert_int_equal(ff_sigma_ln_rowsum_cpu(&cpu, bw, R, d, mult, x, sum), FF_OK);
      assert_int_equal(ff_sigma_ln_center_cpu(&cpu, bw, R, d, x, mu, xc), FF_OK);
      assert_int_equal(ff_sigma_ln_square_cpu(&cpu, bw, R, d, x, k2, sq), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_normalize_cpu(&cpu, bw, R, chat, v, kn, nrm), FF_OK);
      assert_int_equal(ff_sigma_ln_wmul_cpu(&cpu, bw, R, d, 1, x, wr, kw, wmr), FF_OK);
      assert_int_equal(ff_sigma_ln_wmul_cpu(&cpu, bw, R, d, 0, x, wc, kw, wmc), FF_OK);
      assert_int_equal(ff_sigma_ln_addcol_cpu(&cpu, bw, R, d, y, b), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_points_cpu(&cpu, bw, R, v, pts), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_bits_cpu(&cpu, bw, R, v, lt, mask, cb), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_index_cpu(&cpu, R, e + R, e, idx), FF_OK);
      /* CUDA, through the dispatchers. */
      uint64_t *dx = dev_up(x, N * 8), *dmu = dev_up(mu, R * 8), *dk2 = dev_up(k2, 2 * N * 8),
               *dkw = dev_up(kw, (2 * N + R + d) * 8), *dwr = dev_up(wr, R * 8), *dwc = dev_up(wc, d * 8),
               *dv = dev_up(v, R * 8), *dchat = dev_up(chat, (size_t)L * R * 8), *dkn = dev_up(kn, nkey * 8),
               *de = dev_up(e, 2 * R * 8), *db = dev_up(b, d * 8), *dy = dev_up(x, N * 8);
      uint8_t *dlt = dev_up(lt, ltb), *dmask = dev_up(mask, mb);
      uint64_t *dsum = dev_garbage(R * 8), *dxc = dev_garbage(N * 8), *dsq = dev_garbage(R * 8),
               *dnrm = dev_garbage(2 * R * 8), *dwmr = dev_garbage(N * 8), *dwmc = dev_garbage(N * 8),
               *dpts = dev_garbage(J * R * 8), *dcb = dev_garbage((size_t)L * R * 8), *didx = dev_garbage(R * 8);
      assert_int_equal(ff_sigma_ln_rowsum(&gpu, bw, R, d, mult, dx, dsum), FF_OK);
      assert_int_equal(ff_sigma_ln_center(&gpu, bw, R, d, dx, dmu, dxc), FF_OK);
      assert_int_equal(ff_sigma_ln_square(&gpu, bw, R, d, dx, dk2, dsq), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_normalize(&gpu, bw, R, dchat, dv, dkn, dnrm), FF_OK);
      assert_int_equal(ff_sigma_ln_wmul(&gpu, bw, R, d, 1, dx, dwr, dkw, dwmr), FF_OK);
      assert_int_equal(ff_sigma_ln_wmul(&gpu, bw, R, d, 0, dx, dwc, dkw, dwmc), FF_OK);
      assert_int_equal(ff_sigma_ln_addcol(&gpu, bw, R, d, dy, db), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_points(&gpu, bw, R, dv, dpts), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_bits(&gpu, bw, R, dv, dlt, dmask, dcb), FF_OK);
      assert_int_equal(ff_sigma_rsqrt_index(&gpu, R, de + R, de, didx), FF_OK);
      dev_down_cmp(dsum, sum, R * 8, "ff_sigma_ln_rowsum_cuda");
      dev_down_cmp(dxc, xc, N * 8, "ff_sigma_ln_center_cuda");
      dev_down_cmp(dsq, sq, R * 8, "ff_sigma_ln_square_cuda");
      dev_down_cmp(dnrm, nrm, 2 * R * 8, "ff_sigma_rsqrt_normalize_cuda");
      dev_down_cmp(dwmr, wmr, N * 8, "ff_sigma_ln_wmul_cuda (per row)");
      dev_down_cmp(dwmc, wmc, N * 8, "ff_sigma_ln_wmul_cuda (per column)");
      dev_down_cmp(dy, y, N * 8, "ff_sigma_ln_addcol_cuda");
      dev_down_cmp(dpts, pts, J * R * 8, "ff_sigma_rsqrt_points_cuda");
      dev_down_cmp(dcb, cb, (size_t)L * R * 8, "ff_sigma_rsqrt_bits_cuda");
      dev_down_cmp(didx, idx, R * 8, "ff_sigma_rsqrt_index_cuda");
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
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
