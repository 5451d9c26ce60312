// Fuzzes Utf8Validator against a deliberately naive reference. Input: byte 0 picks the piece
// size (1-256), the rest is the text, fed in pieces of that size. The reference decodes code
// point bits byte by byte and, after each byte, asks whether any completion of the open sequence
// could still be a valid Unicode scalar value of that length: the first byte where none can is
// the fail-fast index. Each feed() must return false exactly when its piece holds that byte.
// Every input is checked through each block validator the CPU has (AVX2, SSSE3) and through the
// portable paths alone, so the corpus keeps its meaning (byte 0 is only the piece size).
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "proto/utf8.hpp"

namespace {

constexpr std::size_t kNever = static_cast<std::size_t>(-1);

struct Reference {
  std::size_t fail_at = kNever;  // index of the first byte proving the text invalid
  bool open = false;             // a multi-byte sequence is unfinished at the end
};

// Length announced by a first byte: 1-4, or 0 if the byte cannot start a sequence by its bits.
unsigned announced_length(std::uint8_t b) {
  if (b < 0x80) return 1;
  if (b >> 5 == 0x6) return 2;
  if (b >> 4 == 0xE) return 3;
  if (b >> 3 == 0x1E) return 4;
  return 0;
}

// With `known` code point bits and `missing` continuation bytes still to come, can the result be
// a scalar value that needs exactly `len` bytes?
bool still_possible(std::uint32_t known, unsigned missing, unsigned len) {
  const std::uint32_t smallest = known << (6 * missing);
  const std::uint32_t largest = smallest + ((1u << (6 * missing)) - 1);
  const std::uint32_t shortest = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
  const std::uint32_t lo = std::max(smallest, shortest);
  const std::uint32_t hi = std::min(largest, std::uint32_t{0x10FFFF});
  if (lo > hi) return false;
  return !(lo >= 0xD800 && hi <= 0xDFFF);
}

Reference reference(const std::uint8_t* text, std::size_t n) {
  Reference r;
  unsigned len = 0, seen = 0;
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t b = text[i];
    if (seen == len) {  // expecting a first byte
      len = announced_length(b);
      if (len == 0) return {i, false};
      seen = 1;
      cp = b & (0xFFu >> (len == 1 ? 1 : len + 1));
    } else {
      if ((b & 0xC0) != 0x80) return {i, false};
      cp = cp << 6 | (b & 0x3Fu);
      ++seen;
    }
    if (!still_possible(cp, len - seen, len)) return {i, false};
  }
  r.open = seen != len;
  return r;
}

}  // namespace

namespace {

void check(const std::uint8_t* text, std::size_t n, std::size_t piece, const Reference& ref) {
  const bool ref_valid = ref.fail_at == kNever;
  wsgate::proto::Utf8Validator v;
  for (std::size_t at = 0; at < n; at += piece) {
    const std::size_t len = std::min(piece, n - at);
    const bool got = v.feed({reinterpret_cast<const std::byte*>(text + at), len});
    if (got != (ref_valid || ref.fail_at >= at + len)) __builtin_trap();
  }
  if (v.failed() != !ref_valid) __builtin_trap();
  if (v.complete() != (ref_valid && !ref.open)) __builtin_trap();
  const wsgate::ByteView whole{reinterpret_cast<const std::byte*>(text), n};
  if (wsgate::proto::is_valid_utf8(whole) != (ref_valid && !ref.open)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using wsgate::proto::detail::Utf8Path;
  if (size == 0) return 0;
  const std::size_t piece = std::size_t{data[0]} + 1;
  const Reference ref = reference(data + 1, size - 1);
  for (const Utf8Path path : {Utf8Path::best, Utf8Path::ssse3, Utf8Path::portable}) {
    wsgate::proto::detail::utf8_force_path(path);
    check(data + 1, size - 1, piece, ref);
  }
  wsgate::proto::detail::utf8_force_path(Utf8Path::best);
  return 0;
}
