/* The dealings of the party harness (fuzz_sigma_party.c) and its seeds (fuzz_seeds.c): the real dealer
 * (the model graph in the dealer role, gates/sigma/op.h) runs a small model of fuzz_util.c at seq 3
 * with seeded masks, weights and input, so that the harness and the seed generator make the same two
 * key streams. */
#ifndef FF_TESTS_FUZZ_DEAL_H
#define FF_TESTS_FUZZ_DEAL_H

#include <stddef.h>

#include "core/status.h"
#include "gates/sigma/op.h"
#include "models/model.h"

#define FF_FUZZ_SEQ 3 /* the smallest sequence softmax takes */

/* The graph in every role: the session (P0's weights masked) and one inference; suf selects the suf
 * suite (every switch on, default knobs). w: P0's weights in P0's role (else NULL); x, y: P1's input
 * and output in P1's role (else NULL). */
ff_status ff_fuzz_graph(ff_op *op, const ff_model_config *cfg, int suf, const ff_model_weights *w, const int64_t *x,
                        int64_t *y);

/* The dealing of cfg (sigma or suf) into two key-stream images, malloc'd. Their metadata is
 * "model=NAME suite=sigma|suf", which the harness reads back to pick the dealing. */
ff_status ff_fuzz_deal(const ff_model_config *cfg, int suf, void *img[2], size_t len[2]);

#endif
