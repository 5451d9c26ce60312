#pragma once
// The load generator's message body: a sequence number and a send timestamp, followed by filler
// that depends on the sequence number, so that an echo can be checked byte for byte (a lost,
// reordered, truncated or corrupted message fails) and timed from its own content.
//
// Binary layout (ws binary and raw TCP): seq (u64 LE) | send_ns (u64 LE) | filler.
// Text layout (valid UTF-8, ASCII only): seq (16 hex digits) | send_ns (16 hex) | filler a-z.
// The filler of message `seq` is a window of one fixed pseudo-random pattern, starting at an
// offset derived from seq, so filling is one memcpy and checking one memcmp: at 16 KiB a
// per-byte loop (about 1 ns a byte) would cap the client near 700 MB/s, below what the proxies
// reach. Pure functions, allocation-free after the pattern's one-time set-up (thread-safe).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace wsgate::bench {

inline constexpr std::size_t kMinBinarySize = 16;
inline constexpr std::size_t kMinTextSize = 32;

namespace detail {
// Pattern length past the largest offset; longer fillers continue with the per-byte formula.
inline constexpr std::size_t kPatternSpan = std::size_t{1} << 20;
inline constexpr std::size_t kOffsets = 4093;  // a prime: offsets spread over the pattern

inline std::byte pattern_byte(std::size_t j, bool text) noexcept {
  std::uint64_t x = j * 0x9E3779B97F4A7C15ull;  // Fibonacci hashing: no short period
  x ^= x >> 29;
  return text ? static_cast<std::byte>('a' + (x >> 7) % 26) : static_cast<std::byte>(x >> 11);
}
inline const std::byte* pattern(bool text) {
  static const std::vector<std::byte> bin = [] {
    std::vector<std::byte> v(kPatternSpan + kOffsets);
    for (std::size_t j = 0; j < v.size(); ++j) v[j] = pattern_byte(j, false);
    return v;
  }();
  static const std::vector<std::byte> txt = [] {
    std::vector<std::byte> v(kPatternSpan + kOffsets);
    for (std::size_t j = 0; j < v.size(); ++j) v[j] = pattern_byte(j, true);
    return v;
  }();
  return text ? txt.data() : bin.data();
}
// The filler byte at position i (>= the header) of message seq.
inline std::byte filler_byte(std::uint64_t seq, std::size_t i, bool text) noexcept {
  return pattern_byte(static_cast<std::size_t>(seq % kOffsets) + i, text);
}
inline void put_u64(std::byte* p, std::uint64_t v, bool text) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  if (text) {
    for (std::size_t i = 0; i < 16; ++i)
      p[i] = static_cast<std::byte>(kHex[(v >> (60 - 4 * i)) & 0xF]);
  } else {
    for (std::size_t i = 0; i < 8; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
  }
}
// False if a text field holds a non-hex digit.
inline bool get_u64(const std::byte* p, bool text, std::uint64_t& v) noexcept {
  v = 0;
  if (!text) {
    for (std::size_t i = 0; i < 8; ++i)
      v |= std::uint64_t(std::to_integer<unsigned>(p[i])) << (8 * i);
    return true;
  }
  for (std::size_t i = 0; i < 16; ++i) {
    const auto c = std::to_integer<unsigned>(p[i]);
    unsigned d = 0;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return false;
    v = (v << 4) | d;
  }
  return true;
}
}  // namespace detail

/// Fills all of `out` (size >= kMinBinarySize or kMinTextSize) for message `seq` sent at `now_ns`.
inline void fill_payload(std::span<std::byte> out, std::uint64_t seq, std::uint64_t now_ns,
                         bool text) noexcept {
  const std::size_t field = text ? 16 : 8;
  detail::put_u64(out.data(), seq, text);
  detail::put_u64(out.data() + field, now_ns, text);
  const std::size_t base = static_cast<std::size_t>(seq % detail::kOffsets);
  const std::size_t end = std::min(out.size(), detail::kPatternSpan);
  if (end > 2 * field)
    std::memcpy(out.data() + 2 * field, detail::pattern(text) + base + 2 * field, end - 2 * field);
  for (std::size_t i = end; i < out.size(); ++i) out[i] = detail::filler_byte(seq, i, text);
}

/// Checks an echoed message: its size must be `size` and its content that of message
/// `expected_seq`. On success stores the send timestamp in `sent_ns`.
inline bool check_payload(std::span<const std::byte> in, std::size_t size,
                          std::uint64_t expected_seq, bool text, std::uint64_t& sent_ns) noexcept {
  const std::size_t field = text ? 16 : 8;
  if (in.size() != size || size < 2 * field) return false;
  std::uint64_t seq = 0;
  if (!detail::get_u64(in.data(), text, seq) || seq != expected_seq) return false;
  if (!detail::get_u64(in.data() + field, text, sent_ns)) return false;
  const std::size_t base = static_cast<std::size_t>(seq % detail::kOffsets);
  const std::size_t end = std::min(size, detail::kPatternSpan);
  if (end > 2 * field &&
      std::memcmp(in.data() + 2 * field, detail::pattern(text) + base + 2 * field,
                  end - 2 * field) != 0)
    return false;
  for (std::size_t i = end; i < size; ++i) {
    if (in[i] != detail::filler_byte(seq, i, text)) return false;
  }
  return true;
}

}  // namespace wsgate::bench
