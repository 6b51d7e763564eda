/* Tests of the two-party channels (comm/chan.h, DESIGN.md §5-§6): exact attribution of bytes,
 * messages and rounds to nested scopes on both parties over the in-memory pair (two threads) and TCP
 * (two processes), full-duplex bulk exchange, shaping, and every failure a run can meet (peer gone,
 * silent peer, no listener, port in use, foreign or mismatched peer). Timing is only bounded below.
 * Code under test: comm/chan.c, comm/tcp.c, comm/mem.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "comm/chan.h"
#include "comm/pack.h"
#include "core/rand.h"
#include "core/status.h"
#include "core/time.h"
#include "scope/scope.h"

#define MS (1000000ull)
#define TEST_RUN_ID "tcp-test-run"

/* Reports a failed call and makes the workload count a failure; usable in threads and forked
 * children, where cmocka's asserts are not. */
#define CHECK(expr)                                                                               \
  do {                                                                                            \
    ff_status st_ = (expr);                                                                       \
    if (st_ != FF_OK) {                                                                           \
      fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, ff_status_name(st_));       \
      return 1;                                                                                   \
    }                                                                                             \
  } while (0)

/* Deterministic payloads: party p's byte i of message `tag`, so each side can check what arrived. */
static uint8_t payload_byte(int party, int tag, size_t i) {
  return (uint8_t)(i * 131u + (unsigned)tag * 17u + (unsigned)party * 101u + 7u);
}
static void fill(uint8_t *b, size_t n, int party, int tag) {
  for (size_t i = 0; i < n; i++) b[i] = payload_byte(party, tag, i);
}
static int mismatch(const uint8_t *b, size_t n, int party, int tag) {
  for (size_t i = 0; i < n; i++)
    if (b[i] != payload_byte(party, tag, i)) {
      fprintf(stderr, "payload %d from party %d differs at byte %zu\n", tag, party, i);
      return 1;
    }
  return 0;
}

/* ---- Workloads (run by each party, inside one repetition of its own recorder) -------------------- */

typedef int (*body_fn)(ff_chan *ch);

/* `trips` round trips of 8 bytes, party 0 speaking first. */
static int ping_pong(ff_chan *ch, int trips) {
  int me = ff_chan_party(ch), bad = 0;
  uint8_t out[8], in[8];
  for (int t = 0; t < trips; t++) {
    fill(out, 8, me, 50 + t);
    if (me == 0) {
      CHECK(ff_chan_send(ch, out, 8));
      CHECK(ff_chan_recv(ch, in, 8));
    } else {
      CHECK(ff_chan_recv(ch, in, 8));
      CHECK(ff_chan_send(ch, out, 8));
    }
    bad += mismatch(in, 8, 1 - me, 50 + t);
  }
  return bad;
}

static uint64_t ring_value(int party, size_t i) {
  /* Full 64-bit values: exchange_bits must drop the bits above the width. */
  return 0xA5A5000000000000ull ^ ((uint64_t)party << 40) ^ (i * 0x9E3779B97F4A7C15ull);
}

/* The scripted forward pass: nested scopes, each with one kind of traffic. */
static int scripted_workload(ff_chan *ch) {
  int me = ff_chan_party(ch), bad = 0;
  uint8_t out[100], in[100];
  uint64_t vout[10], vin[10];
  FF_SCOPE("Forward");
  {
    FF_SCOPE_LAYER("Layer", 0);
    {
      FF_SCOPE("Softmax");
      fill(out, 100, me, 1);
      CHECK(ff_chan_exchange(ch, out, in, 100));
      bad += mismatch(in, 100, 1 - me, 1);
    }
    {
      FF_SCOPE("Linear");
      if (me == 0) {
        fill(out, 40, me, 2);
        CHECK(ff_chan_send(ch, out, 40));
      } else {
        CHECK(ff_chan_recv(ch, in, 40));
        bad += mismatch(in, 40, 0, 2);
      }
    }
    {
      FF_SCOPE("Reconstruct");
      for (size_t i = 0; i < 10; i++) vout[i] = ring_value(me, i);
      CHECK(ff_chan_exchange_bits(ch, vout, vin, 10, 13));
      for (size_t i = 0; i < 10; i++)
        if (vin[i] != (ring_value(1 - me, i) & 0x1FFF)) {
          fprintf(stderr, "exchange_bits: value %zu is %#llx\n", i, (unsigned long long)vin[i]);
          bad++;
        }
    }
    {
      FF_SCOPE("Output");
      bad += ping_pong(ch, 2);
    }
    /* Uncharged: must not show up anywhere. */
    CHECK(ff_chan_barrier(ch));
  }
  return bad;
}

/* chan.h's round rules one by one, from a fresh channel. */
static int round_rules_workload(ff_chan *ch) {
  int me = ff_chan_party(ch), bad = 0;
  uint8_t out[30], in[30];
  {
    FF_SCOPE("Output");
    bad += ping_pong(ch, 2);
  }
  {
    FF_SCOPE("Linear");
    for (int k = 0; k < 3; k++) {
      if (me == 0) {
        fill(out, 10, 0, 60 + k);
        CHECK(ff_chan_send(ch, out, 10));
      } else {
        CHECK(ff_chan_recv(ch, in, 10));
        bad += mismatch(in, 10, 0, 60 + k);
      }
    }
  }
  {
    FF_SCOPE("Softmax");
    fill(out, 24, me, 3);
    CHECK(ff_chan_exchange(ch, out, in, 24));
    bad += mismatch(in, 24, 1 - me, 3);
  }
  return bad;
}

#define SHAPED_EXCHANGES 3
#define SHAPED_BYTES 10000
static int shaped_workload(ff_chan *ch) {
  int me = ff_chan_party(ch), bad = 0;
  uint8_t out[SHAPED_BYTES], in[SHAPED_BYTES];
  FF_SCOPE("Softmax");
  for (int k = 0; k < SHAPED_EXCHANGES; k++) {
    fill(out, SHAPED_BYTES, me, 70 + k);
    CHECK(ff_chan_exchange(ch, out, in, SHAPED_BYTES));
    bad += mismatch(in, SHAPED_BYTES, 1 - me, 70 + k);
  }
  return bad;
}

#define BIG_BYTES ((size_t)64 << 20)
/* Seeded streams for the bulk exchange, checked a MiB at a time so that only the two payload
 * buffers are ever held. */
static int big_exchange_workload(ff_chan *ch) {
  int me = ff_chan_party(ch), bad = 0;
  uint8_t *out = malloc(BIG_BYTES), *in = malloc(BIG_BYTES), *chunk = malloc(1 << 20);
  if (!out || !in || !chunk) {
    free(out), free(in), free(chunk);
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  ff_rng rng;
  ff_rng_init_seeded(&rng, 1000 + (uint64_t)me);
  (void)ff_rng_bytes(&rng, out, BIG_BYTES);
  ff_status st;
  {
    FF_SCOPE("Reconstruct");
    st = ff_chan_exchange(ch, out, in, BIG_BYTES);
  }
  if (st) {
    fprintf(stderr, "64 MiB exchange: %s\n", ff_status_name(st));
    bad = 1;
  } else {
    ff_rng_init_seeded(&rng, 1000 + (uint64_t)(1 - me));
    for (size_t off = 0; off < BIG_BYTES && !bad; off += 1 << 20) {
      (void)ff_rng_bytes(&rng, chunk, 1 << 20);
      if (memcmp(in + off, chunk, 1 << 20) != 0) {
        fprintf(stderr, "64 MiB exchange: party %d received wrong bytes in MiB %zu\n", me, off >> 20);
        bad = 1;
      }
    }
  }
  free(out);
  free(in);
  free(chunk);
  return bad;
}

/* ---- Expected attribution ------------------------------------------------------------------------ */

typedef struct {
  const char *path;
  uint64_t sent_B, recv_B, msgs, rounds;
} expect_row;

/* Derived by hand from chan.h's rule (a round begins at each direction change of a party's own
 * traffic; an exchange is one). P0: exchange 1; its Linear send follows an exchange: 1; exchange 1;
 * ping-pong of 2 trips send/recv/send/recv after an exchange: 4; total 7. P1: exchange 1; Linear
 * receive after an exchange: 1; exchange 1; recv/send/recv/send after an exchange: 4; total 7.
 * exchange_bits of 10 x 13 bits = 17 bytes. */
static const expect_row scripted_expect[2][7] = {
    {{"Forward", 173, 133, 5, 7},
     {"Forward/Layer[0]", 173, 133, 5, 7},
     {"Forward/Layer[0]/Softmax", 100, 100, 1, 1},
     {"Forward/Layer[0]/Linear", 40, 0, 1, 1},
     {"Forward/Layer[0]/Reconstruct", 17, 17, 1, 1},
     {"Forward/Layer[0]/Output", 16, 16, 2, 4},
     {NULL, 0, 0, 0, 0}},
    {{"Forward", 133, 173, 4, 7},
     {"Forward/Layer[0]", 133, 173, 4, 7},
     {"Forward/Layer[0]/Softmax", 100, 100, 1, 1},
     {"Forward/Layer[0]/Linear", 0, 40, 0, 1},
     {"Forward/Layer[0]/Reconstruct", 17, 17, 1, 1},
     {"Forward/Layer[0]/Output", 16, 16, 2, 4},
     {NULL, 0, 0, 0, 0}},
};

/* From a fresh channel. Ping-pong of two round trips: P0 send (no previous operation: 0), recv 1,
 * send 1, recv 1 = 3; P1 recv 1, send 1, recv 1, send 1 = 4; merged max 4 = four one-way flights.
 * Three pipelined one-way messages: P0's first send follows a receive (1), the others 0; P1's first
 * receive follows a send (1), the others 0; merged 1. An exchange is 1 each. */
static const expect_row round_rules_expect[2][4] = {
    {{"Output", 16, 16, 2, 3}, {"Linear", 30, 0, 3, 1}, {"Softmax", 24, 24, 1, 1}, {NULL, 0, 0, 0, 0}},
    {{"Output", 16, 16, 2, 4}, {"Linear", 0, 30, 0, 1}, {"Softmax", 24, 24, 1, 1}, {NULL, 0, 0, 0, 0}},
};

static const expect_row big_expect[2][2] = {
    {{"Reconstruct", BIG_BYTES, BIG_BYTES, 1, 1}, {NULL, 0, 0, 0, 0}},
    {{"Reconstruct", BIG_BYTES, BIG_BYTES, 1, 1}, {NULL, 0, 0, 0, 0}},
};

#define EXPECT_EQ(what, got, want)                                                                \
  do {                                                                                            \
    if ((uint64_t)(got) != (uint64_t)(want)) {                                                    \
      fprintf(stderr, "party %d rep %zu %s: %s = %llu, expected %llu\n", party, r, row->path,     \
              what, (unsigned long long)(got), (unsigned long long)(want));                       \
      bad++;                                                                                      \
    }                                                                                             \
  } while (0)

/* Compares every repetition of p with the table; the first row is the top scope, whose inclusive
 * counters must also equal the repetition's totals (nothing charged outside it). Returns the number
 * of mismatches, each printed. */
static int check_attribution(const ff_prof *p, const expect_row *rows, int top_is_total) {
  int party = ff_prof_party(p), bad = 0;
  if (ff_prof_rep_count(p) == 0) {
    fprintf(stderr, "party %d: no repetition recorded\n", party);
    return 1;
  }
  for (size_t r = 0; r < ff_prof_rep_count(p); r++) {
    const ff_prof_rep *rep = ff_prof_rep_get(p, r);
    uint64_t sum_sent = 0, sum_recv = 0, sum_msgs = 0, sum_rounds = 0;
    for (const expect_row *row = rows; row->path; row++) {
      int i = ff_prof_find(rep, row->path);
      if (i < 0) {
        fprintf(stderr, "party %d rep %zu: no scope %s\n", party, r, row->path);
        bad++;
        continue;
      }
      const ff_prof_node *n = &rep->nodes[i];
      EXPECT_EQ("calls", n->calls, 1);
      EXPECT_EQ("sent_B", n->sent_B, row->sent_B);
      EXPECT_EQ("recv_B", n->recv_B, row->recv_B);
      EXPECT_EQ("msgs", n->msgs, row->msgs);
      EXPECT_EQ("rounds", n->rounds, row->rounds);
      if (!top_is_total) {
        sum_sent += n->sent_B, sum_recv += n->recv_B, sum_msgs += n->msgs, sum_rounds += n->rounds;
      }
    }
    if (top_is_total) {
      sum_sent = rows[0].sent_B, sum_recv = rows[0].recv_B;
      sum_msgs = rows[0].msgs, sum_rounds = rows[0].rounds;
    }
    const expect_row total = {"(repetition total)", sum_sent, sum_recv, sum_msgs, sum_rounds};
    const expect_row *row = &total;
    EXPECT_EQ("sent_B", rep->comm.sent_B, row->sent_B);
    EXPECT_EQ("recv_B", rep->comm.recv_B, row->recv_B);
    EXPECT_EQ("msgs", rep->comm.msgs, row->msgs);
    EXPECT_EQ("rounds", rep->comm.rounds, row->rounds);
  }
  return bad;
}

/* ---- Running one party --------------------------------------------------------------------------- */

/* Runs `body` in `reps` repetitions of a fresh recorder bound to the calling thread, with a barrier
 * after each (as a benchmark would); returns the failures and the recorder (caller destroys). */
static int run_recorded(ff_chan *ch, body_fn body, int reps, ff_prof **out) {
  int me = ff_chan_party(ch), bad = 0;
  *out = NULL;
  ff_prof *p = NULL;
  ff_prof_opts po = {.party = me, .run_id = "test"};
  CHECK(ff_prof_create(&p, &po));
  *out = p;
  CHECK(ff_prof_thread_attach(p, me ? "P1" : "P0", NULL));
  for (int r = 0; r < reps && !bad; r++) {
    CHECK(ff_prof_rep_begin(p, 0));
    bad += body(ch);
    CHECK(ff_prof_rep_end(p));
    CHECK(ff_chan_barrier(ch));
  }
  ff_prof_thread_detach();
  return bad;
}

typedef struct {
  ff_chan *ch;
  body_fn body;
  int reps;
  ff_prof *prof;
  int bad;
} party_thread_arg;

static void *party_thread(void *arg) {
  party_thread_arg *a = arg;
  a->bad = run_recorded(a->ch, a->body, a->reps, &a->prof);
  return NULL;
}

/* Both parties over an in-memory pair, one thread each; returns their recorders. */
static void run_mem_parties(const ff_mem_opts *o, body_fn body, int reps, ff_prof *profs[2]) {
  ff_chan *ends[2];
  assert_int_equal(ff_chan_mem_pair(ends, o), FF_OK);
  party_thread_arg a[2] = {{.ch = ends[0], .body = body, .reps = reps},
                           {.ch = ends[1], .body = body, .reps = reps}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, party_thread, &a[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  ff_chan_close(ends[0]);
  ff_chan_close(ends[1]);
  for (int i = 0; i < 2; i++) {
    assert_non_null(a[i].prof);
    assert_int_equal(a[i].bad, 0);
    profs[i] = a[i].prof;
  }
}

/* ---- In-memory ----------------------------------------------------------------------------------- */

static void test_mem_attribution(void **state) {
  (void)state;
  ff_prof *profs[2];
  ff_mem_opts o = {.io_timeout_ms = 5000};
  run_mem_parties(&o, scripted_workload, 2, profs);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(ff_prof_rep_count(profs[i]), 2);
    assert_int_equal(check_attribution(profs[i], scripted_expect[i], 1), 0);
  }
  /* What one party sent, the other received: exact on every scope and on the totals. */
  const ff_prof_rep *r0 = ff_prof_rep_get(profs[0], 0), *r1 = ff_prof_rep_get(profs[1], 0);
  assert_int_equal(r0->comm.sent_B, r1->comm.recv_B);
  assert_int_equal(r1->comm.sent_B, r0->comm.recv_B);
  ff_prof_destroy(profs[0]);
  ff_prof_destroy(profs[1]);
}

static void test_mem_round_rules(void **state) {
  (void)state;
  ff_prof *profs[2];
  ff_mem_opts o = {.io_timeout_ms = 5000};
  run_mem_parties(&o, round_rules_workload, 1, profs);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(check_attribution(profs[i], round_rules_expect[i], 0), 0);
    ff_prof_destroy(profs[i]);
  }
}

static void test_mem_accessors_and_args(void **state) {
  (void)state;
  ff_chan *ends[2];
  ff_mem_opts o = {.io_timeout_ms = 1000, .shaping = {.lat_ns = 5, .bw_Bps = 7}};
  assert_int_equal(ff_chan_mem_pair(ends, &o), FF_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(ff_chan_party(ends[i]), i);
    assert_string_equal(ff_chan_transport(ends[i]), "mem");
    assert_string_equal(ff_chan_peer(ends[i]), "in-memory");
    assert_string_equal(ff_chan_run_id(ends[i]), "");
    assert_int_equal(ff_chan_local_port(ends[i]), -1);
    int64_t off = 1, err = 1;
    ff_chan_clock_offset(ends[i], &off, &err);
    assert_int_equal(off, 0);
    assert_int_equal(err, 0);
    assert_int_equal(ff_chan_shaping(ends[i]).lat_ns, 5);
    assert_int_equal(ff_chan_shaping(ends[i]).bw_Bps, 7);
  }
  uint64_t v[4] = {0}, w[4];
  assert_int_equal(ff_chan_exchange_bits(ends[0], v, w, 4, 0), FF_EINVAL);
  assert_int_equal(ff_chan_exchange_bits(ends[0], v, w, 4, 65), FF_EINVAL);
  assert_int_equal(ff_chan_send(ends[0], NULL, 4), FF_EINVAL);
  assert_int_equal(ff_chan_recv(NULL, w, 4), FF_EINVAL);
  /* Nothing moved: a zero-length receive returns at once. */
  assert_int_equal(ff_chan_recv(ends[1], w, 0), FF_OK);
  ff_chan_close(ends[0]);
  ff_chan_close(ends[1]);
  ff_chan_close(NULL);
}

/* A wide reconstruct (50-bit values, the bert-base ring) through the heap-buffer path, in one thread:
 * the peer's half is sent ahead, which an in-memory send allows. Charged bytes are the packed size. */
static void test_mem_exchange_bits_wide(void **state) {
  (void)state;
  enum { N = 1000, BITS = 50, NB = N * BITS / 8 };
  ff_chan *ends[2];
  ff_mem_opts o = {.io_timeout_ms = 5000};
  assert_int_equal(ff_chan_mem_pair(ends, &o), FF_OK);
  uint64_t *mine = malloc(N * sizeof *mine), *theirs = malloc(N * sizeof *theirs),
           *got = malloc(N * sizeof *got);
  uint8_t *wire = malloc(NB);
  assert_non_null(mine);
  assert_non_null(theirs);
  assert_non_null(got);
  assert_non_null(wire);
  for (size_t i = 0; i < N; i++) mine[i] = ring_value(0, i), theirs[i] = ring_value(1, i);
  assert_int_equal(ff_packed_size(N, BITS), NB);
  ff_pack_bits(theirs, N, BITS, wire);
  assert_int_equal(ff_chan_send(ends[1], wire, NB), FF_OK);

  ff_comm_delta c0 = ff_scope_thread_comm();
  assert_int_equal(ff_chan_exchange_bits(ends[0], mine, got, N, BITS), FF_OK);
  ff_comm_delta c1 = ff_scope_thread_comm();
  assert_int_equal(c1.sent_B - c0.sent_B, NB);
  assert_int_equal(c1.recv_B - c0.recv_B, NB);
  assert_int_equal(c1.msgs - c0.msgs, 1);
  assert_int_equal(c1.rounds - c0.rounds, 1);
  for (size_t i = 0; i < N; i++) assert_int_equal(got[i], theirs[i] & ((1ull << BITS) - 1));

  assert_int_equal(ff_chan_recv(ends[1], wire, NB), FF_OK);
  ff_unpack_bits(wire, N, BITS, got);
  for (size_t i = 0; i < N; i++) assert_int_equal(got[i], mine[i] & ((1ull << BITS) - 1));
  free(mine);
  free(theirs);
  free(got);
  free(wire);
  ff_chan_close(ends[0]);
  ff_chan_close(ends[1]);
}

/* ff_chan_exchange_pieces: the callbacks see every piece in order (ready before it is sent, arrived once
 * the peer's piece is in), and the whole is charged as ONE exchange of n bytes (one message each way, one
 * round), exactly as ff_chan_exchange; the peer may send the same bytes as one message (the channel is a
 * byte stream). A callback's failure ends the exchange with its status and charges no message. */
typedef struct {
  size_t next_ready, next_arrived, calls;
  const uint8_t *in, *want;
  int fail_at; /* ready's call index that fails, -1: none */
} pieces_log;

static ff_status pieces_ready(void *arg, size_t off, size_t len) {
  pieces_log *l = arg;
  if (off != l->next_ready || !len) return FF_EPROTO;
  if ((int)l->calls++ == l->fail_at) return FF_EIO;
  l->next_ready = off + len;
  return FF_OK;
}

static ff_status pieces_arrived(void *arg, size_t off, size_t len) {
  pieces_log *l = arg;
  if (off != l->next_arrived || off + len > l->next_ready || memcmp(l->in + off, l->want + off, len)) return FF_EPROTO;
  l->next_arrived = off + len;
  return FF_OK;
}

static void test_mem_exchange_pieces(void **state) {
  (void)state;
  enum { N = 10007, PIECE = 1000 };
  ff_chan *ends[2];
  ff_mem_opts o = {.io_timeout_ms = 5000};
  assert_int_equal(ff_chan_mem_pair(ends, &o), FF_OK);
  uint8_t *out = malloc(N), *in = malloc(N), *peer = malloc(N), *got = malloc(N);
  assert_true(out && in && peer && got);
  for (size_t i = 0; i < N; i++) out[i] = (uint8_t)(i * 7 + 1), peer[i] = (uint8_t)(i * 13 + 5);
  assert_int_equal(ff_chan_send(ends[1], peer, N), FF_OK);
  assert_int_equal(ff_chan_send(ends[0], out, 1), FF_OK); /* a send first: the exchange still begins a round */
  pieces_log l = {0, 0, 0, in, peer, -1};
  ff_comm_delta c0 = ff_scope_thread_comm();
  assert_int_equal(ff_chan_exchange_pieces(ends[0], out, in, N, PIECE, pieces_ready, pieces_arrived, &l), FF_OK);
  ff_comm_delta c1 = ff_scope_thread_comm();
  assert_int_equal(l.calls, (N + PIECE - 1) / PIECE);
  assert_int_equal(l.next_ready, N);
  assert_int_equal(l.next_arrived, N);
  assert_int_equal(c1.sent_B - c0.sent_B, N);
  assert_int_equal(c1.recv_B - c0.recv_B, N);
  assert_int_equal(c1.msgs - c0.msgs, 1);
  assert_int_equal(c1.rounds - c0.rounds, 1);
  assert_memory_equal(in, peer, N);
  assert_int_equal(ff_chan_recv(ends[1], got, 1), FF_OK);
  assert_int_equal(ff_chan_recv(ends[1], got, N), FF_OK);
  assert_memory_equal(got, out, N);
  /* No callbacks, piece 0 (= one piece): the same charge. */
  assert_int_equal(ff_chan_send(ends[1], peer, N), FF_OK);
  c0 = ff_scope_thread_comm();
  assert_int_equal(ff_chan_exchange_pieces(ends[0], out, in, N, 0, NULL, NULL, NULL), FF_OK);
  c1 = ff_scope_thread_comm();
  assert_int_equal(c1.msgs - c0.msgs, 1);
  assert_int_equal(c1.rounds - c0.rounds, 1);
  assert_int_equal(c1.sent_B - c0.sent_B, N);
  assert_int_equal(ff_chan_recv(ends[1], got, N), FF_OK);
  /* ready fails at the third piece: that status, no message charged. */
  assert_int_equal(ff_chan_send(ends[1], peer, N), FF_OK);
  pieces_log f = {0, 0, 0, in, peer, 2};
  c0 = ff_scope_thread_comm();
  assert_int_equal(ff_chan_exchange_pieces(ends[0], out, in, N, PIECE, pieces_ready, pieces_arrived, &f), FF_EIO);
  c1 = ff_scope_thread_comm();
  assert_int_equal(c1.msgs - c0.msgs, 0);
  assert_int_equal(c1.sent_B - c0.sent_B, 0);
  assert_int_equal(ff_chan_exchange_pieces(NULL, out, in, N, PIECE, NULL, NULL, NULL), FF_EINVAL);
  free(out), free(in), free(peer), free(got);
  ff_chan_close(ends[0]);
  ff_chan_close(ends[1]);
}

static void test_mem_peer_closed(void **state) {
  (void)state;
  ff_chan *ends[2];
  ff_mem_opts o = {.io_timeout_ms = 5000};
  assert_int_equal(ff_chan_mem_pair(ends, &o), FF_OK);
  uint8_t msg[4] = {1, 2, 3, 4}, in[4] = {0};
  assert_int_equal(ff_chan_send(ends[1], msg, 4), FF_OK);
  ff_chan_close(ends[1]);
  /* What was sent before the close still arrives, as over TCP; then the close is seen. */
  assert_int_equal(ff_chan_recv(ends[0], in, 4), FF_OK);
  assert_memory_equal(in, msg, 4);
  assert_int_equal(ff_chan_recv(ends[0], in, 4), FF_ECONN);
  assert_int_equal(ff_chan_send(ends[0], msg, 4), FF_ECONN);
  assert_int_equal(ff_chan_exchange(ends[0], msg, in, 4), FF_ECONN);
  ff_chan_close(ends[0]);
}

static void test_mem_silent_peer_times_out(void **state) {
  (void)state;
  ff_chan *ends[2];
  ff_mem_opts o = {.io_timeout_ms = 200};
  assert_int_equal(ff_chan_mem_pair(ends, &o), FF_OK);
  uint8_t in[8];
  uint64_t t0 = ff_now_ns();
  assert_int_equal(ff_chan_recv(ends[0], in, 8), FF_ETIMEDOUT);
  assert_true(ff_now_ns() - t0 >= 200 * MS);
  ff_chan_close(ends[0]);
  ff_chan_close(ends[1]);
}

static void test_mem_shaping(void **state) {
  (void)state;
  ff_prof *profs[2];
  /* Each round's receive lasts at least lat + sent/bw = 20 ms + 10000 B / 1 MB/s = 30 ms. */
  ff_mem_opts o = {.io_timeout_ms = 5000, .shaping = {.lat_ns = 20 * MS, .bw_Bps = 1000000}};
  run_mem_parties(&o, shaped_workload, 1, profs);
  for (int i = 0; i < 2; i++) {
    const ff_prof_rep *rep = ff_prof_rep_get(profs[i], 0);
    int n = ff_prof_find(rep, "Softmax");
    assert_true(n >= 0);
    assert_int_equal(rep->nodes[n].rounds, SHAPED_EXCHANGES);
    assert_int_equal(rep->nodes[n].sent_B, SHAPED_EXCHANGES * SHAPED_BYTES);
    if (rep->nodes[n].wait_ns < SHAPED_EXCHANGES * 30 * MS)
      fail_msg("party %d waited %llu ns in 3 shaped rounds, expected at least %llu", i,
               (unsigned long long)rep->nodes[n].wait_ns, SHAPED_EXCHANGES * 30 * MS);
    assert_true(rep->nodes[n].wall_ns >= rep->nodes[n].wait_ns);
    ff_prof_destroy(profs[i]);
  }
}

/* ---- TCP: party 0 here, party 1 in a child forked once the port is known ------------------------- */

typedef int (*child_fn)(int port, void *arg);
typedef struct {
  child_fn child;
  void *arg;
  pid_t pid;
  int port;
} spawn;

static void spawn_on_listen(int port, void *arg) {
  spawn *s = arg;
  s->port = port;
  fflush(stderr);
  s->pid = fork();
  if (s->pid == 0) _exit(s->child(port, s->arg));
}

/* The child's exit code, or 128 + the signal that killed it. */
static int wait_child(pid_t pid) {
  int status = 0;
  if (pid <= 0 || waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

static ff_tcp_opts p0_opts(spawn *s) {
  return (ff_tcp_opts){.party = 0, .host = "127.0.0.1", .port = 0, .connect_timeout_ms = 5000,
                       .io_timeout_ms = 5000, .run_id = TEST_RUN_ID, .on_listen = spawn_on_listen,
                       .on_listen_arg = s};
}

/* Opens party 0's end with o, whose on_listen forks s's child; on failure reaps the child first. */
static ff_chan *open_p0(const ff_tcp_opts *o, spawn *s) {
  ff_chan *ch = NULL;
  ff_status st = ff_chan_tcp_open(&ch, o);
  assert_true(s->pid > 0);
  if (st) {
    wait_child(s->pid);
    fail_msg("party 0 open: %s", ff_status_name(st));
  }
  return ch;
}

static ff_status open_p1(ff_chan **ch, int port, const char *run_id) {
  ff_tcp_opts o = {.party = 1, .host = "127.0.0.1", .port = port, .connect_timeout_ms = 5000,
                   .io_timeout_ms = 5000, .run_id = run_id};
  return ff_chan_tcp_open(ch, &o);
}

static int check_clock(const ff_chan *ch) {
  /* Both processes read the same CLOCK_MONOTONIC, so the true offset is 0 and the NTP bound says the
     estimate is within its error of it. */
  int64_t off, err;
  ff_chan_clock_offset(ch, &off, &err);
  if (err < 0 || off > err || -off > err) {
    fprintf(stderr, "party %d: clock offset %lld +- %lld does not contain 0\n", ff_chan_party(ch),
            (long long)off, (long long)err);
    return 1;
  }
  return 0;
}

/* Party 1's side of a recorded workload, and the table it must match. */
typedef struct {
  body_fn body;
  const expect_row *expect;
  int top_is_total;
  const char *run_id;
} recorded_job;

static int child_recorded(int port, void *arg) {
  const recorded_job *job = arg;
  ff_chan *ch = NULL;
  CHECK(open_p1(&ch, port, job->run_id));
  int bad = 0;
  if (strcmp(ff_chan_transport(ch), "tcp") != 0 || ff_chan_party(ch) != 1 ||
      ff_chan_local_port(ch) != -1 || strlen(ff_chan_run_id(ch)) == 0) {
    fprintf(stderr, "party 1: wrong accessors (%s, party %d, port %d, run '%s')\n",
            ff_chan_transport(ch), ff_chan_party(ch), ff_chan_local_port(ch), ff_chan_run_id(ch));
    bad++;
  }
  bad += check_clock(ch);
  ff_prof *p = NULL;
  bad += run_recorded(ch, job->body, 1, &p);
  if (p) bad += check_attribution(p, job->expect, job->top_is_total);
  ff_prof_destroy(p);
  ff_chan_close(ch);
  return bad ? 1 : 0;
}

static void run_tcp_recorded(body_fn body, const expect_row *e0, const expect_row *e1,
                             int top_is_total, const char *run_id) {
  recorded_job job = {.body = body, .expect = e1, .top_is_total = top_is_total, .run_id = run_id};
  spawn s = {.child = child_recorded, .arg = &job, .pid = -1};
  ff_tcp_opts o = p0_opts(&s);
  o.run_id = run_id;
  ff_chan *ch = open_p0(&o, &s);
  assert_string_equal(ff_chan_transport(ch), "tcp");
  assert_int_equal(ff_chan_party(ch), 0);
  assert_int_equal(ff_chan_local_port(ch), s.port);
  assert_true(s.port > 0);
  assert_true(strncmp(ff_chan_peer(ch), "127.0.0.1:", 10) == 0);
  if (run_id) {
    assert_string_equal(ff_chan_run_id(ch), run_id);
  } else {
    const char *id = ff_chan_run_id(ch);
    assert_int_equal(strlen(id), 16);
    assert_int_equal(strspn(id, "0123456789abcdef"), 16);
  }
  assert_int_equal(check_clock(ch), 0);
  ff_prof *p = NULL;
  int bad = run_recorded(ch, body, 1, &p);
  ff_chan_close(ch);
  int child = wait_child(s.pid);
  assert_int_equal(bad, 0);
  assert_non_null(p);
  assert_int_equal(check_attribution(p, e0, top_is_total), 0);
  ff_prof_destroy(p);
  assert_int_equal(child, 0);
}

static void test_tcp_attribution(void **state) {
  (void)state;
  run_tcp_recorded(scripted_workload, scripted_expect[0], scripted_expect[1], 1, TEST_RUN_ID);
}

static void test_tcp_big_exchange(void **state) {
  (void)state;
  /* No run id on either side: party 0 makes one up, party 1 takes it. */
  run_tcp_recorded(big_exchange_workload, big_expect[0], big_expect[1], 0, NULL);
}

static int child_then_die(int port, void *arg) {
  (void)arg;
  ff_chan *ch = NULL;
  if (open_p1(&ch, port, NULL)) return 1;
  ff_sleep_ns(100 * MS);
  raise(SIGKILL);
  return 1;
}

static void test_tcp_peer_killed(void **state) {
  (void)state;
  spawn s = {.child = child_then_die, .pid = -1};
  ff_tcp_opts o = p0_opts(&s);
  ff_chan *ch = open_p0(&o, &s);
  uint8_t in[8];
  assert_int_equal(ff_chan_recv(ch, in, 8), FF_ECONN);
  ff_chan_close(ch);
  assert_int_equal(wait_child(s.pid), 128 + SIGKILL);
}

/* Connects, then only waits for party 0 to hang up. */
static int child_silent(int port, void *arg) {
  (void)arg;
  ff_chan *ch = NULL;
  if (open_p1(&ch, port, NULL)) return 1;
  uint8_t in[1];
  ff_status st = ff_chan_recv(ch, in, 1);
  ff_chan_close(ch);
  return st == FF_ECONN ? 0 : 1;
}

static void test_tcp_silent_peer_times_out(void **state) {
  (void)state;
  spawn s = {.child = child_silent, .pid = -1};
  ff_tcp_opts o = p0_opts(&s);
  o.io_timeout_ms = 300;
  ff_chan *ch = open_p0(&o, &s);
  uint8_t in[8];
  uint64_t t0 = ff_now_ns();
  assert_int_equal(ff_chan_recv(ch, in, 8), FF_ETIMEDOUT);
  assert_true(ff_now_ns() - t0 >= 300 * MS);
  ff_chan_close(ch);
  assert_int_equal(wait_child(s.pid), 0);
}

/* A TCP socket bound to a port the system picks on 127.0.0.1; returns it (-1 on failure) and the
 * port. */
static int bind_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* A port that nothing listens on: bound once to learn a free number, then released. */
static int free_port(void) {
  int port, fd = bind_loopback(&port);
  if (fd < 0) return -1;
  close(fd);
  return port;
}

/* Opening with o fails with FF_ETIMEDOUT, and not before its connect timeout. */
static void expect_open_times_out(const ff_tcp_opts *o) {
  ff_chan *ch = NULL;
  uint64_t t0 = ff_now_ns();
  assert_int_equal(ff_chan_tcp_open(&ch, o), FF_ETIMEDOUT);
  assert_true(ff_now_ns() - t0 >= (uint64_t)o->connect_timeout_ms * MS);
  assert_null(ch);
}

static void test_tcp_no_listener_times_out(void **state) {
  (void)state;
  int port = free_port();
  assert_true(port > 0);
  ff_tcp_opts o = {.party = 1, .host = "127.0.0.1", .port = port, .connect_timeout_ms = 300};
  expect_open_times_out(&o);
}

static void test_tcp_nobody_connects(void **state) {
  (void)state;
  ff_tcp_opts o = {.party = 0, .host = "127.0.0.1", .port = 0, .connect_timeout_ms = 300};
  expect_open_times_out(&o);
}

static void test_tcp_port_in_use(void **state) {
  (void)state;
  int port, fd = bind_loopback(&port);
  assert_true(fd >= 0);
  assert_int_equal(listen(fd, 1), 0);
  spawn s = {.pid = -1};
  ff_tcp_opts o = p0_opts(&s); /* on_listen must not fire */
  o.port = port;
  ff_chan *ch = NULL;
  assert_int_equal(ff_chan_tcp_open(&ch, &o), FF_EADDRINUSE);
  assert_null(ch);
  assert_int_equal(s.pid, -1);
  close(fd);
}

/* Party 0 refuses the peer that `child` plays (FF_EPROTO, no channel), and the child sees it (exits 0). */
static void expect_peer_refused(child_fn child, void *arg) {
  spawn s = {.child = child, .arg = arg, .pid = -1};
  ff_tcp_opts o = p0_opts(&s);
  ff_chan *ch = NULL;
  assert_int_equal(ff_chan_tcp_open(&ch, &o), FF_EPROTO);
  assert_null(ch);
  assert_int_equal(wait_child(s.pid), 0);
}

static int child_other_run(int port, void *arg) {
  ff_chan *ch = NULL;
  ff_status st = open_p1(&ch, port, arg);
  ff_chan_close(ch);
  return st == FF_EPROTO ? 0 : 1;
}

static void test_tcp_run_id_mismatch(void **state) {
  (void)state;
  expect_peer_refused(child_other_run, "another-run");
}

/* A raw client: sends `arg` (64 bytes), then waits (bounded) for party 0 to hang up. */
static int child_raw(int port, void *arg) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return 1;
  if (send(fd, arg, 64, MSG_NOSIGNAL) != 64) return 1;
  char buf[256];
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (poll(&p, 1, 5000) == 1 && recv(fd, buf, sizeof buf, 0) > 0) {
  }
  close(fd);
  return 0;
}

static void test_tcp_garbage_client(void **state) {
  (void)state;
  char garbage[64] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  expect_peer_refused(child_raw, garbage);
}

static void test_tcp_peer_claims_same_party(void **state) {
  (void)state;
  /* A well-formed hello (magic, version 1, party 0, empty run id) from a second "party 0". Should
     the version move on, this is still refused, as a version mismatch. */
  char hello[64] = "FFSS\x01\x00\x00\x00\x00\x00\x00\x00";
  expect_peer_refused(child_raw, hello);
}

static void test_tcp_bad_args(void **state) {
  (void)state;
  ff_chan *ch = NULL;
  ff_tcp_opts o = {.party = 2, .host = "127.0.0.1", .port = 1};
  assert_int_equal(ff_chan_tcp_open(&ch, &o), FF_EINVAL);
  o.party = 1;
  o.port = 0; /* party 1 needs the peer's port */
  assert_int_equal(ff_chan_tcp_open(&ch, &o), FF_EINVAL);
  o.port = 70000;
  assert_int_equal(ff_chan_tcp_open(&ch, &o), FF_EINVAL);
  o.port = 1;
  o.run_id = "this-run-id-is-longer-than-thirty-two-characters";
  assert_int_equal(ff_chan_tcp_open(&ch, &o), FF_EINVAL);
  assert_int_equal(ff_chan_tcp_open(&ch, NULL), FF_EINVAL);
  assert_null(ch);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mem_attribution),
      cmocka_unit_test(test_mem_round_rules),
      cmocka_unit_test(test_mem_accessors_and_args),
      cmocka_unit_test(test_mem_exchange_bits_wide),
      cmocka_unit_test(test_mem_exchange_pieces),
      cmocka_unit_test(test_mem_peer_closed),
      cmocka_unit_test(test_mem_silent_peer_times_out),
      cmocka_unit_test(test_mem_shaping),
      cmocka_unit_test(test_tcp_attribution),
      cmocka_unit_test(test_tcp_big_exchange),
      cmocka_unit_test(test_tcp_peer_killed),
      cmocka_unit_test(test_tcp_silent_peer_times_out),
      cmocka_unit_test(test_tcp_no_listener_times_out),
      cmocka_unit_test(test_tcp_nobody_connects),
      cmocka_unit_test(test_tcp_port_in_use),
      cmocka_unit_test(test_tcp_run_id_mismatch),
      cmocka_unit_test(test_tcp_garbage_client),
      cmocka_unit_test(test_tcp_peer_claims_same_party),
      cmocka_unit_test(test_tcp_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
