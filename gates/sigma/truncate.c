/* TrFloor and TrWithSlack, CPU reference (research/sigma.md §4; GPU-MPC fss/gpu_truncate.cu): the TR
 * stage's dealer, its kernels and the two gates. truncate.h derives the arithmetic.
 * Test: tests/test_sigma_gates.c. */
#include "gates/sigma/truncate.h"

#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/op_internal.h"

/* ---- Kernels ---------------------------------------------------------------------------------------- */

ff_status ff_sigma_tr_points_cpu(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                 uint64_t *pts) {
  (void)ctx;
  for (size_t i = 0; i < N; i++) pts[i] = ff_ring_reduce(ff_ring_reduce(xhat[i] + p->add, p->bw_in), p->n_cmp);
  return FF_OK;
}

ff_status ff_sigma_tr_local_cpu(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                const uint64_t *chat, const uint64_t *key, uint64_t *out) {
  const uint64_t *k0 = key, *k1 = key + N, *w = key + 2 * N;
  const int p1 = ctx->party == 1;
  for (size_t i = 0; i < N; i++) {
    const uint64_t xp = ff_ring_reduce(xhat[i] + p->add, p->bw_in);
    uint64_t v = (chat[i] & 1) ? k1[i] : k0[i];
    if (p->slack && !((xp >> (p->bw_in - 1)) & 1)) v += w[i];
    if (p1) v += xp >> p->shift;
    out[i] = ff_ring_reduce(v, p->bw_out);
  }
  return FF_OK;
}

ff_status ff_sigma_tr_deal_cpu(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *r,
                               const uint64_t *m, const uint64_t *r_out, uint64_t *key) {
  (void)ctx;
  for (size_t i = 0; i < N; i++) {
    const uint64_t base = -(r[i] >> p->shift) + p->cst + r_out[i];
    key[i] = ff_ring_reduce(base + p->coef * m[i], p->bw_out);           /* c^ = 0: c = m */
    key[N + i] = ff_ring_reduce(base + p->coef * (m[i] ^ 1), p->bw_out); /* c^ = 1: c = !m */
    if (p->slack) key[2 * N + i] = ff_ring_reduce((r[i] >> (p->bw_in - 1)) << (p->bw_in - p->shift), p->bw_out);
  }
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
static ff_status ff__sigma_no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend", fn);
  return FF_ENOTSUP;
}

ff_status ff_sigma_tr_points_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                  uint64_t *pts) {
  (void)ctx, (void)p, (void)N, (void)xhat, (void)pts;
  return ff__sigma_no_cuda("ff_sigma_tr_points_cuda");
}

ff_status ff_sigma_tr_local_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                 const uint64_t *chat, const uint64_t *key, uint64_t *out) {
  (void)ctx, (void)p, (void)N, (void)xhat, (void)chat, (void)key, (void)out;
  return ff__sigma_no_cuda("ff_sigma_tr_local_cuda");
}

ff_status ff_sigma_tr_deal_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *r,
                                const uint64_t *m, const uint64_t *r_out, uint64_t *key) {
  (void)ctx, (void)p, (void)N, (void)r, (void)m, (void)r_out, (void)key;
  return ff__sigma_no_cuda("ff_sigma_tr_deal_cuda");
}
#endif

ff_status ff_sigma_tr_points(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                             uint64_t *pts) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_tr_points_cuda(ctx, p, N, xhat, pts);
  return ff_sigma_tr_points_cpu(ctx, p, N, xhat, pts);
}

ff_status ff_sigma_tr_local(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                            const uint64_t *chat, const uint64_t *key, uint64_t *out) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_tr_local_cuda(ctx, p, N, xhat, chat, key, out);
  return ff_sigma_tr_local_cpu(ctx, p, N, xhat, chat, key, out);
}

/* ---- One TR stage ------------------------------------------------------------------------------------ */

/* eb: bytes per key word of the correction (8, or ff__op_word_bytes(bw_out) for SIGMA's narrow keys). */
static void ff__tr_stage_cost(size_t N, const ff_sigma_tr_params *p, int eb, ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  c->key_bytes = ff__cmp_key_bytes(p->n_cmp, N) + (p->slack ? 3 : 2) * (uint64_t)eb * (uint64_t)N;
  c->bits_sent = (uint64_t)N * (1 + (uint64_t)p->bw_out);
  c->bytes_sent = ff_packed_size(N, 1) + ff_packed_size(N, p->bw_out);
  c->rounds = 2;
}

/* The dealer's stage on its GPU (op_internal.h, "The dealer's device path"): the host path's draws, keys and
 * shares in the same order, made in device memory; r (the input masks), alpha = r mod 2^n and r_out (out)
 * are host arrays (the dealer's wires). */
static ff_status ff__tr_deal_dev(ff_op *op, const ff_sigma_tr_params *p, int eb, size_t N, const uint64_t *r,
                                 const uint64_t *alpha, uint64_t *r_out) {
  const size_t nk = p->slack ? 3 : 2;
  uint64_t *d = NULL; /* r | m | r_out | key (nk) */
  ff_status st = ff__op_dev_scratch(op, (3 + nk) * N * sizeof *d, "TR dealer", (void **)&d);
  if (st) return st;
  uint64_t *dr = d, *dm = d + N, *dy = d + 2 * N, *dk = d + 3 * N;
  if (!(st = ff__op_dev_upload(op, dr, r, N * sizeof *d)) && !(st = ff__op_draw_dev(op, dm, N, 1)) &&
      !(st = ff__op_draw_dev(op, dy, N, p->bw_out)) && !(st = ff__dcf_deal(op, p->n_cmp, N, alpha)) &&
      !(st = ff__op_put_bit_shares_dev(op, 1, N, dm)) &&
      !(st = FF__OP_DEV(op, ff_sigma_tr_deal, p, N, dr, dm, dy, dk)) &&
      !(st = ff__op_put_shares_words_dev(op, dk, nk * N, p->bw_out, eb)))
    st = ff__op_dev_download(op, r_out, dy, N * sizeof *d);
  ff__op_dev_free(op, d);
  return st;
}

/* x (width p->bw_in) -> y (width p->bw_out, same shape). Dealer: y's mask; party: y^. */
static ff_status ff__tr_stage(ff_op *op, const ff_sigma_tr_params *p, int eb, const ff_wire *x, ff_wire *y,
                              const char *what) {
  ff_status st = ff__op_wire_alloc(op, y, p->bw_out, x->ndim, x->shape);
  if (st || op->role == FF_OP_COST) return st;
  const size_t N = x->numel, nk = p->slack ? 3 : 2;
  /* Scratch in the memory of the wires (device for a CUDA party). */
  uint64_t *tmp = NULL, *key = NULL;
  if ((st = ff__op_buf_alloc(op, N * sizeof *tmp, what, (void **)&tmp)) ||
      (st = ff__op_buf_alloc(op, nk * N * sizeof *key, what, (void **)&key)))
    goto done;
  if (op->role == FF_OP_DEALER) {
    /* tmp: alpha = r mod 2^n; the draws: the mask bits m, then y->v = r_out (then the comparison's). */
    const uint64_t *r = x->v;
    for (size_t i = 0; i < N; i++) tmp[i] = ff_ring_reduce(r[i], p->n_cmp);
    if (ff__op_deal_dev(op)) {
      st = ff__tr_deal_dev(op, p, eb, N, r, tmp, y->v);
      goto done;
    }
    uint64_t *m = ff__op_alloc(N * sizeof *m, what);
    if (!m) {
      st = FF_ENOMEM;
      goto done;
    }
    if (!(st = ff__op_draw(op, m, N, 1)) && !(st = ff__op_draw(op, y->v, N, p->bw_out)) &&
        !(st = ff__cmp_deal(op, p->n_cmp, N, tmp, m)))
      st = ff_sigma_tr_deal_cpu(op->ctx, p, N, r, m, y->v, key);
    free(m);
    if (!st) st = ff__op_put_shares_words(op, key, nk * N, p->bw_out, eb);
    goto done;
  }
  /* Party: comparison share, reconstruct c^, correction, reconstruct y^. */
  if ((st = ff_sigma_tr_points(op->ctx, p, N, x->v, tmp)) || (st = ff__cmp_eval(op, p->n_cmp, N, tmp, tmp, what)) ||
      (st = ff_op_reconstruct(op, tmp, N, 1)) || (st = ff__op_get_words(op, key, nk * N, eb, what)) ||
      (st = ff_sigma_tr_local(op->ctx, p, N, x->v, tmp, key, y->v)))
    goto done;
  st = ff_op_reconstruct(op, y->v, N, p->bw_out);
done:
  ff__op_buf_free(op, tmp);
  ff__op_buf_free(op, key);
  if (st) ff_wire_free(y);
  return st;
}

/* ---- TrFloor ------------------------------------------------------------------------------------------ */

static void ff__trfloor_params(int bw, int s, ff_sigma_tr_params p[2]) {
  const int m = bw - s;
  p[0] = (ff_sigma_tr_params){.bw_in = bw, .add = 0, .shift = s, .n_cmp = s, .bw_out = m,
                              .coef = ff_ring_mask(m), .cst = 0, .slack = 0};
  p[1] = (ff_sigma_tr_params){.bw_in = m, .add = UINT64_C(1) << (m - 1), .shift = 0, .n_cmp = m, .bw_out = bw,
                              .coef = ff_ring_reduce(UINT64_C(1) << m, bw),
                              .cst = ff_ring_reduce(-(UINT64_C(1) << (m - 1)), bw), .slack = 0};
}

void ff_sigma_trfloor_cost(size_t N, int bw, int s, ff_gate_cost *c) {
  ff_sigma_tr_params p[2];
  ff_gate_cost a, b;
  ff__trfloor_params(bw, s, p);
  ff__tr_stage_cost(N, &p[0], 8, &a);
  ff__tr_stage_cost(N, &p[1], 8, &b);
  *c = ff_gate_cost_add(a, b);
}

ff_status ff__sigma_trfloor_run(ff_op *op, const ff_wire *x, int s, ff_wire *y) {
  FF_SCOPE("TruncRescale");
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_sigma_trfloor_cost(x->numel, x->bw, s, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, x->bw, x->ndim, x->shape);
  }
  ff_sigma_tr_params p[2];
  ff__trfloor_params(x->bw, s, p);
  ff_wire mid;
  ff_status st = ff__tr_stage(op, &p[0], 8, x, &mid, "TrFloor");
  if (st) return st;
  st = ff__tr_stage(op, &p[1], 8, &mid, y, "TrFloor");
  ff_wire_free(&mid);
  return st;
}

static ff_status ff__wire_check(const ff_op *op, const ff_wire *x, ff_wire *y, const char *fn) {
  if (!op || !x || !y || (op->role != FF_OP_COST && !x->v) || x->bw < 1 || x->bw > 64) {
    FF_ERROR("%s: op, input or output wire is NULL or empty", fn);
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y); /* a failed gate leaves an empty wire that ff_wire_free accepts */
  return FF_OK;
}

ff_status ff_op_trfloor(ff_op *op, const ff_wire *x, int s, ff_wire *y) {
  ff_status st = ff__wire_check(op, x, y, "ff_op_trfloor");
  if (st) return st;
  if (s < 1 || s > x->bw - 1) {
    FF_ERROR("ff_op_trfloor: shift %d is outside 1..bw-1 = %d", s, x->bw - 1);
    return FF_EINVAL;
  }
  FF_SCOPE("TruncRescale");
  const ff__sg_tag tag = {FF__SG_TRFLOOR, (uint32_t)x->bw, (uint32_t)s, 0, {x->numel, 0, 0}};
  ff__op_enter(op);
  if (!(st = ff__op_tag(op, &tag))) st = ff__sigma_trfloor_run(op, x, s, y);
  ff__op_leave(op);
  return st;
}

/* ---- TrWithSlack ------------------------------------------------------------------------------------- */

static void ff__trslack_params(int bw, int s, int b_out, ff_sigma_tr_params *p) {
  *p = (ff_sigma_tr_params){.bw_in = bw, .add = UINT64_C(1) << (bw - 2), .shift = s, .n_cmp = s, .bw_out = b_out,
                            .coef = ff_ring_mask(b_out), .cst = ff_ring_reduce(-(UINT64_C(1) << (bw - 2 - s)), b_out),
                            .slack = 1};
}

void ff_sigma_trslack_cost(size_t N, int bw, int s, int b_out, ff_gate_cost *c) {
  ff_sigma_tr_params p;
  ff__trslack_params(bw, s, b_out, &p);
  ff__tr_stage_cost(N, &p, 8, c);
}

void ff__sigma_trslack_narrow_cost(size_t N, int bw, int s, int b_out, ff_gate_cost *c) {
  ff_sigma_tr_params p;
  ff__trslack_params(bw, s, b_out, &p);
  ff__tr_stage_cost(N, &p, ff__op_word_bytes(b_out), c);
}

/* narrow: key words of ff__op_word_bytes(b_out) bytes (the tag's d[1] says so), else u64. */
static ff_status ff__trslack(ff_op *op, const ff_wire *x, int s, int b_out, int narrow, ff_wire *y) {
  const char *fn = narrow ? "ff__sigma_trslack_narrow" : "ff_op_trslack";
  ff_status st = ff__wire_check(op, x, y, fn);
  if (st) return st;
  if (x->bw < 3 || s < 1 || s > x->bw - 2 || b_out < 1 || b_out > 64) {
    FF_ERROR("%s: need bw >= 3, 1 <= shift <= bw-2 and 1 <= b_out <= 64 (bw %d, shift %d, b_out %d)", fn,
             x->bw, s, b_out);
    return FF_EINVAL;
  }
  FF_SCOPE("TruncRescale");
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    if (narrow)
      ff__sigma_trslack_narrow_cost(x->numel, x->bw, s, b_out, &c);
    else
      ff_sigma_trslack_cost(x->numel, x->bw, s, b_out, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, b_out, x->ndim, x->shape);
  }
  ff_sigma_tr_params p;
  ff__trslack_params(x->bw, s, b_out, &p);
  const int eb = narrow ? ff__op_word_bytes(b_out) : 8;
  const ff__sg_tag tag = {FF__SG_TRSLACK, (uint32_t)x->bw, (uint32_t)s, (uint32_t)b_out,
                          {x->numel, narrow ? (uint64_t)eb : 0, 0}};
  ff__op_enter(op);
  if (!(st = ff__op_tag(op, &tag))) st = ff__tr_stage(op, &p, eb, x, y, "TrWithSlack");
  ff__op_leave(op);
  return st;
}

ff_status ff_op_trslack(ff_op *op, const ff_wire *x, int s, int b_out, ff_wire *y) {
  return ff__trslack(op, x, s, b_out, 0, y);
}

ff_status ff__sigma_trslack_narrow(ff_op *op, const ff_wire *x, int s, int b_out, ff_wire *y) {
  return ff__trslack(op, x, s, b_out, 1, y);
}
