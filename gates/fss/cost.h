/* The exact cost of one gate call as the sigma suite defines it (research/sigma.md §4, §10): key
 * bytes one party holds, what one party sends, and the rounds. Every gate has a cost function that
 * fills this struct without running any cryptography (`fusefss cost`); its test runs the gate and
 * checks that the channel measured the same. Test: tests/test_lut.c. */
#ifndef FF_GATES_FSS_COST_H
#define FF_GATES_FSS_COST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint64_t key_bytes;  /* one party's key, serialized */
  uint64_t bits_sent;  /* payload bits one party sends (exact widths, before byte rounding) */
  uint64_t bytes_sent; /* what the channel charges: each message rounded up to whole bytes */
  uint64_t rounds;     /* rounds of the merged run (chan.h's rule: one exchange is one round) */
} ff_gate_cost;

/* a + b for two gates run one after the other (rounds add up). */
static inline ff_gate_cost ff_gate_cost_add(ff_gate_cost a, ff_gate_cost b) {
  ff_gate_cost c = {a.key_bytes + b.key_bytes, a.bits_sent + b.bits_sent, a.bytes_sent + b.bytes_sent,
                    a.rounds + b.rounds};
  return c;
}

#ifdef __cplusplus
}
#endif

#endif
