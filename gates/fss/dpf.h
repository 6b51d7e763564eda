/* Distributed point functions (Boyle-Gilboa-Ishai 2016, tree construction) with 1-bit output and
 * early termination at 7 levels, and the comparison 1{x < alpha} read off the same key along x's
 * path, as SIGMA does (research/sigma.md §3 "DPF" and "Comparison"). Batched over N elements, one
 * secret point each. Test: tests/test_dpf.c. */
#ifndef FF_GATES_FSS_DPF_H
#define FF_GATES_FSS_DPF_H

#include <stddef.h>
#include <stdint.h>

#include "core/rand.h"
#include "core/status.h"
#include "gates/fss/prg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_DPF_MIN_BITS 8   /* below this, use the truth tables of gates/fss/sstab.h */
#define FF_DPF_MAX_BITS 64
#define FF_DPF_LEAF_BITS 7  /* early termination: the last level is one block of 2^7 = 128 leaves */
#define FF_DPF_EVAL_ALL_MAX_BITS 16

/* One party's keys for N elements on n-bit inputs. The tree has L = n-7 levels: levels 0..n-9 are
 * ordinary GGM levels with a seed CW, level n-8 turns each child seed straight into a leaf block
 * with the leaf CW l0 (left child) or l1 (right child). Arrays are element-major stripes (the value
 * of level i for element j at [i*N + j]) so that one GPU thread per element reads coalesced.
 *
 * All arrays live in one buffer, in this order, which is also the serialized form (little-endian):
 *   seed (N) blocks | scw (n-8, N) blocks | l0 (N) blocks | l1 (N) blocks | tR ceil((n-7)N/8) bytes
 * i.e. ff_dpf_key_bytes(n, N) = 16(n-7)N + 32N + ceil((n-7)N/8), SIGMA's 16(n-7) + 32 + (n-7)/8 B
 * per element. SIGMA keeps one tR row per level, n-7 rows, although the last level uses l0/l1
 * instead; we keep that row too (always zero) so the bytes match exactly. */
typedef struct {
  int n;            /* input bits, 8..64; inputs and points are taken mod 2^n */
  size_t N;         /* elements */
  ff_block *seed;   /* (N) root seeds; bit 0 is the control bit t */
  ff_block *scw;    /* (n-8, N) seed CWs of levels 0..n-9; bit 0 holds the left control CW tL */
  ff_block *l0;     /* (N) leaf CW of a left child at the last level */
  ff_block *l1;     /* (N) leaf CW of a right child at the last level */
  uint8_t *tR;      /* (n-7, N) bits, bit i*N + j (LSB first): right control CW of level i of element j */
  void *buf;        /* the one allocation holding all of the above */
  size_t bytes;     /* = ff_dpf_key_bytes(n, N) */
} ff_dpf_key;

/* Exact serialized size of one party's key for N elements: 16(n-7)N + 32N + ceil((n-7)N/8) bytes
 * (the tR bits are packed across elements and rounded up once per batch). 0 when n is outside
 * 8..64, N is 0 or the size overflows size_t. */
size_t ff_dpf_key_bytes(int n, size_t N);

/* Allocates a zeroed key for N elements of n bits (FF_EINVAL for bad n/N, FF_ENOMEM). */
ff_status ff_dpf_key_alloc(ff_dpf_key *k, int n, size_t N);
/* Frees k's buffer and zeroes k; safe on a zeroed or already freed key. */
void ff_dpf_key_free(ff_dpf_key *k);
/* Writes k's serialized form (k->bytes bytes) to out; FF_ERANGE when cap is smaller. */
ff_status ff_dpf_key_serialize(const ff_dpf_key *k, void *out, size_t cap);
/* Allocates k and reads a key of N elements of n bits from in; FF_EFORMAT unless len is exactly
 * ff_dpf_key_bytes(n, N). */
ff_status ff_dpf_key_deserialize(ff_dpf_key *k, int n, size_t N, const void *in, size_t len);

/* Dealer: keys of both parties for the point functions f_j(x) = 1{x == alpha[j] mod 2^n},
 * j < N. k0 and k1 must be allocated with the same n and N (ff_dpf_key_alloc); seeds come from rng. */
ff_status ff_dpf_keygen(const uint64_t *alpha, ff_rng *rng, ff_dpf_key *k0, ff_dpf_key *k1);

/* Evaluation at E public points per element. Points are laid out like the key, element fastest:
 * point e of element j is x[e*N + j] (taken mod 2^n). The result bit for (e, j) is bit e*N + j of
 * out (LSB first, ceil(E*N/8) bytes, pad bits zero), the packing of comm/pack.h for 1-bit values.
 * Output shares are XOR shares: party 0's bit ^ party 1's bit is the function value. The result
 * does not depend on which party evaluates (no party argument is needed). */

/* Shares of 1{x == alpha}: n-7 AES per point. */
ff_status ff_dpf_eval_point(const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out);

/* Shares of 1{x < alpha} (unsigned n-bit comparison, strict; the same key as the point function):
 * n-7 AES per point plus one parity of the leaf block. Each node's control bit is a share of "alpha
 * lies in this node's subtree", and alpha > x iff alpha lies in a subtree hanging right of x's path
 * (at a level where x turns left) or above x in x's leaf block. A sibling's bit is the XOR of its
 * parent's and the on-path child's, so a run of left turns from level a to level c adds up to
 * t(v_a) ^ t(v_c+1): the party XORs its control bit wherever x's direction changes (the path is
 * taken to arrive from the right), then the parity of the leaves above x, or, when a run of left
 * turns reaches the leaf block, of the leaves at or below x (the whole block's parity closes the run).
 * (SIGMA accumulates 1{alpha <= x} and has party 1 flip it; this form needs no party argument.) */
ff_status ff_dpf_eval_lt(const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out);

/* Full-domain evaluation for n <= 16 (FF_EINVAL above): shares of 1{y == alpha[j]} for every
 * y < 2^n. Element j's 2^n bits start at out + j * 2^(n-3) bytes, bit y at byte y/8, bit y%8
 * (N * 2^(n-3) bytes in all). About 2^(n-7) AES per element. */
ff_status ff_dpf_eval_all(const ff_dpf_key *k, uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif
