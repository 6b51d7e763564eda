/* The fixed-key MMO PRG of the GGM tree (DESIGN.md §2) over core/aes.h's AES-128 (AES-NI, or the
 * portable code where the CPU lacks it). Test: tests/test_prg.c. */
#include "gates/fss/prg.h"

#include <pthread.h>
#include <string.h>

#include "core/log.h"

/* ---- The PRG keys ------------------------------------------------------------------------------------- */

static ff_aes128_key ff__prg_keys[2];
static pthread_once_t ff__prg_once = PTHREAD_ONCE_INIT;

static void ff__prg_init(void) {
  ff_aes128_expand_key((const uint8_t *)"fusefss:prg:key0", &ff__prg_keys[0]);
  ff_aes128_expand_key((const uint8_t *)"fusefss:prg:key1", &ff__prg_keys[1]);
}

static inline void ff__prg_ready(void) { pthread_once(&ff__prg_once, ff__prg_init); }

const ff_aes128_key *ff_prg_key(int side) {
  ff__prg_ready();
  return &ff__prg_keys[side != 0];
}

static inline void ff__xor_into(ff_block *dst, const ff_block *src) {
  dst->lo ^= src->lo;
  dst->hi ^= src->hi;
}

/* Generic MMO over a per-block key choice; chunks of FF__AES128_LANES blocks are in flight at once. */
static void ff__mmo(const ff_block *s, const uint8_t *dir, int fixed_side, ff_block *out, size_t n) {
  size_t i = 0;
  const ff_aes128_key *keys[FF__AES128_LANES];
  for (; i + FF__AES128_LANES <= n; i += FF__AES128_LANES) {
    for (int l = 0; l < FF__AES128_LANES; l++) keys[l] = &ff__prg_keys[dir ? dir[i + l] != 0 : fixed_side];
    ff__aes128_lanes(keys, &s[i], &out[i], 1);
  }
  for (; i < n; i++) {
    ff_block in = s[i], b;
    ff_aes128_encrypt_blocks(&ff__prg_keys[dir ? dir[i] != 0 : fixed_side], &in, &b, 1);
    ff__xor_into(&b, &in);
    out[i] = b;
  }
}

void ff_prg_expand(const ff_block *s, ff_block *left, ff_block *right, size_t n) {
  ff__prg_ready();
  /* Two passes of 8-lane batches keep the pipeline as full as one interleaved pass would. */
  ff__mmo(s, NULL, 0, left, n);
  ff__mmo(s, NULL, 1, right, n);
}

void ff_prg_expand_dir(const ff_block *s, const uint8_t *dir, ff_block *out, size_t n) {
  ff__prg_ready();
  ff__mmo(s, dir, 0, out, n);
}

ff_status ff_rng_draw_cpu(ff_ctx *ctx, ff_rng *rng, void *out, size_t n) {
  (void)ctx;
  if (!rng || (n && !out)) {
    FF_ERROR("ff_rng_draw_cpu: generator or output is NULL");
    return FF_EINVAL;
  }
  ff__rng_claim c;
  ff_status st = ff__rng_claim_bytes(rng, n, &c);
  if (!st) ff__rng_claim_make(&c, out, n);
  explicit_bzero(&c, sizeof c); /* the seeded state */
  return st;
}

ff_status ff_rng_draw(ff_ctx *ctx, ff_rng *rng, void *out, size_t n) {
  if (ctx && ctx->backend == FF_BACKEND_CUDA) return ff_rng_draw_cuda(ctx, rng, out, n);
  return ff_rng_draw_cpu(ctx, rng, out, n);
}

#ifndef FF_HAVE_CUDA
/* The CUDA twins live in prg_cuda.cu; a build without CUDA answers clearly. */
static ff_status ff__prg_no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend (configure with a CUDA compiler)", fn);
  return FF_ENOTSUP;
}
ff_status ff_aes128_encrypt_blocks_cuda(ff_ctx *ctx, const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n) {
  return ff__prg_no_cuda("ff_aes128_encrypt_blocks_cuda");
}
ff_status ff_prg_expand_cuda(ff_ctx *ctx, const ff_block *s, ff_block *left, ff_block *right, size_t n) {
  return ff__prg_no_cuda("ff_prg_expand_cuda");
}
ff_status ff_prg_expand_dir_cuda(ff_ctx *ctx, const ff_block *s, const uint8_t *dir, ff_block *out, size_t n) {
  return ff__prg_no_cuda("ff_prg_expand_dir_cuda");
}
ff_status ff_rng_draw_cuda(ff_ctx *ctx, ff_rng *rng, void *out, size_t n) {
  (void)ctx, (void)rng, (void)out, (void)n;
  return ff__prg_no_cuda("ff_rng_draw_cuda");
}
#endif
