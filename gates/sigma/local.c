/* The local two-party runner (local.h): dealer into memory key streams on the CPU, both parties in
 * two threads over ff_chan_mem_pair on the chosen backend, repeated; cost-only for the formulas.
 * Used by `fusefss bench gate` (tools/bench_gate.c). Test: tests/test_bench_gate.c. */
#include "gates/sigma/local.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/chan.h"
#include "core/cuda.h"
#include "core/keystream.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/time.h"
#include "scope/scope.h"

struct ff_sigma_local_rec {
  ff_op *op;
  ff_ctx *ctx;             /* NULL in cost-only mode */
  int reveals;             /* 1: this role receives the output (party 1) */
  int open;                /* inside begin/end */
  uint64_t t0;
  ff_gate_cost before[2];
  double gate_s;           /* summed over the brackets */
  ff_gate_cost gate[2];
  uint64_t *out;           /* (n_out) P1's revealed values; owned by whoever runs the role */
  size_t n_out;
  int out_bw;
};

static ff_gate_cost ff__cost_sub(ff_gate_cost a, ff_gate_cost b) {
  ff_gate_cost c = {a.key_bytes - b.key_bytes, a.bits_sent - b.bits_sent, a.bytes_sent - b.bytes_sent,
                    a.rounds - b.rounds};
  return c;
}

static int ff__cost_eq(ff_gate_cost a, ff_gate_cost b) {
  return a.key_bytes == b.key_bytes && a.bits_sent == b.bits_sent && a.bytes_sent == b.bytes_sent &&
         a.rounds == b.rounds;
}

void ff_sigma_local_gate_begin(ff_sigma_local_rec *rec) {
  for (int p = 0; p < 2; p++) rec->before[p] = ff_op_cost(rec->op, p);
  rec->open = 1;
  rec->t0 = ff_now_ns();
}

ff_status ff_sigma_local_gate_end(ff_sigma_local_rec *rec) {
  if (!rec->open) {
    FF_ERROR("ff_sigma_local_gate_end: no ff_sigma_local_gate_begin before it");
    return FF_ESTATE;
  }
  rec->open = 0;
  if (rec->ctx && rec->ctx->stream) {
    ff_status st = ff_cuda_stream_sync(rec->ctx->stream);
    if (st) return st;
  }
  rec->gate_s += (double)(ff_now_ns() - rec->t0) / 1e9;
  for (int p = 0; p < 2; p++)
    rec->gate[p] = ff_gate_cost_add(rec->gate[p], ff__cost_sub(ff_op_cost(rec->op, p), rec->before[p]));
  return FF_OK;
}

ff_status ff_sigma_local_output(ff_sigma_local_rec *rec, const ff_wire *y) {
  uint64_t *plain = NULL;
  if (rec->reveals) {
    if (rec->n_out != y->numel || !rec->out) {
      free(rec->out);
      rec->out = calloc(y->numel ? y->numel : 1, sizeof *rec->out);
      if (!rec->out) {
        rec->n_out = 0;
        FF_ERROR("ff_sigma_local_output: no memory for %zu output values", y->numel);
        return FF_ENOMEM;
      }
    }
    plain = rec->out;
  }
  rec->n_out = y->numel;
  rec->out_bw = y->bw;
  return ff_op_output(rec->op, y, plain);
}

/* Runs the graph on op into a fresh record (its out buffer carried over from *rec). */
static ff_status ff__run_graph(ff_op *op, ff_ctx *ctx, int reveals, ff_sigma_local_graph graph, void *arg,
                               ff_sigma_local_rec *rec) {
  uint64_t *out = rec->out;
  const size_t n_out = rec->n_out;
  memset(rec, 0, sizeof *rec);
  *rec = (ff_sigma_local_rec){.op = op, .ctx = ctx, .reveals = reveals, .out = out, .n_out = n_out};
  ff_status st = graph(op, arg, rec);
  if (!st && rec->open) {
    FF_ERROR("ff_sigma_run_local: the graph returned inside ff_sigma_local_gate_begin / _end");
    st = FF_ESTATE;
  }
  return st;
}

static int ff__cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of x[0..n) (sorts x). */
static double ff__median(double *x, size_t n) {
  if (n == 0) return 0;
  qsort(x, n, sizeof *x, ff__cmp_double);
  return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* ---- Parties ----------------------------------------------------------------------------------------- */

typedef struct {
  const ff_sigma_local_opts *o;
  ff_sigma_local_graph graph;
  void *arg;
  int party;
  ff_chan *ch;
  const void *keys;
  size_t keys_len;
  const char *run_id;      /* the profile's run id, shared by both parties */
  double *eval_s, *gate_s, *preload_s; /* (reps) */
  int have_costs;          /* gate and total hold a finished repetition's costs */
  ff_gate_cost gate, total;
  ff_sigma_local_rec rec;
  ff_status st;
} ff__party;

/* One repetition; rep < 0 is the profile's warm-up (run and checked, not timed into the medians).
 * With a recorder, the repetition is bracketed from the barrier to the end of the graph. */
static ff_status ff__party_rep(ff__party *a, ff_ctx *ctx, ff_prof *prof, int rep) {
  ff_keystream *ks = NULL;
  ff_op *op = NULL;
  ff_status st;
  if ((st = ff_keystream_open_mem(a->keys, a->keys_len, &ks))) goto done;
  ff_op_params p = {.role = FF_OP_PARTY, .bw = a->o->bw, .scale = a->o->scale, .ctx = ctx,
                    .key_placement = a->o->keys};
  p.keys[a->party] = ks;
  if ((st = ff_op_create(&op, &p))) goto done;
  double preload_s = 0;
  if (a->o->keys == FF_KEYS_PRELOAD) { /* before the barrier: out of the party's time */
    const uint64_t tp = ff_now_ns();
    if ((st = ff_op_preload_keys(op))) goto done;
    preload_s = (double)(ff_now_ns() - tp) / 1e9;
  }
  if ((st = ff_chan_barrier(a->ch))) goto done;
  if (prof && (st = ff_prof_rep_begin(prof, rep < 0))) goto done;
  const uint64_t t0 = ff_now_ns();
  if ((st = ff__run_graph(op, ctx, a->party == 1, a->graph, a->arg, &a->rec))) goto done;
  if (ctx->stream && (st = ff_cuda_stream_sync(ctx->stream))) goto done;
  const double eval_s = (double)(ff_now_ns() - t0) / 1e9;
  if (prof && (st = ff_prof_rep_end(prof))) goto done;
  if (rep >= 0) {
    a->eval_s[rep] = eval_s;
    a->gate_s[rep] = a->rec.gate_s;
    a->preload_s[rep] = preload_s;
  }
  const ff_gate_cost gate = a->rec.gate[a->party], total = ff_op_cost(op, a->party);
  if (a->have_costs && (!ff__cost_eq(gate, a->gate) || !ff__cost_eq(total, a->total))) {
    FF_ERROR("ff_sigma_run_local: party %d's costs changed in repetition %d", a->party, rep);
    st = FF_EMISMATCH;
    goto done;
  }
  a->gate = gate;
  a->total = total;
  a->have_costs = 1;
  if ((st = ff_op_check_consumed(op))) goto done; /* the stream or the preloaded image */
  st = ff_keystream_close(ks, FF_KEYSTREAM_CHECK_CONSUMED);
  ks = NULL;
done:
  ff_keystream_close(ks, 0);
  ff_op_destroy(op);
  return st;
}

/* The party's recorder: run metadata, and the calling thread attached (with its CUDA stream). */
static ff_status ff__party_prof(ff__party *a, ff_ctx *ctx, ff_prof **out) {
  const ff_sigma_local_opts *o = a->o;
  const ff_prof_opts po = {.party = a->party, .run_id = a->run_id};
  ff_status st = ff_prof_create(out, &po);
  if (st) return st;
  ff_prof *p = *out;
  char dev[256];
  if (ctx->stream && ff_cuda_device_name(dev, sizeof dev) == FF_OK && (st = ff_prof_meta_str(p, "device", dev)))
    return st;
  if ((st = ff_prof_meta_str(p, "tool", "bench gate")) || (st = ff_prof_meta_str(p, "backend", ff_backend_name(o->backend))) ||
      (st = ff_prof_meta_str(p, "timing.mode", "wall")) || (st = ff_prof_meta_int(p, "timing.warmup", 1)) ||
      (st = ff_prof_meta_int(p, "timing.reps", o->reps)) || (st = ff_prof_meta_str(p, "workload.suite", "sigma")) ||
      (st = ff_prof_meta_str(p, "workload.gate", o->prof_gate ? o->prof_gate : "-")) ||
      (st = ff_prof_meta_str(p, "workload.shape", o->prof_shape ? o->prof_shape : "-")) ||
      (st = ff_prof_meta_int(p, "workload.bw", o->bw)) || (st = ff_prof_meta_int(p, "workload.scale", o->scale)) ||
      (st = ff_prof_meta_str(p, "keys.placement", o->keys == FF_KEYS_PRELOAD ? "preload" : "stream")))
    return st;
  return ff_prof_thread_attach(p, a->party ? "P1 bench gate" : "P0 bench gate", ctx->stream);
}

static void *ff__party_main(void *arg) {
  ff__party *a = arg;
  ff_ctx ctx;
  ff_prof *prof = NULL;
  if ((a->st = ff_ctx_init(&ctx, a->o->backend, a->party))) goto out;
  ctx.chan = a->ch;
  if (a->o->prof_dir) a->st = ff__party_prof(a, &ctx, &prof);
  for (int rep = prof ? -1 : 0; rep < a->o->reps && !a->st; rep++) a->st = ff__party_rep(a, &ctx, prof, rep);
  if (prof && !a->st && (a->st = ff_prof_write(prof, a->o->prof_dir, NULL, NULL, 0)))
    FF_ERROR("ff_sigma_run_local: party %d cannot write its profile into %s", a->party, a->o->prof_dir);
  if (prof) ff_prof_thread_detach(); /* before the stream its CUDA events live on goes */
  ff_prof_destroy(prof);
  ff_ctx_destroy(&ctx);
out:
  if (a->st) { /* unblock the peer: its next receive fails instead of waiting */
    ff_chan_close(a->ch);
    a->ch = NULL;
  }
  return NULL;
}

/* The parties' combined status: FF_ENOTSUP wins (the peer then only saw the channel close). */
static ff_status ff__party_status(const ff__party a[2]) {
  if (a[0].st == FF_ENOTSUP || a[1].st == FF_ENOTSUP) return FF_ENOTSUP;
  return a[0].st ? a[0].st : a[1].st;
}

static ff_status ff__run_parties(const ff_sigma_local_opts *o, ff_sigma_local_graph graph, void *arg,
                                 const void *img[2], const size_t len[2], ff_sigma_local_result *res) {
  ff__party a[2];
  memset(a, 0, sizeof a);
  ff_chan *ends[2] = {NULL, NULL};
  pthread_t th[2];
  int started = 0;
  ff_status st = FF_OK;
  const ff_mem_opts mo = {.io_timeout_ms = 600000}; /* full-size CPU gates compute for many seconds */
  char run_id[24];
  ff_rng rng;
  ff_rng_init_os(&rng);
  snprintf(run_id, sizeof run_id, "%016llx", (unsigned long long)ff_rng_u64(&rng));
  for (int p = 0; p < 2; p++) {
    a[p] = (ff__party){.o = o, .graph = graph, .arg = arg, .party = p, .run_id = run_id, .keys = img[p],
                       .keys_len = len[p]};
    a[p].eval_s = calloc((size_t)o->reps, sizeof(double));
    a[p].gate_s = calloc((size_t)o->reps, sizeof(double));
    a[p].preload_s = calloc((size_t)o->reps, sizeof(double));
    if (!a[p].eval_s || !a[p].gate_s || !a[p].preload_s) {
      FF_ERROR("ff_sigma_run_local: no memory for %d repetitions", o->reps);
      st = FF_ENOMEM;
      goto done;
    }
  }
  if ((st = ff_chan_mem_pair(ends, &mo))) goto done;
  for (int p = 0; p < 2; p++) a[p].ch = ends[p];
  for (; started < 2; started++) {
    if (pthread_create(&th[started], NULL, ff__party_main, &a[started]) != 0) {
      FF_ERROR("ff_sigma_run_local: cannot start party %d's thread", started);
      st = FF_ENOMEM;
      if (a[started].ch) ff_chan_close(a[started].ch); /* the started party's receives now fail */
      a[started].ch = NULL;
      break;
    }
  }
  for (int p = 0; p < started; p++) pthread_join(th[p], NULL);
  if (!st) st = ff__party_status(a);
  if (st == FF_ENOTSUP)
    FF_INFO("ff_sigma_run_local: the %s backend cannot run this graph", ff_backend_name(o->backend));
  else if (st)
    FF_ERROR("ff_sigma_run_local: party %d failed on %s: %s", a[0].st ? 0 : 1, ff_backend_name(o->backend),
             ff_strerror(st));
  if (!st) {
    res->reps = o->reps;
    for (int p = 0; p < 2; p++) {
      res->eval_s[p] = ff__median(a[p].eval_s, (size_t)o->reps);
      res->gate_s[p] = ff__median(a[p].gate_s, (size_t)o->reps);
      res->preload_s[p] = ff__median(a[p].preload_s, (size_t)o->reps);
      res->gate[p] = a[p].gate;
      res->total[p] = a[p].total;
    }
    res->out = a[1].rec.out;
    res->n_out = a[1].rec.out ? a[1].rec.n_out : 0;
    res->out_bw = a[1].rec.out_bw;
    a[1].rec.out = NULL;
  }
done:
  for (int p = 0; p < 2; p++) {
    ff_chan_close(a[p].ch);
    free(a[p].eval_s);
    free(a[p].gate_s);
    free(a[p].preload_s);
    free(a[p].rec.out);
  }
  return st;
}

/* ---- Dealer, cost-only, the whole run ------------------------------------------------------------------ */

static ff_status ff__run_dealer(const ff_sigma_local_opts *o, ff_sigma_local_graph graph, void *arg,
                                ff_keystream *w[2], ff_sigma_local_result *res) {
  ff_ctx ctx;
  ff_op *op = NULL;
  ff_sigma_local_rec rec = {0};
  /* On CUDA the tree keys are made on the GPU (op.h); without a usable GPU the dealer stays on the CPU
   * (the same bytes) and the parties report FF_ENOTSUP. */
  const ff_backend db = o->backend == FF_BACKEND_CUDA && ff_cuda_device_count() > 0 ? FF_BACKEND_CUDA : FF_BACKEND_CPU;
  ff_status st = ff_ctx_init(&ctx, db, FF_DEALER);
  if (st) return st;
  if (o->seed) ff_rng_init_seeded(&ctx.rng, o->seed);
  const uint64_t t0 = ff_now_ns();
  ff_op_params p = {.role = FF_OP_DEALER, .bw = o->bw, .scale = o->scale, .ctx = &ctx, .keys = {w[0], w[1]}};
  if ((st = ff_op_create(&op, &p))) goto done;
  if ((st = ff__run_graph(op, &ctx, 0, graph, arg, &rec))) goto done;
  for (int q = 0; q < 2 && !st; q++) st = ff_keystream_finish(w[q]);
  if (st) goto done;
  res->keygen_s = (double)(ff_now_ns() - t0) / 1e9;
  res->keygen_gate_s = rec.gate_s;
  for (int q = 0; q < 2; q++) {
    res->keygen_gate[q] = rec.gate[q];
    res->key_bytes[q] = ff_op_cost(op, q).key_bytes;
    res->tag_bytes[q] = ff_op_tag_bytes(op, q);
  }
done:
  if (st) FF_ERROR("ff_sigma_run_local: the dealer failed: %s", ff_strerror(st));
  free(rec.out);
  ff_op_destroy(op);
  ff_ctx_destroy(&ctx);
  return st;
}

static ff_status ff__run_cost(const ff_sigma_local_opts *o, ff_sigma_local_graph graph, void *arg,
                              ff_sigma_local_result *res) {
  ff_op *op = NULL;
  ff_sigma_local_rec rec = {0};
  ff_op_params p = {.role = FF_OP_COST, .bw = o->bw, .scale = o->scale};
  ff_status st = ff_op_create(&op, &p);
  if (!st) st = ff__run_graph(op, NULL, 0, graph, arg, &rec);
  if (!st)
    for (int q = 0; q < 2; q++) {
      res->cost_gate[q] = rec.gate[q];
      res->cost_total[q] = ff_op_cost(op, q);
    }
  if (st) FF_ERROR("ff_sigma_run_local: the cost-only run failed: %s", ff_strerror(st));
  free(rec.out);
  ff_op_destroy(op);
  return st;
}

ff_status ff_sigma_run_local(const ff_sigma_local_opts *o, ff_sigma_local_graph graph, void *arg,
                             ff_sigma_local_result *res) {
  if (res) memset(res, 0, sizeof *res);
  if (!o || !graph || !res || o->reps < 1) {
    FF_ERROR("ff_sigma_run_local: options, graph and result are required, and reps >= 1");
    return FF_EINVAL;
  }
  if (o->keys != FF_KEYS_STREAM && o->keys != FF_KEYS_PRELOAD) {
    FF_ERROR("ff_sigma_run_local: unknown key placement %d", (int)o->keys);
    return FF_EINVAL;
  }
  if (o->backend != FF_BACKEND_CPU && o->backend != FF_BACKEND_CUDA) {
    FF_ERROR("ff_sigma_run_local: unknown backend %d", (int)o->backend);
    return FF_EINVAL;
  }
  ff_keystream *w[2] = {NULL, NULL};
  ff_status st = FF_OK;
  for (int p = 0; p < 2 && !st; p++) {
    const ff_keystream_params kp = {.party = p, .run_id = "sigma-local"};
    st = ff_keystream_create_mem(&kp, &w[p]);
  }
  if (!st) st = ff__run_cost(o, graph, arg, res);
  if (!st) st = ff__run_dealer(o, graph, arg, w, res);
  if (!st) {
    const void *img[2];
    size_t len[2];
    for (int p = 0; p < 2 && !st; p++) st = ff_keystream_mem_image(w[p], &img[p], &len[p]);
    if (!st) st = ff__run_parties(o, graph, arg, img, len, res);
  }
  for (int p = 0; p < 2; p++) ff_keystream_close(w[p], 0);
  return st;
}

void ff_sigma_local_result_free(ff_sigma_local_result *res) {
  if (!res) return;
  free(res->out);
  memset(res, 0, sizeof *res);
}
