#pragma once
// The load generator's message body: a sequence number and a send timestamp, followed by filler
// derived from the sequence number, so that an echo can be checked byte for byte (a lost,
// reordered, truncated or corrupted message fails) and timed from its own content.
//
// Binary layout (ws binary and raw TCP): seq (u64 LE) | send_ns (u64 LE) | filler.
// Text layout (valid UTF-8, ASCII only): seq (16 hex digits) | send_ns (16 hex) | filler a-z.
// Pure functions, allocation-free: the caller owns and reuses the buffers.

#include <cstddef>
#include <cstdint>
#include <span>

namespace wsgate::bench {

inline constexpr std::size_t kMinBinarySize = 16;
inline constexpr std::size_t kMinTextSize = 32;

namespace detail {
inline std::byte filler_byte(std::uint64_t seq, std::size_t i, bool text) noexcept {
  const std::uint64_t x = seq * 31 + i;
  return text ? static_cast<std::byte>('a' + x % 26) : static_cast<std::byte>(x & 0xFF);
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
  for (std::size_t i = 2 * field; i < out.size(); ++i) out[i] = detail::filler_byte(seq, i, text);
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
  for (std::size_t i = 2 * field; i < size; ++i) {
    if (in[i] != detail::filler_byte(seq, i, text)) return false;
  }
  return true;
}

}  // namespace wsgate::bench
