/* FF_CUDA_CHECK(stmt): evaluates a CUDA runtime call and yields an ff_status, logging the statement,
 * file, line and CUDA's message on failure: FF_ENOMEM when CUDA ran out of memory
 * (cudaErrorMemoryAllocation), FF_ECUDA otherwise. Internal: include only from files built with CUDA.
 *   if ((st = FF_CUDA_CHECK(cudaMemcpyAsync(...)))) goto fail; */
#ifndef FF_CORE_CUDA_CHECK_H
#define FF_CORE_CUDA_CHECK_H

#include <cuda_runtime_api.h>

#include "core/log.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline ff_status ff__cuda_check(cudaError_t e, const char *stmt, const char *file, int line) {
  if (e == cudaSuccess) return FF_OK;
  ff_log(FF_LOG_ERROR, "%s:%d: %s failed: %s (%s)", file, line, stmt, cudaGetErrorString(e), cudaGetErrorName(e));
  return e == cudaErrorMemoryAllocation ? FF_ENOMEM : FF_ECUDA;
}

#define FF_CUDA_CHECK(stmt) ff__cuda_check((stmt), #stmt, __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif

#endif
