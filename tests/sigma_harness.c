/* The two-party gate-test harness of the gates/sigma tests (see sigma_harness.h): dealer into
 * memory key streams, both parties in two threads over ff_chan_mem_pair, then cost-only.
 * Used by tests/test_sigma_gates.c and the per-gate tests (tests/sigma.cmake); the CUDA tests run
 * its parties on both backends (sh_deal, sh_run_parties; tests/sigma_cuda_harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "comm/chan.h"
#include "core/ctx.h"
#include "core/keystream.h"
#include "core/ring.h"
#include "gates/sigma/gelu.h"
#include "gates/sigma/op_internal.h"
#include "sigma_harness.h"

void *sh_xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  assert_non_null(p);
  return p;
}

ff_gate_cost sh_cost_sub(ff_gate_cost a, ff_gate_cost b) {
  ff_gate_cost c = {a.key_bytes - b.key_bytes, a.bits_sent - b.bits_sent, a.bytes_sent - b.bytes_sent,
                    a.rounds - b.rounds};
  return c;
}

void sh_assert_cost_equal(ff_gate_cost got, ff_gate_cost want) {
  assert_int_equal(got.key_bytes, want.key_bytes);
  assert_int_equal(got.bits_sent, want.bits_sent);
  assert_int_equal(got.bytes_sent, want.bytes_sent);
  assert_int_equal(got.rounds, want.rounds);
}

int64_t sh_floor_div_pow2(int64_t v, int s) {
  const int64_t d = (int64_t)1 << s;
  int64_t q = v / d;
  if (v % d != 0 && v < 0) q--;
  return q;
}

void sh_gate_begin(ff_op *op, ff_gate_cost before[2]) {
  for (int p = 0; p < 2; p++) before[p] = ff_op_cost(op, p);
}

void sh_gate_end(ff_op *op, const ff_gate_cost before[2], sh_result *r) {
  for (int p = 0; p < 2; p++) r->gate[p] = sh_cost_sub(ff_op_cost(op, p), before[p]);
}

ff_status sh_output(ff_op *op, const ff_wire *y, sh_result *r) {
  r->n_out = y->numel;
  r->out_bw = y->bw;
  r->out = sh_xmalloc(y->numel * sizeof *r->out);
  return ff_op_output(op, y, r->out);
}

ff_status sh_narrow(ff_op *op, const ff_wire *x, int bw, ff_wire *xn) {
  *xn = *x;
  xn->bw = bw;
  if (bw == x->bw || !x->v) return FF_OK; /* the cost-only op has no values */
  void *buf = NULL;
  ff_status st = ff__op_buf_alloc(op, x->numel * sizeof *x->v, "sh_narrow", &buf);
  xn->v = buf;
  return st ? st : ff__op_reduce(op, x->v, xn->v, x->numel, bw);
}

void sh_narrow_free(ff_op *op, const ff_wire *x, ff_wire *xn) {
  if (xn->v && xn->v != x->v) ff__op_buf_free(op, xn->v);
  xn->v = NULL;
}

ff_status sh_unary_graph(ff_op *op, const void *arg, sh_result *r) {
  const sh_unary *u = arg;
  ff_wire x = {0}, y = {0};
  ff_gate_cost before[2];
  const int64_t shape[1] = {(int64_t)u->N};
  ff_status st;
  if ((st = ff_op_input(op, 1, 1, shape, u->x, &x))) goto done;
  sh_gate_begin(op, before);
  if ((st = u->fn(op, &x, &y, u->user))) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

/* ---- Roles ------------------------------------------------------------------------------------------ */

static ff_status run_graph(ff_op *op, const sh_spec *sp, sh_result *r) {
  const ff_status st = sp->graph(op, sp->arg, r);
  for (int p = 0; p < 2; p++) {
    r->total[p] = ff_op_cost(op, p);
    r->tags[p] = ff_op_tag_bytes(op, p);
  }
  return st;
}

typedef struct {
  const sh_spec *sp;
  ff_backend backend;
  int party;
  ff_chan *ch;
  const void *keys;
  size_t keys_len;
  ff_prof *prof;
  sh_result r;
  uint64_t stream_bytes;
  ff_status st;
} party_arg;

static void *party_main(void *arg) {
  party_arg *a = arg;
  ff_ctx ctx;
  ff_keystream *ks = NULL;
  ff_op *op = NULL;
  if ((a->st = ff_ctx_init(&ctx, a->backend, a->party))) {
    ff_chan_close(a->ch); /* unblock the peer */
    a->ch = NULL;
    return NULL;
  }
  ctx.chan = a->ch;
  if (a->prof && ((a->st = ff_prof_thread_attach(a->prof, a->party ? "P1" : "P0", NULL)) ||
                  (a->st = ff_prof_rep_begin(a->prof, 0))))
    goto done;
  ff_op_params p = {.role = FF_OP_PARTY, .bw = a->sp->bw, .scale = a->sp->scale, .ctx = &ctx};
  if ((a->st = ff_keystream_open_mem(a->keys, a->keys_len, &ks))) goto done;
  p.keys[a->party] = ks;
  a->stream_bytes = ff_keystream_size(ks);
  if ((a->st = ff_op_create(&op, &p))) goto done;
  a->st = run_graph(op, a->sp, &a->r);
  if (a->prof) {
    ff_status st = ff_prof_rep_end(a->prof);
    if (!a->st) a->st = st;
    ff_prof_thread_detach();
  }
  if (!a->st) a->st = ff_keystream_close(ks, FF_KEYSTREAM_CHECK_CONSUMED);
  else ff_keystream_close(ks, 0);
  ks = NULL;
done:
  if (a->st && a->ch) { /* unblock the peer: its next receive fails instead of waiting */
    ff_chan_close(a->ch);
    a->ch = NULL;
  }
  ff_keystream_close(ks, 0);
  ff_op_destroy(op);
  ff_ctx_destroy(&ctx);
  return NULL;
}

void sh_run_free(sh_run *rr) {
  free(rr->dealer.out);
  free(rr->party[0].out);
  free(rr->party[1].out);
  free(rr->cost.out);
  memset(rr, 0, sizeof *rr);
}

void sh_deal(const sh_spec *sp, uint64_t seed, const char *run_id, sh_result *dealer_r, sh_keys *k) {
  sh_deal_on(sp, FF_BACKEND_CPU, seed, run_id, dealer_r, k);
  /* The same gate by the dealer's device path on the kernels' CPU twins (op_internal.h): the same bytes. */
  sh_keys kd;
  sh_result rd;
  memset(&rd, 0, sizeof rd);
  sh_deal_device_path(sp, FF_BACKEND_CPU, seed, run_id, &rd, &kd);
  sh_assert_same_keys(run_id, "the device path (on a host stand-in)", k, &kd);
  sh_keys_free(&kd);
  free(rd.out);
}

void sh_assert_same_keys(const char *run_id, const char *what, const sh_keys *want, const sh_keys *got) {
  for (int p = 0; p < 2; p++) {
    assert_int_equal(got->len[p], want->len[p]);
    if (memcmp(got->img[p], want->img[p], want->len[p])) {
      size_t i = 0;
      while (((const uint8_t *)got->img[p])[i] == ((const uint8_t *)want->img[p])[i]) i++;
      fail_msg("%s: party %d's keys from %s first differ from the CPU dealer's at byte %zu of %zu", run_id, p, what, i,
               want->len[p]);
    }
  }
}

/* device_path: a CUDA dealer with deal_on_device, or a CPU dealer whose device path is a host stand-in. */
static void ff__sh_deal(const sh_spec *sp, ff_backend backend, int device_path, uint64_t seed, const char *run_id,
                        sh_result *dealer_r, sh_keys *k) {
  memset(k, 0, sizeof *k);
  ff_ctx dealer, stand_in;
  assert_int_equal(ff_ctx_init(&dealer, backend, FF_DEALER), FF_OK);
  assert_int_equal(ff_ctx_init(&stand_in, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  ff_rng_init_seeded(&dealer.rng, seed);
  for (int p = 0; p < 2; p++) {
    ff_keystream_params kp = {.party = p, .run_id = run_id};
    assert_int_equal(ff_keystream_create_mem(&kp, &k->w[p]), FF_OK);
  }
  ff_op *op;
  ff_op_params dp = {.role = FF_OP_DEALER, .bw = sp->bw, .scale = sp->scale, .ctx = &dealer, .keys = {k->w[0], k->w[1]},
                     .deal_on_device = device_path};
  assert_int_equal(ff_op_create(&op, &dp), FF_OK);
  if (device_path && backend == FF_BACKEND_CPU) op->deal_ctx = &stand_in;
  assert_int_equal(run_graph(op, sp, dealer_r), FF_OK);
  ff_op_destroy(op);
  for (int p = 0; p < 2; p++) {
    assert_int_equal(ff_keystream_finish(k->w[p]), FF_OK);
    assert_int_equal(ff_keystream_mem_image(k->w[p], &k->img[p], &k->len[p]), FF_OK);
  }
  ff_ctx_destroy(&stand_in);
  ff_ctx_destroy(&dealer);
}

void sh_deal_on(const sh_spec *sp, ff_backend backend, uint64_t seed, const char *run_id, sh_result *dealer_r,
                sh_keys *k) {
  ff__sh_deal(sp, backend, 0, seed, run_id, dealer_r, k);
}

void sh_deal_device_path(const sh_spec *sp, ff_backend backend, uint64_t seed, const char *run_id,
                         sh_result *dealer_r, sh_keys *k) {
  ff__sh_deal(sp, backend, 1, seed, run_id, dealer_r, k);
}

void sh_keys_free(sh_keys *k) {
  for (int p = 0; p < 2; p++) ff_keystream_close(k->w[p], 0);
  memset(k, 0, sizeof *k);
}

void sh_run_parties(const sh_spec *sp, ff_backend backend, const sh_keys *k, sh_result r[2], uint64_t stream_bytes[2],
                    ff_status st[2], ff_prof *prof[2]) {
  ff_chan *ends[2];
  assert_int_equal(ff_chan_mem_pair(ends, NULL), FF_OK);
  party_arg a[2];
  pthread_t th[2];
  for (int p = 0; p < 2; p++) {
    a[p] = (party_arg){.sp = sp, .backend = backend, .party = p, .ch = ends[p], .keys = k->img[p],
                       .keys_len = k->len[p], .prof = prof ? prof[p] : NULL};
    assert_int_equal(pthread_create(&th[p], NULL, party_main, &a[p]), 0);
  }
  for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
  for (int p = 0; p < 2; p++) {
    ff_chan_close(a[p].ch);
    r[p] = a[p].r;
    st[p] = a[p].st;
    stream_bytes[p] = a[p].stream_bytes;
  }
}

void sh_run_all(const sh_spec *sp, uint64_t seed, sh_run *rr, ff_prof *prof[2]) {
  memset(rr, 0, sizeof *rr);
  sh_keys k;
  sh_deal(sp, seed, "test-sigma", &rr->dealer, &k);
  sh_run_parties(sp, FF_BACKEND_CPU, &k, rr->party, rr->stream_bytes, rr->st, prof);
  sh_keys_free(&k);

  ff_op *op;
  ff_op_params cp = {.role = FF_OP_COST, .bw = sp->bw, .scale = sp->scale};
  assert_int_equal(ff_op_create(&op, &cp), FF_OK);
  assert_int_equal(run_graph(op, sp, &rr->cost), FF_OK);
  ff_op_destroy(op);
}

void sh_check_costs(const sh_run *rr, const ff_gate_cost want[2]) {
  assert_int_equal(rr->st[0], FF_OK);
  assert_int_equal(rr->st[1], FF_OK);
  for (int p = 0; p < 2; p++) {
    /* The party measured the gate exactly as the formula says; the dealer wrote as much. */
    sh_assert_cost_equal(rr->party[p].gate[p], want[p]);
    assert_int_equal(rr->dealer.gate[p].key_bytes, want[p].key_bytes);
    sh_assert_cost_equal(rr->cost.gate[p], want[p]);
    /* The stream held exactly the key bytes plus the tags. */
    assert_int_equal(rr->stream_bytes[p], rr->party[p].total[p].key_bytes + rr->party[p].tags[p]);
    assert_int_equal(rr->party[p].total[p].key_bytes, rr->dealer.total[p].key_bytes);
    /* Cost-only totals equal the run's (rounds: the merged run's, max over parties). */
    assert_int_equal(rr->cost.total[p].key_bytes, rr->party[p].total[p].key_bytes);
    assert_int_equal(rr->cost.total[p].bits_sent, rr->party[p].total[p].bits_sent);
    assert_int_equal(rr->cost.total[p].bytes_sent, rr->party[p].total[p].bytes_sent);
  }
  const uint64_t r0 = rr->party[0].total[0].rounds, r1 = rr->party[1].total[1].rounds;
  assert_int_equal(rr->cost.total[0].rounds, r0 > r1 ? r0 : r1);
}

/* ---- Inputs ----------------------------------------------------------------------------------------- */

uint64_t *sh_make_inputs(ff_rng *rng, size_t n, int bw, int64_t lo, int64_t hi, int s) {
  uint64_t *x = sh_xmalloc(n * sizeof *x);
  const int64_t edge[] = {0, 1, -1, lo, hi - 1, lo + 1, hi - 2, (int64_t)1 << s, -((int64_t)1 << s),
                          ((int64_t)1 << s) - 1, -((int64_t)1 << s) + 1, ((int64_t)1 << s) + 1};
  const uint64_t span = (uint64_t)hi - (uint64_t)lo; /* unsigned: the full 64-bit range does not overflow */
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

void sh_gate_reference(sh_gate kind, int bw, int scale, int s, int b_out, size_t M, size_t K, size_t N,
                       const uint64_t *x, const uint64_t *y, uint64_t *ref) {
  switch (kind) {
    case SH_TRFLOOR:
      for (size_t i = 0; i < N; i++) ref[i] = ff_ring_from_signed(sh_floor_div_pow2(ff_ring_signed(x[i], bw), s), bw);
      break;
    case SH_TRSLACK:
      for (size_t i = 0; i < N; i++)
        ref[i] = ff_ring_from_signed(sh_floor_div_pow2(ff_ring_signed(x[i], bw), s), b_out);
      break;
    case SH_DRELU:
      for (size_t i = 0; i < N; i++) ref[i] = ff_ring_signed(x[i], bw) >= 0;
      break;
    case SH_RELU:
      for (size_t i = 0; i < N; i++) {
        const int64_t v = ff_ring_signed(x[i], bw);
        ref[i] = ff_ring_from_signed(v > 0 ? v : 0, b_out);
      }
      break;
    case SH_MUL:
      for (size_t i = 0; i < N; i++) /* |x y| < 2^(bw-1) for the tests' inputs */
        ref[i] = ff_ring_from_signed(sh_floor_div_pow2(ff_ring_signed(x[i], bw) * ff_ring_signed(y[i], bw), scale), bw);
      break;
    case SH_MATMUL:
      for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
          int64_t acc = 0;
          for (size_t k = 0; k < K; k++) acc += ff_ring_signed(x[i * K + k], bw) * ff_ring_signed(y[k * N + j], bw);
          ref[i * N + j] = ff_ring_from_signed(sh_floor_div_pow2(acc, scale), bw);
        }
      break;
    case SH_GELU:
    case SH_SILU: {
      /* ReLU(x) - T[min(|floor(x / 2^(scale-6))|, 2^k - 1)] */
      const ff_sigma_act a = kind == SH_GELU ? FF_SIGMA_GELU : FF_SIGMA_SILU;
      const int k = ff_sigma_act_clip_bits(a);
      const int64_t c = ((int64_t)1 << k) - 1;
      uint64_t *tab = sh_xmalloc(((size_t)1 << k) * sizeof *tab);
      assert_int_equal(ff_sigma_act_table(a, scale, bw, tab), FF_OK);
      for (size_t i = 0; i < N; i++) {
        const int64_t v = ff_ring_signed(x[i], bw), t = sh_floor_div_pow2(v, scale - 6);
        const int64_t idx = t < 0 ? (-t < c ? -t : c) : (t < c ? t : c);
        ref[i] = ff_ring_reduce(ff_ring_from_signed(v > 0 ? v : 0, bw) - tab[idx], bw);
      }
      free(tab);
      break;
    }
  }
}

void sh_rotary_reference(int bw, int f, size_t rows, int T, int d, const int64_t *cs, const int64_t *sn,
                         const uint64_t *x, uint64_t *y) {
  const int h = d / 2;
  for (size_t r = 0; r < rows; r++) {
    const int t = (int)(r % (size_t)T);
    for (int j = 0; j < d; j++) {
      const int k = j % h;
      const int64_t c = cs[t * h + k], s = sn[t * h + k], xj = ff_ring_signed(x[r * d + j], bw);
      const int64_t xp = ff_ring_signed(x[r * d + (j + h) % d], bw);
      const int64_t u = c * xj + (j < h ? -s : s) * xp;
      y[r * d + j] = ff_ring_from_signed(sh_floor_div_pow2(u, f), bw);
    }
  }
}
