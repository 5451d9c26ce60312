// Incremental UTF-8 validation (RFC 3629 §4; the Unicode Standard's Table 3-7 "Well-Formed UTF-8
// Byte Sequences"). The only place the rules live is the lead-byte table below: each first byte
// fixes the sequence length and the allowed range of the *second* byte; later continuation bytes
// are always 80..BF. Narrowing the second byte is what rejects, at the earliest possible byte,
//   E0 80..9F (overlong 3-byte)   ED A0..BF (UTF-16 surrogates)
//   F0 80..8F (overlong 4-byte)   F4 90..BF (above U+10FFFF)
// and C0, C1, F5..FF (overlong 2-byte or out of range) can never start a sequence.
//
// Four speeds, all enforcing the same rules:
//  - validate_avx2: 32 bytes per step, any mix of lengths, for pieces of 64+ bytes when the CPU
//    has AVX2 (checked once at run time); it stops at a code point boundary;
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
#define WSGATE_UTF8_AVX2 1
#endif

namespace wsgate::proto {
namespace {

// Pieces shorter than this skip the vector path: the scalar loop is as fast on a few bytes.
[[maybe_unused]] constexpr std::ptrdiff_t kAvx2Min = 64;

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

#if defined(WSGATE_UTF8_AVX2)
// Block validation with AVX2, after Keiser & Lemire, "Validating UTF-8 In Less Than One
// Instruction Per Byte" (2021): each byte is judged with the byte before it by three nibble
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
}  // namespace nibble

__attribute__((target("avx2"))) __m256i table(std::uint8_t t0, std::uint8_t t1, std::uint8_t t2,
                                              std::uint8_t t3, std::uint8_t t4, std::uint8_t t5,
                                              std::uint8_t t6, std::uint8_t t7, std::uint8_t t8,
                                              std::uint8_t t9, std::uint8_t ta, std::uint8_t tb,
                                              std::uint8_t tc, std::uint8_t td, std::uint8_t te,
                                              std::uint8_t tf) noexcept {
  const auto c = [](std::uint8_t v) { return static_cast<char>(v); };
  return _mm256_setr_epi8(c(t0), c(t1), c(t2), c(t3), c(t4), c(t5), c(t6), c(t7), c(t8), c(t9),
                          c(ta), c(tb), c(tc), c(td), c(te), c(tf), c(t0), c(t1), c(t2), c(t3),
                          c(t4), c(t5), c(t6), c(t7), c(t8), c(t9), c(ta), c(tb), c(tc), c(td),
                          c(te), c(tf));
}

// Error bits for each byte of `in`, given the 32 bytes before it in `prev`.
__attribute__((target("avx2"))) __m256i block_errors(__m256i in, __m256i prev) noexcept {
  using namespace nibble;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i carried = _mm256_permute2x128_si256(prev, in, 0x21);  // prev.hi, in.lo
  const __m256i prev1 = _mm256_alignr_epi8(in, carried, 15);
  const __m256i prev2 = _mm256_alignr_epi8(in, carried, 14);
  const __m256i prev3 = _mm256_alignr_epi8(in, carried, 13);
  constexpr std::uint8_t kLong = kTooLong, kCont = kTwoConts;
  const __m256i by_prev_high =
      table(kLong, kLong, kLong, kLong, kLong, kLong, kLong, kLong, kCont, kCont, kCont, kCont,
            kTooShort | kOverlong2, kTooShort, kTooShort | kOverlong3 | kSurrogate,
            kTooShort | kTooLarge | kOverlong4);
  constexpr std::uint8_t kBig = kAnyLow | kTooLarge | kOverlong4;
  const __m256i by_prev_low =
      table(kAnyLow | kOverlong3 | kOverlong2 | kOverlong4, kAnyLow | kOverlong2, kAnyLow, kAnyLow,
            kAnyLow | kTooLarge, kBig, kBig, kBig, kBig, kBig, kBig, kBig, kBig, kBig | kSurrogate,
            kBig, kBig);
  const __m256i by_high =
      table(kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort,
            kContHigh | kOverlong3 | kOverlong4, kContHigh | kOverlong3 | kTooLarge,
            kContHigh | kSurrogate | kTooLarge, kContHigh | kSurrogate | kTooLarge, kTooShort,
            kTooShort, kTooShort, kTooShort);
  const __m256i prev1_high = _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low4);
  const __m256i in_high = _mm256_and_si256(_mm256_srli_epi16(in, 4), low4);
  const __m256i special = _mm256_and_si256(
      _mm256_and_si256(_mm256_shuffle_epi8(by_prev_high, prev1_high),
                       _mm256_shuffle_epi8(by_prev_low, _mm256_and_si256(prev1, low4))),
      _mm256_shuffle_epi8(by_high, in_high));
  // Bit 7 where this byte must be the 2nd or 3rd continuation (E0.. two back, F0.. three back).
  const __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8(0x60));   // >= 0x80 iff >= E0
  const __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8(0x70));  // >= 0x80 iff >= F0
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
      _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                       -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, static_cast<char>(0xEF),
                       static_cast<char>(0xDF), static_cast<char>(0xBF));
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
  for (const std::uint8_t* q = p; q != start && p - q < 3;) {
    if (*--q >= 0xC0) {
      p = q;
      break;
    }
  }
  return true;
}

std::atomic<bool> g_portable_only{false};  // detail::utf8_set_portable_only

bool has_avx2() noexcept {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes && !g_portable_only.load(std::memory_order_relaxed);
}
#endif

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
#if defined(WSGATE_UTF8_AVX2)
  if (end - p >= kAvx2Min && has_avx2() && !validate_avx2(p, end)) return fail();
#endif
  if (!validate_bulk(p, end)) return fail();
  // At most 3 bytes are left; a sequence they open stays open for the next piece.
  for (; p != end; ++p) {
    if (!step(*p)) return fail();
  }
  return true;
}

void detail::utf8_set_portable_only([[maybe_unused]] bool on) noexcept {
#if defined(WSGATE_UTF8_AVX2)
  g_portable_only.store(on, std::memory_order_relaxed);
#endif
}

bool is_valid_utf8(ByteView bytes) noexcept {
  Utf8Validator v;
  return v.feed(bytes) && v.complete();
}

}  // namespace wsgate::proto
