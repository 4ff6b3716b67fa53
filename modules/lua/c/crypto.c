/* The hash functions behind `require('.crypto')` (os/crypto.lua), as the Lua C module
 * `.crypto.native`. They are written in C because a digest in Lua costs a table and a closure
 * per byte (aos's pure-Lua versions take seconds for a megabyte); here a digest is one pass over
 * the string. Every function takes and returns Lua strings of raw bytes; the aos API shapes
 * (streams, byte arrays, hex) are made in Lua on top.
 *
 *   md5(s) sha1(s) sha256(s) sha512(s)        -> digest
 *   keccak(s, rate, outlen, pad)              -> Keccak-f[1600] sponge (pad 0x06: SHA-3, 0x01: Keccak)
 *   blake2b(s, outlen, key)                   -> BLAKE2b (RFC 7693), 1 <= outlen <= 64, #key <= 64
 *   hmac(alg, key, msg)                       -> HMAC (RFC 2104) over md5/sha1/sha256/sha512
 *   pbkdf2(alg, password, salt, iter, dklen)  -> PBKDF2 (RFC 8018) with HMAC-alg
 *
 * Each is checked against published test vectors in modules/lua/tests/crypto.rs. */
#include <stdint.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

/* ---- incremental hashes with one interface, so HMAC and PBKDF2 take any of them */

/* The state of any one of the Merkle-Damgard hashes below. */
struct md_ctx {
  union {
    uint32_t w32[8];
    uint64_t w64[8];
  } h;
  uint64_t len;           /* bytes absorbed so far */
  unsigned char buf[128]; /* the block being filled */
  size_t fill;
};

/* One hash: its block and digest sizes and its three steps. */
struct hash_alg {
  const char *name;
  size_t block, out;
  void (*init)(struct md_ctx *);
  void (*compress)(struct md_ctx *, const unsigned char *);
  void (*final)(struct md_ctx *, unsigned char *);
};

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }
static uint32_t ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
static uint64_t ror64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }
static uint64_t rol64(uint64_t x, int n) { return n == 0 ? x : (x << n) | (x >> (64 - n)); }

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p + 4) << 32 | le32(p); }
static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static void put_le32(unsigned char *p, uint32_t v) {
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static void put_be64(unsigned char *p, uint64_t v) { put_be32(p, v >> 32); put_be32(p + 4, (uint32_t)v); }
static void put_le64(unsigned char *p, uint64_t v) { put_le32(p, (uint32_t)v); put_le32(p + 4, v >> 32); }

static void md_update(const struct hash_alg *a, struct md_ctx *c, const unsigned char *p, size_t n) {
  c->len += n;
  while (n > 0) {
    size_t take = a->block - c->fill;
    if (take > n) take = n;
    memcpy(c->buf + c->fill, p, take);
    c->fill += take;
    p += take;
    n -= take;
    if (c->fill == a->block) {
      a->compress(c, c->buf);
      c->fill = 0;
    }
  }
}

/* The padding all four share: 0x80, zeros, then the bit length in `lenbytes` bytes, big- or
 * little-endian (MD5). */
static void md_pad(const struct hash_alg *a, struct md_ctx *c, size_t lenbytes, int little) {
  uint64_t bits = c->len * 8;
  unsigned char pad[128 + 16];
  size_t n = a->block - ((c->len + lenbytes) % a->block);
  memset(pad, 0, sizeof pad);
  pad[0] = 0x80;
  /* n counts the 0x80 byte and the zeros; the length goes after them */
  if (little) {
    put_le64(pad + n, bits);
  } else {
    put_be64(pad + n + lenbytes - 8, bits);
  }
  {
    uint64_t keep = c->len;
    md_update(a, c, pad, n + lenbytes);
    c->len = keep;
  }
}

/* MD5 (RFC 1321) */
static const uint32_t MD5_K[64] = {
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const int MD5_S[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                              5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                              4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                              6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_init(struct md_ctx *c) {
  static const uint32_t iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  memset(c, 0, sizeof *c);
  memcpy(c->h.w32, iv, sizeof iv);
}
static void md5_compress(struct md_ctx *c, const unsigned char *p) {
  uint32_t m[16], a = c->h.w32[0], b = c->h.w32[1], cc = c->h.w32[2], d = c->h.w32[3];
  for (int i = 0; i < 16; i++) m[i] = le32(p + 4 * i);
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) { f = (b & cc) | (~b & d); g = i; }
    else if (i < 32) { f = (d & b) | (~d & cc); g = (5 * i + 1) % 16; }
    else if (i < 48) { f = b ^ cc ^ d; g = (3 * i + 5) % 16; }
    else { f = cc ^ (b | ~d); g = (7 * i) % 16; }
    f = f + a + MD5_K[i] + m[g];
    a = d; d = cc; cc = b;
    b = b + rol32(f, MD5_S[i]);
  }
  c->h.w32[0] += a; c->h.w32[1] += b; c->h.w32[2] += cc; c->h.w32[3] += d;
}

/* SHA-1 (FIPS 180-4) */
static void sha1_init(struct md_ctx *c) {
  static const uint32_t iv[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  memset(c, 0, sizeof *c);
  memcpy(c->h.w32, iv, sizeof iv);
}
static void sha1_compress(struct md_ctx *c, const unsigned char *p) {
  uint32_t w[80], a = c->h.w32[0], b = c->h.w32[1], cc = c->h.w32[2], d = c->h.w32[3], e = c->h.w32[4];
  for (int i = 0; i < 16; i++) w[i] = be32(p + 4 * i);
  for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) { f = (b & cc) | (~b & d); k = 0x5A827999; }
    else if (i < 40) { f = b ^ cc ^ d; k = 0x6ED9EBA1; }
    else if (i < 60) { f = (b & cc) | (b & d) | (cc & d); k = 0x8F1BBCDC; }
    else { f = b ^ cc ^ d; k = 0xCA62C1D6; }
    uint32_t t = rol32(a, 5) + f + e + k + w[i];
    e = d; d = cc; cc = rol32(b, 30); b = a; a = t;
  }
  c->h.w32[0] += a; c->h.w32[1] += b; c->h.w32[2] += cc; c->h.w32[3] += d; c->h.w32[4] += e;
}

/* SHA-256 (FIPS 180-4) */
static const uint32_t SHA256_K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
static void sha256_init(struct md_ctx *c) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memset(c, 0, sizeof *c);
  memcpy(c->h.w32, iv, sizeof iv);
}
static void sha256_compress(struct md_ctx *c, const unsigned char *p) {
  uint32_t w[64], s[8];
  for (int i = 0; i < 16; i++) w[i] = be32(p + 4 * i);
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  memcpy(s, c->h.w32, sizeof s);
  for (int i = 0; i < 64; i++) {
    uint32_t S1 = ror32(s[4], 6) ^ ror32(s[4], 11) ^ ror32(s[4], 25);
    uint32_t ch = (s[4] & s[5]) ^ (~s[4] & s[6]);
    uint32_t t1 = s[7] + S1 + ch + SHA256_K[i] + w[i];
    uint32_t S0 = ror32(s[0], 2) ^ ror32(s[0], 13) ^ ror32(s[0], 22);
    uint32_t maj = (s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]);
    uint32_t t2 = S0 + maj;
    s[7] = s[6]; s[6] = s[5]; s[5] = s[4]; s[4] = s[3] + t1;
    s[3] = s[2]; s[2] = s[1]; s[1] = s[0]; s[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++) c->h.w32[i] += s[i];
}

/* SHA-512 (FIPS 180-4) */
static const uint64_t SHA512_K[80] = {
  0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
  0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
  0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
  0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
  0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
  0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
  0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
  0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
  0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
  0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
  0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
  0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
  0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
  0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
  0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
  0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
  0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
  0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
  0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
  0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL};
static const uint64_t SHA512_IV[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
                                      0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
                                      0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};
static void sha512_init(struct md_ctx *c) {
  memset(c, 0, sizeof *c);
  memcpy(c->h.w64, SHA512_IV, sizeof SHA512_IV);
}
static void sha512_compress(struct md_ctx *c, const unsigned char *p) {
  uint64_t w[80], s[8];
  for (int i = 0; i < 16; i++) w[i] = be64(p + 8 * i);
  for (int i = 16; i < 80; i++) {
    uint64_t s0 = ror64(w[i - 15], 1) ^ ror64(w[i - 15], 8) ^ (w[i - 15] >> 7);
    uint64_t s1 = ror64(w[i - 2], 19) ^ ror64(w[i - 2], 61) ^ (w[i - 2] >> 6);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  memcpy(s, c->h.w64, sizeof s);
  for (int i = 0; i < 80; i++) {
    uint64_t S1 = ror64(s[4], 14) ^ ror64(s[4], 18) ^ ror64(s[4], 41);
    uint64_t ch = (s[4] & s[5]) ^ (~s[4] & s[6]);
    uint64_t t1 = s[7] + S1 + ch + SHA512_K[i] + w[i];
    uint64_t S0 = ror64(s[0], 28) ^ ror64(s[0], 34) ^ ror64(s[0], 39);
    uint64_t maj = (s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]);
    uint64_t t2 = S0 + maj;
    s[7] = s[6]; s[6] = s[5]; s[5] = s[4]; s[4] = s[3] + t1;
    s[3] = s[2]; s[2] = s[1]; s[1] = s[0]; s[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++) c->h.w64[i] += s[i];
}

static void md5_final(struct md_ctx *c, unsigned char *out);
static void sha1_final(struct md_ctx *c, unsigned char *out);
static void sha256_final(struct md_ctx *c, unsigned char *out);
static void sha512_final(struct md_ctx *c, unsigned char *out);

static const struct hash_alg MD5 = {"md5", 64, 16, md5_init, md5_compress, md5_final};
static const struct hash_alg SHA1 = {"sha1", 64, 20, sha1_init, sha1_compress, sha1_final};
static const struct hash_alg SHA256 = {"sha256", 64, 32, sha256_init, sha256_compress, sha256_final};
static const struct hash_alg SHA512 = {"sha512", 128, 64, sha512_init, sha512_compress, sha512_final};

static void md5_final(struct md_ctx *c, unsigned char *out) {
  md_pad(&MD5, c, 8, 1);
  for (int i = 0; i < 4; i++) put_le32(out + 4 * i, c->h.w32[i]);
}
static void sha1_final(struct md_ctx *c, unsigned char *out) {
  md_pad(&SHA1, c, 8, 0);
  for (int i = 0; i < 5; i++) put_be32(out + 4 * i, c->h.w32[i]);
}
static void sha256_final(struct md_ctx *c, unsigned char *out) {
  md_pad(&SHA256, c, 8, 0);
  for (int i = 0; i < 8; i++) put_be32(out + 4 * i, c->h.w32[i]);
}
static void sha512_final(struct md_ctx *c, unsigned char *out) {
  /* 16 length bytes; the high 8 are always zero here (a Lua string is far below 2^61 bytes) */
  md_pad(&SHA512, c, 16, 0);
  for (int i = 0; i < 8; i++) put_be64(out + 8 * i, c->h.w64[i]);
}

/* The algorithms by the names HMAC and PBKDF2 take. */
static const struct hash_alg *const ALGS[] = {&MD5, &SHA1, &SHA256, &SHA512};

static const struct hash_alg *check_alg(lua_State *L, int arg) {
  const char *name = luaL_checkstring(L, arg);
  for (size_t i = 0; i < sizeof ALGS / sizeof ALGS[0]; i++) {
    if (strcmp(ALGS[i]->name, name) == 0) return ALGS[i];
  }
  luaL_argerror(L, arg, lua_pushfstring(L, "unsupported algorithm: %s", name));
  return NULL;
}

static void digest(const struct hash_alg *a, const unsigned char *p, size_t n, unsigned char *out) {
  struct md_ctx c;
  a->init(&c);
  md_update(a, &c, p, n);
  a->final(&c, out);
}

static int push_digest(lua_State *L, const struct hash_alg *a) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char out[64];
  digest(a, (const unsigned char *)s, n, out);
  lua_pushlstring(L, (const char *)out, a->out);
  return 1;
}
static int l_md5(lua_State *L) { return push_digest(L, &MD5); }
static int l_sha1(lua_State *L) { return push_digest(L, &SHA1); }
static int l_sha256(lua_State *L) { return push_digest(L, &SHA256); }
static int l_sha512(lua_State *L) { return push_digest(L, &SHA512); }

/* ---- HMAC and PBKDF2 */

/* HMAC's two keyed states, made once per key so PBKDF2's iterations only hash the message. */
struct hmac_key {
  const struct hash_alg *a;
  struct md_ctx inner, outer;
};

static void hmac_setup(struct hmac_key *k, const struct hash_alg *a, const unsigned char *key, size_t n) {
  unsigned char block[128], hashed[64];
  unsigned char pad[128];
  k->a = a;
  if (n > a->block) {
    digest(a, key, n, hashed);
    key = hashed;
    n = a->out;
  }
  memset(block, 0, sizeof block);
  memcpy(block, key, n);
  for (size_t i = 0; i < a->block; i++) pad[i] = block[i] ^ 0x36;
  a->init(&k->inner);
  md_update(a, &k->inner, pad, a->block);
  for (size_t i = 0; i < a->block; i++) pad[i] = block[i] ^ 0x5c;
  a->init(&k->outer);
  md_update(a, &k->outer, pad, a->block);
}

/* HMAC of the concatenation of two parts (PBKDF2's salt and block index) into out. */
static void hmac2(const struct hmac_key *k, const unsigned char *p, size_t n, const unsigned char *q, size_t m,
                  unsigned char *out) {
  struct md_ctx c = k->inner;
  unsigned char inner[64];
  md_update(k->a, &c, p, n);
  if (m) md_update(k->a, &c, q, m);
  k->a->final(&c, inner);
  c = k->outer;
  md_update(k->a, &c, inner, k->a->out);
  k->a->final(&c, out);
}

static int l_hmac(lua_State *L) {
  const struct hash_alg *a = check_alg(L, 1);
  size_t kn, mn;
  const char *key = luaL_checklstring(L, 2, &kn);
  const char *msg = luaL_checklstring(L, 3, &mn);
  struct hmac_key k;
  unsigned char out[64];
  hmac_setup(&k, a, (const unsigned char *)key, kn);
  hmac2(&k, (const unsigned char *)msg, mn, NULL, 0, out);
  lua_pushlstring(L, (const char *)out, a->out);
  return 1;
}

static int l_pbkdf2(lua_State *L) {
  const struct hash_alg *a = check_alg(L, 1);
  size_t pn, sn;
  const char *pw = luaL_checklstring(L, 2, &pn);
  const char *salt = luaL_checklstring(L, 3, &sn);
  lua_Integer iter = luaL_checkinteger(L, 4);
  lua_Integer dklen = luaL_checkinteger(L, 5);
  luaL_argcheck(L, iter >= 1, 4, "iterations must be at least 1");
  luaL_argcheck(L, dklen >= 0 && dklen <= (lua_Integer)1 << 30, 5, "key length out of range");
  struct hmac_key k;
  hmac_setup(&k, a, (const unsigned char *)pw, pn);
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)dklen);
  size_t done = 0;
  for (uint32_t block = 1; done < (size_t)dklen; block++) {
    unsigned char idx[4], u[64], t[64];
    put_be32(idx, block);
    hmac2(&k, (const unsigned char *)salt, sn, idx, 4, u);
    memcpy(t, u, a->out);
    for (lua_Integer i = 1; i < iter; i++) {
      hmac2(&k, u, a->out, NULL, 0, u);
      for (size_t j = 0; j < a->out; j++) t[j] ^= u[j];
    }
    size_t take = (size_t)dklen - done < a->out ? (size_t)dklen - done : a->out;
    memcpy(out + done, t, take);
    done += take;
  }
  luaL_pushresultsize(&b, (size_t)dklen);
  return 1;
}

/* ---- Keccak (FIPS 202) */

static const uint64_t KECCAK_RC[24] = {
  0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
  0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
  0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
  0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
  0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
  0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
/* rotation of lane x + 5y */
static const int KECCAK_ROT[25] = {0,  1,  62, 28, 27, 36, 44, 6,  55, 20, 3,  10, 43,
                                   25, 39, 41, 45, 15, 21, 8,  18, 2,  61, 56, 14};

static void keccak_f(uint64_t st[25]) {
  for (int r = 0; r < 24; r++) {
    uint64_t c[5], b[25];
    for (int x = 0; x < 5; x++) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
    for (int x = 0; x < 5; x++) {
      uint64_t d = c[(x + 4) % 5] ^ rol64(c[(x + 1) % 5], 1);
      for (int y = 0; y < 25; y += 5) st[y + x] ^= d;
    }
    /* rho and pi: lane (x, y) goes to (y, 2x + 3y) */
    for (int x = 0; x < 5; x++)
      for (int y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rol64(st[x + 5 * y], KECCAK_ROT[x + 5 * y]);
    for (int y = 0; y < 25; y += 5)
      for (int x = 0; x < 5; x++) st[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);
    st[0] ^= KECCAK_RC[r];
  }
}

static int l_keccak(lua_State *L) {
  size_t n;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &n);
  lua_Integer rate = luaL_checkinteger(L, 2);
  lua_Integer outlen = luaL_checkinteger(L, 3);
  lua_Integer pad = luaL_checkinteger(L, 4);
  luaL_argcheck(L, rate > 0 && rate < 200 && rate % 8 == 0, 2, "rate must be a multiple of 8 below 200");
  luaL_argcheck(L, outlen > 0 && outlen <= rate, 3, "output length out of range");
  uint64_t st[25];
  unsigned char block[200];
  memset(st, 0, sizeof st);
  for (;;) {
    size_t take = n < (size_t)rate ? n : (size_t)rate;
    int last = take < (size_t)rate;
    memset(block, 0, sizeof block);
    memcpy(block, p, take);
    if (last) {
      block[take] ^= (unsigned char)pad;
      block[rate - 1] ^= 0x80;
    }
    for (int i = 0; i < rate / 8; i++) st[i] ^= le64(block + 8 * i);
    keccak_f(st);
    p += take;
    n -= take;
    if (last) break;
  }
  unsigned char out[200];
  for (int i = 0; i < 25; i++) put_le64(out + 8 * i, st[i]);
  lua_pushlstring(L, (const char *)out, (size_t)outlen);
  return 1;
}

/* ---- BLAKE2b (RFC 7693) */

static const uint8_t BLAKE2B_SIGMA[12][16] = {
  {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
  {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
  {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
  {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
  {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
  {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

static void blake2b_g(uint64_t *v, int a, int b, int c, int d, uint64_t x, uint64_t y) {
  v[a] = v[a] + v[b] + x; v[d] = ror64(v[d] ^ v[a], 32);
  v[c] = v[c] + v[d];     v[b] = ror64(v[b] ^ v[c], 24);
  v[a] = v[a] + v[b] + y; v[d] = ror64(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];     v[b] = ror64(v[b] ^ v[c], 63);
}

static void blake2b_compress(uint64_t h[8], const unsigned char *block, uint64_t t, int last) {
  uint64_t v[16], m[16];
  for (int i = 0; i < 16; i++) m[i] = le64(block + 8 * i);
  for (int i = 0; i < 8; i++) { v[i] = h[i]; v[i + 8] = SHA512_IV[i]; }
  v[12] ^= t;
  if (last) v[14] = ~v[14];
  for (int r = 0; r < 12; r++) {
    const uint8_t *s = BLAKE2B_SIGMA[r];
    blake2b_g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    blake2b_g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    blake2b_g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    blake2b_g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    blake2b_g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    blake2b_g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    blake2b_g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    blake2b_g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
  for (int i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
}

static int l_blake2b(lua_State *L) {
  size_t n, kn;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &n);
  lua_Integer outlen = luaL_checkinteger(L, 2);
  const char *key = luaL_checklstring(L, 3, &kn);
  luaL_argcheck(L, outlen >= 1 && outlen <= 64, 2, "output length must be 1 to 64");
  luaL_argcheck(L, kn <= 64, 3, "key longer than 64 bytes");
  uint64_t h[8];
  unsigned char block[128];
  uint64_t t = 0;
  memcpy(h, SHA512_IV, sizeof h);
  h[0] ^= 0x01010000ULL ^ ((uint64_t)kn << 8) ^ (uint64_t)outlen;
  if (kn > 0) {
    memset(block, 0, sizeof block);
    memcpy(block, key, kn);
    t = 128;
    blake2b_compress(h, block, t, n == 0);
    if (n == 0) goto done;
  }
  /* every full block but the last is compressed as not last */
  while (n > 128) {
    t += 128;
    blake2b_compress(h, p, t, 0);
    p += 128;
    n -= 128;
  }
  memset(block, 0, sizeof block);
  memcpy(block, p, n);
  t += n;
  blake2b_compress(h, block, t, 1);
done:;
  unsigned char out[64];
  for (int i = 0; i < 8; i++) put_le64(out + 8 * i, h[i]);
  lua_pushlstring(L, (const char *)out, (size_t)outlen);
  return 1;
}

static const luaL_Reg FUNCS[] = {
  {"md5", l_md5},       {"sha1", l_sha1},     {"sha256", l_sha256}, {"sha512", l_sha512}, {"keccak", l_keccak},
  {"blake2b", l_blake2b}, {"hmac", l_hmac},   {"pbkdf2", l_pbkdf2}, {NULL, NULL}};

/* `require('.crypto.native')` (registered in package.preload by build-wasm.sh's bundle). */
int luaopen_crypto_native(lua_State *L) {
  luaL_newlib(L, FUNCS);
  return 1;
}
