/* `fusefss amdahl`: reconciles per-gate speedups with the end-to-end speedup of two merged runs
 * (base, e.g. sigma; candidate, e.g. suf) by per-component Amdahl's law, and explains the residual.
 * Also the microbenchmark file fusefss.micro/1 (docs/tools.md). DESIGN.md §6; research/profiling.md §6.
 * Test: tests/test_amdahl.c. */
#ifndef FF_TOOLS_AMDAHL_H
#define FF_TOOLS_AMDAHL_H

#include <stddef.h>

#include "core/status.h"
#include "tools/breakdown.h"

#define FF_MICRO_SCHEMA "fusefss.micro/1"

typedef struct {
  char *gate;        /* "GELU" */
  char *family;      /* "Activation" */
  char *scope;       /* "Activation::GELU": the scope whose base-run time weighs this gate */
  double s_median, s_p25, s_p75; /* speedup = base time / candidate time */
  double base_median_ns, cand_median_ns; /* 0 when absent */
} ff_micro_gate;

typedef struct {
  char *source;
  char *base, *cand; /* suite labels ("sigma", "suf"); NULL when absent */
  size_t n_gates;
  ff_micro_gate *gates;
} ff_micro;

ff_status ff_micro_load(const char *path, ff_micro **out);
void ff_micro_free(ff_micro *m);

enum { FF_AMDAHL_S_NONE = 0, FF_AMDAHL_S_RUN = 1, FF_AMDAHL_S_MICRO = 2 };

typedef struct {
  char *name;          /* family, or scope name for a scope target */
  int is_scope;        /* 1: scope target (Σ inclusive of the outermost nodes with that name) */
  int targeted;
  double t_base, t_cand; /* ns: medians over counted repetitions of the per-repetition sums */
  double f;            /* t_base / T_base */
  double f_cand;       /* t_cand / T_cand */
  double s_run;        /* t_base / t_cand measured in the runs (INFINITY when t_cand = 0, NAN when both 0) */
  double s, s_p25, s_p75; /* the speedup used for the prediction (= s_run unless from --micro) */
  int s_source;        /* FF_AMDAHL_S_RUN or FF_AMDAHL_S_MICRO (targets); FF_AMDAHL_S_NONE otherwise */
  /* families: median of the per-repetition time outside targeted scopes (= t when none is inside) */
  double rest_base, rest_cand;
} ff_amdahl_row;

typedef struct {
  double T_base, T_cand;     /* merged total wall medians */
  double f_sum, f_sum_cand;  /* Σ over targets of t_base / T_base and t_cand / T_cand */
  double s_eff;              /* Σ t_base / Σ (t_base / s) over the targets (= Σt_base/Σt_cand in-run) */
  double S_pred, S_pred_p25, S_pred_p75; /* 1/((1 − Σf) + Σ f/s); at the p25 and p75 speedups */
  double S_meas;             /* T_base / T_cand */
  double residual;           /* (S_meas − S_pred) / S_pred */
  double T_pred;             /* T_base / S_pred */
  /* what T_cand − T_pred is made of */
  double d_targets;          /* Σ over targets (t_cand − t_base / s): in-run vs the speedup used */
  double d_nontargeted;      /* Σ over non-targeted families but Other of (rest_cand − rest_base) */
  double d_other;            /* Other family: t_cand − t_base */
  double d_nonadditive;      /* the rest: medians of sums are not sums of medians */
  int has_micro;
  size_t n_targets;
  size_t n_rows;
  ff_amdahl_row *rows;       /* the families (base order, then those only in cand), then scope targets */
} ff_amdahl;

/* targets: family or scope names (NULL/0: those of Activation, Softmax, LayerNorm present in base).
 * Fails with FF_ENOENT (logged, listing the families present) when a target is in neither form in
 * the base run or when no default target is present. micro may be NULL. */
ff_status ff_amdahl_compute(const ff_breakdown *base, const ff_breakdown *cand, const char *const *targets,
                            size_t n_targets, const ff_micro *micro, ff_amdahl *out);
void ff_amdahl_free(ff_amdahl *a);
/* Index of the row named `name` (family or scope target), or -1. */
int ff_amdahl_find(const ff_amdahl *a, const char *name);
/* The reconciliation sentence into buf: "<targets> take X% of <base>'s online time and Y% of
 * <cand>'s; a per-gate s× speedup therefore gives Z× end to end (measured W×, residual R%)." */
const char *ff_amdahl_sentence(const ff_amdahl *a, const char *base_label, const char *cand_label, char *buf,
                               size_t n);

/* fusefss amdahl --base A.json --cand B.json [--micro M.json] [--target F[,...]] [--format md|json] */
int ff_cmd_amdahl(int argc, char **argv);

#endif
