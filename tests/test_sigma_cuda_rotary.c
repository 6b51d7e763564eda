/* gates/sigma/rotary on the CUDA backend (op.h "What runs where"): T 16 and 128, d 64 and 128, bw 48 and 50,
 * one CPU dealer's keys evaluated by CPU parties and by CUDA parties (own contexts and streams, two threads,
 * ff_chan_mem_pair): the CUDA run reveals the CPU run's output byte for byte, both equal the fixed-point
 * emulation of tests/test_sigma_rotary.c, and every measured cost equals ff_sigma_rotary_cost. Then
 * ff_sigma_rotary_apply_cuda against its _cpu twin. Needs a GPU; exits 77 (skipped) without one. The
 * two-party runner: tests/sigma_cuda_harness.h. */
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
#include "gates/sigma/op.h"
#include "gates/sigma/rotary.h"
#include "sigma_cuda_harness.h"

enum { SCALE = 12, F = SCALE - 3 };

static ff_ctx cpu, gpu; /* kernel tests: one context per backend; party set per call */



/* ---- One rotary as a graph: P1 inputs x (H, T, d), rotary, reveal ------------------------------------------ */

typedef struct {
  int bw;
  int64_t shape[3];
  const uint64_t *x;
} spec;

static ff_status graph(ff_op *op, const void *arg, sh_result *r) {
  const spec *sp = arg;
  ff_wire x = {0}, y = {0};
  ff_status st;
  if ((st = ff_op_input(op, 1, 3, sp->shape, sp->x, &x))) goto done;
  ff_gate_cost before[2];
  sh_gate_begin(op, before);
  if ((st = ff_op_rotary(op, &x, &y))) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

/* One dealer (CPU, seeded), its keys evaluated by CPU parties and by CUDA parties. */
static void check_gate(const spec *sp, uint64_t seed) {
  const sh_spec hs = {.bw = sp->bw, .scale = SCALE, .graph = graph, .arg = sp};
  scu_run rr;
  scu_run_cpu_cuda(&hs, seed, "test-sigma-cuda-rotary", &rr);
  const sh_result *rc = rr.cpu, *rg = rr.cuda;
  /* The CUDA run reveals the CPU run's output, byte for byte, and both are the emulation. */
  const int T = (int)sp->shape[1], d = (int)sp->shape[2];
  const size_t n = (size_t)sp->shape[0] * (size_t)T * (size_t)d, rows = n / (size_t)d, nt = (size_t)T * (size_t)(d / 2);
  assert_int_equal(rc[1].n_out, n);
  assert_int_equal(rg[1].n_out, n);
  int64_t *cs = sh_xmalloc(2 * nt * sizeof *cs);
  assert_int_equal(ff_sigma_rotary_table(T, d, F, cs, cs + nt), FF_OK);
  uint64_t *ref = sh_xmalloc(n * sizeof *ref);
  sh_rotary_reference(sp->bw, F, rows, T, d, cs, cs + nt, sp->x, ref);
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
  scu_check_costs(&rr, want);
  printf("  rotary bw %d H %lld T %d d %d seed %llu: CUDA == CPU == emulation; %llu key B, %llu bits, %llu rounds "
         "per party\n",
         sp->bw, (long long)sp->shape[0], T, d, (unsigned long long)seed, (unsigned long long)want[0].key_bytes,
         (unsigned long long)want[0].bits_sent, (unsigned long long)want[0].rounds);
  free(ref);
  free(cs);
  scu_run_free(&rr);
}

/* Inputs as tests/test_sigma_rotary.c's two ranges: |x| < 8 (realistic), and |x| < 2^(bw-4-F) raw (the largest
 * the slack allows). */
static void check_case(int bw, int H, int T, int d) {
  const size_t N = (size_t)H * T * d;
  const int64_t lims[2] = {(int64_t)8 << SCALE, (int64_t)1 << (bw - 4 - F)};
  for (int ri = 0; ri < 2; ri++) {
    ff_rng rng;
    ff_rng_init_seeded(&rng, 3000 + (uint64_t)(bw * 1000 + T * 10 + d + ri));
    uint64_t *x = sh_xmalloc(N * sizeof *x);
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
      uint64_t *x = sh_xmalloc(N * 8), *u = sh_xmalloc(N * 8);
      int64_t *cs = sh_xmalloc(2 * nt * 8);
      for (size_t i = 0; i < N; i++) x[i] = ff_rng_u64(&rng);
      for (size_t i = 0; i < 2 * nt; i++) cs[i] = (int64_t)ff_rng_u64(&rng);
      assert_int_equal(ff_sigma_rotary_apply_cpu(&cpu, bw, rows, T, d, cs, cs + nt, x, u), FF_OK);
      uint64_t *dx = scu_dev_up(x, N * 8), *du = scu_dev_garbage(N * 8);
      int64_t *dcs = scu_dev_up(cs, 2 * nt * 8);
      assert_int_equal(ff_sigma_rotary_apply(&gpu, bw, rows, T, d, dcs, dcs + nt, dx, du), FF_OK);
      scu_dev_down_cmp(du, u, N * 8, "ff_sigma_rotary_apply_cuda");
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
