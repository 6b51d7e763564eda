/* DCF with a vector arithmetic payload (BCGGIKR21 Fig. 1 over BGI16's GGM tree; the construction and
 * the PRG's value blocks are written out in dcf.h), CPU reference: key memory, keygen, evaluation at
 * points and the dispatchers (CUDA twins: dcf_cuda.cu). Work is batched level by level so that each
 * AES call covers a chunk of elements or points. Test: tests/test_dcf.c, tests/test_dcf_cuda.c. */
#include "gates/fss/dcf.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dpf.h" /* ff__fss_buf_*, ff__fss_stage: buffers on either backend */
#include "scope/scope.h"

#define FF__KEYGEN_CHUNK 64 /* elements per level batch of keygen (2 parties x 2 sides x up to 5 blocks) */
#define FF__EVAL_CHUNK 128  /* points per level batch of evaluation (up to 5 blocks each) */
#define FF__MAX_BLOCKS (1 + (FF_DCF_MAX_WORDS + 1) / 2) /* child seed + value blocks per expansion */

/* ---- Block, bit and word helpers ------------------------------------------------------------------------ */

static inline ff_block ff__xor(ff_block a, ff_block b) { return (ff_block){a.lo ^ b.lo, a.hi ^ b.hi}; }
static inline ff_block ff__and(ff_block a, ff_block b) { return (ff_block){a.lo & b.lo, a.hi & b.hi}; }
static inline int ff__lsb(ff_block a) { return (int)(a.lo & 1); }
static inline ff_block ff__set_lsb(ff_block a, int b) { return (ff_block){(a.lo & ~UINT64_C(1)) | (uint64_t)(b & 1), a.hi}; }
static inline ff_block ff__spread(int t) {
  uint64_t m = (uint64_t)0 - (uint64_t)(t & 1);
  return (ff_block){m, m};
}
/* u ^ T_m: the tweak of value block m sits in the hi word (dcf.h). */
static inline ff_block ff__tweak(ff_block u, int m) { return (ff_block){u.lo, u.hi ^ (uint64_t)m}; }
/* Payload word w of an expansion whose value blocks start at v (Convert of dcf.h). */
static inline uint64_t ff__conv(const ff_block *v, int w, uint64_t mask) {
  return (w & 1 ? v[w >> 1].hi : v[w >> 1].lo) & mask;
}

static inline int ff__get_bit(const uint8_t *bits, size_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

/* Word i of an array of W-byte little-endian words. */
static inline uint64_t ff__word_get(const uint8_t *a, size_t i, size_t W) {
  const uint8_t *b = a + i * W;
  uint64_t v = 0;
  for (size_t k = 0; k < W; k++) v |= (uint64_t)b[k] << (8 * k);
  return v;
}
static inline void ff__word_put(uint8_t *a, size_t i, size_t W, uint64_t v) {
  uint8_t *b = a + i * W;
  for (size_t k = 0; k < W; k++) b[k] = (uint8_t)(v >> (8 * k));
}

/* AES_k0(in[i]) ^ in[i]: side-0 MMO, for the leaf conversion. in and out must not overlap. */
static void ff__mmo0(const ff_block *in, ff_block *out, size_t n) {
  ff_aes128_encrypt_blocks(ff_prg_key(0), in, out, n);
  for (size_t i = 0; i < n; i++) out[i] = ff__xor(out[i], in[i]);
}

/* ---- Keys ------------------------------------------------------------------------------------------- */

size_t ff_dcf_word_bytes(int bw) { return bw < 1 || bw > 64 ? 0 : (size_t)(bw + 7) / 8; }

size_t ff_dcf_key_bytes(int n, int p, int bw, size_t N) {
  if (n < FF_DCF_MIN_BITS || n > FF_DCF_MAX_BITS || p < 1 || p > FF_DCF_MAX_WORDS || bw < 1 || bw > 64 || N == 0)
    return 0;
  const size_t W = ff_dcf_word_bytes(bw), levels = (size_t)n;
  size_t blocks, bits, words, total, word_bytes;
  /* seed + scw: (n+1) blocks per element; vcw + fcw: p(n+1) words; tR: n bits. */
  if (__builtin_mul_overflow(levels + 1, N, &blocks) || __builtin_mul_overflow(blocks, (size_t)16, &total)) return 0;
  if (__builtin_mul_overflow(levels, N, &bits)) return 0;
  if (__builtin_add_overflow(total, bits / 8 + (bits % 8 != 0), &total)) return 0;
  if (__builtin_mul_overflow(blocks, (size_t)p, &words) || __builtin_mul_overflow(words, W, &word_bytes)) return 0;
  if (__builtin_add_overflow(total, word_bytes, &total)) return 0;
  return total;
}

/* Points k's named arrays into its buffer (layout in dcf.h). */
static void ff__dcf_key_layout(ff_dcf_key *k) {
  ff_block *b = (ff_block *)k->buf;
  const size_t N = k->N, n = (size_t)k->n, bits = n * N;
  k->seed = b;
  k->scw = b + N;
  k->tR = (uint8_t *)(k->scw + n * N);
  k->vcw = k->tR + bits / 8 + (bits % 8 != 0);
  k->fcw = k->vcw + n * (size_t)k->p * N * ff_dcf_word_bytes(k->bw);
}

#ifndef FF_HAVE_CUDA
static ff_status ff__no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend (configure with a CUDA compiler)", fn);
  return FF_ENOTSUP;
}
#endif

ff_status ff_dcf_key_alloc(ff_ctx *ctx, ff_dcf_key *k, int n, int p, int bw, size_t N) {
  if (!k) {
    FF_ERROR("ff_dcf_key_alloc: key is NULL");
    return FF_EINVAL;
  }
  memset(k, 0, sizeof *k);
  const size_t bytes = ff_dcf_key_bytes(n, p, bw, N);
  if (!bytes) {
    FF_ERROR("ff_dcf_key_alloc: need %d <= n <= %d, 1 <= p <= %d, 1 <= bw <= 64 and 0 < N with a size that fits "
             "memory (n = %d, p = %d, bw = %d, N = %zu)",
             FF_DCF_MIN_BITS, FF_DCF_MAX_BITS, FF_DCF_MAX_WORDS, n, p, bw, N);
    return FF_EINVAL;
  }
  ff_status st = ff__fss_buf_alloc(ctx, "ff_dcf_key_alloc", bytes, &k->buf, &k->where);
  if (st) return st;
  k->n = n;
  k->p = p;
  k->bw = bw;
  k->N = N;
  k->bytes = bytes;
  ff__dcf_key_layout(k);
  return FF_OK;
}

void ff_dcf_key_free(ff_dcf_key *k) {
  if (!k) return;
  ff__fss_buf_free(k->buf, k->where);
  memset(k, 0, sizeof *k);
}

static const char *ff__mem_name(ff_mem where) { return where == FF_MEM_DEVICE ? "device" : "host"; }

ff_status ff__dcf_key_check(const char *fn, const ff_dcf_key *k, ff_mem where) {
  if (!k || !k->buf || k->bytes != ff_dcf_key_bytes(k->n, k->p, k->bw, k->N)) {
    FF_ERROR("%s: key is NULL or not allocated with ff_dcf_key_alloc", fn);
    return FF_EINVAL;
  }
  if (k->where != where) {
    FF_ERROR("%s: the key is in %s memory, this backend needs it in %s memory (see ff_dcf_key_copy)", fn,
             ff__mem_name(k->where), ff__mem_name(where));
    return FF_EINVAL;
  }
  return FF_OK;
}

static int ff__same_shape(const ff_dcf_key *a, const ff_dcf_key *b) {
  return a->n == b->n && a->p == b->p && a->bw == b->bw && a->N == b->N;
}

ff_status ff_dcf_key_copy(ff_ctx *ctx, ff_dcf_key *dst, const ff_dcf_key *src) {
  if (!dst || !src) {
    FF_ERROR("ff_dcf_key_copy: key is NULL");
    return FF_EINVAL;
  }
  ff_status st;
  if ((st = ff__dcf_key_check("ff_dcf_key_copy", src, src->where)) ||
      (st = ff__dcf_key_check("ff_dcf_key_copy", dst, dst->where)))
    return st;
  if (!ff__same_shape(dst, src)) {
    FF_ERROR("ff_dcf_key_copy: the keys have different shapes (n %d/%d, p %d/%d, bw %d/%d, N %zu/%zu)", dst->n, src->n,
             dst->p, src->p, dst->bw, src->bw, dst->N, src->N);
    return FF_EINVAL;
  }
  return ff__fss_buf_copy(ctx, "ff_dcf_key_copy", dst->buf, dst->where, src->buf, src->where, src->bytes);
}

ff_status ff_dcf_key_serialize(const ff_dcf_key *k, void *out, size_t cap) {
  ff_status st = ff__dcf_key_check("ff_dcf_key_serialize", k, FF_MEM_HOST);
  if (st) return st;
  if (!out || cap < k->bytes) {
    FF_ERROR("ff_dcf_key_serialize: need %zu bytes of output, have %zu%s", k->bytes, cap, out ? "" : " (NULL)");
    return out ? FF_ERANGE : FF_EINVAL;
  }
  memcpy(out, k->buf, k->bytes);
  return FF_OK;
}

ff_status ff_dcf_key_deserialize(ff_dcf_key *k, int n, int p, int bw, size_t N, const void *in, size_t len) {
  if (!in) {
    FF_ERROR("ff_dcf_key_deserialize: input is NULL");
    return FF_EINVAL;
  }
  ff_ctx host = {.backend = FF_BACKEND_CPU};
  ff_status st = ff_dcf_key_alloc(&host, k, n, p, bw, N);
  if (st) return st;
  if (len != k->bytes) {
    FF_ERROR("ff_dcf_key_deserialize: %zu keys of n = %d, p = %d, bw = %d take %zu bytes, got %zu", N, n, p, bw,
             k->bytes, len);
    ff_dcf_key_free(k);
    return FF_EFORMAT;
  }
  memcpy(k->buf, in, len);
  /* One party's key: every root carries the same control bit (the party). */
  const int party = ff__lsb(k->seed[0]);
  for (size_t j = 1; j < N; j++)
    if (ff__lsb(k->seed[j]) != party) {
      FF_ERROR("ff_dcf_key_deserialize: root %zu belongs to party %d, root 0 to party %d (not one party's key)", j,
               ff__lsb(k->seed[j]), party);
      ff_dcf_key_free(k);
      return FF_EFORMAT;
    }
  /* Words are stored reduced mod 2^bw: bits above bw in a word's last byte mean another shape. */
  if (bw % 8) {
    const size_t W = ff_dcf_word_bytes(bw), words = (size_t)(n + 1) * (size_t)p * N;
    const uint8_t high = (uint8_t)(0xffu << (bw % 8));
    for (size_t i = 0; i < words; i++)
      if (k->vcw[i * W + W - 1] & high) {
        FF_ERROR("ff_dcf_key_deserialize: stored word %zu has bits above bw = %d (a key of another shape?)", i, bw);
        ff_dcf_key_free(k);
        return FF_EFORMAT;
      }
  }
  return FF_OK;
}

/* ---- Keygen --------------------------------------------------------------------------------------- */

ff_status ff__dcf_keygen_check(const char *fn, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                               const ff_dcf_key *k0, const ff_dcf_key *k1, ff_mem where) {
  ff_status st;
  if ((st = ff__dcf_key_check(fn, k0, where)) || (st = ff__dcf_key_check(fn, k1, where))) return st;
  if (!alpha || !beta || !roots) {
    FF_ERROR("%s: alpha, beta or roots is NULL", fn);
    return FF_EINVAL;
  }
  if (!ff__same_shape(k0, k1)) {
    FF_ERROR("%s: the two keys have different shapes (n %d/%d, p %d/%d, bw %d/%d, N %zu/%zu)", fn, k0->n, k1->n, k0->p,
             k1->p, k0->bw, k1->bw, k0->N, k1->N);
    return FF_EINVAL;
  }
  return FF_OK;
}

/* One keygen: its inputs and keys, shared by the threads of ff_dcf_keygen_cpu. */
typedef struct {
  const uint64_t *alpha, *beta;
  const ff_block *roots;
  ff_dcf_key *k0, *k1;
} ff__dcf_kg;

/* Elements [lo, hi) of a keygen. Every element's tree and words are its own; only the control-bit
 * arrays tR are shared at byte granularity (two ranges' bits of one level can meet in a byte), so their
 * bits are set with an atomic OR. */
static void ff__dcf_keygen_range(void *arg, size_t lo, size_t hi) {
  const ff__dcf_kg *g = arg;
  const uint64_t *alpha = g->alpha, *beta = g->beta;
  const ff_block *roots = g->roots;
  ff_dcf_key *k0 = g->k0, *k1 = g->k1;
  const int n = k0->n, p = k0->p, h = (p + 1) / 2, H = 1 + h;
  const size_t N = k0->N, W = ff_dcf_word_bytes(k0->bw);
  const uint64_t mask = ff_ring_mask(k0->bw);

  /* Per chunk: both parties' seeds s[b][q] and the on-path sum V_alpha of element q; both parties and
   * both sides expanded in one PRG call, expansion (b, q) at blocks [(b*c + q)*H, +H). */
  ff_block s[2][FF__KEYGEN_CHUNK], in[2 * FF__KEYGEN_CHUNK * FF__MAX_BLOCKS];
  ff_block left[2 * FF__KEYGEN_CHUNK * FF__MAX_BLOCKS], right[2 * FF__KEYGEN_CHUNK * FF__MAX_BLOCKS];
  uint64_t va[FF__KEYGEN_CHUNK][FF_DCF_MAX_WORDS];
  for (size_t j0 = lo; j0 < hi; j0 += FF__KEYGEN_CHUNK) {
    const size_t c = hi - j0 < FF__KEYGEN_CHUNK ? hi - j0 : FF__KEYGEN_CHUNK;
    for (size_t q = 0; q < c; q++) {
      /* Fig. 1: t_0^(0) = 0, t_1^(0) = 1; the root control bit is the party. */
      s[0][q] = ff__set_lsb(roots[j0 + q], 0);
      s[1][q] = ff__set_lsb(roots[N + j0 + q], 1);
      k0->seed[j0 + q] = s[0][q];
      k1->seed[j0 + q] = s[1][q];
      memset(va[q], 0, sizeof va[q]);
    }
    for (int i = 0; i < n; i++) {
      for (int b = 0; b < 2; b++)
        for (size_t q = 0; q < c; q++) {
          const ff_block u = ff__set_lsb(s[b][q], 0);
          for (int m = 0; m < H; m++) in[(b * c + q) * H + (size_t)m] = ff__tweak(u, m);
        }
      ff_prg_expand(in, left, right, 2 * c * (size_t)H);
      for (size_t q = 0; q < c; q++) {
        const size_t j = j0 + q;
        const int keep = (int)((alpha[j] & ff_ring_mask(n)) >> (n - 1 - i)) & 1; /* alpha's bit, MSB first */
        const ff_block *side[2][2]; /* [party][side]: child seed, then the value blocks */
        for (int b = 0; b < 2; b++) {
          side[b][0] = left + (b * c + q) * H;
          side[b][1] = right + (b * c + q) * H;
        }
        const int lose = keep ^ 1, neg = ff__lsb(s[1][q]); /* sigma = (-1)^t1 */
        /* Seed CW: makes the two seeds of the child off alpha's path equal. Control CWs: the
         * children's control bits differ on the path (keep side) and agree off it. */
        const ff_block scw = ff__set_lsb(ff__xor(side[0][lose][0], side[1][lose][0]), 0);
        const int tL = ff__lsb(side[0][0][0]) ^ ff__lsb(side[1][0][0]) ^ keep ^ 1;
        const int tR = ff__lsb(side[0][1][0]) ^ ff__lsb(side[1][1][0]) ^ keep;
        k0->scw[(size_t)i * N + j] = k1->scw[(size_t)i * N + j] = ff__set_lsb(scw, tL);
        if (tR) ff__fss_set_tr_bit(k0->tR, k1->tR, (size_t)i * N + j);
        /* Value CW: leaving alpha's path to side Lose must bring the parties' sums to beta (Lose = L,
         * x < alpha) or 0 (Lose = R); V_alpha follows the sum along the path. */
        for (int w = 0; w < p; w++) {
          const uint64_t v0l = ff__conv(side[0][lose] + 1, w, mask), v1l = ff__conv(side[1][lose] + 1, w, mask);
          const uint64_t v0k = ff__conv(side[0][keep] + 1, w, mask), v1k = ff__conv(side[1][keep] + 1, w, mask);
          uint64_t cw = v1l - v0l - va[q][w];
          if (lose == 0) cw += beta[(size_t)w * N + j];
          if (neg) cw = 0 - cw;
          cw &= mask;
          va[q][w] = (va[q][w] + v0k - v1k + (neg ? 0 - cw : cw)) & mask;
          const size_t at = ((size_t)i * (size_t)p + (size_t)w) * N + j;
          ff__word_put(k0->vcw, at, W, cw);
          ff__word_put(k1->vcw, at, W, cw);
        }
        const ff_block corr = ff__set_lsb(scw, keep ? tR : tL);
        for (int b = 0; b < 2; b++) s[b][q] = ff__xor(side[b][keep][0], ff__and(corr, ff__spread(ff__lsb(s[b][q]))));
      }
    }
    /* Final CW: the leaves' conversions plus V_alpha cancel at x = alpha. */
    for (int b = 0; b < 2; b++)
      for (size_t q = 0; q < c; q++) {
        const ff_block u = ff__set_lsb(s[b][q], 0);
        for (int m = 1; m <= h; m++) in[(b * c + q) * h + (size_t)m - 1] = ff__tweak(u, m);
      }
    ff__mmo0(in, left, 2 * c * (size_t)h);
    for (size_t q = 0; q < c; q++) {
      const int neg = ff__lsb(s[1][q]);
      for (int w = 0; w < p; w++) {
        uint64_t cw = ff__conv(left + (c + q) * h, w, mask) - ff__conv(left + q * h, w, mask) - va[q][w];
        if (neg) cw = 0 - cw;
        const size_t at = (size_t)w * N + j0 + q;
        ff__word_put(k0->fcw, at, W, cw & mask);
        ff__word_put(k1->fcw, at, W, cw & mask);
      }
    }
  }
  /* The stack held both parties' seeds and the on-path sums: wipe them. */
  explicit_bzero(s, sizeof s);
  explicit_bzero(in, sizeof in);
  explicit_bzero(left, sizeof left);
  explicit_bzero(right, sizeof right);
  explicit_bzero(va, sizeof va);
}

/* Elements per thread: several chunks, so that a thread's start is small beside its AES work. */
#define FF__DCF_KEYGEN_PER_THREAD (16 * FF__KEYGEN_CHUNK)

ff_status ff_dcf_keygen_cpu(ff_ctx *ctx, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                            ff_dcf_key *k0, ff_dcf_key *k1) {
  ff_status st = ff__dcf_keygen_check("ff_dcf_keygen_cpu", alpha, beta, roots, k0, k1, FF_MEM_HOST);
  if (st) return st;
  const size_t N = k0->N, tR_bytes = (size_t)k0->n * N / 8 + ((size_t)k0->n * N % 8 != 0);
  memset(k0->tR, 0, tR_bytes);
  memset(k1->tR, 0, tR_bytes);
  ff__dcf_kg g = {alpha, beta, roots, k0, k1};
  ff_parallel_for(N, FF__DCF_KEYGEN_PER_THREAD, 0, ff__dcf_keygen_range, &g);
  return FF_OK;
}

/* ---- Evaluation ------------------------------------------------------------------------------------ */

ff_status ff__dcf_eval_check(const char *fn, const ff_dcf_key *k, ff_mem where, size_t E, const uint64_t *x,
                             const uint64_t *out, size_t *total) {
  ff_status st = ff__dcf_key_check(fn, k, where);
  if (st) return st;
  if (!x || !out) {
    FF_ERROR("%s: points or output is NULL", fn);
    return FF_EINVAL;
  }
  size_t words, bytes;
  if (E == 0 || __builtin_mul_overflow(E, k->N, total) || __builtin_mul_overflow(*total, (size_t)k->p, &words) ||
      __builtin_mul_overflow(words, sizeof *out, &bytes)) {
    FF_ERROR("%s: need 0 < E and E*N*p words to fit memory (E = %zu, N = %zu, p = %d)", fn, E, k->N, k->p);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_dcf_eval_cpu(ff_ctx *ctx, const ff_dcf_key *k, size_t E, const uint64_t *x, uint64_t *out) {
  size_t total;
  ff_status st = ff__dcf_eval_check("ff_dcf_eval_cpu", k, FF_MEM_HOST, E, x, out, &total);
  if (st) return st;
  const int n = k->n, p = k->p, h = (p + 1) / 2, H = 1 + h;
  const size_t N = k->N, W = ff_dcf_word_bytes(k->bw);
  const uint64_t mask = ff_ring_mask(k->bw), xmask = ff_ring_mask(n);

  /* One traversal per point, batched: the points of a chunk advance one level per PRG call, point q's
   * expansion (the taken child, then its value blocks) at blocks [q*H, +H). */
  ff_block s[FF__EVAL_CHUNK], in[FF__EVAL_CHUNK * FF__MAX_BLOCKS], ex[FF__EVAL_CHUNK * FF__MAX_BLOCKS];
  uint8_t dir[FF__EVAL_CHUNK * FF__MAX_BLOCKS];
  uint64_t xv[FF__EVAL_CHUNK], acc[FF__EVAL_CHUNK][FF_DCF_MAX_WORDS];
  size_t el[FF__EVAL_CHUNK];
  for (size_t p0 = 0; p0 < total; p0 += FF__EVAL_CHUNK) {
    const size_t c = total - p0 < FF__EVAL_CHUNK ? total - p0 : FF__EVAL_CHUNK;
    for (size_t q = 0; q < c; q++) {
      el[q] = (p0 + q) % N;
      xv[q] = x[p0 + q] & xmask;
      s[q] = k->seed[el[q]];
      memset(acc[q], 0, sizeof acc[q]);
    }
    for (int i = 0; i < n; i++) {
      for (size_t q = 0; q < c; q++) {
        const ff_block u = ff__set_lsb(s[q], 0);
        const uint8_t d = (uint8_t)((xv[q] >> (n - 1 - i)) & 1);
        for (int m = 0; m < H; m++) {
          in[q * H + (size_t)m] = ff__tweak(u, m);
          dir[q * H + (size_t)m] = d;
        }
      }
      ff_prg_expand_dir(in, dir, ex, c * (size_t)H);
      const ff_block *scw = k->scw + (size_t)i * N;
      for (size_t q = 0; q < c; q++) {
        const size_t j = el[q];
        const int t = ff__lsb(s[q]), d = dir[q * H];
        /* y += v^x + t * value CW (the sign (-1)^b is applied once at the end). */
        for (int w = 0; w < p; w++) {
          uint64_t v = ff__conv(ex + q * H + 1, w, mask);
          if (t) v += ff__word_get(k->vcw, ((size_t)i * (size_t)p + (size_t)w) * N + j, W);
          acc[q][w] += v;
        }
        const ff_block cw = scw[j];
        const int tcw = d ? ff__get_bit(k->tR, (size_t)i * N + j) : ff__lsb(cw);
        s[q] = ff__xor(ex[q * H], ff__and(ff__set_lsb(cw, tcw), ff__spread(t)));
      }
    }
    /* Leaf: y += Convert(s^(n)) + t * final CW, then the party's sign. */
    for (size_t q = 0; q < c; q++) {
      const ff_block u = ff__set_lsb(s[q], 0);
      for (int m = 1; m <= h; m++) in[q * h + (size_t)m - 1] = ff__tweak(u, m);
    }
    ff__mmo0(in, ex, c * (size_t)h);
    for (size_t q = 0; q < c; q++) {
      const size_t j = el[q], e = (p0 + q) / N;
      const int t = ff__lsb(s[q]), party = ff__lsb(k->seed[j]);
      for (int w = 0; w < p; w++) {
        uint64_t y = acc[q][w] + ff__conv(ex + q * h, w, mask);
        if (t) y += ff__word_get(k->fcw, (size_t)w * N + j, W);
        out[(e * (size_t)p + (size_t)w) * N + j] = (party ? 0 - y : y) & mask;
      }
    }
  }
  return FF_OK;
}

/* ---- Dispatch --------------------------------------------------------------------------------------- */

#ifndef FF_HAVE_CUDA
ff_status ff_dcf_keygen_cuda(ff_ctx *ctx, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                             ff_dcf_key *k0, ff_dcf_key *k1) {
  return ff__no_cuda("ff_dcf_keygen_cuda");
}
ff_status ff_dcf_eval_cuda(ff_ctx *ctx, const ff_dcf_key *k, size_t E, const uint64_t *x, uint64_t *out) {
  return ff__no_cuda("ff_dcf_eval_cuda");
}
#endif

static ff_status ff__ctx_check(const char *fn, const ff_ctx *ctx) {
  if (!ctx) {
    FF_ERROR("%s: context is NULL", fn);
    return FF_EINVAL;
  }
  return FF_OK;
}

/* Host keys made on ctx->keygen_dev's stream by ff_dcf_keygen_cuda (a dealer with a GPU, core/ctx.h):
 * alpha, beta and the roots uploaded into stream-ordered scratch, the device keys downloaded into k0, k1
 * (the call waits). The same bytes as ff_dcf_keygen_cpu. */
static ff_status ff__dcf_keygen_staged(ff_ctx *ctx, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                                       ff_dcf_key *k0, ff_dcf_key *k1) {
  const char *fn = "ff_dcf_keygen (staged on the device)";
  ff_ctx *dev = ctx->keygen_dev;
  if (dev->backend != FF_BACKEND_CUDA) {
    FF_ERROR("%s: the context's keygen_dev is not a CUDA context", fn);
    return FF_EINVAL;
  }
  const size_t N = k0->N, nb = (size_t)k0->p * N;
  ff_dcf_key d[2] = {{0}, {0}};
  void *dalpha = NULL, *dbeta = NULL, *droots = NULL;
  ff_status st;
  if (!(st = ff_dcf_key_alloc(dev, &d[0], k0->n, k0->p, k0->bw, N)) &&
      !(st = ff_dcf_key_alloc(dev, &d[1], k0->n, k0->p, k0->bw, N)) &&
      !(st = ff__fss_stage(dev, fn, alpha, N * sizeof *alpha, &dalpha)) &&
      !(st = ff__fss_stage(dev, fn, beta, nb * sizeof *beta, &dbeta)) &&
      !(st = ff__fss_stage(dev, fn, roots, 2 * N * sizeof *roots, &droots)) &&
      !(st = ff_dcf_keygen_cuda(dev, dalpha, dbeta, droots, &d[0], &d[1])) && !(st = ff_dcf_key_copy(dev, k0, &d[0])))
    st = ff_dcf_key_copy(dev, k1, &d[1]);
  ff__fss_stage_free(dev, dalpha);
  ff__fss_stage_free(dev, dbeta);
  ff__fss_stage_free(dev, droots);
  ff_dcf_key_free(&d[0]); /* stream-ordered; the copies above waited for the stream */
  ff_dcf_key_free(&d[1]);
  return st;
}

ff_status ff_dcf_keygen(ff_ctx *ctx, const uint64_t *alpha, const uint64_t *beta, ff_dcf_key *k0, ff_dcf_key *k1) {
  ff_status st = ff__ctx_check("ff_dcf_keygen", ctx);
  if (st) return st;
  const ff_mem where = ctx->backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST;
  /* Checked before drawing, with a dummy roots pointer, so that bad arguments consume no randomness. */
  if ((st = ff__dcf_keygen_check("ff_dcf_keygen", alpha, beta, (const ff_block *)alpha, k0, k1, where))) return st;
  const size_t N = k0->N;
  ff_block *roots = malloc(2 * N * sizeof *roots); /* 2N cannot overflow: the key of N elements fits */
  if (!roots) {
    FF_ERROR("ff_dcf_keygen: cannot allocate %zu root seeds", 2 * N);
    return FF_ENOMEM;
  }
  if ((st = ff_rng_bytes(&ctx->rng, roots, 2 * N * sizeof *roots))) goto done;
  if (where == FF_MEM_HOST) {
    st = ctx->keygen_dev ? ff__dcf_keygen_staged(ctx, alpha, beta, roots, k0, k1)
                         : ff_dcf_keygen_cpu(ctx, alpha, beta, roots, k0, k1);
    goto done;
  }
  {
    void *droots = NULL; /* stream-ordered scratch: no device-wide sync */
    if (!(st = ff__fss_stage(ctx, "ff_dcf_keygen", roots, 2 * N * sizeof *roots, &droots)))
      st = ff_dcf_keygen_cuda(ctx, alpha, beta, droots, k0, k1);
    ff__fss_stage_free(ctx, droots);
  }
done:
  explicit_bzero(roots, 2 * N * sizeof *roots); /* the roots are secret */
  free(roots);
  return st;
}

ff_status ff_dcf_eval(ff_ctx *ctx, const ff_dcf_key *k, size_t E, const uint64_t *x, uint64_t *out) {
  FF_SCOPE("FSS::DCF");
  ff_status st = ff__ctx_check("ff_dcf_eval", ctx);
  if (st) return st;
  return ctx->backend == FF_BACKEND_CUDA ? ff_dcf_eval_cuda(ctx, k, E, x, out) : ff_dcf_eval_cpu(ctx, k, E, x, out);
}
