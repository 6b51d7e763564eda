/* Key streams (DESIGN.md §2, "Dealer modes"): a writer and a reader over memory or a file, framed in
 * CRC32C-checked chunks with a CRC-checked header and trailer. The format is described in
 * core/keystream.h and docs/keystream.md. Test: tests/test_keystream.c. */
#include "core/keystream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define FF__HAVE_SSE42_CRC 1
#else
#define FF__HAVE_SSE42_CRC 0
#endif

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/ctx.h"
#include "core/cuda.h"
#include "core/log.h"
#include "core/time.h"

#define FF__KS_FIXED 88u                         /* header bytes before the metadata */
#define FF__KS_HEADER_OVERHEAD (FF__KS_FIXED + 4u) /* ... and the header CRC after it */
#define FF__KS_FLAG_MAC 1u                       /* header flag: HMAC-SHA-256 tags follow header, chunks, trailer */
#define FF__KS_TAG 32u                           /* bytes of one tag */
#define FF__KS_TRAILER 32u
#define FF__KS_INCOMPLETE UINT64_MAX             /* payload size while the dealer is still writing */
#define FF__KS_PAYLOAD_MAX (UINT64_C(1) << 56)   /* keeps every offset computation far from overflow */

static const uint8_t ff__ks_magic[8] = {'F', 'F', 'K', 'E', 'Y', 'S', 0, 1};
static const uint8_t ff__ks_end_magic[8] = {'F', 'F', 'K', 'E', 'Y', 'E', 'N', 'D'};

/* WRITE_SINK / READ_FD: a live stream from a dealer process (`fusefss run --dealer stream`): the same
 * bytes as a key file, the header's payload size declared up front, read once. WRITE_NULL: counts the key
 * bytes and keeps none (ff_keystream_create_null). */
typedef enum {
  FF__KS_WRITE_MEM,
  FF__KS_WRITE_FILE,
  FF__KS_READ_MEM,
  FF__KS_READ_FILE,
  FF__KS_WRITE_SINK,
  FF__KS_READ_FD,
  FF__KS_WRITE_NULL
} ff__ks_mode;

struct ff_keystream {
  ff__ks_mode mode;
  char *name;               /* path or "<memory>" */
  char *label;              /* "key file 'path'" or "in-memory key stream", for messages */
  /* header */
  int party;
  char run_id[FF_KEYSTREAM_RUN_ID_MAX + 1];
  char *meta;               /* NUL-terminated, meta_len bytes before the NUL */
  size_t meta_len;
  uint8_t dealing_id[FF_KEYSTREAM_ID_BYTES];
  uint32_t flags;           /* FF__KS_FLAG_MAC or 0 */
  uint32_t tag_size;        /* FF__KS_TAG with a MAC, else 0 */
  EVP_MAC_CTX *mac;         /* HMAC-SHA-256 keyed with this party's MAC key, never updated (dup'ed per tag); or NULL */
  uint32_t chunk_size;
  uint32_t header_size;
  uint64_t payload_size;    /* reader: from the header; writer: bytes written so far */
  uint64_t n_chunks;        /* reader: chunks in the stream; writer: chunks sealed so far */
  /* progress */
  uint64_t offset;          /* encoded bytes consumed (reader) or sealed (writer): the next chunk's offset */
  uint64_t pos;             /* payload bytes read (reader) or written (writer) */
  uint64_t chunk_index;     /* reader: chunks loaded so far */
  uint64_t loaded;          /* reader: payload bytes loaded so far (the end of the current chunk) */
  uint32_t crc_of_crcs;     /* running CRC32C over the chunk CRCs, checked against the trailer */
  ff_status broken;         /* a failure that makes the stream unusable (sticky) */
  FILE *f;
  uint8_t *chunk;           /* (chunk_size) file or live writer: the ring's slot being filled, or NULL; file
                               reader: the loaded chunk */
  size_t fill;              /* writer: bytes of the current, unsealed chunk */
  /* memory writer */
  uint8_t *mem;             /* (mem_cap) the encoded stream so far */
  size_t mem_len, mem_cap;
  size_t mem_last_len;      /* payload bytes of the last chunk sealed (the others are chunk_size) */
  int fsync, finished;
  uint64_t write_ns;        /* writer: wall time inside ff_keystream_write and ff_keystream_finish */
  /* reader */
  const uint8_t *src;       /* (src_len) memory reader: the encoded stream, borrowed */
  size_t src_len;
  const uint8_t *cur;       /* (cur_len) the loaded chunk's payload; cur_pos bytes of it already read */
  size_t cur_len, cur_pos;
  uint64_t encoded_size;    /* reader: the size the header implies */
  /* live streams */
  ff_keystream_sink sink;   /* WRITE_SINK: where the encoded bytes go */
  void *sink_arg;
  uint64_t declared;        /* WRITE_SINK: the payload size the header promised */
  int fd;                   /* READ_FD: the dealer's socket or pipe, owned */
  uint64_t timeout_ns;      /* READ_FD: longest wait for the next bytes */
  struct ff__ks_wq *wq;     /* WRITE_FILE, WRITE_SINK: the sealer and writer threads and their ring, or NULL */
  int sealers;              /* WRITE_FILE, WRITE_SINK: sealer threads asked for (0: by the CPU count) */
  uint64_t write_behind;    /* WRITE_FILE, WRITE_SINK: bytes of chunks the ring may hold (the depth asked for) */
  int pinned;               /* WRITE_FILE, WRITE_SINK: chunk buffers page-locked if a GPU is visible (asked for) */
};

/* ---- The sealers and the writer of a key file or live stream ------------------------------------------
 * A key file's (or live stream's) chunks are sealed (CRC32C and HMAC-SHA-256) by a pool of sealer threads
 * and written, in order, by a writer thread, so that the dealer deals the next gate meanwhile and the
 * sealing, which one core does at about 1.5 GB/s, keeps up with the disk. The dealer fills each chunk in
 * place in a buffer of its own and hands it over to the next place of a ring (n_slots chunks per stream);
 * sealers take the filled slots oldest first and append each chunk's CRC and tag; the writer takes the
 * slots in ring order once sealed, keeps the running CRC of CRCs and writes each with one call. The bytes
 * are those of a single-threaded writer. ff_keystream_finish drains the ring and joins the threads before
 * the trailer; a failure is sticky and reported by the next write or by finish.
 *
 * The ring's depth is the write-behind (ff_keystream_params.write_behind, 256 MiB of chunks by default):
 * the dealer waits only when that much is handed over and not yet written, so a gate's burst of keys
 * (hundreds of MiB) goes to disk while the next gates are dealt instead of holding the dealer until it
 * is nearly all written. Buffers are allocated when the dealer needs one and no written chunk has freed
 * one, and are reused after: a stream holds as many as it has been ahead of its writer at most (one for a
 * 1 KiB key file), never more than the ring's depth. */
#define FF__KS_SEALERS_MAX 16
#define FF__KS_RING_BYTES (UINT64_C(256) << 20) /* for large chunks the least ring is shortened to about this */
#define FF__KS_SLOTS_MAX 65536                   /* the deepest ring, in chunks; a deeper write-behind is clamped */
#define FF__KS_BEHIND_MAX (UINT64_C(64) << 30)    /* and in bytes (65536 chunks of the default 1 MiB) */

enum { FF__SLOT_FREE, FF__SLOT_FILLED, FF__SLOT_SEALING, FF__SLOT_SEALED };

typedef struct ff__ks_wq {
  ff_keystream *ks;
  pthread_t writer, sealer[FF__KS_SEALERS_MAX];
  int n_sealers, n_slots;
  size_t slot_bytes;       /* a buffer: chunk_size + 4 + FF__KS_TAG bytes (payload, CRC, tag) */
  pthread_mutex_t mu;
  pthread_cond_t filled, sealed, room;
  uint8_t **slot;          /* (n_slots) the buffer of each handed-over chunk, NULL elsewhere */
  uint8_t **spare;         /* (n_slots) buffers of written chunks, for the dealer's next ones */
  int n_spare;
  size_t *len;             /* payload bytes of the chunk in the slot */
  uint64_t *index;         /* the chunk's index in the stream */
  unsigned char *state;    /* FF__SLOT_* */
  int head, count, stop;   /* slots head .. head+count-1 (mod n_slots) are handed over, oldest first */
  int to_seal, n_to_seal;  /* slots to_seal .. to_seal+n_to_seal-1 are filled and wait for a sealer: the newest
                              handed over, so to_seal + n_to_seal = head + count (mod n_slots) */
  ff_status err;           /* the first failure of a thread */
  int pinned;              /* every buffer of the ring is page-locked (ff_cuda_host_alloc), else none is */
  int n_bufs;              /* buffers allocated so far */
} ff__ks_wq;

/* --- CRC32C -------------------------------------------------------------------------------------- */

int ff_crc32c_supported(void) {
#if FF__HAVE_SSE42_CRC
  return __builtin_cpu_supports("sse4.2") != 0;
#else
  return 0;
#endif
}

#if FF__HAVE_SSE42_CRC
/* One dependent crc32 per 8 bytes (about 8 GB/s): each chunk is checked once, when it is loaded, so
 * this is far below the cost of reading it from disk or copying it to the GPU. */
__attribute__((target("sse4.2"))) static uint32_t ff__crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) {
  uint64_t c = (uint32_t)~crc;
  while (n > 0 && ((uintptr_t)p & 7u)) {
    c = _mm_crc32_u8((uint32_t)c, *p++);
    n--;
  }
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    memcpy(&v, p, 8); /* x86 is little-endian: the byte order CRC32C expects */
    c = _mm_crc32_u64(c, v);
  }
  while (n-- > 0) c = _mm_crc32_u8((uint32_t)c, *p++);
  return ~(uint32_t)c;
}
#endif

uint32_t ff_crc32c(uint32_t crc, const void *data, size_t n) {
#if FF__HAVE_SSE42_CRC
  return ff__crc32c_sse42(crc, (const uint8_t *)data, n);
#else
  (void)data;
  (void)n;
  return crc; /* unreachable: every key stream refuses to start without ff_crc32c_supported() */
#endif
}

static ff_status ff__ks_check_cpu(void) {
  if (ff_crc32c_supported()) return FF_OK;
  FF_ERROR("key streams need the SSE4.2 CRC32C instruction (x86-64), which this CPU does not have");
  return FF_ENOTSUP;
}

/* --- Little-endian fields ------------------------------------------------------------------------ */

static void ff__put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void ff__put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t ff__get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t ff__get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* --- HMAC-SHA-256 (OpenSSL's libcrypto) ------------------------------------------------------------
 * Three kinds of tag, told apart by an 8-byte label so that no tag can stand in for another:
 *   header  HMAC(K, "FFKEYHDR" || the header bytes up to and with its CRC)
 *   chunk   HMAC(K, "FFKEYCHK" || dealing id || chunk index (8 B LE) || length (4 B LE) || payload)
 *   trailer HMAC(K, "FFKEYTRL" || dealing id || the 32 trailer bytes)
 * The index and the dealing id in each chunk's tag refuse chunks moved within a file or taken from
 * another dealing; the header's payload size and the trailer refuse dropped or appended chunks. */

static ff_status ff__ks_mac_init(ff_keystream *ks, const uint8_t *key) {
  EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  ks->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
  EVP_MAC_free(hmac); /* the context keeps its own reference */
  OSSL_PARAM prm[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                       OSSL_PARAM_construct_end()};
  if (!ks->mac || !EVP_MAC_init(ks->mac, key, FF_KEYSTREAM_MAC_KEY_BYTES, prm)) {
    FF_ERROR("cannot set up HMAC-SHA-256 for %s (OpenSSL's libcrypto failed)", ks->label);
    return FF_ENOTSUP;
  }
  ks->flags |= FF__KS_FLAG_MAC;
  ks->tag_size = FF__KS_TAG;
  return FF_OK;
}

/* out = HMAC(K, label || a || b). 0 when libcrypto fails (then out is garbage and will not match). */
static int ff__ks_tag_from(EVP_MAC_CTX *keyed, const char label[8], const void *a, size_t an, const void *b, size_t bn,
                           uint8_t out[FF__KS_TAG]) {
  EVP_MAC_CTX *c = EVP_MAC_CTX_dup(keyed);
  size_t len = 0;
  const int ok = c && EVP_MAC_update(c, (const unsigned char *)label, 8) && EVP_MAC_update(c, a, an) &&
                 (bn == 0 || EVP_MAC_update(c, b, bn)) && EVP_MAC_final(c, out, &len, FF__KS_TAG) && len == FF__KS_TAG;
  EVP_MAC_CTX_free(c);
  if (!ok) memset(out, 0, FF__KS_TAG);
  return ok;
}

static int ff__ks_tag(const ff_keystream *ks, const char label[8], const void *a, size_t an, const void *b, size_t bn,
                      uint8_t out[FF__KS_TAG]) {
  return ff__ks_tag_from(ks->mac, label, a, an, b, bn, out);
}

static void ff__ks_chunk_prefix(const ff_keystream *ks, uint64_t k, size_t len, uint8_t pre[FF_KEYSTREAM_ID_BYTES + 12]);

static uint64_t ff__ks_chunks_of(uint64_t payload, uint32_t chunk_size) {
  return payload / chunk_size + (payload % chunk_size != 0);
}

/* --- Common ---------------------------------------------------------------------------------------- */

static ff_keystream *ff__ks_alloc(ff__ks_mode mode, const char *path) {
  ff_keystream *ks = calloc(1, sizeof *ks);
  if (!ks) return NULL;
  ks->mode = mode;
  ks->fd = -1;
  const char *name = path ? path : "<memory>";
  size_t len = strlen(name);
  ks->name = malloc(len + 1);
  ks->label = malloc(len + 16);
  if (!ks->name || !ks->label) {
    free(ks->name);
    free(ks->label);
    free(ks);
    return NULL;
  }
  memcpy(ks->name, name, len + 1);
  if (path)
    snprintf(ks->label, len + 16, "key file '%s'", path);
  else
    snprintf(ks->label, len + 16, "in-memory key stream");
  return ks;
}

static ff_status ff__ks_wq_stop(ff_keystream *ks, int abandon);

static int ff__ks_is_writer(const ff_keystream *ks) {
  return ks->mode == FF__KS_WRITE_MEM || ks->mode == FF__KS_WRITE_FILE || ks->mode == FF__KS_WRITE_SINK ||
         ks->mode == FF__KS_WRITE_NULL;
}

ff_status ff_keystream_close(ff_keystream *ks, unsigned flags) {
  if (!ks) return FF_OK;
  ff_status st = FF_OK;
  /* A broken stream has reported its error already; unread bytes are then no news. */
  if (!ff__ks_is_writer(ks) && (flags & FF_KEYSTREAM_CHECK_CONSUMED) && !ks->broken && ks->pos < ks->payload_size) {
    FF_ERROR("%s holds %llu unread key bytes: this party consumed %llu of %llu, so the dealer and this party "
             "ran different model graphs (another model, shape or suite)",
             ks->label, (unsigned long long)(ks->payload_size - ks->pos), (unsigned long long)ks->pos,
             (unsigned long long)ks->payload_size);
    st = FF_EMISMATCH;
  }
  ff__ks_wq_stop(ks, 1); /* a finished writer has none left */
  if (ks->f) fclose(ks->f);
  if (ks->fd >= 0) close(ks->fd);
  EVP_MAC_CTX_free(ks->mac);
  free(ks->name);
  free(ks->label);
  free(ks->meta);
  free(ks->chunk);
  free(ks->mem);
  free(ks);
  return st;
}

int ff_keystream_party(const ff_keystream *ks) { return ks->party; }
const uint8_t *ff_keystream_dealing_id(const ff_keystream *ks) { return ks->dealing_id; }
int ff_keystream_has_mac(const ff_keystream *ks) { return (ks->flags & FF__KS_FLAG_MAC) != 0; }
const char *ff_keystream_run_id(const ff_keystream *ks) { return ks->run_id; }
uint32_t ff_keystream_chunk_size(const ff_keystream *ks) { return ks->chunk_size; }
const char *ff_keystream_name(const ff_keystream *ks) { return ks->name; }
uint64_t ff_keystream_size(const ff_keystream *ks) { return ks->payload_size; }
uint64_t ff_keystream_payload_bytes(const ff_keystream *ks) { return ks->pos; }

const char *ff_keystream_meta(const ff_keystream *ks, size_t *len) {
  if (len) *len = ks->meta_len;
  return ks->meta;
}

uint64_t ff_keystream_write_ns(const ff_keystream *ks) { return ks ? ks->write_ns : 0; }

uint64_t ff_keystream_encoded_bytes(const ff_keystream *ks) {
  return ff__ks_is_writer(ks) ? ks->offset + ks->fill : ks->encoded_size;
}

uint64_t ff_keystream_remaining(const ff_keystream *ks) {
  return ff__ks_is_writer(ks) ? 0 : ks->payload_size - ks->pos;
}

ff_status ff_keystream_expect(const ff_keystream *ks, int party, const char *run_id, const char *meta) {
  if (party >= 0 && party != ks->party) {
    FF_ERROR("%s holds the keys of party %d, but this process is party %d", ks->label, ks->party, party);
    return FF_EMISMATCH;
  }
  if (run_id && strcmp(run_id, ks->run_id) != 0) {
    FF_ERROR("%s belongs to run '%s', but this is run '%s'", ks->label, ks->run_id, run_id);
    return FF_EMISMATCH;
  }
  if (meta && strcmp(meta, ks->meta) != 0) {
    FF_ERROR("%s was made for another model or shape: its metadata is '%.400s', this run's is '%.400s'", ks->label,
             ks->meta, meta);
    return FF_EMISMATCH;
  }
  return FF_OK;
}

static void ff__ks_chunk_prefix(const ff_keystream *ks, uint64_t k, size_t len, uint8_t pre[FF_KEYSTREAM_ID_BYTES + 12]) {
  memcpy(pre, ks->dealing_id, FF_KEYSTREAM_ID_BYTES);
  ff__put64(pre + FF_KEYSTREAM_ID_BYTES, k);
  ff__put32(pre + FF_KEYSTREAM_ID_BYTES + 8, (uint32_t)len);
}

/* The header with the current payload size, into hdr (header_size bytes), its MAC tag last. */
static void ff__ks_encode_header(const ff_keystream *ks, uint64_t payload_size, uint8_t *hdr) {
  memset(hdr, 0, ks->header_size);
  memcpy(hdr, ff__ks_magic, 8);
  ff__put32(hdr + 8, FF_KEYSTREAM_VERSION);
  ff__put32(hdr + 12, ks->header_size);
  ff__put32(hdr + 16, (uint32_t)ks->party);
  ff__put32(hdr + 20, ks->chunk_size);
  ff__put64(hdr + 24, payload_size);
  memcpy(hdr + 32, ks->run_id, strlen(ks->run_id));
  ff__put32(hdr + 64, (uint32_t)ks->meta_len);
  ff__put32(hdr + 68, ks->flags);
  memcpy(hdr + 72, ks->dealing_id, FF_KEYSTREAM_ID_BYTES);
  memcpy(hdr + FF__KS_FIXED, ks->meta, ks->meta_len);
  ff__put32(hdr + FF__KS_FIXED + ks->meta_len, ff_crc32c(0, hdr, FF__KS_FIXED + ks->meta_len));
  if (ks->mac)
    ff__ks_tag(ks, "FFKEYHDR", hdr, FF__KS_HEADER_OVERHEAD + ks->meta_len, NULL, 0,
               hdr + FF__KS_HEADER_OVERHEAD + ks->meta_len);
}

/* --- Writer ----------------------------------------------------------------------------------------- */

static ff_status ff__ks_mem_reserve(ff_keystream *ks, size_t more) {
  if (more <= ks->mem_cap - ks->mem_len) return FF_OK;
  if (more > SIZE_MAX / 2 - ks->mem_len) {
    FF_ERROR("%s cannot grow beyond %zu bytes", ks->label, ks->mem_len);
    return FF_ENOMEM;
  }
  size_t cap = ks->mem_cap ? ks->mem_cap : 4096;
  while (cap - ks->mem_len < more) cap *= 2;
  uint8_t *mem = realloc(ks->mem, cap);
  if (!mem) {
    FF_ERROR("cannot grow the %s to %zu bytes", ks->label, cap);
    return FF_ENOMEM;
  }
  ks->mem = mem;
  ks->mem_cap = cap;
  return FF_OK;
}

/* Appends encoded bytes to the memory buffer or the file; a failure breaks the writer. */
static ff_status ff__ks_emit(ff_keystream *ks, const void *data, size_t n) {
  if (ks->mode == FF__KS_WRITE_NULL) return FF_OK;
  if (ks->mode == FF__KS_WRITE_MEM) {
    ff_status st = ff__ks_mem_reserve(ks, n);
    if (st) return ks->broken = st;
    memcpy(ks->mem + ks->mem_len, data, n);
    ks->mem_len += n;
    return FF_OK;
  }
  if (ks->mode == FF__KS_WRITE_SINK) {
    ff_status st = n ? ks->sink(ks->sink_arg, data, n) : FF_OK;
    if (st) FF_ERROR("cannot send %s at byte %llu (%s)", ks->label, (unsigned long long)ks->offset, ff_strerror(st));
    return st ? (ks->broken = st) : FF_OK;
  }
  if (n && fwrite(data, 1, n, ks->f) != n) {
    FF_ERROR("cannot write %s at byte %llu: %s", ks->label, (unsigned long long)ks->offset, strerror(errno));
    return ks->broken = FF_EIO;
  }
  return FF_OK;
}

static ff_status ff__ks_wq_hand_over(ff_keystream *ks, size_t len);

/* Ends the current chunk of len payload bytes: for a file or live stream, the slot being filled (ks->chunk)
 * goes to the threads, which seal and write it; for memory, the bytes are already at the end of the
 * buffer and room for their CRC and tag is appended here (the finish fills it in: ff__ks_mem_seal_all). */
static ff_status ff__ks_seal(ff_keystream *ks, size_t len) {
  ff_status st;
  if (ks->mode == FF__KS_WRITE_FILE || ks->mode == FF__KS_WRITE_SINK) {
    if ((st = ff__ks_wq_hand_over(ks, len))) return ks->broken = st;
    ks->n_chunks++;
    ks->offset += len + 4 + ks->tag_size;
    ks->fill = 0;
    return FF_OK;
  }
  /* Memory: room for the CRC and tag, which the finish fills in for every chunk at once, over the CPUs
   * (ff__ks_mem_seal_all): the dealer's thread only copies. */
  static const uint8_t room[4 + FF__KS_TAG];
  if ((st = ff__ks_emit(ks, room, 4 + ks->tag_size))) return st;
  ks->mem_last_len = len;
  ks->n_chunks++;
  ks->offset += len + 4 + ks->tag_size;
  ks->fill = 0;
  return FF_OK;
}

/* Seals chunk k of len payload bytes at data: its CRC32C at data + len, and with a keyed MAC context (the
 * calling thread's own) its tag after that. 0 when the tag could not be computed (logged). */
static int ff__ks_seal_chunk(const ff_keystream *ks, EVP_MAC_CTX *keyed, uint64_t k, uint8_t *data, size_t len) {
  ff__put32(data + len, ff_crc32c(0, data, len));
  if (!keyed) return 1;
  uint8_t pre[FF_KEYSTREAM_ID_BYTES + 12];
  ff__ks_chunk_prefix(ks, k, len, pre);
  if (ff__ks_tag_from(keyed, "FFKEYCHK", pre, sizeof pre, data, len, data + len + 4)) return 1;
  FF_ERROR("cannot compute the MAC of chunk %llu of %s (OpenSSL's libcrypto failed)", (unsigned long long)k,
           ks->label);
  return 0;
}

/* The memory writer's chunks sealed at its finish: chunk k's CRC and tag into the room left after it, by
 * several threads (each tags from a keyed context of its own, copied under the lock as the sealers'
 * are), then the CRC of the CRCs in order. */
typedef struct {
  ff_keystream *ks;
  pthread_mutex_t mu;
  int failed; /* a tag could not be computed (under mu) */
} ff__ks_mem_sealing;

static void ff__ks_mem_seal_range(void *arg, size_t lo, size_t hi) {
  ff__ks_mem_sealing *m = arg;
  ff_keystream *ks = m->ks;
  const size_t stride = (size_t)ks->chunk_size + 4 + ks->tag_size;
  EVP_MAC_CTX *keyed = NULL;
  if (ks->mac) {
    pthread_mutex_lock(&m->mu);
    keyed = EVP_MAC_CTX_dup(ks->mac);
    m->failed |= !keyed;
    pthread_mutex_unlock(&m->mu);
    if (!keyed) return;
  }
  int ok = 1;
  for (size_t k = lo; k < hi && ok; k++)
    ok = ff__ks_seal_chunk(ks, keyed, k, ks->mem + ks->header_size + k * stride,
                           k + 1 < ks->n_chunks ? ks->chunk_size : ks->mem_last_len);
  EVP_MAC_CTX_free(keyed);
  if (!ok) {
    pthread_mutex_lock(&m->mu);
    m->failed = 1;
    pthread_mutex_unlock(&m->mu);
  }
}

static ff_status ff__ks_mem_seal_all(ff_keystream *ks) {
  ff__ks_mem_sealing m = {.ks = ks};
  pthread_mutex_init(&m.mu, NULL);
  const size_t per = (size_t)(UINT64_C(8) << 20) / ks->chunk_size; /* 8 MiB of chunks per thread at least */
  ff_parallel_for((size_t)ks->n_chunks, per ? per : 1, 0, ff__ks_mem_seal_range, &m);
  pthread_mutex_destroy(&m.mu);
  if (m.failed) {
    FF_ERROR("cannot seal the chunks of %s (OpenSSL's libcrypto failed)", ks->label);
    return FF_EIO;
  }
  const size_t stride = (size_t)ks->chunk_size + 4 + ks->tag_size;
  for (uint64_t k = 0; k < ks->n_chunks; k++) {
    const size_t len = k + 1 < ks->n_chunks ? ks->chunk_size : ks->mem_last_len;
    ks->crc_of_crcs = ff_crc32c(ks->crc_of_crcs, ks->mem + ks->header_size + k * stride + len, 4);
  }
  return FF_OK;
}

/* A sealer: takes any filled slot, appends its CRC and tag. Exits once stopped with nothing to seal. */
static void *ff__ks_sealer_main(void *arg) {
  ff__ks_wq *q = arg;
  ff_keystream *ks = q->ks;
  pthread_mutex_lock(&q->mu);
  /* Each sealer tags from a keyed context of its own (copied one at a time, under the lock): the
   * stream's context is never read by two threads at once. */
  EVP_MAC_CTX *keyed = ks->mac ? EVP_MAC_CTX_dup(ks->mac) : NULL;
  if (ks->mac && !keyed && !q->err) {
    FF_ERROR("cannot copy the MAC context for a sealer of %s (out of memory in OpenSSL's libcrypto)", ks->label);
    q->err = FF_ENOMEM; /* this sealer then passes its chunks on unsealed, as after any failure */
  }
  for (;;) {
    if (!q->n_to_seal) {
      if (q->stop) break;
      pthread_cond_wait(&q->filled, &q->mu);
      continue;
    }
    const int s = q->to_seal; /* the oldest filled slot */
    q->to_seal = (s + 1) % q->n_slots;
    q->n_to_seal--;
    q->state[s] = FF__SLOT_SEALING;
    const int failed = q->err != FF_OK;
    uint8_t *buf = q->slot[s];
    const size_t len = q->len[s];
    const uint64_t index = q->index[s];
    pthread_mutex_unlock(&q->mu);
    ff_status st = FF_OK;
    /* After a failure the slots are only passed on. */
    if (!failed && !ff__ks_seal_chunk(ks, keyed, index, buf, len)) st = FF_EIO;
    pthread_mutex_lock(&q->mu);
    if (st && !q->err) q->err = st;
    q->state[s] = FF__SLOT_SEALED;
    pthread_cond_broadcast(&q->sealed);
  }
  pthread_mutex_unlock(&q->mu);
  EVP_MAC_CTX_free(keyed);
  return NULL;
}

/* The writer: the oldest slot once it is sealed, written with one call. Exits once stopped and drained. */
static void *ff__ks_writer_main(void *arg) {
  ff__ks_wq *q = arg;
  ff_keystream *ks = q->ks;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (!(q->count && q->state[q->head] == FF__SLOT_SEALED) && !(q->stop && !q->count))
      pthread_cond_wait(&q->sealed, &q->mu);
    if (!q->count) break; /* stopped and drained */
    const int s = q->head;
    const int failed = q->err != FF_OK;
    const uint8_t *buf = q->slot[s];
    const size_t len = q->len[s];
    const uint64_t index = q->index[s];
    pthread_mutex_unlock(&q->mu);
    ff_status st = FF_OK;
    if (!failed) {
      const size_t n = len + 4 + ks->tag_size;
      ks->crc_of_crcs = ff_crc32c(ks->crc_of_crcs, buf + len, 4);
      if (ks->mode == FF__KS_WRITE_SINK) {
        if ((st = ks->sink(ks->sink_arg, buf, n)))
          FF_ERROR("cannot send %s (chunk %llu): %s", ks->label, (unsigned long long)index, ff_strerror(st));
      } else if (fwrite(buf, 1, n, ks->f) != n) {
        FF_ERROR("cannot write %s (chunk %llu): %s", ks->label, (unsigned long long)index, strerror(errno));
        st = FF_EIO;
      }
    }
    pthread_mutex_lock(&q->mu);
    if (st && !q->err) q->err = st;
    q->state[s] = FF__SLOT_FREE;
    q->spare[q->n_spare++] = q->slot[s]; /* at most n_slots buffers exist, so the spares fit */
    q->slot[s] = NULL;
    q->head = (q->head + 1) % q->n_slots;
    q->count--;
    pthread_cond_signal(&q->room);
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

/* Sealers per stream: the caller's choice, else a quarter of the CPUs this process may use (a dealer
 * writes two streams at once and deals beside them), 1 .. 8. */
static int ff__ks_sealers(int asked) {
  if (asked > 0) return asked < FF__KS_SEALERS_MAX ? asked : FF__KS_SEALERS_MAX;
  const int n = ff_cpu_count() / 4;
  return n < 1 ? 1 : n > 8 ? 8 : n;
}

/* A chunk buffer of the ring, page-locked when the stream asked for it and a GPU is visible. The first
 * buffer decides for all: if it cannot be page-locked, the ring uses ordinary memory (with a warning). */
static uint8_t *ff__ks_buf_alloc(ff__ks_wq *q) {
  if (q->pinned) {
    void *p = NULL;
    if (ff_cuda_host_try_alloc(&p, q->slot_bytes) == FF_OK) {
      q->n_bufs++;
      return p;
    }
    if (q->n_bufs) return NULL; /* out of page-locked memory midway: an allocation failure */
    FF_WARN("%s: no page-locked host memory for its chunks; ordinary memory instead (downloads from the GPU "
            "into them are then copies through the driver)", q->ks->label);
    q->pinned = 0;
  }
  uint8_t *b = malloc(q->slot_bytes);
  if (b) q->n_bufs++;
  return b;
}

static void ff__ks_buf_free(const ff__ks_wq *q, uint8_t *b) {
  if (q->pinned) ff_cuda_host_free(b);
  else free(b);
}

/* Frees the ring and every buffer in it (the threads are joined, the ring drained or never used). */
static void ff__ks_wq_free(ff__ks_wq *q) {
  if (!q) return;
  if (q->slot)
    for (int i = 0; i < q->n_slots; i++) ff__ks_buf_free(q, q->slot[i]);
  for (int i = 0; i < q->n_spare; i++) ff__ks_buf_free(q, q->spare[i]);
  free(q->slot);
  free(q->spare);
  free(q->len);
  free(q->index);
  free(q->state);
  free(q);
}

/* Stops the threads (the queued chunks are sealed and written first), joins them; their first failure. */
static ff_status ff__ks_wq_join(ff__ks_wq *q, int n_sealers, int writer) {
  pthread_mutex_lock(&q->mu);
  q->stop = 1;
  pthread_cond_broadcast(&q->filled);
  pthread_cond_broadcast(&q->sealed);
  pthread_mutex_unlock(&q->mu);
  for (int i = 0; i < n_sealers; i++) pthread_join(q->sealer[i], NULL);
  if (writer) pthread_join(q->writer, NULL);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->filled);
  pthread_cond_destroy(&q->sealed);
  pthread_cond_destroy(&q->room);
  return q->err;
}

/* The ring's slots: ceil(write_behind / slot_bytes), but never fewer than 2 × sealers + 2 (each sealer
 * has a chunk to seal and another waiting while the writer writes one and the dealer fills one), and for
 * chunks so large that these would pass FF__KS_RING_BYTES, never fewer than as many as fit in it, and 3
 * at least (one being filled, one sealed, one written). At most FF__KS_SLOTS_MAX chunks and, beyond that
 * least ring, FF__KS_BEHIND_MAX bytes: a deeper write_behind is clamped (a dealer that outruns its writer
 * by more would sooner meet the OOM killer than an allocation failure). */
static int ff__ks_ring_slots(uint64_t write_behind, uint64_t slot_bytes, int n_sealers) {
  uint64_t least = 2 * (uint64_t)n_sealers + 2;
  while (least > 3 && least * slot_bytes > FF__KS_RING_BYTES) least--;
  uint64_t wanted = write_behind / slot_bytes + (write_behind % slot_bytes != 0);
  if (wanted > FF__KS_BEHIND_MAX / slot_bytes) wanted = FF__KS_BEHIND_MAX / slot_bytes;
  const uint64_t n = wanted > least ? wanted : least;
  return n < FF__KS_SLOTS_MAX ? (int)n : FF__KS_SLOTS_MAX;
}

static ff_status ff__ks_wq_start(ff_keystream *ks) {
  ff__ks_wq *q = calloc(1, sizeof *q);
  if (!q) goto nomem;
  q->ks = ks;
  q->n_sealers = ff__ks_sealers(ks->sealers);
  q->slot_bytes = (size_t)ks->chunk_size + 4 + FF__KS_TAG;
  q->n_slots = ff__ks_ring_slots(ks->write_behind, q->slot_bytes, q->n_sealers);
  q->pinned = ks->pinned && ff_cuda_device_count() > 0;
  /* Only the ring's bookkeeping now; the buffers as the dealer needs them (ff__ks_wq_acquire). */
  const size_t n = (size_t)q->n_slots;
  if (!(q->slot = calloc(n, sizeof *q->slot)) || !(q->spare = calloc(n, sizeof *q->spare)) ||
      !(q->len = calloc(n, sizeof *q->len)) || !(q->index = calloc(n, sizeof *q->index)) ||
      !(q->state = calloc(n, 1)))
    goto nomem;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->filled, NULL);
  pthread_cond_init(&q->sealed, NULL);
  pthread_cond_init(&q->room, NULL);
  int started = 0;
  if (pthread_create(&q->writer, NULL, ff__ks_writer_main, q) != 0) {
    ff__ks_wq_join(q, 0, 0);
    goto nothread;
  }
  for (; started < q->n_sealers; started++)
    if (pthread_create(&q->sealer[started], NULL, ff__ks_sealer_main, q) != 0) {
      ff__ks_wq_join(q, started, 1);
      goto nothread;
    }
  ks->wq = q;
  return FF_OK;
nothread:
  FF_ERROR("cannot start the sealer and writer threads of %s", ks->label);
  ff__ks_wq_free(q);
  return FF_EIO;
nomem:
  ff__ks_wq_free(q);
  FF_ERROR("out of memory for the writer queue of %s", ks->label);
  return FF_ENOMEM;
}

/* The dealer's side: waits while the ring is full (the write-behind is used up), then a buffer for the
 * next chunk becomes ks->chunk, the dealer's until it is handed over: a written chunk's, else a new one.
 * Out of memory leaves the ring as it was and ks->chunk NULL; the caller breaks the stream. */
static ff_status ff__ks_wq_acquire(ff_keystream *ks) {
  ff_status st;
  if (!ks->wq && (st = ff__ks_wq_start(ks))) return st;
  ff__ks_wq *q = ks->wq;
  uint8_t *buf = NULL;
  pthread_mutex_lock(&q->mu);
  while (q->count == q->n_slots && !q->err) pthread_cond_wait(&q->room, &q->mu);
  st = q->err;
  if (!st && q->n_spare) buf = q->spare[--q->n_spare];
  const int waiting = q->count;
  pthread_mutex_unlock(&q->mu);
  if (st) return st;
  if (!buf && !(buf = ff__ks_buf_alloc(q))) {
    FF_ERROR("out of memory for the next chunk of %s: %zu bytes more, beside the %d chunks waiting to be written "
             "(a smaller ff_keystream_params.write_behind holds fewer)",
             ks->label, q->slot_bytes, waiting);
    return FF_ENOMEM;
  }
  ks->chunk = buf;
  return FF_OK;
}

/* The dealer hands the chunk it filled (ks->chunk, len payload bytes) to the sealers, at the ring's next
 * place (head + count: free, since it acquired the buffer only when the ring had room, and only the
 * dealer adds to the ring). */
static ff_status ff__ks_wq_hand_over(ff_keystream *ks, size_t len) {
  ff__ks_wq *q = ks->wq;
  pthread_mutex_lock(&q->mu);
  const int t = (q->head + q->count) % q->n_slots;
  q->slot[t] = ks->chunk;
  q->len[t] = len;
  q->index[t] = ks->n_chunks;
  q->state[t] = FF__SLOT_FILLED;
  q->count++;
  q->n_to_seal++;
  const ff_status st = q->err; /* a thread's failure fails this write, not only the next acquire */
  pthread_cond_signal(&q->filled);
  pthread_mutex_unlock(&q->mu);
  ks->chunk = NULL;
  return st;
}

/* Drains the ring, joins the threads and frees them; their first failure, if any. Safe without them. A
 * chunk the dealer was filling and did not hand over is dropped (the stream is then incomplete).
 * abandon (a close without finish): what waits in the ring is passed on unwritten, as after a failure,
 * instead of pushing up to the write-behind's bytes into a stream that will never be complete. */
static ff_status ff__ks_wq_stop(ff_keystream *ks, int abandon) {
  ff__ks_wq *q = ks->wq;
  if (!q) return FF_OK;
  if (abandon) {
    pthread_mutex_lock(&q->mu);
    if (!q->err) q->err = FF_ESTATE;
    pthread_mutex_unlock(&q->mu);
  }
  const ff_status st = ff__ks_wq_join(q, q->n_sealers, 1);
  if (ks->chunk) ff__ks_buf_free(q, ks->chunk);
  ff__ks_wq_free(q);
  ks->wq = NULL;
  ks->chunk = NULL;
  return st;
}

static ff_status ff__ks_create(const char *path, const ff_keystream_params *p, ff_keystream_sink sink, void *sink_arg,
                               uint64_t declared, int discard, ff_keystream **out) {
  if (!out) return FF_EINVAL;
  *out = NULL;
  ff_status st = ff__ks_check_cpu();
  if (st) return st;
  if (!p) {
    FF_ERROR("ff_keystream_create: no parameters given");
    return FF_EINVAL;
  }
  const char *run_id = p->run_id ? p->run_id : "";
  const char *meta = p->meta ? p->meta : "";
  size_t run_len = strlen(run_id), meta_len = strlen(meta);
  uint32_t chunk_size = p->chunk_size ? p->chunk_size : FF_KEYSTREAM_CHUNK_DEFAULT;
  if (p->party != 0 && p->party != 1) {
    FF_ERROR("a key stream is for party 0 or 1, not %d", p->party);
    return FF_EINVAL;
  }
  for (size_t i = 0; i < run_len; i++)
    if ((unsigned char)run_id[i] < 0x20 || (unsigned char)run_id[i] > 0x7e) {
      FF_ERROR("a key stream's run id must be printable ASCII (byte %zu is 0x%02x)", i, (unsigned char)run_id[i]);
      return FF_EINVAL;
    }
  if (run_len > FF_KEYSTREAM_RUN_ID_MAX) {
    FF_ERROR("run id '%s' has %zu characters; a key stream holds at most %d", run_id, run_len, FF_KEYSTREAM_RUN_ID_MAX);
    return FF_EINVAL;
  }
  if (meta_len > FF_KEYSTREAM_META_MAX) {
    FF_ERROR("key stream metadata has %zu bytes; at most %d fit in the header", meta_len, FF_KEYSTREAM_META_MAX);
    return FF_EINVAL;
  }
  if (chunk_size > FF_KEYSTREAM_CHUNK_MAX) {
    FF_ERROR("key stream chunk size %u is above the maximum %u", chunk_size, FF_KEYSTREAM_CHUNK_MAX);
    return FF_EINVAL;
  }

  if (sink && declared > FF__KS_PAYLOAD_MAX) {
    FF_ERROR("a key stream of %llu bytes is beyond the format's limit", (unsigned long long)declared);
    return FF_EINVAL;
  }
  const ff__ks_mode mode = discard ? FF__KS_WRITE_NULL : sink ? FF__KS_WRITE_SINK : path ? FF__KS_WRITE_FILE : FF__KS_WRITE_MEM;
  ff_keystream *ks = ff__ks_alloc(mode, sink || discard ? NULL : path);
  uint8_t *hdr = NULL;
  if (!ks) goto nomem;
  if (sink) {
    snprintf(ks->label, strlen(ks->name) + 16, "key stream");
    if (path) {
      char *label = malloc(strlen(path) + 16);
      if (!label) goto nomem;
      snprintf(label, strlen(path) + 16, "key stream %s", path);
      free(ks->label);
      ks->label = label;
    }
    ks->sink = sink;
    ks->sink_arg = sink_arg;
    ks->declared = declared;
  }
  ks->party = p->party;
  memcpy(ks->run_id, run_id, run_len + 1);
  ks->meta_len = meta_len;
  ks->chunk_size = chunk_size;
  if (p->dealing_id) memcpy(ks->dealing_id, p->dealing_id, FF_KEYSTREAM_ID_BYTES);
  if (p->mac_key && (st = ff__ks_mac_init(ks, p->mac_key))) goto fail;
  ks->header_size = FF__KS_HEADER_OVERHEAD + (uint32_t)meta_len + ks->tag_size;
  ks->fsync = p->fsync;
  ks->meta = malloc(meta_len + 1);
  hdr = malloc(ks->header_size);
  if (!ks->meta || !hdr) goto nomem;
  memcpy(ks->meta, meta, meta_len + 1);
  ks->sealers = p->sealers;
  /* A live stream's sink queues what it is given (run --dealer stream's key feeds, whose queue the dealer
   * bounds by its window): a deep ring there would only hide bytes from that bound. */
  ks->write_behind = p->write_behind ? p->write_behind : sink ? 1 : FF_KEYSTREAM_WRITE_BEHIND_DEFAULT;
  ks->pinned = p->pinned;
  if (path && !sink) { /* a live stream's name is a label, never a file */
    /* Non-blocking open, then fstat: a FIFO or device at the path is refused, never waited on. Key
     * shares are secrets: the file is the owner's alone (0600). */
    int fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0600);
    struct stat sb;
    if (fd < 0) {
      int err = errno;
      if (err == ENXIO)
        FF_ERROR("cannot create key file '%s': it is a FIFO (key files must be regular files)", path);
      else
        FF_ERROR("cannot create key file '%s': %s", path, strerror(err));
      st = err == ENOENT ? FF_ENOENT : FF_EIO;
      goto fail;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
      FF_ERROR("cannot create key file '%s': it exists and is not a regular file (key files must be regular files)",
               path);
      close(fd);
      st = FF_EINVAL;
      goto fail;
    }
    if (ftruncate(fd, 0) != 0 || fchmod(fd, 0600) != 0 || fcntl(fd, F_SETFL, 0) != 0 || !(ks->f = fdopen(fd, "wb"))) {
      FF_ERROR("cannot create key file '%s': %s", path, strerror(errno));
      close(fd);
      st = FF_EIO;
      goto fail;
    }
  }
  /* Marked incomplete until ff_keystream_finish writes the real payload size; a live stream cannot go
   * back, so it promises its size up front and ff_keystream_finish checks that it kept the promise. */
  ff__ks_encode_header(ks, sink ? declared : FF__KS_INCOMPLETE, hdr);
  if ((st = ff__ks_emit(ks, hdr, ks->header_size))) goto fail;
  ks->offset = ks->header_size;
  free(hdr);
  *out = ks;
  return FF_OK;

nomem:
  FF_ERROR("out of memory creating a key stream");
  st = FF_ENOMEM;
fail:
  free(hdr);
  ff_keystream_close(ks, 0);
  return st;
}

ff_status ff_keystream_create_mem(const ff_keystream_params *p, ff_keystream **out) {
  return ff__ks_create(NULL, p, NULL, NULL, 0, 0, out);
}

ff_status ff_keystream_create_null(const ff_keystream_params *p, ff_keystream **out) {
  ff_status st = ff__ks_create(NULL, p, NULL, NULL, 0, 1, out);
  if (!st) snprintf((*out)->label, strlen((*out)->name) + 16, "discarded keys");
  return st;
}

ff_status ff_keystream_create_sink(const char *name, const ff_keystream_params *p, uint64_t payload_size,
                                   ff_keystream_sink sink, void *arg, ff_keystream **out) {
  if (!sink) {
    if (out) *out = NULL;
    FF_ERROR("ff_keystream_create_sink: no sink given");
    return FF_EINVAL;
  }
  return ff__ks_create(name, p, sink, arg, payload_size, 0, out);
}

ff_status ff_keystream_create_file(const char *path, const ff_keystream_params *p, ff_keystream **out) {
  if (!path) {
    if (out) *out = NULL;
    FF_ERROR("ff_keystream_create_file: no path given");
    return FF_EINVAL;
  }
  return ff__ks_create(path, p, NULL, NULL, 0, 0, out);
}

static ff_status ff__ks_writable(ff_keystream *ks, const char *what) {
  if (!ff__ks_is_writer(ks)) {
    FF_ERROR("%s on %s, which is open for reading", what, ks->label);
    return FF_ESTATE;
  }
  if (ks->finished) {
    FF_ERROR("%s on %s, which is already finished", what, ks->label);
    return FF_ESTATE;
  }
  if (ks->broken) {
    FF_ERROR("%s on %s, which is unusable after an earlier error", what, ks->label);
    return ks->broken;
  }
  return FF_OK;
}

/* What a write puts into the stream: the caller's bytes (src), or bytes that fill() puts straight into the
 * stream's own memory, span by span (ff_keystream_write_fill). */
typedef struct {
  const uint8_t *src;
  ff_keystream_fill fill;
  void *arg;
  uint64_t fill_ns; /* time inside fill(), which is the caller's making of the bytes, not writing */
} ff__ks_source;

static ff_status ff__ks_write(ff_keystream *ks, ff__ks_source *from, size_t n);

static ff_status ff__ks_write_timed(ff_keystream *ks, ff__ks_source *from, size_t n) {
  const uint64_t t0 = ff_now_ns();
  const ff_status st = ff__ks_write(ks, from, n);
  ks->write_ns += ff_now_ns() - t0 - from->fill_ns;
  return st;
}

ff_status ff_keystream_write(ff_keystream *ks, const void *src, size_t n) {
  if (!ks || (n && !src)) return FF_EINVAL;
  ff__ks_source from = {.src = src};
  return ff__ks_write_timed(ks, &from, n);
}

ff_status ff_keystream_write_fill(ff_keystream *ks, size_t n, ff_keystream_fill fill, void *arg) {
  if (!ks || (n && !fill)) return FF_EINVAL;
  ff__ks_source from = {.fill = fill, .arg = arg};
  return ff__ks_write_timed(ks, &from, n);
}

/* Puts the next len bytes of the source at dst (the stream's memory); off: how many it put before. */
static ff_status ff__ks_take(ff_keystream *ks, ff__ks_source *from, uint8_t *dst, size_t off, size_t len) {
  if (!from->fill) {
    memcpy(dst, from->src + off, len);
    return FF_OK;
  }
  const uint64_t t0 = ff_now_ns();
  const ff_status st = from->fill(from->arg, dst, off, len);
  from->fill_ns += ff_now_ns() - t0;
  if (st) {
    FF_ERROR("the key bytes for %s at byte %llu could not be made (%s)", ks->label,
             (unsigned long long)ks->pos, ff_strerror(st));
    return ks->broken = st;
  }
  return FF_OK;
}

static ff_status ff__ks_write(ff_keystream *ks, ff__ks_source *from, size_t n) {
  ff_status st = ff__ks_writable(ks, "ff_keystream_write");
  if (st) return st;
  if (ks->mode == FF__KS_WRITE_SINK && n > ks->declared - ks->pos) {
    FF_ERROR("%s was declared with %llu key bytes, but the dealer writes more (%zu at byte %llu): the size from the "
             "cost model and the dealer disagree",
             ks->label, (unsigned long long)ks->declared, n, (unsigned long long)ks->pos);
    return ks->broken = FF_ERANGE;
  }
  if (ks->mode == FF__KS_WRITE_NULL) { /* counted, never made: a fill is not called */
    ks->payload_size = ks->pos += n;
    return FF_OK;
  }
  size_t done = 0;
  while (done < n) {
    size_t take = ks->chunk_size - ks->fill;
    if (take > n - done) take = n - done;
    uint8_t *dst;
    if (ks->mode == FF__KS_WRITE_MEM) {
      if ((st = ff__ks_mem_reserve(ks, take))) return ks->broken = st;
      dst = ks->mem + ks->mem_len;
    } else {
      if (!ks->chunk && (st = ff__ks_wq_acquire(ks))) return ks->broken = st;
      dst = ks->chunk + ks->fill;
    }
    if ((st = ff__ks_take(ks, from, dst, done, take))) return st;
    if (ks->mode == FF__KS_WRITE_MEM) ks->mem_len += take;
    ks->fill += take;
    ks->pos += take;
    done += take;
    if (ks->fill == ks->chunk_size && (st = ff__ks_seal(ks, ks->fill))) return st;
  }
  ks->payload_size = ks->pos;
  return FF_OK;
}

static ff_status ff__ks_finish(ff_keystream *ks);

ff_status ff_keystream_finish(ff_keystream *ks) {
  if (!ks) return FF_EINVAL;
  const uint64_t t0 = ff_now_ns();
  const ff_status st = ff__ks_finish(ks);
  ks->write_ns += ff_now_ns() - t0;
  return st;
}

static ff_status ff__ks_finish(ff_keystream *ks) {
  ff_status st = ff__ks_writable(ks, "ff_keystream_finish");
  if (st) return st;
  if (ks->mode == FF__KS_WRITE_SINK && ks->pos != ks->declared) {
    FF_ERROR("%s was declared with %llu key bytes, but the dealer wrote %llu: the size from the cost model and the "
             "dealer disagree", ks->label, (unsigned long long)ks->declared, (unsigned long long)ks->pos);
    return ks->broken = FF_EMISMATCH;
  }
  if (ks->mode == FF__KS_WRITE_NULL) {
    ks->finished = 1;
    return FF_OK;
  }
  if (ks->fill > 0 && (st = ff__ks_seal(ks, ks->fill))) return st;
  if ((st = ff__ks_wq_stop(ks, 0))) return ks->broken = st; /* every chunk written, crc_of_crcs complete */
  if (ks->mode == FF__KS_WRITE_MEM && (st = ff__ks_mem_seal_all(ks))) return ks->broken = st;
  ks->payload_size = ks->pos;

  uint8_t trailer[FF__KS_TRAILER];
  memcpy(trailer, ff__ks_end_magic, 8);
  ff__put64(trailer + 8, ks->payload_size);
  ff__put64(trailer + 16, ks->n_chunks);
  ff__put32(trailer + 24, ks->crc_of_crcs);
  ff__put32(trailer + 28, ff_crc32c(0, trailer, 28));
  if ((st = ff__ks_emit(ks, trailer, sizeof trailer))) return st;
  ks->offset += sizeof trailer;
  if (ks->mac) {
    uint8_t msg[FF_KEYSTREAM_ID_BYTES + FF__KS_TRAILER], tag[FF__KS_TAG];
    memcpy(msg, ks->dealing_id, FF_KEYSTREAM_ID_BYTES);
    memcpy(msg + FF_KEYSTREAM_ID_BYTES, trailer, sizeof trailer);
    if (!ff__ks_tag(ks, "FFKEYTRL", msg, sizeof msg, NULL, 0, tag)) {
      FF_ERROR("cannot compute the MAC of the trailer of %s (OpenSSL's libcrypto failed)", ks->label);
      return ks->broken = FF_EIO;
    }
    if ((st = ff__ks_emit(ks, tag, sizeof tag))) return st;
    ks->offset += sizeof tag;
  }

  uint8_t *hdr = malloc(ks->header_size);
  if (!hdr) {
    FF_ERROR("out of memory finishing %s", ks->label);
    return ks->broken = FF_ENOMEM;
  }
  ff__ks_encode_header(ks, ks->payload_size, hdr);
  if (ks->mode == FF__KS_WRITE_SINK) { /* the header went first, with this size */
    free(hdr);
    ks->finished = 1;
    return FF_OK;
  }
  if (ks->mode == FF__KS_WRITE_MEM) {
    memcpy(ks->mem, hdr, ks->header_size);
    free(hdr);
    ks->finished = 1;
    return FF_OK;
  }

  FILE *f = ks->f;
  ks->f = NULL;
  int ok = fflush(f) == 0 && fseek(f, 0, SEEK_SET) == 0 && fwrite(hdr, 1, ks->header_size, f) == ks->header_size &&
           fflush(f) == 0;
  const char *step = "write";
  if (ok && ks->fsync && fsync(fileno(f)) != 0) {
    ok = 0;
    step = "fsync";
  }
  int err = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    err = errno;
    step = "close";
  }
  free(hdr);
  if (!ok) {
    FF_ERROR("cannot %s %s: %s", step, ks->label, strerror(err));
    return ks->broken = FF_EIO;
  }
  ks->finished = 1;
  return FF_OK;
}

ff_status ff_keystream_mem_image(const ff_keystream *ks, const void **data, size_t *size) {
  if (!ks || !data || !size) return FF_EINVAL;
  if (ks->mode != FF__KS_WRITE_MEM || !ks->finished) {
    FF_ERROR("%s has no memory image: it is not a finished in-memory writer", ks->label);
    return FF_ESTATE;
  }
  *data = ks->mem;
  *size = ks->mem_len;
  return FF_OK;
}

/* --- Reader ----------------------------------------------------------------------------------------- */

/* A live stream: up to n bytes, waiting at most timeout_ns for each next piece (a deadline, never a hang);
 * *got < n only at the end of the stream, which the callers report as truncation. */
static ff_status ff__ks_pull_fd(ff_keystream *ks, void *dst, size_t n, size_t *got) {
  uint8_t *d = dst;
  *got = 0;
  while (*got < n) {
    struct pollfd pfd = {.fd = ks->fd, .events = POLLIN};
    const int ms = ks->timeout_ns / 1000000u > INT32_MAX ? INT32_MAX : (int)(ks->timeout_ns / 1000000u);
    const int pr = poll(&pfd, 1, ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      FF_ERROR("%s: no key bytes from the dealer for %.1f s (at byte %llu of the stream): the dealer is stuck or "
               "gone; giving up (--timeout)", ks->label, (double)ks->timeout_ns * 1e-9,
               (unsigned long long)(ks->offset + *got));
      return ks->broken = FF_ETIMEDOUT;
    }
    const ssize_t r = pr < 0 ? -1 : read(ks->fd, d + *got, n - *got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      FF_ERROR("cannot read %s at byte %llu: %s", ks->label, (unsigned long long)(ks->offset + *got), strerror(errno));
      return ks->broken = FF_EIO;
    }
    if (r == 0) {
      if (ks->payload_size != FF__KS_INCOMPLETE && ks->offset + *got < ks->encoded_size)
        FF_ERROR("%s ended at byte %llu of %llu: the dealer closed it early (it died or failed; see its message)",
                 ks->label, (unsigned long long)(ks->offset + *got), (unsigned long long)ks->encoded_size);
      break;
    }
    *got += (size_t)r;
  }
  return FF_OK;
}

/* Up to n encoded bytes at the reader's offset into dst; *got says how many there were. */
static ff_status ff__ks_pull(ff_keystream *ks, void *dst, size_t n, size_t *got) {
  if (ks->mode == FF__KS_READ_MEM) {
    size_t left = ks->offset < ks->src_len ? ks->src_len - (size_t)ks->offset : 0;
    *got = n < left ? n : left;
    memcpy(dst, ks->src + ks->offset, *got);
  } else if (ks->mode == FF__KS_READ_FD) {
    ff_status st = ff__ks_pull_fd(ks, dst, n, got);
    if (st) return st;
  } else {
    *got = fread(dst, 1, n, ks->f);
    if (*got < n && ferror(ks->f)) {
      FF_ERROR("cannot read %s at byte %llu: %s", ks->label, (unsigned long long)(ks->offset + *got), strerror(errno));
      return ks->broken = FF_EIO;
    }
  }
  ks->offset += *got;
  return FF_OK;
}

/* Where byte offset `at` of the encoded stream falls, in words, for truncation messages. */
static void ff__ks_where(const ff_keystream *ks, uint64_t at, char *buf, size_t n) {
  if (at < ks->header_size) {
    snprintf(buf, n, "inside the header");
    return;
  }
  uint64_t p = at - ks->header_size, stride = (uint64_t)ks->chunk_size + 4 + ks->tag_size;
  uint64_t chunk_bytes = ks->payload_size + (4 + ks->tag_size) * ks->n_chunks;
  if (p >= chunk_bytes) {
    uint64_t q = p - chunk_bytes;
    snprintf(buf, n, "%s", q == 0 ? "at a chunk boundary: after the last chunk, where the trailer starts"
                           : q < FF__KS_TRAILER + ks->tag_size ? "inside the trailer" : "after the trailer");
    return;
  }
  uint64_t k = p / stride, r = p % stride;
  uint64_t len = k + 1 == ks->n_chunks ? ks->payload_size - k * ks->chunk_size : ks->chunk_size;
  if (r == 0)
    snprintf(buf, n, "at a chunk boundary: chunk %llu (payload offset %llu) is missing", (unsigned long long)k,
             (unsigned long long)(k * ks->chunk_size));
  else if (r < len)
    snprintf(buf, n, "inside chunk %llu (payload offset %llu)", (unsigned long long)k,
             (unsigned long long)(k * ks->chunk_size + r));
  else
    snprintf(buf, n, "inside the CRC%s of chunk %llu", ks->tag_size ? " or MAC" : "", (unsigned long long)k);
}

/* The MAC refusal, worded for a user who cannot tell tampering from the wrong key. */
static ff_status ff__ks_mac_failed(ff_keystream *ks, const char *what) {
  FF_ERROR("%s fails its MAC check (HMAC-SHA-256) at %s: the file was changed after the dealer wrote it (its CRCs "
           "may still be valid), or the MAC key given with it is not the one dealt with it; refusing its keys",
           ks->label, what);
  return ks->broken = FF_EFORMAT;
}

static ff_status ff__ks_read_trailer(ff_keystream *ks) {
  uint8_t t[FF__KS_TRAILER + FF__KS_TAG];
  const size_t tn = FF__KS_TRAILER + ks->tag_size;
  uint64_t at = ks->offset;
  size_t got;
  ff_status st = ff__ks_pull(ks, t, tn, &got);
  if (st) return st;
  if (got < tn) {
    FF_ERROR("%s is truncated: the trailer at file offset %llu has %zu of its %zu bytes (after chunk %llu)", ks->label,
             (unsigned long long)at, got, tn, (unsigned long long)ks->n_chunks);
    return ks->broken = FF_EFORMAT;
  }
  uint32_t stored = ff__get32(t + 28), computed = ff_crc32c(0, t, 28);
  if (memcmp(t, ff__ks_end_magic, 8) != 0 || stored != computed) {
    FF_ERROR("%s is corrupted: the trailer at file offset %llu fails its check (CRC32C stored 0x%08x, computed 0x%08x)",
             ks->label, (unsigned long long)at, stored, computed);
    return ks->broken = FF_EFORMAT;
  }
  uint64_t t_payload = ff__get64(t + 8), t_chunks = ff__get64(t + 16);
  if (t_payload != ks->payload_size || t_chunks != ks->n_chunks) {
    FF_ERROR("%s is corrupted: its trailer (file offset %llu) says %llu key bytes in %llu chunks, its header %llu in "
             "%llu", ks->label, (unsigned long long)at, (unsigned long long)t_payload, (unsigned long long)t_chunks,
             (unsigned long long)ks->payload_size, (unsigned long long)ks->n_chunks);
    return ks->broken = FF_EFORMAT;
  }
  if (ff__get32(t + 24) != ks->crc_of_crcs) {
    FF_ERROR("%s is corrupted: its %llu chunks are each intact but do not match the trailer (file offset %llu): "
             "chunks were dropped, repeated or reordered",
             ks->label, (unsigned long long)ks->n_chunks, (unsigned long long)at);
    return ks->broken = FF_EFORMAT;
  }
  if (ks->mac) {
    uint8_t msg[FF_KEYSTREAM_ID_BYTES + FF__KS_TRAILER], tag[FF__KS_TAG];
    memcpy(msg, ks->dealing_id, FF_KEYSTREAM_ID_BYTES);
    memcpy(msg + FF_KEYSTREAM_ID_BYTES, t, FF__KS_TRAILER);
    if (!ff__ks_tag(ks, "FFKEYTRL", msg, sizeof msg, NULL, 0, tag) || CRYPTO_memcmp(tag, t + FF__KS_TRAILER, FF__KS_TAG))
      return ff__ks_mac_failed(ks, "the trailer");
  }
  uint8_t extra;
  if ((st = ff__ks_pull(ks, &extra, 1, &got))) return st;
  if (got) {
    FF_ERROR("%s is corrupted: unexpected bytes follow its trailer at file offset %llu", ks->label,
             (unsigned long long)(at + tn));
    return ks->broken = FF_EFORMAT;
  }
  return FF_OK;
}

/* One chunk as read: where its payload lies, its place in the stream, its stored CRC (and tag), and what
 * its check found. Filled by ff__ks_fetch, checked by ff__ks_check (any thread), accepted by ff__ks_accept. */
typedef struct {
  const uint8_t *data;
  size_t len;
  uint64_t k, payload_off, at;  /* chunk index, payload offset, file offset */
  uint8_t crc_le[4 + FF__KS_TAG];
  uint32_t computed;            /* the payload's CRC32C */
  int bad;                      /* 0, FF__KS_BAD_CRC or FF__KS_BAD_MAC */
} ff__ks_fetched;

enum { FF__KS_BAD_CRC = 1, FF__KS_BAD_MAC = 2 };

/* Reads chunk k (payload offset payload_off, at the reader's offset) with its CRC and tag: a file or live
 * reader into `into`, or ks->chunk when `into` is NULL; a memory reader views the image. Truncation is
 * refused here; the check is ff__ks_check's. */
static ff_status ff__ks_fetch(ff_keystream *ks, uint8_t *into, uint64_t k, uint64_t payload_off, ff__ks_fetched *f) {
  const size_t len =
      (size_t)(ks->payload_size - payload_off < ks->chunk_size ? ks->payload_size - payload_off : ks->chunk_size);
  const size_t cn = 4 + ks->tag_size;
  size_t got = 0, got_crc = 0;
  ff_status st;
  *f = (ff__ks_fetched){.len = len, .k = k, .payload_off = payload_off, .at = ks->offset};
  if (ks->mode == FF__KS_READ_MEM) {
    got = ks->src_len - (size_t)f->at < len ? ks->src_len - (size_t)f->at : len;
    f->data = ks->src + f->at;
    ks->offset += got;
  } else {
    uint8_t *dst = into ? into : ks->chunk;
    if ((st = ff__ks_pull(ks, dst, len, &got))) return st;
    f->data = dst;
  }
  if (got == len && (st = ff__ks_pull(ks, f->crc_le, cn, &got_crc))) return st;
  if (got < len || got_crc < cn) {
    FF_ERROR("%s is truncated: chunk %llu of %llu (payload offset %llu, file offset %llu) needs %zu bytes with its "
             "CRC%s, but the file ends after %zu of them",
             ks->label, (unsigned long long)k, (unsigned long long)ks->n_chunks, (unsigned long long)payload_off,
             (unsigned long long)f->at, len + cn, ks->tag_size ? " and MAC" : "", got + got_crc);
    return ks->broken = FF_EFORMAT;
  }
  return FF_OK;
}

/* The chunk's CRC32C, then its MAC; touches nothing but *f (so chunks are checked on several threads). */
static void ff__ks_check(const ff_keystream *ks, ff__ks_fetched *f) {
  f->computed = ff_crc32c(0, f->data, f->len);
  f->bad = ff__get32(f->crc_le) != f->computed ? FF__KS_BAD_CRC : 0;
  if (!f->bad && ks->mac) {
    uint8_t pre[FF_KEYSTREAM_ID_BYTES + 12], tag[FF__KS_TAG];
    ff__ks_chunk_prefix(ks, f->k, f->len, pre);
    if (!ff__ks_tag(ks, "FFKEYCHK", pre, sizeof pre, f->data, f->len, tag) ||
        CRYPTO_memcmp(tag, f->crc_le + 4, FF__KS_TAG))
      f->bad = FF__KS_BAD_MAC;
  }
}

/* A checked chunk, in stream order: refused with its place named, or counted (the running CRC of CRCs,
 * the chunk index, the bytes loaded). The caller checks the trailer after the last one. */
static ff_status ff__ks_accept(ff_keystream *ks, const ff__ks_fetched *f) {
  if (f->bad == FF__KS_BAD_CRC) {
    FF_ERROR("%s is corrupted: chunk %llu of %llu (payload offset %llu, file offset %llu, %zu bytes) fails its CRC32C "
             "check (stored 0x%08x, computed 0x%08x)",
             ks->label, (unsigned long long)f->k, (unsigned long long)ks->n_chunks, (unsigned long long)f->payload_off,
             (unsigned long long)f->at, f->len, ff__get32(f->crc_le), f->computed);
    return ks->broken = FF_EFORMAT;
  }
  if (f->bad == FF__KS_BAD_MAC) {
    char what[96];
    snprintf(what, sizeof what, "chunk %llu (payload offset %llu, file offset %llu)", (unsigned long long)f->k,
             (unsigned long long)f->payload_off, (unsigned long long)f->at);
    return ff__ks_mac_failed(ks, what);
  }
  ks->crc_of_crcs = ff_crc32c(ks->crc_of_crcs, f->crc_le, 4);
  ks->chunk_index++;
  ks->loaded += f->len;
  return FF_OK;
}

/* Loads and checks the next chunk into the reader's own buffer (file and live readers) or as a view of
 * the image (memory reader), which then serves reads of part of a chunk. After the last chunk, checks
 * the trailer. */
static ff_status ff__ks_load(ff_keystream *ks) {
  ff__ks_fetched f;
  ff_status st = ff__ks_fetch(ks, NULL, ks->chunk_index, ks->loaded, &f);
  if (st) return st;
  ff__ks_check(ks, &f);
  if ((st = ff__ks_accept(ks, &f))) return st;
  ks->cur = f.data;
  ks->cur_len = f.len;
  ks->cur_pos = 0;
  if (ks->loaded == ks->payload_size) return ff__ks_read_trailer(ks);
  return FF_OK;
}

/* Whole chunks for one read are checked over the CPUs: a batch of them is read in stream order (straight
 * into the caller's buffer, or viewed in a memory image and copied out by the same threads), checked on
 * several threads (CRC32C and the HMAC run at 1.5-7 GB/s per core, so a party's 17 GiB took 11 s on
 * one), then taken in order, the first bad one refused with the message a one-by-one read gives. The
 * result is that of reading them one by one. */
#define FF__KS_BATCH_CHUNKS 256
#define FF__KS_BATCH_BYTES (UINT64_C(64) << 20)

typedef struct {
  const ff_keystream *ks;
  ff__ks_fetched *f;
  uint8_t *copy_to; /* memory reader: the caller's buffer, where chunk i goes to copy_off[i]; else NULL */
  size_t *copy_off;
} ff__ks_batch;

/* Chunks lo..hi of a batch: checked, and copied out of a memory image (the caller's buffer is written
 * before the chunks are accepted, as a file reader's is; a refused read's bytes are not to be used). */
static void ff__ks_check_range(void *arg, size_t lo, size_t hi) {
  const ff__ks_batch *b = arg;
  for (size_t i = lo; i < hi; i++) {
    ff__ks_check(b->ks, &b->f[i]);
    if (b->copy_to) memcpy(b->copy_to + b->copy_off[i], b->f[i].data, b->f[i].len);
  }
}

/* Reads, checks and copies out whole chunks for up to n bytes at d (n covers at least one whole chunk);
 * *done is how many bytes of d it filled. */
static ff_status ff__ks_load_batch(ff_keystream *ks, uint8_t *d, size_t n, size_t *done) {
  ff__ks_fetched f[FF__KS_BATCH_CHUNKS];
  size_t m = 0, bytes = 0, off_in_d[FF__KS_BATCH_CHUNKS];
  uint64_t k = ks->chunk_index, off = ks->loaded;
  ff_status st = FF_OK;
  *done = 0;
  while (m < FF__KS_BATCH_CHUNKS && off < ks->payload_size) {
    const uint64_t len = ks->payload_size - off < ks->chunk_size ? ks->payload_size - off : ks->chunk_size;
    if (len > n - bytes || (m > 0 && bytes + len > FF__KS_BATCH_BYTES)) break;
    if ((st = ff__ks_fetch(ks, ks->mode == FF__KS_READ_MEM ? NULL : d + bytes, k, off, &f[m]))) return st;
    off_in_d[m] = bytes;
    m++, k++, off += len, bytes += (size_t)len;
  }
  ff__ks_batch b = {ks, f, ks->mode == FF__KS_READ_MEM ? d : NULL, off_in_d};
  ff_parallel_for(m, 1, 0, ff__ks_check_range, &b);
  for (size_t i = 0; i < m; i++) {
    if ((st = ff__ks_accept(ks, &f[i]))) return st;
    *done += f[i].len;
  }
  if (ks->loaded == ks->payload_size) return ff__ks_read_trailer(ks);
  return FF_OK;
}

/* Reads and checks the header; checks the stream's size against it. */
static ff_status ff__ks_open(ff_keystream *ks, uint64_t actual_size /* UINT64_MAX: unknown */) {
  uint8_t fixed[FF__KS_FIXED], *hdr = NULL;
  size_t got;
  ff_status st = ff__ks_pull(ks, fixed, sizeof fixed, &got);
  if (st) return st;
  if (got == 0) {
    FF_ERROR("%s is empty (0 bytes): not a fusefss key file", ks->mode == FF__KS_READ_MEM ? "the buffer" : ks->label);
    return FF_EFORMAT;
  }
  if (memcmp(fixed, ff__ks_magic, got < 8 ? got : 8) != 0) {
    if (ks->mode == FF__KS_READ_FILE)
      FF_ERROR("'%s' is not a fusefss key file (it does not start with the FFKEYS magic)", ks->name);
    else
      FF_ERROR("the in-memory buffer is not a fusefss key file (it does not start with the FFKEYS magic)");
    return FF_EFORMAT;
  }
  if (got < FF__KS_FIXED) {
    FF_ERROR("%s is truncated inside the header: it ends at byte %zu, the header has at least %u bytes", ks->label, got,
             FF__KS_HEADER_OVERHEAD);
    return FF_EFORMAT;
  }
  /* The version first: another version's header has another layout, so nothing else can be read. */
  const uint32_t version = ff__get32(fixed + 8);
  if (version != FF_KEYSTREAM_VERSION) {
    FF_ERROR("%s has key file format version %u; this build reads version %d (make the keys again with this build)",
             ks->label, version, FF_KEYSTREAM_VERSION);
    return FF_EFORMAT;
  }
  uint32_t header_size = ff__get32(fixed + 12), meta_len = ff__get32(fixed + 64), flags = ff__get32(fixed + 68);
  const uint32_t tag_size = flags & FF__KS_FLAG_MAC ? FF__KS_TAG : 0;
  if (meta_len > FF_KEYSTREAM_META_MAX || header_size != FF__KS_HEADER_OVERHEAD + meta_len + tag_size) {
    FF_ERROR("the header of %s is corrupted: header size %u and metadata length %u do not fit together", ks->label,
             header_size, meta_len);
    return FF_EFORMAT;
  }
  hdr = malloc(header_size);
  ks->meta = malloc(meta_len + 1);
  if (!hdr || !ks->meta) {
    FF_ERROR("out of memory opening %s", ks->label);
    st = FF_ENOMEM;
    goto done;
  }
  memcpy(hdr, fixed, sizeof fixed);
  if ((st = ff__ks_pull(ks, hdr + sizeof fixed, header_size - sizeof fixed, &got))) goto done;
  if (got < header_size - sizeof fixed) {
    FF_ERROR("%s is truncated inside the header: it ends at byte %llu, the header has %u bytes", ks->label,
             (unsigned long long)ks->offset, header_size);
    st = FF_EFORMAT;
    goto done;
  }
  uint32_t stored = ff__get32(hdr + FF__KS_FIXED + meta_len), computed = ff_crc32c(0, hdr, FF__KS_FIXED + meta_len);
  if (stored != computed) {
    FF_ERROR("the header of %s is corrupted: CRC32C stored 0x%08x, computed 0x%08x", ks->label, stored, computed);
    st = FF_EFORMAT;
    goto done;
  }
  uint32_t party = ff__get32(hdr + 16);
  /* A reader given a MAC key accepts only a file with a MAC (a stripped MAC is no MAC), and checks the
   * header's tag before it trusts any field; a file with a MAC needs its key. */
  if (ks->mac && !tag_size) {
    FF_ERROR("%s has no MAC, but this party was given a MAC key: it was not written by the dealer that gave the key "
             "(or its MAC was stripped); refusing it",
             ks->label);
    st = FF_EMISMATCH;
    goto done;
  }
  if (!ks->mac && tag_size) {
    FF_ERROR("%s carries a MAC (HMAC-SHA-256): open it with the MAC key its dealer gave this party", ks->label);
    st = FF_EINVAL;
    goto done;
  }
  if (ks->mac) {
    uint8_t tag[FF__KS_TAG];
    if (!ff__ks_tag(ks, "FFKEYHDR", hdr, FF__KS_HEADER_OVERHEAD + meta_len, NULL, 0, tag) ||
        CRYPTO_memcmp(tag, hdr + FF__KS_HEADER_OVERHEAD + meta_len, FF__KS_TAG)) {
      st = ff__ks_mac_failed(ks, "the header");
      goto done;
    }
  }
  ks->flags = flags;
  ks->tag_size = tag_size;
  memcpy(ks->dealing_id, hdr + 72, FF_KEYSTREAM_ID_BYTES);
  ks->header_size = header_size;
  ks->chunk_size = ff__get32(hdr + 20);
  ks->payload_size = ff__get64(hdr + 24);
  if (ks->payload_size == FF__KS_INCOMPLETE) {
    ks->payload_size = 0; /* keeps FF__KS_INCOMPLETE out of later messages */
    FF_ERROR("%s is incomplete: the dealer did not finish writing it (keygen interrupted?)", ks->label);
    st = FF_EFORMAT;
    goto done;
  }
  if (party > 1 || (flags & ~FF__KS_FLAG_MAC) != 0 || ks->chunk_size == 0 || ks->chunk_size > FF_KEYSTREAM_CHUNK_MAX ||
      ks->payload_size > FF__KS_PAYLOAD_MAX) {
    FF_ERROR("the header of %s is invalid: party %u, flags %u, chunk size %u, payload %llu bytes", ks->label, party,
             flags, ks->chunk_size, (unsigned long long)ks->payload_size);
    st = FF_EFORMAT;
    goto done;
  }
  ks->party = (int)party;
  memcpy(ks->run_id, hdr + 32, FF_KEYSTREAM_RUN_ID_MAX);
  ks->run_id[FF_KEYSTREAM_RUN_ID_MAX] = '\0';
  for (const char *c = ks->run_id; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
      FF_ERROR("the header of %s is invalid: its run id holds a control or non-ASCII byte (0x%02x)", ks->label,
               (unsigned char)*c);
      st = FF_EFORMAT;
      goto done;
    }
  memcpy(ks->meta, hdr + FF__KS_FIXED, meta_len);
  ks->meta[meta_len] = '\0';
  ks->meta_len = meta_len;
  ks->n_chunks = ff__ks_chunks_of(ks->payload_size, ks->chunk_size);
  ks->encoded_size = header_size + ks->payload_size + (4 + tag_size) * ks->n_chunks + FF__KS_TRAILER + tag_size;

  /* The size check finds truncation (and appended bytes) before any online work. */
  if (actual_size != UINT64_MAX && actual_size != ks->encoded_size) {
    char where[160];
    ff__ks_where(ks, actual_size, where, sizeof where);
    if (actual_size < ks->encoded_size)
      FF_ERROR("%s is truncated: it ends at byte %llu, %s; its header promises %llu bytes (%llu key bytes in %llu "
               "chunks)", ks->label, (unsigned long long)actual_size, where, (unsigned long long)ks->encoded_size,
               (unsigned long long)ks->payload_size, (unsigned long long)ks->n_chunks);
    else
      FF_ERROR("%s is corrupted: it has %llu bytes, %llu more than its header promises (unexpected bytes after the "
               "trailer)", ks->label, (unsigned long long)actual_size,
               (unsigned long long)(actual_size - ks->encoded_size));
    st = FF_EFORMAT;
    goto done;
  }
  if ((ks->mode == FF__KS_READ_FILE || ks->mode == FF__KS_READ_FD) && ks->payload_size > 0) {
    ks->chunk = malloc(ks->payload_size < ks->chunk_size ? (size_t)ks->payload_size : ks->chunk_size);
    if (!ks->chunk) {
      FF_ERROR("out of memory opening %s (a chunk of %u bytes)", ks->label, ks->chunk_size);
      st = FF_ENOMEM;
      goto done;
    }
  }
  if (ks->payload_size == 0) st = ff__ks_read_trailer(ks);
done:
  free(hdr);
  return st;
}

ff_status ff_keystream_open_mem_mac(const void *data, size_t size, const uint8_t *mac_key, ff_keystream **out) {
  if (!out || (size && !data)) return FF_EINVAL;
  *out = NULL;
  ff_status st = ff__ks_check_cpu();
  if (st) return st;
  ff_keystream *ks = ff__ks_alloc(FF__KS_READ_MEM, NULL);
  if (!ks) {
    FF_ERROR("out of memory opening an in-memory key stream");
    return FF_ENOMEM;
  }
  ks->src = data;
  ks->src_len = size;
  if ((mac_key && (st = ff__ks_mac_init(ks, mac_key))) || (st = ff__ks_open(ks, size))) {
    ff_keystream_close(ks, 0);
    return st;
  }
  *out = ks;
  return FF_OK;
}

ff_status ff_keystream_open_mem(const void *data, size_t size, ff_keystream **out) {
  return ff_keystream_open_mem_mac(data, size, NULL, out);
}

/* "a FIFO", "a directory", ... for messages about non-regular files. */
static const char *ff__ks_file_kind(mode_t m) {
  return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

ff_status ff_keystream_open_file_mac(const char *path, const uint8_t *mac_key, ff_keystream **out) {
  if (!out || !path) return FF_EINVAL;
  *out = NULL;
  ff_status st = ff__ks_check_cpu();
  if (st) return st;
  ff_keystream *ks = ff__ks_alloc(FF__KS_READ_FILE, path);
  if (!ks) {
    FF_ERROR("out of memory opening key file '%s'", path);
    return FF_ENOMEM;
  }
  /* Opened once, without blocking (a FIFO with no writer would block open itself); the descriptor
   * is what every later read, rewind included, uses: a file renamed over the path meanwhile is never
   * seen, and one changed in place fails its CRCs or MACs. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  struct stat sb;
  if (fd < 0) {
    int err = errno;
    FF_ERROR("cannot open key file '%s': %s", path, strerror(err));
    ff_keystream_close(ks, 0);
    return err == ENOENT ? FF_ENOENT : FF_EIO;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    FF_ERROR("key file '%s' is %s: a party reads its key file once, from a regular file whose size it checks "
             "first; copy the keys into a regular file",
             path, fstat(fd, &sb) == 0 ? ff__ks_file_kind(sb.st_mode) : "unreadable");
    close(fd);
    ff_keystream_close(ks, 0);
    return FF_EINVAL;
  }
  if (fcntl(fd, F_SETFL, 0) != 0 || !(ks->f = fdopen(fd, "rb"))) {
    FF_ERROR("cannot open key file '%s': %s", path, strerror(errno));
    close(fd);
    ff_keystream_close(ks, 0);
    return FF_EIO;
  }
  if ((mac_key && (st = ff__ks_mac_init(ks, mac_key))) || (st = ff__ks_open(ks, (uint64_t)sb.st_size))) {
    ff_keystream_close(ks, 0);
    return st;
  }
  *out = ks;
  return FF_OK;
}

ff_status ff_keystream_open_fd_mac(int fd, const char *name, const uint8_t *mac_key, uint64_t timeout_ns,
                                   ff_keystream **out) {
  if (!out || fd < 0 || !name || !timeout_ns) {
    if (fd >= 0) close(fd);
    return FF_EINVAL;
  }
  *out = NULL;
  ff_status st = ff__ks_check_cpu();
  ff_keystream *ks = st ? NULL : ff__ks_alloc(FF__KS_READ_FD, name);
  if (!ks) {
    if (!st) FF_ERROR("out of memory opening the key stream %s", name);
    close(fd);
    return st ? st : FF_ENOMEM;
  }
  ks->fd = fd;
  ks->timeout_ns = timeout_ns;
  ks->payload_size = FF__KS_INCOMPLETE; /* until the header is read: no "ended early" message */
  snprintf(ks->label, strlen(name) + 16, "key stream %s", name);
  if ((mac_key && (st = ff__ks_mac_init(ks, mac_key))) || (st = ff__ks_open(ks, UINT64_MAX))) {
    ff_keystream_close(ks, 0);
    return st;
  }
  *out = ks;
  return FF_OK;
}

ff_status ff_keystream_open_file(const char *path, ff_keystream **out) {
  return ff_keystream_open_file_mac(path, NULL, out);
}

ff_status ff_keystream_rewind(ff_keystream *ks) {
  if (!ks) return FF_EINVAL;
  if (ff__ks_is_writer(ks)) {
    FF_ERROR("ff_keystream_rewind on %s, which is open for writing", ks->label);
    return FF_ESTATE;
  }
  if (ks->mode == FF__KS_READ_FD) {
    FF_ERROR("%s comes live from the dealer and is read once: it cannot be rewound (each repetition needs keys "
             "dealt again)", ks->label);
    return FF_ESTATE;
  }
  if (ks->broken) {
    FF_ERROR("%s is unusable after an earlier error", ks->label);
    return ks->broken;
  }
  if (ks->mode == FF__KS_READ_FILE && fseeko(ks->f, (off_t)ks->header_size, SEEK_SET) != 0) {
    FF_ERROR("cannot rewind %s: %s", ks->label, strerror(errno));
    return ks->broken = FF_EIO;
  }
  ks->offset = ks->header_size;
  ks->pos = ks->loaded = ks->chunk_index = 0;
  ks->crc_of_crcs = 0;
  ks->cur = NULL;
  ks->cur_len = ks->cur_pos = 0;
  return ks->payload_size == 0 ? ff__ks_read_trailer(ks) : FF_OK;
}

ff_status ff_keystream_read(ff_keystream *ks, void *dst, size_t n) {
  if (!ks || (n && !dst)) return FF_EINVAL;
  if (ff__ks_is_writer(ks)) {
    FF_ERROR("ff_keystream_read on %s, which is open for writing", ks->label);
    return FF_ESTATE;
  }
  if (ks->broken) {
    FF_ERROR("%s is unusable after an earlier error", ks->label);
    return ks->broken;
  }
  uint64_t left = ks->payload_size - ks->pos;
  if (n > left) {
    FF_ERROR("the %s ends at byte %llu, but %llu more bytes were requested (a read of %zu bytes at byte %llu): keys "
             "were made for another model or shape",
             ks->label, (unsigned long long)ks->payload_size, (unsigned long long)(n - left), n,
             (unsigned long long)ks->pos);
    return FF_ERANGE;
  }
  uint8_t *d = dst;
  ff_status st;
  while (n > 0) {
    if (ks->cur_pos == ks->cur_len) {
      uint64_t next = ks->payload_size - ks->loaded < ks->chunk_size ? ks->payload_size - ks->loaded : ks->chunk_size;
      if (n >= next) {
        /* Whole chunks straight into the caller's buffer (copied from a memory image), checked over the CPUs. */
        size_t done;
        if ((st = ff__ks_load_batch(ks, d, n, &done))) return st;
        d += done;
        n -= done;
        ks->pos += done;
        continue;
      }
      if ((st = ff__ks_load(ks))) return st;
    }
    size_t take = ks->cur_len - ks->cur_pos;
    if (take > n) take = n;
    memcpy(d, ks->cur + ks->cur_pos, take);
    ks->cur_pos += take;
    ks->pos += take;
    d += take;
    n -= take;
  }
  return FF_OK;
}
