/* The in-memory channel pair (DESIGN.md §6, chan.h): two threads of one process, each direction an
 * unbounded queue of copied messages, so a send never blocks and an exchange cannot deadlock.
 * Accounting is chan.c's. Test: tests/test_comm.c. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/chan_internal.h"
#include "core/log.h"

typedef struct ff__mem_chunk {
  struct ff__mem_chunk *next;
  size_t len, off; /* data[off..len) not yet received */
  uint8_t data[];
} ff__mem_chunk;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t arrived[2]; /* signalled for end i when data for it arrives or its peer closes */
  ff__mem_chunk *head[2], *tail[2]; /* queue i: bytes waiting for end i */
  int closed[2];
  int open_ends; /* the link is freed when the last end closes */
} ff__mem_link;

typedef struct {
  ff__mem_link *link;
  int end;
} ff__mem_end;

static void ff__mem_free_queue(ff__mem_chunk *c) {
  while (c) {
    ff__mem_chunk *next = c->next;
    free(c);
    c = next;
  }
}

static ff_status ff__mem_send(ff_chan *ch, const uint8_t *buf, size_t n) {
  ff__mem_end *e = ch->impl;
  ff__mem_link *l = e->link;
  int peer = 1 - e->end;
  /* Copy outside the lock: a 256 MiB message should not stall the peer's receive of earlier data. */
  ff__mem_chunk *c = malloc(sizeof *c + n);
  if (!c) {
    FF_ERROR("out of memory queueing a %zu-byte message on the in-memory channel", n);
    return FF_ENOMEM;
  }
  c->next = NULL;
  c->len = n;
  c->off = 0;
  memcpy(c->data, buf, n);
  pthread_mutex_lock(&l->mu);
  int peer_closed = l->closed[peer];
  if (!peer_closed) {
    if (l->tail[peer])
      l->tail[peer]->next = c;
    else
      l->head[peer] = c;
    l->tail[peer] = c;
    pthread_cond_signal(&l->arrived[peer]);
  }
  pthread_mutex_unlock(&l->mu);
  if (peer_closed) {
    free(c);
    FF_ERROR("in-memory channel: party %d closed its end (send of %zu bytes from party %d)", peer, n,
             e->end);
    return FF_ECONN;
  }
  return FF_OK;
}

static void ff__deadline_after(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec += 1;
    ts->tv_nsec -= 1000000000L;
  }
}

static ff_status ff__mem_recv(ff_chan *ch, uint8_t *buf, size_t n) {
  ff__mem_end *e = ch->impl;
  ff__mem_link *l = e->link;
  int me = e->end;
  size_t got = 0;
  ff_status st = FF_OK;
  struct timespec deadline;
  ff__deadline_after(&deadline, ch->io_timeout_ms);
  pthread_mutex_lock(&l->mu);
  while (got < n) {
    ff__mem_chunk *c = l->head[me];
    if (c) {
      size_t take = c->len - c->off < n - got ? c->len - c->off : n - got;
      memcpy(buf + got, c->data + c->off, take);
      c->off += take;
      got += take;
      if (c->off == c->len) {
        l->head[me] = c->next;
        if (!c->next) l->tail[me] = NULL;
        free(c);
      }
      /* The timeout is on silence, as on TCP: progress restarts it. */
      ff__deadline_after(&deadline, ch->io_timeout_ms);
      continue;
    }
    /* Data sent before the peer closed is still delivered, as on TCP. */
    if (l->closed[1 - me]) {
      FF_ERROR("in-memory channel: peer closed the connection (party %d waiting for %zu more of %zu "
               "bytes)", me, n - got, n);
      st = FF_ECONN;
      break;
    }
    int rc = pthread_cond_timedwait(&l->arrived[me], &l->mu, &deadline);
    if (rc == ETIMEDOUT && !l->head[me] && !l->closed[1 - me]) {
      FF_ERROR("in-memory channel: peer sent nothing for %d ms (party %d waiting for %zu more of %zu "
               "bytes)", ch->io_timeout_ms, me, n - got, n);
      st = FF_ETIMEDOUT;
      break;
    }
  }
  pthread_mutex_unlock(&l->mu);
  return st;
}

static ff_status ff__mem_io(ff_chan *ch, const void *out, size_t nout, void *in, size_t nin) {
  ff_status st = nout ? ff__mem_send(ch, out, nout) : FF_OK;
  if (!st && nin) st = ff__mem_recv(ch, in, nin);
  return st;
}

static void ff__mem_close(ff_chan *ch) {
  ff__mem_end *e = ch->impl;
  ff__mem_link *l = e->link;
  pthread_mutex_lock(&l->mu);
  l->closed[e->end] = 1;
  pthread_cond_broadcast(&l->arrived[1 - e->end]);
  int last = --l->open_ends == 0;
  pthread_mutex_unlock(&l->mu);
  free(e);
  if (!last) return;
  for (int i = 0; i < 2; i++) {
    ff__mem_free_queue(l->head[i]);
    pthread_cond_destroy(&l->arrived[i]);
  }
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static const ff__chan_ops ff__mem_ops = {.transport = "mem", .io = ff__mem_io, .close = ff__mem_close};

ff_status ff_chan_mem_pair(ff_chan *ends[2], const ff_mem_opts *opts) {
  if (!ends) {
    FF_ERROR("ff_chan_mem_pair: ends is NULL");
    return FF_EINVAL;
  }
  ends[0] = ends[1] = NULL;
  ff_mem_opts o = opts ? *opts : (ff_mem_opts){0};
  ff__mem_link *l = calloc(1, sizeof *l);
  ff__mem_end *e[2] = {calloc(1, sizeof(ff__mem_end)), calloc(1, sizeof(ff__mem_end))};
  if (!l || !e[0] || !e[1]) goto nomem;
  /* Timeouts are measured on CLOCK_MONOTONIC, like every duration in fusefss: a wall-clock step must
     not fire or stretch them. */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->arrived[0], &ca);
  pthread_cond_init(&l->arrived[1], &ca);
  pthread_condattr_destroy(&ca);
  l->open_ends = 2;
  for (int i = 0; i < 2; i++) {
    e[i]->link = l;
    e[i]->end = i;
    ends[i] = ff__chan_new(&ff__mem_ops, e[i], i, o.io_timeout_ms, o.shaping);
  }
  if (!ends[0] || !ends[1]) {
    ff__chan_free(ends[0]);
    ff__chan_free(ends[1]);
    ends[0] = ends[1] = NULL;
    pthread_cond_destroy(&l->arrived[0]);
    pthread_cond_destroy(&l->arrived[1]);
    pthread_mutex_destroy(&l->mu);
    goto nomem;
  }
  for (int i = 0; i < 2; i++) snprintf(ends[i]->peer, sizeof ends[i]->peer, "in-memory");
  return FF_OK;
nomem:
  FF_ERROR("out of memory creating an in-memory channel pair");
  free(e[1]);
  free(e[0]);
  free(l);
  return FF_ENOMEM;
}
