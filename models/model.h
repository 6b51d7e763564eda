/* A transformer's blocks as one model graph (DESIGN.md §2 "One model graph, two roles", §7): written
 * once over an engine, run by the sigma suite's op API in its three roles (dealer, party, cost-only)
 * and by the two plaintext references (the fixed-point emulation that mirrors every gate's arithmetic,
 * and the float forward). Weights: seeded random or a weights file (docs/running.md "Weights").
 * Test: tests/test_models.c. */
#ifndef FF_MODELS_MODEL_H
#define FF_MODELS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "gates/sigma/op.h"
#include "gates/suf/spec.h"
#include "models/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Weights --------------------------------------------------------------------------------------------
 * Signed fixed-point values at cfg->scale fractional bits, one tensor per entry of the model's list
 * (per layer i, in this order; F = d_ffn, d = d_model):
 *   BERT, GPT: layer<i>.attn.wqkv (d, 3d), .attn.bqkv (3d), .attn.wo (d, d), .attn.bo (d), .norm1.g (d),
 *              .norm1.b (d), .ffn.w1 (d, F), .ffn.b1 (F), .ffn.w2 (F, d), .ffn.b2 (d), .norm2.g (d), .norm2.b (d)
 *   Llama:     layer<i>.attn.wqkv (d, 3d), .attn.wo (d, d), .norm1.g (d), .ffn.wgate (d, F), .ffn.wup (d, F),
 *              .ffn.wdown (F, d), .norm2.g (d)
 * wqkv's columns are Q | K | V, each head's d_head columns consecutive (Hugging Face's order). norm1 is
 * the norm after attention (BERT) or before it (GPT, Llama). */
#define FF_MODEL_TENSOR_NAME_MAX 48

typedef struct {
  char name[FF_MODEL_TENSOR_NAME_MAX];
  int ndim;            /* 1 or 2 */
  int64_t shape[2];
  size_t numel;
  int64_t *v;          /* (shape) signed fixed-point at the model's scale */
} ff_model_tensor;

typedef struct {
  const ff_model_config *cfg;
  int n;               /* tensors */
  ff_model_tensor *t;  /* (n) in the list's order */
} ff_model_weights;

/* The number of weights of cfg's blocks (every tensor of the list). */
uint64_t ff_model_param_count(const ff_model_config *cfg);
/* The list's names and shapes, values zero (allocated; FF_ENOMEM when they do not fit). */
ff_status ff_model_weights_alloc(const ff_model_config *cfg, ff_model_weights *w);
/* Seeded random weights, never all zero: matrices uniform in +-sqrt(3 / fan_in) (unit-variance outputs
 * for unit-variance inputs), biases and norm offsets uniform in +-0.1, norm gains in 1 +- 0.1. */
ff_status ff_model_weights_random(const ff_model_config *cfg, uint64_t seed, ff_model_weights *w);
/* The weights file (docs/running.md): FF_EFORMAT (logged, naming the file and what is wrong) for a bad
 * magic, version, header, a missing or misshapen tensor, another model, or a short file. Values are
 * rounded to the model's fixed point. */
ff_status ff_model_weights_load(const ff_model_config *cfg, const char *path, ff_model_weights *w);
ff_status ff_model_weights_save(const ff_model_weights *w, const char *path);
/* The semantics a weights file's header carries ("config", written by scripts/export_hf.py from the
 * checkpoint's config: norm_eps, gelu "erf"|"tanh", rope_base), without reading the values: *found = 1 and
 * *sem filled when there is one (a missing entry stays 0, SIGMA's), else *found = 0 and *sem zero.
 * ff_model_weights_save writes the config's semantics when one of them is not SIGMA's. */
ff_status ff_model_weights_semantics(const char *path, ff_model_semantics *sem, int *found);
void ff_model_weights_free(ff_model_weights *w);
/* The tensor named `name`, or NULL. */
const ff_model_tensor *ff_model_weights_get(const ff_model_weights *w, const char *name);

/* P1's input for a run: (batch * seq, d_model) signed fixed-point values, seeded, about N(0, 1)
 * (the sum of 4 uniforms, clipped at +-4). *out is malloc'd. */
ff_status ff_model_input_random(const ff_model_config *cfg, int seq, int batch, uint64_t seed, int64_t **out);

/* ---- Secure inference (sigma op API) -----------------------------------------------------------------
 * A session holds the masked weights: ff_model_session_begin masks P0's weights once (each tensor an
 * ff_op_input owned by P0: the dealer writes its mask into P0's stream, P0 sends W^ to P1), in scope
 * Weights at the caller's level. w: P0's plaintext weights in the P0 party role; ignored (may be NULL)
 * for P1, the dealer and cost-only. The session's wires live in the op's memory (device on a CUDA
 * party) and outlive the op: a later inference may use another ff_op of the same role, backend and
 * party (a fresh key reader per repetition). */
typedef struct ff_model_session ff_model_session;

ff_status ff_model_session_begin(ff_op *op, const ff_model_config *cfg, const ff_model_weights *w,
                                 ff_model_session **out);
/* The same, and P0's plaintext tensors are freed one by one as they are masked (w->t[i].v becomes NULL;
 * ff_model_weights_free still frees the rest), so that P0 holds the weights about once, not twice: for a
 * party process that needs them for nothing else (tools/run.c). Other roles leave w as it is. */
ff_status ff_model_session_begin_take(ff_op *op, const ff_model_config *cfg, ff_model_weights *w,
                                      ff_model_session **out);
void ff_model_session_free(ff_model_session *s);
/* The suf suite's switches and knobs for the session's inferences (gates/suf/spec.h; copied): the gates
 * whose switch is on run as suf gates (GELU/SiLU, softmax's nExp and reciprocal, LayerNorm/RMSNorm's rsqrt),
 * the others as sigma's. NULL or all switches off (the default): the sigma suite. */
void ff_model_session_set_suf(ff_model_session *s, const ff_suf_config *suf);
/* Optional: fn(layers done, layers) after each layer of ff_model_infer (a progress bar). */
void ff_model_session_set_progress(ff_model_session *s, void (*fn)(int done, int total, void *arg), void *arg);

/* One inference on the session's weights: P1's input x (batch * seq, d) enters in scope Input (read by P1
 * only; NULL elsewhere), the blocks run in Forward / Layer[i] / Attention / FFN around the gates' own
 * scopes, and the output is revealed to P1 in scope Output into y (batch * seq * d signed values, written
 * by P1 only; NULL elsewhere). seq >= 3 (softmax), batch >= 1; the op's bw and scale must be the
 * config's. */
ff_status ff_model_infer(ff_op *op, ff_model_session *s, int seq, int batch, const int64_t *x, int64_t *y);

/* ---- Plaintext references ---------------------------------------------------------------------------
 * The same graph on cleartext: ff_model_emulate runs each gate's fixed-point emulation (exact ARS for
 * the truncations, the gates' own table arithmetic for GELU/SiLU, softmax, LayerNorm/RMSNorm, rotary),
 * so the secure output must equal it exactly; ff_model_float runs the real-valued functions on the same
 * (fixed-point) weights and input, in double precision. x, y: (batch * seq, d). */
ff_status ff_model_emulate(const ff_model_config *cfg, const ff_model_weights *w, int seq, int batch,
                           const int64_t *x, int64_t *y);
/* As ff_model_emulate with the suf suite's switches (NULL: sigma): the emulation of the gates that run. */
ff_status ff_model_emulate_suf(const ff_model_config *cfg, const ff_suf_config *suf, const ff_model_weights *w, int seq,
                               int batch, const int64_t *x, int64_t *y);
ff_status ff_model_float(const ff_model_config *cfg, const ff_model_weights *w, int seq, int batch,
                         const double *x, double *y);

#ifdef __cplusplus
}
#endif

#endif
