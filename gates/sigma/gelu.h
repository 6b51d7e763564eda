/* SIGMA's GELU and SiLU, "ReLU minus a clipped-|x| lookup table" (GPU-MPC fss/gpu_gelu.cu;
 * research/sigma.md §4 "GELU per element", §3 LUT tables, §10). Scopes Activation::GELU and
 * Activation::SiLU. CPU reference here, CUDA twins in sigma_act_cuda.cu. Tests: tests/test_sigma_gelu.c,
 * tests/test_sigma_cuda.c (CUDA parties against CPU parties).
 *
 * On a wire x of bw bits at `scale` fractional bits, with clip bits k (GELU 8, SiLU 10), c = 2^k - 1,
 * s = scale - 6 and bt = bw - 2 scale + 7 (33 at bw 50, scale 12), each element goes through:
 *  1. TrWithSlack (truncate.h): xt = floor(x / 2^s) mod 2^bt, 6 fractional bits.   2 rounds, 1 + bt bits.
 *  2. One comparison key DCF(bt-1) at alpha = r_xt mod 2^(bt-1), evaluated at the 3 points x^t,
 *     x^t - c, x^t + c (mod 2^(bt-1)): with msb(v) = msb(v^) ^ msb(r) ^ [v^_l < r_l] (relu.h),
 *       d  = DReLU(xt)                     = 1 ^ msb(xt),
 *       ic = DReLU(xt + c) ^ DReLU(xt - c) = 1{-c <= xt < c}   (msb(r) cancels),
 *     masked by the dealer's bits m_d, m_ic; the key holds DCF(bt-1), shares of msb(r) ^ m_d and of
 *     m_ic (N/8 B each). Both bits in one reconstruct (2 bits):                     1 round.
 *  3. The 4-way mux (SIGMA's keyGenGeluMux): with j = 2 ic + d and linear pieces
 *     L0 = {c, c, 0, 0}, L1 = {0, 0, -1, 1}, the key holds shares mod 2^k of
 *     c0[j ^ (2 m_ic + m_d)] = L0[j] - L1[j] r_xt + r_clip and c1[...] = L1[j] (two 4-entry tables
 *     of k-bit entries stored in 1 byte for k <= 8, 2 bytes up to 16: 8 B for GELU, 16 B for SiLU);
 *     clip^ = c1[2 ic^ + d^] x^t + c0[...] = min(|xt|, c) + r_clip, reconstructed in k bits.  1 round.
 *  4. LUT_k (gates/fss/lut.h) of T[i] = (ReLU - f)(i / 64) at `scale` fractional bits (an even
 *     correction: f(x) = ReLU(x) - T[min(|xt|, c)]), output mod 2^bw not reconstructed. 2 rounds.
 *  5. ReLU(x) = select(d^, x^) (gates/fss/select.h, 40 B), not reconstructed; the parties reconstruct
 *     ReLU - LUT in bw bits; the output mask is r_relu - r_lut.                       1 round.
 * Total 7 rounds and 1 + bt + 2 + k + 1 + bw + bw bits (145 at bw 50 for GELU).
 * Domain: |x| < 2^(bw - scale - 1) (SIGMA's slack assumption, sigma.md §2); then every step is exact
 * and y = ReLU(x) - T[min(|floor(x / 2^s)|, c)] mod 2^bw (the fixed-point emulation the test uses).
 * Requires 7 <= scale, bt >= 9 and k <= bt - 2. */
#ifndef FF_GATES_SIGMA_GELU_H
#define FF_GATES_SIGMA_GELU_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  FF_SIGMA_GELU = 0, /* x Phi(x) = x (1 + erf(x / sqrt 2)) / 2; 8-bit clip (|x| < 255/64) */
  FF_SIGMA_SILU = 1, /* x / (1 + exp(-x)); 10-bit clip (|x| < 1023/64) */
  FF_SIGMA_GELU_TANH = 2, /* GPT-2's gelu_new: x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2; as GELU (8-bit
                             clip, the same keys and costs), only the parties' public table differs */
} ff_sigma_act;

/* The real function f(x) of an activation (0 for an unknown one). */
double ff_sigma_act_real(ff_sigma_act a, double x);

/* Clip (and LUT input) bits: 8 for GELU, 10 for SiLU; 0 for an unknown activation. */
int ff_sigma_act_clip_bits(ff_sigma_act a);
/* The width of the truncated ring: bw - 2 scale + 7. */
int ff_sigma_act_trunc_bits(int bw, int scale);

/* SIGMA's genLUT(k, 6, scale) (reluSubGelu / reluSubSilu): tab[i] = (u64)((max(0, x) - f(x)) 2^scale),
 * x = i / 64, for i < 2^k, mod 2^bw (entries are >= 0, so the cast truncates toward 0 = floor). */
ff_status ff_sigma_act_table(ff_sigma_act a, int scale, int bw, uint64_t *tab);

/* ---- Kernels (twins as in truncate.h: _cpu host pointers, _cuda device pointers on ctx->stream, the
 * plain name dispatches on ctx->backend). bt: the truncated ring; clip = 2^k - 1. */
/* The 3 comparison points per element, pts (3, N): x^t, x^t - clip, x^t + clip, each mod 2^(bt-1). */
ff_status ff_sigma_gelu_points_cpu(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat, uint64_t *pts);
ff_status ff_sigma_gelu_points_cuda(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat, uint64_t *pts);
ff_status ff_sigma_gelu_points(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat, uint64_t *pts);
/* The shares of d^ and ic^ (out (2, N), 0/1) from the comparison shares cmp (3, N) and the key's
 * mask shares md, mic (N each, 0/1), plus party 1's public part:
 *   d  = cmp0 ^ md  ^ [p1] (1 ^ msb(x^t)),  ic = cmp1 ^ cmp2 ^ mic ^ [p1] (msb(x^t - clip) ^ msb(x^t + clip)). */
ff_status ff_sigma_gelu_bits_cpu(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                                 const uint64_t *cmp, const uint64_t *md, const uint64_t *mic, uint64_t *out);
ff_status ff_sigma_gelu_bits_cuda(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                                  const uint64_t *cmp, const uint64_t *md, const uint64_t *mic, uint64_t *out);
ff_status ff_sigma_gelu_bits(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                             const uint64_t *cmp, const uint64_t *md, const uint64_t *mic, uint64_t *out);
/* The mux: out[i] = c1[4i + j] x^t[i] + c0[4i + j] mod 2^k, j = 2 ic^[i] + d^[i]; c0, c1 (N, 4). */
ff_status ff_sigma_gelu_mux_cpu(ff_ctx *ctx, int k, size_t N, const uint64_t *dhat, const uint64_t *ichat,
                                const uint64_t *xthat, const uint64_t *c0, const uint64_t *c1, uint64_t *out);
ff_status ff_sigma_gelu_mux_cuda(ff_ctx *ctx, int k, size_t N, const uint64_t *dhat, const uint64_t *ichat,
                                 const uint64_t *xthat, const uint64_t *c0, const uint64_t *c1, uint64_t *out);
ff_status ff_sigma_gelu_mux(ff_ctx *ctx, int k, size_t N, const uint64_t *dhat, const uint64_t *ichat,
                            const uint64_t *xthat, const uint64_t *c0, const uint64_t *c1, uint64_t *out);
/* relu[i] = relu[i] - lut[i] mod 2^bw (in place). */
ff_status ff_sigma_gelu_final_cpu(ff_ctx *ctx, int bw, size_t N, uint64_t *relu, const uint64_t *lut);
ff_status ff_sigma_gelu_final_cuda(ff_ctx *ctx, int bw, size_t N, uint64_t *relu, const uint64_t *lut);
ff_status ff_sigma_gelu_final(ff_ctx *ctx, int bw, size_t N, uint64_t *relu, const uint64_t *lut);

/* Dealer (a GPU dealer's device path, gates/sigma/op_internal.h; the host path calls the _cpu twin):
 * SIGMA's mux tables (keyGenGeluMuxKernel) c01 (2, N, 4) from the truncated input's masks r_t, the output
 * mask bits md, mic (0/1) and r_clip, for m = 2 mic[i] + md[i]:
 *   c0[4i + (j ^ m)] = L0[j] - L1[j] r_t[i] + r_clip[i] mod 2^k,  c1[4i + (j ^ m)] = L1[j],
 *   L0 = (2^k - 1, 2^k - 1, 0, 0), L1 = (0, 0, 2^k - 1, 1). */
ff_status ff_sigma_gelu_deal_mux_cpu(ff_ctx *ctx, int k, size_t N, const uint64_t *rt, const uint64_t *md,
                                     const uint64_t *mic, const uint64_t *rclip, uint64_t *c01);
ff_status ff_sigma_gelu_deal_mux_cuda(ff_ctx *ctx, int k, size_t N, const uint64_t *rt, const uint64_t *md,
                                      const uint64_t *mic, const uint64_t *rclip, uint64_t *c01);

/* ---- Gates -------------------------------------------------------------------------------------------
 * y = f(x) on the op's scale, bw = x->bw bits (see above for the domain). y is allocated. A CUDA party
 * keeps every wire-sized buffer and key on the device (op.h "What runs where"); the LUT key is
 * deserialized on the host (its serialized tR layout differs from its memory layout) and copied up. */
ff_status ff_op_act(ff_op *op, ff_sigma_act a, const ff_wire *x, ff_wire *y);
ff_status ff_op_gelu(ff_op *op, const ff_wire *x, ff_wire *y);
ff_status ff_op_silu(ff_op *op, const ff_wire *x, ff_wire *y);
ff_status ff_op_gelu_tanh(ff_op *op, const ff_wire *x, ff_wire *y); /* scope Activation::GELU */

/* The cleartext fixed-point emulation of exactly the steps above (the domain above): y[i] =
 * ReLU(x) - T[min(|floor(x / 2^(scale-6))|, 2^k - 1)] mod 2^bw, T = ff_sigma_act_table. */
ff_status ff_sigma_act_emulate(ff_sigma_act a, int bw, int scale, size_t N, const uint64_t *x, uint64_t *y);

/* Exact per-party cost for N elements (both parties alike), bt = bw - 2 scale + 7, k clip bits:
 *   key  TrWithSlack(s = scale - 6, bw -> bt) + DCF(bt-1) + 2 N/8 + 8 N sizeof(clip entry)
 *        + LUT(k -> bw, not revealed) + 40 N
 *   bits N (1 + bt + 2 + k + 1 + bw + bw), 7 rounds.
 * GELU, bw 50: 32.125 + 435.125 + 0.25 + 8 + 92.125 + 40 = 607.625 B (sigma.md says 611.6), 145 bits.
 * Fractional bytes are rounded up once per batch (exact for N a multiple of 8). */
void ff_sigma_act_cost(size_t N, ff_sigma_act a, int bw, int scale, ff_gate_cost *c);
void ff_sigma_gelu_cost(size_t N, int bw, int scale, ff_gate_cost *c);
void ff_sigma_silu_cost(size_t N, int bw, int scale, ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
