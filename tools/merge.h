/* `fusefss merge`: two per-party logs (fusefss.prof/1, docs/log-schema.md) -> one merged breakdown
 * (fusefss.merged/1, docs/tools.md). DESIGN.md §6; research/profiling.md §7(c).
 * Test: tests/test_merge.c. */
#ifndef FF_TOOLS_MERGE_H
#define FF_TOOLS_MERGE_H

#include "core/status.h"
#include "tools/breakdown.h"

#define FF_PROF_SCHEMA "fusefss.prof/1"

/* Merges the logs of party 0 and party 1 (given in either order; the party is read from run.party).
 * Refuses, logging which rule failed (FF_ERROR), with:
 *   FF_ENOENT / FF_EIO  a file cannot be read;
 *   FF_EFORMAT          malformed or truncated JSON (line:column), wrong or missing schema, a missing
 *                       or mistyped field (named with its file), or no counted repetition;
 *   FF_EMISMATCH        two logs of one party, different run ids, workloads, knobs, repetition counts
 *                       or warm-up flags, different tree shapes (the first path found in one party's
 *                       log only), or a violated byte invariant on the totals of a repetition.
 * Warnings (rounds or calls that differ, per-path byte mismatches, overlap clamps) are logged with
 * FF_WARN and kept in (*out)->warnings. */
ff_status ff_merge_logs(const char *log_a, const char *log_b, ff_breakdown **out);

/* fusefss merge A.json B.json [-o breakdown_merged.json] */
int ff_cmd_merge(int argc, char **argv);

#endif
