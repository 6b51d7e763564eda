/* Scopes: every high-level operator runs inside FF_SCOPE("Name"), which records wall time, CUDA
 * stream span and an NVTX range, and receives the bytes, messages and rounds that comm/ charges to
 * the innermost open scope of the calling thread (DESIGN.md §5). Per thread, scopes form a
 * calling-context tree (CCT) keyed by (parent, name, layer); a recorder (ff_prof) snapshots that tree
 * once per repetition and writes prof_p<party>.json (schema fusefss.prof/1, docs/profiling.md).
 * Tests: tests/test_scope.c, tests/test_scope_cuda.c. */
#ifndef FF_SCOPE_SCOPE_H
#define FF_SCOPE_SCOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/cuda.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Names --------------------------------------------------------------------------------------
 * One registry of scope names, each with a family (the taxonomy of DESIGN.md §5 is built in; see
 * scope/names.c). Reports group by family; NVTX colours and categories follow the family. */

/* Id of a registered name, registering it on first use. Names outside the built-in taxonomy are
 * accepted and get the family given by their "Prefix::" if that prefix is a known family, else
 * "Other". Returns -1 only for NULL/empty names or when the registry is full (FF_SCOPE_MAX_NAMES). */
int ff_scope_id(const char *name);
/* Registers `name` with an explicit family (a tool's own scopes); returns its id, or -1 when the name
 * is already registered with a different family or the registry is full. */
int ff_scope_register(const char *name, const char *family);
const char *ff_scope_name(int id);
const char *ff_scope_family(int id);
/* The colour of a family as 0xAARRGGBB: the one table behind the NVTX ranges, the trace and the
 * figures (a family outside the taxonomy gets a fixed palette colour by its name). */
uint32_t ff_scope_family_argb(const char *family);
int ff_scope_count(void);

#define FF_SCOPE_MAX_NAMES 256
#define FF_NO_LAYER (-1)

/* ---- Opening scopes -----------------------------------------------------------------------------
 *   FF_SCOPE("Softmax");               closes at the end of the enclosing block, early return too
 *   FF_SCOPE_LAYER("Layer", i);        attaches layer index i (children inherit it for reports/NVTX)
 * The name is looked up once per call site (cached in a static). */
typedef struct {
  int depth; /* stack depth this frame was pushed at; -1 when profiling is off */
} ff__scope_frame;

ff__scope_frame ff__scope_enter(int *cached_id, const char *name, int layer);
void ff__scope_leave(ff__scope_frame *frame);

#define FF__SCOPE_CAT2(a, b) a##b
#define FF__SCOPE_CAT(a, b) FF__SCOPE_CAT2(a, b)
#define FF__SCOPE_AT(name, layer, n)                                                             \
  static int FF__SCOPE_CAT(ff__scope_id_, n) = -1;                                                \
  ff__scope_frame FF__SCOPE_CAT(ff__scope_frame_, n) __attribute__((cleanup(ff__scope_leave), unused)) = \
      ff__scope_enter(&FF__SCOPE_CAT(ff__scope_id_, n), (name), (layer))
#define FF_SCOPE(name) FF__SCOPE_AT(name, FF_NO_LAYER, __COUNTER__)
#define FF_SCOPE_LAYER(name, layer) FF__SCOPE_AT(name, layer, __COUNTER__)

/* Explicit enter/leave for code that cannot use a block (a scope opened in one function and closed
 * in another). Every ff_scope_begin must be matched by ff_scope_end on the same thread. */
ff__scope_frame ff_scope_begin(const char *name, int layer);
void ff_scope_end(ff__scope_frame frame);

/* Depth of the calling thread's open-scope stack (0 outside every scope). */
int ff_scope_depth(void);
/* The calling thread's open scopes as a path, "Forward/Layer[0]/Attention/Linear" (a layer index as
 * [i]), into buf (always NUL-terminated; "" outside every scope or with scopes off). Returns buf. */
const char *ff_scope_current_path(char *buf, size_t n);

/* ---- Communication accounting (called by comm/) ---------------------------------------------------
 * Adds to the calling thread's running counters; every open scope sees the delta in its inclusive
 * metrics when it closes. Counted even when scopes are switched off, so totals stay exact. */
typedef struct {
  uint64_t sent_B;  /* payload bytes sent */
  uint64_t recv_B;  /* payload bytes received */
  uint64_t msgs;    /* messages sent */
  uint64_t rounds;  /* rounds begun (see docs/profiling.md: a receive after a send of ours) */
  uint64_t wait_ns; /* time blocked in send/receive waiting for the peer or the link */
} ff_comm_delta;

void ff_scope_charge_comm(const ff_comm_delta *d);
/* The calling thread's running communication totals since it started. */
ff_comm_delta ff_scope_thread_comm(void);

/* ---- Run-time switches --------------------------------------------------------------------------
 * FF_PROFILE=0 in the environment (read once) or ff_scope_set_enabled(0) turns scope recording off:
 * FF_SCOPE then costs one branch; comm totals are still counted. */
void ff_scope_set_enabled(int on);
int ff_scope_enabled(void);
/* Which scopes of a thread bound to a CUDA stream record a CUDA event span (two cudaEventRecord).
 * OPS (default): every scope except those of the primitive families FSS, Comm and KeyTransfer
 * (Reconstruct, FSS::DPF, KeyTransfer, ...), whose stream time lands in the enclosing operator's
 * exclusive CUDA time; ALL: every scope; OFF: none, not even the repetition's (cuda_ns 0 everywhere: wall
 * time, bytes and rounds only, the least the profiler can cost a CUDA party). FF_PROFILE_CUDA=ops|all|off
 * in the environment (read once; another value warns and keeps ops) or ff_scope_set_cuda_spans. Logged as
 * run.timing.cuda_spans. */
typedef enum { FF_CUDA_SPANS_OPS, FF_CUDA_SPANS_ALL, FF_CUDA_SPANS_OFF } ff_cuda_spans;
void ff_scope_set_cuda_spans(ff_cuda_spans mode);
ff_cuda_spans ff_scope_cuda_spans(void);
const char *ff_cuda_spans_name(ff_cuda_spans mode);
/* 1 when this build emits NVTX ranges (FF_NVTX=ON and the nvtx3 headers were found). */
int ff_scope_nvtx_built(void);

/* Test hook: replaces the monotonic clock used by scopes and repetitions (NULL restores it). */
void ff_scope_set_clock(uint64_t (*now_ns)(void));

/* ---- The recorder ---------------------------------------------------------------------------------
 * One per party process. A thread attaches (naming itself for NVTX and binding the CUDA stream its
 * scopes are timed on), then brackets each repetition with ff_prof_rep_begin/end. The CCT persists
 * across repetitions; counters restart at each rep_begin; rep_end resolves the CUDA events of the
 * repetition (its only synchronisation) and snapshots the tree. */
typedef struct ff_prof ff_prof;

typedef struct {
  int party;              /* 0 or 1 (written into the log and the file name) */
  const char *run_id;     /* shared by both parties; NULL: generated (hex, 16 digits) */
  int trace;              /* also keep per-instance events for a Chrome trace (trace_p<party>.json) */
  size_t trace_capacity;  /* events kept before counting drops; 0: 1<<20 */
  int trace_depth;        /* keep scope instances opened at stack depth < trace_depth (0: all depths);
                             messages are always kept (they carry the send -> receive flows) */
} ff_prof_opts;

typedef struct {
  int32_t parent;         /* index of the parent node, -1 at the top */
  int32_t scope;          /* name id */
  int32_t layer;          /* the layer given when the scope was opened, FF_NO_LAYER if none */
  uint64_t calls;
  uint64_t wall_ns;       /* inclusive */
  uint64_t cuda_ns;       /* inclusive CUDA stream span (0 without a stream) */
  uint64_t sent_B, recv_B, msgs, rounds, wait_ns; /* inclusive */
} ff_prof_node;

typedef struct {
  int warmup;             /* excluded from statistics by the tools */
  uint64_t wall_ns;       /* rep_begin to rep_end */
  uint64_t cuda_ns;       /* span of the stream over the repetition (0 without a stream) */
  ff_comm_delta comm;     /* everything the thread sent/received during the repetition */
  size_t n_nodes;
  ff_prof_node *nodes;    /* (n_nodes) in creation order; parents precede children */
} ff_prof_rep;

ff_status ff_prof_create(ff_prof **out, const ff_prof_opts *opts);
void ff_prof_destroy(ff_prof *p);
const char *ff_prof_run_id(const ff_prof *p);
int ff_prof_party(const ff_prof *p);

/* Run metadata (the "run" object of the log): strings, integers and numbers under a key; a key
 * containing a dot ("workload.model") goes into a nested object. Setting a key again replaces it. */
ff_status ff_prof_meta_str(ff_prof *p, const char *key, const char *value);
ff_status ff_prof_meta_int(ff_prof *p, const char *key, int64_t value);
ff_status ff_prof_meta_num(ff_prof *p, const char *key, double value);
ff_status ff_prof_meta_bool(ff_prof *p, const char *key, int value);

/* Binds the calling thread to p: NVTX/pthread thread name, and the stream on which scope spans are
 * recorded (NULL: wall time only). Resets the thread's tree. */
ff_status ff_prof_thread_attach(ff_prof *p, const char *thread_name, ff_stream *stream);
void ff_prof_thread_detach(void);

ff_status ff_prof_rep_begin(ff_prof *p, int warmup);
/* Fails with FF_ESTATE if a scope is still open or no repetition was begun. */
ff_status ff_prof_rep_end(ff_prof *p);

size_t ff_prof_rep_count(const ff_prof *p);
const ff_prof_rep *ff_prof_rep_get(const ff_prof *p, size_t i);
/* Index of the node at `path` ("Forward/Layer[0]/Linear") in a repetition, or -1. */
int ff_prof_find(const ff_prof_rep *rep, const char *path);
/* The path of node i of a repetition into buf; returns buf. */
const char *ff_prof_path(const ff_prof_rep *rep, size_t i, char *buf, size_t n);

/* Writes prof_p<party>.json (and trace_p<party>.json when tracing) into dir, creating it. The file
 * names written are returned in log_path/trace_path when those are not NULL (n bytes each). */
ff_status ff_prof_write(ff_prof *p, const char *dir, char *log_path, char *trace_path, size_t n);

/* Wraps the online phase for `nsys profile -c cudaProfilerApi` (no-ops without CUDA). */
void ff_prof_capture_start(void);
void ff_prof_capture_stop(void);

#ifdef __cplusplus
}
#endif

#endif
