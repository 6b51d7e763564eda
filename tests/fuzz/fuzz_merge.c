/* libFuzzer harness: the per-party log reader and the merge (tools/merge.c, ff_merge_logs), then the
 * merged document written back. Input: party 0's log, FF_FUZZ_SPLIT, party 1's log (fusefss.prof/1).
 * Seeds: the two logs of `fusefss run` and of `fusefss bench comm` (tests/fuzz/make_seeds.sh).
 * docs/fuzzing.md. */
#include <cjson/cJSON.h>

#include "tools/lib/analysis.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  size_t a_n, b_n;
  const uint8_t *b;
  ff_fuzz_split(data, size, &a_n, &b, &b_n);
  const char *pa = ff_fuzz_file(data, a_n), *pb = ff_fuzz_file2(b, b_n);
  ff_breakdown *bd = NULL;
  if (ff_merge_logs(pa, pb, &bd) == FF_OK) cJSON_Delete(ff_breakdown_to_json(bd));
  ff_breakdown_free(bd);
  return 0;
}
