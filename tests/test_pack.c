/* Tests of exact-width bit packing (comm/pack.h, DESIGN.md §2): every width 1..64 against a
 * bit-by-bit reference, exact sizes, masking of the input's high bits, zero padding of the last byte.
 * Code under test: comm/pack.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "comm/pack.h"
#include "core/rand.h"
#include "core/ring.h"

static const size_t counts[] = {0, 1, 7, 8, 9, 63, 64, 65, 1000};
#define N_COUNTS (sizeof counts / sizeof counts[0])
#define MAX_N 1000

/* The definition, one bit at a time: value i occupies bits [i*bits, (i+1)*bits), bit j of the string
 * being bit (j % 8) of byte j / 8. */
static void reference_pack(const uint64_t *in, size_t n, int bits, uint8_t *out) {
  memset(out, 0, ff_packed_size(n, bits));
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < bits; b++)
      if ((in[i] >> b) & 1) {
        size_t j = i * (size_t)bits + (size_t)b;
        out[j / 8] |= (uint8_t)(1u << (j % 8));
      }
}

static void test_size(void **state) {
  (void)state;
  for (int bits = 1; bits <= 64; bits++)
    for (size_t k = 0; k < N_COUNTS; k++)
      assert_int_equal(ff_packed_size(counts[k], bits), (counts[k] * (size_t)bits + 7) / 8);
  assert_int_equal(ff_packed_size(10, 0), 0);
  assert_int_equal(ff_packed_size(10, 65), 0);
  assert_int_equal(ff_packed_size(10, -3), 0);
  /* 1-bit values 8 to a byte, a 50-bit value in 50 bits (DESIGN.md §2). */
  assert_int_equal(ff_packed_size(8, 1), 1);
  assert_int_equal(ff_packed_size(4, 50), 25);
}

static void test_roundtrip_every_width(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 0x5eed);
  uint64_t *in = malloc(MAX_N * sizeof *in), *back = malloc(MAX_N * sizeof *back);
  /* A guard byte after the packed string and after the unpacked values: nothing may be written past
     the documented sizes. */
  uint8_t *packed = malloc(MAX_N * 8 + 1), *expect = malloc(MAX_N * 8 + 1);
  assert_non_null(in);
  assert_non_null(back);
  assert_non_null(packed);
  assert_non_null(expect);
  for (int bits = 1; bits <= 64; bits++) {
    uint64_t mask = ff_ring_mask(bits);
    for (size_t k = 0; k < N_COUNTS; k++) {
      size_t n = counts[k];
      size_t nb = ff_packed_size(n, bits);
      /* Full 64-bit random values: the bits above the width must not leak into the string. */
      assert_int_equal(ff_rng_bytes(&rng, in, n * sizeof *in), FF_OK);
      memset(packed, 0xA5, nb + 1);
      ff_pack_bits(in, n, bits, packed);
      assert_int_equal(packed[nb], 0xA5);
      reference_pack(in, n, bits, expect);
      assert_memory_equal(packed, expect, nb);
      /* The unused high bits of the last byte are zero (the reference never sets them). */
      if ((n * (size_t)bits) % 8) assert_int_equal(packed[nb - 1] >> ((n * (size_t)bits) % 8), 0);

      for (size_t i = 0; i < MAX_N; i++) back[i] = 0xDEADBEEFDEADBEEFull;
      ff_unpack_bits(packed, n, bits, back);
      for (size_t i = 0; i < n; i++) {
        if (back[i] != (in[i] & mask))
          fail_msg("bits %d n %zu: value %zu unpacked as %#llx, packed %#llx", bits, n, i,
                   (unsigned long long)back[i], (unsigned long long)(in[i] & mask));
      }
      if (n < MAX_N) assert_int_equal(back[n], 0xDEADBEEFDEADBEEFull);
    }
  }
  free(in);
  free(back);
  free(packed);
  free(expect);
}

/* Unpacking is a function of the string alone: garbage in the unused tail bits is not returned. */
static void test_unpack_ignores_padding(void **state) {
  (void)state;
  uint64_t in[3] = {0x1F, 0x00, 0x15}, back[3];
  uint8_t packed[2];
  ff_pack_bits(in, 3, 5, packed); /* 15 bits: the top bit of byte 1 is padding */
  assert_int_equal(packed[1] >> 7, 0);
  packed[1] |= 0x80;
  ff_unpack_bits(packed, 3, 5, back);
  assert_int_equal(back[0], 0x1F);
  assert_int_equal(back[1], 0x00);
  assert_int_equal(back[2], 0x15);
}

/* A hand-checked example of the bit order: 3-bit values 1, 2, 3, 4 are 001 010 011 100 from the low
 * end: byte 0 = 0b11_010_001 = 0xD1, byte 1 = 0b0000_100_0 = 0x08. */
static void test_bit_order(void **state) {
  (void)state;
  uint64_t in[4] = {1, 2, 3, 4};
  uint8_t packed[2];
  ff_pack_bits(in, 4, 3, packed);
  assert_int_equal(packed[0], 0xD1);
  assert_int_equal(packed[1], 0x08);
  uint64_t wide[2] = {UINT64_MAX, 0x0123456789ABCDEFull}, back[2];
  uint8_t w[16];
  ff_pack_bits(wide, 2, 64, w);
  assert_int_equal(w[8], 0xEF);
  assert_int_equal(w[15], 0x01);
  ff_unpack_bits(w, 2, 64, back);
  assert_int_equal(back[0], UINT64_MAX);
  assert_int_equal(back[1], 0x0123456789ABCDEFull);
}

/* The reconstruct halves: two fields side by side equal ff_pack_bits of the joined word, and the peer's
 * bytes added in give (a + a') mod 2^bits_a and (b + b') mod 2^bits_b, for every split of every width
 * 2..64 (and one field), at counts that cross the 512-value blocks of the CPU code. */
static void test_fields(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 0xf1e1d5);
  const size_t ns[] = {1, 7, 9, 511, 512, 513, 1031};
  const size_t NMAX = 1031;
  uint64_t *a = malloc(NMAX * sizeof *a), *b = malloc(NMAX * sizeof *b), *pa = malloc(NMAX * sizeof *pa),
           *pb = malloc(NMAX * sizeof *pb), *w = malloc(NMAX * sizeof *w), *ga = malloc(NMAX * sizeof *ga),
           *gb = malloc(NMAX * sizeof *gb);
  uint8_t *got = malloc(NMAX * 8 + 1), *want = malloc(NMAX * 8 + 1);
  assert_true(a && b && pa && pb && w && ga && gb && got && want);
  for (int bits = 1; bits <= 64; bits++)
    for (int bits_b = 0; bits_b < bits; bits_b += (bits_b < 3 || bits_b > bits - 4) ? 1 : 7)
      for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const int bits_a = bits - bits_b;
        const size_t n = ns[k], nb = ff_packed_size(n, bits);
        /* full 64-bit words: the functions must ignore bits above each field */
        assert_int_equal(ff_rng_bytes(&rng, a, n * 8), FF_OK);
        assert_int_equal(ff_rng_bytes(&rng, b, n * 8), FF_OK);
        assert_int_equal(ff_rng_bytes(&rng, pa, n * 8), FF_OK);
        assert_int_equal(ff_rng_bytes(&rng, pb, n * 8), FF_OK);
        for (size_t i = 0; i < n; i++)
          w[i] = (a[i] & ff_ring_mask(bits_a)) | (bits_b ? (b[i] & ff_ring_mask(bits_b)) << bits_a : 0);
        memset(got, 0xa5, nb + 1);
        ff_pack_bits(w, n, bits, want);
        ff_pack_fields(a, bits_a, bits_b ? b : NULL, bits_b, n, got);
        assert_memory_equal(got, want, nb);
        assert_int_equal(got[nb], 0xa5);
        /* the peer's share, packed, added into copies of a and b */
        ff_pack_fields(pa, bits_a, bits_b ? pb : NULL, bits_b, n, want);
        memcpy(ga, a, n * 8), memcpy(gb, b, n * 8);
        ff_unpack_add_fields(want, ga, bits_a, bits_b ? gb : NULL, bits_b, n);
        for (size_t i = 0; i < n; i++) {
          assert_true(ga[i] == ((a[i] + pa[i]) & ff_ring_mask(bits_a)));
          if (bits_b) assert_true(gb[i] == ((b[i] + pb[i]) & ff_ring_mask(bits_b)));
          else assert_true(gb[i] == b[i]);
        }
      }
  free(a), free(b), free(pa), free(pb), free(w), free(ga), free(gb), free(got), free(want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_size),
      cmocka_unit_test(test_roundtrip_every_width),
      cmocka_unit_test(test_unpack_ignores_padding),
      cmocka_unit_test(test_bit_order),
      cmocka_unit_test(test_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
