/* SIGMA's LayerNorm and RMSNorm (GPU-MPC fss/gpu_layernorm.cu; research/sigma.md §4 "LayerNorm per
 * element", §10), with the one difference DESIGN.md §3 asks for: the rsqrt runs on the party's own
 * backend through our FSS primitives instead of LLAMA on the CPU. Scope LayerNorm (both gates).
 * Test: tests/test_sigma_layernorm.c.
 *
 * Input x (R rows of d, bw bits, scale s), gamma and beta (d) wires (P0's weights). Per row:
 *  1. Mean (LayerNorm only): S = sum_j x (local); mu = TrFloor(S, log2 d) when d is a power of two,
 *     else TrFloor(S floor(2^s / d), s) (the multiply by the public constant is local). 4 rounds.
 *  2. xc = x - mu (local; RMSNorm: xc = x).
 *  3. V = sum_j xc^2 (scale 2s): each element's square from a 2-element key (shares of 2 r and
 *     r^2, the row's output mask folded into element 0), x^2 = x^^2 - 2 r x^ + r^2 with no
 *     interaction; local row sum; reconstruct V^ (bw bits per row, 1 round).
 *  4. rsq = rsqrt(V / (2^2s d)) at scale s, SIGMA/LLAMA's "float-like" table of b = 13 input bits (6 of
 *     exponent, m = b - 6 = 7 of mantissa; ff_sigma_norm_opts.rsqrt_bits sets b), L = bw - 3:
 *     a. MSNZB by comparisons: ONE DCF(bw) key per row at alpha = r_V, evaluated at L+1 points
 *        (dpf.h's multi-point evaluation): V^ and V^ - 2^t, t = 1..L; with
 *        [V < T] = [V^ - T < r] ^ [V^ < r] ^ [V^ < T], each party gets XOR shares of
 *        c_t = [V < 2^t] masked by a dealer bit m_t; reconstruct the L bits (1 round).
 *     b. Normalise: o_j = c_(j+1) ^ c_j (c_0 = 0, c_(L+1) = 1) is one-hot at k = msnzb(V) (k = 0
 *        for V = 0, 1); its mask is rho_j = m_(j+1) ^ m_j. V' = sum_j o_j V 2^(L-j) = V 2^(L-k) and
 *        the exponent 2^m k are linear in the arithmetic o_j = o^_j + rho_j (1 - 2 o^_j), so a key of
 *        2 elements per (row, j) (shares of rho_j and rho_j r_V) plus 3 per row (r_V, the masks of V'
 *        and of 2^m k) gives shares without interaction (a one-hot select-sum); one exchange
 *        reconstructs V^' (bw bits) and E^ = 2^m k + r_k (b bits) together: bw + b bits, 1 round
 *        (one packed field of bw + b bits per row, wider than 64 bits too).
 *     c. Mantissa: TrWithSlack(V', shift L - m, b bits) = 2^m + mt (mt: the m bits below the leading
 *        one; V' < 2^(L+1) = 2^(bw-2) is inside the slack). 1 + b bits, 2 rounds.
 *     d. LUT_b (gates/fss/lut.h, revealed) at I = 2^m k + mt = E^ + M^ - 2^m - (r_k + r_M), the LUT
 *        key's input mask being r_k + r_M mod 2^b; table ff_sigma_rsqrt_table. 1 + 2 bw bits,
 *        3 rounds.
 *     rsqrt: 7 rounds, L + (bw + b) + (1 + b) + (1 + 2 bw) bits per row (225 at bw 50, b 13). SIGMA runs the
 *     same function in LLAMA on the CPU (F2BF16 with a 50-bit DCF evaluated 50 times, the LUT, a
 *     select): 5 reconstructs plus 3 one-byte sync round trips, 8 exchanges; ours is 7 exchanges
 *     on the party's backend.
 *  5. windowMul by rsq: Beaver with the row's rsq broadcast (key: shares of r_xc (N), r_rsq (R),
 *     r_xc r_rsq + r_z (N)), reconstruct bw bits, TrWithSlack by s: 1 + 2 bw bits, 3 rounds.
 *  6. windowMul by gamma (broadcast over the rows; key 16N + 8d) and TrWithSlack by s, then + beta
 *     (local; RMSNorm has no beta): 3 rounds.
 * LayerNorm: 4 + 1 + 7 + 3 + 3 = 18 rounds (SIGMA: 11 on the GPU plus 8 LLAMA exchanges);
 * RMSNorm: 14. Preconditions (SIGMA's, not checked): the row sums fit the ring, V < 2^(bw-2), and
 * the products of steps 5-6 lie in [-2^(bw-2), 2^(bw-2)). No epsilon by default (SIGMA): V = 0 gives rsq = 0,
 * so a constant row gives beta; ff_sigma_norm_opts.eps adds Hugging Face's epsilon at no cost.
 *
 * Options (ff_sigma_norm_opts below, the _ex functions): another suite (gates/suf) runs these gates with
 * another width of the rsqrt table; NULL options are SIGMA's gates exactly, and the functions without _ex
 * are the _ex ones with NULL options. */
#ifndef FF_GATES_SIGMA_LAYERNORM_H
#define FF_GATES_SIGMA_LAYERNORM_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The rsqrt table's input: 6 exponent bits and m mantissa bits, b = 6 + m in 8..16; SIGMA's b = 13, m = 7
 * (the defaults). */
#define FF_SIGMA_RSQRT_LUT_BITS 13
#define FF_SIGMA_RSQRT_MANT_BITS 7
#define FF_SIGMA_RSQRT_EXP_BITS 6
#define FF_SIGMA_RSQRT_MIN_BITS 8
#define FF_SIGMA_RSQRT_MAX_BITS 16

/* Options of LayerNorm and RMSNorm. NULL, or a zeroed struct, is SIGMA's gate. They travel in the op's tag
 * (op_internal.h FF__SG_LAYERNORM, d[2]): a party run with other options than the dealer's fails with
 * FF_EMISMATCH before it reads a key byte. Bad options: FF_EINVAL, logged. */
typedef struct ff_sigma_norm_opts {
  /* b, the rsqrt table's input bits: 6 of exponent and m = b - 6 of mantissa (step 4: the mantissa's
   * TrWithSlack keeps b bits = 2^m + mt, E = 2^m k, LUT_b). 0: SIGMA's 13; else 8..16. The relative
   * error of the table is below 2^-(m+1) (the middle of each mantissa interval). */
  int rsqrt_bits;
  /* epsilon (Hugging Face's LayerNorm eps, Llama's rms_norm_eps), a public constant inside the square root:
   * rsqrt(var + eps). 0: SIGMA's gate (no epsilon). It costs nothing: the dealer adds
   * c = round(eps d 2^(2 scale)) (ff_sigma_norm_eps_fixed) to the row's mask of V in the square key (step 3),
   * so the reconstructed V^ is V + c + r_V; keys, bits and rounds are unchanged. Travels in the tag
   * (d[2] bits 8..63). Must be >= 0 and finite with c < 2^(bw - 4). */
  double eps;
} ff_sigma_norm_opts;

/* c = round(eps d 2^(2 scale)), the epsilon at V's scale for rows of d (V = sum of d squares at 2 scale);
 * -1 for an eps that is negative, not finite, or whose c is 2^(bw - 4) or more. */
int64_t ff_sigma_norm_eps_fixed(double eps, size_t d, int bw, int scale);

/* ---- Kernels (linear ones run on masks at the dealer and on masked values at the parties). ff_X_cpu:
 * host pointers; ff_X_cuda (layernorm_cuda.cu): device pointers, enqueued on ctx->stream, bit-identical
 * outputs; ff_X dispatches on ctx->backend. ------------------------------------------------------------- */
/* sum (R) = sum over each row of x (R, d), times mult, mod 2^bw. */
ff_status ff_sigma_ln_rowsum_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t mult, const uint64_t *x,
                                 uint64_t *sum);
ff_status ff_sigma_ln_rowsum_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t mult, const uint64_t *x,
                                  uint64_t *sum);
ff_status ff_sigma_ln_rowsum(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t mult, const uint64_t *x,
                             uint64_t *sum);
/* xc (R, d) = x - mu[row] mod 2^bw. */
ff_status ff_sigma_ln_center_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *x, const uint64_t *mu,
                                 uint64_t *xc);
ff_status ff_sigma_ln_center_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *x, const uint64_t *mu,
                                  uint64_t *xc);
ff_status ff_sigma_ln_center(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *x, const uint64_t *mu,
                             uint64_t *xc);
/* Party's share of sum_j xc^2 + r_V per row: out (R) = sum_j [p1] x^^2 - A x^ + B, key (2, N) = A | B. */
ff_status ff_sigma_ln_square_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *xhat, const uint64_t *key,
                                 uint64_t *out);
ff_status ff_sigma_ln_square_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *xhat, const uint64_t *key,
                                  uint64_t *out);
ff_status ff_sigma_ln_square(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *xhat, const uint64_t *key,
                             uint64_t *out);
/* Step 4b, m = mant mantissa bits (2..10): chat (L, R) the public masked c_1..c_L, vhat (R); key rho
 * (L+1, R) | rho r_V (L+1, R) | r_V (R) | r_V' (R) | r_k (R). out (2, R): shares of V' + r_V' mod 2^bw,
 * then of 2^m k + r_k mod 2^(m+6). FF_EINVAL for m outside 2..10. */
ff_status ff_sigma_rsqrt_normalize_cpu(ff_ctx *ctx, int bw, int mant, size_t R, const uint64_t *chat,
                                       const uint64_t *vhat, const uint64_t *key, uint64_t *out);
ff_status ff_sigma_rsqrt_normalize_cuda(ff_ctx *ctx, int bw, int mant, size_t R, const uint64_t *chat,
                                        const uint64_t *vhat, const uint64_t *key, uint64_t *out);
ff_status ff_sigma_rsqrt_normalize(ff_ctx *ctx, int bw, int mant, size_t R, const uint64_t *chat, const uint64_t *vhat,
                                   const uint64_t *key, uint64_t *out);
/* Beaver product with a broadcast factor: out (R, d) = [p1] x^ w^ - x^ B[w] - w^ A + C, w^ and B
 * indexed by the row (per_row) or by the column; key A (N) | B (R or d) | C (N). */
ff_status ff_sigma_ln_wmul_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, int per_row, const uint64_t *xhat,
                               const uint64_t *what, const uint64_t *key, uint64_t *out);
ff_status ff_sigma_ln_wmul_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, int per_row, const uint64_t *xhat,
                                const uint64_t *what, const uint64_t *key, uint64_t *out);
ff_status ff_sigma_ln_wmul(ff_ctx *ctx, int bw, size_t R, size_t d, int per_row, const uint64_t *xhat,
                           const uint64_t *what, const uint64_t *key, uint64_t *out);
/* y (R, d) += b[column] mod 2^bw (LayerNorm's beta). */
ff_status ff_sigma_ln_addcol_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t *y, const uint64_t *b);
ff_status ff_sigma_ln_addcol_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t *y, const uint64_t *b);
ff_status ff_sigma_ln_addcol(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t *y, const uint64_t *b);
/* Step 4a's points, L = bw - 3: pts (L+1, R) = V^, then V^ - 2^t mod 2^bw for t = 1..L. */
ff_status ff_sigma_rsqrt_points_cpu(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, uint64_t *pts);
ff_status ff_sigma_rsqrt_points_cuda(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, uint64_t *pts);
ff_status ff_sigma_rsqrt_points(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, uint64_t *pts);
/* Step 4a's shares: lt the DCF's bits at pts ((L+1) R bits, packed LSB first), mask the dealer's
 * bits (L R, packed); c (L, R) = lt[t] ^ lt[0] ^ mask[t-1] ^ [p1] [V^ < 2^t], t = 1..L (0 or 1). */
ff_status ff_sigma_rsqrt_bits_cpu(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, const uint8_t *lt,
                                  const uint8_t *mask, uint64_t *c);
ff_status ff_sigma_rsqrt_bits_cuda(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, const uint8_t *lt,
                                   const uint8_t *mask, uint64_t *c);
ff_status ff_sigma_rsqrt_bits(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, const uint8_t *lt,
                              const uint8_t *mask, uint64_t *c);
/* Step 4d's LUT input, m = mant (2..10): idx (R) = E^ + M^ - 2^m mod 2^(m+6) (idx may alias ehat or mhat).
 * FF_EINVAL for m outside 2..10. */
ff_status ff_sigma_rsqrt_index_cpu(ff_ctx *ctx, int mant, size_t R, const uint64_t *ehat, const uint64_t *mhat,
                                   uint64_t *idx);
ff_status ff_sigma_rsqrt_index_cuda(ff_ctx *ctx, int mant, size_t R, const uint64_t *ehat, const uint64_t *mhat,
                                    uint64_t *idx);
ff_status ff_sigma_rsqrt_index(ff_ctx *ctx, int mant, size_t R, const uint64_t *ehat, const uint64_t *mhat,
                               uint64_t *idx);

/* The rsqrt table of m = mant mantissa bits (2^(m+6) entries mod 2^bw, built on the host; a CUDA party
 * uploads it): entry 2^m k + mt (k <= bw - 3) is round(2^(2 scale) sqrt(d / v)), v the middle of the
 * integers V with msnzb k and mantissa mt ((2^m + mt) 2^(k-m) + (2^(k-m) - 1) / 2 for k > m, exact
 * below); entries with k > bw - 3 (only reached by V = 0) are 0. SIGMA's: m = 7, 2^13 entries. */
void ff_sigma_rsqrt_table(int bw, int scale, size_t d, int mant, uint64_t *tab);

/* ---- Gates ------------------------------------------------------------------------------------------
 * x: ndim >= 1, normalised over the last dimension d = shape[ndim-1] >= 2, bw = op's ring bits,
 * 20 <= bw <= 51 (every rsqrt width); gamma, beta: (d) wires of the same width. y: x's shape and width,
 * scale s. The _ex variants take options (NULL: the plain gates). */
ff_status ff_op_layernorm(ff_op *op, const ff_wire *x, const ff_wire *gamma, const ff_wire *beta, ff_wire *y);
ff_status ff_op_rmsnorm(ff_op *op, const ff_wire *x, const ff_wire *gamma, ff_wire *y);
ff_status ff_op_layernorm_ex(ff_op *op, const ff_wire *x, const ff_wire *gamma, const ff_wire *beta, ff_wire *y,
                             const ff_sigma_norm_opts *opts);
ff_status ff_op_rmsnorm_ex(ff_op *op, const ff_wire *x, const ff_wire *gamma, ff_wire *y,
                           const ff_sigma_norm_opts *opts);

/* The cleartext fixed-point emulation of exactly the steps above (beta NULL and rms = 1 for RMSNorm):
 * y (R, d) mod 2^bw. _ex: with options; FF_EINVAL for bad ones, FF_ENOMEM. */
void ff_sigma_layernorm_emulate(int bw, int scale, size_t R, size_t d, int rms, const uint64_t *x,
                                const uint64_t *gamma, const uint64_t *beta, uint64_t *y);
ff_status ff_sigma_layernorm_emulate_ex(int bw, int scale, size_t R, size_t d, int rms, const ff_sigma_norm_opts *opts,
                                        const uint64_t *x, const uint64_t *gamma, const uint64_t *beta, uint64_t *y);

/* Exact per-party costs (both parties pay the same), the sum of the steps as run, N = R d:
 *   mean   TrFloor(R; bw, log2 d or s)
 *   square 16 N key B; R bw bits; 1 round
 *   rsqrt  DCF(bw) + L R / 8 + 8 (2 (L+1) + 3) R + TrWithSlack(R; bw, L-m, b) + LUT_b(R, bw) key B;
 *          L R + (bw + b) R + (1 + b) R + (1 + 2 bw) R bits; 7 rounds (ff_sigma_rsqrt_cost; b = 13,
 *          m = 7 unless the options say otherwise); the (bw + b)-bit message takes ceil(R (bw + b) / 8) B
 *   wmul   16 N + 8 R (rsq) / 8 d (gamma) key B + TrWithSlack(N; bw, s, bw); N (2 bw + 1) bits; 3 rounds
 * At bw 50, s 12: 321.5 B/elem plus 2968.375 B per row (mean 676.75, rsqrt 2283.625, r_rsq 8) and
 * 8 d, i.e. 325.43 B/elem at d 768, R 128; 202 bits/elem plus 365 per row (202.475 at d 768);
 * 18 rounds (RMSNorm: 14). Bytes: each message rounded up to whole bytes. _ex: with options (c zeroed and
 * FF_EINVAL, logged, for bad ones). */
void ff_sigma_rsqrt_cost(size_t R, int bw, ff_gate_cost *c);
void ff_sigma_layernorm_cost(size_t R, size_t d, int bw, int scale, ff_gate_cost *c);
void ff_sigma_rmsnorm_cost(size_t R, size_t d, int bw, int scale, ff_gate_cost *c);
ff_status ff_sigma_rsqrt_cost_ex(size_t R, int bw, const ff_sigma_norm_opts *opts, ff_gate_cost *c);
ff_status ff_sigma_layernorm_cost_ex(size_t R, size_t d, int bw, int scale, const ff_sigma_norm_opts *opts,
                                     ff_gate_cost *c);
ff_status ff_sigma_rmsnorm_cost_ex(size_t R, size_t d, int bw, int scale, const ff_sigma_norm_opts *opts,
                                   ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
