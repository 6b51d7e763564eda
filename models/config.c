/* The model table (research/sigma.md §6 "Models, weights, running"; SIGMA's sigma.cu with bert.h,
 * gpt2.h and llama2.h). Test: tests/test_models.c. */
#include "models/config.h"

#include <string.h>

static const ff_model_config ff__models[] = {
    {"bert-tiny", FF_ARCH_BERT, 2, 2, 128, 512, 0, 1, 37, 12, "BERT-tiny: 2 layers, d 128, 2 heads, bidirectional", {0, 0, 0}, 0},
    {"bert-base", FF_ARCH_BERT, 12, 12, 768, 3072, 0, 1, 50, 12, "BERT-base: 12 layers, d 768, 12 heads", {0, 0, 0}, 0},
    {"bert-large", FF_ARCH_BERT, 24, 16, 1024, 4096, 0, 1, 50, 12, "BERT-large: 24 layers, d 1024, 16 heads", {0, 0, 0}, 0},
    {"gpt2", FF_ARCH_GPT, 12, 12, 768, 3072, 1, 1, 50, 12, "GPT-2: 12 layers, d 768, 12 heads, causal", {0, 0, 0}, 0},
    {"gpt-neo", FF_ARCH_GPT, 24, 16, 2048, 8192, 1, 0, 51, 12, "GPT-Neo 1.3B: 24 layers, d 2048, 16 heads, causal, no 1/sqrt(d)", {0, 0, 0}, 0},
    {"gpt-neo-large", FF_ARCH_GPT, 32, 20, 2560, 10240, 1, 0, 51, 12, "GPT-Neo 2.7B: 32 layers, d 2560, 20 heads, causal, no 1/sqrt(d)", {0, 0, 0}, 0},
    {"llama7b", FF_ARCH_LLAMA, 32, 32, 4096, 11008, 1, 1, 48, 12, "Llama-2 7B: 32 layers, d 4096, FFN 11008, RMSNorm, rotary, SiLU-gated", {0, 0, 0}, 0},
    {"llama13b", FF_ARCH_LLAMA, 40, 40, 5120, 13824, 1, 1, 48, 12, "Llama-2 13B: 40 layers, d 5120, FFN 13824, RMSNorm, rotary, SiLU-gated", {0, 0, 0}, 0},
};

#define FF__NMODELS ((int)(sizeof ff__models / sizeof ff__models[0]))

int ff_model_count(void) { return FF__NMODELS; }

const ff_model_config *ff_model_at(int i) { return i >= 0 && i < FF__NMODELS ? &ff__models[i] : NULL; }

const ff_model_config *ff_model_find(const char *name) {
  for (int i = 0; name && i < FF__NMODELS; i++)
    if (!strcmp(ff__models[i].name, name)) return &ff__models[i];
  return NULL;
}

const char *ff_model_list_names(char *buf, size_t n) {
  size_t len = 0;
  if (!n) return buf;
  buf[0] = '\0';
  for (int i = 0; i < FF__NMODELS && len + 1 < n; i++) {
    int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", ff__models[i].name);
    if (w < 0) break;
    len += (size_t)w < n - len ? (size_t)w : n - len - 1;
  }
  return buf;
}

int ff_model_scale_check(const ff_model_config *c, int scale, char *why, size_t n) {
  if (scale < 7 || scale > 20) {
    snprintf(why, n, "scale %d is outside 7..20 (GELU/SiLU keep 6 fractional bits below the scale, the rotary "
             "table scale - 3)", scale);
    return -1;
  }
  if (c->bw - 2 * scale < 13) {
    snprintf(why, n, "scale %d overflows model %s's %d-bit ring: a product of two values carries 2 x %d = %d "
             "fractional bits, leaving %d bits for the integer part where at least 13 are needed (the least any of "
             "SIGMA's models runs with); use scale <= %d", scale, c->name, c->bw, scale, 2 * scale, c->bw - 2 * scale,
             (c->bw - 13) / 2);
    return -1;
  }
  return 0;
}
