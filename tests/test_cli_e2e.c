/* The `fusefss` command end to end (the binary named by $FUSEFSS, set by CTest): usage errors and
 * exit codes; `bench comm` as two local processes, with the merged log checked against the byte and
 * round counts its workload must produce; merge/report/amdahl/project on its output; a dead peer, a
 * port in use and a peer killed mid-run, each a clear error and a non-zero exit, never a hang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/lib/analysis.h"

#include "e2e.h"

static void test_usage_and_exit_codes(void **state) {
  (void)state;
  expect(2, "usage: fusefss", (const char *[]){NULL});
  expect(0, "bench", (const char *[]){"--help", NULL});
  expect(2, "unknown command 'nosuch'", (const char *[]){"nosuch", NULL});
  expect(2, "usage: fusefss bench", (const char *[]){"bench", NULL});
  expect(2, "unknown benchmark 'nosuch'", (const char *[]){"bench", "nosuch", NULL});
  expect(0, "--shape-lat", (const char *[]){"bench", "comm", "--help", NULL});
  expect(2, "--reps must be", (const char *[]){"bench", "comm", "--reps", "0", NULL});
  expect(2, "--sizes", (const char *[]){"bench", "comm", "--sizes", "4 parsecs", NULL});
  expect(2, "unknown option", (const char *[]){"bench", "comm", "--frobnicate", NULL});
  expect(2, "needs --peer", (const char *[]){"bench", "comm", "--party", "1", NULL});
  expect(2, "need --party", (const char *[]){"bench", "comm", "--peer", "h:1", NULL});
  expect(2, NULL, (const char *[]){"merge", NULL});
  expect(1, "/nonexistent/a.json", (const char *[]){"merge", "/nonexistent/a.json", "/nonexistent/b.json", NULL});
  expect(1, NULL, (const char *[]){"report", "/nonexistent/m.json", NULL});
  expect(0, "fusefss", (const char *[]){"version", NULL});
  /* keygen's dealer backend, and where its time went */
  expect(0, "--backend cpu|cuda", (const char *[]){"keygen", "--help", NULL});
  expect(2, "--backend must be cpu or cuda, not 'tpu'", (const char *[]){"keygen", "--backend", "tpu", NULL});
  char kg[128];
  snprintf(kg, sizeof kg, "%s/kg", tmpdir);
  expect(0, "dealer on cpu", (const char *[]){"keygen", "--backend", "cpu", "--layers", "1", "--seq", "8", "--out", kg, NULL});
  const char *out = slurp("cmd", "out");
  assert_non_null(strstr(out, "dealing "));
  assert_non_null(strstr(out, "writing the key files "));
  assert_null(strstr(out, "flushed to disk"));
  /* --fsync: the files are flushed (ff_keystream_params.fsync, in the finish) before keygen reports */
  expect(0, "--fsync", (const char *[]){"keygen", "--help", NULL});
  expect(0, "(flushed to disk)",
         (const char *[]){"keygen", "--backend", "cpu", "--layers", "1", "--seq", "8", "--fsync", "--out", kg, NULL});
  expect(2, "unexpected argument", (const char *[]){"keygen", "--fsync", "yes", NULL});
  /* --dealer-masks: host or device, device only for a dealer on a GPU (keygen and run alike) */
  expect(0, "--dealer-masks host|device", (const char *[]){"keygen", "--help", NULL});
  expect(0, "--dealer-masks host|device", (const char *[]){"run", "--help", NULL});
  expect(2, "--dealer-masks must be host or device, not 'gpu'",
         (const char *[]){"keygen", "--dealer-masks", "gpu", NULL});
  expect(2, "--dealer-masks must be host or device, not ''", (const char *[]){"run", "--dealer-masks", "", NULL});
  expect(2, "--dealer-masks device needs the dealer on a GPU",
         (const char *[]){"keygen", "--backend", "cpu", "--dealer-masks", "device", "--out", kg, NULL});
  expect(2, "--dealer-masks device needs the dealer on a GPU",
         (const char *[]){"run", "--backend", "cpu", "--dealer-masks", "device", "--out", kg, NULL});
  expect(0, "dealer on cpu)",
         (const char *[]){"keygen", "--backend", "cpu", "--dealer-masks", "host", "--layers", "1", "--seq", "8",
                          "--out", kg, NULL});
  /* --profile: the dealer's time by scope name, exclusive; the rows add up to the total, the tree keygens
   * and the writes have their own rows */
  expect(0, "--profile", (const char *[]){"keygen", "--help", NULL});
  expect(0, "where the dealer's time went",
         (const char *[]){"keygen", "--backend", "cpu", "--layers", "1", "--profile", "--out", kg, NULL});
  out = slurp("cmd", "out");
  double sum = 0, total = -1;
  int rows = 0, seen_dpf = 0, seen_lut = 0, seen_keys = 0;
  for (const char *line = strstr(out, "| scope (exclusive)"); line && *line; line = strchr(line, '\n')) {
    line += *line == '\n';
    char name[64];
    double calls_or_ms, ms;
    if (sscanf(line, "| %63[^ |] | %lf | %lf |", name, &calls_or_ms, &ms) == 3) { /* a scope's row */
      sum += ms;
      rows++;
      seen_dpf |= !strcmp(name, "FSS::DPF");
      seen_lut |= !strcmp(name, "FSS::LUT");
      seen_keys |= !strcmp(name, "KeyTransfer");
    } else if (sscanf(line, "| (no scope) | | %lf |", &ms) == 1) {
      sum += ms;
    } else if (sscanf(line, "| total | | %lf |", &ms) == 1) {
      total = ms;
    }
  }
  print_message("keygen --profile: %d rows adding up to %.3f ms of %.3f ms\n", rows, sum, total);
  assert_true(rows >= 8 && seen_dpf && seen_lut && seen_keys);
  assert_true(total > 0 && fabs(sum - total) <= 0.0005 * (rows + 2)); /* each row rounded to 1 µs */
  setenv("FF_PROFILE", "0", 1);
  expect(2, "FF_PROFILE=0 turns off", (const char *[]){"keygen", "--profile", "--out", kg, NULL});
  unsetenv("FF_PROFILE");
}

/* bench comm with L layers, R latency rounds, sizes S: per party and repetition it sends
 * L·(8R + 8·(R/2) + ΣS) bytes in 1 + ... messages, and each party counts L·(R + 2·(R/2) + |S|) rounds
 * (an exchange is one round; a ping-pong two, comm/chan.h). */
enum { L = 2, R = 10, S0 = 64, S1 = 65536, S2 = 1048576, REPS = 3, WARM = 1 };

static void test_bench_comm_end_to_end(void **state) {
  (void)state;
  char out[128], base[160];
  snprintf(out, sizeof out, "%s/bc", tmpdir);
  const char *args[] = {"bench", "comm", "--reps", "3", "--warmup", "1", "--layers", "2", "--rounds", "10",
                        "--sizes", "64,64KiB,1MiB", "--compute", "100000", "--trace", "--out", out, NULL};
  expect(0, "round latency", args);
  snprintf(base, sizeof base, "%s/breakdown_merged.json", out);
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_breakdown_load(base, &bd), FF_OK);
  assert_int_equal(bd->n_reps, REPS + WARM);
  assert_int_equal(ff_breakdown_counted_reps(bd), REPS);
  assert_true(bd->reps[0].warmup);

  const double per_party_B = L * (8.0 * R + 8.0 * (R / 2) + S0 + S1 + S2);
  const double rounds = L * (R + 2 * (R / 2) + 3);
  for (size_t r = 0; r < bd->n_reps; r++) {
    const ff_metrics *t = ff_breakdown_rep_row(bd, r, FF_BD_TOTAL, 0);
    /* The merge's invariants, checked here from the file too: each direction's bytes agree. */
    assert_true(t->v[FF_M_SENT_P0] == t->v[FF_M_RECV_P1]);
    assert_true(t->v[FF_M_SENT_P1] == t->v[FF_M_RECV_P0]);
    assert_true(t->v[FF_M_SENT_P0] == per_party_B);
    assert_true(t->v[FF_M_LINK] == 2 * per_party_B);
    assert_true(t->v[FF_M_ROUNDS] == rounds);
    const ff_metrics *o = ff_breakdown_rep_row(bd, r, FF_BD_OTHER, 0);
    assert_true(o->v[FF_M_LINK] == 0); /* every byte was sent inside a scope */
  }
  /* Per scope, exactly where the workload put them. */
  int lat = ff_breakdown_find(bd, "Forward/Layer[1]/Bench::Latency");
  int pp = ff_breakdown_find(bd, "Forward/Layer[0]/Bench::PingPong");
  int big = ff_breakdown_find(bd, "Forward/Layer[0]/Bench::Exchange@1MiB");
  int cmp = ff_breakdown_find(bd, "Forward/Layer[0]/Bench::Compute");
  assert_true(lat >= 0 && pp >= 0 && big >= 0 && cmp >= 0);
  const ff_metrics *m = ff_breakdown_rep_row(bd, 1, lat, 0);
  assert_true(m->v[FF_M_SENT_P0] == 8 * R && m->v[FF_M_ROUNDS] == R && m->v[FF_M_MSGS_P1] == R);
  m = ff_breakdown_rep_row(bd, 1, pp, 0);
  assert_true(m->v[FF_M_SENT_P1] == 8 * (R / 2) && m->v[FF_M_ROUNDS] == 2 * (R / 2));
  m = ff_breakdown_rep_row(bd, 1, big, 0);
  assert_true(m->v[FF_M_LINK] == 2.0 * S2 && m->v[FF_M_ROUNDS] == 1 && m->v[FF_M_CALLS] == 1);
  m = ff_breakdown_rep_row(bd, 1, cmp, 0);
  assert_true(m->v[FF_M_LINK] == 0 && m->v[FF_M_ROUNDS] == 0 && m->v[FF_M_WALL] > 0);
  ff_breakdown_free(bd);

  /* The tools on its output: merge again from the two logs, report in every grouping and format,
   * amdahl against a second run with twice the local work, project. */
  char p0[160], p1[160], remerged[160], t0[160], other[128], other_m[160];
  snprintf(p0, sizeof p0, "%s/prof_p0.json", out);
  snprintf(p1, sizeof p1, "%s/prof_p1.json", out);
  snprintf(t0, sizeof t0, "%s/trace_p0.json", out);
  snprintf(remerged, sizeof remerged, "%s/again.json", tmpdir);
  assert_int_equal(access(t0, R_OK), 0);
  expect(0, NULL, (const char *[]){"merge", p1, p0, "-o", remerged, NULL});
  expect(0, "Bench::Exchange@1MiB", (const char *[]){"report", remerged, NULL});
  expect(0, "Compute", (const char *[]){"report", remerged, "--by", "family", NULL});
  expect(0, NULL, (const char *[]){"report", remerged, "--by", "layer", "--format", "csv", NULL});
  expect(0, NULL, (const char *[]){"report", remerged, "--by", "name", "--format", "json", NULL});
  expect(0, "rounds", (const char *[]){"project", remerged, "--wan", NULL});
  snprintf(other, sizeof other, "%s/bc2", tmpdir);
  const char *args2[] = {"bench", "comm", "--reps", "3", "--warmup", "1", "--layers", "2", "--rounds", "10",
                         "--sizes", "64,64KiB,1MiB", "--compute", "200000", "--out", other, NULL};
  expect(0, NULL, args2);
  snprintf(other_m, sizeof other_m, "%s/breakdown_merged.json", other);
  expect(0, "end to end", (const char *[]){"amdahl", "--base", other_m, "--cand", base, "--target", "Compute", NULL});
  /* Logs of two different runs are refused. */
  char q1[160];
  snprintf(q1, sizeof q1, "%s/prof_p1.json", other);
  expect(1, "different runs", (const char *[]){"merge", p0, q1, NULL});
}

static void test_dead_peer_and_port_in_use(void **state) {
  (void)state;
  char addr[64], out[128];
  snprintf(out, sizeof out, "%s/dead", tmpdir);
  /* Nobody listens: party 1 gives up at its deadline. */
  snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
  expect(1, "party 1", (const char *[]){"bench", "comm", "--party", "1", "--peer", addr, "--timeout", "500ms", "--out", out, NULL});
  /* The port is taken: party 0 says so. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
  expect(1, "already in use", (const char *[]){"bench", "comm", "--party", "0", "--listen", addr, "--out", out, NULL});
  close(fd);
  /* Party 0 listens and nobody comes: it gives up at its deadline. */
  snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
  expect(1, "party 0", (const char *[]){"bench", "comm", "--party", "0", "--listen", addr, "--timeout", "500ms", "--out", out, NULL});
}

static void test_peer_killed_mid_run(void **state) {
  (void)state;
  char addr[64], peer[64], out0[128], out1[128];
  int port = free_port();
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  snprintf(peer, sizeof peer, "127.0.0.1:%d", port);
  snprintf(out0, sizeof out0, "%s/k0", tmpdir);
  snprintf(out1, sizeof out1, "%s/k1", tmpdir);
  /* Many repetitions: the run lasts far longer than the moment the peer is killed. */
  pid_t p0 = start("k0", (const char *[]){"bench", "comm", "--party", "0", "--listen", addr, "--reps", "100000",
                                          "--sizes", "64KiB", "--timeout", "20s", "--out", out0, NULL});
  pid_t p1 = start("k1", (const char *[]){"bench", "comm", "--party", "1", "--peer", peer, "--reps", "100000",
                                          "--sizes", "64KiB", "--timeout", "20s", "--out", out1, NULL});
  struct timespec ts = {0, 500 * 1000 * 1000};
  nanosleep(&ts, NULL);
  assert_int_equal(kill(p1, SIGKILL), 0);
  int status;
  waitpid(p1, &status, 0);
  int rc = finish(p0);
  const char *err = slurp("k0", "err");
  if (rc != 1 || !strstr(err, "peer")) fail_msg("party 0 after its peer was killed: exit %d, stderr:\n%s", rc, err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usage_and_exit_codes),
      cmocka_unit_test(test_bench_comm_end_to_end),
      cmocka_unit_test(test_dead_peer_and_port_in_use),
      cmocka_unit_test(test_peer_killed_mid_run),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
