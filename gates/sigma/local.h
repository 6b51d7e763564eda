/* A local two-party run of one sigma graph (DESIGN.md §2 "One model graph, two roles"): the dealer on
 * the parties' backend into memory key streams (on CUDA the dealer makes its tree keys on the GPU, the
 * same bytes as on the CPU: gates/sigma/op.h), then both parties in two threads of this process over
 * ff_chan_mem_pair, timed, for `fusefss bench gate` (tools/bench_gate.c). Test: tests/test_bench_gate.c.
 *
 * Repetitions. Keys are made ONCE (keygen is timed once); each of the `reps` party repetitions opens
 * fresh readers over the same stream images (ff_keystream_open_mem copies nothing) and a fresh
 * ff_op, so every repetition reads and evaluates exactly the same key bytes from the start. Reusing
 * masks is fine for timing and costs (the work and the traffic do not depend on the masks' values)
 * and is what a benchmark wants, but never for real inference. Times are medians over the
 * repetitions, per party; costs are the same in every repetition (checked: FF_EMISMATCH otherwise).
 *
 * Timing. A party's evaluation time runs from a channel barrier (after its context, stream reader and
 * op exist) to the graph's return, inputs and outputs included. The time of the gate alone is what
 * the graph brackets with ff_sigma_local_gate_begin / _end (on a CUDA party _end first waits for
 * the party's stream, so the time covers the gate's kernels).
 *
 * Profiling. With prof_dir set, each party thread records its scopes (DESIGN.md §5) in its own ff_prof
 * (party 0/1, one run id per call, tool "bench gate", run.workload.{gate, shape}, run.backend), with its
 * CUDA stream attached on a CUDA party; one extra repetition runs first as the warm-up (flagged, kept
 * out of the medians and of the tools' statistics); each repetition is bracketed from the barrier to
 * the end of the graph (as eval_s); prof_p0.json and prof_p1.json go into prof_dir (created). Merge
 * them with ff_merge_logs (tools/merge.h). The logs record run.keys.placement ("stream" / "preload").
 *
 * Key placement. With FF_KEYS_PRELOAD each repetition's party calls ff_op_preload_keys on its fresh
 * op BEFORE the barrier, so eval_s and gate_s exclude it; its time (host read, CRCs, and on CUDA the
 * upload and its wait) is reported separately as preload_s (median). It runs outside the profile's
 * repetition brackets, so the profiles do not contain it. */
#ifndef FF_GATES_SIGMA_LOCAL_H
#define FF_GATES_SIGMA_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int bw, scale;      /* the op's ring bits and fixed-point scale */
  ff_backend backend; /* the parties' backend, and the dealer's when a GPU is usable (else the CPU's) */
  int reps;           /* party repetitions, >= 1 */
  uint64_t seed;      /* the dealer's mask seed; 0: OS randomness */
  const char *prof_dir;   /* per-party scope logs into this directory (see Profiling); NULL: off */
  const char *prof_gate;  /* run.workload.gate of the logs ("gelu"); NULL: "-" */
  const char *prof_shape; /* run.workload.shape of the logs ("8x3072"); NULL: "-" */
  ff_op_key_placement keys; /* the parties' key placement (op.h): FF_KEYS_STREAM (0, the default) or
                               FF_KEYS_PRELOAD (see Key placement) */
} ff_sigma_local_opts;

/* One role's run of the graph, handed to the graph (opaque): the gate's time and costs, the output. */
typedef struct ff_sigma_local_rec ff_sigma_local_rec;

/* The graph: the same calls in every role (ff_op_get_role tells which). It brackets the gate (or
 * gates: the brackets add up) with begin/end and may reveal one wire with ff_sigma_local_output. It
 * frees its own wires. */
typedef ff_status (*ff_sigma_local_graph)(ff_op *op, void *arg, ff_sigma_local_rec *rec);

void ff_sigma_local_gate_begin(ff_sigma_local_rec *rec);
/* Adds the time and the ff_op_cost difference since begin; FF_ESTATE without a begin. On CUDA it
 * waits for the party's stream first (its error, if any). */
ff_status ff_sigma_local_gate_end(ff_sigma_local_rec *rec);
/* ff_op_output of y (revealed to P1) into the result's out (P1's values; the last repetition's). */
ff_status ff_sigma_local_output(ff_sigma_local_rec *rec, const ff_wire *y);

typedef struct {
  /* Dealer (once, CPU). */
  double keygen_s;            /* the whole graph, from op creation to the finished streams */
  double keygen_gate_s;       /* the gate alone */
  ff_gate_cost keygen_gate[2];/* the gate alone: key bytes written for party p (other fields 0) */
  uint64_t key_bytes[2];      /* party p's stream: key bytes of the whole graph (tags excluded) */
  uint64_t tag_bytes[2];      /* party p's stream: op tags (ff_op_tag_bytes) */
  /* Parties (medians over reps). ENOTSUP from a backend leaves these zero. */
  int reps;
  double eval_s[2];           /* party p: barrier to the graph's end */
  double gate_s[2];           /* party p: the gate alone */
  ff_gate_cost gate[2];       /* party p's own measured cost of the gate alone */
  ff_gate_cost total[2];      /* party p's own measured cost of the whole graph */
  double preload_s[2];        /* party p: ff_op_preload_keys (FF_KEYS_PRELOAD; 0 with FF_KEYS_STREAM) */
  /* Cost-only run: both parties' cost functions, for the gate alone and the whole graph. */
  ff_gate_cost cost_gate[2], cost_total[2];
  /* P1's revealed output (ff_sigma_local_output), NULL when the graph revealed nothing. */
  uint64_t *out;
  size_t n_out;
  int out_bw;
} ff_sigma_local_result;

/* Runs dealer, parties (o->reps times) and cost-only; *res is zeroed first and filled as far as the
 * run got (free it with ff_sigma_local_result_free in every case). FF_EINVAL for bad options;
 * FF_ENOTSUP when a party's backend (or a gate on it) is not available: the dealer and cost-only
 * fields are then valid; otherwise the first error of the dealer, a party or cost-only, logged with
 * the role that met it. */
ff_status ff_sigma_run_local(const ff_sigma_local_opts *o, ff_sigma_local_graph graph, void *arg,
                             ff_sigma_local_result *res);
void ff_sigma_local_result_free(ff_sigma_local_result *res);

#ifdef __cplusplus
}
#endif

#endif
