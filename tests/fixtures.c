/* Fixtures shared by the tests of the analysis tools: temp files, output capture, per-party logs.
 * See tests/fixtures.h; used by tests/test_merge.c and tests/test_amdahl.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

void assert_double_near(double a, double b, double eps, const char *expr, const char *file, int line) {
  if (!(fabs(a - b) <= eps)) fail_msg("%s:%d: %s = %.17g, expected %.17g (tolerance %g)", file, line, expr, a, b, eps);
}

/* ---- Temp files --------------------------------------------------------------------------------- */

static char g_tmp_template[128] = "/tmp/ff_test_XXXXXX";
static char *g_tmp[256];
static size_t g_ntmp;

static void cleanup_tmp(void) {
  for (size_t i = 0; i < g_ntmp; i++) {
    unlink(g_tmp[i]);
    free(g_tmp[i]);
  }
  g_ntmp = 0;
}

void fixtures_init(const char *test) {
  snprintf(g_tmp_template, sizeof g_tmp_template, "/tmp/ff_%s_XXXXXX", test);
  atexit(cleanup_tmp);
}

char *tmp_path(void) {
  char *p = strdup(g_tmp_template);
  int fd = mkstemp(p);
  assert_true(fd >= 0);
  close(fd);
  assert_true(g_ntmp < 256);
  g_tmp[g_ntmp++] = p;
  return p;
}

char *write_text(const char *text) {
  char *p = tmp_path();
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

char *write_json(cJSON *j) {
  char *t = cJSON_Print(j);
  char *p = write_text(t);
  free(t);
  cJSON_Delete(j);
  return p;
}

char *read_text(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char *buf = calloc(1, 1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* ---- Output capture ----------------------------------------------------------------------------- */

capture capture_begin(int fd) {
  fflush(stdout);
  fflush(stderr);
  capture c = {fd, dup(fd), tmp_path()};
  FILE *f = fopen(c.path, "w");
  assert_non_null(f);
  dup2(fileno(f), fd);
  fclose(f);
  return c;
}

char *capture_end(capture c) {
  fflush(stdout);
  fflush(stderr);
  dup2(c.saved, c.fd);
  close(c.saved);
  char *t = read_text(c.path);
  fputs(t, stderr);
  return t;
}

/* ---- Per-party logs ----------------------------------------------------------------------------- */

cJSON *log_new(int party, const char *run_id, const char *tool, const char *const (*scopes)[2], size_t n_scopes) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "schema", "fusefss.prof/1");
  cJSON *run = cJSON_AddObjectToObject(j, "run");
  cJSON_AddStringToObject(run, "run_id", run_id);
  cJSON_AddNumberToObject(run, "party", party);
  cJSON_AddStringToObject(run, "tool", tool);
  cJSON_AddStringToObject(run, "backend", "cpu");
  cJSON *wl = cJSON_AddObjectToObject(run, "workload");
  cJSON_AddStringToObject(wl, "model", "bert-tiny");
  cJSON *sc = cJSON_AddArrayToObject(j, "scopes");
  for (size_t i = 0; i < n_scopes; i++) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "name", scopes[i][0]);
    cJSON_AddStringToObject(s, "family", scopes[i][1]);
    cJSON_AddItemToArray(sc, s);
  }
  cJSON_AddArrayToObject(j, "reps");
  return j;
}

void log_rep(cJSON *j, int warmup, const ttotal *t, const tnode *nodes, size_t n, double time_scale) {
  cJSON *reps = cJSON_GetObjectItem(j, "reps");
  cJSON *r = cJSON_CreateObject();
  cJSON_AddNumberToObject(r, "rep", cJSON_GetArraySize(reps));
  cJSON_AddBoolToObject(r, "warmup", warmup);
  cJSON *to = cJSON_AddObjectToObject(r, "total");
  cJSON_AddNumberToObject(to, "wall_ns", t->wall * time_scale);
  cJSON_AddNumberToObject(to, "cuda_ns", t->cuda * time_scale);
  cJSON_AddNumberToObject(to, "sent_B", t->sent);
  cJSON_AddNumberToObject(to, "recv_B", t->recv);
  cJSON_AddNumberToObject(to, "msgs", t->msgs);
  cJSON_AddNumberToObject(to, "rounds", t->rounds);
  cJSON_AddNumberToObject(to, "wait_ns", t->wait * time_scale);
  cJSON *na = cJSON_AddArrayToObject(r, "nodes");
  for (size_t i = 0; i < n; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)i);
    cJSON_AddNumberToObject(o, "parent", nodes[i].parent);
    cJSON_AddNumberToObject(o, "scope", nodes[i].scope);
    cJSON_AddNumberToObject(o, "layer", nodes[i].layer);
    cJSON_AddNumberToObject(o, "calls", nodes[i].calls);
    cJSON_AddNumberToObject(o, "wall_ns", nodes[i].wall * time_scale);
    cJSON_AddNumberToObject(o, "cuda_ns", nodes[i].cuda * time_scale);
    cJSON_AddNumberToObject(o, "sent_B", nodes[i].sent);
    cJSON_AddNumberToObject(o, "recv_B", nodes[i].recv);
    cJSON_AddNumberToObject(o, "msgs", nodes[i].msgs);
    cJSON_AddNumberToObject(o, "rounds", nodes[i].rounds);
    cJSON_AddNumberToObject(o, "wait_ns", nodes[i].wait * time_scale);
    cJSON_AddItemToArray(na, o);
  }
  cJSON_AddItemToArray(reps, r);
}
