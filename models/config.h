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

typedef struct {
  const char *name;   /* "bert-base" */
  ff_model_arch arch;
  int layers, heads, d_model, d_ffn;
  int causal;         /* causal attention (QK^T keyed on the lower triangle only) */
  int norm_qk;        /* scale QK^T by 1/sqrt(d_head) (GPT-Neo: 0) */
  int bw, scale;      /* ring bits and fractional bits (SIGMA: 37/50/50/50/51/51/48/48, 12) */
  const char *about;  /* one line for listings */
} ff_model_config;

/* The config named `name`, or NULL (then ff_model_list_names gives the valid ones). */
const ff_model_config *ff_model_find(const char *name);
/* The i-th config (0 .. ff_model_count()-1). */
int ff_model_count(void);
const ff_model_config *ff_model_at(int i);
/* "bert-tiny, bert-base, ..." into buf (always NUL-terminated). */
const char *ff_model_list_names(char *buf, size_t n);
static inline int ff_model_head_dim(const ff_model_config *c) { return c->d_model / c->heads; }

#ifdef __cplusplus
}
#endif

#endif
