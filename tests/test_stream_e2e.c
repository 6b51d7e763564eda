/* `fusefss run --dealer stream` end to end (the binary named by $FUSEFSS; docs/running.md "Streamed
 * keys"): what the streamed dealer sends each party is the key file `fusefss keygen` writes for the same
 * --mask-seed, byte for byte except the dealing's fresh identity (with the header CRC over it) and MAC tags (bert-tiny at windows 1 and
 * 2, gpt2 cut to two layers; with an argument "large", a cut llama7b too), and the run verifies; a dealer
 * killed mid-stream and a party that stops reading make everyone fail with a message within the deadline;
 * the check that keys fit refuses a run that cannot fit a (test-injected) memory or disk size and names
 * the mode that would. Test of tools/run.c and tools/keyfeed.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/keystream.h"
#include "e2e.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int run_tag(const char *tag, const char *const *args) {
  return finish(start(tag, args));
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* 1 when byte `at` of a key file (format: core/keystream.h) is part of the dealing id, the header's CRC
 * (which covers the id) or a MAC tag: the bytes a fresh dealing changes whatever the masks. */
static int is_identity_byte(uint64_t at, uint32_t header_size, uint32_t chunk, uint64_t payload) {
  enum { T = 32 };
  if (at >= 72 && at < 88) return 1;
  if (at < header_size) return at >= header_size - T - 4; /* the header's CRC (over the id) and its tag */
  const uint64_t n_chunks = payload / chunk + (payload % chunk != 0), stride = (uint64_t)chunk + 4 + T;
  const uint64_t r = at - header_size, chunks_end = payload + n_chunks * (4 + T);
  if (r >= chunks_end) return r >= chunks_end + 32; /* the trailer, then its tag */
  const uint64_t k = r / stride, within = r % stride, len = k + 1 == n_chunks ? payload - k * chunk : chunk;
  return within >= len + 4;
}

static void read_mac(const char *path, uint8_t key[FF_KEYSTREAM_MAC_KEY_BYTES]) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  for (int i = 0; i < FF_KEYSTREAM_MAC_KEY_BYTES; i++) {
    unsigned v;
    assert_int_equal(fscanf(f, "%2x", &v), 1);
    key[i] = (uint8_t)v;
  }
  fclose(f);
}

/* The streamed dealer's output for one party (`got`, copied by FUSEFSS_TEST_STREAM_TEE) against the key
 * file of the same --mask-seed (`want`): the same size and the same bytes outside the dealing id and the
 * tags; both open with their own MAC key (every tag checks) and hold the same payload. */
static void compare_with_key_file(const char *got, const char *want) {
  FILE *a = fopen(got, "rb"), *b = fopen(want, "rb");
  assert_non_null(a);
  assert_non_null(b);
  static uint8_t x[1 << 20], y[1 << 20];
  uint8_t hdr[100];
  assert_int_equal(fread(hdr, 1, sizeof hdr, b), sizeof hdr);
  const uint32_t header_size = get32(hdr + 12), chunk = get32(hdr + 20);
  const uint64_t payload = get64(hdr + 24);
  assert_int_equal(get32(hdr + 68), 1); /* MAC flag */
  rewind(b);
  uint64_t at = 0, differ = 0, identity_differ = 0;
  for (;;) {
    const size_t n = fread(x, 1, sizeof x, a), m = fread(y, 1, sizeof y, b);
    if (n != m) fail_msg("%s and %s differ in size (at byte %llu)", got, want, (unsigned long long)(at + (n < m ? n : m)));
    for (size_t i = 0; i < n; i++)
      if (x[i] != y[i]) {
        if (is_identity_byte(at + i, header_size, chunk, payload)) identity_differ++;
        else if (differ++ == 0) fail_msg("%s and %s differ at byte %llu, outside the dealing id, the header CRC and the tags", got, want,
                                         (unsigned long long)(at + i));
      }
    at += n;
    if (n < sizeof x) break;
  }
  fclose(a);
  fclose(b);
  assert_true(identity_differ > 0); /* two dealings: their identities differ */
  /* Every tag is a valid tag: each stream opens under its own MAC key and yields the same payload. */
  char mac[4200];
  uint8_t ka[FF_KEYSTREAM_MAC_KEY_BYTES], kb[FF_KEYSTREAM_MAC_KEY_BYTES];
  snprintf(mac, sizeof mac, "%s.mac", got);
  read_mac(mac, ka);
  snprintf(mac, sizeof mac, "%s.mac", want);
  read_mac(mac, kb);
  ff_keystream *ra = NULL, *rb = NULL;
  assert_int_equal(ff_keystream_open_file_mac(got, ka, &ra), FF_OK);
  assert_int_equal(ff_keystream_open_file_mac(want, kb, &rb), FF_OK);
  assert_true(ff_keystream_size(ra) == payload && ff_keystream_size(rb) == payload);
  for (uint64_t left = payload; left;) {
    const size_t k = left < sizeof x ? (size_t)left : sizeof x;
    assert_int_equal(ff_keystream_read(ra, x, k), FF_OK);
    assert_int_equal(ff_keystream_read(rb, y, k), FF_OK);
    assert_memory_equal(x, y, k);
    left -= k;
  }
  assert_int_equal(ff_keystream_close(ra, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  assert_int_equal(ff_keystream_close(rb, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
}

/* keygen and a streamed run of the same model, --mask-seed and --run-id; the run verifies, and each
 * party's stream equals its key file. `model` is NULL-terminated model options. */
static void stream_equals_files(const char *name, const char *window, const char *const *model) {
  char kdir[256], sdir[256], tee[256];
  snprintf(kdir, sizeof kdir, "%s/%s-keys", tmpdir, name);
  snprintf(sdir, sizeof sdir, "%s/%s-run", tmpdir, name);
  snprintf(tee, sizeof tee, "%s/%s-tee", tmpdir, name);
  assert_int_equal(mkdir(tee, 0700), 0);
  const char *kg[32] = {"keygen", "--backend", "cpu", "--mask-seed", "5", "--run-id", "same", "--out", kdir};
  const char *run[40] = {"run", "--backend", "cpu", "--dealer", "stream", "--window", window, "--mask-seed", "5",
                         "--run-id", "same", "--timeout", "60s", "--out", sdir};
  int nk = 9, nr = 15;
  for (int i = 0; model[i]; i++) kg[nk++] = run[nr++] = model[i];
  if (run_tag("kg", kg) != 0) fail_msg("keygen failed:\n%s", slurp("kg", "err"));
  setenv("FUSEFSS_TEST_STREAM_TEE", tee, 1);
  const int rc = run_tag("st", run);
  unsetenv("FUSEFSS_TEST_STREAM_TEE");
  if (rc != 0) fail_msg("the streamed run failed (exit %d):\n%s", rc, slurp("st", "err"));
  const char *out = slurp("st", "out");
  if (!strstr(out, "streamed dealer (window") || !strstr(out, "equals the fixed-point emulation"))
    fail_msg("the streamed run did not verify:\n%s", out);
  char prof[300];
  snprintf(prof, sizeof prof, "%s/prof_p0.json", sdir);
  FILE *f = fopen(prof, "r");
  assert_non_null(f);
  static char log[1 << 16];
  log[fread(log, 1, sizeof log - 1, f)] = '\0';
  fclose(f);
  if (!strstr(log, "\"stream\"")) fail_msg("P0's log does not say \"dealer\": \"stream\"");
  for (int q = 0; q < 2; q++) {
    char got[300], want[300];
    snprintf(got, sizeof got, "%s/stream_p%d.ffk", tee, q);
    snprintf(want, sizeof want, "%s/keys_p%d.ffk", kdir, q);
    compare_with_key_file(got, want);
    unlink(got); /* large: not kept until teardown */
    unlink(want);
  }
}

static void test_bert_tiny_window_1(void **state) {
  (void)state;
  stream_equals_files("bt1", "1", (const char *[]){"--model", "bert-tiny", "--seq", "32", NULL});
}

static void test_bert_tiny_window_2(void **state) {
  (void)state;
  stream_equals_files("bt2", "2", (const char *[]){"--model", "bert-tiny", "--seq", "32", NULL});
}

static void test_gpt2_two_layers(void **state) {
  (void)state;
  stream_equals_files("g2", "1", (const char *[]){"--model", "gpt2", "--layers", "2", "--seq", "8", NULL});
}

/* Three blocks: the stream sizes declared up front are counted on one and two blocks and extended
 * (tools/run.c ff__stream_sizes); the streams equal the key files byte for byte, headers included. */
static void test_gpt2_three_layers(void **state) {
  (void)state;
  stream_equals_files("g3", "2", (const char *[]){"--model", "gpt2", "--layers", "3", "--seq", "8", NULL});
}

/* --weights-per-layer: each layer's weight masks dealt into the inference's keys; the stream still equals the
 * key file and the run verifies. */
static void test_weights_per_layer(void **state) {
  (void)state;
  stream_equals_files("wpl", "1", (const char *[]){"--model", "bert-tiny", "--seq", "32", "--weights-per-layer", NULL});
}

/* Not in the default run (about 2 × 3.4 GiB of keys and minutes on two cores): `test_stream_e2e large`. */
static void test_llama_one_layer(void **state) {
  (void)state;
  stream_equals_files("ll", "1", (const char *[]){"--model", "llama7b", "--layers", "1", "--seq", "3", NULL});
}

/* A streamed bert-tiny run at seq 16 with `reps` and `extra` options (NULL-terminated, at most 4): it
 * verifies, its dealer dealt `inferences` inferences' keys, and its output has `also` when not NULL. */
static void stream_reps(const char *tag, const char *reps, const char *const *extra, int inferences, const char *also) {
  char dir[256], dealt[64];
  snprintf(dir, sizeof dir, "%s/%s", tmpdir, tag);
  const char *args[24] = {"run", "--backend", "cpu", "--dealer", "stream", "--seq", "16", "--reps", reps, "--out", dir};
  int n = 11;
  for (int i = 0; extra[i]; i++) args[n++] = extra[i];
  args[n] = NULL;
  const int rc = run_tag(tag, args);
  if (rc != 0) fail_msg("exit %d:\n%s", rc, slurp(tag, "err"));
  snprintf(dealt, sizeof dealt, "dealer: %d inferences' keys dealt and streamed", inferences);
  if (!strstr(slurp(tag, "err"), dealt)) fail_msg("expected \"%s\":\n%s", dealt, slurp(tag, "err"));
  const char *out = slurp(tag, "out");
  if (!strstr(out, "equals the fixed-point emulation") || (also && !strstr(out, also)))
    fail_msg("not verified, or no \"%s\":\n%s", also ? also : "", out);
}

/* Repetitions: each one's keys are dealt anew, and the run still verifies; with --overhead-pairs the
 * dealer deals the pairs' inferences too (1 warm-up + 1 counted + 2). */
static void test_reps_dealt_again(void **state) {
  (void)state;
  stream_reps("reps", "2", (const char *[]){"--warmup", "1", NULL}, 3, NULL);
  stream_reps("repo", "1", (const char *[]){"--warmup", "1", "--overhead-pairs", "1", NULL}, 4,
              "scope overhead (--overhead-pairs 1: ");
}

/* A dealer that dies mid-stream: both parties fail, naming the stream that ended, within the deadline. */
static void test_dealer_dies(void **state) {
  (void)state;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/die", tmpdir);
  setenv("FUSEFSS_TEST_DEALER_DIE_AT_LAYER", "1", 1);
  const double t0 = now_s();
  const int rc = run_tag("die", (const char *[]){"run", "--backend", "cpu", "--dealer", "stream", "--window", "1",
                                                 "--timeout", "20s", "--out", dir, NULL});
  const double secs = now_s() - t0;
  unsetenv("FUSEFSS_TEST_DEALER_DIE_AT_LAYER");
  const char *err = slurp("die", "err");
  if (rc != 1) fail_msg("exit %d, expected 1:\n%s", rc, err);
  if (secs > 40) fail_msg("took %.1f s, beyond the 20 s deadline and the grace", secs);
  if (!strstr(err, "the dealer was killed by signal 9")) fail_msg("no word of the dealer's death:\n%s", err);
  /* Each party stops with a message: its stream ended, or (when the other one stopped first) its peer left. */
  int ended = 0;
  for (int q = 0; q < 2; q++) {
    char needle[128];
    snprintf(needle, sizeof needle, "fusefss[P%d]: error: key stream from the dealer (party %d) ended at byte", q, q);
    ended += strstr(err, needle) != NULL;
    snprintf(needle, sizeof needle, "fusefss[P%d]: error:", q);
    if (!strstr(err, needle)) fail_msg("party %d gave no message:\n%s", q, err);
  }
  if (!ended) fail_msg("no party said its key stream ended:\n%s", err);
  if (!strstr(err, "party 0 exit 1, party 1 exit 1")) fail_msg("both parties must exit 1:\n%s", err);
}

/* A party that stops reading its keys: the dealer and the other party fail with a message within the
 * deadline, the stuck party is killed. */
static void test_party_stops_reading(void **state) {
  (void)state;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/stall", tmpdir);
  setenv("FUSEFSS_TEST_STREAM_STALL", "1", 1);
  const double t0 = now_s();
  const int rc = run_tag("stall", (const char *[]){"run", "--backend", "cpu", "--dealer", "stream", "--timeout", "3s",
                                                   "--out", dir, NULL});
  const double secs = now_s() - t0;
  unsetenv("FUSEFSS_TEST_STREAM_STALL");
  const char *err = slurp("stall", "err");
  if (rc != 1) fail_msg("exit %d, expected 1:\n%s", rc, err);
  if (secs > 30) fail_msg("took %.1f s, beyond two 3 s deadlines and the grace", secs);
  /* The dealer names the stuck party, or (when party 0 gave up on its exchange first) the one that left. */
  if (!strstr(err, "fusefss[dealer]: error: party 1 stopped reading its keys") &&
      !strstr(err, "fusefss[dealer]: error: party 0 closed its key stream"))
    fail_msg("the dealer did not say which party failed it:\n%s", err);
  if (!strstr(err, "fusefss[P0]: error:")) fail_msg("party 0 gave no message:\n%s", err);
  if (!strstr(err, "the dealer exit 1")) fail_msg("the dealer must exit 1 on its own:\n%s", err);
}

/* The fit check, with the free sizes injected (FUSEFSS_TEST_*: docs/running.md): bert-tiny at seq 128 has
 * about 2 × 337 MiB of keys, a layer of both parties' keys is ~337 MiB, and the parties' working set
 * (weights, activations, headroom) is counted as 324 MiB. */
static void test_fit_check(void **state) {
  (void)state;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/fit", tmpdir);
  const char *const file_dev[] = {"run", "--backend", "cpu", "--out", dir, NULL};
  setenv("FUSEFSS_TEST_MEM_AVAILABLE", "600MiB", 1); /* keys in memory: ~1000 MiB; on disk: the working set */
  expect(1, "would fit", file_dev);
  const char *err = slurp("cmd", "err");
  if (!strstr(err, "the keys do not fit: --dealer file with --placement device needs") ||
      !strstr(err, "of host memory") || !strstr(err, "--dealer file --placement disk") || !strstr(err, "--no-fit-check") ||
      !strstr(err, "weights and activations: "))
    fail_msg("the message should name the memory and the mode that fits:\n%s", err);
  setenv("FUSEFSS_TEST_MEM_AVAILABLE", "1100MiB", 1);
  setenv("FUSEFSS_TEST_DISK_FREE", "100MiB", 1);
  expect(1, "--dealer stream (keys dealt layer by layer", file_dev);
  if (!strstr(slurp("cmd", "err"), "disk space in --out")) fail_msg("the disk should be named:\n%s", slurp("cmd", "err"));
  expect(1, "disk space in --out", (const char *const[]){"run", "--backend", "cpu", "--placement", "disk", "--out", dir, NULL});
  setenv("FUSEFSS_TEST_MEM_AVAILABLE", "300MiB", 1); /* window 1 needs ~660 MiB with the working set */
  expect(1, "no mode fits", (const char *const[]){"run", "--backend", "cpu", "--dealer", "stream", "--out", dir, NULL});
  setenv("FUSEFSS_TEST_MEM_AVAILABLE", "700MiB", 1); /* window 2 needs ~1000 MiB, window 1 ~660 MiB */
  expect(1, "--dealer stream --window 1 would fit",
         (const char *const[]){"run", "--backend", "cpu", "--dealer", "stream", "--out", dir, NULL});
  /* llama7b (from the cost model alone, nothing dealt): with the whole model's masked weights (4 words per
   * weight, 200 GiB) nothing fits 120 GiB, with them masked layer by layer it does (P0's plaintext weights,
   * 48 GiB, and two layers of keys); llama13b's plaintext weights alone exceed it. */
  setenv("FUSEFSS_TEST_MEM_AVAILABLE", "120GiB", 1);
  expect(1, "--dealer stream --weights-per-layer would fit",
         (const char *const[]){"run", "--backend", "cpu", "--model", "llama7b", "--dealer", "stream", "--out", dir, NULL});
  expect(1, "no mode fits", (const char *const[]){"run", "--backend", "cpu", "--model", "llama13b", "--dealer", "stream",
                                                  "--weights-per-layer", "--out", dir, NULL});
  unsetenv("FUSEFSS_TEST_MEM_AVAILABLE");
  unsetenv("FUSEFSS_TEST_DISK_FREE");
}

static void test_usage(void **state) {
  (void)state;
  expect(2, "--window must be 1..1000", (const char *const[]){"run", "--dealer", "stream", "--window", "0", NULL});
  expect(2, "--window needs --dealer stream", (const char *const[]){"run", "--window", "2", NULL});
  expect(2, "it takes no --placement", (const char *const[]){"run", "--dealer", "stream", "--placement", "host", NULL});
  expect(2, "use it without --party",
         (const char *const[]){"run", "--dealer", "stream", "--party", "0", "--listen", ":0", NULL});
  expect(2, "--dealer must be file, inproc or stream", (const char *const[]){"run", "--dealer", "pipe", NULL});
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "large")) {
    const struct CMUnitTest large[] = {cmocka_unit_test(test_llama_one_layer)};
    return cmocka_run_group_tests(large, setup, teardown);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usage),          cmocka_unit_test(test_fit_check),
      cmocka_unit_test(test_bert_tiny_window_1), cmocka_unit_test(test_bert_tiny_window_2),
      cmocka_unit_test(test_gpt2_two_layers), cmocka_unit_test(test_gpt2_three_layers),
      cmocka_unit_test(test_reps_dealt_again),
      cmocka_unit_test(test_weights_per_layer),
      cmocka_unit_test(test_dealer_dies),    cmocka_unit_test(test_party_stops_reading),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
