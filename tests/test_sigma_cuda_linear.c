/* gates/sigma/linear on the CUDA backend (op.h "What runs where"): each _cuda kernel against its _cpu twin
 * bit for bit on random words (add, bias, public scaling, permutes of 1..6 dimensions with odd sizes, causal
 * pack and unpack, sizes past one grid); then a chain of the local wire ops and ff_op_matmul_ex (causal and
 * not, one and three batches) with one CPU dealer's keys evaluated by CPU parties and by CUDA parties (own
 * contexts and streams, two threads, ff_chan_mem_pair): the CUDA run reveals the CPU run's output byte for
 * byte, both equal the cleartext reference, and every measured cost equals the formula. Needs a GPU; exits 77
 * (skipped) without one. The two-party runner: tests/sigma_cuda_harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/cuda.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/linear.h"
#include "gates/sigma/op.h"
#include "sigma_cuda_harness.h"

enum { SCALE = 12 };

static ff_ctx cpu, gpu; /* kernel tests: one context per backend */

/* ---- Kernels: _cuda against _cpu -------------------------------------------------------------------------- */

static void test_kernel_elementwise(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 71);
  const int bws[] = {1, 37, 50, 64};
  const size_t ns[] = {1, 255, 1001, ((size_t)1 << 21) + 3}; /* the last one past the grid: grid-stride */
  for (size_t bi = 0; bi < 4; bi++)
    for (size_t ni = 0; ni < 4; ni++) {
      const int bw = bws[bi];
      const size_t n = ns[ni];
      uint64_t *x = scu_rand_u64(&rng, n), *y = scu_rand_u64(&rng, n), *z = sh_xmalloc(n * 8);
      uint64_t *dx = scu_dev_up(x, n * 8), *dy = scu_dev_up(y, n * 8), *dz = scu_dev_garbage(n * 8);
      assert_int_equal(ff_sigma_add_cpu(&cpu, bw, n, x, y, z), FF_OK);
      assert_int_equal(ff_sigma_add(&gpu, bw, n, dx, dy, dz), FF_OK);
      scu_dev_down_cmp(dz, z, n * 8, "ff_sigma_add_cuda");
      const int64_t cs[] = {-3, 0, 1, (int64_t)ff_rng_u64(&rng)};
      for (int c = 0; c < 4; c++) {
        assert_int_equal(ff_sigma_mul_public_cpu(&cpu, bw, n, x, cs[c], z), FF_OK);
        assert_int_equal(ff_sigma_mul_public(&gpu, bw, n, dx, cs[c], dz), FF_OK);
        scu_dev_down_cmp(dz, z, n * 8, "ff_sigma_mul_public_cuda");
      }
      /* Bias: rows of N, N odd or 1. */
      const size_t Ns[] = {1, 7, n};
      for (int k = 0; k < 3; k++) {
        const size_t N = Ns[k], R = n / N;
        assert_int_equal(ff_sigma_add_bias_cpu(&cpu, bw, R, N, x, y, z), FF_OK);
        assert_int_equal(ff_sigma_add_bias(&gpu, bw, R, N, dx, dy, dz), FF_OK);
        scu_dev_down_cmp(dz, z, R * N * 8, "ff_sigma_add_bias_cuda");
      }
      ff_cuda_free(dx), ff_cuda_free(dy), ff_cuda_free(dz);
      free(x), free(y), free(z);
    }
}

static void test_kernel_permute(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 72);
  for (int nd = 1; nd <= FF_SIGMA_PERMUTE_MAX_DIMS; nd++)
    for (int rep = 0; rep < 6; rep++) {
      int64_t dims[FF_SIGMA_PERMUTE_MAX_DIMS];
      int perm[FF_SIGMA_PERMUTE_MAX_DIMS];
      size_t n = 1;
      for (int i = 0; i < nd; i++) {
        dims[i] = 1 + (int64_t)(ff_rng_u64(&rng) % (nd <= 3 ? 37 : 7)); /* odd sizes and ones */
        n *= (size_t)dims[i];
        perm[i] = i;
      }
      for (int i = nd - 1; i > 0; i--) { /* Fisher-Yates */
        const int j = (int)(ff_rng_u64(&rng) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
      }
      uint64_t *x = scu_rand_u64(&rng, n), *y = sh_xmalloc(n * 8);
      uint64_t *dx = scu_dev_up(x, n * 8), *dy = scu_dev_garbage(n * 8);
      assert_int_equal(ff_sigma_permute_cpu(&cpu, nd, dims, perm, x, y), FF_OK);
      assert_int_equal(ff_sigma_permute(&gpu, nd, dims, perm, dx, dy), FF_OK);
      scu_dev_down_cmp(dy, y, n * 8, "ff_sigma_permute_cuda");
      ff_cuda_free(dx), ff_cuda_free(dy);
      free(x), free(y);
    }
  /* Past one grid: (2, 1025, 3, 341) -> (3, 341, 2, 1025). */
  const int64_t dims[4] = {2, 1025, 3, 341};
  const int perm[4] = {2, 3, 0, 1};
  const size_t n = 2 * 1025 * 3 * 341;
  uint64_t *x = scu_rand_u64(&rng, n), *y = sh_xmalloc(n * 8);
  uint64_t *dx = scu_dev_up(x, n * 8), *dy = scu_dev_garbage(n * 8);
  assert_int_equal(ff_sigma_permute_cpu(&cpu, 4, dims, perm, x, y), FF_OK);
  assert_int_equal(ff_sigma_permute_cuda(&gpu, 4, dims, perm, dx, dy), FF_OK);
  scu_dev_down_cmp(dy, y, n * 8, "ff_sigma_permute_cuda (large)");
  ff_cuda_free(dx), ff_cuda_free(dy);
  free(x), free(y);
  /* Bad permutations and contexts are refused. */
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  uint64_t w = 0;
  const int bad[2] = {1, 1};
  assert_int_equal(ff_sigma_permute_cuda(&gpu, 2, dims, bad, &w, &w), FF_EINVAL);
  assert_int_equal(ff_sigma_permute_cuda(&gpu, 7, dims, perm, &w, &w), FF_EINVAL);
  assert_int_equal(ff_sigma_permute_cuda(&cpu, 2, dims, perm, &w, &w), FF_EINVAL);
  assert_int_equal(ff_sigma_add_cuda(&gpu, 0, 1, &w, &w, &w), FF_EINVAL);
  assert_int_equal(ff_sigma_add_cuda(&cpu, 50, 1, &w, &w, &w), FF_EINVAL);
  ff_log_set_level(saved);
}

static void test_kernel_tril(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 73);
  const size_t Bs[] = {1, 3, 12}, ns[] = {1, 2, 5, 16, 33, 128};
  for (size_t bi = 0; bi < 3; bi++)
    for (size_t ni = 0; ni < 6; ni++) {
      const size_t B = Bs[bi], n = ns[ni], full = B * n * n, tri = B * n * (n + 1) / 2;
      uint64_t *x = scu_rand_u64(&rng, full), *p = sh_xmalloc(tri * 8), *y = sh_xmalloc(full * 8);
      uint64_t *dx = scu_dev_up(x, full * 8), *dp = scu_dev_garbage(tri * 8), *dy = scu_dev_garbage(full * 8);
      assert_int_equal(ff_sigma_tril_pack_cpu(&cpu, B, n, x, p), FF_OK);
      assert_int_equal(ff_sigma_tril_pack(&gpu, B, n, dx, dp), FF_OK);
      scu_dev_down_cmp(dp, p, tri * 8, "ff_sigma_tril_pack_cuda");
      assert_int_equal(ff_sigma_tril_unpack_cpu(&cpu, B, n, p, y), FF_OK);
      assert_int_equal(ff_sigma_tril_unpack(&gpu, B, n, dp, dy), FF_OK); /* above the diagonal over 0xa5 */
      scu_dev_down_cmp(dy, y, full * 8, "ff_sigma_tril_unpack_cuda");
      ff_cuda_free(dx), ff_cuda_free(dp), ff_cuda_free(dy);
      free(x), free(p), free(y);
    }
}

/* ---- Local ops on CUDA parties: a chain of all of them ------------------------------------------------------ */

/* x, y (2, 3, 4, 5) from P1 and P0, b (5) from P0: permute(add_bias(-3 (x + y), b), (0, 2, 1, 3)) split into
 * two (4, 3, 5) halves, each revealed. */
typedef struct {
  int bw;
  const uint64_t *x, *y, *b;
} chain_spec;

static const int64_t kChainShape[4] = {2, 3, 4, 5};
static const int kChainPerm[4] = {0, 2, 1, 3};
enum { CHAIN_N = 2 * 3 * 4 * 5 };

static ff_status chain_graph(ff_op *op, const void *arg, sh_result *r) {
  const chain_spec *sp = arg;
  ff_wire x = {0}, y = {0}, b = {0}, s = {0}, t = {0}, u = {0}, v = {0}, halves[2] = {{0}, {0}};
  const int64_t flat[1] = {CHAIN_N}, bs[1] = {5}, half[3] = {4, 3, 5};
  ff_status st;
  if ((st = ff_op_input(op, 1, 4, kChainShape, sp->x, &x)) || (st = ff_op_input(op, 0, 1, flat, sp->y, &y)) ||
      (st = ff_op_input(op, 0, 1, bs, sp->b, &b)) || (st = ff_wire_reshape(&y, 4, kChainShape)))
    goto done;
  ff_gate_cost before[2];
  sh_gate_begin(op, before);
  if ((st = ff_op_add(op, &x, &y, &s)) || (st = ff_op_mul_public(op, &s, -3, &t)) ||
      (st = ff_op_add_bias(op, &t, &b, &u)) || (st = ff_op_permute(op, &u, 4, kChainShape, kChainPerm, &v)) ||
      (st = ff_op_split(op, &v, 2, 3, half, halves)))
    goto done;
  sh_gate_end(op, before, r);
  r->n_out = CHAIN_N;
  r->out_bw = sp->bw;
  r->out = sh_xmalloc(CHAIN_N * sizeof *r->out);
  if (!(st = ff_op_output(op, &halves[0], r->out))) st = ff_op_output(op, &halves[1], r->out + CHAIN_N / 2);
done:
  ff_wire_free(&x), ff_wire_free(&y), ff_wire_free(&b), ff_wire_free(&s), ff_wire_free(&t), ff_wire_free(&u);
  ff_wire_free(&v), ff_wire_free(&halves[0]), ff_wire_free(&halves[1]);
  return st;
}

static void test_chain(void **state) {
  (void)state;
  for (int bw = 37; bw <= 64; bw += 13) {
    ff_rng rng;
    ff_rng_init_seeded(&rng, 80 + (uint64_t)bw);
    uint64_t *x = scu_rand_u64(&rng, CHAIN_N), *y = scu_rand_u64(&rng, CHAIN_N), *b = scu_rand_u64(&rng, 5);
    for (size_t i = 0; i < CHAIN_N; i++) x[i] = ff_ring_reduce(x[i], bw), y[i] = ff_ring_reduce(y[i], bw);
    for (size_t i = 0; i < 5; i++) b[i] = ff_ring_reduce(b[i], bw);
    const chain_spec cs = {.bw = bw, .x = x, .y = y, .b = b};
    const sh_spec hs = {.bw = bw, .scale = SCALE, .graph = chain_graph, .arg = &cs};
    scu_run rr;
    scu_run_cpu_cuda(&hs, 5, "test-sigma-cuda-linear", &rr);
    /* The reference, in the clear. */
    uint64_t ref[CHAIN_N], u[CHAIN_N];
    for (size_t i = 0; i < CHAIN_N; i++) u[i] = ff_ring_reduce((uint64_t)-3 * (x[i] + y[i]) + b[i % 5], bw);
    for (size_t e = 0; e < CHAIN_N; e++) { /* (i0, i1, i2, i3) -> (i0, i2, i1, i3) */
      const size_t i3 = e % 5, i2 = e / 5 % 4, i1 = e / 20 % 3, i0 = e / 60;
      ref[((i0 * 4 + i2) * 3 + i1) * 5 + i3] = u[e];
    }
    assert_int_equal(rr.cpu[1].n_out, CHAIN_N);
    assert_int_equal(rr.cuda[1].n_out, CHAIN_N);
    assert_memory_equal(rr.cpu[1].out, ref, sizeof ref);
    assert_memory_equal(rr.cuda[1].out, ref, sizeof ref);
    const ff_gate_cost zero[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    scu_check_costs(&rr, zero);
    scu_run_free(&rr);
    free(x), free(y), free(b);
  }
}

/* ---- ff_op_matmul_ex on CUDA parties ------------------------------------------------------------------------ */

typedef struct {
  int bw;
  size_t B, M, K, N;
  ff_sigma_mm_opts o;
  const uint64_t *x, *w;
} mm_spec;

static ff_status mm_graph(ff_op *op, const void *arg, sh_result *r) {
  const mm_spec *sp = arg;
  ff_wire x = {0}, w = {0}, y = {0};
  const int64_t xs[3] = {(int64_t)sp->B, (int64_t)sp->M, (int64_t)sp->K};
  const int64_t ws[3] = {(int64_t)sp->B, (int64_t)sp->K, (int64_t)sp->N};
  ff_status st;
  if ((st = ff_op_input(op, 1, 3, xs, sp->x, &x)) || (st = ff_op_input(op, 0, 3, ws, sp->w, &w))) goto done;
  ff_gate_cost before[2];
  sh_gate_begin(op, before);
  if ((st = ff_op_matmul_ex(op, &x, &w, &sp->o, &y))) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x), ff_wire_free(&w), ff_wire_free(&y);
  return st;
}

static void check_matmul(int bw, size_t B, size_t M, size_t K, size_t N, int shift, int causal, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  const int64_t lim = (int64_t)1 << 14;
  uint64_t *x = sh_make_inputs(&rng, B * M * K, bw, -lim, lim, shift);
  uint64_t *w = sh_make_inputs(&rng, B * K * N, bw, -lim, lim, shift);
  const mm_spec sp = {.bw = bw, .B = B, .M = M, .K = K, .N = N, .o = {shift, causal}, .x = x, .w = w};
  const sh_spec hs = {.bw = bw, .scale = SCALE, .graph = mm_graph, .arg = &sp};
  scu_run rr;
  scu_run_cpu_cuda(&hs, seed, "test-sigma-cuda-linear", &rr);
  const size_t n = B * M * N;
  uint64_t *ref = sh_xmalloc(n * 8);
  for (size_t b = 0; b < B; b++)
    for (size_t i = 0; i < M; i++)
      for (size_t j = 0; j < N; j++) {
        int64_t acc = 0;
        for (size_t k = 0; k < K; k++)
          acc += ff_ring_signed(x[(b * M + i) * K + k], bw) * ff_ring_signed(w[(b * K + k) * N + j], bw);
        ref[(b * M + i) * N + j] = causal && j > i ? 0 : ff_ring_from_signed(sh_floor_div_pow2(acc, shift), bw);
      }
  assert_int_equal(rr.cpu[1].n_out, n);
  assert_int_equal(rr.cuda[1].n_out, n);
  if (memcmp(rr.cuda[1].out, rr.cpu[1].out, n * 8) != 0)
    fail_msg("matmul_ex B %zu %zux%zux%zu causal %d: CUDA != CPU", B, M, K, N, causal);
  for (size_t i = 0; i < n; i++)
    if (rr.cpu[1].out[i] != ref[i])
      fail_msg("matmul_ex B %zu %zux%zux%zu causal %d element %zu: got %lld, want %lld", B, M, K, N, causal, i,
               (long long)ff_ring_signed(rr.cpu[1].out[i], bw), (long long)ff_ring_signed(ref[i], bw));
  ff_gate_cost want[2];
  ff_sigma_matmul_ex_cost(B, M, K, N, bw, &sp.o, &want[0]);
  want[1] = want[0];
  scu_check_costs(&rr, want);
  printf("  matmul_ex bw %d B %zu %zux%zux%zu shift %d causal %d: CUDA == CPU == reference\n", bw, B, M, K, N, shift,
         causal);
  free(ref);
  scu_run_free(&rr);
  free(x), free(w);
}

static void test_matmul_ex(void **state) {
  (void)state;
  check_matmul(50, 1, 8, 16, 12, 12, 0, 1);
  check_matmul(50, 3, 5, 9, 7, 15, 0, 2);
  check_matmul(50, 1, 16, 8, 16, 12, 1, 3);
  check_matmul(50, 3, 16, 32, 16, 15, 1, 4);
  check_matmul(48, 4, 33, 16, 33, 12, 1, 5);
  check_matmul(37, 2, 5, 7, 5, 12, 1, 6);
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_sigma_cuda_linear: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernel_elementwise), cmocka_unit_test(test_kernel_permute),
      cmocka_unit_test(test_kernel_tril),        cmocka_unit_test(test_chain),
      cmocka_unit_test(test_matmul_ex),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
