/* gates/fss/lut and select on CUDA against the CPU reference, bit for bit: the dealer (same seed,
 * same keys), the local LUT kernel for b = 8, 10, 13 with keys made on either backend, the select and
 * sign-fix kernels, and the whole gate by two parties on their own streams. Needs a GPU; exits 77
 * (skipped) without one. */
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
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/lut.h"
#include "gates/fss/select.h"

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  assert_non_null(p);
  return p;
}

/* Device copy of n host bytes (freed with dev_free). */
static void *to_dev(ff_ctx *cuda, const void *host, size_t n) {
  void *d = NULL;
  ff_mem w;
  assert_int_equal(ff__fss_buf_alloc(cuda, "test", n, &d, &w), FF_OK);
  assert_int_equal(ff__fss_buf_copy(cuda, "test", d, FF_MEM_DEVICE, host, FF_MEM_HOST, n), FF_OK);
  return d;
}
static void *dev_zeros(ff_ctx *cuda, size_t n) {
  void *d = NULL;
  ff_mem w;
  assert_int_equal(ff__fss_buf_alloc(cuda, "test", n, &d, &w), FF_OK);
  return d;
}
static void to_host(ff_ctx *cuda, void *host, const void *dev, size_t n) {
  assert_int_equal(ff__fss_buf_copy(cuda, "test", host, FF_MEM_HOST, dev, FF_MEM_DEVICE, n), FF_OK);
}
static void dev_free(void *d) { ff__fss_buf_free(d, FF_MEM_DEVICE); }

static void serialize(const ff_lut_key *k, uint8_t **out, size_t *n) {
  *n = ff_lut_key_bytes(k->b, k->b_out, k->n_tables, k->N);
  *out = xmalloc(*n);
  assert_int_equal(ff_lut_key_serialize(k, *out, *n), FF_OK);
}

/* The dealer on CUDA gives the CPU dealer's keys and masks for the same seed; then the local kernel
 * (and select, sign fix) of each party on CUDA equals the CPU's, with keys of either origin. */
static void test_local_kernels(void **state) {
  (void)state;
  const int bs[] = {8, 10, 13};
  for (size_t ib = 0; ib < 3; ib++) {
    const int b = bs[ib], b_out = 50, T = 2;
    const size_t N = b == 13 ? 300 : 1000, TN = (size_t)T * N, D = (size_t)1 << b;
    const uint64_t seed = 0x1u + (uint64_t)b;
    ff_ctx cpu, cuda;
    assert_int_equal(ff_ctx_init(&cpu, FF_BACKEND_CPU, FF_DEALER), FF_OK);
    assert_int_equal(ff_ctx_init(&cuda, FF_BACKEND_CUDA, FF_DEALER), FF_OK);
    ff_rng_init_seeded(&cpu.rng, seed);
    ff_rng_init_seeded(&cuda.rng, seed);
    ff_rng data;
    ff_rng_init_seeded(&data, seed ^ 0xABCDEF);
    uint64_t *r_in = xmalloc(N * 8), *xhat = xmalloc(N * 8), *tab = xmalloc(T * D * 8), *r_out_c = xmalloc(TN * 8),
             *r_out_g = xmalloc(TN * 8);
    assert_int_equal(ff_rng_ring(&data, r_in, N, b), FF_OK);
    assert_int_equal(ff_rng_ring(&data, xhat, N, b), FF_OK);
    assert_int_equal(ff_rng_ring(&data, tab, T * D, b_out), FF_OK);

    /* Keys from both dealers. */
    ff_lut_key kc[2], kg[2], kg_host[2];
    for (int p = 0; p < 2; p++) {
      assert_int_equal(ff_lut_key_alloc(&cpu, &kc[p], b, b_out, T, N), FF_OK);
      assert_int_equal(ff_lut_key_alloc(&cuda, &kg[p], b, b_out, T, N), FF_OK);
      assert_int_equal(ff_lut_key_alloc(&cpu, &kg_host[p], b, b_out, T, N), FF_OK);
    }
    assert_int_equal(ff_lut_keygen(&cpu, r_in, &kc[0], &kc[1], r_out_c), FF_OK);
    uint64_t *d_r_in = to_dev(&cuda, r_in, N * 8), *d_r_out = dev_zeros(&cuda, TN * 8);
    assert_int_equal(ff_lut_keygen(&cuda, d_r_in, &kg[0], &kg[1], d_r_out), FF_OK);
    to_host(&cuda, r_out_g, d_r_out, TN * 8);
    assert_memory_equal(r_out_c, r_out_g, TN * 8);
    for (int p = 0; p < 2; p++) {
      assert_int_equal(ff_lut_key_copy(&cuda, &kg_host[p], &kg[p]), FF_OK);
      uint8_t *sc, *sg;
      size_t nc, ng;
      serialize(&kc[p], &sc, &nc);
      serialize(&kg_host[p], &sg, &ng);
      assert_int_equal(nc, ng);
      assert_memory_equal(sc, sg, nc);
      free(sc);
      free(sg);
    }

    /* Local kernels of both parties: CPU with the CPU dealer's keys, CUDA with keys from either. */
    uint64_t *d_xhat = to_dev(&cuda, xhat, N * 8), *d_tab = to_dev(&cuda, tab, T * D * 8);
    uint64_t *u_c = xmalloc(N * 8), *v_c = xmalloc(TN * 8), *u_g = xmalloc(N * 8), *v_g = xmalloc(TN * 8);
    uint64_t *o_c = xmalloc(TN * 8), *o_g = xmalloc(TN * 8);
    uint64_t *d_u = dev_zeros(&cuda, N * 8), *d_v = dev_zeros(&cuda, TN * 8), *d_o = dev_zeros(&cuda, TN * 8);
    for (int p = 0; p < 2; p++) {
      cpu.party = cuda.party = p;
      assert_int_equal(ff_lut_eval_local(&cpu, &kc[p], xhat, tab, u_c, v_c), FF_OK);
      for (int origin = 0; origin < 2; origin++) {
        ff_lut_key up;
        const ff_lut_key *dk = &kg[p];
        if (origin == 0) { /* the CPU dealer's key, uploaded */
          assert_int_equal(ff_lut_key_alloc(&cuda, &up, b, b_out, T, N), FF_OK);
          assert_int_equal(ff_lut_key_copy(&cuda, &up, &kc[p]), FF_OK);
          dk = &up;
        }
        assert_int_equal(ff_lut_eval_local(&cuda, dk, d_xhat, d_tab, d_u, d_v), FF_OK);
        to_host(&cuda, u_g, d_u, N * 8);
        to_host(&cuda, v_g, d_v, TN * 8);
        assert_memory_equal(u_c, u_g, N * 8);
        assert_memory_equal(v_c, v_g, TN * 8);
        /* select and sign fix on the same (here unreconstructed) inputs. */
        assert_int_equal(ff_select_eval(&cpu, &kc[p].sel, N, u_c, v_c, o_c), FF_OK);
        assert_int_equal(ff_lut_sign_fix(&cpu, TN, b_out, v_c, o_c), FF_OK);
        assert_int_equal(ff_select_eval(&cuda, &dk->sel, N, d_u, d_v, d_o), FF_OK);
        assert_int_equal(ff_lut_sign_fix(&cuda, TN, b_out, d_v, d_o), FF_OK);
        to_host(&cuda, o_g, d_o, TN * 8);
        assert_memory_equal(o_c, o_g, TN * 8);
        if (origin == 0) ff_lut_key_free(&up);
      }
    }
    printf("b = %d: CUDA dealer, local LUT kernel, select and sign fix equal the CPU's (N = %zu, %d tables)\n", b,
           N, T);
    for (int p = 0; p < 2; p++) {
      ff_lut_key_free(&kc[p]);
      ff_lut_key_free(&kg[p]);
      ff_lut_key_free(&kg_host[p]);
    }
    dev_free(d_r_in);
    dev_free(d_r_out);
    dev_free(d_xhat);
    dev_free(d_tab);
    dev_free(d_u);
    dev_free(d_v);
    dev_free(d_o);
    free(r_in), free(xhat), free(tab), free(r_out_c), free(r_out_g);
    free(u_c), free(v_c), free(u_g), free(v_g), free(o_c), free(o_g);
    ff_ctx_destroy(&cpu);
    ff_ctx_destroy(&cuda);
  }
}

/* ---- The gate on CUDA, both parties ------------------------------------------------------------------- */

typedef struct {
  int party;
  ff_chan *ch;
  const ff_lut_key *host_key;
  const uint64_t *xhat, *tab;
  size_t N, D;
  int reveal;
  uint64_t *out; /* host (N) */
  ff_status st;
} party_arg;

static void *party_main(void *arg) {
  party_arg *a = arg;
  ff_ctx ctx;
  if ((a->st = ff_ctx_init(&ctx, FF_BACKEND_CUDA, a->party))) return NULL;
  ctx.chan = a->ch;
  ff_lut_key k;
  void *dx = NULL, *dt = NULL, *dout = NULL;
  ff_mem w;
  const ff_lut_key *hk = a->host_key;
  if (!(a->st = ff_lut_key_alloc(&ctx, &k, hk->b, hk->b_out, hk->n_tables, hk->N)) &&
      !(a->st = ff_lut_key_copy(&ctx, &k, hk)) && !(a->st = ff__fss_buf_alloc(&ctx, "t", a->N * 8, &dx, &w)) &&
      !(a->st = ff__fss_buf_alloc(&ctx, "t", a->D * 8, &dt, &w)) &&
      !(a->st = ff__fss_buf_alloc(&ctx, "t", a->N * 8, &dout, &w)) &&
      !(a->st = ff__fss_buf_copy(&ctx, "t", dx, w, a->xhat, FF_MEM_HOST, a->N * 8)) &&
      !(a->st = ff__fss_buf_copy(&ctx, "t", dt, w, a->tab, FF_MEM_HOST, a->D * 8)) &&
      !(a->st = ff_lut_eval(&ctx, &k, dx, dt, a->reveal, dout)))
    a->st = ff__fss_buf_copy(&ctx, "t", a->out, FF_MEM_HOST, dout, w, a->N * 8);
  ff__fss_buf_free(dx, FF_MEM_DEVICE);
  ff__fss_buf_free(dt, FF_MEM_DEVICE);
  ff__fss_buf_free(dout, FF_MEM_DEVICE);
  ff_lut_key_free(&k);
  ff_ctx_destroy(&ctx);
  return NULL;
}

static void test_gate_cuda(void **state) {
  (void)state;
  const int bs[] = {8, 10, 13};
  for (size_t ib = 0; ib < 3; ib++) {
    for (int reveal = 0; reveal <= 1; reveal++) {
      const int b = bs[ib], b_out = 50;
      const size_t N = 500, D = (size_t)1 << b;
      ff_ctx dealer;
      assert_int_equal(ff_ctx_init(&dealer, FF_BACKEND_CPU, FF_DEALER), FF_OK);
      uint64_t *x = xmalloc(N * 8), *r_in = xmalloc(N * 8), *xhat = xmalloc(N * 8), *r_out = xmalloc(N * 8),
               *tab = xmalloc(D * 8), *out[2] = {xmalloc(N * 8), xmalloc(N * 8)};
      assert_int_equal(ff_rng_ring(&dealer.rng, x, N, b), FF_OK);
      assert_int_equal(ff_rng_ring(&dealer.rng, r_in, N, b), FF_OK);
      assert_int_equal(ff_rng_ring(&dealer.rng, tab, D, b_out), FF_OK);
      for (size_t j = 0; j < N; j++) xhat[j] = ff_ring_reduce(x[j] + r_in[j], b);
      ff_lut_key k[2];
      for (int p = 0; p < 2; p++) assert_int_equal(ff_lut_key_alloc(&dealer, &k[p], b, b_out, 1, N), FF_OK);
      assert_int_equal(ff_lut_keygen(&dealer, r_in, &k[0], &k[1], r_out), FF_OK);
      ff_chan *ends[2];
      assert_int_equal(ff_chan_mem_pair(ends, NULL), FF_OK);
      party_arg a[2];
      pthread_t th[2];
      for (int p = 0; p < 2; p++) {
        a[p] = (party_arg){.party = p, .ch = ends[p], .host_key = &k[p], .xhat = xhat, .tab = tab, .N = N, .D = D,
                           .reveal = reveal, .out = out[p]};
        assert_int_equal(pthread_create(&th[p], NULL, party_main, &a[p]), 0);
      }
      for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
      ff_chan_close(ends[0]);
      ff_chan_close(ends[1]);
      for (int p = 0; p < 2; p++) assert_int_equal(a[p].st, FF_OK);
      for (size_t j = 0; j < N; j++) {
        const uint64_t masked = reveal ? out[0][j] : out[0][j] + out[1][j];
        if (reveal) assert_int_equal(out[0][j], out[1][j]);
        assert_int_equal(ff_ring_reduce(masked - r_out[j], b_out), tab[x[j]]);
      }
      for (int p = 0; p < 2; p++) {
        ff_lut_key_free(&k[p]);
        free(out[p]);
      }
      free(x), free(r_in), free(xhat), free(r_out), free(tab);
      ff_ctx_destroy(&dealer);
    }
  }
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_lut_cuda: no CUDA device, skipped\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_local_kernels),
      cmocka_unit_test(test_gate_cuda),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
