// The reconstruct halves of comm/pack.h on the device: pack this party's share into the wire's exact-width
// form, and add the peer's packed share back in, so that a CUDA party's reconstruct moves only packed bytes
// across PCIe. Same bytes and values as the CPU references in pack.c. Test: tests/test_pack_cuda.c.
#include <stdint.h>

#include "comm/pack.h"
#include "core/cuda.h"
#include "core/cuda_check.h"

static __device__ __forceinline__ uint64_t ff__dmask(int bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

// One thread per 64-bit word of the output: the word gathers every value that overlaps its 64 bits (a value
// that began in the previous word contributes its high part). Bits past the last value stay zero, as the CPU
// packer leaves them.
static __global__ void ff__pack_fields_kernel(const uint64_t *a, int bits_a, const uint64_t *b, int bits_b, size_t n,
                                              size_t nb, uint8_t *out) {
  const size_t w = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (w * 8 >= nb) return;
  const int bits = bits_a + bits_b;
  const uint64_t ma = ff__dmask(bits_a), mb = ff__dmask(bits_b);
  const size_t lo = w * 64, hi = lo + 64;
  const size_t i0 = lo / (size_t)bits;
  size_t i1 = (hi + (size_t)bits - 1) / (size_t)bits;
  if (i1 > n) i1 = n;
  uint64_t acc = 0;
  for (size_t i = i0; i < i1; i++) {
    uint64_t v = a[i] & ma;
    if (bits_b) v |= (b[i] & mb) << bits_a;
    const size_t start = i * (size_t)bits;
    acc |= start >= lo ? v << (start - lo) : v >> (lo - start);
  }
  if (w * 8 + 8 <= nb) {
    reinterpret_cast<uint64_t *>(out)[w] = acc;
  } else {
    for (size_t k = 0; w * 8 + k < nb; k++) out[w * 8 + k] = (uint8_t)(acc >> (8 * k));
  }
}

// One thread per value: its bits are read from at most two aligned 64-bit words.
static __global__ void ff__unpack_add_fields_kernel(const uint64_t *in, uint64_t *a, int bits_a, uint64_t *b,
                                                    int bits_b, size_t n) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int bits = bits_a + bits_b;
  const size_t off = i * (size_t)bits, word = off / 64;
  const int sh = (int)(off % 64);
  uint64_t v = in[word] >> sh;
  if (sh + bits > 64) v |= in[word + 1] << (64 - sh);
  const uint64_t ma = ff__dmask(bits_a);
  a[i] = (a[i] + (v & ma)) & ma;
  if (bits_b) {
    const uint64_t mb = ff__dmask(bits_b);
    b[i] = (b[i] + ((v >> bits_a) & mb)) & mb;
  }
}

static ff_status ff__fields_check(const char *fn, int bits_a, const uint64_t *b, int bits_b) {
  if (bits_a < 1 || bits_b < 0 || bits_a + bits_b > 64 || (bits_b && !b)) {
    FF_ERROR("%s: fields of %d and %d bits (need 1 <= a, 0 <= b, a + b <= 64, and b given when its width is not 0)",
             fn, bits_a, bits_b);
    return FF_EINVAL;
  }
  return FF_OK;
}

extern "C" ff_status ff_pack_fields_cuda(struct ff_stream *s, const uint64_t *a, int bits_a, const uint64_t *b,
                                         int bits_b, size_t n, uint8_t *out) {
  ff_status st = ff__fields_check("ff_pack_fields_cuda", bits_a, b, bits_b);
  if (st || !n) return st;
  if ((uintptr_t)out % 8) { /* whole words are stored: a misaligned store would be a sticky CUDA error */
    FF_ERROR("ff_pack_fields_cuda: the packed output must be 8-byte aligned");
    return FF_EINVAL;
  }
  const size_t nb = ff_packed_size(n, bits_a + bits_b), words = (nb + 7) / 8;
  const unsigned threads = 256;
  ff__pack_fields_kernel<<<(unsigned)((words + threads - 1) / threads), threads, 0, (cudaStream_t)s>>>(
      a, bits_a, b, bits_b, n, nb, out);
  return FF_CUDA_CHECK(cudaGetLastError());
}

extern "C" ff_status ff_unpack_add_fields_cuda(struct ff_stream *s, const uint8_t *in, uint64_t *a, int bits_a,
                                               uint64_t *b, int bits_b, size_t n) {
  ff_status st = ff__fields_check("ff_unpack_add_fields_cuda", bits_a, b, bits_b);
  if (st || !n) return st;
  if ((uintptr_t)in % 8) {
    FF_ERROR("ff_unpack_add_fields_cuda: the packed input must be 8-byte aligned");
    return FF_EINVAL;
  }
  const unsigned threads = 256;
  ff__unpack_add_fields_kernel<<<(unsigned)((n + threads - 1) / threads), threads, 0, (cudaStream_t)s>>>(
      reinterpret_cast<const uint64_t *>(in), a, bits_a, b, bits_b, n);
  return FF_CUDA_CHECK(cudaGetLastError());
}
