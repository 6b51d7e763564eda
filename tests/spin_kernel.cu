// A kernel that occupies the stream for at least `ns` nanoseconds of the GPU's global timer, so
// that tests/test_scope_cuda.c knows a lower bound of every span it measures.
#include <stdint.h>

#include "core/cuda.h"
#include "core/cuda_check.h"

__global__ void ff_test_spin_kernel(uint64_t ns) {
  uint64_t start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

extern "C" ff_status ff_test_spin(ff_stream *stream, uint64_t ns) {
  ff_test_spin_kernel<<<1, 1, 0, (cudaStream_t)stream>>>(ns);
  return FF_CUDA_CHECK(cudaGetLastError());
}
