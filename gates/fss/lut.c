/* SIGMA's DPF lookup table, CPU reference: keys in SIGMA's evalAll serialized layout, the dealer,
 * the local kernel (full-domain DPF evaluation and the u, v sums), the sign fix, the gate and its cost
 * (research/sigma.md §3 "LUT", §4, §10; GPU-MPC fss/gpu_lut.cu). CUDA twins: lut_cuda.cu.
 * Tests: tests/test_lut.c (CPU), tests/test_lut_cuda.c (CUDA against CPU). */
#include "gates/fss/lut.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ring.h"
#include "scope/scope.h"

#define FF__LUT_CPU_CHUNK_BYTES ((size_t)1 << 20) /* leaf bits per full-domain batch on the CPU */

static size_t ff__bit_bytes(size_t nbits) { return nbits / 8 + (nbits % 8 != 0); }
static inline int ff__get_bit(const uint8_t *bits, size_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }
static inline void ff__put_bit(uint8_t *bits, size_t i, int b) { bits[i >> 3] |= (uint8_t)((b & 1) << (i & 7)); }

#ifndef FF_HAVE_CUDA
static ff_status ff__no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend (configure with a CUDA compiler)", fn);
  return FF_ENOTSUP;
}
#endif

/* ---- Keys ------------------------------------------------------------------------------------------ */

static int ff__lut_shape_ok(int b, int b_out, int n_tables, size_t N) {
  return b >= FF_LUT_MIN_BITS && b <= FF_LUT_MAX_BITS && b_out >= 1 && b_out <= 64 && n_tables >= 1 && N >= 1;
}

/* Bytes of the DPF part before tR: seed, scw, l0, l1 = (b-5) blocks per element. */
size_t ff__lut_dpf_block_bytes(int b, size_t N) { return (size_t)(b - 5) * 16 * N; }

size_t ff_lut_key_bytes(int b, int b_out, int n_tables, size_t N) {
  if (!ff__lut_shape_ok(b, b_out, n_tables, N)) return 0;
  size_t per_elem = (size_t)(b - 5) * 16 + 4 + (size_t)n_tables * FF_SELECT_KEY_ELEMS * sizeof(uint64_t), total;
  if (__builtin_mul_overflow(per_elem, N, &total) || __builtin_add_overflow(total, ff__bit_bytes(N), &total)) return 0;
  return total;
}

ff_status ff_lut_key_alloc(ff_ctx *ctx, ff_lut_key *k, int b, int b_out, int n_tables, size_t N) {
  if (!k || !ctx) {
    FF_ERROR("ff_lut_key_alloc: key or context is NULL");
    return FF_EINVAL;
  }
  memset(k, 0, sizeof *k);
  size_t TN;
  if (!ff_lut_key_bytes(b, b_out, n_tables, N) || __builtin_mul_overflow((size_t)n_tables, N, &TN)) {
    FF_ERROR("ff_lut_key_alloc: need %d <= b <= %d, 1 <= b_out <= 64, n_tables >= 1 and N >= 1 with a size that "
             "fits (b = %d, b_out = %d, n_tables = %d, N = %zu)",
             FF_LUT_MIN_BITS, FF_LUT_MAX_BITS, b, b_out, n_tables, N);
    return FF_EINVAL;
  }
  ff_status st;
  void *umask = NULL;
  if ((st = ff_dpf_key_alloc(ctx, &k->dpf, b, N)) ||
      (st = ff__fss_buf_alloc(ctx, "ff_lut_key_alloc", ff__bit_bytes(N), &umask, &k->where)) ||
      (st = ff_select_key_alloc(ctx, &k->sel, b_out, TN))) {
    ff__fss_buf_free(umask, k->where);
    ff_dpf_key_free(&k->dpf);
    ff_select_key_free(&k->sel);
    memset(k, 0, sizeof *k);
    return st;
  }
  k->u_mask = umask;
  k->b = b;
  k->b_out = b_out;
  k->n_tables = n_tables;
  k->N = N;
  return FF_OK;
}

void ff_lut_key_free(ff_lut_key *k) {
  if (!k) return;
  ff_dpf_key_free(&k->dpf);
  ff__fss_buf_free(k->u_mask, k->where);
  ff_select_key_free(&k->sel);
  memset(k, 0, sizeof *k);
}

ff_status ff__lut_key_check(const char *fn, const ff_lut_key *k, ff_mem where) {
  if (!k || !ff__lut_shape_ok(k->b, k->b_out, k->n_tables, k->N) || !k->u_mask || !k->dpf.buf || !k->sel.buf ||
      k->dpf.n != k->b || k->dpf.N != k->N || k->sel.bw != k->b_out || k->sel.N != (size_t)k->n_tables * k->N) {
    FF_ERROR("%s: LUT key is NULL or not allocated with ff_lut_key_alloc", fn);
    return FF_EINVAL;
  }
  if (k->where != where || k->dpf.where != where || k->sel.where != where) {
    FF_ERROR("%s: the LUT key is in %s memory, this call wants %s memory (see ff_lut_key_copy)", fn,
             k->where == FF_MEM_DEVICE ? "device" : "host", where == FF_MEM_DEVICE ? "device" : "host");
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_lut_key_copy(ff_ctx *ctx, ff_lut_key *dst, const ff_lut_key *src) {
  ff_status st;
  if ((st = ff__lut_key_check("ff_lut_key_copy", src, src ? src->where : FF_MEM_HOST)) ||
      (st = ff__lut_key_check("ff_lut_key_copy", dst, dst ? dst->where : FF_MEM_HOST)))
    return st;
  if (dst->b != src->b || dst->b_out != src->b_out || dst->n_tables != src->n_tables || dst->N != src->N) {
    FF_ERROR("ff_lut_key_copy: the keys have different shapes");
    return FF_EINVAL;
  }
  if ((st = ff_dpf_key_copy(ctx, &dst->dpf, &src->dpf)) ||
      (st = ff__fss_buf_copy(ctx, "ff_lut_key_copy", dst->u_mask, dst->where, src->u_mask, src->where,
                             ff__bit_bytes(src->N))))
    return st;
  return ff_select_key_copy(ctx, &dst->sel, &src->sel);
}

/* dpf.h's packed tR bits (levels, N) as SIGMA's evalAll layout: element j's right control CWs in one
 * little-endian u32, bit i = level i (4N bytes into out). */
ff_status ff__lut_tr_words_cpu(ff_ctx *ctx, const uint8_t *tR, int levels, size_t N, uint8_t *out) {
  (void)ctx;
  for (size_t j = 0; j < N; j++, out += 4) {
    uint32_t w = 0;
    for (int i = 0; i < levels; i++) w |= (uint32_t)ff__get_bit(tR, (size_t)i * N + j) << i;
    for (int by = 0; by < 4; by++) out[by] = (uint8_t)(w >> (8 * by));
  }
  return FF_OK;
}

ff_status ff_lut_key_serialize(const ff_lut_key *k, void *out, size_t cap) {
  ff_status st = ff__lut_key_check("ff_lut_key_serialize", k, FF_MEM_HOST);
  if (st) return st;
  const size_t bytes = ff_lut_key_bytes(k->b, k->b_out, k->n_tables, k->N);
  if (!out || cap < bytes) {
    FF_ERROR("ff_lut_key_serialize: need %zu bytes of output, have %zu", bytes, out ? cap : 0);
    return out ? FF_ERANGE : FF_EINVAL;
  }
  const size_t N = k->N, blocks = ff__lut_dpf_block_bytes(k->b, N);
  uint8_t *p = out;
  memcpy(p, k->dpf.buf, blocks);
  p += blocks;
  (void)ff__lut_tr_words_cpu(NULL, k->dpf.tR, k->b - FF_DPF_LEAF_BITS, N, p);
  p += 4 * N;
  memcpy(p, k->u_mask, ff__bit_bytes(N));
  p += ff__bit_bytes(N);
  return ff_select_key_serialize(&k->sel, p, k->sel.bytes);
}

ff_status ff_lut_key_deserialize(ff_lut_key *k, int b, int b_out, int n_tables, size_t N, const void *in, size_t len) {
  ff_ctx host = {.backend = FF_BACKEND_CPU};
  if (!in) {
    FF_ERROR("ff_lut_key_deserialize: input is NULL");
    return FF_EINVAL;
  }
  ff_status st = ff_lut_key_alloc(&host, k, b, b_out, n_tables, N);
  if (st) return st;
  const size_t bytes = ff_lut_key_bytes(b, b_out, n_tables, N), blocks = ff__lut_dpf_block_bytes(b, N);
  if (len != bytes) {
    FF_ERROR("ff_lut_key_deserialize: %zu LUT keys (b = %d, b_out = %d, %d tables) take %zu bytes, got %zu", N, b,
             b_out, n_tables, bytes, len);
    ff_lut_key_free(k);
    return FF_EFORMAT;
  }
  const uint8_t *p = in;
  memcpy(k->dpf.buf, p, blocks);
  p += blocks;
  if ((st = ff__lut_tr_pack_cpu(&host, N, b - FF_DPF_LEAF_BITS, p, k->dpf.tR))) {
    ff_lut_key_free(k);
    return st;
  }
  p += 4 * N;
  memcpy(k->u_mask, p, ff__bit_bytes(N));
  p += ff__bit_bytes(N);
  memcpy(k->sel.buf, p, k->sel.bytes);
  return FF_OK;
}

ff_status ff__lut_tr_pack_cpu(ff_ctx *ctx, size_t N, int levels, const uint8_t *words, uint8_t *tR) {
  (void)ctx;
  memset(tR, 0, ff__bit_bytes((size_t)levels * N));
  for (size_t j = 0; j < N; j++, words += 4) {
    const uint32_t w = (uint32_t)words[0] | (uint32_t)words[1] << 8 | (uint32_t)words[2] << 16 | (uint32_t)words[3] << 24;
    if (w >> levels) {
      FF_ERROR("LUT key: element %zu's tR word %#x has bits above level %d", j, w, levels - 1);
      return FF_EFORMAT;
    }
    for (int i = 0; i < levels; i++)
      if ((w >> i) & 1) ff__put_bit(tR, (size_t)i * N + j, 1);
  }
  return FF_OK;
}

ff_status ff_lut_key_read(ff_ctx *ctx, ff_lut_key *k, ff_lut_reader get, void *arg, uint8_t *scratch) {
  const ff_mem where = ctx && ctx->backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST;
  ff_status st = ff__lut_key_check("ff_lut_key_read", k, where);
  if (st) return st;
  if (!get || !scratch) {
    FF_ERROR("ff_lut_key_read: reader or scratch is NULL");
    return FF_EINVAL;
  }
  const size_t N = k->N;
  const int levels = k->b - FF_DPF_LEAF_BITS;
  if ((st = get(arg, k->dpf.buf, ff__lut_dpf_block_bytes(k->b, N))) || (st = get(arg, scratch, 4 * N))) return st;
  st = where == FF_MEM_DEVICE ? ff__lut_tr_pack_cuda(ctx, N, levels, scratch, k->dpf.tR)
                              : ff__lut_tr_pack_cpu(ctx, N, levels, scratch, k->dpf.tR);
  if (!st) st = get(arg, k->u_mask, ff__bit_bytes(N));
  if (!st) st = get(arg, k->sel.buf, k->sel.bytes);
  return st;
}

/* ---- Dealer ------------------------------------------------------------------------------------------- */

ff_status ff__lut_keygen_masks(ff_ctx *ctx, size_t N, uint8_t *u_mask0, uint8_t *u_mask1, ff_select_key *s0,
                               ff_select_key *s1, uint64_t *r_out) {
  const size_t TN = s0->N, nb = ff__bit_bytes(N);
  const int b_out = s0->bw;
  ff_status st = FF_OK;
  uint8_t *r_u = malloc(nb);
  uint64_t *r_x = malloc(TN * sizeof *r_x), *r_v = malloc(TN * sizeof *r_v), *r_sel = malloc(TN * sizeof *r_sel);
  if (!r_u || !r_x || !r_v || !r_sel) {
    FF_ERROR("ff_lut_keygen: cannot allocate the masks of %zu elements", TN);
    st = FF_ENOMEM;
    goto done;
  }
  /* r_u, then party 0's share of it, then r_v and r_sel; ff_select_keygen draws the rest. */
  if ((st = ff_rng_bytes(&ctx->rng, r_u, nb)) || (st = ff_rng_bytes(&ctx->rng, u_mask0, nb)) ||
      (st = ff_rng_ring(&ctx->rng, r_v, TN, b_out)) || (st = ff_rng_ring(&ctx->rng, r_sel, TN, b_out)))
    goto done;
  if ((st = ff__lut_masks_cpu(ctx, N, TN, b_out, r_u, u_mask0, u_mask1, r_x, r_v, r_sel, r_out))) goto done;
  st = ff_select_keygen(ctx, r_x, r_v, r_sel, s0, s1);
done:
  free(r_u);
  free(r_x);
  free(r_v);
  free(r_sel);
  return st;
}

ff_status ff__lut_masks_cpu(ff_ctx *ctx, size_t N, size_t TN, int b_out, const uint8_t *r_u, uint8_t *u0,
                            uint8_t *u1, uint64_t *r_x, const uint64_t *r_v, const uint64_t *r_sel, uint64_t *r_out) {
  (void)ctx;
  const size_t nb = ff__bit_bytes(N);
  for (size_t i = 0; i < nb; i++) { /* pad bits stay zero: the serialized key is a function of the masks' bits only */
    const uint8_t keep = i == nb - 1 && N % 8 ? (uint8_t)((1u << (N % 8)) - 1) : (uint8_t)0xff;
    u0[i] &= keep;
    u1[i] = (uint8_t)((r_u[i] ^ u0[i]) & keep);
  }
  for (size_t i = 0; i < TN; i++) {
    r_x[i] = (uint64_t)ff__get_bit(r_u, i % N);
    r_out[i] = ff_ring_reduce(2 * r_sel[i] - r_v[i], b_out);
  }
  return FF_OK;
}

ff_status ff__lut_keygen_check(const char *fn, const uint64_t *r_in, const ff_block *roots, const ff_lut_key *k0,
                               const ff_lut_key *k1, const uint64_t *r_out, ff_mem where) {
  ff_status st;
  if ((st = ff__lut_key_check(fn, k0, where)) || (st = ff__lut_key_check(fn, k1, where))) return st;
  if (!r_in || !roots || !r_out) {
    FF_ERROR("%s: r_in, roots or r_out is NULL", fn);
    return FF_EINVAL;
  }
  if (k0->b != k1->b || k0->b_out != k1->b_out || k0->n_tables != k1->n_tables || k0->N != k1->N) {
    FF_ERROR("%s: the two keys have different shapes", fn);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_lut_keygen_cpu(ff_ctx *ctx, const uint64_t *r_in, const ff_block *roots, ff_lut_key *k0, ff_lut_key *k1,
                            uint64_t *r_out) {
  ff_status st = ff__lut_keygen_check("ff_lut_keygen_cpu", r_in, roots, k0, k1, r_out, FF_MEM_HOST);
  if (st) return st;
  if (!ctx) {
    FF_ERROR("ff_lut_keygen_cpu: context is NULL");
    return FF_EINVAL;
  }
  if ((st = ff_dpf_keygen_cpu(ctx, r_in, roots, &k0->dpf, &k1->dpf))) return st;
  return ff__lut_keygen_masks(ctx, k0->N, k0->u_mask, k1->u_mask, &k0->sel, &k1->sel, r_out);
}

/* ff_lut_keygen_cpu with the DPF part made on ctx->keygen_dev (dpf.h ff__dpf_keygen_staged): host keys,
 * the same draws in the same order, the same bytes. */
static ff_status ff__lut_keygen_staged(ff_ctx *ctx, const uint64_t *r_in, const ff_block *roots, ff_lut_key *k0,
                                       ff_lut_key *k1, uint64_t *r_out) {
  ff_status st = ff__dpf_keygen_staged(ctx, r_in, roots, &k0->dpf, &k1->dpf);
  return st ? st : ff__lut_keygen_masks(ctx, k0->N, k0->u_mask, k1->u_mask, &k0->sel, &k1->sel, r_out);
}

ff_status ff_lut_keygen(ff_ctx *ctx, const uint64_t *r_in, ff_lut_key *k0, ff_lut_key *k1, uint64_t *r_out) {
  FF_SCOPE("FSS::LUT");
  if (!ctx) {
    FF_ERROR("ff_lut_keygen: context is NULL");
    return FF_EINVAL;
  }
  const ff_mem where = ff__fss_mem(ctx);
  /* Checked before drawing (dummy roots pointer), so that bad arguments consume no randomness. */
  ff_status st = ff__lut_keygen_check("ff_lut_keygen", r_in, (const ff_block *)r_in, k0, k1, r_out, where);
  if (st) return st;
  const size_t rb = 2 * k0->N * sizeof(ff_block);
  ff_block *roots = malloc(rb);
  void *droots = NULL;
  ff_mem dwhere = FF_MEM_HOST;
  if (!roots) {
    FF_ERROR("ff_lut_keygen: cannot allocate %zu root seeds", 2 * k0->N);
    return FF_ENOMEM;
  }
  if ((st = ff_rng_bytes(&ctx->rng, roots, rb))) goto done;
  if (where == FF_MEM_HOST) {
    st = ctx->keygen_dev ? ff__lut_keygen_staged(ctx, r_in, roots, k0, k1, r_out)
                         : ff_lut_keygen_cpu(ctx, r_in, roots, k0, k1, r_out);
    goto done;
  }
  if ((st = ff__fss_buf_alloc(ctx, "ff_lut_keygen", rb, &droots, &dwhere)) ||
      (st = ff__fss_buf_copy(ctx, "ff_lut_keygen", droots, dwhere, roots, FF_MEM_HOST, rb)))
    goto done;
  st = ff_lut_keygen_cuda(ctx, r_in, droots, k0, k1, r_out); /* waits for the stream */
done:
  ff__fss_buf_free(droots, dwhere);
  free(roots);
  return st;
}

/* ---- The local kernel ----------------------------------------------------------------------------------- */

ff_status ff__lut_eval_local_check(const char *fn, ff_ctx *ctx, const ff_lut_key *k, ff_mem where,
                                   const uint64_t *xhat, const uint64_t *tab, const uint64_t *u, const uint64_t *v) {
  ff_status st = ff__lut_key_check(fn, k, where);
  if (st) return st;
  if (!ctx || !xhat || !tab || !u || !v || (ctx->party != 0 && ctx->party != 1)) {
    FF_ERROR("%s: NULL argument, or the context is not party 0 or 1", fn);
    return FF_EINVAL;
  }
  return FF_OK;
}

/* Host sub-key of elements j0 .. j0+c-1 of k (sub allocated with n = k->n, N = c). */
static void ff__dpf_slice_host(const ff_dpf_key *k, size_t j0, size_t c, ff_dpf_key *sub) {
  const size_t N = k->N;
  const int levels = k->n - FF_DPF_LEAF_BITS;
  memcpy(sub->seed, k->seed + j0, c * sizeof(ff_block));
  for (int i = 0; i < levels - 1; i++)
    memcpy(sub->scw + (size_t)i * c, k->scw + (size_t)i * N + j0, c * sizeof(ff_block));
  memcpy(sub->l0, k->l0 + j0, c * sizeof(ff_block));
  memcpy(sub->l1, k->l1 + j0, c * sizeof(ff_block));
  memset(sub->tR, 0, ff__bit_bytes((size_t)levels * c));
  for (int i = 0; i < levels; i++)
    for (size_t q = 0; q < c; q++)
      if (ff__get_bit(k->tR, (size_t)i * N + j0 + q)) ff__put_bit(sub->tR, (size_t)i * c + q, 1);
}

/* The sums of one element from its 2^b leaf bits (as u64 words, bit y of the domain at word y/64). */
static void ff__lut_sums(const ff_lut_key *k, int party, size_t j, const uint8_t *leaves, uint64_t x,
                         const uint64_t *tab, uint64_t *u, uint64_t *v) {
  const size_t D = (size_t)1 << k->b, words = D / 64, N = k->N;
  const uint64_t dm = D - 1, m = ff_ring_mask(k->b_out);
  uint64_t cnt = 0;
  for (int t = 0; t < k->n_tables; t++) {
    const uint64_t *T = tab + (size_t)t * D;
    uint64_t acc = 0;
    for (size_t w = 0; w < words; w++) {
      uint64_t bits;
      memcpy(&bits, leaves + 8 * w, 8);
      if (t == 0) cnt += (uint64_t)__builtin_popcountll(bits);
      while (bits) {
        const uint64_t y = 64 * w + (uint64_t)__builtin_ctzll(bits);
        acc += T[(x - y) & dm];
        bits &= bits - 1;
      }
    }
    /* w_y = -t_1(y) for party 1; add this party's share of r_v. */
    const uint64_t vs = party ? (uint64_t)0 - acc : acc;
    v[(size_t)t * N + j] = (vs + k->sel.b[(size_t)t * N + j]) & m;
  }
  /* XOR share of c = [cnt_0 - cnt_1 == +1]: bit1(cnt_0) ^ bit0(cnt_0) for party 0, bit1(cnt_1) for 1. */
  const uint64_t c = party ? (cnt >> 1) & 1 : ((cnt >> 1) ^ cnt) & 1;
  u[j] = c ^ (uint64_t)ff__get_bit(k->u_mask, j);
}

ff_status ff_lut_eval_local_cpu(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat, const uint64_t *tab,
                                uint64_t *u, uint64_t *v) {
  ff_status st = ff__lut_eval_local_check("ff_lut_eval_local_cpu", ctx, k, FF_MEM_HOST, xhat, tab, u, v);
  if (st) return st;
  ff_ctx host = *ctx;
  host.backend = FF_BACKEND_CPU;
  host.stream = NULL;
  const size_t N = k->N, per = ((size_t)1 << k->b) / 8;
  const size_t chunk = FF__LUT_CPU_CHUNK_BYTES / per > 0 ? FF__LUT_CPU_CHUNK_BYTES / per : 1;
  const size_t C = chunk < N ? chunk : N;
  ff_dpf_key sub = {0};
  uint8_t *leaves = malloc(C * per);
  if (!leaves) {
    FF_ERROR("ff_lut_eval_local_cpu: cannot allocate %zu bytes of leaf bits", C * per);
    return FF_ENOMEM;
  }
  if (C < N && (st = ff_dpf_key_alloc(&host, &sub, k->b, C))) goto done;
  for (size_t j0 = 0; j0 < N; j0 += C) {
    const size_t c = N - j0 < C ? N - j0 : C;
    const ff_dpf_key *dk = &k->dpf;
    if (C < N) {
      if (c < C) { /* the last, shorter chunk */
        ff_dpf_key_free(&sub);
        if ((st = ff_dpf_key_alloc(&host, &sub, k->b, c))) goto done;
      }
      ff__dpf_slice_host(&k->dpf, j0, c, &sub);
      dk = &sub;
    }
    if ((st = ff_dpf_eval_all_cpu(&host, dk, leaves))) goto done;
    for (size_t q = 0; q < c; q++)
      ff__lut_sums(k, ctx->party, j0 + q, leaves + q * per, xhat[j0 + q], tab, u, v);
  }
done:
  ff_dpf_key_free(&sub);
  free(leaves);
  return st;
}

ff_status ff_lut_sign_fix_cpu(ff_ctx *ctx, size_t n, int b_out, const uint64_t *vhat, uint64_t *out) {
  if (!ctx || (n && (!vhat || !out)) || b_out < 1 || b_out > 64) {
    FF_ERROR("ff_lut_sign_fix_cpu: NULL argument or b_out outside 1..64");
    return FF_EINVAL;
  }
  const uint64_t p1 = (uint64_t)(ctx->party == 1), m = ff_ring_mask(b_out);
  for (size_t i = 0; i < n; i++) out[i] = (2 * out[i] - p1 * vhat[i]) & m;
  return FF_OK;
}

/* ---- Dispatch ------------------------------------------------------------------------------------------- */

#ifndef FF_HAVE_CUDA
ff_status ff__lut_tr_words_cuda(ff_ctx *ctx, const uint8_t *tR, int levels, size_t N, uint8_t *out) {
  (void)ctx, (void)tR, (void)levels, (void)N, (void)out;
  return ff__no_cuda("ff__lut_tr_words_cuda");
}
ff_status ff__lut_masks_cuda(ff_ctx *ctx, size_t N, size_t TN, int b_out, const uint8_t *r_u, uint8_t *u0,
                             uint8_t *u1, uint64_t *r_x, const uint64_t *r_v, const uint64_t *r_sel, uint64_t *r_out) {
  (void)ctx, (void)N, (void)TN, (void)b_out, (void)r_u, (void)u0, (void)u1, (void)r_x, (void)r_v, (void)r_sel,
      (void)r_out;
  return ff__no_cuda("ff__lut_masks_cuda");
}
ff_status ff_lut_keygen_cuda(ff_ctx *ctx, const uint64_t *r_in, const ff_block *roots, ff_lut_key *k0, ff_lut_key *k1,
                             uint64_t *r_out) {
  return ff__no_cuda("ff_lut_keygen_cuda");
}
ff_status ff_lut_eval_local_cuda(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat, const uint64_t *tab,
                                 uint64_t *u, uint64_t *v) {
  return ff__no_cuda("ff_lut_eval_local_cuda");
}
ff_status ff_lut_sign_fix_cuda(ff_ctx *ctx, size_t n, int b_out, const uint64_t *vhat, uint64_t *out) {
  return ff__no_cuda("ff_lut_sign_fix_cuda");
}
ff_status ff__lut_tr_pack_cuda(ff_ctx *ctx, size_t N, int levels, const uint8_t *words, uint8_t *tR) {
  return ff__no_cuda("ff__lut_tr_pack_cuda");
}
#endif

ff_status ff_lut_keygen_emit(ff_ctx *ctx, int b, int b_out, int n_tables, size_t N, const uint64_t *r_in,
                             uint64_t *r_out, ff_lut_piece_emit emit, void *arg) {
  const char *fn = "ff_lut_keygen_emit";
  if (!ctx || ctx->backend != FF_BACKEND_CPU || !emit || !r_in || !r_out) {
    FF_ERROR("%s: needs the dealer's host context, r_in, r_out and emit", fn);
    return FF_EINVAL;
  }
  const size_t kb = ff_lut_key_bytes(b, b_out, n_tables, N);
  if (!kb) {
    FF_ERROR("%s: no LUT keys of %zu elements with b = %d, b_out = %d and %d tables", fn, N, b, b_out, n_tables);
    return FF_EINVAL;
  }
  ff_status st;
  if (!ctx->keygen_dev) { /* host keys, serialized whole: ff_lut_keygen's path */
    ff_lut_key k[2] = {{0}, {0}};
    uint8_t *buf = malloc(kb);
    if (!buf) {
      FF_ERROR("%s: cannot allocate %zu bytes for a key", fn, kb);
      return FF_ENOMEM;
    }
    if (!(st = ff_lut_key_alloc(ctx, &k[0], b, b_out, n_tables, N)) &&
        !(st = ff_lut_key_alloc(ctx, &k[1], b, b_out, n_tables, N)) && !(st = ff_lut_keygen(ctx, r_in, &k[0], &k[1], r_out)))
      for (int p = 0; p < 2 && !st; p++)
        if (!(st = ff_lut_key_serialize(&k[p], buf, kb))) st = emit(arg, p, ctx, buf, FF_MEM_HOST, kb);
    free(buf);
    ff_lut_key_free(&k[0]);
    ff_lut_key_free(&k[1]);
    return st;
  }
  /* The DPF on the dealer's GPU, left there; the mask part on the host, drawn after the roots as
   * ff_lut_keygen draws it. (The host path's FSS::LUT is ff_lut_keygen's.) */
  FF_SCOPE("FSS::LUT");
  ff_ctx *dev = ctx->keygen_dev;
  const int levels = b - FF_DPF_LEAF_BITS;
  const size_t nb = ff__bit_bytes(N), trb = ff__bit_bytes((size_t)levels * N);
  ff_dpf_key d[2] = {{0}, {0}};
  ff_select_key s[2] = {{0}, {0}};
  uint8_t *um = malloc(2 * nb), *tr = malloc(trb), *words = malloc(4 * N);
  if (!um || !tr || !words) {
    FF_ERROR("%s: cannot allocate the host parts of %zu keys", fn, N);
    st = FF_ENOMEM;
    goto done;
  }
  if ((st = ff__dpf_keygen_on_dev(ctx, fn, b, N, r_in, d)) ||
      (st = ff_select_key_alloc(ctx, &s[0], b_out, (size_t)n_tables * N)) ||
      (st = ff_select_key_alloc(ctx, &s[1], b_out, (size_t)n_tables * N)) ||
      (st = ff__lut_keygen_masks(ctx, N, um, um + nb, &s[0], &s[1], r_out)))
    goto done;
  for (int p = 0; p < 2 && !st; p++) {
    /* The packed tR bits come down (ceil((b-7)N/8) bytes) and become the u32 words on the host. */
    if ((st = ff__fss_buf_copy(dev, fn, tr, FF_MEM_HOST, d[p].tR, FF_MEM_DEVICE, trb))) break;
    (void)ff__lut_tr_words_cpu(ctx, tr, levels, N, words);
    if (!(st = emit(arg, p, dev, d[p].buf, FF_MEM_DEVICE, ff__lut_dpf_block_bytes(b, N))) &&
        !(st = emit(arg, p, ctx, words, FF_MEM_HOST, 4 * N)) && !(st = emit(arg, p, ctx, um + (size_t)p * nb, FF_MEM_HOST, nb)))
      st = emit(arg, p, ctx, s[p].buf, FF_MEM_HOST, s[p].bytes);
  }
done:
  free(um);
  free(tr);
  free(words);
  ff_dpf_key_free(&d[0]);
  ff_dpf_key_free(&d[1]);
  ff_select_key_free(&s[0]);
  ff_select_key_free(&s[1]);
  return st;
}

ff_status ff_lut_eval_local(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat, const uint64_t *tab, uint64_t *u,
                            uint64_t *v) {
  if (!ctx) {
    FF_ERROR("ff_lut_eval_local: context is NULL");
    return FF_EINVAL;
  }
  return ctx->backend == FF_BACKEND_CUDA ? ff_lut_eval_local_cuda(ctx, k, xhat, tab, u, v)
                                         : ff_lut_eval_local_cpu(ctx, k, xhat, tab, u, v);
}

ff_status ff_lut_sign_fix(ff_ctx *ctx, size_t n, int b_out, const uint64_t *vhat, uint64_t *out) {
  if (!ctx) {
    FF_ERROR("ff_lut_sign_fix: context is NULL");
    return FF_EINVAL;
  }
  return ctx->backend == FF_BACKEND_CUDA ? ff_lut_sign_fix_cuda(ctx, n, b_out, vhat, out)
                                         : ff_lut_sign_fix_cpu(ctx, n, b_out, vhat, out);
}

/* ---- The gate -------------------------------------------------------------------------------------------- */

ff_status ff_lut_eval(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat, const uint64_t *tab, int reveal,
                      uint64_t *out) {
  FF_SCOPE("FSS::LUT");
  if (!ctx || !out) {
    FF_ERROR("ff_lut_eval: context or output is NULL");
    return FF_EINVAL;
  }
  const ff_mem where = ff__fss_mem(ctx);
  ff_status st = ff__lut_eval_local_check("ff_lut_eval", ctx, k, where, xhat, tab, out, out);
  if (st) return st;
  const size_t N = k->N, TN = (size_t)k->n_tables * N;
  void *u = NULL, *v = NULL;
  ff_mem uw = where, vw = where;
  if ((st = ff__fss_buf_alloc(ctx, "ff_lut_eval", N * sizeof(uint64_t), &u, &uw)) ||
      (st = ff__fss_buf_alloc(ctx, "ff_lut_eval", TN * sizeof(uint64_t), &v, &vw)))
    goto done;
  if ((st = ff_lut_eval_local(ctx, k, xhat, tab, u, v))) goto done;
  {
    /* SIGMA's two sequential exchanges: u^ (1 bit), then v^ (b_out bits). */
    FF_SCOPE("Reconstruct");
    if ((st = ff__fss_reconstruct(ctx, where, u, N, 1)) || (st = ff__fss_reconstruct(ctx, where, v, TN, k->b_out)))
      goto done;
  }
  if ((st = ff_select_eval(ctx, &k->sel, N, u, v, out)) || (st = ff_lut_sign_fix(ctx, TN, k->b_out, v, out))) goto done;
  if (reveal) {
    FF_SCOPE("Reconstruct");
    st = ff__fss_reconstruct(ctx, where, out, TN, k->b_out);
  }
done:
  ff__fss_buf_free(u, uw);
  ff__fss_buf_free(v, vw);
  return st;
}

void ff_lut_cost_vec(int b, int b_out, size_t N, int n_tables, int reveal, ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  c->key_bytes = ff_lut_key_bytes(b, b_out, n_tables, N);
  if (!c->key_bytes) return;
  const uint64_t v_bits = (uint64_t)n_tables * N * (uint64_t)b_out;
  c->bits_sent = N + v_bits + (reveal ? v_bits : 0);
  c->bytes_sent = ff__bit_bytes(N) + ff__bit_bytes(v_bits) + (reveal ? ff__bit_bytes(v_bits) : 0);
  c->rounds = reveal ? 3 : 2;
}

void ff_lut_cost(int b, int b_out, size_t N, ff_gate_cost *c) { ff_lut_cost_vec(b, b_out, N, 1, 1, c); }
