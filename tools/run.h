/* `fusefss keygen`, `fusefss run` and `fusefss cost`: secure inference of a whole model (DESIGN.md §2,
 * §7, §8; docs/running.md). keygen writes one key file per party; run runs one party over TCP, or with
 * no role the whole local pipeline (dealer, two party processes over loopback, merge, breakdown,
 * verification against the references); cost gives every scope's key bytes, link bytes and rounds from
 * shapes alone. Tests: tests/test_run.c, tests/cli.cmake. */
#ifndef FF_TOOLS_RUN_H
#define FF_TOOLS_RUN_H

#include <stddef.h>

#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/suf/spec.h"
#include "models/config.h"

int ff_cmd_keygen(int argc, char **argv);
int ff_cmd_run(int argc, char **argv);
int ff_cmd_cost(int argc, char **argv);

/* The cost model of one inference, per scope path ("Forward/Layer[0]/Attention/Linear"; "" for
 * charges outside every scope): the sum of the gates' cost functions charged while that path was the
 * innermost open scope (exclusive), both parties. The session's weight masking is kept apart. */
typedef struct {
  char *path;
  ff_gate_cost c[2]; /* party 0, party 1 */
} ff_cost_row;

typedef struct {
  size_t n;
  ff_cost_row *rows;      /* in first-charge order (tree order) */
  ff_gate_cost weights[2];/* the session: P0's weights masked once */
  ff_gate_cost total[2];  /* one inference, every row */
} ff_cost_table;

/* Runs the model graph in cost-only mode (no cryptography, no data); suf: the suf switches (NULL: sigma). */
ff_status ff_model_cost(const ff_model_config *cfg, const ff_suf_config *suf, int seq, int batch, ff_cost_table *out);
void ff_cost_table_free(ff_cost_table *t);
/* Inclusive cost of `path` (its row and every row below it), both parties; 0 when absent. */
void ff_cost_inclusive(const ff_cost_table *t, const char *path, ff_gate_cost c[2]);

#endif
