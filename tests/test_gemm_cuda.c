/* gates/gemm on CUDA against the CPU reference, bit for bit: the SIMT and int8-limb algorithms, AUTO
 * and the dispatcher at bw = 37, 48, 50, 51, 64 on odd shapes, BERT-base (128x768x768, 128x768x3072,
 * 128x3072x768) and a Llama FFN depth (K = 11008); batched attention shapes with shared and padded
 * operands; the int32 bound at its edge (every limb digit -128, K = 16384 and 20000) and the SIMT
 * fallback beyond FF_GEMM_INT8_MAX_K. Needs a GPU; exits 77 (skipped) without one. */
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
#include "core/cuda.h"
#include "core/cuda_check.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/gemm/ring_gemm.h"

static ff_ctx cpu, gpu;

static const int ff__bws[] = {37, 48, 50, 51, 64};
#define FF__NBWS (sizeof ff__bws / sizeof ff__bws[0])

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  assert_non_null(p);
  return p;
}

static void *dev_upload(const void *h, size_t n) {
  void *d = NULL;
  assert_int_equal(ff_cuda_malloc(&d, n ? n : 1), FF_OK);
  if (n) assert_int_equal(ff_cuda_copy_to_device(d, h, n), FF_OK);
  return d;
}

/* Device buffer filled with 0xa5 bytes, so that an output the kernel leaves unwritten shows. */
static void *dev_garbage(size_t n) {
  void *d = NULL;
  assert_int_equal(ff_cuda_malloc(&d, n ? n : 1), FF_OK);
  assert_int_equal(FF_CUDA_CHECK(cudaMemset(d, 0xa5, n ? n : 1)), FF_OK);
  /* cudaMemset runs on the legacy stream, which the context's non-blocking stream does not wait for:
   * without this, the fill could land after the kernel's first writes. */
  assert_int_equal(FF_CUDA_CHECK(cudaDeviceSynchronize()), FF_OK);
  return d;
}

/* Waits for the GPU context's stream (surfacing kernel faults here) and copies back. */
static void dev_download(void *h, const void *d, size_t n) {
  assert_int_equal(ff_cuda_stream_sync(gpu.stream), FF_OK);
  assert_int_equal(ff_cuda_copy_to_host(h, d, n), FF_OK);
}

static uint64_t *xrandom(ff_rng *rng, size_t n) {
  uint64_t *p = xmalloc(n * sizeof *p);
  assert_int_equal(ff_rng_bytes(rng, p, n * sizeof *p), FF_OK); /* full words: bits above bw too */
  return p;
}

static void expect_equal(const char *what, int bw, size_t b, size_t M, size_t N, const uint64_t *want,
                         const uint64_t *got) {
  size_t wrong = 0;
  for (size_t i = 0; i < M * N; i++)
    if (want[i] != got[i]) {
      if (!wrong)
        fprintf(stderr, "%s, bw %d, product %zu (%zux%zu): first mismatch at (%zu, %zu): expected %#llx, got %#llx\n",
                what, bw, b, M, N, i / N, i % N, (unsigned long long)want[i], (unsigned long long)got[i]);
      wrong++;
    }
  if (wrong) fprintf(stderr, "%s, bw %d: %zu of %zu outputs differ\n", what, bw, wrong, M * N);
  assert_int_equal(wrong, 0);
}

/* How a case runs on the GPU: one algorithm through _ex, or the dispatcher (ff_ring_gemm{_batched}). */
enum { RUN_SIMT, RUN_INT8, RUN_AUTO, RUN_DISPATCH, RUN_COUNT };
static const char *const run_names[RUN_COUNT] = {"simt", "int8-limbs", "auto", "dispatcher"};

static ff_status run_gpu(int how, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A, size_t sa,
                         const uint64_t *B, size_t sb, uint64_t *C, size_t sc) {
  static const ff_gemm_algo algos[] = {FF_GEMM_SIMT, FF_GEMM_INT8_LIMBS, FF_GEMM_AUTO};
  if (how == RUN_DISPATCH)
    return batch == 1 && sc == M * N ? ff_ring_gemm(&gpu, bw, M, N, K, A, B, C)
                                     : ff_ring_gemm_batched(&gpu, bw, batch, M, N, K, A, sa, B, sb, C, sc);
  return ff_ring_gemm_batched_cuda_ex(&gpu, algos[how], bw, batch, M, N, K, A, sa, B, sb, C, sc);
}

/* batch products of (M, K) by (K, N) with the given host inputs and strides (elements; 0 shares one
 * matrix), output stride sc >= M*N. The reference is computed once mod 2^64 on the CPU and reduced to
 * each bw (exact: 2^bw divides 2^64; the CPU GEMM itself is checked in tests/test_gemm.c). */
static void check_case(const char *what, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A, size_t sa,
                       const uint64_t *B, size_t sb, size_t sc, const int *bws, size_t nbws) {
  const size_t a_len = (batch - 1) * sa + M * K, b_len = (batch - 1) * sb + K * N, c_len = (batch - 1) * sc + M * N;
  uint64_t *want = xmalloc(batch * M * N * sizeof *want), *got = xmalloc(c_len * sizeof *got);
  assert_int_equal(ff_ring_gemm_batched_cpu(&cpu, 64, batch, M, N, K, A, sa, B, sb, want, M * N), FF_OK);
  uint64_t *dA = dev_upload(A, a_len * sizeof *A), *dB = dev_upload(B, b_len * sizeof *B);
  uint64_t *dC = dev_garbage(c_len * sizeof *dC);
  for (size_t bi = 0; bi < nbws; bi++) {
    const int bw = bws[bi];
    for (int how = 0; how < RUN_COUNT; how++) {
      assert_int_equal(FF_CUDA_CHECK(cudaMemset(dC, 0xa5, c_len * sizeof *dC)), FF_OK);
      assert_int_equal(FF_CUDA_CHECK(cudaDeviceSynchronize()), FF_OK); /* legacy stream: see dev_garbage */
      ff_status st = run_gpu(how, bw, batch, M, N, K, dA, sa, dB, sb, dC, sc);
      if (st) fprintf(stderr, "%s, %s, bw %d: %s\n", what, run_names[how], bw, ff_strerror(st));
      assert_int_equal(st, FF_OK);
      dev_download(got, dC, c_len * sizeof *got);
      char label[128];
      snprintf(label, sizeof label, "%s [%s]", what, run_names[how]);
      for (size_t b = 0; b < batch; b++) {
        uint64_t *w = want + b * M * N;
        uint64_t *reduced = xmalloc(M * N * sizeof *reduced);
        for (size_t i = 0; i < M * N; i++) reduced[i] = ff_ring_reduce(w[i], bw);
        expect_equal(label, bw, b, M, N, reduced, got + b * sc);
        free(reduced);
        /* The gap between padded outputs keeps its 0xa5 bytes. */
        if (b + 1 < batch)
          for (size_t i = M * N; i < sc; i++) assert_true(got[b * sc + i] == 0xa5a5a5a5a5a5a5a5ull);
      }
    }
  }
  ff_cuda_free(dA);
  ff_cuda_free(dB);
  ff_cuda_free(dC);
  free(want);
  free(got);
}

static void check_random(size_t M, size_t N, size_t K, const int *bws, size_t nbws) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, 1000003u * M + 1009u * N + K);
  uint64_t *A = xrandom(&rng, M * K), *B = xrandom(&rng, K * N);
  char what[96];
  snprintf(what, sizeof what, "M=%zu N=%zu K=%zu", M, N, K);
  check_case(what, 1, M, N, K, A, 0, B, 0, M * N, bws, nbws);
  free(A);
  free(B);
}

static void test_small_shapes(void **state) {
  (void)state;
  static const size_t shapes[][3] = {{1, 1, 1},   {7, 13, 5},  {13, 7, 5},   {5, 1, 17},    {1, 9, 33},
                                     {33, 65, 17}, {64, 64, 16}, {65, 63, 31}, {129, 100, 1000}, {3, 200, 4097}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    check_random(shapes[i][0], shapes[i][1], shapes[i][2], ff__bws, FF__NBWS);
}

/* BERT-base's linear layers: (128 tokens, K in features) by (K, N out features). */
static void test_bert_base(void **state) {
  (void)state;
  check_random(128, 768, 768, ff__bws, FF__NBWS);
  check_random(128, 3072, 768, ff__bws, FF__NBWS);
  check_random(128, 768, 3072, ff__bws, FF__NBWS);
}

/* Llama's FFN down projection sums over K = 11008 (fewer rows and columns keep the CPU reference fast). */
static void test_llama_depth(void **state) {
  (void)state;
  check_random(16, 256, 11008, ff__bws, FF__NBWS);
}

/* Attention: 12 heads of (128, 64) by (64, 128); also a B shared by the batch (stride 0), an A shared
 * by the batch, and outputs with a padded stride. */
static void test_batched(void **state) {
  (void)state;
  const size_t batch = 12, M = 128, N = 128, K = 64;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 12);
  uint64_t *A = xrandom(&rng, batch * M * K), *B = xrandom(&rng, batch * K * N);
  check_case("batched 12x128x128x64", batch, M, N, K, A, M * K, B, K * N, M * N, ff__bws, FF__NBWS);
  static const int bw50[] = {50};
  check_case("batched, shared B", batch, M, N, K, A, M * K, B, 0, M * N + 3, bw50, 1);
  check_case("batched, shared A", 5, 7, 13, 9, A, 0, B, 13 * 9, 7 * 13, bw50, 1);
  free(A);
  free(B);
}

/* The dealer's host entry staged on a GPU (ff_ring_gemm_batched_host with keygen_dev): host operands with
 * every kind of stride (one matrix, packed, gaps, a shared operand, overlapping matrices), outputs with gaps
 * that must keep their bytes, against the CPU's, bit for bit. */
static void test_host_staged(void **state) {
  (void)state;
  ff_ctx dealer = {.backend = FF_BACKEND_CPU, .party = FF_DEALER, .keygen_dev = &gpu};
  ff_rng rng;
  ff_rng_init_seeded(&rng, 21);
  static const struct {
    size_t batch, M, N, K, sa, sb, sc;
  } cases[] = {
      {1, 128, 768, 768, 0, 0, 0},            /* a linear layer */
      {12, 128, 128, 64, 128 * 64, 64 * 128, 128 * 128}, /* attention's heads, packed */
      {4, 7, 13, 9, 7 * 9 + 5, 0, 7 * 13 + 3},          /* gaps, a shared B */
      {5, 7, 13, 9, 0, 9 * 13 + 1, 7 * 13},             /* a shared A */
      {3, 4, 6, 8, 10, 20, 30},                         /* A's matrices overlap (stride < M K) */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const size_t batch = cases[c].batch, M = cases[c].M, N = cases[c].N, K = cases[c].K;
    const size_t sa = cases[c].sa, sb = cases[c].sb, sc = batch > 1 ? cases[c].sc : M * N;
    const size_t na = (batch - 1) * sa + M * K, nb = (batch - 1) * sb + K * N, nc = (batch - 1) * sc + M * N;
    uint64_t *A = xrandom(&rng, na), *B = xrandom(&rng, nb), *want = xrandom(&rng, nc), *got = xmalloc(nc * sizeof *got);
    for (size_t bi = 0; bi < FF__NBWS; bi++) {
      const int bw = ff__bws[bi];
      memcpy(got, want, nc * sizeof *got); /* the gaps start equal and must stay so */
      assert_int_equal(ff_ring_gemm_batched_cpu(&cpu, bw, batch, M, N, K, A, sa, B, sb, want, sc), FF_OK);
      ff_alloc_stats before, after;
      ff_alloc_stats_get(&before);
      assert_int_equal(ff_ring_gemm_batched_host(&dealer, bw, batch, M, N, K, A, sa, B, sb, got, sc), FF_OK);
      ff_alloc_stats_get(&after);
      assert_true(after.dev_allocs >= before.dev_allocs + 3); /* staged on the device, not made on the host */
      size_t wrong = 0;
      for (size_t i = 0; i < nc; i++) wrong += want[i] != got[i];
      if (wrong) fprintf(stderr, "staged case %zu, bw %d: %zu of %zu words differ\n", c, bw, wrong, nc);
      assert_int_equal(wrong, 0);
    }
    free(A);
    free(B);
    free(want);
    free(got);
  }
}

/* The int32 bound at its edge: every digit -128 (x = -128 (1 + 2^8 + ... + 2^56) mod 2^64), so every
 * digit product is +2^14 and each limb-pair GEMM sums exactly g*K*2^14: 7 * 16384 * 2^14 < 2^31 at
 * K = 16384 (shift 7 split in 7 + 1 pairs) and 6 * 20000 * 2^14 < 2^31 at K = 20000. */
static void test_int32_edge(void **state) {
  (void)state;
  const uint64_t worst = (uint64_t)0 - 128u * UINT64_C(0x0101010101010101);
  static const int bw64[] = {64};
  static const size_t Ks[] = {16384, 20000};
  for (size_t i = 0; i < 2; i++) {
    const size_t M = 2, N = 3, K = Ks[i];
    uint64_t *A = xmalloc(M * K * sizeof *A), *B = xmalloc(K * N * sizeof *B);
    for (size_t j = 0; j < M * K; j++) A[j] = worst;
    for (size_t j = 0; j < K * N; j++) B[j] = worst;
    char what[64];
    snprintf(what, sizeof what, "all digits -128, K=%zu", K);
    check_case(what, 1, M, N, K, A, 0, B, 0, M * N, bw64, 1);
    free(A);
    free(B);
  }
}

/* Beyond FF_GEMM_INT8_MAX_K the limbs refuse (FF_EINVAL) and AUTO computes with SIMT. */
static void test_beyond_int8_bound(void **state) {
  (void)state;
  const size_t M = 2, N = 3, K = FF_GEMM_INT8_MAX_K + 5;
  const int bw = 50;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 99);
  uint64_t *A = xrandom(&rng, M * K), *B = xrandom(&rng, K * N), want[6], got[6];
  assert_int_equal(ff_ring_gemm_cpu(&cpu, bw, M, N, K, A, B, want), FF_OK);
  uint64_t *dA = dev_upload(A, M * K * sizeof *A), *dB = dev_upload(B, K * N * sizeof *B), *dC = dev_garbage(sizeof got);
  ff_log_level old = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_ring_gemm_cuda_ex(&gpu, FF_GEMM_INT8_LIMBS, bw, M, N, K, dA, dB, dC), FF_EINVAL);
  ff_log_set_level(old);
  assert_int_equal(ff_ring_gemm_cuda_ex(&gpu, FF_GEMM_AUTO, bw, M, N, K, dA, dB, dC), FF_OK);
  dev_download(got, dC, sizeof got);
  expect_equal("K beyond the int8 bound [auto]", bw, 0, M, N, want, got);
  ff_cuda_free(dA);
  ff_cuda_free(dB);
  ff_cuda_free(dC);
  free(A);
  free(B);
}

/* K = 0 writes zeros; a second context (its own stream, so its own cuBLAS handle) gives the same result. */
static void test_empty_and_second_stream(void **state) {
  (void)state;
  uint64_t got[6];
  uint64_t *dC = dev_garbage(sizeof got);
  assert_int_equal(ff_ring_gemm_cuda(&gpu, 64, 2, 3, 0, NULL, NULL, dC), FF_OK);
  dev_download(got, dC, sizeof got);
  for (int i = 0; i < 6; i++) assert_true(got[i] == 0);
  ff_cuda_free(dC);

  ff_ctx gpu2;
  assert_int_equal(ff_ctx_init(&gpu2, FF_BACKEND_CUDA, 1), FF_OK);
  const size_t M = 64, N = 96, K = 200;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 5);
  uint64_t *A = xrandom(&rng, M * K), *B = xrandom(&rng, K * N), *want = xmalloc(M * N * 8), *out = xmalloc(M * N * 8);
  assert_int_equal(ff_ring_gemm_cpu(&cpu, 51, M, N, K, A, B, want), FF_OK);
  uint64_t *dA = dev_upload(A, M * K * 8), *dB = dev_upload(B, K * N * 8);
  dC = dev_garbage(M * N * 8);
  assert_int_equal(ff_ring_gemm_cuda_ex(&gpu2, FF_GEMM_INT8_LIMBS, 51, M, N, K, dA, dB, dC), FF_OK);
  assert_int_equal(ff_cuda_stream_sync(gpu2.stream), FF_OK);
  assert_int_equal(ff_cuda_copy_to_host(out, dC, M * N * 8), FF_OK);
  expect_equal("second stream [int8-limbs]", 51, 0, M, N, want, out);
  ff_cuda_free(dA);
  ff_cuda_free(dB);
  ff_cuda_free(dC);
  free(A);
  free(B);
  free(want);
  free(out);
  ff_ctx_destroy(&gpu2);
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_gemm_cuda: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_shapes),  cmocka_unit_test(test_bert_base),
      cmocka_unit_test(test_llama_depth),   cmocka_unit_test(test_batched),
      cmocka_unit_test(test_int32_edge),    cmocka_unit_test(test_beyond_int8_bound),
      cmocka_unit_test(test_empty_and_second_stream), cmocka_unit_test(test_host_staged),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
