/* Device discovery and streams; compiled with the CUDA runtime when FF_HAVE_CUDA, else the calls
 * answer "no CUDA in this build". */
#include "core/cuda.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* The allocation counters (ff_alloc_stats); relaxed atomics: they are statistics, read between phases. */
static unsigned long long ff__n_dev_allocs, ff__n_sync_allocs, ff__n_pinned, ff__n_stage_grows;
#define FF__COUNT(c) __atomic_add_fetch(&(c), 1, __ATOMIC_RELAXED)
void ff__alloc_note_sync_alloc(void) { FF__COUNT(ff__n_sync_allocs); }

#ifdef FF_HAVE_CUDA
#include "core/cuda_check.h"

int ff_cuda_built(void) { return 1; }

ff_status ff_cuda_mem_info(uint64_t *free_b, uint64_t *total_b) {
  size_t f = 0, t = 0;
  if (ff_cuda_device_count() <= 0) return FF_ENOTSUP;
  const ff_status st = FF_CUDA_CHECK(cudaMemGetInfo(&f, &t));
  if (st) return st;
  *free_b = f;
  *total_b = t;
  return FF_OK;
}

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

ff_status ff_cuda_use_device(int ordinal) {
  const int n = ff_cuda_device_count();
  if (ordinal < 0 || ordinal >= n) {
    FF_ERROR("GPU %d was asked for, but this machine shows %d CUDA device(s)%s", ordinal, n,
             n ? " (ordinals from 0; CUDA_VISIBLE_DEVICES may hide some)" : "");
    return FF_EINVAL;
  }
  return FF_CUDA_CHECK(cudaSetDevice(ordinal));
}

int ff_cuda_current_device(void) {
  int d = -1;
  if (ff_cuda_device_count() <= 0 || cudaGetDevice(&d) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  return d;
}

/* ---- Stream-ordered device memory -------------------------------------------------------------------
 * A registry maps each live allocation to its stream (chained hash, nodes recycled through a free list so
 * that a steady state makes no host allocation either). */
typedef struct ff__devblk {
  void *p;
  cudaStream_t s;
  struct ff__devblk *next;
} ff__devblk;
#define FF__DEV_BUCKETS 4096
static ff__devblk *ff__dev_tab[FF__DEV_BUCKETS], *ff__dev_spare;
static pthread_mutex_t ff__dev_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t ff__dev_hash(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ull;
  return (size_t)(x >> 52) & (FF__DEV_BUCKETS - 1);
}

/* The device's default pool keeps freed memory for the next allocation instead of returning it to the
 * driver at every synchronisation (its default), which is what makes stream-ordered allocation cheap. */
static ff_status ff__pool_retain(void) {
  int dev = 0;
  cudaMemPool_t pool;
  uint64_t never = UINT64_MAX;
  ff_status st = FF_CUDA_CHECK(cudaGetDevice(&dev));
  if (!st) st = FF_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
  if (!st) st = FF_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &never));
  return st;
}

/* Registry nodes come in slabs, so that the number of host allocations does not depend on how two
 * parties' threads interleave their live allocations (a node per allocation would follow their peak). */
#define FF__DEV_SLAB 1024

ff_status ff_dev_alloc(ff_stream *s, size_t n, void **out) {
  *out = NULL;
  pthread_mutex_lock(&ff__dev_mu);
  if (!ff__dev_spare) {
    ff__devblk *slab = malloc(FF__DEV_SLAB * sizeof *slab); /* kept for the process: the spare list owns it */
    if (!slab) {
      pthread_mutex_unlock(&ff__dev_mu);
      FF_ERROR("out of host memory for the device allocation registry");
      return FF_ENOMEM;
    }
    for (size_t i = 0; i < FF__DEV_SLAB; i++) slab[i].next = i + 1 < FF__DEV_SLAB ? &slab[i + 1] : NULL;
    ff__dev_spare = slab;
  }
  ff__devblk *b = ff__dev_spare;
  ff__dev_spare = b->next;
  pthread_mutex_unlock(&ff__dev_mu);
  cudaError_t e = cudaMallocAsync(&b->p, n ? n : 1, (cudaStream_t)s);
  if (e != cudaSuccess) {
    FF_ERROR("cannot allocate %zu bytes of device memory: %s", n, cudaGetErrorString(e));
    pthread_mutex_lock(&ff__dev_mu);
    b->next = ff__dev_spare;
    ff__dev_spare = b;
    pthread_mutex_unlock(&ff__dev_mu);
    return e == cudaErrorMemoryAllocation ? FF_ENOMEM : FF_ECUDA;
  }
  FF__COUNT(ff__n_dev_allocs);
  b->s = (cudaStream_t)s;
  const size_t h = ff__dev_hash(b->p);
  pthread_mutex_lock(&ff__dev_mu);
  b->next = ff__dev_tab[h];
  ff__dev_tab[h] = b;
  pthread_mutex_unlock(&ff__dev_mu);
  *out = b->p;
  return FF_OK;
}

void ff_dev_free(void *p) {
  if (!p) return;
  const size_t h = ff__dev_hash(p);
  pthread_mutex_lock(&ff__dev_mu);
  ff__devblk **pp = &ff__dev_tab[h];
  while (*pp && (*pp)->p != p) pp = &(*pp)->next;
  ff__devblk *b = *pp;
  cudaStream_t s = 0;
  if (b) {
    s = b->s; /* read under the lock: once on the spare list, another thread may reuse the node */
    *pp = b->next;
    b->next = ff__dev_spare;
    ff__dev_spare = b;
  }
  pthread_mutex_unlock(&ff__dev_mu);
  if (!b) {
    /* Not ours (a cudaMalloc'd buffer): the synchronous free is always correct. */
    (void)FF_CUDA_CHECK(cudaFree(p));
    return;
  }
  (void)FF_CUDA_CHECK(cudaFreeAsync(p, s));
}

ff_status ff_cuda_host_alloc(void **p, size_t n) {
  *p = NULL;
  ff_status st = FF_CUDA_CHECK(cudaHostAlloc(p, n ? n : 1, cudaHostAllocDefault));
  if (st) *p = NULL;
  else FF__COUNT(ff__n_pinned);
  return st;
}

void ff_cuda_host_free(void *p) {
  if (p) (void)FF_CUDA_CHECK(cudaFreeHost(p));
}

ff_status ff_cuda_host_try_alloc(void **p, size_t n) {
  *p = NULL;
  if (cudaHostAlloc(p, n ? n : 1, cudaHostAllocDefault) == cudaSuccess) {
    FF__COUNT(ff__n_pinned);
    return FF_OK;
  }
  (void)cudaGetLastError(); /* the fallback is the caller's: no error left for the next launch check */
  *p = NULL;
  return FF_ENOMEM;
}

/* Device memory the default pool holds now, or the most it has held (ff_alloc_stats). */
static unsigned long long ff__pool_attr(int high) {
  int dev = 0;
  cudaMemPool_t pool;
  uint64_t v = 0;
  if (ff_cuda_device_count() > 0 && cudaGetDevice(&dev) == cudaSuccess &&
      cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess &&
      cudaMemPoolGetAttribute(pool, high ? cudaMemPoolAttrReservedMemHigh : cudaMemPoolAttrReservedMemCurrent, &v) ==
          cudaSuccess)
    return v;
  (void)cudaGetLastError();
  return 0;
}

ff_status ff_cuda_stage_reserve(ff_cuda_stage **stp, size_t bytes, int events) {
  ff_cuda_stage *st = *stp;
  if (!st) {
    if (!(st = calloc(1, sizeof *st))) {
      FF_ERROR("out of host memory for reconstruct staging");
      return FF_ENOMEM;
    }
    *stp = st;
  }
  ff_status rc = FF_OK;
  if (bytes > st->cap) {
    size_t cap = st->cap ? st->cap : 1 << 16;
    while (cap < bytes) cap *= 2;
    FF__COUNT(ff__n_stage_grows);
    /* Whatever used the old buffers is ordered before this point on the host (reconstructs return once
       their bytes are on the device); the device copies out of them may still run: wait. */
    if ((rc = FF_CUDA_CHECK(cudaDeviceSynchronize()))) return rc;
    cudaFree(st->dev_out), cudaFree(st->dev_in), cudaFreeHost(st->host_out), cudaFreeHost(st->host_in);
    st->dev_out = st->dev_in = st->host_out = st->host_in = NULL;
    st->cap = 0;
    FF__COUNT(ff__n_sync_allocs), FF__COUNT(ff__n_sync_allocs);
    if ((rc = FF_CUDA_CHECK(cudaMalloc(&st->dev_out, cap + 16))) || (rc = FF_CUDA_CHECK(cudaMalloc(&st->dev_in, cap + 16))) ||
        (rc = ff_cuda_host_alloc(&st->host_out, cap)) || (rc = ff_cuda_host_alloc(&st->host_in, cap))) {
      FF_ERROR("cannot allocate %zu bytes of reconstruct staging (device and pinned host)", 4 * cap);
      return rc;
    }
    st->cap = cap;
  }
  if (events > st->n_events) {
    void **ev = realloc(st->events, (size_t)events * sizeof *ev);
    if (!ev) {
      FF_ERROR("out of host memory for reconstruct staging events");
      return FF_ENOMEM;
    }
    st->events = ev;
    for (; st->n_events < events; st->n_events++)
      if ((rc = FF_CUDA_CHECK(cudaEventCreateWithFlags((cudaEvent_t *)&ev[st->n_events], cudaEventDisableTiming))))
        return rc;
  }
  return FF_OK;
}

void ff_cuda_stage_free(ff_cuda_stage *st) {
  if (!st) return;
  cudaFree(st->dev_out), cudaFree(st->dev_in), cudaFreeHost(st->host_out), cudaFreeHost(st->host_in);
  for (int i = 0; i < st->n_events; i++) cudaEventDestroy((cudaEvent_t)st->events[i]);
  free(st->events);
  free(st);
}

ff_status ff_cuda_stream_create(ff_stream **out) {
  cudaStream_t s;
  *out = NULL;
  ff_status st = ff__pool_retain();
  if (!st) st = FF_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  if (!st) *out = (ff_stream *)s;
  return st;
}

/* Allocations still registered on the stream are re-pointed at the legacy default stream once the
 * stream's work is done, so that a wire freed after its context is freed safely. */
void ff_cuda_stream_destroy(ff_stream *s) {
  if (!s) return;
  (void)FF_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)s));
  pthread_mutex_lock(&ff__dev_mu);
  for (size_t h = 0; h < FF__DEV_BUCKETS; h++)
    for (ff__devblk *b = ff__dev_tab[h]; b; b = b->next)
      if (b->s == (cudaStream_t)s) b->s = 0;
  pthread_mutex_unlock(&ff__dev_mu);
  (void)FF_CUDA_CHECK(cudaStreamDestroy((cudaStream_t)s));
}

ff_status ff_cuda_stream_sync(ff_stream *s) { return FF_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)s)); }

ff_status ff_cuda_malloc(void **p, size_t n) {
  ff__alloc_note_sync_alloc();
  return FF_CUDA_CHECK(cudaMalloc(p, n ? n : 1));
}
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

ff_status ff_cuda_mem_info(uint64_t *free_b, uint64_t *total_b) {
  *free_b = *total_b = 0;
  return FF_ENOTSUP;
}
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
ff_status ff_cuda_use_device(int ordinal) {
  FF_ERROR("GPU %d was asked for, but this build of fusefss has no CUDA backend", ordinal);
  return FF_ENOTSUP;
}
int ff_cuda_current_device(void) { return -1; }
ff_status ff_dev_alloc(ff_stream *s, size_t n, void **out) {
  (void)s, (void)n;
  *out = NULL;
  return ff__no_cuda();
}
void ff_dev_free(void *p) { (void)p; }
ff_status ff_cuda_host_alloc(void **p, size_t n) { return ff_cuda_malloc(p, n); }
void ff_cuda_host_free(void *p) { (void)p; }
ff_status ff_cuda_host_try_alloc(void **p, size_t n) {
  (void)n;
  *p = NULL;
  return FF_ENOTSUP;
}
static unsigned long long ff__pool_attr(int high) { return (void)high, 0; }
ff_status ff_cuda_stage_reserve(ff_cuda_stage **st, size_t bytes, int events) {
  (void)st, (void)bytes, (void)events;
  return ff__no_cuda();
}
void ff_cuda_stage_free(ff_cuda_stage *st) { (void)st; }

#endif

void ff_alloc_stats_get(ff_alloc_stats *out) {
  memset(out, 0, sizeof *out);
  out->dev_allocs = __atomic_load_n(&ff__n_dev_allocs, __ATOMIC_RELAXED);
  out->dev_sync_allocs = __atomic_load_n(&ff__n_sync_allocs, __ATOMIC_RELAXED);
  out->pinned_allocs = __atomic_load_n(&ff__n_pinned, __ATOMIC_RELAXED);
  out->staging_grows = __atomic_load_n(&ff__n_stage_grows, __ATOMIC_RELAXED);
  out->pool_reserved_B = ff__pool_attr(0);
  out->pool_peak_B = ff__pool_attr(1);
}
