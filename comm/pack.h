/* Exact-width bit packing of ring elements for the wire (DESIGN.md §2): n values of `bits` bits
 * (1..64) take ceil(n*bits/8) bytes, little-endian bit order (value i occupies bits
 * [i*bits, (i+1)*bits) of the byte string). Bits above `bits` in the input are ignored.
 * Test: tests/test_pack.c. */
#ifndef FF_COMM_PACK_H
#define FF_COMM_PACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes taken by n values of `bits` bits; 0 for bits outside 1..64. */
size_t ff_packed_size(size_t n, int bits);
/* Packs in[0..n) into out (ff_packed_size(n, bits) bytes, fully written). */
void ff_pack_bits(const uint64_t *in, size_t n, int bits, uint8_t *out);
/* Unpacks n values; each output has only its low `bits` bits set. */
void ff_unpack_bits(const uint8_t *in, size_t n, int bits, uint64_t *out);

#ifdef __cplusplus
}
#endif

#endif
