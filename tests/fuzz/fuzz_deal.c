/* The dealings of the party harness and its seeds (fuzz_deal.h). */
#include "fuzz_deal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/keystream.h"
#include "gates/suf/spec.h"

#define FF__DEAL_MASK_SEED 5

ff_status ff_fuzz_graph(ff_op *op, const ff_model_config *cfg, int suf, const ff_model_weights *w, const int64_t *x,
                        int64_t *y) {
  ff_model_session *s = NULL;
  ff_status st = ff_model_session_begin(op, cfg, w, &s);
  if (!st) {
    ff_suf_config c;
    ff_suf_config_default(&c);
    if (suf) ff_model_session_set_suf(s, &c);
    st = ff_model_infer(op, s, FF_FUZZ_SEQ, 1, x, y);
  }
  ff_model_session_free(s);
  return st;
}

ff_status ff_fuzz_deal(const ff_model_config *cfg, int suf, void *img[2], size_t len[2]) {
  char meta[128];
  snprintf(meta, sizeof meta, "model=%s suite=%s", cfg->name, suf ? "suf" : "sigma");
  ff_ctx ctx;
  ff_keystream *ks[2] = {NULL, NULL};
  ff_op *op = NULL;
  img[0] = img[1] = NULL;
  ff_status st = ff_ctx_init(&ctx, FF_BACKEND_CPU, FF_DEALER);
  if (st) return st;
  ff_rng_init_seeded(&ctx.rng, FF__DEAL_MASK_SEED);
  for (int q = 0; q < 2 && !st; q++) {
    ff_keystream_params p = {.party = q, .run_id = "fuzz", .meta = meta, .chunk_size = 4096};
    st = ff_keystream_create_mem(&p, &ks[q]);
  }
  ff_op_params opp = {.role = FF_OP_DEALER, .bw = cfg->bw, .scale = cfg->scale, .ctx = &ctx, .keys = {ks[0], ks[1]}};
  if (!st) st = ff_op_create(&op, &opp);
  if (!st) st = ff_fuzz_graph(op, cfg, suf, NULL, NULL, NULL);
  for (int q = 0; q < 2 && !st; q++) {
    const void *data;
    if (!(st = ff_keystream_finish(ks[q])) && !(st = ff_keystream_mem_image(ks[q], &data, &len[q]))) {
      if (!(img[q] = malloc(len[q]))) st = FF_ENOMEM;
      else memcpy(img[q], data, len[q]);
    }
  }
  ff_op_destroy(op);
  for (int q = 0; q < 2; q++) ff_keystream_close(ks[q], 0);
  ff_ctx_destroy(&ctx);
  if (st) {
    free(img[0]), free(img[1]);
    img[0] = img[1] = NULL;
  }
  return st;
}
