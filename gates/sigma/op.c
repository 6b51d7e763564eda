/* The sigma op session (DESIGN.md §2 "One model graph, two roles"): roles, key stream framing and
 * accounting, inputs, outputs, reconstruct, and the masked comparison the gates share
 * (research/sigma.md §3-§4). Test: tests/test_sigma_gates.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/cuda.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dpf.h"
#include "gates/fss/lut.h"
#include "gates/fss/prg.h"
#include "gates/fss/select.h"
#include "gates/fss/sstab.h"
#include "gates/sigma/op_internal.h"

#ifdef FF_HAVE_CUDA
#include "core/cuda_check.h"
#endif

#define FF__SG_MAGIC UINT32_C(0x47534646) /* "FFSG" little-endian */

static const char *const ff__sg_names[] = {"?",     "Input", "Output", "TrFloor", "TrWithSlack",
                                           "DReLU", "ReLU",  "Mul",    "Matmul", "MatmulEx"};

static const char *ff__sg_name(uint32_t gate) {
  switch (gate) { /* the ids past the dense table (op_internal.h) */
    case FF__SG_GELU: return "GELU/SiLU";
    case FF__SG_SOFTMAX: return "Softmax";
    case FF__SG_LAYERNORM: return "LayerNorm";
    case FF__SG_RMSNORM: return "RMSNorm";
    case FF__SG_ROTARY: return "Rotary";
    case FF__SG_SUF: return "suf gate";
    case FF__SG_SUF_SPARSE: return "suf sparse gate";
    default: break;
  }
  return gate < sizeof ff__sg_names / sizeof ff__sg_names[0] ? ff__sg_names[gate] : "?";
}

/* ---- Session ---------------------------------------------------------------------------------------- */

void ff_wire_free(ff_wire *w) {
  if (!w) return;
  ff__fss_buf_free(w->v, w->where); /* free() for host wires; a CUDA party's: stream-ordered */
  memset(w, 0, sizeof *w);
}

void *ff__op_alloc(size_t n, const char *what) {
  void *p = calloc(1, n ? n : 1);
  if (!p) FF_ERROR("%s: cannot allocate %zu bytes", what, n);
  return p;
}

ff_status ff_op_create(ff_op **out, const ff_op_params *p) {
  if (!out || !p) {
    FF_ERROR("ff_op_create: out or params is NULL");
    return FF_EINVAL;
  }
  *out = NULL;
  if (p->role != FF_OP_DEALER && p->role != FF_OP_PARTY && p->role != FF_OP_COST) {
    FF_ERROR("ff_op_create: role %d is not dealer, party or cost", (int)p->role);
    return FF_EINVAL;
  }
  if (!ff_ring_params_valid(p->bw, p->scale) || p->bw < 2) {
    FF_ERROR("ff_op_create: need 2 <= bw <= 64 and 0 <= scale < bw (bw = %d, scale = %d)", p->bw, p->scale);
    return FF_EINVAL;
  }
  int party = -1;
  if (p->role == FF_OP_DEALER) {
    if (!p->ctx || !p->keys[0] || !p->keys[1]) {
      FF_ERROR("ff_op_create: the dealer needs a context and a key stream writer per party");
      return FF_EINVAL;
    }
    if (p->ctx->backend == FF_BACKEND_CUDA && (!ff_cuda_built() || !p->ctx->stream)) {
      FF_ERROR("ff_op_create: a dealer on CUDA needs a build with the CUDA backend and a context with its stream");
      return ff_cuda_built() ? FF_EINVAL : FF_ENOTSUP;
    }
  } else if (p->role == FF_OP_PARTY) {
    if (p->key_placement != FF_KEYS_STREAM && p->key_placement != FF_KEYS_PRELOAD && p->key_placement != FF_KEYS_HOST) {
      FF_ERROR("ff_op_create: key placement %d is not stream, preload or host", (int)p->key_placement);
      return FF_EINVAL;
    }
    if (!p->ctx || (p->ctx->party != 0 && p->ctx->party != 1) || !p->ctx->chan) {
      FF_ERROR("ff_op_create: a party needs a context of party 0 or 1 with a channel");
      return FF_EINVAL;
    }
    party = p->ctx->party;
    if (!p->keys[party]) {
      FF_ERROR("ff_op_create: party %d has no key stream", party);
      return FF_EINVAL;
    }
    if (ff_keystream_party(p->keys[party]) != party) {
      FF_ERROR("ff_op_create: key stream %s holds party %d's keys, not party %d's",
               ff_keystream_name(p->keys[party]), ff_keystream_party(p->keys[party]), party);
      return FF_EMISMATCH;
    }
    if (p->ctx->backend == FF_BACKEND_CUDA && !ff_cuda_built()) {
      FF_ERROR("ff_op_create: a CUDA party needs a build of fusefss with the CUDA backend");
      return FF_ENOTSUP;
    }
  }
  ff_op *op = ff__op_alloc(sizeof *op, "ff_op_create");
  if (!op) return FF_ENOMEM;
  op->role = p->role;
  op->bw = p->bw;
  op->scale = p->scale;
  op->party = party;
  op->ctx = p->ctx;
  if (p->role == FF_OP_DEALER && p->ctx->backend == FF_BACKEND_CUDA) {
    /* The dealer works on the host (op.h "What runs where"): the gates see a host context that draws
     * from ctx's generator, in the same order, and hands the tree keygens of gates/fss to ctx's stream. */
    op->host = (ff_ctx){.backend = FF_BACKEND_CPU, .party = FF_DEALER, .prof = p->ctx->prof, .keygen_dev = p->ctx};
    ff_rng_init_shared(&op->host.rng, &p->ctx->rng);
    op->ctx = &op->host;
    if (p->deal_on_device) op->deal_ctx = p->ctx;
  }
  op->placement = p->role == FF_OP_PARTY ? p->key_placement : FF_KEYS_STREAM;
  op->on_cost = p->on_cost;
  op->on_cost_arg = p->on_cost_arg;
  if (p->role != FF_OP_COST) {
    op->keys[0] = p->keys[0];
    op->keys[1] = p->keys[1];
  }
  *out = op;
  return FF_OK;
}

static void ff__op_image_free(ff_op *op) {
#ifdef FF_HAVE_CUDA
  if (op->dimg) (void)FF_CUDA_CHECK(cudaFreeAsync(op->dimg, (cudaStream_t)op->ctx->stream));
  if (op->img && op->img_pinned) {
    (void)FF_CUDA_CHECK(cudaFreeHost(op->img));
    op->img = NULL;
  }
#endif
  free(op->img);
  op->img = NULL;
  op->dimg = NULL;
  op->img_pinned = 0;
}

void ff_op_destroy(ff_op *op) {
  if (op) {
    free(op->stage);
    ff__op_image_free(op);
    for (int i = 0; i < op->n_tables; i++) ff__op_buf_free(op, op->tables[i].v);
  }
  free(op);
}

ff_status ff__op_table(ff_op *op, ff__op_table_id id, size_t n, ff__op_table_fill fill, void *arg, const uint64_t **out) {
  *out = NULL;
  for (int i = 0; i < op->n_tables; i++)
    if (!memcmp(op->tables[i].key, id.k, sizeof id.k) && op->tables[i].x == id.x && op->tables[i].n == n) {
      *out = op->tables[i].v;
      return FF_OK;
    }
  if (op->n_tables == FF__OP_TABLES) {
    FF_ERROR("sigma: more than %d distinct public tables in one op session", FF__OP_TABLES);
    return FF_ENOMEM;
  }
  void *v = NULL;
  uint64_t *host = ff__op_on_device(op) ? ff__op_alloc(n * sizeof *host, "public table") : NULL;
  ff_status st = ff__op_on_device(op) && !host ? FF_ENOMEM : FF_OK;
  if (!st) st = ff__op_buf_alloc(op, n * sizeof *host, "public table", &v);
  if (!st) st = fill(arg, host ? host : v);
  if (!st && host) st = ff__op_upload(op, v, host, n * sizeof *host); /* waits: host is freed below */
  free(host);
  if (st) {
    ff__op_buf_free(op, v);
    return st;
  }
  memcpy(op->tables[op->n_tables].key, id.k, sizeof id.k);
  op->tables[op->n_tables].x = id.x;
  op->tables[op->n_tables].n = n;
  op->tables[op->n_tables++].v = v;
  *out = v;
  return FF_OK;
}

ff_op_role ff_op_get_role(const ff_op *op) { return op->role; }
int ff_op_party(const ff_op *op) { return op->party; }
int ff_op_bw(const ff_op *op) { return op->bw; }
int ff_op_scale(const ff_op *op) { return op->scale; }

int ff_op_set_scale(ff_op *op, int scale) {
  const int was = op->scale;
  op->scale = scale;
  return was;
}

ff_gate_cost ff_op_cost(const ff_op *op, int p) {
  ff_gate_cost zero = {0, 0, 0, 0};
  return (op && (p == 0 || p == 1)) ? op->cost[p] : zero;
}

uint64_t ff_op_tag_bytes(const ff_op *op, int p) { return (op && (p == 0 || p == 1)) ? op->tag_bytes[p] : 0; }

/* ---- Accounting ------------------------------------------------------------------------------------ */

void ff__op_enter(ff_op *op) {
  if (op->role == FF_OP_PARTY && op->depth++ == 0) op->comm0 = ff_scope_thread_comm();
}

void ff__op_leave(ff_op *op) {
  if (op->role != FF_OP_PARTY || --op->depth > 0) return;
  const ff_comm_delta now = ff_scope_thread_comm();
  op->cost[op->party].bytes_sent += now.sent_B - op->comm0.sent_B;
  op->cost[op->party].rounds += now.rounds - op->comm0.rounds;
}

void ff__op_charge(ff_op *op, const ff_gate_cost c[2]) {
  for (int p = 0; p < 2; p++) op->cost[p] = ff_gate_cost_add(op->cost[p], c[p]);
  if (op->role == FF_OP_COST && op->on_cost) op->on_cost(op->on_cost_arg, c);
}

void ff__op_charge_both(ff_op *op, const ff_gate_cost *c) {
  const ff_gate_cost cc[2] = {*c, *c};
  ff__op_charge(op, cc);
}

/* ---- Key stream framing ------------------------------------------------------------------------------ */

static void ff__tag_encode(const ff__sg_tag *t, uint8_t out[FF_OP_TAG_BYTES]) {
  const uint32_t w[4] = {FF__SG_MAGIC, t->gate, t->bw, t->a};
  memcpy(out, w, 16);
  memcpy(out + 16, &t->b, 4);
  memset(out + 20, 0, 4);
  memcpy(out + 24, t->d, 24);
}

static const char *ff__tag_str(const uint8_t in[FF_OP_TAG_BYTES], char *buf, size_t n) {
  uint32_t w[5];
  uint64_t d[3];
  memcpy(w, in, 16);
  memcpy(&w[4], in + 16, 4);
  memcpy(d, in + 24, 24);
  if (w[0] != FF__SG_MAGIC) {
    snprintf(buf, n, "no op tag (bytes of another stream layout)");
    return buf;
  }
  snprintf(buf, n, "%s(bw %" PRIu32 ", params %" PRIu32 "/%" PRIu32 ", shape %" PRIu64 "x%" PRIu64 "x%" PRIu64 ")",
           ff__sg_name(w[1]), w[2], w[3], w[4], d[0], d[1], d[2]);
  return buf;
}

/* The gates whose party role runs on CUDA (their kernels have _cuda twins and their bodies keep to
 * the memory of the wires). A gate missing here is refused on a CUDA party before it reads a key
 * byte or touches a device wire from the host; add it once its twins exist. */
static int ff__sg_on_cuda(uint32_t gate) {
  switch (gate) {
    case FF__SG_INPUT:
    case FF__SG_OUTPUT:
    case FF__SG_TRFLOOR:
    case FF__SG_TRSLACK:
    case FF__SG_DRELU:
    case FF__SG_RELU:
    case FF__SG_MUL:
    case FF__SG_MATMUL:
    case FF__SG_MATMUL_EX:
    case FF__SG_GELU:
    case FF__SG_SOFTMAX:
    case FF__SG_LAYERNORM:
    case FF__SG_RMSNORM:
    case FF__SG_ROTARY:
    case FF__SG_SUF: return 1;
    case FF__SG_SUF_SPARSE: return 1;
    default: return 0;
  }
}

static ff_status ff__op_read(ff_op *op, void *dst, size_t n, const char *what);

/* ---- Key placement (op.h ff_op_key_placement) -------------------------------------------------------
 * ff__op_take is every party read of its keys (tags included) into host memory: from the stream
 * (FF_KEYS_STREAM) or from the preloaded image at its cursor (FF_KEYS_PRELOAD, loading it first). Both
 * give FF_ERANGE, logged and with nothing consumed, when fewer than n bytes remain. Unscoped: the
 * callers run inside KeyTransfer. */

static ff_status ff__op_preload(ff_op *op) {
  if (op->role != FF_OP_PARTY || op->placement == FF_KEYS_STREAM || op->preloaded) return FF_OK;
  ff_keystream *ks = op->keys[op->party];
  const uint64_t len = ff_keystream_remaining(ks);
  if (len > SIZE_MAX) {
    FF_ERROR("sigma party %d: key stream %s holds %" PRIu64 " bytes, more than this process can address",
             op->party, ff_keystream_name(ks), len);
    return FF_ENOMEM;
  }
  const size_t n = (size_t)len;
  ff_status st = FF_OK;
  if (ff__op_on_device(op)) {
#ifdef FF_HAVE_CUDA
    cudaStream_t s = (cudaStream_t)op->ctx->stream;
    const int dev = op->placement == FF_KEYS_PRELOAD; /* FF_KEYS_HOST: the pinned host image only */
    void *h = NULL;
    if (FF_CUDA_CHECK(cudaHostAlloc(&h, n ? n : 1, cudaHostAllocDefault))) {
      FF_ERROR("sigma party %d: cannot allocate %zu bytes of pinned host memory for the key image", op->party, n);
      return FF_ENOMEM;
    }
    op->img = h;
    op->img_pinned = 1;
    if (dev && FF_CUDA_CHECK(cudaMallocAsync(&op->dimg, n ? n : 1, s))) {
      op->dimg = NULL;
      FF_ERROR("sigma party %d: cannot allocate %zu bytes of device memory for the key image", op->party, n);
      st = FF_ENOMEM;
    }
    if (!st) st = ff_keystream_read(ks, op->img, n);
    if (!st && n && dev) st = FF_CUDA_CHECK(cudaMemcpyAsync(op->dimg, op->img, n, cudaMemcpyHostToDevice, s));
    if (!st && dev) st = FF_CUDA_CHECK(cudaStreamSynchronize(s));
#else
    FF_ERROR("sigma party %d: this build of fusefss has no CUDA backend", op->party);
    return FF_ENOTSUP;
#endif
  } else {
    if (!(op->img = ff__op_alloc(n, "sigma key image"))) return FF_ENOMEM;
    st = ff_keystream_read(ks, op->img, n);
  }
  if (st) {
    ff__op_image_free(op);
    return st;
  }
  op->img_len = len;
  op->img_pos = 0;
  op->preloaded = 1;
  return FF_OK;
}

ff_status ff_op_preload_keys(ff_op *op) {
  if (!op) return FF_EINVAL;
  if (op->role != FF_OP_PARTY || op->placement == FF_KEYS_STREAM || op->preloaded) return FF_OK;
  FF_SCOPE("KeyTransfer");
  return ff__op_preload(op);
}

int ff_op_keys_preloaded(const ff_op *op) { return op && op->preloaded; }

uint64_t ff_op_key_cursor(const ff_op *op) { return op && op->preloaded ? op->img_pos : 0; }

ff_status ff_op_rewind_keys(ff_op *op, uint64_t pos) {
  if (!op || !op->preloaded || pos > op->img_len) {
    FF_ERROR("ff_op_rewind_keys: needs a party with a preloaded key image and a position inside it");
    return FF_ESTATE;
  }
  op->img_pos = pos;
  return FF_OK;
}

static uint64_t ff__op_remaining(const ff_op *op) {
  return op->preloaded ? op->img_len - op->img_pos : ff_keystream_remaining(op->keys[op->party]);
}

ff_status ff_op_check_consumed(const ff_op *op) {
  if (!op || op->role != FF_OP_PARTY) return FF_OK;
  const uint64_t left = ff__op_remaining(op);
  if (!left) return FF_OK;
  const uint64_t total = op->preloaded ? op->img_len : ff_keystream_size(op->keys[op->party]);
  FF_ERROR("key stream %s holds %" PRIu64 " unread key bytes: this party consumed %" PRIu64 " of %" PRIu64
           ", so the dealer and this party ran different model graphs (another model, shape or suite)",
           ff_keystream_name(op->keys[op->party]), left, total - left, total);
  return FF_EMISMATCH;
}

/* Range check of an image read (the stream's own message and FF_ERANGE otherwise). */
static ff_status ff__op_image_range(ff_op *op, size_t n) {
  if (n <= op->img_len - op->img_pos) return FF_OK;
  FF_ERROR("the preloaded image of key stream %s ends at byte %" PRIu64 ", but %" PRIu64 " more bytes were "
           "requested (a read of %zu bytes at byte %" PRIu64 "): keys were made for another model or shape",
           ff_keystream_name(op->keys[op->party]), op->img_len, (uint64_t)n - (op->img_len - op->img_pos), n,
           op->img_pos);
  return FF_ERANGE;
}

static ff_status ff__op_take(ff_op *op, void *dst, size_t n) {
  if (op->placement == FF_KEYS_STREAM) return ff_keystream_read(op->keys[op->party], dst, n);
  ff_status st = ff__op_preload(op);
  if (st || (st = ff__op_image_range(op, n))) return st;
  if (n) memcpy(dst, op->img + op->img_pos, n);
  op->img_pos += n;
  return FF_OK;
}

/* ff__op_tag, and for a party that owns a key of the op (Input's mask, Output's for P1) its n key
 * bytes into host memory `key` (NULL: none) in the same KeyTransfer call: every op of both parties
 * opens KeyTransfer exactly once here, so the two parties' trees keep one shape and one call count
 * where only one side reads keys. */
static ff_status ff__op_tag_keys(ff_op *op, const ff__sg_tag *t, void *key, size_t n, const char *what) {
  if (op->role == FF_OP_COST) return FF_OK;
  if (ff__op_on_device(op) && !ff__sg_on_cuda(t->gate)) {
    FF_ERROR("sigma party %d: %s has no CUDA kernels yet; run it on the CPU backend", op->party,
             ff__sg_name(t->gate));
    return FF_ENOTSUP;
  }
  uint8_t mine[FF_OP_TAG_BYTES];
  ff__tag_encode(t, mine);
  if (op->role == FF_OP_DEALER) {
    FF_SCOPE("KeyTransfer"); /* the dealer's side: the tag into both streams */
    for (int p = 0; p < 2; p++) {
      ff_status st = ff_keystream_write(op->keys[p], mine, sizeof mine);
      if (st) {
        FF_ERROR("sigma dealer: cannot write the tag of %s into party %d's key stream", ff__sg_name(t->gate), p);
        return st;
      }
      op->tag_bytes[p] += sizeof mine;
    }
    return FF_OK;
  }
  ff_keystream *ks = op->keys[op->party];
  uint8_t got[FF_OP_TAG_BYTES];
  char a[160], b[160];
  FF_SCOPE("KeyTransfer");
  ff_status st = ff__op_take(op, got, sizeof got);
  if (st == FF_ERANGE) {
    FF_ERROR("sigma party %d: key stream %s is exhausted at %s (%" PRIu64 " bytes left): the keys were made "
             "for a smaller graph",
             op->party, ff_keystream_name(ks), ff__tag_str(mine, a, sizeof a), ff__op_remaining(op));
    return st;
  }
  if (st) return st;
  op->tag_bytes[op->party] += sizeof got;
  if (memcmp(got, mine, sizeof got) != 0) {
    FF_ERROR("sigma party %d: the graph runs %s but key stream %s holds keys for %s: dealer and party ran "
             "different graphs or shapes",
             op->party, ff__tag_str(mine, a, sizeof a), ff_keystream_name(ks), ff__tag_str(got, b, sizeof b));
    return FF_EMISMATCH;
  }
  return key ? ff__op_read(op, key, n, what) : FF_OK;
}

ff_status ff__op_tag(ff_op *op, const ff__sg_tag *t) { return ff__op_tag_keys(op, t, NULL, 0, NULL); }

ff_status ff__op_put(ff_op *op, int p, const void *src, size_t n) {
  FF_SCOPE("KeyTransfer"); /* the dealer's side: its keys into the stream */
  ff_status st = ff_keystream_write(op->keys[p], src, n);
  if (st) {
    FF_ERROR("sigma dealer: cannot write %zu key bytes into party %d's key stream", n, p);
    return st;
  }
  op->cost[p].key_bytes += n;
  return FF_OK;
}

/* ff__op_put of n bytes in device memory (src, ordered by mem's stream): one download per span of the key
 * stream, straight into the stream's memory; nothing for a stream that keeps no bytes. */
typedef struct {
  ff_ctx *mem;
  const uint8_t *src;
  uint64_t *downloaded; /* op->dev_down[p] */
} ff__op_download_fill;

static ff_status ff__op_fill_from_device(void *arg, void *dst, size_t off, size_t len) {
  const ff__op_download_fill *d = arg;
  *d->downloaded += len;
  return ff__fss_buf_copy(d->mem, "sigma dealer", dst, FF_MEM_HOST, d->src + off, FF_MEM_DEVICE, len);
}

ff_status ff__op_put_device(ff_op *op, int p, ff_ctx *mem, const void *src, size_t n) {
  FF_SCOPE("KeyTransfer");
  op->dev_put[p] += n;
  ff__op_download_fill d = {mem, src, &op->dev_down[p]};
  ff_status st = ff_keystream_write_fill(op->keys[p], n, ff__op_fill_from_device, &d);
  if (st) {
    FF_ERROR("sigma dealer: cannot write %zu key bytes from device memory into party %d's key stream", n, p);
    return st;
  }
  op->cost[p].key_bytes += n;
  return FF_OK;
}

ff_status ff__sigma_share_split_cpu(ff_ctx *ctx, size_t n, int bits, const uint64_t *v, uint64_t *s0, uint64_t *s1) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    s0[i] = ff_ring_reduce(s0[i], bits);
    s1[i] = ff_ring_reduce(v[i] - s0[i], bits);
  }
  return FF_OK;
}

ff_status ff__sigma_add_reduce_cpu(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                   uint64_t *out) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) out[i] = ff_ring_reduce(a[i] + b[i], bits);
  return FF_OK;
}

ff_status ff__sigma_cmp_bits_cpu(ff_ctx *ctx, int bits, size_t n, const uint64_t *r, const uint64_t *m, uint64_t *out) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) out[i] = ((r[i] >> (bits - 1)) & 1) ^ (m[i] & 1);
  return FF_OK;
}

ff_status ff__sigma_mul_add_cpu(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                const uint64_t *c, uint64_t *out) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) out[i] = ff_ring_reduce(a[i] * b[i] + c[i], bits);
  return FF_OK;
}

ff_status ff__sigma_narrow_cpu(ff_ctx *ctx, size_t n, int eb, const uint64_t *in, uint8_t *out) {
  (void)ctx;
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < eb; b++) out[i * (size_t)eb + (size_t)b] = (uint8_t)(in[i] >> (8 * b));
  return FF_OK;
}

ff_status ff__sigma_bit_shares_cpu(ff_ctx *ctx, size_t rows, size_t N, const uint64_t *bits, uint8_t *m) {
  (void)ctx;
  const size_t mb = (N + 7) / 8;
  for (size_t r = 0; r < rows && N % 8; r++) m[r * mb + mb - 1] &= (uint8_t)((1u << (N % 8)) - 1);
  memcpy(m + rows * mb, m, rows * mb);
  for (size_t r = 0; r < rows; r++)
    for (size_t i = 0; i < N; i++) m[(rows + r) * mb + i / 8] ^= (uint8_t)((bits[r * N + i] & 1) << (i % 8));
  return FF_OK;
}

ff_status ff__op_put_shares(ff_op *op, const uint64_t *v, size_t n, int bits) {
  return ff__op_put_shares_words(op, v, n, bits, 8);
}

ff_status ff__op_put_words(ff_op *op, int p, const uint64_t *v, size_t n, int eb) {
  if (eb == 8) return ff__op_put(op, p, v, n * sizeof *v);
  uint8_t *buf = ff__op_alloc(n * (size_t)eb, "sigma dealer");
  if (!buf) return FF_ENOMEM;
  ff_status st = ff__sigma_narrow_cpu(op->ctx, n, eb, v, buf);
  if (!st) st = ff__op_put(op, p, buf, n * (size_t)eb);
  free(buf);
  return st;
}

ff_status ff__op_put_shares_words(ff_op *op, const uint64_t *v, size_t n, int bits, int eb) {
  uint64_t *s = ff__op_alloc(2 * n * sizeof *s, "sigma dealer");
  if (!s) return FF_ENOMEM;
  ff_status st = ff_rng_bytes(&op->ctx->rng, s, n * sizeof *s);
  if (!st) st = ff__sigma_share_split_cpu(op->ctx, n, bits, v, s, s + n);
  if (!st) st = ff__op_put_words(op, 0, s, n, eb);
  if (!st) st = ff__op_put_words(op, 1, s + n, n, eb);
  free(s);
  return st;
}

/* ---- The dealer's device path ------------------------------------------------------------------------ */

ff_status ff__op_dev_scratch(ff_op *op, size_t n, const char *what, void **out) {
  ff_ctx *d = op->deal_ctx;
  *out = NULL;
  if (d->backend != FF_BACKEND_CUDA) {
    *out = ff__op_alloc(n ? n : 1, what);
    return *out ? FF_OK : FF_ENOMEM;
  }
  ff_status st = ff_dev_alloc(d->stream, n, out);
  if (st) FF_ERROR("%s: cannot allocate %zu bytes of the dealer's device memory", what, n);
  return st;
}

void ff__op_dev_free(ff_op *op, void *p) {
  if (op->deal_ctx->backend == FF_BACKEND_CUDA) ff_dev_free(p);
  else free(p);
}

ff_status ff__op_dev_wipe(ff_op *op, void *p, size_t n) {
  if (op->deal_ctx->backend != FF_BACKEND_CUDA) {
    explicit_bzero(p, n);
    return FF_OK;
  }
#ifdef FF_HAVE_CUDA
  return FF_CUDA_CHECK(cudaMemsetAsync(p, 0, n, (cudaStream_t)op->deal_ctx->stream));
#else
  return FF_ENOTSUP;
#endif
}

ff_status ff__op_dev_upload(ff_op *op, void *dst, const void *host_src, size_t n) {
  return ff__fss_buf_copy(op->deal_ctx, "sigma dealer", dst, ff__op_deal_mem(op), host_src, FF_MEM_HOST, n);
}

ff_status ff__op_dev_download(ff_op *op, void *host_dst, const void *src, size_t n) {
  return ff__fss_buf_copy(op->deal_ctx, "sigma dealer", host_dst, FF_MEM_HOST, src, ff__op_deal_mem(op), n);
}

ff_status ff__sigma_reduce_cpu(ff_ctx *ctx, size_t n, int bits, const uint64_t *in, uint64_t *out) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) out[i] = ff_ring_reduce(in[i], bits);
  return FF_OK;
}

static ff_status ff__op_put_made(void *arg, int p, ff_ctx *mem, const void *bytes, ff_mem where, size_t n);

/* n bytes in the device path's memory into party p's stream, counted as made there. */
static ff_status ff__op_dev_put(ff_op *op, int p, const void *src, size_t n) {
  op->dev_path_B[p] += n;
  return ff__op_put_made(op, p, op->deal_ctx, src, ff__op_deal_mem(op), n);
}

ff_status ff__op_draw_dev(ff_op *op, uint64_t *v, size_t n, int bw) {
  ff_status st = FF__OP_DEV(op, ff_rng_draw, &op->ctx->rng, v, n * sizeof *v);
  return st ? st : FF__OP_DEV(op, ff__sigma_reduce, n, bw, v, v);
}

ff_status ff__op_put_shares_words_dev(ff_op *op, const uint64_t *v, size_t n, int bits, int eb) {
  const size_t wb = n * (size_t)eb;
  uint64_t *s = NULL;
  uint8_t *w = NULL;
  ff_status st = ff__op_dev_scratch(op, 2 * n * sizeof *s, "sigma dealer", (void **)&s);
  if (!st && eb != 8) st = ff__op_dev_scratch(op, 2 * wb, "sigma dealer", (void **)&w);
  if (!st) st = FF__OP_DEV(op, ff_rng_draw, &op->ctx->rng, s, n * sizeof *s);
  if (!st) st = FF__OP_DEV(op, ff__sigma_share_split, n, bits, v, s, s + n);
  for (int p = 0; p < 2 && !st && eb != 8; p++)
    st = FF__OP_DEV(op, ff__sigma_narrow, n, eb, s + (size_t)p * n, w + (size_t)p * wb);
  for (int p = 0; p < 2 && !st; p++)
    st = eb == 8 ? ff__op_dev_put(op, p, s + (size_t)p * n, n * sizeof *s)
                 : ff__op_dev_put(op, p, w + (size_t)p * wb, wb);
  ff__op_dev_free(op, s);
  if (w) ff__op_dev_free(op, w);
  return st;
}

ff_status ff__op_put_bit_shares_dev(ff_op *op, size_t rows, size_t N, const uint64_t *bits) {
  const size_t mb = (N + 7) / 8;
  uint8_t *m = NULL;
  ff_status st = ff__op_dev_scratch(op, 2 * rows * mb, "sigma dealer", (void **)&m);
  if (!st) st = FF__OP_DEV(op, ff_rng_draw, &op->ctx->rng, m, rows * mb);
  if (!st) st = FF__OP_DEV(op, ff__sigma_bit_shares, rows, N, bits, m);
  for (int p = 0; p < 2 && !st; p++) st = ff__op_dev_put(op, p, m + (size_t)p * rows * mb, rows * mb);
  ff__op_dev_free(op, m);
  return st;
}

/* ---- Party key reads --------------------------------------------------------------------------------
 * The public getters (party role only: the dealer puts, cost-only never touches a stream) each open one
 * KeyTransfer scope around the stream read, its CRC, the staging and the upload to the device (and
 * the widening of narrow words); the ff__op_read* helpers below do the work unscoped, so a getter that
 * uses another does not nest KeyTransfer in KeyTransfer. No channel traffic happens inside. */

static ff_status ff__op_read(ff_op *op, void *dst, size_t n, const char *what) {
  ff_keystream *ks = op->keys[op->party];
  ff_status st = ff__op_take(op, dst, n);
  if (st == FF_ERANGE)
    FF_ERROR("sigma party %d: %s needs %zu key bytes but key stream %s has %" PRIu64 " left", op->party, what, n,
             ff_keystream_name(ks), ff__op_remaining(op));
  if (st) return st;
  op->cost[op->party].key_bytes += n;
  return FF_OK;
}

static ff_status ff__op_read_mem(ff_op *op, void *dst, size_t n, const char *what);
static ff_status ff__op_view(ff_op *op, size_t n, size_t align, const char *what, const void **out);

ff_status ff__op_get(ff_op *op, void *dst, size_t n, const char *what) {
  FF_SCOPE("KeyTransfer");
  return ff__op_read(op, dst, n, what);
}

ff_status ff__op_get_mem(ff_op *op, void *dst, size_t n, const char *what) {
  FF_SCOPE("KeyTransfer");
  return ff__op_read_mem(op, dst, n, what);
}

typedef struct {
  ff_op *op;
  const char *what;
} ff__op_lut_reader;

static ff_status ff__op_lut_read(void *arg, void *dst, size_t n) {
  const ff__op_lut_reader *r = arg;
  return ff__op_read_mem(r->op, dst, n, r->what);
}

ff_status ff__op_get_lut_key(ff_op *op, ff_lut_key *k, int b, int b_out, int n_tables, size_t N, const char *what) {
  FF_SCOPE("KeyTransfer");
  memset(k, 0, sizeof *k);
  void *scratch = NULL;
  ff__op_lut_reader r = {op, what};
  ff_status st = ff_lut_key_alloc(op->ctx, k, b, b_out, n_tables, N);
  if (!st) st = ff__op_buf_alloc(op, 4 * N, what, &scratch);
  if (!st) st = ff_lut_key_read(op->ctx, k, ff__op_lut_read, &r, scratch);
  ff__op_buf_free(op, scratch);
  if (st) ff_lut_key_free(k);
  return st;
}

ff_status ff__op_get_dpf_key(ff_op *op, ff_dpf_key *dk, int n, size_t N, const char *what) {
  /* The bulk of a model's key bytes (comparisons and truncations): in place where the image allows. */
  FF_SCOPE("KeyTransfer");
  memset(dk, 0, sizeof *dk);
  const size_t kb = ff_dpf_key_bytes(n, N);
  if (!kb) {
    FF_ERROR("%s: no DPF key has N = %zu elements on n = %d bits", what, N, n);
    return FF_EINVAL;
  }
  const void *v;
  ff_status st = ff__op_view(op, kb, 16, what, &v);
  if (st) return st;
  if (v) return ff_dpf_key_view(dk, n, N, v, ff__op_mem(op));
  if (!(st = ff_dpf_key_alloc(op->ctx, dk, n, N))) st = ff__op_read_mem(op, dk->buf, kb, what);
  return st;
}

ff_status ff__op_get_words(ff_op *op, uint64_t *dst, size_t n, int eb, const char *what) {
  FF_SCOPE("KeyTransfer");
  if (eb == 8) return ff__op_read_mem(op, dst, n * sizeof *dst, what);
  void *raw = NULL;
  ff_status st = ff__op_buf_alloc(op, n * (size_t)eb, what, &raw);
  if (!st) st = ff__op_read_mem(op, raw, n * (size_t)eb, what);
  if (!st) st = ff__op_widen(op, n, eb, raw, dst);
  ff__op_buf_free(op, raw);
  return st;
}

ff_status ff__op_wire_alloc(ff_op *op, ff_wire *w, int bw, int ndim, const int64_t *shape) {
  memset(w, 0, sizeof *w);
  if (bw < 1 || bw > 64 || ndim < 1 || ndim > FF_TENSOR_MAX_DIMS || !shape) {
    FF_ERROR("sigma: bad wire (bw %d, %d dimensions)", bw, ndim);
    return FF_EINVAL;
  }
  ff_status st = FF_OK;
  const size_t n = ff_shape_numel(ndim, shape, &st);
  if (st || n == 0) {
    char buf[96];
    FF_ERROR("sigma: bad wire shape %s", ff_shape_str(ndim, shape, buf, sizeof buf));
    return st ? st : FF_EINVAL;
  }
  if (n > SIZE_MAX / sizeof(uint64_t)) return FF_ERANGE;
  w->bw = bw;
  w->ndim = ndim;
  memcpy(w->shape, shape, (size_t)ndim * sizeof *shape);
  w->numel = n;
  if (op->role == FF_OP_COST) return FF_OK;
  if (ff__op_on_device(op)) {
    void *v = NULL;
    ff_status st2 = ff__fss_buf_alloc(op->ctx, "sigma wire", n * sizeof *w->v, &v, &w->where);
    w->v = v;
    return st2;
  }
  w->v = ff__op_alloc(n * sizeof *w->v, "sigma wire");
  return w->v ? FF_OK : FF_ENOMEM;
}

ff_status ff__op_draw(ff_op *op, uint64_t *v, size_t n, int bw) { return ff_rng_ring(&op->ctx->rng, v, n, bw); }

/* ---- Memory of the party's wires ------------------------------------------------------------------- */

ff_status ff__op_buf_alloc(ff_op *op, size_t n, const char *what, void **out) {
  *out = NULL;
  if (!ff__op_on_device(op)) {
    *out = ff__op_alloc(n, what);
    return *out ? FF_OK : FF_ENOMEM;
  }
#ifdef FF_HAVE_CUDA
  ff_status st = ff_dev_alloc(op->ctx->stream, n, out);
  if (st) {
    FF_ERROR("%s: cannot allocate %zu bytes of device memory", what, n);
    return st;
  }
  if ((st = FF_CUDA_CHECK(cudaMemsetAsync(*out, 0, n ? n : 1, (cudaStream_t)op->ctx->stream)))) {
    ff_dev_free(*out);
    *out = NULL;
  }
  return st;
#else
  FF_ERROR("%s: this build of fusefss has no CUDA backend", what);
  return FF_ENOTSUP;
#endif
}

void ff__op_buf_free(ff_op *op, void *p) {
  if (!p) return;
  if (!ff__op_on_device(op)) {
    free(p);
    return;
  }
  ff_dev_free(p);
}

/* The copies wait for the stream: host memory on either side is then free to change (a pageable
 * upload may otherwise still be reading it), and a download is readable. */
static ff_status ff__op_copy_wait(ff_op *op, void *dst, ff_mem dw, const void *src, ff_mem sw, size_t n) {
  if (!n) return FF_OK;
  ff_status st = ff__fss_buf_copy(op->ctx, "sigma", dst, dw, src, sw, n);
#ifdef FF_HAVE_CUDA
  if (!st && (dw == FF_MEM_DEVICE || sw == FF_MEM_DEVICE))
    st = FF_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)op->ctx->stream));
#endif
  return st;
}

ff_status ff__op_download(ff_op *op, void *host_dst, const void *src, size_t n) {
  return ff__op_copy_wait(op, host_dst, FF_MEM_HOST, src, ff__op_mem(op), n);
}

ff_status ff__op_upload(ff_op *op, void *dst, const void *host_src, size_t n) {
  return ff__op_copy_wait(op, dst, ff__op_mem(op), host_src, FF_MEM_HOST, n);
}

/* The preloaded image, loaded if it is not yet, with n bytes left at its cursor (else the message that
 * names the gate). */
static ff_status ff__op_image_need(ff_op *op, size_t n, const char *what) {
  ff_status st = ff__op_preload(op);
  if (!st && (st = ff__op_image_range(op, n)) == FF_ERANGE)
    FF_ERROR("sigma party %d: %s needs %zu key bytes but key stream %s has %" PRIu64 " left", op->party, what, n,
             ff_keystream_name(op->keys[op->party]), ff__op_remaining(op));
  return st;
}

/* A key read in place: when the preloaded image lies in the memory the party's gates compute in (the
 * device image of a CUDA party with --placement device, the host image of a CPU party) and the next key
 * byte is `align`-aligned there, *out points at the n key bytes. They stay valid and unchanged while the
 * op lives (repetitions rewind the image, never rewrite it); the cursor moves on and the bytes count as
 * read. Otherwise *out is NULL and nothing is consumed: the caller reads a copy. Unscoped: the caller is
 * inside its KeyTransfer scope, one per key read on either path, so that two parties whose images differ
 * in alignment keep the same scope tree. */
static ff_status ff__op_view(ff_op *op, size_t n, size_t align, const char *what, const void **out) {
  *out = NULL;
  const int dev = ff__op_on_device(op);
  if (op->role != FF_OP_PARTY || op->placement == FF_KEYS_STREAM || (dev && op->placement != FF_KEYS_PRELOAD))
    return FF_OK;
  ff_status st = ff__op_image_need(op, n, what);
  if (st) return st;
  const uint8_t *p = (const uint8_t *)(dev ? op->dimg : (const void *)op->img) + op->img_pos;
  if ((uintptr_t)p % align) return FF_OK;
  op->img_pos += n;
  op->cost[op->party].key_bytes += n;
  *out = p;
  return FF_OK;
}

static ff_status ff__op_read_mem(ff_op *op, void *dst, size_t n, const char *what) {
  if (!ff__op_on_device(op)) return ff__op_read(op, dst, n, what);
  if (op->placement == FF_KEYS_PRELOAD) {
    /* One device-to-device copy from the device image, ordered on ctx's stream before the kernels
     * that read dst; nothing to wait for (no host memory involved). */
    ff_status st = ff__op_image_need(op, n, what);
    if (st) return st;
#ifdef FF_HAVE_CUDA
    if (n && (st = FF_CUDA_CHECK(cudaMemcpyAsync(dst, (const uint8_t *)op->dimg + op->img_pos, n,
                                                 cudaMemcpyDeviceToDevice, (cudaStream_t)op->ctx->stream))))
      return st;
#endif
    op->img_pos += n;
    op->cost[op->party].key_bytes += n;
    return FF_OK;
  }
  if (op->placement == FF_KEYS_HOST) {
    /* SIGMA's way: a synchronous host-to-device copy out of the pinned image when the gate needs it. */
    ff_status st = ff__op_image_need(op, n, what);
    if (st || (st = ff__op_upload(op, dst, op->img + op->img_pos, n))) return st;
    op->img_pos += n;
    op->cost[op->party].key_bytes += n;
    return FF_OK;
  }
  if (n > op->stage_cap) {
    uint8_t *p = realloc(op->stage, n);
    if (!p) {
      FF_ERROR("%s: cannot allocate %zu bytes of key staging", what, n);
      return FF_ENOMEM;
    }
    op->stage = p;
    op->stage_cap = n;
  }
  ff_status st = ff__op_read(op, op->stage, n, what);
  if (!st) st = ff__op_upload(op, dst, op->stage, n);
  return st;
}

ff_status ff__op_reduce(ff_op *op, const uint64_t *in, uint64_t *out, size_t n, int bits) {
  if (ff__op_on_device(op)) return ff__sigma_reduce_cuda(op->ctx, n, bits, in, out);
  return ff__sigma_reduce_cpu(op->ctx, n, bits, in, out);
}

ff_status ff__op_unpack_bits(ff_op *op, size_t n, const uint8_t *bits, uint64_t *out) {
  if (ff__op_on_device(op)) return ff__sigma_unpack_bits_cuda(op->ctx, n, bits, out);
  for (size_t i = 0; i < n; i++) out[i] = (bits[i / 8] >> (i % 8)) & 1;
  return FF_OK;
}

ff_status ff__op_widen(ff_op *op, size_t n, int eb, const uint8_t *in, uint64_t *out) {
  if (ff__op_on_device(op)) return ff__sigma_widen_cuda(op->ctx, n, eb, in, out);
  for (size_t i = 0; i < n; i++) {
    uint64_t v = 0;
    for (int b = 0; b < eb; b++) v |= (uint64_t)in[i * (size_t)eb + (size_t)b] << (8 * b);
    out[i] = v;
  }
  return FF_OK;
}

ff_status ff__op_sync(ff_op *op) {
#ifdef FF_HAVE_CUDA
  if (ff__op_on_device(op)) return FF_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)op->ctx->stream));
#endif
  (void)op;
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
ff_status ff__sigma_unpack_bits_cuda(ff_ctx *ctx, size_t n, const uint8_t *bits, uint64_t *out) {
  (void)ctx, (void)n, (void)bits, (void)out;
  FF_ERROR("ff__sigma_unpack_bits_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_widen_cuda(ff_ctx *ctx, size_t n, int eb, const uint8_t *in, uint64_t *out) {
  (void)ctx, (void)n, (void)eb, (void)in, (void)out;
  FF_ERROR("ff__sigma_widen_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_reduce_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *in, uint64_t *out) {
  (void)ctx, (void)n, (void)bits, (void)in, (void)out;
  FF_ERROR("ff__sigma_reduce_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_cmp_share_cuda(ff_ctx *ctx, size_t N, const uint8_t *dcf, const uint8_t *mask, uint64_t *share) {
  (void)ctx, (void)N, (void)dcf, (void)mask, (void)share;
  FF_ERROR("ff__sigma_cmp_share_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_share_split_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *v, uint64_t *s0, uint64_t *s1) {
  (void)ctx, (void)n, (void)bits, (void)v, (void)s0, (void)s1;
  FF_ERROR("ff__sigma_share_split_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_add_reduce_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                    uint64_t *out) {
  (void)ctx, (void)n, (void)bits, (void)a, (void)b, (void)out;
  FF_ERROR("ff__sigma_add_reduce_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_cmp_bits_cuda(ff_ctx *ctx, int bits, size_t n, const uint64_t *r, const uint64_t *m,
                                  uint64_t *out) {
  (void)ctx, (void)bits, (void)n, (void)r, (void)m, (void)out;
  FF_ERROR("ff__sigma_cmp_bits_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_mul_add_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                 const uint64_t *c, uint64_t *out) {
  (void)ctx, (void)n, (void)bits, (void)a, (void)b, (void)c, (void)out;
  FF_ERROR("ff__sigma_mul_add_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_narrow_cuda(ff_ctx *ctx, size_t n, int eb, const uint64_t *in, uint8_t *out) {
  (void)ctx, (void)n, (void)eb, (void)in, (void)out;
  FF_ERROR("ff__sigma_narrow_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
ff_status ff__sigma_bit_shares_cuda(ff_ctx *ctx, size_t rows, size_t N, const uint64_t *bits, uint8_t *m) {
  (void)ctx, (void)rows, (void)N, (void)bits, (void)m;
  FF_ERROR("ff__sigma_bit_shares_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
#endif

/* ---- Inputs, outputs, reconstruct ------------------------------------------------------------------ */

void ff_sigma_input_cost(size_t N, int bw, int owner, ff_gate_cost c[2]) {
  memset(c, 0, 2 * sizeof *c);
  c[owner].key_bytes = 8 * (uint64_t)N;
  c[owner].bits_sent = (uint64_t)N * (uint64_t)bw;
  c[owner].bytes_sent = ff_packed_size(N, bw);
  c[0].rounds = c[1].rounds = 1; /* merged: one one-way message */
}

void ff_sigma_output_cost(size_t N, ff_gate_cost c[2]) {
  memset(c, 0, 2 * sizeof *c);
  c[1].key_bytes = 8 * (uint64_t)N;
}

/* Host scratch of n bytes at the edges of the online phase (Input, Output): on a CUDA party one of the
 * two pinned buffers of the context's reconstruct staging (`which` 0 or 1; grown once, so a steady state
 * allocates nothing, and reused safely since every use of them is ordered on ctx's stream), else malloc
 * (*owned: free it). */
static ff_status ff__op_edge_buf(ff_op *op, size_t n, int which, void **out, int *owned) {
  *out = NULL;
  *owned = 0;
  if (ff__op_on_device(op)) {
    /* The last reconstruct's uploads out of the staging may still be queued: wait for them (an edge of
       the online phase, where one wait is due anyway). */
    ff_status st = ff__op_sync(op);
    if (!st) st = ff_cuda_stage_reserve(&op->ctx->stage, n, 1);
    if (!st) *out = which ? op->ctx->stage->host_in : op->ctx->stage->host_out;
    return st;
  }
  if (!(*out = ff__op_alloc(n ? n : 1, "sigma input/output"))) return FF_ENOMEM;
  *owned = 1;
  return FF_OK;
}

/* One input's work (no scope; the cost role charges nothing here): the wire, then the dealer's mask or the
 * parties' one one-way message. */
static ff_status ff__op_input_one(ff_op *op, int owner, int ndim, const int64_t *shape, const uint64_t *plain,
                                  ff_wire *out) {
  ff_status st = ff__op_wire_alloc(op, out, op->bw, ndim, shape);
  if (st || op->role == FF_OP_COST) return st;
  const size_t N = out->numel;
  const ff__sg_tag tag = {FF__SG_INPUT, (uint32_t)op->bw, (uint32_t)owner, 0, {N, 0, 0}};
  uint64_t *h = NULL;
  void *hv = NULL, *pv = NULL;
  int h_owned = 0, p_owned = 0;
  ff__op_enter(op);
  if (op->role == FF_OP_DEALER) {
    if ((st = ff__op_tag(op, &tag))) goto done;
    if (ff__op_deal_dev(op)) { /* the masks drawn on the device path, written from there and downloaded */
      void *dm = NULL;
      if (!(st = ff__op_dev_scratch(op, N * sizeof *out->v, "Input dealer", &dm)) &&
          !(st = ff__op_draw_dev(op, dm, N, op->bw)) && !(st = ff__op_dev_put(op, owner, dm, N * sizeof *out->v)))
        st = ff__op_dev_download(op, out->v, dm, N * sizeof *out->v);
      if (dm) ff__op_dev_free(op, dm);
    } else if (!(st = ff__op_draw(op, out->v, N, op->bw))) {
      st = ff__op_put(op, owner, out->v, N * sizeof *out->v);
    }
    goto done;
  }
  /* A CUDA party computes x^ in host memory (the plaintext and the channel are on the host) and
   * uploads it into its wire. */
  const size_t nb = ff_packed_size(N, op->bw);
  if (ff__op_on_device(op) && (st = ff__op_edge_buf(op, N * sizeof *h, 0, &hv, &h_owned))) goto done;
  h = ff__op_on_device(op) ? hv : out->v;
  if (op->party == owner && !plain) {
    FF_ERROR("ff_op_input: party %d owns this input but gave no plaintext", owner);
    st = FF_EINVAL;
    goto done;
  }
  /* The owner's mask r is read with the tag (h = r, then x^ = x + r in place). */
  if ((st = ff__op_tag_keys(op, &tag, op->party == owner ? h : NULL, N * sizeof *h, "Input"))) goto done;
  if ((st = ff__op_edge_buf(op, nb, 1, &pv, &p_owned))) goto done;
  if (op->party == owner) {
    for (size_t i = 0; i < N; i++) h[i] = ff_ring_reduce(plain[i] + h[i], op->bw);
    ff_pack_bits(h, N, op->bw, pv);
    st = ff_chan_send(op->ctx->chan, pv, nb);
    if (!st) op->cost[op->party].bits_sent += (uint64_t)N * (uint64_t)op->bw;
  } else {
    st = ff_chan_recv(op->ctx->chan, pv, nb);
    if (!st) ff_unpack_bits(pv, N, op->bw, h);
  }
  if (!st && h != out->v) st = ff__op_upload(op, out->v, h, N * sizeof *h);
done:
  if (h_owned) free(hv);
  if (p_owned) free(pv);
  ff__op_leave(op);
  if (st) ff_wire_free(out);
  return st;
}

ff_status ff_op_input(ff_op *op, int owner, int ndim, const int64_t *shape, const uint64_t *plain, ff_wire *out) {
  return ff_op_input_many(op, owner, 1, &ndim, &shape, &plain, out);
}

ff_status ff_op_input_many(ff_op *op, int owner, int k, const int *ndim, const int64_t *const *shape,
                           const uint64_t *const *plain, ff_wire *out) {
  FF_SCOPE("Input");
  if (!op || !out || !ndim || !shape || k < 1 || (owner != 0 && owner != 1)) {
    FF_ERROR("ff_op_input: op, out or the shapes are NULL, no inputs (%d), or owner %d is not 0 or 1", k, owner);
    return FF_EINVAL;
  }
  ff_status st = FF_OK;
  ff_gate_cost sum[2] = {{0}, {0}};
  int i = 0;
  for (; i < k && !st; i++) {
    if (!(st = ff__op_input_one(op, owner, ndim[i], shape[i], plain ? plain[i] : NULL, &out[i])) && op->role == FF_OP_COST) {
      ff_gate_cost c[2];
      ff_sigma_input_cost(out[i].numel, op->bw, owner, c);
      for (int p = 0; p < 2; p++) sum[p] = ff_gate_cost_add(sum[p], c[p]);
    }
  }
  if (st) {
    for (int j = 0; j < i - 1; j++) ff_wire_free(&out[j]); /* out[i - 1] was freed by its failure */
    return st;
  }
  /* One flight: the owner sends the k messages back to back, so they take one round, not k. */
  if (op->role == FF_OP_COST) {
    sum[0].rounds = sum[1].rounds = 1;
    ff__op_charge(op, sum);
  }
  return FF_OK;
}

ff_status ff_op_output(ff_op *op, const ff_wire *x, uint64_t *plain) {
  FF_SCOPE("Output");
  if (!op || !x || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("ff_op_output: op or wire is NULL or empty");
    return FF_EINVAL;
  }
  const size_t N = x->numel;
  if (op->role == FF_OP_COST) {
    ff_gate_cost c[2];
    ff_sigma_output_cost(N, c);
    ff__op_charge(op, c);
    return FF_OK;
  }
  const ff__sg_tag tag = {FF__SG_OUTPUT, (uint32_t)x->bw, 0, 0, {N, 0, 0}};
  ff_status st;
  uint64_t *r = NULL;
  int r_owned = 0;
  ff__op_enter(op);
  if (op->role == FF_OP_DEALER) {
    if (!(st = ff__op_tag(op, &tag))) st = ff__op_put(op, 1, x->v, N * sizeof *x->v);
    goto done;
  }
  if (op->party == 1) {
    if (!plain) {
      FF_ERROR("ff_op_output: party 1 gave no buffer for the output");
      st = FF_EINVAL;
      goto done;
    }
    void *rv = NULL;
    if ((st = ff__op_edge_buf(op, N * sizeof *r, 1, &rv, &r_owned))) goto done;
    r = rv;
  }
  /* P1's mask r is read with the tag; x^ into plain (a download for a CUDA party), then x = x^ - r. */
  if ((st = ff__op_tag_keys(op, &tag, r, N * sizeof *r, "Output"))) goto done;
  if (op->party == 1 && !(st = ff__op_download(op, plain, x->v, N * sizeof *r)))
    for (size_t i = 0; i < N; i++) plain[i] = ff_ring_reduce(plain[i] - r[i], x->bw);
done:
  if (r_owned) free(r);
  ff__op_leave(op);
  return st;
}

ff_status ff_op_reconstruct(ff_op *op, uint64_t *vals, size_t n, int bits) {
  FF_SCOPE("Reconstruct");
  if (!op || op->role != FF_OP_PARTY) {
    FF_ERROR("ff_op_reconstruct: only a party reconstructs");
    return FF_ESTATE;
  }
  ff_status st = ff__fss_reconstruct(op->ctx, ff__op_mem(op), vals, n, bits);
  if (!st) op->cost[op->party].bits_sent += (uint64_t)n * (uint64_t)bits;
  return st;
}

/* ---- Masked comparison --------------------------------------------------------------------------- */

uint64_t ff__dcf_key_bytes(int n, size_t N) {
  return n >= FF_DPF_MIN_BITS ? ff_dpf_key_bytes(n, N) : ff_sstab_key_bytes(n, N);
}

uint64_t ff__cmp_key_bytes(int n, size_t N) { return ff__dcf_key_bytes(n, N) + (N + 7) / 8; }

/* Key bytes (a LUT key's piece, a DPF key) into party p's stream from where the dealer made them
 * (ff_lut_keygen_emit, ff_dpf_keygen_emit): a GPU dealer's device keys without a host copy first. */
static ff_status ff__op_put_made(void *arg, int p, ff_ctx *mem, const void *bytes, ff_mem where, size_t n) {
  ff_op *op = arg;
  return where == FF_MEM_DEVICE ? ff__op_put_device(op, p, mem, bytes, n) : ff__op_put(op, p, bytes, n);
}

static ff_status ff__op_put_dpf_key(void *arg, int p, ff_ctx *mem, const ff_dpf_key *k) {
  return ff__op_put_made(arg, p, mem, k->buf, k->where, k->bytes);
}

/* DPF keys of both parties (n bits, N elements, at alpha: host) made on the dealer's device path, into k
 * (allocated here in deal_ctx's memory; the caller frees them, also on failure): the 2N roots drawn there as
 * ff_dpf_keygen draws them, alpha uploaded, the keygen's twin run there, the roots wiped after. */
static ff_status ff__dpf_keys_dev(ff_op *op, int n, size_t N, const uint64_t *alpha, ff_dpf_key k[2]) {
  const size_t rb = 2 * N * sizeof(ff_block);
  void *d = NULL; /* roots (2N blocks, first: aligned as the keygen wants) | alpha (N) */
  ff_status st = ff__op_dev_scratch(op, rb + N * sizeof *alpha, "DPF dealer", &d);
  if (st) return st;
  ff_block *roots = d;
  uint64_t *da = (uint64_t *)((uint8_t *)d + rb);
  if (!(st = ff_dpf_key_alloc(op->deal_ctx, &k[0], n, N)) && !(st = ff_dpf_key_alloc(op->deal_ctx, &k[1], n, N)) &&
      !(st = FF__OP_DEV(op, ff_rng_draw, &op->ctx->rng, roots, rb)) &&
      !(st = ff__op_dev_upload(op, da, alpha, N * sizeof *alpha)))
    st = FF__OP_DEV(op, ff_dpf_keygen, da, roots, &k[0], &k[1]);
  const ff_status wst = ff__op_dev_wipe(op, roots, rb);
  ff__op_dev_free(op, d);
  return st ? st : wst;
}

/* A comparison's DPF keys on the device path, written from there. */
static ff_status ff__dpf_deal_dev(ff_op *op, int n, size_t N, const uint64_t *alpha) {
  FF_SCOPE("FSS::DPF");
  ff_dpf_key k[2] = {{0}, {0}};
  ff_status st = ff__dpf_keys_dev(op, n, N, alpha, k);
  for (int p = 0; p < 2 && !st; p++) st = ff__op_dev_put(op, p, k[p].buf, k[p].bytes);
  ff_dpf_key_free(&k[0]);
  ff_dpf_key_free(&k[1]);
  return st;
}

/* One table's LUT keys on the dealer's device path: ff_lut_keygen_emit's draws (the DPF roots, r_u, party 0's
 * u mask, r_v, r_sel, party 0's select shares) in its order, the keys and the serialized tR words made where
 * deal_ctx works, and each party's pieces written from there in the serialization's order. */
static ff_status ff__lut_deal_dev(ff_op *op, const uint64_t *r_in, int b, int b_out, size_t N, uint64_t *r_out) {
  FF_SCOPE("FSS::LUT");
  const size_t nb = (N + 7) / 8, w = N * sizeof(uint64_t), ns = FF_SELECT_KEY_ELEMS * N;
  ff_dpf_key k[2] = {{0}, {0}};
  void *d = NULL; /* r_x | r_v | r_sel | r_out | values (5) | shares (2, 5) | tR words (2, 4N) | r_u | u (2) */
  ff_status st = ff__op_dev_scratch(op, (4 + 3 * FF_SELECT_KEY_ELEMS) * w + 8 * N + 3 * nb, "LUT dealer", &d);
  if (st) return st;
  uint64_t *rx = d, *rv = rx + N, *rs = rv + N, *ro = rs + N, *val = ro + N, *sh = val + ns;
  uint8_t *words = (uint8_t *)(sh + 2 * ns), *ru = words + 8 * N, *u = ru + nb;
  if (!(st = ff__dpf_keys_dev(op, b, N, r_in, k)) && !(st = FF__OP_DEV(op, ff_rng_draw, &op->ctx->rng, ru, nb)) &&
      !(st = FF__OP_DEV(op, ff_rng_draw, &op->ctx->rng, u, nb)) && !(st = ff__op_draw_dev(op, rv, N, b_out)) &&
      !(st = ff__op_draw_dev(op, rs, N, b_out)) &&
      !(st = FF__OP_DEV(op, ff__lut_masks, N, N, b_out, ru, u, u + nb, rx, rv, rs, ro)) &&
      !(st = FF__OP_DEV(op, ff_select_key_values, N, rx, rv, rs, val)) &&
      !(st = FF__OP_DEV(op, ff_rng_draw, &op->ctx->rng, sh, ns * sizeof *sh)) &&
      !(st = FF__OP_DEV(op, ff__sigma_share_split, ns, b_out, val, sh, sh + ns)))
    for (int p = 0; p < 2 && !st; p++) {
      uint8_t *wp = words + (size_t)p * 4 * N;
      if (!(st = FF__OP_DEV(op, ff__lut_tr_words, k[p].tR, b - FF_DPF_LEAF_BITS, N, wp)) &&
          !(st = ff__op_dev_put(op, p, k[p].buf, ff__lut_dpf_block_bytes(b, N))) &&
          !(st = ff__op_dev_put(op, p, wp, 4 * N)) && !(st = ff__op_dev_put(op, p, u + (size_t)p * nb, nb)))
        st = ff__op_dev_put(op, p, sh + (size_t)p * ns, ns * sizeof *sh);
    }
  if (!st) st = ff__op_dev_download(op, r_out, ro, w);
  ff__op_dev_free(op, d);
  ff_dpf_key_free(&k[0]);
  ff_dpf_key_free(&k[1]);
  return st;
}

ff_status ff__lut_deal(ff_op *op, const uint64_t *r_in, int b, int b_out, size_t N, uint64_t *r_out) {
  if (ff__op_deal_dev(op)) return ff__lut_deal_dev(op, r_in, b, b_out, N, r_out);
  return ff_lut_keygen_emit(op->ctx, b, b_out, 1, N, r_in, r_out, ff__op_put_made, op);
}

ff_status ff__dcf_deal(ff_op *op, int n, size_t N, const uint64_t *alpha) {
  ff_ctx *ctx = op->ctx;
  ff_status st;
  if (n >= FF_DPF_MIN_BITS && ff__op_deal_dev(op)) return ff__dpf_deal_dev(op, n, N, alpha);
  if (n >= FF_DPF_MIN_BITS) {
    FF_SCOPE("FSS::DPF"); /* the dealer's tree keygen (its writes: KeyTransfer inside) */
    st = ff_dpf_keygen_emit(ctx, n, N, alpha, ff__op_put_dpf_key, op);
  } else {
    FF_SCOPE("FSS::TruthTable");
    ff_sstab_key k[2] = {{0}, {0}};
    if (!(st = ff_sstab_key_alloc(ctx, &k[0], n, N)) && !(st = ff_sstab_key_alloc(ctx, &k[1], n, N)) &&
        !(st = ff_sstab_keygen(ctx, alpha, &k[0], &k[1])))
      for (int p = 0; p < 2 && !st; p++) st = ff__op_put(op, p, k[p].tab, k[p].bytes);
    ff_sstab_key_free(&k[0]);
    ff_sstab_key_free(&k[1]);
  }
  return st;
}

ff_status ff__op_put_bit_shares(ff_op *op, size_t rows, size_t N, const uint64_t *bits) {
  const size_t mb = (N + 7) / 8;
  uint8_t *m = ff__op_alloc(2 * rows * mb, "sigma dealer");
  if (!m) return FF_ENOMEM;
  ff_status st = ff_rng_bytes(&op->ctx->rng, m, rows * mb);
  if (!st) st = ff__sigma_bit_shares_cpu(op->ctx, rows, N, bits, m);
  for (int p = 0; p < 2 && !st; p++) st = ff__op_put(op, p, m + (size_t)p * rows * mb, rows * mb);
  free(m);
  return st;
}

ff_status ff__cmp_deal(ff_op *op, int n, size_t N, const uint64_t *alpha, const uint64_t *bits) {
  ff_status st = ff__dcf_deal(op, n, N, alpha);
  return st ? st : ff__op_put_bit_shares(op, 1, N, bits);
}

ff_status ff__dcf_eval(ff_op *op, int n, size_t N, size_t E, const uint64_t *points, uint8_t *out, const char *what) {
  /* The key goes straight into a key of the party's memory: its serialized form is its buffer. */
  ff_ctx *ctx = op->ctx;
  const size_t kb = ff__dcf_key_bytes(n, N);
  ff_dpf_key dk = {0};
  ff_sstab_key tk = {0};
  ff_status st;
  if (n >= FF_DPF_MIN_BITS) {
    if (!(st = ff__op_get_dpf_key(op, &dk, n, N, what))) st = ff_dpf_eval_lt(ctx, &dk, E, points, out);
  } else if (!(st = ff_sstab_key_alloc(ctx, &tk, n, N)) && !(st = ff__op_get_mem(op, tk.tab, kb, what))) {
    st = ff_sstab_eval_lt(ctx, &tk, E, points, out);
  }
  ff_dpf_key_free(&dk);
  ff_sstab_key_free(&tk);
  return st;
}

ff_status ff__cmp_eval(ff_op *op, int n, size_t N, const uint64_t *points, uint64_t *share, const char *what) {
  ff_ctx *ctx = op->ctx;
  const size_t mb = (N + 7) / 8;
  void *bits = NULL; /* (2, mb): the DCF's output bits | the mask bits of the key */
  ff_status st = ff__op_buf_alloc(op, 2 * mb, what, &bits);
  if (st) return st;
  uint8_t *dcf = bits, *mask = dcf + mb;
  if (!(st = ff__dcf_eval(op, n, N, 1, points, dcf, what))) st = ff__op_get_mem(op, mask, mb, what);
  if (!st) {
    if (ff__op_on_device(op))
      st = ff__sigma_cmp_share_cuda(ctx, N, dcf, mask, share);
    else
      for (size_t i = 0; i < N; i++) share[i] = (uint64_t)(((dcf[i / 8] ^ mask[i / 8]) >> (i % 8)) & 1);
  }
  ff__op_buf_free(op, bits);
  return st;
}
