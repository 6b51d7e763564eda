/* `fusefss run / keygen / cost` end to end (the binary named by $FUSEFSS): bert-tiny through the local
 * pipeline (dealer, two processes over TCP, merge, verification), its merged log against `fusefss cost`
 * computed independently, gpt2 cut to one layer (causal attention), key files of the wrong party, run
 * or model, truncated or corrupted, refused before any online work, a peer killed mid-run, and usage
 * errors. Test of tools/run.c (docs/running.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "e2e.h"
#include "tools/lib/analysis.h"

static void run_expect_ok(const char *tag, const char *const *args) {
  pid_t pid = start(tag, args);
  int rc = finish(pid);
  if (rc != 0) fail_msg("fusefss %s: exit %d; stderr:\n%s", args[0], rc, slurp(tag, "err"));
}

/* The `fusefss cost --format json` row of scope `path` ("total" for the inference total). */
static const cJSON *cost_row(const cJSON *cost, const char *path) {
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cost, "scopes")) {
    if (!strcmp(cJSON_GetObjectItemCaseSensitive(e, "scope")->valuestring, path)) return e;
  }
  fail_msg("fusefss cost has no row %s", path);
  return NULL;
}

static double num(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k)->valuedouble; }

/* The merged run's link bytes and rounds equal the cost model's, in total and at scopes of every kind. */
static void check_against_cost(const char *dir, const char *const *model_args) {
  const char *args[24] = {"cost", "--format", "json"};
  int n = 3;
  for (int i = 0; model_args[i]; i++) args[n++] = model_args[i];
  args[n] = NULL;
  run_expect_ok("cost", args);
  cJSON *cost = cJSON_Parse(slurp("cost", "out"));
  assert_non_null(cost);
  char path[256];
  snprintf(path, sizeof path, "%s/breakdown_merged.json", dir);
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_breakdown_load(path, &bd), FF_OK);
  const size_t last = bd->n_reps - 1; /* a counted repetition (warm-ups come first) */
  const ff_metrics *tot = ff_breakdown_rep_row(bd, last, FF_BD_TOTAL, 0);
  const cJSON *t = cost_row(cost, "total");
  assert_true(tot->v[FF_M_LINK] == num(t, "link_B"));
  assert_true(tot->v[FF_M_ROUNDS] == num(t, "rounds"));
  /* merge invariants: link = P0 sent + P1 sent = P0 sent + P0 received */
  assert_true(tot->v[FF_M_LINK] == tot->v[FF_M_SENT_P0] + tot->v[FF_M_SENT_P1]);
  assert_true(tot->v[FF_M_SENT_P0] == tot->v[FF_M_RECV_P1] && tot->v[FF_M_SENT_P1] == tot->v[FF_M_RECV_P0]);
  static const char *const scopes[] = {"Input", "Forward", "Forward/Layer[0]", "Forward/Layer[0]/Attention",
                                       "Forward/Layer[0]/Attention/Linear", "Forward/Layer[0]/Attention/Softmax",
                                       "Forward/Layer[0]/LayerNorm", "Forward/Layer[0]/FFN/Activation::GELU"};
  for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
    const int node = ff_breakdown_find(bd, scopes[i]);
    if (node < 0) fail_msg("the run has no scope %s", scopes[i]);
    const ff_metrics *m = ff_breakdown_rep_row(bd, last, node, 0);
    const cJSON *c = cost_row(cost, scopes[i]);
    if (m->v[FF_M_LINK] != num(c, "link_B") || m->v[FF_M_ROUNDS] != num(c, "rounds"))
      fail_msg("%s: run %.0f B %.0f rounds, cost %.0f B %.0f rounds", scopes[i], m->v[FF_M_LINK], m->v[FF_M_ROUNDS],
               num(c, "link_B"), num(c, "rounds"));
  }
  /* the family rows partition the total */
  ff_grouping g;
  assert_int_equal(ff_breakdown_group(bd, FF_GROUP_FAMILY, &g), FF_OK);
  double link = 0, wall = 0;
  for (size_t r = 0; r < g.n_rows; r++)
    link += g.rows[r].excl[g.n_reps - 1].v[FF_M_LINK], wall += g.rows[r].excl[g.n_reps - 1].v[FF_M_WALL];
  assert_true(link == tot->v[FF_M_LINK]);
  assert_true(wall >= tot->v[FF_M_WALL] * 0.999);
  ff_grouping_free(&g);
  ff_breakdown_free(bd);
  cJSON_Delete(cost);
}

static void file_exists(const char *dir, const char *name) {
  char p[256];
  struct stat sb;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (stat(p, &sb) || sb.st_size == 0) fail_msg("%s is missing or empty", p);
}

/* A JSON file of the run's output folder, parsed whole. */
static cJSON *read_json(const char *dir, const char *name) {
  char path[256], *text = NULL;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len;
  assert_int_equal(ff_read_user_file(path, "test file", 0, &text, &len), FF_OK);
  cJSON *j = cJSON_Parse(text);
  free(text);
  if (!j) fail_msg("%s is not JSON", path);
  return j;
}

/* Peak memory (issue 13's report): a CPU party preloads its whole key stream into host memory, so its
 * resident peak is at least its key file; it has no device pool (null). Printed and in run_summary.json. */
static void check_peaks(const char *dir, const char *out) {
  if (!strstr(out, "peak memory: P0 host ") || !strstr(out, "; P1 host ")) fail_msg("no peak memory line:\n%s", out);
  cJSON *j = read_json(dir, "run_summary.json");
  for (int q = 0; q < 2; q++) {
    char kh[32], kd[32], kf[32];
    snprintf(kh, sizeof kh, "peak_host_B_p%d", q);
    snprintf(kd, sizeof kd, "peak_device_pool_B_p%d", q);
    snprintf(kf, sizeof kf, "key_file_B_p%d", q);
    const double peak = num(j, kh), keys = num(j, kf);
    print_message("P%d: peak host %.0f B, key file %.0f B\n", q, peak, keys);
    assert_true(keys > 0 && peak >= keys);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, kd)));
  }
  cJSON_Delete(j);
}

static void test_bert_tiny_end_to_end(void **state) {
  (void)state;
  char dir[128];
  snprintf(dir, sizeof dir, "%s/bert", tmpdir);
  run_expect_ok("bert", (const char *[]){"run", "--backend", "cpu", "--out", dir, NULL});
  const char *out = slurp("bert", "out");
  if (!strstr(out, "bert-tiny seq 128") || !strstr(out, "equals the fixed-point emulation (0 of 16384") ||
      !strstr(out, "equals the run's link bytes and rounds in every scope"))
    fail_msg("unexpected output:\n%s", out);
  /* the float reference's error is printed; the bound is the secure output's: |err| < 0.1 */
  const char *e = strstr(out, "max |secure - float| = ");
  assert_non_null(e);
  const double err = atof(e + strlen("max |secure - float| = "));
  print_message("bert-tiny seq 128: max |secure - float| = %g (bound 0.1)\n", err);
  assert_true(err < 0.1);
  static const char *const files[] = {"keys_p0.ffk", "keys_p1.ffk", "prof_p0.json", "prof_p1.json", "breakdown_merged.json",
                                      "output_p1.bin"};
  for (size_t i = 0; i < 6; i++) file_exists(dir, files[i]);
  check_against_cost(dir, (const char *[]){"--model", "bert-tiny", "--seq", "128", NULL});
  check_peaks(dir, slurp("bert", "out"));
}

/* A party's key stream size from its log (run.keys.stream_B). */
static double stream_bytes(const char *dir, int party) {
  char name[32];
  snprintf(name, sizeof name, "prof_p%d.json", party);
  cJSON *j = read_json(dir, name);
  const double b = num(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "run"), "keys"), "stream_B");
  cJSON_Delete(j);
  return b;
}

/* --dealer inproc (SIGMA's benchmark mode): each party deals both parties' keys itself, verified with
 * repetitions that reuse them. It keeps only its own stream (the peer's is counted, never stored), so its
 * peak holds about both streams' worth (its own stream and the image loaded from it), not both streams
 * plus its image (1.5x, as before the peer's stream was dropped: 1117 against 717 MiB here). */
static void test_inproc_dealer(void **state) {
  (void)state;
  char dir[128];
  snprintf(dir, sizeof dir, "%s/inproc", tmpdir);
  run_expect_ok("inproc", (const char *[]){"run", "--backend", "cpu", "--dealer", "inproc", "--reps", "2", "--warmup",
                                           "1", "--out", dir, NULL});
  const char *out = slurp("inproc", "out");
  if (!strstr(out, "in-process dealer (benchmark mode)") || !strstr(out, "equals the fixed-point emulation (0 of 16384") ||
      !strstr(out, "equals the run's link bytes and rounds in every scope"))
    fail_msg("unexpected output:\n%s", out);
  const double both = stream_bytes(dir, 0) + stream_bytes(dir, 1);
  cJSON *j = read_json(dir, "run_summary.json");
  for (int q = 0; q < 2; q++) {
    char k[32];
    snprintf(k, sizeof k, "peak_host_B_p%d", q);
    const double peak = num(j, k);
    print_message("inproc P%d: peak host %.0f MiB, both streams %.0f MiB\n", q, peak / 1048576, both / 1048576);
    assert_true(both > 0 && peak >= both && peak < 1.25 * both);
  }
  /* The summary's keygen is the slower party's in-memory dealing (each log's session.keygen_s), printed
   * for both. */
  double kg[2];
  for (int q = 0; q < 2; q++) {
    char name[32];
    snprintf(name, sizeof name, "prof_p%d.json", q);
    cJSON *log = read_json(dir, name);
    kg[q] = num(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(log, "run"), "session"), "keygen_s");
    cJSON_Delete(log);
    assert_true(kg[q] > 0);
  }
  assert_true(num(j, "keygen_s") == (kg[0] > kg[1] ? kg[0] : kg[1]));
  char line[96];
  snprintf(line, sizeof line, "keygen in memory %.3f s (P0) / %.3f s (P1)", kg[0], kg[1]);
  if (!strstr(out, line)) fail_msg("the summary lacks \"%s\":\n%s", line, out);
  cJSON_Delete(j);
}

/* The suf suite end to end: bert-tiny at seq 128 exact against its emulation and within the float bound,
 * the cost model equal to the run in every scope; GPT-2's causal softmax with one switch off; key files
 * made with other knobs are refused before a party connects. */
static void test_suf_end_to_end(void **state) {
  (void)state;
  char dir[128], g[128], k[128];
  snprintf(dir, sizeof dir, "%s/suf", tmpdir);
  run_expect_ok("suf", (const char *[]){"run", "--backend", "cpu", "--suite", "suf", "--out", dir, NULL});
  const char *out = slurp("suf", "out");
  if (!strstr(out, "suite suf") || !strstr(out, "equals the fixed-point emulation (0 of 16384") ||
      !strstr(out, "equals the run's link bytes and rounds in every scope"))
    fail_msg("unexpected output:\n%s", out);
  const char *e = strstr(out, "max |secure - float| = ");
  assert_non_null(e);
  const double err = atof(e + strlen("max |secure - float| = "));
  print_message("bert-tiny seq 128, suite suf: max |secure - float| = %g (bound 0.1)\n", err);
  assert_true(err < 0.1);
  check_against_cost(dir, (const char *[]){"--model", "bert-tiny", "--seq", "128", "--suite", "suf", NULL});
  snprintf(g, sizeof g, "%s/sufg", tmpdir);
  run_expect_ok("sufg", (const char *[]){"run", "--backend", "cpu", "--model", "gpt2", "--layers", "1", "--seq", "16",
                                         "--suite", "suf", "--suf", "SUF_LAYERNORM=0", "--out", g, NULL});
  if (!strstr(slurp("sufg", "out"), "equals the fixed-point emulation (0 of 12288")) fail_msg("gpt2 suf: not exact");
  check_against_cost(g, (const char *[]){"--model", "gpt2", "--layers", "1", "--seq", "16", "--suite", "suf", "--suf",
                                         "SUF_LAYERNORM=0", NULL});
  snprintf(k, sizeof k, "%s/sufk", tmpdir);
  run_expect_ok("sufk", (const char *[]){"keygen", "--suite", "suf", "--layers", "1", "--seq", "8", "--out", k, NULL});
  char kf[192], addr[64];
  snprintf(kf, sizeof kf, "%s/keys_p0.ffk", k);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
  expect(1, "was made with the suf knobs", (const char *[]){"run", "--backend", "cpu", "--party", "0", "--listen", addr,
                                                           "--keys", kf, "--layers", "1", "--seq", "8", "--suite", "suf",
                                                           "--suf", "SUF_NEXP_BITS=9", "--out", k, NULL});
  expect(1, "was made for suite suf", (const char *[]){"run", "--backend", "cpu", "--party", "0", "--listen", addr,
                                                      "--keys", kf, "--layers", "1", "--seq", "8", "--out", k, NULL});
}

/* The sparse regime from the command line with the padding ablation: exact, the cost model equal to the
 * run (padding changes key bytes only), the warning on stderr, the ablation in the log's workload; key
 * files made without it are refused by a run that asks for it (and the other way round). */
static void test_suf_sparse_end_to_end(void **state) {
  (void)state;
  char dir[128], kf[192], addr[64], path[192];
  snprintf(dir, sizeof dir, "%s/sparse", tmpdir);
  run_expect_ok("sparse", (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "16", "--suite", "suf",
                                           "--suf", "GELU_INTERVALS=16", "--suf", "DEGREE=1", "--insecure-no-padding",
                                           "--out", dir, NULL});
  const char *out = slurp("sparse", "out");
  if (!strstr(out, "equals the fixed-point emulation (0 of 2048") ||
      !strstr(out, "equals the run's link bytes and rounds in every scope"))
    fail_msg("unexpected output:\n%s", out);
  if (!strstr(slurp("sparse", "err"), "--insecure-no-padding")) fail_msg("no warning about the ablation on stderr");
  check_against_cost(dir, (const char *[]){"--model", "bert-tiny", "--layers", "1", "--seq", "16", "--suite", "suf", "--suf",
                                           "GELU_INTERVALS=16", "--suf", "DEGREE=1", "--insecure-no-padding", NULL});
  snprintf(path, sizeof path, "%s/prof_p0.json", dir);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char buf[1 << 16];
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  cJSON *j = cJSON_Parse(buf);
  assert_non_null(j);
  const cJSON *wl = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "run"), "workload");
  const cJSON *suf = cJSON_GetObjectItemCaseSensitive(wl, "suf"), *ins = cJSON_GetObjectItemCaseSensitive(wl, "insecure");
  assert_true(cJSON_IsString(suf) && cJSON_IsString(ins));
  if (!strstr(suf->valuestring, "\"SUF_GELU_INTERVALS\":16") || !strstr(suf->valuestring, "\"SUF_DEGREE\":1") ||
      !strstr(suf->valuestring, "\"insecure_no_padding\":1") || !strstr(ins->valuestring, "no-padding"))
    fail_msg("the log's workload does not record the sparse knobs and the ablation: %s / %s", suf->valuestring,
             ins->valuestring);
  cJSON_Delete(j);
  /* the ablation is part of what the keys were made for */
  snprintf(kf, sizeof kf, "%s/keys_p0.ffk", dir);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
  expect(1, "was made with the suf knobs", (const char *[]){"run", "--backend", "cpu", "--party", "0", "--listen", addr,
                                                           "--keys", kf, "--layers", "1", "--seq", "16", "--suite", "suf",
                                                           "--suf", "GELU_INTERVALS=16", "--suf", "DEGREE=1", "--out", dir,
                                                           NULL});
}

static void test_gpt2_one_layer(void **state) {
  (void)state;
  char dir[128];
  snprintf(dir, sizeof dir, "%s/gpt2", tmpdir);
  run_expect_ok("gpt2", (const char *[]){"run", "--backend", "cpu", "--model", "gpt2", "--layers", "1", "--seq", "16",
                                         "--reps", "2", "--warmup", "1", "--out", dir, NULL});
  const char *out = slurp("gpt2", "out");
  if (!strstr(out, "equals the fixed-point emulation (0 of 12288") || !strstr(out, "in every scope"))
    fail_msg("unexpected output:\n%s", out);
  check_against_cost(dir, (const char *[]){"--model", "gpt2", "--layers", "1", "--seq", "16", NULL});
}

/* A party given a bad key file stops before it connects: it exits 1 with the reason, and never waits
 * for a peer (nobody runs party 1 here; the timeout would otherwise be reached). */
static void bad_keys(const char *needle, const char *party, const char *file, const char *model) {
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
  expect(1, needle, (const char *[]){"run", "--backend", "cpu", "--party", party, party[0] == '0' ? "--listen" : "--peer",
                                     addr, "--keys", file, "--model", model, "--layers", "1", "--seq", "8", "--timeout",
                                     "60s", "--out", tmpdir, NULL});
}

static void copy_file(const char *from, const char *to, long cut, long flip_at) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  assert_non_null(a);
  assert_non_null(b);
  static char buf[1 << 16];
  long off = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, a)) > 0) {
    if (flip_at >= off && flip_at < off + (long)n) buf[flip_at - off] ^= 0x20;
    if (cut >= 0 && off + (long)n > cut) n = (size_t)(cut - off);
    fwrite(buf, 1, n, b);
    off += (long)n;
    if (cut >= 0 && off >= cut) break;
  }
  fclose(a);
  fclose(b);
  /* and the key file's MAC key beside it (a party reads KEYFILE.mac) */
  char mf[512], mt[512], key[128];
  snprintf(mf, sizeof mf, "%s.mac", from);
  snprintf(mt, sizeof mt, "%s.mac", to);
  FILE *c = fopen(mf, "rb");
  if (!c) return;
  n = fread(key, 1, sizeof key, c);
  fclose(c);
  int fd = open(mt, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, key, n), (ssize_t)n);
  close(fd);
}

static void test_bad_key_files(void **state) {
  (void)state;
  char a[128], b[128], g[128], f[256], f1[256], bad[256];
  snprintf(a, sizeof a, "%s/kA", tmpdir);
  snprintf(b, sizeof b, "%s/kB", tmpdir);
  snprintf(g, sizeof g, "%s/kG", tmpdir);
  run_expect_ok("kga", (const char *[]){"keygen", "--layers", "1", "--seq", "8", "--out", a, NULL});
  run_expect_ok("kgb", (const char *[]){"keygen", "--layers", "1", "--seq", "8", "--out", b, NULL});
  run_expect_ok("kgg", (const char *[]){"keygen", "--model", "gpt2", "--layers", "1", "--seq", "8", "--out", g, NULL});
  snprintf(f, sizeof f, "%s/keys_p0.ffk", a);
  snprintf(f1, sizeof f1, "%s/keys_p1.ffk", a);
  bad_keys("belongs to party 1", "0", f1, "bert-tiny");
  bad_keys("was made for suite sigma, model bert-tiny", "0", f, "gpt2");
  snprintf(bad, sizeof bad, "%s/keys_p0.ffk", g);
  bad_keys("model gpt2", "0", bad, "bert-tiny");
  snprintf(bad, sizeof bad, "%s/trunc.ffk", tmpdir);
  copy_file(f, bad, 100000, -1);
  bad_keys("truncated", "0", bad, "bert-tiny");
  copy_file(f, bad, 50, -1);
  bad_keys(bad, "0", bad, "bert-tiny");
  snprintf(bad, sizeof bad, "%s/corrupt.ffk", tmpdir);
  copy_file(f, bad, -1, 300000);
  bad_keys("CRC", "0", bad, "bert-tiny");
  copy_file(f1, bad, -1, 400000);
  bad_keys("CRC", "1", bad, "bert-tiny");
  /* --weights-per-layer moves the weights' masks into the inference: keys of the other mode are refused
   * before the party goes online, both ways. */
  char w[128], fw1[256], addr_w[64];
  snprintf(w, sizeof w, "%s/kW", tmpdir);
  run_expect_ok("kgw", (const char *[]){"keygen", "--layers", "1", "--seq", "8", "--weights-per-layer", "--out", w, NULL});
  snprintf(fw1, sizeof fw1, "%s/keys_p1.ffk", w);
  snprintf(addr_w, sizeof addr_w, "127.0.0.1:%d", free_port());
  expect(1, "was made without --weights-per-layer and this run is with it",
         (const char *[]){"run", "--backend", "cpu", "--party", "0", "--listen", addr_w, "--keys", f, "--layers", "1",
                          "--seq", "8", "--weights-per-layer", "--timeout", "60s", "--out", tmpdir, NULL});
  bad_keys("was made with --weights-per-layer and this run is without it", "1", fw1, "bert-tiny");
  /* Key files of two keygen runs: party 1 refuses party 0's run id in the handshake; both exit 1. */
  char addr[64], peer[64], kb1[256], o0[160], o1[160];
  const int port = free_port();
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  snprintf(peer, sizeof peer, "127.0.0.1:%d", port);
  snprintf(kb1, sizeof kb1, "%s/keys_p1.ffk", b);
  snprintf(o0, sizeof o0, "%s/r0", tmpdir);
  snprintf(o1, sizeof o1, "%s/r1", tmpdir);
  pid_t p0 = start("run0", (const char *[]){"run", "--backend", "cpu", "--party", "0", "--listen", addr, "--keys", f,
                                            "--layers", "1", "--seq", "8", "--timeout", "30s", "--out", o0, NULL});
  pid_t p1 = start("run1", (const char *[]){"run", "--backend", "cpu", "--party", "1", "--peer", peer, "--keys", kb1,
                                            "--layers", "1", "--seq", "8", "--timeout", "30s", "--out", o1, NULL});
  const int rc1 = finish(p1), rc0 = finish(p0);
  const char *err1 = slurp("run1", "err");
  if (rc1 != 1 || !strstr(err1, "run id")) fail_msg("party 1 with another run's keys: exit %d, stderr:\n%s", rc1, err1);
  if (rc0 != 1) fail_msg("party 0 with another run's peer: exit %d, stderr:\n%s", rc0, slurp("run0", "err"));
}

static void test_peer_killed_mid_run(void **state) {
  (void)state;
  char a[128], k0[256], k1[256], addr[64], o0[160], o1[160];
  snprintf(a, sizeof a, "%s/kK", tmpdir);
  run_expect_ok("kgk", (const char *[]){"keygen", "--layers", "1", "--seq", "8", "--out", a, NULL});
  snprintf(k0, sizeof k0, "%s/keys_p0.ffk", a);
  snprintf(k1, sizeof k1, "%s/keys_p1.ffk", a);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
  snprintf(o0, sizeof o0, "%s/m0", tmpdir);
  snprintf(o1, sizeof o1, "%s/m1", tmpdir);
  /* Many repetitions: the run lasts far longer than the moment the peer is killed. */
  pid_t p0 = start("m0", (const char *[]){"run", "--backend", "cpu", "--party", "0", "--listen", addr, "--keys", k0,
                                          "--layers", "1", "--seq", "8", "--reps", "10000", "--timeout", "20s", "--out", o0, NULL});
  pid_t p1 = start("m1", (const char *[]){"run", "--backend", "cpu", "--party", "1", "--peer", addr, "--keys", k1,
                                          "--layers", "1", "--seq", "8", "--reps", "10000", "--timeout", "20s", "--out", o1, NULL});
  struct timespec ts = {1, 0};
  nanosleep(&ts, NULL);
  assert_int_equal(kill(p1, SIGKILL), 0);
  int status;
  waitpid(p1, &status, 0);
  const int rc = finish(p0);
  const char *err = slurp("m0", "err");
  if (rc != 1 || !strstr(err, "peer")) fail_msg("party 0 after its peer was killed: exit %d, stderr:\n%s", rc, err);
}

/* With scopes switched off (FF_PROFILE=0, how the profiler's overhead is measured) the run still runs and
 * verifies; the per-scope cost check has nothing to compare and says so instead of failing. */
static void test_profile_off(void **state) {
  (void)state;
  char out[160];
  snprintf(out, sizeof out, "%s/profile-off", tmpdir);
  setenv("FF_PROFILE", "0", 1);
  expect(0, "not checked (scopes are off: FF_PROFILE=0)",
         (const char *[]){"run", "--layers", "1", "--seq", "16", "--out", out, NULL});
  expect(2, "--overhead-pairs compares inferences with scopes on and off, but scopes are off",
         (const char *[]){"run", "--layers", "1", "--seq", "16", "--overhead-pairs", "2", "--out", out, NULL});
  unsetenv("FF_PROFILE");
}

/* --overhead-pairs: after the counted inferences, pairs of uncounted ones with scopes off and on. Each
 * party's log has the medians (run.overhead), the launcher prints them per party, run_summary.json has
 * the percentages; the extra repetitions are uncounted (the breakdown's statistics, the cost check and the
 * verification are the counted ones'), and the off ones, which record only totals, raise no merge
 * warning. */
static void test_overhead_pairs(void **state) {
  (void)state;
  char dir[128];
  snprintf(dir, sizeof dir, "%s/overhead", tmpdir);
  run_expect_ok("ovh", (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "8", "--reps", "2",
                                        "--warmup", "1", "--overhead-pairs", "2", "--out", dir, NULL});
  const char *out = slurp("ovh", "out");
  if (!strstr(out, "scope overhead (--overhead-pairs 2: ") || !strstr(out, "; P1 on ") ||
      !strstr(out, "p25-p75 of the pairs ") ||
      !strstr(out, "per inference (median of 2)") || !strstr(out, "equals the run's link bytes and rounds in every scope") ||
      !strstr(out, "equals the fixed-point emulation") || strstr(out, "merge warning"))
    fail_msg("unexpected output:\n%s", out);
  for (int q = 0; q < 2; q++) {
    char name[32];
    snprintf(name, sizeof name, "prof_p%d.json", q);
    cJSON *j = read_json(dir, name);
    const cJSON *ov = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "run"), "overhead");
    assert_non_null(ov);
    assert_true(num(ov, "pairs") == 2);
    const double on = num(ov, "on_ns"), off = num(ov, "off_ns");
    print_message("P%d: scopes on %.0f ns, off %.0f ns, median paired difference %.0f ns (%+.2f %%)\n", q, on, off,
                  num(ov, "diff_ns"), num(ov, "diff_pct"));
    /* 1 warm-up, 2 counted, then 4 uncounted: off, on, on, off (the last one off: the cost check above
     * must have read a counted repetition). Each median is over two repetitions' walls: their mean. */
    const cJSON *reps = cJSON_GetObjectItemCaseSensitive(j, "reps");
    assert_int_equal(cJSON_GetArraySize(reps), 7);
    double sum[2] = {0, 0}, first[2] = {-1, -1};
    for (int r = 0; r < 7; r++) {
      const cJSON *rep = cJSON_GetArrayItem(reps, r);
      assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "warmup")), r == 0 || r >= 3);
      int scoped = 0; /* any scope called: with scopes off the tree is there, its counts zero */
      const cJSON *node;
      cJSON_ArrayForEach(node, cJSON_GetObjectItemCaseSensitive(rep, "nodes")) scoped |= num(node, "calls") > 0;
      const int k = r - 3, want = k < 0 || k % 4 == 1 || k % 4 == 2;
      if (scoped != want) fail_msg("P%d repetition %d: scopes %s, expected %s", q, r, scoped ? "on" : "off", want ? "on" : "off");
      if (k >= 0) {
        const double wall = num(cJSON_GetObjectItemCaseSensitive(rep, "total"), "wall_ns");
        sum[want] += wall;
        if (k / 2 == 0) first[want] = wall;
      }
    }
    assert_true(on == sum[1] / 2 && off == sum[0] / 2);
    assert_true(num(ov, "diff_ns") == ((first[1] - first[0]) + (sum[1] - first[1] - (sum[0] - first[0]))) / 2);
    /* the spread of the two differences: p25 and p75 interpolate between them (type 7 quantiles) */
    const double d0 = first[1] - first[0], d1 = sum[1] - first[1] - (sum[0] - first[0]);
    const double lo = d0 < d1 ? d0 : d1, hi = d0 < d1 ? d1 : d0;
    assert_true(num(ov, "diff_p25_ns") == lo + 0.25 * (hi - lo));
    assert_true(num(ov, "diff_p75_ns") == lo + 0.75 * (hi - lo));
    cJSON_Delete(j);
  }
  cJSON *j = read_json(dir, "run_summary.json");
  assert_true(num(j, "overhead_pairs") == 2);
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "scope_overhead_pct_p0")));
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "scope_overhead_pct_p1")));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
  cJSON_Delete(j);
  /* without it the summary says none were run */
}

/* --verify off (for whole models whose emulation is too slow on the host): the run and its cost check
 * still happen, the output says in capitals that nothing was verified, and the summary records it. */
static void test_verify_off(void **state) {
  (void)state;
  char dir[128];
  snprintf(dir, sizeof dir, "%s/verify-off", tmpdir);
  run_expect_ok("voff", (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "8", "--verify", "off",
                                         "--out", dir, NULL});
  const char *out = slurp("voff", "out");
  if (!strstr(out, "verification: NOT RUN (--verify off)") || strstr(out, "equals the fixed-point emulation") ||
      !strstr(out, "equals the run's link bytes and rounds in every scope"))
    fail_msg("unexpected output:\n%s", out);
  cJSON *j = read_json(dir, "run_summary.json");
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "verified")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "output_exact")));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
  /* no --overhead-pairs: none run, no figure */
  assert_true(num(j, "overhead_pairs") == 0 && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "scope_overhead_pct_p0")));
  cJSON_Delete(j);
}

static void test_usage_errors(void **state) {
  (void)state;
  expect(2, "the models are: bert-tiny, bert-base", (const char *[]){"run", "--model", "bert-huge", NULL});
  expect(2, "unknown model", (const char *[]){"cost", "--model", "gpt5", NULL});
  expect(2, "--seq must be", (const char *[]){"cost", "--seq", "2", NULL});
  expect(2, "unknown suite 'fss' (expected sigma or suf)", (const char *[]){"run", "--suite", "fss", NULL});
  expect(2, "--gpu-share must be timeslice or mps, not 'mig'", (const char *[]){"run", "--gpu-share", "mig", NULL});
  expect(2, "--verify must be on or off, not 'maybe'", (const char *[]){"run", "--verify", "maybe", NULL});
  expect(2, "--overhead-pairs must be 0..1000, not '-1'", (const char *[]){"run", "--overhead-pairs", "-1", NULL});
  expect(2, "--overhead-pairs must be 0..1000, not 'many'", (const char *[]){"run", "--overhead-pairs", "many", NULL});
  expect(2, "--verify belongs to the local pipeline",
         (const char *[]){"run", "--party", "0", "--listen", ":0", "--verify", "off", NULL});
  expect(2, "--gpu-share mps shares a GPU, but the parties run on the cpu",
         (const char *[]){"run", "--backend", "cpu", "--gpu-share", "mps", NULL});
  expect(2, "--suf needs --suite suf", (const char *[]){"cost", "--suf", "SUF_NEXP_BITS=9", NULL});
  expect(2, "not NAME=VALUE with a known knob", (const char *[]){"cost", "--suite", "suf", "--suf", "SUF_NOPE=1", NULL});
  expect(2, "SUF_NEXP_BITS wants an integer in 5..16", (const char *[]){"keygen", "--suite", "suf", "--suf", "nexp_bits=40", NULL});
  expect(2, "SUF_GELU_INTERVALS 300 is neither 2..16 (sparse) nor a power of two",
         (const char *[]){"run", "--suite", "suf", "--suf", "SUF_GELU_INTERVALS=300", NULL});
  expect(2, "SUF_DEGREE 1 applies to the sparse regime only", (const char *[]){"cost", "--suite", "suf", "--suf", "DEGREE=1", NULL});
  expect(2, "--insecure-no-padding needs --suite suf", (const char *[]){"keygen", "--insecure-no-padding", NULL});
  expect(2, "--insecure-no-padding applies to the sparse regime only",
         (const char *[]){"run", "--suite", "suf", "--insecure-no-padding", NULL});
  expect(2, "--placement must be device, host or disk", (const char *[]){"run", "--placement", "cloud", NULL});
  expect(2, "party 1 needs --peer", (const char *[]){"run", "--party", "1", NULL});
  expect(2, "need --party", (const char *[]){"run", "--keys", "x.ffk", NULL});
  /* each party on its own GPU (--gpu0/--gpu1; --gpu in the party role) */
  expect(2, "--gpu0 wants a GPU ordinal from 0 to 63", (const char *[]){"run", "--gpu0", "x", NULL});
  expect(2, "--gpu1 wants a GPU ordinal from 0 to 63", (const char *[]){"run", "--gpu1", "64", NULL});
  expect(2, "--gpu N is the party role's", (const char *[]){"run", "--gpu", "1", NULL});
  expect(2, "a single party takes --gpu N", (const char *[]){"run", "--party", "0", "--gpu0", "1", NULL});
  expect(2, "choose CUDA devices, but the parties run on the cpu",
         (const char *[]){"run", "--backend", "cpu", "--gpu0", "0", "--gpu1", "1", NULL});
  expect(0, "usage: fusefss run", (const char *[]){"run", "--help", NULL});
  expect(0, "usage: fusefss keygen", (const char *[]){"keygen", "--help", NULL});
  expect(0, "usage: fusefss cost", (const char *[]){"cost", "--help", NULL});
  char missing[160];
  snprintf(missing, sizeof missing, "%s/nothing/keys.ffk", tmpdir);
  bad_keys("nothing", "0", missing, "bert-tiny");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usage_errors),          cmocka_unit_test(test_profile_off),          cmocka_unit_test(test_bert_tiny_end_to_end),
      cmocka_unit_test(test_gpt2_one_layer),        cmocka_unit_test(test_bad_key_files),
      cmocka_unit_test(test_peer_killed_mid_run),   cmocka_unit_test(test_suf_end_to_end),
      cmocka_unit_test(test_suf_sparse_end_to_end), cmocka_unit_test(test_inproc_dealer),
      cmocka_unit_test(test_verify_off),            cmocka_unit_test(test_overhead_pairs),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
