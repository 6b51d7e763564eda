/* The CUDA tests' helpers (tests/test_sigma_cuda*.c; compiled only for them, tests/sigma.cmake): one CPU
 * dealer's keys (tests/sigma_harness.h's sh_deal) evaluated by both CPU parties and by both CUDA parties
 * (own contexts and streams, two threads, ff_chan_mem_pair), and device buffers for the kernel tests. */
#ifndef FF_TESTS_SIGMA_CUDA_HARNESS_H
#define FF_TESTS_SIGMA_CUDA_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/rand.h"
#include "sigma_harness.h"

/* What the dealer, the CPU parties and the CUDA parties recorded. */
typedef struct {
  sh_result dealer, cpu[2], cuda[2];
  uint64_t cpu_bytes[2], cuda_bytes[2]; /* each party's key stream, tags included */
  ff_status cpu_st[2], cuda_st[2];      /* the parties' statuses (the dealer must succeed) */
} scu_run;

/* Dealer (CPU, seeded with seed, key streams named run_id), checked byte for byte against the GPU dealer
 * with the same seed, then the CPU parties, then the CUDA parties; fails the test unless every party
 * succeeded. */
void scu_run_cpu_cuda(const sh_spec *sp, uint64_t seed, const char *run_id, scu_run *rr);
/* Every measured cost is the formula's (want[p], per party), on both backends; the dealer wrote as much;
 * the CUDA parties' totals equal the CPU parties'; the streams held the key bytes plus tags. */
void scu_check_costs(const scu_run *rr, const ff_gate_cost want[2]);
void scu_run_free(scu_run *rr);

/* Device buffers (core/cuda.h's copies wait for the whole device, so they follow every stream's kernels:
 * tests only). scu_dev_garbage: 0xa5 bytes, so that an output a kernel leaves unwritten shows;
 * scu_dev_down_cmp fails the test where the device's bytes differ from want. */
void *scu_dev_up(const void *h, size_t bytes);
void *scu_dev_garbage(size_t bytes);
void scu_dev_down_cmp(const void *d, const void *want, size_t bytes, const char *what);
/* n uniform 64-bit values; caller frees. */
uint64_t *scu_rand_u64(ff_rng *rng, size_t n);

#endif
