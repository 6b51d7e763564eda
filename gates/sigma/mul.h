/* SIGMA's elementwise multiplication of two masked wires (GPU-MPC fss/gpu_mul.cu; research/sigma.md
 * §4 row "Elementwise mul"): the Beaver form on masked values, then TrFloor by the op's scale.
 * Scope Mul (SIGMA counts it in no category), its truncation in Mul/TruncRescale.
 * Test: tests/test_sigma_gates.c, tests/test_sigma_cuda.c.
 *
 * With x^ = x + r_x, y^ = y + r_y:  x y = x^ y^ - x^ r_y - y^ r_x + r_x r_y, so a key of 3 ring
 * elements (shares of r_x, r_y and r_x r_y + r_z) gives each party an additive share of x y + r_z
 * without interaction; one reconstruct (bw bits) makes it public and TrFloor rescales it. */
#ifndef FF_GATES_SIGMA_MUL_H
#define FF_GATES_SIGMA_MUL_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Party ctx->party's share of x y + r_z mod 2^bw: out = [party 1] x^ y^ - x^ b - y^ a + c, with
 * key (3, N) = a | b | c (shares of r_x, r_y, r_x r_y + r_z). _cpu: host pointers; _cuda: device
 * pointers on ctx->stream (sigma_cuda.cu); the plain name dispatches on ctx->backend. */
ff_status ff_sigma_mul_local_cpu(ff_ctx *ctx, int bw, size_t N, const uint64_t *xhat, const uint64_t *yhat,
                                 const uint64_t *key, uint64_t *out);
ff_status ff_sigma_mul_local_cuda(ff_ctx *ctx, int bw, size_t N, const uint64_t *xhat, const uint64_t *yhat,
                                  const uint64_t *key, uint64_t *out);
ff_status ff_sigma_mul_local(ff_ctx *ctx, int bw, size_t N, const uint64_t *xhat, const uint64_t *yhat,
                             const uint64_t *key, uint64_t *out);

/* z = floor(x y / 2^scale) on signed values mod 2^bw (x, y of the same shape and width). */
ff_status ff_op_mul(ff_op *op, const ff_wire *x, const ff_wire *y, ff_wire *z);

/* Per party for N elements: 24N + TrFloor(bw, scale) key bytes (700.75 B/elem at bw 50, scale 12);
 * bw + 90 bits (140); 1 + 4 = 5 rounds. */
void ff_sigma_mul_cost(size_t N, int bw, int scale, ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
