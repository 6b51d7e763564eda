/* Host tensor allocation with overflow-checked shapes. Test: tests/test_core.c. */
#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

size_t ff_shape_numel(int ndim, const int64_t *shape, ff_status *st) {
  *st = FF_OK;
  if (ndim < 0 || ndim > FF_TENSOR_MAX_DIMS) {
    *st = FF_EINVAL;
    return 0;
  }
  size_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] <= 0) {
      *st = FF_EINVAL;
      return 0;
    }
    if ((uint64_t)shape[i] > SIZE_MAX / n / sizeof(uint64_t)) {
      *st = FF_ERANGE;
      return 0;
    }
    n *= (size_t)shape[i];
  }
  return n;
}

ff_status ff_tensor_alloc(ff_tensor *t, int ndim, const int64_t *shape) {
  char buf[128];
  memset(t, 0, sizeof *t);
  ff_status st;
  size_t n = ff_shape_numel(ndim, shape, &st);
  if (st) {
    FF_ERROR("tensor shape %s is invalid or too large", ff_shape_str(ndim, shape, buf, sizeof buf));
    return st;
  }
  t->data = calloc(n, sizeof(uint64_t));
  if (!t->data) {
    FF_ERROR("cannot allocate a tensor of shape %s (%zu bytes)", ff_shape_str(ndim, shape, buf, sizeof buf),
             n * sizeof(uint64_t));
    return FF_ENOMEM;
  }
  t->ndim = ndim;
  memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
  t->numel = n;
  t->where = FF_MEM_HOST;
  return FF_OK;
}

void ff_tensor_free(ff_tensor *t) {
  if (t->where == FF_MEM_HOST) free(t->data);
  memset(t, 0, sizeof *t);
}

const char *ff_shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
  size_t off = 0;
  off += (size_t)snprintf(buf + off, n - off, "(");
  for (int i = 0; i < ndim && ndim <= FF_TENSOR_MAX_DIMS && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (off < n) snprintf(buf + off, n - off, ")");
  return buf;
}
