/* XOR-shared truth tables for inputs of at most 7 bits (SIGMA's gpu_sstab.h, research/sigma.md §3):
 * below 8 bits a table of 2^n bits is smaller than any DPF key (48.1 B at n = 8). CPU reference,
 * key memory and dispatchers; the CUDA twins are in dpf_cuda.cu.
 * Test: tests/test_dpf.c (CPU), tests/test_fss_cuda.c (CUDA against CPU). */
#include "gates/fss/sstab.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dpf.h" /* ff__fss_buf_*: buffers on either backend */
#include "scope/scope.h"

size_t ff_sstab_elem_bytes(int n) {
  if (n < 1 || n > FF_SSTAB_MAX_BITS) return 0;
  return n <= 3 ? 1 : (size_t)1 << (n - 3);
}

size_t ff_sstab_key_bytes(int n, size_t N) {
  size_t b = ff_sstab_elem_bytes(n), total;
  if (!b || N == 0 || __builtin_mul_overflow(b, N, &total)) return 0;
  return total;
}

ff_status ff_sstab_key_alloc(ff_ctx *ctx, ff_sstab_key *k, int n, size_t N) {
  if (!k) {
    FF_ERROR("ff_sstab_key_alloc: key is NULL");
    return FF_EINVAL;
  }
  memset(k, 0, sizeof *k);
  size_t bytes = ff_sstab_key_bytes(n, N);
  if (!bytes) {
    FF_ERROR("ff_sstab_key_alloc: need 1 <= n <= %d and 0 < N with a size that fits memory (n = %d, N = %zu)",
             FF_SSTAB_MAX_BITS, n, N);
    return FF_EINVAL;
  }
  void *buf;
  ff_status st = ff__fss_buf_alloc(ctx, "ff_sstab_key_alloc", bytes, &buf, &k->where);
  if (st) return st;
  k->tab = buf;
  k->n = n;
  k->N = N;
  k->bytes = bytes;
  return FF_OK;
}

void ff_sstab_key_free(ff_sstab_key *k) {
  if (!k) return;
  ff__fss_buf_free(k->tab, k->where);
  memset(k, 0, sizeof *k);
}

static ff_status ff__sstab_key_check(const char *fn, const ff_sstab_key *k, ff_mem where) {
  if (!k || !k->tab || k->bytes != ff_sstab_key_bytes(k->n, k->N)) {
    FF_ERROR("%s: key is NULL or not allocated with ff_sstab_key_alloc", fn);
    return FF_EINVAL;
  }
  if (k->where != where) {
    FF_ERROR("%s: the key is in %s memory, this backend needs it in %s memory (see ff_sstab_key_copy)", fn,
             k->where == FF_MEM_DEVICE ? "device" : "host", where == FF_MEM_DEVICE ? "device" : "host");
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_sstab_key_copy(ff_ctx *ctx, ff_sstab_key *dst, const ff_sstab_key *src) {
  if (!dst || !src) {
    FF_ERROR("ff_sstab_key_copy: key is NULL");
    return FF_EINVAL;
  }
  ff_status st;
  if ((st = ff__sstab_key_check("ff_sstab_key_copy", src, src->where)) ||
      (st = ff__sstab_key_check("ff_sstab_key_copy", dst, dst->where)))
    return st;
  if (dst->n != src->n || dst->N != src->N) {
    FF_ERROR("ff_sstab_key_copy: the keys have different shapes (n %d/%d, N %zu/%zu)", dst->n, src->n, dst->N, src->N);
    return FF_EINVAL;
  }
  return ff__fss_buf_copy(ctx, "ff_sstab_key_copy", dst->tab, dst->where, src->tab, src->where, src->bytes);
}

/* The tables of both parties in host memory t0, t1 (k0->bytes each) from host alphas. */
static ff_status ff__sstab_tables(ff_rng *rng, int n, size_t N, const uint64_t *alpha, uint8_t *t0, uint8_t *t1) {
  const size_t B = ff_sstab_elem_bytes(n);
  ff_status st = ff_rng_bytes(rng, t0, N * B);
  if (st) return st;
  /* Tables of 2 or 4 entries use part of their byte; the rest stays zero so the key is canonical. */
  const uint8_t used = n < 3 ? (uint8_t)((1u << (1u << n)) - 1) : 0xff;
  for (size_t j = 0; j < N; j++) {
    const uint64_t a = alpha[j] & ff_ring_mask(n);
    for (size_t b = 0; b < B; b++) {
      t0[j * B + b] &= used;
      t1[j * B + b] = t0[j * B + b];
    }
    t1[j * B + a / 8] ^= (uint8_t)(1u << (a % 8));
  }
  return FF_OK;
}

ff_status ff_sstab_keygen(ff_ctx *ctx, const uint64_t *alpha, ff_sstab_key *k0, ff_sstab_key *k1) {
  if (!ctx) {
    FF_ERROR("ff_sstab_keygen: context is NULL");
    return FF_EINVAL;
  }
  const ff_mem where = ctx->backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST;
  ff_status st;
  if ((st = ff__sstab_key_check("ff_sstab_keygen", k0, where)) || (st = ff__sstab_key_check("ff_sstab_keygen", k1, where)))
    return st;
  if (!alpha) {
    FF_ERROR("ff_sstab_keygen: alpha is NULL");
    return FF_EINVAL;
  }
  if (k0->n != k1->n || k0->N != k1->N) {
    FF_ERROR("ff_sstab_keygen: the two keys have different shapes (n %d/%d, N %zu/%zu)", k0->n, k1->n, k0->N, k1->N);
    return FF_EINVAL;
  }
  const size_t N = k0->N;
  if (where == FF_MEM_HOST) return ff__sstab_tables(&ctx->rng, k0->n, N, alpha, k0->tab, k1->tab);

  /* CUDA: alpha down, tables made on the host, tables up. */
  uint64_t *ha = malloc(N * sizeof *ha);
  uint8_t *t = malloc(2 * k0->bytes);
  if (!ha || !t) {
    FF_ERROR("ff_sstab_keygen: cannot allocate %zu bytes of host scratch", N * sizeof *ha + 2 * k0->bytes);
    st = FF_ENOMEM;
    goto done;
  }
  if ((st = ff__fss_buf_copy(ctx, "ff_sstab_keygen", ha, FF_MEM_HOST, alpha, FF_MEM_DEVICE, N * sizeof *ha))) goto done;
  if ((st = ff__sstab_tables(&ctx->rng, k0->n, N, ha, t, t + k0->bytes))) goto done;
  if ((st = ff__fss_buf_copy(ctx, "ff_sstab_keygen", k0->tab, FF_MEM_DEVICE, t, FF_MEM_HOST, k0->bytes))) goto done;
  st = ff__fss_buf_copy(ctx, "ff_sstab_keygen", k1->tab, FF_MEM_DEVICE, t + k0->bytes, FF_MEM_HOST, k0->bytes);
done:
  /* Pageable uploads return once staged, so the secret tables can be wiped now. */
  if (t) explicit_bzero(t, 2 * k0->bytes);
  free(t);
  free(ha);
  return st;
}

ff_status ff__sstab_eval_check(const char *fn, const ff_sstab_key *k, ff_mem where, size_t E, const uint64_t *x,
                               const uint8_t *out, size_t *total) {
  ff_status st = ff__sstab_key_check(fn, k, where);
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

static ff_status ff__sstab_eval(const char *fn, const ff_sstab_key *k, size_t E, const uint64_t *x, int lt, uint8_t *out) {
  size_t total;
  ff_status st = ff__sstab_eval_check(fn, k, FF_MEM_HOST, E, x, out, &total);
  if (st) return st;
  const int n = k->n;
  const size_t B = ff_sstab_elem_bytes(n), N = k->N;
  const uint64_t mask = ff_ring_mask(n);
  memset(out, 0, total / 8 + (total % 8 != 0));
  for (size_t p = 0; p < total; p++) {
    const uint8_t *tab = k->tab + (p % N) * B;
    const uint64_t xv = x[p] & mask;
    int bit;
    if (!lt) {
      bit = (tab[xv / 8] >> (xv % 8)) & 1;
    } else {
      /* Entries y > x: the rest of x's byte above x, then the whole bytes after it. */
      unsigned acc = (unsigned)(tab[xv / 8] >> (xv % 8)) >> 1;
      for (size_t b = xv / 8 + 1; b < B; b++) acc ^= tab[b];
      bit = __builtin_parity(acc);
    }
    out[p / 8] |= (uint8_t)(bit << (p % 8));
  }
  return FF_OK;
}

ff_status ff_sstab_eval_point_cpu(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  return ff__sstab_eval("ff_sstab_eval_point_cpu", k, E, x, 0, out);
}

ff_status ff_sstab_eval_lt_cpu(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  return ff__sstab_eval("ff_sstab_eval_lt_cpu", k, E, x, 1, out);
}

#ifndef FF_HAVE_CUDA
ff_status ff_sstab_eval_point_cuda(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  FF_ERROR("ff_sstab_eval_point_cuda: this build of fusefss has no CUDA backend (configure with a CUDA compiler)");
  return FF_ENOTSUP;
}
ff_status ff_sstab_eval_lt_cuda(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  FF_ERROR("ff_sstab_eval_lt_cuda: this build of fusefss has no CUDA backend (configure with a CUDA compiler)");
  return FF_ENOTSUP;
}
#endif

ff_status ff_sstab_eval_point(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  FF_SCOPE("FSS::DPF");
  if (!ctx) {
    FF_ERROR("ff_sstab_eval_point: context is NULL");
    return FF_EINVAL;
  }
  return ctx->backend == FF_BACKEND_CUDA ? ff_sstab_eval_point_cuda(ctx, k, E, x, out)
                                         : ff_sstab_eval_point_cpu(ctx, k, E, x, out);
}

ff_status ff_sstab_eval_lt(ff_ctx *ctx, const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  FF_SCOPE("FSS::DPF");
  if (!ctx) {
    FF_ERROR("ff_sstab_eval_lt: context is NULL");
    return FF_EINVAL;
  }
  return ctx->backend == FF_BACKEND_CUDA ? ff_sstab_eval_lt_cuda(ctx, k, E, x, out) : ff_sstab_eval_lt_cpu(ctx, k, E, x, out);
}
