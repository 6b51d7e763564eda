/* gates/fss on CUDA against the CPU reference, byte for byte: AES known answers (FIPS-197) and the
 * PRG on 10^5 random blocks; DPF keys made on both backends from the same alphas and roots; point,
 * comparison and full-domain evaluation of keys made on either backend on either backend; truth
 * tables; the dealer's generator on the device against ff_rng_bytes. Needs a GPU; exits 77 (skipped)
 * without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cuda_runtime_api.h>

#include "core/ctx.h"
#include "core/cuda_check.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/fss/dpf.h"
#include "gates/fss/prg.h"
#include "gates/fss/sstab.h"

static ff_ctx cpu, gpu;

/* ---- Memory helpers --------------------------------------------------------------------------------- */

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  assert_non_null(p);
  return p;
}

/* Device buffer of n bytes filled with 0xa5, so that a kernel that leaves a byte unwritten shows. */
static void *dev_alloc(size_t n) {
  void *p = NULL;
  assert_int_equal(FF_CUDA_CHECK(cudaMalloc(&p, n ? n : 1)), FF_OK);
  assert_int_equal(FF_CUDA_CHECK(cudaMemsetAsync(p, 0xa5, n ? n : 1, (cudaStream_t)gpu.stream)), FF_OK);
  return p;
}

static void *dev_upload(const void *h, size_t n) {
  void *d = dev_alloc(n);
  assert_int_equal(FF_CUDA_CHECK(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, (cudaStream_t)gpu.stream)), FF_OK);
  return d;
}

/* Waits for the stream (surfacing kernel faults here) and returns a host copy. */
static void *dev_download(const void *d, size_t n) {
  void *h = xmalloc(n);
  assert_int_equal(FF_CUDA_CHECK(cudaMemcpyAsync(h, d, n, cudaMemcpyDeviceToHost, (cudaStream_t)gpu.stream)), FF_OK);
  assert_int_equal(ff_cuda_stream_sync(gpu.stream), FF_OK);
  return h;
}

static void dev_free(void *d) { assert_int_equal(FF_CUDA_CHECK(cudaFree(d)), FF_OK); }

static size_t bit_bytes(size_t nbits) { return nbits / 8 + (nbits % 8 != 0); }
static int bit_at(const uint8_t *bits, size_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

/* ---- Mismatch reports ------------------------------------------------------------------------------- */

/* Packed results of E*N points: prints the first differing point as (element, point) and counts. */
static size_t diff_bits(const char *what, const uint8_t *want, const uint8_t *got, size_t total, size_t N) {
  size_t wrong = 0;
  for (size_t p = 0; p < total; p++) {
    if (bit_at(want, p) == bit_at(got, p)) continue;
    if (!wrong)
      fprintf(stderr, "%s: first mismatch at element %zu, point %zu: expected %d, got %d\n", what, p % N, p / N,
              bit_at(want, p), bit_at(got, p));
    wrong++;
  }
  /* Pad bits and every byte, byte for byte. */
  const size_t bytes = bit_bytes(total);
  if (!wrong && memcmp(want, got, bytes) != 0) {
    for (size_t b = 0; b < bytes; b++)
      if (want[b] != got[b]) {
        fprintf(stderr, "%s: pad bits differ in byte %zu: expected 0x%02x, got 0x%02x\n", what, b, want[b], got[b]);
        break;
      }
    wrong++;
  }
  if (wrong) fprintf(stderr, "%s: %zu of %zu points differ\n", what, wrong, total);
  return wrong;
}

/* Two DPF keys' bytes; names the array, element and level of the first difference. */
static int diff_keys(const char *what, const ff_dpf_key *want, const uint8_t *got) {
  const uint8_t *w = want->buf;
  for (size_t b = 0; b < want->bytes; b++) {
    if (w[b] == got[b]) continue;
    const size_t N = want->N, blk = b / 16, L = (size_t)(want->n - FF_DPF_LEAF_BITS);
    if (blk < N)
      fprintf(stderr, "%s: seed of element %zu differs", what, blk);
    else if (blk < L * N)
      fprintf(stderr, "%s: seed CW of level %zu, element %zu differs", what, (blk - N) / N, (blk - N) % N);
    else if (blk < (L + 2) * N)
      fprintf(stderr, "%s: leaf CW l%zu of element %zu differs", what, (blk - L * N) / N, (blk - L * N) % N);
    else {
      const size_t bit = 8 * (b - 16 * (L + 2) * N);
      fprintf(stderr, "%s: tR byte %zu (levels/elements of bits %zu..%zu) differs", what, b - 16 * (L + 2) * N, bit, bit + 7);
    }
    fprintf(stderr, " (byte %zu of %zu: expected 0x%02x, got 0x%02x)\n", b, want->bytes, w[b], got[b]);
    return 1;
  }
  return 0;
}

static size_t diff_blocks(const char *what, const ff_block *want, const ff_block *got, size_t n) {
  size_t wrong = 0;
  for (size_t i = 0; i < n; i++) {
    if (!memcmp(&want[i], &got[i], sizeof *want)) continue;
    if (!wrong)
      fprintf(stderr, "%s: first mismatch at block %zu: expected %016llx%016llx, got %016llx%016llx\n", what, i,
              (unsigned long long)want[i].hi, (unsigned long long)want[i].lo, (unsigned long long)got[i].hi,
              (unsigned long long)got[i].lo);
    wrong++;
  }
  if (wrong) fprintf(stderr, "%s: %zu of %zu blocks differ\n", what, wrong, n);
  return wrong;
}

/* ---- AES and the PRG ------------------------------------------------------------------------------- */

static void hex16(const char *hex, uint8_t out[16]) {
  for (int i = 0; i < 16; i++) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

/* FIPS-197 C.1 and B, through the CUDA block API: 1000 copies of the plaintext (several blocks of
 * threads, every lane of the bank-replicated table) and in place. */
static void check_kat(const char *key_hex, const char *pt_hex, const char *ct_hex) {
  uint8_t key[16], pt[16], ct[16];
  hex16(key_hex, key);
  hex16(pt_hex, pt);
  hex16(ct_hex, ct);
  ff_aes128_key ks;
  ff_aes128_expand_key(key, &ks);
  enum { n = 1000 };
  ff_block *h = xmalloc(n * sizeof *h), want;
  memcpy(&want, ct, 16);
  for (int i = 0; i < n; i++) memcpy(&h[i], pt, 16);
  ff_block *in = dev_upload(h, n * sizeof *h), *out = dev_alloc(n * sizeof *h);
  assert_int_equal(ff_aes128_encrypt_blocks_cuda(&gpu, &ks, in, out, n), FF_OK);
  assert_int_equal(ff_aes128_encrypt_blocks_cuda(&gpu, &ks, in, in, n), FF_OK);
  ff_block *got = dev_download(out, n * sizeof *h), *got_in_place = dev_download(in, n * sizeof *h);
  for (int i = 0; i < n; i++) memcpy(&h[i], &want, 16);
  assert_int_equal(diff_blocks("AES KAT", h, got, n), 0);
  assert_int_equal(diff_blocks("AES KAT in place", h, got_in_place, n), 0);
  dev_free(in);
  dev_free(out);
  free(h);
  free(got);
  free(got_in_place);
}

/* The dealer's generator on the device (ff_rng_draw_cuda) gives ff_rng_bytes's bytes for the same stream, in
 * counter mode (the counter crossing 2^64 and wrapping 2^128 inside a draw) and seeded (one thread's range,
 * ranges with partial words, and 3 MiB: 96 ranges, each jumped ahead), into aligned and unaligned device
 * memory, writing nothing past the draw (the 0xa5 fill stays); both generators go on at one place. */
static void test_rng_draw(void **state) {
  (void)state;
  const size_t sizes[] = {1, 15, 16, 17, 1000, 32768, 32775, (UINT64_C(3) << 20) + 5};
  uint8_t key[16], t0[16];
  for (int i = 0; i < 16; i++) key[i] = (uint8_t)(7 * i + 2), t0[i] = 0xff;
  t0[15] = 0x00; /* 256 blocks below 2^128: the large draw wraps the whole counter */
  for (int mode = 0; mode < 2; mode++) {
    ff_rng a, b;
    if (mode == 0) {
      ff__rng_init_ctr(&a, key, t0);
      ff__rng_init_ctr(&b, key, t0);
    } else {
      ff_rng_init_seeded(&a, 505);
      ff_rng_init_seeded(&b, 505);
    }
    for (int k = 0; k < 8; k++)
      for (int off = 0; off < 2; off++) {
        const size_t n = sizes[k];
        uint8_t *want = xmalloc(n + 8), *d = dev_alloc(n + 8);
        assert_int_equal(ff_rng_bytes(&a, want, n), FF_OK);
        memset(want + n, 0xa5, 8 - (size_t)off);
        assert_int_equal(ff_rng_draw_cuda(&gpu, &b, d + off, n), FF_OK);
        uint8_t *got = dev_download(d + off, n + 8 - (size_t)off);
        if (memcmp(want, got, n + 8 - (size_t)off))
          fail_msg("%s, %zu bytes at offset %d: the device's bytes differ from ff_rng_bytes's", mode ? "seeded" : "counter",
                   n, off);
        free(got);
        free(want);
        dev_free(d);
      }
    assert_true(ff_rng_u64(&a) == ff_rng_u64(&b));
  }
}

static void test_aes_kat(void **state) {
  (void)state;
  check_kat("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff", "69c4e0d86a7b0430d8cdb78070b4c55a");
  check_kat("2b7e151628aed2a6abf7158809cf4f3c", "3243f6a8885a308d313198a2e0370734", "3925841d02dc09fbdc118597196a0b32");
}

/* 10^5 random blocks (not a multiple of the block size): AES under a random key, both MMO children
 * and the child named by a direction byte (any nonzero byte means right), CUDA == CPU. */
static void test_prg(void **state) {
  (void)state;
  enum { n = 100000 };
  const size_t B = n * sizeof(ff_block);
  ff_rng rng;
  ff_rng_init_seeded(&rng, 2024);
  ff_block *s = xmalloc(B), *want = xmalloc(B), *want2 = xmalloc(B);
  uint8_t *dir = xmalloc(n), key[16];
  assert_int_equal(ff_rng_bytes(&rng, s, B), FF_OK);
  assert_int_equal(ff_rng_bytes(&rng, dir, n), FF_OK);
  for (size_t i = 0; i < n; i += 7) dir[i] = 0; /* plenty of both sides, and values other than 0/1 */
  assert_int_equal(ff_rng_bytes(&rng, key, 16), FF_OK);
  ff_aes128_key ks;
  ff_aes128_expand_key(key, &ks);

  ff_block *ds = dev_upload(s, B), *dl = dev_alloc(B), *dr = dev_alloc(B);
  uint8_t *ddir = dev_upload(dir, n);

  ff_aes128_encrypt_blocks(&ks, s, want, n);
  assert_int_equal(ff_aes128_encrypt_blocks_cuda(&gpu, &ks, ds, dl, n), FF_OK);
  ff_block *got = dev_download(dl, B);
  assert_int_equal(diff_blocks("AES random key", want, got, n), 0);
  free(got);

  ff_prg_expand(s, want, want2, n);
  assert_int_equal(ff_prg_expand_cuda(&gpu, ds, dl, dr, n), FF_OK);
  got = dev_download(dl, B);
  assert_int_equal(diff_blocks("PRG left", want, got, n), 0);
  free(got);
  got = dev_download(dr, B);
  assert_int_equal(diff_blocks("PRG right", want2, got, n), 0);
  free(got);

  ff_prg_expand_dir(s, dir, want, n);
  assert_int_equal(ff_prg_expand_dir_cuda(&gpu, ds, ddir, dl, n), FF_OK);
  assert_int_equal(ff_prg_expand_dir_cuda(&gpu, ds, ddir, ds, n), FF_OK); /* in place */
  got = dev_download(dl, B);
  assert_int_equal(diff_blocks("PRG by direction", want, got, n), 0);
  free(got);
  got = dev_download(ds, B);
  assert_int_equal(diff_blocks("PRG by direction, in place", want, got, n), 0);
  free(got);

  /* Bad arguments: misaligned blocks, NULL, and n = 0 (nothing to do). */
  ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_prg_expand_cuda(&gpu, (const ff_block *)((uint8_t *)ds + 8), dl, dr, 1), FF_EINVAL);
  assert_int_equal(ff_prg_expand_dir_cuda(&gpu, ds, NULL, dl, 1), FF_EINVAL);
  assert_int_equal(ff_prg_expand_cuda(NULL, ds, dl, dr, 1), FF_EINVAL);
  ff_log_set_level(saved);
  assert_int_equal(ff_prg_expand_cuda(&gpu, ds, dl, dr, 0), FF_OK);

  dev_free(ds);
  dev_free(dl);
  dev_free(dr);
  dev_free(ddir);
  free(s);
  free(want);
  free(want2);
  free(dir);
}

/* ---- DPF -------------------------------------------------------------------------------------------- */

/* Keys of one party on both backends: h on the host, d in device memory. */
typedef struct {
  ff_dpf_key h, d;
} key_pair;

static void key_pair_free(key_pair *k) {
  ff_dpf_key_free(&k->h);
  ff_dpf_key_free(&k->d);
}

/* Everything for one (n, N): alphas (with garbage above bit n and the edge values), roots, and the
 * keys of both parties made on the CPU (cpu[b]) and on CUDA (cuda[b]), each on both backends. */
typedef struct {
  int n;
  size_t N;
  uint64_t *alpha, m;
  key_pair cpu[2], cuda[2];
} dpf_case;

static void case_make(dpf_case *c, int n, size_t N, uint64_t seed) {
  memset(c, 0, sizeof *c);
  c->n = n;
  c->N = N;
  c->m = ff_ring_mask(n);
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  c->alpha = xmalloc(N * sizeof *c->alpha);
  for (size_t j = 0; j < N; j++) c->alpha[j] = ff_rng_u64(&rng);
  const uint64_t edge[6] = {0, 1, 127, 128, c->m - 1, c->m};
  for (size_t j = 0; j < 6 && j < N; j++) c->alpha[j] = edge[j] | (ff_rng_u64(&rng) & ~c->m);
  ff_block *roots = xmalloc(2 * N * sizeof *roots);
  assert_int_equal(ff_rng_bytes(&rng, roots, 2 * N * sizeof *roots), FF_OK);

  for (int b = 0; b < 2; b++) {
    assert_int_equal(ff_dpf_key_alloc(&cpu, &c->cpu[b].h, n, N), FF_OK);
    assert_int_equal(ff_dpf_key_alloc(&gpu, &c->cpu[b].d, n, N), FF_OK);
    assert_int_equal(ff_dpf_key_alloc(&cpu, &c->cuda[b].h, n, N), FF_OK);
    assert_int_equal(ff_dpf_key_alloc(&gpu, &c->cuda[b].d, n, N), FF_OK);
    assert_int_equal(c->cpu[b].d.where, FF_MEM_DEVICE);
  }
  assert_int_equal(ff_dpf_keygen_cpu(&cpu, c->alpha, roots, &c->cpu[0].h, &c->cpu[1].h), FF_OK);
  uint64_t *dalpha = dev_upload(c->alpha, N * sizeof *c->alpha);
  ff_block *droots = dev_upload(roots, 2 * N * sizeof *roots);
  /* Garbage in the device keys first: keygen must write every byte (tR included). */
  for (int b = 0; b < 2; b++)
    assert_int_equal(FF_CUDA_CHECK(cudaMemsetAsync(c->cuda[b].d.buf, 0xff, c->cuda[b].d.bytes, (cudaStream_t)gpu.stream)), FF_OK);
  assert_int_equal(ff_dpf_keygen_cuda(&gpu, dalpha, droots, &c->cuda[0].d, &c->cuda[1].d), FF_OK);
  for (int b = 0; b < 2; b++) {
    assert_int_equal(ff_dpf_key_copy(&gpu, &c->cpu[b].d, &c->cpu[b].h), FF_OK);   /* host -> device */
    assert_int_equal(ff_dpf_key_copy(&gpu, &c->cuda[b].h, &c->cuda[b].d), FF_OK); /* device -> host, waits */
  }
  dev_free(dalpha);
  dev_free(droots);
  free(roots);
}

static void case_free(dpf_case *c) {
  for (int b = 0; b < 2; b++) {
    key_pair_free(&c->cpu[b]);
    key_pair_free(&c->cuda[b]);
  }
  free(c->alpha);
}

/* Keys from the two backends are byte-identical. */
static void check_keys(const dpf_case *c) {
  char what[96];
  for (int b = 0; b < 2; b++) {
    snprintf(what, sizeof what, "keygen n=%d N=%zu party %d (CPU expected, CUDA got)", c->n, c->N, b);
    assert_int_equal(diff_keys(what, &c->cpu[b].h, c->cuda[b].h.buf), 0);
  }
}

/* E = 6 points per element: alpha, alpha +- 1, 0, 2^n - 1 and a random point, with garbage above bit
 * n. Every key (CPU-made, CUDA-made) of both parties evaluated on both backends gives the same bytes,
 * and the reconstructions are the point function and the comparison. */
static void check_eval(const dpf_case *c, uint64_t seed) {
  enum { E = 6 };
  const size_t N = c->N, total = E * N, bytes = bit_bytes(total);
  const uint64_t m = c->m;
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *x = xmalloc(total * sizeof *x);
  for (size_t j = 0; j < N; j++) {
    const uint64_t a = c->alpha[j] & m, pts[E] = {a, (a + 1) & m, (a - 1) & m, 0, m, ff_rng_u64(&rng)};
    for (size_t e = 0; e < E; e++) x[e * N + j] = pts[e] | (ff_rng_u64(&rng) & ~m);
  }
  uint64_t *dx = dev_upload(x, total * sizeof *x);
  uint8_t *dout = dev_alloc(bytes);
  uint8_t *ref[2][2]; /* [lt][party]: the CPU's output for the CPU-made key */
  char what[128];
  for (int lt = 0; lt < 2; lt++) {
    for (int b = 0; b < 2; b++) {
      ref[lt][b] = xmalloc(bytes);
      ff_status (*cpu_eval)(ff_ctx *, const ff_dpf_key *, size_t, const uint64_t *, uint8_t *) =
          lt ? ff_dpf_eval_lt_cpu : ff_dpf_eval_point_cpu;
      ff_status (*cuda_eval)(ff_ctx *, const ff_dpf_key *, size_t, const uint64_t *, uint8_t *) =
          lt ? ff_dpf_eval_lt_cuda : ff_dpf_eval_point_cuda;
      assert_int_equal(cpu_eval(&cpu, &c->cpu[b].h, E, x, ref[lt][b]), FF_OK);
      const key_pair *keys[2] = {&c->cpu[b], &c->cuda[b]};
      for (int origin = 0; origin < 2; origin++) {
        /* CPU evaluation of the CUDA-made key (cross), then CUDA evaluation of both keys. */
        if (origin == 1) {
          uint8_t *h = xmalloc(bytes);
          memset(h, 0xa5, bytes);
          assert_int_equal(cpu_eval(&cpu, &keys[origin]->h, E, x, h), FF_OK);
          snprintf(what, sizeof what, "%s n=%d N=%zu party %d: CPU eval of CUDA-made key", lt ? "eval_lt" : "eval_point",
                   c->n, N, b);
          assert_int_equal(diff_bits(what, ref[lt][b], h, total, N), 0);
          free(h);
        }
        assert_int_equal(FF_CUDA_CHECK(cudaMemsetAsync(dout, 0xa5, bytes, (cudaStream_t)gpu.stream)), FF_OK);
        assert_int_equal(cuda_eval(&gpu, &keys[origin]->d, E, dx, dout), FF_OK);
        uint8_t *got = dev_download(dout, bytes);
        snprintf(what, sizeof what, "%s n=%d N=%zu party %d: CUDA eval of %s-made key", lt ? "eval_lt" : "eval_point", c->n,
                 N, b, origin ? "CUDA" : "CPU");
        assert_int_equal(diff_bits(what, ref[lt][b], got, total, N), 0);
        free(got);
      }
    }
  }
  /* The reference itself reconstructs correctly (so equal outputs are right outputs). */
  size_t wrong = 0;
  for (size_t p = 0; p < total; p++) {
    const uint64_t xv = x[p] & m, a = c->alpha[p % N] & m;
    wrong += (size_t)((bit_at(ref[0][0], p) ^ bit_at(ref[0][1], p)) != (xv == a));
    wrong += (size_t)((bit_at(ref[1][0], p) ^ bit_at(ref[1][1], p)) != (xv < a));
  }
  assert_int_equal(wrong, 0);
  for (int lt = 0; lt < 2; lt++)
    for (int b = 0; b < 2; b++) free(ref[lt][b]);
  dev_free(dx);
  dev_free(dout);
  free(x);
}

/* Full domain, n <= 13: CUDA == CPU for both key origins, and the reconstruction is the unit vector. */
static void check_eval_all(const dpf_case *c) {
  const size_t N = c->N, row = ((size_t)1 << c->n) / 8, bytes = N * row;
  uint8_t *ref[2], *dout = dev_alloc(bytes);
  char what[128];
  for (int b = 0; b < 2; b++) {
    ref[b] = xmalloc(bytes);
    assert_int_equal(ff_dpf_eval_all_cpu(&cpu, &c->cpu[b].h, ref[b]), FF_OK);
    const key_pair *keys[2] = {&c->cpu[b], &c->cuda[b]};
    for (int origin = 0; origin < 2; origin++) {
      assert_int_equal(FF_CUDA_CHECK(cudaMemsetAsync(dout, 0xa5, bytes, (cudaStream_t)gpu.stream)), FF_OK);
      assert_int_equal(ff_dpf_eval_all_cuda(&gpu, &keys[origin]->d, dout), FF_OK);
      uint8_t *got = dev_download(dout, bytes);
      if (memcmp(ref[b], got, bytes) != 0) {
        for (size_t i = 0; i < 8 * bytes; i++)
          if (bit_at(ref[b], i) != bit_at(got, i)) {
            fprintf(stderr,
                    "eval_all n=%d N=%zu party %d, %s-made key: first mismatch at element %zu, point %zu: "
                    "expected %d, got %d\n",
                    c->n, N, b, origin ? "CUDA" : "CPU", i / (8 * row), i % (8 * row), bit_at(ref[b], i), bit_at(got, i));
            break;
          }
        snprintf(what, sizeof what, "eval_all n=%d party %d", c->n, b);
        fail_msg("%s: CUDA output differs from the CPU's", what);
      }
      free(got);
    }
  }
  size_t wrong = 0;
  for (size_t j = 0; j < N; j++)
    for (size_t y = 0; y < 8 * row; y++)
      wrong += (size_t)((bit_at(ref[0] + j * row, y) ^ bit_at(ref[1] + j * row, y)) != (y == (c->alpha[j] & c->m)));
  assert_int_equal(wrong, 0);
  free(ref[0]);
  free(ref[1]);
  dev_free(dout);
}

static void check_dpf(int n, size_t N) {
  dpf_case c;
  case_make(&c, n, N, 1000 + (uint64_t)n);
  check_keys(&c);
  check_eval(&c, 2000 + (uint64_t)n);
  if (n <= 13) check_eval_all(&c);
  case_free(&c);
}

/* N not a multiple of 8 or 32 (tR rows and output bits end mid-byte, warps end mid-word). */
static void test_dpf_n8(void **state) { (void)state; check_dpf(8, 4999); }
static void test_dpf_n10(void **state) { (void)state; check_dpf(10, 1000); }
static void test_dpf_n13(void **state) { (void)state; check_dpf(13, 3001); }
static void test_dpf_n32(void **state) { (void)state; check_dpf(32, 4096); }
static void test_dpf_n50(void **state) { (void)state; check_dpf(50, 2023); }
static void test_dpf_n64(void **state) { (void)state; check_dpf(64, 1037); }
/* Fewer elements than a warp, and one element. */
static void test_dpf_small_batches(void **state) {
  (void)state;
  check_dpf(9, 5);
  check_dpf(20, 1);
}

/* The dispatchers: from the same seeded ctx->rng both backends draw the same roots, so ff_dpf_keygen
 * gives identical keys; ff_dpf_eval_* pick the backend's twin. */
static void test_dpf_dispatch(void **state) {
  (void)state;
  const int n = 16;
  const size_t N = 777, E = 2;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 5);
  uint64_t alpha[777], x[2 * 777];
  for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&rng);
  for (size_t p = 0; p < E * N; p++) x[p] = p < N ? alpha[p] : ff_rng_u64(&rng);
  uint64_t *dalpha = dev_upload(alpha, sizeof alpha), *dx = dev_upload(x, sizeof x);
  ff_dpf_key h0, h1, d0, d1;
  assert_int_equal(ff_dpf_key_alloc(&cpu, &h0, n, N), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&cpu, &h1, n, N), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&gpu, &d0, n, N), FF_OK);
  assert_int_equal(ff_dpf_key_alloc(&gpu, &d1, n, N), FF_OK);
  ff_rng_init_seeded(&cpu.rng, 99);
  ff_rng_init_seeded(&gpu.rng, 99);
  assert_int_equal(ff_dpf_keygen(&cpu, alpha, &h0, &h1), FF_OK);
  assert_int_equal(ff_dpf_keygen(&gpu, dalpha, &d0, &d1), FF_OK);
  uint8_t *k0 = dev_download(d0.buf, d0.bytes), *k1 = dev_download(d1.buf, d1.bytes);
  assert_int_equal(diff_keys("ff_dpf_keygen party 0", &h0, k0), 0);
  assert_int_equal(diff_keys("ff_dpf_keygen party 1", &h1, k1), 0);
  uint8_t want[(2 * 777 + 7) / 8], *dout = dev_alloc(sizeof want);
  assert_int_equal(ff_dpf_eval_lt(&cpu, &h1, E, x, want), FF_OK);
  assert_int_equal(ff_dpf_eval_lt(&gpu, &d1, E, dx, dout), FF_OK);
  uint8_t *got = dev_download(dout, sizeof want);
  assert_int_equal(diff_bits("ff_dpf_eval_lt dispatch", want, got, E * N, N), 0);
  free(got);

  /* Wrong memory for the backend, misaligned full-domain output, and n too large for it. */
  ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_dpf_eval_point(&gpu, &h0, E, dx, dout), FF_EINVAL);
  assert_int_equal(ff_dpf_eval_point(&cpu, &d0, E, x, want), FF_EINVAL);
  assert_int_equal(ff_dpf_eval_all_cuda(&gpu, &d0, dout + 1), FF_EINVAL);
  ff_log_set_level(saved);

  dev_free(dalpha);
  dev_free(dx);
  dev_free(dout);
  free(k0);
  free(k1);
  ff_dpf_key_free(&h0);
  ff_dpf_key_free(&h1);
  ff_dpf_key_free(&d0);
  ff_dpf_key_free(&d1);
}

/* ---- Truth tables ------------------------------------------------------------------------------------ */

/* n = 1..7, N = 1001, E = 3 (x = alpha, alpha + 1, random): tables made by ff_sstab_keygen on each
 * backend from the same seed are identical, and CUDA evaluation equals the CPU's. */
static void test_sstab(void **state) {
  (void)state;
  enum { E = 3 };
  const size_t N = 1001, total = E * N, bytes = bit_bytes(total);
  for (int n = 1; n <= FF_SSTAB_MAX_BITS; n++) {
    ff_rng rng;
    ff_rng_init_seeded(&rng, 300 + (uint64_t)n);
    uint64_t *alpha = xmalloc(N * sizeof *alpha), *x = xmalloc(total * sizeof *x);
    for (size_t j = 0; j < N; j++) alpha[j] = ff_rng_u64(&rng);
    for (size_t j = 0; j < N; j++) {
      x[j] = alpha[j];
      x[N + j] = alpha[j] + 1;
      x[2 * N + j] = ff_rng_u64(&rng);
    }
    uint64_t *dalpha = dev_upload(alpha, N * sizeof *alpha), *dx = dev_upload(x, total * sizeof *x);
    ff_sstab_key h[2], d[2];
    for (int b = 0; b < 2; b++) {
      assert_int_equal(ff_sstab_key_alloc(&cpu, &h[b], n, N), FF_OK);
      assert_int_equal(ff_sstab_key_alloc(&gpu, &d[b], n, N), FF_OK);
    }
    ff_rng_init_seeded(&cpu.rng, 400 + (uint64_t)n);
    ff_rng_init_seeded(&gpu.rng, 400 + (uint64_t)n);
    assert_int_equal(ff_sstab_keygen(&cpu, alpha, &h[0], &h[1]), FF_OK);
    assert_int_equal(ff_sstab_keygen(&gpu, dalpha, &d[0], &d[1]), FF_OK);
    uint8_t *dout = dev_alloc(bytes), *want = xmalloc(bytes);
    char what[96];
    for (int b = 0; b < 2; b++) {
      uint8_t *tab = dev_download(d[b].tab, d[b].bytes);
      assert_memory_equal(tab, h[b].tab, h[b].bytes);
      free(tab);
      for (int lt = 0; lt < 2; lt++) {
        assert_int_equal((lt ? ff_sstab_eval_lt_cpu : ff_sstab_eval_point_cpu)(&cpu, &h[b], E, x, want), FF_OK);
        assert_int_equal(FF_CUDA_CHECK(cudaMemsetAsync(dout, 0xa5, bytes, (cudaStream_t)gpu.stream)), FF_OK);
        assert_int_equal((lt ? ff_sstab_eval_lt : ff_sstab_eval_point)(&gpu, &d[b], E, dx, dout), FF_OK);
        uint8_t *got = dev_download(dout, bytes);
        snprintf(what, sizeof what, "sstab %s n=%d party %d", lt ? "eval_lt" : "eval_point", n, b);
        assert_int_equal(diff_bits(what, want, got, total, N), 0);
        free(got);
      }
    }
    /* A host table copied to the device evaluates the same. */
    assert_int_equal(ff_sstab_key_copy(&gpu, &d[0], &h[1]), FF_OK);
    assert_int_equal(ff_sstab_eval_lt_cpu(&cpu, &h[1], E, x, want), FF_OK);
    assert_int_equal(ff_sstab_eval_lt_cuda(&gpu, &d[0], E, dx, dout), FF_OK);
    uint8_t *got = dev_download(dout, bytes);
    assert_int_equal(diff_bits("sstab copied key", want, got, total, N), 0);
    free(got);
    for (int b = 0; b < 2; b++) {
      ff_sstab_key_free(&h[b]);
      ff_sstab_key_free(&d[b]);
    }
    dev_free(dalpha);
    dev_free(dx);
    dev_free(dout);
    free(want);
    free(alpha);
    free(x);
  }
}

int main(void) {
  if (ff_cuda_device_count() == 0) {
    fprintf(stderr, "test_fss_cuda: no CUDA device, skipped\n");
    return 77;
  }
  if (ff_ctx_init(&cpu, FF_BACKEND_CPU, 0) != FF_OK || ff_ctx_init(&gpu, FF_BACKEND_CUDA, 0) != FF_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rng_draw),  cmocka_unit_test(test_aes_kat),   cmocka_unit_test(test_prg),
      cmocka_unit_test(test_dpf_n8),    cmocka_unit_test(test_dpf_n10),   cmocka_unit_test(test_dpf_n13),
      cmocka_unit_test(test_dpf_n32),   cmocka_unit_test(test_dpf_n50),   cmocka_unit_test(test_dpf_n64),
      cmocka_unit_test(test_dpf_small_batches), cmocka_unit_test(test_dpf_dispatch), cmocka_unit_test(test_sstab),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  ff_ctx_destroy(&gpu);
  ff_ctx_destroy(&cpu);
  return rc;
}
