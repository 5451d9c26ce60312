#pragma once
// WebSocket error vocabulary: close codes (RFC 6455 §7.4), the codec's error enum, and the
// conditions callers branch on. Every proto error that ends a WebSocket maps to one close code
// through close_code_for(); logs print the specific error, control flow checks the condition.

#include <cstdint>
#include <system_error>

namespace wsgate::proto {

/// Close status codes (RFC 6455 §7.4.1 and the IANA registry).
enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  no_status = 1005,  ///< never on the wire: "the close frame had no code"
  abnormal = 1006,   ///< never on the wire: "the connection dropped without a close frame"
  invalid_payload = 1007,
  policy_violation = 1008,
  message_too_big = 1009,
  mandatory_extension = 1010,
  internal_error = 1011,
  service_restart = 1012,
  try_again_later = 1013,
  bad_gateway = 1014,
};

/// Errors found by the frame decoder and message assembler. Each value's comment names the
/// rule it enforces and the close code a peer receives for it.
enum class WsErrc {
  reserved_opcode = 1,      ///< opcode 3-7 or 11-15 (§5.2)                          -> 1002
  reserved_bits,            ///< RSV1-3 set without an extension claiming them (§5.2)  -> 1002
  rsv1_not_first_frame,     ///< RSV1 on a continuation or control frame (RFC 7692 §6) -> 1002
  unmasked_client_frame,    ///< server role: client frames must be masked (§5.1)      -> 1002
  masked_server_frame,      ///< client role: server frames must not be masked (§5.1)  -> 1002
  length_high_bit,          ///< 64-bit length with the most significant bit set (§5.2) -> 1002
  non_minimal_length,       ///< length not in its shortest encoding (§5.2 "MUST")    -> 1002
  control_too_long,         ///< control frame payload > 125 bytes (§5.5)             -> 1002
  control_fragmented,       ///< control frame without FIN (§5.5)                     -> 1002
  unexpected_continuation,  ///< continuation frame with no message in progress (§5.4) -> 1002
  expected_continuation,    ///< new data frame while a message is in progress (§5.4) -> 1002
  close_payload_one_byte,   ///< close payload of exactly 1 byte (§5.5.1)            -> 1002
  invalid_close_code,       ///< close code not valid on the wire (§7.4)             -> 1002
  frame_after_close,        ///< any frame after the peer's close frame (§5.5.1)      -> 1002
  invalid_utf8,             ///< text message is not UTF-8 (§8.1)                    -> 1007
  invalid_close_reason,     ///< close reason is not UTF-8 (§5.5.1)                  -> 1007
  frame_too_big,            ///< frame payload above the configured limit            -> 1009
  message_too_big,          ///< message above the configured limit (inflated size too) -> 1009
  bad_compressed_data,      ///< an RSV1 message does not inflate (RFC 7692 §6.2)   -> 1007
};

/// What callers branch on. Error codes of every WebSocket-path category (frames, deflate, ...)
/// compare equal to exactly one of these.
enum class WsCondition {
  protocol_violation = 1,  ///< -> close 1002
  invalid_payload,         ///< -> close 1007
  limit_exceeded,          ///< -> close 1009
};

const std::error_category& ws_category() noexcept;
const std::error_category& ws_condition_category() noexcept;

inline std::error_code make_error_code(WsErrc e) noexcept {
  return {static_cast<int>(e), ws_category()};
}
inline std::error_condition make_error_condition(WsCondition c) noexcept {
  return {static_cast<int>(c), ws_condition_category()};
}

/// The close code a peer should receive for this error. Errors of any category that compare
/// equal to a WsCondition map through it; anything else is 1011 (internal error).
CloseCode close_code_for(std::error_code ec) noexcept;

/// True for the codes an endpoint may put on the wire in a close frame: 1000-1003, 1007-1014
/// (the IANA registry's) and 3000-4999. 1004, 1005, 1006, 1015, 0-999, 1016-2999 and >= 5000
/// are protocol errors when received.
constexpr bool is_valid_wire_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace wsgate::proto

template <>
struct std::is_error_code_enum<wsgate::proto::WsErrc> : std::true_type {};
template <>
struct std::is_error_condition_enum<wsgate::proto::WsCondition> : std::true_type {};
