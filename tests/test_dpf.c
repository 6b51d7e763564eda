/* gates/fss/dpf and sstab: reconstructed point function 1{x == alpha} and comparison 1{x < alpha}
 * for every alpha and every x at n = 8, 9, 10 (and 1..7 for the truth tables), full-domain against
 * pointwise evaluation, E points per element, random points at n = 32..64, exact key sizes; the
 * CPU backend through the dispatchers and the _cpu references (CUDA: tests/test_fss_cuda.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/keystream.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/dpf.h"
#include "gates/fss/sstab.h"
#include "scope/scope.h"

static int bit_at(const uint8_t *bits, size_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }
static size_t bit_bytes(size_t nbits) { return nbits / 8 + (nbits % 8 != 0); }

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  assert_non_null(p);
  return p;
}

/* The CPU context of every test; its rng is reseeded wherever keys must be reproducible. */
static ff_ctx ctx;

static void dpf_keys(int n, size_t N, const uint64_t *alpha, uint64_t seed, ff_dpf_key *k0, ff_dpf_key *k1) {
  ff_rng_init_seeded(&ctx.rng, seed);
  assert_int_equal(ff_dpf_key_alloc(&ctx, k0, n, N), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&ctx, k1, n, N), FF_OK);
  assert_int_equal(k0->where, FF_MEM_HOST);
  assert_int_equal(ff_dpf_keygen(&ctx, alpha, k0, k1), FF_OK);
}

/* Both parties' shares at E points per element, for the point function and the comparison. */
typedef struct {
  uint8_t *pt[2], *lt[2];
} shares;

static shares eval_both(const ff_dpf_key *k0, const ff_dpf_key *k1, size_t E, const uint64_t *x) {
  shares s;
  size_t bytes = bit_bytes(E * k0->N);
  const ff_dpf_key *k[2] = {k0, k1};
  for (int b = 0; b < 2; b++) {
    s.pt[b] = xmalloc(bytes);
    s.lt[b] = xmalloc(bytes);
    assert_int_equal(ff_dpf_eval_point(&ctx, k[b], E, x, s.pt[b]), FF_OK);
    assert_int_equal(ff_dpf_eval_lt(&ctx, k[b], E, x, s.lt[b]), FF_OK);
  }
  return s;
}

static void shares_free(shares *s) {
  for (int b = 0; b < 2; b++) {
    free(s->pt[b]);
    free(s->lt[b]);
  }
}

/* Every alpha (element j has alpha = j) and every x (point e of every element is e). */
static void check_exhaustive(int n) {
  const size_t D = (size_t)1 << n, N = D, E = D;
  uint64_t *alpha = xmalloc(N * sizeof *alpha), *x = xmalloc(E * N * sizeof *x);
  for (size_t j = 0; j < N; j++) alpha[j] = j;
  for (size_t e = 0; e < E; e++)
    for (size_t j = 0; j < N; j++) x[e * N + j] = e;
  ff_dpf_key k0, k1;
  dpf_keys(n, N, alpha, 100 + (uint64_t)n, &k0, &k1);

  /* Full domain: element j's table reconstructs to the unit vector at j. */
  const size_t row = D / 8;
  uint8_t *all0 = xmalloc(N * row), *all1 = xmalloc(N * row);
  assert_int_equal(ff_dpf_eval_all(&ctx, &k0, all0), FF_OK);
  assert_int_equal(ff_dpf_eval_all(&ctx, &k1, all1), FF_OK);
  shares s = eval_both(&k0, &k1, E, x);
  size_t wrong_pt = 0, wrong_lt = 0, wrong_all = 0, diff_all = 0;
  for (size_t j = 0; j < N; j++) {
    for (size_t y = 0; y < D; y++) {
      const size_t p = y * N + j; /* point y of element j */
      const int a0 = bit_at(all0 + j * row, y), a1 = bit_at(all1 + j * row, y);
      wrong_all += (size_t)((a0 ^ a1) != (y == j));
      /* Each party's pointwise share is its full-domain share. */
      diff_all += (size_t)(bit_at(s.pt[0], p) != a0) + (size_t)(bit_at(s.pt[1], p) != a1);
      wrong_pt += (size_t)((bit_at(s.pt[0], p) ^ bit_at(s.pt[1], p)) != (y == j));
      wrong_lt += (size_t)((bit_at(s.lt[0], p) ^ bit_at(s.lt[1], p)) != (y < j));
    }
  }
  assert_int_equal(wrong_all, 0);
  assert_int_equal(diff_all, 0);
  assert_int_equal(wrong_pt, 0);
  assert_int_equal(wrong_lt, 0);
  shares_free(&s);
  free(all0);
  free(all1);
  free(alpha);
  free(x);
  ff_dpf_key_free(&k0);
  ff_dpf_key_free(&k1);
}

static void test_dpf_exhaustive_8(void **state) { (void)state; check_exhaustive(8); }
static void test_dpf_exhaustive_9(void **state) { (void)state; check_exhaustive(9); }
static void test_dpf_exhaustive_10(void **state) { (void)state; check_exhaustive(10); }

/* Random alphas at large n with the edge points x = alpha, alpha +- 1, 0, 2^n - 1 and a random x,
 * E = 6 points per element; alphas include 0, 1, 2^n - 2, 2^n - 1. Inputs carry garbage above bit n,
 * which the DPF must ignore. */
static void check_random(int n, size_t N, uint64_t seed) {
  enum { E = 6 };
  const uint64_t m = ff_ring_mask(n);
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *alpha = xmalloc(N * sizeof *alpha), *alpha_in = xmalloc(N * sizeof *alpha), *x = xmalloc(E * N * sizeof *x);
  for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&rng) & m;
  alpha[0] = 0, alpha[1] = 1, alpha[2] = m - 1, alpha[3] = m;
  for (size_t j = 0; j < N; j++) alpha_in[j] = alpha[j] | (ff_rng_u64(&rng) & ~m);
  for (size_t j = 0; j < N; j++) {
    const uint64_t pts[E] = {alpha[j], (alpha[j] + 1) & m, (alpha[j] - 1) & m, 0, m, ff_rng_u64(&rng)};
    for (size_t e = 0; e < E; e++) x[e * N + j] = pts[e] | (ff_rng_u64(&rng) & ~m);
  }
  ff_dpf_key k0, k1;
  dpf_keys(n, N, alpha_in, seed + 1, &k0, &k1);
  shares s = eval_both(&k0, &k1, E, x);
  size_t wrong_pt = 0, wrong_lt = 0, hits = 0;
  for (size_t e = 0; e < E; e++) {
    for (size_t j = 0; j < N; j++) {
      const size_t p = e * N + j;
      const uint64_t xv = x[p] & m;
      hits += xv == alpha[j];
      wrong_pt += (size_t)((bit_at(s.pt[0], p) ^ bit_at(s.pt[1], p)) != (xv == alpha[j]));
      wrong_lt += (size_t)((bit_at(s.lt[0], p) ^ bit_at(s.lt[1], p)) != (xv < alpha[j]));
    }
  }
  assert_true(hits >= N); /* x = alpha was really tried */
  assert_int_equal(wrong_pt, 0);
  assert_int_equal(wrong_lt, 0);
  shares_free(&s);
  free(alpha);
  free(alpha_in);
  free(x);
  ff_dpf_key_free(&k0);
  ff_dpf_key_free(&k1);
}

static void test_dpf_random_large(void **state) {
  (void)state;
  check_random(32, 1000, 32);
  check_random(48, 1000, 48);
  check_random(50, 1000, 50);
  check_random(64, 1000, 64);
  check_random(11, 300, 11); /* an n whose tree ends mid-byte of tR, N not a multiple of 8 */
}

/* A view (a key read in place from a key image): evaluates as the key it was serialized from, at an
 * aligned offset inside a larger buffer; refused unaligned and as a keygen's or a copy's output; freeing
 * it leaves the buffer alone. */
static void test_dpf_key_view(void **state) {
  (void)state;
  const int n = 11;
  const size_t N = 300, E = 2, kb = ff_dpf_key_bytes(n, N);
  uint64_t alpha[300], x[600];
  ff_rng_init_seeded(&ctx.rng, 0x77);
  assert_int_equal(ff_rng_ring(&ctx.rng, alpha, N, n), FF_OK);
  assert_int_equal(ff_rng_ring(&ctx.rng, x, E * N, n), FF_OK);
  for (size_t i = 0; i < N; i++) x[i] = alpha[i]; /* the point itself, then random points */
  ff_dpf_key k0, k1, v;
  dpf_keys(n, N, alpha, 5, &k0, &k1);
  uint8_t *img = aligned_alloc(16, (kb + 64 + 15) / 16 * 16);
  assert_non_null(img);
  memset(img, 0xa5, 64); /* bytes before the key, as in an image */
  assert_int_equal(ff_dpf_key_serialize(&k1, img + 48, kb), FF_OK);
  assert_int_equal(ff_dpf_key_view(&v, n, N, img + 48, FF_MEM_HOST), FF_OK);
  shares a = eval_both(&k0, &k1, E, x), b = eval_both(&k0, &v, E, x);
  const size_t bytes = bit_bytes(E * N);
  assert_memory_equal(a.pt[1], b.pt[1], bytes);
  assert_memory_equal(a.lt[1], b.lt[1], bytes);
  for (int q = 0; q < 2; q++) free(a.pt[q]), free(a.lt[q]), free(b.pt[q]), free(b.lt[q]);
  ff_dpf_key v2, k2;
  assert_int_equal(ff_dpf_key_view(&v2, n, N, img + 40, FF_MEM_HOST), FF_EINVAL); /* not 16-aligned */
  assert_int_equal(ff_dpf_key_view(&v2, 7, N, img + 48, FF_MEM_HOST), FF_EINVAL);  /* n below the tree's */
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k2, n, N), FF_OK);
  assert_int_equal(ff_dpf_keygen(&ctx, alpha, &k2, &v), FF_EINVAL); /* a view is read only */
  assert_int_equal(ff_dpf_key_copy(&ctx, &v, &k0), FF_EINVAL);
  ff_dpf_key_free(&v);
  assert_null(v.buf);
  assert_int_equal(img[0], 0xa5); /* the buffer is the caller's: still there, not freed */
  free(img);
  ff_dpf_key_free(&k2);
  ff_dpf_key_free(&k0);
  ff_dpf_key_free(&k1);
}

/* E = 3 points per element, SIGMA-style offsets from one masked value: x, x + c1, x + c2. */
static void test_dpf_multipoint(void **state) {
  (void)state;
  const int n = 12;
  const size_t N = 777, E = 3;
  const uint64_t m = ff_ring_mask(n);
  ff_rng rng;
  ff_rng_init_seeded(&rng, 3);
  uint64_t *alpha = xmalloc(N * sizeof *alpha), *x = xmalloc(E * N * sizeof *x);
  for (size_t j = 0; j < N; j++) {
    alpha[j] = ff_rng_u64(&rng) & m;
    const uint64_t xh = (j % 3 == 0) ? alpha[j] : ff_rng_u64(&rng) & m;
    x[j] = xh;
    x[N + j] = (xh + 1000) & m;
    x[2 * N + j] = (xh - 1) & m;
  }
  ff_dpf_key k0, k1;
  dpf_keys(n, N, alpha, 4, &k0, &k1);
  shares s = eval_both(&k0, &k1, E, x);
  for (size_t p = 0; p < E * N; p++) {
    const size_t j = p % N;
    assert_int_equal(bit_at(s.pt[0], p) ^ bit_at(s.pt[1], p), x[p] == alpha[j]);
    assert_int_equal(bit_at(s.lt[0], p) ^ bit_at(s.lt[1], p), x[p] < alpha[j]);
  }
  /* Each point's share is the share of a one-point call at that point. */
  uint64_t *x1 = xmalloc(N * sizeof *x1);
  uint8_t *one = xmalloc(bit_bytes(N));
  for (size_t e = 0; e < E; e++) {
    memcpy(x1, x + e * N, N * sizeof *x1);
    assert_int_equal(ff_dpf_eval_lt(&ctx, &k1, 1, x1, one), FF_OK);
    for (size_t j = 0; j < N; j++) assert_int_equal(bit_at(one, j), bit_at(s.lt[1], e * N + j));
  }
  /* Pad bits of the packed output are zero. */
  assert_int_equal(s.lt[0][bit_bytes(E * N) - 1] >> ((E * N) % 8), 0);
  free(x1);
  free(one);
  shares_free(&s);
  free(alpha);
  free(x);
  ff_dpf_key_free(&k0);
  ff_dpf_key_free(&k1);
}

/* Multi-point evaluation, exhaustively on small domains: one key per threshold (N = 2^n elements,
 * alpha_j = j) evaluated at E = 2^n points in one call, point e of element j being (j + e) mod 2^n,
 * so every (threshold, input) pair occurs and every input occurs in every point slot. */
static void check_multipoint_exhaustive(int n) {
  const size_t N = (size_t)1 << n, E = N;
  uint64_t *alpha = xmalloc(N * sizeof *alpha), *x = xmalloc(E * N * sizeof *x);
  for (size_t j = 0; j < N; j++) alpha[j] = j;
  for (size_t e = 0; e < E; e++)
    for (size_t j = 0; j < N; j++) x[e * N + j] = (j + e) & (N - 1);
  ff_dpf_key k0, k1;
  dpf_keys(n, N, alpha, 17, &k0, &k1);
  shares s = eval_both(&k0, &k1, E, x);
  for (size_t p = 0; p < E * N; p++) {
    const size_t j = p % N;
    if ((bit_at(s.pt[0], p) ^ bit_at(s.pt[1], p)) != (x[p] == alpha[j]) ||
        (bit_at(s.lt[0], p) ^ bit_at(s.lt[1], p)) != (x[p] < alpha[j]))
      fail_msg("n=%d: alpha %zu, point slot %zu, x %llu: wrong share", n, j, p / N, (unsigned long long)x[p]);
  }
  shares_free(&s);
  free(alpha);
  free(x);
  ff_dpf_key_free(&k0);
  ff_dpf_key_free(&k1);
}

static void test_dpf_multipoint_exhaustive(void **state) {
  (void)state;
  check_multipoint_exhaustive(8);
  check_multipoint_exhaustive(10);
}

/* Key bytes: 16(n-7) + 32 + (n-7)/8 per element, exact for N a multiple of 8, and the same for
 * every mask. */
static void test_dpf_key_bytes(void **state) {
  (void)state;
  assert_int_equal(ff_dpf_key_bytes(50, 8), 5803); /* 725.375 B per element */
  assert_int_equal(ff_dpf_key_bytes(12, 8), 901);  /* 112.625 */
  assert_int_equal(ff_dpf_key_bytes(32, 8), 3481); /* 435.125 (sigma.md's "403.1" contradicts its own formula) */
  assert_int_equal(ff_dpf_key_bytes(38, 8), 4255); /* 531.875 */
  assert_int_equal(ff_dpf_key_bytes(8, 8), 385);   /* 48.125 */
  for (int n = FF_DPF_MIN_BITS; n <= FF_DPF_MAX_BITS; n++) {
    for (size_t N = 8; N <= 4096; N *= 2)
      assert_int_equal(8 * ff_dpf_key_bytes(n, N), N * (8 * (16 * (size_t)(n - 7) + 32) + (size_t)(n - 7)));
    /* Otherwise the tR bits are rounded up once per batch. */
    assert_int_equal(ff_dpf_key_bytes(n, 3), 3 * (16 * (size_t)(n - 7) + 32) + bit_bytes(3 * (size_t)(n - 7)));
  }
  assert_int_equal(ff_dpf_key_bytes(7, 8), 0);
  assert_int_equal(ff_dpf_key_bytes(65, 8), 0);
  assert_int_equal(ff_dpf_key_bytes(50, 0), 0);
  assert_int_equal(ff_dpf_key_bytes(64, SIZE_MAX / 8), 0);

  /* Serialized keys of n = 50, N = 8 for 64 different mask sets: always 5803 bytes, and a key read
   * back evaluates as the original. */
  const int n = 50;
  const size_t N = 8;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 9);
  uint8_t buf[2][5803 + 16];
  for (int trial = 0; trial < 64; trial++) {
    uint64_t alpha[8], x[8];
    for (size_t j = 0; j < N; j++) {
      alpha[j] = trial == 0 ? 0 : trial == 1 ? ff_ring_mask(n) : ff_rng_u64(&rng) & ff_ring_mask(n);
      x[j] = ff_rng_u64(&rng);
    }
    ff_dpf_key k0, k1, r0;
    dpf_keys(n, N, alpha, 1000 + (uint64_t)trial, &k0, &k1);
    assert_int_equal(k0.bytes, 5803);
    assert_int_equal(k1.bytes, 5803);
    assert_int_equal(ff_dpf_key_serialize(&k0, buf[0], sizeof buf[0]), FF_OK);
    assert_int_equal(ff_dpf_key_serialize(&k1, buf[1], sizeof buf[1]), FF_OK);
    assert_int_equal(ff_dpf_key_deserialize(&r0, n, N, buf[0], 5803), FF_OK);
    uint8_t o0, o1;
    assert_int_equal(ff_dpf_eval_lt(&ctx, &k0, 1, x, &o0), FF_OK);
    assert_int_equal(ff_dpf_eval_lt(&ctx, &r0, 1, x, &o1), FF_OK);
    assert_int_equal(o0, o1);
    /* The tR row SIGMA keeps for the last level is unused and zero in both keys. */
    for (size_t j = 0; j < N; j++) {
      assert_int_equal(bit_at(k0.tR, (size_t)(n - 8) * N + j), 0);
      assert_int_equal(bit_at(k1.tR, (size_t)(n - 8) * N + j), 0);
    }
    ff_dpf_key_free(&k0);
    ff_dpf_key_free(&k1);
    ff_dpf_key_free(&r0);
  }
}

/* A keygen of many elements (split over threads: gates/fss/dpf.c) equals, element by element, the
 * keygens of each element alone (one thread): seed, every level's seed CW and tR bit, the leaf CWs. N is
 * odd, so ranges' tR bits meet inside bytes. */
static void test_dpf_keygen_split(void **state) {
  (void)state;
  const int n = 37, L = n - FF_DPF_LEAF_BITS;
  const size_t N = 20011;
  ff__cpu_count_override(7); /* as many ranges as the elements allow, whatever this machine has */
  ff_rng_init_seeded(&ctx.rng, 78);
  uint64_t *alpha = malloc(N * sizeof *alpha);
  ff_block *roots = malloc(2 * N * sizeof *roots);
  assert_non_null(alpha);
  assert_non_null(roots);
  for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&ctx.rng);
  assert_int_equal(ff_rng_bytes(&ctx.rng, roots, 2 * N * sizeof *roots), FF_OK);
  ff_dpf_key k[2], e[2];
  for (int p = 0; p < 2; p++) {
    assert_int_equal(ff_dpf_key_alloc(&ctx, &k[p], n, N), FF_OK);
    assert_int_equal(ff_dpf_key_alloc(&ctx, &e[p], n, 1), FF_OK);
    memset(k[p].buf, 0xcd, k[p].bytes); /* keygen overwrites every byte */
  }
  assert_int_equal(ff_dpf_keygen_cpu(&ctx, alpha, roots, &k[0], &k[1]), FF_OK);
  for (size_t j = 0; j < N; j += (j < 600 ? 1 : 97)) {
    const ff_block r[2] = {roots[j], roots[N + j]};
    assert_int_equal(ff_dpf_keygen_cpu(&ctx, alpha + j, r, &e[0], &e[1]), FF_OK);
    for (int p = 0; p < 2; p++) {
      assert_memory_equal(&k[p].seed[j], &e[p].seed[0], sizeof(ff_block));
      assert_memory_equal(&k[p].l0[j], &e[p].l0[0], sizeof(ff_block));
      assert_memory_equal(&k[p].l1[j], &e[p].l1[0], sizeof(ff_block));
      for (int i = 0; i < L; i++) {
        const size_t b = (size_t)i * N + j;
        if (i < L - 1) assert_memory_equal(&k[p].scw[b], &e[p].scw[i], sizeof(ff_block));
        assert_int_equal((k[p].tR[b >> 3] >> (b & 7)) & 1, (e[p].tR[i >> 3] >> (i & 7)) & 1);
      }
    }
  }
  for (int p = 0; p < 2; p++) {
    ff_dpf_key_free(&k[p]);
    ff_dpf_key_free(&e[p]);
  }
  free(alpha);
  free(roots);
  ff__cpu_count_override(0);
}

/* Keygen is a function of alpha and the roots: the same roots give the same bytes, party 1's given
 * control bit is ignored, and a copied key evaluates as the original. */
static void test_dpf_keygen_roots(void **state) {
  (void)state;
  const int n = 20;
  const size_t N = 301;
  ff_rng_init_seeded(&ctx.rng, 77);
  uint64_t alpha[301];
  ff_block roots[2 * 301];
  for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&ctx.rng);
  assert_int_equal(ff_rng_bytes(&ctx.rng, roots, sizeof roots), FF_OK);
  ff_dpf_key a0, a1, b0, b1;
  assert_int_equal(ff_dpf_key_alloc(&ctx, &a0, n, N), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &a1, n, N), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &b0, n, N), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &b1, n, N), FF_OK);
  assert_int_equal(ff_dpf_keygen_cpu(&ctx, alpha, roots, &a0, &a1), FF_OK);
  for (size_t j = 0; j < N; j++) roots[N + j].lo ^= 1;
  memset(b1.buf, 0xab, b1.bytes); /* keygen overwrites every byte, tR included */
  assert_int_equal(ff_dpf_keygen_cpu(&ctx, alpha, roots, &b0, &b1), FF_OK);
  assert_memory_equal(a0.buf, b0.buf, a0.bytes);
  assert_memory_equal(a1.buf, b1.buf, a1.bytes);
  assert_memory_equal(a0.seed, roots, N * sizeof *roots);
  for (size_t j = 0; j < N; j++) assert_int_equal((a0.seed[j].lo ^ a1.seed[j].lo) & 1, 1);
  memset(b0.buf, 0, b0.bytes);
  assert_int_equal(ff_dpf_key_copy(&ctx, &b0, &a1), FF_OK);
  assert_memory_equal(b0.buf, a1.buf, a1.bytes);
  ff_dpf_key_free(&a0);
  ff_dpf_key_free(&a1);
  ff_dpf_key_free(&b0);
  ff_dpf_key_free(&b1);
}

/* What ff_dpf_keygen_emit handed over: each party's key bytes, in the order given; a call to fail. */
typedef struct {
  uint8_t *bytes[2];
  size_t n[2];
  int calls, fail_at; /* fail_at: 1-based call that returns FF_EIO; 0: none */
  ff_ctx *want_mem;
} emitted;

static ff_status take_key(void *arg, int p, ff_ctx *mem, const ff_dpf_key *k) {
  emitted *e = arg;
  e->calls++;
  assert_int_equal(p, e->calls - 1); /* party 0's key first, then party 1's */
  if (e->fail_at == e->calls) return FF_EIO;
  assert_ptr_equal(mem, e->want_mem);
  assert_int_equal(k->where, FF_MEM_HOST);
  e->bytes[p] = xmalloc(k->bytes);
  memcpy(e->bytes[p], k->buf, k->bytes);
  e->n[p] = k->bytes;
  return FF_OK;
}

/* ff_dpf_keygen_emit on a CPU dealer hands over, party 0 then party 1, the keys that ff_dpf_keygen makes
 * from the same generator state, and leaves the generator where ff_dpf_keygen leaves it; the emitter's
 * failure is returned and stops the handing over; bad arguments are refused before any draw. */
static void test_dpf_keygen_emit(void **state) {
  (void)state;
  const int ns[] = {8, 37, 64};
  const size_t Ns[] = {1, 301, 1000};
  for (int c = 0; c < 3; c++) {
    const int n = ns[c];
    const size_t N = Ns[c];
    uint64_t *alpha = xmalloc(N * sizeof *alpha);
    ff_rng_init_seeded(&ctx.rng, 90 + (uint64_t)c);
    for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&ctx.rng);
    ff_dpf_key k0, k1;
    dpf_keys(n, N, alpha, 5, &k0, &k1);
    const uint64_t after = ff_rng_u64(&ctx.rng);
    ff_rng_init_seeded(&ctx.rng, 5);
    emitted e = {.want_mem = &ctx};
    assert_int_equal(ff_dpf_keygen_emit(&ctx, n, N, alpha, take_key, &e), FF_OK);
    assert_int_equal(e.calls, 2);
    assert_int_equal(e.n[0], k0.bytes);
    assert_int_equal(e.n[1], k1.bytes);
    assert_memory_equal(e.bytes[0], k0.buf, k0.bytes);
    assert_memory_equal(e.bytes[1], k1.buf, k1.bytes);
    assert_true(ff_rng_u64(&ctx.rng) == after);
    free(e.bytes[0]);
    free(e.bytes[1]);
    ff_dpf_key_free(&k0);
    ff_dpf_key_free(&k1);

    for (int fail = 1; fail <= 2; fail++) {
      emitted f = {.want_mem = &ctx, .fail_at = fail};
      assert_int_equal(ff_dpf_keygen_emit(&ctx, n, N, alpha, take_key, &f), FF_EIO);
      assert_int_equal(f.calls, fail);
      free(f.bytes[0]);
    }
    free(alpha);
  }
  uint64_t alpha = 3;
  emitted e = {.want_mem = &ctx};
  ff_rng_init_seeded(&ctx.rng, 6);
  const uint64_t first = ff_rng_u64(&ctx.rng);
  ff_rng_init_seeded(&ctx.rng, 6);
  assert_int_equal(ff_dpf_keygen_emit(&ctx, 7, 1, &alpha, take_key, &e), FF_EINVAL);  /* n below 8 */
  assert_int_equal(ff_dpf_keygen_emit(&ctx, 65, 1, &alpha, take_key, &e), FF_EINVAL); /* n above 64 */
  assert_int_equal(ff_dpf_keygen_emit(&ctx, 20, 0, &alpha, take_key, &e), FF_EINVAL); /* no elements */
  assert_int_equal(ff_dpf_keygen_emit(&ctx, 20, 1, NULL, take_key, &e), FF_EINVAL);
  assert_int_equal(ff_dpf_keygen_emit(&ctx, 20, 1, &alpha, NULL, &e), FF_EINVAL);
  assert_int_equal(ff_dpf_keygen_emit(NULL, 20, 1, &alpha, take_key, &e), FF_EINVAL);
  assert_int_equal(e.calls, 0);
  assert_true(ff_rng_u64(&ctx.rng) == first); /* nothing drawn */
}

/* Truth tables, n = 1..7: every alpha, every x; 2^n bits per element, at least one byte. */
static void test_sstab_exhaustive(void **state) {
  (void)state;
  for (int n = 1; n <= FF_SSTAB_MAX_BITS; n++) {
    const size_t D = (size_t)1 << n, N = D, E = D;
    assert_int_equal(ff_sstab_elem_bytes(n), D < 8 ? 1 : D / 8);
    uint64_t alpha[128], *x = xmalloc(E * N * sizeof *x);
    for (size_t j = 0; j < N; j++) alpha[j] = j | ((uint64_t)j << 20); /* garbage above bit n */
    for (size_t e = 0; e < E; e++)
      for (size_t j = 0; j < N; j++) x[e * N + j] = e | (UINT64_C(1) << 40);
    ff_rng_init_seeded(&ctx.rng, (uint64_t)n);
    ff_sstab_key k[2];
    assert_int_equal(ff_sstab_key_alloc(&ctx, &k[0], n, N), FF_OK);
    assert_int_equal(ff_sstab_key_alloc(&ctx, &k[1], n, N), FF_OK);
    assert_int_equal(ff_sstab_keygen(&ctx, alpha, &k[0], &k[1]), FF_OK);
    assert_int_equal(k[0].bytes, N * ff_sstab_elem_bytes(n));
    uint8_t *pt[2], *lt[2];
    for (int b = 0; b < 2; b++) {
      pt[b] = xmalloc(bit_bytes(E * N));
      lt[b] = xmalloc(bit_bytes(E * N));
      assert_int_equal(ff_sstab_eval_point(&ctx, &k[b], E, x, pt[b]), FF_OK);
      assert_int_equal(ff_sstab_eval_lt(&ctx, &k[b], E, x, lt[b]), FF_OK);
      if (n < 3)
        for (size_t j = 0; j < N; j++) assert_int_equal(k[b].tab[j] >> D, 0);
    }
    for (size_t e = 0; e < E; e++)
      for (size_t j = 0; j < N; j++) {
        const size_t p = e * N + j;
        assert_int_equal(bit_at(pt[0], p) ^ bit_at(pt[1], p), e == j);
        assert_int_equal(bit_at(lt[0], p) ^ bit_at(lt[1], p), e < j);
      }
    for (int b = 0; b < 2; b++) {
      free(pt[b]);
      free(lt[b]);
      ff_sstab_key_free(&k[b]);
    }
    free(x);
  }
}

static void test_bad_arguments(void **state) {
  (void)state;
  ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  ff_dpf_key k0, k1, k17;
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k0, 7, 8), FF_EINVAL);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k0, 65, 8), FF_EINVAL);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k0, 20, 0), FF_EINVAL);
  assert_int_equal(ff_dpf_key_alloc(&ctx, NULL, 20, 8), FF_EINVAL);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k0, 17, 4), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k1, 18, 4), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k17, 17, 4), FF_OK);
  ff_rng_init_seeded(&ctx.rng, 1);
  uint64_t alpha[4] = {1, 2, 3, 4};
  uint8_t out[1 << 15];
  assert_int_equal(ff_dpf_keygen(&ctx, alpha, &k0, &k1), FF_EINVAL); /* shapes differ */
  assert_int_equal(ff_dpf_keygen(&ctx, NULL, &k0, &k17), FF_EINVAL);
  assert_int_equal(ff_dpf_keygen(NULL, alpha, &k0, &k17), FF_EINVAL);
  assert_int_equal(ff_dpf_keygen_cpu(&ctx, alpha, NULL, &k0, &k17), FF_EINVAL);
  assert_int_equal(ff_dpf_keygen(&ctx, alpha, &k0, &k17), FF_OK);
  /* Host keys on the CUDA twins: refused (wrong memory, or no CUDA in this build). */
  assert_int_not_equal(ff_dpf_eval_point_cuda(&ctx, &k0, 1, alpha, out), FF_OK);
  assert_int_not_equal(ff_dpf_keygen_cuda(&ctx, alpha, (const ff_block *)out, &k0, &k17), FF_OK);
  assert_int_equal(ff_dpf_eval_lt(NULL, &k0, 1, alpha, out), FF_EINVAL);
  assert_int_equal(ff_dpf_key_copy(&ctx, &k0, &k1), FF_EINVAL); /* shapes differ */
  assert_int_equal(ff_dpf_eval_point(&ctx, NULL, 1, alpha, out), FF_EINVAL);
  assert_int_equal(ff_dpf_eval_point(&ctx, &k0, 1, NULL, out), FF_EINVAL);
  assert_int_equal(ff_dpf_eval_lt(&ctx, &k0, 1, alpha, NULL), FF_EINVAL);
  assert_int_equal(ff_dpf_eval_lt(&ctx, &k0, 0, alpha, out), FF_EINVAL);
  assert_int_equal(ff_dpf_eval_all(&ctx, &k0, out), FF_EINVAL); /* n = 17 > 16 */
  assert_int_equal(ff_dpf_key_serialize(&k0, out, 10), FF_ERANGE);
  ff_dpf_key r;
  assert_int_equal(ff_dpf_key_deserialize(&r, 17, 4, out, 10), FF_EFORMAT);
  assert_null(r.buf);
  ff_dpf_key_free(&k0);
  ff_dpf_key_free(&k1);
  ff_dpf_key_free(&k17);
  ff_dpf_key_free(&k17); /* twice is harmless */
  assert_int_equal(ff_dpf_eval_point(&ctx, &k0, 1, alpha, out), FF_EINVAL); /* freed */

  ff_sstab_key t0, t1;
  assert_int_equal(ff_sstab_key_alloc(&ctx, &t0, 0, 4), FF_EINVAL);
  assert_int_equal(ff_sstab_key_alloc(&ctx, &t0, 8, 4), FF_EINVAL);
  assert_int_equal(ff_sstab_key_alloc(&ctx, &t0, 5, 4), FF_OK);
  assert_int_equal(ff_sstab_key_alloc(&ctx, &t1, 6, 4), FF_OK);
  assert_int_equal(ff_sstab_keygen(&ctx, alpha, &t0, &t1), FF_EINVAL);
  assert_int_equal(ff_sstab_keygen(NULL, alpha, &t0, &t0), FF_EINVAL);
  assert_int_not_equal(ff_sstab_eval_point_cuda(&ctx, &t0, 1, alpha, out), FF_OK);
  assert_int_equal(ff_sstab_eval_lt(&ctx, &t0, 1, NULL, out), FF_EINVAL);
  ff_sstab_key_free(&t0);
  ff_sstab_key_free(&t1);
  ff_log_set_level(saved);
}

/* Every evaluation is billed to FSS::DPF; keygen opens no scope. */
static void test_scope(void **state) {
  (void)state;
  ff_prof *p = NULL;
  ff_prof_opts o = {.party = 0, .run_id = "test-dpf"};
  assert_int_equal(ff_prof_create(&p, &o), FF_OK);
  assert_int_equal(ff_prof_thread_attach(p, "test", NULL), FF_OK);
  assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
  ff_dpf_key k0, k1;
  uint64_t alpha[2] = {5, 300}, x[2] = {5, 7};
  dpf_keys(10, 2, alpha, 5, &k0, &k1);
  uint8_t out[256];
  assert_int_equal(ff_dpf_eval_point(&ctx, &k0, 1, x, out), FF_OK);
  assert_int_equal(ff_dpf_eval_lt(&ctx, &k0, 1, x, out), FF_OK);
  assert_int_equal(ff_dpf_eval_all(&ctx, &k0, out), FF_OK);
  ff_sstab_key t0, t1;
  ff_rng_init_seeded(&ctx.rng, 1);
  assert_int_equal(ff_sstab_key_alloc(&ctx, &t0, 4, 2), FF_OK);
  assert_int_equal(ff_sstab_key_alloc(&ctx, &t1, 4, 2), FF_OK);
  assert_int_equal(ff_sstab_keygen(&ctx, alpha, &t0, &t1), FF_OK);
  assert_int_equal(ff_sstab_eval_lt(&ctx, &t0, 1, x, out), FF_OK);
  assert_int_equal(ff_prof_rep_end(p), FF_OK);
  const ff_prof_rep *rep = ff_prof_rep_get(p, 0);
  int i = ff_prof_find(rep, "FSS::DPF");
  assert_true(i >= 0);
  assert_int_equal(rep->nodes[i].calls, 4);
  assert_int_equal(rep->n_nodes, 1);
  ff_dpf_key_free(&k0);
  ff_dpf_key_free(&k1);
  ff_sstab_key_free(&t0);
  ff_sstab_key_free(&t1);
  ff_prof_thread_detach();
  ff_prof_destroy(p);
}

/* The dealer's path: both parties' keys go through key streams (one per party, as key files do) and
 * are read back by each party; the read-back keys evaluate exactly as the dealer's. A byte flipped
 * in the stream is refused by the reader before any evaluation. */
static void test_keys_through_keystream(void **state) {
  (void)state;
  enum { N = 200, n = 50 };
  uint64_t alpha[N], x[N];
  ff_rng rng;
  ff_rng_init_seeded(&rng, 91);
  assert_int_equal(ff_rng_ring(&rng, alpha, N, n), FF_OK);
  assert_int_equal(ff_rng_ring(&rng, x, N, n), FF_OK);
  ff_dpf_key k[2], back[2];
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k[0], n, N), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&ctx, &k[1], n, N), FF_OK);
  assert_int_equal(ff_dpf_keygen(&ctx, alpha, &k[0], &k[1]), FF_OK);
  uint8_t want[2][(N + 7) / 8], got[(N + 7) / 8];
  for (int p = 0; p < 2; p++) {
    ff_keystream_params kp = {.party = p, .run_id = "dpf-test", .meta = "n=50 N=200", .chunk_size = 1000};
    ff_keystream *w = NULL, *r = NULL;
    assert_int_equal(ff_keystream_create_mem(&kp, &w), FF_OK);
    uint8_t *ser = malloc(k[p].bytes);
    assert_non_null(ser);
    assert_int_equal(ff_dpf_key_serialize(&k[p], ser, k[p].bytes), FF_OK);
    assert_int_equal(ff_keystream_write(w, ser, k[p].bytes), FF_OK);
    assert_int_equal(ff_keystream_finish(w), FF_OK);
    const void *img;
    size_t img_n;
    assert_int_equal(ff_keystream_mem_image(w, &img, &img_n), FF_OK);
    /* The party reads its stream back and evaluates. */
    assert_int_equal(ff_keystream_open_mem(img, img_n, &r), FF_OK);
    memset(ser, 0, k[p].bytes);
    assert_int_equal(ff_keystream_read(r, ser, k[p].bytes), FF_OK);
    assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
    assert_int_equal(ff_dpf_key_deserialize(&back[p], n, N, ser, k[p].bytes), FF_OK);
    assert_int_equal(ff_dpf_eval_lt(&ctx, &k[p], 1, x, want[p]), FF_OK);
    assert_int_equal(ff_dpf_eval_lt(&ctx, &back[p], 1, x, got), FF_OK);
    assert_memory_equal(want[p], got, sizeof got);
    /* A corrupted copy is refused (at open or at the read of the damaged chunk). */
    uint8_t *bad = malloc(img_n);
    assert_non_null(bad);
    memcpy(bad, img, img_n);
    bad[img_n / 2] ^= 0x10;
    ff_log_set_level(FF_LOG_OFF);
    ff_status st = ff_keystream_open_mem(bad, img_n, &r);
    if (st == FF_OK) {
      st = ff_keystream_read(r, ser, k[p].bytes);
      ff_keystream_close(r, 0);
    }
    ff_log_set_level(FF_LOG_WARN);
    assert_int_equal(st, FF_EFORMAT);
    free(bad);
    free(ser);
    ff_keystream_close(w, 0);
  }
  /* The read-back keys still reconstruct the comparison. */
  for (size_t j = 0; j < N; j++) {
    int bit = ((want[0][j / 8] ^ want[1][j / 8]) >> (j % 8)) & 1;
    assert_int_equal(bit, x[j] < alpha[j]);
  }
  for (int p = 0; p < 2; p++) {
    ff_dpf_key_free(&k[p]);
    ff_dpf_key_free(&back[p]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys_through_keystream), cmocka_unit_test(test_dpf_multipoint_exhaustive),
      cmocka_unit_test(test_dpf_exhaustive_8),  cmocka_unit_test(test_dpf_exhaustive_9),
      cmocka_unit_test(test_dpf_exhaustive_10), cmocka_unit_test(test_dpf_random_large),
      cmocka_unit_test(test_dpf_multipoint),    cmocka_unit_test(test_dpf_key_bytes),
      cmocka_unit_test(test_dpf_keygen_roots),  cmocka_unit_test(test_dpf_keygen_split),
      cmocka_unit_test(test_dpf_keygen_emit),
      cmocka_unit_test(test_sstab_exhaustive),
      cmocka_unit_test(test_bad_arguments),     cmocka_unit_test(test_scope),
      cmocka_unit_test(test_dpf_key_view),
  };
  if (ff_ctx_init(&ctx, FF_BACKEND_CPU, 0) != FF_OK) return 1;
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&ctx);
  return rc;
}
