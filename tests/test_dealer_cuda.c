/* The dealer on CUDA (gates/sigma/op.h "What runs where"; `fusefss keygen --backend cuda`, with and without
 * the masks and shares on the device, `--dealer-masks`): its key
 * streams equal the CPU dealer's byte for byte for the same mask seed, for bert-tiny with the sigma suite,
 * the suf suite (dense, with LUT keys) and the suf suite's sparse regime (DCF keys), and for one block of
 * gpt2 and of Llama in both suites (causal attention, rotary, RMSNorm, SiLU); the staged tree keygens it
 * uses (host keys made on the device) and the DPF and LUT keys it leaves on the device for the key streams
 * (ff_dpf_keygen_emit, ff_lut_keygen_emit) equal their CPU references; its device keys written into a key file's page-locked
 * chunks give the CPU dealer's file, and into a null stream nothing. Needs a GPU; exits 77 (skipped)
 * without one. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/cuda.h"
#include "core/keystream.h"
#include "core/log.h"
#include "core/rand.h"
#include "gates/fss/dcf.h"
#include "gates/fss/dpf.h"
#include "gates/fss/lut.h"
#include "gates/sigma/op.h"
#include "gates/sigma/op_internal.h" /* white box: which context the dealer's gates see */
#include "gates/suf/spec.h"
#include "models/config.h"
#include "models/model.h"

#define SEED UINT64_C(0x5eed0fdea1e7)

/* The model dealt: a name, its first `layers` blocks (0: all), at seq; nonzero heads, d_model, d_ffn
 * narrow it (the same gates at a smaller width). */
typedef struct {
  const char *model;
  int layers, seq, heads, d_model, d_ffn;
} dealt;
static const dealt tiny = {"bert-tiny", 0, 128, 0, 0, 0};

/* The dealer on `backend` (seeded with SEED) runs the model into the open writers ks, finished; the caller
 * closes them. deal: into new memory streams. */
static void deal_into(const dealt *m, ff_backend backend, int on_device, const ff_suf_config *suf, ff_keystream *ks[2],
                      uint64_t dev_put[2], uint64_t dev_down[2]) {
  const ff_model_config *found = ff_model_find(m->model);
  assert_non_null(found);
  ff_model_config cut = *found;
  if (m->layers) cut.layers = m->layers;
  if (m->heads) cut.heads = m->heads, cut.d_model = m->d_model, cut.d_ffn = m->d_ffn;
  const ff_model_config *cfg = &cut;
  ff_ctx ctx;
  assert_int_equal(ff_ctx_init(&ctx, backend, FF_DEALER), FF_OK);
  ff_rng_init_seeded(&ctx.rng, SEED);
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  ff_op_params p = {.role = FF_OP_DEALER, .bw = cfg->bw, .scale = cfg->scale, .ctx = &ctx, .keys = {ks[0], ks[1]},
                    .deal_on_device = on_device};
  assert_int_equal(ff_op_create(&op, &p), FF_OK);
  assert_true((op->deal_ctx == &ctx) == (backend == FF_BACKEND_CUDA && on_device));
  if (backend == FF_BACKEND_CUDA) { /* the gates see a host view that lends its tree keygens to ctx */
    assert_ptr_not_equal(op->ctx, &ctx);
    assert_int_equal(op->ctx->backend, FF_BACKEND_CPU);
    assert_ptr_equal(op->ctx->keygen_dev, &ctx);
  } else {
    assert_ptr_equal(op->ctx, &ctx);
    assert_null(ctx.keygen_dev);
  }
  ff_alloc_stats before, after;
  ff_alloc_stats_get(&before);
  assert_int_equal(ff_model_session_begin(op, cfg, NULL, &s), FF_OK);
  ff_model_session_set_suf(s, suf);
  assert_int_equal(ff_model_infer(op, s, m->seq, 1, NULL, NULL), FF_OK);
  for (int q = 0; q < 2; q++) assert_int_equal(ff_keystream_finish(ks[q]), FF_OK);
  ff_alloc_stats_get(&after);
  /* The CUDA dealer really made its tree keys on the device (they live in stream-ordered device memory);
   * equal bytes alone would not tell a silent fall-back to the host. */
  if (backend == FF_BACKEND_CUDA) assert_true(after.dev_allocs > before.dev_allocs);
  for (int q = 0; q < 2 && dev_put; q++) {
    dev_put[q] = op->dev_put[q];
    dev_down[q] = op->dev_down[q];
  }
  ff_model_session_free(s);
  ff_op_destroy(op);
  ff_ctx_destroy(&ctx);
}

/* put: the key bytes the dealer wrote from device memory, per party. */
static void deal(const dealt *m, ff_backend backend, int on_device, const ff_suf_config *suf, ff_keystream *ks[2],
                 uint64_t put[2]) {
  for (int q = 0; q < 2; q++) {
    ff_keystream_params kp = {.party = q, .run_id = "dealer-cuda", .meta = m->model};
    assert_int_equal(ff_keystream_create_mem(&kp, &ks[q]), FF_OK);
  }
  uint64_t down[2];
  deal_into(m, backend, on_device, suf, ks, put, down);
  /* The CUDA dealer wrote its DPF keys from device memory (no silent fall-back to host keys), each byte
   * downloaded once into a memory stream; the CPU dealer has no device keys. */
  for (int q = 0; q < 2; q++) {
    if (backend == FF_BACKEND_CUDA) assert_true(put[q] > 0);
    else assert_int_equal(put[q], 0);
    assert_int_equal(down[q], put[q]);
  }
}

/* The CPU dealer's streams against the CUDA dealer's, with its tree keys on the device (`keygen --backend
 * cuda`) and with everything that has a device path there too (deal_on_device, `--dealer-masks device`),
 * which must write more of its keys from device memory (no silent fall-back to the host path). */
static void same_streams(const char *what, const dealt *m, const ff_suf_config *suf) {
  ff_keystream *c[2], *g[2][2];
  uint64_t put[3][2];
  deal(m, FF_BACKEND_CPU, 0, suf, c, put[0]);
  for (int on = 0; on < 2; on++) deal(m, FF_BACKEND_CUDA, on, suf, g[on], put[1 + on]);
  for (int q = 0; q < 2; q++) {
    assert_true(put[2][q] > put[1][q]);
    print_message("%s, party %d: %" PRIu64 " key bytes from device memory with the trees there, %" PRIu64
                  " with the masks and shares too\n", what, q, put[1][q], put[2][q]);
    const void *a, *b;
    size_t na, nb;
    assert_int_equal(ff_keystream_mem_image(c[q], &a, &na), FF_OK);
    for (int on = 0; on < 2; on++) {
      assert_int_equal(ff_keystream_mem_image(g[on][q], &b, &nb), FF_OK);
      print_message("%s, party %d: %zu bytes from the CPU dealer, %zu from the CUDA dealer (%s)\n", what, q, na, nb,
                    on ? "masks on the device" : "trees on the device");
      assert_int_equal(na, nb);
      if (memcmp(a, b, na)) {
        size_t i = 0;
        while (((const uint8_t *)a)[i] == ((const uint8_t *)b)[i]) i++;
        fail_msg("%s, party %d (%s): the key streams first differ at byte %zu of %zu", what, q,
                 on ? "masks on the device" : "trees on the device", i, na);
      }
      ff_keystream_close(g[on][q], 0);
    }
    ff_keystream_close(c[q], 0);
  }
}

static void test_bert_tiny_sigma(void **state) {
  (void)state;
  ff_suf_config off;
  ff_suf_config_off(&off);
  same_streams("bert-tiny, sigma", &tiny, &off);
}

static void test_bert_tiny_suf(void **state) {
  (void)state;
  ff_suf_config suf;
  ff_suf_config_default(&suf);
  assert_int_equal(ff_suf_config_check(&suf, 37, 12), FF_OK);
  same_streams("bert-tiny, suf", &tiny, &suf);
}

static void test_bert_tiny_suf_sparse(void **state) {
  (void)state;
  ff_suf_config suf;
  ff_suf_config_default(&suf);
  assert_int_equal(ff_suf_config_set(&suf, "gelu_intervals=8"), FF_OK);
  assert_int_equal(ff_suf_config_check(&suf, 37, 12), FF_OK);
  same_streams("bert-tiny, suf sparse GELU", &tiny, &suf);
}

/* The decoder gates: gpt2's causal attention (the packed lower triangle), tanh GELU and its 50-bit ring
 * (one block at full width); Llama's rotary embedding, RMSNorm and SiLU gating on its 48-bit ring (one
 * block narrowed to 4 heads of 64, which keeps the CPU dealer short); each in both suites. */
static void test_decoders(void **state) {
  (void)state;
  static const dealt models[] = {{"gpt2", 1, 32, 0, 0, 0}, {"llama7b", 1, 16, 4, 256, 688}};
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
    for (int on = 0; on < 2; on++) {
      ff_suf_config suf;
      if (on) ff_suf_config_default(&suf);
      else ff_suf_config_off(&suf);
      const ff_model_config *cfg = ff_model_find(models[i].model);
      assert_non_null(cfg);
      assert_int_equal(ff_suf_config_check(&suf, cfg->bw, cfg->scale), FF_OK);
      char what[64];
      snprintf(what, sizeof what, "%s, 1 block, seq %d, %s", models[i].model, models[i].seq, on ? "suf" : "sigma");
      same_streams(what, &models[i], &suf);
    }
}

/* The three dealers' contexts of the keygen tests: a CPU dealer, a GPU, and a host dealer lending its tree
 * keygens to that GPU (keygen_dev), as `keygen --backend cuda` has. */
static void dealers_init(ff_ctx *cpu, ff_ctx *dev, ff_ctx *host) {
  assert_int_equal(ff_ctx_init(cpu, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  assert_int_equal(ff_ctx_init(dev, FF_BACKEND_CUDA, FF_DEALER), FF_OK);
  assert_int_equal(ff_ctx_init(host, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  host->keygen_dev = dev;
}

static void dealers_destroy(ff_ctx *cpu, ff_ctx *dev, ff_ctx *host) {
  ff_ctx_destroy(host);
  ff_ctx_destroy(dev);
  ff_ctx_destroy(cpu);
}

/* The staged keygens alone, on sizes the model does not reach (N not a multiple of 8 or 32, n = 8 and
 * 64), against the CPU references from the same generator state. */
static void test_staged_keygens(void **state) {
  (void)state;
  ff_ctx cpu, dev, host;
  dealers_init(&cpu, &dev, &host);
  ff_rng data;
  ff_rng_init_seeded(&data, 7);
  const int ns[] = {8, 13, 50, 64};
  const size_t Ns[] = {1, 37, 1000, 4099};
  for (int a = 0; a < 4; a++) {
    const int n = ns[a];
    const size_t N = Ns[a];
    uint64_t *alpha = malloc(N * sizeof *alpha), *beta = malloc(3 * N * sizeof *beta);
    assert_non_null(alpha);
    assert_non_null(beta);
    assert_int_equal(ff_rng_ring(&data, alpha, N, n), FF_OK);
    assert_int_equal(ff_rng_ring(&data, beta, 3 * N, 50), FF_OK);
    ff_rng_init_seeded(&cpu.rng, SEED + (uint64_t)a);
    ff_rng_init_seeded(&host.rng, SEED + (uint64_t)a);

    ff_dpf_key kc[2], kh[2];
    for (int p = 0; p < 2; p++) {
      assert_int_equal(ff_dpf_key_alloc(&cpu, &kc[p], n, N), FF_OK);
      assert_int_equal(ff_dpf_key_alloc(&host, &kh[p], n, N), FF_OK);
      assert_int_equal(kh[p].where, FF_MEM_HOST);
    }
    assert_int_equal(ff_dpf_keygen(&cpu, alpha, &kc[0], &kc[1]), FF_OK);
    assert_int_equal(ff_dpf_keygen(&host, alpha, &kh[0], &kh[1]), FF_OK);
    for (int p = 0; p < 2; p++) {
      assert_memory_equal(kc[p].buf, kh[p].buf, kc[p].bytes);
      ff_dpf_key_free(&kc[p]);
      ff_dpf_key_free(&kh[p]);
    }

    ff_dcf_key dc[2], dh[2];
    for (int p = 0; p < 2; p++) {
      assert_int_equal(ff_dcf_key_alloc(&cpu, &dc[p], n, 3, 50, N), FF_OK);
      assert_int_equal(ff_dcf_key_alloc(&host, &dh[p], n, 3, 50, N), FF_OK);
    }
    assert_int_equal(ff_dcf_keygen(&cpu, alpha, beta, &dc[0], &dc[1]), FF_OK);
    assert_int_equal(ff_dcf_keygen(&host, alpha, beta, &dh[0], &dh[1]), FF_OK);
    for (int p = 0; p < 2; p++) {
      assert_memory_equal(dc[p].buf, dh[p].buf, dc[p].bytes);
      ff_dcf_key_free(&dc[p]);
      ff_dcf_key_free(&dh[p]);
    }

    if (n <= FF_LUT_MAX_BITS) {
      ff_lut_key lc[2], lh[2];
      uint64_t *oc = malloc(2 * N * sizeof *oc), *oh = malloc(2 * N * sizeof *oh);
      assert_non_null(oc);
      assert_non_null(oh);
      for (int p = 0; p < 2; p++) {
        assert_int_equal(ff_lut_key_alloc(&cpu, &lc[p], n, 50, 2, N), FF_OK);
        assert_int_equal(ff_lut_key_alloc(&host, &lh[p], n, 50, 2, N), FF_OK);
      }
      assert_int_equal(ff_lut_keygen(&cpu, alpha, &lc[0], &lc[1], oc), FF_OK);
      assert_int_equal(ff_lut_keygen(&host, alpha, &lh[0], &lh[1], oh), FF_OK);
      assert_memory_equal(oc, oh, 2 * N * sizeof *oc);
      for (int p = 0; p < 2; p++) {
        const size_t kb = ff_lut_key_bytes(n, 50, 2, N);
        uint8_t *sc = malloc(kb), *sh = malloc(kb);
        assert_non_null(sc);
        assert_non_null(sh);
        assert_int_equal(ff_lut_key_serialize(&lc[p], sc, kb), FF_OK);
        assert_int_equal(ff_lut_key_serialize(&lh[p], sh, kb), FF_OK);
        assert_memory_equal(sc, sh, kb);
        free(sc);
        free(sh);
        ff_lut_key_free(&lc[p]);
        ff_lut_key_free(&lh[p]);
      }
      free(oc);
      free(oh);
    }
    /* Both generators are at the same place: the staged path drew what the CPU path drew. */
    assert_true(ff_rng_u64(&cpu.rng) == ff_rng_u64(&host.rng));
    free(alpha);
    free(beta);
  }
  dealers_destroy(&cpu, &dev, &host);
}

/* What ff_dpf_keygen_emit handed over from the device: each party's key, downloaded. */
typedef struct {
  ff_dpf_key host[2];
  ff_ctx *dev;
  int calls;
} downloaded;

static ff_status download_key(void *arg, int p, ff_ctx *mem, const ff_dpf_key *k) {
  downloaded *d = arg;
  assert_int_equal(p, d->calls++);
  assert_ptr_equal(mem, d->dev); /* made on the dealer's GPU, left there */
  assert_int_equal(k->where, FF_MEM_DEVICE);
  ff_ctx cpu = {.backend = FF_BACKEND_CPU};
  assert_int_equal(ff_dpf_key_alloc(&cpu, &d->host[p], k->n, k->N), FF_OK);
  return ff_dpf_key_copy(mem, &d->host[p], k);
}

/* ff_dpf_keygen_emit on a dealer with a GPU leaves the keys in device memory and hands them over there;
 * downloaded, they are the CPU dealer's from the same generator state, which both leave at one place. */
static void test_keygen_emit_on_device(void **state) {
  (void)state;
  ff_ctx cpu, dev, host;
  dealers_init(&cpu, &dev, &host);
  const int ns[] = {8, 37, 64};
  const size_t Ns[] = {1, 4099, 1000};
  for (int a = 0; a < 3; a++) {
    const size_t N = Ns[a];
    uint64_t *alpha = malloc(N * sizeof *alpha);
    assert_non_null(alpha);
    ff_rng data;
    ff_rng_init_seeded(&data, 11 + (uint64_t)a);
    assert_int_equal(ff_rng_ring(&data, alpha, N, 64), FF_OK);
    ff_rng_init_seeded(&cpu.rng, SEED + (uint64_t)a);
    ff_rng_init_seeded(&host.rng, SEED + (uint64_t)a);
    ff_dpf_key kc[2];
    for (int p = 0; p < 2; p++) assert_int_equal(ff_dpf_key_alloc(&cpu, &kc[p], ns[a], N), FF_OK);
    assert_int_equal(ff_dpf_keygen(&cpu, alpha, &kc[0], &kc[1]), FF_OK);
    downloaded d = {.dev = &dev};
    assert_int_equal(ff_dpf_keygen_emit(&host, ns[a], N, alpha, download_key, &d), FF_OK);
    assert_int_equal(d.calls, 2);
    for (int p = 0; p < 2; p++) {
      assert_memory_equal(kc[p].buf, d.host[p].buf, kc[p].bytes);
      ff_dpf_key_free(&kc[p]);
      ff_dpf_key_free(&d.host[p]);
    }
    assert_true(ff_rng_u64(&cpu.rng) == ff_rng_u64(&host.rng));
    free(alpha);
  }
  /* Bad shapes are refused on the device path too, before any draw. */
  uint64_t one = 1;
  downloaded none = {.dev = &dev};
  ff_rng_init_seeded(&host.rng, 3);
  const uint64_t first = ff_rng_u64(&host.rng);
  ff_rng_init_seeded(&host.rng, 3);
  assert_int_equal(ff_dpf_keygen_emit(&host, 7, 1, &one, download_key, &none), FF_EINVAL);
  assert_int_equal(ff_dpf_keygen_emit(&host, 65, 1, &one, download_key, &none), FF_EINVAL);
  assert_int_equal(ff_dpf_keygen_emit(&host, 20, 0, &one, download_key, &none), FF_EINVAL);
  assert_int_equal(none.calls, 0);
  assert_true(ff_rng_u64(&host.rng) == first);
  dealers_destroy(&cpu, &dev, &host);
}

/* ff_lut_keygen_emit's pieces, concatenated per party (device pieces downloaded), and how many came from
 * device memory. */
typedef struct {
  uint8_t *key[2];
  size_t n[2], cap;
  int dev_pieces[2];
  ff_ctx *dev;
  int calls, fail_at; /* fail_at: the 1-based call that returns FF_EIO; 0: none */
} lut_taken;

static ff_status take_lut_piece(void *arg, int p, ff_ctx *mem, const void *bytes, ff_mem where, size_t n) {
  lut_taken *t = arg;
  if (++t->calls == t->fail_at) return FF_EIO;
  assert_true(t->n[p] + n <= t->cap);
  if (where == FF_MEM_DEVICE) {
    assert_ptr_equal(mem, t->dev);
    t->dev_pieces[p]++;
    assert_int_equal(ff_cuda_copy_to_host(t->key[p] + t->n[p], bytes, n), FF_OK);
  } else {
    memcpy(t->key[p] + t->n[p], bytes, n);
  }
  t->n[p] += n;
  return FF_OK;
}

/* ff_lut_keygen_emit on a dealer with a GPU hands each party's DPF blocks over in device memory and the
 * rest from the host; together they are the CPU dealer's serialized keys, with the same output masks and
 * the generator left at the same place. */
static void test_lut_keygen_emit_on_device(void **state) {
  (void)state;
  ff_ctx cpu, dev, host;
  dealers_init(&cpu, &dev, &host);
  const int bs[] = {8, 13, 16}, outs[] = {37, 50, 64}, tables[] = {1, 1, 2};
  const size_t Ns[] = {1, 4099, 300};
  for (int c = 0; c < 3; c++) {
    const size_t N = Ns[c], kb = ff_lut_key_bytes(bs[c], outs[c], tables[c], N), TN = (size_t)tables[c] * N;
    uint64_t *r_in = malloc(N * sizeof *r_in), *oc = malloc(TN * sizeof *oc), *oh = malloc(TN * sizeof *oh);
    assert_true(r_in && oc && oh);
    ff_rng data;
    ff_rng_init_seeded(&data, 21 + (uint64_t)c);
    assert_int_equal(ff_rng_ring(&data, r_in, N, 64), FF_OK);
    lut_taken a = {.key = {malloc(kb), malloc(kb)}, .cap = kb, .dev = &dev};
    lut_taken g = {.key = {malloc(kb), malloc(kb)}, .cap = kb, .dev = &dev};
    ff_rng_init_seeded(&cpu.rng, SEED + 10 + (uint64_t)c);
    ff_rng_init_seeded(&host.rng, SEED + 10 + (uint64_t)c);
    assert_int_equal(ff_lut_keygen_emit(&cpu, bs[c], outs[c], tables[c], N, r_in, oc, take_lut_piece, &a), FF_OK);
    assert_int_equal(ff_lut_keygen_emit(&host, bs[c], outs[c], tables[c], N, r_in, oh, take_lut_piece, &g), FF_OK);
    for (int p = 0; p < 2; p++) {
      assert_int_equal(a.dev_pieces[p], 0);
      assert_int_equal(g.dev_pieces[p], 1); /* the DPF blocks stayed on the device */
      assert_int_equal(g.n[p], kb);
      assert_memory_equal(a.key[p], g.key[p], kb);
    }
    assert_memory_equal(oc, oh, TN * sizeof *oc);
    assert_true(ff_rng_u64(&cpu.rng) == ff_rng_u64(&host.rng));
    /* An emitter that fails at any of the device path's pieces stops it with its error (and frees what
     * the path holds: the device keys, the select keys, the host parts). */
    for (int fail = 1; fail <= g.calls; fail++) {
      lut_taken f = {.key = {a.key[0], a.key[1]}, .cap = kb, .dev = &dev, .fail_at = fail};
      assert_int_equal(ff_lut_keygen_emit(&host, bs[c], outs[c], tables[c], N, r_in, oh, take_lut_piece, &f), FF_EIO);
      assert_int_equal(f.calls, fail);
    }
    for (int p = 0; p < 2; p++) {
      free(a.key[p]);
      free(g.key[p]);
    }
    free(r_in);
    free(oc);
    free(oh);
  }
  dealers_destroy(&cpu, &dev, &host);
}

/* The CUDA dealer (masks on the device) writes its device-made keys straight into the key streams' memory: into a key
 * file's page-locked chunks (with a MAC and sealer threads) the bytes are the CPU dealer's file, byte for
 * byte (ordinary chunks for the CPU dealer's); a null
 * stream (the peer's under --dealer inproc) counts the same key bytes and gets nothing downloaded. */
static void test_device_keys_into_file_and_null(void **state) {
  (void)state;
  static const uint8_t mac[FF_KEYSTREAM_MAC_KEY_BYTES] = "dealer-cuda-mac-key-0123456789a";
  char dir[] = "/tmp/ff_dealer_cuda_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[2][128];
  uint64_t payload[2][2];
  for (int b = 0; b < 2; b++) { /* b 0: the CPU dealer, 1: the CUDA dealer */
    snprintf(path[b], sizeof path[b], "%s/p0_%d.ffk", dir, b);
    ff_keystream *ks[2];
    ff_keystream_params kp = {.party = 0, .run_id = "dealer-cuda", .meta = "bert-tiny", .mac_key = mac, .sealers = 2,
                              .pinned = b};
    ff_alloc_stats before, after;
    ff_alloc_stats_get(&before);
    assert_int_equal(ff_keystream_create_file(path[b], &kp, &ks[0]), FF_OK);
    kp.party = 1;
    kp.mac_key = NULL;
    assert_int_equal(ff_keystream_create_null(&kp, &ks[1]), FF_OK);
    uint64_t put[2], down[2];
    deal_into(&tiny, b ? FF_BACKEND_CUDA : FF_BACKEND_CPU, b, NULL, ks, put, down); /* masks on the device too */
    if (b) { /* party 0's device-made keys downloaded into its file's chunks, party 1's into nothing (the two
              * differ: each party's input masks go to that party alone) */
      assert_true(put[0] > 0 && put[1] > 0);
      assert_int_equal(down[0], put[0]);
      assert_int_equal(down[1], 0);
    }
    for (int q = 0; q < 2; q++) {
      payload[b][q] = ff_keystream_payload_bytes(ks[q]);
      assert_int_equal(ff_keystream_close(ks[q], 0), FF_OK);
    }
    ff_alloc_stats_get(&after);
    if (b) assert_true(after.pinned_allocs > before.pinned_allocs); /* the CUDA dealer's chunks were page-locked */
  }
  assert_int_equal(payload[0][0], payload[1][0]);
  assert_int_equal(payload[0][1], payload[1][1]);
  FILE *f[2] = {fopen(path[0], "rb"), fopen(path[1], "rb")};
  assert_non_null(f[0]);
  assert_non_null(f[1]);
  static uint8_t a[1 << 16], b[1 << 16];
  uint64_t at = 0;
  for (;;) {
    const size_t na = fread(a, 1, sizeof a, f[0]), nb = fread(b, 1, sizeof b, f[1]);
    assert_int_equal(na, nb);
    if (memcmp(a, b, na)) fail_msg("the key files differ within bytes %llu..%llu", (unsigned long long)at,
                                   (unsigned long long)(at + na));
    at += na;
    if (!na) break;
  }
  print_message("bert-tiny, party 0's key file: %llu bytes from each dealer, equal\n", (unsigned long long)at);
  fclose(f[0]);
  fclose(f[1]);
  remove(path[0]);
  remove(path[1]);
  rmdir(dir);
}

int main(void) {
  if (ff_cuda_device_count() <= 0) {
    fprintf(stderr, "test_dealer_cuda: no CUDA device, skipped\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_staged_keygens),
      cmocka_unit_test(test_keygen_emit_on_device),
      cmocka_unit_test(test_lut_keygen_emit_on_device),
      cmocka_unit_test(test_device_keys_into_file_and_null),
      cmocka_unit_test(test_bert_tiny_sigma),
      cmocka_unit_test(test_bert_tiny_suf),
      cmocka_unit_test(test_bert_tiny_suf_sparse), cmocka_unit_test(test_decoders),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
