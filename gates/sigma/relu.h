/* SIGMA's DReLU and ReLU (GPU-MPC fss/gpu_relu.cu; research/sigma.md §4 rows "DReLU/ReLU" and
 * "Select"): DReLU(x) = 1{x >= 0} on a bin-bit masked input from one comparison DCF(bin-1) and the
 * public MSB of x^, revealed as a masked bit (1 bit, 1 round); ReLU(x) = select(DReLU(x), x) with
 * gates/fss/select.h's 5-element key, revealed in b_out bits (1 more round). Exact for every input.
 * Scopes Activation::DReLU, Activation::ReLU. CUDA twins of the kernels in sigma_cuda.cu.
 * Test: tests/test_sigma_gates.c, tests/test_sigma_cuda.c.
 *
 * With n = bin-1, x^ = x + r mod 2^bin and the low parts x^_l = x^ mod 2^n, r_l = r mod 2^n,
 *   msb(x) = msb(x^) ^ msb(r) ^ [x^_l < r_l]
 * (the borrow out of the low n bits), so the parties' XOR shares of DReLU(x) ^ m are their DCF(n)
 * shares of [x^_l < r_l] at alpha = r_l, XOR shares of msb(r) ^ m from the key, and, at party 1,
 * 1 ^ msb(x^). The dealer's output mask m becomes the 1-bit wire's mask. */
#ifndef FF_GATES_SIGMA_RELU_H
#define FF_GATES_SIGMA_RELU_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Kernels: _cpu (host pointers), _cuda (device pointers on ctx->stream; sigma_cuda.cu), and the
 * dispatcher on ctx->backend, as in truncate.h ---------------------------------------------------------- */
/* pts[i] = x^[i] mod 2^(bin-1). */
ff_status ff_sigma_drelu_points_cpu(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *pts);
ff_status ff_sigma_drelu_points_cuda(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *pts);
ff_status ff_sigma_drelu_points(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *pts);
/* share[i] ^= [party 1] (1 ^ msb_bin(x^[i])): the public part of the DReLU share (in place). */
ff_status ff_sigma_drelu_local_cpu(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *share);
ff_status ff_sigma_drelu_local_cuda(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *share);
ff_status ff_sigma_drelu_local(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *share);

/* ---- Gates ---------------------------------------------------------------------------------------------
 * DReLU: y is a 1-bit wire (XOR-masked) of x's shape; bin = x->bw >= 2.
 * ReLU: y = max(x, 0) mod 2^b_out, 1 <= b_out <= bin (the select works on x^ mod 2^b_out). */
ff_status ff_op_drelu(ff_op *op, const ff_wire *x, ff_wire *y);
ff_status ff_op_relu(ff_op *op, const ff_wire *x, int b_out, ff_wire *y);

/* Exact per-party costs for N elements:
 *   DReLU(bin): DCF(bin-1) + N/8 B; N bits; 1 round.
 *   ReLU(bin, b_out): DCF(bin-1) + N/8 + 40N B; N (1 + b_out) bits; 2 rounds (sigma.md §4). */
void ff_sigma_drelu_cost(size_t N, int bin, ff_gate_cost *c);
void ff_sigma_relu_cost(size_t N, int bin, int b_out, ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
