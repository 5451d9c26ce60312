#pragma once
// Incremental, fail-fast UTF-8 validation (RFC 3629; RFC 6455 §8.1 for text messages).

#include <cstdint>

#include "base/bytes.hpp"

namespace wsgate::proto {

/// Validates a byte stream that may arrive in any number of pieces (frames, reads).
///
/// Fail-fast: feed() returns false as soon as the bytes seen so far cannot be the prefix of any
/// valid UTF-8 text: e.g. at the second byte of "\xE0\x80" (overlong), "\xED\xA0" (surrogate),
/// "\xF4\x90" (above U+10FFFF), at "\xC0", "\xC1", "\xF5".."\xFF", or a stray continuation byte.
/// Once failed it stays failed until reset(). complete() tells whether the input so far ends on
/// a code point boundary (a message may only end there).
/// State: 4 bytes. Thread: one validator per stream; no shared state.
class Utf8Validator {
 public:
  /// Feeds the next piece. Returns false if the stream is (now or earlier) invalid.
  bool feed(ByteView bytes) noexcept;
  /// True if no error was seen and no multi-byte sequence is left open.
  bool complete() const noexcept { return !failed_ && need_ == 0; }
  bool failed() const noexcept { return failed_; }
  void reset() noexcept { *this = Utf8Validator{}; }

 private:
  std::uint8_t need_ = 0;   ///< continuation bytes still expected in the open sequence
  std::uint8_t lo_ = 0x80;  ///< allowed range of the next continuation byte (first one is
  std::uint8_t hi_ =
      0xBF;  ///< narrowed for E0, ED, F0, F4 to reject overlongs/surrogates/>U+10FFFF)
  bool failed_ = false;

  bool step(std::uint8_t byte) noexcept;  ///< the byte-at-a-time state machine
  bool fail() noexcept;                   ///< latches failed_; returns false
};

/// True if `bytes` is complete, valid UTF-8.
bool is_valid_utf8(ByteView bytes) noexcept;

namespace detail {
/// Which block validator feed() may use (test and benchmark hook; not for production use).
enum class Utf8Path {
  best,      ///< normal run-time dispatch: AVX2, else SSSE3, else portable
  ssse3,     ///< skip AVX2: SSSE3 (16-byte blocks) if the CPU has it, else portable
  portable,  ///< no block validator: only the SSE2/word ASCII skip and the scalar checks
};
/// Test hook: restricts feed() to `path` (never to more than the CPU has), so tests cover what
/// machines without AVX2, or without SSSE3, run. Process-wide and takes effect at the next
/// feed(); tests set it around a test case and restore Utf8Path::best. Not for production use.
void utf8_force_path(Utf8Path path) noexcept;
}  // namespace detail

}  // namespace wsgate::proto
