/* A key feed: the streamed dealer's side of one party's live key stream (`fusefss run --dealer stream`,
 * docs/running.md "Streamed keys"). The dealer's key stream writer (ff_keystream_create_sink) hands its
 * encoded bytes to ff_keyfeed_sink, which queues a copy; a thread per feed sends the queue to the party's
 * socket as fast as the party reads it. The dealer bounds the queue itself, at layer boundaries
 * (ff_keyfeed_state): that is the window. Every send waits at most the feed's
 * timeout for the party to take more bytes, so a party that stops reading fails the feed, never hangs
 * it. Test: tests/test_stream_e2e.c. */
#ifndef FF_TOOLS_KEYFEED_H
#define FF_TOOLS_KEYFEED_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct ff_keyfeed ff_keyfeed;

/* A feed to party `party` over fd (a stream socket; owned: closed by ff_keyfeed_close). tee_fd >= 0
 * also gets every byte sent (tests: the dealer's output compared with a key file); it stays the
 * caller's. */
ff_status ff_keyfeed_open(ff_keyfeed **out, int fd, int party, uint64_t timeout_ns, int tee_fd);
/* An ff_keystream_sink: queues a copy of n bytes. Returns the sending thread's error once it failed
 * (the party stopped reading, or closed its end), so the dealer stops at its next write. */
ff_status ff_keyfeed_sink(void *feed, const void *data, size_t n);
/* The feed now: bytes queued since it opened (*queued) and sent to the party (*sent; both may be NULL).
 * Returns the sending thread's error once it failed. */
ff_status ff_keyfeed_state(ff_keyfeed *f, uint64_t *queued, uint64_t *sent);
/* Most bytes queued and not yet sent at any time. */
uint64_t ff_keyfeed_peak(ff_keyfeed *f);
/* No more bytes will come: the thread sends what is queued, then ends the party's stream (its reader
 * sees end of file) and stops. End every feed before closing any: a party waits for its stream's end
 * after the trailer, and may hold up the other party until then. */
void ff_keyfeed_end(ff_keyfeed *f);
/* Sends what is queued (bounded as above), stops the thread, closes the socket, frees the feed (NULL is
 * fine). *sent (when not NULL) gets the bytes sent in all. Returns the first error of the feed. */
ff_status ff_keyfeed_close(ff_keyfeed *f, uint64_t *sent);

#endif
