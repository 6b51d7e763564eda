/* Internal interfaces between the files of scope/: NVTX calls (names.c) and CUDA event spans
 * (cuda_span.c). Not installed, not used outside scope/. */
#ifndef FF_SCOPE_INTERNAL_H
#define FF_SCOPE_INTERNAL_H

#include <stdint.h>

#include "scope/scope.h"

void ff__nvtx_push(int id, int layer);
/* Whether a scope of this name records a CUDA event span (ff_scope_cuda_spans and its family). */
int ff__scope_wants_span(int id);
void ff__nvtx_pop(void);
void ff__nvtx_name_thread(uint32_t tid, const char *name);

/* CUDA event spans: pairs of pooled timing events recorded on one stream, resolved together once
 * per repetition (the only synchronisation). Without CUDA, create fails with FF_ENOTSUP. */
typedef struct ff__spans ff__spans;
ff_status ff__spans_create(ff__spans **out, ff_stream *stream);
void ff__spans_destroy(ff__spans *s);
/* Records a start event; returns the pair's index, or -1 if an event could not be recorded. */
int ff__spans_begin(ff__spans *s);
/* Records the pair's end event and remembers which node (or -1 for the repetition) it belongs to. */
void ff__spans_end(ff__spans *s, int pair, int32_t node);
/* Waits for the last recorded event, then calls add(arg, node, ns, start_ns) for every closed pair
 * (start_ns: its start event after the first pair's start event, on the stream's timeline) and
 * forgets them. */
ff_status ff__spans_resolve(ff__spans *s, void (*add)(void *arg, int32_t node, uint64_t ns, uint64_t start_ns),
                            void *arg);

#endif
