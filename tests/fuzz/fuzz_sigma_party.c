/* libFuzzer harness: a party of the secure inference reading a tampered key file — the op layer's tag
 * checks and key reads (gates/sigma/op.c), the gates' key readers of both suites (sigma and suf:
 * comparison, LUT and select keys, truncation, softmax, LayerNorm/RMSNorm, the suf gates) and their
 * error paths. The input is one party's key file, CRC32Cs recomputed (fuzz_util.h); its header's party
 * and metadata ("model=NAME suite=sigma|suf") pick the dealing (fuzz_deal.c: a small model of
 * fuzz_util.c at seq 3, dealt once per process), the other party runs on its real key file, both
 * over the in-memory channel in two threads. A party that fails closes its end, so the other fails
 * too and nothing waits. Seeds: the dealings' key files (tests/fuzz/fuzz_seeds.c). docs/fuzzing.md. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "comm/chan.h"
#include "core/ctx.h"
#include "core/keystream.h"
#include "fuzz_deal.h"
#include "fuzz_util.h"

#define N_MODELS (sizeof ff_fuzz_models / sizeof ff_fuzz_models[0])

typedef struct {
  void *img[2];
  size_t len[2];
  ff_status st; /* of the dealing */
  int dealt;
} dealing;

static dealing g_deal[N_MODELS][2]; /* [model][suf] */
static ff_model_weights g_w[N_MODELS];
static int64_t *g_x[N_MODELS];

static dealing *deal_for(size_t m, int suf) {
  dealing *d = &g_deal[m][suf];
  if (!d->dealt) {
    d->dealt = 1;
    d->st = ff_fuzz_deal(&ff_fuzz_models[m], suf, d->img, d->len);
    if (!d->st && !g_w[m].t) d->st = ff_model_weights_random(&ff_fuzz_models[m], 1, &g_w[m]);
    if (!d->st && !g_x[m]) d->st = ff_model_input_random(&ff_fuzz_models[m], FF_FUZZ_SEQ, 1, 2, &g_x[m]);
    if (d->st) abort(); /* the harness's own dealing must work */
  }
  return d;
}

typedef struct {
  const ff_model_config *cfg;
  int party, suf;
  ff_keystream *ks;
  ff_chan *ch;
  ff_op_key_placement placement;
  const ff_model_weights *w;
  const int64_t *x;
  int64_t *y;
} party_job;

static void *party_main(void *arg) {
  party_job *j = arg;
  ff_ctx ctx;
  ff_op *op = NULL;
  if (ff_ctx_init(&ctx, FF_BACKEND_CPU, j->party) == FF_OK) {
    ctx.chan = j->ch;
    ff_op_params p = {.role = FF_OP_PARTY, .bw = j->cfg->bw, .scale = j->cfg->scale, .ctx = &ctx,
                      .key_placement = j->placement};
    p.keys[j->party] = j->ks;
    if (ff_op_create(&op, &p) == FF_OK && ff_fuzz_graph(op, j->cfg, j->suf, j->w, j->x, j->y) == FF_OK)
      (void)ff_op_check_consumed(op);
    ff_op_destroy(op);
    ff_ctx_destroy(&ctx);
  }
  ff_chan_close(j->ch); /* the peer's next receive fails instead of waiting */
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  if (!ff_crc32c_supported()) return 0;
  uint8_t *mine = malloc(size ? size : 1);
  if (!mine) return 0;
  memcpy(mine, data, size);
  ff_fuzz_keystream_repair(mine, size);
  ff_keystream *ks[2] = {NULL, NULL};
  if (ff_keystream_open_mem(mine, size, &ks[0]) != FF_OK) goto done;
  const int fuzzed = ff_keystream_party(ks[0]);
  const char *meta = ff_keystream_meta(ks[0], NULL);
  size_t m = 0;
  while (m < N_MODELS && !strstr(meta, ff_fuzz_models[m].name)) m++;
  if (m == N_MODELS) goto done;
  const int suf = strstr(meta, "suite=suf") != NULL;
  dealing *d = deal_for(m, suf);
  if (ff_keystream_open_mem(d->img[!fuzzed], d->len[!fuzzed], &ks[1]) != FF_OK) abort();

  ff_chan *ends[2];
  ff_mem_opts mo = {.io_timeout_ms = 5000};
  if (ff_chan_mem_pair(ends, &mo) != FF_OK) abort();
  int64_t *y = calloc((size_t)FF_FUZZ_SEQ * (size_t)ff_fuzz_models[m].d_model, sizeof *y);
  if (!y) abort();
  party_job jobs[2];
  for (int q = 0; q < 2; q++) {
    const int party = q == 0 ? fuzzed : !fuzzed;
    jobs[q] = (party_job){.cfg = &ff_fuzz_models[m], .party = party, .suf = suf, .ks = ks[q], .ch = ends[party],
                          /* the tampered stream is read per gate or preloaded, by the parity of its size */
                          .placement = q == 0 && (ff_keystream_size(ks[0]) & 1) ? FF_KEYS_PRELOAD : FF_KEYS_STREAM,
                          .w = party == 0 ? &g_w[m] : NULL, .x = party == 1 ? g_x[m] : NULL, .y = party == 1 ? y : NULL};
  }
  pthread_t t;
  if (pthread_create(&t, NULL, party_main, &jobs[1]) != 0) abort();
  party_main(&jobs[0]);
  pthread_join(t, NULL);
  free(y);
done:
  ff_keystream_close(ks[0], 0);
  ff_keystream_close(ks[1], 0);
  free(mine);
  return 0;
}
