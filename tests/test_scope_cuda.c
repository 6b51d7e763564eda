/* scope/ on the CUDA backend: event spans land in the right node, include work launched inside the
 * scope, and closing a scope does not synchronise. Needs a GPU; exits 77 (skipped) without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/cuda.h"
#include "scope/scope.h"

ff_status ff_test_spin(ff_stream *stream, uint64_t ns);

#define SPIN_NS UINT64_C(50000000) /* 50 ms */

/* A recorder of party `party` on a new CUDA stream, attached to the calling thread. */
static ff_prof *open_recorder(int party, const char *run_id, int trace, ff_stream **s) {
  assert_int_equal(ff_cuda_stream_create(s), FF_OK);
  ff_prof *p = NULL;
  ff_prof_opts o = {.party = party, .run_id = run_id, .trace = trace};
  assert_int_equal(ff_prof_create(&p, &o), FF_OK);
  assert_int_equal(ff_prof_thread_attach(p, run_id, *s), FF_OK);
  return p;
}

static void close_recorder(ff_prof *p, ff_stream *s) {
  ff_prof_destroy(p);
  ff_prof_thread_detach();
  ff_cuda_stream_destroy(s);
}

static void test_spans(void **state) {
  (void)state;
  ff_stream *s = NULL;
  ff_prof *p = open_recorder(0, "cuda-test", 0, &s);
  for (int rep = 0; rep < 3; rep++) { /* the event pool is reused across repetitions */
    assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
    {
      FF_SCOPE("Forward");
      {
        FF_SCOPE("Linear");
        assert_int_equal(ff_test_spin(s, SPIN_NS), FF_OK);
      }
      for (int i = 0; i < 300; i++) { /* more pairs than the pool's first 256 (an operator: it has spans) */
        FF_SCOPE("TruncRescale");
      }
    }
    assert_int_equal(ff_prof_rep_end(p), FF_OK);
    const ff_prof_rep *r = ff_prof_rep_get(p, (size_t)rep);
    const ff_prof_node *lin = &r->nodes[ff_prof_find(r, "Forward/Linear")];
    const ff_prof_node *fwd = &r->nodes[ff_prof_find(r, "Forward")];
    const ff_prof_node *rec = &r->nodes[ff_prof_find(r, "Forward/TruncRescale")];
    printf("rep %d: Linear cuda %llu ns wall %llu ns; Forward cuda %llu ns; repetition cuda %llu ns\n", rep,
           (unsigned long long)lin->cuda_ns, (unsigned long long)lin->wall_ns, (unsigned long long)fwd->cuda_ns,
           (unsigned long long)r->cuda_ns);
    assert_true(lin->cuda_ns >= SPIN_NS - 1000); /* event resolution is about 0.5 us */
    assert_true(fwd->cuda_ns >= lin->cuda_ns);
    assert_true(r->cuda_ns >= fwd->cuda_ns);
    assert_int_equal(rec->calls, 300);
    /* The launch is asynchronous and closing the scope records an event without waiting: the host
     * leaves the scope long before the 50 ms kernel ends. */
    assert_true(lin->wall_ns < SPIN_NS / 2);
  }
  close_recorder(p, s);
}

/* Span granularity: under the default (ops) a primitive's scope (Reconstruct, family Comm) records no
 * span and its kernel's time is in the enclosing operator's; under all it has its own span; under off
 * no scope and not the repetition has one (wall time still recorded). */
static void test_primitive_spans(void **state) {
  (void)state;
  ff_stream *s = NULL;
  ff_prof *p = open_recorder(0, "cuda-prim", 0, &s);
  const ff_cuda_spans modes[3] = {FF_CUDA_SPANS_OPS, FF_CUDA_SPANS_ALL, FF_CUDA_SPANS_OFF};
  for (int m = 0; m < 3; m++) {
    ff_scope_set_cuda_spans(modes[m]);
    assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
    {
      FF_SCOPE("Softmax");
      FF_SCOPE("Reconstruct");
      assert_int_equal(ff_test_spin(s, SPIN_NS), FF_OK);
    }
    assert_int_equal(ff_prof_rep_end(p), FF_OK);
    const ff_prof_rep *r = ff_prof_rep_get(p, (size_t)m);
    const ff_prof_node *op = &r->nodes[ff_prof_find(r, "Softmax")];
    const ff_prof_node *rec = &r->nodes[ff_prof_find(r, "Softmax/Reconstruct")];
    printf("%s: Softmax cuda %llu ns, Reconstruct cuda %llu ns (calls %llu)\n", ff_cuda_spans_name(modes[m]),
           (unsigned long long)op->cuda_ns, (unsigned long long)rec->cuda_ns, (unsigned long long)rec->calls);
    assert_int_equal(rec->calls, 1);
    if (modes[m] == FF_CUDA_SPANS_OFF) {
      assert_int_equal(op->cuda_ns, 0);
      assert_int_equal(rec->cuda_ns, 0);
      assert_int_equal(r->cuda_ns, 0);
      assert_true(op->wall_ns > 0);
      continue;
    }
    assert_true(op->cuda_ns >= SPIN_NS - 1000);
    if (modes[m] == FF_CUDA_SPANS_OPS)
      assert_int_equal(rec->cuda_ns, 0);
    else
      assert_true(rec->cuda_ns >= SPIN_NS - 1000 && rec->cuda_ns <= op->cuda_ns);
  }
  ff_scope_set_cuda_spans(FF_CUDA_SPANS_OPS);
  close_recorder(p, s);
}

/* The trace's stream track: each scope's event pair becomes a slice on tid 2, placed on the host clock
 * at the repetition's start, the kernel's 50 ms inside Linear's slice, Linear inside Forward, Forward
 * inside the repetition's own slice. */
static void test_stream_track(void **state) {
  (void)state;
  ff_stream *s = NULL;
  ff_prof *p = open_recorder(1, "cuda-trace", 1, &s);
  assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
  {
    FF_SCOPE("Forward");
    {
      FF_SCOPE("Linear");
      assert_int_equal(ff_test_spin(s, SPIN_NS), FF_OK);
    }
  }
  assert_int_equal(ff_prof_rep_end(p), FF_OK);
  char dir[] = "/tmp/ff_test_scope_cuda_XXXXXX", log_path[256], trace_path[256];
  assert_non_null(mkdtemp(dir));
  assert_int_equal(ff_prof_write(p, dir, log_path, trace_path, sizeof log_path), FF_OK);
  FILE *f = fopen(trace_path, "r");
  assert_non_null(f);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  cJSON *j = cJSON_Parse(buf);
  assert_non_null(j);
  double ts[3] = {-1, -1, -1}, end[3] = {0}; /* rep, Forward, Linear on the stream's track */
  int named = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "traceEvents")) {
    const cJSON *tid = cJSON_GetObjectItem(e, "tid"); /* the process_name event has none */
    if (!cJSON_IsNumber(tid) || tid->valueint != 2) continue;
    const char *ph = cJSON_GetObjectItem(e, "ph")->valuestring, *name = cJSON_GetObjectItem(e, "name")->valuestring;
    if (strcmp(ph, "M") == 0) {
      named = 1;
      continue;
    }
    int k = strcmp(name, "rep 0") == 0 ? 0 : strcmp(name, "Forward") == 0 ? 1 : strcmp(name, "Linear") == 0 ? 2 : -1;
    assert_true(k >= 0);
    ts[k] = cJSON_GetObjectItem(e, "ts")->valuedouble;
    end[k] = ts[k] + cJSON_GetObjectItem(e, "dur")->valuedouble;
  }
  printf("stream track: rep [%.1f, %.1f] Forward [%.1f, %.1f] Linear [%.1f, %.1f] us\n", ts[0], end[0], ts[1], end[1],
         ts[2], end[2]);
  assert_true(named);
  assert_true(ts[0] >= 0 && ts[1] >= 0 && ts[2] >= 0);
  assert_true(end[2] - ts[2] >= (double)(SPIN_NS - 1000) / 1e3);
  /* The ends queued behind the kernel fire back to back and may share a timestamp; ts + dur in double can
   * then differ by an ulp either way: 1 ns of tolerance (the trace is in microseconds). */
  assert_true(ts[0] <= ts[1] && ts[1] <= ts[2] && end[2] <= end[1] + 1e-3 && end[1] <= end[0] + 1e-3);
  cJSON_Delete(j);
  unlink(log_path);
  unlink(trace_path);
  rmdir(dir);
  close_recorder(p, s);
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_scope_cuda: no CUDA device, skipped\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_spans), cmocka_unit_test(test_primitive_spans),
                                     cmocka_unit_test(test_stream_track)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
