/* A CUDA party's online phase allocates nothing (issue: GPU-resident online phase): bert-tiny at seq 128,
 * both parties as two threads of this process over loopback TCP, keys preloaded to the device; after one
 * warm-up inference, a second inference is counted from its barrier to the end of its stream: host
 * allocations (malloc, calloc and realloc of every object linked into this test, through the linker's
 * --wrap), device allocations outside the pool (cudaMalloc made by the runtime), pinned allocations,
 * growth of the reconstruct staging and growth of the device pool (core/cuda.h ff_alloc_stats) must all
 * be zero. The output is checked against the fixed-point emulation too. Sigma and suf. Needs a GPU;
 * exits 77 (skipped) without one. */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "comm/chan.h"
#include "core/ctx.h"
#include "core/cuda.h"
#include "core/keystream.h"
#include "core/rand.h"
#include "gates/sigma/op.h"
#include "gates/suf/spec.h"
#include "models/config.h"
#include "models/model.h"

/* ---- Host allocation counters (linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc) ------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
static __thread int counting;
static __thread unsigned long long host_allocs;
/* Where the counted allocations came from (return addresses, printed as offsets into their object for
 * addr2line when the test fails). */
#define N_SITES 32
static void *sites[N_SITES];
static int n_sites;
static void note(void *ra) {
  host_allocs++;
  const int i = __atomic_fetch_add(&n_sites, 1, __ATOMIC_RELAXED);
  if (i < N_SITES) sites[i] = ra;
}
void *__wrap_malloc(size_t n) {
  if (counting) note(__builtin_return_address(0));
  return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
  if (counting) note(__builtin_return_address(0));
  return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  if (counting) note(__builtin_return_address(0));
  return __real_realloc(p, n);
}

static void print_sites(void) {
  for (int i = 0; i < n_sites && i < N_SITES; i++) {
    Dl_info di;
    if (dladdr(sites[i], &di) && di.dli_fname)
      print_message("host allocation from %s+0x%lx\n", di.dli_fname,
                    (unsigned long)((uintptr_t)sites[i] - (uintptr_t)di.dli_fbase));
  }
}

/* ---- Two parties ------------------------------------------------------------------------------------ */

#define SEQ 128

typedef struct {
  int party;
  const ff_model_config *cfg;
  const ff_suf_config *suf;
  const void *img;
  size_t img_len;
  int port; /* party 0 publishes it, party 1 waits for it */
  pthread_mutex_t *mu;
  pthread_cond_t *cv;
  int *port_shared;
  int64_t *y; /* P1's output */
  unsigned long long host_allocs;
  ff_alloc_stats before, after;
  ff_status st;
} party_arg;

static void on_listen(int port, void *arg) {
  party_arg *a = arg;
  pthread_mutex_lock(a->mu);
  *a->port_shared = port;
  pthread_cond_broadcast(a->cv);
  pthread_mutex_unlock(a->mu);
}

static void *party_main(void *p) {
  party_arg *a = p;
  ff_keystream *ks = NULL;
  ff_chan *ch = NULL;
  ff_ctx ctx;
  int ctx_ok = 0;
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  ff_model_weights w = {0};
  int64_t *x = NULL;
  ff_status st;
  ff_tcp_opts t = {.party = a->party, .host = "127.0.0.1", .run_id = "online-alloc", .connect_timeout_ms = 30000,
                   .io_timeout_ms = 60000};
  if (a->party == 0) {
    t.on_listen = on_listen;
    t.on_listen_arg = a;
  } else {
    pthread_mutex_lock(a->mu);
    while (!*a->port_shared) pthread_cond_wait(a->cv, a->mu);
    t.port = *a->port_shared;
    pthread_mutex_unlock(a->mu);
  }
  if ((st = ff_keystream_open_mem(a->img, a->img_len, &ks)) || (st = ff_chan_tcp_open(&ch, &t)) ||
      (st = ff_ctx_init(&ctx, FF_BACKEND_CUDA, a->party)))
    goto done;
  ctx_ok = 1;
  ctx.chan = ch;
  ff_op_params pp = {.role = FF_OP_PARTY, .bw = a->cfg->bw, .scale = a->cfg->scale, .ctx = &ctx,
                     .key_placement = FF_KEYS_PRELOAD};
  pp.keys[a->party] = ks;
  if ((st = ff_op_create(&op, &pp)) || (st = ff_op_preload_keys(op))) goto done;
  if (a->party == 0 ? (st = ff_model_weights_random(a->cfg, 1, &w)) : (st = ff_model_input_random(a->cfg, SEQ, 1, 2, &x)))
    goto done;
  if ((st = ff_model_session_begin(op, a->cfg, a->party == 0 ? &w : NULL, &s))) goto done;
  ff_model_session_set_suf(s, a->suf);
  const uint64_t cursor = ff_op_key_cursor(op);
  /* Two warm-ups: the device pool is shared by both parties' threads, and what one frees the other reuses
   * only as their timing allows; the second lets the pool reach what two interleavings need. */
  enum { WARMUPS = 2 };
  for (int rep = 0; rep <= WARMUPS; rep++) {
    if ((rep && (st = ff_op_rewind_keys(op, cursor))) || (st = ff_chan_barrier(ch))) goto done;
    if (rep == WARMUPS) { /* the counted inference: from its barrier to the end of its stream */
      ff_alloc_stats_get(&a->before);
      host_allocs = 0;
      counting = 1;
    }
    st = ff_model_infer(op, s, SEQ, 1, x, a->y);
    if (!st) st = ff_cuda_stream_sync(ctx.stream);
    counting = 0;
    if (rep == WARMUPS) {
      a->host_allocs = host_allocs;
      ff_alloc_stats_get(&a->after);
    }
    if (st) goto done;
  }
  st = ff_chan_barrier(ch);
done:
  a->st = st;
  ff_model_session_free(s);
  ff_op_destroy(op);
  if (ctx_ok) ff_ctx_destroy(&ctx);
  ff_chan_close(ch);
  ff_keystream_close(ks, 0);
  ff_model_weights_free(&w);
  free(x);
  return NULL;
}

static void run(const ff_suf_config *suf, const char *what) {
  const ff_model_config *cfg = ff_model_find("bert-tiny");
  assert_non_null(cfg);
  /* The dealer (CPU) into memory streams. */
  ff_keystream *ks[2];
  for (int q = 0; q < 2; q++) {
    ff_keystream_params kp = {.party = q, .run_id = "online-alloc", .meta = "bert-tiny"};
    assert_int_equal(ff_keystream_create_mem(&kp, &ks[q]), FF_OK);
  }
  ff_ctx dctx;
  assert_int_equal(ff_ctx_init(&dctx, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  ff_op *dop = NULL;
  ff_model_session *ds = NULL;
  ff_op_params dp = {.role = FF_OP_DEALER, .bw = cfg->bw, .scale = cfg->scale, .ctx = &dctx, .keys = {ks[0], ks[1]}};
  assert_int_equal(ff_op_create(&dop, &dp), FF_OK);
  assert_int_equal(ff_model_session_begin(dop, cfg, NULL, &ds), FF_OK);
  ff_model_session_set_suf(ds, suf);
  assert_int_equal(ff_model_infer(dop, ds, SEQ, 1, NULL, NULL), FF_OK);
  for (int q = 0; q < 2; q++) assert_int_equal(ff_keystream_finish(ks[q]), FF_OK);
  ff_model_session_free(ds);
  ff_op_destroy(dop);
  ff_ctx_destroy(&dctx);

  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  int port = 0;
  const size_t n = (size_t)SEQ * (size_t)cfg->d_model;
  int64_t *y = calloc(n, sizeof *y);
  assert_non_null(y);
  party_arg a[2];
  pthread_t th[2];
  for (int p = 0; p < 2; p++) {
    a[p] = (party_arg){.party = p, .cfg = cfg, .suf = suf, .mu = &mu, .cv = &cv, .port_shared = &port,
                       .y = p == 1 ? y : NULL};
    assert_int_equal(ff_keystream_mem_image(ks[p], &a[p].img, &a[p].img_len), FF_OK);
    assert_int_equal(pthread_create(&th[p], NULL, party_main, &a[p]), 0);
  }
  for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
  for (int p = 0; p < 2; p++) {
    assert_int_equal(a[p].st, FF_OK);
    const ff_alloc_stats *b = &a[p].before, *e = &a[p].after;
    print_message("%s, party %d, counted inference: %llu host allocations, %llu device (cudaMalloc), %llu pinned, "
                  "%llu staging growths, pool %llu -> %llu bytes; %llu stream-ordered allocations from the pool\n",
                  what, p, a[p].host_allocs, e->dev_sync_allocs - b->dev_sync_allocs, e->pinned_allocs - b->pinned_allocs,
                  e->staging_grows - b->staging_grows, b->pool_reserved_B, e->pool_reserved_B, e->dev_allocs - b->dev_allocs);
    if (a[p].host_allocs) print_sites();
    assert_true(a[p].host_allocs == 0);
    assert_true(e->dev_sync_allocs == b->dev_sync_allocs);
    assert_true(e->pinned_allocs == b->pinned_allocs);
    assert_true(e->staging_grows == b->staging_grows);
    assert_true(e->pool_reserved_B <= b->pool_reserved_B);
  }
  /* The counted inference is right, too. */
  ff_model_weights w;
  int64_t *x = NULL, *want = calloc(n, sizeof *want);
  assert_non_null(want);
  assert_int_equal(ff_model_weights_random(cfg, 1, &w), FF_OK);
  assert_int_equal(ff_model_input_random(cfg, SEQ, 1, 2, &x), FF_OK);
  assert_int_equal(ff_model_emulate_suf(cfg, suf, &w, SEQ, 1, x, want), FF_OK);
  assert_memory_equal(y, want, n * sizeof *y);
  ff_model_weights_free(&w);
  free(x), free(want), free(y);
  for (int q = 0; q < 2; q++) ff_keystream_close(ks[q], 0);
}

static void test_sigma(void **state) {
  (void)state;
  ff_suf_config off;
  ff_suf_config_off(&off);
  run(&off, "bert-tiny, sigma");
}

static void test_suf(void **state) {
  (void)state;
  ff_suf_config suf;
  ff_suf_config_default(&suf);
  assert_int_equal(ff_suf_config_check(&suf, 37, 12), FF_OK);
  run(&suf, "bert-tiny, suf");
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_online_alloc_cuda: no CUDA device, skipped\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sigma), cmocka_unit_test(test_suf)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
