/* gates/sigma/rotary on the CUDA backend (op.h "What runs where"): T 16 and 128, d 64 and 128, bw 48 and 50,
 * one CPU dealer's keys evaluated by CPU parties and by CUDA parties (own contexts and streams, two threads,
 * ff_chan_mem_pair): the CUDA run reveals the CPU run's output byte for byte, both equal the fixed-point
 * emulation of tests/test_sigma_rotary.c, and every measured cost equals ff_sigma_rotary_cost. Then
 * ff_sigma_rotary_apply_cuda against its _cpu twin. Needs a GPU; exits 77 (skipped) without one. The small
 * runner is copied from tests/test_sigma_cuda_layernorm.c (tests/sigma_harness.h runs CPU parties only). */
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
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/op.h"
#include "gates/sigma/rotary.h"

enum { SCALE = 12, F = SCALE - 3 };

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

/* ---- The fixed-point emulation (as tests/test_sigma_rotary.c) ------------------------------------------ */

static int64_t floor_div_pow2(int64_t v, int s) {
  const int64_t q = v / ((int64_t)1 << s);
  return q * ((int64_t)1 << s) > v ? q - 1 : q;
}

/* Row-wise: u_j = c x_j -+ s x_partner in the integers (no wrap for these inputs), y = floor(u / 2^F). */
static void emulate(int bw, size_t rows, int T, int d, const int64_t *cs, const int64_t *sn, const uint64_t *x,
                    uint64_t *y) {
  const int h = d / 2;
  for (size_t r = 0; r < rows; r++) {
    const int t = (int)(r % (size_t)T);
    for (int j = 0; j < d; j++) {
      const int k = j % h;
      const int64_t c = cs[t * h + k], s = sn[t * h + k], xj = ff_ring_signed(x[r * d + j], bw);
      const int64_t xp = ff_ring_signed(x[r * d + (j + h) % d], bw);
      const int64_t u = c * xj + (j < h ? -s : s) * xp;
      y[r * d + j] = ff_ring_from_signed(floor_div_pow2(u, F), bw);
    }
  }
}

/* ---- One rotary as a graph: P1 inputs x (H, T, d), rotary, reveal ------------------------------------------ */

typedef struct {
  int bw;
  int64_t shape[3];
  const uint64_t *x;
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
  ff_wire x = {0}, y = {0};
  ff_status st;
  if ((st = ff_op_input(op, 1, 3, sp->shape, sp->x, &x))) goto done;
  const ff_gate_cost before[2] = {ff_op_cost(op, 0), ff_op_cost(op, 1)};
  if ((st = ff_op_rotary(op, &x, &y))) goto done;
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
  ff_op_params p = {.role = FF_OP_PARTY, .bw = a->sp->bw, .scale = SCALE, .ctx = &ctx};
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
    ff_keystream_params kp = {.party = p, .run_id = "test-sigma-cuda-rotary"};
    assert_int_equal(ff_keystream_create_mem(&kp, &w[p]), FF_OK);
  }
  ff_op *op;
  ff_op_params dp = {.role = FF_OP_DEALER, .bw = sp->bw, .scale = SCALE, .ctx = &dealer, .keys = {w[0], w[1]}};
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
  const int T = (int)sp->shape[1], d = (int)sp->shape[2];
  const size_t n = (size_t)sp->shape[0] * (size_t)T * (size_t)d, rows = n / (size_t)d, nt = (size_t)T * (size_t)(d / 2);
  assert_int_equal(rc[1].n_out, n);
  assert_int_equal(rg[1].n_out, n);
  int64_t *cs = xmalloc(2 * nt * sizeof *cs);
  assert_int_equal(ff_sigma_rotary_table(T, d, F, cs, cs + nt), FF_OK);
  uint64_t *ref = xmalloc(n * sizeof *ref);
  emulate(sp->bw, rows, T, d, cs, cs + nt, sp->x, ref);
  if (memcmp(rg[1].out, rc[1].out, n * sizeof *ref) != 0)
    fail_msg("rotary bw %d T %d d %d seed %llu: CUDA != CPU", sp->bw, T, d, (unsigned long long)seed);
  for (size_t i = 0; i < n; i++)
    if (rc[1].out[i] != ref[i])
      fail_msg("rotary bw %d T %d d %d seed %llu, element %zu: got %lld, emulation %lld", sp->bw, T, d,
               (unsigned long long)seed, i, (long long)ff_ring_signed(rc[1].out[i], sp->bw),
               (long long)ff_ring_signed(ref[i], sp->bw));
  /* Every measured cost is the formula's, on both backends; the streams were read to the end. */
  ff_gate_cost want[2];
  ff_sigma_rotary_cost(n, sp->bw, SCALE, want);
  for (int p = 0; p < 2; p++) {
    assert_cost_equal(rc[p].gate[p], want[p]);
    assert_cost_equal(rg[p].gate[p], want[p]);
    assert_int_equal(dr.gate[p].key_bytes, want[p].key_bytes);
    assert_cost_equal(rg[p].total[p], rc[p].total[p]);
    assert_int_equal(bg[p], rg[p].total[p].key_bytes + rg[p].tags[p]);
    assert_int_equal(bc[p], bg[p]);
  }
  printf("  rotary bw %d H %lld T %d d %d seed %llu: CUDA == CPU == emulation; %llu key B, %llu bits, %llu rounds "
         "per party\n",
         sp->bw, (long long)sp->shape[0], T, d, (unsigned long long)seed, (unsigned long long)want[0].key_bytes,
         (unsigned long long)want[0].bits_sent, (unsigned long long)want[0].rounds);
  free(ref);
  free(cs);
  for (int p = 0; p < 2; p++) {
    free(rc[p].out);
    free(rg[p].out);
    ff_keystream_close(w[p], 0);
  }
  free(dr.out);
  ff_ctx_destroy(&dealer);
}

/* Inputs as tests/test_sigma_rotary.c's two ranges: |x| < 8 (realistic), and |x| < 2^(bw-4-F) raw (the largest
 * the slack allows). */
static void check_case(int bw, int H, int T, int d) {
  const size_t N = (size_t)H * T * d;
  const int64_t lims[2] = {(int64_t)8 << SCALE, (int64_t)1 << (bw - 4 - F)};
  for (int ri = 0; ri < 2; ri++) {
    ff_rng rng;
    ff_rng_init_seeded(&rng, 3000 + (uint64_t)(bw * 1000 + T * 10 + d + ri));
    uint64_t *x = xmalloc(N * sizeof *x);
    for (size_t i = 0; i < N; i++)
      x[i] = ff_ring_from_signed(-lims[ri] + (int64_t)(ff_rng_u64(&rng) % (uint64_t)(2 * lims[ri])), bw);
    const spec sp = {.bw = bw, .shape = {H, T, d}, .x = x};
    check_gate(&sp, 21 + (uint64_t)ri);
    free(x);
  }
}

static void test_gate_t16(void **state) {
  (void)state;
  for (int bw = 48; bw <= 50; bw += 2) {
    check_case(bw, 2, 16, 64);
    check_case(bw, 2, 16, 128);
  }
}

static void test_gate_t128(void **state) {
  (void)state;
  for (int bw = 48; bw <= 50; bw += 2) {
    check_case(bw, 1, 128, 64);
    check_case(bw, 1, 128, 128);
  }
}

/* ---- Kernel: _cuda against _cpu on random words and random tables ----------------------------------------- */

static void test_kernel(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 77);
  /* rows not a multiple of T; d = 2 (h = 1); bw 64 (no reduction). */
  const struct { int bw; size_t rows; int T, d; } cases[] = {
      {50, 7, 3, 64}, {48, 33, 16, 128}, {37, 5, 5, 2}, {64, 4, 2, 6}, {48, 300, 128, 128}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int party = 0; party < 2; party++) {
      cpu.party = gpu.party = party;
      const int bw = cases[c].bw, T = cases[c].T, d = cases[c].d;
      const size_t rows = cases[c].rows, N = rows * (size_t)d, nt = (size_t)T * (size_t)(d / 2);
      uint64_t *x = xmalloc(N * 8), *u = xmalloc(N * 8);
      int64_t *cs = xmalloc(2 * nt * 8);
      for (size_t i = 0; i < N; i++) x[i] = ff_rng_u64(&rng);
      for (size_t i = 0; i < 2 * nt; i++) cs[i] = (int64_t)ff_rng_u64(&rng);
      assert_int_equal(ff_sigma_rotary_apply_cpu(&cpu, bw, rows, T, d, cs, cs + nt, x, u), FF_OK);
      uint64_t *dx = dev_up(x, N * 8), *du = dev_garbage(N * 8);
      int64_t *dcs = dev_up(cs, 2 * nt * 8);
      assert_int_equal(ff_sigma_rotary_apply(&gpu, bw, rows, T, d, dcs, dcs + nt, dx, du), FF_OK);
      dev_down_cmp(du, u, N * 8, "ff_sigma_rotary_apply_cuda");
      ff_cuda_free(dx), ff_cuda_free(du), ff_cuda_free(dcs);
      free(x), free(u), free(cs);
    }
  /* Bad shapes are refused. */
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  uint64_t w = 0;
  int64_t t = 0;
  assert_int_equal(ff_sigma_rotary_apply_cuda(&gpu, 48, 1, 1, 3, &t, &t, &w, &w), FF_EINVAL);
  assert_int_equal(ff_sigma_rotary_apply_cuda(&gpu, 48, 1, 0, 2, &t, &t, &w, &w), FF_EINVAL);
  assert_int_equal(ff_sigma_rotary_apply_cuda(&cpu, 48, 1, 1, 2, &t, &t, &w, &w), FF_EINVAL);
  ff_log_set_level(saved);
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_sigma_cuda_rotary: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernel),
      cmocka_unit_test(test_gate_t16),
      cmocka_unit_test(test_gate_t128),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
