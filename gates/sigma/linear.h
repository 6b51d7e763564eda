/* The sigma suite's linear glue between gates, as a model graph needs it (research/sigma.md §4
 * "Attention"; GPU-MPC fss/gpu_add.h, gpu_mha.cu's head split/merge and packLowerTriangularMatrix):
 * additions, public scalings, reshapes and the batched, shift-parameterised, optionally causal masked
 * matmul. The local ops need no key and send nothing: they act the same on the dealer's masks and on
 * the parties' masked values (x^ + y^ = (x + y) + (r_x + r_y)), and in cost-only mode they only
 * shape their outputs. CPU references in linear.c, CUDA twins in linear_cuda.cu (same signatures,
 * device pointers, ctx->stream). Tests: tests/test_sigma_linear.c, tests/test_sigma_cuda_linear.c. */
#ifndef FF_GATES_SIGMA_LINEAR_H
#define FF_GATES_SIGMA_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_SIGMA_PERMUTE_MAX_DIMS 6

/* ---- Kernels (x, y, z: n values mod 2^bw; _cuda: device pointers on ctx->stream) ------------------- */
/* z = x + y. */
ff_status ff_sigma_add_cpu(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, const uint64_t *y, uint64_t *z);
ff_status ff_sigma_add_cuda(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, const uint64_t *y, uint64_t *z);
ff_status ff_sigma_add(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, const uint64_t *y, uint64_t *z);
/* y (R, N) = x (R, N) + b (N) broadcast over the rows. */
ff_status ff_sigma_add_bias_cpu(ff_ctx *ctx, int bw, size_t R, size_t N, const uint64_t *x, const uint64_t *b,
                                uint64_t *y);
ff_status ff_sigma_add_bias_cuda(ff_ctx *ctx, int bw, size_t R, size_t N, const uint64_t *x, const uint64_t *b,
                                 uint64_t *y);
ff_status ff_sigma_add_bias(ff_ctx *ctx, int bw, size_t R, size_t N, const uint64_t *x, const uint64_t *b,
                            uint64_t *y);
/* y = c x (c a public signed integer, taken mod 2^bw). */
ff_status ff_sigma_mul_public_cpu(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, int64_t c, uint64_t *y);
ff_status ff_sigma_mul_public_cuda(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, int64_t c, uint64_t *y);
ff_status ff_sigma_mul_public(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, int64_t c, uint64_t *y);
/* y = x viewed with dims (nd of them, 1 <= nd <= FF_SIGMA_PERMUTE_MAX_DIMS, row-major) and transposed
 * so that y's dimension i is x's dimension perm[i]; x and y must not alias. */
ff_status ff_sigma_permute_cpu(ff_ctx *ctx, int nd, const int64_t *dims, const int *perm, const uint64_t *x,
                               uint64_t *y);
ff_status ff_sigma_permute_cuda(ff_ctx *ctx, int nd, const int64_t *dims, const int *perm, const uint64_t *x,
                                uint64_t *y);
ff_status ff_sigma_permute(ff_ctx *ctx, int nd, const int64_t *dims, const int *perm, const uint64_t *x,
                           uint64_t *y);
/* Internal, shared by linear.c and linear_cuda.cu: a checked permutation as y's dimensions and, per y
 * dimension i, the stride in x of x's dimension perm[i]. FF_EINVAL (logged under fn) for nd outside
 * 1..FF_SIGMA_PERMUTE_MAX_DIMS, a dimension < 1, perm not a permutation of 0..nd-1, or a size that
 * overflows. */
typedef struct {
  int nd;
  int64_t ydims[FF_SIGMA_PERMUTE_MAX_DIMS];
  int64_t xstride[FF_SIGMA_PERMUTE_MAX_DIMS];
  size_t n; /* elements */
} ff__sigma_permute_plan;
ff_status ff__sigma_permute_plan_make(const char *fn, int nd, const int64_t *dims, const int *perm,
                                      ff__sigma_permute_plan *pl);
/* Causal packing of B blocks of (n, n): pack gathers row i's entries 0..i of every block into
 * p (B n(n+1)/2, rows one after another); unpack scatters them back into y (B, n, n) and writes 0
 * above the diagonal. */
ff_status ff_sigma_tril_pack_cpu(ff_ctx *ctx, size_t B, size_t n, const uint64_t *x, uint64_t *p);
ff_status ff_sigma_tril_pack_cuda(ff_ctx *ctx, size_t B, size_t n, const uint64_t *x, uint64_t *p);
ff_status ff_sigma_tril_pack(ff_ctx *ctx, size_t B, size_t n, const uint64_t *x, uint64_t *p);
ff_status ff_sigma_tril_unpack_cpu(ff_ctx *ctx, size_t B, size_t n, const uint64_t *p, uint64_t *y);
ff_status ff_sigma_tril_unpack_cuda(ff_ctx *ctx, size_t B, size_t n, const uint64_t *p, uint64_t *y);
ff_status ff_sigma_tril_unpack(ff_ctx *ctx, size_t B, size_t n, const uint64_t *p, uint64_t *y);

/* ---- Local ops on wires (every role; no key, no traffic, no scope of their own: they are charged to
 * the enclosing scope). Outputs are allocated (y must be a zeroed or freed wire; it may not be an
 * input). FF_EINVAL (logged) for shapes or widths that do not agree. ------------------------------- */
/* z = x + y, same shape and width. */
ff_status ff_op_add(ff_op *op, const ff_wire *x, const ff_wire *y, ff_wire *z);
/* y (..., N) = x + b, b a wire of shape (N) and x's width. */
ff_status ff_op_add_bias(ff_op *op, const ff_wire *x, const ff_wire *b, ff_wire *y);
/* y = c x mod 2^bw for a public integer c (no truncation: follow with ff_op_trfloor to rescale). */
ff_status ff_op_mul_public(ff_op *op, const ff_wire *x, int64_t c, ff_wire *y);
/* y = x viewed as dims[0..nd) (their product must be x->numel) with the dimensions permuted: y has
 * shape (dims[perm[0]], ..., dims[perm[nd-1]]). */
ff_status ff_op_permute(ff_op *op, const ff_wire *x, int nd, const int64_t *dims, const int *perm, ff_wire *y);
/* Splits x's flat data into `parts` equal consecutive blocks: outs[i] (parts of them, all zeroed first)
 * holds block i with shape (ndim, shape), whose product times parts must be x->numel. */
ff_status ff_op_split(ff_op *op, const ff_wire *x, int parts, int ndim, const int64_t *shape, ff_wire *outs);
/* Gives w a new shape with the same number of elements (in place; every role). */
ff_status ff_wire_reshape(ff_wire *w, int ndim, const int64_t *shape);

/* ---- Batched, causal matmul (scope Linear, truncation in Linear/TruncRescale) ---------------------------
 * x (B, M, K) and w (B, K, N) -> y (B, M, N); or x (M, K), w (K, N) -> y (M, N) (B = 1). Every batch
 * is one masked Beaver product as ff_op_matmul (matmul.h); all batches share ONE reconstruct and ONE
 * TrFloor, so the rounds do not grow with B. shift: the TrFloor's shift, 1..bw-1 (ff_op_matmul uses
 * the op's scale; attention folds 1/sqrt(d_h) into it as scale + log2(d_h)/2). causal (M == N): only
 * the lower triangle j <= i of each block is keyed (C share), reconstructed and truncated, packed as
 * ff_sigma_tril_pack; the entries above the diagonal of y are a public 0 (mask 0 and value 0), as
 * SIGMA's cIsLowerTriangular. The local products are still full GEMMs. Key per call (after the tag, gate
 * FF__SG_MATMUL_EX with a = shift, b = causal, d = {B, M, K 2^32 + N}; so K, N < 2^32): the shares of every
 * batch's R_X (B MK u64 words), then of every R_W (B KN), then of R_X R_W + R_C (C words, packed when causal),
 * then the TrFloor's key. ff_op_matmul keeps its own tag and layout (matmul.h). y is allocated. */
typedef struct {
  int shift;  /* TrFloor shift after the product, 1..bw-1 */
  int causal; /* 1: lower triangle only (M == N) */
} ff_sigma_mm_opts;
ff_status ff_op_matmul_ex(ff_op *op, const ff_wire *x, const ff_wire *w, const ff_sigma_mm_opts *o, ff_wire *y);

/* Per-party cost (both parties pay the same): with C = B MN (causal: B M(M+1)/2) outputs,
 * 8 (B MK + B KN + C) + TrFloor(C, bw, shift) key bytes; C bw + TrFloor bits; 1 + 4 = 5 rounds. */
void ff_sigma_matmul_ex_cost(size_t B, size_t M, size_t K, size_t N, int bw, const ff_sigma_mm_opts *o,
                             ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
