/* libFuzzer harness: the key-stream reader (core/keystream.h), over memory and over a file. The input
 * is a key file. Besides the raw input, the harness reads a copy whose CRC32Cs it has recomputed where
 * the input's own fields place them (header, each chunk, the trailer), so that mutations of the
 * fields behind the checks reach the code that uses them; a MAC or other key-dependent check still
 * refuses those copies, which is fine. Seeds: key files of `fusefss keygen` re-chunked small
 * (tests/fuzz/make_seeds.sh). docs/fuzzing.md. */
#include <stdlib.h>
#include <string.h>

#include "core/keystream.h"
#include "fuzz_util.h"

#define HDR_FIXED 72u   /* header bytes before the metadata */
#define TRAILER 32u

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* Recomputes the CRC32Cs in place wherever the (possibly mutated) header puts them inside the buffer. */
static void repair_crcs(uint8_t *b, size_t n) {
  if (n < HDR_FIXED + 4) return;
  const uint32_t meta = get32(b + 64);
  if (meta > n || HDR_FIXED + (size_t)meta + 4 > n) return;
  put32(b + HDR_FIXED + meta, ff_crc32c(0, b, HDR_FIXED + meta));
  const uint32_t chunk = get32(b + 20);
  const uint64_t payload = get64(b + 24);
  if (chunk == 0) return;
  size_t at = HDR_FIXED + meta + 4;
  uint64_t left = payload;
  uint32_t crcs = 0;
  while (left > 0) {
    const size_t len = left < chunk ? (size_t)left : chunk;
    if (len > n - at || 4 > n - at - len) return;
    put32(b + at + len, ff_crc32c(0, b + at, len));
    crcs = ff_crc32c(crcs, b + at + len, 4);
    at += len + 4;
    left -= len;
  }
  if (TRAILER > n - at) return;
  put32(b + at + 24, crcs);
  put32(b + at + 28, ff_crc32c(0, b + at, 28));
}

/* Reads the whole payload in pieces whose sizes follow the payload's own bytes (1 .. 4 KiB, and one
 * read past the end), then the identity checks and the consumed check at close. */
static void drain(ff_keystream *ks) {
  uint8_t buf[4096 + 1];
  size_t step = 1;
  (void)ff_keystream_expect(ks, 0, "fuzz", "{}");
  (void)ff_keystream_expect(ks, ff_keystream_party(ks), ff_keystream_run_id(ks), ff_keystream_meta(ks, NULL));
  while (ff_keystream_remaining(ks) > 0) {
    size_t n = ff_keystream_remaining(ks) < step ? (size_t)ff_keystream_remaining(ks) : step;
    if (ff_keystream_read(ks, buf, n) != FF_OK) break;
    step = (size_t)buf[0] * 16 + 1;
  }
  (void)ff_keystream_read(ks, buf, 1);
  (void)ff_keystream_payload_bytes(ks);
  (void)ff_keystream_encoded_bytes(ks);
}

static void read_mem(const uint8_t *data, size_t size) {
  ff_keystream *ks = NULL;
  if (ff_keystream_open_mem(data, size, &ks) == FF_OK) drain(ks);
  (void)ff_keystream_close(ks, FF_KEYSTREAM_CHECK_CONSUMED);
}

static void read_file(const uint8_t *data, size_t size) {
  ff_keystream *ks = NULL;
  if (ff_keystream_open_file(ff_fuzz_file(data, size), &ks) == FF_OK) drain(ks);
  (void)ff_keystream_close(ks, FF_KEYSTREAM_CHECK_CONSUMED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  if (!ff_crc32c_supported()) return 0;
  read_mem(data, size);
  uint8_t *fixed = malloc(size ? size : 1);
  if (!fixed) return 0;
  memcpy(fixed, data, size);
  repair_crcs(fixed, size);
  read_mem(fixed, size);
  read_file(fixed, size);
  free(fixed);
  return 0;
}
