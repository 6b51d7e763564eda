/* The model table, the weights (seeded and file) and the transformer graph (models/model.h): secure
 * inference by the dealer and both parties over the in-memory channel (tests/sigma_harness.h) equals
 * the fixed-point emulation exactly, stays within a printed bound of the float forward, costs exactly
 * what the cost-only op adds up, and consumes every key byte. CPU; runs in CI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/keystream.h"
#include "core/log.h"
#include "core/status.h"
#include "core/rand.h"
#include "gates/sigma/op.h"
#include "gates/sigma/op_internal.h" /* white box: the dealer's device path on a host stand-in */
#include "gates/suf/sparse.h"
#include "gates/suf/spec.h"
#include "models/config.h"
#include "models/model.h"
#include "sigma_harness.h"

/* ---- 1. The config table ------------------------------------------------------------------------------- */

/* research/sigma.md §6: layers, heads, d_model, FFN width (4d, Llama's own), attention, bw; scale 12. */
static const struct {
  const char *name;
  ff_model_arch arch;
  int layers, heads, d_model, d_ffn, causal, norm_qk, bw;
} expected_models[] = {
    {"bert-tiny", FF_ARCH_BERT, 2, 2, 128, 4 * 128, 0, 1, 37},
    {"bert-base", FF_ARCH_BERT, 12, 12, 768, 4 * 768, 0, 1, 50},
    {"bert-large", FF_ARCH_BERT, 24, 16, 1024, 4 * 1024, 0, 1, 50},
    {"gpt2", FF_ARCH_GPT, 12, 12, 768, 4 * 768, 1, 1, 50},
    {"gpt-neo", FF_ARCH_GPT, 24, 16, 2048, 4 * 2048, 1, 0, 51},
    {"gpt-neo-large", FF_ARCH_GPT, 32, 20, 2560, 4 * 2560, 1, 0, 51},
    {"llama7b", FF_ARCH_LLAMA, 32, 32, 4096, 11008, 1, 1, 48},
    {"llama13b", FF_ARCH_LLAMA, 40, 40, 5120, 13824, 1, 1, 48},
};
enum { N_MODELS = sizeof expected_models / sizeof expected_models[0] };

static void test_config_table(void **state) {
  (void)state;
  assert_int_equal(ff_model_count(), N_MODELS);
  for (int i = 0; i < N_MODELS; i++) {
    const ff_model_config *c = ff_model_find(expected_models[i].name);
    assert_non_null(c);
    assert_ptr_equal(c, ff_model_at(i)); /* the table's order is DESIGN's */
    assert_string_equal(c->name, expected_models[i].name);
    assert_int_equal(c->arch, expected_models[i].arch);
    assert_int_equal(c->layers, expected_models[i].layers);
    assert_int_equal(c->heads, expected_models[i].heads);
    assert_int_equal(c->d_model, expected_models[i].d_model);
    assert_int_equal(c->d_ffn, expected_models[i].d_ffn);
    assert_int_equal(c->causal, expected_models[i].causal);
    assert_int_equal(c->norm_qk, expected_models[i].norm_qk);
    assert_int_equal(c->bw, expected_models[i].bw);
    assert_int_equal(c->scale, 12);
    assert_int_equal(c->d_model % c->heads, 0);
    assert_int_equal(ff_model_head_dim(c) * c->heads, c->d_model);
    assert_non_null(c->about);
  }
  assert_null(ff_model_find("bert-huge"));
  assert_null(ff_model_find("llama-7b")); /* the README's spelling; SIGMA's code says llama7b */
  assert_null(ff_model_find(""));
  assert_null(ff_model_find(NULL));
  assert_null(ff_model_at(-1));
  assert_null(ff_model_at(N_MODELS));

  char buf[256];
  assert_string_equal(ff_model_list_names(buf, sizeof buf),
                      "bert-tiny, bert-base, bert-large, gpt2, gpt-neo, gpt-neo-large, llama7b, llama13b");
  char small[12];
  memset(small, 'x', sizeof small);
  ff_model_list_names(small, sizeof small); /* truncated, always NUL-terminated */
  assert_true(strlen(small) < sizeof small);
  assert_int_equal(strncmp(small, "bert-tiny", 9), 0);
}

/* ---- Tiny configs for the secure runs --------------------------------------------------------------------- */

/* GPT-2's shape at toy size: head dim 32 (odd log2), so 1/sqrt(d_h) takes the public multiply path. */
static const ff_model_config tiny_gpt2 = {"tiny-gpt2", FF_ARCH_GPT, 1, 2, 64, 256, 1, 1, 50, 12, "test", {0, 0, 0}, 0};
/* Llama's shape at toy size: head dim 32 (public multiply path), FFN 96 (not a multiple of d). */
static const ff_model_config tiny_llama = {"tiny-llama", FF_ARCH_LLAMA, 1, 2, 64, 96, 1, 1, 48, 12, "test", {0, 0, 0}, 0};
/* GPT-Neo's shape at toy size: no 1/sqrt(d_h). */
static const ff_model_config tiny_neo = {"tiny-neo", FF_ARCH_GPT, 1, 2, 64, 256, 1, 0, 51, 12, "test", {0, 0, 0}, 0};

/* ---- 2. Weights ----------------------------------------------------------------------------------------- */

static void assert_shape(const ff_model_weights *w, const char *name, int ndim, int64_t d0, int64_t d1) {
  const ff_model_tensor *t = ff_model_weights_get(w, name);
  if (!t) fail_msg("no tensor %s", name);
  assert_int_equal(t->ndim, ndim);
  assert_int_equal(t->shape[0], d0);
  if (ndim == 2) assert_int_equal(t->shape[1], d1);
  assert_int_equal(t->numel, (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1));
}

static void check_random_weights(const ff_model_config *c) {
  ff_model_weights a, b, z;
  assert_int_equal(ff_model_weights_random(c, 7, &a), FF_OK);
  assert_int_equal(ff_model_weights_random(c, 7, &b), FF_OK);
  assert_int_equal(ff_model_weights_random(c, 8, &z), FF_OK);
  assert_ptr_equal(a.cfg, c);
  const double one = ldexp(1.0, c->scale);
  for (int i = 0; i < a.n; i++) {
    const ff_model_tensor *t = &a.t[i];
    assert_string_equal(t->name, b.t[i].name);
    assert_memory_equal(t->v, b.t[i].v, t->numel * sizeof *t->v); /* same seed: same weights */
    assert_true(memcmp(t->v, z.t[i].v, t->numel * sizeof *t->v) != 0); /* another seed: others */
    size_t nonzero = 0;
    const int gain = t->ndim == 1 && strstr(t->name, ".g") != NULL;
    /* Documented ranges: matrices +-sqrt(3 / fan_in), biases +-0.1, gains 1 +- 0.1 (rounding: half a unit). */
    const double lim = t->ndim == 2 ? sqrt(3.0 / (double)t->shape[0]) : 0.1;
    for (size_t k = 0; k < t->numel; k++) {
      nonzero += t->v[k] != 0;
      const double v = (double)t->v[k] / one - (gain ? 1.0 : 0.0);
      if (fabs(v) > lim + 0.5 / one) fail_msg("%s[%zu] = %g outside +-%g", t->name, k, v, lim);
    }
    if (!nonzero) fail_msg("%s %s is all zero", c->name, t->name);
  }
  ff_model_weights_free(&a);
  ff_model_weights_free(&b);
  ff_model_weights_free(&z);
  assert_null(a.t);
}

static void test_weights_random(void **state) {
  (void)state;
  const ff_model_config *bt = ff_model_find("bert-tiny");
  ff_model_weights w;
  assert_int_equal(ff_model_weights_random(bt, 1, &w), FF_OK);
  assert_int_equal(w.n, 2 * 12);
  /* The documented list, in its order, for layer 0 (d 128, F 512). */
  static const char *bert_names[12] = {"attn.wqkv", "attn.bqkv", "attn.wo", "attn.bo", "norm1.g", "norm1.b",
                                       "ffn.w1",    "ffn.b1",    "ffn.w2",  "ffn.b2",  "norm2.g", "norm2.b"};
  for (int l = 0; l < 2; l++)
    for (int j = 0; j < 12; j++) {
      char name[FF_MODEL_TENSOR_NAME_MAX];
      snprintf(name, sizeof name, "layer%d.%s", l, bert_names[j]);
      assert_string_equal(w.t[l * 12 + j].name, name);
    }
  assert_shape(&w, "layer0.attn.wqkv", 2, 128, 384);
  assert_shape(&w, "layer0.attn.bqkv", 1, 384, 0);
  assert_shape(&w, "layer0.attn.wo", 2, 128, 128);
  assert_shape(&w, "layer1.ffn.w1", 2, 128, 512);
  assert_shape(&w, "layer1.ffn.b1", 1, 512, 0);
  assert_shape(&w, "layer1.ffn.w2", 2, 512, 128);
  assert_shape(&w, "layer1.norm2.b", 1, 128, 0);
  assert_null(ff_model_weights_get(&w, "layer2.attn.wqkv"));
  assert_null(ff_model_weights_get(&w, "attn.wqkv"));
  ff_model_weights_free(&w);

  /* Llama: 7 tensors per layer, no biases, no norm offsets. */
  assert_int_equal(ff_model_weights_random(&tiny_llama, 1, &w), FF_OK);
  assert_int_equal(w.n, 7);
  static const char *llama_names[7] = {"layer0.attn.wqkv", "layer0.attn.wo", "layer0.norm1.g", "layer0.ffn.wgate",
                                       "layer0.ffn.wup",   "layer0.ffn.wdown", "layer0.norm2.g"};
  for (int j = 0; j < 7; j++) assert_string_equal(w.t[j].name, llama_names[j]);
  for (int j = 0; j < w.n; j++) {
    const size_t len = strlen(w.t[j].name);
    assert_false(len >= 2 && w.t[j].name[len - 2] == '.' && w.t[j].name[len - 1] == 'b'); /* norm offsets */
    assert_null(strstr(w.t[j].name, ".b"));                                             /* biases */
  }
  assert_shape(&w, "layer0.attn.wqkv", 2, 64, 192);
  assert_shape(&w, "layer0.ffn.wgate", 2, 64, 96);
  assert_shape(&w, "layer0.ffn.wup", 2, 64, 96);
  assert_shape(&w, "layer0.ffn.wdown", 2, 96, 64);
  assert_shape(&w, "layer0.norm2.g", 1, 64, 0);
  ff_model_weights_free(&w);

  check_random_weights(bt);
  check_random_weights(&tiny_gpt2);
  check_random_weights(&tiny_llama);
}

/* ---- Weights files ---------------------------------------------------------------------------------------- */

typedef struct {
  char path[64];
} temp_path;

static void temp_make(temp_path *t) {
  snprintf(t->path, sizeof t->path, "/tmp/ff_test_models_XXXXXX");
  const int fd = mkstemp(t->path);
  assert_true(fd >= 0);
  close(fd);
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  const long len = ftell(f);
  assert_true(len > 0);
  rewind(f);
  unsigned char *b = sh_xmalloc((size_t)len);
  assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

static void put_u32(unsigned char *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* A weights file written by hand (weights.c's format: "FFWEIGHT", u32 version 1, u32 header length,
 * the JSON header, little-endian float32 values in the header's order, u32 CRC32C of the value bytes):
 * w's tensors in the order `order` (n_order indices into w->t; a tensor may be left out or repeated),
 * under the model name `model`. */
static void write_weights_by_hand(const char *path, const ff_model_weights *w, const char *model, const int *order,
                                  int n_order) {
  size_t cap = 256 + (size_t)n_order * 128, len = 0;
  char *js = sh_xmalloc(cap);
  len += (size_t)snprintf(js + len, cap - len, "{\"model\":\"%s\",\"dtype\":\"float32\",\"tensors\":[", model);
  for (int i = 0; i < n_order; i++) {
    const ff_model_tensor *t = &w->t[order[i]];
    if (t->ndim == 2)
      len += (size_t)snprintf(js + len, cap - len, "%s{\"name\":\"%s\",\"shape\":[%lld,%lld]}", i ? "," : "", t->name,
                              (long long)t->shape[0], (long long)t->shape[1]);
    else
      len += (size_t)snprintf(js + len, cap - len, "%s{\"name\":\"%s\",\"shape\":[%lld]}", i ? "," : "", t->name,
                              (long long)t->shape[0]);
  }
  len += (size_t)snprintf(js + len, cap - len, "]}");
  assert_true(len < cap);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  unsigned char hdr[16];
  memcpy(hdr, "FFWEIGHT", 8);
  put_u32(hdr + 8, 1);
  put_u32(hdr + 12, (uint32_t)len);
  assert_int_equal(fwrite(hdr, 1, 16, f), 16);
  assert_int_equal(fwrite(js, 1, len, f), len);
  uint32_t crc = 0;
  const double one = ldexp(1.0, w->cfg->scale);
  for (int i = 0; i < n_order; i++) {
    const ff_model_tensor *t = &w->t[order[i]];
    for (size_t k = 0; k < t->numel; k++) {
      const float v = (float)((double)t->v[k] / one);
      uint32_t u;
      unsigned char b[4];
      memcpy(&u, &v, 4);
      put_u32(b, u);
      crc = ff_crc32c(crc, b, 4);
      assert_int_equal(fwrite(b, 1, 4, f), 4);
    }
  }
  unsigned char cb[4];
  put_u32(cb, crc);
  assert_int_equal(fwrite(cb, 1, 4, f), 4);
  assert_int_equal(fclose(f), 0);
  free(js);
}

static void assert_weights_equal(const ff_model_weights *a, const ff_model_weights *b) {
  assert_int_equal(a->n, b->n);
  for (int i = 0; i < a->n; i++) {
    assert_string_equal(a->t[i].name, b->t[i].name);
    assert_int_equal(a->t[i].numel, b->t[i].numel);
    /* float32 holds |v| < 2^11 at 12 fractional bits exactly (24-bit significand): equal, not close. */
    for (size_t k = 0; k < a->t[i].numel; k++)
      if (a->t[i].v[k] != b->t[i].v[k])
        fail_msg("%s[%zu]: loaded %lld, saved %lld", a->t[i].name, k, (long long)b->t[i].v[k], (long long)a->t[i].v[k]);
  }
}

/* The load must refuse with FF_EFORMAT and leave w empty. */
static void assert_refused(const ff_model_config *c, const char *path, const char *what) {
  ff_model_weights w;
  memset(&w, 0xab, sizeof w);
  const ff_status st = ff_model_weights_load(c, path, &w);
  if (st != FF_EFORMAT) fail_msg("%s: load gave %d (%s), want FF_EFORMAT", what, st, ff_strerror(st));
  assert_null(w.t);
  assert_int_equal(w.n, 0);
}

static void test_weights_file(void **state) {
  (void)state;
  if (!ff_crc32c_supported()) skip(); /* the file's CRC32C needs SSE4.2, as the key streams do */
  const ff_model_config *bt = ff_model_find("bert-tiny");
  ff_model_weights w, r;
  assert_int_equal(ff_model_weights_random(bt, 3, &w), FF_OK);
  temp_path tf, bad;
  temp_make(&tf);
  temp_make(&bad);

  /* Round trip. */
  assert_int_equal(ff_model_weights_save(&w, tf.path), FF_OK);
  assert_int_equal(ff_model_weights_load(bt, tf.path, &r), FF_OK);
  assert_ptr_equal(r.cfg, bt);
  assert_weights_equal(&w, &r);
  ff_model_weights_free(&r);
  /* The hand-written writer agrees with the library's: same values and CRC (the headers may order their
   * JSON keys differently), and its file loads (so the refusals below refuse what they should). */
  int order[64];
  for (int i = 0; i < w.n; i++) order[i] = i;
  write_weights_by_hand(bad.path, &w, "bert-tiny", order, w.n);
  size_t len, len2;
  unsigned char *img = read_bytes(tf.path, &len), *img2 = read_bytes(bad.path, &len2);
  assert_int_equal(len, len2);
  const uint32_t hl = (uint32_t)img[12] | (uint32_t)img[13] << 8 | (uint32_t)img[14] << 16 | (uint32_t)img[15] << 24;
  const size_t data0 = 16 + hl;
  assert_memory_equal(img, img2, 16);
  assert_memory_equal(img + data0, img2 + data0, len - data0);
  free(img2);
  assert_int_equal(ff_model_weights_load(bt, bad.path, &r), FF_OK);
  assert_weights_equal(&w, &r);
  ff_model_weights_free(&r);
  /* A permuted order is fine too: the header says where each tensor is. */
  order[0] = 1, order[1] = 0;
  write_weights_by_hand(bad.path, &w, "bert-tiny", order, w.n);
  assert_int_equal(ff_model_weights_load(bt, bad.path, &r), FF_OK);
  assert_weights_equal(&w, &r);
  ff_model_weights_free(&r);
  order[0] = 0, order[1] = 1;

  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  size_t total = 0;
  for (int i = 0; i < w.n; i++) total += w.t[i].numel;
  assert_int_equal(len, data0 + 4 * total + 4); /* header, float32 values, CRC */

  /* Bad magic, bad version. */
  unsigned char *m = sh_xmalloc(len);
  memcpy(m, img, len);
  m[0] = 'X';
  write_bytes(bad.path, m, len);
  assert_refused(bt, bad.path, "bad magic");
  memcpy(m, img, len);
  m[8] = 2;
  write_bytes(bad.path, m, len);
  assert_refused(bt, bad.path, "version 2");
  /* Truncated: inside the fixed header, inside the JSON, at the data, inside the data, in and before the CRC. */
  const size_t cuts[] = {0, 4, 8, 15, 16, 16 + hl / 2, data0 - 1, data0, data0 + 1, data0 + 4 * 1000 + 2, len / 2,
                         len - 8, len - 5, len - 4, len - 3, len - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "cut at %zu of %zu", cuts[i], len);
    write_bytes(bad.path, img, cuts[i]);
    assert_refused(bt, bad.path, what);
  }
  /* A byte after the CRC. */
  memcpy(m, img, len);
  FILE *f = fopen(bad.path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(m, 1, len, f), len);
  assert_int_equal(fputc(0, f), 0);
  fclose(f);
  assert_refused(bt, bad.path, "trailing byte");
  /* A flipped data byte (the low mantissa byte: still a small finite value, so only the CRC sees it), a
   * flipped CRC byte, and a flipped exponent byte (a value too large for the ring, or the CRC). */
  const size_t flips[] = {data0 + 4 * 12345, len - 2, data0 + 4 * 777 + 3};
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    memcpy(m, img, len);
    m[flips[i]] ^= 0x40;
    write_bytes(bad.path, m, len);
    assert_refused(bt, bad.path, "flipped byte");
  }
  /* A header that is not JSON (same length). */
  memcpy(m, img, len);
  m[16] = '[';
  write_bytes(bad.path, m, len);
  assert_refused(bt, bad.path, "bad JSON");
  free(m);

  /* Weights of another model: by name, and by shape under the right name. */
  assert_refused(ff_model_find("bert-base"), tf.path, "bert-tiny's file for bert-base");
  assert_refused(ff_model_find("gpt2"), tf.path, "bert-tiny's file for gpt2");
  ff_model_config narrow = *bt;
  narrow.d_model = 64;
  assert_refused(&narrow, tf.path, "bert-tiny's file for a narrower bert-tiny");
  ff_model_config deeper = *bt;
  deeper.layers = 3;
  assert_refused(&deeper, tf.path, "bert-tiny's file for a deeper bert-tiny");

  /* A missing tensor (every position), a tensor not of the model, and a missing tensor whose place is
   * taken by a repeat of another of the same shape (the count alone would pass). */
  for (int skip = 0; skip < w.n; skip += 5) {
    int n = 0;
    for (int i = 0; i < w.n; i++)
      if (i != skip) order[n++] = i;
    write_weights_by_hand(bad.path, &w, "bert-tiny", order, n);
    assert_refused(bt, bad.path, "missing tensor");
  }
  for (int i = 0; i < w.n; i++) order[i] = i;
  order[5] = 4; /* layer0.norm1.b (128) replaced by a second layer0.norm1.g (128) */
  assert_int_equal(w.t[4].numel, w.t[5].numel);
  write_weights_by_hand(bad.path, &w, "bert-tiny", order, w.n);
  assert_refused(bt, bad.path, "repeated tensor in place of a missing one");
  ff_model_weights lw;
  assert_int_equal(ff_model_weights_random(&tiny_llama, 1, &lw), FF_OK);
  for (int i = 0; i < lw.n; i++) order[i] = i;
  write_weights_by_hand(bad.path, &lw, "bert-tiny", order, lw.n);
  assert_refused(bt, bad.path, "llama tensors under bert-tiny's name");
  ff_model_weights_free(&lw);

  ff_log_set_level(saved);
  free(img);
  unlink(tf.path);
  unlink(bad.path);
  ff_model_weights_free(&w);
}

/* ---- 3. Secure inference ----------------------------------------------------------------------------------- */

typedef struct {
  const ff_model_config *cfg;
  const ff_model_weights *w; /* P0's */
  int seq, batch;
  const int64_t *x;          /* P1's */
  const ff_suf_config *suf;  /* the suf switches (NULL: sigma) */
} model_arg;

/* The graph in every role: the session (P0's weights masked), one inference, the key streams consumed.
 * Runs in the harness's party threads: no cmocka asserts here, only statuses. */
static ff_status model_graph(ff_op *op, const void *arg, sh_result *r) {
  const model_arg *a = arg;
  const int party = ff_op_get_role(op) == FF_OP_PARTY ? ff_op_party(op) : -1;
  const size_t n = (size_t)a->seq * (size_t)a->batch * (size_t)a->cfg->d_model;
  ff_model_session *s = NULL;
  r->n_out = n;
  r->out_bw = a->cfg->bw;
  if (!(r->out = calloc(n, sizeof *r->out))) return FF_ENOMEM;
  ff_status st = ff_model_session_begin(op, a->cfg, party == 0 ? a->w : NULL, &s);
  ff_model_session_set_suf(s, a->suf);
  for (int p = 0; p < 2; p++) r->gate[p] = ff_op_cost(op, p); /* the session's share of the totals */
  if (!st) st = ff_model_infer(op, s, a->seq, a->batch, party == 1 ? a->x : NULL, party == 1 ? (int64_t *)(void *)r->out : NULL);
  if (!st) st = ff_op_check_consumed(op);
  ff_model_session_free(s);
  return st;
}

/* Runs cfg securely at (seq, batch) on seeded weights and input; checks the revealed output against the
 * emulation (==) and the float forward (< bound), and the costs against the cost-only op. */
static void check_inference_suite(const ff_model_config *c, int seq, int batch, double bound, const ff_suf_config *suf) {
  ff_model_weights w;
  int64_t *x = NULL;
  assert_int_equal(ff_model_weights_random(c, 101, &w), FF_OK);
  assert_int_equal(ff_model_input_random(c, seq, batch, 202, &x), FF_OK);
  const size_t n = (size_t)seq * (size_t)batch * (size_t)c->d_model;

  const model_arg a = {c, &w, seq, batch, x, suf};
  const sh_spec sp = {.bw = c->bw, .scale = c->scale, .graph = model_graph, .arg = &a};
  sh_run rr;
  sh_run_all(&sp, 303, &rr, NULL);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  assert_int_equal(rr.party[1].n_out, n);

  /* Exact: the secure output is the fixed-point emulation's, element for element. */
  int64_t *ye = sh_xmalloc(n * sizeof *ye);
  assert_int_equal(ff_model_emulate_suf(c, suf, &w, seq, batch, x, ye), FF_OK);
  const int64_t *ys = (const int64_t *)(const void *)rr.party[1].out;
  for (size_t i = 0; i < n; i++)
    if (ys[i] != ye[i]) fail_msg("%s seq %d batch %d element %zu: secure %lld, emulation %lld", c->name, seq, batch, i,
                                 (long long)ys[i], (long long)ye[i]);

  /* Against the float forward on the same fixed-point weights and input. */
  double *xf = sh_xmalloc(n * sizeof *xf), *yf = sh_xmalloc(n * sizeof *yf);
  const double one = ldexp(1.0, c->scale);
  for (size_t i = 0; i < n; i++) xf[i] = (double)x[i] / one;
  assert_int_equal(ff_model_float(c, &w, seq, batch, xf, yf), FF_OK);
  double max_err = 0, max_abs = 0;
  for (size_t i = 0; i < n; i++) {
    const double e = fabs((double)ys[i] / one - yf[i]);
    max_err = e > max_err ? e : max_err;
    max_abs = fabs(yf[i]) > max_abs ? fabs(yf[i]) : max_abs;
  }
  char knobs[512] = "sigma";
  if (suf) ff_suf_config_json(suf, knobs, sizeof knobs);
  printf("%-10s layers %d d %d heads %d bw %d seq %d batch %d, %s: max |secure - float| %.4f (bound %.2f; max |y| %.2f)\n",
         c->name, c->layers, c->d_model, c->heads, c->bw, seq, batch, knobs, max_err, bound, max_abs);
  if (!(max_err < bound)) fail_msg("%s: float error %g >= bound %g", c->name, max_err, bound);

  /* Costs: each party's measured totals == the cost-only op's for the same graph; the dealer wrote what
   * the party read; the stream held exactly key bytes plus tags (ff_op_check_consumed passed in the
   * graph, and the harness's close checked the stream is consumed). Rounds are per party, the cost-only
   * op counts the merged run's (max over the parties). They are compared for the inference alone: the
   * session sends P0's weight tensors back to back, which the channel pipelines into one round
   * (comm/chan.h), while the cost-only op charges one round per ff_op_input (ff_sigma_input_cost) --
   * a known mismatch of the cost model, reported; checked below as what each side says today. */
  for (int p = 0; p < 2; p++) {
    const ff_gate_cost got = rr.party[p].total[p], want = rr.cost.total[p];
    printf("  P%d: key %llu B, sent %llu bits / %llu B, %llu rounds (cost-only: %llu B, %llu bits, %llu B, %llu rounds)\n", p,
           (unsigned long long)got.key_bytes, (unsigned long long)got.bits_sent, (unsigned long long)got.bytes_sent,
           (unsigned long long)got.rounds, (unsigned long long)want.key_bytes, (unsigned long long)want.bits_sent,
           (unsigned long long)want.bytes_sent, (unsigned long long)want.rounds);
    assert_true(got.key_bytes > 0);
    assert_int_equal(got.key_bytes, want.key_bytes);
    assert_int_equal(got.bits_sent, want.bits_sent);
    assert_int_equal(got.bytes_sent, want.bytes_sent);
    assert_int_equal(rr.party[p].gate[p].key_bytes, rr.cost.gate[p].key_bytes);
    assert_int_equal(rr.party[p].gate[p].bytes_sent, rr.cost.gate[p].bytes_sent);
    assert_int_equal(rr.dealer.total[p].key_bytes, got.key_bytes);
    assert_int_equal(rr.dealer.tags[p], rr.party[p].tags[p]);
    assert_int_equal(rr.stream_bytes[p], got.key_bytes + rr.party[p].tags[p]);
  }
  /* The inference: merged rounds == cost-only's. */
  const uint64_t r0 = rr.party[0].total[0].rounds - rr.party[0].gate[0].rounds;
  const uint64_t r1 = rr.party[1].total[1].rounds - rr.party[1].gate[1].rounds;
  const uint64_t rc = rr.cost.total[0].rounds - rr.cost.gate[0].rounds;
  assert_int_equal(rc, r0 > r1 ? r0 : r1);
  assert_int_equal(rr.cost.total[1].rounds - rr.cost.gate[1].rounds, rc);
  if (c->weights_per_layer) {
    /* No session: each layer's weights enter inside the inference, one flight per layer (ff_op_input_many),
     * so the rounds above include them and agree exactly; nothing is charged before the inference. */
    for (int p = 0; p < 2; p++) {
      assert_int_equal(rr.cost.gate[p].key_bytes, 0);
      assert_int_equal(rr.cost.gate[p].rounds, 0);
      assert_int_equal(rr.party[p].gate[p].bytes_sent, 0);
    }
    printf("  inference with the weights per layer: %llu rounds (P0 %llu, P1 %llu)\n", (unsigned long long)rc,
           (unsigned long long)r0, (unsigned long long)r1);
    goto done;
  }
  /* The session: one pipelined round measured (P1 receives back to back: 1; P0's sends on a fresh
   * channel begin none, chan.h), merged 1; the cost-only op's one per tensor. */
  const int n_tensors = w.n;
  const uint64_t s0 = rr.party[0].gate[0].rounds, s1 = rr.party[1].gate[1].rounds;
  assert_int_equal(s0 > s1 ? s0 : s1, 1);
  printf("  inference: %llu rounds (P0 %llu, P1 %llu, cost-only %llu); session: 1 round measured, %llu cost-only (%d tensors)\n",
         (unsigned long long)rc, (unsigned long long)r0, (unsigned long long)r1, (unsigned long long)rc,
         (unsigned long long)rr.cost.gate[0].rounds, n_tensors);
  assert_true(rr.cost.gate[0].rounds == 1 || rr.cost.gate[0].rounds == (uint64_t)n_tensors);
done:
  sh_run_free(&rr);
  free(ye);
  free(xf);
  free(yf);
  free(x);
  ff_model_weights_free(&w);
}

/* The float bound. Measured max |secure - float| (printed per run): bert-tiny 1 layer seq 8 0.012, 2 layers
 * seq 32 0.012 (seq 128 0.029; the command line's run about 0.02), tiny GPT-2 0.018, tiny Llama 0.035,
 * tiny GPT-Neo 0.040 (no 1/sqrt(d_h): sharper softmax). One block's error is a few LSBs per truncation
 * (2^-12 each) plus the gates' table approximations -- softmax's exp and reciprocal, GELU/SiLU's
 * 6-fractional-bit clipped tables, the norms' rsqrt, rotary's 9-bit cos/sin -- amplified by the
 * norms' 1/sigma. 0.1 is 2.5x the worst seen (room for other seeds and the table errors adding up
 * over positions), yet well below the outputs' unit scale: a wrong gate (a dropped bias, a shift off
 * by one, a wrong head permutation) moves outputs by O(0.1 .. 1) and fails it. */
#define FLOAT_BOUND 0.1

static void check_inference(const ff_model_config *c, int seq, int batch, double bound) {
  check_inference_suite(c, seq, batch, bound, NULL);
}

/* The suf suite (gates/suf): every switch on, then each switch alone (any subset is a valid run), on the
 * four block orders: exact against the emulation of the gates that ran, costs as above, the same float
 * bound (suf's tables are coarser than SIGMA's at 1/32 - 1/64 steps; measured errors printed). */
static void test_infer_suf(void **state) {
  (void)state;
  ff_suf_config all, only[3];
  ff_suf_config_default(&all);
  for (int i = 0; i < 3; i++) {
    ff_suf_config_off(&only[i]);
    *(i == 0 ? &only[i].activation : i == 1 ? &only[i].softmax : &only[i].layernorm) = 1;
  }
  ff_model_config c = *ff_model_find("bert-tiny");
  c.layers = 1;
  check_inference_suite(&c, 8, 1, FLOAT_BOUND, &all);
  check_inference_suite(&tiny_gpt2, 8, 2, FLOAT_BOUND, &all);
  check_inference_suite(&tiny_llama, 8, 1, FLOAT_BOUND, &all);
  check_inference_suite(&tiny_neo, 8, 1, FLOAT_BOUND, &all);
  for (int i = 0; i < 3; i++) check_inference_suite(&tiny_gpt2, 8, 1, FLOAT_BOUND, &only[i]);
  /* the knobs: finer GELU, coarser nExp and rsqrt, a narrower view */
  ff_suf_config k = all;
  k.gelu_intervals = 1024, k.nexp_bits = 8, k.rsqrt_bits = 10, k.effective_bits = 28;
  check_inference_suite(&c, 8, 1, FLOAT_BOUND, &k);
}

/* The sparse regime (gates/suf/sparse.h) chosen by the knobs: SUF_GELU_INTERVALS / SUF_SILU_INTERVALS
 * <= 16 with SUF_DEGREE 0 or 1, and the --insecure-no-padding ablation; exact against the emulation and
 * costs as above (the ablation's cost is the bound where every rotation wraps, met with this mask seed).
 * The float bound grows with the activation's own stated bound e_act (err_bound, printed): FLOAT_BOUND +
 * 2 e_act. GELU with 16 lines on its +-4 window (e_act 0.017) is as accurate as the dense table; SiLU
 * with 16 lines on +-16 (0.126) and GELU with 16 constants (0.28) err more per element, and the FFN's down
 * projection sums those errors over its inputs: measured max |secure - float| 0.021, 0.155 and 0.28
 * (bounds 0.13, 0.35 and 0.66, printed), still below what a wrong piece, tail or slope does. */
static void check_sparse(const ff_model_config *c, ff_suf_fn fn, const ff_suf_config *k) {
  const ff_suf_sparse_spec *sp = ff_suf_sparse_spec_for(fn, k, c->bw, c->scale);
  assert_non_null(sp);
  printf("sparse %s: K %d window pieces, degree %d, stated error bound %.4f\n", sp->name, sp->k_window, sp->window_degree,
         sp->err_bound);
  check_inference_suite(c, 8, 1, FLOAT_BOUND + 2 * sp->err_bound, k);
}

static void test_infer_suf_sparse(void **state) {
  (void)state;
  ff_model_config c = *ff_model_find("bert-tiny");
  c.layers = 1;
  ff_suf_config k;
  ff_suf_config_off(&k);
  k.activation = 1, k.gelu_intervals = 16, k.silu_intervals = 16, k.degree = 1;
  check_sparse(&c, FF_SUF_GELU, &k);
  check_sparse(&tiny_llama, FF_SUF_SILU, &k);
  ff_suf_config all;
  ff_suf_config_default(&all);
  all.gelu_intervals = 16, all.degree = 0;
  check_sparse(&c, FF_SUF_GELU, &all);
  k.insecure_no_padding = 1;
  check_sparse(&c, FF_SUF_GELU, &k);
}

static void test_infer_bert_tiny(void **state) {
  (void)state;
  ff_model_config c = *ff_model_find("bert-tiny");
  c.layers = 1;
  check_inference(&c, 8, 1, FLOAT_BOUND);
}

/* Both of bert-tiny's layers (the second layer's weights, the layer loop) at a longer sequence. */
static void test_infer_bert_tiny_full(void **state) {
  (void)state;
  check_inference(ff_model_find("bert-tiny"), 32, 1, FLOAT_BOUND);
}

static void test_infer_gpt2_tiny(void **state) {
  (void)state;
  check_inference(&tiny_gpt2, 8, 2, FLOAT_BOUND);
}

static void test_infer_llama_tiny(void **state) {
  (void)state;
  check_inference(&tiny_llama, 8, 1, FLOAT_BOUND);
}

static void test_infer_neo_tiny(void **state) {
  (void)state;
  check_inference(&tiny_neo, 8, 1, FLOAT_BOUND);
}

/* The cost-only op's session and one inference of c at seq 8. */
static void cost_of(const ff_model_config *c, ff_gate_cost session[2], ff_gate_cost infer[2]) {
  const ff_op_params p = {.role = FF_OP_COST, .bw = c->bw, .scale = c->scale};
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  assert_int_equal(ff_model_session_begin(op, c, NULL, &s), FF_OK);
  for (int q = 0; q < 2; q++) session[q] = ff_op_cost(op, q);
  assert_int_equal(ff_model_infer(op, s, 8, 1, NULL, NULL), FF_OK);
  for (int q = 0; q < 2; q++) {
    const ff_gate_cost t = ff_op_cost(op, q);
    infer[q] = (ff_gate_cost){t.key_bytes - session[q].key_bytes, t.bits_sent - session[q].bits_sent,
                              t.bytes_sent - session[q].bytes_sent, t.rounds - session[q].rounds};
  }
  ff_model_session_free(s);
  ff_op_destroy(op);
}

/* --weights-per-layer (models/config.h): each layer's weights masked at every inference right before the
 * layer. The secure output still equals the emulation and the costs the cost-only op's, rounds included
 * (check_inference), on both of bert-tiny's layers and a two-layer tiny Llama; and the inference's keys and
 * link are exactly the session's and the inference's of the default mode, with one round more per layer
 * (the layer's weights go as one flight). */
static void test_infer_weights_per_layer(void **state) {
  (void)state;
  ff_model_config b = *ff_model_find("bert-tiny"), l = tiny_llama;
  l.layers = 2;
  const ff_model_config *cs[2] = {&b, &l};
  for (int i = 0; i < 2; i++) {
    ff_model_config per = *cs[i];
    per.weights_per_layer = 1;
    check_inference(&per, 8, 1, FLOAT_BOUND);
    ff_gate_cost s0[2], i0[2], s1[2], i1[2];
    cost_of(cs[i], s0, i0);
    cost_of(&per, s1, i1);
    for (int q = 0; q < 2; q++) {
      assert_int_equal(s1[q].key_bytes, 0);
      assert_int_equal(s1[q].bytes_sent, 0);
      assert_true(s0[q].key_bytes > 0 || q == 1); /* P0's weight masks; P1 has none */
      assert_int_equal(i1[q].key_bytes, i0[q].key_bytes + s0[q].key_bytes);
      assert_int_equal(i1[q].bits_sent, i0[q].bits_sent + s0[q].bits_sent);
      assert_int_equal(i1[q].bytes_sent, i0[q].bytes_sent + s0[q].bytes_sent);
      assert_int_equal(i1[q].rounds, i0[q].rounds + (uint64_t)per.layers);
    }
  }
}

/* Hugging Face's semantics (models/config.h ff_model_semantics) and another scale: the secure output still
 * equals the emulation, the costs the cost-only op's (check_inference), and each option changes the
 * emulation's output (it is not ignored): Llama with RMSNorm epsilon and rope base 500000 at scale 14, GPT-2
 * with LayerNorm epsilon and the tanh GELU at scale 16 (the softmax rescaled to 12 and back). */
static void check_changes(const ff_model_config *a, const ff_model_config *b, int seq) {
  ff_model_weights w;
  int64_t *x = NULL;
  const size_t n = (size_t)seq * (size_t)a->d_model;
  int64_t *ya = sh_xmalloc(n * sizeof *ya), *yb = sh_xmalloc(n * sizeof *yb);
  assert_int_equal(ff_model_weights_random(a, 101, &w), FF_OK);
  assert_int_equal(ff_model_input_random(a, seq, 1, 202, &x), FF_OK);
  assert_int_equal(ff_model_emulate(a, &w, seq, 1, x, ya), FF_OK);
  w.cfg = b;
  assert_int_equal(ff_model_emulate(b, &w, seq, 1, x, yb), FF_OK);
  size_t diff = 0;
  for (size_t i = 0; i < n; i++) diff += ya[i] != yb[i];
  printf("  %s: %zu of %zu outputs change with the option\n", a->name, diff, n);
  assert_true(diff > 0);
  w.cfg = a;
  ff_model_weights_free(&w);
  free(x), free(ya), free(yb);
}

static void test_infer_semantics(void **state) {
  (void)state;
  ff_model_config l = tiny_llama, g = tiny_gpt2;
  l.scale = 14;
  l.sem.norm_eps = 1e-6;
  l.sem.rope_base = 500000;
  check_inference(&l, 8, 1, FLOAT_BOUND);
  ff_model_config l0 = l;
  l0.sem.rope_base = 0;
  check_changes(&l, &l0, 8);
  g.scale = 16;
  g.sem.norm_eps = 1e-5;
  g.sem.gelu_tanh = 1;
  check_inference(&g, 8, 1, FLOAT_BOUND);
  ff_model_config g0 = g;
  g0.sem.gelu_tanh = 0;
  check_changes(&g, &g0, 8);
  g0 = g;
  g0.sem.norm_eps = 0.5; /* a large epsilon, so that its effect shows through the rounding */
  check_changes(&g, &g0, 8);
}

/* ---- 4. Refusals ------------------------------------------------------------------------------------------ */

static void test_graph_refusals(void **state) {
  (void)state;
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  const ff_model_config *bt = ff_model_find("bert-tiny");
  ff_op *op = NULL, *op50 = NULL;
  const ff_op_params p = {.role = FF_OP_COST, .bw = bt->bw, .scale = bt->scale};
  const ff_op_params p50 = {.role = FF_OP_COST, .bw = 50, .scale = bt->scale};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  assert_int_equal(ff_op_create(&op50, &p50), FF_OK);
  ff_model_session *s = NULL;
  assert_int_equal(ff_model_session_begin(op50, bt, NULL, &s), FF_EINVAL); /* bert-tiny is bw 37 */
  assert_null(s);
  assert_int_equal(ff_model_session_begin(op, bt, NULL, &s), FF_OK);
  assert_non_null(s);
  for (int seq = -1; seq < 3; seq++) assert_int_equal(ff_model_infer(op, s, seq, 1, NULL, NULL), FF_EINVAL);
  assert_int_equal(ff_model_infer(op, s, 8, 0, NULL, NULL), FF_EINVAL);
  assert_int_equal(ff_model_infer(op, s, 3, 1, NULL, NULL), FF_OK); /* the smallest softmax */
  ff_model_session_free(s);

  /* The references refuse the same shapes, and weights of another model. */
  ff_model_weights w;
  int64_t x[2 * 128] = {0}, y[2 * 128];
  assert_int_equal(ff_model_weights_random(bt, 1, &w), FF_OK);
  assert_int_equal(ff_model_emulate(bt, &w, 2, 1, x, y), FF_EINVAL);
  assert_int_equal(ff_model_emulate(&tiny_gpt2, &w, 3, 1, x, y), FF_EINVAL);
  ff_model_weights_free(&w);
  ff_op_destroy(op);
  ff_op_destroy(op50);
  ff_log_set_level(saved);
}

/* ---- 6. The dealer's device path, on a host stand-in ----------------------------------------------------
 * The path a dealer on a GPU takes with deal_on_device (gates/sigma/op_internal.h) run on the kernels' CPU
 * twins (op->deal_ctx a host context, white box): its draws, layouts and writes give the host path's key
 * streams byte for byte, and it really ran (key bytes counted as made by it). On a GPU, test_dealer_cuda
 * compares the CUDA path the same way; this runs the orchestration in CI. */
static void deal_streams(const ff_model_config *cfg, int seq, const ff_suf_config *suf, int device_path,
                         ff_keystream *ks[2], uint64_t made[2]) {
  ff_ctx ctx, stand_in;
  assert_int_equal(ff_ctx_init(&ctx, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  assert_int_equal(ff_ctx_init(&stand_in, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  ff_rng_init_seeded(&ctx.rng, 0xdea1);
  for (int q = 0; q < 2; q++) {
    ff_keystream_params kp = {.party = q, .run_id = "device-path", .meta = cfg->name};
    assert_int_equal(ff_keystream_create_mem(&kp, &ks[q]), FF_OK);
  }
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  ff_op_params p = {.role = FF_OP_DEALER, .bw = cfg->bw, .scale = cfg->scale, .ctx = &ctx, .keys = {ks[0], ks[1]}};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  if (device_path) op->deal_ctx = &stand_in;
  assert_int_equal(ff_model_session_begin(op, cfg, NULL, &s), FF_OK);
  ff_model_session_set_suf(s, suf);
  assert_int_equal(ff_model_infer(op, s, seq, 1, NULL, NULL), FF_OK);
  for (int q = 0; q < 2; q++) {
    assert_int_equal(ff_keystream_finish(ks[q]), FF_OK);
    made[q] = op->dev_path_B[q];
  }
  ff_model_session_free(s);
  ff_op_destroy(op);
  ff_ctx_destroy(&stand_in);
  ff_ctx_destroy(&ctx);
}

static void test_dealer_device_path_on_host(void **state) {
  (void)state;
  const ff_model_config *bt = ff_model_find("bert-tiny"), *g2 = ff_model_find("gpt2"), *ll = ff_model_find("llama7b");
  assert_non_null(bt);
  assert_non_null(g2);
  assert_non_null(ll);
  ff_model_config gpt2 = *g2, llama = *ll;
  gpt2.layers = 1;
  llama.layers = 1, llama.heads = 4, llama.d_model = 256, llama.d_ffn = 688; /* Llama's gates, narrowed */
  const struct {
    const ff_model_config *cfg;
    int seq;
  } cases[] = {{bt, 16}, {&gpt2, 8}, {&llama, 8}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int on = 0; on < 2; on++) {
      ff_suf_config suf;
      if (on) ff_suf_config_default(&suf);
      else ff_suf_config_off(&suf);
      assert_int_equal(ff_suf_config_check(&suf, cases[c].cfg->bw, cases[c].cfg->scale), FF_OK);
      ff_keystream *host[2], *dev[2];
      uint64_t made_host[2], made_dev[2];
      deal_streams(cases[c].cfg, cases[c].seq, &suf, 0, host, made_host);
      deal_streams(cases[c].cfg, cases[c].seq, &suf, 1, dev, made_dev);
      for (int q = 0; q < 2; q++) {
        const void *a, *b;
        size_t na, nb;
        assert_int_equal(ff_keystream_mem_image(host[q], &a, &na), FF_OK);
        assert_int_equal(ff_keystream_mem_image(dev[q], &b, &nb), FF_OK);
        print_message("%s seq %d %s, party %d: %zu key stream bytes, %llu made by the device path\n",
                      cases[c].cfg->name, cases[c].seq, on ? "suf" : "sigma", q, na, (unsigned long long)made_dev[q]);
        assert_int_equal(made_host[q], 0);
        assert_true(made_dev[q] > 0 && made_dev[q] < nb);
        assert_int_equal(na, nb);
        if (memcmp(a, b, na)) {
          size_t i = 0;
          while (((const uint8_t *)a)[i] == ((const uint8_t *)b)[i]) i++;
          fail_msg("%s %s, party %d: the device path's key stream first differs at byte %zu of %zu",
                   cases[c].cfg->name, on ? "suf" : "sigma", q, i, na);
        }
        ff_keystream_close(host[q], 0);
        ff_keystream_close(dev[q], 0);
      }
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_table),        cmocka_unit_test(test_weights_random),
      cmocka_unit_test(test_weights_file),        cmocka_unit_test(test_infer_bert_tiny),
      cmocka_unit_test(test_infer_bert_tiny_full), cmocka_unit_test(test_infer_gpt2_tiny),
      cmocka_unit_test(test_infer_llama_tiny),    cmocka_unit_test(test_infer_neo_tiny),
      cmocka_unit_test(test_graph_refusals),      cmocka_unit_test(test_infer_suf),
      cmocka_unit_test(test_infer_suf_sparse),    cmocka_unit_test(test_infer_semantics),
      cmocka_unit_test(test_infer_weights_per_layer), cmocka_unit_test(test_dealer_device_path_on_host),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
