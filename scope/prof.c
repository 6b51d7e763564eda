/* The recorder: run metadata, per-repetition snapshots of the calling-context tree, optional
 * per-instance trace events, and the writers of prof_p<party>.json (schema fusefss.prof/1,
 * docs/log-schema.md) and trace_p<party>.json (Chrome trace events, opens in Perfetto).
 * Test: tests/test_scope.c. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cuda.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/time.h"
#include "scope/prof_internal.h"

#ifndef FF_GIT_REV
#define FF_GIT_REV "unknown"
#endif
#ifndef FF_BUILD_TYPE
#define FF_BUILD_TYPE "unknown"
#endif
#ifndef FF_COMPILER
#define FF_COMPILER "unknown"
#endif

enum { FF__EV_SCOPE, FF__EV_MSG, FF__EV_CUDA };

typedef struct {
  int32_t kind;             /* FF__EV_SCOPE (thread track), FF__EV_MSG (thread track), FF__EV_CUDA (stream) */
  int32_t scope, layer;     /* FF__EV_CUDA with scope < 0: the repetition's own span */
  int32_t rep, depth;
  uint64_t t0, dur;
  ff_comm_delta comm;
} ff__trace_ev;

struct ff_prof {
  int party;
  char run_id[40];
  cJSON *run;               /* the "run" object of the log */
  uint64_t t0_ns;           /* monotonic time at creation: trace timestamps are relative to it */
  ff_prof_rep *reps;
  uint64_t *rep_t0, *rep_t1;
  size_t n_reps, cap_reps;
  char thread_name[64];
  int has_stream;
  int trace;
  int trace_depth;          /* 0: every depth */
  ff__trace_ev *ev;
  size_t n_ev, cap_ev;
  uint64_t dropped;
};

ff_status ff_prof_create(ff_prof **out, const ff_prof_opts *opts) {
  *out = NULL;
  if (!opts || (opts->party != 0 && opts->party != 1)) {
    FF_ERROR("ff_prof_create: party must be 0 or 1");
    return FF_EINVAL;
  }
  ff_prof *p = calloc(1, sizeof *p);
  if (!p) return FF_ENOMEM;
  p->party = opts->party;
  p->t0_ns = ff__scope_clock();
  if (opts->run_id && *opts->run_id) {
    if (strlen(opts->run_id) >= sizeof p->run_id) {
      FF_ERROR("run id '%s' is longer than %zu characters", opts->run_id, sizeof p->run_id - 1);
      free(p);
      return FF_EINVAL;
    }
    strcpy(p->run_id, opts->run_id);
  } else {
    ff_rng rng;
    ff_rng_init_os(&rng);
    snprintf(p->run_id, sizeof p->run_id, "%016llx", (unsigned long long)ff_rng_u64(&rng));
  }
  p->trace = opts->trace;
  p->trace_depth = opts->trace_depth > 0 ? opts->trace_depth : 0;
  if (p->trace) {
    p->cap_ev = opts->trace_capacity ? opts->trace_capacity : (size_t)1 << 20;
    p->ev = malloc(p->cap_ev * sizeof *p->ev);
    if (!p->ev) {
      free(p);
      return FF_ENOMEM;
    }
  }
  p->run = cJSON_CreateObject();
  if (!p->run) {
    free(p->ev);
    free(p);
    return FF_ENOMEM;
  }
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  cJSON_AddStringToObject(p->run, "run_id", p->run_id);
  cJSON_AddNumberToObject(p->run, "party", p->party);
  cJSON_AddNumberToObject(p->run, "started_unix_ns", (double)ff_unix_ns());
  cJSON_AddStringToObject(p->run, "host", host);
  cJSON_AddStringToObject(p->run, "git", FF_GIT_REV);
  cJSON *build = cJSON_AddObjectToObject(p->run, "build");
  cJSON_AddBoolToObject(build, "cuda", ff_cuda_built());
  cJSON_AddBoolToObject(build, "nvtx", ff_scope_nvtx_built());
  cJSON_AddStringToObject(build, "type", FF_BUILD_TYPE);
  cJSON_AddStringToObject(build, "compiler", FF_COMPILER);
  cJSON_AddBoolToObject(p->run, "profile", ff_scope_enabled());
  cJSON *clock = cJSON_AddObjectToObject(p->run, "clock");
  cJSON_AddStringToObject(clock, "source", "CLOCK_MONOTONIC");
  cJSON_AddNumberToObject(clock, "t0_ns", (double)p->t0_ns);
  cJSON_AddStringToObject(p->run, "round_def", "a receive after a send of this party (its first receive included)");
  *out = p;
  return FF_OK;
}

void ff_prof_destroy(ff_prof *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n_reps; i++) free(p->reps[i].nodes);
  free(p->reps);
  free(p->rep_t0);
  free(p->rep_t1);
  free(p->ev);
  cJSON_Delete(p->run);
  free(p);
}

const char *ff_prof_run_id(const ff_prof *p) { return p->run_id; }
int ff_prof_party(const ff_prof *p) { return p->party; }

/* ---- metadata --------------------------------------------------------------------------------------- */

/* Walks "a.b.c" creating objects for "a" and "b"; returns the object that receives "c". */
static cJSON *ff__meta_parent(ff_prof *p, const char *key, const char **leaf) {
  cJSON *obj = p->run;
  const char *k = key;
  const char *dot;
  while ((dot = strchr(k, '.'))) {
    char part[64];
    size_t len = (size_t)(dot - k);
    if (len == 0 || len >= sizeof part) return NULL;
    memcpy(part, k, len);
    part[len] = 0;
    cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
    if (!cJSON_IsObject(child)) {
      cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
      child = cJSON_AddObjectToObject(obj, part);
      if (!child) return NULL;
    }
    obj = child;
    k = dot + 1;
  }
  if (!*k) return NULL;
  *leaf = k;
  return obj;
}

static ff_status ff__meta_set(ff_prof *p, const char *key, cJSON *item) {
  const char *leaf;
  cJSON *obj = item ? ff__meta_parent(p, key, &leaf) : NULL;
  if (!obj) {
    cJSON_Delete(item);
    FF_ERROR("cannot set run metadata '%s'", key);
    return FF_EINVAL;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(obj, leaf);
  cJSON_AddItemToObject(obj, leaf, item);
  return FF_OK;
}

ff_status ff_prof_meta_str(ff_prof *p, const char *key, const char *value) {
  return ff__meta_set(p, key, value ? cJSON_CreateString(value) : cJSON_CreateNull());
}
ff_status ff_prof_meta_int(ff_prof *p, const char *key, int64_t value) {
  return ff__meta_set(p, key, cJSON_CreateNumber((double)value));
}
ff_status ff_prof_meta_num(ff_prof *p, const char *key, double value) {
  return ff__meta_set(p, key, cJSON_CreateNumber(value));
}
ff_status ff_prof_meta_bool(ff_prof *p, const char *key, int value) {
  return ff__meta_set(p, key, cJSON_CreateBool(value));
}

/* ---- repetitions ---------------------------------------------------------------------------------- */

ff_status ff__prof_bind_thread(ff_prof *p, const char *thread_name, int has_stream) {
  snprintf(p->thread_name, sizeof p->thread_name, "%s", thread_name ? thread_name : "main");
  p->has_stream = has_stream;
  return FF_OK;
}

ff_status ff__prof_push_rep(ff_prof *p, const ff_prof_rep *rep, uint64_t t0, uint64_t t1) {
  if (p->n_reps == p->cap_reps) {
    size_t cap = p->cap_reps ? 2 * p->cap_reps : 16;
    ff_prof_rep *r = realloc(p->reps, cap * sizeof *r);
    if (!r) return FF_ENOMEM;
    p->reps = r;
    uint64_t *a = realloc(p->rep_t0, cap * sizeof *a);
    if (!a) return FF_ENOMEM;
    p->rep_t0 = a;
    uint64_t *b = realloc(p->rep_t1, cap * sizeof *b);
    if (!b) return FF_ENOMEM;
    p->rep_t1 = b;
    p->cap_reps = cap;
  }
  p->reps[p->n_reps] = *rep;
  p->rep_t0[p->n_reps] = t0;
  p->rep_t1[p->n_reps] = t1;
  p->n_reps++;
  return FF_OK;
}

/* The next trace event of this repetition, zeroed, or NULL (counted as dropped) when the buffer is full. */
static ff__trace_ev *ff__trace_next(ff_prof *p, int kind) {
  if (p->n_ev == p->cap_ev) {
    p->dropped++;
    return NULL;
  }
  ff__trace_ev *e = &p->ev[p->n_ev++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->rep = (int32_t)p->n_reps;
  return e;
}

/* A scope's slice (FF__EV_SCOPE, with its link counts) or its CUDA span (FF__EV_CUDA), unless cut by depth. */
static ff__trace_ev *ff__trace_slice(ff_prof *p, int kind, int32_t scope, int32_t layer, int32_t depth, uint64_t t0,
                                     uint64_t dur) {
  if (!p->trace || (p->trace_depth && depth >= p->trace_depth)) return NULL;
  ff__trace_ev *e = ff__trace_next(p, kind);
  if (!e) return NULL;
  e->scope = scope;
  e->layer = layer;
  e->depth = depth;
  e->t0 = t0;
  e->dur = dur;
  return e;
}

void ff__prof_trace_add(ff_prof *p, int32_t scope, int32_t layer, int32_t depth, uint64_t t0, uint64_t dur,
                        const ff_comm_delta *comm) {
  ff__trace_ev *e = ff__trace_slice(p, FF__EV_SCOPE, scope, layer, depth, t0, dur);
  if (e) e->comm = *comm;
}

void ff__prof_trace_msg(ff_prof *p, uint64_t t_end, const ff_comm_delta *d) {
  if (!p->trace) return;
  /* comm/ measured the time blocked inside the call; the message's slice is that interval (the
   * payload copy of a send that did not block is instantaneous). */
  ff__trace_ev *e = ff__trace_next(p, FF__EV_MSG);
  if (!e) return;
  e->scope = -1;
  e->layer = FF_NO_LAYER;
  e->depth = -1;
  e->dur = d->wait_ns <= t_end ? d->wait_ns : t_end;
  e->t0 = t_end - e->dur;
  e->comm = *d;
}

void ff__prof_trace_cuda(ff_prof *p, int32_t scope, int32_t layer, int32_t depth, uint64_t t0, uint64_t dur) {
  (void)ff__trace_slice(p, FF__EV_CUDA, scope, layer, depth, t0, dur);
}

size_t ff_prof_rep_count(const ff_prof *p) { return p->n_reps; }

const ff_prof_rep *ff_prof_rep_get(const ff_prof *p, size_t i) { return i < p->n_reps ? &p->reps[i] : NULL; }

const char *ff_prof_path(const ff_prof_rep *rep, size_t i, char *buf, size_t n) {
  /* Collect the chain from i to the top, then print it top-down. */
  int32_t chain[64];
  int len = 0;
  for (int32_t j = (int32_t)i; j >= 0 && len < 64; j = rep->nodes[j].parent) chain[len++] = j;
  size_t off = 0;
  buf[0] = 0;
  for (int k = len - 1; k >= 0 && off < n; k--) {
    const ff_prof_node *node = &rep->nodes[chain[k]];
    int w = node->layer >= 0 ? snprintf(buf + off, n - off, "%s%s[%d]", k == len - 1 ? "" : "/",
                                        ff_scope_name(node->scope), node->layer)
                             : snprintf(buf + off, n - off, "%s%s", k == len - 1 ? "" : "/", ff_scope_name(node->scope));
    if (w < 0) break;
    off += (size_t)w;
  }
  return buf;
}

int ff_prof_find(const ff_prof_rep *rep, const char *path) {
  char buf[1024];
  for (size_t i = 0; rep && i < rep->n_nodes; i++)
    if (strcmp(ff_prof_path(rep, i, buf, sizeof buf), path) == 0) return (int)i;
  return -1;
}

/* ---- writers -------------------------------------------------------------------------------------- */

static cJSON *ff__metrics(cJSON *o, uint64_t wall, uint64_t cuda, const ff_comm_delta *c) {
  cJSON_AddNumberToObject(o, "wall_ns", (double)wall);
  cJSON_AddNumberToObject(o, "cuda_ns", (double)cuda);
  cJSON_AddNumberToObject(o, "sent_B", (double)c->sent_B);
  cJSON_AddNumberToObject(o, "recv_B", (double)c->recv_B);
  cJSON_AddNumberToObject(o, "msgs", (double)c->msgs);
  cJSON_AddNumberToObject(o, "rounds", (double)c->rounds);
  cJSON_AddNumberToObject(o, "wait_ns", (double)c->wait_ns);
  return o;
}

static ff_status ff__write_json(cJSON *root, const char *path) {
  char *text = cJSON_Print(root);
  if (!text) return FF_ENOMEM;
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  ff_status st = FF_OK;
  if (!f) {
    FF_ERROR("cannot write %s: %s", tmp, strerror(errno));
    st = FF_EIO;
  } else {
    size_t len = strlen(text);
    int bad = fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
      FF_ERROR("cannot write %s: %s", path, strerror(errno));
      unlink(tmp);
      st = FF_EIO;
    }
  }
  free(text);
  return st;
}

static ff_status ff__mkdir_p(const char *dir) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return FF_EINVAL;
  for (char *s = buf + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) goto fail;
    *s = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST) goto fail;
  return FF_OK;
fail:
  FF_ERROR("cannot create directory %s: %s", buf, strerror(errno));
  return FF_EIO;
}

static ff_status ff__write_trace(ff_prof *p, const char *path) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return FF_ENOMEM;
  cJSON *evs = cJSON_AddArrayToObject(root, "traceEvents");
  cJSON_AddStringToObject(root, "displayTimeUnit", "ns");
  cJSON *other = cJSON_AddObjectToObject(root, "otherData");
  cJSON_AddStringToObject(other, "run_id", p->run_id);
  cJSON_AddNumberToObject(other, "party", p->party);
  cJSON_AddNumberToObject(other, "t0_ns", (double)p->t0_ns);
  cJSON_AddNumberToObject(other, "dropped", (double)p->dropped);
  cJSON_AddNumberToObject(other, "trace_depth", p->trace_depth);
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  cJSON_AddStringToObject(other, "host", host);
  char pname[32];
  snprintf(pname, sizeof pname, "P%d", p->party);
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "name", "process_name");
  cJSON_AddStringToObject(m, "ph", "M");
  cJSON_AddNumberToObject(m, "pid", p->party);
  cJSON_AddItemToObject(cJSON_AddObjectToObject(m, "args"), "name", cJSON_CreateString(pname));
  cJSON_AddItemToArray(evs, m);
  m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "name", "thread_name");
  cJSON_AddStringToObject(m, "ph", "M");
  cJSON_AddNumberToObject(m, "pid", p->party);
  cJSON_AddNumberToObject(m, "tid", 1);
  cJSON_AddItemToObject(cJSON_AddObjectToObject(m, "args"), "name", cJSON_CreateString(p->thread_name));
  cJSON_AddItemToArray(evs, m);
  for (size_t r = 0; r < p->n_reps; r++) {
    char name[32];
    snprintf(name, sizeof name, p->reps[r].warmup ? "warm-up %zu" : "rep %zu", r);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "cat", "repetition");
    cJSON_AddStringToObject(e, "ph", "X");
    cJSON_AddNumberToObject(e, "ts", (double)(p->rep_t0[r] - p->t0_ns) / 1e3);
    cJSON_AddNumberToObject(e, "dur", (double)(p->rep_t1[r] - p->rep_t0[r]) / 1e3);
    cJSON_AddNumberToObject(e, "pid", p->party);
    cJSON_AddNumberToObject(e, "tid", 1);
    cJSON_AddItemToArray(evs, e);
  }
  uint64_t n_sent = 0, n_recv = 0; /* per direction, in order: the k-th send meets the peer's k-th receive */
  int stream_named = 0;
  for (size_t i = 0; i < p->n_ev; i++) {
    const ff__trace_ev *v = &p->ev[i];
    if (v->kind == FF__EV_CUDA && !stream_named) { /* the stream's track, named once */
      char sname[96];
      snprintf(sname, sizeof sname, "%s: CUDA stream", p->thread_name);
      m = cJSON_CreateObject();
      cJSON_AddStringToObject(m, "name", "thread_name");
      cJSON_AddStringToObject(m, "ph", "M");
      cJSON_AddNumberToObject(m, "pid", p->party);
      cJSON_AddNumberToObject(m, "tid", 2);
      cJSON_AddItemToObject(cJSON_AddObjectToObject(m, "args"), "name", cJSON_CreateString(sname));
      cJSON_AddItemToArray(evs, m);
      stream_named = 1;
    }
    cJSON *e = cJSON_CreateObject();
    if (v->kind != FF__EV_MSG && v->scope >= 0) {
      cJSON_AddStringToObject(e, "name", ff_scope_name(v->scope));
      cJSON_AddStringToObject(e, "cat", ff_scope_family(v->scope));
    } else if (v->kind == FF__EV_CUDA) {
      char rname[32];
      snprintf(rname, sizeof rname, "rep %d", v->rep);
      cJSON_AddStringToObject(e, "name", rname);
      cJSON_AddStringToObject(e, "cat", "repetition");
    } else {
      cJSON_AddStringToObject(e, "name", v->comm.sent_B && v->comm.recv_B ? "exchange"
                                         : v->comm.sent_B                  ? "send"
                                                                           : "recv");
      cJSON_AddStringToObject(e, "cat", "message");
    }
    cJSON_AddStringToObject(e, "ph", "X");
    /* a stream span aligned before the recorder started (a busy stream) is clamped to its start */
    cJSON_AddNumberToObject(e, "ts", v->t0 > p->t0_ns ? (double)(v->t0 - p->t0_ns) / 1e3 : 0);
    cJSON_AddNumberToObject(e, "dur", (double)v->dur / 1e3);
    cJSON_AddNumberToObject(e, "pid", p->party);
    cJSON_AddNumberToObject(e, "tid", v->kind == FF__EV_CUDA ? 2 : 1);
    cJSON *args = cJSON_AddObjectToObject(e, "args");
    cJSON_AddNumberToObject(args, "rep", v->rep);
    if (v->kind != FF__EV_MSG && v->depth >= 0) cJSON_AddNumberToObject(args, "depth", v->depth);
    if (v->layer >= 0) cJSON_AddNumberToObject(args, "layer", v->layer);
    if (v->kind == FF__EV_CUDA) {
      cJSON_AddStringToObject(args, "clock", "CUDA events, aligned to the host at the repetition's start");
      cJSON_AddItemToArray(evs, e);
      continue;
    }
    cJSON_AddNumberToObject(args, "sent_B", (double)v->comm.sent_B);
    cJSON_AddNumberToObject(args, "recv_B", (double)v->comm.recv_B);
    cJSON_AddNumberToObject(args, "rounds", (double)v->comm.rounds);
    if (v->kind == FF__EV_MSG) {
      if (v->comm.sent_B) cJSON_AddNumberToObject(args, "send_seq", (double)n_sent++);
      if (v->comm.recv_B) cJSON_AddNumberToObject(args, "recv_seq", (double)n_recv++);
      cJSON_AddNumberToObject(args, "wait_ns", (double)v->comm.wait_ns);
    }
    cJSON_AddItemToArray(evs, e);
  }
  ff_status st = ff__write_json(root, path);
  cJSON_Delete(root);
  return st;
}

ff_status ff_prof_write(ff_prof *p, const char *dir, char *log_path, char *trace_path, size_t n) {
  ff_status st = ff__mkdir_p(dir);
  if (st) return st;
  char path[4096], tpath[4096];
  snprintf(path, sizeof path, "%s/prof_p%d.json", dir, p->party);
  snprintf(tpath, sizeof tpath, "%s/trace_p%d.json", dir, p->party);
  if (p->has_stream) {
    cJSON *timing = cJSON_GetObjectItemCaseSensitive(p->run, "timing");
    if (cJSON_IsObject(timing)) { /* FF_PROFILE_CUDA=off: a CUDA party that recorded wall time only */
      cJSON_DeleteItemFromObjectCaseSensitive(timing, "mode");
      cJSON_AddStringToObject(timing, "mode", ff_scope_cuda_spans() == FF_CUDA_SPANS_OFF ? "wall" : "wall+cuda");
      cJSON_DeleteItemFromObjectCaseSensitive(timing, "cuda_spans");
      cJSON_AddStringToObject(timing, "cuda_spans", ff_cuda_spans_name(ff_scope_cuda_spans()));
    }
  }

  cJSON *root = cJSON_CreateObject();
  if (!root) return FF_ENOMEM;
  cJSON_AddStringToObject(root, "schema", "fusefss.prof/1");
  cJSON_AddItemReferenceToObject(root, "run", p->run);
  cJSON *scopes = cJSON_AddArrayToObject(root, "scopes");
  int n_names = ff_scope_count();
  for (int i = 0; i < n_names; i++) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "name", ff_scope_name(i));
    cJSON_AddStringToObject(s, "family", ff_scope_family(i));
    cJSON_AddItemToArray(scopes, s);
  }
  cJSON *reps = cJSON_AddArrayToObject(root, "reps");
  for (size_t r = 0; r < p->n_reps; r++) {
    const ff_prof_rep *rep = &p->reps[r];
    cJSON *jr = cJSON_CreateObject();
    cJSON_AddNumberToObject(jr, "rep", (double)r);
    cJSON_AddBoolToObject(jr, "warmup", rep->warmup);
    ff__metrics(cJSON_AddObjectToObject(jr, "total"), rep->wall_ns, rep->cuda_ns, &rep->comm);
    cJSON *nodes = cJSON_AddArrayToObject(jr, "nodes");
    for (size_t i = 0; i < rep->n_nodes; i++) {
      const ff_prof_node *nd = &rep->nodes[i];
      cJSON *jn = cJSON_CreateObject();
      cJSON_AddNumberToObject(jn, "id", (double)i);
      cJSON_AddNumberToObject(jn, "parent", nd->parent);
      cJSON_AddNumberToObject(jn, "scope", nd->scope);
      cJSON_AddNumberToObject(jn, "layer", nd->layer);
      cJSON_AddNumberToObject(jn, "calls", (double)nd->calls);
      ff_comm_delta c = {nd->sent_B, nd->recv_B, nd->msgs, nd->rounds, nd->wait_ns};
      ff__metrics(jn, nd->wall_ns, nd->cuda_ns, &c);
      cJSON_AddItemToArray(nodes, jn);
    }
    cJSON_AddItemToArray(reps, jr);
  }
  if (p->trace) {
    cJSON *tr = cJSON_AddObjectToObject(root, "trace");
    const char *base = strrchr(tpath, '/');
    cJSON_AddStringToObject(tr, "file", base ? base + 1 : tpath);
    cJSON_AddNumberToObject(tr, "events", (double)p->n_ev);
    cJSON_AddNumberToObject(tr, "dropped", (double)p->dropped);
    if (p->dropped) FF_WARN("trace buffer full: %llu scope instances or messages were not traced", (unsigned long long)p->dropped);
  }
  st = ff__write_json(root, path);
  cJSON_Delete(root);
  if (!st && p->trace) st = ff__write_trace(p, tpath);
  if (!st && log_path) snprintf(log_path, n, "%s", path);
  if (!st && trace_path) snprintf(trace_path, n, "%s", p->trace ? tpath : "");
  return st;
}

/* ---- capture range for nsys -c cudaProfilerApi -------------------------------------------------------- */

#ifdef FF_HAVE_CUDA
#include <cuda_profiler_api.h>
void ff_prof_capture_start(void) { (void)cudaProfilerStart(); }
void ff_prof_capture_stop(void) { (void)cudaProfilerStop(); }
#else
void ff_prof_capture_start(void) {}
void ff_prof_capture_stop(void) {}
#endif
