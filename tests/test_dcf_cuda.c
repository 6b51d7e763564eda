/* gates/fss/dcf on CUDA against the CPU reference, byte for byte: keys made on both backends from the
 * same alphas, payloads and roots; evaluation of keys made on either backend on either backend, for
 * several (n, p, bw) and N up to 100k; the dispatchers; keys copied between memories. Needs a GPU;
 * exits 77 (skipped) without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cuda_runtime_api.h>

#include "core/ctx.h"
#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dcf.h"

static ff_ctx cpu, gpu;

/* ---- Memory helpers --------------------------------------------------------------------------------- */

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  assert_non_null(p);
  return p;
}

/* Device buffer of n bytes filled with 0xa5, so that a kernel that leaves a byte unwritten shows. */
static void *dev_alloc(size_t n) {
  void *p = NULL;
  assert_int_equal(FF_CUDA_CHECK(cudaMalloc(&p, n ? n : 1)), FF_OK);
  assert_int_equal(FF_CUDA_CHECK(cudaMemsetAsync(p, 0xa5, n ? n : 1, (cudaStream_t)gpu.stream)), FF_OK);
  return p;
}

static void *dev_upload(const void *h, size_t n) {
  void *d = dev_alloc(n);
  assert_int_equal(FF_CUDA_CHECK(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, (cudaStream_t)gpu.stream)), FF_OK);
  return d;
}

/* Waits for the stream (surfacing kernel faults here) and returns a host copy. */
static void *dev_download(const void *d, size_t n) {
  void *h = xmalloc(n);
  assert_int_equal(FF_CUDA_CHECK(cudaMemcpyAsync(h, d, n, cudaMemcpyDeviceToHost, (cudaStream_t)gpu.stream)), FF_OK);
  assert_int_equal(ff_cuda_stream_sync(gpu.stream), FF_OK);
  return h;
}

static void dev_free(void *d) { assert_int_equal(FF_CUDA_CHECK(cudaFree(d)), FF_OK); }

/* ---- Mismatch reports ------------------------------------------------------------------------------- */

/* Two keys' bytes; names the array, level, word and element of the first difference. */
static int diff_keys(const char *what, const ff_dcf_key *want, const uint8_t *got) {
  const uint8_t *w = want->buf;
  const size_t N = want->N, n = (size_t)want->n, p = (size_t)want->p, W = ff_dcf_word_bytes(want->bw);
  const size_t tR_at = 16 * (n + 1) * N, vcw_at = (size_t)(want->vcw - (uint8_t *)want->buf),
               fcw_at = (size_t)(want->fcw - (uint8_t *)want->buf);
  for (size_t b = 0; b < want->bytes; b++) {
    if (w[b] == got[b]) continue;
    if (b < 16 * N) {
      fprintf(stderr, "%s: root seed of element %zu differs", what, b / 16);
    } else if (b < tR_at) {
      const size_t blk = b / 16 - N;
      fprintf(stderr, "%s: seed CW of level %zu, element %zu differs", what, blk / N, blk % N);
    } else if (b < vcw_at) {
      const size_t bit = 8 * (b - tR_at);
      fprintf(stderr, "%s: tR byte %zu (bits %zu..%zu: level %zu, elements from %zu) differs", what, b - tR_at, bit,
              bit + 7, bit / N, bit % N);
    } else if (b < fcw_at) {
      const size_t word = (b - vcw_at) / W;
      fprintf(stderr, "%s: value CW of level %zu, word %zu, element %zu differs", what, word / N / p, word / N % p,
              word % N);
    } else {
      const size_t word = (b - fcw_at) / W;
      fprintf(stderr, "%s: final CW word %zu of element %zu differs", what, word / N, word % N);
    }
    fprintf(stderr, " (byte %zu of %zu: expected 0x%02x, got 0x%02x)\n", b, want->bytes, w[b], got[b]);
    return 1;
  }
  return 0;
}

/* (E, p, N) outputs: prints the first differing (point, word, element) and counts. */
static size_t diff_words(const char *what, const uint64_t *want, const uint64_t *got, size_t E, size_t p, size_t N) {
  size_t wrong = 0;
  for (size_t o = 0; o < E * p * N; o++) {
    if (want[o] == got[o]) continue;
    if (!wrong)
      fprintf(stderr, "%s: first mismatch at point %zu, word %zu, element %zu: expected %llx, got %llx\n", what,
              o / N / p, o / N % p, o % N, (unsigned long long)want[o], (unsigned long long)got[o]);
    wrong++;
  }
  if (wrong) fprintf(stderr, "%s: %zu of %zu words differ\n", what, wrong, E * p * N);
  return wrong;
}

/* ---- Cases ------------------------------------------------------------------------------------------ */

/* Keys of one party on both backends: h on the host, d in device memory. */
typedef struct {
  ff_dcf_key h, d;
} key_pair;

/* Everything for one (n, p, bw, N): alphas (edges and garbage above bit n), payloads (garbage above bw),
 * and the keys of both parties made on the CPU (cpu[b]) and on CUDA (cuda[b]), each on both backends. */
typedef struct {
  int n, p, bw;
  size_t N;
  uint64_t *alpha, *beta, m;
  key_pair cpu[2], cuda[2];
} dcf_case;

static void case_make(dcf_case *c, int n, int p, int bw, size_t N, uint64_t seed) {
  memset(c, 0, sizeof *c);
  c->n = n;
  c->p = p;
  c->bw = bw;
  c->N = N;
  c->m = ff_ring_mask(n);
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  c->alpha = xmalloc(N * sizeof *c->alpha);
  c->beta = xmalloc((size_t)p * N * sizeof *c->beta);
  for (size_t j = 0; j < N; j++) c->alpha[j] = ff_rng_u64(&rng);
  const uint64_t edge[6] = {0, 1, 127, 128, c->m - 1, c->m};
  for (size_t j = 0; j < 6 && j < N; j++) c->alpha[j] = edge[j] | (ff_rng_u64(&rng) & ~c->m);
  for (size_t i = 0; i < (size_t)p * N; i++) c->beta[i] = ff_rng_u64(&rng);
  ff_block *roots = xmalloc(2 * N * sizeof *roots);
  assert_int_equal(ff_rng_bytes(&rng, roots, 2 * N * sizeof *roots), FF_OK);

  for (int b = 0; b < 2; b++) {
    assert_int_equal(ff_dcf_key_alloc(&cpu, &c->cpu[b].h, n, p, bw, N), FF_OK);
    assert_int_equal(ff_dcf_key_alloc(&gpu, &c->cpu[b].d, n, p, bw, N), FF_OK);
    assert_int_equal(ff_dcf_key_alloc(&cpu, &c->cuda[b].h, n, p, bw, N), FF_OK);
    assert_int_equal(ff_dcf_key_alloc(&gpu, &c->cuda[b].d, n, p, bw, N), FF_OK);
    assert_int_equal(c->cpu[b].d.where, FF_MEM_DEVICE);
  }
  assert_int_equal(ff_dcf_keygen_cpu(&cpu, c->alpha, c->beta, roots, &c->cpu[0].h, &c->cpu[1].h), FF_OK);
  uint64_t *dalpha = dev_upload(c->alpha, N * sizeof *c->alpha);
  uint64_t *dbeta = dev_upload(c->beta, (size_t)p * N * sizeof *c->beta);
  ff_block *droots = dev_upload(roots, 2 * N * sizeof *roots);
  /* Garbage in the device keys first: keygen must write every byte (tR and its pad bits included). */
  for (int b = 0; b < 2; b++)
    assert_int_equal(FF_CUDA_CHECK(cudaMemsetAsync(c->cuda[b].d.buf, 0xff, c->cuda[b].d.bytes, (cudaStream_t)gpu.stream)),
                     FF_OK);
  assert_int_equal(ff_dcf_keygen_cuda(&gpu, dalpha, dbeta, droots, &c->cuda[0].d, &c->cuda[1].d), FF_OK);
  for (int b = 0; b < 2; b++) {
    assert_int_equal(ff_dcf_key_copy(&gpu, &c->cpu[b].d, &c->cpu[b].h), FF_OK);   /* host -> device */
    assert_int_equal(ff_dcf_key_copy(&gpu, &c->cuda[b].h, &c->cuda[b].d), FF_OK); /* device -> host, waits */
  }
  dev_free(dalpha);
  dev_free(dbeta);
  dev_free(droots);
  free(roots);
}

static void case_free(dcf_case *c) {
  for (int b = 0; b < 2; b++) {
    ff_dcf_key_free(&c->cpu[b].h);
    ff_dcf_key_free(&c->cpu[b].d);
    ff_dcf_key_free(&c->cuda[b].h);
    ff_dcf_key_free(&c->cuda[b].d);
  }
  free(c->alpha);
  free(c->beta);
}

/* Keys from the two backends are byte-identical. */
static void check_keys(const dcf_case *c) {
  char what[128];
  for (int b = 0; b < 2; b++) {
    snprintf(what, sizeof what, "keygen n=%d p=%d bw=%d N=%zu party %d (CPU expected, CUDA got)", c->n, c->p, c->bw, c->N,
             b);
    assert_int_equal(diff_keys(what, &c->cpu[b].h, c->cuda[b].h.buf), 0);
  }
}

/* E = 3 points per element: alpha, alpha - 1 and a random point, with garbage above bit n. Every key
 * (CPU-made, CUDA-made) of both parties evaluated on both backends gives the same words, and the
 * reconstruction is beta * 1{x < alpha}. */
static void check_eval(const dcf_case *c, uint64_t seed) {
  enum { E = 3 };
  const size_t N = c->N, p = (size_t)c->p, words = E * p * N, bytes = words * sizeof(uint64_t);
  const uint64_t m = c->m, mb = ff_ring_mask(c->bw);
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *x = xmalloc(E * N * sizeof *x);
  for (size_t j = 0; j < N; j++) {
    const uint64_t a = c->alpha[j] & m, pts[E] = {a, (a - 1) & m, ff_rng_u64(&rng)};
    for (size_t e = 0; e < E; e++) x[e * N + j] = pts[e] | (ff_rng_u64(&rng) & ~m);
  }
  uint64_t *dx = dev_upload(x, E * N * sizeof *x);
  uint64_t *dout = dev_alloc(bytes);
  uint64_t *ref[2]; /* the CPU's output for the CPU-made key of each party */
  char what[160];
  for (int b = 0; b < 2; b++) {
    ref[b] = xmalloc(bytes);
    assert_int_equal(ff_dcf_eval_cpu(&cpu, &c->cpu[b].h, E, x, ref[b]), FF_OK);
    const key_pair *keys[2] = {&c->cpu[b], &c->cuda[b]};
    for (int origin = 0; origin < 2; origin++) {
      if (origin == 1) { /* CPU evaluation of the CUDA-made key */
        uint64_t *h = xmalloc(bytes);
        memset(h, 0xa5, bytes);
        assert_int_equal(ff_dcf_eval_cpu(&cpu, &keys[origin]->h, E, x, h), FF_OK);
        snprintf(what, sizeof what, "eval n=%d p=%d bw=%d N=%zu party %d: CPU eval of CUDA-made key", c->n, c->p, c->bw,
                 N, b);
        assert_int_equal(diff_words(what, ref[b], h, E, p, N), 0);
        free(h);
      }
      assert_int_equal(FF_CUDA_CHECK(cudaMemsetAsync(dout, 0xa5, bytes, (cudaStream_t)gpu.stream)), FF_OK);
      assert_int_equal(ff_dcf_eval_cuda(&gpu, &keys[origin]->d, E, dx, dout), FF_OK);
      uint64_t *got = dev_download(dout, bytes);
      snprintf(what, sizeof what, "eval n=%d p=%d bw=%d N=%zu party %d: CUDA eval of %s-made key", c->n, c->p, c->bw, N,
               b, origin ? "CUDA" : "CPU");
      assert_int_equal(diff_words(what, ref[b], got, E, p, N), 0);
      free(got);
    }
  }
  /* The reference itself reconstructs correctly (so equal outputs are right outputs). */
  size_t wrong = 0;
  for (size_t e = 0; e < E; e++)
    for (size_t w = 0; w < p; w++)
      for (size_t j = 0; j < N; j++) {
        const size_t o = (e * p + w) * N + j;
        const uint64_t want = (x[e * N + j] & m) < (c->alpha[j] & m) ? c->beta[w * N + j] & mb : 0;
        wrong += ((ref[0][o] + ref[1][o]) & mb) != want;
      }
  assert_int_equal(wrong, 0);
  free(ref[0]);
  free(ref[1]);
  dev_free(dx);
  dev_free(dout);
  free(x);
}

static void check_dcf(int n, int p, int bw, size_t N) {
  dcf_case c;
  case_make(&c, n, p, bw, N, 1000 + 100 * (uint64_t)n + (uint64_t)p);
  check_keys(&c);
  check_eval(&c, 2000 + (uint64_t)n);
  case_free(&c);
}

/* N not a multiple of 8 or 32 (tR rows end mid-byte, warps end mid-word), every p, odd word widths. */
static void test_dcf_small_n(void **state) {
  (void)state;
  check_dcf(1, 1, 1, 1001);
  check_dcf(2, 8, 64, 999);
  check_dcf(6, 3, 13, 4999);
  check_dcf(7, 5, 9, 333);
}
static void test_dcf_n20(void **state) { (void)state; check_dcf(20, 2, 50, 3001); }
static void test_dcf_n38(void **state) {
  (void)state;
  check_dcf(38, 1, 50, 100000);
  check_dcf(38, 2, 50, 100003);
}
static void test_dcf_n50(void **state) {
  (void)state;
  check_dcf(50, 4, 37, 2023);
  check_dcf(50, 7, 8, 1037);
}
static void test_dcf_n64(void **state) {
  (void)state;
  check_dcf(64, 8, 64, 4097);
  check_dcf(64, 6, 1, 1037);
}
/* Fewer elements than a warp, and one element. */
static void test_dcf_small_batches(void **state) {
  (void)state;
  check_dcf(9, 2, 50, 5);
  check_dcf(20, 3, 64, 1);
}

/* The dispatchers: from the same seeded ctx->rng both backends draw the same roots, so ff_dcf_keygen
 * gives identical keys; ff_dcf_eval picks the backend's twin; a wrong memory is refused. */
static void test_dcf_dispatch(void **state) {
  (void)state;
  const int n = 16, p = 2, bw = 50;
  enum { N = 777, E = 2 };
  ff_rng rng;
  ff_rng_init_seeded(&rng, 5);
  static uint64_t alpha[N], beta[2 * N], x[E * N], want[E * 2 * N];
  for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&rng);
  for (size_t i = 0; i < 2 * N; i++) beta[i] = ff_rng_u64(&rng);
  for (size_t i = 0; i < E * N; i++) x[i] = i < N ? alpha[i] : ff_rng_u64(&rng);
  uint64_t *dalpha = dev_upload(alpha, sizeof alpha), *dbeta = dev_upload(beta, sizeof beta);
  uint64_t *dx = dev_upload(x, sizeof x);
  ff_dcf_key h0, h1, d0, d1;
  assert_int_equal(ff_dcf_key_alloc(&cpu, &h0, n, p, bw, N), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&cpu, &h1, n, p, bw, N), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&gpu, &d0, n, p, bw, N), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&gpu, &d1, n, p, bw, N), FF_OK);
  ff_rng_init_seeded(&cpu.rng, 99);
  ff_rng_init_seeded(&gpu.rng, 99);
  assert_int_equal(ff_dcf_keygen(&cpu, alpha, beta, &h0, &h1), FF_OK);
  assert_int_equal(ff_dcf_keygen(&gpu, dalpha, dbeta, &d0, &d1), FF_OK);
  uint8_t *k0 = dev_download(d0.buf, d0.bytes), *k1 = dev_download(d1.buf, d1.bytes);
  assert_int_equal(diff_keys("ff_dcf_keygen party 0", &h0, k0), 0);
  assert_int_equal(diff_keys("ff_dcf_keygen party 1", &h1, k1), 0);
  uint64_t *dout = dev_alloc(sizeof want);
  assert_int_equal(ff_dcf_eval(&cpu, &h1, E, x, want), FF_OK);
  assert_int_equal(ff_dcf_eval(&gpu, &d1, E, dx, dout), FF_OK);
  uint64_t *got = dev_download(dout, sizeof want);
  assert_int_equal(diff_words("ff_dcf_eval dispatch", want, got, E, p, N), 0);
  free(got);
  /* A host key copied to the device (and back) evaluates the same. */
  assert_int_equal(ff_dcf_key_copy(&gpu, &d0, &h1), FF_OK);
  assert_int_equal(ff_dcf_eval_cuda(&gpu, &d0, E, dx, dout), FF_OK);
  got = dev_download(dout, sizeof want);
  assert_int_equal(diff_words("copied key", want, got, E, p, N), 0);
  free(got);
  assert_int_equal(ff_dcf_key_copy(&gpu, &h0, &d0), FF_OK);
  assert_memory_equal(h0.buf, h1.buf, h1.bytes);

  /* Wrong memory for the backend, misaligned roots. */
  ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_dcf_eval(&gpu, &h0, E, dx, dout), FF_EINVAL);
  assert_int_equal(ff_dcf_eval(&cpu, &d0, E, x, want), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen_cuda(&gpu, dalpha, dbeta, (const ff_block *)((uint8_t *)dx + 8), &d0, &d1), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen_cuda(&gpu, dalpha, dbeta, (const ff_block *)dx, &h0, &h1), FF_EINVAL);
  ff_log_set_level(saved);

  dev_free(dalpha);
  dev_free(dbeta);
  dev_free(dx);
  dev_free(dout);
  free(k0);
  free(k1);
  ff_dcf_key_free(&h0);
  ff_dcf_key_free(&h1);
  ff_dcf_key_free(&d0);
  ff_dcf_key_free(&d1);
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_dcf_cuda: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dcf_small_n), cmocka_unit_test(test_dcf_n20),          cmocka_unit_test(test_dcf_n38),
      cmocka_unit_test(test_dcf_n50),     cmocka_unit_test(test_dcf_n64),          cmocka_unit_test(test_dcf_small_batches),
      cmocka_unit_test(test_dcf_dispatch),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
