/* gates/fss/lut and select on the CPU: both parties in two threads over the in-memory channel, the
 * revealed (or shared) output checked exactly against T[x] for random inputs and fresh random masks,
 * vector payloads against separate lookups, key bytes / bits sent / rounds against the cost function
 * and research/sigma.md's figures, and key shapes independent of the masks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/chan.h"
#include "core/ctx.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/lut.h"
#include "gates/fss/select.h"
#include "scope/scope.h"

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  assert_non_null(p);
  return p;
}

/* ---- Tables ------------------------------------------------------------------------------------------- */

typedef enum { TAB_IDENTITY, TAB_RANDOM, TAB_GELU } tab_kind;

/* (2^b) entries mod 2^b_out. TAB_GELU is SIGMA's reluSubGelu: ReLU(x) - GELU(x) for x = i / 2^6,
 * fixed point with 12 fractional bits. */
static void make_table(tab_kind kind, int b, int b_out, ff_rng *rng, uint64_t *tab) {
  const size_t D = (size_t)1 << b;
  for (size_t i = 0; i < D; i++) {
    if (kind == TAB_IDENTITY) {
      tab[i] = ff_ring_reduce(i, b_out);
    } else if (kind == TAB_RANDOM) {
      tab[i] = ff_ring_reduce(ff_rng_u64(rng), b_out);
    } else {
      const double x = (double)i / 64.0, gelu = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
      tab[i] = ff_fixed_encode(fmax(0.0, x) - gelu, b_out, FF_SCALE_DEFAULT);
    }
  }
}

/* ---- Running both parties ------------------------------------------------------------------------------- */

typedef struct {
  int party;
  ff_chan *ch;
  const ff_lut_key *key;
  const uint64_t *xhat, *tab;
  int reveal;
  uint64_t *out;
  ff_prof *prof;      /* when set: one recorded repetition around the gate */
  ff_comm_delta comm; /* what the gate sent, received and the rounds it began */
  ff_status st;
} party_arg;

static void *party_main(void *arg) {
  party_arg *a = arg;
  ff_ctx ctx;
  a->st = ff_ctx_init(&ctx, FF_BACKEND_CPU, a->party);
  if (a->st) return NULL;
  ctx.chan = a->ch;
  if (a->prof) {
    if ((a->st = ff_prof_thread_attach(a->prof, a->party ? "P1" : "P0", NULL)) ||
        (a->st = ff_prof_rep_begin(a->prof, 0)))
      return NULL;
  }
  const ff_comm_delta before = ff_scope_thread_comm();
  a->st = ff_lut_eval(&ctx, a->key, a->xhat, a->tab, a->reveal, a->out);
  const ff_comm_delta after = ff_scope_thread_comm();
  a->comm = (ff_comm_delta){.sent_B = after.sent_B - before.sent_B, .recv_B = after.recv_B - before.recv_B,
                            .msgs = after.msgs - before.msgs, .rounds = after.rounds - before.rounds};
  if (a->prof) {
    ff_status st = ff_prof_rep_end(a->prof);
    if (!a->st) a->st = st;
    ff_prof_thread_detach();
  }
  ff_ctx_destroy(&ctx);
  return NULL;
}

/* One LUT call by both parties: out[p] (n_tables, N) gets party p's output, comm[p] its traffic. */
static void run_parties(const ff_lut_key k[2], const uint64_t *xhat, const uint64_t *tab, int reveal, uint64_t *out[2],
                        ff_comm_delta comm[2], ff_prof *prof[2]) {
  ff_chan *ends[2];
  assert_int_equal(ff_chan_mem_pair(ends, NULL), FF_OK);
  party_arg a[2];
  pthread_t th[2];
  for (int p = 0; p < 2; p++) {
    a[p] = (party_arg){.party = p, .ch = ends[p], .key = &k[p], .xhat = xhat, .tab = tab, .reveal = reveal,
                       .out = out[p], .prof = prof ? prof[p] : NULL};
    assert_int_equal(pthread_create(&th[p], NULL, party_main, &a[p]), 0);
  }
  for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
  ff_chan_close(ends[0]);
  ff_chan_close(ends[1]);
  for (int p = 0; p < 2; p++) {
    assert_int_equal(a[p].st, FF_OK);
    if (comm) comm[p] = a[p].comm;
  }
}

/* A LUT instance: keys for random masks, random inputs, and both parties' results. */
typedef struct {
  int b, b_out, n_tables, reveal;
  size_t N;
  ff_lut_key k[2];
  uint64_t *x, *r_in, *xhat, *r_out, *out[2];
  ff_comm_delta comm[2];
} lut_run;

static void lut_run_keys(lut_run *r, int b, int b_out, int n_tables, size_t N, const uint64_t *x) {
  memset(r, 0, sizeof *r);
  r->b = b, r->b_out = b_out, r->n_tables = n_tables, r->N = N;
  ff_ctx dealer;
  assert_int_equal(ff_ctx_init(&dealer, FF_BACKEND_CPU, FF_DEALER), FF_OK); /* OS randomness: fresh masks */
  r->x = xmalloc(N * sizeof(uint64_t));
  r->r_in = xmalloc(N * sizeof(uint64_t));
  r->xhat = xmalloc(N * sizeof(uint64_t));
  r->r_out = xmalloc((size_t)n_tables * N * sizeof(uint64_t));
  for (int p = 0; p < 2; p++) r->out[p] = xmalloc((size_t)n_tables * N * sizeof(uint64_t));
  assert_int_equal(ff_rng_ring(&dealer.rng, r->r_in, N, b), FF_OK);
  if (x)
    memcpy(r->x, x, N * sizeof(uint64_t));
  else
    assert_int_equal(ff_rng_ring(&dealer.rng, r->x, N, b), FF_OK);
  for (size_t j = 0; j < N; j++) r->xhat[j] = ff_ring_reduce(r->x[j] + r->r_in[j], b);
  for (int p = 0; p < 2; p++) assert_int_equal(ff_lut_key_alloc(&dealer, &r->k[p], b, b_out, n_tables, N), FF_OK);
  assert_int_equal(ff_lut_keygen(&dealer, r->r_in, &r->k[0], &r->k[1], r->r_out), FF_OK);
  ff_ctx_destroy(&dealer);
}

static void lut_run_free(lut_run *r) {
  for (int p = 0; p < 2; p++) {
    ff_lut_key_free(&r->k[p]);
    free(r->out[p]);
  }
  free(r->x);
  free(r->r_in);
  free(r->xhat);
  free(r->r_out);
}

/* Runs the gate and returns the unmasked outputs y (n_tables, N): out - r_out, after checking that a
 * revealed output is the same public value at both parties. */
static uint64_t *lut_run_eval(lut_run *r, const uint64_t *tab, int reveal, ff_prof *prof[2]) {
  r->reveal = reveal;
  run_parties(r->k, r->xhat, tab, reveal, r->out, r->comm, prof);
  const size_t TN = (size_t)r->n_tables * r->N;
  uint64_t *y = xmalloc(TN * sizeof(uint64_t));
  for (size_t i = 0; i < TN; i++) {
    uint64_t masked = r->out[0][i];
    if (reveal)
      assert_int_equal(r->out[0][i], r->out[1][i]);
    else
      masked = r->out[0][i] + r->out[1][i];
    y[i] = ff_ring_reduce(masked - r->r_out[i], r->b_out);
  }
  return y;
}

static int check_lookup(const lut_run *r, const uint64_t *tab, const uint64_t *y) {
  int bad = 0;
  const size_t D = (size_t)1 << r->b;
  for (int t = 0; t < r->n_tables; t++)
    for (size_t j = 0; j < r->N; j++) {
      const uint64_t want = ff_ring_reduce(tab[(size_t)t * D + r->x[j]], r->b_out), got = y[(size_t)t * r->N + j];
      if (want != got && bad++ < 5)
        fprintf(stderr, "b=%d table %d element %zu: x=%llu r_in=%llu: got %#llx, want %#llx\n", r->b, t, j,
                (unsigned long long)r->x[j], (unsigned long long)r->r_in[j], (unsigned long long)got,
                (unsigned long long)want);
    }
  return bad;
}

/* ---- Correctness -------------------------------------------------------------------------------------- */

static void lookup_all_tables(int b, size_t N) {
  const int b_out = 50;
  ff_rng rng;
  ff_rng_init_os(&rng);
  uint64_t *tab = xmalloc(((size_t)1 << b) * sizeof(uint64_t));
  for (tab_kind kind = TAB_IDENTITY; kind <= TAB_GELU; kind++) {
    make_table(kind, b, b_out, &rng, tab);
    for (int reveal = 1; reveal >= 0; reveal--) {
      lut_run r;
      lut_run_keys(&r, b, b_out, 1, N, NULL);
      uint64_t *y = lut_run_eval(&r, tab, reveal, NULL);
      assert_int_equal(check_lookup(&r, tab, y), 0);
      free(y);
      lut_run_free(&r);
    }
  }
  free(tab);
}

static void test_lut_b8(void **state) {
  (void)state;
  lookup_all_tables(8, 1000);
}

static void test_lut_b10(void **state) {
  (void)state;
  lookup_all_tables(10, 333);
}

/* Every input of the domain once, narrow output ring, and b = 16 where the CPU evaluates the DPF in
 * chunks of 128 elements (the last one short). */
static void test_lut_full_domain_and_chunks(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_os(&rng);
  struct {
    int b, b_out;
    size_t N;
  } cases[] = {{8, 8, 256}, {9, 1, 512}, {16, 16, 300}, {12, 64, 100}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int b = cases[c].b, b_out = cases[c].b_out;
    const size_t N = cases[c].N;
    uint64_t *tab = xmalloc(((size_t)1 << b) * sizeof(uint64_t)), *x = xmalloc(N * sizeof(uint64_t));
    make_table(TAB_RANDOM, b, b_out, &rng, tab);
    for (size_t j = 0; j < N; j++) x[j] = (j * 2654435761u) & ff_ring_mask(b);
    lut_run r;
    lut_run_keys(&r, b, b_out, 1, N, x);
    uint64_t *y = lut_run_eval(&r, tab, 1, NULL);
    assert_int_equal(check_lookup(&r, tab, y), 0);
    free(y);
    lut_run_free(&r);
    free(tab);
    free(x);
  }
}

/* Three tables against one DPF key give what three separate lookups of the same inputs give. */
static void test_lut_vector_payload(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_os(&rng);
  for (int b = 8; b <= 10; b += 2) {
    const int b_out = 37, T = 3;
    const size_t N = 240, D = (size_t)1 << b;
    uint64_t *tabs = xmalloc(T * D * sizeof(uint64_t));
    make_table(TAB_IDENTITY, b, b_out, &rng, tabs);
    make_table(TAB_RANDOM, b, b_out, &rng, tabs + D);
    make_table(TAB_GELU, b, b_out, &rng, tabs + 2 * D);
    for (int reveal = 1; reveal >= 0; reveal--) {
      lut_run vec;
      lut_run_keys(&vec, b, b_out, T, N, NULL);
      uint64_t *yv = lut_run_eval(&vec, tabs, reveal, NULL);
      assert_int_equal(check_lookup(&vec, tabs, yv), 0);
      for (int t = 0; t < T; t++) {
        lut_run one;
        lut_run_keys(&one, b, b_out, 1, N, vec.x);
        uint64_t *y1 = lut_run_eval(&one, tabs + t * D, reveal, NULL);
        assert_memory_equal(y1, yv + (size_t)t * N, N * sizeof(uint64_t));
        /* Traffic: one u for all tables, a v and an output per table. */
        if (t == 0) {
          ff_gate_cost cv, c1;
          ff_lut_cost_vec(b, b_out, N, T, reveal, &cv);
          ff_lut_cost_vec(b, b_out, N, 1, reveal, &c1);
          assert_int_equal(vec.comm[0].sent_B, cv.bytes_sent);
          assert_int_equal(one.comm[0].sent_B, c1.bytes_sent);
          assert_int_equal(cv.bits_sent - N, T * (c1.bits_sent - N));
          assert_int_equal(vec.comm[0].rounds, one.comm[0].rounds);
        }
        free(y1);
        lut_run_free(&one);
      }
      free(yv);
      lut_run_free(&vec);
    }
    free(tabs);
  }
}

/* ---- Costs ----------------------------------------------------------------------------------------------- */

/* research/sigma.md §3/§10: 16(b-7) + 36 + 1/8 + 40 B per element: 92.125, 124.125, 172.125. In
 * eighths of a byte: 737, 993, 1377. */
static void test_lut_cost_figures(void **state) {
  (void)state;
  const struct {
    int b;
    uint64_t eighths;
  } fig[] = {{8, 737}, {10, 993}, {13, 1377}};
  for (size_t i = 0; i < 3; i++) {
    for (size_t N = 8; N <= 8192; N *= 4) {
      ff_gate_cost c;
      ff_lut_cost(fig[i].b, 50, N, &c);
      assert_int_equal(8 * c.key_bytes, fig[i].eighths * N);
      assert_int_equal(c.key_bytes, ff_lut_key_bytes(fig[i].b, 50, 1, N));
      assert_int_equal(c.bits_sent, (1 + 2 * 50) * N); /* 1 + b_out, + b_out revealed */
      assert_int_equal(8 * c.bytes_sent, c.bits_sent);
      assert_int_equal(c.rounds, 3);
      ff_lut_cost_vec(fig[i].b, 50, N, 1, 0, &c);
      assert_int_equal(c.bits_sent, 51 * N);
      assert_int_equal(c.rounds, 2);
    }
  }
  /* The select alone: 40 B, and b_out bits in one round when revealed. */
  ff_gate_cost s;
  ff_select_cost(50, 64, 1, &s);
  assert_int_equal(s.key_bytes, 40 * 64);
  assert_int_equal(s.bits_sent, 50 * 64);
  assert_int_equal(s.rounds, 1);
}

/* A run measures exactly the cost: bytes per party (each way), messages, rounds, in the scope
 * recorder's FSS::LUT node and its Reconstruct child, and the serialized key length. */
static void test_lut_cost_measured(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_os(&rng);
  const int bs[] = {8, 10, 13};
  for (size_t i = 0; i < 3; i++) {
    const int b = bs[i], b_out = 50;
    for (int reveal = 0; reveal <= 1; reveal++) {
      const size_t N = reveal ? 64 : 61; /* a multiple of 8, and one that is not */
      uint64_t *tab = xmalloc(((size_t)1 << b) * sizeof(uint64_t));
      make_table(TAB_RANDOM, b, b_out, &rng, tab);
      ff_prof *prof[2];
      for (int p = 0; p < 2; p++) {
        ff_prof_opts o = {.party = p, .run_id = "test-lut"};
        assert_int_equal(ff_prof_create(&prof[p], &o), FF_OK);
      }
      lut_run r;
      lut_run_keys(&r, b, b_out, 1, N, NULL);
      uint64_t *y = lut_run_eval(&r, tab, reveal, prof);
      assert_int_equal(check_lookup(&r, tab, y), 0);
      ff_gate_cost c;
      ff_lut_cost_vec(b, b_out, N, 1, reveal, &c);
      if (reveal) {
        ff_gate_cost d;
        ff_lut_cost(b, b_out, N, &d);
        assert_memory_equal(&c, &d, sizeof c);
        assert_int_equal(8 * c.bytes_sent, c.bits_sent);
      }
      for (int p = 0; p < 2; p++) {
        assert_int_equal(r.comm[p].sent_B, c.bytes_sent);
        assert_int_equal(r.comm[p].recv_B, c.bytes_sent);
        assert_int_equal(r.comm[p].rounds, c.rounds);
        assert_int_equal(r.comm[p].msgs, c.rounds); /* one message per exchange */
        const ff_prof_rep *rep = ff_prof_rep_get(prof[p], 0);
        const int lut = ff_prof_find(rep, "FSS::LUT"), rec = ff_prof_find(rep, "FSS::LUT/Reconstruct");
        assert_true(lut >= 0 && rec >= 0);
        assert_int_equal(rep->nodes[lut].calls, 1);
        assert_int_equal(rep->nodes[lut].sent_B, c.bytes_sent);
        assert_int_equal(rep->nodes[lut].rounds, c.rounds);
        assert_int_equal(rep->nodes[rec].sent_B, c.bytes_sent); /* all traffic is reconstructs */
        assert_int_equal(rep->nodes[rec].rounds, c.rounds);
        assert_int_equal(rep->nodes[rec].calls, reveal ? 2 : 1);
        /* The key a party holds. */
        const size_t kb = ff_lut_key_bytes(b, b_out, 1, N);
        assert_int_equal(kb, c.key_bytes);
        uint8_t *ser = xmalloc(kb);
        assert_int_equal(ff_lut_key_serialize(&r.k[p], ser, kb), FF_OK);
        const ff_log_level saved = ff_log_get_level();
        ff_log_set_level(FF_LOG_OFF); /* the refusal below logs */
        assert_int_equal(ff_lut_key_serialize(&r.k[p], ser, kb - 1), FF_ERANGE);
        ff_log_set_level(saved);
        free(ser);
        ff_prof_destroy(prof[p]);
      }
      free(y);
      lut_run_free(&r);
      free(tab);
    }
  }
}

/* ---- Keys ----------------------------------------------------------------------------------------------------- */

/* The serialized key has the same length for every mask (including 0 and all-ones), survives a round
 * trip byte for byte and evaluates the same after it; malformed input is refused. */
static void test_lut_key_shape(void **state) {
  (void)state;
  const int b = 10, b_out = 24, T = 2;
  const size_t N = 37, kb = ff_lut_key_bytes(b, b_out, T, N);
  assert_int_equal(kb, (16 * (b - 7) + 36 + 40 * T) * N + (N + 7) / 8);
  ff_ctx dealer, p0;
  assert_int_equal(ff_ctx_init(&dealer, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  assert_int_equal(ff_ctx_init(&p0, FF_BACKEND_CPU, 0), FF_OK);
  uint64_t r_in[37], r_out[2 * 37], xhat[37], u[2][37], v[2][2 * 37];
  uint64_t *tab = xmalloc(T * ((size_t)1 << b) * sizeof(uint64_t));
  make_table(TAB_RANDOM, b, b_out, &dealer.rng, tab);
  make_table(TAB_GELU, b, b_out, &dealer.rng, tab + ((size_t)1 << b));
  uint8_t *ser = xmalloc(kb + 1), *again = xmalloc(kb);
  for (int trial = 0; trial < 40; trial++) {
    if (trial == 0 || trial == 1)
      for (size_t j = 0; j < N; j++) r_in[j] = trial ? ff_ring_mask(b) : 0;
    else
      assert_int_equal(ff_rng_ring(&dealer.rng, r_in, N, b), FF_OK);
    assert_int_equal(ff_rng_ring(&dealer.rng, xhat, N, b), FF_OK);
    ff_lut_key k[2], back;
    for (int p = 0; p < 2; p++) assert_int_equal(ff_lut_key_alloc(&dealer, &k[p], b, b_out, T, N), FF_OK);
    assert_int_equal(ff_lut_keygen(&dealer, r_in, &k[0], &k[1], r_out), FF_OK);
    for (int p = 0; p < 2; p++) {
      memset(ser, 0xEE, kb + 1);
      assert_int_equal(ff_lut_key_serialize(&k[p], ser, kb + 1), FF_OK);
      assert_int_equal(ser[kb], 0xEE); /* exactly kb bytes written */
      assert_int_equal(ff_lut_key_deserialize(&back, b, b_out, T, N, ser, kb), FF_OK);
      assert_int_equal(ff_lut_key_serialize(&back, again, kb), FF_OK);
      assert_memory_equal(ser, again, kb);
      p0.party = p;
      assert_int_equal(ff_lut_eval_local_cpu(&p0, &k[p], xhat, tab, u[0], v[0]), FF_OK);
      assert_int_equal(ff_lut_eval_local_cpu(&p0, &back, xhat, tab, u[1], v[1]), FF_OK);
      assert_memory_equal(u[0], u[1], sizeof u[0]);
      assert_memory_equal(v[0], v[1], sizeof v[0]);
      ff_lut_key_free(&back);
    }
    for (int p = 0; p < 2; p++) ff_lut_key_free(&k[p]);
  }
  /* Wrong length, and a tR word with a bit above the last level. */
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_lut_key_deserialize(&(ff_lut_key){0}, b, b_out, T, N, ser, kb - 1), FF_EFORMAT);
  ff_lut_key bad;
  ser[16 * (b - 5) * N + 4 * 5 + 0] |= (uint8_t)(1u << (b - 7)); /* element 5's word, bit b-7 */
  assert_int_equal(ff_lut_key_deserialize(&bad, b, b_out, T, N, ser, kb), FF_EFORMAT);
  ff_log_set_level(saved);
  free(ser);
  free(again);
  free(tab);
  ff_ctx_destroy(&dealer);
  ff_ctx_destroy(&p0);
}

static void test_lut_bad_args(void **state) {
  (void)state;
  ff_ctx ctx;
  assert_int_equal(ff_ctx_init(&ctx, FF_BACKEND_CPU, 0), FF_OK);
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF); /* every call below fails on purpose and logs why */
  ff_lut_key k;
  assert_int_equal(ff_lut_key_alloc(&ctx, &k, 7, 50, 1, 8), FF_EINVAL);
  assert_int_equal(ff_lut_key_alloc(&ctx, &k, 17, 50, 1, 8), FF_EINVAL);
  assert_int_equal(ff_lut_key_alloc(&ctx, &k, 8, 65, 1, 8), FF_EINVAL);
  assert_int_equal(ff_lut_key_alloc(&ctx, &k, 8, 50, 0, 8), FF_EINVAL);
  assert_int_equal(ff_lut_key_alloc(&ctx, &k, 8, 50, 1, 0), FF_EINVAL);
  assert_int_equal(ff_lut_key_bytes(8, 50, 1, 0), 0);
  assert_int_equal(ff_lut_key_alloc(&ctx, &k, 8, 50, 1, 8), FF_OK);
  uint64_t x[8] = {0}, tab[256] = {0}, out[8];
  /* No channel: the gate fails cleanly after its local work. */
  assert_int_equal(ff_lut_eval(&ctx, &k, x, tab, 1, out), FF_EINVAL);
  assert_int_equal(ff_lut_eval(&ctx, NULL, x, tab, 1, out), FF_EINVAL);
  assert_int_equal(ff_lut_eval_local_cpu(&ctx, &k, NULL, tab, out, out), FF_EINVAL);
  ctx.party = FF_DEALER;
  assert_int_equal(ff_lut_eval_local_cpu(&ctx, &k, x, tab, out, out), FF_EINVAL);
  /* The CUDA twin refuses a host key, or says the build has no CUDA. */
  assert_int_equal(ff_lut_eval_local_cuda(&ctx, &k, x, tab, out, out), ff_cuda_built() ? FF_EINVAL : FF_ENOTSUP);
  ff_lut_key_free(&k);
  ff_lut_key_free(&k); /* twice is safe */
  ff_log_set_level(saved);
  ff_ctx_destroy(&ctx);
}

/* ---- Select ------------------------------------------------------------------------------------------------------ */

typedef struct {
  int party;
  ff_chan *ch;
  const ff_select_key *key;
  size_t n_bits;
  const uint64_t *bhat, *yhat;
  uint64_t *out;
  ff_status st;
} select_arg;

static void *select_main(void *arg) {
  select_arg *a = arg;
  ff_ctx ctx;
  if ((a->st = ff_ctx_init(&ctx, FF_BACKEND_CPU, a->party))) return NULL;
  ctx.chan = a->ch;
  a->st = ff_select(&ctx, a->key, a->n_bits, a->bhat, a->yhat, 1, a->out);
  ff_ctx_destroy(&ctx);
  return NULL;
}

/* select(x, y) = x*y + r_out revealed, for random bits and values, one bit per value and one bit
 * shared by 4 values. */
static void test_select(void **state) {
  (void)state;
  const int bws[] = {1, 13, 50, 64};
  for (size_t w = 0; w < 4; w++) {
    for (size_t share = 1; share <= 4; share *= 4) {
      const int bw = bws[w];
      const size_t N = 200, nb = N / share;
      ff_ctx dealer;
      assert_int_equal(ff_ctx_init(&dealer, FF_BACKEND_CPU, FF_DEALER), FF_OK);
      uint64_t bit[200], rx[200], rxN[200], y[200], ry[200], rout[200], bhat[200], yhat[200], out[2][200];
      for (size_t i = 0; i < N; i++) {
        bit[i] = ff_rng_u64(&dealer.rng) & 1;
        rx[i] = ff_rng_u64(&dealer.rng) & 1;
        y[i] = ff_ring_reduce(ff_rng_u64(&dealer.rng), bw);
        ry[i] = ff_ring_reduce(ff_rng_u64(&dealer.rng), bw);
        rout[i] = ff_ring_reduce(ff_rng_u64(&dealer.rng), bw);
      }
      for (size_t i = 0; i < N; i++) rxN[i] = rx[i % nb];
      for (size_t i = 0; i < nb; i++) bhat[i] = bit[i] ^ rx[i];
      for (size_t i = 0; i < N; i++) yhat[i] = ff_ring_reduce(y[i] + ry[i], bw);
      ff_select_key k[2];
      for (int p = 0; p < 2; p++) assert_int_equal(ff_select_key_alloc(&dealer, &k[p], bw, N), FF_OK);
      assert_int_equal(ff_select_keygen(&dealer, rxN, ry, rout, &k[0], &k[1]), FF_OK);
      ff_chan *ends[2];
      assert_int_equal(ff_chan_mem_pair(ends, NULL), FF_OK);
      select_arg a[2];
      pthread_t th[2];
      for (int p = 0; p < 2; p++) {
        a[p] = (select_arg){.party = p, .ch = ends[p], .key = &k[p], .n_bits = nb, .bhat = bhat, .yhat = yhat,
                            .out = out[p]};
        assert_int_equal(pthread_create(&th[p], NULL, select_main, &a[p]), 0);
      }
      for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
      ff_chan_close(ends[0]);
      ff_chan_close(ends[1]);
      for (int p = 0; p < 2; p++) assert_int_equal(a[p].st, FF_OK);
      for (size_t i = 0; i < N; i++) {
        assert_int_equal(out[0][i], out[1][i]);
        assert_int_equal(ff_ring_reduce(out[0][i] - rout[i], bw), bit[i % nb] * y[i]);
      }
      for (int p = 0; p < 2; p++) ff_select_key_free(&k[p]);
      ff_ctx_destroy(&dealer);
    }
  }
}

/* What ff_lut_keygen_emit handed over: each party's pieces, concatenated (host pieces only here). */
typedef struct {
  uint8_t *key[2];
  size_t n[2], cap;
  int pieces[2], fail_at, calls; /* fail_at: 1-based call that returns FF_EIO; 0: none */
} lut_pieces;

static ff_status take_piece(void *arg, int p, ff_ctx *mem, const void *bytes, ff_mem where, size_t n) {
  lut_pieces *e = arg;
  (void)mem;
  if (++e->calls == e->fail_at) return FF_EIO;
  assert_int_equal(where, FF_MEM_HOST);
  assert_true(p == 0 ? e->n[1] == 0 : 1); /* party 0's whole key comes first */
  assert_true(e->n[p] + n <= e->cap);
  memcpy(e->key[p] + e->n[p], bytes, n);
  e->n[p] += n;
  e->pieces[p]++;
  return FF_OK;
}

/* ff_lut_keygen_emit on a CPU dealer hands over, party 0's first, the serialized keys that ff_lut_keygen and
 * ff_lut_key_serialize make from the same generator state, the same output masks, and leaves the generator
 * at the same place; an emitter's failure is returned; bad shapes and a CUDA context are refused before
 * any draw. (The device path, whose DPF blocks stay in GPU memory: tests/test_dealer_cuda.c.) */
static void test_lut_keygen_emit(void **state) {
  (void)state;
  const int bs[] = {8, 10, 13}, outs[] = {37, 50, 64}, tables[] = {1, 2, 1};
  const size_t Ns[] = {1, 333, 1000};
  for (int c = 0; c < 3; c++) {
    const int b = bs[c], b_out = outs[c], nt = tables[c];
    const size_t N = Ns[c], kb = ff_lut_key_bytes(b, b_out, nt, N);
    ff_ctx dealer;
    assert_int_equal(ff_ctx_init(&dealer, FF_BACKEND_CPU, FF_DEALER), FF_OK);
    uint64_t *r_in = xmalloc(N * sizeof *r_in), *want_out = xmalloc(nt * N * sizeof *want_out),
             *got_out = xmalloc(nt * N * sizeof *got_out);
    ff_rng_init_seeded(&dealer.rng, 40 + (uint64_t)c);
    assert_int_equal(ff_rng_ring(&dealer.rng, r_in, N, 64), FF_OK); /* taken mod 2^b by the keygen */
    ff_lut_key k[2];
    for (int p = 0; p < 2; p++) assert_int_equal(ff_lut_key_alloc(&dealer, &k[p], b, b_out, nt, N), FF_OK);
    ff_rng_init_seeded(&dealer.rng, 7);
    assert_int_equal(ff_lut_keygen(&dealer, r_in, &k[0], &k[1], want_out), FF_OK);
    const uint64_t after = ff_rng_u64(&dealer.rng);
    uint8_t *want[2] = {xmalloc(kb), xmalloc(kb)};
    for (int p = 0; p < 2; p++) assert_int_equal(ff_lut_key_serialize(&k[p], want[p], kb), FF_OK);

    lut_pieces e = {.key = {xmalloc(kb), xmalloc(kb)}, .cap = kb};
    ff_rng_init_seeded(&dealer.rng, 7);
    assert_int_equal(ff_lut_keygen_emit(&dealer, b, b_out, nt, N, r_in, got_out, take_piece, &e), FF_OK);
    for (int p = 0; p < 2; p++) {
      assert_int_equal(e.n[p], kb);
      assert_memory_equal(e.key[p], want[p], kb);
    }
    assert_memory_equal(got_out, want_out, nt * N * sizeof *got_out);
    assert_true(ff_rng_u64(&dealer.rng) == after);
    for (int fail = 1; fail <= e.calls; fail++) {
      lut_pieces f = {.key = {e.key[0], e.key[1]}, .cap = kb, .fail_at = fail};
      assert_int_equal(ff_lut_keygen_emit(&dealer, b, b_out, nt, N, r_in, got_out, take_piece, &f), FF_EIO);
      assert_int_equal(f.calls, fail);
    }
    for (int p = 0; p < 2; p++) {
      free(want[p]);
      free(e.key[p]);
      ff_lut_key_free(&k[p]);
    }
    free(r_in);
    free(want_out);
    free(got_out);
    ff_ctx_destroy(&dealer);
  }
  ff_ctx dealer;
  assert_int_equal(ff_ctx_init(&dealer, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  ff_rng_init_seeded(&dealer.rng, 9);
  const uint64_t first = ff_rng_u64(&dealer.rng);
  ff_rng_init_seeded(&dealer.rng, 9);
  uint64_t r = 1, out[2];
  lut_pieces none = {.cap = 0};
  assert_int_equal(ff_lut_keygen_emit(&dealer, 7, 37, 1, 1, &r, out, take_piece, &none), FF_EINVAL);  /* b below 8 */
  assert_int_equal(ff_lut_keygen_emit(&dealer, 17, 37, 1, 1, &r, out, take_piece, &none), FF_EINVAL); /* above 16 */
  assert_int_equal(ff_lut_keygen_emit(&dealer, 8, 37, 0, 1, &r, out, take_piece, &none), FF_EINVAL);  /* no table */
  assert_int_equal(ff_lut_keygen_emit(&dealer, 8, 37, 1, 0, &r, out, take_piece, &none), FF_EINVAL);  /* no element */
  assert_int_equal(ff_lut_keygen_emit(&dealer, 8, 37, 1, 1, NULL, out, take_piece, &none), FF_EINVAL);
  assert_int_equal(ff_lut_keygen_emit(&dealer, 8, 37, 1, 1, &r, out, NULL, &none), FF_EINVAL);
  ff_ctx gpu = {.backend = FF_BACKEND_CUDA};
  assert_int_equal(ff_lut_keygen_emit(&gpu, 8, 37, 1, 1, &r, out, take_piece, &none), FF_EINVAL);
  assert_int_equal(none.calls, 0);
  assert_true(ff_rng_u64(&dealer.rng) == first);
  ff_ctx_destroy(&dealer);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_select),
      cmocka_unit_test(test_lut_b8),
      cmocka_unit_test(test_lut_b10),
      cmocka_unit_test(test_lut_full_domain_and_chunks),
      cmocka_unit_test(test_lut_vector_payload),
      cmocka_unit_test(test_lut_cost_figures),
      cmocka_unit_test(test_lut_cost_measured),
      cmocka_unit_test(test_lut_key_shape),
      cmocka_unit_test(test_lut_bad_args),
      cmocka_unit_test(test_lut_keygen_emit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
