/* SIGMA's rotary position embedding on masked wires (research/sigma.md §4 "Attention"; GPU-MPC
 * fss/gpu_mha.cu, rotEmbKernel / gpuRotEmb): a public fixed-point linear map, then one TrWithSlack.
 * CPU reference in rotary.c, CUDA twin of the map in rotary_cuda.cu. Tests: tests/test_sigma_rotary.c,
 * tests/test_sigma_cuda_rotary.c (CUDA party against CPU party).
 *
 * The map (SIGMA's, the "rotate_half" form of Llama / Hugging Face, NOT interleaved pairs): a wire of
 * shape (..., T, d) holds rows of head dimension d (even) at positions t = 0..T-1 (the row index in
 * the second-to-last dimension); with h = d/2, k = j mod h, theta = t / 10000^(2k/d) and the public
 * table c_k(t) = tz(cos(theta) 2^f), s_k(t) = tz(sin(theta) 2^f) (tz: truncation toward zero; the
 * value 2^f itself, cos at t = 0, becomes 2^f - 1, as in SIGMA), f = scale - 3 fractional bits (9 at
 * scale 12):
 *   u_j = c_k x_j - s_k x_{j+h}   (j < h),      u_j = c_k x_j + s_k x_{j-h}   (j >= h),  mod 2^bw,
 *   y = TrWithSlack(u, shift f, bw -> bw) = floor(u / 2^f)   (needs -2^(bw-2) <= u < 2^(bw-2)).
 * The map is linear and public, so each party applies it to x^ and the dealer to the mask r: no key,
 * no message. SIGMA computes the angle in float with __powf / __sincosf; here it is double precision
 * (pow, sin, cos), so a table entry may differ from SIGMA's by one unit in rare cases.
 * Q and K are rotated by two separate calls (SIGMA's "two TrWithSlack, shift 9": one per tensor).
 *
 * Scope "Rotary", registered in family "Linear" (SIGMA counts its traffic as linear_comm_bytes); the
 * truncation nests as TruncRescale. Tag gate id FF__SG_ROTARY (op_internal.h). */
#ifndef FF_GATES_SIGMA_ROTARY_H
#define FF_GATES_SIGMA_ROTARY_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fractional bits of the cos/sin table: scale - 3 (SIGMA's uLim = 2^(scale-3)). */
static inline int ff_sigma_rotary_frac_bits(int scale) { return scale - 3; }

/* The public table, T rows of d/2 entries each: cs[t*(d/2) + k] = c_k(t), sn[...] = s_k(t) as signed
 * integers in [-2^f, 2^f). FF_EINVAL for T < 1, d < 2 odd, or f outside 1..30. */
ff_status ff_sigma_rotary_table(int T, int d, int f, int64_t *cs, int64_t *sn);
/* The same with another base of the angle (theta = t / base^(2k/d); Hugging Face's rope_theta): an integer
 * in 2..FF_SIGMA_ROTARY_BASE_MAX (every published rope_theta is one: 10000, 500000, 1e6), so that it is
 * one exact 32-bit word in the tag and in a table cache's key. The plain function is base 10000, SIGMA's. */
#define FF_SIGMA_ROTARY_BASE 10000.0
#define FF_SIGMA_ROTARY_BASE_MAX 4294967295.0
ff_status ff_sigma_rotary_table_ex(int T, int d, int f, double base, int64_t *cs, int64_t *sn);
/* 1 when base is an integer in 2..FF_SIGMA_ROTARY_BASE_MAX. */
int ff_sigma_rotary_base_ok(double base);

/* ---- Kernels: u = the map above on rows rows of d values (row r at position r mod T), mod 2^bw.
 * x and u: rows*d values, must not alias. _cuda: x, u, cs, sn in device memory, on ctx->stream. ------ */
ff_status ff_sigma_rotary_apply_cpu(ff_ctx *ctx, int bw, size_t rows, int T, int d, const int64_t *cs,
                                    const int64_t *sn, const uint64_t *x, uint64_t *u);
ff_status ff_sigma_rotary_apply_cuda(ff_ctx *ctx, int bw, size_t rows, int T, int d, const int64_t *cs,
                                     const int64_t *sn, const uint64_t *x, uint64_t *u);
ff_status ff_sigma_rotary_apply(ff_ctx *ctx, int bw, size_t rows, int T, int d, const int64_t *cs,
                                const int64_t *sn, const uint64_t *x, uint64_t *u);

/* ---- Gate (scope Rotary) --------------------------------------------------------------------------------
 * y = rotary(x) as above, same shape and width; x has ndim >= 2, shape[-1] = d even, shape[-2] = T.
 * Needs 4 <= scale (f >= 1), f <= bw - 2, f <= 30. y is allocated. A CUDA party computes the table on
 * the host (ff_sigma_rotary_table, as the CPU party and the dealer) and uploads it. */
ff_status ff_op_rotary(ff_op *op, const ff_wire *x, ff_wire *y);
/* With the angle's base (ff_sigma_rotary_table_ex); the same keys and costs, only the public table differs.
 * The tag carries a base other than 10000 (d[1] bits 32..63), so parties with different bases are refused. */
ff_status ff_op_rotary_ex(ff_op *op, const ff_wire *x, double base, ff_wire *y);

/* Exact per-party cost of one call on N elements: one TrWithSlack(shift scale-3, bw -> bw):
 * key DCF(f) + N/8 + 24N bytes, 1 + bw bits per element, 2 rounds. At scale 12 (f = 9):
 * DCF(9) = 16*2 + 32 + 2/8 = 64.25 B, so 88.375 B/elem; bw 50: 51 bits/elem; bw 48: 49 bits/elem.
 * Both parties pay the same. */
void ff_sigma_rotary_cost(size_t N, int bw, int scale, ff_gate_cost c[2]);

#ifdef __cplusplus
}
#endif

#endif
