/* The CUDA runtime as seen from C code that must also build without CUDA: device discovery and
 * streams behind opaque pointers (no CUDA type in a public header). In a CPU-only build every call
 * reports "no device" or FF_ENOTSUP. Error checks for CUDA code are in core/cuda_check.h. */
#ifndef FF_CORE_CUDA_H
#define FF_CORE_CUDA_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ff_stream ff_stream; /* a cudaStream_t */

/* 1 when this build has the CUDA backend. */
int ff_cuda_built(void);
/* Number of usable CUDA devices (0 without CUDA, without a driver or without a GPU). */
int ff_cuda_device_count(void);
/* "NVIDIA H100 80GB HBM3 (sm_90)" of the current device, or an error. */
ff_status ff_cuda_device_name(char *buf, size_t n);
ff_status ff_cuda_stream_create(ff_stream **out);
void ff_cuda_stream_destroy(ff_stream *s);
ff_status ff_cuda_stream_sync(ff_stream *s);
/* Device memory for code that must stay free of CUDA types (tools, tests): allocate, free, and
 * copies host<->device that wait for the whole device before and after (so they are ordered with
 * every stream's work; never use them on a hot path). All report FF_ECUDA (logged) on failure,
 * FF_ENOTSUP without CUDA. */
ff_status ff_cuda_malloc(void **p, size_t n);
void ff_cuda_free(void *p);
ff_status ff_cuda_copy_to_device(void *dst, const void *src, size_t n);
ff_status ff_cuda_copy_to_host(void *dst, const void *src, size_t n);

#ifdef __cplusplus
}
#endif

#endif
