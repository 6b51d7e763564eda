/* libFuzzer harness: the weights reader (models/weights.c, ff_model_weights_load) against the small
 * configurations of fuzz_util.c, one of each architecture. The input is a weights file. Seeds: files
 * written by ff_model_weights_save for those configurations (tests/fuzz/fuzz_seeds.c).
 * docs/fuzzing.md. */
#include "models/model.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  const char *path = ff_fuzz_file(data, size);
  for (size_t i = 0; i < sizeof ff_fuzz_models / sizeof ff_fuzz_models[0]; i++) {
    ff_model_weights w;
    if (ff_model_weights_load(&ff_fuzz_models[i], path, &w) == FF_OK) {
      /* An accepted file fills every tensor: touch every value. */
      int64_t sum = 0;
      for (int t = 0; t < w.n; t++)
        for (size_t k = 0; k < w.t[t].numel; k++) sum += w.t[t].v[k] & 1;
      if (sum < 0) __builtin_trap();
      ff_model_weights_free(&w);
    }
  }
  return 0;
}
