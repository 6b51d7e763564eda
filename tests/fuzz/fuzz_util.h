/* Shared plumbing of the libFuzzer harnesses in tests/fuzz (docs/fuzzing.md): quiet logging, a
 * scratch file for readers that take a path, input splitting and a small deterministic byte cursor.
 * Each harness is one LLVMFuzzerTestOneInput over one parser. */
#ifndef FF_TESTS_FUZZ_UTIL_H
#define FF_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "models/config.h"

/* The libFuzzer entry point every harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Turns library logging off (once): refusals are the expected outcome of most inputs, and printing
 * them would cost more than parsing. FUSEFSS_FUZZ_LOG=1 keeps the messages (for reading a finding). */
void ff_fuzz_quiet(void);

/* Writes data into this process's scratch file (a regular file in $FUSEFSS_FUZZ_TMPDIR, else /dev/shm,
 * else $TMPDIR or /tmp; replaced on every call, removed at exit) and returns its path. Aborts when the file cannot be written: that is
 * the harness failing, not the parser. */
const char *ff_fuzz_file(const uint8_t *data, size_t size);
/* A second scratch file, for readers that take two paths (merge). */
const char *ff_fuzz_file2(const uint8_t *data, size_t size);

/* The separator the two-file harnesses split their input on (seeds are written with it). */
#define FF_FUZZ_SPLIT "\n--fusefss-fuzz-split--\n"
/* Splits data at the first FF_FUZZ_SPLIT: *a_n bytes of the first part, then the second part at
 * *b (*b_n bytes). Without a separator the whole input is the first part and the second is empty. */
void ff_fuzz_split(const uint8_t *data, size_t size, size_t *a_n, const uint8_t **b, size_t *b_n);

/* Recomputes, in place, the CRC32Cs of a key file (core/keystream.h, version 2) wherever its possibly
 * mutated header puts them inside the n bytes (header, chunks, trailer), and, when its MAC flag is set,
 * its HMAC-SHA-256 tags under ff_fuzz_mac_key. Fields are left as they are, so that mutations behind the
 * checks reach the code that uses them. */
void ff_fuzz_keystream_repair(uint8_t *b, size_t n);
/* The MAC key of the harnesses' key files with a MAC (public: these are test inputs). */
extern const uint8_t ff_fuzz_mac_key[32];

/* Little-endian reads that yield 0 past the end (inputs shorter than a header are still inputs). */
typedef struct {
  const uint8_t *p;
  size_t n, at;
} ff_fuzz_cursor;
uint8_t ff_fuzz_u8(ff_fuzz_cursor *c);
uint32_t ff_fuzz_u32(ff_fuzz_cursor *c);
uint64_t ff_fuzz_u64(ff_fuzz_cursor *c);

/* Small model configurations (every architecture, d 8) for the weights harness and its seeds: the
 * reader takes any configuration, and small tensors keep the seeds small. */
extern const ff_model_config ff_fuzz_models[3];

#endif
