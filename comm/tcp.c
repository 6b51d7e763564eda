/* The TCP channel (DESIGN.md §6, chan.h): party 0 listens, party 1 connects with retries; a hello
 * (magic, version, party, run id) and an NTP-style clock-offset estimate follow, uncharged. Payload
 * I/O is one non-blocking poll loop that interleaves sending and receiving, so that two parties can
 * exchange any amount at once without deadlock. Accounting is chan.c's. Deadlines: connect/accept and
 * the handshake (hello and clock sync together) each end within their timeout however the peer behaves;
 * every I/O ends within the silence timeout plus one second per FF__TCP_MIN_RATE bytes. Tests:
 * tests/test_comm.c, tests/test_harden.c (a trickling peer). */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "comm/chan_internal.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/time.h"

#define FF__TCP_MAGIC "FFSS"
#define FF__TCP_VERSION 1u
#define FF__TCP_HELLO_BYTES (4 + 4 + 4 + FF__RUN_ID_MAX)
#define FF__TCP_SOCKBUF (4 << 20)      /* large buffers keep a 50-bit reconstruct of MBs streaming */
#define FF__TCP_IO_CHUNK ((size_t)1 << 30)
#define FF__TCP_RETRY_NS 50000000u     /* party 1 retries a refused connect this often */
#define FF__TCP_CLOCK_PINGS 8

/* An I/O of n bytes must end within the silence timeout plus n / FF__TCP_MIN_RATE seconds: a peer that
 * trickles a byte now and then never holds a party past that. */
#define FF__TCP_MIN_RATE 1000000u /* bytes per second */

typedef struct {
  int fd;
  uint64_t deadline;             /* not 0: no I/O may go on past this (the handshake's overall deadline) */
} ff__tcp;

static uint64_t ff__ms_to_ns(int ms) { return (uint64_t)ms * 1000000u; }

/* Milliseconds left until `deadline` for poll(), rounded up so that we never spin at the end. */
static int ff__ms_left(uint64_t deadline) {
  uint64_t now = ff_now_ns();
  if (now >= deadline) return 0;
  uint64_t ms = (deadline - now + 999999u) / 1000000u;
  return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* ---- Payload I/O --------------------------------------------------------------------------------
 * Both directions advance in one loop: while a party is pushing 256 MiB, its receive buffer is being
 * drained too, so the peer's send never stalls and neither side waits on the other's buffer. The
 * timeout is on silence (no byte moved in either direction), so a long transfer is never cut off. */

static ff_status ff__tcp_io(ff_chan *ch, const void *outv, size_t nout, void *inv, size_t nin) {
  ff__tcp *t = ch->impl;
  const uint8_t *out = outv;
  uint8_t *in = inv;
  size_t sent = 0, got = 0;
  const uint64_t silence = ff__ms_to_ns(ch->io_timeout_ms);
  uint64_t last_progress = ff_now_ns();
  uint64_t overall = last_progress + silence + (uint64_t)(nin + nout) * (1000000000u / FF__TCP_MIN_RATE);
  if (t->deadline && t->deadline < overall) overall = t->deadline;
  while (sent < nout || got < nin) {
    int progress = 0;
    if (got < nin) {
      size_t want = nin - got < FF__TCP_IO_CHUNK ? nin - got : FF__TCP_IO_CHUNK;
      ssize_t r = recv(t->fd, in + got, want, 0);
      if (r > 0) {
        got += (size_t)r;
        progress = 1;
      } else if (r == 0) {
        FF_ERROR("peer closed the connection (%s; %zu of %zu bytes still expected)", ch->peer,
                 nin - got, nin);
        return FF_ECONN;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        FF_ERROR("%s (%s): receive failed: %s", errno == ECONNRESET ? "peer closed the connection" :
                 "connection lost", ch->peer, strerror(errno));
        return FF_ECONN;
      }
    }
    if (sent < nout) {
      size_t want = nout - sent < FF__TCP_IO_CHUNK ? nout - sent : FF__TCP_IO_CHUNK;
      ssize_t r = send(t->fd, out + sent, want, MSG_NOSIGNAL);
      if (r > 0) {
        sent += (size_t)r;
        progress = 1;
      } else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        FF_ERROR("%s (%s): send failed: %s",
                 errno == EPIPE || errno == ECONNRESET ? "peer closed the connection"
                                                       : "connection lost",
                 ch->peer, strerror(errno));
        return FF_ECONN;
      }
    }
    const uint64_t now = ff_now_ns();
    if (now >= overall) {
      FF_ERROR("the peer (%s) is too slow: %zu of %zu bytes received and %zu of %zu sent before the deadline (%s)",
               ch->peer, got, nin, sent, nout,
               t->deadline ? "the handshake must end within the timeout, however the peer trickles"
                           : "an exchange must end within the timeout plus 1 s per MB");
      return FF_ETIMEDOUT;
    }
    if (progress) {
      last_progress = now;
      continue;
    }
    int ms = ff__ms_left(last_progress + silence < overall ? last_progress + silence : overall);
    if (ms == 0 && last_progress + silence <= now) {
      if (got < nin)
        FF_ERROR("peer sent nothing for %d ms (%s; %zu of %zu bytes still expected)",
                 ch->io_timeout_ms, ch->peer, nin - got, nin);
      else
        FF_ERROR("peer read nothing for %d ms (%s; %zu of %zu bytes still to send: is it receiving?)",
                 ch->io_timeout_ms, ch->peer, nout - sent, nout);
      return FF_ETIMEDOUT;
    }
    struct pollfd p = {.fd = t->fd,
                       .events = (short)((got < nin ? POLLIN : 0) | (sent < nout ? POLLOUT : 0))};
    if (poll(&p, 1, ms) < 0 && errno != EINTR) {
      FF_ERROR("poll on the connection to %s failed: %s", ch->peer, strerror(errno));
      return FF_ECONN;
    }
    /* POLLERR/POLLHUP need no branch: the next recv/send reports the error or the EOF. */
  }
  return FF_OK;
}

static void ff__tcp_close(ff_chan *ch) {
  ff__tcp *t = ch->impl;
  if (!t) return;
  if (t->fd >= 0) close(t->fd);
  free(t);
  ch->impl = NULL;
}

static const ff__chan_ops ff__tcp_ops = {.transport = "tcp", .io = ff__tcp_io, .close = ff__tcp_close};

/* ---- Sockets ------------------------------------------------------------------------------------ */

static void ff__tune(int fd) {
  int one = 1, buf = FF__TCP_SOCKBUF;
  /* Every reconstruct is a small latency-bound message as often as a large one: no Nagle delay. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* The kernel caps these at net.core.[rw]mem_max silently; larger is only a hint. */
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
}

static void ff__format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t n) {
  char host[INET6_ADDRSTRLEN + 8], serv[8]; /* numeric: an IPv6 address (with scope id), a port */
  if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV)) {
    snprintf(out, n, "?");
    return;
  }
  if (sa->sa_family == AF_INET6)
    snprintf(out, n, "[%s]:%s", host, serv);
  else
    snprintf(out, n, "%s:%s", host, serv);
}

static ff_status ff__listen_and_accept(ff_chan *ch, const ff_tcp_opts *o, int *fd_out) {
  const char *host = o->host && o->host[0] ? o->host : "0.0.0.0";
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", o->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(host, portstr, &hints, &res);
  if (gai) {
    FF_ERROR("cannot listen on %s:%d: %s", host, o->port, gai_strerror(gai));
    return FF_ENOENT;
  }
  int lfd = -1, err = 0;
  for (struct addrinfo *ai = res; ai && lfd < 0; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    /* A restarted party 0 must not wait out TIME_WAIT of its previous run on the same port. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ff__tune(fd); /* before listen: accepted sockets inherit the buffers and the window scale */
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0) {
      lfd = fd;
    } else {
      err = errno;
      close(fd);
    }
  }
  freeaddrinfo(res);
  if (lfd < 0) {
    if (err == EADDRINUSE) {
      FF_ERROR("port %d on %s is already in use (choose another with --listen, or stop the process "
               "holding it)", o->port, host);
      return FF_EADDRINUSE;
    }
    FF_ERROR("cannot listen on %s:%d: %s", host, o->port, strerror(err));
    return err == EACCES || err == EADDRNOTAVAIL ? FF_EINVAL : FF_EIO;
  }

  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0)
    ch->local_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                    : ((struct sockaddr_in *)&ss)->sin_port);
  FF_INFO("party 0 listening on %s:%d", host, ch->local_port);
  if (o->on_listen) o->on_listen(ch->local_port, o->on_listen_arg);

  int timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : FF__DEFAULT_CONNECT_TIMEOUT_MS;
  uint64_t deadline = ff_now_ns() + ff__ms_to_ns(timeout_ms);
  for (;;) {
    sl = sizeof ss;
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      close(lfd);
      ff__tune(fd);
      ff__format_addr((struct sockaddr *)&ss, sl, ch->peer, sizeof ch->peer);
      *fd_out = fd;
      return FF_OK;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
      FF_ERROR("accept on %s:%d failed: %s", host, ch->local_port, strerror(errno));
      close(lfd);
      return FF_EIO;
    }
    int ms = ff__ms_left(deadline);
    if (ms == 0) {
      FF_ERROR("no party 1 connected to %s:%d within %d ms", host, ch->local_port, timeout_ms);
      close(lfd);
      return FF_ETIMEDOUT;
    }
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    (void)poll(&p, 1, ms);
  }
}

/* One non-blocking connect attempt bounded by `deadline`; the socket, or -1 with *err set. */
static int ff__connect_once(const struct addrinfo *ai, uint64_t deadline, int *err) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  ff__tune(fd);
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      *err = errno;
      close(fd);
      return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int rc;
    do {
      rc = poll(&p, 1, ff__ms_left(deadline));
    } while (rc < 0 && errno == EINTR);
    int so_err = 0;
    socklen_t len = sizeof so_err;
    if (rc == 0) so_err = ETIMEDOUT;
    else if (rc < 0) so_err = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &len) != 0) so_err = errno;
    if (so_err) {
      *err = so_err;
      close(fd);
      return -1;
    }
  }
  /* Retrying a loopback connect to a port in the ephemeral range can make TCP connect the socket to
     itself (simultaneous open); that is no peer, so treat it as refused. */
  struct sockaddr_storage a, b;
  socklen_t la = sizeof a, lb = sizeof b;
  if (getsockname(fd, (struct sockaddr *)&a, &la) == 0 &&
      getpeername(fd, (struct sockaddr *)&b, &lb) == 0 && la == lb && memcmp(&a, &b, la) == 0) {
    *err = ECONNREFUSED;
    close(fd);
    return -1;
  }
  return fd;
}

static ff_status ff__connect(ff_chan *ch, const ff_tcp_opts *o, int *fd_out) {
  if (!o->host || !o->host[0] || o->port <= 0 || o->port > 65535) {
    FF_ERROR("party 1 needs the peer's host and port (got %s:%d)", o->host ? o->host : "(none)",
             o->port);
    return FF_EINVAL;
  }
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", o->port);
  int timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : FF__DEFAULT_CONNECT_TIMEOUT_MS;
  uint64_t deadline = ff_now_ns() + ff__ms_to_ns(timeout_ms);
  int err = 0;
  const char *last = "no attempt";
  for (;;) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(o->host, portstr, &hints, &res);
    if (gai == 0) {
      int fd = -1;
      for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) fd = ff__connect_once(ai, deadline, &err);
      freeaddrinfo(res);
      if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
          ff__format_addr((struct sockaddr *)&ss, sl, ch->peer, sizeof ch->peer);
        else
          snprintf(ch->peer, sizeof ch->peer, "%s:%d", o->host, o->port);
        *fd_out = fd;
        return FF_OK;
      }
      last = strerror(err);
    } else if (gai == EAI_AGAIN) {
      last = gai_strerror(gai); /* the resolver may come back before the deadline */
    } else {
      FF_ERROR("cannot resolve the peer's host '%s': %s", o->host, gai_strerror(gai));
      return FF_ENOENT;
    }
    /* Party 0 may simply not be listening yet: retry until the deadline. */
    uint64_t now = ff_now_ns();
    if (now >= deadline) {
      FF_ERROR("could not connect to party 0 at %s:%d within %d ms (last error: %s); is it running "
               "and listening there?", o->host, o->port, timeout_ms, last);
      return FF_ETIMEDOUT;
    }
    ff_sleep_ns(deadline - now < FF__TCP_RETRY_NS ? deadline - now : FF__TCP_RETRY_NS);
  }
}

/* ---- Handshake ----------------------------------------------------------------------------------
 * Fixed little-endian layout: "FFSS", version u32, party u32, run id (32 bytes, NUL-padded). Party 1
 * speaks first; party 0 always answers a well-formed hello, even one it rejects, so that both ends
 * can name what differs. */

static void ff__put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t ff__get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static void ff__put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t ff__get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

typedef struct {
  uint32_t version, party;
  char run_id[FF__RUN_ID_MAX + 1];
} ff__hello;

static ff_status ff__send_hello(ff_chan *ch, const char *run_id) {
  uint8_t b[FF__TCP_HELLO_BYTES] = {0};
  memcpy(b, FF__TCP_MAGIC, 4);
  ff__put_u32(b + 4, FF__TCP_VERSION);
  ff__put_u32(b + 8, (uint32_t)ch->party);
  memcpy(b + 12, run_id, strlen(run_id));
  return ch->ops->io(ch, b, sizeof b, NULL, 0);
}

static ff_status ff__recv_hello(ff_chan *ch, ff__hello *h) {
  uint8_t b[FF__TCP_HELLO_BYTES];
  /* The magic alone first: a stranger (a port scanner, an HTTP client) is told apart at once instead
     of after a whole hello's worth of bytes that may never come. */
  ff_status st = ch->ops->io(ch, NULL, 0, b, 4);
  if (st) return st;
  if (memcmp(b, FF__TCP_MAGIC, 4) != 0) {
    FF_ERROR("the peer at %s is not a fusefss party (its first bytes are %02x %02x %02x %02x, not "
             "the \"FFSS\" hello)", ch->peer, b[0], b[1], b[2], b[3]);
    return FF_EPROTO;
  }
  st = ch->ops->io(ch, NULL, 0, b + 4, sizeof b - 4);
  if (st) return st;
  h->version = ff__get_u32(b + 4);
  h->party = ff__get_u32(b + 8);
  memcpy(h->run_id, b + 12, FF__RUN_ID_MAX);
  h->run_id[FF__RUN_ID_MAX] = '\0';
  /* The run id is printed in messages and logs: printable ASCII only, never raw control bytes. */
  for (const char *c = h->run_id; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
      FF_ERROR("the peer at %s sent a run id with a control or non-ASCII byte (0x%02x): not a fusefss party of "
               "this version", ch->peer, (unsigned char)*c);
      return FF_EPROTO;
    }
  return FF_OK;
}

static ff_status ff__check_hello(const ff_chan *ch, const ff__hello *h) {
  if (h->version != FF__TCP_VERSION) {
    FF_ERROR("the peer at %s speaks fusefss protocol version %" PRIu32 ", this build speaks %u: the "
             "peer is not a fusefss party of this version", ch->peer, h->version, FF__TCP_VERSION);
    return FF_EPROTO;
  }
  if (h->party == (uint32_t)ch->party) {
    FF_ERROR("the peer at %s is also party %d: start one party with --party 0 and the other with "
             "--party 1", ch->peer, ch->party);
    return FF_EPROTO;
  }
  if (h->party > 1) {
    FF_ERROR("the peer at %s claims to be party %" PRIu32 ": the peer is not a fusefss party of this "
             "version", ch->peer, h->party);
    return FF_EPROTO;
  }
  return FF_OK;
}

static ff_status ff__handshake(ff_chan *ch, const char *want_run_id) {
  ff__hello peer;
  ff_status st;
  if (ch->party == 1) {
    if ((st = ff__send_hello(ch, want_run_id ? want_run_id : ""))) return st;
    if ((st = ff__recv_hello(ch, &peer))) return st;
    if ((st = ff__check_hello(ch, &peer))) return st;
    if (want_run_id && strcmp(want_run_id, peer.run_id) != 0) {
      FF_ERROR("run id mismatch: party 0 at %s runs '%s', this party 1 expected '%s' (the two "
               "parties belong to different runs)", ch->peer, peer.run_id, want_run_id);
      return FF_EPROTO;
    }
    snprintf(ch->run_id, sizeof ch->run_id, "%s", peer.run_id);
    return FF_OK;
  }
  if ((st = ff__recv_hello(ch, &peer))) return st;
  if ((st = ff__send_hello(ch, ch->run_id))) return st;
  if ((st = ff__check_hello(ch, &peer))) return st;
  if (peer.run_id[0] && strcmp(peer.run_id, ch->run_id) != 0) {
    FF_ERROR("run id mismatch: this party 0 runs '%s', party 1 at %s expected '%s' (the two parties "
             "belong to different runs)", ch->run_id, ch->peer, peer.run_id);
    return FF_EPROTO;
  }
  return FF_OK;
}

/* Party 1 times FF__TCP_CLOCK_PINGS ping-pongs: t0 (its send), t1 and t2 (party 0's receive and
 * reply, on party 0's clock), t3 (its receive). The pair with the smallest round trip
 * (t3-t0)-(t2-t1) bounds the offset best: offset = ((t1-t0)+(t2-t3))/2 is within rtt/2 of the truth.
 * Party 1 then tells party 0 the result, so both logs carry the same estimate. */
static ff_status ff__clock_sync(ff_chan *ch) {
  uint8_t b[16];
  ff_status st;
  if (ch->party == 1) {
    int64_t best_rtt = INT64_MAX, best_off = 0;
    for (uint32_t i = 0; i < FF__TCP_CLOCK_PINGS; i++) {
      uint8_t ping[4];
      ff__put_u32(ping, i);
      int64_t t0 = (int64_t)ff_now_ns();
      if ((st = ch->ops->io(ch, ping, 4, b, 16))) return st;
      int64_t t3 = (int64_t)ff_now_ns();
      int64_t t1 = (int64_t)ff__get_u64(b), t2 = (int64_t)ff__get_u64(b + 8);
      int64_t rtt = (t3 - t0) - (t2 - t1);
      if (rtt < 0) rtt = 0;
      if (rtt < best_rtt) {
        best_rtt = rtt;
        best_off = ((t1 - t0) + (t2 - t3)) / 2;
      }
    }
    ch->clock_offset_ns = best_off;
    ch->clock_err_ns = best_rtt / 2;
    ff__put_u64(b, (uint64_t)best_off);
    ff__put_u64(b + 8, (uint64_t)ch->clock_err_ns);
    return ch->ops->io(ch, b, 16, NULL, 0);
  }
  for (uint32_t i = 0; i < FF__TCP_CLOCK_PINGS; i++) {
    if ((st = ch->ops->io(ch, NULL, 0, b, 4))) return st;
    uint64_t t1 = ff_now_ns();
    if (ff__get_u32(b) != i) {
      FF_ERROR("clock sync with %s: ping %" PRIu32 " arrived where %" PRIu32 " was expected",
               ch->peer, ff__get_u32(b), i);
      return FF_EPROTO;
    }
    ff__put_u64(b, t1);
    ff__put_u64(b + 8, ff_now_ns());
    if ((st = ch->ops->io(ch, b, 16, NULL, 0))) return st;
  }
  if ((st = ch->ops->io(ch, NULL, 0, b, 16))) return st;
  ch->clock_offset_ns = -(int64_t)ff__get_u64(b);
  ch->clock_err_ns = (int64_t)ff__get_u64(b + 8);
  return FF_OK;
}

/* ---- Open --------------------------------------------------------------------------------------- */

ff_status ff_chan_tcp_open(ff_chan **out, const ff_tcp_opts *opts) {
  if (!out || !opts) {
    FF_ERROR("ff_chan_tcp_open: %s is NULL", !out ? "out" : "opts");
    return FF_EINVAL;
  }
  *out = NULL;
  if (opts->party != 0 && opts->party != 1) {
    FF_ERROR("party must be 0 or 1 (got %d)", opts->party);
    return FF_EINVAL;
  }
  if (opts->port < 0 || opts->port > 65535) {
    FF_ERROR("port %d is outside 0..65535", opts->port);
    return FF_EINVAL;
  }
  if (opts->run_id && strlen(opts->run_id) > FF__RUN_ID_MAX) {
    FF_ERROR("run id '%s' is longer than %d characters", opts->run_id, FF__RUN_ID_MAX);
    return FF_EINVAL;
  }
  ff__tcp *t = malloc(sizeof *t);
  ff_chan *ch = t ? ff__chan_new(&ff__tcp_ops, t, opts->party, opts->io_timeout_ms, opts->shaping)
                  : NULL;
  if (!ch) {
    free(t);
    FF_ERROR("out of memory opening a TCP channel");
    return FF_ENOMEM;
  }
  t->fd = -1;
  if (opts->party == 0) {
    if (opts->run_id) {
      snprintf(ch->run_id, sizeof ch->run_id, "%s", opts->run_id);
    } else {
      ff_rng rng;
      ff_rng_init_os(&rng);
      snprintf(ch->run_id, sizeof ch->run_id, "%016" PRIx64, ff_rng_u64(&rng));
    }
  }
  t->deadline = 0;
  ff_status st = opts->party == 0 ? ff__listen_and_accept(ch, opts, &t->fd) : ff__connect(ch, opts, &t->fd);
  /* The hello and the clock sync together end within the I/O timeout, not per byte of progress. */
  if (!st) t->deadline = ff_now_ns() + ff__ms_to_ns(ch->io_timeout_ms);
  if (!st) st = ff__handshake(ch, opts->run_id);
  if (!st) st = ff__clock_sync(ch);
  t->deadline = 0;
  if (st) {
    ff_chan_close(ch);
    return st;
  }
  FF_INFO("party %d connected to %s (run %s, clock offset %" PRId64 " ns +- %" PRId64 " ns)",
          ch->party, ch->peer, ch->run_id, ch->clock_offset_ns, ch->clock_err_ns);
  *out = ch;
  return FF_OK;
}
