/* XOR-shared truth tables for inputs of at most 7 bits (SIGMA's gpu_sstab.h, research/sigma.md §3):
 * below 8 bits a table of 2^n bits is smaller than any DPF key (48.1 B at n = 8).
 * Test: tests/test_dpf.c. */
#include "gates/fss/sstab.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ring.h"
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

ff_status ff_sstab_key_alloc(ff_sstab_key *k, int n, size_t N) {
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
  k->tab = calloc(1, bytes);
  if (!k->tab) {
    FF_ERROR("ff_sstab_key_alloc: cannot allocate %zu bytes for %zu tables of %d bits", bytes, N, n);
    return FF_ENOMEM;
  }
  k->n = n;
  k->N = N;
  k->bytes = bytes;
  return FF_OK;
}

void ff_sstab_key_free(ff_sstab_key *k) {
  if (!k) return;
  free(k->tab);
  memset(k, 0, sizeof *k);
}

static ff_status ff__sstab_key_check(const char *fn, const ff_sstab_key *k) {
  if (!k || !k->tab || k->bytes != ff_sstab_key_bytes(k->n, k->N)) {
    FF_ERROR("%s: key is NULL or not allocated with ff_sstab_key_alloc", fn);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_sstab_keygen(const uint64_t *alpha, ff_rng *rng, ff_sstab_key *k0, ff_sstab_key *k1) {
  ff_status st;
  if ((st = ff__sstab_key_check("ff_sstab_keygen", k0)) || (st = ff__sstab_key_check("ff_sstab_keygen", k1))) return st;
  if (!alpha || !rng) {
    FF_ERROR("ff_sstab_keygen: alpha or rng is NULL");
    return FF_EINVAL;
  }
  if (k0->n != k1->n || k0->N != k1->N) {
    FF_ERROR("ff_sstab_keygen: the two keys have different shapes (n %d/%d, N %zu/%zu)", k0->n, k1->n, k0->N, k1->N);
    return FF_EINVAL;
  }
  const int n = k0->n;
  const size_t B = ff_sstab_elem_bytes(n);
  if ((st = ff_rng_bytes(rng, k0->tab, k0->bytes))) return st;
  /* Tables of 2 or 4 entries use part of their byte; the rest stays zero so the key is canonical. */
  const uint8_t used = n < 3 ? (uint8_t)((1u << (1u << n)) - 1) : 0xff;
  for (size_t j = 0; j < k0->N; j++) {
    const uint64_t a = alpha[j] & ff_ring_mask(n);
    for (size_t b = 0; b < B; b++) {
      k0->tab[j * B + b] &= used;
      k1->tab[j * B + b] = k0->tab[j * B + b];
    }
    k1->tab[j * B + a / 8] ^= (uint8_t)(1u << (a % 8));
  }
  return FF_OK;
}

static ff_status ff__sstab_eval(const char *fn, const ff_sstab_key *k, size_t E, const uint64_t *x, int lt, uint8_t *out) {
  ff_status st = ff__sstab_key_check(fn, k);
  if (st) return st;
  size_t total;
  if (!x || !out) {
    FF_ERROR("%s: points or output is NULL", fn);
    return FF_EINVAL;
  }
  if (E == 0 || __builtin_mul_overflow(E, k->N, &total)) {
    FF_ERROR("%s: need 0 < E and E*N to fit size_t (E = %zu, N = %zu)", fn, E, k->N);
    return FF_EINVAL;
  }
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

ff_status ff_sstab_eval_point(const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  FF_SCOPE("FSS::DPF");
  return ff__sstab_eval("ff_sstab_eval_point", k, E, x, 0, out);
}

ff_status ff_sstab_eval_lt(const ff_sstab_key *k, size_t E, const uint64_t *x, uint8_t *out) {
  FF_SCOPE("FSS::DPF");
  return ff__sstab_eval("ff_sstab_eval_lt", k, E, x, 1, out);
}
