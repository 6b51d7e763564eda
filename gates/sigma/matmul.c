/* Masked Beaver matmul, CPU reference (research/sigma.md §4 "Matmul / FC"; GPU-MPC
 * fss/gpu_matmul.cu): ring GEMM, dealer, kernel and gate; matmul.h gives the algebra.
 * Test: tests/test_sigma_gates.c. */
#include "gates/sigma/matmul.h"

#include "gates/gemm/ring_gemm.h"

#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/op_internal.h"
#include "gates/sigma/truncate.h"

ff_status ff_sigma_matmul_local_cpu(ff_ctx *ctx, int bw, size_t M, size_t K, size_t N, const uint64_t *xhat,
                                    const uint64_t *what, const uint64_t *a, const uint64_t *b, const uint64_t *c,
                                    uint64_t *out) {
  uint64_t *wb = malloc(K * N * sizeof *wb), *aw = malloc(M * N * sizeof *aw);
  if (!wb || !aw) {
    free(wb);
    free(aw);
    FF_ERROR("ff_sigma_matmul_local_cpu: out of memory (%zu x %zu x %zu)", M, K, N);
    return FF_ENOMEM;
  }
  const uint64_t p1 = ctx->party == 1;
  for (size_t i = 0; i < K * N; i++) wb[i] = p1 * what[i] - b[i];
  ff_status st = ff_ring_gemm_cpu(ctx, bw, M, N, K, xhat, wb, out);
  if (!st) st = ff_ring_gemm_cpu(ctx, bw, M, N, K, a, what, aw);
  if (!st)
    for (size_t i = 0; i < M * N; i++) out[i] = ff_ring_reduce(out[i] - aw[i] + c[i], bw);
  free(wb);
  free(aw);
  return st;
}

#ifndef FF_HAVE_CUDA
ff_status ff_sigma_matmul_local_cuda(ff_ctx *ctx, int bw, size_t M, size_t K, size_t N, const uint64_t *xhat,
                                     const uint64_t *what, const uint64_t *a, const uint64_t *b, const uint64_t *c,
                                     uint64_t *out) {
  (void)ctx, (void)bw, (void)M, (void)K, (void)N, (void)xhat, (void)what, (void)a, (void)b, (void)c, (void)out;
  FF_ERROR("ff_sigma_matmul_local_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
#endif

ff_status ff_sigma_matmul_local(ff_ctx *ctx, int bw, size_t M, size_t K, size_t N, const uint64_t *xhat,
                                const uint64_t *what, const uint64_t *a, const uint64_t *b, const uint64_t *c,
                                uint64_t *out) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_matmul_local_cuda(ctx, bw, M, K, N, xhat, what, a, b, c, out);
  return ff_sigma_matmul_local_cpu(ctx, bw, M, K, N, xhat, what, a, b, c, out);
}

void ff_sigma_matmul_cost(size_t M, size_t K, size_t N, int bw, int scale, ff_gate_cost *c) {
  ff_gate_cost t;
  const uint64_t outs = (uint64_t)M * N;
  memset(c, 0, sizeof *c);
  c->key_bytes = 8 * ((uint64_t)M * K + (uint64_t)K * N + outs);
  c->bits_sent = outs * (uint64_t)bw;
  c->bytes_sent = ff_packed_size(M * N, bw);
  c->rounds = 1;
  ff_sigma_trfloor_cost(M * N, bw, scale, &t);
  *c = ff_gate_cost_add(*c, t);
}

ff_status ff_op_matmul(ff_op *op, const ff_wire *x, const ff_wire *w, ff_wire *y) {
  if (!op || !x || !w || !y || (op->role != FF_OP_COST && (!x->v || !w->v))) {
    FF_ERROR("ff_op_matmul: op, an input or the output wire is NULL or empty");
    return FF_EINVAL;
  }
  if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[0] || x->bw != w->bw) {
    FF_ERROR("ff_op_matmul: need X (M, K) and W (K, N) of one width (got %d and %d dimensions, bw %d and %d)",
             x->ndim, w->ndim, x->bw, w->bw);
    return FF_EINVAL;
  }
  if (op->scale < 1 || op->scale > x->bw - 1) {
    FF_ERROR("ff_op_matmul: scale %d is outside 1..bw-1 = %d", op->scale, x->bw - 1);
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y);
  FF_SCOPE("Linear");
  return ff__sigma_matmul_plain(op, x, w, y);
}
