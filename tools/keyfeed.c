/* Key feeds (tools/keyfeed.h): a queue of the encoded key stream and a thread that sends it to one
 * party, with a deadline on every send. Test: tests/test_stream_e2e.c. */
#include "tools/keyfeed.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

/* Queue nodes hold at least this much, so the chunk CRCs and tags (4 and 32 bytes) share a node with
 * the chunk before them instead of a malloc each. */
#define FF__FEED_NODE_MIN (1u << 20)

typedef struct ff__feed_node {
  struct ff__feed_node *next;
  size_t len, cap;
  uint8_t data[]; /* (cap) */
} ff__feed_node;

struct ff_keyfeed {
  int fd, tee_fd, party;
  uint64_t timeout_ns;
  pthread_t thread;
  int thread_ok;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ff__feed_node *head, *tail; /* not yet taken by the thread */
  uint64_t queued, sent, peak;
  int closing;
  ff_status err;              /* the thread's failure, sticky */
};

/* Sends n bytes to the party, each wait for room at most the timeout. */
static ff_status ff__feed_send(ff_keyfeed *f, const uint8_t *p, size_t n) {
  while (n) {
    struct pollfd pfd = {.fd = f->fd, .events = POLLOUT};
    const uint64_t ms = f->timeout_ns / 1000000u;
    const int pr = poll(&pfd, 1, ms > INT32_MAX ? INT32_MAX : (int)ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      FF_ERROR("party %d stopped reading its keys: it took none of them for %.1f s (after %llu bytes of its key "
               "stream); it is stuck or fell behind, giving up (--timeout)",
               f->party, (double)f->timeout_ns * 1e-9, (unsigned long long)f->sent);
      return FF_ETIMEDOUT;
    }
    const ssize_t w = pr < 0 ? -1 : send(f->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT); /* never blocks past poll */
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (w < 0) {
      const int e = errno;
      if (e == EPIPE || e == ECONNRESET)
        FF_ERROR("party %d closed its key stream after %llu bytes: it failed or exited (see its message)", f->party,
                 (unsigned long long)f->sent);
      else
        FF_ERROR("cannot send party %d its keys: %s", f->party, strerror(e));
      return FF_ECONN;
    }
    if (f->tee_fd >= 0) {
      for (size_t done = 0; done < (size_t)w;) {
        const ssize_t t = write(f->tee_fd, p + done, (size_t)w - done);
        if (t < 0 && errno == EINTR) continue;
        if (t <= 0) {
          FF_ERROR("cannot write the copy of party %d's key stream: %s", f->party, strerror(errno));
          return FF_EIO;
        }
        done += (size_t)t;
      }
    }
    pthread_mutex_lock(&f->mu);
    f->sent += (uint64_t)w;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    p += w;
    n -= (size_t)w;
  }
  return FF_OK;
}

static void *ff__feed_thread(void *arg) {
  ff_keyfeed *f = arg;
  for (;;) {
    pthread_mutex_lock(&f->mu);
    while (!f->head && !f->closing) pthread_cond_wait(&f->cv, &f->mu);
    ff__feed_node *n = f->head;
    if (!n) { /* closing, all sent: the party sees its stream end now, whatever the other feed does */
      pthread_mutex_unlock(&f->mu);
      shutdown(f->fd, SHUT_WR);
      return NULL;
    }
    f->head = n->next;
    if (!f->head) f->tail = NULL;
    pthread_mutex_unlock(&f->mu);
    const ff_status st = ff__feed_send(f, n->data, n->len);
    free(n);
    if (st) {
      pthread_mutex_lock(&f->mu);
      f->err = st;
      for (ff__feed_node *m = f->head, *next; m; m = next) next = m->next, free(m);
      f->head = f->tail = NULL;
      pthread_cond_broadcast(&f->cv);
      pthread_mutex_unlock(&f->mu);
      return NULL;
    }
  }
}

ff_status ff_keyfeed_open(ff_keyfeed **out, int fd, int party, uint64_t timeout_ns, int tee_fd) {
  *out = NULL;
  ff_keyfeed *f = calloc(1, sizeof *f);
  if (!f) {
    close(fd);
    return FF_ENOMEM;
  }
  f->fd = fd;
  f->tee_fd = tee_fd;
  f->party = party;
  f->timeout_ns = timeout_ns;
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
  const int e = pthread_create(&f->thread, NULL, ff__feed_thread, f);
  if (e) {
    FF_ERROR("cannot start the thread that feeds party %d its keys: %s", party, strerror(e));
    ff_keyfeed_close(f, NULL);
    return FF_EIO;
  }
  f->thread_ok = 1;
  *out = f;
  return FF_OK;
}

ff_status ff_keyfeed_sink(void *feed, const void *data, size_t n) {
  ff_keyfeed *f = feed;
  pthread_mutex_lock(&f->mu);
  ff_status st = f->err;
  if (!st) {
    ff__feed_node *t = f->tail;
    if (t && t->cap - t->len >= n) {
      memcpy(t->data + t->len, data, n);
      t->len += n;
    } else {
      /* room for the chunk's CRC and tag after a whole chunk (they follow it at once) */
      const size_t cap = n >= FF__FEED_NODE_MIN ? n + 4096 : FF__FEED_NODE_MIN;
      ff__feed_node *m = malloc(sizeof *m + cap);
      if (!m) {
        FF_ERROR("out of memory queueing %zu key bytes for party %d", n, f->party);
        st = FF_ENOMEM;
      } else {
        m->next = NULL;
        m->len = n;
        m->cap = cap;
        memcpy(m->data, data, n);
        if (t) t->next = m;
        else f->head = m;
        f->tail = m;
      }
    }
    if (!st) {
      f->queued += n;
      if (f->queued - f->sent > f->peak) f->peak = f->queued - f->sent;
      pthread_cond_broadcast(&f->cv);
    }
  }
  pthread_mutex_unlock(&f->mu);
  return st;
}

ff_status ff_keyfeed_state(ff_keyfeed *f, uint64_t *queued, uint64_t *sent) {
  pthread_mutex_lock(&f->mu);
  if (queued) *queued = f->queued;
  if (sent) *sent = f->sent;
  const ff_status st = f->err;
  pthread_mutex_unlock(&f->mu);
  return st;
}

uint64_t ff_keyfeed_peak(ff_keyfeed *f) {
  pthread_mutex_lock(&f->mu);
  const uint64_t q = f->peak;
  pthread_mutex_unlock(&f->mu);
  return q;
}

void ff_keyfeed_end(ff_keyfeed *f) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  f->closing = 1;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

ff_status ff_keyfeed_close(ff_keyfeed *f, uint64_t *sent) {
  if (sent) *sent = 0;
  if (!f) return FF_OK;
  if (f->thread_ok) {
    ff_keyfeed_end(f);
    pthread_join(f->thread, NULL);
  }
  const ff_status st = f->err;
  if (sent) *sent = f->sent;
  for (ff__feed_node *m = f->head, *next; m; m = next) next = m->next, free(m);
  if (f->fd >= 0) close(f->fd);
  pthread_mutex_destroy(&f->mu);
  pthread_cond_destroy(&f->cv);
  free(f);
  return st;
}
