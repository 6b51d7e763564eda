/* Scopes and the recorder (DESIGN.md §5): a per-thread stack of open scopes over a calling-context
 * tree, inclusive metrics by snapshot-and-delta (wall clock, the thread's running comm counters,
 * CUDA event pairs), and per-repetition snapshots of the tree. The thread-local state here is the one
 * piece of thread-local state in fusefss, by design. Test: tests/test_scope.c. */
#include "scope/scope_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/time.h"
#include "scope/prof_internal.h"

#define FF__MAX_DEPTH 64

typedef struct {
  int32_t parent, first_child, next_sibling;
  int32_t scope, layer;
  uint64_t calls, wall_ns, cuda_ns;
  ff_comm_delta comm;
} ff__node;

typedef struct {
  int32_t node;
  int32_t eff_layer; /* explicit or inherited layer, for NVTX and traces */
  int pair;          /* CUDA event pair, -1 if none */
  uint64_t t0;
  ff_comm_delta c0;
} ff__frame;

typedef struct {
  ff__node *nodes;
  size_t n_nodes, cap_nodes;
  int32_t first_top; /* first top-level node, -1 if none */
  ff__frame stack[FF__MAX_DEPTH];
  int depth;
  int overflow_warned;
  ff_comm_delta comm; /* running totals since the thread started */
  ff_prof *prof;      /* attached recorder, NULL if none */
  ff__spans *spans;   /* CUDA spans on the attached stream, NULL if none */
  int in_rep, rep_warmup, rep_pair;
  uint64_t rep_t0;
  ff_comm_delta rep_c0;
  uint64_t rep_cuda_ns;
} ff__thread;

static _Thread_local ff__thread *ff__tls;
static pthread_key_t ff__tls_key; /* frees a thread's state when the thread exits */
static pthread_once_t ff__tls_once = PTHREAD_ONCE_INIT;
static int ff__enabled = -1; /* -1: not yet read from FF_PROFILE */
static int ff__cuda_spans = -1; /* -1: not yet read from FF_PROFILE_CUDA */
static uint64_t (*ff__clock)(void) = ff_now_ns;

/* ---- switches ----------------------------------------------------------------------------------- */

int ff_scope_enabled(void) {
  int e = __atomic_load_n(&ff__enabled, __ATOMIC_RELAXED);
  if (e < 0) {
    const char *s = getenv("FF_PROFILE");
    e = !(s && strcmp(s, "0") == 0);
    __atomic_store_n(&ff__enabled, e, __ATOMIC_RELAXED);
  }
  return e;
}

void ff_scope_set_enabled(int on) { __atomic_store_n(&ff__enabled, on ? 1 : 0, __ATOMIC_RELAXED); }

ff_cuda_spans ff_scope_cuda_spans(void) {
  int m = __atomic_load_n(&ff__cuda_spans, __ATOMIC_RELAXED);
  if (m < 0) {
    const char *s = getenv("FF_PROFILE_CUDA");
    m = FF_CUDA_SPANS_OPS;
    if (s && strcmp(s, "all") == 0)
      m = FF_CUDA_SPANS_ALL;
    else if (s && strcmp(s, "off") == 0)
      m = FF_CUDA_SPANS_OFF;
    else if (s && *s && strcmp(s, "ops") != 0)
      FF_WARN("FF_PROFILE_CUDA=%s is not ops, all or off; CUDA event spans stay at operator granularity (ops)", s);
    __atomic_store_n(&ff__cuda_spans, m, __ATOMIC_RELAXED);
  }
  return (ff_cuda_spans)m;
}

void ff_scope_set_cuda_spans(ff_cuda_spans mode) {
  const int m = mode == FF_CUDA_SPANS_ALL || mode == FF_CUDA_SPANS_OFF ? (int)mode : FF_CUDA_SPANS_OPS;
  __atomic_store_n(&ff__cuda_spans, m, __ATOMIC_RELAXED);
}

const char *ff_cuda_spans_name(ff_cuda_spans mode) {
  return mode == FF_CUDA_SPANS_ALL ? "all" : mode == FF_CUDA_SPANS_OFF ? "off" : "ops";
}

void ff_scope_set_clock(uint64_t (*now_ns)(void)) { ff__clock = now_ns ? now_ns : ff_now_ns; }

/* ---- thread state --------------------------------------------------------------------------------- */

static void ff__thread_free(void *arg) {
  ff__thread *t = arg;
  if (!t) return;
  ff__spans_destroy(t->spans);
  free(t->nodes);
  free(t);
}

static void ff__tls_key_init(void) { pthread_key_create(&ff__tls_key, ff__thread_free); }

static ff__thread *ff__thread_get(void) {
  if (ff__tls) return ff__tls;
  ff__thread *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->first_top = -1;
  pthread_once(&ff__tls_once, ff__tls_key_init);
  pthread_setspecific(ff__tls_key, t);
  ff__tls = t;
  return t;
}

static void ff__tree_reset(ff__thread *t) {
  free(t->nodes);
  t->nodes = NULL;
  t->n_nodes = t->cap_nodes = 0;
  t->first_top = -1;
}

/* Finds or creates the child of `parent` (-1: top level) keyed by (scope, layer). */
static int32_t ff__child(ff__thread *t, int32_t parent, int32_t scope, int32_t layer) {
  int32_t c = parent >= 0 ? t->nodes[parent].first_child : t->first_top;
  int32_t last = -1;
  for (; c >= 0; last = c, c = t->nodes[c].next_sibling)
    if (t->nodes[c].scope == scope && t->nodes[c].layer == layer) return c;
  if (t->n_nodes == t->cap_nodes) {
    size_t cap = t->cap_nodes ? 2 * t->cap_nodes : 64;
    ff__node *n = realloc(t->nodes, cap * sizeof *n);
    if (!n) return -1;
    t->nodes = n;
    t->cap_nodes = cap;
  }
  int32_t id = (int32_t)t->n_nodes++;
  ff__node *n = &t->nodes[id];
  memset(n, 0, sizeof *n);
  n->parent = parent;
  n->first_child = n->next_sibling = -1;
  n->scope = scope;
  n->layer = layer;
  if (last >= 0)
    t->nodes[last].next_sibling = id;
  else if (parent >= 0)
    t->nodes[parent].first_child = id;
  else
    t->first_top = id;
  return id;
}

static inline void ff__comm_add(ff_comm_delta *acc, const ff_comm_delta *now, const ff_comm_delta *then) {
  acc->sent_B += now->sent_B - then->sent_B;
  acc->recv_B += now->recv_B - then->recv_B;
  acc->msgs += now->msgs - then->msgs;
  acc->rounds += now->rounds - then->rounds;
  acc->wait_ns += now->wait_ns - then->wait_ns;
}

/* ---- scopes --------------------------------------------------------------------------------------- */

ff__scope_frame ff__scope_enter(int *cached_id, const char *name, int layer) {
  ff__scope_frame f = {-1};
  if (!ff_scope_enabled()) return f;
  int id = __atomic_load_n(cached_id, __ATOMIC_RELAXED);
  if (id < 0) {
    id = ff_scope_id(name);
    if (id < 0) return f;
    __atomic_store_n(cached_id, id, __ATOMIC_RELAXED);
  }
  ff__thread *t = ff__thread_get();
  if (!t) return f;
  if (t->depth == FF__MAX_DEPTH) {
    if (!t->overflow_warned) FF_WARN("scopes nested deeper than %d are not recorded ('%s')", FF__MAX_DEPTH, name);
    t->overflow_warned = 1;
    return f;
  }
  int32_t parent = t->depth ? t->stack[t->depth - 1].node : -1;
  int32_t node = ff__child(t, parent, id, layer);
  if (node < 0) return f;
  ff__frame *fr = &t->stack[t->depth];
  fr->node = node;
  fr->eff_layer = layer >= 0 ? layer : (t->depth ? t->stack[t->depth - 1].eff_layer : FF_NO_LAYER);
  fr->c0 = t->comm;
  /* CUDA spans only inside a repetition: rep_begin zeroes the counters and only rep_end resolves
   * spans, so one recorded between repetitions would land in the next repetition's node. */
  fr->pair = t->spans && t->in_rep && ff__scope_wants_span(id) ? ff__spans_begin(t->spans) : -1;
  ff__nvtx_push(id, fr->eff_layer);
  f.depth = t->depth++;
  fr->t0 = ff__clock(); /* last, so that the bookkeeping above is not billed to the scope */
  return f;
}

void ff__scope_leave(ff__scope_frame *frame) {
  if (frame->depth < 0) return;
  uint64_t t1 = ff__clock();
  ff__thread *t = ff__tls;
  if (!t || frame->depth >= t->depth) return; /* already closed by an outer mismatch repair */
  if (t->depth != frame->depth + 1)
    FF_ERROR("scope '%s' closed while %d inner scope(s) were still open; closing them too",
             ff_scope_name(t->nodes[t->stack[frame->depth].node].scope), t->depth - frame->depth - 1);
  while (t->depth > frame->depth) {
    ff__frame *fr = &t->stack[t->depth - 1];
    ff__node *n = &t->nodes[fr->node];
    n->calls++;
    n->wall_ns += t1 - fr->t0;
    ff__comm_add(&n->comm, &t->comm, &fr->c0);
    if (fr->pair >= 0) ff__spans_end(t->spans, fr->pair, fr->node);
    ff__nvtx_pop();
    if (t->prof && t->in_rep) {
      ff_comm_delta d = {0};
      ff__comm_add(&d, &t->comm, &fr->c0);
      ff__prof_trace_add(t->prof, n->scope, fr->eff_layer, t->depth - 1, fr->t0, t1 - fr->t0, &d);
    }
    t->depth--;
  }
}

ff__scope_frame ff_scope_begin(const char *name, int layer) {
  int id = -1; /* no call-site cache: looked up each time */
  return ff__scope_enter(&id, name, layer);
}

void ff_scope_end(ff__scope_frame frame) { ff__scope_leave(&frame); }

int ff_scope_depth(void) { return ff__tls ? ff__tls->depth : 0; }

const char *ff_scope_current_path(char *buf, size_t n) {
  size_t len = 0;
  if (!n) return buf;
  buf[0] = '\0';
  for (int i = 0; ff__tls && i < ff__tls->depth && len + 1 < n; i++) {
    const ff__node *nd = &ff__tls->nodes[ff__tls->stack[i].node];
    int w = nd->layer >= 0 ? snprintf(buf + len, n - len, "%s%s[%d]", i ? "/" : "", ff_scope_name(nd->scope), nd->layer)
                           : snprintf(buf + len, n - len, "%s%s", i ? "/" : "", ff_scope_name(nd->scope));
    if (w < 0) break;
    len += (size_t)w < n - len ? (size_t)w : n - len - 1;
  }
  return buf;
}

void ff_scope_charge_comm(const ff_comm_delta *d) {
  ff__thread *t = ff__thread_get();
  if (!t) return;
  t->comm.sent_B += d->sent_B;
  t->comm.recv_B += d->recv_B;
  t->comm.msgs += d->msgs;
  t->comm.rounds += d->rounds;
  t->comm.wait_ns += d->wait_ns;
  if (t->prof && t->in_rep && (d->sent_B || d->recv_B)) ff__prof_trace_msg(t->prof, ff__clock(), d);
}

ff_comm_delta ff_scope_thread_comm(void) {
  ff_comm_delta z = {0};
  return ff__tls ? ff__tls->comm : z;
}

/* ---- attaching a thread to a recorder --------------------------------------------------------------- */

ff_status ff_prof_thread_attach(ff_prof *p, const char *thread_name, ff_stream *stream) {
  ff__thread *t = ff__thread_get();
  if (!t) return FF_ENOMEM;
  if (t->depth) {
    FF_ERROR("ff_prof_thread_attach called inside an open scope");
    return FF_ESTATE;
  }
  ff__spans_destroy(t->spans);
  t->spans = NULL;
  ff__tree_reset(t);
  t->prof = p;
  t->in_rep = 0;
  if (stream) {
    ff_status st = ff__spans_create(&t->spans, stream);
    if (st) return st;
  }
  if (thread_name) {
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", thread_name);
    pthread_setname_np(pthread_self(), short_name);
    ff__nvtx_name_thread((uint32_t)syscall(SYS_gettid), thread_name);
  }
  return ff__prof_bind_thread(p, thread_name, stream != NULL);
}

void ff_prof_thread_detach(void) {
  ff__thread *t = ff__tls;
  if (!t) return;
  pthread_setspecific(ff__tls_key, NULL);
  ff__thread_free(t);
  ff__tls = NULL;
}

/* ---- repetitions ---------------------------------------------------------------------------------- */

ff_status ff_prof_rep_begin(ff_prof *p, int warmup) {
  ff__thread *t = ff__thread_get();
  if (!t || t->prof != p) {
    FF_ERROR("ff_prof_rep_begin: the calling thread is not attached to this recorder");
    return FF_ESTATE;
  }
  if (t->in_rep || t->depth) {
    FF_ERROR("ff_prof_rep_begin: a repetition or a scope is still open");
    return FF_ESTATE;
  }
  for (size_t i = 0; i < t->n_nodes; i++) {
    ff__node *n = &t->nodes[i];
    n->calls = n->wall_ns = n->cuda_ns = 0;
    memset(&n->comm, 0, sizeof n->comm);
  }
  t->in_rep = 1;
  t->rep_warmup = warmup;
  t->rep_cuda_ns = 0;
  t->rep_c0 = t->comm;
  t->rep_pair = t->spans && ff_scope_cuda_spans() != FF_CUDA_SPANS_OFF ? ff__spans_begin(t->spans) : -1;
  t->rep_t0 = ff__clock();
  return FF_OK;
}

static void ff__add_cuda(void *arg, int32_t node, uint64_t ns, uint64_t start_ns) {
  ff__thread *t = arg;
  if (node >= 0)
    t->nodes[node].cuda_ns += ns;
  else
    t->rep_cuda_ns += ns;
  if (!t->prof) return;
  /* The trace's stream track: the first pair of a repetition is the repetition's own, recorded just
   * before rep_t0 was read, so the stream's timeline is placed on the host clock there (a stream that
   * was still busy then shifts every span of the repetition by that lag). */
  int32_t depth = -1, layer = FF_NO_LAYER;
  for (int32_t j = node; j >= 0; j = t->nodes[j].parent) {
    depth++;
    if (layer == FF_NO_LAYER) layer = t->nodes[j].layer;
  }
  ff__prof_trace_cuda(t->prof, node >= 0 ? t->nodes[node].scope : -1, layer, depth, t->rep_t0 + start_ns, ns);
}

ff_status ff_prof_rep_end(ff_prof *p) {
  uint64_t t1 = ff__clock();
  ff__thread *t = ff__tls;
  if (!t || t->prof != p || !t->in_rep) {
    FF_ERROR("ff_prof_rep_end without ff_prof_rep_begin on this thread");
    return FF_ESTATE;
  }
  if (t->depth) {
    FF_ERROR("ff_prof_rep_end while scope '%s' is still open", ff_scope_name(t->nodes[t->stack[t->depth - 1].node].scope));
    return FF_ESTATE;
  }
  t->in_rep = 0;
  if (t->rep_pair >= 0) ff__spans_end(t->spans, t->rep_pair, -1);
  ff_status st = t->spans ? ff__spans_resolve(t->spans, ff__add_cuda, t) : FF_OK;
  if (st) return st;

  ff_prof_rep rep = {0};
  rep.warmup = t->rep_warmup;
  rep.wall_ns = t1 - t->rep_t0;
  rep.cuda_ns = t->rep_cuda_ns;
  ff__comm_add(&rep.comm, &t->comm, &t->rep_c0);
  rep.n_nodes = t->n_nodes;
  rep.nodes = calloc(t->n_nodes ? t->n_nodes : 1, sizeof *rep.nodes);
  if (!rep.nodes) return FF_ENOMEM;
  for (size_t i = 0; i < t->n_nodes; i++) {
    const ff__node *n = &t->nodes[i];
    ff_prof_node *o = &rep.nodes[i];
    o->parent = n->parent;
    o->scope = n->scope;
    o->layer = n->layer;
    o->calls = n->calls;
    o->wall_ns = n->wall_ns;
    o->cuda_ns = n->cuda_ns;
    o->sent_B = n->comm.sent_B;
    o->recv_B = n->comm.recv_B;
    o->msgs = n->comm.msgs;
    o->rounds = n->comm.rounds;
    o->wait_ns = n->comm.wait_ns;
  }
  st = ff__prof_push_rep(p, &rep, t->rep_t0, t1);
  if (st) free(rep.nodes);
  return st;
}

uint64_t ff__scope_clock(void) { return ff__clock(); }
