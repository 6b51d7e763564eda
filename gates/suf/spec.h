/* The suf suite's public specifications of univariate functions and its knobs (DESIGN.md §4,
 * research/suf_spec.md, suf.md §4.1): a specification says how a gate views its masked input (an
 * e-bit window of the ring, signed or not), which public thresholds it compares against, which helper
 * bits it opens, its clip window with exact tails, and its K = 2^k pieces of 2^s ulps each with the
 * public table of piece values. It is compiled once per (function, parameters) and kept in the
 * process-wide **template cache**; its public table is uploaded once per device (gates/suf/suf.h).
 * The gate protocol itself is in suf.h. Test: tests/test_suf.c.
 *
 * Every dense suf gate computes, on an input x (a signed ring value of bw_in bits, or an unsigned
 * one for a one-sided view) and with a view v = x + off mod 2^e:
 *     y = base(x) + omega(x) * T[idx(x)]  mod 2^bw
 *   base  = 0, or ReLU(x) = d x with d = [x >= 0] (the residual form: T holds f - ReLU, so both tails
 *           are exact by construction and only the residual is tabulated);
 *   omega = [w_lo <= x < w_hi], the clip window (0 outside: the tail is base(x), exact);
 *   idx   = ((x - w_lo) mod 2^bw_in) >> s  mod 2^k (inside the window, the bucket of x);
 *   T[i]  = round(g(w_lo + (i + 1/2) 2^s) 2^scale), g = f - base, the bucket midpoints.
 * The comparisons behind d and omega are taken on the view v, exactly as the protocol takes them, so
 * the emulation (ff_suf_emulate) equals the secure gate on EVERY input; the float bound
 * (spec->err_bound) holds on the legal range |x| < 2^(e-1) (signed view) or 0 <= x < 2^e (unsigned):
 * SIGMA's own slack assumption with e = bw - scale by default (SUF_EFFECTIVE_BITS). */
#ifndef FF_GATES_SUF_SPEC_H
#define FF_GATES_SUF_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  FF_SUF_GELU = 0, /* x Phi(x); residual of ReLU; window [-4, 4) */
  FF_SUF_SILU = 1, /* x / (1 + e^-x); residual of ReLU; window [-16, 16) */
  FF_SUF_NEXP = 2, /* e^-x on x >= 0 (softmax's max - x); unsigned view; window [0, 16), 0 above */
  FF_SUF_NFN
} ff_suf_fn;

typedef enum { FF_SUF_BASE_NONE = 0, FF_SUF_BASE_RELU = 1 } ff_suf_base;

#define FF_SUF_MAX_THR 4  /* public thresholds per specification */
#define FF_SUF_MAX_HELP 4 /* opened helper bits per specification (the carry is one of them) */

/* A helper bit: the XOR of the comparisons 1[v < thr[t]] for the t set in cmp_mask, XOR constant. The
 * carry of the bucket index is not one of these: it is always the last helper (see ff_suf_spec). */
typedef struct {
  uint32_t cmp_mask;
  uint32_t constant;
} ff_suf_helper;

/* A compiled specification (immutable once in the cache; share the pointer). Public throughout. */
typedef struct {
  ff_suf_fn fn;
  const char *name;    /* "GELU", "SiLU", "nExp" */
  int bw_in, bw;       /* ring bits of the input wire and of the output */
  int scale;           /* fractional bits of input and output */
  int e;               /* view width: comparisons on v = x + off mod 2^e (8 <= e <= bw_in) */
  int is_signed;       /* off = 2^(e-1) (legal x in [-2^(e-1), 2^(e-1))) or 0 (legal x in [0, 2^e)) */
  uint64_t off;        /* the view's offset */
  int64_t w_lo, w_hi;  /* clip window [w_lo, w_hi) in input ulps; w_hi - w_lo = 2^(k+s) */
  int k, s;            /* K = 2^k buckets of 2^s ulps; the bucket carry is compared on s bits (none at s = 0,
                          a truth table for s <= 7, a DPF comparison above) */
  int kl;              /* lookup bits max(k, 8) (the DPF-LUT's minimum); tab has 2^kl entries, 0 past 2^k */
  int degree;          /* 0 (the dense regime) */
  ff_suf_base base;
  int n_thr;           /* thresholds thr[0..n_thr) on the e-bit view */
  uint64_t thr[FF_SUF_MAX_THR];
  int d_helper;        /* index of the helper d = [x >= 0] (base RELU), else -1 */
  int w_helper;        /* index of the helper omega */
  int n_help;          /* opened helper bits: the compare helpers, then the carry when s > 0 (its
                          helpers[] entry is unused) */
  ff_suf_helper helpers[FF_SUF_MAX_HELP];
  uint64_t *tab;       /* (2^kl) piece values mod 2^bw */
  double lipschitz;    /* max |g'| over the window (sampled densely in long double, +1%) */
  double tail;         /* max |f - base| outside the window, over the legal range */
  double err_bound;    /* stated bound on |y - f(x)| over the legal range: lipschitz 2^(s-scale-1)
                          + 2^-(scale+1) (table rounding) inside, tail outside */
} ff_suf_spec;

#define FF_SUF_SPARSE_WINDOW_MAX 16 /* SUF_*_INTERVALS up to this: the sparse regime */

/* The knobs (research/suf_spec.md "Knobs"): environment SUF_* (or the artifact's FUSEFSS_* aliases)
 * and the command line (`--suf NAME=VALUE`); the log records the values used (ff_suf_config_json). */
typedef struct {
  int activation, softmax, layernorm; /* SUF_ACTIVATION, SUF_SOFTMAX, SUF_LAYERNORM: 0/1 each */
  int gelu_intervals;                 /* SUF_GELU_INTERVALS (256): GELU's window pieces; a power of two
                                         32..2^16 is the dense regime, 2..16 the sparse one (sparse.h) */
  int silu_intervals;                 /* SUF_SILU_INTERVALS (1024): likewise for SiLU */
  int nexp_bits;                      /* SUF_NEXP_BITS (10): k of nExp */
  int inv_bits;                       /* SUF_INV_BITS (0 = ceil(log2 L) + 6): reciprocal table bits */
  int rsqrt_bits;                     /* SUF_RSQRT_BITS (13): rsqrt table bits (6 exponent + mantissa) */
  int degree;                         /* SUF_DEGREE (0): the sparse regime's window pieces, 0 (constant)
                                         or 1 (a line, FF_SUF_SPARSE_FB fractional bits of slope); the
                                         dense regime is degree 0 (its residual table) and refuses 1 */
  int effective_bits;                 /* SUF_EFFECTIVE_BITS (0 = bw - scale): the view width e */
  int insecure_no_padding;            /* not a SUF_ knob: set by `--insecure-no-padding` only; the sparse
                                         regime's padding ablation (sparse.h), insecure, logged */
} ff_suf_config;

/* All switches on, the defaults above (what `--suite suf` starts from). */
void ff_suf_config_default(ff_suf_config *c);
/* All switches off (the sigma suite): every gate is sigma's. */
void ff_suf_config_off(ff_suf_config *c);
/* NAME=VALUE with NAME one of the SUF_* knobs (or FUSEFSS_*, or the lower-case name without the prefix,
 * e.g. gelu_intervals); FF_EINVAL with a message listing the knobs for an unknown name or a bad value. */
ff_status ff_suf_config_set(ff_suf_config *c, const char *assignment);
/* Reads every SUF_* / FUSEFSS_* variable present in the environment (FUSEFSS_* first, SUF_* wins);
 * FF_EINVAL for a bad value (logged). */
ff_status ff_suf_config_from_env(ff_suf_config *c);
/* Checks the knobs against each other and a model's bw/scale (widths that fit; intervals a power of two
 * 32..2^16 within the window, or 2..FF_SUF_SPARSE_WINDOW_MAX; SUF_DEGREE 1 and --insecure-no-padding
 * only with a sparse GELU or SiLU, whose specifications are built here to be sure they fit): FF_EINVAL
 * with a message. */
ff_status ff_suf_config_check(const ff_suf_config *c, int bw, int scale);
/* Whether fn (GELU or SiLU) runs in the sparse regime under c: its SUF_*_INTERVALS is at most
 * FF_SUF_SPARSE_WINDOW_MAX (research/suf_spec.md: "Sparse regime (K <= 16)"). nExp is always dense. */
int ff_suf_config_sparse(const ff_suf_config *c, ff_suf_fn fn);
/* {"SUF_ACTIVATION":1,...} into buf (always NUL-terminated); returns the length it needed. */
size_t ff_suf_config_json(const ff_suf_config *c, char *buf, size_t cap);
/* The effective view width for a model: c->effective_bits or bw - scale. */
int ff_suf_config_e(const ff_suf_config *c, int bw, int scale);

/* The template cache: the compiled specification of fn for these parameters (K = 2^k pieces, view
 * width e), compiled at the first request and kept for the process (thread-safe). NULL (logged) for
 * parameters that do not fit: k outside 5..16, s = window bits - k outside 0..window bits, e outside 8..bw_in, a
 * window wider than the view, base RELU with bw_in != bw. */
const ff_suf_spec *ff_suf_spec_get(ff_suf_fn fn, int bw_in, int bw, int scale, int e, int k);
/* Compilations done so far (each distinct parameter set once), for tests and the log. */
int ff_suf_spec_cache_size(void);

/* The float function f (double) and the cleartext fixed-point emulation of the gate on N inputs (x mod
 * 2^bw_in, y mod 2^bw): exactly what the secure gate outputs. */
double ff_suf_float(ff_suf_fn fn, double x);
void ff_suf_emulate(const ff_suf_spec *sp, size_t N, const uint64_t *x, uint64_t *y);
/* x as the signed (or, for an unsigned view, unsigned) real number the spec reads it as. */
double ff_suf_input_real(const ff_suf_spec *sp, uint64_t x);

#ifdef __cplusplus
}
#endif

#endif
