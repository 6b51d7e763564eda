/* CUDA-event spans for scopes (research/profiling.md §2): events come from a pool that grows by
 * doubling and is reused every repetition; a scope only records events (never synchronises); the
 * repetition's end waits once for the last event and reads every pair. An event pair measures the
 * stream's timeline span, network waits between kernels included. Test: tests/test_scope_cuda.c. */
#include "scope/scope_internal.h"

#include <stdlib.h>

#include "core/log.h"

#ifdef FF_HAVE_CUDA
#include "core/cuda_check.h"

typedef struct {
  int32_t node;
  int closed;
} ff__pair;

struct ff__spans {
  cudaStream_t stream;
  cudaEvent_t *ev;  /* (2 * cap) start, end of pair i at 2i, 2i+1 */
  ff__pair *pairs;  /* (cap) */
  int n, cap;       /* pairs in use this repetition, pairs allocated */
  int last_end;     /* index of the most recently recorded end event, -1 if none */
};

static ff_status ff__spans_grow(ff__spans *s) {
  int cap = s->cap ? 2 * s->cap : 256;
  cudaEvent_t *ev = realloc(s->ev, sizeof *ev * 2 * (size_t)cap);
  if (!ev) return FF_ENOMEM;
  s->ev = ev;
  ff__pair *pairs = realloc(s->pairs, sizeof *pairs * (size_t)cap);
  if (!pairs) return FF_ENOMEM;
  s->pairs = pairs;
  for (int i = 2 * s->cap; i < 2 * cap; i++) {
    ff_status st = FF_CUDA_CHECK(cudaEventCreateWithFlags(&s->ev[i], cudaEventDefault));
    if (st) {
      for (int j = 2 * s->cap; j < i; j++) cudaEventDestroy(s->ev[j]);
      return st;
    }
  }
  s->cap = cap;
  return FF_OK;
}

ff_status ff__spans_create(ff__spans **out, ff_stream *stream) {
  ff__spans *s = calloc(1, sizeof *s);
  if (!s) return FF_ENOMEM;
  s->stream = (cudaStream_t)stream;
  s->last_end = -1;
  ff_status st = ff__spans_grow(s);
  if (st) {
    ff__spans_destroy(s);
    return st;
  }
  *out = s;
  return FF_OK;
}

void ff__spans_destroy(ff__spans *s) {
  if (!s) return;
  for (int i = 0; i < 2 * s->cap; i++) cudaEventDestroy(s->ev[i]);
  free(s->ev);
  free(s->pairs);
  free(s);
}

int ff__spans_begin(ff__spans *s) {
  if (s->n == s->cap && ff__spans_grow(s)) return -1;
  int i = s->n;
  if (FF_CUDA_CHECK(cudaEventRecord(s->ev[2 * i], s->stream))) return -1;
  s->pairs[i].node = -1;
  s->pairs[i].closed = 0;
  s->n++;
  return i;
}

void ff__spans_end(ff__spans *s, int pair, int32_t node) {
  if (pair < 0 || pair >= s->n) return;
  if (FF_CUDA_CHECK(cudaEventRecord(s->ev[2 * pair + 1], s->stream))) return;
  s->pairs[pair].node = node;
  s->pairs[pair].closed = 1;
  s->last_end = 2 * pair + 1;
}

ff_status ff__spans_resolve(ff__spans *s, void (*add)(void *arg, int32_t node, uint64_t ns, uint64_t start_ns),
                            void *arg) {
  ff_status st = FF_OK;
  if (s->last_end >= 0) st = FF_CUDA_CHECK(cudaEventSynchronize(s->ev[s->last_end]));
  for (int i = 0; i < s->n && !st; i++) {
    if (!s->pairs[i].closed) continue;
    /* Start and end both from the first start event: the float milliseconds the driver returns are
     * monotone in the timestamps, so spans that nest on the stream still nest after rounding. */
    float ms0 = 0, ms1 = 0;
    if (i > 0) st = FF_CUDA_CHECK(cudaEventElapsedTime(&ms0, s->ev[0], s->ev[2 * i]));
    if (!st) st = FF_CUDA_CHECK(cudaEventElapsedTime(&ms1, s->ev[0], s->ev[2 * i + 1]));
    if (!st) {
      const uint64_t a = (uint64_t)((double)ms0 * 1e6 + 0.5), b = (uint64_t)((double)ms1 * 1e6 + 0.5);
      add(arg, s->pairs[i].node, b > a ? b - a : 0, a);
    }
  }
  s->n = 0;
  s->last_end = -1;
  return st;
}

#else

ff_status ff__spans_create(ff__spans **out, ff_stream *stream) {
  (void)stream;
  *out = NULL;
  return FF_ENOTSUP;
}
void ff__spans_destroy(ff__spans *s) { (void)s; }
int ff__spans_begin(ff__spans *s) {
  (void)s;
  return -1;
}
void ff__spans_end(ff__spans *s, int pair, int32_t node) {
  (void)s;
  (void)pair;
  (void)node;
}
ff_status ff__spans_resolve(ff__spans *s, void (*add)(void *arg, int32_t node, uint64_t ns, uint64_t start_ns),
                            void *arg) {
  (void)s;
  (void)add;
  (void)arg;
  return FF_OK;
}

#endif
