/* gates/gemm on the CPU: ff_ring_gemm_cpu, the batched form and the dispatcher against a naive triple
 * loop that reduces every input and every step mod 2^bw, for 1x1x1, odd, empty and 128x64x96 shapes
 * at bw = 1, 37, 50, 64, exact ==; products split over threads, the dealer's host entry; argument checks. (CUDA against CPU: tests/test_gemm_cuda.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/gemm/ring_gemm.h"

static ff_ctx cpu;

static uint64_t *xrandom(ff_rng *rng, size_t n) {
  uint64_t *p = malloc((n ? n : 1) * sizeof *p);
  assert_non_null(p);
  assert_int_equal(ff_rng_bytes(rng, p, n * sizeof *p), FF_OK); /* full 64-bit words: bits above bw too */
  return p;
}

/* The definition: sum over k of (a mod 2^bw)(b mod 2^bw), reduced after every step. */
static void naive(int bw, size_t M, size_t N, size_t K, const uint64_t *A, const uint64_t *B, uint64_t *C) {
  for (size_t i = 0; i < M; i++)
    for (size_t j = 0; j < N; j++) {
      uint64_t acc = 0;
      for (size_t k = 0; k < K; k++)
        acc = ff_ring_reduce(acc + ff_ring_reduce(ff_ring_reduce(A[i * K + k], bw) * ff_ring_reduce(B[k * N + j], bw), bw), bw);
      C[i * N + j] = acc;
    }
}

static void expect_equal(const char *what, int bw, size_t M, size_t N, const uint64_t *want, const uint64_t *got) {
  size_t wrong = 0;
  for (size_t i = 0; i < M * N; i++)
    if (want[i] != got[i]) {
      if (!wrong)
        fprintf(stderr, "%s, bw %d: first mismatch at (%zu, %zu): expected %#llx, got %#llx\n", what, bw, i / N, i % N,
                (unsigned long long)want[i], (unsigned long long)got[i]);
      wrong++;
    }
  if (wrong) fprintf(stderr, "%s, bw %d: %zu of %zu outputs differ\n", what, bw, wrong, M * N);
  assert_int_equal(wrong, 0);
}

static void check_shape(size_t M, size_t N, size_t K) {
  static const int bws[] = {1, 37, 50, 64};
  ff_rng rng;
  ff_rng_init_seeded(&rng, 1000003u * M + 1009u * N + K);
  uint64_t *A = xrandom(&rng, M * K), *B = xrandom(&rng, K * N);
  uint64_t *want = xrandom(&rng, M * N), *got = xrandom(&rng, M * N);
  for (size_t b = 0; b < sizeof bws / sizeof bws[0]; b++) {
    const int bw = bws[b];
    naive(bw, M, N, K, A, B, want);
    assert_int_equal(ff_ring_gemm_cpu(&cpu, bw, M, N, K, A, B, got), FF_OK);
    expect_equal("ff_ring_gemm_cpu", bw, M, N, want, got);
    (void)ff_rng_bytes(&rng, got, M * N * sizeof *got);
    assert_int_equal(ff_ring_gemm(&cpu, bw, M, N, K, A, B, got), FF_OK);
    expect_equal("ff_ring_gemm", bw, M, N, want, got);
  }
  free(A);
  free(B);
  free(want);
  free(got);
}

static void test_shapes(void **state) {
  (void)state;
  check_shape(1, 1, 1);
  check_shape(7, 13, 5);
  check_shape(13, 7, 5);
  check_shape(5, 1, 17);
  check_shape(1, 9, 33);
  check_shape(128, 64, 96);
  check_shape(64, 128, 96);
}

/* Every bw from 1 to 64 on one odd shape: the reduction at each width. */
static void test_every_bw(void **state) {
  (void)state;
  const size_t M = 3, N = 5, K = 11;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 42);
  uint64_t *A = xrandom(&rng, M * K), *B = xrandom(&rng, K * N), *want = xrandom(&rng, M * N), *got = xrandom(&rng, M * N);
  for (int bw = 1; bw <= 64; bw++) {
    naive(bw, M, N, K, A, B, want);
    assert_int_equal(ff_ring_gemm_cpu(&cpu, bw, M, N, K, A, B, got), FF_OK);
    expect_equal("every bw", bw, M, N, want, got);
  }
  free(A);
  free(B);
  free(want);
  free(got);
}

typedef ff_status (*batched_fn)(ff_ctx *, int, size_t, size_t, size_t, size_t, const uint64_t *, size_t,
                                const uint64_t *, size_t, uint64_t *, size_t);

/* fn over the batch against the naive product of each (A, B) pair; the gap after the first output (the
 * caller's sc > M N) must keep its word. */
static void check_batched(const char *what, batched_fn fn, int bw, size_t batch, size_t M, size_t N, size_t K,
                          const uint64_t *A, size_t sa, const uint64_t *B, size_t sb, uint64_t *C, size_t sc) {
  uint64_t *want = malloc(M * N * sizeof *want);
  assert_non_null(want);
  const uint64_t pad = C[M * N];
  assert_int_equal(fn(&cpu, bw, batch, M, N, K, A, sa, B, sb, C, sc), FF_OK);
  for (size_t b = 0; b < batch; b++) {
    naive(bw, M, N, K, A + b * sa, B + b * sb, want);
    expect_equal(what, bw, M, N, want, C + b * sc);
  }
  assert_true(C[M * N] == pad); /* the gap between outputs is not written */
  free(want);
}

/* Batched with distinct A and B per product, a shared B (stride 0) and a padded output stride. */
static void test_batched(void **state) {
  (void)state;
  const size_t batch = 4, M = 7, N = 13, K = 9, sc = M * N + 5;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 7);
  uint64_t *A = xrandom(&rng, batch * M * K), *B = xrandom(&rng, batch * K * N), *C = xrandom(&rng, batch * sc);
  check_batched("batched", ff_ring_gemm_batched, 50, batch, M, N, K, A, M * K, B, K * N, C, sc);
  check_batched("batched, shared B", ff_ring_gemm_batched, 50, batch, M, N, K, A, M * K, B, 0, C, sc);
  free(A);
  free(B);
  free(C);
}

/* Products large enough to be split by rows over threads (ring_gemm.c: at least 2^24 multiply-adds),
 * with a row count that no thread count divides evenly, gaps between the batch's inputs and outputs and a
 * shared B; the host dealer's entry (ff_ring_gemm_batched_host without a GPU) gives the same. */
static void test_threaded(void **state) {
  (void)state;
  const size_t batch = 3, M = 101, N = 300, K = 200, sa = M * K + 3, sc = M * N + 7;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 11);
  uint64_t *A = xrandom(&rng, batch * sa), *B = xrandom(&rng, batch * K * N), *C = xrandom(&rng, batch * sc);
  check_batched("threaded, shared B", ff_ring_gemm_batched_cpu, 37, batch, M, N, K, A, sa, B, 0, C, sc);
  check_batched("ff_ring_gemm_batched_host", ff_ring_gemm_batched_host, 37, batch, M, N, K, A, sa, B, K * N, C, sc);
  free(A);
  free(B);
  free(C);
}

/* Empty shapes: K = 0 gives zeros; M or N = 0 writes nothing and accepts NULL. */
static void test_empty(void **state) {
  (void)state;
  uint64_t C[6] = {1, 2, 3, 4, 5, 6};
  assert_int_equal(ff_ring_gemm_cpu(&cpu, 64, 2, 3, 0, NULL, NULL, C), FF_OK);
  for (int i = 0; i < 6; i++) assert_true(C[i] == 0);
  assert_int_equal(ff_ring_gemm_cpu(&cpu, 64, 0, 3, 4, NULL, NULL, NULL), FF_OK);
  assert_int_equal(ff_ring_gemm_batched_cpu(&cpu, 64, 0, 3, 3, 4, NULL, 0, NULL, 0, NULL, 0), FF_OK);
}

static void test_bad_arguments(void **state) {
  (void)state;
  uint64_t A[4] = {0}, B[4] = {0}, C[8] = {0};
  ff_log_level old = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_ring_gemm_cpu(&cpu, 0, 2, 2, 2, A, B, C), FF_EINVAL);
  assert_int_equal(ff_ring_gemm_cpu(&cpu, 65, 2, 2, 2, A, B, C), FF_EINVAL);
  assert_int_equal(ff_ring_gemm_cpu(NULL, 64, 2, 2, 2, A, B, C), FF_EINVAL);
  assert_int_equal(ff_ring_gemm(NULL, 64, 2, 2, 2, A, B, C), FF_EINVAL);
  assert_int_equal(ff_ring_gemm_cpu(&cpu, 64, 2, 2, 2, NULL, B, C), FF_EINVAL);
  assert_int_equal(ff_ring_gemm_cpu(&cpu, 64, 2, 2, 2, A, B, NULL), FF_EINVAL);
  assert_int_equal(ff_ring_gemm_cpu(&cpu, 64, SIZE_MAX, 2, 2, A, B, C), FF_ERANGE);
  assert_int_equal(ff_ring_gemm_batched_cpu(&cpu, 64, 2, 2, 2, 1, A, 2, B, 2, C, 3), FF_EINVAL); /* outputs overlap */
  ff_ctx not_host = {.backend = FF_BACKEND_CUDA}; /* the host entry takes host contexts only */
  assert_int_equal(ff_ring_gemm_batched_host(&not_host, 64, 1, 2, 2, 2, A, 0, B, 0, C, 0), FF_EINVAL);
  assert_int_equal(ff_ring_gemm_batched_host(NULL, 64, 1, 2, 2, 2, A, 0, B, 0, C, 0), FF_EINVAL);
#ifndef FF_HAVE_CUDA
  assert_int_equal(ff_ring_gemm_cuda(&cpu, 64, 2, 2, 2, A, B, C), FF_ENOTSUP);
  ff_ctx with_dev = {.backend = FF_BACKEND_CPU, .keygen_dev = &not_host};
  assert_int_equal(ff_ring_gemm_batched_host(&with_dev, 64, 1, 2, 2, 2, A, 0, B, 0, C, 0), FF_ENOTSUP);
#endif
  ff_log_set_level(old);
}

int main(void) {
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shapes), cmocka_unit_test(test_every_bw),      cmocka_unit_test(test_batched),
      cmocka_unit_test(test_threaded), cmocka_unit_test(test_empty),  cmocka_unit_test(test_bad_arguments),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&cpu);
  return rc;
}
