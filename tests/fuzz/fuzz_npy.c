/* libFuzzer harness: the NumPy .npy reader of P1's input (tools/npy.c, ff_npy_read): magic, version,
 * the header's Python dict literal, dtype, order, shape, data length. The input is a .npy file; an
 * accepted one has every value touched. Seeds: files of ff_npy_write_f32 (1 to 3 dimensions) and the
 * same headers re-written as float64 (tests/fuzz/fuzz_seeds.c); dictionary tests/fuzz/npy.dict.
 * docs/fuzzing.md. */
#include "tools/npy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ff_fuzz_quiet();
  ff_npy a;
  if (ff_npy_read(ff_fuzz_file(data, size), 1u << 20, &a) == FF_OK) {
    size_t numel = 1;
    for (int i = 0; i < a.ndim; i++) numel *= (size_t)a.shape[i];
    if (numel != a.numel) __builtin_trap(); /* the reader's own contract */
    volatile double sum = 0; /* every value read */
    for (size_t i = 0; i < a.numel; i++) sum += a.v[i];
    (void)sum;
    ff_npy_free(&a);
  }
  return 0;
}
