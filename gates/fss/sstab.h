/* Small domains (n <= 7 bits): the "DPF key" is an XOR-shared truth table of the point function
 * 1{x == alpha}, 2^n bits per element (at least 1 byte), no AES (SIGMA's gpu_sstab.h,
 * research/sigma.md §3 "Small domains"). Like the DPF's leaf block, one table answers both the point
 * function and the comparison 1{x < alpha} (the XOR of the entries above x). Test: tests/test_dpf.c. */
#ifndef FF_GATES_FSS_SSTAB_H
#define FF_GATES_FSS_SSTAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/rand.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_SSTAB_MAX_BITS 7

/* One party's tables for N elements: element j's table is tab[j*B .. j*B + B) with
 * B = ff_sstab_elem_bytes(n), entry y at byte y/8, bit y%8. Unused bits (n < 3) are zero. The
 * table array is the serialized form. */
typedef struct {
  int n;          /* input bits, 1..7; points are taken mod 2^n */
  size_t N;       /* elements */
  uint8_t *tab;   /* (N, B) bytes */
  size_t bytes;   /* N * B */
} ff_sstab_key;

/* Bytes per element: max(1, 2^n / 8); 0 when n is outside 1..7. */
size_t ff_sstab_elem_bytes(int n);
/* N * ff_sstab_elem_bytes(n); 0 for a bad n, N = 0 or overflow. */
size_t ff_sstab_key_bytes(int n, size_t N);

ff_status ff_sstab_key_alloc(ff_sstab_key *k, int n, size_t N);
void ff_sstab_key_free(ff_sstab_key *k);

/* Dealer: party 0 gets uniformly random tables, party 1 those tables XOR the unit vector at
 * alpha[j] mod 2^n. k0 and k1 must be allocated with the same n and N. */
ff_status ff_sstab_keygen(const uint64_t *alpha, ff_rng *rng, ff_sstab_key *k0, ff_sstab_key *k1);

/* Evaluation at E points per element, with the conventions of gates/fss/dpf.h: point e of element
 * j is x[e*N + j]; its share is bit e*N + j of out (ceil(E*N/8) bytes, pad bits zero). */
/* Shares of 1{x == alpha}. */
ff_status ff_sstab_eval_point(const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out);
/* Shares of 1{x < alpha} (unsigned, strict). */
ff_status ff_sstab_eval_lt(const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif
