/* Context creation and backend selection. */
#include "core/ctx.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static int ff__cpus_override; /* tests: ff__cpu_count_override */

void ff__cpu_count_override(int n) { __atomic_store_n(&ff__cpus_override, n > 0 ? n : 0, __ATOMIC_RELAXED); }

int ff_cpu_count(void) {
  const int forced = __atomic_load_n(&ff__cpus_override, __ATOMIC_RELAXED);
  if (forced) return forced;
  cpu_set_t set;
  long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

typedef struct {
  void (*fn)(void *, size_t, size_t);
  void *arg;
  size_t lo, hi;
} ff__range;

static void *ff__range_main(void *p) {
  ff__range *r = p;
  r->fn(r->arg, r->lo, r->hi);
  return NULL;
}

void ff_parallel_for(size_t n, size_t min_per_thread, int max_threads, void (*fn)(void *arg, size_t lo, size_t hi),
                     void *arg) {
  if (n == 0) return;
  size_t t = (size_t)ff_cpu_count();
  if (max_threads > 0 && t > (size_t)max_threads) t = (size_t)max_threads;
  if (min_per_thread > 0 && t > n / min_per_thread) t = n / min_per_thread;
  if (t < 1) t = 1;
  ff__range *r = t > 1 ? malloc(t * sizeof *r) : NULL;
  pthread_t *th = t > 1 ? malloc(t * sizeof *th) : NULL;
  int *started = t > 1 ? calloc(t, sizeof *started) : NULL;
  if (t == 1 || !r || !th || !started) { /* one range, on the caller */
    free(r);
    free(th);
    free(started);
    fn(arg, 0, n);
    return;
  }
  for (size_t i = 0; i < t; i++) {
    r[i] = (ff__range){fn, arg, n * i / t, n * (i + 1) / t};
    if (i > 0) started[i] = pthread_create(&th[i], NULL, ff__range_main, &r[i]) == 0;
  }
  fn(arg, r[0].lo, r[0].hi);
  for (size_t i = 1; i < t; i++) {
    if (started[i]) pthread_join(th[i], NULL);
    else fn(arg, r[i].lo, r[i].hi);
  }
  free(r);
  free(th);
  free(started);
}

ff_backend ff_backend_auto(void) { return ff_cuda_device_count() > 0 ? FF_BACKEND_CUDA : FF_BACKEND_CPU; }

const char *ff_backend_name(ff_backend b) { return b == FF_BACKEND_CUDA ? "cuda" : "cpu"; }

ff_status ff_backend_parse(const char *s, ff_backend *out) {
  if (strcmp(s, "auto") == 0) {
    *out = ff_backend_auto();
    return FF_OK;
  }
  if (strcmp(s, "cpu") == 0) {
    *out = FF_BACKEND_CPU;
    return FF_OK;
  }
  if (strcmp(s, "cuda") == 0) {
    if (!ff_cuda_built()) {
      FF_ERROR("backend 'cuda' requested, but this build has no CUDA backend");
      return FF_ENOTSUP;
    }
    if (ff_cuda_device_count() == 0) {
      FF_ERROR("backend 'cuda' requested, but no CUDA device is visible");
      return FF_ENOTSUP;
    }
    *out = FF_BACKEND_CUDA;
    return FF_OK;
  }
  FF_ERROR("unknown backend '%s' (valid: auto, cpu, cuda)", s);
  return FF_EINVAL;
}

ff_status ff_ctx_init(ff_ctx *ctx, ff_backend backend, int party) {
  memset(ctx, 0, sizeof *ctx);
  ctx->backend = backend;
  ctx->party = party;
  ff_rng_init_os(&ctx->rng);
  if (backend == FF_BACKEND_CUDA) return ff_cuda_stream_create(&ctx->stream);
  return FF_OK;
}

void ff_ctx_destroy(ff_ctx *ctx) {
  ff_cuda_stream_destroy(ctx->stream); /* waits for the stream's work, which may use the staging */
  ff_cuda_stage_free(ctx->stage);
  memset(ctx, 0, sizeof *ctx);
}
