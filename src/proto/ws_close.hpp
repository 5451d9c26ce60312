#pragma once
// Close frame payloads (RFC 6455 §5.5.1, §7.4): a 2-byte status code followed by an optional
// UTF-8 reason, the whole payload at most 125 bytes like every control frame.

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "proto/ws_error.hpp"

namespace wsgate::proto {

/// The longest reason that fits: 125 control payload bytes minus the 2-byte code.
inline constexpr std::size_t kMaxCloseReason = 123;

/// A parsed close payload. `reason` is a view into the payload that was parsed: valid only as
/// long as that payload's bytes are (for MessageAssembler callbacks: until on_close returns).
struct CloseInfo {
  CloseCode code = CloseCode::no_status;
  std::string_view reason;
};

/// Parses a received close frame's payload (already unmasked).
///  - empty payload: code CloseCode::no_status (1005, "no code was given"), empty reason;
///  - 1 byte: WsErrc::close_payload_one_byte (1002);
///  - a code for which is_valid_wire_close_code() is false: WsErrc::invalid_close_code (1002);
///  - a reason that is not valid UTF-8: WsErrc::invalid_close_reason (1007).
/// The payload length limit (125) is the frame layer's job (WsErrc::control_too_long); this
/// function accepts any length. Thread: pure.
Result<CloseInfo> parse_close_payload(ByteView payload) noexcept;

/// The longest prefix of `s` of at most `max` bytes that does not end inside a multi-byte UTF-8
/// sequence (for valid UTF-8 input; for other input it still never splits at a continuation
/// byte). Returns a view into `s`.
std::string_view truncate_utf8(std::string_view s, std::size_t max) noexcept;

/// Appends the payload of a close frame to `out` (the frame header is append_frame's job):
///  - `code == CloseCode::no_status`: nothing (an empty close payload; `reason` is ignored,
///    because §5.5.1 allows a reason only after a code);
///  - otherwise the code in network byte order followed by `reason` truncated to
///    kMaxCloseReason bytes on a UTF-8 boundary. If the (truncated) reason is not valid UTF-8 it
///    is dropped and only the code is sent: we never put a payload on the wire that the peer
///    must reject with 1007.
/// Precondition: `code` is no_status or is_valid_wire_close_code(code) (a programming error
/// otherwise: WSGATE_CHECK aborts; codes received from a peer were already validated by
/// parse_close_payload). Appends at most 125 bytes.
void append_close_payload(Bytes& out, CloseCode code, std::string_view reason);

/// Convenience: the close payload as a new buffer.
Bytes make_close_payload(CloseCode code, std::string_view reason = {});

}  // namespace wsgate::proto
