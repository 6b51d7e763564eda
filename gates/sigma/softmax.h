/* SIGMA's softmax per attention row (GPU-MPC fss/gpu_softmax.cu, gpu_maxpool.cu, gpu_nexp.cu,
 * gpu_inverse.cu, gpu_window.cu; research/sigma.md §4 "Softmax per attention row", §10), non-causal
 * rows of equal length n. Scope Softmax with children Softmax::Max, Softmax::nExp, Softmax::Inverse.
 * Test: tests/test_sigma_softmax.c (CPU); tests/test_sigma_cuda_softmax.c (CUDA parties, _cuda kernels).
 *
 * Input x (R rows of n, bw bits, scale 12), bin = bw - scale; all steps as SIGMA orders them:
 *  1. Max (ring bin + 2 = 40 bits at bw 50): log-depth tree, level by level over all rows at once;
 *     max(a, b) = ReLU(a - b) + b, the DReLU on the (bin+1)-bit value of a - b (DCF(bin)), the select
 *     on a^ - b^ mod 2^(bin+2), revealed (1 + bin + 2 bits, 2 rounds). ceil(log2 n) levels, n - 1
 *     comparisons per row; an odd element passes to the next level unchanged.
 *  2. x1 = max - x >= 0, local.
 *  3. nExp: clip c = min(x1, 2^16 - 1) = select(!DReLU(x1 - p), x1 - p) + p, p = 2^16 - 1, the DReLU
 *     in bin + 2 bits (DCF(bin+1)), the select mod 2^16 (17 bits, 2 rounds); LSB LUT_8 on c mod 2^8
 *     of floor(e^(-i/4096) 2^12) (revealed, bw bits: 1 + 2 bw, 3 rounds); TrWithSlack 16 -> 8 by 8
 *     (c >> 8, exact: the output drops exactly the shifted bits, so no wrap survives mod 2^8; 9 bits,
 *     2 rounds); MSB LUT_8 on c >> 8 of floor(e^(-j/16) 2^12) (3 rounds); Beaver product of the two
 *     (bw bits, 1 round) and TrWithSlack by 12 (1 + bw bits, 2 rounds). e = floor(msb lsb / 2^12).
 *     ff_sigma_softmax_opts.nexp replaces this step.
 *  4. s = sum of the row's e, local.
 *  5. Inverse, per row: TrWithSlack of s mod 2^k, k = 12 + ceil(log2 n), by t = k - b to b bits (exact
 *     as in 3), then LUT_b of floor(2^(24-t) / i), entry 0 = floor(2^(24-t) / 2^b) (revealed, 3 rounds).
 *     SIGMA: b = k - 6, so t = 6 and the table is floor(2^18 / i); ff_sigma_softmax_opts.inv_bits sets b.
 *  6. windowMul: y = floor(e inv / 2^12): Beaver with the row's inverse broadcast (key: shares of
 *     r_e (N), r_inv (R), r_e r_inv + r_y (N)), reconstruct bw bits, TrWithSlack by 12.
 * SIGMA's own preconditions hold: |x| < 2^(bin-1), scale == 12, n >= 3 (the inverse LUT has >= 8
 * input bits). When n is a power of two and all of a row's scores are equal, s = n 2^12 wraps to 0
 * mod 2^k in step 5 and the row comes out as 0 (SIGMA does the same; the emulation mirrors it).
 *
 * Key words as SIGMA's (op_internal.h "Narrow key words"): the clip's select key in u16 (10 B), the
 * 16 -> 8 TrWithSlack's correction in u8 (3 B) and the inverse's (b bits) in ceil(b/8)-byte words
 * (u16 at n = 128: 6 B); every other key element in u64. See ff_sigma_softmax_cost.
 *
 * Options (ff_sigma_softmax_opts below, the _ex functions): another suite (gates/suf) runs this same
 * pipeline with its own nExp gate and another width of the reciprocal's table; NULL options are SIGMA's
 * softmax exactly, and the functions without _ex are the _ex ones with NULL options. */
#ifndef FF_GATES_SIGMA_SOFTMAX_H
#define FF_GATES_SIGMA_SOFTMAX_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Kernels (linear, so the dealer runs them on masks and the parties on masked values). _cpu: host
 * pointers; _cuda: device pointers, enqueued on ctx->stream (softmax_cuda.cu, FF_ENOTSUP in a build
 * without CUDA); the plain name dispatches on ctx->backend. ------------------------------------------- */
/* One max-tree level over R rows of m values (v (R, m) mod 2^ring): d (R, m/2) = v[2j] - v[2j+1]. */
ff_status ff_sigma_maxtree_diff_cpu(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v, uint64_t *d);
ff_status ff_sigma_maxtree_diff_cuda(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v, uint64_t *d);
ff_status ff_sigma_maxtree_diff(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v, uint64_t *d);
/* next (R, ceil(m/2)): relu[j] + v[2j+1], and the odd last element v[m-1] carried. */
ff_status ff_sigma_maxtree_next_cpu(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v,
                                    const uint64_t *relu, uint64_t *next);
ff_status ff_sigma_maxtree_next_cuda(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v,
                                     const uint64_t *relu, uint64_t *next);
ff_status ff_sigma_maxtree_next(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v, const uint64_t *relu,
                                uint64_t *next);
/* x1 (R, n) = max[row] - x mod 2^ring (x taken mod 2^ring). */
ff_status ff_sigma_softmax_sub_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *x,
                                   uint64_t *x1);
ff_status ff_sigma_softmax_sub_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *x,
                                    uint64_t *x1);
ff_status ff_sigma_softmax_sub(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *x,
                               uint64_t *x1);
/* sum (R) = sum over the row of e (R, n) mod 2^ring. */
ff_status ff_sigma_rowsum_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum);
ff_status ff_sigma_rowsum_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum);
ff_status ff_sigma_rowsum(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum);
/* out (N) = in + c mod 2^ring (out may alias in): the nExp clip's public shifts by -p and +p, and the
 * flip of a revealed bit (ring 1, c = 1). */
ff_status ff_sigma_add_const_cpu(ff_ctx *ctx, int ring, size_t N, const uint64_t *in, uint64_t c, uint64_t *out);
ff_status ff_sigma_add_const_cuda(ff_ctx *ctx, int ring, size_t N, const uint64_t *in, uint64_t c, uint64_t *out);
ff_status ff_sigma_add_const(ff_ctx *ctx, int ring, size_t N, const uint64_t *in, uint64_t c, uint64_t *out);
/* out (R, n) = in[row] (in (R), no reduction; out must not alias in): windowMul's per-row broadcast of
 * the inverse and of its key words; n = 1 is a plain copy of R values. */
ff_status ff_sigma_row_bcast_cpu(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out);
ff_status ff_sigma_row_bcast_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out);
ff_status ff_sigma_row_bcast(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out);

/* ---- Causal kernels (the packing of ff_op_softmax_causal below). Row r of R (r = 0.., any R; n >= 1) keeps
 * its first len_r = (r mod n) + 1 values, packed one row after another: ff_sigma_causal_numel(R, n, 0)
 * values. At max-tree level l (l = 0..ceil(log2 n) - 1) a row holds ceil(len_r / 2^l) values, packed the
 * same way (ff_sigma_causal_numel(R, n, l)); level l makes ceil(len_r / 2^(l+1)) comparisons per row. Same
 * conventions as above (_cpu / _cuda / dispatcher); a level outside 0..62 is FF_EINVAL. ------------------ */
/* Values per packed array: sum over r < R of ceil(len_r / 2^level) (host arithmetic, no ctx). */
size_t ff_sigma_causal_numel(size_t R, size_t n, int level);
/* xp (packed) = x[r, j] mod 2^ring for j <= r mod n, from x (R, n). */
ff_status ff_sigma_causal_pack_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *x, uint64_t *xp);
ff_status ff_sigma_causal_pack_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *x, uint64_t *xp);
ff_status ff_sigma_causal_pack(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *x, uint64_t *xp);
/* y (R, n) = xp's entry for j <= r mod n, 0 above the diagonal (a public 0, no reduction). */
ff_status ff_sigma_causal_unpack_cpu(ff_ctx *ctx, size_t R, size_t n, const uint64_t *xp, uint64_t *y);
ff_status ff_sigma_causal_unpack_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *xp, uint64_t *y);
ff_status ff_sigma_causal_unpack(ff_ctx *ctx, size_t R, size_t n, const uint64_t *xp, uint64_t *y);
/* One level of the ragged max tree, v packed at `level` (m = ceil(len_r / 2^level) values per row), d
 * packed at level + 1: d[j] = v[2j] - v[2j+1] mod 2^ring, and 0 for an unpaired last value (SIGMA's
 * padding: that comparison is ReLU(0) + the value itself). */
ff_status ff_sigma_causal_maxtree_diff_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                           uint64_t *d);
ff_status ff_sigma_causal_maxtree_diff_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                            uint64_t *d);
ff_status ff_sigma_causal_maxtree_diff(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                       uint64_t *d);
/* next (packed at level + 1) = relu[j] + v[2j+1] mod 2^ring, or relu[j] + v[2j] for an unpaired value;
 * relu packed at level + 1 as d. next must not alias v. */
ff_status ff_sigma_causal_maxtree_next_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                           const uint64_t *relu, uint64_t *next);
ff_status ff_sigma_causal_maxtree_next_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                            const uint64_t *relu, uint64_t *next);
ff_status ff_sigma_causal_maxtree_next(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                       const uint64_t *relu, uint64_t *next);
/* x1 (packed) = max[r] - xp mod 2^ring on each of row r's values (xp taken mod 2^ring). */
ff_status ff_sigma_causal_sub_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *xp,
                                  uint64_t *x1);
ff_status ff_sigma_causal_sub_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *xp,
                                   uint64_t *x1);
ff_status ff_sigma_causal_sub(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *xp,
                              uint64_t *x1);
/* sum (R) = sum of row r's packed values of e mod 2^ring. */
ff_status ff_sigma_causal_rowsum_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum);
ff_status ff_sigma_causal_rowsum_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum);
ff_status ff_sigma_causal_rowsum(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum);
/* out (packed) = in[r] on each of row r's values (in (R), no reduction; out must not alias in): windowMul's
 * broadcast of the inverse and of its key words. */
ff_status ff_sigma_causal_bcast_cpu(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out);
ff_status ff_sigma_causal_bcast_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out);
ff_status ff_sigma_causal_bcast(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out);

/* ---- Tables (SIGMA's genLUT: the double value truncated toward zero) --------------------------------- */
/* tab (256): floor(e^(-i / 2^12) 2^12) (nExpLsb) or floor(e^(-i / 16) 2^12) (nExpMsb). */
void ff_sigma_nexp_lsb_table(uint64_t *tab);
void ff_sigma_nexp_msb_table(uint64_t *tab);
/* tab (2^bits): floor(2^(24 - shift) / i), entry 0 = floor(2^(24 - shift) / 2^bits): 1 / s at scale 12 for
 * a row sum s (scale 12) truncated by `shift` bits to i = floor(s / 2^shift). ff_sigma_inv_table is SIGMA's
 * shift 6: floor(2^18 / i). */
void ff_sigma_inv_table_ex(int bits, int shift, uint64_t *tab);
void ff_sigma_inv_table(int bits, uint64_t *tab);

/* ---- Options ---------------------------------------------------------------------------------------------
 * What another protocol suite changes in this pipeline (gates/suf depends on gates/sigma, never the other
 * way: it passes its gates in as callbacks). NULL, or a zeroed struct, is SIGMA's softmax. The options
 * travel in the op's tag (op_internal.h FF__SG_SOFTMAX, d[2]), so a party run with other options than the
 * dealer's fails with FF_EMISMATCH before it reads a key byte. Bad options: FF_EINVAL, logged. */
typedef struct ff_sigma_softmax_opts {
  /* b, the input bits of the reciprocal's lookup table (step 5). 0: SIGMA's b = k - 6, k = 12 +
   * ceil(log2 n). Else 8 <= b <= 16 and b < k: TrWithSlack of s mod 2^k by t = k - b to b bits (key words
   * of ceil(b/8) bytes), then LUT_b of ff_sigma_inv_table_ex(b, t): the table covers every row sum s <
   * 2^k whatever b is; b sets its resolution (1 / i for i = floor(s / 2^t) >= 2^(12-t): relative error
   * below 2^(t-12), 2^-6 for SIGMA's t = 6). Key bytes, bits and rounds: ff_sigma_softmax_cost_ex. */
  int inv_bits;
  /* Step 3 (nExp) replaced, in the causal and non-causal softmax alike. The three are set together or
   * are all NULL (SIGMA's nExp, ff_sigma_nexp below). nexp runs as a gate in every role (dealer, party,
   * cost-only), inside the softmax's op call and inside scope Softmax::nExp (its own scopes nest there):
   *   x1: max - x >= 0 (< 2^(ring-2)), ring = x1->bw = bw - 10 bits; shape (R, n) for ff_op_softmax_ex (the
   *       rows of x flattened), (1, N') for ff_op_softmax_causal_ex (N' = ff_sigma_causal_numel(R, n, 0),
   *       the packed lower triangle). Dealer: its mask; party: the masked value, in the memory of the
   *       party's wires (device memory on a CUDA party); cost-only: v NULL. Borrowed, not to be freed.
   *   e:  given zeroed; nexp allocates it (typically the output wire of its last gate): bw = op's bw,
   *       scale 12, x1->numel elements (any shape: it is used flat), the same memory as x1 (host for the
   *       dealer, v NULL in cost-only), e ~ 2^12 exp(-x1 / 2^12) in [0, 2^12] so that the row sums stay
   *       below n 2^12 <= 2^k as the inverse needs. On error the softmax frees e.
   * nexp writes its own keys (and the tags of its gates) into the streams, within the softmax's tag; a
   * CUDA party needs its gates' CUDA support. */
  ff_status (*nexp)(void *arg, ff_op *op, const ff_wire *x1, ff_wire *e);
  /* Per-party cost of nexp on N elements (x1 in `ring` bits, e in bw bits), both parties paying the
   * same: what nexp charges each party, so that the softmax's cost functions stay exact. */
  void (*nexp_cost)(void *arg, size_t N, int bw, int ring, ff_gate_cost *c);
  /* The cleartext emulation of nexp, bit for bit: e (N) mod 2^bw from x1 (N) mod 2^ring, as above. */
  void (*nexp_emulate)(void *arg, int bw, int ring, size_t N, const uint64_t *x1, uint64_t *e);
  void *arg; /* passed to the three hooks; borrowed */
} ff_sigma_softmax_opts;

/* SIGMA's nExp (step 3) as the hooks above see it, arg unused: opts = {.nexp = ff_sigma_nexp, .nexp_cost =
 * ff_sigma_nexp_cost, .nexp_emulate = ff_sigma_nexp_emulate} gives SIGMA's outputs and costs, under a
 * hooked tag. A step, not a gate: it writes no tag of its own (call it inside a gate, as the softmax
 * does) and opens no scope. x1: ring = x1->bw with 18 <= ring <= op's bw (the clip 2^16 - 1 must lie
 * below 2^(ring-2)), values < 2^(ring-2); e: allocated, bw = op's bw, x1's shape; op's scale 12.
 * Cost-only: charges ff_sigma_nexp_cost and allocates e. */
ff_status ff_sigma_nexp(void *arg, ff_op *op, const ff_wire *x1, ff_wire *e);
void ff_sigma_nexp_cost(void *arg, size_t N, int bw, int ring, ff_gate_cost *c);
void ff_sigma_nexp_emulate(void *arg, int bw, int ring, size_t N, const uint64_t *x1, uint64_t *e);

/* ---- The gate ------------------------------------------------------------------------------------------
 * x: ndim >= 1 wire of bw = op's ring bits; softmax over the last dimension (n = shape[ndim-1] >= 3).
 * y: same shape and width, scale 12. op's scale must be 12 (SIGMA's tables assume it). */
ff_status ff_op_softmax(ff_op *op, const ff_wire *x, ff_wire *y);
/* The same with options (NULL: ff_op_softmax). */
ff_status ff_op_softmax_ex(ff_op *op, const ff_wire *x, ff_wire *y, const ff_sigma_softmax_opts *opts);

/* The cleartext fixed-point emulation of exactly the steps above: y (R, n) mod 2^bw from x (R, n). The _ex
 * variant takes options (nexp_emulate runs once on all R n values of x1, in row order); FF_EINVAL for
 * bad options, FF_ENOMEM. */
void ff_sigma_softmax_emulate(int bw, size_t R, size_t n, const uint64_t *x, uint64_t *y);
ff_status ff_sigma_softmax_emulate_ex(int bw, size_t R, size_t n, const ff_sigma_softmax_opts *opts,
                                      const uint64_t *x, uint64_t *y);

/* Exact per-party cost of R rows of n (both parties pay the same), the sum of the steps as run:
 *   Max: per level l with m_l values per row, C = R floor(m_l / 2) comparisons:
 *        DCF(bin) of C + ceil(C/8) + 40 C B; C (1 + bin + 2) bits; 2 rounds.
 *   nExp (N = R n): clip DCF(bin+1) + N/8 + 10N (u16 select); 17N bits; 2 rounds | 2 x LUT(8 -> bw)
 *        revealed | TrWithSlack(16, 8 -> 8), u8 words (3N B) | Beaver 24N B, bw N bits, 1 round +
 *        TrWithSlack(bw, 12 -> bw).
 *        With a nexp hook: nexp_cost(N, bw, bw - 10) instead.
 *   Inverse: TrWithSlack(k, t -> b) in ceil(b/8)-byte words and LUT(b -> bw) revealed, R elements;
 *        k = 12 + ceil(log2 n), b = inv_bits (SIGMA: k - 6), t = k - b.
 *   windowMul: 16N + 8R B, bw N bits, 1 round + TrWithSlack(bw, 12 -> bw) on N.
 * At n = 128, bw = 50: 35 rounds; 1676.17 B/elem (1727.31 with u64 key words) and 471.6 bits. _ex: with
 * options (c zeroed and FF_EINVAL, logged, for bad ones). */
void ff_sigma_softmax_cost(size_t R, size_t n, int bw, ff_gate_cost *c);
ff_status ff_sigma_softmax_cost_ex(size_t R, size_t n, int bw, const ff_sigma_softmax_opts *opts, ff_gate_cost *c);

/* ---- Causal (SIGMA's lower-triangle packing, gpu_softmax.cu / gpu_maxpool.cu isLowerTriangular) ----------
 * x: (.., n, n), row i of each (n, n) block (i = row mod n) keeps entries 0..i, packed one row after
 * another (N' = n(n+1)/2 per block); y = softmax over those, 0 elsewhere (a public 0: mask 0). The max
 * tree runs ceil(log2 n) levels on every row, ceil(len / 2^l) comparisons at level l (SIGMA pads an
 * unpaired value through a 0 difference: 4160 + 2112 + ... = 8576 per block at n = 128); nExp and
 * windowMul on N', the inverse per row with k = 12 + ceil(log2 n) as non-causal. Dealer and CPU or CUDA
 * parties, all on the causal kernels above (packing, ragged max tree, row sums, broadcast, re-expansion).
 * Tag: FF__SG_SOFTMAX with b = 1. The _ex variants take the options above (nexp sees the N' packed values
 * as one (1, N') wire; the emulation calls nexp_emulate on them in the same order). */
ff_status ff_op_softmax_causal(ff_op *op, const ff_wire *x, ff_wire *y);
ff_status ff_op_softmax_causal_ex(ff_op *op, const ff_wire *x, ff_wire *y, const ff_sigma_softmax_opts *opts);
/* y (R, n) from x (R, n), rows i = r mod n over entries 0..i, 0 above. */
void ff_sigma_softmax_causal_emulate(int bw, size_t R, size_t n, const uint64_t *x, uint64_t *y);
ff_status ff_sigma_softmax_causal_emulate_ex(int bw, size_t R, size_t n, const ff_sigma_softmax_opts *opts,
                                             const uint64_t *x, uint64_t *y);
/* Exact per-party cost; per packed element at n = 128, bw = 50: see tests/test_sigma_softmax.c. */
void ff_sigma_softmax_causal_cost(size_t R, size_t n, int bw, ff_gate_cost *c);
ff_status ff_sigma_softmax_causal_cost_ex(size_t R, size_t n, int bw, const ff_sigma_softmax_opts *opts,
                                          ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
