/* The `fusefss amdahl` command (option parsing and output); the computation is in the analysis library,
 * tools/lib/analysis.h. Test: tests/test_merge.c, tests/test_amdahl.c. */
#ifndef FF_TOOLS_AMDAHL_H
#define FF_TOOLS_AMDAHL_H


/* fusefss amdahl --base A.json --cand B.json [--micro M.json] [--target F[,...]] [--format md|json] */
int ff_cmd_amdahl(int argc, char **argv);

#endif
