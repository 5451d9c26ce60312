#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "proto/ws_close.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

Bytes code_payload(std::uint16_t code, std::string_view reason = {}) {
  // Built by hand (not with append()): GCC 12 raises a false -Warray-bounds on inserting into a
  // vector that was list-initialised with two elements.
  Bytes out(2 + reason.size());
  out[0] = static_cast<std::byte>(code >> 8);
  out[1] = static_cast<std::byte>(code & 0xFF);
  for (std::size_t i = 0; i < reason.size(); ++i) out[2 + i] = static_cast<std::byte>(reason[i]);
  return out;
}

}  // namespace

TEST_CASE("close code table pins every boundary of the valid ranges", "[proto][ws][close]") {
  struct Row {
    std::uint16_t code;
    bool valid;
  };
  // RFC 6455 §7.4.1/§7.4.2 and the IANA registry. uWS and Beast disagree on 1012-1014,
  // 3000-3999 and >= 5000; our policy is pinned here.
  const Row rows[] = {
      {0, false},    {999, false},   {1000, true},  {1001, true}, {1002, true}, {1003, true},
      {1004, false}, {1005, false},  {1006, false}, {1007, true}, {1008, true}, {1009, true},
      {1010, true},  {1011, true},   {1012, true},  {1013, true}, {1014, true}, {1015, false},
      {1016, false}, {2999, false},  {3000, true},  {3999, true}, {4000, true}, {4999, true},
      {5000, false}, {65535, false},
  };
  for (const Row& row : rows) {
    INFO("code " << row.code);
    CHECK(is_valid_wire_close_code(row.code) == row.valid);
    const Result<CloseInfo> r = parse_close_payload(code_payload(row.code));
    if (row.valid) {
      REQUIRE(r.ok());
      CHECK(static_cast<std::uint16_t>(r->code) == row.code);
      CHECK(r->reason.empty());
      // A valid code is also one we can build, and it round-trips.
      CHECK(make_close_payload(static_cast<CloseCode>(row.code)) == code_payload(row.code));
    } else {
      CHECK(r.error() == make_error_code(WsErrc::invalid_close_code));
      CHECK(close_code_for(r.error()) == CloseCode::protocol_error);
    }
  }
}

TEST_CASE("close payload parsing handles empty, short and reasoned payloads",
          "[proto][ws][close]") {
  const Result<CloseInfo> empty = parse_close_payload({});
  REQUIRE(empty.ok());
  CHECK(empty->code == CloseCode::no_status);
  CHECK(empty->reason.empty());

  const Bytes one{std::byte{0x03}};
  CHECK(parse_close_payload(one).error() == make_error_code(WsErrc::close_payload_one_byte));

  const Bytes bye = code_payload(1000, "bye");
  const Result<CloseInfo> r = parse_close_payload(bye);
  REQUIRE(r.ok());
  CHECK(r->code == CloseCode::normal);
  CHECK(r->reason == "bye");
  CHECK(static_cast<const void*>(r->reason.data()) == static_cast<const void*>(bye.data() + 2));

  const Bytes utf8 = code_payload(4000,
                                  "Gr\xC3\xB6\xC3\x9F"
                                  "e \xF0\x9D\x84\x9E");
  const Result<CloseInfo> u = parse_close_payload(utf8);
  REQUIRE(u.ok());
  CHECK(static_cast<std::uint16_t>(u->code) == 4000);
  CHECK(u->reason ==
        "Gr\xC3\xB6\xC3\x9F"
        "e \xF0\x9D\x84\x9E");
}

TEST_CASE("close reasons that are not UTF-8 are rejected with 1007", "[proto][ws][close]") {
  const std::vector<std::string> bad = {
      "\xFF",              // never valid
      "ok\xC3",            // truncated two-byte sequence at the end
      "\xE2\x82",          // truncated three-byte sequence
      "\xED\xA0\x80",      // UTF-16 surrogate
      "\xC0\xAF",          // overlong '/'
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "a\x80"
      "b",  // stray continuation byte
  };
  for (const std::string& reason : bad) {
    INFO("reason bytes: " << reason.size());
    const Result<CloseInfo> r = parse_close_payload(code_payload(1000, reason));
    CHECK(r.error() == make_error_code(WsErrc::invalid_close_reason));
    CHECK(close_code_for(r.error()) == CloseCode::invalid_payload);
  }
}

TEST_CASE("close code is checked before the reason", "[proto][ws][close]") {
  const Result<CloseInfo> r = parse_close_payload(code_payload(1005, "\xFF"));
  CHECK(r.error() == make_error_code(WsErrc::invalid_close_code));
}

TEST_CASE("close payload building writes code then reason", "[proto][ws][close]") {
  CHECK(make_close_payload(CloseCode::normal, "bye") ==
        Bytes{std::byte{0x03}, std::byte{0xE8}, std::byte{'b'}, std::byte{'y'}, std::byte{'e'}});
  CHECK(make_close_payload(CloseCode::message_too_big) == Bytes{std::byte{0x03}, std::byte{0xF1}});
  CHECK(make_close_payload(static_cast<CloseCode>(4999), "") ==
        Bytes{std::byte{0x13}, std::byte{0x87}});
  // No status: an empty body, and a reason alone is not allowed (§5.5.1).
  CHECK(make_close_payload(CloseCode::no_status, "ignored").empty());
  // A reason that is not UTF-8 is dropped rather than sent.
  CHECK(make_close_payload(CloseCode::going_away, "bad\xFF") ==
        Bytes{std::byte{0x03}, std::byte{0xE9}});
  Bytes out{std::byte{0x77}};
  append_close_payload(out, CloseCode::normal, "x");
  CHECK(out == Bytes{std::byte{0x77}, std::byte{0x03}, std::byte{0xE8}, std::byte{'x'}});
}

TEST_CASE("close reasons are truncated to 123 bytes on a UTF-8 boundary", "[proto][ws][close]") {
  const std::string euro = "\xE2\x82\xAC";      // 3 bytes
  const std::string clef = "\xF0\x9D\x84\x9E";  // 4 bytes
  struct Row {
    std::string reason;
    std::size_t kept;
  };
  const std::vector<Row> rows = {
      {std::string(123, 'a'), 123},
      {std::string(124, 'a'), 123},
      {std::string(500, 'a'), 123},
      {std::string(120, 'a') + euro, 123},  // ends exactly at 123
      {std::string(121, 'a') + euro, 121},  // euro would straddle 123
      {std::string(122, 'a') + euro, 122},
      {std::string(122, 'a') + clef, 122},
      {std::string(119, 'a') + clef + "b", 123},  // clef ends exactly at 123
      {std::string(120, 'a') + clef, 120},
      {std::string(41, euro[0]), 41},  // not UTF-8 at all: untouched below max
  };
  for (const Row& row : rows) {
    INFO("reason size " << row.reason.size());
    const std::string_view cut = truncate_utf8(row.reason, kMaxCloseReason);
    CHECK(cut.size() == row.kept);
    CHECK(cut.data() == row.reason.data());
  }
  for (std::size_t i = 0; i + 1 < rows.size(); ++i) {  // all but the last row are UTF-8
    const Row& row = rows[i];
    const Bytes payload = make_close_payload(CloseCode::normal, row.reason);
    INFO("reason size " << row.reason.size());
    CHECK(payload.size() == 2 + row.kept);
    CHECK(payload.size() <= 125);
    const Result<CloseInfo> back = parse_close_payload(payload);
    REQUIRE(back.ok());
    CHECK(back->reason == std::string_view(row.reason).substr(0, row.kept));
  }
}

TEST_CASE("truncate_utf8 keeps short strings and never splits a code point", "[proto][ws][close]") {
  CHECK(truncate_utf8("", 0).empty());
  CHECK(truncate_utf8("abc", 3) == "abc");
  CHECK(truncate_utf8("abc", 2) == "ab");
  CHECK(truncate_utf8("abc", 0).empty());
  const std::string s = "\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E";  // 2 + 3 + 4 bytes
  const std::size_t expect[] = {0, 0, 2, 2, 2, 5, 5, 5, 5, 9};
  for (std::size_t max = 0; max <= s.size(); ++max) {
    INFO("max " << max);
    CHECK(truncate_utf8(s, max).size() == expect[max]);
  }
}
