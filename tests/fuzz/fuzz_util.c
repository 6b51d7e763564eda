/* Shared plumbing of the libFuzzer harnesses (fuzz_util.h). */
#include "fuzz_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/keystream.h"
#include "core/log.h"

void ff_fuzz_quiet(void) {
  static int done;
  if (done) return;
  done = 1;
  const char *keep = getenv("FUSEFSS_FUZZ_LOG");
  if (!keep || strcmp(keep, "1") != 0) ff_log_set_level(FF_LOG_OFF);
}

typedef struct {
  char path[512];
  int fd;
} ff__fuzz_scratch;

static ff__fuzz_scratch g_scratch[2] = {{"", -1}, {"", -1}};

static void ff__fuzz_cleanup(void) {
  for (int i = 0; i < 2; i++)
    if (g_scratch[i].fd >= 0) {
      close(g_scratch[i].fd);
      unlink(g_scratch[i].path);
    }
}

static const char *ff__fuzz_write(ff__fuzz_scratch *s, const uint8_t *data, size_t size) {
  if (s->fd < 0) {
    /* tmpfs when there is one: on a disk file system the truncate and rewrite of every input cost
     * milliseconds, a hundred times the parse. */
    const char *dir = getenv("FUSEFSS_FUZZ_TMPDIR");
    if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(s->path, sizeof s->path, "%s/fusefss-fuzz-XXXXXX", dir && *dir ? dir : "/tmp");
    if ((s->fd = mkstemp(s->path)) < 0) {
      perror("fuzz harness: mkstemp");
      abort();
    }
    static int registered;
    if (!registered++) atexit(ff__fuzz_cleanup);
  }
  if (ftruncate(s->fd, 0) != 0) {
    perror("fuzz harness: ftruncate");
    abort();
  }
  size_t done = 0;
  while (done < size) {
    ssize_t w = pwrite(s->fd, data + done, size - done, (off_t)done);
    if (w <= 0) {
      perror("fuzz harness: pwrite");
      abort();
    }
    done += (size_t)w;
  }
  return s->path;
}

const char *ff_fuzz_file(const uint8_t *data, size_t size) { return ff__fuzz_write(&g_scratch[0], data, size); }
const char *ff_fuzz_file2(const uint8_t *data, size_t size) { return ff__fuzz_write(&g_scratch[1], data, size); }

void ff_fuzz_split(const uint8_t *data, size_t size, size_t *a_n, const uint8_t **b, size_t *b_n) {
  const size_t sep = sizeof FF_FUZZ_SPLIT - 1;
  const uint8_t *at = size >= sep ? memmem(data, size, FF_FUZZ_SPLIT, sep) : NULL;
  if (!at) {
    *a_n = size;
    *b = data + size;
    *b_n = 0;
    return;
  }
  *a_n = (size_t)(at - data);
  *b = at + sep;
  *b_n = size - *a_n - sep;
}

#define FF__KS_HDR_FIXED 88u /* key file header bytes before the metadata (core/keystream.h, version 2) */
#define FF__KS_TRAILER 32u
#define FF__KS_TAG 32u       /* HMAC-SHA-256 tag after header, chunks and trailer when flag bit 0 is set */

const uint8_t ff_fuzz_mac_key[FF_KEYSTREAM_MAC_KEY_BYTES] = "fusefss fuzzing MAC key (public)";

static void ff__put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t ff__get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ff__get64(const uint8_t *p) { return (uint64_t)ff__get32(p) | (uint64_t)ff__get32(p + 4) << 32; }

/* out = HMAC-SHA-256(ff_fuzz_mac_key, label || a || b), as core/keystream.c computes its tags. */
static void ff__fuzz_tag(const char label[8], const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
                         uint8_t out[FF__KS_TAG]) {
  uint8_t *msg = malloc(8 + an + bn);
  size_t len = 0;
  if (!msg) abort();
  memcpy(msg, label, 8);
  memcpy(msg + 8, a, an);
  if (bn) memcpy(msg + 8 + an, b, bn);
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, ff_fuzz_mac_key, sizeof ff_fuzz_mac_key, msg, 8 + an + bn, out,
                 FF__KS_TAG, &len) ||
      len != FF__KS_TAG)
    abort();
  free(msg);
}

void ff_fuzz_keystream_repair(uint8_t *b, size_t n) {
  if (n < FF__KS_HDR_FIXED + 4) return;
  const uint32_t meta = ff__get32(b + 64);
  const size_t T = (ff__get32(b + 68) & 1u) ? FF__KS_TAG : 0;
  const uint8_t *id = b + 72;
  if (meta > n || FF__KS_HDR_FIXED + (size_t)meta + 4 + T > n) return;
  ff__put32(b + FF__KS_HDR_FIXED + meta, ff_crc32c(0, b, FF__KS_HDR_FIXED + meta));
  if (T) ff__fuzz_tag("FFKEYHDR", b, FF__KS_HDR_FIXED + meta + 4, NULL, 0, b + FF__KS_HDR_FIXED + meta + 4);
  const uint32_t chunk = ff__get32(b + 20);
  const uint64_t payload = ff__get64(b + 24);
  if (chunk == 0) return;
  size_t at = FF__KS_HDR_FIXED + meta + 4 + T;
  uint64_t left = payload, k = 0;
  uint32_t crcs = 0;
  while (left > 0) {
    const size_t len = left < chunk ? (size_t)left : chunk;
    if (len > n - at || 4 + T > n - at - len) return;
    ff__put32(b + at + len, ff_crc32c(0, b + at, len));
    crcs = ff_crc32c(crcs, b + at + len, 4);
    if (T) {
      uint8_t pre[16 + 12];
      memcpy(pre, id, 16);
      for (int i = 0; i < 8; i++) pre[16 + i] = (uint8_t)(k >> (8 * i));
      ff__put32(pre + 24, (uint32_t)len);
      ff__fuzz_tag("FFKEYCHK", pre, sizeof pre, b + at, len, b + at + len + 4);
    }
    at += len + 4 + T;
    left -= len;
    k++;
  }
  if (FF__KS_TRAILER + T > n - at) return;
  ff__put32(b + at + 24, crcs);
  ff__put32(b + at + 28, ff_crc32c(0, b + at, 28));
  if (T) {
    uint8_t msg[16 + FF__KS_TRAILER];
    memcpy(msg, id, 16);
    memcpy(msg + 16, b + at, FF__KS_TRAILER);
    ff__fuzz_tag("FFKEYTRL", msg, sizeof msg, NULL, 0, b + at + FF__KS_TRAILER);
  }
}

uint8_t ff_fuzz_u8(ff_fuzz_cursor *c) { return c->at < c->n ? c->p[c->at++] : 0; }

uint32_t ff_fuzz_u32(ff_fuzz_cursor *c) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)ff_fuzz_u8(c) << (8 * i);
  return v;
}

uint64_t ff_fuzz_u64(ff_fuzz_cursor *c) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)ff_fuzz_u8(c) << (8 * i);
  return v;
}

const ff_model_config ff_fuzz_models[3] = {
    {"fuzz-bert", FF_ARCH_BERT, 1, 2, 8, 16, 0, 1, 37, 12, "BERT block, d 8 (fuzzing)"},
    {"fuzz-gpt", FF_ARCH_GPT, 1, 2, 8, 16, 1, 0, 50, 12, "GPT block, d 8 (fuzzing)"},
    {"fuzz-llama", FF_ARCH_LLAMA, 1, 2, 8, 24, 1, 1, 48, 12, "Llama block, d 8 (fuzzing)"},
};
