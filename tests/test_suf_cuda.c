/* The suf gate's CUDA twins (gates/suf/suf_cuda.cu) against the CPU references (suf.c): each kernel on
 * random inputs, byte for byte, for both parties; then whole gates, one CPU dealer's keys evaluated by
 * CPU parties and by CUDA parties (tests/sigma_cuda_harness.h), outputs identical and equal to the
 * emulation, costs equal to the cost function on both backends; and the device table cache. Needs a GPU;
 * exits 77 (skipped) without one. */
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
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/op.h"
#include "gates/sigma/softmax.h"
#include "gates/suf/spec.h"
#include "gates/suf/suf.h"
#include "sigma_cuda_harness.h"

static ff_ctx cpu, gpu; /* kernel tests: one context per backend; party set per call */

static const ff_suf_spec *spec(ff_suf_fn fn, int bw_in, int bw, int e, int k) {
  const ff_suf_spec *sp = ff_suf_spec_get(fn, bw_in, bw, 12, e, k);
  assert_non_null(sp);
  return sp;
}

/* ---- Kernels ---------------------------------------------------------------------------------------------- */

static void check_kernels(const ff_suf_spec *sp) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, 77 + (uint64_t)sp->fn);
  const size_t N = 1001, P = (size_t)sp->n_thr + 1 + (sp->s > 0), H = (size_t)sp->n_help, W = (size_t)ff_suf_final_words(sp);
  for (int party = 0; party < 2; party++) {
    cpu.party = gpu.party = party;
    uint64_t *x = scu_rand_u64(&rng, N), *cmp = scu_rand_u64(&rng, P * N), *masks = scu_rand_u64(&rng, H * N);
    uint64_t *iw = scu_rand_u64(&rng, 2 * N), *hh = scu_rand_u64(&rng, H * N), *u = scu_rand_u64(&rng, N);
    uint64_t *v = scu_rand_u64(&rng, N), *fw = scu_rand_u64(&rng, W * N);
    for (size_t i = 0; i < N; i++) x[i] = ff_ring_reduce(x[i], sp->bw_in), u[i] &= 1;
    for (size_t i = 0; i < P * N; i++) cmp[i] &= 1;
    for (size_t i = 0; i < H * N; i++) masks[i] &= 1, hh[i] &= 1;
    uint64_t *pts = sh_xmalloc(P * N * 8), *help = sh_xmalloc(H * N * 8), *idx = sh_xmalloc(N * 8), *y = sh_xmalloc(N * 8);
    assert_int_equal(ff_suf_points_cpu(&cpu, sp, N, x, pts), FF_OK);
    assert_int_equal(ff_suf_helpers_cpu(&cpu, sp, N, x, cmp, masks, help), FF_OK);
    assert_int_equal(ff_suf_index_cpu(&cpu, sp, N, x, hh + (H - 1) * N, iw, idx), FF_OK);
    assert_int_equal(ff_suf_final_cpu(&cpu, sp, N, x, hh, u, v, fw, y), FF_OK);
    uint64_t *dx = scu_dev_up(x, N * 8), *dcmp = scu_dev_up(cmp, P * N * 8), *dmasks = scu_dev_up(masks, H * N * 8);
    uint64_t *diw = scu_dev_up(iw, 2 * N * 8), *dhh = scu_dev_up(hh, H * N * 8), *du = scu_dev_up(u, N * 8);
    uint64_t *dv = scu_dev_up(v, N * 8), *dfw = scu_dev_up(fw, W * N * 8);
    uint64_t *dpts = scu_dev_garbage(P * N * 8), *dhelp = scu_dev_garbage(H * N * 8), *didx = scu_dev_garbage(N * 8);
    uint64_t *dy = scu_dev_garbage(N * 8);
    assert_int_equal(ff_suf_points(&gpu, sp, N, dx, dpts), FF_OK);
    assert_int_equal(ff_suf_helpers(&gpu, sp, N, dx, dcmp, dmasks, dhelp), FF_OK);
    assert_int_equal(ff_suf_index(&gpu, sp, N, dx, dhh + (H - 1) * N, diw, didx), FF_OK);
    assert_int_equal(ff_suf_final(&gpu, sp, N, dx, dhh, du, dv, dfw, dy), FF_OK);
    scu_dev_down_cmp(dpts, pts, P * N * 8, "ff_suf_points_cuda");
    scu_dev_down_cmp(dhelp, help, H * N * 8, "ff_suf_helpers_cuda");
    scu_dev_down_cmp(didx, idx, N * 8, "ff_suf_index_cuda");
    scu_dev_down_cmp(dy, y, N * 8, "ff_suf_final_cuda");
    ff_cuda_free(dx), ff_cuda_free(dcmp), ff_cuda_free(dmasks), ff_cuda_free(diw), ff_cuda_free(dhh);
    ff_cuda_free(du), ff_cuda_free(dv), ff_cuda_free(dfw), ff_cuda_free(dpts), ff_cuda_free(dhelp);
    ff_cuda_free(didx), ff_cuda_free(dy);
    free(x), free(cmp), free(masks), free(iw), free(hh), free(u), free(v), free(fw), free(pts), free(help);
    free(idx), free(y);
  }
}

static void test_kernels(void **state) {
  (void)state;
  check_kernels(spec(FF_SUF_GELU, 50, 50, 38, 8));
  check_kernels(spec(FF_SUF_SILU, 48, 48, 36, 10));
  check_kernels(spec(FF_SUF_NEXP, 40, 50, 38, 10));
  check_kernels(spec(FF_SUF_NEXP, 40, 50, 38, 16)); /* s = 0 */
}

/* The table is uploaded once per (specification, device) and holds the specification's entries. */
static void test_table_cache(void **state) {
  (void)state;
  const ff_suf_spec *sp = spec(FF_SUF_GELU, 50, 50, 38, 8);
  const uint64_t *a = NULL, *b = NULL;
  assert_int_equal(ff_suf_table(&gpu, sp, &a), FF_OK);
  assert_int_equal(ff_suf_table(&gpu, sp, &b), FF_OK);
  assert_ptr_equal(a, b);
  scu_dev_down_cmp(a, sp->tab, ((size_t)1 << sp->kl) * 8, "suf device table");
}

/* ---- Gates, CUDA parties against CPU parties ---------------------------------------------------------------- */

typedef struct {
  const ff_suf_spec *sp;
  int op_bw;
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
  if ((st = ff_op_suf(op, g->sp, &xn, &y))) goto done;
  sh_gate_end(op, before, r);
  st = sh_output(op, &y, r);
done:
  sh_narrow_free(op, &x, &xn);
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

static void check_gate(const ff_suf_spec *sp, int op_bw, size_t N, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *x = sh_xmalloc(N * sizeof *x), *xin = sh_xmalloc(N * sizeof *x), *ref = sh_xmalloc(N * sizeof *x);
  const int64_t lim = sp->is_signed ? (int64_t)1 << (sp->e - 1) : (int64_t)1 << sp->e;
  for (size_t i = 0; i < N; i++) {
    int64_t v = i % 2 ? sp->w_lo + (int64_t)(ff_rng_u64(&rng) % (uint64_t)(sp->w_hi - sp->w_lo))
                      : (int64_t)(ff_rng_u64(&rng) % (uint64_t)lim);
    if (sp->is_signed && i % 4 == 2) v = -v;
    x[i] = ff_ring_from_signed(v, op_bw);
    xin[i] = ff_ring_reduce(x[i], sp->bw_in);
  }
  gate_case g = {sp, op_bw, N, x};
  const sh_spec hs = {.bw = op_bw, .scale = 12, .graph = graph, .arg = &g};
  scu_run rr;
  scu_run_cpu_cuda(&hs, seed, "test-suf-cuda", &rr);
  assert_int_equal(rr.cuda[1].n_out, N);
  if (memcmp(rr.cuda[1].out, rr.cpu[1].out, N * 8) != 0) fail_msg("suf %s: CUDA != CPU", sp->name);
  ff_suf_emulate(sp, N, xin, ref);
  assert_memory_equal(rr.cpu[1].out, ref, N * 8);
  ff_gate_cost want;
  ff_suf_cost(sp, N, &want);
  scu_check_costs(&rr, (const ff_gate_cost[2]){want, want});
  printf("suf %s: %zu elements, CUDA parties == CPU parties == emulation; costs as the formula\n", sp->name, N);
  scu_run_free(&rr);
  free(x), free(xin), free(ref);
}

static void test_gates(void **state) {
  (void)state;
  check_gate(spec(FF_SUF_GELU, 50, 50, 38, 8), 50, 5000, 1);
  check_gate(spec(FF_SUF_SILU, 48, 48, 36, 10), 48, 3000, 2);
  check_gate(spec(FF_SUF_NEXP, 40, 50, 38, 10), 50, 4000, 3);
  check_gate(spec(FF_SUF_GELU, 51, 51, 39, 5), 51, 1000, 4); /* a DPF carry */
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_suf_cuda: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernels),
      cmocka_unit_test(test_table_cache),
      cmocka_unit_test(test_gates),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
