/* Elementwise multiplication, CPU reference (research/sigma.md §4; GPU-MPC fss/gpu_mul.cu): dealer,
 * kernel and gate; mul.h gives the algebra. Test: tests/test_sigma_gates.c. */
#include "gates/sigma/mul.h"

#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/op_internal.h"
#include "gates/sigma/truncate.h"

ff_status ff_sigma_mul_local_cpu(ff_ctx *ctx, int bw, size_t N, const uint64_t *xhat, const uint64_t *yhat,
                                 const uint64_t *key, uint64_t *out) {
  const uint64_t *a = key, *b = key + N, *c = key + 2 * N;
  const uint64_t p1 = ctx->party == 1;
  for (size_t i = 0; i < N; i++)
    out[i] = ff_ring_reduce(p1 * xhat[i] * yhat[i] - xhat[i] * b[i] - yhat[i] * a[i] + c[i], bw);
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
ff_status ff_sigma_mul_local_cuda(ff_ctx *ctx, int bw, size_t N, const uint64_t *xhat, const uint64_t *yhat,
                                  const uint64_t *key, uint64_t *out) {
  (void)ctx, (void)bw, (void)N, (void)xhat, (void)yhat, (void)key, (void)out;
  FF_ERROR("ff_sigma_mul_local_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
#endif

ff_status ff_sigma_mul_local(ff_ctx *ctx, int bw, size_t N, const uint64_t *xhat, const uint64_t *yhat,
                             const uint64_t *key, uint64_t *out) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_mul_local_cuda(ctx, bw, N, xhat, yhat, key, out);
  return ff_sigma_mul_local_cpu(ctx, bw, N, xhat, yhat, key, out);
}

void ff_sigma_mul_cost(size_t N, int bw, int scale, ff_gate_cost *c) {
  ff_gate_cost t;
  memset(c, 0, sizeof *c);
  c->key_bytes = 3 * 8 * (uint64_t)N;
  c->bits_sent = (uint64_t)N * (uint64_t)bw;
  c->bytes_sent = ff_packed_size(N, bw);
  c->rounds = 1;
  ff_sigma_trfloor_cost(N, bw, scale, &t);
  *c = ff_gate_cost_add(*c, t);
}

/* The dealer's Beaver key x | y | x y + r_z and its shares on the device path (op_internal.h), the host path's
 * draws in its order; rx, ry the host masks of the inputs, rz (out) the product's. */
static ff_status ff__mul_deal_dev(ff_op *op, int bw, size_t N, const uint64_t *rx, const uint64_t *ry, uint64_t *rz) {
  const size_t w = N * sizeof(uint64_t);
  uint64_t *d = NULL; /* key (3) | r_z */
  ff_status st = ff__op_dev_scratch(op, 4 * w, "Mul dealer", (void **)&d);
  if (st) return st;
  if (!(st = ff__op_dev_upload(op, d, rx, w)) && !(st = ff__op_dev_upload(op, d + N, ry, w)) &&
      !(st = ff__op_draw_dev(op, d + 3 * N, N, bw)) &&
      !(st = FF__OP_DEV(op, ff__sigma_mul_add, N, bw, d, d + N, d + 3 * N, d + 2 * N)) &&
      !(st = ff__op_put_shares_words_dev(op, d, 3 * N, bw, 8)))
    st = ff__op_dev_download(op, rz, d + 3 * N, w);
  ff__op_dev_free(op, d);
  return st;
}

ff_status ff_op_mul(ff_op *op, const ff_wire *x, const ff_wire *y, ff_wire *z) {
  if (!op || !x || !y || !z || (op->role != FF_OP_COST && (!x->v || !y->v))) {
    FF_ERROR("ff_op_mul: op, an input or the output wire is NULL or empty");
    return FF_EINVAL;
  }
  if (x->bw != y->bw || x->numel != y->numel || x->ndim != y->ndim ||
      memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]) != 0) {
    FF_ERROR("ff_op_mul: the inputs differ in shape or width (bw %d and %d)", x->bw, y->bw);
    return FF_EINVAL;
  }
  if (op->scale < 1 || op->scale > x->bw - 1) {
    FF_ERROR("ff_op_mul: scale %d is outside 1..bw-1 = %d", op->scale, x->bw - 1);
    return FF_EINVAL;
  }
  memset(z, 0, sizeof *z);
  FF_SCOPE("Mul");
  const int bw = x->bw;
  const size_t N = x->numel;
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_sigma_mul_cost(N, bw, op->scale, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, z, bw, x->ndim, x->shape);
  }
  const ff__sg_tag tag = {FF__SG_MUL, (uint32_t)bw, (uint32_t)op->scale, 0, {N, 0, 0}};
  ff_wire prod = {0};
  uint64_t *key = NULL;
  ff_status st;
  ff__op_enter(op);
  if ((st = ff__op_tag(op, &tag)) || (st = ff__op_wire_alloc(op, &prod, bw, x->ndim, x->shape))) goto done;
  if ((st = ff__op_buf_alloc(op, 3 * N * sizeof *key, "Mul", (void **)&key))) goto done; /* the wires' memory */
  if (op->role == FF_OP_DEALER && ff__op_deal_dev(op)) {
    if ((st = ff__mul_deal_dev(op, bw, N, x->v, y->v, prod.v))) goto done;
  } else if (op->role == FF_OP_DEALER) {
    /* prod.v: r_z, the mask of the product before truncation. */
    if ((st = ff__op_draw(op, prod.v, N, bw))) goto done;
    memcpy(key, x->v, N * sizeof *key);
    memcpy(key + N, y->v, N * sizeof *key);
    if ((st = ff__sigma_mul_add_cpu(op->ctx, N, bw, x->v, y->v, prod.v, key + 2 * N)) ||
        (st = ff__op_put_shares(op, key, 3 * N, bw)))
      goto done;
  } else {
    if ((st = ff__op_get_mem(op, key, 3 * N * sizeof *key, "Mul")) ||
        (st = ff_sigma_mul_local(op->ctx, bw, N, x->v, y->v, key, prod.v)) ||
        (st = ff_op_reconstruct(op, prod.v, N, bw)))
      goto done;
  }
  st = ff__sigma_trfloor_run(op, &prod, op->scale, z);
done:
  ff__op_leave(op);
  ff_wire_free(&prod);
  ff__op_buf_free(op, key);
  return st;
}
