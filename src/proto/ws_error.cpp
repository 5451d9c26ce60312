#include "proto/ws_error.hpp"

#include <string>

namespace wsgate::proto {

namespace {

WsCondition condition_of(WsErrc e) noexcept {
  switch (e) {
    case WsErrc::invalid_utf8:
    case WsErrc::invalid_close_reason:
    case WsErrc::bad_compressed_data: return WsCondition::invalid_payload;
    case WsErrc::frame_too_big:
    case WsErrc::message_too_big: return WsCondition::limit_exceeded;
    default: return WsCondition::protocol_violation;
  }
}

class WsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "websocket"; }

  std::string message(int ev) const override {
    switch (static_cast<WsErrc>(ev)) {
      case WsErrc::reserved_opcode: return "reserved opcode";
      case WsErrc::reserved_bits: return "reserved bits set without a negotiated extension";
      case WsErrc::rsv1_not_first_frame: return "RSV1 set on a continuation or control frame";
      case WsErrc::unmasked_client_frame: return "client frame is not masked";
      case WsErrc::masked_server_frame: return "server frame is masked";
      case WsErrc::length_high_bit: return "64-bit payload length has its high bit set";
      case WsErrc::non_minimal_length: return "payload length is not minimally encoded";
      case WsErrc::control_too_long: return "control frame payload longer than 125 bytes";
      case WsErrc::control_fragmented: return "fragmented control frame";
      case WsErrc::unexpected_continuation: return "continuation frame without a message";
      case WsErrc::expected_continuation: return "new message while a fragmented one is open";
      case WsErrc::close_payload_one_byte: return "close frame payload of one byte";
      case WsErrc::invalid_close_code: return "invalid close code";
      case WsErrc::frame_after_close: return "frame received after a close frame";
      case WsErrc::invalid_utf8: return "text message is not valid UTF-8";
      case WsErrc::invalid_close_reason: return "close reason is not valid UTF-8";
      case WsErrc::frame_too_big: return "frame payload exceeds the limit";
      case WsErrc::message_too_big: return "message exceeds the limit";
      case WsErrc::bad_compressed_data: return "compressed message does not inflate";
    }
    return "unknown websocket error " + std::to_string(ev);
  }

  std::error_condition default_error_condition(int ev) const noexcept override {
    return make_error_condition(condition_of(static_cast<WsErrc>(ev)));
  }
};

class WsConditionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "websocket-condition"; }

  std::string message(int ev) const override {
    switch (static_cast<WsCondition>(ev)) {
      case WsCondition::protocol_violation: return "protocol violation";
      case WsCondition::invalid_payload: return "invalid payload data";
      case WsCondition::limit_exceeded: return "limit exceeded";
    }
    return "unknown websocket condition " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& ws_category() noexcept {
  static const WsCategory category;
  return category;
}

const std::error_category& ws_condition_category() noexcept {
  static const WsConditionCategory category;
  return category;
}

CloseCode close_code_for(std::error_code ec) noexcept {
  if (ec == WsCondition::protocol_violation) return CloseCode::protocol_error;
  if (ec == WsCondition::invalid_payload) return CloseCode::invalid_payload;
  if (ec == WsCondition::limit_exceeded) return CloseCode::message_too_big;
  return CloseCode::internal_error;
}

}  // namespace wsgate::proto
