/* scope/: nesting and inclusive metrics under a fake clock, early return, layers, comm attribution,
 * FF_PROFILE off, per-thread trees, the name registry, and the JSON log and trace it writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <pthread.h>

#include <sys/wait.h>

#include "core/log.h"
#include "scope/scope.h"
#include "scope/scope_internal.h" /* ff__scope_wants_span */

/* The fake clock: each reading returns the current value; tests advance it explicitly. */
static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }

static ff_prof *new_prof(int party, int trace) {
  ff_prof *p = NULL;
  ff_prof_opts o = {.party = party, .run_id = "test-run", .trace = trace};
  assert_int_equal(ff_prof_create(&p, &o), FF_OK);
  assert_int_equal(ff_prof_thread_attach(p, "test", NULL), FF_OK);
  return p;
}

static const ff_prof_node *node_at(const ff_prof_rep *rep, const char *path) {
  int i = ff_prof_find(rep, path);
  if (i < 0) fail_msg("no node at %s", path);
  return &rep->nodes[i];
}

static void charge(uint64_t sent, uint64_t recv, uint64_t msgs, uint64_t rounds, uint64_t wait) {
  ff_comm_delta d = {sent, recv, msgs, rounds, wait};
  ff_scope_charge_comm(&d);
}

/* Forward [10,100] > Layer[0] [20,90] > { Linear [20,50] sends 100 B, Softmax [50,80] exchanges 8 B
 * in one round }; the repetition runs [0,110]. */
static void test_nesting_inclusive(void **state) {
  (void)state;
  ff_scope_set_clock(fake_clock);
  ff_prof *p = new_prof(0, 0);
  fake_now = 0;
  assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
  fake_now = 10;
  {
    FF_SCOPE("Forward");
    fake_now = 20;
    {
      FF_SCOPE_LAYER("Layer", 0);
      {
        FF_SCOPE("Linear");
        charge(100, 0, 1, 0, 0);
        fake_now = 50;
      }
      {
        FF_SCOPE("Softmax");
        charge(8, 8, 1, 1, 7);
        fake_now = 80;
      }
      assert_int_equal(ff_scope_depth(), 2);
      fake_now = 90;
    }
    fake_now = 100;
  }
  fake_now = 110;
  assert_int_equal(ff_prof_rep_end(p), FF_OK);
  assert_int_equal(ff_scope_depth(), 0);

  const ff_prof_rep *rep = ff_prof_rep_get(p, 0);
  assert_non_null(rep);
  assert_int_equal(rep->n_nodes, 4);
  assert_int_equal(rep->wall_ns, 110);
  assert_int_equal(node_at(rep, "Forward")->wall_ns, 90);
  assert_int_equal(node_at(rep, "Forward/Layer[0]")->wall_ns, 70);
  assert_int_equal(node_at(rep, "Forward/Layer[0]/Linear")->wall_ns, 30);
  assert_int_equal(node_at(rep, "Forward/Layer[0]/Softmax")->wall_ns, 30);
  /* Bytes are inclusive: Forward sees both children's traffic. */
  assert_int_equal(node_at(rep, "Forward")->sent_B, 108);
  assert_int_equal(node_at(rep, "Forward")->recv_B, 8);
  assert_int_equal(node_at(rep, "Forward")->msgs, 2);
  assert_int_equal(node_at(rep, "Forward/Layer[0]/Linear")->rounds, 0);
  assert_int_equal(node_at(rep, "Forward/Layer[0]/Softmax")->rounds, 1);
  assert_int_equal(node_at(rep, "Forward/Layer[0]/Softmax")->wait_ns, 7);
  assert_int_equal(rep->comm.sent_B, 108);
  assert_int_equal(rep->comm.rounds, 1);
  assert_int_equal(node_at(rep, "Forward")->calls, 1);
  assert_int_equal(node_at(rep, "Forward")->layer, FF_NO_LAYER);
  assert_int_equal(node_at(rep, "Forward/Layer[0]")->layer, 0);
  ff_prof_destroy(p);
  ff_scope_set_clock(NULL);
}

static int returns_early(int early) {
  FF_SCOPE("TruncRescale");
  if (early) return 1;
  charge(5, 5, 1, 1, 0);
  return 0;
}

static void test_early_return_and_calls(void **state) {
  (void)state;
  ff_prof *p = new_prof(0, 0);
  assert_int_equal(ff_prof_rep_begin(p, 1), FF_OK);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(returns_early(i == 1), i == 1);
    assert_int_equal(ff_scope_depth(), 0);
  }
  for (int l = 0; l < 2; l++) {
    FF_SCOPE_LAYER("Layer", l);
    FF_SCOPE("FFN");
  }
  assert_int_equal(ff_prof_rep_end(p), FF_OK);
  const ff_prof_rep *rep = ff_prof_rep_get(p, 0);
  assert_true(rep->warmup);
  assert_int_equal(node_at(rep, "TruncRescale")->calls, 3);
  assert_int_equal(node_at(rep, "TruncRescale")->sent_B, 10);
  assert_int_equal(node_at(rep, "Layer[0]/FFN")->calls, 1);
  assert_int_equal(node_at(rep, "Layer[1]/FFN")->calls, 1);
  assert_int_equal(ff_prof_find(rep, "FFN"), -1);

  /* A second repetition restarts the counters but keeps the tree. */
  assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
  returns_early(0);
  assert_int_equal(ff_prof_rep_end(p), FF_OK);
  rep = ff_prof_rep_get(p, 1);
  assert_int_equal(rep->n_nodes, 5);
  assert_int_equal(node_at(rep, "TruncRescale")->calls, 1);
  assert_int_equal(node_at(rep, "Layer[1]/FFN")->calls, 0);
  assert_int_equal(ff_prof_rep_count(p), 2);
  ff_prof_destroy(p);
}

static void test_rep_misuse(void **state) {
  (void)state;
  ff_prof *p = new_prof(1, 0);
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_prof_rep_end(p), FF_ESTATE);
  assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
  assert_int_equal(ff_prof_rep_begin(p, 0), FF_ESTATE);
  ff__scope_frame f = ff_scope_begin("Linear", FF_NO_LAYER);
  assert_int_equal(ff_prof_rep_end(p), FF_ESTATE);
  ff_scope_end(f);
  assert_int_equal(ff_prof_rep_end(p), FF_OK);
  ff_prof_opts bad = {.party = 2};
  ff_prof *q = NULL;
  assert_int_equal(ff_prof_create(&q, &bad), FF_EINVAL);
  ff_log_set_level(FF_LOG_WARN);
  ff_prof_destroy(p);
}

static void test_profile_off_keeps_totals(void **state) {
  (void)state;
  ff_prof *p = new_prof(0, 0);
  ff_scope_set_enabled(0);
  assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
  {
    FF_SCOPE("Softmax");
    assert_int_equal(ff_scope_depth(), 0);
    charge(64, 64, 1, 1, 0);
  }
  assert_int_equal(ff_prof_rep_end(p), FF_OK);
  ff_scope_set_enabled(1);
  const ff_prof_rep *rep = ff_prof_rep_get(p, 0);
  assert_int_equal(rep->n_nodes, 0);
  assert_int_equal(rep->comm.sent_B, 64);
  assert_int_equal(rep->comm.rounds, 1);
  ff_prof_destroy(p);
}

static void *other_thread(void *arg) {
  (void)arg;
  FF_SCOPE("Linear");
  charge(1000, 0, 1, 0, 0);
  return NULL;
}

static void test_threads_have_own_trees(void **state) {
  (void)state;
  ff_prof *p = new_prof(0, 0);
  assert_int_equal(ff_prof_rep_begin(p, 0), FF_OK);
  {
    FF_SCOPE("Softmax");
    pthread_t th;
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, NULL);
    charge(3, 0, 1, 0, 0);
  }
  assert_int_equal(ff_prof_rep_end(p), FF_OK);
  const ff_prof_rep *rep = ff_prof_rep_get(p, 0);
  assert_int_equal(rep->n_nodes, 1);
  assert_int_equal(node_at(rep, "Softmax")->sent_B, 3);
  assert_int_equal(rep->comm.sent_B, 3);
  ff_prof_destroy(p);
}

static void test_registry(void **state) {
  (void)state;
  assert_string_equal(ff_scope_family(ff_scope_id("Activation::GELU")), "Activation");
  assert_string_equal(ff_scope_family(ff_scope_id("Reconstruct")), "Comm");
  assert_string_equal(ff_scope_family(ff_scope_id("Forward")), "Structure");
  /* A new name takes the family of a known prefix, else Other. */
  assert_string_equal(ff_scope_family(ff_scope_id("Softmax::Shift")), "Softmax");
  assert_string_equal(ff_scope_family(ff_scope_id("Mystery")), "Other");
  int id = ff_scope_register("Bench::Compute", "Compute");
  assert_true(id >= 0);
  assert_int_equal(ff_scope_register("Bench::Compute", "Compute"), id);
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_scope_register("Bench::Compute", "Linear"), -1);
  assert_int_equal(ff_scope_id(""), -1);
  ff_log_set_level(FF_LOG_WARN);
  assert_string_equal(ff_scope_name(id), "Bench::Compute");
  assert_int_equal(ff_scope_id("Bench::Compute"), id);
}

static cJSON *read_json(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  cJSON *j = cJSON_Parse(buf);
  assert_non_null(j);
  return j;
}

static void test_log_and_trace_files(void **state) {
  (void)state;
  ff_scope_set_clock(fake_clock);
  ff_prof *p = new_prof(1, 1);
  assert_int_equal(ff_prof_meta_str(p, "tool", "test"), FF_OK);
  assert_int_equal(ff_prof_meta_int(p, "workload.seq", 128), FF_OK);
  assert_int_equal(ff_prof_meta_int(p, "timing.reps", 1), FF_OK);
  for (int r = 0; r < 2; r++) {
    fake_now = 1000;
    assert_int_equal(ff_prof_rep_begin(p, r == 0), FF_OK);
    {
      FF_SCOPE("Forward");
      fake_now = 1500;
      charge(10, 20, 1, 1, 5);
    }
    fake_now = 2000;
    assert_int_equal(ff_prof_rep_end(p), FF_OK);
  }
  char dir[] = "/tmp/ff_test_scope_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char sub[128], log_path[256], trace_path[256];
  snprintf(sub, sizeof sub, "%s/a/b", dir);
  assert_int_equal(ff_prof_write(p, sub, log_path, trace_path, sizeof log_path), FF_OK);

  cJSON *j = read_json(log_path);
  assert_string_equal(cJSON_GetObjectItem(j, "schema")->valuestring, "fusefss.prof/1");
  cJSON *run = cJSON_GetObjectItem(j, "run");
  assert_string_equal(cJSON_GetObjectItem(run, "run_id")->valuestring, "test-run");
  assert_int_equal(cJSON_GetObjectItem(run, "party")->valueint, 1);
  assert_string_equal(cJSON_GetObjectItem(run, "tool")->valuestring, "test");
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(run, "workload"), "seq")->valueint, 128);
  cJSON *reps = cJSON_GetObjectItem(j, "reps");
  assert_int_equal(cJSON_GetArraySize(reps), 2);
  cJSON *r1 = cJSON_GetArrayItem(reps, 1);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(reps, 0), "warmup")));
  assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r1, "warmup")));
  cJSON *total = cJSON_GetObjectItem(r1, "total");
  assert_int_equal(cJSON_GetObjectItem(total, "wall_ns")->valueint, 1000);
  assert_int_equal(cJSON_GetObjectItem(total, "recv_B")->valueint, 20);
  cJSON *n0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r1, "nodes"), 0);
  assert_int_equal(cJSON_GetObjectItem(n0, "parent")->valueint, -1);
  assert_int_equal(cJSON_GetObjectItem(n0, "wall_ns")->valueint, 500);
  assert_int_equal(cJSON_GetObjectItem(n0, "wait_ns")->valueint, 5);
  int sid = cJSON_GetObjectItem(n0, "scope")->valueint;
  cJSON *sc = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "scopes"), sid);
  assert_string_equal(cJSON_GetObjectItem(sc, "name")->valuestring, "Forward");
  assert_string_equal(cJSON_GetObjectItem(sc, "family")->valuestring, "Structure");
  /* per repetition: the scope instance and the message it exchanged */
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "trace"), "events")->valueint, 4);
  cJSON_Delete(j);

  j = read_json(trace_path);
  cJSON *evs = cJSON_GetObjectItem(j, "traceEvents");
  /* process and thread names, two repetitions, then per repetition the message (recorded when comm/
   * charged it, 10 B sent and 20 B received after 5 ns blocked: an exchange from 1495 to 1500 ns)
   * and the scope instance around it */
  assert_int_equal(cJSON_GetArraySize(evs), 8);
  cJSON *msg = cJSON_GetArrayItem(evs, 6);
  assert_string_equal(cJSON_GetObjectItem(msg, "name")->valuestring, "exchange");
  assert_string_equal(cJSON_GetObjectItem(msg, "cat")->valuestring, "message");
  assert_true(cJSON_GetObjectItem(msg, "dur")->valuedouble == 0.005);
  cJSON *margs = cJSON_GetObjectItem(msg, "args");
  assert_int_equal(cJSON_GetObjectItem(margs, "send_seq")->valueint, 1); /* the second send of this party */
  assert_int_equal(cJSON_GetObjectItem(margs, "recv_seq")->valueint, 1);
  assert_int_equal(cJSON_GetObjectItem(margs, "sent_B")->valueint, 10);
  cJSON *last = cJSON_GetArrayItem(evs, 7);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(last, "args"), "depth")->valueint, 0);
  assert_string_equal(cJSON_GetObjectItem(last, "name")->valuestring, "Forward");
  assert_string_equal(cJSON_GetObjectItem(last, "ph")->valuestring, "X");
  assert_int_equal(cJSON_GetObjectItem(last, "pid")->valueint, 1);
  assert_true(cJSON_GetObjectItem(last, "dur")->valuedouble == 0.5); /* 500 ns in microseconds */
  cJSON_Delete(j);

  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_prof_write(p, "/proc/no/such/dir", NULL, NULL, 0), FF_EIO);
  ff_log_set_level(FF_LOG_WARN);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  ff_prof_destroy(p);
  ff_scope_set_clock(NULL);
}

/* FF_PROFILE_CUDA, read once per process: in a child each, before this process has read it. */
static int cuda_spans_from_env(const char *value) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (value) setenv("FF_PROFILE_CUDA", value, 1);
    else unsetenv("FF_PROFILE_CUDA");
    _exit(10 + (int)ff_scope_cuda_spans());
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status) - 10;
}

static void test_cuda_span_granularity(void **state) {
  (void)state;
  assert_int_equal(cuda_spans_from_env(NULL), FF_CUDA_SPANS_OPS);
  assert_int_equal(cuda_spans_from_env("ops"), FF_CUDA_SPANS_OPS);
  assert_int_equal(cuda_spans_from_env("all"), FF_CUDA_SPANS_ALL);
  assert_int_equal(cuda_spans_from_env("off"), FF_CUDA_SPANS_OFF);
  assert_int_equal(cuda_spans_from_env("bogus"), FF_CUDA_SPANS_OPS); /* warned, default kept */
  assert_string_equal(ff_cuda_spans_name(FF_CUDA_SPANS_OPS), "ops");
  assert_string_equal(ff_cuda_spans_name(FF_CUDA_SPANS_ALL), "all");
  assert_string_equal(ff_cuda_spans_name(FF_CUDA_SPANS_OFF), "off");
  /* ops: the operators' scopes have spans, the primitives' (families FSS, Comm, KeyTransfer) none,
   * whether built in or registered later. */
  const char *ops[] = {"Forward", "Layer", "Attention", "Linear", "Softmax", "Softmax::Max", "TruncRescale",
                       "LayerNorm", "Activation::GELU", "Input", "a test scope"};
  const char *prims[] = {"Reconstruct", "KeyTransfer", "FSS::DPF", "FSS::LUT", "FSS::PackedCompare", "FSS::Test"};
  const int exch = ff_scope_register("test exchange", "Comm");
  assert_true(exch >= 0);
  ff_scope_set_cuda_spans(FF_CUDA_SPANS_OPS);
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!ff__scope_wants_span(ff_scope_id(ops[i]))) fail_msg("%s has no CUDA span under ops", ops[i]);
  for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
    if (ff__scope_wants_span(ff_scope_id(prims[i]))) fail_msg("%s has a CUDA span under ops", prims[i]);
  assert_false(ff__scope_wants_span(exch));
  assert_false(ff__scope_wants_span(-1));
  ff_scope_set_cuda_spans(FF_CUDA_SPANS_ALL);
  for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++) assert_true(ff__scope_wants_span(ff_scope_id(prims[i])));
  assert_true(ff__scope_wants_span(exch));
  ff_scope_set_cuda_spans(FF_CUDA_SPANS_OFF); /* off: no scope at all */
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (ff__scope_wants_span(ff_scope_id(ops[i]))) fail_msg("%s has a CUDA span under off", ops[i]);
  for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++) assert_false(ff__scope_wants_span(ff_scope_id(prims[i])));
  ff_scope_set_cuda_spans(FF_CUDA_SPANS_OPS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nesting_inclusive),     cmocka_unit_test(test_early_return_and_calls),
      cmocka_unit_test(test_rep_misuse),            cmocka_unit_test(test_profile_off_keeps_totals),
      cmocka_unit_test(test_threads_have_own_trees), cmocka_unit_test(test_registry),
      cmocka_unit_test(test_log_and_trace_files),
      cmocka_unit_test(test_cuda_span_granularity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
