/* The device side of a reconstruct against the CPU, byte for byte: comm/pack.h's field packer and
 * unpack-add (every width 1..64, one and two fields, odd counts), gates/fss/lut.h's tR packer, and whole
 * reconstructs (gates/fss/select.h) between two CUDA parties in two threads over the in-memory channel,
 * at sizes around the staging's piece boundaries, against the same reconstruct on host memory. Needs a
 * GPU; exits 77 (skipped) without one. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cuda_runtime_api.h>

#include "comm/chan.h"
#include "comm/pack.h"
#include "core/ctx.h"
#include "core/cuda_check.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/lut.h"
#include "gates/fss/select.h"

static ff_ctx gpu;

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  assert_non_null(p);
  return p;
}

/* Device copy of n host bytes, with `pad` extra bytes of 0xa5 after them. */
static void *dev_upload(const void *h, size_t n, size_t pad) {
  void *d = NULL;
  assert_int_equal(FF_CUDA_CHECK(cudaMalloc(&d, n + pad + 1)), FF_OK);
  assert_int_equal(FF_CUDA_CHECK(cudaMemset(d, 0xa5, n + pad + 1)), FF_OK);
  if (n) assert_int_equal(FF_CUDA_CHECK(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice)), FF_OK);
  /* The legacy stream's memset and pageable copy are not ordered with the context's non-blocking stream:
   * finish them before a kernel on it reads d. */
  assert_int_equal(FF_CUDA_CHECK(cudaDeviceSynchronize()), FF_OK);
  return d;
}

static void dev_download(void *h, const void *d, size_t n) {
  assert_int_equal(ff_cuda_stream_sync(gpu.stream), FF_OK);
  assert_int_equal(FF_CUDA_CHECK(cudaMemcpy(h, d, n, cudaMemcpyDeviceToHost)), FF_OK);
}

static void fill(ff_rng *rng, uint64_t *v, size_t n) { assert_int_equal(ff_rng_bytes(rng, v, n * 8), FF_OK); }

/* ---- Packer and unpack-add ------------------------------------------------------------------------- */

static void check_fields(ff_rng *rng, int bits_a, int bits_b, size_t n) {
  const size_t nb = ff_packed_size(n, bits_a + bits_b);
  uint64_t *a = xmalloc(n * 8), *b = xmalloc(n * 8), *ha = xmalloc(n * 8), *hb = xmalloc(n * 8), *ga = xmalloc(n * 8),
           *gb = xmalloc(n * 8);
  uint8_t *want = xmalloc(nb + 8), *got = xmalloc(nb + 1);
  fill(rng, a, n), fill(rng, b, n);
  uint64_t *da = dev_upload(a, n * 8, 0), *db = dev_upload(b, n * 8, 0);
  uint8_t *dout = dev_upload(NULL, 0, nb);
  /* pack: exactly nb bytes written, the same as the CPU's */
  ff_pack_fields(a, bits_a, bits_b ? b : NULL, bits_b, n, want);
  assert_int_equal(ff_pack_fields_cuda(gpu.stream, da, bits_a, bits_b ? db : NULL, bits_b, n, dout), FF_OK);
  dev_download(got, dout, nb + 1);
  assert_memory_equal(got, want, nb);
  assert_int_equal(got[nb], 0xa5);
  /* unpack-add of a peer's bytes (8 bytes of slack after them, as the staging has) */
  memset(want + nb, 0x5a, 8);
  uint8_t *din = dev_upload(want, nb + 8, 0);
  fill(rng, a, n), fill(rng, b, n);
  memcpy(ha, a, n * 8), memcpy(hb, b, n * 8);
  assert_int_equal(FF_CUDA_CHECK(cudaMemcpy(da, a, n * 8, cudaMemcpyHostToDevice)), FF_OK);
  assert_int_equal(FF_CUDA_CHECK(cudaMemcpy(db, b, n * 8, cudaMemcpyHostToDevice)), FF_OK);
  assert_int_equal(FF_CUDA_CHECK(cudaDeviceSynchronize()), FF_OK);
  ff_unpack_add_fields(want, ha, bits_a, bits_b ? hb : NULL, bits_b, n);
  assert_int_equal(ff_unpack_add_fields_cuda(gpu.stream, din, da, bits_a, bits_b ? db : NULL, bits_b, n), FF_OK);
  dev_download(ga, da, n * 8);
  dev_download(gb, db, n * 8);
  for (size_t i = 0; i < n; i++) {
    if (ga[i] != ha[i] || gb[i] != hb[i])
      fail_msg("unpack-add, fields %d + %d, n %zu: element %zu differs", bits_a, bits_b, n, i);
  }
  cudaFree(da), cudaFree(db), cudaFree(dout), cudaFree(din);
  free(a), free(b), free(ha), free(hb), free(ga), free(gb), free(want), free(got);
}

static void test_fields_every_width(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 0xcafe);
  const size_t ns[] = {1, 3, 7, 8, 9, 63, 65, 257, 1000, 4099};
  for (int bits = 1; bits <= 64; bits++)
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
      check_fields(&rng, bits, 0, ns[k]);
      if (bits >= 2) check_fields(&rng, bits - 1 - (int)(ns[k] % (size_t)(bits - 1)), 1 + (int)(ns[k] % (size_t)(bits - 1)), ns[k]);
    }
  check_fields(&rng, 50, 13, 100003);
  check_fields(&rng, 1, 0, 1000003);
}

/* ---- The LUT key's tR packer ---------------------------------------------------------------------- */

static void test_lut_tr_pack(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 0x7e);
  ff_ctx cpu;
  assert_int_equal(ff_ctx_init(&cpu, FF_BACKEND_CPU, 0), FF_OK);
  const size_t ns[] = {1, 5, 8, 13, 1000, 3001};
  for (int levels = 1; levels <= 9; levels++)
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
      const size_t N = ns[k], nb = ((size_t)levels * N + 7) / 8;
      uint8_t *words = xmalloc(4 * N), *want = xmalloc(nb), *got = xmalloc(nb + 1);
      assert_int_equal(ff_rng_bytes(&rng, words, 4 * N), FF_OK);
      for (size_t j = 0; j < N; j++) { /* valid words: no bit above the top level */
        uint32_t w = (uint32_t)words[4 * j] | (uint32_t)words[4 * j + 1] << 8;
        w &= (1u << levels) - 1;
        words[4 * j] = (uint8_t)w, words[4 * j + 1] = (uint8_t)(w >> 8), words[4 * j + 2] = words[4 * j + 3] = 0;
      }
      assert_int_equal(ff__lut_tr_pack_cpu(&cpu, N, levels, words, want), FF_OK);
      uint8_t *dw = dev_upload(words, 4 * N, 0), *dt = dev_upload(NULL, 0, nb);
      assert_int_equal(ff__lut_tr_pack_cuda(&gpu, N, levels, dw, dt), FF_OK);
      dev_download(got, dt, nb + 1);
      assert_memory_equal(got, want, nb);
      assert_int_equal(got[nb], 0xa5);
      cudaFree(dw), cudaFree(dt);
      free(words), free(want), free(got);
    }
  ff_ctx_destroy(&cpu);
}

/* ---- Whole reconstructs ----------------------------------------------------------------------------- */

typedef struct {
  ff_ctx ctx;
  int nseg;
  ff_recon_seg seg[2];
  ff_status st;
} party_arg;

static void *party_main(void *p) {
  party_arg *a = p;
  a->st = ff__fss_reconstruct_segs(&a->ctx, a->ctx.backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST, a->seg,
                                   a->nseg);
  if (!a->st && a->ctx.stream) a->st = ff_cuda_stream_sync(a->ctx.stream);
  return NULL;
}

/* Two contexts on `be` joined by an in-memory channel, as two parties. */
static void open_pair(const ff_backend be[2], ff_chan *ends[2], ff_ctx *c0, ff_ctx *c1) {
  ff_mem_opts mo = {0};
  assert_int_equal(ff_chan_mem_pair(ends, &mo), FF_OK);
  ff_ctx *c[2] = {c0, c1};
  for (int p = 0; p < 2; p++) {
    assert_int_equal(ff_ctx_init(c[p], be[p], p), FF_OK);
    c[p]->chan = ends[p];
  }
}

/* Both parties reconstruct the same shares on `backend`; the fields come back in out[party][seg][field]. */
static void run_pair(ff_backend backend, int nseg, const int bits[2][2], size_t n, uint64_t *const shares[2][2][2],
                     uint64_t *out[2][2][2]) {
  ff_chan *ends[2];
  party_arg arg[2];
  memset(arg, 0, sizeof arg);
  pthread_t th[2];
  open_pair((const ff_backend[2]){backend, backend}, ends, &arg[0].ctx, &arg[1].ctx);
  for (int p = 0; p < 2; p++) {
    arg[p].nseg = nseg;
    for (int s = 0; s < nseg; s++) {
      uint64_t *f[2] = {NULL, NULL};
      for (int k = 0; k < 2 && bits[s][k]; k++)
        f[k] = backend == FF_BACKEND_CUDA ? dev_upload(shares[p][s][k], n * 8, 0) : memcpy(xmalloc(n * 8), shares[p][s][k], n * 8);
      arg[p].seg[s] = (ff_recon_seg){f[0], bits[s][0], f[1], bits[s][1], n};
    }
    assert_int_equal(pthread_create(&th[p], NULL, party_main, &arg[p]), 0);
  }
  for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
  for (int p = 0; p < 2; p++) {
    assert_int_equal(arg[p].st, FF_OK);
    for (int s = 0; s < nseg; s++)
      for (int k = 0; k < 2 && bits[s][k]; k++) {
        uint64_t *f = k ? arg[p].seg[s].b : arg[p].seg[s].a;
        out[p][s][k] = xmalloc(n * 8);
        if (backend == FF_BACKEND_CUDA) {
          assert_int_equal(FF_CUDA_CHECK(cudaMemcpy(out[p][s][k], f, n * 8, cudaMemcpyDeviceToHost)), FF_OK);
          cudaFree(f);
        } else {
          memcpy(out[p][s][k], f, n * 8);
          free(f);
        }
      }
    ff_ctx_destroy(&arg[p].ctx);
    ff_chan_close(ends[p]);
  }
}

static void check_reconstruct(ff_rng *rng, int nseg, const int bits[2][2], size_t n) {
  uint64_t *sh[2][2][2] = {{{0}}}, *dev[2][2][2] = {{{0}}}, *host[2][2][2] = {{{0}}};
  for (int p = 0; p < 2; p++)
    for (int s = 0; s < nseg; s++)
      for (int k = 0; k < 2 && bits[s][k]; k++) fill(rng, sh[p][s][k] = xmalloc(n * 8), n);
  run_pair(FF_BACKEND_CUDA, nseg, bits, n, sh, dev);
  run_pair(FF_BACKEND_CPU, nseg, bits, n, sh, host);
  for (int p = 0; p < 2; p++)
    for (int s = 0; s < nseg; s++)
      for (int k = 0; k < 2 && bits[s][k]; k++) {
        const uint64_t m = ff_ring_mask(bits[s][k]);
        for (size_t i = 0; i < n; i++) {
          if (host[p][s][k][i] != ((sh[0][s][k][i] + sh[1][s][k][i]) & m))
            fail_msg("host reconstruct wrong at party %d seg %d field %d element %zu", p, s, k, i);
          if (dev[p][s][k][i] != host[p][s][k][i])
            fail_msg("device reconstruct differs from host at party %d seg %d field %d element %zu (n %zu)", p, s, k, i, n);
        }
        free(dev[p][s][k]), free(host[p][s][k]);
      }
  /* The shares only now: party 1's check reads party 0's. */
  for (int p = 0; p < 2; p++)
    for (int s = 0; s < nseg; s++)
      for (int k = 0; k < 2 && bits[s][k]; k++) free(sh[p][s][k]);
}

static void test_reconstruct_pieces(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 0x5ec);
  const int one[2][2] = {{50, 0}, {0, 0}}, bit[2][2] = {{1, 0}, {0, 0}}, pair[2][2] = {{50, 13}, {0, 0}},
            uv[2][2] = {{1, 0}, {37, 0}};
  /* 512 KiB pieces: 1 piece, just over 1, many; the largest reconstructs split into 16 pieces. */
  const size_t sizes[] = {1, 9, 83885, 83887, 1000003, 1600001};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    check_reconstruct(&rng, 1, one, sizes[k]);
    check_reconstruct(&rng, 1, pair, sizes[k]);
    check_reconstruct(&rng, 2, uv, sizes[k]);
  }
  check_reconstruct(&rng, 1, bit, 4194305); /* 1-bit values over one piece boundary */
}

/* Several reconstructs in a row on the same contexts, without a sync between them (the staging is reused,
 * and grows between the first and second), for each pairing of backends: a CUDA party against a CUDA
 * party and against a CPU party, which must agree on the bytes of one exchange. */
#define SEQ_RECS 4
typedef struct {
  ff_ctx ctx;
  uint64_t *f[SEQ_RECS];
  ff_status st;
} seq_arg;
static const size_t seq_n[SEQ_RECS] = {9, 1600001, 83887, 5};

static void *seq_main(void *p) {
  seq_arg *a = p;
  const ff_mem where = a->ctx.backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST;
  for (int r = 0; r < SEQ_RECS && !a->st; r++) {
    ff_recon_seg seg = {a->f[r], 50, NULL, 0, seq_n[r]};
    a->st = ff__fss_reconstruct_segs(&a->ctx, where, &seg, 1);
  }
  if (!a->st && a->ctx.stream) a->st = ff_cuda_stream_sync(a->ctx.stream);
  return NULL;
}

static void test_reconstruct_sequence(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 0x5e9);
  const ff_backend pairs[3][2] = {{FF_BACKEND_CUDA, FF_BACKEND_CUDA}, {FF_BACKEND_CUDA, FF_BACKEND_CPU},
                                  {FF_BACKEND_CPU, FF_BACKEND_CUDA}};
  const uint64_t m = ff_ring_mask(50);
  for (int c = 0; c < 3; c++) {
    uint64_t *sh[2][SEQ_RECS];
    ff_chan *ends[2];
    seq_arg arg[2];
    memset(arg, 0, sizeof arg);
    pthread_t th[2];
    open_pair(pairs[c], ends, &arg[0].ctx, &arg[1].ctx);
    for (int p = 0; p < 2; p++) {
      for (int r = 0; r < SEQ_RECS; r++) {
        fill(&rng, sh[p][r] = xmalloc(seq_n[r] * 8), seq_n[r]);
        arg[p].f[r] = pairs[c][p] == FF_BACKEND_CUDA ? dev_upload(sh[p][r], seq_n[r] * 8, 0)
                                                     : memcpy(xmalloc(seq_n[r] * 8), sh[p][r], seq_n[r] * 8);
      }
    }
    for (int p = 0; p < 2; p++) assert_int_equal(pthread_create(&th[p], NULL, seq_main, &arg[p]), 0);
    for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
    for (int p = 0; p < 2; p++) {
      assert_int_equal(arg[p].st, FF_OK);
      for (int r = 0; r < SEQ_RECS; r++) {
        uint64_t *got = xmalloc(seq_n[r] * 8);
        if (pairs[c][p] == FF_BACKEND_CUDA) {
          assert_int_equal(FF_CUDA_CHECK(cudaMemcpy(got, arg[p].f[r], seq_n[r] * 8, cudaMemcpyDeviceToHost)), FF_OK);
          cudaFree(arg[p].f[r]);
        } else {
          memcpy(got, arg[p].f[r], seq_n[r] * 8);
          free(arg[p].f[r]);
        }
        for (size_t i = 0; i < seq_n[r]; i++)
          if (got[i] != ((sh[0][r][i] + sh[1][r][i]) & m))
            fail_msg("backends %s/%s, reconstruct %d of %zu values: party %d wrong at element %zu",
                     ff_backend_name(pairs[c][0]), ff_backend_name(pairs[c][1]), r, seq_n[r], p, i);
        free(got);
      }
      ff_ctx_destroy(&arg[p].ctx);
      ff_chan_close(ends[p]);
    }
    for (int p = 0; p < 2; p++)
      for (int r = 0; r < SEQ_RECS; r++) free(sh[p][r]);
  }
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_pack_cuda: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fields_every_width),
      cmocka_unit_test(test_lut_tr_pack),
      cmocka_unit_test(test_reconstruct_pieces),
      cmocka_unit_test(test_reconstruct_sequence),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  return rc;
}
