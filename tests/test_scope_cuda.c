/* scope/ on the CUDA backend: event spans land in the right node, include work launched inside the
 * scope, and closing a scope does not synchronise. Needs a GPU; exits 77 (skipped) without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "core/cuda.h"
#include "scope/scope.h"

ff_status ff_test_spin(ff_stream *stream, uint64_t ns);

#define SPIN_NS UINT64_C(50000000) /* 50 ms */

static void test_spans(void **state) {
  (void)state;
  ff_stream *s = NULL;
  assert_int_equal(ff_cuda_stream_create(&s), FF_OK);
  ff_prof *p = NULL;
  ff_prof_opts o = {.party = 0, .run_id = "cuda-test"};
  assert_int_equal(ff_prof_create(&p, &o), FF_OK);
  assert_int_equal(ff_prof_thread_attach(p, "cuda-test", s), FF_OK);
  for (int rep = 0; rep < 3; rep++) { /* the event pool is reused across repetitions */
    assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
    {
      FF_SCOPE("Forward");
      {
        FF_SCOPE("Linear");
        assert_int_equal(ff_test_spin(s, SPIN_NS), FF_OK);
      }
      for (int i = 0; i < 300; i++) { /* more pairs than the pool's first 256 */
        FF_SCOPE("Reconstruct");
      }
    }
    assert_int_equal(ff_prof_rep_end(p), FF_OK);
    const ff_prof_rep *r = ff_prof_rep_get(p, (size_t)rep);
    const ff_prof_node *lin = &r->nodes[ff_prof_find(r, "Forward/Linear")];
    const ff_prof_node *fwd = &r->nodes[ff_prof_find(r, "Forward")];
    const ff_prof_node *rec = &r->nodes[ff_prof_find(r, "Forward/Reconstruct")];
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
  ff_prof_destroy(p);
  ff_prof_thread_detach();
  ff_cuda_stream_destroy(s);
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_scope_cuda: no CUDA device, skipped\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_spans)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
