/* libFuzzer harness: the inputs of `fusefss amdahl` — a merged breakdown (ff_breakdown_load) and a
 * microbenchmark file (tools/amdahl.c, ff_micro_load) — and the reconciliation computed from them
 * (the run against itself, with and without the microbenchmarks). Input: the merged file, then
 * FF_FUZZ_SPLIT and the fusefss.micro/1 file. Seeds: a merged file of `fusefss run` with the
 * microbenchmark example of docs/tools.md (tests/fuzz/make_seeds.sh). docs/fuzzing.md. */
#include "tools/lib/analysis.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  size_t a_n, b_n;
  const uint8_t *b;
  ff_fuzz_split(data, size, &a_n, &b, &b_n);
  ff_micro *m = NULL;
  ff_breakdown *bd = NULL;
  if (ff_micro_load(ff_fuzz_file2(b, b_n), &m) != FF_OK) m = NULL;
  if (ff_breakdown_load(ff_fuzz_file(data, a_n), &bd) == FF_OK) {
    char buf[1024];
    for (int with_micro = 0; with_micro <= (m != NULL); with_micro++) {
      ff_amdahl a;
      if (ff_amdahl_compute(bd, bd, NULL, 0, with_micro ? m : NULL, &a) == FF_OK) {
        (void)ff_amdahl_sentence(&a, "base", "cand", buf, sizeof buf);
        ff_amdahl_free(&a);
      }
    }
    if (m && m->n_gates) {
      const char *targets[2] = {m->gates[0].family, m->gates[0].scope};
      ff_amdahl a;
      if (ff_amdahl_compute(bd, bd, targets, 2, m, &a) == FF_OK) ff_amdahl_free(&a);
    }
  }
  ff_breakdown_free(bd);
  ff_micro_free(m);
  return 0;
}
