/* BGI16 DPF with 1-bit output and early termination at 7 levels, CPU reference: keygen, point
 * evaluation, comparison from the DPF key (SIGMA's doDcf idea, research/sigma.md §3) and full-domain
 * evaluation; key memory on either backend and the dispatchers (CUDA twins: dpf_cuda.cu). Work is
 * batched level by level so each ff_prg_expand* call keeps AES-NI busy.
 * Test: tests/test_dpf.c (CPU), tests/test_fss_cuda.c (CUDA against CPU). */
#include "gates/fss/dpf.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ring.h"
#include "scope/scope.h"

#ifdef FF_HAVE_CUDA
#include "core/cuda_check.h"
#endif

#define FF__CHUNK 256 /* points or elements per level batch: state stays in L1 */

/* ---- Block helpers ------------------------------------------------------------------------------ */

static inline ff_block ff__xor(ff_block a, ff_block b) { return (ff_block){a.lo ^ b.lo, a.hi ^ b.hi}; }
static inline ff_block ff__and(ff_block a, ff_block b) { return (ff_block){a.lo & b.lo, a.hi & b.hi}; }
static inline int ff__lsb(ff_block a) { return (int)(a.lo & 1); }
static inline ff_block ff__clear_lsb(ff_block a) { return (ff_block){a.lo & ~UINT64_C(1), a.hi}; }
static inline ff_block ff__set_lsb(ff_block a, int b) { return (ff_block){(a.lo & ~UINT64_C(1)) | (uint64_t)(b & 1), a.hi}; }
static inline int ff__bit(ff_block a, int k) { return (int)((k < 64 ? a.lo >> k : a.hi >> (k - 64)) & 1); }
static inline int ff__parity(ff_block a) { return __builtin_parityll(a.lo ^ a.hi); }
/* The all-ones block when t is 1, zero otherwise: corrections are applied without branches. */
static inline ff_block ff__spread(int t) {
  uint64_t m = (uint64_t)0 - (uint64_t)(t & 1);
  return (ff_block){m, m};
}
/* Bits 0..pos set (0 <= pos < 128). */
static inline ff_block ff__mask_upto(int pos) {
  if (pos < 64) return (ff_block){pos == 63 ? ~UINT64_C(0) : (UINT64_C(1) << (pos + 1)) - 1, 0};
  return (ff_block){~UINT64_C(0), pos == 127 ? ~UINT64_C(0) : (UINT64_C(1) << (pos - 63)) - 1};
}

static inline int ff__get_bit(const uint8_t *bits, size_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }
static inline void ff__put_bit(uint8_t *bits, size_t i, int b) { bits[i >> 3] |= (uint8_t)((b & 1) << (i & 7)); }

/* ---- Keys ------------------------------------------------------------------------------------------- */

size_t ff_dpf_key_bytes(int n, size_t N) {
  if (n < FF_DPF_MIN_BITS || n > FF_DPF_MAX_BITS || N == 0) return 0;
  size_t levels = (size_t)(n - FF_DPF_LEAF_BITS), blocks, bits, total;
  /* (n-7) blocks of seed + scw, then l0 and l1: (n-5) blocks per element. */
  if (__builtin_mul_overflow(levels + 2, N, &blocks) || __builtin_mul_overflow(blocks, (size_t)16, &total)) return 0;
  if (__builtin_mul_overflow(levels, N, &bits)) return 0;
  if (__builtin_add_overflow(total, bits / 8 + (bits % 8 != 0), &total)) return 0;
  return total;
}

/* Points k's named arrays into its buffer (layout in dpf.h). */
static void ff__dpf_key_layout(ff_dpf_key *k) {
  ff_block *b = (ff_block *)k->buf;
  size_t N = k->N, levels = (size_t)(k->n - FF_DPF_LEAF_BITS);
  k->seed = b;
  k->scw = b + N;
  k->l0 = b + levels * N;
  k->l1 = k->l0 + N;
  k->tR = (uint8_t *)(k->l1 + N);
}

/* ---- Buffers on either backend (also used by sstab.c) --------------------------------------------- */

#ifndef FF_HAVE_CUDA
static ff_status ff__no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend (configure with a CUDA compiler)", fn);
  return FF_ENOTSUP;
}
#endif

ff_status ff__fss_buf_alloc(ff_ctx *ctx, const char *fn, size_t bytes, void **buf, ff_mem *where) {
  *buf = NULL;
  *where = FF_MEM_HOST;
  if (!ctx) {
    FF_ERROR("%s: context is NULL", fn);
    return FF_EINVAL;
  }
  /* Rounded up to 16 bytes: device code updates packed bits with 32-bit atomics, which may reach
   * past the last key byte into this zero pad. */
  const size_t padded = (bytes + 15) & ~(size_t)15;
  if (padded < bytes) {
    FF_ERROR("%s: %zu bytes do not fit memory", fn, bytes);
    return FF_ENOMEM;
  }
  if (ctx->backend == FF_BACKEND_CUDA) {
#ifdef FF_HAVE_CUDA
    /* Stream-ordered (core/cuda.h ff_dev_alloc): no device-wide synchronisation at alloc or free. */
    ff_status st = ff_dev_alloc(ctx->stream, padded, buf);
    if (st) {
      FF_ERROR("%s: cannot allocate %zu bytes of device memory", fn, padded);
      return st;
    }
    if ((st = FF_CUDA_CHECK(cudaMemsetAsync(*buf, 0, padded, (cudaStream_t)ctx->stream)))) {
      ff_dev_free(*buf);
      *buf = NULL;
      return st;
    }
    *where = FF_MEM_DEVICE;
    return FF_OK;
#else
    return ff__no_cuda(fn);
#endif
  }
  *buf = calloc(1, padded);
  if (!*buf) {
    FF_ERROR("%s: cannot allocate %zu bytes", fn, padded);
    return FF_ENOMEM;
  }
  return FF_OK;
}

void ff__fss_buf_free(void *buf, ff_mem where) {
  if (!buf) return;
  if (where == FF_MEM_DEVICE) {
    ff_dev_free(buf); /* ordered after the work of the stream that allocated it */
    return;
  }
  free(buf);
}

ff_status ff__fss_buf_copy(ff_ctx *ctx, const char *fn, void *dst, ff_mem dst_where, const void *src, ff_mem src_where,
                           size_t bytes) {
  if (dst_where == FF_MEM_HOST && src_where == FF_MEM_HOST) {
    memcpy(dst, src, bytes);
    return FF_OK;
  }
#ifdef FF_HAVE_CUDA
  /* cudaMemcpyDefault: unified addressing tells host from device memory on either side. */
  cudaStream_t s = ctx ? (cudaStream_t)ctx->stream : 0;
  ff_status st = FF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  if (!st && dst_where == FF_MEM_HOST) st = FF_CUDA_CHECK(cudaStreamSynchronize(s)); /* readable on return */
  return st;
#else
  return ff__no_cuda(fn);
#endif
}

ff_status ff__fss_stage(ff_ctx *ctx, const char *fn, const void *src, size_t bytes, void **out) {
  *out = NULL;
#ifdef FF_HAVE_CUDA
  cudaStream_t s = (cudaStream_t)ctx->stream;
  ff_status st = FF_CUDA_CHECK(cudaMallocAsync(out, bytes ? bytes : 1, s));
  if (st) {
    *out = NULL;
    FF_ERROR("%s: cannot allocate %zu bytes of device scratch", fn, bytes);
    return st;
  }
  if ((st = FF_CUDA_CHECK(cudaMemcpyAsync(*out, src, bytes, cudaMemcpyHostToDevice, s)))) {
    ff__fss_stage_free(ctx, *out);
    *out = NULL;
  }
  return st;
#else
  (void)ctx, (void)src, (void)bytes;
  return ff__no_cuda(fn);
#endif
}

void ff__fss_stage_free(ff_ctx *ctx, void *p) {
#ifdef FF_HAVE_CUDA
  if (p) (void)FF_CUDA_CHECK(cudaFreeAsync(p, (cudaStream_t)ctx->stream));
#else
  (void)ctx, (void)p;
#endif
}

/* ---- Key memory --------------------------------------------------------------------------------------- */

ff_status ff_dpf_key_alloc(ff_ctx *ctx, ff_dpf_key *k, int n, size_t N) {
  if (!k) {
    FF_ERROR("ff_dpf_key_alloc: key is NULL");
    return FF_EINVAL;
  }
  memset(k, 0, sizeof *k);
  size_t bytes = ff_dpf_key_bytes(n, N);
  if (!bytes) {
    FF_ERROR("ff_dpf_key_alloc: need %d <= n <= %d and 0 < N with a size that fits memory (n = %d, N = %zu)",
             FF_DPF_MIN_BITS, FF_DPF_MAX_BITS, n, N);
    return FF_EINVAL;
  }
  ff_status st = ff__fss_buf_alloc(ctx, "ff_dpf_key_alloc", bytes, &k->buf, &k->where);
  if (st) return st;
  k->n = n;
  k->N = N;
  k->bytes = bytes;
  ff__dpf_key_layout(k);
  return FF_OK;
}

void ff_dpf_key_free(ff_dpf_key *k) {
  if (!k) return;
  if (!k->view) ff__fss_buf_free(k->buf, k->where);
  memset(k, 0, sizeof *k);
}

ff_status ff_dpf_key_view(ff_dpf_key *k, int n, size_t N, const void *buf, ff_mem where) {
  if (!k) {
    FF_ERROR("ff_dpf_key_view: key is NULL");
    return FF_EINVAL;
  }
  memset(k, 0, sizeof *k);
  const size_t bytes = ff_dpf_key_bytes(n, N);
  if (!bytes || !buf || (uintptr_t)buf % 16 || (where != FF_MEM_HOST && where != FF_MEM_DEVICE)) {
    FF_ERROR("ff_dpf_key_view: need %d <= n <= %d, 0 < N and a 16-byte aligned buffer (n = %d, N = %zu, buffer %p)",
             FF_DPF_MIN_BITS, FF_DPF_MAX_BITS, n, N, buf);
    return FF_EINVAL;
  }
  k->n = n;
  k->N = N;
  k->buf = (void *)(uintptr_t)buf; /* read only: the evaluations take the key as const */
  k->bytes = bytes;
  k->where = where;
  k->view = 1;
  ff__dpf_key_layout(k);
  return FF_OK;
}

static const char *ff__mem_name(ff_mem where) { return where == FF_MEM_DEVICE ? "device" : "host"; }

ff_status ff__dpf_key_check(const char *fn, const ff_dpf_key *k, ff_mem where) {
  if (!k || !k->buf || k->bytes != ff_dpf_key_bytes(k->n, k->N)) {
    FF_ERROR("%s: key is NULL or not allocated with ff_dpf_key_alloc", fn);
    return FF_EINVAL;
  }
  if (k->where != where) {
    FF_ERROR("%s: the key is in %s memory, this backend needs it in %s memory (see ff_dpf_key_copy)", fn,
             ff__mem_name(k->where), ff__mem_name(where));
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_dpf_key_copy(ff_ctx *ctx, ff_dpf_key *dst, const ff_dpf_key *src) {
  if (!dst || !src) {
    FF_ERROR("ff_dpf_key_copy: key is NULL");
    return FF_EINVAL;
  }
  ff_status st;
  if ((st = ff__dpf_key_check("ff_dpf_key_copy", src, src->where)) ||
      (st = ff__dpf_key_check("ff_dpf_key_copy", dst, dst->where)))
    return st;
  if (dst->n != src->n || dst->N != src->N) {
    FF_ERROR("ff_dpf_key_copy: the keys have different shapes (n %d/%d, N %zu/%zu)", dst->n, src->n, dst->N, src->N);
    return FF_EINVAL;
  }
  if (dst->view) {
    FF_ERROR("ff_dpf_key_copy: the destination is a view of borrowed key bytes (read only)");
    return FF_EINVAL;
  }
  return ff__fss_buf_copy(ctx, "ff_dpf_key_copy", dst->buf, dst->where, src->buf, src->where, src->bytes);
}

ff_status ff_dpf_key_serialize(const ff_dpf_key *k, void *out, size_t cap) {
  ff_status st = ff__dpf_key_check("ff_dpf_key_serialize", k, FF_MEM_HOST);
  if (st) return st;
  if (!out || cap < k->bytes) {
    FF_ERROR("ff_dpf_key_serialize: need %zu bytes of output, have %zu%s", k->bytes, cap, out ? "" : " (NULL)");
    return out ? FF_ERANGE : FF_EINVAL;
  }
  memcpy(out, k->buf, k->bytes);
  return FF_OK;
}

ff_status ff_dpf_key_deserialize(ff_dpf_key *k, int n, size_t N, const void *in, size_t len) {
  if (!in) {
    FF_ERROR("ff_dpf_key_deserialize: input is NULL");
    return FF_EINVAL;
  }
  ff_ctx host = {.backend = FF_BACKEND_CPU};
  ff_status st = ff_dpf_key_alloc(&host, k, n, N);
  if (st) return st;
  if (len != k->bytes) {
    FF_ERROR("ff_dpf_key_deserialize: %zu keys of %d bits take %zu bytes, got %zu", N, n, k->bytes, len);
    ff_dpf_key_free(k);
    return FF_EFORMAT;
  }
  memcpy(k->buf, in, len);
  return FF_OK;
}

/* ---- Keygen --------------------------------------------------------------------------------------- */

ff_status ff__dpf_keygen_check(const char *fn, const uint64_t *alpha, const ff_block *roots, const ff_dpf_key *k0,
                               const ff_dpf_key *k1, ff_mem where) {
  ff_status st;
  if ((st = ff__dpf_key_check(fn, k0, where)) || (st = ff__dpf_key_check(fn, k1, where))) return st;
  if (k0->view || k1->view) {
    FF_ERROR("%s: a key is a view of borrowed key bytes (read only); allocate keys with ff_dpf_key_alloc", fn);
    return FF_EINVAL;
  }
  if (!alpha || !roots) {
    FF_ERROR("%s: alpha or roots is NULL", fn);
    return FF_EINVAL;
  }
  if (k0->n != k1->n || k0->N != k1->N) {
    FF_ERROR("%s: the two keys have different shapes (n %d/%d, N %zu/%zu)", fn, k0->n, k1->n, k0->N, k1->N);
    return FF_EINVAL;
  }
  return FF_OK;
}

/* One keygen: its inputs and keys, shared by the threads of ff_dpf_keygen_cpu. */
typedef struct {
  const uint64_t *alpha;
  const ff_block *roots;
  ff_dpf_key *k0, *k1;
} ff__dpf_kg;

/* Elements [lo, hi) of a keygen. Every element's tree is its own; only the control-bit arrays tR are
 * shared at byte granularity (two ranges' bits of one level can meet in a byte when N is not a multiple
 * of 8), so their bits are set with an atomic OR. */
static void ff__dpf_keygen_range(void *arg, size_t lo, size_t hi) {
  const ff__dpf_kg *g = arg;
  const uint64_t *alpha = g->alpha;
  const ff_block *roots = g->roots;
  ff_dpf_key *k0 = g->k0, *k1 = g->k1;
  const int n = k0->n, L = n - FF_DPF_LEAF_BITS;
  const size_t N = k0->N;
  /* Per chunk of elements: both parties' current seeds s[b][q], expanded together in one PRG call. */
  ff_block s[2][FF__CHUNK], in[2 * FF__CHUNK], left[2 * FF__CHUNK], right[2 * FF__CHUNK];
  for (size_t j0 = lo; j0 < hi; j0 += FF__CHUNK) {
    const size_t c = hi - j0 < FF__CHUNK ? hi - j0 : FF__CHUNK;
    for (size_t q = 0; q < c; q++) {
      s[0][q] = roots[j0 + q];
      /* The roots' control bits differ: alpha is below the root. */
      s[1][q] = ff__set_lsb(roots[N + j0 + q], ff__lsb(s[0][q]) ^ 1);
      k0->seed[j0 + q] = s[0][q];
      k1->seed[j0 + q] = s[1][q];
    }
    for (int i = 0; i < L; i++) {
      for (size_t q = 0; q < c; q++) {
        in[q] = ff__clear_lsb(s[0][q]);
        in[c + q] = ff__clear_lsb(s[1][q]);
      }
      ff_prg_expand(in, left, right, 2 * c);
      for (size_t q = 0; q < c; q++) {
        const size_t j = j0 + q;
        const uint64_t a = alpha[j] & ff_ring_mask(n);
        const int keep = (int)(a >> (n - 1 - i)) & 1; /* alpha's bit at this level, MSB first */
        const ff_block dL = ff__xor(left[q], left[c + q]), dR = ff__xor(right[q], right[c + q]);
        if (i < L - 1) {
          /* Seed CW: makes the two seeds of the child off alpha's path equal. Control CWs: the
           * children's control bits differ on the path (keep side) and agree off it. */
          const ff_block scw = ff__clear_lsb(keep ? dL : dR);
          const int tL = ff__lsb(dL) ^ keep ^ 1, tR = ff__lsb(dR) ^ keep;
          const ff_block cw = ff__set_lsb(scw, tL);
          k0->scw[(size_t)i * N + j] = cw;
          k1->scw[(size_t)i * N + j] = cw;
          if (tR) ff__fss_set_tr_bit(k0->tR, k1->tR, (size_t)i * N + j);
          const ff_block corr = ff__set_lsb(scw, keep ? tR : tL);
          for (int b = 0; b < 2; b++) {
            const ff_block child = keep ? right[b * c + q] : left[b * c + q];
            s[b][q] = ff__xor(child, ff__and(corr, ff__spread(ff__lsb(s[b][q]))));
          }
        } else {
          /* Leaf CWs: the parties' leaf blocks XOR to the unit vector at alpha mod 128 on the
           * path and to zero beside it. The party whose control bit is 1 applies the CW. */
          const int pos = (int)(a & 127);
          const ff_block unit = pos < 64 ? (ff_block){UINT64_C(1) << pos, 0} : (ff_block){0, UINT64_C(1) << (pos - 64)};
          const ff_block l0 = keep ? dL : ff__xor(dL, unit), l1 = keep ? ff__xor(dR, unit) : dR;
          k0->l0[j] = k1->l0[j] = l0;
          k0->l1[j] = k1->l1[j] = l1;
        }
      }
    }
  }
}

/* Elements per thread: a few chunks, so that a thread's start is small beside its AES work. */
#define FF__DPF_KEYGEN_PER_THREAD (8 * FF__CHUNK)

ff_status ff_dpf_keygen_cpu(ff_ctx *ctx, const uint64_t *alpha, const ff_block *roots, ff_dpf_key *k0, ff_dpf_key *k1) {
  ff_status st = ff__dpf_keygen_check("ff_dpf_keygen_cpu", alpha, roots, k0, k1, FF_MEM_HOST);
  if (st) return st;
  const int n = k0->n, L = n - FF_DPF_LEAF_BITS;
  const size_t N = k0->N;
  memset(k0->tR, 0, (size_t)L * N / 8 + ((size_t)L * N % 8 != 0));
  memset(k1->tR, 0, (size_t)L * N / 8 + ((size_t)L * N % 8 != 0));
  ff__dpf_kg g = {alpha, roots, k0, k1};
  ff_parallel_for(N, FF__DPF_KEYGEN_PER_THREAD, 0, ff__dpf_keygen_range, &g);
  return FF_OK;
}

/* ---- Evaluation along a path ------------------------------------------------------------------- */

ff_status ff__dpf_eval_check(const char *fn, const ff_dpf_key *k, ff_mem where, size_t E, const uint64_t *x,
                             const uint8_t *out, size_t *total) {
  ff_status st = ff__dpf_key_check(fn, k, where);
  if (st) return st;
  if (!x || !out) {
    FF_ERROR("%s: points or output is NULL", fn);
    return FF_EINVAL;
  }
  if (E == 0 || __builtin_mul_overflow(E, k->N, total)) {
    FF_ERROR("%s: need 0 < E and E*N to fit size_t (E = %zu, N = %zu)", fn, E, k->N);
    return FF_EINVAL;
  }
  return FF_OK;
}

/* One traversal per point, batched: all points of a chunk advance one level per PRG call. lt
 * selects the comparison (dpf.h explains the accumulation) instead of the point value. */
static void ff__dpf_paths(const ff_dpf_key *k, size_t total, const uint64_t *x, int lt, uint8_t *out) {
  const int n = k->n, L = n - FF_DPF_LEAF_BITS;
  const size_t N = k->N;
  const uint64_t mask = ff_ring_mask(n);
  ff_block s[FF__CHUNK];
  uint64_t xv[FF__CHUNK];
  size_t el[FF__CHUNK];
  uint8_t dir[FF__CHUNK], prev[FF__CHUNK], acc[FF__CHUNK], t[FF__CHUNK];

  memset(out, 0, total / 8 + (total % 8 != 0));
  for (size_t p0 = 0; p0 < total; p0 += FF__CHUNK) {
    const size_t c = total - p0 < FF__CHUNK ? total - p0 : FF__CHUNK;
    for (size_t q = 0; q < c; q++) {
      el[q] = (p0 + q) % N;
      xv[q] = x[p0 + q] & mask;
      s[q] = k->seed[el[q]];
      acc[q] = 0;
      prev[q] = 1; /* as if the path had come from the right: a first left turn opens a run */
    }
    for (int i = 0; i < L; i++) {
      for (size_t q = 0; q < c; q++) {
        dir[q] = (uint8_t)((xv[q] >> (n - 1 - i)) & 1);
        t[q] = (uint8_t)ff__lsb(s[q]);
        acc[q] ^= (uint8_t)(t[q] & (dir[q] ^ prev[q]));
        prev[q] = dir[q];
        s[q] = ff__clear_lsb(s[q]);
      }
      ff_prg_expand_dir(s, dir, s, c);
      if (i < L - 1) {
        const ff_block *scw = k->scw + (size_t)i * N;
        for (size_t q = 0; q < c; q++) {
          const ff_block cw = scw[el[q]];
          const int tcw = dir[q] ? ff__get_bit(k->tR, (size_t)i * N + el[q]) : ff__lsb(cw);
          s[q] = ff__xor(s[q], ff__and(ff__set_lsb(cw, tcw), ff__spread(t[q])));
        }
      } else {
        for (size_t q = 0; q < c; q++) {
          const ff_block cw = dir[q] ? k->l1[el[q]] : k->l0[el[q]];
          s[q] = ff__xor(s[q], ff__and(cw, ff__spread(t[q])));
        }
      }
    }
    for (size_t q = 0; q < c; q++) {
      const int pos = (int)(xv[q] & 127);
      int bit;
      if (!lt) {
        bit = ff__bit(s[q], pos);
      } else {
        /* Leaves above x; when the last turn was left, the run it ends adds the whole block, which
         * leaves the leaves at or below x. */
        const ff_block upto = ff__mask_upto(pos);
        const ff_block above = {~upto.lo, ~upto.hi};
        bit = acc[q] ^ ff__parity(ff__and(s[q], prev[q] ? above : upto));
      }
      ff__put_bit(out, p0 + q, bit);
    }
  }
}

ff_status ff_dpf_eval_point_cpu(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  size_t total;
  ff_status st = ff__dpf_eval_check("ff_dpf_eval_point_cpu", k, FF_MEM_HOST, E, x, out, &total);
  if (st) return st;
  ff__dpf_paths(k, total, x, 0, out);
  return FF_OK;
}

ff_status ff_dpf_eval_lt_cpu(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  size_t total;
  ff_status st = ff__dpf_eval_check("ff_dpf_eval_lt_cpu", k, FF_MEM_HOST, E, x, out, &total);
  if (st) return st;
  ff__dpf_paths(k, total, x, 1, out);
  return FF_OK;
}

/* ---- Full domain ------------------------------------------------------------------------------------ */

ff_status ff__dpf_eval_all_check(const char *fn, const ff_dpf_key *k, ff_mem where, const uint8_t *out) {
  ff_status st = ff__dpf_key_check(fn, k, where);
  if (st) return st;
  if (!out) {
    FF_ERROR("%s: output is NULL", fn);
    return FF_EINVAL;
  }
  if (k->n > FF_DPF_EVAL_ALL_MAX_BITS) {
    FF_ERROR("%s: full-domain evaluation is for n <= %d, got n = %d", fn, FF_DPF_EVAL_ALL_MAX_BITS, k->n);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_dpf_eval_all_cpu(ff_ctx *ctx, const ff_dpf_key *k, uint8_t *out) {
  ff_status st = ff__dpf_eval_all_check("ff_dpf_eval_all_cpu", k, FF_MEM_HOST, out);
  if (st) return st;
  const int L = k->n - FF_DPF_LEAF_BITS;
  const size_t N = k->N, width = (size_t)1 << (L - 1); /* nodes at the last tree level */
  ff_block *buf = malloc(4 * width * sizeof(ff_block));
  if (!buf) {
    FF_ERROR("ff_dpf_eval_all: cannot allocate %zu bytes of scratch", 4 * width * sizeof(ff_block));
    return FF_ENOMEM;
  }
  /* Breadth first: level i holds 2^i nodes; node m's children are 2m and 2m+1. */
  ff_block *cur = buf, *in = buf + width, *left = buf + 2 * width, *right = buf + 3 * width;
  for (size_t j = 0; j < N; j++) {
    uint8_t *leaves = out + j * (((size_t)1 << k->n) / 8);
    cur[0] = k->seed[j];
    for (int i = 0; i < L; i++) {
      const size_t m = (size_t)1 << i;
      for (size_t v = 0; v < m; v++) in[v] = ff__clear_lsb(cur[v]);
      ff_prg_expand(in, left, right, m);
      if (i < L - 1) {
        const ff_block cw = k->scw[(size_t)i * N + j];
        const ff_block cwL = cw, cwR = ff__set_lsb(cw, ff__get_bit(k->tR, (size_t)i * N + j));
        /* In place, last node first: children 2v, 2v+1 land on nodes already read. */
        for (size_t v = m; v-- > 0;) {
          const ff_block on = ff__spread(ff__lsb(cur[v]));
          cur[2 * v] = ff__xor(left[v], ff__and(cwL, on));
          cur[2 * v + 1] = ff__xor(right[v], ff__and(cwR, on));
        }
      } else {
        /* Leaf blocks go straight to the output; memcpy because out is only byte aligned. */
        for (size_t v = 0; v < m; v++) {
          const ff_block on = ff__spread(ff__lsb(cur[v]));
          const ff_block a = ff__xor(left[v], ff__and(k->l0[j], on)), b = ff__xor(right[v], ff__and(k->l1[j], on));
          memcpy(leaves + 32 * v, &a, sizeof a);
          memcpy(leaves + 32 * v + 16, &b, sizeof b);
        }
      }
    }
  }
  free(buf);
  return FF_OK;
}

/* ---- Dispatch --------------------------------------------------------------------------------------- */

#ifndef FF_HAVE_CUDA
ff_status ff_dpf_keygen_cuda(ff_ctx *ctx, const uint64_t *alpha, const ff_block *roots, ff_dpf_key *k0, ff_dpf_key *k1) {
  return ff__no_cuda("ff_dpf_keygen_cuda");
}
ff_status ff_dpf_eval_point_cuda(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  return ff__no_cuda("ff_dpf_eval_point_cuda");
}
ff_status ff_dpf_eval_lt_cuda(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  return ff__no_cuda("ff_dpf_eval_lt_cuda");
}
ff_status ff_dpf_eval_all_cuda(ff_ctx *ctx, const ff_dpf_key *k, uint8_t *out) { return ff__no_cuda("ff_dpf_eval_all_cuda"); }
#endif

static ff_status ff__ctx_check(const char *fn, const ff_ctx *ctx) {
  if (!ctx) {
    FF_ERROR("%s: context is NULL", fn);
    return FF_EINVAL;
  }
  return FF_OK;
}

/* Both parties' keys made in device memory on dev's stream (d[0], d[1] allocated here; the caller frees
 * them, also on failure) from host alpha and roots, staged in stream-ordered scratch (the caller may
 * wipe the roots right after). Not waited for. */
static ff_status ff__dpf_keygen_dev(ff_ctx *dev, const char *fn, int n, size_t N, const uint64_t *alpha,
                                   const ff_block *roots, ff_dpf_key d[2]) {
  if (!dev || dev->backend != FF_BACKEND_CUDA) {
    FF_ERROR("%s: the context has no CUDA context for keygen", fn);
    return FF_EINVAL;
  }
  void *dalpha = NULL, *droots = NULL;
  ff_status st;
  if (!(st = ff_dpf_key_alloc(dev, &d[0], n, N)) && !(st = ff_dpf_key_alloc(dev, &d[1], n, N)) &&
      !(st = ff__fss_stage(dev, fn, alpha, N * sizeof *alpha, &dalpha)) &&
      !(st = ff__fss_stage(dev, fn, roots, 2 * N * sizeof *roots, &droots)))
    st = ff_dpf_keygen_cuda(dev, dalpha, droots, &d[0], &d[1]);
  ff__fss_stage_free(dev, dalpha);
  ff__fss_stage_free(dev, droots);
  return st;
}

ff_status ff__dpf_keygen_staged(ff_ctx *ctx, const uint64_t *alpha, const ff_block *roots, ff_dpf_key *k0,
                                ff_dpf_key *k1) {
  const char *fn = "ff_dpf_keygen (staged on the device)";
  ff_status st = ff__dpf_keygen_check(fn, alpha, roots, k0, k1, FF_MEM_HOST);
  if (st) return st;
  ff_dpf_key d[2] = {{0}, {0}};
  ff_ctx *dev = ctx->keygen_dev;
  if (!(st = ff__dpf_keygen_dev(dev, fn, k0->n, k0->N, alpha, roots, d)) && !(st = ff_dpf_key_copy(dev, k0, &d[0])))
    st = ff_dpf_key_copy(dev, k1, &d[1]); /* the copies down wait for the stream */
  ff_dpf_key_free(&d[0]); /* stream-ordered */
  ff_dpf_key_free(&d[1]);
  return st;
}

ff_status ff_dpf_keygen(ff_ctx *ctx, const uint64_t *alpha, ff_dpf_key *k0, ff_dpf_key *k1) {
  ff_status st = ff__ctx_check("ff_dpf_keygen", ctx);
  if (st) return st;
  const ff_mem where = ctx->backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST;
  /* Checked before drawing, with a dummy roots pointer, so that bad arguments consume no randomness. */
  if ((st = ff__dpf_keygen_check("ff_dpf_keygen", alpha, (const ff_block *)alpha, k0, k1, where))) return st;
  const size_t N = k0->N;
  ff_block *roots = malloc(2 * N * sizeof *roots); /* 2N cannot overflow: the key of N elements fits */
  if (!roots) {
    FF_ERROR("ff_dpf_keygen: cannot allocate %zu root seeds", 2 * N);
    return FF_ENOMEM;
  }
  if ((st = ff_rng_bytes(&ctx->rng, roots, 2 * N * sizeof *roots))) goto done;
  if (where == FF_MEM_HOST) {
    st = ctx->keygen_dev ? ff__dpf_keygen_staged(ctx, alpha, roots, k0, k1) : ff_dpf_keygen_cpu(ctx, alpha, roots, k0, k1);
    goto done;
  }
  {
    void *droots = NULL; /* stream-ordered scratch: no device-wide sync */
    if (!(st = ff__fss_stage(ctx, "ff_dpf_keygen", roots, 2 * N * sizeof *roots, &droots)))
      st = ff_dpf_keygen_cuda(ctx, alpha, droots, k0, k1);
    ff__fss_stage_free(ctx, droots);
  }
done:
  explicit_bzero(roots, 2 * N * sizeof *roots); /* the roots are secret */
  free(roots);
  return st;
}

ff_status ff__dpf_keygen_on_dev(ff_ctx *ctx, const char *fn, int n, size_t N, const uint64_t *alpha, ff_dpf_key d[2]) {
  if (!ff_dpf_key_bytes(n, N)) {
    FF_ERROR("%s: no keys of %zu elements of %d bits (n is 8..64, N at least 1)", fn, N, n);
    return FF_EINVAL;
  }
  ff_block *roots = malloc(2 * N * sizeof *roots); /* fits: the key of N elements does */
  if (!roots) {
    FF_ERROR("%s: cannot allocate %zu root seeds", fn, 2 * N);
    return FF_ENOMEM;
  }
  ff_status st = ff_rng_bytes(&ctx->rng, roots, 2 * N * sizeof *roots);
  if (!st) st = ff__dpf_keygen_dev(ctx->keygen_dev, fn, n, N, alpha, roots, d);
  explicit_bzero(roots, 2 * N * sizeof *roots); /* staged: the scratch holds its own copy */
  free(roots);
  return st;
}

ff_status ff_dpf_keygen_emit(ff_ctx *ctx, int n, size_t N, const uint64_t *alpha, ff_dpf_key_emit emit, void *arg) {
  const char *fn = "ff_dpf_keygen_emit";
  ff_status st = ff__ctx_check(fn, ctx);
  if (st) return st;
  if (!emit || !alpha) {
    FF_ERROR("%s: alpha or emit is NULL", fn);
    return FF_EINVAL;
  }
  ff_dpf_key k[2] = {{0}, {0}};
  ff_ctx *mem = ctx;
  if (ctx->backend == FF_BACKEND_CUDA || !ctx->keygen_dev) {
    /* In ctx's own memory: ff_dpf_keygen draws the roots and makes the keys there. */
    if (!(st = ff_dpf_key_alloc(ctx, &k[0], n, N)) && !(st = ff_dpf_key_alloc(ctx, &k[1], n, N)))
      st = ff_dpf_keygen(ctx, alpha, &k[0], &k[1]);
  } else {
    mem = ctx->keygen_dev;
    st = ff__dpf_keygen_on_dev(ctx, fn, n, N, alpha, k);
  }
  for (int p = 0; p < 2 && !st; p++) st = emit(arg, p, mem, &k[p]);
  ff_dpf_key_free(&k[0]);
  ff_dpf_key_free(&k[1]);
  return st;
}

ff_status ff_dpf_eval_point(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  FF_SCOPE("FSS::DPF");
  ff_status st = ff__ctx_check("ff_dpf_eval_point", ctx);
  if (st) return st;
  return ctx->backend == FF_BACKEND_CUDA ? ff_dpf_eval_point_cuda(ctx, k, E, x, out) : ff_dpf_eval_point_cpu(ctx, k, E, x, out);
}

ff_status ff_dpf_eval_lt(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  FF_SCOPE("FSS::DPF");
  ff_status st = ff__ctx_check("ff_dpf_eval_lt", ctx);
  if (st) return st;
  return ctx->backend == FF_BACKEND_CUDA ? ff_dpf_eval_lt_cuda(ctx, k, E, x, out) : ff_dpf_eval_lt_cpu(ctx, k, E, x, out);
}

ff_status ff_dpf_eval_all(ff_ctx *ctx, const ff_dpf_key *k, uint8_t *out) {
  FF_SCOPE("FSS::DPF");
  ff_status st = ff__ctx_check("ff_dpf_eval_all", ctx);
  if (st) return st;
  return ctx->backend == FF_BACKEND_CUDA ? ff_dpf_eval_all_cuda(ctx, k, out) : ff_dpf_eval_all_cpu(ctx, k, out);
}
