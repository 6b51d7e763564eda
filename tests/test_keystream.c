/* core/keystream: the dealer's key stream (DESIGN.md §2, "Dealer modes"). Round trips over memory and
 * files, header fields, and every way a key file can be wrong: flipped bits, truncation, foreign
 * files, reads past the end, leftover keys. Chunks are tiny here so that boundaries are cheap. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/keystream.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/status.h"

#define HDR(meta_len) (92u + (meta_len)) /* header size for a metadata length (no MAC) */
#define TRAILER 32u

static char g_dir[64];       /* mkdtemp directory, removed at the end */
static char g_msg[16384];    /* the last captured stderr */

static const char *path_in_dir(const char *name) {
  static char paths[8][sizeof g_dir + 256];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, sizeof paths[0], "%s/%.255s", g_dir, name);
  return p;
}

/* --- Capturing FF_ERROR messages ---------------------------------------------------------------- */

static int g_saved_stderr = -1;

static void capture_begin(void) {
  fflush(stderr);
  g_saved_stderr = dup(2);
  int fd = open(path_in_dir("stderr.txt"), O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0 && g_saved_stderr >= 0);
  dup2(fd, 2);
  close(fd);
  ff_log_set_level(FF_LOG_ERROR);
}

static const char *capture_end(void) {
  fflush(stderr);
  dup2(g_saved_stderr, 2);
  close(g_saved_stderr);
  ff_log_set_level(FF_LOG_WARN);
  FILE *f = fopen(path_in_dir("stderr.txt"), "rb");
  size_t n = f ? fread(g_msg, 1, sizeof g_msg - 1, f) : 0;
  if (f) fclose(f);
  g_msg[n] = '\0';
  if (n) fprintf(stderr, "  (expected) %s", g_msg); /* ctest --output-on-failure shows what was said */
  return g_msg;
}

/* expr must give code and log a message containing every one of the strings that follow. */
#define EXPECT_FAIL(expr, code, ...)                                                             \
  do {                                                                                           \
    capture_begin();                                                                             \
    ff_status st_ = (expr);                                                                      \
    const char *msg_ = capture_end();                                                            \
    assert_int_equal(st_, code);                                                                 \
    const char *subs_[] = {__VA_ARGS__, NULL};                                                   \
    for (int i_ = 0; subs_[i_]; i_++)                                                            \
      if (!strstr(msg_, subs_[i_])) fail_msg("message lacks \"%s\": %s", subs_[i_], msg_);       \
  } while (0)

/* --- Building streams ---------------------------------------------------------------------------- */

/* Odd write sizes against 16-byte chunks: empty writes, exact chunks, writes spanning several chunks. */
static const size_t k_sizes[] = {0, 1, 7, 16, 17, 0, 33, 100, 3, 16, 0, 64, 5, 129, 2, 31, 1, 0, 48};
#define N_SIZES (sizeof k_sizes / sizeof k_sizes[0])
#define CHUNK 16u

static size_t total_of(const size_t *sizes, size_t n) {
  size_t t = 0;
  for (size_t i = 0; i < n; i++) t += sizes[i];
  return t;
}

static uint8_t *random_bytes(size_t n, uint64_t seed) {
  uint8_t *b = malloc(n ? n : 1);
  assert_non_null(b);
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  assert_int_equal(ff_rng_bytes(&rng, b, n), FF_OK);
  return b;
}

static ff_keystream_params params(int party, const char *run_id, const char *meta, uint32_t chunk) {
  ff_keystream_params p = {.party = party, .run_id = run_id, .meta = meta, .chunk_size = chunk, .fsync = 0};
  return p;
}

static void write_sizes(ff_keystream *ks, const uint8_t *data, const size_t *sizes, size_t n) {
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(ff_keystream_write(ks, data + off, sizes[i]), FF_OK);
    off += sizes[i];
    assert_int_equal(ff_keystream_payload_bytes(ks), off);
  }
}

static void read_sizes(ff_keystream *ks, const uint8_t *data, const size_t *sizes, size_t n) {
  uint8_t buf[512];
  size_t off = 0, total = total_of(sizes, n);
  for (size_t i = 0; i < n; i++) {
    assert_true(sizes[i] <= sizeof buf);
    assert_int_equal(ff_keystream_remaining(ks), total - off);
    assert_int_equal(ff_keystream_read(ks, buf, sizes[i]), FF_OK);
    if (sizes[i]) assert_memory_equal(buf, data + off, sizes[i]);
    off += sizes[i];
    assert_int_equal(ff_keystream_payload_bytes(ks), off);
  }
  assert_int_equal(ff_keystream_remaining(ks), 0);
}

/* A finished in-memory stream of `total` random bytes written in the given sizes; returns a copy of its
 * image (caller frees) and its size. */
static uint8_t *image_with(const ff_keystream_params *p, const uint8_t *data, const size_t *sizes, size_t n,
                           size_t *size) {
  ff_keystream *w;
  assert_int_equal(ff_keystream_create_mem(p, &w), FF_OK);
  write_sizes(w, data, sizes, n);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  const void *img;
  assert_int_equal(ff_keystream_mem_image(w, &img, size), FF_OK);
  uint8_t *copy = malloc(*size);
  assert_non_null(copy);
  memcpy(copy, img, *size);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  return copy;
}

static uint8_t *make_image(const uint8_t *data, const size_t *sizes, size_t n, uint32_t chunk, const char *meta,
                           size_t *size) {
  const ff_keystream_params p = params(0, "run-a", meta, chunk);
  return image_with(&p, data, sizes, n, size);
}

static void put_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static uint8_t *get_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*n ? *n : 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

/* The file at path holds exactly these n bytes. */
static void assert_file_is(const char *path, const uint8_t *img, size_t n) {
  size_t file_n;
  uint8_t *file = get_file(path, &file_n);
  assert_int_equal(file_n, n);
  assert_memory_equal(file, img, n);
  free(file);
}

/* Opens an image from memory (file = 0) or from a file holding it (file = 1). */
static ff_status open_image(const uint8_t *img, size_t n, int file, ff_keystream **ks) {
  if (!file) return ff_keystream_open_mem(img, n, ks);
  const char *path = path_in_dir("image.ffk");
  put_file(path, img, n);
  return ff_keystream_open_file(path, ks);
}

/* --- Tests --------------------------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/ff_keystream_XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  DIR *d = opendir(g_dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) unlink(path_in_dir(e->d_name));
    closedir(d);
  }
  return rmdir(g_dir);
}

static void skip_without_sse42(void) {
  if (!ff_crc32c_supported()) {
    ff_keystream *ks;
    ff_keystream_params p = params(0, "", "", 0);
    EXPECT_FAIL(ff_keystream_create_mem(&p, &ks), FF_ENOTSUP, "SSE4.2");
    skip();
  }
}

static void test_crc32c_known_answers(void **state) {
  (void)state;
  skip_without_sse42();
  assert_int_equal(ff_crc32c(0, "123456789", 9), 0xE3069283u);
  assert_int_equal(ff_crc32c(0, "", 0), 0);
  /* RFC 3720 B.4: 32 zero bytes give 0x8A9136AA, 32 bytes of 0xFF give 0x62A8AB43. */
  uint8_t b[40];
  memset(b, 0, sizeof b);
  assert_int_equal(ff_crc32c(0, b, 32), 0x8A9136AAu);
  memset(b, 0xFF, sizeof b);
  assert_int_equal(ff_crc32c(0, b, 32), 0x62A8AB43u);
  /* Chaining, and every alignment of the start. */
  uint8_t *r = random_bytes(301, 1);
  uint32_t whole = ff_crc32c(0, r, 301);
  for (size_t cut = 0; cut <= 301; cut += 13) assert_int_equal(ff_crc32c(ff_crc32c(0, r, cut), r + cut, 301 - cut), whole);
  char unaligned[16];
  for (int a = 0; a < 7; a++) {
    memcpy(unaligned + a, "123456789", 9);
    assert_int_equal(ff_crc32c(0, unaligned + a, 9), 0xE3069283u);
  }
  free(r);
}

static void test_roundtrip_mem(void **state) {
  (void)state;
  skip_without_sse42();
  size_t total = total_of(k_sizes, N_SIZES);
  uint8_t *data = random_bytes(total, 2);
  ff_keystream *w, *r;
  ff_keystream_params p = params(1, "run-7", "{\"suite\": \"sigma\", \"model\": \"bert-tiny\"}", CHUNK);
  assert_int_equal(ff_keystream_create_mem(&p, &w), FF_OK);
  write_sizes(w, data, k_sizes, N_SIZES);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  const void *img;
  size_t n;
  assert_int_equal(ff_keystream_mem_image(w, &img, &n), FF_OK);
  size_t chunks = (total + CHUNK - 1) / CHUNK;
  size_t meta_len = strlen(p.meta);
  assert_int_equal(n, HDR(meta_len) + total + 4 * chunks + TRAILER);
  assert_int_equal(ff_keystream_encoded_bytes(w), n);
  assert_int_equal(ff_keystream_size(w), total);

  assert_int_equal(ff_keystream_open_mem(img, n, &r), FF_OK);
  assert_int_equal(ff_keystream_party(r), 1);
  assert_string_equal(ff_keystream_run_id(r), "run-7");
  size_t len;
  assert_string_equal(ff_keystream_meta(r, &len), p.meta);
  assert_int_equal(len, meta_len);
  assert_int_equal(ff_keystream_chunk_size(r), CHUNK);
  assert_int_equal(ff_keystream_size(r), total);
  assert_int_equal(ff_keystream_encoded_bytes(r), n);
  assert_string_equal(ff_keystream_name(r), "<memory>");
  assert_int_equal(ff_keystream_expect(r, 1, "run-7", p.meta), FF_OK);
  read_sizes(r, data, k_sizes, N_SIZES);
  assert_int_equal(ff_keystream_read(r, NULL, 0), FF_OK);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);

  /* The byte stream does not care how it is split: read it in one go, then byte by byte. */
  uint8_t *back = malloc(total);
  assert_int_equal(ff_keystream_open_mem(img, n, &r), FF_OK);
  assert_int_equal(ff_keystream_read(r, back, total), FF_OK);
  assert_memory_equal(back, data, total);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  assert_int_equal(ff_keystream_open_mem(img, n, &r), FF_OK);
  for (size_t i = 0; i < total; i++) assert_int_equal(ff_keystream_read(r, back + i, 1), FF_OK);
  assert_memory_equal(back, data, total);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  free(back);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  free(data);
}

static void test_roundtrip_file(void **state) {
  (void)state;
  skip_without_sse42();
  size_t total = total_of(k_sizes, N_SIZES);
  uint8_t *data = random_bytes(total, 3);
  size_t img_n;
  uint8_t *img = make_image(data, k_sizes, N_SIZES, CHUNK, "model=gpt2 seq=128", &img_n);

  const char *path = path_in_dir("p0.ffk");
  ff_keystream *w, *r;
  ff_keystream_params p = params(0, "run-a", "model=gpt2 seq=128", CHUNK);
  p.fsync = 1;
  assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
  write_sizes(w, data, k_sizes, N_SIZES);
  const uint64_t written_ns = ff_keystream_write_ns(w);
  assert_true(written_ns > 0); /* the writes are timed (keygen reports it) ... */
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_true(ff_keystream_write_ns(w) > written_ns); /* ... and so is finish (its fsync) */
  assert_int_equal(ff_keystream_encoded_bytes(w), img_n);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);

  /* The file holds exactly the bytes of the memory image. */
  size_t file_n;
  uint8_t *file = get_file(path, &file_n);
  assert_int_equal(file_n, img_n);
  assert_memory_equal(file, img, img_n);

  assert_int_equal(ff_keystream_open_file(path, &r), FF_OK);
  assert_true(ff_keystream_write_ns(r) == 0); /* a reader writes nothing */
  assert_string_equal(ff_keystream_name(r), path);
  assert_int_equal(ff_keystream_party(r), 0);
  assert_string_equal(ff_keystream_meta(r, NULL), "model=gpt2 seq=128");
  read_sizes(r, data, k_sizes, N_SIZES);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);

  /* Whole-chunk reads go straight into the caller's buffer; mix them with partial ones. */
  const size_t mixed[] = {3, 13, 64, 5, 40, 200, 1};
  uint8_t *back = malloc(total);
  assert_int_equal(ff_keystream_open_file(path, &r), FF_OK);
  size_t off = 0;
  for (size_t i = 0; off < total; i++) {
    size_t want = mixed[i % 7] < total - off ? mixed[i % 7] : total - off;
    assert_int_equal(ff_keystream_read(r, back + off, want), FF_OK);
    off += want;
  }
  assert_memory_equal(back, data, total);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);

  /* A memory image written to disk is a key file, and the other way round. */
  assert_int_equal(ff_keystream_open_mem(file, file_n, &r), FF_OK);
  read_sizes(r, data, k_sizes, N_SIZES);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  free(back);
  free(file);
  free(img);
  free(data);
}

static void test_large_chunks(void **state) {
  (void)state;
  skip_without_sse42();
  /* Default 1 MiB chunks, writes and reads larger than a chunk, through a file. */
  size_t total = (3u << 20) + 12345;
  uint8_t *data = random_bytes(total, 4), *back = malloc(total);
  const char *path = path_in_dir("big.ffk");
  ff_keystream *w, *r;
  ff_keystream_params p = params(1, "big", NULL, 0);
  assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
  assert_int_equal(ff_keystream_write(w, data, 100), FF_OK);
  assert_int_equal(ff_keystream_write(w, data + 100, total - 100), FF_OK);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  assert_int_equal(ff_keystream_open_file(path, &r), FF_OK);
  assert_int_equal(ff_keystream_chunk_size(r), FF_KEYSTREAM_CHUNK_DEFAULT);
  assert_string_equal(ff_keystream_meta(r, NULL), "");
  assert_int_equal(ff_keystream_encoded_bytes(r), HDR(0) + total + 4 * 4 + TRAILER);
  assert_int_equal(ff_keystream_read(r, back, 5), FF_OK);
  assert_int_equal(ff_keystream_read(r, back + 5, (2u << 20)), FF_OK);
  assert_int_equal(ff_keystream_read(r, back + 5 + (2u << 20), total - 5 - (2u << 20)), FF_OK);
  assert_memory_equal(back, data, total);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  free(back);
  free(data);
}

static void test_empty_stream(void **state) {
  (void)state;
  skip_without_sse42();
  const char *path = path_in_dir("empty.ffk");
  ff_keystream *w, *r;
  ff_keystream_params p = params(0, "r0", "nothing", 8);
  assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
  assert_int_equal(ff_keystream_write(w, NULL, 0), FF_OK);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  assert_int_equal(ff_keystream_open_file(path, &r), FF_OK);
  assert_int_equal(ff_keystream_size(r), 0);
  assert_int_equal(ff_keystream_remaining(r), 0);
  uint8_t b;
  EXPECT_FAIL(ff_keystream_read(r, &b, 1), FF_ERANGE, "ends at byte 0", "1 more bytes");
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
}

static void test_header_fields_and_expect(void **state) {
  (void)state;
  skip_without_sse42();
  const char *run32 = "0123456789abcdef0123456789abcdef"; /* exactly the maximum */
  char meta[FF_KEYSTREAM_META_MAX + 1];
  memset(meta, 'm', FF_KEYSTREAM_META_MAX);
  meta[FF_KEYSTREAM_META_MAX] = '\0';
  ff_keystream *w, *r;
  ff_keystream_params p = params(1, run32, meta, 4);
  assert_int_equal(ff_keystream_create_mem(&p, &w), FF_OK);
  assert_int_equal(ff_keystream_write(w, "abcdefghij", 10), FF_OK);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  const void *img;
  size_t n;
  assert_int_equal(ff_keystream_mem_image(w, &img, &n), FF_OK);
  assert_int_equal(ff_keystream_open_mem(img, n, &r), FF_OK);
  assert_int_equal(ff_keystream_party(r), 1);
  assert_string_equal(ff_keystream_run_id(r), run32);
  size_t len;
  assert_string_equal(ff_keystream_meta(r, &len), meta);
  assert_int_equal(len, FF_KEYSTREAM_META_MAX);
  assert_int_equal(ff_keystream_chunk_size(r), 4);
  assert_int_equal(ff_keystream_size(r), 10);
  assert_int_equal(ff_keystream_expect(r, -1, NULL, NULL), FF_OK);
  EXPECT_FAIL(ff_keystream_expect(r, 0, NULL, NULL), FF_EMISMATCH, "party 1", "this process is party 0");
  EXPECT_FAIL(ff_keystream_expect(r, 1, "other-run", NULL), FF_EMISMATCH, "belongs to run '0123456789abcdef",
              "this is run 'other-run'");
  EXPECT_FAIL(ff_keystream_expect(r, 1, run32, "model=gpt2"), FF_EMISMATCH, "another model or shape", "model=gpt2");
  assert_int_equal(ff_keystream_close(r, 0), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
}

static void test_flipped_bits(void **state) {
  (void)state;
  skip_without_sse42();
  /* 100 key bytes in 16-byte chunks: chunks 0..5 full, chunk 6 has 4 bytes. */
  const size_t sizes[] = {100};
  const char *meta = "suite=suf";
  const size_t hdr = HDR(9), stride = CHUNK + 4, chunks = 7;
  uint8_t *data = random_bytes(100, 5), buf[100];
  size_t n;
  uint8_t *img = make_image(data, sizes, 1, CHUNK, meta, &n);
  assert_int_equal(n, hdr + 100 + 4 * chunks + TRAILER);
  ff_keystream *r;

  for (int file = 0; file <= 1; file++) {
    /* The header: run id, metadata, dealing id, the header CRC itself; then the header size field. */
    const size_t header_bytes[] = {40, 90, 80, hdr - 2}; /* run id, metadata, dealing id, header CRC */
    for (size_t i = 0; i < 4; i++) {
      img[header_bytes[i]] ^= 0x10;
      EXPECT_FAIL(open_image(img, n, file, &r), FF_EFORMAT, "header", "corrupted");
      assert_null(r);
      img[header_bytes[i]] ^= 0x10;
    }
    img[13] ^= 0x01; /* header size */
    EXPECT_FAIL(open_image(img, n, file, &r), FF_EFORMAT, "header", "corrupted");
    img[13] ^= 0x01;
    img[2] ^= 0x01; /* the magic */
    EXPECT_FAIL(open_image(img, n, file, &r), FF_EFORMAT, "not a fusefss key file");
    img[2] ^= 0x01;

    /* A payload byte of chunk 3 (payload offset 48 + 5): found when chunk 3 is loaded, not before. */
    size_t at = hdr + 3 * stride + 5;
    img[at] ^= 0x80;
    assert_int_equal(open_image(img, n, file, &r), FF_OK);
    assert_int_equal(ff_keystream_read(r, buf, 48), FF_OK);
    assert_memory_equal(buf, data, 48);
    EXPECT_FAIL(ff_keystream_read(r, buf, 1), FF_EFORMAT, "corrupted", "chunk 3 of 7", "payload offset 48",
                "file offset 161");
    EXPECT_FAIL(ff_keystream_read(r, buf, 1), FF_EFORMAT, "unusable after an earlier error");
    assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK); /* already reported */
    /* ... also when one read spans it (the file reader checks whole chunks in the caller's buffer). */
    assert_int_equal(open_image(img, n, file, &r), FF_OK);
    EXPECT_FAIL(ff_keystream_read(r, buf, 100), FF_EFORMAT, "corrupted", "chunk 3 of 7");
    assert_int_equal(ff_keystream_close(r, 0), FF_OK);
    img[at] ^= 0x80;

    /* The CRC of chunk 2. */
    at = hdr + 2 * stride + CHUNK + 1;
    img[at] ^= 0x04;
    assert_int_equal(open_image(img, n, file, &r), FF_OK);
    EXPECT_FAIL(ff_keystream_read(r, buf, 100), FF_EFORMAT, "corrupted", "chunk 2 of 7", "payload offset 32");
    assert_int_equal(ff_keystream_close(r, 0), FF_OK);
    img[at] ^= 0x04;

    /* The trailer: found when the last chunk is loaded. */
    at = n - 10;
    img[at] ^= 0x01;
    assert_int_equal(open_image(img, n, file, &r), FF_OK);
    assert_int_equal(ff_keystream_read(r, buf, 96), FF_OK);
    EXPECT_FAIL(ff_keystream_read(r, buf, 1), FF_EFORMAT, "corrupted", "trailer");
    assert_int_equal(ff_keystream_close(r, 0), FF_OK);
    img[at] ^= 0x01;

    /* Chunks 1 and 2 swapped: each chunk is intact, the trailer catches the order. */
    uint8_t tmp[CHUNK + 4];
    memcpy(tmp, img + hdr + stride, stride);
    memcpy(img + hdr + stride, img + hdr + 2 * stride, stride);
    memcpy(img + hdr + 2 * stride, tmp, stride);
    assert_int_equal(open_image(img, n, file, &r), FF_OK);
    EXPECT_FAIL(ff_keystream_read(r, buf, 100), FF_EFORMAT, "corrupted", "reordered");
    assert_int_equal(ff_keystream_close(r, 0), FF_OK);
    memcpy(img + hdr + 2 * stride, img + hdr + stride, stride);
    memcpy(img + hdr + stride, tmp, stride);

    /* Untouched again: reads back whole. */
    assert_int_equal(open_image(img, n, file, &r), FF_OK);
    assert_int_equal(ff_keystream_read(r, buf, 100), FF_OK);
    assert_memory_equal(buf, data, 100);
    assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  }
  free(img);
  free(data);
}

static void test_version(void **state) {
  (void)state;
  skip_without_sse42();
  size_t n;
  const size_t sizes[] = {5};
  uint8_t *img = make_image((const uint8_t *)"hello", sizes, 1, CHUNK, "", &n);
  img[8] = 3; /* a future format version, with a valid header CRC */
  uint32_t crc = ff_crc32c(0, img, 88);
  for (int i = 0; i < 4; i++) img[88 + i] = (uint8_t)(crc >> (8 * i));
  ff_keystream *r;
  EXPECT_FAIL(ff_keystream_open_mem(img, n, &r), FF_EFORMAT, "format version 3", "reads version 2");
  img[8] = 1; /* version 1 (no dealing id, no MAC) is refused the same way */
  EXPECT_FAIL(ff_keystream_open_mem(img, n, &r), FF_EFORMAT, "format version 1", "reads version 2");
  free(img);
}

static void test_truncation(void **state) {
  (void)state;
  skip_without_sse42();
  const size_t sizes[] = {100};
  const size_t hdr = HDR(0), stride = CHUNK + 4;
  uint8_t *data = random_bytes(100, 6);
  size_t n;
  uint8_t *img = make_image(data, sizes, 1, CHUNK, "", &n);
  ff_keystream *r;
  for (int file = 0; file <= 1; file++) {
    EXPECT_FAIL(open_image(img, hdr + 2 * stride + 5, file, &r), FF_EFORMAT, "truncated", "inside chunk 2",
                "payload offset 37");
    EXPECT_FAIL(open_image(img, hdr + 3 * stride, file, &r), FF_EFORMAT, "truncated", "chunk boundary",
                "chunk 3 (payload offset 48) is missing");
    EXPECT_FAIL(open_image(img, hdr + 2 * stride + CHUNK + 2, file, &r), FF_EFORMAT, "truncated",
                "inside the CRC of chunk 2");
    EXPECT_FAIL(open_image(img, n - TRAILER, file, &r), FF_EFORMAT, "truncated", "chunk boundary",
                "after the last chunk");
    EXPECT_FAIL(open_image(img, n - 1, file, &r), FF_EFORMAT, "truncated", "inside the trailer");
    EXPECT_FAIL(open_image(img, 50, file, &r), FF_EFORMAT, "truncated inside the header");
    EXPECT_FAIL(open_image(img, hdr - 1, file, &r), FF_EFORMAT, "truncated inside the header");
    EXPECT_FAIL(open_image(img, 5, file, &r), FF_EFORMAT, "truncated inside the header");
    EXPECT_FAIL(open_image(img, 0, file, &r), FF_EFORMAT, "empty", "not a fusefss key file");
    assert_null(r);
  }
  /* Bytes appended after the trailer. */
  uint8_t *longer = malloc(n + 3);
  memcpy(longer, img, n);
  memset(longer + n, 0, 3);
  EXPECT_FAIL(ff_keystream_open_mem(longer, n + 3, &r), FF_EFORMAT, "3 more than its header promises");
  free(longer);
  free(img);
  free(data);
}

static void test_truncated_while_reading(void **state) {
  (void)state;
  skip_without_sse42();
  /* The file shrinks after it was opened (the size check at open cannot see it): each chunk load
   * notices. Chunks of 1000 bytes keep the cut far beyond what stdio reads ahead. */
  const size_t total = 64000, chunk = 1000, stride = chunk + 4, hdr = HDR(0);
  uint8_t *data = random_bytes(total, 7), *buf = malloc(total);
  const char *path = path_in_dir("shrinks.ffk");
  ff_keystream *w, *r;
  ff_keystream_params p = params(0, "", "", (uint32_t)chunk);
  for (int boundary = 0; boundary <= 1; boundary++) {
    assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
    assert_int_equal(ff_keystream_write(w, data, total), FF_OK);
    assert_int_equal(ff_keystream_finish(w), FF_OK);
    assert_int_equal(ff_keystream_close(w, 0), FF_OK);
    assert_int_equal(ff_keystream_open_file(path, &r), FF_OK);
    assert_int_equal(truncate(path, (off_t)(hdr + 40 * stride + (boundary ? 0 : 123))), 0);
    assert_int_equal(ff_keystream_read(r, buf, 40 * chunk), FF_OK);
    EXPECT_FAIL(ff_keystream_read(r, buf, 10), FF_EFORMAT, "truncated", "chunk 40 of 64", "payload offset 40000",
                boundary ? "ends after 0 of them" : "ends after 123 of them");
    assert_int_equal(ff_keystream_close(r, 0), FF_OK);
  }
  free(buf);
  free(data);
}

static void test_read_past_end(void **state) {
  (void)state;
  skip_without_sse42();
  const size_t sizes[] = {60, 40};
  uint8_t *data = random_bytes(100, 8), buf[128];
  size_t n;
  uint8_t *img = make_image(data, sizes, 2, CHUNK, "", &n);
  for (int file = 0; file <= 1; file++) {
    ff_keystream *r;
    assert_int_equal(open_image(img, n, file, &r), FF_OK);
    assert_int_equal(ff_keystream_read(r, buf, 60), FF_OK);
    EXPECT_FAIL(ff_keystream_read(r, buf, 45), FF_ERANGE, "ends at byte 100", "5 more bytes were requested",
                "keys were made for another model or shape");
    /* Nothing was consumed: the rest is still there. */
    assert_int_equal(ff_keystream_remaining(r), 40);
    assert_int_equal(ff_keystream_read(r, buf, 40), FF_OK);
    assert_memory_equal(buf, data + 60, 40);
    EXPECT_FAIL(ff_keystream_read(r, buf, 1), FF_ERANGE, "ends at byte 100", "1 more bytes");
    assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  }
  free(img);
  free(data);
}

static void test_leftover_at_close(void **state) {
  (void)state;
  skip_without_sse42();
  const size_t sizes[] = {70};
  uint8_t *data = random_bytes(70, 9), buf[70];
  size_t n;
  uint8_t *img = make_image(data, sizes, 1, CHUNK, "", &n);
  ff_keystream *r;
  assert_int_equal(ff_keystream_open_mem(img, n, &r), FF_OK);
  assert_int_equal(ff_keystream_read(r, buf, 50), FF_OK);
  EXPECT_FAIL(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_EMISMATCH, "20 unread key bytes",
              "consumed 50 of 70", "ran different model graphs");
  assert_int_equal(ff_keystream_open_mem(img, n, &r), FF_OK);
  assert_int_equal(ff_keystream_read(r, buf, 50), FF_OK);
  assert_int_equal(ff_keystream_close(r, 0), FF_OK); /* not asked to check */
  free(img);
  free(data);
}

static void test_not_a_key_file(void **state) {
  (void)state;
  skip_without_sse42();
  ff_keystream *r;
  uint8_t *noise = random_bytes(4096, 10);
  noise[0] = 'x'; /* not by chance the magic */
  const char *path = path_in_dir("noise.bin");
  put_file(path, noise, 4096);
  EXPECT_FAIL(ff_keystream_open_file(path, &r), FF_EFORMAT, "not a fusefss key file", "noise.bin");
  EXPECT_FAIL(ff_keystream_open_mem(noise, 4096, &r), FF_EFORMAT, "not a fusefss key file");
  const char *json = "{\"schema\": \"fusefss.prof/1\", \"run\": {\"party\": 0}}\n";
  path = path_in_dir("log.json");
  put_file(path, json, strlen(json));
  EXPECT_FAIL(ff_keystream_open_file(path, &r), FF_EFORMAT, "not a fusefss key file");
  EXPECT_FAIL(ff_keystream_open_mem("FF", 2, &r), FF_EFORMAT, "truncated inside the header");
  EXPECT_FAIL(ff_keystream_open_file(path_in_dir("missing.ffk"), &r), FF_ENOENT, "cannot open key file",
              "missing.ffk");
  assert_null(r);
  free(noise);
}

static void test_incomplete_file(void **state) {
  (void)state;
  skip_without_sse42();
  const char *path = path_in_dir("interrupted.ffk");
  ff_keystream *w, *r;
  ff_keystream_params p = params(0, "x", "", CHUNK);
  assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
  assert_int_equal(ff_keystream_write(w, "0123456789012345678901234567890123456789", 40), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK); /* never finished: keygen was interrupted */
  EXPECT_FAIL(ff_keystream_open_file(path, &r), FF_EFORMAT, "incomplete", "did not finish");
}

static void test_bad_arguments_and_states(void **state) {
  (void)state;
  skip_without_sse42();
  ff_keystream *w, *r;
  ff_keystream_params p = params(2, "", "", 0);
  EXPECT_FAIL(ff_keystream_create_mem(&p, &w), FF_EINVAL, "party 0 or 1, not 2");
  assert_null(w);
  p = params(0, "0123456789abcdef0123456789abcdefX", "", 0);
  EXPECT_FAIL(ff_keystream_create_mem(&p, &w), FF_EINVAL, "33 characters");
  char *big = malloc(FF_KEYSTREAM_META_MAX + 2);
  memset(big, 'x', FF_KEYSTREAM_META_MAX + 1);
  big[FF_KEYSTREAM_META_MAX + 1] = '\0';
  p = params(0, "", big, 0);
  EXPECT_FAIL(ff_keystream_create_mem(&p, &w), FF_EINVAL, "metadata has 8193 bytes");
  free(big);
  p = params(0, "", "", FF_KEYSTREAM_CHUNK_MAX + 1);
  EXPECT_FAIL(ff_keystream_create_mem(&p, &w), FF_EINVAL, "chunk size");
  p = params(0, "", "", CHUNK);
  EXPECT_FAIL(ff_keystream_create_file(path_in_dir("no/such/dir.ffk"), &p, &w), FF_ENOENT, "cannot create key file");
  assert_int_equal(ff_keystream_create_mem(NULL, NULL), FF_EINVAL);

  assert_int_equal(ff_keystream_create_mem(&p, &w), FF_OK);
  const void *img;
  size_t n;
  uint8_t b[4];
  EXPECT_FAIL(ff_keystream_mem_image(w, &img, &n), FF_ESTATE, "not a finished in-memory writer");
  EXPECT_FAIL(ff_keystream_read(w, b, 1), FF_ESTATE, "open for writing");
  assert_int_equal(ff_keystream_remaining(w), 0);
  assert_int_equal(ff_keystream_write(w, "abcd", 4), FF_OK);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  EXPECT_FAIL(ff_keystream_write(w, "e", 1), FF_ESTATE, "already finished");
  EXPECT_FAIL(ff_keystream_finish(w), FF_ESTATE, "already finished");
  assert_int_equal(ff_keystream_mem_image(w, &img, &n), FF_OK);
  assert_int_equal(ff_keystream_open_mem(img, n, &r), FF_OK);
  EXPECT_FAIL(ff_keystream_write(r, "e", 1), FF_ESTATE, "open for reading");
  assert_int_equal(ff_keystream_read(r, b, 4), FF_OK);
  assert_memory_equal(b, "abcd", 4);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  assert_int_equal(ff_keystream_close(NULL, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
}

/* --- Authentication and identity (issue 14, class 1 and 2) ------------------------------------------ */

#define TAG 32u

static const uint8_t k_key_a[FF_KEYSTREAM_MAC_KEY_BYTES] = "0123456789abcdef0123456789abcde";
static const uint8_t k_key_b[FF_KEYSTREAM_MAC_KEY_BYTES] = "fedcba9876543210fedcba987654321";
static const uint8_t k_id_a[FF_KEYSTREAM_ID_BYTES] = "dealing-a......";
static const uint8_t k_id_b[FF_KEYSTREAM_ID_BYTES] = "dealing-b......";

static void put32le(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A MAC'd file of `total` bytes (16-byte chunks) for one dealing, written by the file writer. */
static void write_mac_file(const char *path, const uint8_t *data, size_t total, const uint8_t *key, const uint8_t *id) {
  ff_keystream *w;
  ff_keystream_params p = params(0, "same-run-id", "m", CHUNK);
  p.mac_key = key;
  p.dealing_id = id;
  assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
  assert_int_equal(ff_keystream_write(w, data, total), FF_OK);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
}

/* A live sink into a growable buffer. */
typedef struct {
  uint8_t *buf;
  size_t n;
} sink_buf;

/* Called from the writer's thread: no cmocka assertions here. */
static ff_status to_buf(void *arg, const void *data, size_t n) {
  sink_buf *b = arg;
  uint8_t *grown = realloc(b->buf, b->n + n);
  if (!grown) return FF_ENOMEM;
  b->buf = grown;
  memcpy(b->buf + b->n, data, n);
  b->n += n;
  return FF_OK;
}

/* The live writer's bytes are the key file's; its declared size is kept; the fd reader reads them with
 * every check, refuses a rewind, and a stream that ends early or goes silent fails with a message. */
static void test_live_stream(void **state) {
  (void)state;
  skip_without_sse42();
  uint8_t *data = random_bytes(100, 12), buf[100];
  const char *path = path_in_dir("live.ffk");
  write_mac_file(path, data, 100, k_key_a, k_id_a);
  size_t n;
  uint8_t *img = get_file(path, &n);
  ff_keystream_params p = params(0, "same-run-id", "m", CHUNK);
  p.mac_key = k_key_a;
  p.dealing_id = k_id_a;
  sink_buf live = {NULL, 0};
  ff_keystream *w, *r;
  /* A live stream's name is a label: no file of that name may appear (it once did, empty, in the cwd). */
  char label[128];
  snprintf(label, sizeof label, "%s/live-stream-label", g_dir);
  assert_int_equal(ff_keystream_create_sink(label, &p, 100, to_buf, &live, &w), FF_OK);
  assert_int_equal(access(label, F_OK), -1);
  assert_int_equal(ff_keystream_write(w, data, 60), FF_OK);
  assert_int_equal(ff_keystream_write(w, data + 60, 40), FF_OK);
  EXPECT_FAIL(ff_keystream_write(w, data, 1), FF_ERANGE, "declared with 100 key bytes");
  ff_keystream_close(w, 0);
  live.n = 0;
  assert_int_equal(ff_keystream_create_sink("test", &p, 100, to_buf, &live, &w), FF_OK);
  assert_int_equal(ff_keystream_write(w, data, 100), FF_OK);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  ff_keystream_close(w, 0);
  assert_int_equal(live.n, n);
  assert_memory_equal(live.buf, img, n); /* byte for byte the key file */
  live.n = 0;
  assert_int_equal(ff_keystream_create_sink("test", &p, 101, to_buf, &live, &w), FF_OK);
  assert_int_equal(ff_keystream_write(w, data, 100), FF_OK);
  EXPECT_FAIL(ff_keystream_finish(w), FF_EMISMATCH, "declared with 101 key bytes, but the dealer wrote 100");
  ff_keystream_close(w, 0);
  /* Read back through a pipe (the whole stream fits its buffer), then: early end, silence. */
  for (int cut = 0; cut < 3; cut++) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    const size_t give = cut == 1 ? n - 60 : n;
    assert_int_equal(write(fd[1], img, give), (ssize_t)give);
    if (cut != 2) close(fd[1]);
    assert_int_equal(ff_keystream_open_fd_mac(fd[0], "from a test", k_key_a, 200000000u, &r), FF_OK);
    if (cut == 0) {
      assert_int_equal(ff_keystream_read(r, buf, 100), FF_OK);
      assert_memory_equal(buf, data, 100);
      EXPECT_FAIL(ff_keystream_rewind(r), FF_ESTATE, "is read once");
      assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
    } else if (cut == 1) {
      EXPECT_FAIL(ff_keystream_read(r, buf, 100), FF_EFORMAT, "ended at byte", "the dealer closed it early");
      ff_keystream_close(r, 0);
    } else {
      /* all bytes there, but no end: the check after the trailer waits for it, then gives up */
      EXPECT_FAIL(ff_keystream_read(r, buf, 100), FF_ETIMEDOUT, "no key bytes from the dealer for 0.2 s");
      ff_keystream_close(r, 0);
      close(fd[1]);
    }
  }
  free(live.buf);
  free(img);
  free(data);
}

static void test_mac_roundtrip(void **state) {
  (void)state;
  skip_without_sse42();
  uint8_t *data = random_bytes(100, 11), buf[100];
  const char *path = path_in_dir("mac.ffk");
  write_mac_file(path, data, 100, k_key_a, k_id_a);
  size_t n;
  uint8_t *img = get_file(path, &n);
  assert_int_equal(n, HDR(1) + TAG + 100 + 7 * (4 + TAG) + TRAILER + TAG);
  ff_keystream *r;
  assert_int_equal(ff_keystream_open_file_mac(path, k_key_a, &r), FF_OK);
  assert_true(ff_keystream_has_mac(r));
  assert_memory_equal(ff_keystream_dealing_id(r), k_id_a, FF_KEYSTREAM_ID_BYTES);
  assert_int_equal(ff_keystream_encoded_bytes(r), n);
  for (int pass = 0; pass < 3; pass++) { /* rewind serves the same bytes again, checked again */
    assert_int_equal(ff_keystream_read(r, buf, 100), FF_OK);
    assert_memory_equal(buf, data, 100);
    assert_int_equal(ff_keystream_rewind(r), FF_OK);
  }
  assert_int_equal(ff_keystream_read(r, buf, 30), FF_OK);
  assert_int_equal(ff_keystream_rewind(r), FF_OK);
  assert_int_equal(ff_keystream_read(r, buf, 100), FF_OK);
  assert_memory_equal(buf, data, 100);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  /* The memory reader checks the same tags. */
  assert_int_equal(ff_keystream_open_mem_mac(img, n, k_key_a, &r), FF_OK);
  assert_int_equal(ff_keystream_read(r, buf, 100), FF_OK);
  assert_memory_equal(buf, data, 100);
  ff_keystream_close(r, 0);
  /* The wrong key fails at the header; no key for a MAC'd file, or a key for a file without a MAC: refused. */
  EXPECT_FAIL(ff_keystream_open_file_mac(path, k_key_b, &r), FF_EFORMAT, "fails its MAC check", "the header");
  EXPECT_FAIL(ff_keystream_open_file(path, &r), FF_EINVAL, "carries a MAC");
  size_t m;
  const size_t sizes[] = {100};
  uint8_t *plain = make_image(data, sizes, 1, CHUNK, "", &m);
  EXPECT_FAIL(ff_keystream_open_mem_mac(plain, m, k_key_a, &r), FF_EMISMATCH, "has no MAC");
  free(plain);
  free(img);
  free(data);
}

/* Regression (class 1): payload bytes changed and every CRC recomputed, so only the MAC can tell. The
 * tampered chunk is refused when it loads; the chunks before it were served, none after. */
static void test_mac_tampered_with_valid_crcs(void **state) {
  (void)state;
  skip_without_sse42();
  uint8_t *data = random_bytes(100, 12), buf[100];
  const char *path = path_in_dir("tampered.ffk");
  write_mac_file(path, data, 100, k_key_a, k_id_a);
  size_t n;
  uint8_t *img = get_file(path, &n);
  const size_t hdr = HDR(1) + TAG, stride = CHUNK + 4 + TAG;
  /* chunk 3, byte 5: flip it, then fix the chunk's CRC, the CRC of CRCs and the trailer's CRC */
  img[hdr + 3 * stride + 5] ^= 0x40;
  put32le(img + hdr + 3 * stride + CHUNK, ff_crc32c(0, img + hdr + 3 * stride, CHUNK));
  uint32_t cc = 0;
  for (size_t k = 0; k < 7; k++) cc = ff_crc32c(cc, img + hdr + k * stride + (k < 6 ? CHUNK : 4), 4);
  uint8_t *trailer = img + hdr + 6 * stride + 4 + 4 + TAG; /* after chunk 6: 4 bytes, its CRC and tag */
  assert_memory_equal(trailer, "FFKEYEND", 8);
  put32le(trailer + 24, cc);
  put32le(trailer + 28, ff_crc32c(0, trailer, 28));
  ff_keystream *r;
  /* Without the MAC the forgery would pass: the CRC-only checks are all satisfied. */
  for (int file = 0; file <= 1; file++) {
    if (file) put_file(path, img, n);
    if (file) assert_int_equal(ff_keystream_open_file_mac(path, k_key_a, &r), FF_OK);
    else assert_int_equal(ff_keystream_open_mem_mac(img, n, k_key_a, &r), FF_OK);
    assert_int_equal(ff_keystream_read(r, buf, 48), FF_OK); /* chunks 0..2 */
    assert_memory_equal(buf, data, 48);
    memset(buf, 0, sizeof buf);
    EXPECT_FAIL(ff_keystream_read(r, buf, 20), FF_EFORMAT, "fails its MAC check", "chunk 3 (payload offset 48");
    EXPECT_FAIL(ff_keystream_read(r, buf, 1), FF_EFORMAT, "unusable");
    ff_keystream_close(r, 0);
  }
  free(img);
  free(data);
}

/* Regression (class 1): the key file is replaced while a party holds it. Renamed over: the reader keeps
 * reading the file it opened and checked (one descriptor, rewind never reopens by path). Overwritten
 * in place with another dealing's file of the same size and run id: its chunks fail the MAC. */
static void test_key_file_swapped_mid_run(void **state) {
  (void)state;
  skip_without_sse42();
  uint8_t *a = random_bytes(100, 13), *b = random_bytes(100, 14), buf[100];
  const char *path = path_in_dir("inuse.ffk"), *other = path_in_dir("other.ffk");
  write_mac_file(path, a, 100, k_key_a, k_id_a);
  ff_keystream *r;
  assert_int_equal(ff_keystream_open_file_mac(path, k_key_a, &r), FF_OK);
  assert_int_equal(ff_keystream_read(r, buf, 100), FF_OK); /* the verification pass */
  write_mac_file(other, b, 100, k_key_b, k_id_b);
  assert_int_equal(rename(other, path), 0);
  assert_int_equal(ff_keystream_rewind(r), FF_OK); /* the next repetition */
  assert_int_equal(ff_keystream_read(r, buf, 100), FF_OK);
  assert_memory_equal(buf, a, 100);
  ff_keystream_close(r, 0);

  /* In place: the same inode gets the other dealing's bytes between two repetitions. */
  write_mac_file(path, a, 100, k_key_a, k_id_a);
  write_mac_file(other, b, 100, k_key_b, k_id_b);
  size_t n;
  uint8_t *img_b = get_file(other, &n);
  assert_int_equal(ff_keystream_open_file_mac(path, k_key_a, &r), FF_OK);
  assert_int_equal(ff_keystream_read(r, buf, 100), FF_OK);
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, img_b, n, 0), (ssize_t)n);
  close(fd);
  assert_int_equal(ff_keystream_rewind(r), FF_OK);
  EXPECT_FAIL(ff_keystream_read(r, buf, 100), FF_EFORMAT, "fails its MAC check", "chunk 0");
  ff_keystream_close(r, 0);
  free(img_b);
  free(a);
  free(b);
}

/* Regression (class 2): a FIFO at the key file's path is refused at once, for reading and for
 * writing; before, fopen blocked forever waiting for the FIFO's other end. A directory too. */
static void test_fifo_key_file(void **state) {
  (void)state;
  skip_without_sse42();
  const char *fifo = path_in_dir("keys.fifo");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  alarm(20); /* a regression hangs: end it as a failure rather than at ctest's timeout */
  ff_keystream *ks;
  EXPECT_FAIL(ff_keystream_open_file(fifo, &ks), FF_EINVAL, "is a FIFO", "regular file");
  assert_null(ks);
  ff_keystream_params p = params(0, "", "", 0);
  EXPECT_FAIL(ff_keystream_create_file(fifo, &p, &ks), FF_EIO, "FIFO");
  EXPECT_FAIL(ff_keystream_open_file(g_dir, &ks), FF_EINVAL, "a directory");
  alarm(0);
  unlink(fifo);
}

/* Writes data (in the given write sizes) to a key file and to a live stream with parameters p (MAC key
 * k_key_a): both must equal img, the in-memory writer's image, byte for byte, and the file must read back
 * through the MAC checks. */
static void file_and_live_equal_image(const ff_keystream_params *p, const char *name, const uint8_t *data,
                                      const size_t *sizes, int n, const uint8_t *img, size_t img_n) {
  const size_t total = total_of(sizes, n);
  char file[64];
  snprintf(file, sizeof file, "%s.ffk", name);
  const char *path = path_in_dir(file);
  ff_keystream *r;
  assert_int_equal(ff_keystream_create_file(path, p, &r), FF_OK);
  write_sizes(r, data, sizes, n);
  assert_int_equal(ff_keystream_finish(r), FF_OK);
  assert_int_equal(ff_keystream_close(r, 0), FF_OK);
  assert_file_is(path, img, img_n);
  uint8_t *back = malloc(total ? total : 1);
  assert_non_null(back);
  assert_int_equal(ff_keystream_open_file_mac(path, k_key_a, &r), FF_OK);
  assert_int_equal(ff_keystream_read(r, back, total), FF_OK);
  assert_memory_equal(back, data, total);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  free(back);

  sink_buf live = {NULL, 0};
  assert_int_equal(ff_keystream_create_sink(name, p, total, to_buf, &live, &r), FF_OK);
  write_sizes(r, data, sizes, n);
  assert_int_equal(ff_keystream_finish(r), FF_OK);
  assert_int_equal(ff_keystream_close(r, 0), FF_OK);
  assert_int_equal(live.n, img_n);
  assert_memory_equal(live.buf, img, img_n);
  free(live.buf);
}

/* Sealer threads (ff_keystream_params.sealers) change who computes the CRCs and MACs, never the bytes:
 * a file and a live stream written with 1, 2, 5 and 16 sealers, in writes that end mid-chunk, on chunk
 * boundaries and span several chunks, equal the in-memory writer's image (sealed inline) byte for byte,
 * and read back through the MAC checks. */
static void test_sealers_same_bytes(void **state) {
  (void)state;
  skip_without_sse42();
  const size_t pattern[] = {1, 999, 1000, 3000, 17, 5000, 0, 2500, 1000, 64};
  enum { N = 60 };
  size_t sizes[N];
  for (int i = 0; i < N; i++) sizes[i] = pattern[i % 10];
  const size_t total = total_of(sizes, N);
  uint8_t *data = random_bytes(total, 21);
  ff_keystream_params p = params(1, "run-seal", "sealers", 1000);
  p.mac_key = k_key_a;
  p.dealing_id = k_id_a;
  size_t img_n;
  uint8_t *img = image_with(&p, data, sizes, N, &img_n); /* sealed inline, the reference */
  assert_true(total / 1000 >= 80); /* eighty chunks and more, each followed by its CRC and tag */
  const int sealers[] = {1, 2, 5, 16};
  for (int k = 0; k < 4; k++) {
    p.sealers = sealers[k];
    file_and_live_equal_image(&p, "sealers", data, sizes, N, img, img_n);
  }
  free(img);
  free(data);
}

/* --- Write-behind (ff_keystream_params.write_behind) ------------------------------------------------ */

/* The ring's depth changes when the dealer waits, never the bytes: a file and a live stream written with
 * a write-behind of 1 byte (raised to the least ring), three chunks' worth, 64 MiB (far more than the
 * stream) and UINT64_MAX (clamped), with 1000- and 4096-byte chunks, equal the in-memory writer's image
 * byte for byte and read back through the MAC checks. */
static void test_write_behind_same_bytes(void **state) {
  (void)state;
  skip_without_sse42();
  const size_t pattern[] = {1, 999, 1000, 3000, 17, 5000, 0, 2500, 1000, 64, 4096, 8191};
  enum { N = 96 };
  size_t sizes[N];
  for (int i = 0; i < N; i++) sizes[i] = pattern[i % 12];
  const size_t total = total_of(sizes, N);
  uint8_t *data = random_bytes(total, 23);
  const uint32_t chunks[] = {1000, 4096};
  for (int c = 0; c < 2; c++) {
    ff_keystream_params p = params(1, "run-behind", "write-behind", chunks[c]);
    p.mac_key = k_key_a;
    p.dealing_id = k_id_a;
    p.sealers = 2;
    size_t img_n;
    uint8_t *img = image_with(&p, data, sizes, N, &img_n);
    assert_true(total / chunks[c] >= 40);
    const uint64_t write_behind[] = {1, 3 * ((uint64_t)chunks[c] + 4 + TAG), UINT64_C(64) << 20, UINT64_MAX};
    for (int k = 0; k < 4; k++) {
      p.write_behind = write_behind[k];
      file_and_live_equal_image(&p, "behind", data, sizes, N, img, img_n);
    }
    free(img);
  }
  free(data);
}

/* A live sink that holds every call after the first (the header, sent by the creating thread) at a gate
 * until the test opens it, then sleeps delay_us per call: a slow peer whose pace the test controls. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;          /* 0: the writer thread waits in its first chunk's call */
  int held;          /* 1 once a call waits at the closed gate */
  unsigned calls;    /* calls that passed the gate, the header's included */
  unsigned delay_us;
  sink_buf out;      /* what passed, in order (the writer thread's alone once it runs) */
} gated_sink;

static ff_status to_gated(void *arg, const void *data, size_t n) {
  gated_sink *g = arg;
  pthread_mutex_lock(&g->mu);
  if (!g->open && g->calls > 0) {
    g->held = 1;
    pthread_cond_broadcast(&g->cv);
  }
  while (!g->open && g->calls > 0) pthread_cond_wait(&g->cv, &g->mu);
  g->calls++;
  pthread_mutex_unlock(&g->mu);
  if (g->delay_us) usleep(g->delay_us);
  return to_buf(&g->out, data, n);
}

static void gate_init(gated_sink *g, unsigned delay_us) {
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->delay_us = delay_us;
}

static unsigned gate_calls(gated_sink *g) {
  pthread_mutex_lock(&g->mu);
  const unsigned n = g->calls;
  pthread_mutex_unlock(&g->mu);
  return n;
}

/* Waits (at most 60 s) until a call waits at the closed gate; 1 if one does. */
static int gate_wait_held(gated_sink *g) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&g->mu);
  while (!g->held && pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0) {}
  const int held = g->held;
  pthread_mutex_unlock(&g->mu);
  return held;
}

static void gate_open(gated_sink *g) {
  pthread_mutex_lock(&g->mu);
  g->open = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static void gate_destroy(gated_sink *g) {
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
  free(g->out.buf);
}

/* A dealer on a thread of its own, writing n chunks one call each and counting the calls that returned. */
typedef struct {
  ff_keystream *w;
  const uint8_t *data;
  size_t chunk, n;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t done;
  ff_status st;
} dealer_job;

static void *dealer_main(void *arg) {
  dealer_job *j = arg;
  for (size_t i = 0; i < j->n; i++) {
    const ff_status st = ff_keystream_write(j->w, j->data + i * j->chunk, j->chunk);
    pthread_mutex_lock(&j->mu);
    if (st) j->st = st;
    else j->done++;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (st) break;
  }
  return NULL;
}

/* Waits (at most 60 s) until the dealer's returned writes reach want or it fails; the count then. */
static size_t wait_for_writes(dealer_job *j, size_t want) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&j->mu);
  while (j->done < want && !j->st && pthread_cond_timedwait(&j->cv, &j->mu, &until) == 0) {}
  const size_t done = j->done;
  pthread_mutex_unlock(&j->mu);
  return done;
}

/* Starts a dealer thread that writes n chunks of data into a new live stream (name, parameters p, n chunks
 * declared) whose sink is g, a gated sink made here with delay_us per call. */
static pthread_t start_gated_dealer(dealer_job *j, gated_sink *g, const char *name, const ff_keystream_params *p,
                                    const uint8_t *data, size_t chunk, size_t n, unsigned delay_us) {
  gate_init(g, delay_us);
  *j = (dealer_job){.data = data, .chunk = chunk, .n = n};
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  assert_int_equal(ff_keystream_create_sink(name, p, (uint64_t)(n * chunk), to_gated, g, &j->w), FF_OK);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, dealer_main, j), 0);
  return t;
}

/* Finishes the dealer's stream and checks what passed the sink against img (the key file's bytes), then
 * frees the job's lock and the sink; the sink's calls after the finish. */
static unsigned dealer_job_finish(dealer_job *j, gated_sink *g, const uint8_t *img, size_t img_n) {
  assert_int_equal(ff_keystream_finish(j->w), FF_OK);
  const unsigned calls = gate_calls(g);
  assert_int_equal(ff_keystream_close(j->w, 0), FF_OK);
  assert_int_equal(g->out.n, img_n);
  assert_memory_equal(g->out.buf, img, img_n);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  gate_destroy(g);
  return calls;
}

/* Parameters of a live stream with a deep ring (64 MiB), party 0's MAC key and dealing id. */
static ff_keystream_params deep_params(const char *run, const char *meta, uint32_t chunk, int sealers) {
  ff_keystream_params p = params(0, run, meta, chunk);
  p.mac_key = k_key_b;
  p.dealing_id = k_id_b;
  p.sealers = sealers;
  p.write_behind = UINT64_C(64) << 20;
  return p;
}

/* A slow peer behind a deep ring: 50 chunks written while the sink holds the first one all return (the
 * sink has received none of them; with a ring shallower than 50 chunks the dealer would wait, and the
 * test fails after 60 s), then the finish drains the ring through the sink, 1 ms per call, and the bytes
 * are the key file's. */
static void test_write_behind_slow_sink(void **state) {
  (void)state;
  skip_without_sse42();
  enum { CHUNKS = 50, C = 4096 };
  uint8_t *data = random_bytes((size_t)CHUNKS * C, 24);
  const ff_keystream_params p = deep_params("run-slow", "slow sink", C, 1);
  const size_t sizes[] = {(size_t)CHUNKS * C};
  size_t img_n;
  uint8_t *img = image_with(&p, data, sizes, 1, &img_n);
  gated_sink g;
  dealer_job j;
  const pthread_t t = start_gated_dealer(&j, &g, "slow", &p, data, C, CHUNKS, 1000);
  const size_t done = wait_for_writes(&j, CHUNKS);
  const unsigned calls = gate_calls(&g);
  gate_open(&g);
  assert_int_equal(pthread_join(t, NULL), 0);
  if (done != CHUNKS) {
    ff_keystream_close(j.w, 0); /* its threads write into g: gone before this frame is */
    fail_msg("%zu of %d writes returned while the sink held the first chunk", done, CHUNKS);
  }
  assert_int_equal(calls, 1); /* the header only: every chunk still waited in the ring */
  assert_int_equal(j.st, FF_OK);
  const unsigned calls_at_end = dealer_job_finish(&j, &g, img, img_n);
  assert_int_equal(calls_at_end, 1 + CHUNKS + 2); /* header, chunks, trailer and its tag */
  free(img);
  free(data);
}

/* Opens the gate after 200 ms (a thread's body), so that the test's close is waiting by then. */
static void *open_gate_later(void *arg) {
  usleep(200 * 1000);
  gate_open(arg);
  return NULL;
}

/* A close without finish abandons the write-behind: with 50 chunks waiting behind a sink that holds the
 * first (the test waits until the writer thread is in that call), ff_keystream_close passes the rest on
 * unwritten once the sink lets the held one go, instead of pushing every waiting chunk into a stream that
 * can never be complete (the sink sees the header and the held chunk, nothing more). The gate opens 200
 * ms after the close began: a slow machine could only make the close set its flag later than that, and
 * then the count would be too high, never too low. */
static void test_write_behind_close_abandons(void **state) {
  (void)state;
  skip_without_sse42();
  enum { CHUNKS = 50, C = 4096 };
  uint8_t *data = random_bytes((size_t)CHUNKS * C, 25);
  const ff_keystream_params p = deep_params("run-abandon", "abandoned", C, 2);
  gated_sink g;
  dealer_job j;
  const pthread_t t = start_gated_dealer(&j, &g, "abandoned", &p, data, C, CHUNKS, 0);
  pthread_t opener;
  const size_t done = wait_for_writes(&j, CHUNKS);
  assert_int_equal(pthread_join(t, NULL), 0);
  const int held = gate_wait_held(&g); /* the writer thread is in the sink with the first chunk */
  assert_int_equal(pthread_create(&opener, NULL, open_gate_later, &g), 0);
  assert_int_equal(ff_keystream_close(j.w, 0), FF_OK); /* waits for the held chunk, drops the others */
  assert_int_equal(pthread_join(opener, NULL), 0);
  assert_int_equal(held, 1);
  assert_int_equal(done, CHUNKS);
  assert_int_equal(j.st, FF_OK);
  assert_int_equal(gate_calls(&g), 2); /* the header and the chunk the sink held */
  pthread_mutex_destroy(&j.mu);
  pthread_cond_destroy(&j.cv);
  gate_destroy(&g);
  free(data);
}

/* The ring's depth, seen from the dealer: with the sink holding the first chunk, the dealer's writes
 * return until the ring is full (the chunk in the sink counts), then it waits. Depth = ceil(write_behind /
 * (chunk + 36)), at least 2 × sealers + 2, at most 65536. The count reaches the depth for certain; that it
 * stops there is checked after a pause (a slow machine could only make that check pass wrongly, never
 * fail). Then the gate opens and the stream's bytes are the in-memory writer's. */
static void test_write_behind_depth(void **state) {
  (void)state;
  skip_without_sse42();
  const struct {
    uint32_t chunk;
    int sealers;
    uint64_t write_behind;
    size_t depth;
  } cases[] = {
      {1000, 2, 1, 6},                     /* raised to 2 × 2 + 2 */
      {1000, 2, 0, 6},                     /* a live stream's default: the least ring (its sink queues) */
      {1000, 1, 10 * 1036, 10},            /* exactly ten chunks' worth */
      {1000, 1, 10 * 1036 + 1, 11},        /* rounded up */
      {1000, 3, 3 * 1036, 8},              /* below 2 × 3 + 2 */
      {1, 1, UINT64_MAX, 65536},           /* clamped */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const size_t chunk = cases[k].chunk, n = cases[k].depth + 5;
    uint8_t *data = random_bytes(n * chunk, 25 + k);
    size_t *sizes = malloc(n * sizeof *sizes);
    assert_non_null(sizes);
    for (size_t i = 0; i < n; i++) sizes[i] = chunk;
    ff_keystream_params p = params(1, "run-depth", "depth", cases[k].chunk);
    p.sealers = cases[k].sealers;
    p.write_behind = cases[k].write_behind;
    size_t img_n;
    uint8_t *img = image_with(&p, data, sizes, n, &img_n);
    gated_sink g;
    dealer_job j;
    const pthread_t t = start_gated_dealer(&j, &g, "depth", &p, data, chunk, n, 0);
    const size_t reached = wait_for_writes(&j, cases[k].depth);
    if (reached == cases[k].depth) usleep(20000);
    pthread_mutex_lock(&j.mu);
    const size_t done = j.done;
    pthread_mutex_unlock(&j.mu);
    const unsigned calls = gate_calls(&g);
    gate_open(&g);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (done != cases[k].depth) {
      ff_keystream_close(j.w, 0); /* its threads write into g: gone before this frame is */
      fail_msg("case %zu: the dealer's writes stopped at %zu, not at the ring's depth %zu", k, done, cases[k].depth);
    }
    assert_int_equal(calls, 1); /* the header only */
    assert_int_equal(j.st, FF_OK);
    assert_int_equal(j.done, n);
    dealer_job_finish(&j, &g, img, img_n);
    free(img);
    free(sizes);
    free(data);
  }
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* A chunk buffer the dealer cannot allocate (an address-space limit while the sink holds the ring, so
 * that each chunk needs a new 64 MiB buffer) fails that write with FF_ENOMEM and a message naming the
 * stream and the bytes; the stream is then unusable (the next write and the finish say so), and close
 * drains and joins the threads without a crash or a hang. In a child, for the limit; an alarm turns a
 * hang into a failure. Sanitizers reserve address space of their own, so the limit means nothing there. */
static void test_write_behind_out_of_memory(void **state) {
  (void)state;
  skip_without_sse42();
#ifdef UNDER_SANITIZER
  skip();
#endif
  const char *log = path_in_dir("enomem.txt");
  const pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(60);
    const int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 2) < 0) _exit(10);
    enum { C = 64u << 20, CHUNKS = 64 };
    uint8_t *data = calloc(1, C);
    if (!data) _exit(11);
    gated_sink g;
    gate_init(&g, 0);
    ff_keystream_params p = params(0, "run-nomem", "nomem", C);
    p.sealers = 1;
    p.write_behind = (uint64_t)CHUNKS * C;
    ff_keystream *w;
    if (ff_keystream_create_sink("nomem", &p, (uint64_t)CHUNKS * C, to_gated, &g, &w) != FF_OK) _exit(12);
    /* The first chunk starts the threads and then waits in the sink; the limit comes after. */
    if (ff_keystream_write(w, data, C) != FF_OK) _exit(13);
    unsigned long vm_pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm || fscanf(statm, "%lu", &vm_pages) != 1) _exit(14);
    fclose(statm);
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0) _exit(15);
    const rlim_t hard = rl.rlim_max;
    rl.rlim_cur = (rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)(256u << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(16);
    ff_status st = FF_OK;
    int written = 1;
    for (; written < CHUNKS && !st; written++) st = ff_keystream_write(w, data, C);
    rl.rlim_cur = hard; /* the rest may allocate again */
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(17);
    if (st != FF_ENOMEM) _exit(18);
    if (ff_keystream_write(w, data, C) != FF_ENOMEM) _exit(19);
    gate_open(&g);
    if (ff_keystream_finish(w) != FF_ENOMEM) _exit(20);
    if (ff_keystream_close(w, 0) != FF_OK) _exit(21);
    fprintf(stderr, "\nwritten before the failure: %d of %d chunks\n", written - 1, CHUNKS);
    _exit(0);
  }
  int ws = 0;
  assert_int_equal(waitpid(pid, &ws, 0), pid);
  size_t n;
  char *msg = (char *)get_file(log, &n);
  msg = realloc(msg, n + 1);
  assert_non_null(msg);
  msg[n] = '\0';
  fprintf(stderr, "  (expected) %s", msg);
  if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
    fail_msg("the child %s %d", WIFEXITED(ws) ? "exited with" : "died of signal",
             WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
  const char *subs[] = {"out of memory for the next chunk of key stream nomem: 67108900 bytes more",
                        "unusable after an earlier error", NULL};
  for (int i = 0; subs[i]; i++)
    if (!strstr(msg, subs[i])) fail_msg("message lacks \"%s\": %s", subs[i], msg);
  free(msg);
  unlink(log);
}

/* The discarding writer counts what the dealer writes and keeps nothing: no image, no file. */
static void test_null_writer(void **state) {
  (void)state;
  skip_without_sse42();
  uint8_t *data = random_bytes(5000, 22);
  ff_keystream_params p = params(1, "run-null", "null", 1000);
  p.mac_key = k_key_a;
  ff_keystream *w;
  assert_int_equal(ff_keystream_create_null(&p, &w), FF_OK);
  assert_int_equal(ff_keystream_write(w, data, 1), FF_OK);
  assert_int_equal(ff_keystream_write(w, data, 0), FF_OK);
  assert_int_equal(ff_keystream_write(w, data, 4999), FF_OK);
  assert_int_equal(ff_keystream_payload_bytes(w), 5000);
  const void *img;
  size_t n;
  EXPECT_FAIL(ff_keystream_mem_image(w, &img, &n), FF_ESTATE, "not a finished in-memory writer");
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_int_equal(ff_keystream_payload_bytes(w), 5000);
  EXPECT_FAIL(ff_keystream_write(w, data, 1), FF_ESTATE, "already finished");
  EXPECT_FAIL(ff_keystream_mem_image(w, &img, &n), FF_ESTATE, "not a finished in-memory writer");
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  free(data);
}

/* The memory writer seals its chunks at the finish, over several threads (8 MiB of chunks each at least; 4
 * CPUs forced, ff__cpu_count_override, so 3 ranges here): 20000 chunks of 1000 bytes with a MAC, the last
 * one short, give the key file's bytes (sealed by the file writer's sealer threads as they fill), and
 * read back through every check. */
static void test_mem_sealed_over_threads(void **state) {
  (void)state;
  skip_without_sse42();
  const size_t total = 20000 * 1000 - 123;
  ff__cpu_count_override(4);
  uint8_t *data = random_bytes(total, 25);
  const size_t sizes[] = {total / 3, total - total / 3};
  ff_keystream_params p = params(0, "run-mem-seal", "mem", 1000);
  p.mac_key = k_key_a;
  p.dealing_id = k_id_a;
  size_t img_n;
  uint8_t *img = image_with(&p, data, sizes, 2, &img_n);
  const char *path = path_in_dir("mem-seal.ffk");
  ff_keystream *w;
  assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
  write_sizes(w, data, sizes, 2);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  assert_file_is(path, img, img_n);
  ff_keystream *r;
  uint8_t *back = malloc(total);
  assert_non_null(back);
  assert_int_equal(ff_keystream_open_mem_mac(img, img_n, k_key_a, &r), FF_OK);
  assert_int_equal(ff_keystream_read(r, back, total), FF_OK);
  assert_memory_equal(back, data, total);
  assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
  free(back);
  free(img);
  free(data);
  ff__cpu_count_override(0);
}

/* A read of many whole chunks checks them over several threads, in batches (at most 256 chunks or 64 MiB
 * each), and must give what reading them one by one gives: the same bytes for reads of any size, and a
 * bad chunk refused with its own place named, the first in stream order when a batch holds two, whether
 * its CRC or only its MAC fails. 700 chunks of 1000 bytes with a MAC, the last one short, from a file and
 * from memory, with 1, 4 and 7 CPUs (ff__cpu_count_override). */
static void test_read_checked_over_threads(void **state) {
  (void)state;
  skip_without_sse42();
  const size_t total = 700 * 1000 - 321, stride = 1000 + 4 + TAG;
  uint8_t *data = random_bytes(total, 26);
  const size_t sizes[] = {total};
  ff_keystream_params p = params(1, "run-read-par", "read", 1000);
  p.mac_key = k_key_b;
  p.dealing_id = k_id_b;
  size_t n;
  uint8_t *img = image_with(&p, data, sizes, 1, &n);
  const size_t hdr = n - (total + 700 * (4 + TAG) + TRAILER + TAG);
  char *path = strdup(path_in_dir("read-par.ffk")); /* path_in_dir's buffer is reused by EXPECT_FAIL */
  assert_non_null(path);
  uint8_t *back = malloc(total);
  assert_non_null(back);
  const int cpus[] = {1, 4, 7};
  for (size_t c = 0; c < 3; c++) {
    ff__cpu_count_override(cpus[c]);
    for (int file = 0; file <= 1; file++) {
      ff_keystream *r;
      put_file(path, img, n);
#define OPEN_IMG() (file ? ff_keystream_open_file_mac(path, k_key_b, &r) : ff_keystream_open_mem_mac(img, n, k_key_b, &r))
      /* Whole, then in pieces that start and end inside chunks and cross the batches' ends. */
      memset(back, 0, total);
      assert_int_equal(OPEN_IMG(), FF_OK);
      assert_int_equal(ff_keystream_read(r, back, total), FF_OK);
      assert_memory_equal(back, data, total);
      assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);
      memset(back, 0, total);
      assert_int_equal(OPEN_IMG(), FF_OK);
      const size_t cuts[] = {1, 999, 2500, 256000, 256001, 300000, 450777, total};
      for (size_t i = 0, at = 0; i < sizeof cuts / sizeof *cuts; at = cuts[i++])
        assert_int_equal(ff_keystream_read(r, back + at, cuts[i] - at), FF_OK);
      assert_memory_equal(back, data, total);
      assert_int_equal(ff_keystream_close(r, FF_KEYSTREAM_CHECK_CONSUMED), FF_OK);

      /* Chunk 300's payload (its CRC fails) and chunk 290's tag (only its MAC fails): one batch holds both
       * (chunks 256..511); 290 comes first. Then 300 alone. */
      uint8_t *img2 = malloc(n);
      assert_non_null(img2);
      memcpy(img2, img, n);
      img2[hdr + 300 * stride + 17] ^= 0x02;
      img2[hdr + 290 * stride + 1000 + 4 + 9] ^= 0x20;
      for (int both = 1; both >= 0; both--) {
        if (!both) img2[hdr + 290 * stride + 1000 + 4 + 9] ^= 0x20;
        if (file) put_file(path, img2, n);
        if (file) assert_int_equal(ff_keystream_open_file_mac(path, k_key_b, &r), FF_OK);
        else assert_int_equal(ff_keystream_open_mem_mac(img2, n, k_key_b, &r), FF_OK);
        assert_int_equal(ff_keystream_read(r, back, 1500), FF_OK); /* then the rest in one read */
        if (both)
          EXPECT_FAIL(ff_keystream_read(r, back + 1500, total - 1500), FF_EFORMAT, "fails its MAC check",
                      "chunk 290 (payload offset 290000");
        else
          EXPECT_FAIL(ff_keystream_read(r, back + 1500, total - 1500), FF_EFORMAT, "corrupted",
                      "chunk 300 of 700", "payload offset 300000", "fails its CRC32C");
        EXPECT_FAIL(ff_keystream_read(r, back, 1), FF_EFORMAT, "unusable");
        assert_int_equal(ff_keystream_close(r, 0), FF_OK);
      }
      free(img2);
#undef OPEN_IMG
    }
  }
  ff__cpu_count_override(0);
  free(path);
  free(back);
  free(img);
  free(data);
}

/* --- Writes that fill the stream's memory (ff_keystream_write_fill) ----------------------------------- */

/* The source of a fill: the bytes to give, what the stream asked for so far, and a call to fail. */
typedef struct {
  const uint8_t *data; /* the bytes of this write */
  size_t n;            /* how many */
  size_t next;         /* the offset the next call must ask for */
  size_t max_span;     /* the longest span allowed (the chunk size) */
  unsigned calls;
  unsigned fail_at;    /* 1-based call that returns FF_EIO; 0: none */
  unsigned sleep_ms;   /* each call sleeps this long first */
} fill_src;

static ff_status fill_from(void *arg, void *dst, size_t off, size_t len) {
  fill_src *f = arg;
  f->calls++;
  if (f->sleep_ms) {
    const struct timespec ts = {f->sleep_ms / 1000, (long)(f->sleep_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (f->fail_at && f->calls == f->fail_at) return FF_EIO;
  /* Spans come in order, back to back, never empty, never longer than a chunk, never past the write. */
  assert_non_null(dst);
  assert_int_equal(off, f->next);
  assert_true(len > 0 && len <= f->max_span && off + len <= f->n);
  memcpy(dst, f->data + off, len);
  f->next = off + len;
  return FF_OK;
}

/* Writes data in the given sizes, every other write through a fill (the others through
 * ff_keystream_write), checking that each fill asked for exactly its bytes; returns the fill calls. */
static unsigned write_sizes_filled(ff_keystream *ks, const uint8_t *data, const size_t *sizes, size_t n,
                                   uint32_t chunk) {
  size_t off = 0;
  unsigned calls = 0;
  for (size_t i = 0; i < n; i++) {
    if (i % 2) {
      fill_src f = {.data = data + off, .n = sizes[i], .max_span = chunk};
      assert_int_equal(ff_keystream_write_fill(ks, sizes[i], fill_from, &f), FF_OK);
      assert_int_equal(f.next, sizes[i]);
      calls += f.calls;
    } else {
      assert_int_equal(ff_keystream_write(ks, data + off, sizes[i]), FF_OK);
    }
    off += sizes[i];
    assert_int_equal(ff_keystream_payload_bytes(ks), off);
  }
  return calls;
}

/* A stream written partly through fills is the one written by copies, byte for byte: in memory, as a key
 * file (with chunks asked to be page-locked) and as a live stream (with a MAC and two sealers), in writes that end mid-chunk, on chunk
 * boundaries and span many chunks; each fill is asked for its bytes in order, at most a chunk at a
 * time, straight into the stream's memory. A null writer counts filled bytes and never calls the fill. */
static void test_write_fill_same_bytes(void **state) {
  (void)state;
  skip_without_sse42();
  const size_t pattern[] = {1, 999, 1000, 3000, 17, 5000, 0, 2500, 1000, 64, 4096, 1};
  enum { N = 36 };
  const uint32_t chunk = 1000;
  size_t sizes[N];
  for (int i = 0; i < N; i++) sizes[i] = pattern[i % 12];
  const size_t total = total_of(sizes, N);
  uint8_t *data = random_bytes(total, 23);
  ff_keystream_params p = params(0, "run-fill", "fill", chunk);
  p.mac_key = k_key_a;
  p.dealing_id = k_id_a;
  p.sealers = 2;
  size_t img_n, mem_n;
  uint8_t *img = image_with(&p, data, sizes, N, &img_n); /* copies only: the reference */

  ff_keystream *w;
  assert_int_equal(ff_keystream_create_mem(&p, &w), FF_OK);
  const unsigned calls = write_sizes_filled(w, data, sizes, N, chunk);
  assert_true(calls > 20); /* the fills wrote several chunks' worth, in chunk-sized spans or less */
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  const void *mem;
  assert_int_equal(ff_keystream_mem_image(w, &mem, &mem_n), FF_OK);
  assert_int_equal(mem_n, img_n);
  assert_memory_equal(mem, img, img_n);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);

  const char *path = path_in_dir("filled.ffk");
  p.pinned = 1; /* page-locked chunks where a GPU is visible, ordinary memory here: the same bytes */
  assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
  write_sizes_filled(w, data, sizes, N, chunk);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  assert_file_is(path, img, img_n);

  sink_buf live = {NULL, 0};
  assert_int_equal(ff_keystream_create_sink("filled", &p, total, to_buf, &live, &w), FF_OK);
  write_sizes_filled(w, data, sizes, N, chunk);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  assert_int_equal(live.n, img_n);
  assert_memory_equal(live.buf, img, img_n);
  free(live.buf);

  assert_int_equal(ff_keystream_create_null(&p, &w), FF_OK);
  fill_src never = {.data = data, .n = total, .max_span = chunk};
  assert_int_equal(ff_keystream_write_fill(w, total, fill_from, &never), FF_OK);
  assert_int_equal(never.calls, 0);
  assert_int_equal(ff_keystream_payload_bytes(w), total);
  assert_int_equal(ff_keystream_finish(w), FF_OK);
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  free(img);
  free(data);
}

/* A fill that fails breaks the stream: the write returns its error and names the stream and the byte, later
 * writes are refused, nothing hangs (file and live writers have threads), and the file is never complete.
 * Bad arguments are refused. The time a fill takes is the caller's: it is not in ff_keystream_write_ns. */
static void test_write_fill_errors_and_time(void **state) {
  (void)state;
  skip_without_sse42();
  uint8_t *data = random_bytes(5000, 24);
  ff_keystream_params p = params(1, "run-fill-err", "fill", 1000);
  p.mac_key = k_key_a;
  for (int kind = 0; kind < 3; kind++) {
    ff_keystream *w;
    sink_buf live = {NULL, 0};
    const char *path = path_in_dir("fill-fails.ffk");
    if (kind == 0) assert_int_equal(ff_keystream_create_mem(&p, &w), FF_OK);
    if (kind == 1) assert_int_equal(ff_keystream_create_file(path, &p, &w), FF_OK);
    if (kind == 2) assert_int_equal(ff_keystream_create_sink("fill-fails", &p, 5000, to_buf, &live, &w), FF_OK);
    assert_int_equal(ff_keystream_write(w, data, 1500), FF_OK);
    fill_src f = {.data = data + 1500, .n = 3500, .max_span = 1000, .fail_at = 2};
    EXPECT_FAIL(ff_keystream_write_fill(w, 3500, fill_from, &f), FF_EIO, "could not be made", "at byte 2000");
    assert_int_equal(f.calls, 2);
    EXPECT_FAIL(ff_keystream_write(w, data, 1), FF_EIO, "unusable after an earlier error");
    EXPECT_FAIL(ff_keystream_finish(w), FF_EIO, "unusable after an earlier error");
    ff_keystream_close(w, 0);
    free(live.buf);
    if (kind == 1) {
      ff_keystream *r;
      EXPECT_FAIL(ff_keystream_open_file_mac(path, k_key_a, &r), FF_EFORMAT, "incomplete");
    }
  }

  ff_keystream *w;
  assert_int_equal(ff_keystream_create_mem(&p, &w), FF_OK);
  assert_int_equal(ff_keystream_write_fill(NULL, 1, fill_from, NULL), FF_EINVAL);
  assert_int_equal(ff_keystream_write_fill(w, 1, NULL, NULL), FF_EINVAL);
  assert_int_equal(ff_keystream_write_fill(w, 0, NULL, NULL), FF_OK); /* nothing to fill */
  fill_src slow = {.data = data, .n = 3, .max_span = 1000, .sleep_ms = 300};
  const uint64_t before = ff_keystream_write_ns(w);
  assert_int_equal(ff_keystream_write_fill(w, 3, fill_from, &slow), FF_OK);
  assert_int_equal(slow.calls, 1);
  assert_true(ff_keystream_write_ns(w) - before < UINT64_C(300000000)); /* the 300 ms were the fill's */
  assert_int_equal(ff_keystream_close(w, 0), FF_OK);
  free(data);
}

/* A write that fails inside the file writer's thread (here: the file size limit, EFBIG) fails the stream:
 * a later write or the finish reports it, nothing hangs, and close releases the thread. With the least
 * ring (write_behind 1: 2 × 2 + 2 chunks) and with a ring deeper than the whole stream (64 MiB), where
 * every write may return before the error and only the finish can report it. In a child so that the
 * limit stays there; an alarm turns a hang into a failure. */
static void test_write_error_in_writer_thread(void **state) {
  (void)state;
  skip_without_sse42();
  const char *path = path_in_dir("full.ffk");
  const uint64_t write_behind[] = {1, UINT64_C(64) << 20};
  for (int k = 0; k < 2; k++) {
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      alarm(60);
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit rl = {3u << 20, 3u << 20};
      if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
      ff_keystream *w;
      ff_keystream_params p = params(0, "run-full", "full", 1u << 20);
      p.sealers = 2;
      p.write_behind = write_behind[k];
      if (ff_keystream_create_file(path, &p, &w) != FF_OK) _exit(11);
      uint8_t *buf = calloc(1, 1u << 20);
      if (!buf) _exit(12);
      ff_status st = FF_OK;
      for (int i = 0; i < 16 && !st; i++) st = ff_keystream_write(w, buf, 1u << 20);
      if (!st) st = ff_keystream_finish(w);
      ff_keystream_close(w, 0);
      free(buf);
      _exit(st == FF_EIO ? 0 : 13);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (!WIFEXITED(ws)) fail_msg("write_behind %llu: the child died of signal %d", (unsigned long long)write_behind[k],
                                 WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    assert_int_equal(WEXITSTATUS(ws), 0);
    unlink(path);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32c_known_answers),    cmocka_unit_test(test_roundtrip_mem),
      cmocka_unit_test(test_roundtrip_file),          cmocka_unit_test(test_large_chunks),
      cmocka_unit_test(test_empty_stream),            cmocka_unit_test(test_header_fields_and_expect),
      cmocka_unit_test(test_flipped_bits),            cmocka_unit_test(test_version),
      cmocka_unit_test(test_truncation),              cmocka_unit_test(test_truncated_while_reading),
      cmocka_unit_test(test_read_past_end),           cmocka_unit_test(test_leftover_at_close),
      cmocka_unit_test(test_not_a_key_file),          cmocka_unit_test(test_incomplete_file),
      cmocka_unit_test(test_bad_arguments_and_states), cmocka_unit_test(test_mac_roundtrip),
      cmocka_unit_test(test_mac_tampered_with_valid_crcs), cmocka_unit_test(test_key_file_swapped_mid_run),
      cmocka_unit_test(test_fifo_key_file), cmocka_unit_test(test_live_stream),
      cmocka_unit_test(test_write_error_in_writer_thread), cmocka_unit_test(test_sealers_same_bytes),
      cmocka_unit_test(test_null_writer), cmocka_unit_test(test_write_behind_same_bytes),
      cmocka_unit_test(test_write_behind_slow_sink), cmocka_unit_test(test_write_behind_close_abandons),
      cmocka_unit_test(test_write_behind_depth),
      cmocka_unit_test(test_write_behind_out_of_memory),
      cmocka_unit_test(test_write_fill_same_bytes), cmocka_unit_test(test_write_fill_errors_and_time),
      cmocka_unit_test(test_mem_sealed_over_threads),
      cmocka_unit_test(test_read_checked_over_threads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
