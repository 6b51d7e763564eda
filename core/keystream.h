/* Key streams: the dealer's keys travel from keygen to one party as one ordered byte stream, written
 * as the model graph runs and read back in the same order and sizes (DESIGN.md §2, "One model graph,
 * two roles" and "Dealer modes"). Test: tests/test_keystream.c; format reference: docs/keystream.md.
 *
 * A stream lives in memory (a growable buffer) or in a file (written and read chunk by chunk, so a
 * multi-GiB key file never has to fit in memory). Both hold the same bytes, the key file format
 * (all integers little-endian):
 *
 *   header   off  size  field
 *              0     8  magic "FFKEYS\0\1" (46 46 4B 45 59 53 00 01)
 *              8     4  format version (2)
 *             12     4  header size in bytes = 92 + metadata length (+ 32 with a MAC)
 *             16     4  party (0 or 1)
 *             20     4  chunk size C (1 B .. FF_KEYSTREAM_CHUNK_MAX)
 *             24     8  payload size P in bytes (all ones while the dealer is still writing)
 *             32    32  run id, NUL-padded (up to 32 characters): a label
 *             64     4  metadata length M (up to FF_KEYSTREAM_META_MAX)
 *             68     4  flags: bit 0 = MAC (HMAC-SHA-256 tags T = 32 bytes follow header, chunks, trailer)
 *             72    16  dealing id: random per dealing, the same in both parties' files: the identity
 *             88     M  metadata: free-form text the dealer supplies (suite, model, shapes; JSON or not)
 *           88+M     4  CRC32C of the header bytes before it
 *           92+M     T  MAC tag of the header (with the MAC flag)
 *   chunks   ceil(P / C) times: C payload bytes (the last chunk: the rest), their CRC32C, their tag
 *   trailer        8  magic "FFKEYEND"
 *                  8  payload size P again
 *                  8  number of chunks
 *                  4  CRC32C of the chunk CRCs (each 4 bytes LE, in order): catches dropped or
 *                     reordered chunks
 *                  4  CRC32C of the 28 trailer bytes before it
 *                  T  MAC tag of the trailer
 *
 * CRC32C finds accidents; the MAC (keyed with a secret the dealer gives each party, docs/keystream.md)
 * finds tampering. Each chunk's tag is checked when the chunk is loaded, before its bytes are handed
 * out, so a tampered file is refused before its keys are used.
 *
 * CRC32C is Castagnoli's CRC (iSCSI, ext4), computed with the SSE4.2 crc32 instruction; a CPU
 * without SSE4.2 gets FF_ENOTSUP. The reader checks the header when it opens a stream, the file size
 * against the header (so truncation is found before any online work), and each chunk once, when it
 * loads it; reads are then served by memcpy. */
#ifndef FF_CORE_KEYSTREAM_H
#define FF_CORE_KEYSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_KEYSTREAM_VERSION 2
#define FF_KEYSTREAM_ID_BYTES 16                  /* dealing id */
#define FF_KEYSTREAM_MAC_KEY_BYTES 32             /* HMAC-SHA-256 key */
#define FF_KEYSTREAM_RUN_ID_MAX 32                /* characters, without the NUL */
#define FF_KEYSTREAM_META_MAX 8192                /* metadata bytes */
#define FF_KEYSTREAM_CHUNK_DEFAULT (UINT32_C(1) << 20)
#define FF_KEYSTREAM_CHUNK_MAX (UINT32_C(1) << 28)
#define FF_KEYSTREAM_WRITE_BEHIND_DEFAULT (UINT64_C(256) << 20) /* bytes of chunks a writer may hold back */

/* A key stream: either a writer (the dealer) or a reader (a party). Not thread-safe. */
typedef struct ff_keystream ff_keystream;

typedef struct {
  int party;             /* the party that will read the stream: 0 or 1 */
  const char *run_id;    /* at most FF_KEYSTREAM_RUN_ID_MAX characters; NULL for "" */
  const char *meta;      /* free-form text (suite, model, shapes), at most FF_KEYSTREAM_META_MAX bytes; NULL for "" */
  uint32_t chunk_size;   /* payload bytes per chunk; 0 for FF_KEYSTREAM_CHUNK_DEFAULT (1 MiB) */
  int fsync;             /* file writer: fsync the file in ff_keystream_finish */
  const uint8_t *dealing_id; /* FF_KEYSTREAM_ID_BYTES, the same for both parties of one dealing and fresh
                                for each (the dealer draws it); NULL: all zero (tests) */
  const uint8_t *mac_key;    /* FF_KEYSTREAM_MAC_KEY_BYTES: HMAC-SHA-256 key of this party's stream, from
                                the OS's randomness; NULL: no MAC */
  int sealers;               /* file and live writers: threads that compute the chunks' CRCs and MACs beside
                                the one that writes them in order; 0: a quarter of the online CPUs, 1 .. 8
                                (at most 16); the bytes do not depend on it */
  uint64_t write_behind;     /* file and live writers: how many bytes of filled chunks may wait for the sealers
                                and the writer thread while the dealer goes on (the ring's depth). 0: for a
                                file FF_KEYSTREAM_WRITE_BEHIND_DEFAULT (256 MiB); for a live stream the least
                                ring, since its sink is expected to queue (run's key feeds do, bounded by the
                                dealer's window, from which a deep ring would hide bytes). The ring has at
                                least 2 × sealers + 2 chunks (fewer, down to 3, when chunks are so large that
                                these would pass 256 MiB) and at most 65536 chunks or 64 GiB (a deeper one is
                                clamped); buffers are allocated as the dealer gets ahead and then reused, so
                                memory is the most that waited at once, not the depth. The bytes written do
                                not depend on it */
  int pinned;                /* file and live writers: chunk buffers in page-locked host memory (core/cuda.h
                                ff_cuda_host_alloc) when a GPU is visible, so that a download from it into a
                                chunk (ff_keystream_write_fill) is a DMA, not a copy through the driver's
                                staging; ordinary memory otherwise, or when the first page-locked buffer
                                cannot be had (a warning). The bytes written do not depend on it */
} ff_keystream_params;

/* --- CRC32C ------------------------------------------------------------------------------------ */

/* 1 when this CPU has the SSE4.2 CRC32C instruction that key streams need. */
int ff_crc32c_supported(void);
/* CRC32C of n bytes, continuing from crc (0 to start): ff_crc32c(ff_crc32c(0, a, n), b, m) is the
 * CRC of a followed by b. Call only when ff_crc32c_supported(); CRC32C("123456789") = 0xE3069283. */
uint32_t ff_crc32c(uint32_t crc, const void *data, size_t n);

/* --- Writer (the dealer) ----------------------------------------------------------------------- */

/* A writer into a growable memory buffer; its image (ff_keystream_mem_image) is the key file. */
ff_status ff_keystream_create_mem(const ff_keystream_params *p, ff_keystream **out);
/* A writer that keeps nothing and only counts the key bytes (ff_keystream_payload_bytes): for a dealer
 * that must deal a stream to keep its sequence but whose bytes nobody reads (the peer's keys in `run
 * --dealer inproc`, the sizes counted before a streamed dealing). No CRC, no memory; finish succeeds. */
ff_status ff_keystream_create_null(const ff_keystream_params *p, ff_keystream **out);
/* A writer into a new file at path (truncated if it exists; made 0600; a FIFO, device or directory
 * there is refused with FF_EINVAL, never waited on). Chunks go to disk as they fill. Until
 * ff_keystream_finish succeeds the header says "incomplete", so an interrupted keygen never leaves a
 * file that a party would accept. */
ff_status ff_keystream_create_file(const char *path, const ff_keystream_params *p, ff_keystream **out);
/* Where a live writer's encoded bytes go, in order: FF_OK, or an error that breaks the writer. */
typedef ff_status (*ff_keystream_sink)(void *arg, const void *data, size_t n);
/* A live writer (`fusefss run --dealer stream`): the encoded stream goes to sink as it is made, each
 * chunk once it is full (the header at once), never held whole. A live stream cannot go back to fill
 * in the payload size, so the caller declares it (from the cost model); the header carries it, writes
 * beyond it give FF_ERANGE and a finish short of it FF_EMISMATCH. The bytes are exactly those of the key
 * file that ff_keystream_create_file would write with the same parameters and key bytes. name labels
 * messages (NULL: "key stream"). */
ff_status ff_keystream_create_sink(const char *name, const ff_keystream_params *p, uint64_t payload_size,
                                   ff_keystream_sink sink, void *arg, ff_keystream **out);
/* Appends n key bytes (n may be 0). FF_EIO when the disk write fails, FF_ENOMEM when a file or live writer
 * cannot allocate a chunk (the writer is then unusable). */
ff_status ff_keystream_write(ff_keystream *ks, const void *src, size_t n);
/* Puts the len key bytes at [off, off + len) of what ff_keystream_write_fill writes into dst, the
 * stream's own memory (a chunk's slot, the memory buffer's end): FF_OK, or an error that breaks the
 * writer. */
typedef ff_status (*ff_keystream_fill)(void *arg, void *dst, size_t off, size_t len);
/* Appends n key bytes that fill() puts straight into the stream's memory, in order, in spans of at most
 * one chunk (off 0, then each span's end), so that bytes which live where only a copy reaches them (a
 * key made on the GPU: one download per span) need no host copy of the caller's first. The stream is
 * the one ff_keystream_write of the same bytes makes. A null writer counts the bytes and never calls
 * fill (a dealer's discarded stream then costs no copy at all). Time inside fill is the caller's, not
 * counted in ff_keystream_write_ns. */
ff_status ff_keystream_write_fill(ff_keystream *ks, size_t n, ff_keystream_fill fill, void *arg);
/* Writes the last chunk and the trailer, fills in the header's payload size; a file is flushed,
 * fsynced if asked, and closed. Writes after it give FF_ESTATE. */
ff_status ff_keystream_finish(ff_keystream *ks);
/* The finished memory writer's bytes (valid until ff_keystream_close); FF_ESTATE before finish. */
ff_status ff_keystream_mem_image(const ff_keystream *ks, const void **data, size_t *size);

/* --- Reader (a party) -------------------------------------------------------------------------- */

/* Reads a key stream from memory the caller keeps alive until ff_keystream_close (not copied). */
ff_status ff_keystream_open_mem(const void *data, size_t size, ff_keystream **out);
/* Opens a key file. Both openers check the magic ("not a fusefss key file"), the header CRC, the
 * version and the total size (FF_EFORMAT, "corrupted" / "truncated"); FF_ENOENT / FF_EIO when the
 * file cannot be opened. Check ff_keystream_expect (party, run, metadata) before any online work. */
ff_status ff_keystream_open_file(const char *path, ff_keystream **out);
/* The openers with the party's MAC key (FF_KEYSTREAM_MAC_KEY_BYTES; NULL as above). With a key, a file
 * without a MAC is refused (FF_EMISMATCH), the header's tag is checked at open and every chunk's when
 * it loads (FF_EFORMAT "fails its MAC check"); without one, a file with a MAC is refused (FF_EINVAL).
 * A file is opened once (non-blocking; anything but a regular file gives FF_EINVAL) and that
 * descriptor serves every read and rewind: renaming another file over the path changes nothing. */
ff_status ff_keystream_open_file_mac(const char *path, const uint8_t *mac_key, ff_keystream **out);
ff_status ff_keystream_open_mem_mac(const void *data, size_t size, const uint8_t *mac_key, ff_keystream **out);
/* A live key stream from a dealer process: reads the encoded stream from fd (a socket or pipe; owned,
 * closed by ff_keystream_close), with the same checks as a key file, each chunk's CRC and MAC before
 * its bytes are handed out. Every wait for the next bytes lasts at most timeout_ns (FF_ETIMEDOUT:
 * "the dealer is stuck or gone"); a stream that ends early is FF_EFORMAT ("ended at byte X: the dealer
 * closed it early"). Read once: ff_keystream_rewind gives FF_ESTATE. name labels messages. */
ff_status ff_keystream_open_fd_mac(int fd, const char *name, const uint8_t *mac_key, uint64_t timeout_ns,
                                   ff_keystream **out);
/* A reader back at the first key byte, through the same descriptor (never by path); the header stays
 * as checked at open, every chunk is checked again as it loads. FF_ESTATE for a writer. */
ff_status ff_keystream_rewind(ff_keystream *ks);
/* Copies the next n key bytes to dst. FF_ERANGE (nothing consumed) when fewer than n remain: the keys
 * were made for another model or shape. FF_EFORMAT when the chunk it loads fails its CRC, the file
 * is short, or the trailer is wrong; the message names the chunk and offsets, and the reader is then
 * unusable. */
ff_status ff_keystream_read(ff_keystream *ks, void *dst, size_t n);
/* Key bytes not yet read. */
uint64_t ff_keystream_remaining(const ff_keystream *ks);
/* FF_EMISMATCH with a message naming the field unless the stream's party equals party (skipped when
 * negative), its run id equals run_id and its metadata equals meta (each skipped when NULL). */
ff_status ff_keystream_expect(const ff_keystream *ks, int party, const char *run_id, const char *meta);

/* --- Both ------------------------------------------------------------------------------------- */

/* ff_keystream_close flag: a reader with unread bytes gives FF_EMISMATCH (the dealer and this
 * party ran different graphs). */
#define FF_KEYSTREAM_CHECK_CONSUMED 1u

/* Frees the stream (NULL is fine), always. A writer closed before ff_keystream_finish leaves its file
 * marked incomplete, and the chunks still waiting in its write-behind are dropped, not written. Returns
 * FF_OK, or FF_EMISMATCH as described for FF_KEYSTREAM_CHECK_CONSUMED. */
ff_status ff_keystream_close(ff_keystream *ks, unsigned flags);

int ff_keystream_party(const ff_keystream *ks);
/* The dealing id (FF_KEYSTREAM_ID_BYTES bytes): compare the two parties' before using any key byte. */
const uint8_t *ff_keystream_dealing_id(const ff_keystream *ks);
/* 1 when the stream carries MAC tags (and, for a reader, they are being checked). */
int ff_keystream_has_mac(const ff_keystream *ks);
const char *ff_keystream_run_id(const ff_keystream *ks);
/* The metadata, NUL-terminated; *len (when not NULL) gets its length. */
const char *ff_keystream_meta(const ff_keystream *ks, size_t *len);
uint32_t ff_keystream_chunk_size(const ff_keystream *ks);
/* "<memory>" or the file's path, as used in messages. */
const char *ff_keystream_name(const ff_keystream *ks);
/* Payload bytes in the stream: a reader's total from the header; a writer's bytes written so far. */
uint64_t ff_keystream_size(const ff_keystream *ks);
/* Payload bytes written (writer) or read (reader) so far: the key bytes of a party, for reports. */
uint64_t ff_keystream_payload_bytes(const ff_keystream *ks);
/* Bytes of the encoded stream (header, chunks with their CRCs, trailer): for a writer, so far (the
 * file's size once finished); for a reader, the whole file. */
uint64_t ff_keystream_encoded_bytes(const ff_keystream *ks);
/* Writer: wall time spent so far inside ff_keystream_write, ff_keystream_write_fill (less the time in
 * its fill calls) and ff_keystream_finish (copies into the chunk, CRC32C, and for a file the writes
 * into the OS, fsync included): what emitting the keys costs a dealer, apart from making them. 0 for
 * a reader. */
uint64_t ff_keystream_write_ns(const ff_keystream *ks);

#ifdef __cplusplus
}
#endif

#endif
