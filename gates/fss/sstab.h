/* Small domains (n <= 7 bits): the "DPF key" is an XOR-shared truth table of the point function
 * 1{x == alpha}, 2^n bits per element (at least 1 byte), no AES (SIGMA's gpu_sstab.h,
 * research/sigma.md §3 "Small domains"). Like the DPF's leaf block, one table answers both the point
 * function and the comparison 1{x < alpha} (the XOR of the entries above x). CPU in sstab.c, CUDA
 * twins in dpf_cuda.cu. Test: tests/test_dpf.c, tests/test_fss_cuda.c (CUDA against CPU). */
#ifndef FF_GATES_FSS_SSTAB_H
#define FF_GATES_FSS_SSTAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_SSTAB_MAX_BITS 7

/* One party's tables for N elements: element j's table is tab[j*B .. j*B + B) with
 * B = ff_sstab_elem_bytes(n), entry y at byte y/8, bit y%8. Unused bits (n < 3) are zero. The
 * table array is the serialized form; `where` says whether it is in host or device memory. */
typedef struct {
  int n;          /* input bits, 1..7; points are taken mod 2^n */
  size_t N;       /* elements */
  uint8_t *tab;   /* (N, B) bytes */
  size_t bytes;   /* N * B */
  ff_mem where;   /* FF_MEM_HOST or FF_MEM_DEVICE */
} ff_sstab_key;

/* Bytes per element: max(1, 2^n / 8); 0 when n is outside 1..7. */
size_t ff_sstab_elem_bytes(int n);
/* N * ff_sstab_elem_bytes(n); 0 for a bad n, N = 0 or overflow. */
size_t ff_sstab_key_bytes(int n, size_t N);

/* Zeroed tables in the memory of ctx's backend (as ff_dpf_key_alloc). */
ff_status ff_sstab_key_alloc(ff_ctx *ctx, ff_sstab_key *k, int n, size_t N);
/* Copies src into dst (same n and N, any memories) on ctx's stream; waits when dst is host memory. */
ff_status ff_sstab_key_copy(ff_ctx *ctx, ff_sstab_key *dst, const ff_sstab_key *src);
void ff_sstab_key_free(ff_sstab_key *k);

/* Dealer: party 0 gets uniformly random tables (from ctx->rng), party 1 those tables XOR the unit
 * vector at alpha[j] mod 2^n. k0 and k1 must be allocated with the same n and N. The work is done
 * on the host: on the CUDA backend alpha and the keys are device memory, alpha is downloaded (the
 * call waits for ctx's stream) and the tables uploaded. */
ff_status ff_sstab_keygen(ff_ctx *ctx, const uint64_t *alpha, ff_sstab_key *k0, ff_sstab_key *k1);

/* Evaluation at E points per element, with the conventions of gates/fss/dpf.h (ff_X_cpu, ff_X_cuda
 * with device pointers enqueued on ctx->stream, ff_X dispatching on ctx->backend and billing the
 * scope FSS::DPF): point e of element j is x[e*N + j]; its share is bit e*N + j of out
 * (ceil(E*N/8) bytes, pad bits zero). */
/* Shares of 1{x == alpha}. */
ff_status ff_sstab_eval_point_cpu(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out);
ff_status ff_sstab_eval_point_cuda(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out);
ff_status ff_sstab_eval_point(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out);
/* Shares of 1{x < alpha} (unsigned, strict). */
ff_status ff_sstab_eval_lt_cpu(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out);
ff_status ff_sstab_eval_lt_cuda(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out);
ff_status ff_sstab_eval_lt(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out);

/* Internal, shared by sstab.c and dpf_cuda.cu: the key (allocated, in memory `where`) and the
 * arguments; *total = E*N. */
ff_status ff__sstab_eval_check(const char *fn, const ff_sstab_key *k, ff_mem where, size_t E, const uint64_t *x,
                               const uint8_t *out, size_t *total);

#ifdef __cplusplus
}
#endif

#endif
