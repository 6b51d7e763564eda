/* The suf gate (DESIGN.md §4; research/suf_spec.md, suf.md §4.2-§4.5): one packed comparison and one
 * interval lookup per element, then a local final step and one reconstruct, for any compiled
 * specification (gates/suf/spec.h): GELU, SiLU and nExp. Same op API, roles and key stream as the
 * sigma suite (gates/sigma/op.h). CPU reference here (suf.c), CUDA twins in suf_cuda.cu.
 * Tests: tests/test_suf.c, tests/test_suf_cuda.c.
 *
 * Per element, on the public masked input x^ = x + r mod 2^bw_in (spec fields in brackets):
 *  R1 FSS::PackedCompare. ONE DPF comparison key at rho = r mod 2^e answers every threshold
 *     (suf.md §4.2): with v^ = x^ + [off] mod 2^e = v + rho,
 *       1[v < beta] = A ^ B ^ P,  A = 1[(v^ - beta) mod 2^e < rho],  B = 1[v^ < rho],  P = 1[v^ < beta],
 *     P public, so the key is walked at the n_thr + 1 points v^, v^ - [thr[t]]. The helper bits (d =
 *     [x >= 0], omega = the window) are XORs of those comparisons (B cancels in pairs). The bucket
 *     carry c = 1[a^ mod 2^s < r mod 2^s] of a^ = x^ - [w_lo] comes from an s-bit comparison key (a
 *     truth table for s <= 7). Each helper is masked by a dealer bit rho_h and all are opened in one
 *     exchange of n_help bits.
 *  R2 FSS::IntervalLookup, the index. idx^ = (a^ >> s) - c + delta mod 2^kl with c = c^ + (1 - 2c^) rho_c
 *     (arithmetic shares of rho_c) and delta = r_idx - (r >> s): so idx^ = idx + r_idx for idx =
 *     ((x - w_lo) mod 2^bw_in) >> s, the bucket of x, under a FRESH mask r_idx. (suf.md §4.3 opens
 *     (a^ >> s) - c with mask r >> s; that value reveals c, i.e. whether a^ mod 2^s < r mod 2^s, a leak
 *     on the low bits of x, which the fresh mask removes for one extra key word.) Opened: kl bits.
 *  R3 FSS::IntervalLookup, the lookup. SIGMA's DPF-LUT (gates/fss/lut.h) at r_idx against the public,
 *     unrotated table, resident once per device: shares of u^ = u ^ r_u and V^ = s T[idx] + r_v, s = 2u - 1,
 *     opened TOGETHER in one message (1 + bw bits; SIGMA's LUT spends two rounds on them).
 *  R4 The final step, a polynomial in the public d^, omega^, u^, V^, x^ with dealer monomials (no
 *     interaction): y = d x + omega T[idx] + r_out, where T = (2u^ - 1) sigma (V^ - r_v), sigma = 1 - 2 r_u,
 *     omega = omega^ + (1 - 2 omega^) rho_omega, d = d^ + (1 - 2 d^) rho_d, x = x^ - r:
 *       words r, rho_d, rho_d r (base ReLU only), sigma, sigma r_v, rho_omega sigma, rho_omega sigma r_v, r_out.
 *     Opened: bw bits. 4 rounds, n_help + kl + 1 + 2 bw bits per party (112 for GELU at bw 50, k 8).
 * Key per party and element (ff_suf_cost): DPF(e) 16(e-7) + 32 + (e-7)/8 | n_help/8 mask bits | the carry
 * key (2^s/8 B for s <= 7) | 2 words of ceil(kl/8) B | the LUT's DPF 16(kl-5) + (kl-7)/8 and u mask 1/8
 * (tR packed, not SIGMA's u32) | r_v and the final words, ceil(bw/8) B each (9 for GELU/SiLU, 6 for nExp).
 * GELU, bw 50, e 38, k 8: 531.875 + 0.375 + 16 + 2 + 48.25 + 63 = 661.5 B. The shape depends on the specification only, never
 * on a mask (tests/test_suf.c serialises keys for many masks). */
#ifndef FF_GATES_SUF_SUF_H
#define FF_GATES_SUF_SUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/layernorm.h"
#include "gates/sigma/op.h"
#include "gates/sigma/softmax.h"
#include "gates/suf/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Kernels (twins: _cpu host pointers; _cuda device pointers on ctx->stream (suf_cuda.cu, FF_ENOTSUP
 * without CUDA); the plain name dispatches on ctx->backend). sp is a host pointer in every twin. ---- */
/* pts (n_thr + 1 + [s > 0], N): row 0 v^ = x^ + off mod 2^e, row 1 + t v^ - thr[t] mod 2^e, and when
 * s > 0 a last row a^ mod 2^s = x^ - w_lo mod 2^s (the carry point). */
ff_status ff_suf_points_cpu(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, uint64_t *pts);
ff_status ff_suf_points_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, uint64_t *pts);
ff_status ff_suf_points(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, uint64_t *pts);
/* out (n_help, N): this party's XOR shares of the masked helpers h ^ rho_h, from cmp (n_thr + 1 + [s > 0],
 * N) the comparison shares at the points above (0/1: row 0 is B, the last row the carry) and masks
 * (n_help, N) the shares of rho_h (0/1); party 0 adds the public P terms and constants. */
ff_status ff_suf_helpers_cpu(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *cmp,
                             const uint64_t *masks, uint64_t *out);
ff_status ff_suf_helpers_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *cmp,
                              const uint64_t *masks, uint64_t *out);
ff_status ff_suf_helpers(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *cmp,
                         const uint64_t *masks, uint64_t *out);
/* idx (N): this party's share mod 2^kl of idx^ = [p0] ((a^ >> s) - c^) - (1 - 2 c^) rho_c + delta, from
 * chat (N) the opened carry (ignored when s = 0) and words (2, N) the shares of rho_c and delta. */
ff_status ff_suf_index_cpu(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *chat,
                           const uint64_t *words, uint64_t *idx);
ff_status ff_suf_index_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *chat,
                            const uint64_t *words, uint64_t *idx);
ff_status ff_suf_index(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *chat,
                       const uint64_t *words, uint64_t *idx);
/* y (N): this party's share of y + r_out (R4 above) from the opened helpers hhat (n_help, N), uhat and
 * vhat (N each) and words (ff_suf_final_words(sp), N). */
ff_status ff_suf_final_cpu(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *hhat,
                           const uint64_t *uhat, const uint64_t *vhat, const uint64_t *words, uint64_t *y);
ff_status ff_suf_final_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *hhat,
                            const uint64_t *uhat, const uint64_t *vhat, const uint64_t *words, uint64_t *y);
ff_status ff_suf_final(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *hhat,
                       const uint64_t *uhat, const uint64_t *vhat, const uint64_t *words, uint64_t *y);
/* Words of the final step per element: 8 with a ReLU base, 5 without. */
int ff_suf_final_words(const ff_suf_spec *sp);
/* The specification's table in ctx's memory: sp->tab on the CPU; on CUDA a device copy made at the
 * first call per (specification, device) and kept for the process (the template cache's device side). */
ff_status ff_suf_table(ff_ctx *ctx, const ff_suf_spec *sp, const uint64_t **tab);
ff_status ff_suf_table_cuda(ff_ctx *ctx, const ff_suf_spec *sp, const uint64_t **tab);

/* ---- The gate --------------------------------------------------------------------------------------------
 * y = the specification's function of x (x->bw == sp->bw_in; y gets sp->bw bits, x's shape), in the three
 * roles of the op API; the caller opens the gate's scope (the wrappers below do). Tag FF__SG_SUF. */
ff_status ff_op_suf(ff_op *op, const ff_suf_spec *sp, const ff_wire *x, ff_wire *y);
/* Scope Activation::GELU / Activation::SiLU; the specification from the knobs (K, e) at the op's bw/scale:
 * the dense gate above, or the sparse regime's (ff_op_suf_sparse, sparse.h) when ff_suf_config_sparse. */
ff_status ff_op_suf_gelu(ff_op *op, const ff_suf_config *cfg, const ff_wire *x, ff_wire *y);
ff_status ff_op_suf_silu(ff_op *op, const ff_suf_config *cfg, const ff_wire *x, ff_wire *y);
/* nExp on x1 = max - x >= 0 (x1->bw bits, softmax's ring), output at the op's bw; no scope of its own
 * (softmax opens Softmax::nExp). */
ff_status ff_op_suf_nexp(ff_op *op, const ff_suf_config *cfg, const ff_wire *x1, ff_wire *y);
/* What ff_op_suf_gelu / _silu output, in the clear (dense or sparse as the knobs say): N inputs of bw bits. */
ff_status ff_suf_act_emulate(ff_suf_fn fn, const ff_suf_config *cfg, int bw, int scale, size_t N, const uint64_t *x,
                             uint64_t *y);
/* The specifications the knobs select (NULL, logged, when they do not fit). */
const ff_suf_spec *ff_suf_spec_for(ff_suf_fn fn, const ff_suf_config *cfg, int bw_in, int bw, int scale);

/* ---- The pipelines ------------------------------------------------------------------------------------------
 * The suf suite runs sigma's softmax and LayerNorm/RMSNorm pipelines (DESIGN.md §4) with its own pieces: these
 * fill sigma's option structs from the knobs. Softmax (cfg->softmax): nExp is ff_op_suf_nexp (its cost and
 * emulation hooks too) and the reciprocal's table has SUF_INV_BITS input bits (0: ceil(log2 L) + 6, SIGMA's
 * width); LayerNorm (cfg->layernorm): the rsqrt table has SUF_RSQRT_BITS bits (13: SIGMA's). A switch that is
 * off gives zeroed options (sigma's pipeline). cfg is borrowed by the hooks: keep it alive while the options
 * are used. */
void ff_suf_softmax_opts(const ff_suf_config *cfg, ff_sigma_softmax_opts *o);
void ff_suf_norm_opts(const ff_suf_config *cfg, ff_sigma_norm_opts *o);

/* Exact per-party cost of N elements (both parties alike): the key above; bits n_help + kl + 1 + 2 bw per
 * element in 4 messages (the third carries u^ and V^ together: ceil(N/8) + ceil(N bw / 8) bytes); 4 rounds. */
void ff_suf_cost(const ff_suf_spec *sp, size_t N, ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
