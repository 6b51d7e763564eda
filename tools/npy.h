/* NumPy .npy files for P1's input and output (`fusefss run --input / --output`, docs/running.md "Inputs
 * and outputs"): the format of numpy.lib.format, versions 1.0, 2.0 and 3.0. Read: little-endian float32 or
 * float64 in C order, 1 to 3 dimensions; everything else is refused with a message naming the file and
 * what is wrong. Written: float32, version 1.0, by temp + rename. Test: tests/test_npy.c. */
#ifndef FF_TOOLS_NPY_H
#define FF_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest .npy file read (a bert-large batch of 64 x 1024 x 1024 float64 is 512 MiB). */
#define FF_NPY_MAX_BYTES (UINT64_C(4) << 30)

typedef struct {
  int ndim;          /* 1..3 */
  int64_t shape[3];
  size_t numel;
  double *v;         /* (shape) row-major, as stored (float32 widened exactly) */
} ff_npy;

/* Reads path (a regular file of at most max_bytes; 0: FF_NPY_MAX_BYTES). FF_EFORMAT, logged naming the
 * file, for a wrong magic, an unknown version, a header that is not the format's dictionary, a dtype other
 * than '<f4' / '<f8' (big-endian ones named as such), Fortran order, a shape of 0 or more than 3 dimensions
 * or a zero dimension, a data part shorter or longer than the shape says. Values are not checked here
 * (NaN and Inf come back as they are). */
ff_status ff_npy_read(const char *path, uint64_t max_bytes, ff_npy *out);
void ff_npy_free(ff_npy *a);

/* Writes v (shape, row-major) as little-endian float32, version 1.0, by temp + rename (a failed write
 * leaves any earlier file whole). ndim 1..3. */
ff_status ff_npy_write_f32(const char *path, int ndim, const int64_t *shape, const double *v);

#ifdef __cplusplus
}
#endif

#endif
