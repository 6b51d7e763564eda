/* The seed generator of the fuzz harnesses (docs/fuzzing.md): writes, by running the real writers,
 *   OUT/keystream/  each given key file (`fusefss keygen`, read with its KEYFILE.mac) re-written with its
 *                   header fields and its first key bytes in 512-byte chunks, so that a seed is a few
 *                   KiB, without a MAC and with one under ff_fuzz_mac_key; plus an empty stream
 *   OUT/dpf_key/ dcf_key/ lut_key/ select_key/ sstab_key/  keys dealt by the real keygens, each behind
 *                   the shape bytes its harness reads (fuzz_fss_key.c)
 *   OUT/weights/    files of ff_model_weights_save for the configurations of fuzz_util.c
 *   OUT/sigma_party/  both parties' key files of the real dealer for those configurations, sigma and
 *                   suf (fuzz_deal.c)
 *   OUT/npy/        files of ff_npy_write_f32 (1, 2 and 3 dimensions), and the 1.0 header of one re-written
 *                   to '<f8' with its data widened
 *   OUT/cli/        option values from `fusefss --help` and the docs
 * Usage: fuzz_seeds OUT [KEYFILE ...]. The logs and merged files come from make_seeds.sh. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ctx.h"
#include "core/keystream.h"
#include "gates/fss/dcf.h"
#include "gates/fss/dpf.h"
#include "gates/fss/lut.h"
#include "gates/fss/select.h"
#include "gates/fss/sstab.h"
#include "models/model.h"
#include "tools/npy.h"
#include "fuzz_deal.h"
#include "fuzz_util.h"

#define KEYSTREAM_SEED_PAYLOAD 3000 /* key bytes kept from each key file */

static const char *g_out;

_Noreturn static void fail(const char *what) {
  fprintf(stderr, "fuzz_seeds: %s\n", what);
  exit(1);
}

static const char *dir(const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", g_out, name);
  if (mkdir(path, 0777) != 0 && errno != EEXIST) fail("cannot create a seed directory");
  return path;
}

/* Writes head (h_n bytes) then body (b_n bytes) to OUT/sub/name. */
static void put(const char *sub, const char *name, const void *head, size_t h_n, const void *body, size_t b_n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir(sub), name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(head, 1, h_n, f) != h_n || fwrite(body, 1, b_n, f) != b_n || fclose(f) != 0)
    fail("cannot write a seed");
}

/* KEYFILE.mac: 64 hex digits (tools/run.c writes it beside each key file). */
static void read_mac_key(const char *keyfile, uint8_t key[FF_KEYSTREAM_MAC_KEY_BYTES]) {
  char path[4096], hex[2 * FF_KEYSTREAM_MAC_KEY_BYTES + 1] = "";
  snprintf(path, sizeof path, "%s.mac", keyfile);
  FILE *f = fopen(path, "r");
  if (!f || fread(hex, 1, sizeof hex - 1, f) != sizeof hex - 1) fail("cannot read a MAC key file");
  fclose(f);
  for (size_t i = 0; i < FF_KEYSTREAM_MAC_KEY_BYTES; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) fail("a MAC key file is not hex");
    key[i] = (uint8_t)v;
  }
}

/* A key file re-chunked small: the same header fields and metadata, its first key bytes; with_mac:
 * tagged under ff_fuzz_mac_key. */
static void keystream_seed(const char *keyfile, int index, int with_mac) {
  ff_keystream *in = NULL, *out = NULL;
  uint8_t key[FF_KEYSTREAM_MAC_KEY_BYTES];
  read_mac_key(keyfile, key);
  if (ff_keystream_open_file_mac(keyfile, key, &in) != FF_OK) fail("cannot read a key file");
  size_t n = ff_keystream_remaining(in) < KEYSTREAM_SEED_PAYLOAD ? (size_t)ff_keystream_remaining(in)
                                                                 : KEYSTREAM_SEED_PAYLOAD;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf || ff_keystream_read(in, buf, n) != FF_OK) fail("cannot read a key file's payload");
  ff_keystream_params p = {.party = ff_keystream_party(in), .run_id = ff_keystream_run_id(in),
                           .meta = ff_keystream_meta(in, NULL), .chunk_size = 512,
                           .dealing_id = ff_keystream_dealing_id(in), .mac_key = with_mac ? ff_fuzz_mac_key : NULL};
  const void *img;
  size_t img_n;
  if (ff_keystream_create_mem(&p, &out) != FF_OK || ff_keystream_write(out, buf, n) != FF_OK ||
      ff_keystream_finish(out) != FF_OK || ff_keystream_mem_image(out, &img, &img_n) != FF_OK)
    fail("cannot write a key stream");
  char name[64];
  snprintf(name, sizeof name, "keygen_%d%s", index, with_mac ? "_mac" : "");
  put("keystream", name, img, img_n, "", 0);
  ff_keystream_close(out, 0);
  ff_keystream_close(in, 0);
  free(buf);
}

static void empty_keystream_seed(void) {
  ff_keystream_params p = {.party = 1, .run_id = "fuzz", .meta = "{}", .chunk_size = 16};
  ff_keystream *ks = NULL;
  const void *img;
  size_t img_n;
  if (ff_keystream_create_mem(&p, &ks) != FF_OK || ff_keystream_finish(ks) != FF_OK ||
      ff_keystream_mem_image(ks, &img, &img_n) != FF_OK)
    fail("cannot write an empty key stream");
  put("keystream", "empty", img, img_n, "", 0);
  ff_keystream_close(ks, 0);
}

static uint64_t *draw(ff_ctx *ctx, size_t n) {
  uint64_t *v = malloc(n * sizeof *v);
  if (!v) fail("out of memory");
  for (size_t i = 0; i < n; i++) v[i] = ff_rng_u64(&ctx->rng);
  return v;
}

/* Serializes party 0's and party 1's keys behind the shape bytes (N is the byte N: fuzz_fss_key.c's
 * pick_N maps bytes below 240 to N mod 9). */
#define SEED_PAIR(sub, tag, shape, nshape, k0, k1, serialize, bytes)                                      \
  do {                                                                                                      \
    const size_t b_ = (bytes);                                                                              \
    uint8_t *s_ = malloc(b_);                                                                               \
    char name_[64];                                                                                         \
    if (!s_) fail("out of memory");                                                                         \
    if (serialize(&(k0), s_, b_) != FF_OK) fail("cannot serialize a key");                                  \
    snprintf(name_, sizeof name_, "%s_p0", tag);                                                            \
    put(sub, name_, shape, nshape, s_, b_);                                                                 \
    if (serialize(&(k1), s_, b_) != FF_OK) fail("cannot serialize a key");                                  \
    snprintf(name_, sizeof name_, "%s_p1", tag);                                                            \
    put(sub, name_, shape, nshape, s_, b_);                                                                 \
    free(s_);                                                                                               \
  } while (0)

static void key_seeds(ff_ctx *ctx) {
  char tag[64];
  const size_t N = 3;
  static const int dpf_n[] = {8, 13, 37};
  for (size_t i = 0; i < 3; i++) {
    ff_dpf_key k0, k1;
    uint64_t *alpha = draw(ctx, N);
    if (ff_dpf_key_alloc(ctx, &k0, dpf_n[i], N) || ff_dpf_key_alloc(ctx, &k1, dpf_n[i], N) ||
        ff_dpf_keygen(ctx, alpha, &k0, &k1))
      fail("DPF keygen");
    const uint8_t shape[] = {(uint8_t)dpf_n[i], (uint8_t)N};
    snprintf(tag, sizeof tag, "n%d", dpf_n[i]);
    SEED_PAIR("dpf_key", tag, shape, sizeof shape, k0, k1, ff_dpf_key_serialize, k0.bytes);
    ff_dpf_key_free(&k0), ff_dpf_key_free(&k1), free(alpha);
  }
  static const int dcf[][3] = {{8, 1, 37}, {16, 2, 64}, {5, 3, 13}}; /* n, p, bw */
  for (size_t i = 0; i < 3; i++) {
    ff_dcf_key k0, k1;
    uint64_t *alpha = draw(ctx, N), *beta = draw(ctx, N * (size_t)dcf[i][1]);
    if (ff_dcf_key_alloc(ctx, &k0, dcf[i][0], dcf[i][1], dcf[i][2], N) ||
        ff_dcf_key_alloc(ctx, &k1, dcf[i][0], dcf[i][1], dcf[i][2], N) || ff_dcf_keygen(ctx, alpha, beta, &k0, &k1))
      fail("DCF keygen");
    const uint8_t shape[] = {(uint8_t)dcf[i][0], (uint8_t)dcf[i][1], (uint8_t)dcf[i][2], (uint8_t)N};
    snprintf(tag, sizeof tag, "n%d_p%d_bw%d", dcf[i][0], dcf[i][1], dcf[i][2]);
    SEED_PAIR("dcf_key", tag, shape, sizeof shape, k0, k1, ff_dcf_key_serialize, k0.bytes);
    ff_dcf_key_free(&k0), ff_dcf_key_free(&k1), free(alpha), free(beta);
  }
  static const int lut[][3] = {{8, 16, 1}, {10, 37, 2}}; /* b, b_out, tables */
  for (size_t i = 0; i < 2; i++) {
    ff_lut_key k0, k1;
    uint64_t *r_in = draw(ctx, N), *r_out = draw(ctx, N * (size_t)lut[i][2]);
    if (ff_lut_key_alloc(ctx, &k0, lut[i][0], lut[i][1], lut[i][2], N) ||
        ff_lut_key_alloc(ctx, &k1, lut[i][0], lut[i][1], lut[i][2], N) || ff_lut_keygen(ctx, r_in, &k0, &k1, r_out))
      fail("LUT keygen");
    const uint8_t shape[] = {(uint8_t)lut[i][0], (uint8_t)lut[i][1], (uint8_t)lut[i][2], (uint8_t)N};
    snprintf(tag, sizeof tag, "b%d_out%d_t%d", lut[i][0], lut[i][1], lut[i][2]);
    SEED_PAIR("lut_key", tag, shape, sizeof shape, k0, k1, ff_lut_key_serialize,
              ff_lut_key_bytes(lut[i][0], lut[i][1], lut[i][2], N));
    ff_lut_key_free(&k0), ff_lut_key_free(&k1), free(r_in), free(r_out);
  }
  {
    ff_select_key k0, k1;
    uint64_t *r_x = draw(ctx, N), *r_y = draw(ctx, N), *r_out = draw(ctx, N);
    for (size_t j = 0; j < N; j++) r_x[j] &= 1, r_y[j] &= (UINT64_C(1) << 37) - 1, r_out[j] &= (UINT64_C(1) << 37) - 1;
    if (ff_select_key_alloc(ctx, &k0, 37, N) || ff_select_key_alloc(ctx, &k1, 37, N) ||
        ff_select_keygen(ctx, r_x, r_y, r_out, &k0, &k1))
      fail("select keygen");
    const uint8_t shape[] = {37, (uint8_t)N};
    SEED_PAIR("select_key", "bw37", shape, sizeof shape, k0, k1, ff_select_key_serialize, k0.bytes);
    ff_select_key_free(&k0), ff_select_key_free(&k1), free(r_x), free(r_y), free(r_out);
  }
  static const int sstab_n[] = {1, 3, 7};
  for (size_t i = 0; i < 3; i++) {
    ff_sstab_key k0, k1;
    uint64_t *alpha = draw(ctx, N);
    if (ff_sstab_key_alloc(ctx, &k0, sstab_n[i], N) || ff_sstab_key_alloc(ctx, &k1, sstab_n[i], N) ||
        ff_sstab_keygen(ctx, alpha, &k0, &k1))
      fail("truth-table keygen");
    const uint8_t shape[] = {(uint8_t)sstab_n[i], (uint8_t)N};
    snprintf(tag, sizeof tag, "n%d_p0", sstab_n[i]);
    put("sstab_key", tag, shape, sizeof shape, k0.tab, k0.bytes);
    snprintf(tag, sizeof tag, "n%d_p1", sstab_n[i]);
    put("sstab_key", tag, shape, sizeof shape, k1.tab, k1.bytes);
    ff_sstab_key_free(&k0), ff_sstab_key_free(&k1), free(alpha);
  }
}

static void weights_seeds(void) {
  for (size_t i = 0; i < sizeof ff_fuzz_models / sizeof ff_fuzz_models[0]; i++) {
    ff_model_weights w;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir("weights"), ff_fuzz_models[i].name);
    if (ff_model_weights_random(&ff_fuzz_models[i], 7, &w) != FF_OK || ff_model_weights_save(&w, path) != FF_OK)
      fail("cannot write a weights file");
    ff_model_weights_free(&w);
  }
}

static void party_seeds(void) {
  for (size_t m = 0; m < sizeof ff_fuzz_models / sizeof ff_fuzz_models[0]; m++)
    for (int suf = 0; suf < 2; suf++) {
      void *img[2];
      size_t len[2];
      if (ff_fuzz_deal(&ff_fuzz_models[m], suf, img, len) != FF_OK) fail("cannot deal the party seeds");
      for (int q = 0; q < 2; q++) {
        char name[64];
        snprintf(name, sizeof name, "%s_%s_p%d", ff_fuzz_models[m].name, suf ? "suf" : "sigma", q);
        put("sigma_party", name, img[q], len[q], "", 0);
        free(img[q]);
      }
    }
}

static void npy_seeds(void) {
  static const int64_t shapes[3][3] = {{5, 0, 0}, {3, 4, 0}, {2, 3, 4}};
  double v[24];
  for (int i = 0; i < 24; i++) v[i] = (i - 12) * 0.375;
  for (int nd = 1; nd <= 3; nd++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/f32_%dd.npy", dir("npy"), nd);
    if (ff_npy_write_f32(path, nd, shapes[nd - 1], v) != FF_OK) fail("cannot write a .npy file");
  }
  /* float64: the writer's 2-D header with its dtype changed (the header keeps its length) and the
   * values stored as doubles. */
  char path[4096];
  snprintf(path, sizeof path, "%s/f32_2d.npy", dir("npy"));
  FILE *f = fopen(path, "rb");
  unsigned char head[4096];
  size_t n = f ? fread(head, 1, sizeof head, f) : 0;
  if (f) fclose(f);
  if (n < 10 || head[6] != 1) fail("unexpected .npy header");
  const size_t hl = 10 + (size_t)(head[8] | head[9] << 8);
  unsigned char *f4 = hl <= n ? memchr(head, '4', hl) : NULL;
  if (!f4 || f4[-1] != 'f') fail("unexpected .npy dtype");
  *f4 = '8';
  put("npy", "f64_2d.npy", head, hl, v, 12 * sizeof v[0]);
}

static void cli_seeds(void) {
  static const char *values[] = {"4096",   "4KiB",    "1MiB",     "2GiB",   "1kB",     "1.5MB",  "250ns",
                                 "100us",  "0.5ms",   "4ms",      "1s",     "60s",     "1GB/s",  "400MB/s",
                                 "10Gbit/s", "1e9",   "127.0.0.1:7000", ":7000", "[::1]:7000", "7000",
                                 "cpu",    "cuda",    "all",      "family", "scope",   "layer",  "name",
                                 "seed",   "duplex",  "wall_ns",  "sent_B_p0", "-12",  "GELU_INTERVALS=8",
                                 "SUF_NEXP_BITS=8", "SUF_DEGREE=1", "SUF_ACTIVATION=0"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "v%02zu", i);
    put("cli", name, values[i], strlen(values[i]), "", 0);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fuzz_seeds OUT [KEYFILE ...]\n");
    return 2;
  }
  g_out = argv[1];
  if (mkdir(g_out, 0777) != 0 && errno != EEXIST) fail("cannot create the output directory");
  ff_ctx ctx;
  if (ff_ctx_init(&ctx, FF_BACKEND_CPU, FF_DEALER) != FF_OK) fail("cannot make a CPU context");
  for (int i = 2; i < argc; i++)
    for (int with_mac = 0; with_mac < 2; with_mac++) keystream_seed(argv[i], i - 2, with_mac);
  empty_keystream_seed();
  key_seeds(&ctx);
  weights_seeds();
  party_seeds();
  npy_seeds();
  cli_seeds();
  ff_ctx_destroy(&ctx);
  return 0;
}
