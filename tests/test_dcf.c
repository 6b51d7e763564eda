/* gates/fss/dcf: the reconstructed payload beta * 1{x < alpha} for every alpha and every x at n = 1..6
 * (payloads of p = 1..8 words, bw = 1, 13, 50, 64), at random and edge points for n = 20, 38, 50, 64,
 * E points per element against one-point calls, exact key sizes that do not depend on alpha or beta,
 * serialization round trips, keygen as a function of the roots, bad arguments and the scope; the CPU
 * backend through the dispatchers and the _cpu references (CUDA: tests/test_dcf_cuda.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/dcf.h"
#include "scope/scope.h"

static size_t bit_bytes(size_t nbits) { return nbits / 8 + (nbits % 8 != 0); }

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  assert_non_null(p);
  return p;
}

/* The CPU context of every test; its rng is reseeded wherever keys must be reproducible. */
static ff_ctx ctx;

static void dcf_keys(int n, int p, int bw, size_t N, const uint64_t *alpha, const uint64_t *beta, uint64_t seed,
                     ff_dcf_key *k0, ff_dcf_key *k1) {
  ff_rng_init_seeded(&ctx.rng, seed);
  assert_int_equal(ff_dcf_key_alloc(&ctx, k0, n, p, bw, N), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&ctx, k1, n, p, bw, N), FF_OK);
  assert_int_equal(k0->where, FF_MEM_HOST);
  assert_int_equal(k0->bytes, ff_dcf_key_bytes(n, p, bw, N));
  assert_int_equal(ff_dcf_keygen(&ctx, alpha, beta, k0, k1), FF_OK);
}

/* Both parties' shares at E points per element: (E, p, N) words each. */
static void eval_both(const ff_dcf_key *k0, const ff_dcf_key *k1, size_t E, const uint64_t *x, uint64_t **y0,
                      uint64_t **y1) {
  const size_t words = E * (size_t)k0->p * k0->N;
  *y0 = xmalloc(words * sizeof **y0);
  *y1 = xmalloc(words * sizeof **y1);
  assert_int_equal(ff_dcf_eval(&ctx, k0, E, x, *y0), FF_OK);
  assert_int_equal(ff_dcf_eval(&ctx, k1, E, x, *y1), FF_OK);
}

/* Counts the words whose reconstruction is not beta * 1{x < alpha} mod 2^bw (alpha, x mod 2^n), and the
 * words (of either party) with bits above bw; reports the first wrong one. */
static size_t count_wrong(int n, int p, int bw, size_t N, size_t E, const uint64_t *alpha, const uint64_t *beta,
                          const uint64_t *x, const uint64_t *y0, const uint64_t *y1) {
  const uint64_t m = ff_ring_mask(n), mb = ff_ring_mask(bw);
  size_t wrong = 0;
  for (size_t e = 0; e < E; e++)
    for (int w = 0; w < p; w++)
      for (size_t j = 0; j < N; j++) {
        const size_t o = (e * (size_t)p + (size_t)w) * N + j;
        const uint64_t xv = x[e * N + j] & m, a = alpha[j] & m;
        const uint64_t want = xv < a ? beta[(size_t)w * N + j] & mb : 0, got = (y0[o] + y1[o]) & mb;
        if (got == want && (y0[o] | y1[o]) <= mb) continue;
        if (!wrong)
          print_error("n=%d p=%d bw=%d: element %zu (alpha %llu), point %zu (x %llu), word %d: want %llu, got %llu "
                      "(shares %llx, %llx)\n",
                      n, p, bw, j, (unsigned long long)a, e, (unsigned long long)xv, w, (unsigned long long)want,
                      (unsigned long long)got, (unsigned long long)y0[o], (unsigned long long)y1[o]);
        wrong++;
      }
  return wrong;
}

/* Payloads (p, N) mod 2^bw: random words, with the extremes 0, 1 and 2^bw - 1 on the first elements
 * and garbage above bw, which keygen must ignore. */
static void fill_beta(ff_rng *rng, int p, int bw, size_t N, uint64_t *beta) {
  const uint64_t mb = ff_ring_mask(bw);
  for (int w = 0; w < p; w++)
    for (size_t j = 0; j < N; j++) {
      uint64_t v = ff_rng_u64(rng) & mb;
      if (j % 7 == 1) v = 0;
      if (j % 7 == 2) v = 1 & mb;
      if (j % 7 == 3) v = mb;
      beta[(size_t)w * N + j] = v | (ff_rng_u64(rng) & ~mb);
    }
}

/* ---- Exhaustive, n = 1..6 -------------------------------------------------------------------------- */

/* Every alpha (element j has alpha = j) and every x (point e of every element is e), inputs with
 * garbage above bit n. */
static void check_exhaustive(int n, int p, int bw, uint64_t seed) {
  const size_t D = (size_t)1 << n, N = D, E = D;
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *alpha = xmalloc(N * sizeof *alpha), *beta = xmalloc((size_t)p * N * sizeof *beta);
  uint64_t *x = xmalloc(E * N * sizeof *x);
  for (size_t j = 0; j < N; j++) alpha[j] = j | (ff_rng_u64(&rng) << n);
  fill_beta(&rng, p, bw, N, beta);
  for (size_t e = 0; e < E; e++)
    for (size_t j = 0; j < N; j++) x[e * N + j] = e | (ff_rng_u64(&rng) << n);
  ff_dcf_key k0, k1;
  dcf_keys(n, p, bw, N, alpha, beta, seed + 1, &k0, &k1);
  uint64_t *y0, *y1;
  eval_both(&k0, &k1, E, x, &y0, &y1);
  assert_int_equal(count_wrong(n, p, bw, N, E, alpha, beta, x, y0, y1), 0);
  /* The shares are not the cleartext: with bw >= 13, party 0's words are almost never 0 or the value. */
  if (bw >= 13) {
    size_t plain = 0;
    const size_t words = E * (size_t)p * N;
    for (size_t o = 0; o < words; o++) plain += y0[o] == 0 || y1[o] == 0;
    assert_true(plain * 16 < words);
  }
  free(y0);
  free(y1);
  free(alpha);
  free(beta);
  free(x);
  ff_dcf_key_free(&k0);
  ff_dcf_key_free(&k1);
}

static void test_dcf_exhaustive(void **state) {
  (void)state;
  static const struct {
    int p, bw;
  } shapes[] = {{1, 1}, {2, 13}, {3, 50}, {8, 64}, {1, 64}, {7, 1}, {4, 13}, {5, 50}, {6, 64}, {2, 1}};
  for (int n = 1; n <= 6; n++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      check_exhaustive(n, shapes[s].p, shapes[s].bw, 1000 * (uint64_t)n + s);
}

/* ---- Random, large n --------------------------------------------------------------------------------- */

/* Random alphas (including 0, 1, 2^n - 2, 2^n - 1) at E = 6 points per element: alpha, alpha + 1,
 * alpha - 1, 0, 2^n - 1 and a random point, all with garbage above bit n. Each point's shares equal
 * those of a one-point call at that point. */
static void check_random(int n, int p, int bw, size_t N, uint64_t seed) {
  enum { E = 6 };
  const uint64_t m = ff_ring_mask(n);
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *alpha = xmalloc(N * sizeof *alpha), *beta = xmalloc((size_t)p * N * sizeof *beta);
  uint64_t *x = xmalloc(E * N * sizeof *x);
  for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&rng);
  const uint64_t edge[4] = {0, 1, m - 1, m};
  for (size_t j = 0; j < 4 && j < N; j++) alpha[j] = edge[j] | (ff_rng_u64(&rng) & ~m);
  fill_beta(&rng, p, bw, N, beta);
  for (size_t j = 0; j < N; j++) {
    const uint64_t a = alpha[j] & m, pts[E] = {a, (a + 1) & m, (a - 1) & m, 0, m, ff_rng_u64(&rng)};
    for (size_t e = 0; e < E; e++) x[e * N + j] = pts[e] | (ff_rng_u64(&rng) & ~m);
  }
  ff_dcf_key k0, k1;
  dcf_keys(n, p, bw, N, alpha, beta, seed + 1, &k0, &k1);
  uint64_t *y0, *y1;
  eval_both(&k0, &k1, E, x, &y0, &y1);
  assert_int_equal(count_wrong(n, p, bw, N, E, alpha, beta, x, y0, y1), 0);

  uint64_t *one = xmalloc((size_t)p * N * sizeof *one);
  for (size_t e = 0; e < E; e++) {
    assert_int_equal(ff_dcf_eval_cpu(&ctx, &k1, 1, x + e * N, one), FF_OK);
    assert_memory_equal(one, y1 + e * (size_t)p * N, (size_t)p * N * sizeof *one);
  }
  free(one);
  free(y0);
  free(y1);
  free(alpha);
  free(beta);
  free(x);
  ff_dcf_key_free(&k0);
  ff_dcf_key_free(&k1);
}

static void test_dcf_random_large(void **state) {
  (void)state;
  check_random(20, 2, 50, 1000, 20);
  check_random(20, 1, 1, 777, 21);
  check_random(38, 1, 50, 1000, 38);
  check_random(38, 2, 50, 1000, 39);
  check_random(50, 3, 37, 500, 50);
  check_random(50, 8, 13, 300, 51);
  check_random(64, 8, 64, 300, 64);
  check_random(64, 1, 64, 1000, 65);
  check_random(64, 5, 1, 301, 66);
  check_random(63, 4, 50, 129, 67);
  check_random(38, 2, 50, 1, 68); /* one element */
}

/* E points per element made from one value by public offsets, as a gate does: x, x + c, x - 1. */
static void test_dcf_multipoint(void **state) {
  (void)state;
  const int n = 12, p = 3, bw = 37;
  const size_t N = 513, E = 3;
  const uint64_t m = ff_ring_mask(n);
  ff_rng rng;
  ff_rng_init_seeded(&rng, 3);
  uint64_t *alpha = xmalloc(N * sizeof *alpha), *beta = xmalloc(p * N * sizeof *beta), *x = xmalloc(E * N * sizeof *x);
  for (size_t j = 0; j < N; j++) {
    alpha[j] = ff_rng_u64(&rng) & m;
    const uint64_t xh = (j % 3 == 0) ? alpha[j] : ff_rng_u64(&rng) & m;
    x[j] = xh;
    x[N + j] = (xh + 1000) & m;
    x[2 * N + j] = (xh - 1) & m;
  }
  fill_beta(&rng, p, bw, N, beta);
  ff_dcf_key k0, k1;
  dcf_keys(n, p, bw, N, alpha, beta, 4, &k0, &k1);
  uint64_t *y0, *y1;
  eval_both(&k0, &k1, E, x, &y0, &y1);
  assert_int_equal(count_wrong(n, p, bw, N, E, alpha, beta, x, y0, y1), 0);
  free(y0);
  free(y1);
  free(alpha);
  free(beta);
  free(x);
  ff_dcf_key_free(&k0);
  ff_dcf_key_free(&k1);
}

/* ---- Key sizes, serialization, keygen ------------------------------------------------------------- */

/* 16(n+1) + n/8 + ceil(bw/8) p (n+1) bytes per element, exact for N a multiple of 8; tR rounded up once
 * per batch otherwise. */
static void test_dcf_key_bytes(void **state) {
  (void)state;
  assert_int_equal(ff_dcf_key_bytes(38, 2, 50, 8), 9398); /* 1174.75 B per element */
  assert_int_equal(ff_dcf_key_bytes(38, 1, 50, 8), 7214); /* 901.75 */
  assert_int_equal(ff_dcf_key_bytes(1, 1, 1, 8), 8 * 34 + 1);
  assert_int_equal(ff_dcf_key_bytes(64, 8, 64, 1), 16 * 65 + 8 + 8 * 8 * 65);
  assert_int_equal(ff_dcf_word_bytes(1), 1);
  assert_int_equal(ff_dcf_word_bytes(8), 1);
  assert_int_equal(ff_dcf_word_bytes(9), 2);
  assert_int_equal(ff_dcf_word_bytes(50), 7);
  assert_int_equal(ff_dcf_word_bytes(64), 8);
  static const int bws[] = {1, 7, 8, 9, 13, 37, 50, 56, 57, 64};
  for (int n = 1; n <= 64; n++)
    for (int p = 1; p <= FF_DCF_MAX_WORDS; p++)
      for (size_t b = 0; b < sizeof bws / sizeof bws[0]; b++) {
        const size_t per = 16 * (size_t)(n + 1) + ff_dcf_word_bytes(bws[b]) * (size_t)p * (size_t)(n + 1);
        for (size_t N = 8; N <= 1024; N *= 4)
          assert_int_equal(8 * ff_dcf_key_bytes(n, p, bws[b], N), N * (8 * per + (size_t)n));
        assert_int_equal(ff_dcf_key_bytes(n, p, bws[b], 3), 3 * per + bit_bytes(3 * (size_t)n));
      }
  assert_int_equal(ff_dcf_key_bytes(0, 1, 50, 8), 0);
  assert_int_equal(ff_dcf_key_bytes(65, 1, 50, 8), 0);
  assert_int_equal(ff_dcf_key_bytes(38, 0, 50, 8), 0);
  assert_int_equal(ff_dcf_key_bytes(38, 9, 50, 8), 0);
  assert_int_equal(ff_dcf_key_bytes(38, 1, 0, 8), 0);
  assert_int_equal(ff_dcf_key_bytes(38, 1, 65, 8), 0);
  assert_int_equal(ff_dcf_key_bytes(38, 1, 50, 0), 0);
  assert_int_equal(ff_dcf_key_bytes(64, 8, 64, SIZE_MAX / 64), 0);
  assert_int_equal(ff_dcf_word_bytes(0), 0);
  assert_int_equal(ff_dcf_word_bytes(65), 0);
}

/* Serialized keys of n = 38, p = 2, bw = 50, N = 8 for 64 different (alpha, beta), extremes included:
 * always 9398 bytes; a key read back is byte-identical and evaluates as the original. */
static void test_dcf_shape_independence(void **state) {
  (void)state;
  const int n = 38, p = 2, bw = 50;
  enum { N = 8, BYTES = 9398 };
  const uint64_t m = ff_ring_mask(n), mb = ff_ring_mask(bw);
  ff_rng rng;
  ff_rng_init_seeded(&rng, 9);
  static uint8_t buf[2][BYTES + 16];
  for (int trial = 0; trial < 64; trial++) {
    uint64_t alpha[N], beta[2 * N], x[N];
    for (size_t j = 0; j < N; j++) {
      alpha[j] = trial == 0 ? 0 : trial == 1 ? m : ff_rng_u64(&rng) & m;
      x[j] = ff_rng_u64(&rng);
    }
    for (size_t i = 0; i < 2 * N; i++) beta[i] = trial == 2 ? 0 : trial == 3 ? mb : ff_rng_u64(&rng) & mb;
    ff_dcf_key k[2], r[2];
    dcf_keys(n, p, bw, N, alpha, beta, 1000 + (uint64_t)trial, &k[0], &k[1]);
    for (int b = 0; b < 2; b++) {
      assert_int_equal(k[b].bytes, BYTES);
      memset(buf[b], 0xcd, sizeof buf[b]);
      assert_int_equal(ff_dcf_key_serialize(&k[b], buf[b], sizeof buf[b]), FF_OK);
      assert_int_equal(buf[b][BYTES], 0xcd); /* nothing past the key */
      assert_int_equal(ff_dcf_key_deserialize(&r[b], n, p, bw, N, buf[b], BYTES), FF_OK);
      assert_int_equal(r[b].bytes, BYTES);
      assert_memory_equal(r[b].buf, k[b].buf, BYTES);
      uint64_t o0[2 * N], o1[2 * N];
      assert_int_equal(ff_dcf_eval(&ctx, &k[b], 1, x, o0), FF_OK);
      assert_int_equal(ff_dcf_eval(&ctx, &r[b], 1, x, o1), FF_OK);
      assert_memory_equal(o0, o1, sizeof o0);
    }
    uint64_t y0[2 * N], y1[2 * N];
    assert_int_equal(ff_dcf_eval(&ctx, &r[0], 1, x, y0), FF_OK);
    assert_int_equal(ff_dcf_eval(&ctx, &r[1], 1, x, y1), FF_OK);
    assert_int_equal(count_wrong(n, p, bw, N, 1, alpha, beta, x, y0, y1), 0);
    for (int b = 0; b < 2; b++) {
      ff_dcf_key_free(&k[b]);
      ff_dcf_key_free(&r[b]);
    }
  }
}

/* A keygen of many elements (split over threads: gates/fss/dcf.c) equals, element by element, the
 * keygens of each element alone: seed, every level's seed CW, tR bit and value CWs, the final CWs. N is
 * odd, so ranges' tR bits meet inside bytes. */
static void test_dcf_keygen_split(void **state) {
  (void)state;
  const int n = 24, p = 2, bw = 50;
  const size_t N = 5003, W = ff_dcf_word_bytes(bw);
  ff__cpu_count_override(7); /* as many ranges as the elements allow, whatever this machine has */
  ff_rng_init_seeded(&ctx.rng, 79);
  uint64_t *alpha = malloc(N * sizeof *alpha), *beta = malloc(p * N * sizeof *beta);
  ff_block *roots = malloc(2 * N * sizeof *roots);
  assert_non_null(alpha);
  assert_non_null(beta);
  assert_non_null(roots);
  for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&ctx.rng);
  fill_beta(&ctx.rng, p, bw, N, beta);
  assert_int_equal(ff_rng_bytes(&ctx.rng, roots, 2 * N * sizeof *roots), FF_OK);
  ff_dcf_key k[2], e[2];
  for (int q = 0; q < 2; q++) {
    assert_int_equal(ff_dcf_key_alloc(&ctx, &k[q], n, p, bw, N), FF_OK);
    assert_int_equal(ff_dcf_key_alloc(&ctx, &e[q], n, p, bw, 1), FF_OK);
    memset(k[q].buf, 0xcd, k[q].bytes); /* keygen overwrites every byte */
  }
  assert_int_equal(ff_dcf_keygen_cpu(&ctx, alpha, beta, roots, &k[0], &k[1]), FF_OK);
  for (size_t j = 0; j < N; j += (j < 300 ? 1 : 53)) {
    const ff_block r[2] = {roots[j], roots[N + j]};
    const uint64_t b[2] = {beta[j], beta[N + j]};
    assert_int_equal(ff_dcf_keygen_cpu(&ctx, alpha + j, b, r, &e[0], &e[1]), FF_OK);
    for (int q = 0; q < 2; q++) {
      assert_memory_equal(&k[q].seed[j], &e[q].seed[0], sizeof(ff_block));
      for (int i = 0; i < n; i++) {
        const size_t bit = (size_t)i * N + j;
        assert_memory_equal(&k[q].scw[bit], &e[q].scw[i], sizeof(ff_block));
        assert_int_equal((k[q].tR[bit >> 3] >> (bit & 7)) & 1, (e[q].tR[i >> 3] >> (i & 7)) & 1);
        for (int w = 0; w < p; w++)
          assert_memory_equal(k[q].vcw + (((size_t)i * p + w) * N + j) * W, e[q].vcw + ((size_t)i * p + w) * W, W);
      }
      for (int w = 0; w < p; w++) assert_memory_equal(k[q].fcw + ((size_t)w * N + j) * W, e[q].fcw + (size_t)w * W, W);
    }
  }
  for (int q = 0; q < 2; q++) {
    ff_dcf_key_free(&k[q]);
    ff_dcf_key_free(&e[q]);
  }
  free(alpha);
  free(beta);
  free(roots);
  ff__cpu_count_override(0);
}

/* Keygen is a function of alpha, beta and the roots: the same roots give the same bytes whatever their
 * bit 0, the roots' control bits are the parties (0, 1), a copied key evaluates as the original, and the
 * evaluation ignores ctx->party (the sign comes from the key). */
static void test_dcf_keygen_roots(void **state) {
  (void)state;
  const int n = 20, p = 3, bw = 41;
  enum { N = 301 };
  ff_rng_init_seeded(&ctx.rng, 77);
  uint64_t alpha[N], beta[3 * N], x[N];
  ff_block roots[2 * N];
  for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&ctx.rng);
  for (size_t j = 0; j < N; j++) x[j] = ff_rng_u64(&ctx.rng);
  fill_beta(&ctx.rng, p, bw, N, beta);
  assert_int_equal(ff_rng_bytes(&ctx.rng, roots, sizeof roots), FF_OK);
  ff_dcf_key a0, a1, b0, b1;
  assert_int_equal(ff_dcf_key_alloc(&ctx, &a0, n, p, bw, N), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &a1, n, p, bw, N), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &b0, n, p, bw, N), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &b1, n, p, bw, N), FF_OK);
  assert_int_equal(ff_dcf_keygen_cpu(&ctx, alpha, beta, roots, &a0, &a1), FF_OK);
  for (size_t j = 0; j < 2 * N; j++) roots[j].lo ^= 1;
  memset(b0.buf, 0xab, b0.bytes); /* keygen overwrites every byte, tR included */
  memset(b1.buf, 0xab, b1.bytes);
  assert_int_equal(ff_dcf_keygen_cpu(&ctx, alpha, beta, roots, &b0, &b1), FF_OK);
  assert_memory_equal(a0.buf, b0.buf, a0.bytes);
  assert_memory_equal(a1.buf, b1.buf, a1.bytes);
  for (size_t j = 0; j < N; j++) {
    assert_int_equal(a0.seed[j].lo & 1, 0);
    assert_int_equal(a1.seed[j].lo & 1, 1);
    assert_int_equal(a0.seed[j].hi, roots[j].hi);
    assert_int_equal(a1.seed[j].hi, roots[N + j].hi);
  }
  /* The CWs are common to both keys; only the roots differ. */
  assert_memory_equal(a0.scw, a1.scw, a0.bytes - N * sizeof(ff_block));
  uint64_t want[3 * N], got[3 * N];
  assert_int_equal(ff_dcf_eval(&ctx, &a1, 1, x, want), FF_OK);
  memset(b0.buf, 0, b0.bytes);
  assert_int_equal(ff_dcf_key_copy(&ctx, &b0, &a1), FF_OK);
  assert_memory_equal(b0.buf, a1.buf, a1.bytes);
  const int saved_party = ctx.party;
  ctx.party = 0; /* party 1's key in party 0's context: still party 1's shares */
  assert_int_equal(ff_dcf_eval(&ctx, &b0, 1, x, got), FF_OK);
  ctx.party = saved_party;
  assert_memory_equal(want, got, sizeof want);
  ff_dcf_key_free(&a0);
  ff_dcf_key_free(&a1);
  ff_dcf_key_free(&b0);
  ff_dcf_key_free(&b1);
}

/* ---- Bad arguments and the scope ------------------------------------------------------------------- */

static void test_bad_arguments(void **state) {
  (void)state;
  ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  ff_dcf_key k0, k1, kp, kb;
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k0, 0, 1, 50, 8), FF_EINVAL);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k0, 65, 1, 50, 8), FF_EINVAL);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k0, 20, 0, 50, 8), FF_EINVAL);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k0, 20, 9, 50, 8), FF_EINVAL);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k0, 20, 1, 0, 8), FF_EINVAL);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k0, 20, 1, 65, 8), FF_EINVAL);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k0, 20, 1, 50, 0), FF_EINVAL);
  assert_null(k0.buf);
  assert_int_equal(ff_dcf_key_alloc(&ctx, NULL, 20, 1, 50, 8), FF_EINVAL);
  assert_int_equal(ff_dcf_key_alloc(NULL, &k0, 20, 1, 50, 8), FF_EINVAL);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k0, 17, 2, 50, 4), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &k1, 17, 2, 50, 4), FF_OK);
  assert_int_equal(ff_dcf_key_alloc(&ctx, &kp, 17, 3, 50, 4), FF_OK); /* p differs */
  assert_int_equal(ff_dcf_key_alloc(&ctx, &kb, 17, 2, 51, 4), FF_OK); /* bw differs */
  ff_rng_init_seeded(&ctx.rng, 1);
  uint64_t alpha[4] = {1, 2, 3, 4}, beta[12] = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, out[64];
  ff_block roots[8] = {{0, 0}};
  assert_int_equal(ff_dcf_keygen(&ctx, alpha, beta, &k0, &kp), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen(&ctx, alpha, beta, &k0, &kb), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen(&ctx, NULL, beta, &k0, &k1), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen(&ctx, alpha, NULL, &k0, &k1), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen(NULL, alpha, beta, &k0, &k1), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen(&ctx, alpha, beta, NULL, &k1), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen_cpu(&ctx, alpha, beta, NULL, &k0, &k1), FF_EINVAL);
  assert_int_equal(ff_dcf_keygen_cpu(&ctx, alpha, beta, roots, &k0, &k1), FF_OK);
  assert_int_equal(ff_dcf_keygen(&ctx, alpha, beta, &k0, &k1), FF_OK);
  /* Host keys on the CUDA twins: refused (wrong memory, or no CUDA in this build). */
  assert_int_not_equal(ff_dcf_eval_cuda(&ctx, &k0, 1, alpha, out), FF_OK);
  assert_int_not_equal(ff_dcf_keygen_cuda(&ctx, alpha, beta, roots, &k0, &k1), FF_OK);
  assert_int_equal(ff_dcf_eval(NULL, &k0, 1, alpha, out), FF_EINVAL);
  assert_int_equal(ff_dcf_eval(&ctx, NULL, 1, alpha, out), FF_EINVAL);
  assert_int_equal(ff_dcf_eval(&ctx, &k0, 1, NULL, out), FF_EINVAL);
  assert_int_equal(ff_dcf_eval(&ctx, &k0, 1, alpha, NULL), FF_EINVAL);
  assert_int_equal(ff_dcf_eval(&ctx, &k0, 0, alpha, out), FF_EINVAL);
  assert_int_equal(ff_dcf_eval(&ctx, &k0, SIZE_MAX / 2, alpha, out), FF_EINVAL); /* E*N*p overflows */
  assert_int_equal(ff_dcf_eval_cpu(&ctx, &k0, SIZE_MAX / 8, alpha, out), FF_EINVAL);
  assert_int_equal(ff_dcf_key_copy(&ctx, &k0, &kp), FF_EINVAL);
  assert_int_equal(ff_dcf_key_copy(&ctx, &k0, NULL), FF_EINVAL);

  /* Serialization: short output, NULL, wrong length, a mixed key, words above bw. */
  static uint8_t ser[4096];
  assert_true(k0.bytes <= sizeof ser);
  assert_int_equal(ff_dcf_key_serialize(&k0, ser, 10), FF_ERANGE);
  assert_int_equal(ff_dcf_key_serialize(&k0, NULL, sizeof ser), FF_EINVAL);
  assert_int_equal(ff_dcf_key_serialize(NULL, ser, sizeof ser), FF_EINVAL);
  ff_dcf_key r;
  assert_int_equal(ff_dcf_key_deserialize(&r, 17, 2, 50, 4, ser, 10), FF_EFORMAT);
  assert_null(r.buf);
  assert_int_equal(ff_dcf_key_deserialize(&r, 17, 2, 50, 4, NULL, k0.bytes), FF_EINVAL);
  assert_int_equal(ff_dcf_key_serialize(&k0, ser, sizeof ser), FF_OK);
  assert_int_equal(ff_dcf_key_deserialize(&r, 17, 3, 50, 4, ser, k0.bytes), FF_EFORMAT); /* another shape */
  assert_int_equal(ff_dcf_key_deserialize(&r, 0, 2, 50, 4, ser, k0.bytes), FF_EINVAL);
  assert_int_equal(ff_dcf_key_deserialize(&r, 17, 2, 50, 4, ser, k0.bytes), FF_OK);
  ff_dcf_key_free(&r);
  ser[16] ^= 1; /* element 1's root now claims party 1 */
  assert_int_equal(ff_dcf_key_deserialize(&r, 17, 2, 50, 4, ser, k0.bytes), FF_EFORMAT);
  assert_null(r.buf);
  ser[16] ^= 1;
  const size_t vcw_at = (size_t)((uint8_t *)k0.vcw - (uint8_t *)k0.buf);
  ser[vcw_at + 6] |= 0x80; /* bit 55 of the first value CW: above bw = 50 */
  assert_int_equal(ff_dcf_key_deserialize(&r, 17, 2, 50, 4, ser, k0.bytes), FF_EFORMAT);
  assert_null(r.buf);

  ff_dcf_key_free(&k0);
  ff_dcf_key_free(&k1);
  ff_dcf_key_free(&kp);
  ff_dcf_key_free(&kb);
  ff_dcf_key_free(&kb); /* twice is harmless */
  ff_dcf_key_free(NULL);
  assert_int_equal(ff_dcf_eval(&ctx, &k0, 1, alpha, out), FF_EINVAL); /* freed */
  assert_int_equal(ff_dcf_key_serialize(&k0, ser, sizeof ser), FF_EINVAL);
  ff_log_set_level(saved);
}

/* Every evaluation is billed to FSS::DCF, in the FSS family; keygen opens no scope. */
static void test_scope(void **state) {
  (void)state;
  ff_prof *prof = NULL;
  ff_prof_opts o = {.party = 0, .run_id = "test-dcf"};
  assert_int_equal(ff_prof_create(&prof, &o), FF_OK);
  assert_int_equal(ff_prof_thread_attach(prof, "test", NULL), FF_OK);
  assert_int_equal(ff_prof_rep_begin(prof, 0), FF_OK);
  ff_dcf_key k0, k1;
  uint64_t alpha[2] = {5, 300}, beta[2] = {7, 9}, x[4] = {5, 7, 1, 1000}, out[4];
  dcf_keys(10, 1, 16, 2, alpha, beta, 5, &k0, &k1);
  assert_int_equal(ff_dcf_eval(&ctx, &k0, 2, x, out), FF_OK);
  assert_int_equal(ff_dcf_eval(&ctx, &k1, 1, x, out), FF_OK);
  assert_int_equal(ff_prof_rep_end(prof), FF_OK);
  const ff_prof_rep *rep = ff_prof_rep_get(prof, 0);
  int i = ff_prof_find(rep, "FSS::DCF");
  assert_true(i >= 0);
  assert_int_equal(rep->nodes[i].calls, 2);
  assert_int_equal(rep->n_nodes, 1);
  assert_string_equal(ff_scope_family(ff_scope_id("FSS::DCF")), "FSS");
  ff_dcf_key_free(&k0);
  ff_dcf_key_free(&k1);
  ff_prof_thread_detach();
  ff_prof_destroy(prof);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dcf_exhaustive),         cmocka_unit_test(test_dcf_random_large),
      cmocka_unit_test(test_dcf_multipoint),         cmocka_unit_test(test_dcf_key_bytes),
      cmocka_unit_test(test_dcf_shape_independence), cmocka_unit_test(test_dcf_keygen_roots), cmocka_unit_test(test_dcf_keygen_split),
      cmocka_unit_test(test_bad_arguments),          cmocka_unit_test(test_scope),
  };
  if (ff_ctx_init(&ctx, FF_BACKEND_CPU, 0) != FF_OK) return 1;
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&ctx);
  return rc;
}
