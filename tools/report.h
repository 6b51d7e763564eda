/* The `fusefss report` command (option parsing and output); the computation is in the analysis library,
 * tools/lib/analysis.h. Test: tests/test_merge.c, tests/test_amdahl.c. */
#ifndef FF_TOOLS_REPORT_H
#define FF_TOOLS_REPORT_H


/* fusefss report breakdown_merged.json [--format md|csv|json] [--by scope|family|layer|name] [-o FILE] */
int ff_cmd_report(int argc, char **argv);

#endif
