/* Randomness for masks and seeds (DESIGN.md §2 "Randomness"). Test: tests/test_core.c.
 *
 * By default (ff_rng_init_os) a generator is AES-128 in counter mode (NIST SP 800-38A §6.5) keyed
 * from the OS: 32 bytes of getrandom(2) give the key K (16 bytes) and the initial counter block T0
 * (16 bytes); output block i is AES_K(T0 + i), T0 + i taken as a big-endian 128-bit integer mod
 * 2^128 (SP 800-38A's standard incrementing function), its 16 bytes in order. A request of n bytes
 * takes the next ceil(n/16) blocks and discards what it does not use of the last one, so no output
 * block is ever handed out twice. This is the construction of NIST's CTR_DRBG without its
 * derivation function and reseeding: for q blocks drawn, the output is indistinguishable from
 * random bytes up to AES-128's PRP advantage plus the PRP/PRF switching term q^2/2^129 (2^-49 after
 * 2^40 blocks, 16 TiB). The AES is core/aes.h's (AES-NI where the CPU has it). It replaces a
 * getrandom call per request: the dealer draws gigabytes of masks, and the kernel's ChaCha20 was a
 * large share of its time (docs/running.md, "keygen").
 *
 * Threads: any number of threads may draw from one OS-keyed generator at once (each request claims
 * its blocks with one atomic add; the key is read-only once set). A forked child re-keys from the OS
 * at its first draw (a pthread_atfork handler counts forks), so parent and child never share output.
 * A zeroed ff_rng that was never initialised counts as OS-keyed and is keyed at its first draw; that
 * first draw, and a child's first draw after a fork, must not race with another draw on it.
 *
 * A seeded generator (ff_rng_init_seeded) exists for reproducible tests and benchmarks only: it is
 * xoshiro256** expanded from the seed with splitmix64, NOT cryptographic, NOT thread-safe, and a run
 * that uses it records the seed in its log. Its byte stream is fixed (key files made with
 * `--mask-seed S` are reproducible across versions): each 8 bytes are one output word, little-endian;
 * a request's last partial word uses its low bytes and discards the rest.
 *
 * Large draws (2 MiB and more) are made by several threads (core/ctx.h ff_parallel_for), in either mode,
 * with the same bytes as one thread: a counter-mode thread starts at its own block; a seeded one jumps
 * the xoshiro256** state ahead to its own word (the state moves linearly over GF(2); core/rand.c). The
 * dealer draws gigabytes of masks and roots. Tests: tests/test_core.c (against OpenSSL's AES-128-CTR, and
 * against the same seed's small draws). */
#ifndef FF_CORE_RAND_H
#define FF_CORE_RAND_H

#include <stddef.h>
#include <stdint.h>

#include "core/aes.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ff_rng {
  int seeded;              /* 0: AES-128-CTR keyed from the OS; 1: xoshiro256** from `seed` */
  uint64_t seed;           /* the seed given, for the log */
  uint64_t s[4];           /* xoshiro256** state when seeded */
  /* AES-128-CTR (seeded == 0) */
  int keyed;               /* key and t0 are set (a zeroed ff_rng is keyed at its first draw) */
  uint64_t fork_gen;       /* forks seen by this process when keyed: a forked child re-keys */
  uint64_t t0_hi, t0_lo;   /* T0, the initial counter block: a big-endian 128-bit integer in two halves */
  uint64_t blocks;         /* counter blocks handed out so far (claimed with an atomic add) */
  ff_aes128_key key;       /* K, expanded */
  struct ff_rng *shared;   /* not NULL: every draw is served by *shared instead (ff_rng_init_shared) */
} ff_rng;

/* AES-128-CTR keyed with 32 bytes of getrandom (the default of every context). If the OS fails, the
 * failure is logged and the first draw tries again (and fails with FF_EIO if the OS still fails). */
void ff_rng_init_os(ff_rng *rng);
/* Deterministic stream from a seed (tests and benchmarks only). */
void ff_rng_init_seeded(ff_rng *rng, uint64_t seed);
/* A handle whose draws are served by `of` (any mode; `of` must outlive it): two contexts that must
 * draw from one stream, in one order, share a generator this way (gates/sigma/op.c's CUDA dealer). */
void ff_rng_init_shared(ff_rng *rng, ff_rng *of);

/* Fills buf with n random bytes. Fails only if the OS source fails (keying). */
ff_status ff_rng_bytes(ff_rng *rng, void *buf, size_t n);
/* n uniform elements of Z_2^bw. */
ff_status ff_rng_ring(ff_rng *rng, uint64_t *out, size_t n, int bw);
/* One uniform 64-bit value (aborts the caller's work with 0 on an OS failure, which is logged). */
uint64_t ff_rng_u64(ff_rng *rng);

/* Internal, for a generator that makes its bytes elsewhere (gates/fss/prg.h ff_rng_draw_cuda): claims the
 * next n bytes of rng's stream exactly as ff_rng_bytes(rng, ., n) would consume them (following a shared
 * handle, keying an OS generator first) and says how to make them. Counter mode (seeded 0): key, t0_hi,
 * t0_lo and first: the bytes are blocks first, first + 1, ... of AES_key(T0 + i), the last one's unused
 * bytes dropped. Seeded (1): s, the xoshiro256** state at the first word: the bytes are its next
 * ceil(n / 8) words, little-endian, the last one's unused bytes dropped; rng itself has moved past them.
 * FF_EIO when keying from the OS fails. */
typedef struct {
  int seeded;
  const ff_aes128_key *key;
  uint64_t t0_hi, t0_lo, first;
  uint64_t s[4];
} ff__rng_claim;
ff_status ff__rng_claim_bytes(ff_rng *rng, size_t n, ff__rng_claim *out);
/* Internal: the n bytes of a claim, made on the host (one thread): the reference of the device's. */
void ff__rng_claim_make(const ff__rng_claim *c, void *out, size_t n);
/* Internal: xoshiro256**'s jump-ahead table, T^(2^i) for i < 64 by columns (column j: the image of the
 * state whose only set bit is bit j % 64 of word j / 64), made once per process; NULL if it could not be
 * allocated. */
const uint64_t (*ff__rng_xo_powers(void))[256][4];
/* Internal, for tests: AES-128-CTR with the given key and initial counter block (SP 800-38A known
 * answers), otherwise as ff_rng_init_os. */
void ff__rng_init_ctr(ff_rng *rng, const uint8_t key[16], const uint8_t t0[16]);

#ifdef __cplusplus
}
#endif

#endif
