// Incremental UTF-8 validation (RFC 3629 §4; the Unicode Standard's Table 3-7 "Well-Formed UTF-8
// Byte Sequences"). The only place the rules live is the lead-byte table below: each first byte
// fixes the sequence length and the allowed range of the *second* byte; later continuation bytes
// are always 80..BF. Narrowing the second byte is what rejects, at the earliest possible byte,
//   E0 80..9F (overlong 3-byte)   ED A0..BF (UTF-16 surrogates)
//   F0 80..8F (overlong 4-byte)   F4 90..BF (above U+10FFFF)
// and C0, C1, F5..FF (overlong 2-byte or out of range) can never start a sequence.
//
// Five speeds, all enforcing the same rules:
//  - validate_avx2: 32 bytes per step, any mix of lengths, for pieces of 64+ bytes when the CPU
//    has AVX2 (checked once at run time); it stops at a code point boundary;
//  - validate_ssse3: the same algorithm 16 bytes per step, for pieces of 32+ bytes on CPUs with
//    SSSE3 but not AVX2 (the same nibble tables, so the rules still live in one place);
//  - skip_ascii: 16 bytes per step (SSE2 movemask; 8-byte words elsewhere);
//  - validate_bulk: one whole code point per step with a 4-byte load and branch-free checks,
//    used while at least 4 bytes remain;
//  - Utf8Validator::step: one byte at a time, keeping state across feed() calls. It handles the
//    sequence left open by the previous piece and the last < 4 bytes of each piece.
// The vector and bulk paths only ever stop on a code point boundary, so their results and the state
// machine's compose exactly: fail-fast holds per feed() call, whatever the split.

#include "proto/utf8.hpp"

#include <atomic>

#include <array>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WSGATE_UTF8_SIMD 1  // AVX2 and SSSE3 block validators, chosen at run time
#endif

namespace wsgate::proto {
namespace {

// Pieces shorter than these skip the block validators: the scalar loop is as fast on a few bytes.
[[maybe_unused]] constexpr std::ptrdiff_t kAvx2Min = 64;
[[maybe_unused]] constexpr std::ptrdiff_t kSsse3Min = 32;

struct Lead {
  std::uint8_t len;  // 0: never a first byte; 1: ASCII; 2-4: sequence length
  std::uint8_t lo;   // allowed range of the second byte
  std::uint8_t hi;
  std::uint32_t cont_mask;  // bytes 2..len-1 of a little-endian 32-bit load (each 0xC0)
};

constexpr Lead make_lead(unsigned b) {
  if (b < 0x80) return {1, 0x00, 0xFF, 0};
  if (b < 0xC2) return {0, 0, 0, 0};  // continuation byte, or C0/C1 (always overlong)
  if (b < 0xE0) return {2, 0x80, 0xBF, 0};
  if (b < 0xF0) {
    const std::uint8_t lo = b == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
    const std::uint8_t hi = b == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be a surrogate
    return {3, lo, hi, 0x00C00000u};
  }
  if (b < 0xF5) {
    const std::uint8_t lo = b == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
    const std::uint8_t hi = b == 0xF4 ? 0x8F : 0xBF;  // F4 90.. would exceed U+10FFFF
    return {4, lo, hi, 0xC0C00000u};
  }
  return {0, 0, 0, 0};  // F5..FF: beyond U+10FFFF or not UTF-8 at all
}

constexpr std::array<Lead, 256> kLeads = [] {
  std::array<Lead, 256> t{};
  for (unsigned b = 0; b < 256; ++b) t[b] = make_lead(b);
  return t;
}();

// Returns the first byte in [p, end) that is not ASCII, or end.
const std::uint8_t* skip_ascii(const std::uint8_t* p, const std::uint8_t* end) noexcept {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const auto high_bits = static_cast<unsigned>(_mm_movemask_epi8(v));
    if (high_bits != 0) return p + std::countr_zero(high_bits);
    p += 16;
  }
#endif
  while (end - p >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if ((w & 0x8080808080808080ull) != 0) break;  // the bytewise loop below finds which one
    p += 8;
  }
  while (p != end && *p < 0x80) ++p;
  return p;
}

// The four bytes at p as a little-endian integer, whatever the host's byte order (GCC and Clang
// turn this into one load on little-endian machines).
std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// Validates whole code points while at least 4 bytes remain. Returns false if the input is
// invalid; otherwise advances `p` to where it stopped, a code point boundary with fewer than 4
// bytes left. (No nullptr sentinel: an empty piece may have a null data().) Non-ASCII code
// points are checked without branching on their length, so mixed scripts do not cost a
// mispredicted branch per character.
bool validate_bulk(const std::uint8_t*& p, const std::uint8_t* end) noexcept {
  while (end - p >= 4) {
    if (*p < 0x80) {
      p = skip_ascii(p, end);
      continue;
    }
    const std::uint32_t w = load_le32(p);
    const Lead& lead = kLeads[w & 0xFF];
    const std::uint32_t second = (w >> 8) & 0xFF;
    const bool bad = (lead.len == 0) | (second < lead.lo) | (second > lead.hi) |
                     (((w ^ 0x80808080u) & lead.cont_mask) != 0);
    if (bad) return false;
    p += lead.len;
  }
  return true;
}

#if defined(WSGATE_UTF8_SIMD)
// Block validation with AVX2 or SSSE3, after Keiser & Lemire, "Validating UTF-8 In Less Than
// One Instruction Per Byte" (2021): each byte is judged with the byte before it by three nibble
// lookups (high and low nibble of the previous byte, high nibble of this one) whose AND is a
// set of error bits; the bit tables below are derived from the same Table 3-7 rules as kLeads.
// Scalar code is bound by a load -> table -> length chain per code point (~0.6 GB/s on text
// mixing 1- to 4-byte sequences); this runs at many GB/s whatever the mix.
namespace nibble {
constexpr std::uint8_t kTooShort = 1 << 0;   // lead, then not a continuation
constexpr std::uint8_t kTooLong = 1 << 1;    // ASCII, then a continuation
constexpr std::uint8_t kOverlong3 = 1 << 2;  // E0 80..9F
constexpr std::uint8_t kTooLarge = 1 << 3;   // F4 90..BF, F5..FF 90..BF
constexpr std::uint8_t kSurrogate = 1 << 4;  // ED A0..BF
constexpr std::uint8_t kOverlong2 = 1 << 5;  // C0 or C1, then a continuation
constexpr std::uint8_t kOverlong4 = 1 << 6;  // F0 80..8F, and F5..FF 80..8F (shares the bit)
constexpr std::uint8_t kTwoConts = 1 << 7;   // continuation, continuation: legal only as the
                                             // 2nd/3rd continuation (checked separately)
constexpr std::uint8_t kAnyLow = kTooShort | kTooLong | kTwoConts;
constexpr std::uint8_t kContHigh = kTooLong | kOverlong2 | kTwoConts;

// The three lookups, each indexed by one nibble; both block validators load these 16 bytes
// (AVX2 into both 128-bit lanes, since vpshufb looks up within a lane). By the high nibble of
// the previous byte:
alignas(16) constexpr std::array<std::uint8_t, 16> kByPrevHigh = [] {
  std::array<std::uint8_t, 16> t{};
  for (std::size_t i = 0x0; i <= 0x7; ++i) t[i] = kTooLong;   // ASCII
  for (std::size_t i = 0x8; i <= 0xB; ++i) t[i] = kTwoConts;  // continuation
  t[0xC] = kTooShort | kOverlong2;                            // C0..CF
  t[0xD] = kTooShort;                                         // D0..DF
  t[0xE] = kTooShort | kOverlong3 | kSurrogate;               // E0..EF
  t[0xF] = kTooShort | kTooLarge | kOverlong4;                // F0..FF
  return t;
}();

// By the low nibble of the previous byte (which lead exactly: C0, C1, E0, ED, F0, F4, F5+):
alignas(16) constexpr std::array<std::uint8_t, 16> kByPrevLow = [] {
  std::array<std::uint8_t, 16> t{};
  t.fill(kAnyLow | kTooLarge | kOverlong4);                 // F5..FF
  t[0x0] = kAnyLow | kOverlong3 | kOverlong2 | kOverlong4;  // C0, E0, F0
  t[0x1] = kAnyLow | kOverlong2;                            // C1
  t[0x2] = kAnyLow;
  t[0x3] = kAnyLow;
  t[0x4] = kAnyLow | kTooLarge;  // F4
  t[0xD] |= kSurrogate;          // ED
  return t;
}();

// By the high nibble of this byte:
alignas(16) constexpr std::array<std::uint8_t, 16> kByHigh = [] {
  std::array<std::uint8_t, 16> t{};
  t.fill(kTooShort);                             // not a continuation
  t[0x8] = kContHigh | kOverlong3 | kOverlong4;  // 80..8F
  t[0x9] = kContHigh | kOverlong3 | kTooLarge;   // 90..9F
  t[0xA] = kContHigh | kSurrogate | kTooLarge;   // A0..AF
  t[0xB] = kContHigh | kSurrogate | kTooLarge;   // B0..BF
  return t;
}();

// Saturating byte - kFromE0 is >= 0x80 exactly for E0..FF (a lead of 3+ bytes, so the byte two
// after it must be a continuation); likewise kFromF0 for F0..FF, three bytes on.
constexpr char kFromE0 = 0xE0 - 0x80;
constexpr char kFromF0 = 0xF0 - 0x80;

// Largest byte at each position of a block's end that leaves no sequence open: a lead in the
// last byte (C0+), the last two (E0+) or the last three (F0+) needs bytes from the next block.
// AVX2 uses all 32 bytes, SSSE3 the last 16.
alignas(16) constexpr std::array<std::uint8_t, 32> kOpenMax = [] {
  std::array<std::uint8_t, 32> t{};
  t.fill(0xFF);
  t[29] = 0xEF;
  t[30] = 0xDF;
  t[31] = 0xBF;
  return t;
}();
}  // namespace nibble

__m128i load16(const std::uint8_t* p) noexcept {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// After the blocks (from `start`, all valid), p is just past the last one. A sequence whose lead
// is among its final three bytes may be unfinished: move p back to that lead, for the scalar code
// (a finished one is merely checked twice).
void back_to_open_lead(const std::uint8_t*& p, const std::uint8_t* start) noexcept {
  for (const std::uint8_t* q = p; q != start && p - q < 3;) {
    if (*--q >= 0xC0) {
      p = q;
      return;
    }
  }
}

// Error bits for each byte of `in`, given the 32 bytes before it in `prev`.
__attribute__((target("avx2"))) __m256i block_errors(__m256i in, __m256i prev) noexcept {
  using namespace nibble;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i carried = _mm256_permute2x128_si256(prev, in, 0x21);  // prev.hi, in.lo
  const __m256i prev1 = _mm256_alignr_epi8(in, carried, 15);
  const __m256i prev2 = _mm256_alignr_epi8(in, carried, 14);
  const __m256i prev3 = _mm256_alignr_epi8(in, carried, 13);
  const __m256i by_prev_high = _mm256_broadcastsi128_si256(load16(kByPrevHigh.data()));
  const __m256i by_prev_low = _mm256_broadcastsi128_si256(load16(kByPrevLow.data()));
  const __m256i by_high = _mm256_broadcastsi128_si256(load16(kByHigh.data()));
  const __m256i prev1_high = _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low4);
  const __m256i in_high = _mm256_and_si256(_mm256_srli_epi16(in, 4), low4);
  const __m256i special = _mm256_and_si256(
      _mm256_and_si256(_mm256_shuffle_epi8(by_prev_high, prev1_high),
                       _mm256_shuffle_epi8(by_prev_low, _mm256_and_si256(prev1, low4))),
      _mm256_shuffle_epi8(by_high, in_high));
  // Bit 7 where this byte must be the 2nd or 3rd continuation (E0.. two back, F0.. three back).
  const __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8(kFromE0));
  const __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8(kFromF0));
  const __m256i must23 =
      _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8(static_cast<char>(0x80)));
  return _mm256_xor_si256(must23, special);
}

// Validates whole 32-byte blocks from p (a code point boundary). Sequences still open at the
// end of the last block are not errors here: on success `p` is moved back to the start of the
// last one (a lead byte among the final three), for the scalar code to finish.
__attribute__((target("avx2"))) bool validate_avx2(const std::uint8_t*& p,
                                                   const std::uint8_t* end) noexcept {
  const std::uint8_t* const start = p;
  __m256i prev = _mm256_setzero_si256();
  __m256i errors = _mm256_setzero_si256();
  // The last block's final bytes may open a sequence; a following ASCII block must not.
  const __m256i open_max =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(nibble::kOpenMax.data()));
  __m256i prev_open = _mm256_setzero_si256();
  for (; end - p >= 32; p += 32) {
    const __m256i in = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    if (_mm256_movemask_epi8(in) == 0) {
      errors = _mm256_or_si256(errors, prev_open);
      prev_open = _mm256_setzero_si256();
      prev = in;
      continue;
    }
    errors = _mm256_or_si256(errors, block_errors(in, prev));
    prev_open = _mm256_subs_epu8(in, open_max);
    prev = in;
  }
  if (!_mm256_testz_si256(errors, errors)) return false;
  back_to_open_lead(p, start);
  return true;
}

// block_errors for 16 bytes: the same lookups with pshufb, and palignr to see the last bytes of
// the previous block (no lane crossing to undo here).
__attribute__((target("ssse3"))) __m128i block_errors(__m128i in, __m128i prev) noexcept {
  using namespace nibble;
  const __m128i low4 = _mm_set1_epi8(0x0F);
  const __m128i prev1 = _mm_alignr_epi8(in, prev, 15);
  const __m128i prev2 = _mm_alignr_epi8(in, prev, 14);
  const __m128i prev3 = _mm_alignr_epi8(in, prev, 13);
  const __m128i prev1_high = _mm_and_si128(_mm_srli_epi16(prev1, 4), low4);
  const __m128i in_high = _mm_and_si128(_mm_srli_epi16(in, 4), low4);
  const __m128i special = _mm_and_si128(
      _mm_and_si128(_mm_shuffle_epi8(load16(kByPrevHigh.data()), prev1_high),
                    _mm_shuffle_epi8(load16(kByPrevLow.data()), _mm_and_si128(prev1, low4))),
      _mm_shuffle_epi8(load16(kByHigh.data()), in_high));
  const __m128i third = _mm_subs_epu8(prev2, _mm_set1_epi8(kFromE0));
  const __m128i fourth = _mm_subs_epu8(prev3, _mm_set1_epi8(kFromF0));
  const __m128i must23 =
      _mm_and_si128(_mm_or_si128(third, fourth), _mm_set1_epi8(static_cast<char>(0x80)));
  return _mm_xor_si128(must23, special);
}

// validate_avx2 for CPUs without AVX2: whole 16-byte blocks, the same contract.
__attribute__((target("ssse3"))) bool validate_ssse3(const std::uint8_t*& p,
                                                     const std::uint8_t* end) noexcept {
  const std::uint8_t* const start = p;
  const __m128i zero = _mm_setzero_si128();
  const __m128i open_max = load16(nibble::kOpenMax.data() + 16);
  __m128i prev = zero;
  __m128i errors = zero;
  __m128i prev_open = zero;
  for (; end - p >= 16; p += 16) {
    const __m128i in = load16(p);
    if (_mm_movemask_epi8(in) == 0) {
      errors = _mm_or_si128(errors, prev_open);
      prev_open = zero;
      prev = in;
      continue;
    }
    errors = _mm_or_si128(errors, block_errors(in, prev));
    prev_open = _mm_subs_epu8(in, open_max);
    prev = in;
  }
  // No ptest before SSE4.1: all 16 bytes compare equal to zero, or there was an error.
  if (_mm_movemask_epi8(_mm_cmpeq_epi8(errors, zero)) != 0xFFFF) return false;
  back_to_open_lead(p, start);
  return true;
}

enum class Block { avx2, ssse3, none };

Block best_block() noexcept {
  if (__builtin_cpu_supports("avx2")) return Block::avx2;
  if (__builtin_cpu_supports("ssse3")) return Block::ssse3;
  return Block::none;
}
#endif

std::atomic<detail::Utf8Path> g_forced{detail::Utf8Path::best};  // detail::utf8_force_path

// Runs the block validator the CPU (and the test hook) allows over most of [p, end). Same
// contract as validate_avx2; with none, or on a short piece, it leaves p where it was.
bool validate_blocks([[maybe_unused]] const std::uint8_t*& p,
                     [[maybe_unused]] const std::uint8_t* end) noexcept {
#if defined(WSGATE_UTF8_SIMD)
  static const Block cpu = best_block();
  Block use = cpu;
  switch (g_forced.load(std::memory_order_relaxed)) {
    case detail::Utf8Path::best: break;
    case detail::Utf8Path::ssse3:
      if (use == Block::avx2) use = Block::ssse3;  // every AVX2 CPU has SSSE3
      break;
    case detail::Utf8Path::portable: use = Block::none; break;
  }
  switch (use) {
    case Block::avx2: return end - p < kAvx2Min || validate_avx2(p, end);
    case Block::ssse3: return end - p < kSsse3Min || validate_ssse3(p, end);
    case Block::none: break;
  }
#endif
  return true;
}

}  // namespace

bool Utf8Validator::fail() noexcept {
  failed_ = true;
  return false;
}

bool Utf8Validator::step(std::uint8_t byte) noexcept {
  if (need_ == 0) {
    if (byte < 0x80) return true;
    const Lead& lead = kLeads[byte];
    if (lead.len == 0) return false;
    need_ = static_cast<std::uint8_t>(lead.len - 1);
    lo_ = lead.lo;
    hi_ = lead.hi;
    return true;
  }
  if (byte < lo_ || byte > hi_) return false;
  lo_ = 0x80;  // only the second byte of a sequence has a narrowed range
  hi_ = 0xBF;
  --need_;
  return true;
}

bool Utf8Validator::feed(ByteView bytes) noexcept {
  if (failed_) return false;
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const auto* const end = p + bytes.size();
  // Finish the sequence the previous piece left open, so the bulk path starts on a boundary.
  for (; need_ != 0 && p != end; ++p) {
    if (!step(*p)) return fail();
  }
  if (!validate_blocks(p, end)) return fail();
  if (!validate_bulk(p, end)) return fail();
  // At most 3 bytes are left; a sequence they open stays open for the next piece.
  for (; p != end; ++p) {
    if (!step(*p)) return fail();
  }
  return true;
}

void detail::utf8_force_path(Utf8Path path) noexcept {
  g_forced.store(path, std::memory_order_relaxed);
}

bool is_valid_utf8(ByteView bytes) noexcept {
  Utf8Validator v;
  return v.feed(bytes) && v.complete();
}

}  // namespace wsgate::proto
