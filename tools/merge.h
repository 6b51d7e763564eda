/* The `fusefss merge` command (option parsing and output); the computation is in the analysis library,
 * tools/lib/analysis.h. Test: tests/test_merge.c, tests/test_amdahl.c. */
#ifndef FF_TOOLS_MERGE_H
#define FF_TOOLS_MERGE_H


/* fusefss merge A.json B.json [-o breakdown_merged.json] */
int ff_cmd_merge(int argc, char **argv);

#endif
