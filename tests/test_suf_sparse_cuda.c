/* The sparse suf gate's CUDA twins (gates/suf/sparse_cuda.cu) against the CPU references (sparse.c): each
 * kernel on random inputs, byte for byte, padded and with the ablation's offsets; then whole gates, one CPU
 * dealer's keys evaluated by CPU parties and by CUDA parties (tests/sigma_cuda_harness.h), outputs
 * identical and equal to the emulation, costs equal to the cost function on both backends (the ablation:
 * equal on both backends). Needs a GPU; exits 77 (skipped) without one. */
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
#include "gates/suf/sparse.h"
#include "sigma_cuda_harness.h"

static ff_ctx cpu, gpu; /* kernel tests: one context per backend */

static const ff_suf_sparse_spec *builtin(ff_suf_fn fn, int bw_in, int bw, int e, int kw, int degree, int insecure) {
  const ff_suf_sparse_params p = {.fn = fn, .bw_in = bw_in, .bw = bw, .scale = 12, .e = e, .k_window = kw,
                                  .degree = degree, .fb = degree ? FF_SUF_SPARSE_FB : 0,
                                  .insecure_no_padding = insecure};
  const ff_suf_sparse_spec *sp = ff_suf_sparse_spec_get(&p);
  assert_non_null(sp);
  return sp;
}

/* A narrow signed view with small random pieces (starts land on 0 often: both padding branches). */
static void narrow(ff_suf_sparse_spec *sp, int insecure) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, 5);
  *sp = (ff_suf_sparse_spec){.name = "narrow", .fn = FF_SUF_NFN, .bw_in = 24, .bw = 24, .scale = 4, .e = 8,
                             .is_signed = 1, .K = 18, .fb = 3, .insecure_no_padding = insecure};
  for (int i = 0; i < sp->K; i++) {
    sp->alpha[i] = (uint64_t)(i * 14 + (i ? (int)(ff_rng_u64(&rng) % 7) : 0));
    sp->a[i] = ff_ring_from_signed((int64_t)(ff_rng_u64(&rng) % 2001) - 1000, 24);
    sp->b[i] = ff_ring_from_signed((int64_t)(ff_rng_u64(&rng) % 61) - 30, 24);
  }
  assert_int_equal(ff_suf_sparse_spec_check(sp), FF_OK);
}

/* ---- Kernels ---------------------------------------------------------------------------------------------- */

static void check_kernels(const ff_suf_sparse_spec *sp, int with_offs) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, 91 + (uint64_t)sp->K);
  const size_t N = 1001, p = (size_t)sp->p;
  uint64_t *offs = NULL, *doffs = NULL;
  size_t Nk = (size_t)sp->K * N;
  if (with_offs) {
    offs = sh_xmalloc((N + 1) * sizeof *offs);
    for (size_t i = 0; i < N; i++) offs[i + 1] = offs[i] + (uint64_t)sp->K - (ff_rng_u64(&rng) % 8 == 0);
    Nk = (size_t)offs[N];
    doffs = scu_dev_up(offs, (N + 1) * 8);
  }
  uint64_t *x = scu_rand_u64(&rng, N), *dcf = scu_rand_u64(&rng, p * Nk), *base = scu_rand_u64(&rng, p * N);
  for (size_t i = 0; i < N; i++) x[i] = ff_ring_reduce(x[i], sp->bw_in);
  uint64_t *pts = sh_xmalloc(Nk * 8), *y = sh_xmalloc(N * 8);
  assert_int_equal(ff_suf_sparse_points_cpu(&cpu, sp, N, x, offs, Nk, pts), FF_OK);
  assert_int_equal(ff_suf_sparse_combine_cpu(&cpu, sp, N, x, offs, Nk, dcf, base, y), FF_OK);
  uint64_t *dx = scu_dev_up(x, N * 8), *ddcf = scu_dev_up(dcf, p * Nk * 8), *dbase = scu_dev_up(base, p * N * 8);
  uint64_t *dpts = scu_dev_garbage(Nk * 8), *dy = scu_dev_garbage(N * 8);
  assert_int_equal(ff_suf_sparse_points(&gpu, sp, N, dx, doffs, Nk, dpts), FF_OK);
  assert_int_equal(ff_suf_sparse_combine(&gpu, sp, N, dx, doffs, Nk, ddcf, dbase, dy), FF_OK);
  scu_dev_down_cmp(dpts, pts, Nk * 8, "ff_suf_sparse_points_cuda");
  scu_dev_down_cmp(dy, y, N * 8, "ff_suf_sparse_combine_cuda");
  ff_cuda_free(dx), ff_cuda_free(ddcf), ff_cuda_free(dbase), ff_cuda_free(dpts), ff_cuda_free(dy);
  if (doffs) ff_cuda_free(doffs);
  free(x), free(dcf), free(base), free(pts), free(y), free(offs);
}

static void test_kernels(void **state) {
  (void)state;
  ff_suf_sparse_spec sp;
  narrow(&sp, 0);
  for (int o = 0; o < 2; o++) {
    check_kernels(builtin(FF_SUF_GELU, 50, 50, 38, 16, 1, 0), o);
    check_kernels(builtin(FF_SUF_NEXP, 40, 50, 38, 16, 0, 0), o); /* p = 1 */
    check_kernels(&sp, o);
  }
}

/* ---- Gates, CUDA parties against CPU parties ---------------------------------------------------------------- */

typedef struct {
  const ff_suf_sparse_spec *sp;
  size_t N;
  const uint64_t *x;
} gate_case;

static ff_status graph(ff_op *op, const void *arg, sh_result *r) {
  const gate_case *g = arg;
  ff_wire x = {0}, xn = {0}, y = {0};
  ff_gate_cost before[2];
  const int64_t shape[1] = {(int64_t)g->N};
  ff_status st;
  if ((st = ff_op_input(op, 1, 1, shape, g->x, &x)) || (st = sh_narrow(op, &x, g->sp->bw_in, &xn))) goto done;
  sh_gate_begin(op, before);
  if ((st = ff_op_suf_sparse(op, g->sp, &xn, &y))) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  sh_narrow_free(op, &x, &xn);
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

static void check_gate(const ff_suf_sparse_spec *sp, int op_bw, size_t N, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *x = sh_xmalloc(N * sizeof *x), *xin = sh_xmalloc(N * sizeof *x), *ref = sh_xmalloc(N * sizeof *x);
  const int64_t lim = sp->is_signed ? (int64_t)1 << (sp->e - 1) : (int64_t)1 << sp->e;
  for (size_t i = 0; i < N; i++) {
    int64_t v = i % 2 && sp->w_hi > sp->w_lo ? sp->w_lo + (int64_t)(ff_rng_u64(&rng) % (uint64_t)(sp->w_hi - sp->w_lo))
                                             : (int64_t)(ff_rng_u64(&rng) % (uint64_t)lim);
    if (sp->is_signed && i % 4 == 2) v = -v;
    x[i] = i % 64 == 63 ? ff_ring_reduce(ff_rng_u64(&rng), op_bw) : ff_ring_from_signed(v, op_bw);
    xin[i] = ff_ring_reduce(x[i], sp->bw_in);
  }
  gate_case g = {sp, N, x};
  const sh_spec hs = {.bw = op_bw, .scale = 12, .graph = graph, .arg = &g};
  scu_run rr;
  const ff_log_level lv = ff_log_get_level();
  if (sp->insecure_no_padding) ff_log_set_level(FF_LOG_ERROR);
  scu_run_cpu_cuda(&hs, seed, "test-suf-sparse-cuda", &rr);
  ff_log_set_level(lv);
  assert_int_equal(rr.cuda[1].n_out, N);
  if (memcmp(rr.cuda[1].out, rr.cpu[1].out, N * 8) != 0) fail_msg("suf sparse %s: CUDA != CPU", sp->name);
  ff_suf_sparse_emulate(sp, N, xin, ref);
  assert_memory_equal(rr.cpu[1].out, ref, N * 8);
  if (!sp->insecure_no_padding) {
    ff_gate_cost want;
    ff_suf_sparse_cost(sp, N, &want);
    scu_check_costs(&rr, (const ff_gate_cost[2]){want, want});
  } else {
    for (int p = 0; p < 2; p++) assert_memory_equal(&rr.cuda[p].gate[p], &rr.cpu[p].gate[p], sizeof(ff_gate_cost));
  }
  printf("suf sparse %s K %d p %d fb %d%s: %zu elements, CUDA parties == CPU parties == emulation\n", sp->name, sp->K,
         sp->p, sp->fb, sp->insecure_no_padding ? " (no padding)" : "", N);
  scu_run_free(&rr);
  free(x), free(xin), free(ref);
}

static void test_gates(void **state) {
  (void)state;
  check_gate(builtin(FF_SUF_GELU, 50, 50, 38, 16, 0, 0), 50, 3000, 1);
  check_gate(builtin(FF_SUF_GELU, 50, 50, 38, 16, 1, 0), 50, 3000, 2);
  check_gate(builtin(FF_SUF_SILU, 48, 48, 36, 16, 1, 0), 48, 2000, 3);
  check_gate(builtin(FF_SUF_NEXP, 40, 50, 38, 16, 0, 0), 50, 2000, 4);
  check_gate(builtin(FF_SUF_GELU, 50, 50, 38, 16, 0, 1), 50, 1000, 5);
  ff_suf_sparse_spec sp, bare;
  narrow(&sp, 0);
  narrow(&bare, 1);
  check_gate(&sp, 24, 2000, 6);
  check_gate(&bare, 24, 2000, 7);
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_suf_sparse_cuda: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernels),
      cmocka_unit_test(test_gates),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
