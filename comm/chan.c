/* The channel API of comm/chan.h over either transport: every payload byte, message and round is
 * charged here, once, to the calling thread's innermost scope (DESIGN.md §5, §6), and the optional
 * link shaping is applied here too. Transports (tcp.c, mem.c) only move bytes.
 * Tests: tests/test_comm.c. */
#include <stdlib.h>
#include <string.h>

#include "comm/chan_internal.h"
#include "comm/pack.h"
#include "core/log.h"
#include "core/time.h"
#include "scope/scope.h"

ff_chan *ff__chan_new(const ff__chan_ops *ops, void *impl, int party, int io_timeout_ms,
                      ff_shaping shaping) {
  ff_chan *ch = calloc(1, sizeof *ch);
  if (!ch) {
    FF_ERROR("out of memory allocating a %s channel end", ops->transport);
    return NULL;
  }
  ch->ops = ops;
  ch->impl = impl;
  ch->party = party;
  ch->io_timeout_ms = io_timeout_ms > 0 ? io_timeout_ms : FF__DEFAULT_IO_TIMEOUT_MS;
  ch->shaping = shaping;
  ch->local_port = -1;
  ch->last = FF__LAST_NONE;
  return ch;
}

void ff__chan_free(ff_chan *ch) { free(ch); }

/* ---- Rounds and shaping ------------------------------------------------------------------------
 * A round begins at each change of direction of this end's traffic, an exchange counting as one
 * (chan.h). Shaping emulates a link only at receives, and simply: a receive (or exchange) that begins
 * a round is made to last at least
 *     lat_ns + (payload bytes this end sent in the round) / bw_Bps
 * from the moment it began (sleeping after the data arrived if it came sooner). Summed over a run,
 * a party thus waits at least rounds*lat + sent/bw, which is the per-party time of the duplex
 * projection T = comp + max_p(sent_p)/bw + rounds*lat (`fusefss project`), so a shaped run checks it.
 * It is not a packet-level emulator: a one-way message that is never answered is not paced, and a
 * receive that waited on the peer's computation anyway is not delayed further. */

/* After a successful send: returns the rounds it begins (0 or 1). */
static uint64_t ff__note_send(ff_chan *ch, size_t n) {
  uint64_t begun = ch->last == FF__LAST_RECV || ch->last == FF__LAST_EXCH;
  ch->last = FF__LAST_SEND;
  ch->round_sent_B += n;
  return begun;
}

/* After a successful receive (or the receive half of an exchange, `exch`) that began at t0: returns
 * the rounds it begins (0 or 1), sleeps as the shaping asks, and resets the round state. */
static uint64_t ff__finish_receive(ff_chan *ch, uint64_t t0, int exch) {
  uint64_t begun = exch || ch->last != FF__LAST_RECV;
  if (begun && (ch->shaping.lat_ns || ch->shaping.bw_Bps)) {
    uint64_t due = t0 + ch->shaping.lat_ns;
    if (ch->shaping.bw_Bps)
      due += (uint64_t)((double)ch->round_sent_B * 1e9 / (double)ch->shaping.bw_Bps);
    uint64_t now = ff_now_ns();
    if (now < due) ff_sleep_ns(due - now);
  }
  ch->last = exch ? FF__LAST_EXCH : FF__LAST_RECV;
  ch->round_sent_B = 0;
  return begun;
}

static void ff__charge(uint64_t sent, uint64_t recvd, uint64_t msgs, uint64_t rounds, uint64_t t0) {
  ff_comm_delta d = {.sent_B = sent, .recv_B = recvd, .msgs = msgs, .rounds = rounds,
                     .wait_ns = ff_now_ns() - t0};
  ff_scope_charge_comm(&d);
}

static ff_status ff__check(const ff_chan *ch, const void *a, const void *b, size_t n,
                           const char *fn) {
  if (!ch || (n && (!a || !b))) {
    FF_ERROR("%s: %s", fn, !ch ? "channel is NULL" : "buffer is NULL");
    return FF_EINVAL;
  }
  return FF_OK;
}

/* ---- Payload ------------------------------------------------------------------------------------
 * A zero-length send, receive or exchange moves nothing and is not a message or a round. On failure
 * only the time spent is charged: the channel is unusable afterwards anyway. */

ff_status ff_chan_send(ff_chan *ch, const void *buf, size_t n) {
  ff_status st = ff__check(ch, buf, buf, n, "ff_chan_send");
  if (st || n == 0) return st;
  uint64_t t0 = ff_now_ns();
  st = ch->ops->io(ch, buf, n, NULL, 0);
  if (st) {
    ff__charge(0, 0, 0, 0, t0);
    return st;
  }
  uint64_t rounds = ff__note_send(ch, n);
  ff__charge(n, 0, 1, rounds, t0);
  return FF_OK;
}

ff_status ff_chan_recv(ff_chan *ch, void *buf, size_t n) {
  ff_status st = ff__check(ch, buf, buf, n, "ff_chan_recv");
  if (st || n == 0) return st;
  uint64_t t0 = ff_now_ns();
  st = ch->ops->io(ch, NULL, 0, buf, n);
  if (st) {
    ff__charge(0, 0, 0, 0, t0);
    return st;
  }
  uint64_t rounds = ff__finish_receive(ch, t0, 0);
  ff__charge(0, n, 0, rounds, t0);
  return FF_OK;
}

ff_status ff_chan_exchange(ff_chan *ch, const void *out, void *in, size_t n) {
  ff_status st = ff__check(ch, out, in, n, "ff_chan_exchange");
  if (st || n == 0) return st;
  uint64_t t0 = ff_now_ns();
  st = ch->ops->io(ch, out, n, in, n);
  if (st) {
    ff__charge(0, 0, 0, 0, t0);
    return st;
  }
  /* Both directions at once: one round, whatever came before. */
  ch->round_sent_B += n;
  uint64_t rounds = ff__finish_receive(ch, t0, 1);
  ff__charge(n, n, 1, rounds, t0);
  return FF_OK;
}

ff_status ff_chan_exchange_pieces(ff_chan *ch, const void *out, void *in, size_t n, size_t piece,
                                  ff_chan_piece_fn ready, ff_chan_piece_fn arrived, void *arg) {
  ff_status st = ff__check(ch, out, in, n, "ff_chan_exchange_pieces");
  if (st || n == 0) return st;
  if (!piece) piece = n;
  const uint64_t t_begin = ff_now_ns();
  uint64_t waited = 0;
  for (size_t off = 0; off < n && !st; off += piece) {
    const size_t len = n - off < piece ? n - off : piece;
    if (ready && (st = ready(arg, off, len))) break;
    const uint64_t t0 = ff_now_ns();
    st = ch->ops->io(ch, (const uint8_t *)out + off, len, (uint8_t *)in + off, len);
    waited += ff_now_ns() - t0;
    if (!st && arrived) st = arrived(arg, off, len);
  }
  ff_comm_delta d = {.wait_ns = waited};
  if (!st) {
    /* As ff_chan_exchange: both directions at once, one round whatever came before. */
    ch->round_sent_B += n;
    const uint64_t t1 = ff_now_ns();
    d.rounds = ff__finish_receive(ch, t_begin, 1);
    d.wait_ns += ff_now_ns() - t1; /* the shaping's sleep, if any */
    d.sent_B = n, d.recv_B = n, d.msgs = 1;
  }
  ff_scope_charge_comm(&d);
  return st;
}

ff_status ff_chan_exchange_bits(ff_chan *ch, const uint64_t *out, uint64_t *in, size_t n, int bits) {
  ff_status st = ff__check(ch, out, in, n, "ff_chan_exchange_bits");
  if (st) return st;
  if (bits < 1 || bits > 64) {
    FF_ERROR("ff_chan_exchange_bits: bit width %d is outside 1..64", bits);
    return FF_EINVAL;
  }
  size_t nb = ff_packed_size(n, bits);
  if (nb == 0) return FF_OK;
  /* Most reconstructs in a gate are small (a few bits per element of one row): no malloc for them. */
  uint8_t small[2048];
  uint8_t *buf = 2 * nb <= sizeof small ? small : malloc(2 * nb);
  if (!buf) {
    FF_ERROR("out of memory packing %zu values of %d bits (%zu bytes each way)", n, bits, nb);
    return FF_ENOMEM;
  }
  ff_pack_bits(out, n, bits, buf);
  st = ff_chan_exchange(ch, buf, buf + nb, nb);
  if (!st) ff_unpack_bits(buf + nb, n, bits, in);
  if (buf != small) free(buf);
  return st;
}

/* Separates repetitions: uncharged, and it leaves the round state as on a fresh channel so that
 * every repetition counts its rounds the same way as the first. */
ff_status ff_chan_barrier(ff_chan *ch) {
  if (!ch) {
    FF_ERROR("ff_chan_barrier: channel is NULL");
    return FF_EINVAL;
  }
  uint8_t out = 0xB7, in = 0;
  ff_status st = ch->ops->io(ch, &out, 1, &in, 1);
  if (st) return st;
  if (in != out) {
    FF_ERROR("barrier: the peer sent 0x%02x instead of the barrier byte (the two parties are not at "
             "the same point of the protocol)", in);
    return FF_EPROTO;
  }
  ch->last = FF__LAST_NONE;
  ch->round_sent_B = 0;
  return FF_OK;
}

/* ---- Accessors ---------------------------------------------------------------------------------- */

int ff_chan_local_port(const ff_chan *ch) { return ch ? ch->local_port : -1; }
int ff_chan_party(const ff_chan *ch) { return ch ? ch->party : -1; }
const char *ff_chan_run_id(const ff_chan *ch) { return ch ? ch->run_id : ""; }

void ff_chan_clock_offset(const ff_chan *ch, int64_t *offset_ns, int64_t *err_ns) {
  if (offset_ns) *offset_ns = ch ? ch->clock_offset_ns : 0;
  if (err_ns) *err_ns = ch ? ch->clock_err_ns : 0;
}

const char *ff_chan_transport(const ff_chan *ch) { return ch ? ch->ops->transport : ""; }
const char *ff_chan_peer(const ff_chan *ch) { return ch ? ch->peer : ""; }

ff_shaping ff_chan_shaping(const ff_chan *ch) {
  ff_shaping none = {0, 0};
  return ch ? ch->shaping : none;
}

void ff_chan_close(ff_chan *ch) {
  if (!ch) return;
  ch->ops->close(ch);
  free(ch);
}
