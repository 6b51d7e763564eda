/* libFuzzer harness: the merged-breakdown reader (tools/breakdown.c, ff_breakdown_load) and what
 * `fusefss report` and `fusefss project` compute from an accepted file: every grouping, the report
 * rows and header, both projection conventions, and the document written back. The input is a
 * fusefss.merged/1 file. Seeds: merged files of `fusefss run` and `fusefss bench comm`
 * (tests/fuzz/make_seeds.sh). docs/fuzzing.md. */
#include <cjson/cJSON.h>

#include "tools/lib/analysis.h"
#include "fuzz_util.h"

static void use(const ff_breakdown *bd) {
  char buf[512];
  (void)ff_report_header(bd, buf, sizeof buf);
  (void)ff_breakdown_label(bd, buf, sizeof buf);
  for (ff_group_by by = FF_GROUP_SCOPE; by <= FF_GROUP_NAME; by++) {
    ff_report r;
    if (ff_report_compute(bd, by, &r) == FF_OK) {
      for (size_t i = 0; i < r.n_rows; i++) (void)ff_report_scope_label(r.rows[i].key, r.rows[i].depth, buf, sizeof buf);
      ff_report_free(&r);
    }
  }
  const ff_network nets[2] = {ff_network_lan(), ff_network_wan()};
  for (int conv = FF_CONV_SEED; conv <= FF_CONV_DUPLEX; conv++)
    for (int by = 0; by < 2; by++) {
      ff_projection p;
      if (ff_project_compute(bd, &nets[by], (ff_convention)conv, by ? FF_GROUP_SCOPE : FF_GROUP_FAMILY, &p) == FF_OK)
        ff_projection_free(&p);
    }
  cJSON_Delete(ff_breakdown_to_json(bd));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  ff_breakdown *bd = NULL;
  if (ff_breakdown_load(ff_fuzz_file(data, size), &bd) == FF_OK) use(bd);
  ff_breakdown_free(bd);
  return 0;
}
