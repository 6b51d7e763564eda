/* Between the scope stack (scope.c) and the recorder (prof.c). Internal to scope/. */
#ifndef FF_SCOPE_PROF_INTERNAL_H
#define FF_SCOPE_PROF_INTERNAL_H

#include "scope/scope.h"

ff_status ff__prof_bind_thread(ff_prof *p, const char *thread_name, int has_stream);
/* Takes ownership of rep->nodes on success. t0/t1: the repetition's clock readings. */
ff_status ff__prof_push_rep(ff_prof *p, const ff_prof_rep *rep, uint64_t t0, uint64_t t1);
/* One scope instance for the Chrome trace, opened at stack depth `depth` (0: outermost); ignored
 * unless tracing, and kept only above the recorder's trace depth. */
void ff__prof_trace_add(ff_prof *p, int32_t scope, int32_t layer, int32_t depth, uint64_t t0, uint64_t dur,
                        const ff_comm_delta *comm);
/* One message (a send, a receive or an exchange, as charged by comm/) that ended at t_end, for the
 * trace's flow arrows; ignored unless tracing. */
void ff__prof_trace_msg(ff_prof *p, uint64_t t_end, const ff_comm_delta *d);
/* One CUDA stream span for the trace's stream track: a scope instance (scope >= 0) or the repetition
 * (scope < 0), from t0 (host clock, aligned at the repetition's first event) for dur ns; ignored
 * unless tracing, and kept only above the trace depth. */
void ff__prof_trace_cuda(ff_prof *p, int32_t scope, int32_t layer, int32_t depth, uint64_t t0, uint64_t dur);
uint64_t ff__scope_clock(void);

#endif
