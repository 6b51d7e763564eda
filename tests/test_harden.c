/* Hardening regressions (issue 14), one or more per class, each failing before its fix: two dealings
 * that share a run id, mismatched --reps, a trickling peer past the handshake's deadline, a launcher
 * killed with its parties running, stdout on /dev/full, stale results of an earlier run, a bad --out in
 * the party role, non-regular and oversized input files, option edges. Key files tampered with, swapped
 * mid-run or FIFOs are in tests/test_keystream.c. CPU only, loopback only; every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "comm/chan.h"
#include "core/log.h"
#include "core/time.h"
#include "e2e.h"
#include "tools/lib/analysis.h"

extern char **environ;

static char *path_in(const char *name) {
  static char buf[8][256];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
  return p;
}

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

static void keygen(const char *dir, const char *run_id) {
  const char *args[] = {"keygen", "--backend", "cpu", "--layers", "1", "--seq", "8", "--out", dir,
                        run_id ? "--run-id" : NULL, run_id, NULL};
  expect(0, NULL, args);
}

/* --- Class 1: two dealings that happen to share a run id ------------------------------------------ */

/* Both parties of one run as processes: party 0 with --reps reps0, party 1 with --reps reps1 and
 * --overhead-pairs pairs1. */
static void run_pair(const char *k0, const char *k1, const char *reps0, const char *reps1, const char *pairs1,
                     int rc_want, const char *needle) {
  char listen[32], peer[32];
  const int port = free_port();
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  snprintf(peer, sizeof peer, "127.0.0.1:%d", port);
  pid_t p0 = start("pair0", (const char *[]){"run", "--backend", "cpu", "--party", "0", "--listen", listen, "--keys", k0,
                                              "--layers", "1", "--seq", "8", "--reps", reps0, "--timeout", "20s",
                                              "--out", path_in("pair0"), NULL});
  pid_t p1 = start("pair1", (const char *[]){"run", "--backend", "cpu", "--party", "1", "--peer", peer, "--keys", k1,
                                              "--layers", "1", "--seq", "8", "--reps", reps1, "--timeout", "20s",
                                              "--overhead-pairs", pairs1, "--out", path_in("pair1"), NULL});
  const int rc0 = finish(p0), rc1 = finish(p1);
  if (rc0 != rc_want || rc1 != rc_want)
    fail_msg("parties exited %d and %d, expected %d; stderr:\n%s\n---\n%s", rc0, rc1, rc_want, slurp("pair0", "err"),
             slurp("pair1", "err"));
  if (needle && (!strstr(slurp("pair0", "err"), needle) || !strstr(slurp("pair1", "err"), needle)))
    fail_msg("both parties should say \"%s\"; stderr:\n%s\n---\n%s", needle, slurp("pair0", "err"),
             slurp("pair1", "err"));
}

static void test_two_dealings_same_run_id(void **state) {
  (void)state;
  const char *a = path_in("dealA"), *b = path_in("dealB");
  keygen(a, "shared-label");
  keygen(b, "shared-label");
  char a0[256], b1[256];
  snprintf(a0, sizeof a0, "%s/keys_p0.ffk", a);
  snprintf(b1, sizeof b1, "%s/keys_p1.ffk", b);
  /* Before: both exited 0 with a wrong output. Now both refuse, naming the cause. */
  run_pair(a0, b1, "1", "1", "0", 1, "different dealings");
  /* The same files of one dealing still run. */
  char a1[256];
  snprintf(a1, sizeof a1, "%s/keys_p1.ffk", a);
  run_pair(a0, a1, "1", "1", "0", 0, NULL);
  /* Class 6: --reps differs between the parties: said so, not "peer closed". */
  run_pair(a0, a1, "2", "1", "0", 1, "disagree on the repetitions");
  run_pair(a0, a1, "1", "1", "2", 1, "--overhead-pairs 2");
}

/* --- Class 2: a peer that trickles the handshake ---------------------------------------------------- */

typedef struct {
  int port;
  volatile int sent_all; /* the whole hello went out: the party waited for all of it */
  pthread_t thread;
} trickler;

static void *trickle(void *arg) {
  trickler *t = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  /* A well-formed party-1 hello ("FFSS", version 1, party 1, empty run id), one byte every 150 ms:
   * 44 bytes take 6.6 s, each byte well inside the 1 s silence timeout. */
  uint8_t hello[44] = {'F', 'F', 'S', 'S', 1, 0, 0, 0, 1, 0, 0, 0};
  size_t i = 0;
  for (; i < sizeof hello; i++) {
    if (send(fd, hello + i, 1, MSG_NOSIGNAL) != 1) break;
    ff_sleep_ns(150000000u);
  }
  t->sent_all = i == sizeof hello;
  close(fd);
  return NULL;
}

static void start_trickler(int port, void *arg) {
  trickler *t = arg;
  t->port = port;
  assert_int_equal(pthread_create(&t->thread, NULL, trickle, t), 0);
}

static void test_trickling_peer_times_out(void **state) {
  (void)state;
  trickler t = {0};
  ff_tcp_opts o = {.party = 0, .host = "127.0.0.1", .port = 0, .connect_timeout_ms = 5000, .io_timeout_ms = 1000,
                   .run_id = "trickle", .on_listen = start_trickler, .on_listen_arg = &t};
  ff_chan *ch = NULL;
  ff_log_set_level(FF_LOG_ERROR);
  const ff_status st = ff_chan_tcp_open(&ch, &o);
  /* Before: every byte reset the 1 s silence timer, so the party took the whole hello (6.6 s). Now the
   * handshake ends at its deadline, while the peer is still trickling. */
  const int sent_all = t.sent_all;
  pthread_join(t.thread, NULL);
  ff_log_set_level(FF_LOG_WARN);
  ff_chan_close(ch);
  assert_int_equal(st, FF_ETIMEDOUT);
  assert_false(sent_all);
}

/* --- Class 4: the launcher killed while its parties run --------------------------------------------- */

/* The children of pid (from /proc), at most 8. */
static int children_of(pid_t pid, pid_t *out) {
  int n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d)) && n < 8) {
    const pid_t p = (pid_t)atoi(e->d_name);
    if (p <= 0) continue;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    const size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    const char *rp = strrchr(buf, ')'); /* "pid (comm) state ppid ..." */
    char state;
    int ppid;
    if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == (int)pid && state != 'Z') out[n++] = p;
  }
  if (d) closedir(d);
  return n;
}

/* 1 while pid runs (a zombie waiting for its reaper has stopped running). */
static int running(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  const size_t got = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[got] = '\0';
  const char *rp = strrchr(buf, ')');
  return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static void test_parent_killed_no_party_left(void **state) {
  (void)state;
  const int sigs[] = {SIGKILL, SIGTERM, SIGINT};
  for (int k = 0; k < 3; k++) {
    /* Many repetitions: the parties are still at work when the launcher dies. */
    pid_t parent = start("orphan", (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "8", "--reps",
                                                     "10000", "--out", path_in("orphan"), NULL});
    pid_t kids[8];
    int n = 0;
    for (int i = 0; i < 600 && n < 2; i++) { /* up to 30 s for keygen and both parties to start */
      ff_sleep_ns(50000000u);
      n = children_of(parent, kids);
    }
    if (n < 2) {
      kill(parent, SIGKILL);
      waitpid(parent, NULL, 0);
      fail_msg("the launcher never ran two parties; stderr:\n%s", slurp("orphan", "err"));
    }
    assert_int_equal(kill(parent, sigs[k]), 0);
    int status;
    assert_int_equal(waitpid(parent, &status, 0), parent);
    assert_true(WIFSIGNALED(status));
    int left = 2;
    for (int i = 0; i < 100 && left; i++) { /* bounded wait (5 s): they must go, not after a timeout */
      left = running(kids[0]) + running(kids[1]);
      if (left) ff_sleep_ns(50000000u);
    }
    for (int i = 0; i < 2; i++)
      if (running(kids[i])) kill(kids[i], SIGKILL); /* never leave them behind, even on failure */
    if (left) fail_msg("%d party process(es) still running after the launcher died of signal %d", left, sigs[k]);
  }
}

/* --- Class 5: stdout that cannot be written --------------------------------------------------------- */

static int run_to_dev_full(const char *const *args) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/full", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, path_in("full.err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const char *argv[24];
  int n = 0;
  argv[n++] = fusefss();
  for (int i = 0; args[i] && n < 23; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid;
  assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return finish(pid);
}

static void test_dev_full_exits_1(void **state) {
  (void)state;
  if (!exists("/dev/full")) skip();
  /* Before: 0, the report lost without a word. */
  assert_int_equal(run_to_dev_full((const char *[]){"cost", "--layers", "1", NULL}), 1);
  assert_int_equal(run_to_dev_full((const char *[]){"cost", "--format", "json", NULL}), 1);
  assert_int_equal(run_to_dev_full((const char *[]){"--version", NULL}), 1);
}

/* merge -o into a directory that cannot take the file: the old file stays whole (temp + rename). */
static void test_merge_output_atomic(void **state) {
  (void)state;
  const char *dir = path_in("atomic");
  expect(0, NULL, (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "8", "--out", dir, NULL});
  char merged[256], p0[256], p1[256];
  snprintf(merged, sizeof merged, "%s/breakdown_merged.json", dir);
  snprintf(p0, sizeof p0, "%s/prof_p0.json", dir);
  snprintf(p1, sizeof p1, "%s/prof_p1.json", dir);
  struct stat before, after;
  assert_int_equal(stat(merged, &before), 0);
  /* a read-only directory: the temp file cannot be made, the merged file must survive unchanged */
  if (geteuid() != 0) {
    assert_int_equal(chmod(dir, 0555), 0);
    expect(1, "cannot write", (const char *[]){"merge", p0, p1, "-o", merged, NULL});
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(stat(merged, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
  }
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_breakdown_load(merged, &bd), FF_OK);
  ff_breakdown_free(bd);
}

/* --- Class 4: stale results and --out ------------------------------------------------------------- */

static void test_failed_run_leaves_no_stale_results(void **state) {
  (void)state;
  const char *dir = path_in("stale");
  expect(0, NULL, (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "8", "--out", dir, NULL});
  static const char *const results[] = {"prof_p0.json", "prof_p1.json", "breakdown_merged.json", "output_p1.bin"};
  char p[256];
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, results[i]);
    assert_true(exists(p));
  }
  /* The second run fails (party 0 has no weights file); before, the first run's results stayed beside
   * its new key files and `report` showed them as if they were this run's. */
  expect(1, "weights", (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "8", "--weights",
                                        path_in("no-such-weights.ffw"), "--out", dir, NULL});
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, results[i]);
    if (exists(p)) fail_msg("%s is left over from the earlier run", p);
  }
}

static void test_bad_out_in_party_mode_fails_before_connecting(void **state) {
  (void)state;
  const char *k = path_in("badout-keys");
  keygen(k, NULL);
  char k0[256], k1[256], peer[32], listen[32];
  snprintf(k0, sizeof k0, "%s/keys_p0.ffk", k);
  snprintf(k1, sizeof k1, "%s/keys_p1.ffk", k);
  const int port = free_port();
  snprintf(peer, sizeof peer, "127.0.0.1:%d", port);
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  /* Nobody listens: before, party 1 tried to connect until --timeout and failed for that reason (and
   * with a peer, only after the whole inference). Now --out is refused first. */
  expect(1, "--out /dev/null/sub", (const char *[]){"run", "--backend", "cpu", "--party", "1", "--peer", peer, "--keys",
                                                   k1, "--layers", "1", "--seq", "8", "--timeout", "3s", "--out",
                                                   "/dev/null/sub", NULL});
  if (strstr(slurp("cmd", "err"), "connect")) fail_msg("party 1 tried to connect:\n%s", slurp("cmd", "err"));
  expect(1, "--out /dev/null/sub", (const char *[]){"run", "--backend", "cpu", "--party", "0", "--listen", listen,
                                                   "--keys", k0, "--layers", "1", "--seq", "8", "--timeout", "3s",
                                                   "--out", "/dev/null/sub", NULL});
}

/* --- Class 3: readers of user files --------------------------------------------------------------- */

static void test_readers_refuse_fifos_and_huge_files(void **state) {
  (void)state;
  const char *fifo = path_in("log.fifo"), *huge = path_in("huge.json");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  alarm(30); /* a regression blocks in open(): fail rather than hang */
  cJSON *j = NULL;
  ff_log_set_level(FF_LOG_ERROR);
  assert_int_equal(ff_json_load_file(fifo, "per-party log", &j), FF_EINVAL);
  assert_int_equal(ff_json_load_file("/dev/zero", "per-party log", &j), FF_EINVAL);
  int fd = open(huge, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)FF_JSON_FILE_MAX + 1), 0); /* sparse: no disk used */
  close(fd);
  assert_int_equal(ff_json_load_file(huge, "per-party log", &j), FF_ERANGE);
  ff_log_set_level(FF_LOG_WARN);
  /* The commands say so and exit 1. */
  expect(1, "is a FIFO", (const char *[]){"report", fifo, NULL});
  expect(1, "a character device", (const char *[]){"merge", "/dev/zero", "/dev/zero", NULL});
  expect(1, "more than the", (const char *[]){"project", huge, NULL});
  /* The weights reader too (party 0 would block before listening). */
  expect(1, "not a regular file", (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "8",
                                                   "--weights", fifo, "--out", path_in("fifo-run"), NULL});
  alarm(0);
  unlink(huge);
  unlink(fifo);
}

/* Logs with absurd numbers (1e300 ns, beyond any measurement) are refused by merge, as negative and
 * NaN values were already. */
static void test_absurd_numbers_in_logs(void **state) {
  (void)state;
  const char *dir = path_in("absurd");
  expect(0, NULL, (const char *[]){"run", "--backend", "cpu", "--layers", "1", "--seq", "8", "--out", dir, NULL});
  char p0[256], p1[256], bad[256];
  snprintf(p0, sizeof p0, "%s/prof_p0.json", dir);
  snprintf(p1, sizeof p1, "%s/prof_p1.json", dir);
  snprintf(bad, sizeof bad, "%s/bad_p0.json", dir);
  FILE *f = fopen(p0, "rb");
  assert_non_null(f);
  static char text[1 << 22];
  const size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  char *w = strstr(text, "\"wall_ns\":");
  assert_non_null(w);
  w += strlen("\"wall_ns\":");
  while (*w == ' ' || *w == '\t') w++;
  char *end = w;
  while (*end >= '0' && *end <= '9') end++;
  f = fopen(bad, "wb");
  assert_non_null(f);
  fwrite(text, 1, (size_t)(w - text), f);
  fputs("1e300", f);
  fputs(end, f);
  fclose(f);
  expect(1, "absurd", (const char *[]){"merge", bad, p1, "-o", path_in("absurd.json"), NULL});
  assert_false(exists(path_in("absurd.json")));
}

/* --- Class 6: option and identity edges ----------------------------------------------------------- */

static void test_option_edges(void **state) {
  (void)state;
  const char *same = path_in("same.ffk");
  expect(2, "name the same file", (const char *[]){"keygen", "--keys-p0", same, "--keys-p1", same, NULL});
  expect(2, "beyond model bert-tiny's depth: it has 2 blocks (use 1..2)", (const char *[]){"cost", "--layers", "3", NULL});
  expect(2, "--run-id must be", (const char *[]){"cost", "--run-id", "two\nlines", NULL});
  expect(2, "two\\x0alines", (const char *[]){"cost", "--run-id", "two\nlines", NULL});
  expect(2, "--run-id must be", (const char *[]){"cost", "--run-id", "", NULL});
  expect(2, "--seq must be 3..1024", (const char *[]){"cost", "--seq", "1025", NULL}); /* was an internal error */
  /* A repeated option takes the last value: --layers 1 --layers 2 is --layers 2 (it stayed 1), also
   * with --model between them. */
  static char want[65536];
  expect(0, NULL, (const char *[]){"cost", "--format", "csv", "--layers", "2", NULL});
  snprintf(want, sizeof want, "%s", slurp("cmd", "out"));
  expect(0, NULL, (const char *[]){"cost", "--format", "csv", "--layers", "1", "--model", "bert-tiny", "--layers", "2",
                                   NULL});
  assert_string_equal(slurp("cmd", "out"), want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_dealings_same_run_id),
      cmocka_unit_test(test_trickling_peer_times_out),
      cmocka_unit_test(test_parent_killed_no_party_left),
      cmocka_unit_test(test_dev_full_exits_1),
      cmocka_unit_test(test_merge_output_atomic),
      cmocka_unit_test(test_failed_run_leaves_no_stale_results),
      cmocka_unit_test(test_bad_out_in_party_mode_fails_before_connecting),
      cmocka_unit_test(test_readers_refuse_fifos_and_huge_files),
      cmocka_unit_test(test_absurd_numbers_in_logs),
      cmocka_unit_test(test_option_edges),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
