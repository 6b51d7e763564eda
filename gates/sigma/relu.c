/* DReLU and ReLU, CPU reference (research/sigma.md §4; GPU-MPC fss/gpu_relu.cu): dealer, kernels and
 * gates; relu.h derives the comparison. Test: tests/test_sigma_gates.c. */
#include "gates/sigma/relu.h"

#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/select.h"
#include "gates/sigma/op_internal.h"

/* ---- Kernels ---------------------------------------------------------------------------------------- */

ff_status ff_sigma_drelu_points_cpu(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *pts) {
  (void)ctx;
  for (size_t i = 0; i < N; i++) pts[i] = ff_ring_reduce(xhat[i], bin - 1);
  return FF_OK;
}

ff_status ff_sigma_drelu_local_cpu(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *share) {
  if (ctx->party != 1) return FF_OK;
  for (size_t i = 0; i < N; i++) share[i] ^= 1 ^ ((xhat[i] >> (bin - 1)) & 1);
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
static ff_status ff__relu_no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend", fn);
  return FF_ENOTSUP;
}

ff_status ff_sigma_drelu_points_cuda(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *pts) {
  (void)ctx, (void)bin, (void)N, (void)xhat, (void)pts;
  return ff__relu_no_cuda("ff_sigma_drelu_points_cuda");
}

ff_status ff_sigma_drelu_local_cuda(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *share) {
  (void)ctx, (void)bin, (void)N, (void)xhat, (void)share;
  return ff__relu_no_cuda("ff_sigma_drelu_local_cuda");
}
#endif

ff_status ff_sigma_drelu_points(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *pts) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_drelu_points_cuda(ctx, bin, N, xhat, pts);
  return ff_sigma_drelu_points_cpu(ctx, bin, N, xhat, pts);
}

ff_status ff_sigma_drelu_local(ff_ctx *ctx, int bin, size_t N, const uint64_t *xhat, uint64_t *share) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_drelu_local_cuda(ctx, bin, N, xhat, share);
  return ff_sigma_drelu_local_cpu(ctx, bin, N, xhat, share);
}

/* ---- Costs ---------------------------------------------------------------------------------------------- */

void ff_sigma_drelu_cost(size_t N, int bin, ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  c->key_bytes = ff__cmp_key_bytes(bin - 1, N);
  c->bits_sent = N;
  c->bytes_sent = ff_packed_size(N, 1);
  c->rounds = 1;
}

void ff_sigma_relu_cost(size_t N, int bin, int b_out, ff_gate_cost *c) {
  ff_gate_cost sel;
  ff_sigma_drelu_cost(N, bin, c);
  ff_select_cost(b_out, N, 1, &sel);
  *c = ff_gate_cost_add(*c, sel);
}

/* ---- Gates -------------------------------------------------------------------------------------------- */

/* DReLU's dealer on the device path (op_internal.h): the output mask bits m (into d, host) drawn there, the
 * comparison bits msb(r) ^ m made there and shared from there, in the host path's order. */
static ff_status ff__drelu_deal_dev(ff_op *op, int bin, size_t N, const uint64_t *r, const uint64_t *alpha,
                                    uint64_t *d) {
  const size_t w = N * sizeof(uint64_t);
  uint64_t *v = NULL; /* r | m | bits */
  ff_status st = ff__op_dev_scratch(op, 3 * w, "DReLU dealer", (void **)&v);
  if (st) return st;
  if (!(st = ff__op_dev_upload(op, v, r, w)) && !(st = ff__op_draw_dev(op, v + N, N, 1)) &&
      !(st = FF__OP_DEV(op, ff__sigma_cmp_bits, bin, N, v, v + N, v + 2 * N)) &&
      !(st = ff__dcf_deal(op, bin - 1, N, alpha)) && !(st = ff__op_put_bit_shares_dev(op, 1, N, v + 2 * N)))
    st = ff__op_dev_download(op, d, v + N, w);
  ff__op_dev_free(op, v);
  return st;
}

/* The DReLU body (no tag, no bracket): d gets the 1-bit wire. */
static ff_status ff__drelu_run(ff_op *op, const ff_wire *x, ff_wire *d) {
  const int bin = x->bw;
  const size_t N = x->numel;
  ff_status st = ff__op_wire_alloc(op, d, 1, x->ndim, x->shape);
  if (st) return st;
  uint64_t *tmp = NULL; /* in the memory of the wires */
  if ((st = ff__op_buf_alloc(op, N * sizeof *tmp, "DReLU", (void **)&tmp))) {
    ff_wire_free(d);
    return st;
  }
  if (op->role == FF_OP_DEALER) {
    /* d->v: the output mask m; tmp: first alpha = r mod 2^(bin-1), then msb(r) ^ m. */
    uint64_t *alpha = ff__op_alloc(N * sizeof *alpha, "DReLU");
    if (!alpha) st = FF_ENOMEM;
    for (size_t i = 0; !st && i < N; i++) alpha[i] = ff_ring_reduce(x->v[i], bin - 1);
    if (!st && ff__op_deal_dev(op)) {
      st = ff__drelu_deal_dev(op, bin, N, x->v, alpha, d->v);
    } else if (!st && !(st = ff__op_draw(op, d->v, N, 1)) &&
               !(st = ff__sigma_cmp_bits_cpu(op->ctx, bin, N, x->v, d->v, tmp))) {
      st = ff__cmp_deal(op, bin - 1, N, alpha, tmp);
    }
    free(alpha);
  } else {
    if (!(st = ff_sigma_drelu_points(op->ctx, bin, N, x->v, tmp)) &&
        !(st = ff__cmp_eval(op, bin - 1, N, tmp, d->v, "DReLU")) &&
        !(st = ff_sigma_drelu_local(op->ctx, bin, N, x->v, d->v)))
      st = ff_op_reconstruct(op, d->v, N, 1);
  }
  ff__op_buf_free(op, tmp);
  if (st) ff_wire_free(d);
  return st;
}

/* ReLU's select key on the device path (op_internal.h): y's mask (into ry, host) drawn there, the key's values
 * for r_x = m, r_y = rs (the input's masks mod 2^b_out) and shared from there, in the host path's order. */
static ff_status ff__relu_select_deal_dev(ff_op *op, int b_out, size_t N, const uint64_t *m, const uint64_t *rs,
                                          uint64_t *ry) {
  const size_t w = N * sizeof(uint64_t);
  uint64_t *v = NULL; /* m | rs | r_y | values (5) */
  ff_status st = ff__op_dev_scratch(op, 8 * w, "ReLU dealer", (void **)&v);
  if (st) return st;
  if (!(st = ff__op_dev_upload(op, v, m, w)) && !(st = ff__op_dev_upload(op, v + N, rs, w)) &&
      !(st = ff__op_draw_dev(op, v + 2 * N, N, b_out)) &&
      !(st = FF__OP_DEV(op, ff_select_key_values, N, v, v + N, v + 2 * N, v + 3 * N)) &&
      !(st = ff__op_put_shares_words_dev(op, v + 3 * N, FF_SELECT_KEY_ELEMS * N, b_out, 8)))
    st = ff__op_dev_download(op, ry, v + 2 * N, w);
  ff__op_dev_free(op, v);
  return st;
}

static ff_status ff__relu_check(const ff_op *op, const ff_wire *x, const ff_wire *y, const char *fn) {
  if (!op || !x || !y || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("%s: op, input or output wire is NULL or empty", fn);
    return FF_EINVAL;
  }
  if (x->bw < 2) {
    FF_ERROR("%s: the input needs at least 2 bits (bw %d)", fn, x->bw);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_op_drelu(ff_op *op, const ff_wire *x, ff_wire *y) {
  ff_status st = ff__relu_check(op, x, y, "ff_op_drelu");
  if (st) return st;
  memset(y, 0, sizeof *y);
  FF_SCOPE("Activation::DReLU");
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_sigma_drelu_cost(x->numel, x->bw, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, 1, x->ndim, x->shape);
  }
  const ff__sg_tag tag = {FF__SG_DRELU, (uint32_t)x->bw, 0, 0, {x->numel, 0, 0}};
  ff__op_enter(op);
  if (!(st = ff__op_tag(op, &tag))) st = ff__drelu_run(op, x, y);
  ff__op_leave(op);
  return st;
}

ff_status ff_op_relu(ff_op *op, const ff_wire *x, int b_out, ff_wire *y) {
  ff_status st = ff__relu_check(op, x, y, "ff_op_relu");
  if (st) return st;
  memset(y, 0, sizeof *y);
  if (b_out < 1 || b_out > x->bw) {
    FF_ERROR("ff_op_relu: b_out %d is outside 1..bin = %d", b_out, x->bw);
    return FF_EINVAL;
  }
  FF_SCOPE("Activation::ReLU");
  const size_t N = x->numel;
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_sigma_relu_cost(N, x->bw, b_out, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, b_out, x->ndim, x->shape);
  }
  const ff__sg_tag tag = {FF__SG_RELU, (uint32_t)x->bw, (uint32_t)b_out, 0, {N, 0, 0}};
  ff_wire d = {0};
  ff_select_key k[2] = {{0}, {0}};
  uint64_t *xs = NULL; /* in the memory of the wires */
  ff__op_enter(op);
  if ((st = ff__op_tag(op, &tag)) || (st = ff__drelu_run(op, x, &d)) ||
      (st = ff__op_wire_alloc(op, y, b_out, x->ndim, x->shape)))
    goto done;
  /* The select works mod 2^b_out: x^ mod 2^b_out = x + r mod 2^b_out. */
  if ((st = ff__op_buf_alloc(op, N * sizeof *xs, "ReLU", (void **)&xs)) ||
      (st = ff__op_reduce(op, x->v, xs, N, b_out)))
    goto done;
  if (op->role == FF_OP_DEALER && ff__op_deal_dev(op)) {
    st = ff__relu_select_deal_dev(op, b_out, N, d.v, xs, y->v);
    goto done;
  }
  if (op->role == FF_OP_DEALER) {
    /* Select key for r_x = m (d's mask), r_y = r mod 2^b_out, r_out = y's fresh mask. */
    if ((st = ff__op_draw(op, y->v, N, b_out)) || (st = ff_select_key_alloc(op->ctx, &k[0], b_out, N)) ||
        (st = ff_select_key_alloc(op->ctx, &k[1], b_out, N)) ||
        (st = ff_select_keygen(op->ctx, d.v, xs, y->v, &k[0], &k[1])))
      goto done;
    for (int p = 0; p < 2 && !st; p++) st = ff__op_put(op, p, k[p].buf, k[p].bytes);
    goto done;
  }
  /* The key's serialized form is its buffer: read it straight into a key in the party's memory. */
  if ((st = ff_select_key_alloc(op->ctx, &k[0], b_out, N)) || (st = ff__op_get_mem(op, k[0].buf, k[0].bytes, "ReLU")) ||
      (st = ff_select_eval(op->ctx, &k[0], N, d.v, xs, y->v)))
    goto done;
  st = ff_op_reconstruct(op, y->v, N, b_out);
done:
  ff__op_leave(op);
  ff_select_key_free(&k[0]);
  ff_select_key_free(&k[1]);
  ff_wire_free(&d);
  ff__op_buf_free(op, xs);
  if (st) ff_wire_free(y);
  return st;
}
