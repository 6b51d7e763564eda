/* The `fusefss project` command (option parsing and output); the computation is in the analysis library,
 * tools/lib/analysis.h. Test: tests/test_merge.c, tests/test_amdahl.c. */
#ifndef FF_TOOLS_PROJECT_H
#define FF_TOOLS_PROJECT_H

/* fusefss project breakdown_merged.json [--lan|--wan|--bw B --lat L] [--convention seed|duplex]
 *                 [--by family|scope] [--format md|json] */
int ff_cmd_project(int argc, char **argv);

#endif
