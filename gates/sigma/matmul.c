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
  const int bw = x->bw;
  const size_t M = (size_t)x->shape[0], K = (size_t)x->shape[1], N = (size_t)w->shape[1];
  const int64_t cshape[2] = {(int64_t)M, (int64_t)N};
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_sigma_matmul_cost(M, K, N, bw, op->scale, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, bw, 2, cshape);
  }
  const ff__sg_tag tag = {FF__SG_MATMUL, (uint32_t)bw, (uint32_t)op->scale, 0, {M, K, N}};
  ff_wire prod = {0};
  uint64_t *key = NULL;
  const size_t nk = M * K + K * N + M * N;
  ff_status st;
  ff__op_enter(op);
  if ((st = ff__op_tag(op, &tag)) || (st = ff__op_wire_alloc(op, &prod, bw, 2, cshape))) goto done;
  if ((st = ff__op_buf_alloc(op, nk * sizeof *key, "Matmul", (void **)&key))) goto done; /* the wires' memory */
  uint64_t *ka = key, *kb = key + M * K, *kc = key + M * K + K * N;
  if (op->role == FF_OP_DEALER) {
    /* prod.v: R_C, the mask of the product before truncation. */
    if ((st = ff__op_draw(op, prod.v, M * N, bw))) goto done;
    memcpy(ka, x->v, M * K * sizeof *ka);
    memcpy(kb, w->v, K * N * sizeof *kb);
    if ((st = ff_ring_gemm_cpu(op->ctx, bw, M, N, K, x->v, w->v, kc))) goto done;
    for (size_t i = 0; i < M * N; i++) kc[i] = ff_ring_reduce(kc[i] + prod.v[i], bw);
    if ((st = ff__op_put_shares(op, key, nk, bw))) goto done;
  } else {
    if ((st = ff__op_get_mem(op, key, nk * sizeof *key, "Matmul")) ||
        (st = ff_sigma_matmul_local(op->ctx, bw, M, K, N, x->v, w->v, ka, kb, kc, prod.v)) ||
        (st = ff_op_reconstruct(op, prod.v, M * N, bw)))
      goto done;
  }
  st = ff__sigma_trfloor_run(op, &prod, op->scale, y);
done:
  ff__op_leave(op);
  ff_wire_free(&prod);
  ff__op_buf_free(op, key);
  return st;
}
