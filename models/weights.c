/* The weights file (docs/running.md "Weights"): a small JSON header naming each tensor and its
 * shape, then the values as little-endian float32 in the header's order, then a CRC32C of the values.
 * Written by scripts/export_hf.py from Hugging Face checkpoints and by ff_model_weights_save.
 * Test: tests/test_models.c. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/keystream.h"
#include "core/log.h"
#include "models/model.h"

#define FF__WMAGIC "FFWEIGHT"
#define FF__WVERSION 1u
#define FF__WHEADER_MAX (64u << 20)

static void ff__put_u32(unsigned char *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t ff__get_u32(const unsigned char *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

ff_status ff_model_weights_save(const ff_model_weights *w, const char *path) {
  if (!w || !w->cfg || !path) return FF_EINVAL;
  cJSON *h = cJSON_CreateObject(), *ts = cJSON_AddArrayToObject(h, "tensors");
  cJSON_AddStringToObject(h, "model", w->cfg->name);
  cJSON_AddStringToObject(h, "dtype", "float32");
  const ff_model_semantics *sem = &w->cfg->sem;
  if (sem->norm_eps || sem->gelu_tanh || sem->rope_base) {
    cJSON *c = cJSON_AddObjectToObject(h, "config");
    cJSON_AddNumberToObject(c, "norm_eps", sem->norm_eps);
    cJSON_AddStringToObject(c, "gelu", sem->gelu_tanh ? "tanh" : "erf");
    cJSON_AddNumberToObject(c, "rope_base", ff_model_rope_base(w->cfg));
  }
  for (int i = 0; i < w->n; i++) {
    cJSON *t = cJSON_CreateObject(), *sh = cJSON_AddArrayToObject(t, "shape");
    cJSON_AddStringToObject(t, "name", w->t[i].name);
    for (int k = 0; k < w->t[i].ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)w->t[i].shape[k]));
    cJSON_AddItemToArray(ts, t);
  }
  char *js = cJSON_PrintUnformatted(h);
  cJSON_Delete(h);
  if (!js) return FF_ENOMEM;
  FILE *f = fopen(path, "wb");
  if (!f) {
    FF_ERROR("cannot write weights file %s: %s", path, strerror(errno));
    free(js);
    return FF_EIO;
  }
  unsigned char hdr[16];
  memcpy(hdr, FF__WMAGIC, 8);
  ff__put_u32(hdr + 8, FF__WVERSION);
  ff__put_u32(hdr + 12, (uint32_t)strlen(js));
  int ok = fwrite(hdr, 1, 16, f) == 16 && fwrite(js, 1, strlen(js), f) == strlen(js);
  free(js);
  uint32_t crc = 0;
  const double one = ldexp(1.0, w->cfg->scale);
  for (int i = 0; ok && i < w->n; i++)
    for (size_t k = 0; ok && k < w->t[i].numel; k++) {
      const float v = (float)((double)w->t[i].v[k] / one);
      unsigned char b[4];
      uint32_t u;
      memcpy(&u, &v, 4);
      ff__put_u32(b, u);
      crc = ff_crc32c(crc, b, 4);
      ok = fwrite(b, 1, 4, f) == 4;
    }
  unsigned char cb[4];
  ff__put_u32(cb, crc);
  ok = ok && fwrite(cb, 1, 4, f) == 4;
  if (fclose(f) || !ok) {
    FF_ERROR("cannot write weights file %s", path);
    return FF_EIO;
  }
  return FF_OK;
}

/* Opens a weights file and reads its header: *f positioned at the values, *h the parsed header with model,
 * dtype "float32" and tensors checked to be there (FF_EFORMAT, logged naming the file, otherwise). */
static ff_status ff__weights_open(const char *path, FILE **fo, cJSON **ho) {
  *fo = NULL;
  *ho = NULL;
  /* Opened without blocking and fstat'ed: a FIFO or device is refused, never waited on or read without end. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  struct stat sb;
  if (fd < 0) {
    FF_ERROR("cannot open weights file %s: %s", path, strerror(errno));
    return FF_EIO;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    FF_ERROR("weights file %s is not a regular file (a FIFO, device or directory): copy the weights into a file", path);
    close(fd);
    return FF_EINVAL;
  }
  FILE *f = fcntl(fd, F_SETFL, 0) == 0 ? fdopen(fd, "rb") : NULL;
  if (!f) {
    FF_ERROR("cannot open weights file %s: %s", path, strerror(errno));
    close(fd);
    return FF_EIO;
  }
  char *js = NULL;
  cJSON *h = NULL;
  unsigned char hdr[16];
  if (fread(hdr, 1, 16, f) != 16 || memcmp(hdr, FF__WMAGIC, 8)) {
    FF_ERROR("%s is not a fusefss weights file (bad magic)", path);
    goto fail;
  }
  if (ff__get_u32(hdr + 8) != FF__WVERSION) {
    FF_ERROR("%s: weights file version %u, this fusefss reads version %u", path, ff__get_u32(hdr + 8), FF__WVERSION);
    goto fail;
  }
  const uint32_t hl = ff__get_u32(hdr + 12);
  if (hl == 0 || hl > FF__WHEADER_MAX || !(js = malloc(hl + 1)) || fread(js, 1, hl, f) != hl) {
    FF_ERROR("%s: the header (%u bytes) is missing or truncated", path, hl);
    goto fail;
  }
  js[hl] = '\0';
  h = cJSON_Parse(js);
  free(js);
  js = NULL;
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(h, "model"), *ts = cJSON_GetObjectItemCaseSensitive(h, "tensors");
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(h, "dtype");
  if (!h || !cJSON_IsString(model) || !cJSON_IsArray(ts) || !cJSON_IsString(dtype) || strcmp(dtype->valuestring, "float32")) {
    FF_ERROR("%s: the header is not valid (needs model, dtype \"float32\" and tensors)", path);
    goto fail;
  }
  *fo = f;
  *ho = h;
  return FF_OK;
fail:
  free(js); /* a header cut short (found by fuzz_weights in CI: a leak per refused file) */
  cJSON_Delete(h);
  fclose(f);
  return FF_EFORMAT;
}

/* The header's optional "config" (what the checkpoint says, written by scripts/export_hf.py):
 * {"norm_eps": number >= 0, "gelu": "erf" | "tanh", "rope_base": integer >= 2}, each optional. */
static ff_status ff__weights_config(const char *path, const cJSON *h, ff_model_semantics *sem, int *found) {
  memset(sem, 0, sizeof *sem);
  *found = 0;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(h, "config");
  if (!c) return FF_OK;
  const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c, "norm_eps"), *gelu = cJSON_GetObjectItemCaseSensitive(c, "gelu");
  const cJSON *rope = cJSON_GetObjectItemCaseSensitive(c, "rope_base");
  if (!cJSON_IsObject(c) || (eps && (!cJSON_IsNumber(eps) || !(eps->valuedouble >= 0) || eps->valuedouble > 1)) ||
      (gelu && (!cJSON_IsString(gelu) || (strcmp(gelu->valuestring, "erf") && strcmp(gelu->valuestring, "tanh")))) ||
      (rope && (!cJSON_IsNumber(rope) || !(rope->valuedouble >= 2) || rope->valuedouble > 4294967295.0 ||
                rope->valuedouble != floor(rope->valuedouble)))) {
    FF_ERROR("%s: the header's config is not valid (norm_eps a number in 0..1, gelu \"erf\" or \"tanh\", rope_base "
             "an integer in 2..2^32-1)", path);
    return FF_EFORMAT;
  }
  *found = 1;
  if (eps) sem->norm_eps = eps->valuedouble;
  if (gelu) sem->gelu_tanh = !strcmp(gelu->valuestring, "tanh");
  if (rope) sem->rope_base = rope->valuedouble == 10000.0 ? 0 : rope->valuedouble; /* 0 is 10000 (config.h) */
  return FF_OK;
}

ff_status ff_model_weights_semantics(const char *path, ff_model_semantics *sem, int *found) {
  memset(sem, 0, sizeof *sem);
  *found = 0;
  if (!path) return FF_EINVAL;
  FILE *f;
  cJSON *h;
  ff_status st = ff__weights_open(path, &f, &h);
  if (st) return st;
  st = ff__weights_config(path, h, sem, found);
  cJSON_Delete(h);
  fclose(f);
  return st;
}

ff_status ff_model_weights_load(const ff_model_config *cfg, const char *path, ff_model_weights *w) {
  memset(w, 0, sizeof *w);
  if (!cfg || !path) return FF_EINVAL;
  FILE *f;
  cJSON *h;
  ff_status st = ff__weights_open(path, &f, &h);
  if (st) return st;
  st = FF_EFORMAT;
  float *buf = NULL;
  unsigned char *got = NULL; /* (w->n) tensors read so far: a repeat must not stand in for a missing one */
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(h, "model"), *ts = cJSON_GetObjectItemCaseSensitive(h, "tensors");
  {
    ff_model_semantics unused;
    int found;
    if (ff__weights_config(path, h, &unused, &found)) goto done;
  }
  if (strcmp(model->valuestring, cfg->name)) {
    FF_ERROR("%s holds weights for model %s, not %s", path, model->valuestring, cfg->name);
    goto done;
  }
  if ((st = ff_model_weights_alloc(cfg, w))) goto done;
  if (!(got = calloc((size_t)w->n, 1))) {
    st = FF_ENOMEM;
    goto done;
  }
  st = FF_EFORMAT;
  /* The file's tensors in its order; each must be one of the model's, with its shape. */
  int seen = 0;
  uint32_t crc = 0;
  size_t cap = 0;
  const double one = ldexp(1.0, cfg->scale);
  const cJSON *t;
  cJSON_ArrayForEach(t, ts) {
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(t, "name"), *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    if (!cJSON_IsString(nm) || !cJSON_IsArray(sh)) {
      FF_ERROR("%s: a tensor entry lacks name or shape", path);
      goto done;
    }
    ff_model_tensor *mt = (ff_model_tensor *)ff_model_weights_get(w, nm->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (!mt) {
      FF_ERROR("%s: tensor %s is not a weight of %s", path, nm->valuestring, cfg->name);
      goto done;
    }
    if (nd != mt->ndim || (double)mt->shape[0] != cJSON_GetArrayItem(sh, 0)->valuedouble ||
        (nd == 2 && (double)mt->shape[1] != cJSON_GetArrayItem(sh, 1)->valuedouble)) {
      FF_ERROR("%s: tensor %s has the wrong shape for %s", path, nm->valuestring, cfg->name);
      goto done;
    }
    /* The model's count, not a product of the file's numbers: those are doubles of any size or sign
     * until they have been compared with the model's shape (found by fuzzing: a shape of 1e300). */
    const size_t numel = mt->numel;
    if (got[mt - w->t]++) {
      FF_ERROR("%s: tensor %s appears twice", path, nm->valuestring);
      goto done;
    }
    if (numel > cap) {
      free(buf);
      if (!(buf = malloc(numel * sizeof *buf))) {
        st = FF_ENOMEM;
        goto done;
      }
      cap = numel;
    }
    if (fread(buf, 4, numel, f) != numel) {
      FF_ERROR("%s is truncated (in tensor %s)", path, nm->valuestring);
      goto done;
    }
    crc = ff_crc32c(crc, buf, numel * 4);
    for (size_t k = 0; k < numel; k++) {
      const double v = (double)buf[k] * one;
      if (!isfinite(v) || fabs(v) > ldexp(1.0, cfg->bw - 2)) {
        FF_ERROR("%s: tensor %s holds %g, which does not fit the %d-bit ring", path, nm->valuestring, (double)buf[k], cfg->bw);
        goto done;
      }
      mt->v[k] = (int64_t)llround(v);
    }
    seen++;
  }
  unsigned char cb[4];
  if (seen != w->n) {
    FF_ERROR("%s holds %d of the %d weights of %s", path, seen, w->n, cfg->name);
    goto done;
  }
  if (fread(cb, 1, 4, f) != 4 || ff__get_u32(cb) != crc) {
    FF_ERROR("%s: the values' CRC32C does not match (corrupted or truncated file)", path);
    goto done;
  }
  if (fgetc(f) != EOF) {
    FF_ERROR("%s has bytes after its CRC", path);
    goto done;
  }
  st = FF_OK;
done:
  if (st) ff_model_weights_free(w);
  cJSON_Delete(h);
  free(buf);
  free(got);
  fclose(f);
  return st;
}
