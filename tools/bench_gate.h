/* `fusefss bench gate`: each gate alone at BERT-base sizes, dealer and both parties in one process
 * (gates/sigma/local.h), on the CPU and CUDA (tools/bench_gate.c): --suite sigma, every sigma gate;
 * --suite suf and both, the gates the suf suite changes (gates/suf), each run, checked against its cost
 * function and its emulation, and measured against the float function. Test: tests/test_bench_gate.c. */
#ifndef FF_TOOLS_BENCH_GATE_H
#define FF_TOOLS_BENCH_GATE_H

#include <stddef.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"
#include "gates/suf/spec.h"

int ff_cmd_bench_gate(int argc, char **argv);

/* One row of `--suite suf` / `--suite both`: gate `gate` (gelu, silu, nexp, softmax, layernorm) of one
 * suite on one backend. With suf = 1 it is the suf suite's gate under the knobs cfg (NULL: the defaults),
 * or sigma's when the knobs' switch for it is off (SUF_ACTIVATION, SUF_SOFTMAX, SUF_LAYERNORM). */
typedef struct {
  const char *gate;
  int suf;
  const ff_suf_config *cfg;
  ff_backend backend;
  int reps;                 /* party repetitions, median time reported */
  int small;                /* rows / 16 */
  ff_op_key_placement keys;
  const char *prof_dir;     /* both parties' scope logs into this directory; NULL: none */
} ff_bench_gate_opts;

typedef struct {
  char shape[48];
  char spec[160];           /* what ran: the specification's parameters or SIGMA's */
  int bw_in, bw;            /* the gate's input ring and output ring */
  size_t n_out;             /* output elements (per-element figures divide by this) */
  int is_suf;               /* the suf gate ran (0: sigma's) */
  int ran;                  /* 0: the backend lacks the gate (FF_ENOTSUP): no times, errors or output */
  double keygen_ms;         /* the dealer, the gate alone */
  double party_ms;          /* the gate alone, median over the repetitions, max over the parties */
  double preload_ms;        /* FF_KEYS_PRELOAD: the key load, median, max over the parties */
  ff_gate_cost cost;        /* max over the parties: measured when ran, else the cost-only run */
  ff_gate_cost want;        /* the cost function (ff_suf_cost, ff_sigma_*_cost) */
  int cost_ok;              /* every party's measured and counted cost, and the dealer's key bytes, == want
                               (the padding ablation: key bytes == the exact figure for nowrap elements) */
  long nowrap;              /* --insecure-no-padding: elements whose rotation did not wrap (their keys are one
                               DCF shorter), solved from the dealer's key bytes (also in spec); -1 otherwise */
  size_t mismatches;        /* P1's outputs that differ from the fixed-point emulation */
  double max_err, mean_err; /* |y - f(x)| over the gate's outputs, y read at scale 12, f in double */
  double bound;             /* the specification's stated bound on that error (suf gates), else -1 */
} ff_bench_gate_row;

/* Builds the gate's inputs (fixed seeds: both suites and both backends see the same values), runs it
 * through ff_sigma_run_local and fills *row. FF_OK also when the backend lacks the gate (row->ran = 0)
 * and when a check fails (cost_ok = 0, mismatches > 0: the caller decides); FF_EINVAL for an unknown
 * gate or knobs that give no specification; otherwise the runner's error. */
ff_status ff_bench_gate_run(const ff_bench_gate_opts *o, ff_bench_gate_row *row);

#endif
