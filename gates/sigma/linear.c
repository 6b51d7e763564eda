/* The sigma suite's linear glue, CPU reference (linear.h; research/sigma.md §4 "Attention"; GPU-MPC
 * fss/gpu_add.h, gpu_mha.cu): the local kernels, the local wire ops of every role, and the batched,
 * optionally causal masked matmul with one reconstruct and one TrFloor for all batches.
 * Tests: tests/test_sigma_linear.c, tests/test_sigma_cuda_linear.c. */
#include "gates/sigma/linear.h"

#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dpf.h"
#include "gates/gemm/ring_gemm.h"
#include "gates/sigma/matmul.h"
#include "gates/sigma/op_internal.h"
#include "gates/sigma/truncate.h"

/* ---- Kernels ----------------------------------------------------------------------------------------- */

static ff_status ff__kernel_check(const char *fn, int bw, size_t n, const void *a, const void *b, const void *c) {
  if (bw < 1 || bw > 64) {
    FF_ERROR("%s: ring width %d is outside 1..64", fn, bw);
    return FF_EINVAL;
  }
  if (n && (!a || !b || !c)) {
    FF_ERROR("%s: NULL buffer for %zu elements", fn, n);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_sigma_add_cpu(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, const uint64_t *y, uint64_t *z) {
  (void)ctx;
  ff_status st = ff__kernel_check("ff_sigma_add_cpu", bw, n, x, y, z);
  if (st) return st;
  for (size_t i = 0; i < n; i++) z[i] = ff_ring_reduce(x[i] + y[i], bw);
  return FF_OK;
}

ff_status ff_sigma_add_bias_cpu(ff_ctx *ctx, int bw, size_t R, size_t N, const uint64_t *x, const uint64_t *b,
                                uint64_t *y) {
  (void)ctx;
  ff_status st = ff__kernel_check("ff_sigma_add_bias_cpu", bw, R * N, x, b, y);
  if (st) return st;
  for (size_t r = 0; r < R; r++)
    for (size_t j = 0; j < N; j++) y[r * N + j] = ff_ring_reduce(x[r * N + j] + b[j], bw);
  return FF_OK;
}

ff_status ff_sigma_mul_public_cpu(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, int64_t c, uint64_t *y) {
  (void)ctx;
  ff_status st = ff__kernel_check("ff_sigma_mul_public_cpu", bw, n, x, y, y);
  if (st) return st;
  const uint64_t cu = (uint64_t)c; /* c mod 2^64, hence mod 2^bw after the reduction */
  for (size_t i = 0; i < n; i++) y[i] = ff_ring_reduce(cu * x[i], bw);
  return FF_OK;
}

ff_status ff__sigma_permute_plan_make(const char *fn, int nd, const int64_t *dims, const int *perm,
                                      ff__sigma_permute_plan *pl) {
  memset(pl, 0, sizeof *pl);
  if (nd < 1 || nd > FF_SIGMA_PERMUTE_MAX_DIMS || !dims || !perm) {
    FF_ERROR("%s: need 1..%d dimensions and a permutation (got %d)", fn, FF_SIGMA_PERMUTE_MAX_DIMS, nd);
    return FF_EINVAL;
  }
  int seen[FF_SIGMA_PERMUTE_MAX_DIMS] = {0};
  int64_t stride[FF_SIGMA_PERMUTE_MAX_DIMS];
  size_t n = 1;
  for (int i = nd - 1; i >= 0; i--) {
    if (dims[i] < 1 || (uint64_t)dims[i] > SIZE_MAX / sizeof(uint64_t) / n) {
      FF_ERROR("%s: dimension %d is %lld (need >= 1, and a size that fits memory)", fn, i, (long long)dims[i]);
      return FF_EINVAL;
    }
    stride[i] = (int64_t)n;
    n *= (size_t)dims[i];
    if (perm[i] < 0 || perm[i] >= nd || seen[perm[i]]++) {
      FF_ERROR("%s: perm is not a permutation of 0..%d (perm[%d] = %d)", fn, nd - 1, i, perm[i]);
      return FF_EINVAL;
    }
  }
  pl->nd = nd;
  pl->n = n;
  for (int i = 0; i < nd; i++) {
    pl->ydims[i] = dims[perm[i]];
    pl->xstride[i] = stride[perm[i]];
  }
  return FF_OK;
}

ff_status ff_sigma_permute_cpu(ff_ctx *ctx, int nd, const int64_t *dims, const int *perm, const uint64_t *x,
                               uint64_t *y) {
  (void)ctx;
  ff__sigma_permute_plan pl;
  ff_status st = ff__sigma_permute_plan_make("ff_sigma_permute_cpu", nd, dims, perm, &pl);
  if (!st) st = ff__kernel_check("ff_sigma_permute_cpu", 64, pl.n, x, y, y);
  if (st) return st;
  /* An odometer over y's coordinates, carrying x's offset along. */
  int64_t idx[FF_SIGMA_PERMUTE_MAX_DIMS] = {0};
  size_t off = 0;
  for (size_t e = 0; e < pl.n; e++) {
    y[e] = x[off];
    for (int i = nd - 1; i >= 0; i--) {
      off += (size_t)pl.xstride[i];
      if (++idx[i] < pl.ydims[i]) break;
      off -= (size_t)(pl.xstride[i] * pl.ydims[i]);
      idx[i] = 0;
    }
  }
  return FF_OK;
}

ff_status ff_sigma_tril_pack_cpu(ff_ctx *ctx, size_t B, size_t n, const uint64_t *x, uint64_t *p) {
  (void)ctx;
  ff_status st = ff__kernel_check("ff_sigma_tril_pack_cpu", 64, B * n, x, p, p);
  if (st) return st;
  for (size_t b = 0; b < B; b++)
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j <= i; j++) *p++ = x[(b * n + i) * n + j];
  return FF_OK;
}

ff_status ff_sigma_tril_unpack_cpu(ff_ctx *ctx, size_t B, size_t n, const uint64_t *p, uint64_t *y) {
  (void)ctx;
  ff_status st = ff__kernel_check("ff_sigma_tril_unpack_cpu", 64, B * n, p, y, y);
  if (st) return st;
  for (size_t b = 0; b < B; b++)
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < n; j++) y[(b * n + i) * n + j] = j <= i ? *p++ : 0;
  return FF_OK;
}

#ifndef FF_HAVE_CUDA /* the twins are in linear_cuda.cu */
static ff_status ff__no_cuda_linear(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend", fn);
  return FF_ENOTSUP;
}
ff_status ff_sigma_add_cuda(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, const uint64_t *y, uint64_t *z) {
  (void)ctx, (void)bw, (void)n, (void)x, (void)y, (void)z;
  return ff__no_cuda_linear("ff_sigma_add_cuda");
}
ff_status ff_sigma_add_bias_cuda(ff_ctx *ctx, int bw, size_t R, size_t N, const uint64_t *x, const uint64_t *b,
                                 uint64_t *y) {
  (void)ctx, (void)bw, (void)R, (void)N, (void)x, (void)b, (void)y;
  return ff__no_cuda_linear("ff_sigma_add_bias_cuda");
}
ff_status ff_sigma_mul_public_cuda(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, int64_t c, uint64_t *y) {
  (void)ctx, (void)bw, (void)n, (void)x, (void)c, (void)y;
  return ff__no_cuda_linear("ff_sigma_mul_public_cuda");
}
ff_status ff_sigma_permute_cuda(ff_ctx *ctx, int nd, const int64_t *dims, const int *perm, const uint64_t *x,
                                uint64_t *y) {
  (void)ctx, (void)nd, (void)dims, (void)perm, (void)x, (void)y;
  return ff__no_cuda_linear("ff_sigma_permute_cuda");
}
ff_status ff_sigma_tril_pack_cuda(ff_ctx *ctx, size_t B, size_t n, const uint64_t *x, uint64_t *p) {
  (void)ctx, (void)B, (void)n, (void)x, (void)p;
  return ff__no_cuda_linear("ff_sigma_tril_pack_cuda");
}
ff_status ff_sigma_tril_unpack_cuda(ff_ctx *ctx, size_t B, size_t n, const uint64_t *p, uint64_t *y) {
  (void)ctx, (void)B, (void)n, (void)p, (void)y;
  return ff__no_cuda_linear("ff_sigma_tril_unpack_cuda");
}
#endif

static int ff__on_cuda(const ff_ctx *ctx) { return ctx && ctx->backend == FF_BACKEND_CUDA; }

ff_status ff_sigma_add(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, const uint64_t *y, uint64_t *z) {
  return ff__on_cuda(ctx) ? ff_sigma_add_cuda(ctx, bw, n, x, y, z) : ff_sigma_add_cpu(ctx, bw, n, x, y, z);
}

ff_status ff_sigma_add_bias(ff_ctx *ctx, int bw, size_t R, size_t N, const uint64_t *x, const uint64_t *b,
                            uint64_t *y) {
  return ff__on_cuda(ctx) ? ff_sigma_add_bias_cuda(ctx, bw, R, N, x, b, y)
                          : ff_sigma_add_bias_cpu(ctx, bw, R, N, x, b, y);
}

ff_status ff_sigma_mul_public(ff_ctx *ctx, int bw, size_t n, const uint64_t *x, int64_t c, uint64_t *y) {
  return ff__on_cuda(ctx) ? ff_sigma_mul_public_cuda(ctx, bw, n, x, c, y) : ff_sigma_mul_public_cpu(ctx, bw, n, x, c, y);
}

ff_status ff_sigma_permute(ff_ctx *ctx, int nd, const int64_t *dims, const int *perm, const uint64_t *x,
                           uint64_t *y) {
  return ff__on_cuda(ctx) ? ff_sigma_permute_cuda(ctx, nd, dims, perm, x, y)
                          : ff_sigma_permute_cpu(ctx, nd, dims, perm, x, y);
}

ff_status ff_sigma_tril_pack(ff_ctx *ctx, size_t B, size_t n, const uint64_t *x, uint64_t *p) {
  return ff__on_cuda(ctx) ? ff_sigma_tril_pack_cuda(ctx, B, n, x, p) : ff_sigma_tril_pack_cpu(ctx, B, n, x, p);
}

ff_status ff_sigma_tril_unpack(ff_ctx *ctx, size_t B, size_t n, const uint64_t *p, uint64_t *y) {
  return ff__on_cuda(ctx) ? ff_sigma_tril_unpack_cuda(ctx, B, n, p, y) : ff_sigma_tril_unpack_cpu(ctx, B, n, p, y);
}

/* ---- Local ops on wires --------------------------------------------------------------------------------- */

/* The op, the inputs (nin of them: a, and b when nin is 2; holding data outside cost-only) and the output exist, and the output
 * is none of the inputs; then the output is zeroed, so that a failed op leaves a wire ff_wire_free takes. */
static ff_status ff__local_check(const ff_op *op, const char *fn, int nin, const ff_wire *a, const ff_wire *b,
                                 ff_wire *y) {
  const ff_wire *in[2] = {a, b};
  if (!op || !a || (nin == 2 && !b) || !y) {
    FF_ERROR("%s: op, input or output wire is NULL", fn);
    return FF_EINVAL;
  }
  for (int i = 0; i < nin; i++) {
    if (in[i] == y) {
      FF_ERROR("%s: the output wire is also an input", fn);
      return FF_EINVAL;
    }
    if (op->role != FF_OP_COST && !in[i]->v) {
      FF_ERROR("%s: input wire %d is empty", fn, i);
      return FF_EINVAL;
    }
  }
  memset(y, 0, sizeof *y);
  return FF_OK;
}

static int ff__same_shape(const ff_wire *a, const ff_wire *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

ff_status ff_op_add(ff_op *op, const ff_wire *x, const ff_wire *y, ff_wire *z) {
  ff_status st = ff__local_check(op, "ff_op_add", 2, x, y, z);
  if (st) return st;
  if (x->bw != y->bw || !ff__same_shape(x, y) || x->numel != y->numel) {
    char a[96], b[96];
    FF_ERROR("ff_op_add: need one shape and width, got %s bw %d and %s bw %d",
             ff_shape_str(x->ndim, x->shape, a, sizeof a), x->bw, ff_shape_str(y->ndim, y->shape, b, sizeof b), y->bw);
    return FF_EINVAL;
  }
  if ((st = ff__op_wire_alloc(op, z, x->bw, x->ndim, x->shape)) || op->role == FF_OP_COST) goto done;
  /* Dealer: r_z = r_x + r_y; party: z^ = x^ + y^. */
  st = ff_sigma_add(op->ctx, x->bw, x->numel, x->v, y->v, z->v);
done:
  if (st) ff_wire_free(z);
  return st;
}

ff_status ff_op_add_bias(ff_op *op, const ff_wire *x, const ff_wire *b, ff_wire *y) {
  ff_status st = ff__local_check(op, "ff_op_add_bias", 2, x, b, y);
  if (st) return st;
  if (x->bw != b->bw || b->ndim != 1 || x->ndim < 1 || b->shape[0] != x->shape[x->ndim - 1]) {
    char a[96], c[96];
    FF_ERROR("ff_op_add_bias: need x (..., N) and b (N) of one width, got %s bw %d and %s bw %d",
             ff_shape_str(x->ndim, x->shape, a, sizeof a), x->bw, ff_shape_str(b->ndim, b->shape, c, sizeof c), b->bw);
    return FF_EINVAL;
  }
  if ((st = ff__op_wire_alloc(op, y, x->bw, x->ndim, x->shape)) || op->role == FF_OP_COST) goto done;
  const size_t N = (size_t)b->shape[0];
  st = ff_sigma_add_bias(op->ctx, x->bw, x->numel / N, N, x->v, b->v, y->v);
done:
  if (st) ff_wire_free(y);
  return st;
}

ff_status ff_op_mul_public(ff_op *op, const ff_wire *x, int64_t c, ff_wire *y) {
  ff_status st = ff__local_check(op, "ff_op_mul_public", 1, x, NULL, y);
  if (st) return st;
  if ((st = ff__op_wire_alloc(op, y, x->bw, x->ndim, x->shape)) || op->role == FF_OP_COST) goto done;
  /* Dealer: c r; party: c x^ = c x + c r. */
  st = ff_sigma_mul_public(op->ctx, x->bw, x->numel, x->v, c, y->v);
done:
  if (st) ff_wire_free(y);
  return st;
}

ff_status ff_op_permute(ff_op *op, const ff_wire *x, int nd, const int64_t *dims, const int *perm, ff_wire *y) {
  ff_status st = ff__local_check(op, "ff_op_permute", 1, x, NULL, y);
  if (st) return st;
  ff__sigma_permute_plan pl;
  if ((st = ff__sigma_permute_plan_make("ff_op_permute", nd, dims, perm, &pl))) return st;
  if (pl.n != x->numel) {
    char a[96], b[96];
    FF_ERROR("ff_op_permute: dims %s hold %zu elements, the wire %s holds %zu", ff_shape_str(nd, dims, a, sizeof a),
             pl.n, ff_shape_str(x->ndim, x->shape, b, sizeof b), x->numel);
    return FF_EINVAL;
  }
  if ((st = ff__op_wire_alloc(op, y, x->bw, nd, pl.ydims)) || op->role == FF_OP_COST) goto done;
  st = ff_sigma_permute(op->ctx, nd, dims, perm, x->v, y->v);
done:
  if (st) ff_wire_free(y);
  return st;
}

ff_status ff_op_split(ff_op *op, const ff_wire *x, int parts, int ndim, const int64_t *shape, ff_wire *outs) {
  if (!op || !x || !outs || parts < 1 || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("ff_op_split: op, input or outputs NULL, input empty, or %d parts", parts);
    return FF_EINVAL;
  }
  if (x >= outs && x < outs + parts) {
    FF_ERROR("ff_op_split: an output wire is the input");
    return FF_EINVAL;
  }
  memset(outs, 0, (size_t)parts * sizeof *outs);
  ff_status st = FF_OK;
  const size_t m = ndim >= 1 && ndim <= FF_TENSOR_MAX_DIMS && shape ? ff_shape_numel(ndim, shape, &st) : 0;
  if (!m || (size_t)parts > x->numel / m || m * (size_t)parts != x->numel) {
    char a[96], b[96];
    FF_ERROR("ff_op_split: %d parts of %s do not make the wire %s",
             parts, shape && ndim >= 1 && ndim <= FF_TENSOR_MAX_DIMS ? ff_shape_str(ndim, shape, a, sizeof a) : "?",
             ff_shape_str(x->ndim, x->shape, b, sizeof b));
    return FF_EINVAL;
  }
  const ff_mem mem = ff__op_mem(op);
  for (int i = 0; i < parts && !st; i++) {
    if ((st = ff__op_wire_alloc(op, &outs[i], x->bw, ndim, shape)) || op->role == FF_OP_COST) continue;
    /* Device to device on ctx's stream without waiting; host memcpy otherwise. */
    st = ff__fss_buf_copy(op->ctx, "ff_op_split", outs[i].v, mem, x->v + (size_t)i * m, mem, m * sizeof *x->v);
  }
  if (st)
    for (int i = 0; i < parts; i++) ff_wire_free(&outs[i]);
  return st;
}

ff_status ff_wire_reshape(ff_wire *w, int ndim, const int64_t *shape) {
  if (!w || !shape || ndim < 1 || ndim > FF_TENSOR_MAX_DIMS) {
    FF_ERROR("ff_wire_reshape: need a wire and 1..%d dimensions (got %d)", FF_TENSOR_MAX_DIMS, ndim);
    return FF_EINVAL;
  }
  ff_status st = FF_OK;
  const size_t n = ff_shape_numel(ndim, shape, &st);
  if (st || n != w->numel) {
    char a[96], b[96];
    FF_ERROR("ff_wire_reshape: %s does not hold the %zu elements of %s", ff_shape_str(ndim, shape, a, sizeof a),
             w->numel, ff_shape_str(w->ndim, w->shape, b, sizeof b));
    return FF_EINVAL;
  }
  w->ndim = ndim;
  memset(w->shape, 0, sizeof w->shape);
  memcpy(w->shape, shape, (size_t)ndim * sizeof *shape);
  return FF_OK;
}

/* ---- Batched, causal matmul ----------------------------------------------------------------------------- */

static uint64_t ff__mm_outputs(size_t B, size_t M, size_t N, int causal) {
  return causal ? (uint64_t)B * ((uint64_t)M * (M + 1) / 2) : (uint64_t)B * M * N;
}

void ff_sigma_matmul_ex_cost(size_t B, size_t M, size_t K, size_t N, int bw, const ff_sigma_mm_opts *o,
                             ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  if (!o) return;
  const uint64_t outs = ff__mm_outputs(B, M, N, o->causal);
  ff_gate_cost t;
  c->key_bytes = 8 * ((uint64_t)B * M * K + (uint64_t)B * K * N + outs);
  c->bits_sent = outs * (uint64_t)bw;
  c->bytes_sent = ff_packed_size((size_t)outs, bw);
  c->rounds = 1;
  ff_sigma_trfloor_cost((size_t)outs, bw, o->shift, &t);
  *c = ff_gate_cost_add(*c, t);
}

/* The dealer's key on its GPU (op_internal.h, "The dealer's device path"): the host path's key (R_X | R_W |
 * (R_X R_W, packed when causal) + R_C) and draws, made in device memory; rx (B, M, K) and rw (B, K, N) the
 * host masks of the inputs, r_c (C, out) the host mask of the product. */
static ff_status ff__matmul_deal_dev(ff_op *op, int bw, size_t B, size_t M, size_t K, size_t N, int causal,
                                     const uint64_t *rx, const uint64_t *rw, uint64_t *r_c) {
  const size_t C = (size_t)ff__mm_outputs(B, M, N, causal), MK = M * K, KN = K * N, MN = M * N;
  const size_t nk = B * MK + B * KN + C;
  uint64_t *d = NULL; /* key (nk) | R_C (C) | the full products when causal (B M N) */
  ff_status st = ff__op_dev_scratch(op, (nk + C + (causal ? B * MN : 0)) * sizeof *d, "MatmulEx dealer", (void **)&d);
  if (st) return st;
  uint64_t *ka = d, *kb = d + B * MK, *kc = kb + B * KN, *dc = kc + C, *rr = causal ? dc + C : kc;
  if (!(st = ff__op_dev_upload(op, ka, rx, B * MK * sizeof *d)) &&
      !(st = ff__op_dev_upload(op, kb, rw, B * KN * sizeof *d)) &&
      !(st = FF__OP_DEV(op, ff_ring_gemm_batched, bw, B, M, N, K, ka, MK, kb, KN, rr, MN)) &&
      !(st = causal ? FF__OP_DEV(op, ff_sigma_tril_pack, B, M, rr, kc) : FF_OK) &&
      !(st = ff__op_draw_dev(op, dc, C, bw)) && !(st = FF__OP_DEV(op, ff__sigma_add_reduce, C, bw, kc, dc, kc)) &&
      !(st = ff__op_put_shares_words_dev(op, d, nk, bw, 8)))
    st = ff__op_dev_download(op, r_c, dc, C * sizeof *d);
  ff__op_dev_free(op, d);
  return st;
}

/* The body inside scope Linear. prod: the product before truncation, (B, M, N) or packed (C). */
/* The gate for both entry points; plain_tag: ff_op_matmul's tag (B = 1, shift = scale, not causal: the
 * key layout is the same, the tag kept for the key files ff_op_matmul has written). */
static ff_status ff__matmul_ex_run(ff_op *op, const ff_wire *x, const ff_wire *w, const ff_sigma_mm_opts *o,
                                   size_t B, size_t M, size_t K, size_t N, int ndim, const int64_t *yshape,
                                   int plain_tag, ff_wire *y) {
  const int bw = x->bw, causal = o->causal;
  const size_t C = (size_t)ff__mm_outputs(B, M, N, causal), MK = M * K, KN = K * N, MN = M * N;
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_sigma_matmul_ex_cost(B, M, K, N, bw, o, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, bw, ndim, yshape);
  }
  /* The tag: a = shift, b = causal, d = {B, M, K 2^32 + N} (op_internal.h). */
  const ff__sg_tag tag = plain_tag ? (ff__sg_tag){FF__SG_MATMUL, (uint32_t)bw, (uint32_t)op->scale, 0, {M, K, N}}
                                   : (ff__sg_tag){FF__SG_MATMUL_EX, (uint32_t)bw, (uint32_t)o->shift, (uint32_t)causal,
                                                  {B, M, ((uint64_t)K << 32) | N}};
  const int64_t pshape[1] = {(int64_t)C};
  const size_t nk = B * MK + B * KN + C;
  ff_wire prod = {0}, t = {0};
  uint64_t *key = NULL, *full = NULL; /* full: causal, (2, B, M, N) scratch; in the wires' memory */
  ff_status st;
  ff__op_enter(op);
  if ((st = ff__op_tag(op, &tag)) ||
      (st = causal ? ff__op_wire_alloc(op, &prod, bw, 1, pshape) : ff__op_wire_alloc(op, &prod, bw, ndim, yshape)) ||
      (st = ff__op_buf_alloc(op, nk * sizeof *key, "MatmulEx", (void **)&key)) ||
      (causal && (st = ff__op_buf_alloc(op, 2 * B * MN * sizeof *full, "MatmulEx", (void **)&full))))
    goto done;
  uint64_t *ka = key, *kb = key + B * MK, *kc = key + B * MK + B * KN;
  if (op->role == FF_OP_DEALER && ff__op_deal_dev(op)) {
    if ((st = ff__matmul_deal_dev(op, bw, B, M, K, N, causal, x->v, w->v, prod.v))) goto done;
  } else if (op->role == FF_OP_DEALER) {
    /* kc = (R_X R_W, packed when causal) + R_C; prod.v: R_C, the product's mask before truncation. */
    uint64_t *rr = causal ? full : kc;
    memcpy(ka, x->v, B * MK * sizeof *ka);
    memcpy(kb, w->v, B * KN * sizeof *kb);
    st = ff_ring_gemm_batched_host(op->ctx, bw, B, M, N, K, x->v, MK, w->v, KN, rr, MN);
    if (st || (causal && (st = ff_sigma_tril_pack_cpu(op->ctx, B, M, full, kc))) ||
        (st = ff__op_draw(op, prod.v, C, bw)) || (st = ff__sigma_add_reduce_cpu(op->ctx, C, bw, kc, prod.v, kc)))
      goto done;
    if ((st = ff__op_put_shares(op, key, nk, bw))) goto done;
  } else {
    /* Causal: the key's C shares unpacked into a full block (0 above the diagonal: those products are
     * computed and dropped), the full local products packed into prod. */
    uint64_t *cc = causal ? full : kc, *out = causal ? full + B * MN : prod.v;
    if ((st = ff__op_get_mem(op, key, nk * sizeof *key, "MatmulEx")) ||
        (causal && (st = ff_sigma_tril_unpack(op->ctx, B, M, kc, cc))))
      goto done;
    for (size_t b = 0; b < B && !st; b++)
      st = ff_sigma_matmul_local(op->ctx, bw, M, K, N, x->v + b * MK, w->v + b * KN, ka + b * MK, kb + b * KN,
                                 cc + b * MN, out + b * MN);
    if (st || (causal && (st = ff_sigma_tril_pack(op->ctx, B, M, out, prod.v))) ||
        (st = ff_op_reconstruct(op, prod.v, C, bw)))
      goto done;
  }
  if (!causal) {
    st = ff__sigma_trfloor_run(op, &prod, o->shift, y);
    goto done;
  }
  /* Above the diagonal: mask 0 on the dealer, value 0 on the parties, i.e. a public 0. */
  if (!(st = ff__sigma_trfloor_run(op, &prod, o->shift, &t)) && !(st = ff__op_wire_alloc(op, y, bw, ndim, yshape)))
    st = ff_sigma_tril_unpack(op->ctx, B, M, t.v, y->v);
done:
  ff__op_leave(op);
  ff_wire_free(&prod);
  ff_wire_free(&t);
  ff__op_buf_free(op, key);
  ff__op_buf_free(op, full);
  return st;
}

ff_status ff_op_matmul_ex(ff_op *op, const ff_wire *x, const ff_wire *w, const ff_sigma_mm_opts *o, ff_wire *y) {
  ff_status st = ff__local_check(op, "ff_op_matmul_ex", 2, x, w, y);
  if (st) return st;
  if (!o) {
    FF_ERROR("ff_op_matmul_ex: options NULL");
    return FF_EINVAL;
  }
  const int nd = x->ndim;
  const int ok_dims = nd == w->ndim && (nd == 2 || (nd == 3 && x->shape[0] == w->shape[0]));
  if (!ok_dims || x->bw != w->bw || x->shape[nd - 1] != w->shape[nd - 2]) {
    char a[96], b[96];
    FF_ERROR("ff_op_matmul_ex: need X (B, M, K) and W (B, K, N), or X (M, K) and W (K, N), of one width (got %s "
             "bw %d and %s bw %d)", ff_shape_str(x->ndim, x->shape, a, sizeof a), x->bw,
             ff_shape_str(w->ndim, w->shape, b, sizeof b), w->bw);
    return FF_EINVAL;
  }
  const size_t B = nd == 3 ? (size_t)x->shape[0] : 1, M = (size_t)x->shape[nd - 2], K = (size_t)x->shape[nd - 1],
               N = (size_t)w->shape[nd - 1];
  if (o->shift < 1 || o->shift > x->bw - 1 || (o->causal != 0 && o->causal != 1) || (o->causal && M != N) ||
      (uint64_t)K > UINT32_MAX || (uint64_t)N > UINT32_MAX) {
    FF_ERROR("ff_op_matmul_ex: need shift in 1..bw-1 = %d, causal 0 or 1 with M == N, and K, N < 2^32 (shift %d, "
             "causal %d, M %zu, K %zu, N %zu)", x->bw - 1, o->shift, o->causal, M, K, N);
    return FF_EINVAL;
  }
  int64_t yshape[3] = {(int64_t)B, (int64_t)M, (int64_t)N};
  FF_SCOPE("Linear");
  st = ff__matmul_ex_run(op, x, w, o, B, M, K, N, nd, nd == 3 ? yshape : yshape + 1, 0, y);
  if (st) ff_wire_free(y);
  return st;
}

ff_status ff__sigma_matmul_plain(ff_op *op, const ff_wire *x, const ff_wire *w, ff_wire *y) {
  const size_t M = (size_t)x->shape[0], K = (size_t)x->shape[1], N = (size_t)w->shape[1];
  const ff_sigma_mm_opts o = {op->scale, 0};
  const int64_t yshape[2] = {(int64_t)M, (int64_t)N};
  ff_status st = ff__matmul_ex_run(op, x, w, &o, 1, M, K, N, 2, yshape, 1, y);
  if (st) ff_wire_free(y);
  return st;
}
