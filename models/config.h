/* Transformer model configurations for secure inference (DESIGN.md §7; research/sigma.md §6): one
 * table looked up by name, with SIGMA's ring widths and block orders. Blocks only: the input is the
 * embedded sequence and the output the last block's hidden states (no embedding, final norm or head,
 * as SIGMA's benchmarks). Test: tests/test_models.c. */
#ifndef FF_MODELS_CONFIG_H
#define FF_MODELS_CONFIG_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  FF_ARCH_BERT = 0,  /* post-norm: attn -> add -> LayerNorm -> FFN(GELU) -> add -> LayerNorm; biases */
  FF_ARCH_GPT = 1,   /* pre-norm: LayerNorm -> causal attn -> add -> LayerNorm -> FFN(GELU) -> add; biases */
  FF_ARCH_LLAMA = 2, /* pre-norm: RMSNorm -> causal attn with rotary -> add -> RMSNorm -> SiLU-gated FFN -> add;
                        no biases */
} ff_model_arch;

/* Public arithmetic where Hugging Face's models and SIGMA's differ (docs/running.md "Semantics"). Zero is
 * SIGMA's choice everywhere; none of them changes a key size, a bit sent or a round. */
typedef struct {
  double norm_eps;    /* LayerNorm / RMSNorm epsilon inside the square root, rsqrt(var + eps) (0: none, SIGMA) */
  int gelu_tanh;      /* GELU as GPT-2's gelu_new, the tanh form (0: the erf form, SIGMA's and BERT's) */
  double rope_base;   /* rotary angle base, Hugging Face's rope_theta (0: 10000, SIGMA's) */
} ff_model_semantics;

typedef struct {
  const char *name;   /* "bert-base" */
  ff_model_arch arch;
  int layers, heads, d_model, d_ffn;
  int causal;         /* causal attention (QK^T keyed on the lower triangle only) */
  int norm_qk;        /* scale QK^T by 1/sqrt(d_head) (GPT-Neo: 0) */
  int bw, scale;      /* ring bits and fractional bits (SIGMA: 37/50/50/50/51/51/48/48, 12) */
  const char *about;  /* one line for listings */
  ff_model_semantics sem; /* all zero in the table (SIGMA's); a run may set them (tools/run.c) */
  int weights_per_layer;  /* 0 in the table: P0's weights are masked once per session (SIGMA's); 1: each
                             layer's weights are masked at every inference right before the layer and freed
                             after it, so that one layer's masked weights exist at a time (`fusefss run
                             --weights-per-layer`; models/model.h) */
} ff_model_config;

/* The config named `name`, or NULL (then ff_model_list_names gives the valid ones). */
const ff_model_config *ff_model_find(const char *name);
/* The i-th config (0 .. ff_model_count()-1). */
int ff_model_count(void);
const ff_model_config *ff_model_at(int i);
/* "bert-tiny, bert-base, ..." into buf (always NUL-terminated). */
const char *ff_model_list_names(char *buf, size_t n);
static inline int ff_model_head_dim(const ff_model_config *c) { return c->d_model / c->heads; }
/* The rotary base a config uses: sem.rope_base, or 10000 when it is 0. */
static inline double ff_model_rope_base(const ff_model_config *c) { return c->sem.rope_base > 0 ? c->sem.rope_base : 10000.0; }

/* Whether the ring holds a run at `scale` fractional bits: 0, or -1 with the reason in why. The rule:
 * 7 <= scale <= 20 (GELU's and SiLU's tables want 6 fractional bits below the scale, the rotary table
 * scale - 3, and the softmax runs at 12 with an exact rescale around it), and bw - 2 scale >= 13: a product
 * of two values carries 2 scale fractional bits, and 13 bits above them is the least headroom any of
 * SIGMA's models runs with (bert-tiny: 37 - 24). */
int ff_model_scale_check(const ff_model_config *c, int scale, char *why, size_t n);

#ifdef __cplusplus
}
#endif

#endif
