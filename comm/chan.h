/* Two-party channels (DESIGN.md §2, §6): TCP between processes or hosts, and an in-memory pair for
 * two threads of one test. Every byte, message and round is charged to the calling thread's
 * innermost scope (scope/scope.h), together with the time spent blocked on the peer.
 *
 * Rounds: each party counts the direction changes of its own traffic. An exchange (both send, then
 * both receive) begins one round; a send begins one when this end's previous operation was a receive
 * or an exchange; a receive begins one unless the previous operation was also a receive (back-to-back
 * messages in one direction are pipelined). A fresh channel, and every barrier, start with no
 * previous operation. Merged rounds are the max over the parties, so an exchange (a reconstruct) is
 * 1 round, a one-way message 1, a request and its reply 2, k messages sent back to back 1.
 *
 * Tests: tests/test_comm.c (in-memory and TCP), tests/test_pack.c. */
#ifndef FF_COMM_CHAN_H
#define FF_COMM_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ff_chan ff_chan;

/* Emulated link (optional): each round begins `lat_ns` late, and the bytes a party sends are paced
 * at `bw_Bps` bytes per second (0: no cap). Applied at the receiving side of each round, so that a
 * shaped run can be compared with `fusefss project`'s duplex convention. */
typedef struct {
  uint64_t lat_ns;
  uint64_t bw_Bps;
} ff_shaping;

typedef struct {
  int party;                  /* 0 listens, 1 connects */
  const char *host;           /* party 0: address to bind ("0.0.0.0", "127.0.0.1"; NULL = any);
                                 party 1: the peer's host name or address */
  int port;                   /* party 0: 0 picks a free port (see ff_chan_local_port) */
  int connect_timeout_ms;     /* party 1 retries until then; party 0 waits that long in accept
                                 (0: 30 s) */
  int io_timeout_ms;          /* a receive (or a blocked send) that waits longer fails with
                                 FF_ETIMEDOUT (0: 120 s) */
  const char *run_id;         /* party 0: sent to party 1 (NULL: a fresh random id);
                                 party 1: must equal party 0's, or NULL to accept party 0's */
  ff_shaping shaping;
  /* party 0 only, optional: called once the socket listens, with the bound port (lets a launcher
     start party 1 without racing for a port). */
  void (*on_listen)(int port, void *arg);
  void *on_listen_arg;
} ff_tcp_opts;

/* Opens the TCP channel: bind/listen/accept (party 0) or connect with retries (party 1), then a
 * handshake (magic, version, parties, run id) and a clock-offset estimate. Errors: FF_EADDRINUSE
 * (port taken), FF_ETIMEDOUT (no peer before the deadline), FF_ECONN, FF_EPROTO (not a fusefss peer,
 * same party twice, run ids differ). */
ff_status ff_chan_tcp_open(ff_chan **out, const ff_tcp_opts *opts);

typedef struct {
  int io_timeout_ms;          /* as above (0: 120 s) */
  ff_shaping shaping;
} ff_mem_opts;

/* Two connected ends for two threads of one process (ends[0] for party 0, ends[1] for party 1).
 * Sends never block (messages queue); a receive waits for data, the peer's close or the timeout. */
ff_status ff_chan_mem_pair(ff_chan *ends[2], const ff_mem_opts *opts);

/* One message to the peer. */
ff_status ff_chan_send(ff_chan *ch, const void *buf, size_t n);
/* Exactly n bytes from the peer. */
ff_status ff_chan_recv(ff_chan *ch, void *buf, size_t n);
/* Both parties send n bytes and receive n bytes, full duplex (no deadlock for any n): one round. */
ff_status ff_chan_exchange(ff_chan *ch, const void *out, void *in, size_t n);
/* One exchange of n bytes each way (one round, one message each way, charged exactly as
 * ff_chan_exchange) moved in pieces of at most `piece` bytes, so that the caller can overlap its own
 * copies with the transfer: before piece k (bytes [off, off + len)) is sent, ready(arg, off, len) is
 * called and may wait until out[off..off + len) is filled; once the peer's piece k is in
 * in[off..off + len), arrived(arg, off, len) is called. Either callback may be NULL; a non-zero status
 * from one ends the exchange with that status. The time blocked on the peer excludes the callbacks. */
typedef ff_status (*ff_chan_piece_fn)(void *arg, size_t off, size_t len);
ff_status ff_chan_exchange_pieces(ff_chan *ch, const void *out, void *in, size_t n, size_t piece,
                                  ff_chan_piece_fn ready, ff_chan_piece_fn arrived, void *arg);
/* An exchange of n ring values packed to `bits` bits each (ff_packed_size(n, bits) bytes each way). */
ff_status ff_chan_exchange_bits(ff_chan *ch, const uint64_t *out, uint64_t *in, size_t n, int bits);
/* Both parties wait for each other (not charged to any scope: it separates repetitions). */
ff_status ff_chan_barrier(ff_chan *ch);

/* Party 0: the port actually bound (after ff_chan_tcp_open), else -1. */
int ff_chan_local_port(const ff_chan *ch);
/* This end's party (0 or 1). */
int ff_chan_party(const ff_chan *ch);
/* The run id agreed in the handshake ("" for in-memory channels unless set). */
const char *ff_chan_run_id(const ff_chan *ch);
/* Estimated peer clock minus our clock (CLOCK_MONOTONIC, ns) and its error bound, from the handshake
 * (0 and 0 for in-memory channels). */
void ff_chan_clock_offset(const ff_chan *ch, int64_t *offset_ns, int64_t *err_ns);
/* "tcp" or "mem", and a description of the peer ("127.0.0.1:7000"). */
const char *ff_chan_transport(const ff_chan *ch);
const char *ff_chan_peer(const ff_chan *ch);
ff_shaping ff_chan_shaping(const ff_chan *ch);

/* Closes this end (the peer's next receive fails with FF_ECONN) and frees it. NULL is allowed. */
void ff_chan_close(ff_chan *ch);

#ifdef __cplusplus
}
#endif

#endif
