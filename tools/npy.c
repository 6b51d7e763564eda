/* NumPy .npy reader and writer (tools/npy.h; the format is numpy.lib.format's: magic "\x93NUMPY", major and
 * minor version, a little-endian header length (u16 in 1.0, u32 in 2.0 and 3.0), a Python dict literal
 * {'descr': ..., 'fortran_order': ..., 'shape': (...)} padded with spaces and a newline, then the data).
 * Files are opened by the reader rules of issue 14 (ff_open_user_file: regular files only, a size cap)
 * and written by ff_write_file_atomic. Test: tests/test_npy.c. */
#include "tools/npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "tools/lib/analysis.h"

void ff_npy_free(ff_npy *a) {
  if (!a) return;
  free(a->v);
  memset(a, 0, sizeof *a);
}

/* ---- The header dictionary -------------------------------------------------------------------------- */

typedef struct {
  const char *p, *end;
} ff__npy_cur;

static void ff__npy_ws(ff__npy_cur *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int ff__npy_eat(ff__npy_cur *c, char ch) {
  ff__npy_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

/* A quoted Python string of at most n-1 characters (no escapes: the format's keys and dtypes have none). */
static int ff__npy_str(ff__npy_cur *c, char *out, size_t n) {
  ff__npy_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
  const char q = *c->p++;
  size_t k = 0;
  while (c->p < c->end && *c->p != q) {
    if (*c->p == '\\' || k + 1 >= n) return 0;
    out[k++] = *c->p++;
  }
  if (c->p >= c->end) return 0;
  c->p++;
  out[k] = '\0';
  return 1;
}

static int ff__npy_word(ff__npy_cur *c, const char *w) {
  ff__npy_ws(c);
  const size_t n = strlen(w);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n)) return 0;
  c->p += n;
  return 1;
}

/* (d0, d1, ...) with at most 3 numbers (more: *ndim = 4, refused by the caller), a trailing comma allowed. */
static int ff__npy_shape(ff__npy_cur *c, int *ndim, int64_t shape[3]) {
  *ndim = 0;
  if (!ff__npy_eat(c, '(')) return 0;
  for (;;) {
    if (ff__npy_eat(c, ')')) return 1;
    ff__npy_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
      if (v > (INT64_C(1) << 40)) return 0; /* far beyond any file this reader accepts */
      v = v * 10 + (*c->p++ - '0');
    }
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2's long suffix */
    if (*ndim < 3) shape[*ndim] = v;
    if (*ndim < 4) (*ndim)++;
    if (ff__npy_eat(c, ')')) return 1;
    if (!ff__npy_eat(c, ',')) return 0;
  }
}

/* Parses the dictionary: descr, fortran_order and shape, each exactly once, nothing else. */
static ff_status ff__npy_header(const char *path, const char *h, size_t n, char descr[16], int *fortran, int *ndim,
                                int64_t shape[3]) {
  ff__npy_cur c = {h, h + n};
  int got_d = 0, got_f = 0, got_s = 0;
  if (!ff__npy_eat(&c, '{')) goto bad;
  for (;;) {
    if (ff__npy_eat(&c, '}')) break;
    char key[32];
    if (!ff__npy_str(&c, key, sizeof key) || !ff__npy_eat(&c, ':')) goto bad;
    if (!strcmp(key, "descr") && !got_d) {
      if (!ff__npy_str(&c, descr, 16)) {
        FF_ERROR("input file %s: its dtype is not a simple one (a structured or sub-array dtype); save a plain "
                 "float32 or float64 array", path);
        return FF_EFORMAT;
      }
      got_d = 1;
    } else if (!strcmp(key, "fortran_order") && !got_f) {
      if (ff__npy_word(&c, "True")) *fortran = 1;
      else if (ff__npy_word(&c, "False")) *fortran = 0;
      else goto bad;
      got_f = 1;
    } else if (!strcmp(key, "shape") && !got_s) {
      if (!ff__npy_shape(&c, ndim, shape)) goto bad;
      got_s = 1;
    } else {
      FF_ERROR("input file %s: its header has the key '%s' (twice, or unknown to the .npy format)", path, key);
      return FF_EFORMAT;
    }
    if (ff__npy_eat(&c, '}')) break;
    if (!ff__npy_eat(&c, ',')) goto bad;
  }
  ff__npy_ws(&c);
  if (c.p != c.end || !got_d || !got_f || !got_s) goto bad;
  return FF_OK;
bad:
  FF_ERROR("input file %s: its header is not the .npy dictionary {'descr': ..., 'fortran_order': ..., 'shape': (...)}",
           path);
  return FF_EFORMAT;
}

/* ---- Reading ------------------------------------------------------------------------------------------ */

static uint32_t ff__npy_u16(const unsigned char *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8; }
static uint32_t ff__npy_u32(const unsigned char *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

ff_status ff_npy_read(const char *path, uint64_t max_bytes, ff_npy *out) {
  memset(out, 0, sizeof *out);
  if (!path) return FF_EINVAL;
  char *buf = NULL;
  size_t len = 0;
  ff_status st = ff_read_user_file(path, "input file", max_bytes ? max_bytes : FF_NPY_MAX_BYTES, &buf, &len);
  if (st) return st;
  const unsigned char *b = (const unsigned char *)buf;
  st = FF_EFORMAT;
  if (len < 10 || memcmp(b, "\x93NUMPY", 6)) {
    FF_ERROR("input file %s is not a NumPy .npy file (no \\x93NUMPY magic): save it with numpy.save", path);
    goto done;
  }
  const int major = b[6], minor = b[7];
  if (major < 1 || major > 3 || minor != 0) {
    FF_ERROR("input file %s: .npy format version %d.%d; this reader knows 1.0, 2.0 and 3.0", path, major, minor);
    goto done;
  }
  const size_t pre = major == 1 ? 10 : 12;
  if (len < pre) {
    FF_ERROR("input file %s is truncated (in its header)", path);
    goto done;
  }
  const size_t hl = major == 1 ? ff__npy_u16(b + 8) : ff__npy_u32(b + 8);
  if (hl > len - pre) {
    FF_ERROR("input file %s is truncated (its header says %zu bytes, the file has %zu after the prefix)", path, hl,
             len - pre);
    goto done;
  }
  char descr[16] = "";
  int fortran = 0, ndim = 0;
  int64_t shape[3] = {0, 0, 0};
  if ((st = ff__npy_header(path, buf + pre, hl, descr, &fortran, &ndim, shape))) goto done;
  st = FF_EFORMAT;
  size_t item = 0;
  if (!strcmp(descr, "<f4")) item = 4;
  else if (!strcmp(descr, "<f8")) item = 8;
  else if (!strcmp(descr, ">f4") || !strcmp(descr, ">f8")) {
    FF_ERROR("input file %s holds big-endian floats ('%s'); this reader takes little-endian ones: "
             "numpy.save(path, x.astype('<f4'))", path, descr);
    goto done;
  } else {
    FF_ERROR("input file %s has dtype '%s'; the input must be float32 or float64 ('<f4' or '<f8'): "
             "numpy.save(path, x.astype('<f4'))", path, descr);
    goto done;
  }
  if (fortran) {
    FF_ERROR("input file %s is in Fortran (column-major) order; save it in C order: "
             "numpy.save(path, numpy.ascontiguousarray(x))", path);
    goto done;
  }
  if (ndim < 1 || ndim > 3) {
    FF_ERROR("input file %s has %s dimensions; the input is (seq, d) or (batch, seq, d)", path,
             ndim > 3 ? "more than 3" : "0");
    goto done;
  }
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 1) {
      FF_ERROR("input file %s has an empty dimension (shape[%d] = 0)", path, i);
      goto done;
    }
    if (numel > (SIZE_MAX / 8) / (size_t)shape[i]) {
      FF_ERROR("input file %s: its shape is too large", path);
      goto done;
    }
    numel *= (size_t)shape[i];
  }
  const size_t data = len - pre - hl;
  if (data != numel * item) {
    FF_ERROR("input file %s is %s: its shape needs %zu bytes of data, the file holds %zu", path,
             data < numel * item ? "truncated" : "longer than its shape", numel * item, data);
    goto done;
  }
  if (!(out->v = malloc(numel * sizeof *out->v))) {
    FF_ERROR("input file %s: out of memory for %zu values", path, numel);
    st = FF_ENOMEM;
    goto done;
  }
  const unsigned char *d = b + pre + hl;
  for (size_t i = 0; i < numel; i++) {
    if (item == 4) {
      const uint32_t u = ff__npy_u32(d + 4 * i);
      float f;
      memcpy(&f, &u, 4);
      out->v[i] = f;
    } else {
      const uint64_t u = ff__npy_u32(d + 8 * i) | (uint64_t)ff__npy_u32(d + 8 * i + 4) << 32;
      memcpy(&out->v[i], &u, 8);
    }
  }
  out->ndim = ndim;
  memcpy(out->shape, shape, sizeof shape);
  out->numel = numel;
  st = FF_OK;
done:
  free(buf);
  if (st) ff_npy_free(out);
  return st;
}

/* ---- Writing ------------------------------------------------------------------------------------------ */

ff_status ff_npy_write_f32(const char *path, int ndim, const int64_t *shape, const double *v) {
  if (!path || ndim < 1 || ndim > 3 || !shape || !v) return FF_EINVAL;
  char dict[160];
  int k = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 1) return FF_EINVAL;
    numel *= (size_t)shape[i];
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%lld%s", (long long)shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
  }
  k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
  /* numpy pads the prefix + header with spaces to a multiple of 64 bytes, ending in a newline. */
  const size_t hl = ((10 + (size_t)k + 1 + 63) / 64) * 64 - 10, total = 10 + hl + 4 * numel;
  unsigned char *b = malloc(total);
  if (!b) return FF_ENOMEM;
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  b[8] = (unsigned char)(hl & 0xff);
  b[9] = (unsigned char)(hl >> 8);
  memset(b + 10, ' ', hl);
  memcpy(b + 10, dict, (size_t)k);
  b[10 + hl - 1] = '\n';
  unsigned char *d = b + 10 + hl;
  for (size_t i = 0; i < numel; i++) {
    const float f = (float)v[i];
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int j = 0; j < 4; j++) d[4 * i + (size_t)j] = (unsigned char)(u >> (8 * j));
  }
  const ff_status st = ff_write_file_atomic(path, b, total, 0644);
  free(b);
  return st;
}
