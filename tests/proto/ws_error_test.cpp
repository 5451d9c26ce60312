#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <system_error>

#include "proto/ws_error.hpp"

using namespace wsgate::proto;

namespace {

constexpr int kLastWsErrc = static_cast<int>(WsErrc::bad_compressed_data);

}  // namespace

TEST_CASE("every WsErrc has a message, a condition and a close code", "[proto][ws][error]") {
  struct Row {
    WsErrc e;
    WsCondition condition;
    CloseCode close;
  };
  const Row rows[] = {
      {WsErrc::reserved_opcode, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::reserved_bits, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::rsv1_not_first_frame, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::unmasked_client_frame, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::masked_server_frame, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::length_high_bit, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::non_minimal_length, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::control_too_long, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::control_fragmented, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::unexpected_continuation, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::expected_continuation, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::close_payload_one_byte, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::invalid_close_code, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::frame_after_close, WsCondition::protocol_violation, CloseCode::protocol_error},
      {WsErrc::invalid_utf8, WsCondition::invalid_payload, CloseCode::invalid_payload},
      {WsErrc::invalid_close_reason, WsCondition::invalid_payload, CloseCode::invalid_payload},
      {WsErrc::frame_too_big, WsCondition::limit_exceeded, CloseCode::message_too_big},
      {WsErrc::message_too_big, WsCondition::limit_exceeded, CloseCode::message_too_big},
      {WsErrc::bad_compressed_data, WsCondition::invalid_payload, CloseCode::invalid_payload},
  };
  // The table covers the enum: values 1..kLastWsErrc, each once, and nothing after the last.
  REQUIRE(std::size(rows) == static_cast<std::size_t>(kLastWsErrc));
  std::set<std::string> messages;
  for (const Row& row : rows) {
    const std::error_code ec = row.e;  // implicit: is_error_code_enum
    INFO(ec.message());
    CHECK(ec.category() == ws_category());
    CHECK(std::string(ec.category().name()) == "websocket");
    CHECK(ec.message().rfind("unknown", 0) == std::string::npos);
    messages.insert(ec.message());
    CHECK(ec == row.condition);
    CHECK(ec.default_error_condition() == make_error_condition(row.condition));
    CHECK(close_code_for(ec) == row.close);
    for (WsCondition other : {WsCondition::protocol_violation, WsCondition::invalid_payload,
                              WsCondition::limit_exceeded}) {
      if (other != row.condition) CHECK(ec != other);
    }
  }
  CHECK(messages.size() == std::size(rows));  // every message is distinct
  CHECK(ws_category().message(kLastWsErrc + 1).rfind("unknown", 0) == 0);
}

TEST_CASE("conditions have names and foreign errors map to 1011", "[proto][ws][error]") {
  CHECK(std::string(ws_condition_category().name()) == "websocket-condition");
  const std::error_condition conds[] = {WsCondition::protocol_violation,
                                        WsCondition::invalid_payload, WsCondition::limit_exceeded};
  std::set<std::string> names;
  for (const auto& c : conds) names.insert(c.message());
  CHECK(names.size() == 3);
  CHECK(close_code_for(std::make_error_code(std::errc::io_error)) == CloseCode::internal_error);
  CHECK(std::make_error_code(std::errc::io_error) != WsCondition::protocol_violation);
}
