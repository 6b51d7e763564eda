/* libFuzzer harness: one key deserialiser of gates/fss, picked at compile time by FF_FUZZ_KEY
 * (1 DPF, 2 DCF, 3 LUT, 4 select, 5 truth table), then the CPU evaluation of every key it accepts.
 * Input: shape bytes (as a party's op would pass them; signed, so bad shapes are tried too, and the
 * element count may be huge), then the serialized key. When the key part has the wrong length the
 * harness also tries it cut or zero-padded to the expected length, so that the checks on the key's
 * contents are reached. Seeds: keys dealt by the real keygens (tests/fuzz/fuzz_seeds.c).
 * docs/fuzzing.md. */
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "gates/fss/dcf.h"
#include "gates/fss/dpf.h"
#include "gates/fss/lut.h"
#include "gates/fss/select.h"
#include "gates/fss/sstab.h"
#include "fuzz_util.h"

#ifndef FF_FUZZ_KEY
#error "FF_FUZZ_KEY must be 1 (DPF), 2 (DCF), 3 (LUT), 4 (select) or 5 (truth table)"
#endif

#define EVAL_POINTS 2      /* E: points evaluated per element */
#define MAX_KEY_BYTES (1u << 20)

/* Element counts: small ones, and huge ones, to check that the byte counts refuse overflow. */
static size_t pick_N(uint8_t v) {
  static const size_t huge[] = {SIZE_MAX, SIZE_MAX / 2 + 1, SIZE_MAX / 3, SIZE_MAX / 16 + 1, ((size_t)1 << 61) + 1,
                                ((size_t)1 << 59) + 1};
  return v < 240 ? v % 9u : huge[v % (sizeof huge / sizeof huge[0])];
}

/* The shape is the caller's (a party passes the shape of the op it runs), so a huge N whose byte count
 * fits size_t is a real (failing) request, not a parser bug: only counts that overflow with at least
 * min_elem_bytes per element are tried. */
static int shape_worth_trying(size_t N, size_t min_elem_bytes) {
  return N <= 8 || (min_elem_bytes && N > SIZE_MAX / min_elem_bytes);
}

static ff_ctx *cpu_ctx(void) {
  static ff_ctx ctx;
  static int ready;
  if (!ready) {
    if (ff_ctx_init(&ctx, FF_BACKEND_CPU, 0) != FF_OK) abort();
    ready = 1;
  }
  return &ctx;
}

/* E*N public points from the key bytes (any 64-bit values: the evaluators reduce them). */
static uint64_t *points(const uint8_t *key, size_t len, size_t count) {
  uint64_t *x = calloc(count ? count : 1, sizeof *x);
  if (!x) abort();
  for (size_t i = 0; i < count && len; i++)
    for (int b = 0; b < 8; b++) x[i] = x[i] << 8 | key[(i * 8 + (size_t)b) % len];
  return x;
}

/* Calls try(shape, bytes, len) on the key as given and, when its length is wrong, on a copy cut or
 * padded to `want` bytes. */
#define WITH_EXACT_LENGTH(want, call_on)                                                                    \
  do {                                                                                                      \
    call_on(key, key_len);                                                                                  \
    const size_t want_ = (want);                                                                            \
    if (want_ && want_ != key_len && want_ <= MAX_KEY_BYTES) {                                              \
      uint8_t *exact_ = calloc(want_, 1);                                                                   \
      if (!exact_) abort();                                                                                 \
      memcpy(exact_, key, key_len < want_ ? key_len : want_);                                               \
      call_on(exact_, want_);                                                                               \
      free(exact_);                                                                                         \
    }                                                                                                       \
  } while (0)

#if FF_FUZZ_KEY == 1
static int g_n;
static size_t g_N;
static void try_key(const uint8_t *in, size_t len) {
  ff_dpf_key k = {0};
  if (ff_dpf_key_deserialize(&k, g_n, g_N, in, len) != FF_OK) return;
  const size_t total = EVAL_POINTS * g_N;
  uint64_t *x = points(in, len, total);
  uint8_t *out = calloc(total / 8 + 1, 1);
  if (!out) abort();
  (void)ff_dpf_eval_point_cpu(cpu_ctx(), &k, EVAL_POINTS, x, out);
  (void)ff_dpf_eval_lt_cpu(cpu_ctx(), &k, EVAL_POINTS, x, out);
  if (g_n <= 16) {
    uint8_t *all = calloc(g_N * ((size_t)1 << (g_n > 3 ? g_n - 3 : 0)) + 1, 1);
    if (!all) abort();
    (void)ff_dpf_eval_all_cpu(cpu_ctx(), &k, all);
    free(all);
  }
  free(out);
  free(x);
  ff_dpf_key_free(&k);
}
static void fuzz_one(ff_fuzz_cursor *c, const uint8_t *key, size_t key_len) {
  g_n = (int8_t)ff_fuzz_u8(c);
  g_N = pick_N(ff_fuzz_u8(c));
  if (!shape_worth_trying(g_N, 32)) return; /* >= 16 + 16 + 1/8 bytes per element */
  WITH_EXACT_LENGTH(ff_dpf_key_bytes(g_n, g_N), try_key);
}
#define SHAPE_BYTES 2

#elif FF_FUZZ_KEY == 2
static int g_n, g_p, g_bw;
static size_t g_N;
static void try_key(const uint8_t *in, size_t len) {
  ff_dcf_key k = {0};
  if (ff_dcf_key_deserialize(&k, g_n, g_p, g_bw, g_N, in, len) != FF_OK) return;
  const size_t total = EVAL_POINTS * g_N;
  uint64_t *x = points(in, len, total);
  uint64_t *out = calloc(total * (size_t)g_p + 1, sizeof *out);
  if (!out) abort();
  (void)ff_dcf_eval_cpu(cpu_ctx(), &k, EVAL_POINTS, x, out);
  free(out);
  free(x);
  ff_dcf_key_free(&k);
}
static void fuzz_one(ff_fuzz_cursor *c, const uint8_t *key, size_t key_len) {
  g_n = (int8_t)ff_fuzz_u8(c);
  g_p = (int8_t)ff_fuzz_u8(c);
  g_bw = (int8_t)ff_fuzz_u8(c);
  g_N = pick_N(ff_fuzz_u8(c));
  if (!shape_worth_trying(g_N, 32)) return; /* >= 16 (n + 1) bytes per element, n >= 1 */
  WITH_EXACT_LENGTH(ff_dcf_key_bytes(g_n, g_p, g_bw, g_N), try_key);
}
#define SHAPE_BYTES 4

#elif FF_FUZZ_KEY == 3
static int g_b, g_b_out, g_tables;
static size_t g_N;
static void try_key(const uint8_t *in, size_t len) {
  ff_lut_key k = {0};
  if (ff_lut_key_deserialize(&k, g_b, g_b_out, g_tables, g_N, in, len) != FF_OK) return;
  const size_t entries = (size_t)g_tables << g_b;
  if (entries <= ((size_t)1 << 18)) { /* the tables are the caller's: keep them small */
    uint64_t *xhat = points(in, len, g_N), *tab = points(in + len / 2, len - len / 2, entries);
    uint64_t *u = calloc(g_N + 1, sizeof *u), *v = calloc((size_t)g_tables * g_N + 1, sizeof *v);
    if (!u || !v) abort();
    (void)ff_lut_eval_local_cpu(cpu_ctx(), &k, xhat, tab, u, v);
    free(u);
    free(v);
    free(tab);
    free(xhat);
  }
  ff_lut_key_free(&k);
}
static void fuzz_one(ff_fuzz_cursor *c, const uint8_t *key, size_t key_len) {
  g_b = (int8_t)ff_fuzz_u8(c);
  g_b_out = (int8_t)ff_fuzz_u8(c);
  g_tables = (int8_t)ff_fuzz_u8(c);
  g_N = pick_N(ff_fuzz_u8(c));
  if (!shape_worth_trying(g_N, 76)) return; /* >= 36 + 40 bytes per element */
  WITH_EXACT_LENGTH(ff_lut_key_bytes(g_b, g_b_out, g_tables, g_N), try_key);
}
#define SHAPE_BYTES 4

#elif FF_FUZZ_KEY == 4
static int g_bw;
static size_t g_N;
static void try_key(const uint8_t *in, size_t len) {
  ff_select_key k = {0};
  if (ff_select_key_deserialize(&k, g_bw, g_N, in, len) != FF_OK) return;
  if (g_N > 0) {
    uint64_t *xhat = points(in, len, g_N), *yhat = points(in + len / 3, len - len / 3, g_N);
    uint64_t *out = calloc(g_N, sizeof *out);
    if (!out) abort();
    (void)ff_select_eval_cpu(cpu_ctx(), &k, g_N, xhat, yhat, out);
    (void)ff_select_eval_cpu(cpu_ctx(), &k, 1, xhat, yhat, yhat); /* one bit for all, out aliasing yhat */
    free(out);
    free(yhat);
    free(xhat);
  }
  ff_select_key_free(&k);
}
static void fuzz_one(ff_fuzz_cursor *c, const uint8_t *key, size_t key_len) {
  g_bw = (int8_t)ff_fuzz_u8(c);
  g_N = pick_N(ff_fuzz_u8(c));
  if (!shape_worth_trying(g_N, 40)) return; /* 40 bytes per element */
  WITH_EXACT_LENGTH(ff_select_key_bytes(g_N), try_key);
}
#define SHAPE_BYTES 2

#elif FF_FUZZ_KEY == 5
/* The truth table's serialized form is its table (sstab.h): a party allocates the key for the shape
 * it runs and reads the bytes into it. */
static int g_n;
static size_t g_N;
static void try_key(const uint8_t *in, size_t len) {
  ff_sstab_key k = {0};
  if (ff_sstab_key_alloc(cpu_ctx(), &k, g_n, g_N) != FF_OK) return;
  if (len == k.bytes) {
    memcpy(k.tab, in, len);
    const size_t total = EVAL_POINTS * g_N;
    uint64_t *x = points(in, len, total);
    uint8_t *out = calloc(total / 8 + 1, 1);
    if (!out) abort();
    (void)ff_sstab_eval_point_cpu(cpu_ctx(), &k, EVAL_POINTS, x, out);
    (void)ff_sstab_eval_lt_cpu(cpu_ctx(), &k, EVAL_POINTS, x, out);
    free(out);
    free(x);
  }
  ff_sstab_key_free(&k);
}
static void fuzz_one(ff_fuzz_cursor *c, const uint8_t *key, size_t key_len) {
  g_n = (int8_t)ff_fuzz_u8(c);
  g_N = pick_N(ff_fuzz_u8(c));
  if (!shape_worth_trying(g_N, g_n >= 1 && g_n <= 7 ? (g_n > 3 ? (size_t)1 << (g_n - 3) : 1) : 1)) return;
  WITH_EXACT_LENGTH(ff_sstab_key_bytes(g_n, g_N), try_key);
}
#define SHAPE_BYTES 2

#else
#error "unknown FF_FUZZ_KEY"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  ff_fuzz_cursor c = {data, size, 0};
  const size_t skip = size < SHAPE_BYTES ? size : SHAPE_BYTES;
  fuzz_one(&c, data + skip, size - skip);
  return 0;
}
