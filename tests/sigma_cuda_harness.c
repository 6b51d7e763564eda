/* The CUDA tests' helpers (see sigma_cuda_harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/cuda.h"
#include "sigma_cuda_harness.h"

void scu_run_cpu_cuda(const sh_spec *sp, uint64_t seed, const char *run_id, scu_run *rr) {
  memset(rr, 0, sizeof *rr);
  sh_keys k;
  sh_deal(sp, seed, run_id, &rr->dealer, &k);
  /* The GPU dealer (tree keys and matmul products on the device, DPF keys written from device memory)
   * deals the same gate into the same bytes, with and without its device path: every gate kind these
   * tests run, beside test_dealer_cuda's whole models. */
  sh_keys kg;
  sh_result rg;
  memset(&rg, 0, sizeof rg);
  sh_deal_on(sp, FF_BACKEND_CUDA, seed, run_id, &rg, &kg);
  sh_assert_same_keys(run_id, "the CUDA dealer", &k, &kg);
  sh_keys_free(&kg);
  free(rg.out);
  /* and with its masks, shares and tree keys made on the device (--dealer-masks device) */
  memset(&rg, 0, sizeof rg);
  sh_deal_device_path(sp, FF_BACKEND_CUDA, seed, run_id, &rg, &kg);
  sh_assert_same_keys(run_id, "the CUDA dealer's device path", &k, &kg);
  sh_keys_free(&kg);
  free(rg.out);
  sh_run_parties(sp, FF_BACKEND_CPU, &k, rr->cpu, rr->cpu_bytes, rr->cpu_st, NULL);
  sh_run_parties(sp, FF_BACKEND_CUDA, &k, rr->cuda, rr->cuda_bytes, rr->cuda_st, NULL);
  sh_keys_free(&k);
  for (int p = 0; p < 2; p++) {
    assert_int_equal(rr->cpu_st[p], FF_OK);
    assert_int_equal(rr->cuda_st[p], FF_OK);
  }
}

void scu_check_costs(const scu_run *rr, const ff_gate_cost want[2]) {
  const sh_result *rc = rr->cpu, *rg = rr->cuda;
  for (int p = 0; p < 2; p++) {
    sh_assert_cost_equal(rc[p].gate[p], want[p]);
    sh_assert_cost_equal(rg[p].gate[p], want[p]);
    assert_int_equal(rr->dealer.gate[p].key_bytes, want[p].key_bytes);
    sh_assert_cost_equal(rg[p].total[p], rc[p].total[p]);
    assert_int_equal(rr->cuda_bytes[p], rg[p].total[p].key_bytes + rg[p].tags[p]);
    assert_int_equal(rr->cpu_bytes[p], rr->cuda_bytes[p]);
  }
}

void scu_run_free(scu_run *rr) {
  free(rr->dealer.out);
  for (int p = 0; p < 2; p++) {
    free(rr->cpu[p].out);
    free(rr->cuda[p].out);
  }
  memset(rr, 0, sizeof *rr);
}

void *scu_dev_up(const void *h, size_t bytes) {
  void *d = NULL;
  assert_int_equal(ff_cuda_malloc(&d, bytes ? bytes : 1), FF_OK);
  if (bytes) assert_int_equal(ff_cuda_copy_to_device(d, h, bytes), FF_OK);
  return d;
}

void *scu_dev_garbage(size_t bytes) {
  uint8_t *h = sh_xmalloc(bytes);
  memset(h, 0xa5, bytes);
  void *d = scu_dev_up(h, bytes);
  free(h);
  return d;
}

void scu_dev_down_cmp(const void *d, const void *want, size_t bytes, const char *what) {
  uint8_t *h = sh_xmalloc(bytes);
  assert_int_equal(ff_cuda_copy_to_host(h, d, bytes), FF_OK);
  if (memcmp(h, want, bytes) != 0) {
    size_t i = 0;
    while (((const uint8_t *)want)[i] == h[i]) i++;
    fail_msg("%s: CUDA differs from CPU at byte %zu (%02x, want %02x)", what, i, h[i], ((const uint8_t *)want)[i]);
  }
  free(h);
}

uint64_t *scu_rand_u64(ff_rng *rng, size_t n) {
  uint64_t *v = sh_xmalloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = ff_rng_u64(rng);
  return v;
}
