#include "proto/ws_close.hpp"

#include "base/check.hpp"
#include "proto/utf8.hpp"

namespace wsgate::proto {

namespace {

constexpr bool is_continuation_byte(char c) noexcept {
  return (static_cast<unsigned char>(c) & 0xC0u) == 0x80u;
}

}  // namespace

Result<CloseInfo> parse_close_payload(ByteView payload) noexcept {
  if (payload.empty()) return CloseInfo{};
  // §5.5.1: if there is a body, its first two bytes MUST be the status code, so one byte
  // cannot be a valid body.
  if (payload.size() == 1) return WsErrc::close_payload_one_byte;
  const auto code = static_cast<std::uint16_t>((std::to_integer<unsigned>(payload[0]) << 8) |
                                               std::to_integer<unsigned>(payload[1]));
  if (!is_valid_wire_close_code(code)) return WsErrc::invalid_close_code;
  const ByteView reason = payload.subspan(2);
  if (!is_valid_utf8(reason)) return WsErrc::invalid_close_reason;
  return CloseInfo{static_cast<CloseCode>(code), as_chars(reason)};
}

std::string_view truncate_utf8(std::string_view s, std::size_t max) noexcept {
  if (s.size() <= max) return s;
  // s[cut] starts a code point (or is ASCII) once we step back over continuation bytes, so
  // s[0, cut) ends on a code point boundary. A sequence is at most 4 bytes, so in valid
  // UTF-8 this steps back at most 3 times.
  std::size_t cut = max;
  while (cut > 0 && is_continuation_byte(s[cut])) --cut;
  return s.substr(0, cut);
}

void append_close_payload(Bytes& out, CloseCode code, std::string_view reason) {
  if (code == CloseCode::no_status) return;
  const auto value = static_cast<std::uint16_t>(code);
  WSGATE_CHECK(is_valid_wire_close_code(value), "close code not allowed on the wire");
  out.push_back(static_cast<std::byte>(value >> 8));
  out.push_back(static_cast<std::byte>(value & 0xFFu));
  const std::string_view cut = truncate_utf8(reason, kMaxCloseReason);
  if (is_valid_utf8(as_bytes(cut))) append(out, cut);
}

Bytes make_close_payload(CloseCode code, std::string_view reason) {
  Bytes out;
  append_close_payload(out, code, reason);
  return out;
}

}  // namespace wsgate::proto
