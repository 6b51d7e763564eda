/* gates/fss/prg: AES-128 against the FIPS-197 known answers (Appendices A.1, B, C.1), AES-NI against
 * the portable code, and the MMO PRG against AES_k(s) ^ s through the single-block API, batched and
 * one at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rand.h"
#include "gates/fss/prg.h"

static void hex16(const char *hex, uint8_t out[16]) {
  for (int i = 0; i < 16; i++) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

static ff_block block_hex(const char *hex) {
  uint8_t b[16];
  ff_block blk;
  hex16(hex, b);
  memcpy(&blk, b, 16);
  return blk;
}

static void check_kat(const char *key_hex, const char *pt_hex, const char *ct_hex) {
  uint8_t key[16];
  hex16(key_hex, key);
  ff_aes128_key ks;
  ff_aes128_expand_key(key, &ks);
  ff_block pt = block_hex(pt_hex), want = block_hex(ct_hex), got, got_portable;
  ff_aes128_encrypt_blocks(&ks, &pt, &got, 1);
  ff__aes128_encrypt_blocks_portable(&ks, &pt, &got_portable, 1);
  assert_memory_equal(&got, &want, 16);
  assert_memory_equal(&got_portable, &want, 16);
  /* Batched (8 lanes + tail) and in place: every copy gives the same ciphertext. */
  ff_block many[11];
  for (int i = 0; i < 11; i++) many[i] = pt;
  ff_aes128_encrypt_blocks(&ks, many, many, 11);
  for (int i = 0; i < 11; i++) assert_memory_equal(&many[i], &want, 16);
}

static void test_aes_fips197_c1(void **state) {
  (void)state;
  check_kat("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff", "69c4e0d86a7b0430d8cdb78070b4c55a");
}

static void test_aes_fips197_b(void **state) {
  (void)state;
  check_kat("2b7e151628aed2a6abf7158809cf4f3c", "3243f6a8885a308d313198a2e0370734", "3925841d02dc09fbdc118597196a0b32");
  /* Appendix A.1: the last round key of that key (w[40..43]). */
  uint8_t key[16];
  hex16("2b7e151628aed2a6abf7158809cf4f3c", key);
  ff_aes128_key ks;
  ff_aes128_expand_key(key, &ks);
  ff_block rk10 = block_hex("d014f9a8c9ee2589e13f0cc8b6630ca6");
  assert_memory_equal(&ks.rk[10], &rk10, 16);
}

static void test_aes_batch_matches_portable(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 7);
  enum { n = 1000 };
  uint8_t key[16];
  assert_int_equal(ff_rng_bytes(&rng, key, sizeof key), FF_OK);
  ff_aes128_key ks;
  ff_aes128_expand_key(key, &ks);
  ff_block *in = malloc(n * sizeof *in), *batch = malloc(n * sizeof *in), *portable = malloc(n * sizeof *in);
  assert_non_null(in);
  assert_non_null(batch);
  assert_non_null(portable);
  assert_int_equal(ff_rng_bytes(&rng, in, n * sizeof *in), FF_OK);
  ff_aes128_encrypt_blocks(&ks, in, batch, n);
  ff__aes128_encrypt_blocks_portable(&ks, in, portable, n);
  assert_memory_equal(batch, portable, n * sizeof *in);
  for (size_t i = 0; i < n; i++) {
    ff_block one;
    ff_aes128_encrypt_blocks(&ks, &in[i], &one, 1);
    assert_memory_equal(&one, &batch[i], 16);
  }
  free(in);
  free(batch);
  free(portable);
}

static void test_prg_keys(void **state) {
  (void)state;
  ff_aes128_key k0, k1;
  ff_aes128_expand_key((const uint8_t *)"fusefss:prg:key0", &k0);
  ff_aes128_expand_key((const uint8_t *)"fusefss:prg:key1", &k1);
  assert_memory_equal(ff_prg_key(0), &k0, sizeof k0);
  assert_memory_equal(ff_prg_key(1), &k1, sizeof k1);
}

/* left = AES_k0(s) ^ s, right = AES_k1(s) ^ s, the same for a batch of n and for n single calls. */
static void check_expand(size_t n, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  ff_block *s = malloc(n * sizeof *s), *left = malloc(n * sizeof *s), *right = malloc(n * sizeof *s);
  ff_block *dirout = malloc(n * sizeof *s);
  uint8_t *dir = malloc(n);
  assert_true(s && left && right && dirout && dir);
  assert_int_equal(ff_rng_bytes(&rng, s, n * sizeof *s), FF_OK);
  assert_int_equal(ff_rng_bytes(&rng, dir, n), FF_OK);
  for (size_t i = 0; i < n; i++) dir[i] &= 1;
  ff_prg_expand(s, left, right, n);
  ff_prg_expand_dir(s, dir, dirout, n);
  for (size_t i = 0; i < n; i++) {
    ff_block a0, a1, l1, r1;
    ff_aes128_encrypt_blocks(ff_prg_key(0), &s[i], &a0, 1);
    ff_aes128_encrypt_blocks(ff_prg_key(1), &s[i], &a1, 1);
    a0.lo ^= s[i].lo, a0.hi ^= s[i].hi;
    a1.lo ^= s[i].lo, a1.hi ^= s[i].hi;
    assert_memory_equal(&left[i], &a0, 16);
    assert_memory_equal(&right[i], &a1, 16);
    ff_prg_expand(&s[i], &l1, &r1, 1);
    assert_memory_equal(&l1, &a0, 16);
    assert_memory_equal(&r1, &a1, 16);
    assert_memory_equal(&dirout[i], dir[i] ? &a1 : &a0, 16);
  }
  /* In place, as the DPF evaluation uses it. */
  ff_prg_expand_dir(s, dir, s, n);
  assert_memory_equal(s, dirout, n * sizeof *s);
  free(s);
  free(left);
  free(right);
  free(dirout);
  free(dir);
}

static void test_prg_expand(void **state) {
  (void)state;
  check_expand(1, 1);
  check_expand(7, 2);
  check_expand(1000, 3);
  /* The portable path gives the same PRG (checked against the single-block API, itself portable). */
  enum { n = 100 };
  ff_block s[n], l[2][n], r[2][n], d[2][n];
  uint8_t dir[n];
  for (int i = 0; i < n; i++) {
    s[i] = (ff_block){UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(i + 1), (uint64_t)i};
    dir[i] = (uint8_t)(i % 3 == 0);
  }
  ff_prg_expand(s, l[0], r[0], n);
  ff_prg_expand_dir(s, dir, d[0], n);
  ff__aes128_force_portable(1);
  assert_int_equal(ff_aes128_have_aesni(), 0);
  check_expand(9, 4);
  ff_prg_expand(s, l[1], r[1], n);
  ff_prg_expand_dir(s, dir, d[1], n);
  ff__aes128_force_portable(0);
  assert_memory_equal(l[0], l[1], sizeof l[0]);
  assert_memory_equal(r[0], r[1], sizeof r[0]);
  assert_memory_equal(d[0], d[1], sizeof d[0]);
}

/* The generator's bytes made from a claim (ff_rng_draw_cpu, the twin of the device kernels) are ff_rng_bytes's
 * for the same stream, in counter mode (a fixed key, the counter crossing 2^64 inside a draw) and seeded
 * (sizes below and above one jump range, with partial blocks and words, and one large enough for the
 * jump-ahead table), through a shared handle too, and both generators go on at one place; a NULL output
 * for a nonempty draw is refused. */
static void test_rng_draw_cpu(void **state) {
  (void)state;
  const size_t sizes[] = {0, 1, 15, 16, 17, 1000, 32768, 32775, (UINT64_C(3) << 20) + 5};
  uint8_t key[16], t0[16];
  for (int i = 0; i < 16; i++) key[i] = (uint8_t)(3 * i + 1), t0[i] = i < 8 ? 0 : 0xff;
  t0[15] = 0xf0; /* 16 blocks below 2^64 in the low half: the first draws carry into the high half */
  uint8_t *want = malloc(sizes[8] + 16), *got = malloc(sizes[8] + 16);
  assert_non_null(want);
  assert_non_null(got);
  for (int mode = 0; mode < 3; mode++) { /* 0: counter mode, 1: seeded, 2: seeded through a shared handle */
    ff_rng a, b, via;
    if (mode == 0) {
      ff__rng_init_ctr(&a, key, t0);
      ff__rng_init_ctr(&b, key, t0);
    } else {
      ff_rng_init_seeded(&a, 404);
      ff_rng_init_seeded(&b, 404);
    }
    ff_rng_init_shared(&via, &b);
    for (int k = 0; k < 9; k++) {
      memset(got, 0x5a, sizes[k] + 16);
      assert_int_equal(ff_rng_bytes(&a, want, sizes[k]), FF_OK);
      assert_int_equal(ff_rng_draw_cpu(NULL, mode == 2 ? &via : &b, got, sizes[k]), FF_OK);
      if (memcmp(want, got, sizes[k])) fail_msg("mode %d, %zu bytes: the claimed bytes differ from ff_rng_bytes's", mode, sizes[k]);
      assert_int_equal(got[sizes[k]], 0x5a); /* nothing written past the draw */
    }
    assert_true(ff_rng_u64(&a) == ff_rng_u64(&b));
    ff_ctx cpu = {.backend = FF_BACKEND_CPU};
    assert_int_equal(ff_rng_bytes(&a, want, 33), FF_OK);
    assert_int_equal(ff_rng_draw(&cpu, &b, got, 33), FF_OK); /* the dispatcher's CPU path */
    assert_memory_equal(want, got, 33);
  }
  ff_rng r;
  ff_rng_init_seeded(&r, 1);
  assert_int_equal(ff_rng_draw_cpu(NULL, &r, NULL, 1), FF_EINVAL);
  assert_int_equal(ff_rng_draw_cpu(NULL, NULL, got, 1), FF_EINVAL);
  assert_int_equal(ff_rng_draw_cpu(NULL, &r, NULL, 0), FF_OK);
  free(want);
  free(got);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aes_fips197_c1),
      cmocka_unit_test(test_aes_fips197_b),
      cmocka_unit_test(test_aes_batch_matches_portable),
      cmocka_unit_test(test_prg_keys),
      cmocka_unit_test(test_prg_expand),
      cmocka_unit_test(test_rng_draw_cpu),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
