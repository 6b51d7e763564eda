/* SIGMA's select gate, CPU reference: keys, dealer, the local kernel and the gate with its optional
 * reconstruct (research/sigma.md §4 "Select"; GPU-MPC fss/gpu_select.cu), plus the reconstruct the
 * FSS gates share. Test: tests/test_lut.c. */
#include "gates/fss/select.h"

#include <stdlib.h>
#include <string.h>

#include "comm/chan.h"
#include "comm/pack.h"
#include "core/cuda.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dpf.h" /* ff__fss_buf_*: buffers on either backend */
#include "scope/scope.h"

#ifdef FF_HAVE_CUDA
#include "core/cuda_check.h"
#endif

/* ---- Reconstruct ----------------------------------------------------------------------------------
 * Host memory: pack, one exchange, add. Device memory (a CUDA party): the share is packed on the device,
 * downloaded into pinned staging piece by piece while earlier pieces are on the link, each piece of the
 * peer's share uploaded as it arrives, and added in on the device: only packed bytes cross PCIe, nothing
 * is allocated once the staging has grown to the largest reconstruct, and the host waits only for the
 * bytes it hands to the link (the result is stream-ordered, not waited for). */

/* Pieces of at least this size; at most FF__RECON_PIECES of them per exchange. */
#define FF__RECON_PIECE_MIN ((size_t)512 << 10)
#define FF__RECON_PIECES 16

/* The wire of a reconstruct is the concatenation of its segments' packed bytes (select.h); each segment
 * sits in the device staging at an 8-byte aligned offset of its own (the kernels read whole words). */
typedef struct {
  size_t wire_off, dev_off, len;
} ff__recon_place;

static void ff__recon_layout(const ff_recon_seg *seg, int nseg, ff__recon_place *pl, size_t *wire, size_t *dev) {
  *wire = *dev = 0;
  for (int i = 0; i < nseg; i++) {
    pl[i].len = ff_packed_size(seg[i].n, seg[i].bits_a + seg[i].bits_b);
    pl[i].wire_off = *wire;
    pl[i].dev_off = *dev;
    *wire += pl[i].len;
    *dev += (pl[i].len + 15) & ~(size_t)15;
  }
}

#ifdef FF_HAVE_CUDA
typedef struct {
  ff_cuda_stage *stg;
  cudaStream_t s;
  size_t piece;
  const ff__recon_place *pl;
  int nseg;
} ff__recon_dev;

static ff_status ff__recon_ready(void *arg, size_t off, size_t len) {
  (void)len;
  const ff__recon_dev *r = arg;
  return FF_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)r->stg->events[off / r->piece]));
}

/* Copies wire bytes [off, off + len) between host staging and the segments' device places. */
static ff_status ff__recon_copy(const ff__recon_dev *r, size_t off, size_t len, int down) {
  ff_status st = FF_OK;
  for (int i = 0; i < r->nseg && !st; i++) {
    const size_t a = off > r->pl[i].wire_off ? off : r->pl[i].wire_off;
    const size_t e = off + len < r->pl[i].wire_off + r->pl[i].len ? off + len : r->pl[i].wire_off + r->pl[i].len;
    if (a >= e) continue;
    uint8_t *dev = (uint8_t *)(down ? r->stg->dev_out : r->stg->dev_in) + r->pl[i].dev_off + (a - r->pl[i].wire_off);
    uint8_t *host = (uint8_t *)(down ? r->stg->host_out : r->stg->host_in) + a;
    st = down ? FF_CUDA_CHECK(cudaMemcpyAsync(host, dev, e - a, cudaMemcpyDeviceToHost, r->s))
              : FF_CUDA_CHECK(cudaMemcpyAsync(dev, host, e - a, cudaMemcpyHostToDevice, r->s));
  }
  return st;
}

static ff_status ff__recon_arrived(void *arg, size_t off, size_t len) { return ff__recon_copy(arg, off, len, 0); }

static ff_status ff__reconstruct_device(ff_ctx *ctx, const ff_recon_seg *seg, int nseg) {
  ff__recon_place pl[FF_RECON_MAX_SEGS];
  size_t nb, dev_bytes;
  ff__recon_layout(seg, nseg, pl, &nb, &dev_bytes);
  if (!nb) return FF_OK;
  size_t piece = (nb + FF__RECON_PIECES - 1) / FF__RECON_PIECES;
  if (piece < FF__RECON_PIECE_MIN) piece = FF__RECON_PIECE_MIN;
  const int pieces = (int)((nb + piece - 1) / piece);
  ff_status st = ff_cuda_stage_reserve(&ctx->stage, dev_bytes > nb ? dev_bytes : nb, pieces);
  if (st) return st;
  ff__recon_dev r = {ctx->stage, (cudaStream_t)ctx->stream, piece, pl, nseg};
  for (int i = 0; i < nseg && !st; i++)
    st = ff_pack_fields_cuda(ctx->stream, seg[i].a, seg[i].bits_a, seg[i].b, seg[i].bits_b, seg[i].n,
                             (uint8_t *)r.stg->dev_out + pl[i].dev_off);
  for (size_t off = 0; off < nb && !st; off += piece) {
    const size_t len = nb - off < piece ? nb - off : piece;
    if (!(st = ff__recon_copy(&r, off, len, 1)))
      st = FF_CUDA_CHECK(cudaEventRecord((cudaEvent_t)r.stg->events[off / piece], r.s));
  }
  if (st || (st = ff_chan_exchange_pieces(ctx->chan, r.stg->host_out, r.stg->host_in, nb, piece, ff__recon_ready,
                                          ff__recon_arrived, &r)))
    return st;
  for (int i = 0; i < nseg && !st; i++)
    st = ff_unpack_add_fields_cuda(ctx->stream, (const uint8_t *)r.stg->dev_in + pl[i].dev_off, seg[i].a, seg[i].bits_a,
                                   seg[i].b, seg[i].bits_b, seg[i].n);
  return st;
}
#endif

static ff_status ff__reconstruct_host(ff_ctx *ctx, const ff_recon_seg *seg, int nseg) {
  ff__recon_place pl[FF_RECON_MAX_SEGS];
  size_t nb, dev_bytes;
  ff__recon_layout(seg, nseg, pl, &nb, &dev_bytes);
  if (!nb) return FF_OK;
  uint8_t small[2048];
  uint8_t *buf = 2 * nb <= sizeof small ? small : malloc(2 * nb);
  if (!buf) {
    FF_ERROR("reconstruct: cannot allocate %zu bytes of packing buffers", 2 * nb);
    return FF_ENOMEM;
  }
  for (int i = 0; i < nseg; i++)
    ff_pack_fields(seg[i].a, seg[i].bits_a, seg[i].b, seg[i].bits_b, seg[i].n, buf + pl[i].wire_off);
  ff_status st = ff_chan_exchange(ctx->chan, buf, buf + nb, nb);
  for (int i = 0; i < nseg && !st; i++)
    ff_unpack_add_fields(buf + nb + pl[i].wire_off, seg[i].a, seg[i].bits_a, seg[i].b, seg[i].bits_b, seg[i].n);
  if (buf != small) free(buf);
  return st;
}

ff_status ff__fss_reconstruct_segs(ff_ctx *ctx, ff_mem where, const ff_recon_seg *seg, int nseg) {
  if (!ctx || !ctx->chan) {
    FF_ERROR("reconstruct: the context is NULL or has no channel to the peer");
    return FF_EINVAL;
  }
  if (nseg < 1 || nseg > FF_RECON_MAX_SEGS || !seg) {
    FF_ERROR("reconstruct: %d segments (1..%d)", nseg, FF_RECON_MAX_SEGS);
    return FF_EINVAL;
  }
  for (int i = 0; i < nseg; i++) {
    const ff_recon_seg *g = &seg[i];
    if (g->bits_a < 1 || g->bits_b < 0 || g->bits_a + g->bits_b > 64 || (g->bits_b && !g->b) || (g->n && !g->a)) {
      FF_ERROR("reconstruct: fields of %d and %d bits (need 1 <= a, 0 <= b, a + b <= 64)", g->bits_a, g->bits_b);
      return FF_EINVAL;
    }
  }
  if (where == FF_MEM_HOST) return ff__reconstruct_host(ctx, seg, nseg);
#ifdef FF_HAVE_CUDA
  return ff__reconstruct_device(ctx, seg, nseg);
#else
  FF_ERROR("reconstruct: device memory in a build without CUDA");
  return FF_ENOTSUP;
#endif
}

ff_status ff__fss_reconstruct_fields(ff_ctx *ctx, ff_mem where, uint64_t *a, int bits_a, uint64_t *b, int bits_b,
                                     size_t n) {
  const ff_recon_seg seg = {a, bits_a, b, bits_b, n};
  return ff__fss_reconstruct_segs(ctx, where, &seg, 1);
}

ff_status ff__fss_reconstruct(ff_ctx *ctx, ff_mem where, uint64_t *vals, size_t n, int bits) {
  return ff__fss_reconstruct_fields(ctx, where, vals, bits, NULL, 0, n);
}

/* ---- Keys --------------------------------------------------------------------------------------- */

size_t ff_select_key_bytes(size_t N) {
  size_t bytes;
  if (!N || __builtin_mul_overflow(N, (size_t)(FF_SELECT_KEY_ELEMS * sizeof(uint64_t)), &bytes)) return 0;
  return bytes;
}

static void ff__select_key_layout(ff_select_key *k) {
  uint64_t *p = (uint64_t *)k->buf;
  k->a = p;
  k->b = p + k->N;
  k->c = p + 2 * k->N;
  k->d1 = p + 3 * k->N;
  k->d2 = p + 4 * k->N;
}

ff_status ff_select_key_alloc(ff_ctx *ctx, ff_select_key *k, int bw, size_t N) {
  if (!k || !ctx) {
    FF_ERROR("ff_select_key_alloc: key or context is NULL");
    return FF_EINVAL;
  }
  memset(k, 0, sizeof *k);
  size_t bytes = ff_select_key_bytes(N);
  if (bw < 1 || bw > 64 || !bytes) {
    FF_ERROR("ff_select_key_alloc: need 1 <= bw <= 64 and 0 < N with a size that fits (bw = %d, N = %zu)", bw, N);
    return FF_EINVAL;
  }
  ff_status st = ff__fss_buf_alloc(ctx, "ff_select_key_alloc", bytes, &k->buf, &k->where);
  if (st) return st;
  k->bw = bw;
  k->N = N;
  k->bytes = bytes;
  ff__select_key_layout(k);
  return FF_OK;
}

void ff_select_key_free(ff_select_key *k) {
  if (!k) return;
  ff__fss_buf_free(k->buf, k->where);
  memset(k, 0, sizeof *k);
}

static ff_status ff__select_key_check(const char *fn, const ff_select_key *k, ff_mem where) {
  if (!k || !k->buf || k->bytes != ff_select_key_bytes(k->N) || k->bw < 1 || k->bw > 64) {
    FF_ERROR("%s: select key is NULL or not allocated with ff_select_key_alloc", fn);
    return FF_EINVAL;
  }
  if (k->where != where) {
    FF_ERROR("%s: the select key is in %s memory, this call wants %s memory", fn,
             k->where == FF_MEM_HOST ? "host" : "device", where == FF_MEM_HOST ? "host" : "device");
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_select_key_copy(ff_ctx *ctx, ff_select_key *dst, const ff_select_key *src) {
  if (!dst || !src || !dst->buf || !src->buf || dst->bw != src->bw || dst->N != src->N) {
    FF_ERROR("ff_select_key_copy: keys must be allocated with the same bw and N");
    return FF_EINVAL;
  }
  return ff__fss_buf_copy(ctx, "ff_select_key_copy", dst->buf, dst->where, src->buf, src->where, src->bytes);
}

ff_status ff_select_key_serialize(const ff_select_key *k, void *out, size_t cap) {
  ff_status st = ff__select_key_check("ff_select_key_serialize", k, FF_MEM_HOST);
  if (st) return st;
  if (!out || cap < k->bytes) {
    FF_ERROR("ff_select_key_serialize: need %zu bytes of output, have %zu", k->bytes, out ? cap : 0);
    return out ? FF_ERANGE : FF_EINVAL;
  }
  memcpy(out, k->buf, k->bytes);
  return FF_OK;
}

ff_status ff_select_key_deserialize(ff_select_key *k, int bw, size_t N, const void *in, size_t len) {
  ff_ctx host = {.backend = FF_BACKEND_CPU};
  if (!in) {
    FF_ERROR("ff_select_key_deserialize: input is NULL");
    return FF_EINVAL;
  }
  ff_status st = ff_select_key_alloc(&host, k, bw, N);
  if (st) return st;
  if (len != k->bytes) {
    FF_ERROR("ff_select_key_deserialize: %zu select keys take %zu bytes, got %zu", N, k->bytes, len);
    ff_select_key_free(k);
    return FF_EFORMAT;
  }
  memcpy(k->buf, in, len);
  return FF_OK;
}

/* ---- Dealer ------------------------------------------------------------------------------------- */

ff_status ff_select_keygen(ff_ctx *ctx, const uint64_t *r_x, const uint64_t *r_y, const uint64_t *r_out,
                           ff_select_key *k0, ff_select_key *k1) {
  ff_status st;
  if ((st = ff__select_key_check("ff_select_keygen", k0, FF_MEM_HOST)) ||
      (st = ff__select_key_check("ff_select_keygen", k1, FF_MEM_HOST)))
    return st;
  if (!ctx || !r_x || !r_y || !r_out || k0->bw != k1->bw || k0->N != k1->N) {
    FF_ERROR("ff_select_keygen: NULL argument or keys of different shapes");
    return FF_EINVAL;
  }
  const int bw = k0->bw;
  const size_t N = k0->N;
  /* Party 0's five shares are uniform; party 1 gets value - share. */
  uint64_t *s0 = (uint64_t *)k0->buf, *s1 = (uint64_t *)k1->buf;
  if ((st = ff_rng_ring(&ctx->rng, s0, FF_SELECT_KEY_ELEMS * N, bw)) ||
      (st = ff_select_key_values_cpu(ctx, N, r_x, r_y, r_out, s1)))
    return st;
  for (size_t i = 0; i < FF_SELECT_KEY_ELEMS * N; i++) s1[i] = ff_ring_reduce(s1[i] - s0[i], bw);
  return FF_OK;
}

ff_status ff_select_key_values_cpu(ff_ctx *ctx, size_t N, const uint64_t *r_x, const uint64_t *r_y,
                                   const uint64_t *r_out, uint64_t *vals) {
  (void)ctx;
  for (size_t j = 0; j < N; j++) {
    const uint64_t rx = r_x[j] & 1, ry = r_y[j];
    vals[j] = rx;
    vals[N + j] = ry;
    vals[2 * N + j] = rx * ry + r_out[j];
    vals[3 * N + j] = 2 * rx;
    vals[4 * N + j] = (uint64_t)0 - 2 * rx * ry;
  }
  return FF_OK;
}

/* ---- The local kernel ---------------------------------------------------------------------------- */

ff_status ff__select_eval_check(const char *fn, ff_ctx *ctx, const ff_select_key *k, ff_mem where, size_t n_bits,
                                const uint64_t *xhat, const uint64_t *yhat, const uint64_t *out) {
  ff_status st = ff__select_key_check(fn, k, where);
  if (st) return st;
  if (!ctx || !xhat || !yhat || !out || (ctx->party != 0 && ctx->party != 1)) {
    FF_ERROR("%s: NULL argument, or the context is not party 0 or 1", fn);
    return FF_EINVAL;
  }
  if (!n_bits || k->N % n_bits) {
    FF_ERROR("%s: the %zu masked bits must divide the %zu values", fn, n_bits, k->N);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_select_eval_cpu(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                             const uint64_t *yhat, uint64_t *out) {
  ff_status st = ff__select_eval_check("ff_select_eval_cpu", ctx, k, FF_MEM_HOST, n_bits, xhat, yhat, out);
  if (st) return st;
  const uint64_t p1 = (uint64_t)(ctx->party == 1), m = ff_ring_mask(k->bw);
  for (size_t i = 0; i < k->N; i++) {
    const uint64_t x = xhat[i % n_bits] & 1, y = yhat[i], nx = 1 - x;
    const uint64_t o = (uint64_t)0 - k->a[i] * y - k->b[i] * x + k->c[i] + nx * (k->d1[i] * y + k->d2[i]) + p1 * x * y;
    out[i] = o & m;
  }
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
ff_status ff_select_key_values_cuda(ff_ctx *ctx, size_t N, const uint64_t *r_x, const uint64_t *r_y,
                                    const uint64_t *r_out, uint64_t *vals) {
  (void)ctx, (void)N, (void)r_x, (void)r_y, (void)r_out, (void)vals;
  FF_ERROR("ff_select_key_values_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff_select_eval_cuda(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                              const uint64_t *yhat, uint64_t *out) {
  (void)ctx, (void)k, (void)n_bits, (void)xhat, (void)yhat, (void)out;
  FF_ERROR("ff_select_eval_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
#endif

ff_status ff_select_eval(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                         const uint64_t *yhat, uint64_t *out) {
  if (!ctx) {
    FF_ERROR("ff_select_eval: context is NULL");
    return FF_EINVAL;
  }
  return ctx->backend == FF_BACKEND_CUDA ? ff_select_eval_cuda(ctx, k, n_bits, xhat, yhat, out)
                                         : ff_select_eval_cpu(ctx, k, n_bits, xhat, yhat, out);
}

/* ---- The gate ---------------------------------------------------------------------------------------- */

ff_status ff_select(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat, const uint64_t *yhat,
                    int reveal, uint64_t *out) {
  FF_SCOPE("FSS::Select");
  ff_status st = ff_select_eval(ctx, k, n_bits, xhat, yhat, out);
  if (st || !reveal) return st;
  FF_SCOPE("Reconstruct");
  return ff__fss_reconstruct(ctx, k->where, out, k->N, k->bw);
}

void ff_select_cost(int bw, size_t N, int reveal, ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  c->key_bytes = (uint64_t)N * FF_SELECT_KEY_ELEMS * sizeof(uint64_t);
  if (reveal) {
    c->bits_sent = (uint64_t)N * (uint64_t)bw;
    c->bytes_sent = (c->bits_sent + 7) / 8;
    c->rounds = 1;
  }
}
