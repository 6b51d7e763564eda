/* libFuzzer harness: the key-stream reader (core/keystream.h), over memory and over a file, with and
 * without a MAC: a key file whose header sets the MAC flag is opened with the harnesses' public MAC key
 * (fuzz_util.h), as a party holding its key would. Besides the raw input, the harness reads a copy whose
 * CRC32Cs and tags it has recomputed where the input's own fields place them (header, each chunk, the
 * trailer), so that mutations of the fields behind the checks reach the code that uses them. Seeds: key
 * files of `fusefss keygen` re-written small, with and without a MAC (tests/fuzz/fuzz_seeds.c).
 * docs/fuzzing.md. */
#include <stdlib.h>
#include <string.h>

#include "core/keystream.h"
#include "fuzz_util.h"

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
  /* A second pass over the same reader, as a party's verification pass and repetitions do. */
  if (ff_keystream_rewind(ks) == FF_OK && ff_keystream_remaining(ks) > 0)
    (void)ff_keystream_read(ks, buf, ff_keystream_remaining(ks) < sizeof buf ? (size_t)ff_keystream_remaining(ks) : sizeof buf);
  (void)ff_keystream_payload_bytes(ks);
  (void)ff_keystream_encoded_bytes(ks);
}

/* The party's MAC key when the header says the file has a MAC. */
static const uint8_t *mac_key_for(const uint8_t *data, size_t size) {
  return size > 68 && (data[68] & 1) ? ff_fuzz_mac_key : NULL;
}

static void read_mem(const uint8_t *data, size_t size) {
  ff_keystream *ks = NULL;
  if (ff_keystream_open_mem_mac(data, size, mac_key_for(data, size), &ks) == FF_OK) drain(ks);
  (void)ff_keystream_close(ks, FF_KEYSTREAM_CHECK_CONSUMED);
}

static void read_file(const uint8_t *data, size_t size) {
  ff_keystream *ks = NULL;
  if (ff_keystream_open_file_mac(ff_fuzz_file(data, size), mac_key_for(data, size), &ks) == FF_OK) drain(ks);
  (void)ff_keystream_close(ks, FF_KEYSTREAM_CHECK_CONSUMED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  if (!ff_crc32c_supported()) return 0;
  read_mem(data, size);
  uint8_t *fixed = malloc(size ? size : 1);
  if (!fixed) return 0;
  memcpy(fixed, data, size);
  ff_fuzz_keystream_repair(fixed, size);
  read_mem(fixed, size);
  read_file(fixed, size);
  free(fixed);
  return 0;
}
