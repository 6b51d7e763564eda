/* AES-128 (FIPS-197): the block cipher under the GGM-tree PRG of every DPF (gates/fss/prg.h) and the
 * counter-mode generator of the dealer's masks (core/rand.h). AES-NI on the CPU when it has it, a
 * portable byte-wise AES otherwise; the choice is made once per process. The CUDA table AES lives in
 * gates/fss (prg_cuda.cu). Test: tests/test_prg.c (FIPS-197 known answers, AES-NI against portable),
 * tests/test_core.c (SP 800-38A counter mode through the mask generator). */
#ifndef FF_CORE_AES_H
#define FF_CORE_AES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A 128-bit block. Memory layout = the 16 AES state bytes in order: byte i of the AES input is byte
 * i of the struct, so on a little-endian host `lo` holds bytes 0..7 and bit k of the block
 * (0 <= k < 128) is bit k of lo for k < 64, bit k-64 of hi otherwise. The DPF's control bit is bit
 * 0 (the LSB of lo) and its leaf x mod 128 is bit x mod 128. CUDA code uses the same layout. */
typedef struct {
  uint64_t lo, hi;
} ff_block;

/* An expanded AES-128 key: the 11 round keys, each in AES byte order (as ff_block above). */
typedef struct {
  ff_block rk[11];
} ff_aes128_key;

/* FIPS-197 key expansion. */
void ff_aes128_expand_key(const uint8_t key[16], ff_aes128_key *ks);
/* out[i] = AES-128_ks(in[i]) for i < n; in and out may be the same array. Thread-safe. */
void ff_aes128_encrypt_blocks(const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n);
/* 1 when the encryptions above use AES-NI, 0 when they use the portable code. */
int ff_aes128_have_aesni(void);

/* Internal, for the MMO PRG of gates/fss/prg.c: out[l] = AES_{keys[l]}(in[l]), XORed with in[l] when
 * mmo is nonzero, for the FF__AES128_LANES blocks l (each with its own key, all in flight at once on
 * AES-NI); in and out may be the same array. */
#define FF__AES128_LANES 8
void ff__aes128_lanes(const ff_aes128_key *const keys[FF__AES128_LANES], const ff_block *in, ff_block *out, int mmo);

/* Internal, for tests: the portable AES whatever the CPU supports, and a switch that makes every
 * call above use it (on = 1) or go back to the CPU's choice (on = 0). Not thread-safe. */
void ff__aes128_encrypt_blocks_portable(const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n);
void ff__aes128_force_portable(int on);

#ifdef __cplusplus
}
#endif

#endif
