/* What chan.c (accounting, rounds, shaping: written once) needs from a transport (tcp.c, mem.c):
 * one full-duplex I/O call and a close. Not installed; only comm/ includes it.
 * Tests: tests/test_comm.c. */
#ifndef FF_COMM_CHAN_INTERNAL_H
#define FF_COMM_CHAN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "comm/chan.h"

#define FF__RUN_ID_MAX 32 /* characters, excluding the terminator */
#define FF__DEFAULT_IO_TIMEOUT_MS 120000
#define FF__DEFAULT_CONNECT_TIMEOUT_MS 30000

typedef struct {
  const char *transport; /* "tcp", "mem" */
  /* Sends out[0..nout) and receives exactly in[0..nin) at the same time (either may be empty), so
     that an exchange of any size cannot deadlock. Fails with FF_ECONN or FF_ETIMEDOUT, logged. */
  ff_status (*io)(ff_chan *ch, const void *out, size_t nout, void *in, size_t nin);
  /* Releases the transport's state (ch->impl); chan.c frees ch itself. */
  void (*close)(ff_chan *ch);
} ff__chan_ops;

struct ff_chan {
  const ff__chan_ops *ops;
  void *impl; /* the transport's state */
  int party;
  int io_timeout_ms;
  ff_shaping shaping;
  char run_id[FF__RUN_ID_MAX + 1];
  char peer[80];
  int local_port;        /* party 0 over TCP, else -1 */
  int64_t clock_offset_ns; /* peer clock - our clock */
  int64_t clock_err_ns;
  /* Round state (chan.h): the direction of this end's last operation, and the payload bytes it sent
     since its last receive (what shaping paces). */
  enum { FF__LAST_NONE, FF__LAST_SEND, FF__LAST_RECV, FF__LAST_EXCH } last;
  uint64_t round_sent_B;
};

/* A channel end with the common fields set (run id "", no clock offset, round state fresh); NULL
 * when out of memory (logged). */
ff_chan *ff__chan_new(const ff__chan_ops *ops, void *impl, int party, int io_timeout_ms,
                      ff_shaping shaping);
/* Frees an end made by ff__chan_new without calling ops->close (for a failed open). */
void ff__chan_free(ff_chan *ch);

#endif
