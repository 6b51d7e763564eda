/* Device discovery and streams; compiled with the CUDA runtime when FF_HAVE_CUDA, else the calls
 * answer "no CUDA in this build". */
#include "core/cuda.h"

#include <stdio.h>

#include "core/log.h"

#ifdef FF_HAVE_CUDA
#include "core/cuda_check.h"

int ff_cuda_built(void) { return 1; }

int ff_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError(); /* no driver or no device: not an error for a CPU run */
    return 0;
  }
  return n;
}

ff_status ff_cuda_device_name(char *buf, size_t n) {
  int dev = 0;
  struct cudaDeviceProp p;
  ff_status st;
  if ((st = FF_CUDA_CHECK(cudaGetDevice(&dev)))) return st;
  if ((st = FF_CUDA_CHECK(cudaGetDeviceProperties(&p, dev)))) return st;
  snprintf(buf, n, "%s (sm_%d%d)", p.name, p.major, p.minor);
  return FF_OK;
}

ff_status ff_cuda_stream_create(ff_stream **out) {
  cudaStream_t s;
  ff_status st = FF_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  *out = st ? NULL : (ff_stream *)s;
  return st;
}

void ff_cuda_stream_destroy(ff_stream *s) {
  if (s) (void)FF_CUDA_CHECK(cudaStreamDestroy((cudaStream_t)s));
}

ff_status ff_cuda_stream_sync(ff_stream *s) { return FF_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)s)); }

ff_status ff_cuda_malloc(void **p, size_t n) { return FF_CUDA_CHECK(cudaMalloc(p, n ? n : 1)); }
void ff_cuda_free(void *p) {
  if (p) (void)FF_CUDA_CHECK(cudaFree(p));
}
/* Contexts run on non-blocking streams, which the legacy default stream used by cudaMemcpy does not
 * order against; and a pageable host-to-device cudaMemcpy may return before its DMA has landed. So
 * these copies wait for the whole device before and after: slow, and meant for tools and tests. */
static ff_status ff__copy_sync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
  ff_status st = FF_CUDA_CHECK(cudaDeviceSynchronize());
  if (!st) st = FF_CUDA_CHECK(cudaMemcpy(dst, src, n, kind));
  if (!st) st = FF_CUDA_CHECK(cudaDeviceSynchronize());
  return st;
}
ff_status ff_cuda_copy_to_device(void *dst, const void *src, size_t n) {
  return ff__copy_sync(dst, src, n, cudaMemcpyHostToDevice);
}
ff_status ff_cuda_copy_to_host(void *dst, const void *src, size_t n) {
  return ff__copy_sync(dst, src, n, cudaMemcpyDeviceToHost);
}

#else

int ff_cuda_built(void) { return 0; }
int ff_cuda_device_count(void) { return 0; }

ff_status ff_cuda_device_name(char *buf, size_t n) {
  snprintf(buf, n, "none");
  return FF_ENOTSUP;
}

ff_status ff_cuda_stream_create(ff_stream **out) {
  *out = NULL;
  FF_ERROR("this build of fusefss has no CUDA backend (configure with a CUDA compiler)");
  return FF_ENOTSUP;
}

void ff_cuda_stream_destroy(ff_stream *s) { (void)s; }
ff_status ff_cuda_stream_sync(ff_stream *s) { return s ? FF_ENOTSUP : FF_OK; }

static ff_status ff__no_cuda(void) {
  FF_ERROR("this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff_cuda_malloc(void **p, size_t n) {
  (void)n;
  *p = NULL;
  return ff__no_cuda();
}
void ff_cuda_free(void *p) { (void)p; }
ff_status ff_cuda_copy_to_device(void *dst, const void *src, size_t n) {
  (void)dst, (void)src, (void)n;
  return ff__no_cuda();
}
ff_status ff_cuda_copy_to_host(void *dst, const void *src, size_t n) {
  (void)dst, (void)src, (void)n;
  return ff__no_cuda();
}

#endif
