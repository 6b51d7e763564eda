/* SIGMA's matrix product of two masked wires (GPU-MPC fss/gpu_matmul.cu; research/sigma.md §4 row
 * "Matmul / FC"): the masked Beaver product, one reconstruct of C, then TrFloor by the op's scale.
 * Scope Linear, its truncation in Linear/TruncRescale. The local products are gates/gemm's ring GEMMs
 * (CPU, or on CUDA its SIMT / int8 tensor-core algorithms through the _cuda twin in sigma_cuda.cu).
 * Test: tests/test_sigma_gates.c, tests/test_sigma_cuda.c.
 *
 * With X^ = X + R_X (M, K) and W^ = W + R_W (K, N):
 *   X W = X^ W^ - X^ R_W - R_X W^ + R_X R_W,
 * so a key holding shares of R_X (|A| = MK), R_W (|B| = KN) and R_X R_W + R_C (|C| = MN), 8 B each,
 * gives each party a share of X W + R_C with two GEMMs: X^ ([p1] W^ - R_W) - R_X W^ + (...). */
#ifndef FF_GATES_SIGMA_MATMUL_H
#define FF_GATES_SIGMA_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Party ctx->party's share of X W + R_C mod 2^bw: out (M, N) = X^ ([p1] W^ - b) - a W^ + c, where
 * a (M, K), b (K, N), c (M, N) are its key shares. _cpu: host pointers; _cuda: device pointers on
 * ctx->stream (its two temporaries allocated and freed in stream order); the plain name dispatches. */
ff_status ff_sigma_matmul_local_cpu(ff_ctx *ctx, int bw, size_t M, size_t K, size_t N, const uint64_t *xhat,
                                    const uint64_t *what, const uint64_t *a, const uint64_t *b, const uint64_t *c,
                                    uint64_t *out);
ff_status ff_sigma_matmul_local_cuda(ff_ctx *ctx, int bw, size_t M, size_t K, size_t N, const uint64_t *xhat,
                                     const uint64_t *what, const uint64_t *a, const uint64_t *b, const uint64_t *c,
                                     uint64_t *out);
ff_status ff_sigma_matmul_local(ff_ctx *ctx, int bw, size_t M, size_t K, size_t N, const uint64_t *xhat,
                                const uint64_t *what, const uint64_t *a, const uint64_t *b, const uint64_t *c,
                                uint64_t *out);

/* y (M, N) = floor(X W / 2^scale) on signed values mod 2^bw; x is (M, K), w is (K, N), same width. */
ff_status ff_op_matmul(ff_op *op, const ff_wire *x, const ff_wire *w, ff_wire *y);

/* Per party: 8 (MK + KN + MN) + TrFloor(MN) key bytes, i.e. 8(|A| + |B|)/|C| + 8 + 676.75 B per
 * output at bw 50, scale 12; (bw + 90) bits per output (140); 5 rounds. */
void ff_sigma_matmul_cost(size_t M, size_t K, size_t N, int bw, int scale, ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
