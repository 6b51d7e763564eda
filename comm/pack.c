/* Exact-width bit packing of ring elements for the wire (DESIGN.md §2: a 1-bit value takes one bit,
 * a 50-bit value 50). A few operations per value, never per bit: packing shifts values into a 64-bit
 * accumulator flushed a word at a time; unpacking reads each value's (unaligned) word directly.
 * Test: tests/test_pack.c. */
#include "comm/pack.h"

#include <string.h>

#include "core/log.h"
#include "core/ring.h"

/* The wire is little-endian whatever the host; on little-endian hosts (all we build for) a word is
 * one memcpy. */
static inline void ff__store_le64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(p, &v, 8);
#else
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static inline uint64_t ff__load_le64(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
#else
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
#endif
}

size_t ff_packed_size(size_t n, int bits) {
  if (bits < 1 || bits > 64) return 0;
  /* Split n so that n*bits cannot overflow for any n whose packed form fits in memory. */
  return (n / 8) * (size_t)bits + ((n % 8) * (size_t)bits + 7) / 8;
}

void ff_pack_bits(const uint64_t *in, size_t n, int bits, uint8_t *out) {
  if (bits < 1 || bits > 64) return;
  const uint64_t mask = ff_ring_mask(bits);
  uint64_t acc = 0; /* pending bits, the oldest at bit 0 */
  int fill = 0;     /* how many bits of acc are pending (0..63) */
  for (size_t i = 0; i < n; i++) {
    uint64_t v = in[i] & mask;
    acc |= v << fill;
    fill += bits;
    if (fill >= 64) {
      ff__store_le64(out, acc);
      out += 8;
      fill -= 64;
      /* The high `fill` bits of v did not fit; (bits - fill) of them went out with the word. A shift
         by 64 is undefined, hence the test. */
      int used = bits - fill;
      acc = used >= 64 ? 0 : v >> used;
    }
  }
  /* The tail: whole bytes only, the unused high bits of the last byte are zero because acc holds
     nothing above `fill`. */
  for (int b = 0; b < fill; b += 8) *out++ = (uint8_t)(acc >> b);
}

/* Value i starts at bit off = i*bits, inside byte off/8 at shift off%8, and spans at most 9 bytes
 * (64 bits + a shift of 7). Reading those bytes directly makes every value independent of the
 * previous one: no data-dependent branch, unlike an accumulator, which unpacks several times
 * slower for widths that do not divide 64. */
static inline uint64_t ff__extract(const uint8_t *p, int shift) {
  /* (hi << (63 - shift)) << 1 is hi << (64 - shift) without the undefined shift by 64. */
  return (ff__load_le64(p) >> shift) | (((uint64_t)p[8] << (63 - shift)) << 1);
}

void ff_unpack_bits(const uint8_t *in, size_t n, int bits, uint64_t *out) {
  if (bits < 1 || bits > 64) return;
  const uint64_t mask = ff_ring_mask(bits);
  const size_t nb = ff_packed_size(n, bits);
  size_t i = 0, off = 0;
  for (; i < n && (off >> 3) + 9 <= nb; i++, off += (size_t)bits)
    out[i] = ff__extract(in + (off >> 3), (int)(off & 7)) & mask;
  /* The last few values (at most the last 9 bytes): copy what exists into a zero-padded window. */
  for (; i < n; i++, off += (size_t)bits) {
    uint8_t window[9] = {0};
    size_t byte = off >> 3;
    memcpy(window, in + byte, nb - byte < 9 ? nb - byte : 9);
    out[i] = ff__extract(window, (int)(off & 7)) & mask;
  }
}

/* ---- Reconstruct halves (pack.h): the CPU references of pack_cuda.cu ------------------------------- */

static inline uint64_t ff__field_word(const uint64_t *a, int bits_a, const uint64_t *b, int bits_b, size_t i) {
  uint64_t v = a[i] & ff_ring_mask(bits_a);
  if (bits_b) v |= (b[i] & ff_ring_mask(bits_b)) << bits_a;
  return v;
}

void ff_pack_fields(const uint64_t *a, int bits_a, const uint64_t *b, int bits_b, size_t n, uint8_t *out) {
  const int bits = bits_a + bits_b;
  if (bits_a < 1 || bits_b < 0 || bits > 64) return;
  if (!bits_b) {
    ff_pack_bits(a, n, bits_a, out);
    return;
  }
  /* Two fields: joined a block at a time (no allocation), each block packed where it starts. Blocks
     of a multiple of 8 values start on a byte boundary. */
  uint64_t w[512];
  for (size_t i0 = 0; i0 < n; i0 += 512) {
    const size_t m = n - i0 < 512 ? n - i0 : 512;
    for (size_t j = 0; j < m; j++) w[j] = ff__field_word(a, bits_a, b, bits_b, i0 + j);
    ff_pack_bits(w, m, bits, out + ff_packed_size(i0, bits));
  }
}

void ff_unpack_add_fields(const uint8_t *in, uint64_t *a, int bits_a, uint64_t *b, int bits_b, size_t n) {
  const int bits = bits_a + bits_b;
  if (bits_a < 1 || bits_b < 0 || bits > 64) return;
  const uint64_t ma = ff_ring_mask(bits_a), mb = bits_b ? ff_ring_mask(bits_b) : 0;
  uint64_t w[512];
  for (size_t i0 = 0; i0 < n; i0 += 512) {
    const size_t m = n - i0 < 512 ? n - i0 : 512;
    ff_unpack_bits(in + ff_packed_size(i0, bits), m, bits, w);
    for (size_t j = 0; j < m; j++) {
      a[i0 + j] = (a[i0 + j] + (w[j] & ma)) & ma;
      if (bits_b) b[i0 + j] = (b[i0 + j] + ((w[j] >> bits_a) & mb)) & mb;
    }
  }
}

#ifndef FF_HAVE_CUDA
ff_status ff_pack_fields_cuda(struct ff_stream *s, const uint64_t *a, int bits_a, const uint64_t *b, int bits_b,
                              size_t n, uint8_t *out) {
  (void)s, (void)a, (void)bits_a, (void)b, (void)bits_b, (void)n, (void)out;
  FF_ERROR("ff_pack_fields_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff_unpack_add_fields_cuda(struct ff_stream *s, const uint8_t *in, uint64_t *a, int bits_a, uint64_t *b,
                                    int bits_b, size_t n) {
  (void)s, (void)in, (void)a, (void)bits_a, (void)b, (void)bits_b, (void)n;
  FF_ERROR("ff_unpack_add_fields_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
#endif
