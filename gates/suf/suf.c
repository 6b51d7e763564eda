/* The suf gate, CPU reference: kernels, dealer, party and cost (suf.h has the protocol). It runs on the
 * sigma suite's op session (gates/sigma/op_internal.h: key stream framing, accounting, reconstructs), so
 * both suites share one runtime. Test: tests/test_suf.c. */
#include "gates/suf/suf.h"

#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/dpf.h"
#include "gates/fss/lut.h"
#include "gates/fss/select.h"
#include "gates/sigma/op_internal.h"
#include "gates/suf/sparse.h"
#include "scope/scope.h"

/* ---- Shapes ------------------------------------------------------------------------------------------- */

static int ff__has_carry(const ff_suf_spec *sp) { return sp->s > 0; }
/* Comparison points per element: v^, one per threshold, the carry point. */
static size_t ff__n_points(const ff_suf_spec *sp) { return (size_t)sp->n_thr + 1 + (size_t)ff__has_carry(sp); }
static size_t ff__bit_bytes(size_t n) { return (n + 7) / 8; }

int ff_suf_final_words(const ff_suf_spec *sp) { return sp->base == FF_SUF_BASE_RELU ? 8 : 5; }

/* The carry's comparison key on s bits (op_internal.h's DCF(s): a truth table up to 7 bits, a DPF above). */
static uint64_t ff__carry_key_bytes(const ff_suf_spec *sp, size_t N) {
  return ff__has_carry(sp) ? ff__dcf_key_bytes(sp->s, N) : 0;
}

/* The LUT key as the gate stores it: the DPF in its memory layout (dpf.h: tR packed, (kl-7)/8 B per element
 * where lut.h's serialized form spends SIGMA's u32) and the u mask; r_v's shares follow as words. The party
 * reads all three straight into the key's buffers (device memory on a CUDA party), no host conversion. */
static size_t ff__lut_prefix_bytes(const ff_suf_spec *sp, size_t N) {
  return ff_dpf_key_bytes(sp->kl, N) + ff__bit_bytes(N);
}

void ff_suf_cost(const ff_suf_spec *sp, size_t N, ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  const uint64_t wb = (uint64_t)ff__op_word_bytes(sp->bw), kb = (uint64_t)ff__op_word_bytes(sp->kl);
  c->key_bytes = ff_dpf_key_bytes(sp->e, N) + (uint64_t)sp->n_help * ff__bit_bytes(N) + ff__carry_key_bytes(sp, N) +
                 2 * N * kb + ff__lut_prefix_bytes(sp, N) + (1 + (uint64_t)ff_suf_final_words(sp)) * N * wb;
  c->bits_sent = (uint64_t)N * ((uint64_t)sp->n_help + (uint64_t)sp->kl + 1 + 2 * (uint64_t)sp->bw);
  c->bytes_sent = ff_packed_size((size_t)sp->n_help * N, 1) + ff_packed_size(N, sp->kl) + ff__bit_bytes(N) +
                  2 * ff_packed_size(N, sp->bw);
  c->rounds = 4;
}

/* ---- Kernels (CPU) ------------------------------------------------------------------------------------- */

ff_status ff_suf_points_cpu(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, uint64_t *pts) {
  (void)ctx;
  const uint64_t em = ff_ring_mask(sp->e), sm = ff_ring_mask(sp->s);
  for (size_t i = 0; i < N; i++) {
    const uint64_t v = (xhat[i] + sp->off) & em;
    pts[i] = v;
    for (int t = 0; t < sp->n_thr; t++) pts[(size_t)(t + 1) * N + i] = (v - sp->thr[t]) & em;
    if (ff__has_carry(sp)) pts[(size_t)(sp->n_thr + 1) * N + i] = (xhat[i] - (uint64_t)sp->w_lo) & sm;
  }
  return FF_OK;
}

ff_status ff_suf_helpers_cpu(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *cmp,
                             const uint64_t *masks, uint64_t *out) {
  const uint64_t em = ff_ring_mask(sp->e), p0 = ctx->party == 0;
  const int nh = sp->n_help - ff__has_carry(sp);
  for (size_t i = 0; i < N; i++) {
    const uint64_t v = (xhat[i] + sp->off) & em;
    for (int h = 0; h < nh; h++) {
      const ff_suf_helper hp = sp->helpers[h];
      uint64_t b = ((uint64_t)__builtin_parity(hp.cmp_mask) & cmp[i]) ^ masks[(size_t)h * N + i];
      uint64_t pub = hp.constant;
      for (int t = 0; t < sp->n_thr; t++)
        if ((hp.cmp_mask >> t) & 1) b ^= cmp[(size_t)(t + 1) * N + i], pub ^= (uint64_t)(v < sp->thr[t]);
      out[(size_t)h * N + i] = (b ^ (p0 & pub)) & 1;
    }
    if (ff__has_carry(sp)) {
      const size_t h = (size_t)nh;
      out[h * N + i] = (cmp[(size_t)(sp->n_thr + 1) * N + i] ^ masks[h * N + i]) & 1;
    }
  }
  return FF_OK;
}

ff_status ff_suf_index_cpu(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *chat,
                           const uint64_t *words, uint64_t *idx) {
  const uint64_t km = ff_ring_mask(sp->kl), inm = ff_ring_mask(sp->bw_in), p0 = ctx->party == 0;
  for (size_t i = 0; i < N; i++) {
    const uint64_t c = ff__has_carry(sp) ? chat[i] & 1 : 0;
    const uint64_t ahat = (xhat[i] - (uint64_t)sp->w_lo) & inm;
    uint64_t v = words[N + i] - (1 - 2 * c) * words[i];
    if (p0) v += (ahat >> sp->s) - c;
    idx[i] = v & km;
  }
  return FF_OK;
}

ff_status ff_suf_final_cpu(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *hhat,
                           const uint64_t *uhat, const uint64_t *vhat, const uint64_t *words, uint64_t *y) {
  const uint64_t m = ff_ring_mask(sp->bw), p0 = ctx->party == 0;
  const int relu = sp->base == FF_SUF_BASE_RELU;
  const size_t wo = relu ? 3 : 0; /* the table term's words start here */
  for (size_t i = 0; i < N; i++) {
    const uint64_t w = hhat[(size_t)sp->w_helper * N + i] & 1, g = 2 * (uhat[i] & 1) - 1, V = vhat[i];
    const uint64_t *W = words + i;
    uint64_t out = g * (w * (V * W[wo * N] - W[(wo + 1) * N]) + (1 - 2 * w) * (V * W[(wo + 2) * N] - W[(wo + 3) * N]));
    if (relu) {
      const uint64_t d = hhat[(size_t)sp->d_helper * N + i] & 1, x = xhat[i];
      out += (1 - 2 * d) * (x * W[N] - W[2 * N]) - d * W[0];
      if (p0) out += d * x;
    }
    y[i] = (out + W[(wo + 4) * N]) & m;
  }
  return FF_OK;
}

/* ---- Dispatch ------------------------------------------------------------------------------------------ */

#ifndef FF_HAVE_CUDA
static ff_status ff__no_cuda(const char *fn) {
  FF_ERROR("%s: this build has no CUDA", fn);
  return FF_ENOTSUP;
}
ff_status ff_suf_points_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, uint64_t *pts) {
  (void)ctx, (void)sp, (void)N, (void)xhat, (void)pts;
  return ff__no_cuda(__func__);
}
ff_status ff_suf_helpers_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *cmp,
                              const uint64_t *masks, uint64_t *out) {
  (void)ctx, (void)sp, (void)N, (void)xhat, (void)cmp, (void)masks, (void)out;
  return ff__no_cuda(__func__);
}
ff_status ff_suf_index_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *chat,
                            const uint64_t *words, uint64_t *idx) {
  (void)ctx, (void)sp, (void)N, (void)xhat, (void)chat, (void)words, (void)idx;
  return ff__no_cuda(__func__);
}
ff_status ff_suf_final_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *hhat,
                            const uint64_t *uhat, const uint64_t *vhat, const uint64_t *words, uint64_t *y) {
  (void)ctx, (void)sp, (void)N, (void)xhat, (void)hhat, (void)uhat, (void)vhat, (void)words, (void)y;
  return ff__no_cuda(__func__);
}
ff_status ff_suf_table_cuda(ff_ctx *ctx, const ff_suf_spec *sp, const uint64_t **tab) {
  (void)ctx, (void)sp, (void)tab;
  return ff__no_cuda(__func__);
}
#endif

#define FF__SUF_DISPATCH(call_cpu, call_cuda) \
  (ctx && ctx->backend == FF_BACKEND_CUDA ? (call_cuda) : (call_cpu))

ff_status ff_suf_points(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, uint64_t *pts) {
  return FF__SUF_DISPATCH(ff_suf_points_cpu(ctx, sp, N, xhat, pts), ff_suf_points_cuda(ctx, sp, N, xhat, pts));
}
ff_status ff_suf_helpers(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *cmp,
                         const uint64_t *masks, uint64_t *out) {
  return FF__SUF_DISPATCH(ff_suf_helpers_cpu(ctx, sp, N, xhat, cmp, masks, out),
                          ff_suf_helpers_cuda(ctx, sp, N, xhat, cmp, masks, out));
}
ff_status ff_suf_index(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *chat,
                       const uint64_t *words, uint64_t *idx) {
  return FF__SUF_DISPATCH(ff_suf_index_cpu(ctx, sp, N, xhat, chat, words, idx),
                          ff_suf_index_cuda(ctx, sp, N, xhat, chat, words, idx));
}
ff_status ff_suf_final(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat, const uint64_t *hhat,
                       const uint64_t *uhat, const uint64_t *vhat, const uint64_t *words, uint64_t *y) {
  return FF__SUF_DISPATCH(ff_suf_final_cpu(ctx, sp, N, xhat, hhat, uhat, vhat, words, y),
                          ff_suf_final_cuda(ctx, sp, N, xhat, hhat, uhat, vhat, words, y));
}
ff_status ff_suf_table(ff_ctx *ctx, const ff_suf_spec *sp, const uint64_t **tab) {
  if (ctx && ctx->backend == FF_BACKEND_CUDA) return ff_suf_table_cuda(ctx, sp, tab);
  *tab = sp->tab;
  return FF_OK;
}

/* ---- Dealer -------------------------------------------------------------------------------------------- */

/* x->v holds r; y->v gets r_out. Writes, in order: DPF(e) | helper mask bits | carry key | index words |
 * LUT prefix | r_v | final words (suf.h). */
static ff_status ff__suf_deal(ff_op *op, const ff_suf_spec *sp, const ff_wire *x, ff_wire *y) {
  ff_ctx *ctx = op->ctx;
  const size_t N = x->numel, nh = (size_t)sp->n_help, W = (size_t)ff_suf_final_words(sp);
  const int bw = sp->bw, kl = sp->kl, wb = ff__op_word_bytes(bw), relu = sp->base == FF_SUF_BASE_RELU;
  const uint64_t *r = x->v, m = ff_ring_mask(bw);
  ff_status st = FF_OK;
  uint64_t *alpha = ff__op_alloc(N * sizeof *alpha, "suf keygen"), *rho = ff__op_alloc(nh * N * sizeof *rho, "suf keygen"),
           *iw = ff__op_alloc(2 * N * sizeof *iw, "suf keygen"), *ridx = ff__op_alloc(N * sizeof *ridx, "suf keygen"),
           *rlut = ff__op_alloc(N * sizeof *rlut, "suf keygen"), *fw = ff__op_alloc(W * N * sizeof *fw, "suf keygen");
  ff_lut_key lk[2] = {{0}, {0}};
  if (!alpha || !rho || !iw || !ridx || !rlut || !fw) {
    st = FF_ENOMEM;
    goto done;
  }
  /* R1: the comparison key at rho = r mod 2^e, the helper masks, the carry key at r mod 2^s. */
  for (size_t i = 0; i < N; i++) alpha[i] = ff_ring_reduce(r[i], sp->e);
  if ((st = ff__dcf_deal(op, sp->e, N, alpha)) || (st = ff__op_draw(op, rho, nh * N, 1)) ||
      (st = ff__op_put_bit_shares(op, nh, N, rho)))
    goto done;
  if (ff__has_carry(sp)) {
    for (size_t i = 0; i < N; i++) alpha[i] = ff_ring_reduce(r[i], sp->s);
    if ((st = ff__dcf_deal(op, sp->s, N, alpha))) goto done;
  }
  /* R2: shares of rho_c and delta = r_idx - (r >> s) mod 2^kl, r_idx fresh. */
  if ((st = ff__op_draw(op, ridx, N, kl))) goto done;
  for (size_t i = 0; i < N; i++) {
    iw[i] = ff__has_carry(sp) ? rho[(nh - 1) * N + i] : 0;
    iw[N + i] = ff_ring_reduce(ridx[i] - (ff_ring_reduce(r[i], sp->bw_in) >> sp->s), kl);
  }
  if ((st = ff__op_put_shares_words(op, iw, 2 * N, kl, ff__op_word_bytes(kl)))) goto done;
  /* R3: the LUT key at r_idx; r_u = the u masks' XOR, r_v = the select key's b shares' sum. */
  if ((st = ff_lut_key_alloc(ctx, &lk[0], kl, bw, 1, N)) || (st = ff_lut_key_alloc(ctx, &lk[1], kl, bw, 1, N)) ||
      (st = ff_lut_keygen(ctx, ridx, &lk[0], &lk[1], rlut)))
    goto done;
  for (int p = 0; p < 2 && !st; p++)
    if (!(st = ff__op_put(op, p, lk[p].dpf.buf, lk[p].dpf.bytes)) && !(st = ff__op_put(op, p, lk[p].u_mask, ff__bit_bytes(N))))
      st = ff__op_put_words(op, p, lk[p].sel.b, N, wb);
  if (st) goto done;
  /* R4: the final words. */
  if ((st = ff__op_draw(op, y->v, N, bw))) goto done;
  for (size_t i = 0; i < N; i++) {
    const uint64_t ru = (uint64_t)(((lk[0].u_mask[i / 8] ^ lk[1].u_mask[i / 8]) >> (i % 8)) & 1);
    const uint64_t rv = lk[0].sel.b[i] + lk[1].sel.b[i], sigma = 1 - 2 * ru, rw = rho[(size_t)sp->w_helper * N + i];
    size_t o = 0;
    if (relu) {
      const uint64_t rd = rho[(size_t)sp->d_helper * N + i];
      fw[o++ * N + i] = r[i] & m;
      fw[o++ * N + i] = rd;
      fw[o++ * N + i] = rd * r[i] & m;
    }
    fw[o++ * N + i] = sigma & m;
    fw[o++ * N + i] = sigma * rv & m;
    fw[o++ * N + i] = rw * sigma & m;
    fw[o++ * N + i] = rw * sigma * rv & m;
    fw[o * N + i] = y->v[i];
  }
  st = ff__op_put_shares_words(op, fw, W * N, bw, wb);
done:
  ff_lut_key_free(&lk[0]);
  ff_lut_key_free(&lk[1]);
  free(alpha);
  free(rho);
  free(iw);
  free(ridx);
  free(rlut);
  free(fw);
  return st;
}

/* ---- Party --------------------------------------------------------------------------------------------- */

/* Opens u^ (1 bit, XOR) and V^ (bw bits, additive) of n elements in ONE exchange (one message each way,
 * one round), scope Reconstruct; u and v in the op's memory, public values out. */
static ff_status ff__open_u_v(ff_op *op, uint64_t *u, uint64_t *v, size_t n, int bw) {
  FF_SCOPE("Reconstruct");
  /* u's packed bits, then V's: two segments of one exchange (gates/fss/select.h). */
  const ff_recon_seg seg[2] = {{u, 1, NULL, 0, n}, {v, bw, NULL, 0, n}};
  ff_status st = ff__fss_reconstruct_segs(op->ctx, ff__op_mem(op), seg, 2);
  if (!st) op->cost[op->party].bits_sent += (uint64_t)n * (1 + (uint64_t)bw);
  return st;
}

/* R1: the helpers' shares, opened (n_help bits). hhat (n_help, N) gets the public masked helpers. */
static ff_status ff__suf_packed_compare(ff_op *op, const ff_suf_spec *sp, const ff_wire *x, uint64_t *hhat) {
  FF_SCOPE("FSS::PackedCompare");
  ff_ctx *ctx = op->ctx;
  const size_t N = x->numel, E = (size_t)sp->n_thr + 1, P = ff__n_points(sp), nh = (size_t)sp->n_help;
  const size_t mb = ff__bit_bytes(N), pb = ff__bit_bytes(E * N);
  /* Bit buffers start on 16-byte boundaries (device kernels may write them in 32-bit words). */
  const size_t a16 = 16, mbb = (nh * mb + a16 - 1) / a16 * a16, pbb = (pb + a16 - 1) / a16 * a16;
  const size_t total = (2 * P + nh) * N * sizeof(uint64_t) + mbb + pbb + mb;
  void *blk = NULL;
  ff_status st = ff__op_buf_alloc(op, total, "suf packed compare", &blk);
  if (st) return st;
  uint64_t *pts = blk, *cmp = pts + P * N, *masks = cmp + P * N;
  uint8_t *mbits = (uint8_t *)(masks + nh * N), *cbits = mbits + mbb, *carrybits = cbits + pbb;
  /* The key order is the dealer's: DPF(e), the helper masks, the carry's DCF(s). */
  if ((st = ff_suf_points(ctx, sp, N, x->v, pts)) || (st = ff__dcf_eval(op, sp->e, N, E, pts, cbits, "suf packed compare")) ||
      (st = ff__op_get_mem(op, mbits, nh * mb, "suf packed compare")) || (st = ff__op_unpack_bits(op, E * N, cbits, cmp)))
    goto done;
  for (size_t h = 0; h < nh && !st; h++) st = ff__op_unpack_bits(op, N, mbits + h * mb, masks + h * N);
  if (!st && ff__has_carry(sp) && !(st = ff__dcf_eval(op, sp->s, N, 1, pts + E * N, carrybits, "suf carry")))
    st = ff__op_unpack_bits(op, N, carrybits, cmp + E * N);
  if (st) goto done;
  if (!(st = ff_suf_helpers(ctx, sp, N, x->v, cmp, masks, hhat))) st = ff_op_reconstruct(op, hhat, nh * N, 1);
done:
  ff__op_buf_free(op, blk);
  return st;
}

/* R2 and R3: the masked index, opened; the LUT; u^ and V^ opened together. */
static ff_status ff__suf_interval_lookup(ff_op *op, const ff_suf_spec *sp, const ff_wire *x, const uint64_t *hhat,
                                         uint64_t *uhat, uint64_t *vhat) {
  FF_SCOPE("FSS::IntervalLookup");
  ff_ctx *ctx = op->ctx;
  const size_t N = x->numel;
  const int kl = sp->kl, bw = sp->bw, wb = ff__op_word_bytes(bw);
  void *blk = NULL;
  ff_lut_key lk = {0};
  const uint64_t *tab = NULL;
  ff_status st = ff__op_buf_alloc(op, 3 * N * sizeof(uint64_t), "suf interval lookup", &blk);
  if (st) return st;
  uint64_t *words = blk, *idx = words + 2 * N;
  const uint64_t *chat = ff__has_carry(sp) ? hhat + (size_t)(sp->n_help - 1) * N : NULL;
  if ((st = ff__op_get_words(op, words, 2 * N, ff__op_word_bytes(kl), "suf index")) ||
      (st = ff_suf_index(ctx, sp, N, x->v, chat, words, idx)) || (st = ff_op_reconstruct(op, idx, N, kl)))
    goto done;
  /* The LUT key straight into its buffers; r_v's shares are the select key's b (lut.h: v's mask). */
  if ((st = ff_lut_key_alloc(ctx, &lk, kl, bw, 1, N)) || (st = ff__op_get_mem(op, lk.dpf.buf, lk.dpf.bytes, "suf LUT")) ||
      (st = ff__op_get_mem(op, lk.u_mask, ff__bit_bytes(N), "suf LUT")) ||
      (st = ff__op_get_words(op, lk.sel.b, N, wb, "suf LUT")))
    goto done;
  if ((st = ff_suf_table(ctx, sp, &tab)) || (st = ff_lut_eval_local(ctx, &lk, idx, tab, uhat, vhat))) goto done;
  st = ff__open_u_v(op, uhat, vhat, N, bw);
done:
  ff_lut_key_free(&lk);
  ff__op_buf_free(op, blk);
  return st;
}

static ff_status ff__suf_eval(ff_op *op, const ff_suf_spec *sp, const ff_wire *x, ff_wire *y) {
  const size_t N = x->numel, nh = (size_t)sp->n_help, W = (size_t)ff_suf_final_words(sp);
  void *blk = NULL;
  ff_status st = ff__op_buf_alloc(op, (nh + 2 + W) * N * sizeof(uint64_t), "suf gate", &blk);
  if (st) return st;
  uint64_t *hhat = blk, *uhat = hhat + nh * N, *vhat = uhat + N, *words = vhat + N;
  if (!(st = ff__suf_packed_compare(op, sp, x, hhat)) && !(st = ff__suf_interval_lookup(op, sp, x, hhat, uhat, vhat)) &&
      !(st = ff__op_get_words(op, words, W * N, ff__op_word_bytes(sp->bw), "suf final")) &&
      !(st = ff_suf_final(op->ctx, sp, N, x->v, hhat, uhat, vhat, words, y->v)))
    st = ff_op_reconstruct(op, y->v, N, sp->bw);
  ff__op_buf_free(op, blk);
  return st;
}

/* ---- Gate ---------------------------------------------------------------------------------------------- */

ff_status ff_op_suf(ff_op *op, const ff_suf_spec *sp, const ff_wire *x, ff_wire *y) {
  if (!op || !sp || !x || !y || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("ff_op_suf: op, specification, input or output wire is NULL or empty");
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y);
  if (x->bw != sp->bw_in) {
    FF_ERROR("ff_op_suf %s: the input wire has %d bits, the specification wants %d", sp->name, x->bw, sp->bw_in);
    return FF_EINVAL;
  }
  const size_t N = x->numel;
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_suf_cost(sp, N, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, sp->bw, x->ndim, x->shape);
  }
  const ff__sg_tag tag = {FF__SG_SUF, (uint32_t)sp->bw, (uint32_t)sp->fn, (uint32_t)sp->k,
                          {N, (uint64_t)sp->e | (uint64_t)sp->s << 8 | (uint64_t)sp->kl << 16,
                           (uint64_t)sp->bw_in | (uint64_t)sp->bw << 8}};
  ff_status st;
  ff__op_enter(op);
  if (!(st = ff__op_tag(op, &tag)) && !(st = ff__op_wire_alloc(op, y, sp->bw, x->ndim, x->shape)))
    st = op->role == FF_OP_DEALER ? ff__suf_deal(op, sp, x, y) : ff__suf_eval(op, sp, x, y);
  ff__op_leave(op);
  if (st) ff_wire_free(y);
  return st;
}

const ff_suf_spec *ff_suf_spec_for(ff_suf_fn fn, const ff_suf_config *cfg, int bw_in, int bw, int scale) {
  ff_suf_config def;
  if (!cfg) ff_suf_config_default(&def), cfg = &def;
  const int ints = fn == FF_SUF_GELU ? cfg->gelu_intervals : cfg->silu_intervals;
  const int k = fn == FF_SUF_NEXP ? cfg->nexp_bits : (ints > 0 ? __builtin_ctz((unsigned)ints) : -1);
  if (fn != FF_SUF_NEXP && (ints <= 0 || (ints & (ints - 1)))) {
    FF_ERROR("suf %s: %d intervals is not a power of two", fn == FF_SUF_GELU ? "GELU" : "SiLU", ints);
    return NULL;
  }
  int e = ff_suf_config_e(cfg, bw, scale);
  if (e > bw_in) e = bw_in;
  return ff_suf_spec_get(fn, bw_in, bw, scale, e, k);
}

static ff_status ff__suf_act(ff_op *op, ff_suf_fn fn, const ff_suf_config *cfg, const ff_wire *x, ff_wire *y) {
  if (!op || !x) {
    FF_ERROR("suf %s: op or input wire is NULL", fn == FF_SUF_GELU ? "GELU" : "SiLU");
    return FF_EINVAL;
  }
  if (ff_suf_config_sparse(cfg, fn)) {
    const ff_suf_sparse_spec *sp = ff_suf_sparse_spec_for(fn, cfg, x->bw, ff_op_scale(op));
    return sp ? ff_op_suf_sparse(op, sp, x, y) : FF_EINVAL;
  }
  const ff_suf_spec *sp = ff_suf_spec_for(fn, cfg, x->bw, x->bw, ff_op_scale(op));
  return sp ? ff_op_suf(op, sp, x, y) : FF_EINVAL;
}

ff_status ff_suf_act_emulate(ff_suf_fn fn, const ff_suf_config *cfg, int bw, int scale, size_t N, const uint64_t *x,
                             uint64_t *y) {
  if (ff_suf_config_sparse(cfg, fn)) {
    const ff_suf_sparse_spec *sp = ff_suf_sparse_spec_for(fn, cfg, bw, scale);
    if (!sp) return FF_EINVAL;
    ff_suf_sparse_emulate(sp, N, x, y);
    return FF_OK;
  }
  const ff_suf_spec *sp = ff_suf_spec_for(fn, cfg, bw, bw, scale);
  if (!sp) return FF_EINVAL;
  ff_suf_emulate(sp, N, x, y);
  return FF_OK;
}

ff_status ff_op_suf_gelu(ff_op *op, const ff_suf_config *cfg, const ff_wire *x, ff_wire *y) {
  FF_SCOPE("Activation::GELU");
  return ff__suf_act(op, FF_SUF_GELU, cfg, x, y);
}

ff_status ff_op_suf_silu(ff_op *op, const ff_suf_config *cfg, const ff_wire *x, ff_wire *y) {
  FF_SCOPE("Activation::SiLU");
  return ff__suf_act(op, FF_SUF_SILU, cfg, x, y);
}

ff_status ff_op_suf_nexp(ff_op *op, const ff_suf_config *cfg, const ff_wire *x1, ff_wire *y) {
  if (!op || !x1) {
    FF_ERROR("suf nExp: op or input wire is NULL");
    return FF_EINVAL;
  }
  const ff_suf_spec *sp = ff_suf_spec_for(FF_SUF_NEXP, cfg, x1->bw, ff_op_bw(op), ff_op_scale(op));
  return sp ? ff_op_suf(op, sp, x1, y) : FF_EINVAL;
}

/* ---- The pipelines --------------------------------------------------------------------------------------- */

static ff_status ff__nexp_hook(void *arg, ff_op *op, const ff_wire *x1, ff_wire *e) {
  return ff_op_suf_nexp(op, arg, x1, e);
}

static void ff__nexp_cost_hook(void *arg, size_t N, int bw, int ring, ff_gate_cost *c) {
  const ff_suf_spec *sp = ff_suf_spec_for(FF_SUF_NEXP, arg, ring, bw, 12);
  if (sp) ff_suf_cost(sp, N, c);
  else memset(c, 0, sizeof *c);
}

static void ff__nexp_emulate_hook(void *arg, int bw, int ring, size_t N, const uint64_t *x1, uint64_t *e) {
  const ff_suf_spec *sp = ff_suf_spec_for(FF_SUF_NEXP, arg, ring, bw, 12);
  if (sp) ff_suf_emulate(sp, N, x1, e);
  else memset(e, 0, N * sizeof *e);
}

void ff_suf_softmax_opts(const ff_suf_config *cfg, ff_sigma_softmax_opts *o) {
  memset(o, 0, sizeof *o);
  if (!cfg || !cfg->softmax) return;
  o->inv_bits = cfg->inv_bits;
  o->nexp = ff__nexp_hook;
  o->nexp_cost = ff__nexp_cost_hook;
  o->nexp_emulate = ff__nexp_emulate_hook;
  o->arg = (void *)cfg;
}

void ff_suf_norm_opts(const ff_suf_config *cfg, ff_sigma_norm_opts *o) {
  memset(o, 0, sizeof *o);
  if (cfg && cfg->layernorm) o->rsqrt_bits = cfg->rsqrt_bits;
}
