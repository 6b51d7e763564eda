/* SIGMA's rotary position embedding (rotary.h; research/sigma.md §4 "Attention"): the public table,
 * the local linear map on x^ (parties) or r (dealer), then TrWithSlack by scale - 3.
 * Tests: tests/test_sigma_rotary.c, tests/test_sigma_cuda_rotary.c. */
#include "gates/sigma/rotary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ring.h"
#include "gates/sigma/op_internal.h"
#include "gates/sigma/truncate.h"

int ff_sigma_rotary_base_ok(double base) {
  return base >= 2 && base <= FF_SIGMA_ROTARY_BASE_MAX && base == floor(base);
}

ff_status ff_sigma_rotary_table(int T, int d, int f, int64_t *cs, int64_t *sn) {
  return ff_sigma_rotary_table_ex(T, d, f, FF_SIGMA_ROTARY_BASE, cs, sn);
}

ff_status ff_sigma_rotary_table_ex(int T, int d, int f, double base, int64_t *cs, int64_t *sn) {
  if (T < 1 || d < 2 || d % 2 || f < 1 || f > 30 || !cs || !sn || !ff_sigma_rotary_base_ok(base)) {
    FF_ERROR("ff_sigma_rotary_table: need T >= 1, d even >= 2, 1 <= f <= 30 and an integer base in 2..2^32-1 "
             "(T %d, d %d, f %d, base %g)", T, d, f, base);
    return FF_EINVAL;
  }
  const int h = d / 2;
  const double one = ldexp(1.0, f);
  for (int t = 0; t < T; t++)
    for (int k = 0; k < h; k++) {
      const double th = (double)t / pow(base, 2.0 * k / (double)d);
      int64_t c = (int64_t)(cos(th) * one), s = (int64_t)(sin(th) * one); /* toward zero */
      if (c == (int64_t)1 << f) c--;
      if (s == (int64_t)1 << f) s--;
      cs[(size_t)t * h + k] = c;
      sn[(size_t)t * h + k] = s;
    }
  return FF_OK;
}

ff_status ff_sigma_rotary_apply_cpu(ff_ctx *ctx, int bw, size_t rows, int T, int d, const int64_t *cs,
                                    const int64_t *sn, const uint64_t *x, uint64_t *u) {
  (void)ctx;
  const size_t h = (size_t)d / 2;
  for (size_t r = 0; r < rows; r++) {
    const size_t t = r % (size_t)T;
    const uint64_t *xr = x + r * (size_t)d;
    uint64_t *ur = u + r * (size_t)d;
    for (size_t k = 0; k < h; k++) {
      const uint64_t c = (uint64_t)cs[t * h + k], s = (uint64_t)sn[t * h + k];
      ur[k] = ff_ring_reduce(c * xr[k] - s * xr[k + h], bw);
      ur[k + h] = ff_ring_reduce(c * xr[k + h] + s * xr[k], bw);
    }
  }
  return FF_OK;
}

#ifndef FF_HAVE_CUDA /* the twin is in rotary_cuda.cu */
ff_status ff_sigma_rotary_apply_cuda(ff_ctx *ctx, int bw, size_t rows, int T, int d, const int64_t *cs,
                                     const int64_t *sn, const uint64_t *x, uint64_t *u) {
  (void)ctx, (void)bw, (void)rows, (void)T, (void)d, (void)cs, (void)sn, (void)x, (void)u;
  FF_ERROR("ff_sigma_rotary_apply_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
#endif

ff_status ff_sigma_rotary_apply(ff_ctx *ctx, int bw, size_t rows, int T, int d, const int64_t *cs,
                                const int64_t *sn, const uint64_t *x, uint64_t *u) {
  if (ctx && ctx->backend == FF_BACKEND_CUDA) return ff_sigma_rotary_apply_cuda(ctx, bw, rows, T, d, cs, sn, x, u);
  return ff_sigma_rotary_apply_cpu(ctx, bw, rows, T, d, cs, sn, x, u);
}

void ff_sigma_rotary_cost(size_t N, int bw, int scale, ff_gate_cost c[2]) {
  ff_sigma_trslack_cost(N, bw, ff_sigma_rotary_frac_bits(scale), bw, &c[0]);
  c[1] = c[0];
}

typedef struct {
  int T, d, f;
  double base;
  size_t nt;
} ff__rot_table_arg;

static ff_status ff__rot_table_fill(void *arg, uint64_t *host) {
  const ff__rot_table_arg *t = arg;
  return ff_sigma_rotary_table_ex(t->T, t->d, t->f, t->base, (int64_t *)host, (int64_t *)host + t->nt);
}

/* The gate body inside scope Rotary. */
static ff_status ff__rotary_run(ff_op *op, const ff_wire *x, double base, ff_wire *y) {
  if (!op || !x || !y || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("ff_op_rotary: op, input or output wire is NULL or empty");
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y);
  const int bw = x->bw, f = ff_sigma_rotary_frac_bits(op->scale);
  const int64_t d = x->ndim >= 2 ? x->shape[x->ndim - 1] : 0, T = x->ndim >= 2 ? x->shape[x->ndim - 2] : 0;
  if (x->ndim < 2 || d < 2 || d % 2 || d > (1 << 20) || T < 1 || T > (1 << 24) || f < 1 || f > 30 || f > bw - 2 ||
      !ff_sigma_rotary_base_ok(base)) {
    FF_ERROR("ff_op_rotary: need a wire (..., T, d) with d even, 1 <= scale-3 <= min(30, bw-2) and an integer base "
             "in 2..2^32-1 (ndim %d, T %lld, d %lld, bw %d, scale %d, base %g)", x->ndim, (long long)T, (long long)d, bw,
             op->scale, base);
    return FF_EINVAL;
  }
  const size_t N = x->numel, rows = N / (size_t)d;
  ff_wire u = {0};
  ff_status st;
  if (op->role == FF_OP_COST) { /* TrWithSlack charges its own cost (ff_sigma_rotary_cost) */
    if (!(st = ff__op_wire_alloc(op, &u, bw, x->ndim, x->shape))) st = ff_op_trslack(op, &u, f, bw, y);
    ff_wire_free(&u);
    return st;
  }
  /* d[1]: T, and from bit 32 the base when it is not SIGMA's 10000 (0 keeps SIGMA's streams as they were). */
  const uint64_t base_tag = base == FF_SIGMA_ROTARY_BASE ? 0 : (uint64_t)base;
  const ff__sg_tag tag = {FF__SG_ROTARY, (uint32_t)bw, (uint32_t)op->scale, (uint32_t)f,
                          {N, (uint64_t)T | base_tag << 32, (uint64_t)d}};
  const size_t nt = (size_t)T * (size_t)(d / 2);
  const uint64_t *tabw = NULL; /* the cos | sin table in ff__op_mem, kept by the op (ff__op_table) */
  ff__rot_table_arg ta = {(int)T, (int)d, f, base, nt};
  ff__op_enter(op);
  uint64_t base_bits;
  memcpy(&base_bits, &base, sizeof base_bits);
  if ((st = ff__op_tag(op, &tag)) ||
      (st = ff__op_table(op, ff__op_table_key_x(6, (uint32_t)T, (uint32_t)d, (uint32_t)f, base_bits), 2 * nt,
                         ff__rot_table_fill, &ta, &tabw)) ||
      (st = ff__op_wire_alloc(op, &u, bw, x->ndim, x->shape)))
    goto done;
  const int64_t *tab = (const int64_t *)tabw; /* the same bits on either backend */
  /* Dealer: u's mask R r; party: u^ = R x^ = R x + R r. */
  if ((st = ff_sigma_rotary_apply(op->ctx, bw, rows, (int)T, (int)d, tab, tab + nt, x->v, u.v))) goto done;
  st = ff_op_trslack(op, &u, f, bw, y);
done:
  ff__op_leave(op);
  ff_wire_free(&u);
  if (st) ff_wire_free(y);
  return st;
}

ff_status ff_op_rotary(ff_op *op, const ff_wire *x, ff_wire *y) {
  (void)ff_scope_register("Rotary", "Linear"); /* before FF_SCOPE names it (else family Other) */
  FF_SCOPE("Rotary");
  return ff__rotary_run(op, x, FF_SIGMA_ROTARY_BASE, y);
}

ff_status ff_op_rotary_ex(ff_op *op, const ff_wire *x, double base, ff_wire *y) {
  (void)ff_scope_register("Rotary", "Linear");
  FF_SCOPE("Rotary");
  return ff__rotary_run(op, x, base, y);
}
