/* Exact-width bit packing of ring elements for the wire (DESIGN.md §2): n values of `bits` bits
 * (1..64) take ceil(n*bits/8) bytes, little-endian bit order (value i occupies bits
 * [i*bits, (i+1)*bits) of the byte string). Bits above `bits` in the input are ignored.
 * Test: tests/test_pack.c. */
#ifndef FF_COMM_PACK_H
#define FF_COMM_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes taken by n values of `bits` bits; 0 for bits outside 1..64. */
size_t ff_packed_size(size_t n, int bits);
/* Packs in[0..n) into out (ff_packed_size(n, bits) bytes, fully written). */
void ff_pack_bits(const uint64_t *in, size_t n, int bits, uint8_t *out);
/* Unpacks n values; each output has only its low `bits` bits set. */
void ff_unpack_bits(const uint8_t *in, size_t n, int bits, uint64_t *out);

/* ---- Reconstruct halves: one or two fields per value -------------------------------------------------
 * The value of element i is (a[i] mod 2^bits_a) | (b[i] mod 2^bits_b) << bits_a, with 1 <= bits_a,
 * 0 <= bits_b and bits_a + bits_b <= 64 (b NULL when bits_b is 0), packed exactly as ff_pack_bits packs
 * n values of bits_a + bits_b bits: so two fields travel in one exchange, side by side.
 * ff_pack_fields writes ff_packed_size(n, bits_a + bits_b) bytes. ff_unpack_add_fields reads the peer's
 * bytes in that form and adds them into a and b field by field: a[i] = (a[i] + field_a) mod 2^bits_a
 * (for one bit that is XOR) and the same for b — the second half of a reconstruct. a and b may hold
 * bits above their width on input; on output they are reduced. The CUDA twins (pack_cuda.cu) take
 * device pointers and run on stream s (not waited for); they give the same bytes and values.
 * Tests: tests/test_pack.c, tests/test_pack_cuda.c. */
void ff_pack_fields(const uint64_t *a, int bits_a, const uint64_t *b, int bits_b, size_t n, uint8_t *out);
void ff_unpack_add_fields(const uint8_t *in, uint64_t *a, int bits_a, uint64_t *b, int bits_b, size_t n);
/* FF_ENOTSUP (logged) in a build without CUDA. `out` and `in` must be 8-byte aligned (FF_EINVAL
 * otherwise), and `in` must have 8 readable bytes past its packed size (the kernels read and write whole
 * 64-bit words; core/cuda.h's staging has them). */
struct ff_stream;
ff_status ff_pack_fields_cuda(struct ff_stream *s, const uint64_t *a, int bits_a, const uint64_t *b, int bits_b,
                              size_t n, uint8_t *out);
ff_status ff_unpack_add_fields_cuda(struct ff_stream *s, const uint8_t *in, uint64_t *a, int bits_a, uint64_t *b,
                                    int bits_b, size_t n);

#ifdef __cplusplus
}
#endif

#endif
