/* Host tensors of ring elements with a shape (row-major, up to FF_TENSOR_MAX_DIMS dimensions).
 * Device tensors arrive with the CUDA gates; `where` already says which memory holds the data.
 * Test: tests/test_core.c. */
#ifndef FF_CORE_TENSOR_H
#define FF_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_TENSOR_MAX_DIMS 6

typedef enum { FF_MEM_HOST = 0, FF_MEM_DEVICE = 1 } ff_mem;

typedef struct {
  uint64_t *data;                      /* (shape...) ring elements, row-major */
  int ndim;
  int64_t shape[FF_TENSOR_MAX_DIMS];
  size_t numel;
  ff_mem where;
} ff_tensor;

/* Allocates a zeroed host tensor. Fails with FF_EINVAL for a bad shape and FF_ERANGE when the
 * element count overflows size_t. */
ff_status ff_tensor_alloc(ff_tensor *t, int ndim, const int64_t *shape);
void ff_tensor_free(ff_tensor *t);

/* Element count of a shape, or 0 with FF_ERANGE/FF_EINVAL in *st when it is invalid. */
size_t ff_shape_numel(int ndim, const int64_t *shape, ff_status *st);

/* "(128, 768)" into buf; returns buf. */
const char *ff_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
