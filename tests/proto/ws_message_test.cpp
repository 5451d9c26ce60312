#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "proto/ws_deflate.hpp"
#include "proto/ws_message.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

// ---------------------------------------------------------------------------------------------
// Recording events
// ---------------------------------------------------------------------------------------------

struct Event {
  std::string kind;  ///< "text", "binary", "ping", "pong", "close"
  std::string data;  ///< payload, or the close reason
  bool compressed = false;
  int code = 0;  ///< close code

  friend bool operator==(const Event&, const Event&) = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  os << e.kind << "(" << e.data.size() << " bytes";
  if (e.data.size() <= 32) os << " \"" << e.data << "\"";
  if (e.compressed) os << " compressed";
  if (e.kind == "close") os << " code " << e.code;
  return os << ")";
}

Event text(std::string_view s, bool compressed = false) {
  return {"text", std::string(s), compressed, 0};
}
Event binary(std::string_view s, bool compressed = false) {
  return {"binary", std::string(s), compressed, 0};
}
Event ping(std::string_view s) {
  return {"ping", std::string(s), false, 0};
}
Event pong(std::string_view s) {
  return {"pong", std::string(s), false, 0};
}
Event close_ev(int code, std::string_view reason = {}) {
  return {"close", std::string(reason), false, code};
}

class Recorder final : public MessageEvents {
 public:
  std::vector<Event> events;
  std::vector<const std::byte*> message_data;  ///< where each on_message payload lived

  void on_message(Opcode op, ByteView payload, bool compressed) override {
    message_data.push_back(payload.data());
    events.push_back(
        {op == Opcode::text ? "text" : "binary", std::string(as_chars(payload)), compressed, 0});
  }
  void on_ping(ByteView payload) override { events.push_back(ping(as_chars(payload))); }
  void on_pong(ByteView payload) override { events.push_back(pong(as_chars(payload))); }
  void on_close(CloseCode code, std::string_view reason) override {
    events.push_back(close_ev(static_cast<int>(code), reason));
  }
};

struct Outcome {
  std::vector<Event> events;
  std::error_code error;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "{";
  for (const Event& e : o.events) os << e << " ";
  return os << "error: " << (o.error ? o.error.message() : "none") << "}";
}

// ---------------------------------------------------------------------------------------------
// Building wire images
// ---------------------------------------------------------------------------------------------

/// Frames as a peer would send them: masked (what a server receives) or not (what a client
/// receives). Masking here is a plain XOR loop, independent of the code under test.
class Wire {
 public:
  static Wire to_server() { return Wire(true); }
  static Wire to_client() { return Wire(false); }

  FrameHeader header(Opcode op, std::uint64_t len, bool fin = true) {
    FrameHeader h;
    h.fin = fin;
    h.opcode = op;
    h.masked = masked_;
    h.key = kKeys[next_key_++ % 3];
    h.payload_len = len;
    return h;
  }
  Wire& frame(Opcode op, std::string_view payload, bool fin = true, bool rsv1 = false) {
    FrameHeader h = header(op, payload.size(), fin);
    h.rsv1 = rsv1;
    return custom(h, payload);
  }
  /// Any header, with `payload` masked if h.masked (h.payload_len is written as given).
  Wire& custom(const FrameHeader& h, std::string_view payload) {
    std::byte head[kMaxFrameHeaderSize];
    const std::size_t n = encode_frame_header(h, head);
    bytes_.insert(bytes_.end(), head, head + n);
    for (std::size_t i = 0; i < payload.size(); ++i) {
      std::byte b = static_cast<std::byte>(payload[i]);
      if (h.masked) b ^= h.key[i % 4];
      bytes_.push_back(b);
    }
    return *this;
  }
  Wire& raw(std::initializer_list<unsigned> list) {
    for (unsigned v : list) bytes_.push_back(static_cast<std::byte>(v));
    return *this;
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  explicit Wire(bool masked) : masked_(masked) {}
  static constexpr MaskKey kKeys[3] = {
      MaskKey{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}},
      MaskKey{std::byte{0x01}, std::byte{0x80}, std::byte{0xff}, std::byte{0x5a}},
      MaskKey{std::byte{0xc3}, std::byte{0x00}, std::byte{0x9e}, std::byte{0x11}},
  };
  bool masked_;
  std::size_t next_key_ = 0;
  Bytes bytes_;
};

Bytes hex(std::initializer_list<unsigned> list) {
  Bytes out;
  for (unsigned v : list) out.push_back(static_cast<std::byte>(v));
  return out;
}

MessageConfig server_cfg() {
  return MessageConfig{};
}
MessageConfig client_cfg() {
  MessageConfig c;
  c.role = Role::client;
  return c;
}
MessageConfig deflate_cfg(Role role = Role::server) {
  MessageConfig c;
  c.role = role;
  c.rsv1_allowed = true;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Running wire images at every split
// ---------------------------------------------------------------------------------------------

/// Feeds a copy of `wire` to a fresh assembler in the pieces [0,c0), [c0,c1), ..., [cN,end).
/// Checks the feed() contract on the way: a successful feed consumes its whole piece; after an
/// error, feed() keeps returning it and emits nothing more.
/// With `inflate`, a fresh inflater with those options is attached for the run.
Outcome run_cuts(const Bytes& wire, const MessageConfig& cfg, const std::vector<std::size_t>& cuts,
                 const InflaterOptions* inflate = nullptr) {
  Bytes buf = wire;  // feed() unmasks in place
  std::optional<WsInflater> inflater;
  if (inflate != nullptr) inflater.emplace(*inflate);
  MessageAssembler a(cfg);
  if (inflater) a.set_inflater(&*inflater);
  Recorder rec;
  Outcome out;
  bool counts_ok = true;
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(buf.size());
  for (std::size_t end : ends) {
    const Result<std::size_t> r = a.feed(MutableByteView(buf).subspan(start, end - start), rec);
    if (!r) {
      out.error = r.error();
      const std::size_t seen = rec.events.size();
      const Result<std::size_t> again = a.feed(MutableByteView(buf).subspan(end), rec);
      CHECK(again.error() == out.error);
      CHECK(a.error() == out.error);
      CHECK(rec.events.size() == seen);
      break;
    }
    counts_ok = counts_ok && *r == end - start;
    start = end;
  }
  CHECK(counts_ok);
  if (!out.error) CHECK_FALSE(a.error());
  out.events = std::move(rec.events);
  return out;
}

/// Runs `wire` whole, byte by byte, in fixed-size chunks and cut in two at every offset (for
/// long images: every offset near either end and a stride in between). Every way must give the
/// same events and error. Returns the whole-buffer outcome.
Outcome run_all_splits(const Bytes& wire, const MessageConfig& cfg,
                       const InflaterOptions* inflate = nullptr) {
  const Outcome whole = run_cuts(wire, cfg, {}, inflate);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
                            std::size_t{13}, std::size_t{997}}) {
    if (chunk >= wire.size()) continue;
    std::vector<std::size_t> cuts;
    for (std::size_t c = chunk; c < wire.size(); c += chunk) cuts.push_back(c);
    INFO("chunks of " << chunk);
    REQUIRE(run_cuts(wire, cfg, cuts, inflate) == whole);
  }
  const std::size_t n = wire.size();
  for (std::size_t cut = 0; cut <= n; ++cut) {
    if (n > 2048 && cut > 300 && cut + 300 < n && cut % 509 != 0) continue;
    INFO("cut at " << cut << " of " << n);
    REQUIRE(run_cuts(wire, cfg, {cut}, inflate) == whole);
  }
  return whole;
}

/// A table row: a wire image, the role/limits, what must come out.
struct Case {
  std::string name;
  MessageConfig cfg;
  Bytes wire;
  std::vector<Event> events;
  std::optional<WsErrc> error;
};

void run_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    INFO("case " << c.name);
    const Outcome got = run_all_splits(c.wire, c.cfg);
    CHECK(got.events == c.events);
    if (c.error) {
      CHECK(got.error == make_error_code(*c.error));
    } else {
      CHECK_FALSE(got.error);
    }
  }
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

std::string all_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + 3);
  return s;
}

}  // namespace

// =============================================================================================
// RFC 6455 §5.7 examples
// =============================================================================================

TEST_CASE("RFC 6455 section 5.7 examples decode exactly in their role", "[proto][ws][message]") {
  const std::string big256 = all_bytes(256);
  const std::string big64k = all_bytes(65536);
  Bytes b256 = hex({0x82, 0x7E, 0x01, 0x00});
  append(b256, big256);
  Bytes b64k = hex({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00});
  append(b64k, big64k);
  run_cases({
      {"unmasked text Hello",
       client_cfg(),
       hex({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}),
       {text("Hello")},
       {}},
      {"masked text Hello",
       server_cfg(),
       hex({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
       {text("Hello")},
       {}},
      {"fragmented unmasked Hel lo",
       client_cfg(),
       hex({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}),
       {text("Hello")},
       {}},
      {"unmasked ping Hello",
       client_cfg(),
       hex({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}),
       {ping("Hello")},
       {}},
      {"masked pong Hello",
       server_cfg(),
       hex({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
       {pong("Hello")},
       {}},
      {"256 bytes binary 16-bit length", client_cfg(), b256, {binary(big256)}, {}},
      {"65536 bytes binary 64-bit length", client_cfg(), b64k, {binary(big64k)}, {}},
  });
}

TEST_CASE("RFC 6455 section 5.7 examples in the other role", "[proto][ws][message]") {
  // The same messages as the peer of the other role sends them, and the RFC bytes rejected by
  // the wrong role (§5.1).
  const std::string big256 = all_bytes(256);
  const std::string big64k = all_bytes(65536);
  run_cases({
      {"masked text Hello",
       server_cfg(),
       Wire::to_server().frame(Opcode::text, "Hello").bytes(),
       {text("Hello")},
       {}},
      {"unmasked text Hello",
       client_cfg(),
       Wire::to_client().frame(Opcode::text, "Hello").bytes(),
       {text("Hello")},
       {}},
      {"masked fragments",
       server_cfg(),
       Wire::to_server()
           .frame(Opcode::text, "Hel", false)
           .frame(Opcode::continuation, "lo")
           .bytes(),
       {text("Hello")},
       {}},
      {"masked ping",
       server_cfg(),
       Wire::to_server().frame(Opcode::ping, "Hello").bytes(),
       {ping("Hello")},
       {}},
      {"unmasked pong",
       client_cfg(),
       Wire::to_client().frame(Opcode::pong, "Hello").bytes(),
       {pong("Hello")},
       {}},
      {"masked 256",
       server_cfg(),
       Wire::to_server().frame(Opcode::binary, big256).bytes(),
       {binary(big256)},
       {}},
      {"masked 65536",
       server_cfg(),
       Wire::to_server().frame(Opcode::binary, big64k).bytes(),
       {binary(big64k)},
       {}},
      {"RFC unmasked text to a server",
       server_cfg(),
       hex({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}),
       {},
       WsErrc::unmasked_client_frame},
      {"RFC masked text to a client",
       client_cfg(),
       hex({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
       {},
       WsErrc::masked_server_frame},
      {"RFC masked pong to a client",
       client_cfg(),
       hex({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
       {},
       WsErrc::masked_server_frame},
  });
}

// =============================================================================================
// One row per WsErrc
// =============================================================================================

TEST_CASE("every WsErrc is produced by the assembler with its close code", "[proto][ws][message]") {
  struct Row {
    WsErrc error;
    MessageConfig cfg;
    Bytes wire;
    CloseCode close;
    const InflaterOptions* inflate = nullptr;
  };
  const InflaterOptions inflate;
  MessageConfig small = server_cfg();
  small.max_frame_size = 10;
  small.max_message_size = 15;
  auto w = [] { return Wire::to_server(); };
  auto with = [](FrameHeader h, auto&& edit) {
    edit(h);
    return h;
  };
  Wire reserved_bits = w();
  reserved_bits.custom(
      with(reserved_bits.header(Opcode::text, 2), [](FrameHeader& h) { h.rsv2 = true; }), "hi");
  Wire unmasked = Wire::to_client();
  unmasked.frame(Opcode::text, "hi");
  Wire masked = w();
  masked.frame(Opcode::text, "hi");
  Wire control_frag = w();
  control_frag.frame(Opcode::ping, "x", false);

  const std::vector<Row> rows = {
      {WsErrc::reserved_opcode, server_cfg(),
       w().custom(w().header(static_cast<Opcode>(3), 0), "").bytes(), CloseCode::protocol_error},
      {WsErrc::reserved_bits, server_cfg(), reserved_bits.bytes(), CloseCode::protocol_error},
      {WsErrc::rsv1_not_first_frame, deflate_cfg(),
       w().frame(Opcode::text, "a", false, true)
           .frame(Opcode::continuation, "b", true, true)
           .bytes(),
       CloseCode::protocol_error},
      {WsErrc::unmasked_client_frame, server_cfg(), unmasked.bytes(), CloseCode::protocol_error},
      {WsErrc::masked_server_frame, client_cfg(), masked.bytes(), CloseCode::protocol_error},
      {WsErrc::length_high_bit, server_cfg(),
       hex({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}), CloseCode::protocol_error},
      {WsErrc::non_minimal_length, server_cfg(),
       hex({0x82, 0xFE, 0x00, 0x05, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'}),
       CloseCode::protocol_error},
      {WsErrc::control_too_long, server_cfg(),
       w().frame(Opcode::ping, std::string(126, 'p')).bytes(), CloseCode::protocol_error},
      {WsErrc::control_fragmented, server_cfg(), control_frag.bytes(), CloseCode::protocol_error},
      {WsErrc::unexpected_continuation, server_cfg(), w().frame(Opcode::continuation, "x").bytes(),
       CloseCode::protocol_error},
      {WsErrc::expected_continuation, server_cfg(),
       w().frame(Opcode::text, "a", false).frame(Opcode::binary, "b").bytes(),
       CloseCode::protocol_error},
      {WsErrc::close_payload_one_byte, server_cfg(), w().frame(Opcode::close, "\x03").bytes(),
       CloseCode::protocol_error},
      {WsErrc::invalid_close_code, server_cfg(), w().frame(Opcode::close, "\x03\xEE").bytes(),
       CloseCode::protocol_error},  // 1006
      {WsErrc::frame_after_close, server_cfg(),
       w().frame(Opcode::close, "").frame(Opcode::ping, "").bytes(), CloseCode::protocol_error},
      {WsErrc::invalid_utf8, server_cfg(), w().frame(Opcode::text, "ok\xFF").bytes(),
       CloseCode::invalid_payload},
      {WsErrc::invalid_close_reason, server_cfg(), w().frame(Opcode::close, "\x03\xE8\xC3").bytes(),
       CloseCode::invalid_payload},
      {WsErrc::frame_too_big, small, w().frame(Opcode::binary, std::string(11, 'x')).bytes(),
       CloseCode::message_too_big},
      {WsErrc::message_too_big, small,
       w().frame(Opcode::binary, std::string(10, 'x'), false)
           .frame(Opcode::continuation, std::string(6, 'y'))
           .bytes(),
       CloseCode::message_too_big},
      // 0xFF opens a block of the reserved type 3 (RFC 1951 §3.2.3).
      {WsErrc::bad_compressed_data, deflate_cfg(),
       w().frame(Opcode::binary, "\xFF\xFF\xFF", true, true).bytes(), CloseCode::invalid_payload,
       &inflate},
  };
  REQUIRE(rows.size() == static_cast<std::size_t>(WsErrc::bad_compressed_data));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    REQUIRE(static_cast<std::size_t>(row.error) == i + 1);  // in enum order, none missing
    INFO(make_error_code(row.error).message());
    const Outcome got = run_all_splits(row.wire, row.cfg, row.inflate);
    CHECK(got.error == make_error_code(row.error));
    CHECK(close_code_for(got.error) == row.close);
    // Nothing is delivered for an offending message; only frame_after_close follows an event.
    if (row.error == WsErrc::frame_after_close) {
      CHECK(got.events == std::vector<Event>{close_ev(1005)});
    } else {
      CHECK(got.events.empty());
    }
  }
}

// =============================================================================================
// Autobahn-like case groups (our own tables, named after the Autobahn|Testsuite groups)
// =============================================================================================

TEST_CASE("1.x framing: text and binary at every length boundary", "[proto][ws][message]") {
  for (std::size_t len :
       std::initializer_list<std::size_t>{0, 1, 125, 126, 127, 128, 65535, 65536}) {
    INFO("length " << len);
    const std::string payload = pattern(len);
    for (Opcode op : {Opcode::text, Opcode::binary}) {
      const Event want = op == Opcode::text ? text(payload) : binary(payload);
      CHECK(run_all_splits(Wire::to_server().frame(op, payload).bytes(), server_cfg()) ==
            Outcome{{want}, {}});
      CHECK(run_all_splits(Wire::to_client().frame(op, payload).bytes(), client_cfg()) ==
            Outcome{{want}, {}});
    }
  }
}

TEST_CASE("1.x framing: many messages in one buffer keep their order", "[proto][ws][message]") {
  Wire w = Wire::to_server();
  std::vector<Event> want;
  for (std::size_t i = 0; i < 40; ++i) {
    const std::string p = pattern(i * 5);
    if (i % 2 == 0) {
      w.frame(Opcode::text, p);
      want.push_back(text(p));
    } else {
      w.frame(Opcode::binary, p);
      want.push_back(binary(p));
    }
  }
  CHECK(run_all_splits(w.bytes(), server_cfg()) == Outcome{want, {}});
}

TEST_CASE("2.x ping and pong", "[proto][ws][message]") {
  const std::string b125 = all_bytes(125);
  auto w = [] { return Wire::to_server(); };
  Wire ten = w();
  std::vector<Event> ten_pings;
  for (int i = 0; i < 10; ++i) {
    ten.frame(Opcode::ping, "payload-" + std::to_string(i));
    ten_pings.push_back(ping("payload-" + std::to_string(i)));
  }
  run_cases({
      {"2.1 empty ping", server_cfg(), w().frame(Opcode::ping, "").bytes(), {ping("")}, {}},
      {"2.2 text ping",
       server_cfg(),
       w().frame(Opcode::ping, "Hello, world!").bytes(),
       {ping("Hello, world!")},
       {}},
      {"2.3 binary ping",
       server_cfg(),
       w().frame(Opcode::ping, std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8)).bytes(),
       {ping(std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8))},
       {}},
      {"2.4 ping of 125 bytes",
       server_cfg(),
       w().frame(Opcode::ping, b125).bytes(),
       {ping(b125)},
       {}},
      {"2.5 ping of 126 bytes",
       server_cfg(),
       w().frame(Opcode::ping, b125 + "x").bytes(),
       {},
       WsErrc::control_too_long},
      {"2.7 unsolicited empty pong",
       server_cfg(),
       w().frame(Opcode::pong, "").bytes(),
       {pong("")},
       {}},
      {"2.8 unsolicited pong with payload",
       server_cfg(),
       w().frame(Opcode::pong, "unsolicited").bytes(),
       {pong("unsolicited")},
       {}},
      {"2.9 pong then ping",
       server_cfg(),
       w().frame(Opcode::pong, "a").frame(Opcode::ping, "b").bytes(),
       {pong("a"), ping("b")},
       {}},
      {"2.10 ten pings", server_cfg(), ten.bytes(), ten_pings, {}},
      {"2.x client role ping of 125 bytes",
       client_cfg(),
       Wire::to_client().frame(Opcode::ping, b125).bytes(),
       {ping(b125)},
       {}},
  });
}

TEST_CASE("2.x a 126-byte ping fails from its header alone", "[proto][ws][message]") {
  Wire w = Wire::to_server();
  w.custom(w.header(Opcode::ping, 126), "");  // header only: the payload never arrives
  Bytes buf = w.bytes();
  MessageAssembler a;
  Recorder rec;
  CHECK(a.feed(buf, rec).error() == make_error_code(WsErrc::control_too_long));
}

TEST_CASE("3.x reserved bits", "[proto][ws][message]") {
  auto w = [] { return Wire::to_server(); };
  auto rsv = [](Wire wire, Opcode op, std::string_view payload, unsigned bits) {
    FrameHeader h = wire.header(op, payload.size());
    h.rsv1 = (bits & 4u) != 0;
    h.rsv2 = (bits & 2u) != 0;
    h.rsv3 = (bits & 1u) != 0;
    wire.custom(h, payload);
    return wire.bytes();
  };
  Wire then_ping = w();
  then_ping.frame(Opcode::text, "small");
  Bytes t32 = rsv(then_ping, Opcode::text, "small", 2);
  append(t32, w().frame(Opcode::ping, "").bytes());
  run_cases({
      {"3.1 text RSV=1",
       server_cfg(),
       rsv(w(), Opcode::text, "small", 1),
       {},
       WsErrc::reserved_bits},
      {"3.2 text, text RSV=2, ping", server_cfg(), t32, {text("small")}, WsErrc::reserved_bits},
      {"3.3 text RSV=3",
       server_cfg(),
       rsv(w(), Opcode::text, "small", 3),
       {},
       WsErrc::reserved_bits},
      {"3.4 text RSV=4 without deflate",
       server_cfg(),
       rsv(w(), Opcode::text, "small", 4),
       {},
       WsErrc::reserved_bits},
      {"3.5 binary RSV=5",
       server_cfg(),
       rsv(w(), Opcode::binary, "\x01\x02", 5),
       {},
       WsErrc::reserved_bits},
      {"3.6 ping RSV=6", server_cfg(), rsv(w(), Opcode::ping, "p", 6), {}, WsErrc::reserved_bits},
      {"3.7 close RSV=7", server_cfg(), rsv(w(), Opcode::close, "", 7), {}, WsErrc::reserved_bits},
      {"deflate: RSV2 still rejected",
       deflate_cfg(),
       rsv(w(), Opcode::text, "x", 2),
       {},
       WsErrc::reserved_bits},
      {"deflate: RSV1 on a ping",
       deflate_cfg(),
       rsv(w(), Opcode::ping, "p", 4),
       {},
       WsErrc::rsv1_not_first_frame},
      {"deflate: RSV1 on a close",
       deflate_cfg(),
       rsv(w(), Opcode::close, "", 4),
       {},
       WsErrc::rsv1_not_first_frame},
      {"deflate: compressed binary",
       deflate_cfg(),
       w().frame(Opcode::binary, "\x01\x02", true, true).bytes(),
       {binary("\x01\x02", true)},
       {}},
      {"deflate: compressed text is not UTF-8 checked",
       deflate_cfg(),
       w().frame(Opcode::text, "\xff\xfe", true, true).bytes(),
       {text("\xff\xfe", true)},
       {}},
      {"deflate: compressed fragmented text",
       deflate_cfg(),
       w().frame(Opcode::text, "\xf0", false, true)
           .frame(Opcode::ping, "p")
           .frame(Opcode::continuation, "\x80")
           .bytes(),
       {ping("p"), text("\xf0\x80", true)},
       {}},
      {"deflate: uncompressed text still checked",
       deflate_cfg(),
       w().frame(Opcode::text, "\xff").bytes(),
       {},
       WsErrc::invalid_utf8},
      {"deflate: compressed then plain",
       deflate_cfg(),
       w().frame(Opcode::text, "zz", true, true).frame(Opcode::text, "aa").bytes(),
       {text("zz", true), text("aa")},
       {}},
      {"deflate client role",
       deflate_cfg(Role::client),
       Wire::to_client().frame(Opcode::binary, "c", true, true).bytes(),
       {binary("c", true)},
       {}},
  });
}

TEST_CASE("4.x reserved opcodes", "[proto][ws][message]") {
  for (unsigned op : {3u, 4u, 5u, 6u, 7u, 11u, 12u, 13u, 14u, 15u}) {
    INFO("opcode " << op);
    Wire w = Wire::to_server();
    w.frame(Opcode::text, "before");
    w.custom(w.header(static_cast<Opcode>(op), 5), "hello");
    w.frame(Opcode::ping, "after");
    CHECK(run_all_splits(w.bytes(), server_cfg()) ==
          Outcome{{text("before")}, make_error_code(WsErrc::reserved_opcode)});
    // Inside a fragmented message too.
    Wire f = Wire::to_server();
    f.frame(Opcode::text, "a", false);
    f.custom(f.header(static_cast<Opcode>(op), 0), "");
    CHECK(run_all_splits(f.bytes(), server_cfg()) ==
          Outcome{{}, make_error_code(WsErrc::reserved_opcode)});
  }
}

TEST_CASE("5.x fragmentation", "[proto][ws][message]") {
  auto w = [] { return Wire::to_server(); };
  Wire five = w();
  five.frame(Opcode::text, "fragment1", false)
      .frame(Opcode::ping, "p1")
      .frame(Opcode::continuation, "fragment2", false)
      .frame(Opcode::pong, "p2")
      .frame(Opcode::continuation, "fragment3", false)
      .frame(Opcode::ping, "p3")
      .frame(Opcode::continuation, "fragment4", false)
      .frame(Opcode::continuation, "fragment5");
  const std::string big = pattern(70000);
  run_cases({
      {"5.1 fragmented ping",
       server_cfg(),
       w().frame(Opcode::ping, "frag1", false).frame(Opcode::continuation, "frag2").bytes(),
       {},
       WsErrc::control_fragmented},
      {"5.2 fragmented pong",
       server_cfg(),
       w().frame(Opcode::pong, "frag1", false).frame(Opcode::continuation, "frag2").bytes(),
       {},
       WsErrc::control_fragmented},
      {"5.3 text in two fragments",
       server_cfg(),
       w().frame(Opcode::text, "frag1", false).frame(Opcode::continuation, "frag2").bytes(),
       {text("frag1frag2")},
       {}},
      {"5.5 binary in two fragments",
       server_cfg(),
       w().frame(Opcode::binary, "\x01", false).frame(Opcode::continuation, "\x02").bytes(),
       {binary("\x01\x02")},
       {}},
      {"5.6 ping in the middle",
       server_cfg(),
       w().frame(Opcode::text, "frag1", false)
           .frame(Opcode::ping, "ping")
           .frame(Opcode::continuation, "frag2")
           .bytes(),
       {ping("ping"), text("frag1frag2")},
       {}},
      {"5.9 continuation without start, FIN",
       server_cfg(),
       w().frame(Opcode::continuation, "x").frame(Opcode::text, "y").bytes(),
       {},
       WsErrc::unexpected_continuation},
      {"5.10 continuation without start, no FIN",
       server_cfg(),
       w().frame(Opcode::continuation, "x", false).frame(Opcode::text, "y").bytes(),
       {},
       WsErrc::unexpected_continuation},
      {"5.13 continuation after a finished message",
       server_cfg(),
       w().frame(Opcode::text, "done").frame(Opcode::continuation, "more").bytes(),
       {text("done")},
       WsErrc::unexpected_continuation},
      {"5.15 new message inside a fragmented one",
       server_cfg(),
       w().frame(Opcode::text, "f1", false)
           .frame(Opcode::continuation, "f2", false)
           .frame(Opcode::text, "f3", false)
           .frame(Opcode::continuation, "f4")
           .bytes(),
       {},
       WsErrc::expected_continuation},
      {"5.19 five fragments with pings between",
       server_cfg(),
       five.bytes(),
       {ping("p1"), pong("p2"), ping("p3"), text("fragment1fragment2fragment3fragment4fragment5")},
       {}},
      {"empty fragments",
       server_cfg(),
       w().frame(Opcode::text, "", false)
           .frame(Opcode::continuation, "", false)
           .frame(Opcode::continuation, "")
           .bytes(),
       {text("")},
       {}},
      {"close inside a fragmented message",
       server_cfg(),
       w().frame(Opcode::text, "f1", false)
           .frame(Opcode::close, "\x03\xE8")
           .frame(Opcode::continuation, "f2")
           .bytes(),
       {close_ev(1000)},
       WsErrc::frame_after_close},
      {"large fragments",
       server_cfg(),
       w().frame(Opcode::binary, big.substr(0, 65536), false)
           .frame(Opcode::continuation, big.substr(65536))
           .bytes(),
       {binary(big)},
       {}},
      {"client role fragments",
       client_cfg(),
       Wire::to_client()
           .frame(Opcode::binary, "a", false)
           .frame(Opcode::ping, "")
           .frame(Opcode::continuation, "b")
           .bytes(),
       {ping(""), binary("ab")},
       {}},
  });
}

TEST_CASE("5.x every fragmentation of a text message gives the same message",
          "[proto][ws][message]") {
  // 6.2-style: split a multi-byte text at every byte into two fragments (inside code points
  // too), and into one fragment per byte.
  const std::string msg = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9d\x84\x9e";
  for (std::size_t cut = 0; cut <= msg.size(); ++cut) {
    INFO("fragment cut " << cut);
    Wire w = Wire::to_server();
    w.frame(Opcode::text, msg.substr(0, cut), false).frame(Opcode::continuation, msg.substr(cut));
    CHECK(run_all_splits(w.bytes(), server_cfg()) == Outcome{{text(msg)}, {}});
  }
  Wire each = Wire::to_server();
  for (std::size_t i = 0; i < msg.size(); ++i) {
    each.frame(i == 0 ? Opcode::text : Opcode::continuation, msg.substr(i, 1), i + 1 == msg.size());
  }
  CHECK(run_all_splits(each.bytes(), server_cfg()) == Outcome{{text(msg)}, {}});
}

TEST_CASE("6.x UTF-8 validation of text messages", "[proto][ws][message]") {
  auto w = [] { return Wire::to_server(); };
  struct Utf8Row {
    const char* name;
    std::string text;
    bool valid;
  };
  const std::vector<Utf8Row> rows = {
      {"ascii", "Hello-@-UTF-8!!", true},
      {"two-byte", "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1", true},
      {"greek kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true},
      {"U+FFFF", "\xef\xbf\xbf", true},
      {"U+10FFFF", "\xf4\x8f\xbf\xbf", true},
      {"U+0000", std::string("a\0b", 3), true},
      {"surrogate D800", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64", false},
      {"surrogate DFFF", "\xed\xbf\xbf", false},
      {"overlong slash 2 bytes", "\xc0\xaf", false},
      {"overlong slash 3 bytes", "\xe0\x80\xaf", false},
      {"5-byte form", "\xf8\x88\x80\x80\xaf", false},
      {"above U+10FFFF", "\xf4\x90\x80\x80", false},
      {"0xFF", "\xff", false},
      {"lone continuation", "a\x80", false},
      {"truncated at end", "\xce\xba\xce", false},
      {"truncated 4-byte at end", "\xf0\x9d\x84", false},
  };
  for (const Utf8Row& row : rows) {
    INFO(row.name);
    const Outcome want = row.valid ? Outcome{{text(row.text)}, {}}
                                   : Outcome{{}, make_error_code(WsErrc::invalid_utf8)};
    CHECK(run_all_splits(w().frame(Opcode::text, row.text).bytes(), server_cfg()) == want);
    // Same bytes as binary: never checked.
    CHECK(run_all_splits(w().frame(Opcode::binary, row.text).bytes(), server_cfg()) ==
          Outcome{{binary(row.text)}, {}});
    // Same text split across two fragments in the middle.
    const std::size_t mid = row.text.size() / 2;
    Wire f = w();
    f.frame(Opcode::text, row.text.substr(0, mid), false)
        .frame(Opcode::continuation, row.text.substr(mid));
    CHECK(run_all_splits(f.bytes(), server_cfg()) == want);
  }
}

TEST_CASE("6.x invalid UTF-8 in the first fragment fails before the rest arrives",
          "[proto][ws][message]") {
  Wire w = Wire::to_server();
  w.frame(Opcode::text, "valid \xed\xa0\x80 invalid", false);
  const std::size_t first_frame = w.bytes().size();
  w.frame(Opcode::continuation, " and more", false).frame(Opcode::continuation, " end");
  Bytes buf = w.bytes();

  MessageAssembler a;
  Recorder rec;
  const Result<std::size_t> r = a.feed(MutableByteView(buf).first(first_frame), rec);
  CHECK(r.error() == make_error_code(WsErrc::invalid_utf8));
  CHECK(rec.events.empty());
  CHECK(a.buffered_capacity() == 0);  // failed before keeping the bytes
}

TEST_CASE("6.x UTF-8 fails at the exact byte that makes the text invalid", "[proto][ws][message]") {
  // "ab" then ED A0 (a surrogate): invalid at the A0, long before the frame is complete.
  const std::string payload = "ab\xed\xa0\x80xyz";
  Wire w = Wire::to_server();
  w.frame(Opcode::text, payload);
  Bytes buf = w.bytes();
  const std::size_t header = buf.size() - payload.size();
  MessageAssembler a;
  Recorder rec;
  for (std::size_t i = 0; i < buf.size(); ++i) {
    INFO("byte " << i);
    const Result<std::size_t> r = a.feed(MutableByteView(buf).subspan(i, 1), rec);
    if (i < header + 3) {
      REQUIRE(r.ok());
    } else {
      CHECK(i == header + 3);
      CHECK(r.error() == make_error_code(WsErrc::invalid_utf8));
      break;
    }
  }
  CHECK(rec.events.empty());
}

TEST_CASE("7.x close handling", "[proto][ws][message]") {
  auto w = [] { return Wire::to_server(); };
  const std::string r123 = pattern(123);
  run_cases({
      {"7.1.1 text then close",
       server_cfg(),
       w().frame(Opcode::text, "Hello").frame(Opcode::close, "\x03\xE8").bytes(),
       {text("Hello"), close_ev(1000)},
       {}},
      {"7.1.2 two closes",
       server_cfg(),
       w().frame(Opcode::close, "\x03\xE8").frame(Opcode::close, "\x03\xE8").bytes(),
       {close_ev(1000)},
       WsErrc::frame_after_close},
      {"7.1.3 ping after close",
       server_cfg(),
       w().frame(Opcode::close, "\x03\xE8").frame(Opcode::ping, "x").bytes(),
       {close_ev(1000)},
       WsErrc::frame_after_close},
      {"7.1.4 text after close",
       server_cfg(),
       w().frame(Opcode::close, "").frame(Opcode::text, "x").bytes(),
       {close_ev(1005)},
       WsErrc::frame_after_close},
      {"7.1.6 one stray byte after close",
       server_cfg(),
       w().frame(Opcode::close, "").raw({0x00}).bytes(),
       {close_ev(1005)},
       WsErrc::frame_after_close},
      {"7.3.1 empty close",
       server_cfg(),
       w().frame(Opcode::close, "").bytes(),
       {close_ev(1005)},
       {}},
      {"7.3.2 one-byte close",
       server_cfg(),
       w().frame(Opcode::close, "\x03").bytes(),
       {},
       WsErrc::close_payload_one_byte},
      {"7.3.3 code only",
       server_cfg(),
       w().frame(Opcode::close, "\x03\xE8").bytes(),
       {close_ev(1000)},
       {}},
      {"7.3.4 code and reason",
       server_cfg(),
       w().frame(Opcode::close, "\x03\xE8Hello").bytes(),
       {close_ev(1000, "Hello")},
       {}},
      {"7.3.5 reason of 123 bytes",
       server_cfg(),
       w().frame(Opcode::close, "\x03\xE8" + r123).bytes(),
       {close_ev(1000, r123)},
       {}},
      {"7.3.6 reason of 124 bytes",
       server_cfg(),
       w().frame(Opcode::close, "\x03\xE8" + r123 + "x").bytes(),
       {},
       WsErrc::control_too_long},
      {"7.5.1 reason not UTF-8",
       server_cfg(),
       w().frame(Opcode::close, "\x03\xE8\xce\xba\xe1\xbd\xb9\xed\xa0\x80").bytes(),
       {},
       WsErrc::invalid_close_reason},
      {"UTF-8 reason",
       server_cfg(),
       w().frame(Opcode::close, "\x0F\xA0\xce\xba").bytes(),
       {close_ev(4000, "\xce\xba")},
       {}},
      {"client role close",
       client_cfg(),
       Wire::to_client().frame(Opcode::close, "\x03\xE9going").bytes(),
       {close_ev(1001, "going")},
       {}},
  });
}

TEST_CASE("7.7 and 7.9 close codes received on the wire", "[proto][ws][message]") {
  struct Row {
    unsigned code;
    bool valid;
  };
  const Row rows[] = {{0, false},    {999, false},  {1000, true},  {1001, true},  {1002, true},
                      {1003, true},  {1004, false}, {1005, false}, {1006, false}, {1007, true},
                      {1008, true},  {1009, true},  {1010, true},  {1011, true},  {1012, true},
                      {1013, true},  {1014, true},  {1015, false}, {1016, false}, {1100, false},
                      {2000, false}, {2999, false}, {3000, true},  {3999, true},  {4000, true},
                      {4999, true},  {5000, false}, {65535, false}};
  for (const Row& row : rows) {
    INFO("code " << row.code);
    std::string payload = {static_cast<char>(row.code >> 8), static_cast<char>(row.code & 0xFF)};
    const Outcome got =
        run_all_splits(Wire::to_server().frame(Opcode::close, payload).bytes(), server_cfg());
    if (row.valid) {
      CHECK(got == Outcome{{close_ev(static_cast<int>(row.code))}, {}});
    } else {
      CHECK(got == Outcome{{}, make_error_code(WsErrc::invalid_close_code)});
    }
  }
}

TEST_CASE("9.x limits are enforced from the header", "[proto][ws][message]") {
  auto w = [] { return Wire::to_server(); };
  MessageConfig cfg = server_cfg();
  cfg.max_frame_size = 1000;
  cfg.max_message_size = 2500;
  const std::string k1 = pattern(1000);
  run_cases({
      {"frame at the limit", cfg, w().frame(Opcode::binary, k1).bytes(), {binary(k1)}, {}},
      {"frame over the limit",
       cfg,
       w().frame(Opcode::binary, k1 + "x").bytes(),
       {},
       WsErrc::frame_too_big},
      {"text frame over the limit",
       cfg,
       w().frame(Opcode::text, k1 + "x").bytes(),
       {},
       WsErrc::frame_too_big},
      {"message at the limit",
       cfg,
       w().frame(Opcode::binary, k1, false)
           .frame(Opcode::continuation, k1, false)
           .frame(Opcode::continuation, k1.substr(0, 500))
           .bytes(),
       {binary(k1 + k1 + k1.substr(0, 500))},
       {}},
      {"message over the limit",
       cfg,
       w().frame(Opcode::binary, k1, false)
           .frame(Opcode::continuation, k1, false)
           .frame(Opcode::continuation, k1.substr(0, 501))
           .bytes(),
       {},
       WsErrc::message_too_big},
      {"limits reset between messages",
       cfg,
       w().frame(Opcode::binary, k1, false)
           .frame(Opcode::continuation, k1)
           .frame(Opcode::binary, k1, false)
           .frame(Opcode::continuation, k1)
           .bytes(),
       {binary(k1 + k1), binary(k1 + k1)},
       {}},
      {"control frames are not bound by max_frame_size",
       [] {
         MessageConfig c = server_cfg();
         c.max_frame_size = 10;
         return c;
       }(),
       w().frame(Opcode::ping, pattern(125)).bytes(),
       {ping(pattern(125))},
       {}},
      {"zero limits allow only empty messages",
       [] {
         MessageConfig c = server_cfg();
         c.max_frame_size = 0;
         c.max_message_size = 0;
         return c;
       }(),
       w().frame(Opcode::text, "").frame(Opcode::binary, "x").bytes(),
       {text("")},
       WsErrc::frame_too_big},
  });
}

TEST_CASE("9.x a huge announced length fails before any payload", "[proto][ws][message]") {
  Wire w = Wire::to_server();
  w.custom(w.header(Opcode::binary, std::uint64_t{1} << 40), "");  // header only
  Bytes buf = w.bytes();
  MessageAssembler a;  // 16 MiB defaults
  Recorder rec;
  CHECK(a.feed(buf, rec).error() == make_error_code(WsErrc::frame_too_big));
  CHECK(a.buffered_capacity() == 0);

  MessageConfig cfg = server_cfg();
  cfg.max_frame_size = std::uint64_t{1} << 41;  // only the message limit applies
  Wire m = Wire::to_server();
  m.custom(m.header(Opcode::binary, std::uint64_t{1} << 40), "");
  Bytes mbuf = m.bytes();
  MessageAssembler b(cfg);
  CHECK(b.feed(mbuf, rec).error() == make_error_code(WsErrc::message_too_big));
  CHECK(b.buffered_capacity() == 0);
}

TEST_CASE("9.x a 1 MiB message in 64 KiB fragments with default limits", "[proto][ws][message]") {
  const std::string big = pattern(std::size_t{1} << 20);
  Wire w = Wire::to_server();
  for (std::size_t off = 0; off < big.size(); off += 65536) {
    w.frame(off == 0 ? Opcode::text : Opcode::continuation, big.substr(off, 65536),
            off + 65536 >= big.size());
  }
  const Outcome whole = run_cuts(w.bytes(), server_cfg(), {});
  CHECK(whole == Outcome{{text(big)}, {}});
  std::vector<std::size_t> cuts;
  for (std::size_t c = 4093; c < w.bytes().size(); c += 4093) cuts.push_back(c);
  CHECK(run_cuts(w.bytes(), server_cfg(), cuts) == whole);
}

// =============================================================================================
// Buffers, lifetime, contract
// =============================================================================================

TEST_CASE("whole unfragmented frames are delivered in place, unmasked", "[proto][ws][message]") {
  Bytes buf = hex({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  MessageAssembler a;
  Recorder rec;
  REQUIRE(a.feed(buf, rec).ok());
  REQUIRE(rec.events == std::vector<Event>{text("Hello")});
  CHECK(rec.message_data.at(0) == buf.data() + 6);       // a view into our buffer
  CHECK(as_chars(ByteView(buf).subspan(6)) == "Hello");  // unmasked in place
  CHECK(a.buffered_capacity() == 0);
}

TEST_CASE("fragmented and split messages are copied and the copy is released",
          "[proto][ws][message]") {
  Wire w = Wire::to_server();
  w.frame(Opcode::binary, "frag1", false).frame(Opcode::continuation, "frag2");
  Bytes buf = w.bytes();
  MessageAssembler a;
  Recorder rec;
  const std::size_t first = 2 + 4 + 5;
  REQUIRE(a.feed(MutableByteView(buf).first(first), rec).ok());
  CHECK(a.in_message());
  CHECK(a.buffered_capacity() >= 5);
  REQUIRE(a.feed(MutableByteView(buf).subspan(first), rec).ok());
  REQUIRE(rec.events == std::vector<Event>{binary("frag1frag2")});
  const std::byte* p = rec.message_data.at(0);
  CHECK((p < buf.data() || p >= buf.data() + buf.size()));  // not a view into the input
  CHECK_FALSE(a.in_message());
  CHECK(a.buffered_capacity() == 0);

  // An unfragmented frame split across two feeds is copied too, and released.
  Wire s = Wire::to_server();
  s.frame(Opcode::text, "split me");
  Bytes sbuf = s.bytes();
  REQUIRE(a.feed(MutableByteView(sbuf).first(9), rec).ok());
  CHECK(a.buffered_capacity() > 0);
  REQUIRE(a.feed(MutableByteView(sbuf).subspan(9), rec).ok());
  CHECK(rec.events.back() == text("split me"));
  CHECK(a.buffered_capacity() == 0);
}

TEST_CASE("a partial header or control frame holds no heap memory", "[proto][ws][message]") {
  Wire w = Wire::to_server();
  w.frame(Opcode::ping, pattern(100));
  Bytes buf = w.bytes();
  MessageAssembler a;
  Recorder rec;
  REQUIRE(a.feed(MutableByteView(buf).first(3), rec).ok());  // inside the header
  CHECK(a.buffered_capacity() == 0);
  REQUIRE(a.feed(MutableByteView(buf).subspan(3, 50), rec).ok());  // inside the payload
  CHECK(a.buffered_capacity() == 0);
  REQUIRE(a.feed(MutableByteView(buf).subspan(53), rec).ok());
  CHECK(rec.events == std::vector<Event>{ping(pattern(100))});
}

TEST_CASE("the assembler is dead after an error", "[proto][ws][message]") {
  Wire w = Wire::to_server();
  w.frame(Opcode::continuation, "x");
  Bytes bad = w.bytes();
  Bytes good = Wire::to_server().frame(Opcode::text, "fine").bytes();
  MessageAssembler a;
  Recorder rec;
  const std::error_code want = make_error_code(WsErrc::unexpected_continuation);
  CHECK(a.feed(bad, rec).error() == want);
  CHECK(a.error() == want);
  CHECK(a.feed(good, rec).error() == want);
  CHECK(a.feed({}, rec).error() == want);
  CHECK(rec.events.empty());
  CHECK(as_chars(ByteView(good).subspan(6)) != "fine");  // not even unmasked
}

TEST_CASE("close_received reports the peer's close", "[proto][ws][message]") {
  Bytes buf = Wire::to_server().frame(Opcode::close, "\x03\xE8").bytes();
  MessageAssembler a;
  Recorder rec;
  CHECK_FALSE(a.close_received());
  REQUIRE(a.feed(buf, rec).ok());
  CHECK(a.close_received());
  CHECK_FALSE(a.error());
  Bytes empty;
  CHECK(a.feed(empty, rec).ok());  // no bytes: nothing after the close yet
}

// =============================================================================================
// Encoder round trip
// =============================================================================================

TEST_CASE("append_frame output decodes to the same message in both roles", "[proto][ws][message]") {
  for (Role receiver : {Role::server, Role::client}) {
    for (std::size_t len : {std::size_t{0}, std::size_t{125}, std::size_t{126}, std::size_t{65535},
                            std::size_t{65536}, std::size_t{1} << 20}) {
      for (Opcode op : {Opcode::text, Opcode::binary}) {
        INFO("receiver " << (receiver == Role::server ? "server" : "client") << " len " << len);
        const std::string payload = pattern(len);
        const std::optional<MaskKey> mask =
            receiver == Role::server ? std::optional<MaskKey>(random_mask_key()) : std::nullopt;
        Bytes wire;
        append_frame(wire, op, as_bytes(payload), true, mask);

        FrameHeader h;
        std::error_code ec;
        const std::size_t n = decode_frame_header(wire, h, ec);
        REQUIRE_FALSE(ec);
        CHECK(n == header_size(len, mask.has_value()));
        CHECK(h.payload_len == len);
        CHECK(h.opcode == op);
        CHECK(h.masked == mask.has_value());
        if (mask) CHECK(h.key == *mask);

        MessageConfig cfg;
        cfg.role = receiver;
        const Event want = op == Opcode::text ? text(payload) : binary(payload);
        CHECK(run_cuts(wire, cfg, {}) == Outcome{{want}, {}});
        CHECK(run_cuts(wire, cfg, {1, n, n + len / 2}) == Outcome{{want}, {}});
      }
    }
  }
}

// =============================================================================================
// permessage-deflate with an inflater attached (RFC 7692 §6-§7)
// =============================================================================================

namespace {

std::string deflated(WsDeflater& d, std::string_view text) {
  Bytes out;
  d.compress(as_bytes(text), out);
  return std::string(as_chars(out));
}

}  // namespace

TEST_CASE("inflating assembler delivers RFC 7692 examples inflated at every split",
          "[proto][ws][message][deflate]") {
  const InflaterOptions takeover;
  const std::string hello("\xf2\x48\xcd\xc9\xc9\x07\x00", 7);  // §7.2.3.1
  auto w = [] { return Wire::to_server(); };
  // One frame; the §7.2.3.1 payload split over two frames with a ping between (§7.2.3.1's
  // fragmented form); the §7.2.3.2 context-takeover pair; then an uncompressed message.
  const Bytes wire =
      w().frame(Opcode::text, hello, true, true)
          .frame(Opcode::text, "\xf2\x48", false, true)
          .frame(Opcode::ping, "p")
          .frame(Opcode::continuation, std::string_view("\xcd\xc9\xc9\x07\x00", 5))
          .frame(Opcode::binary, hello, true, true)
          .frame(Opcode::binary, std::string_view("\xf2\x00\x11\x00\x00", 5), true, true)
          .frame(Opcode::text, "plain")
          .bytes();
  const Outcome got = run_all_splits(wire, deflate_cfg(), &takeover);
  CHECK(got == Outcome{{text("Hello"), ping("p"), text("Hello"), binary("Hello"), binary("Hello"),
                        text("plain")},
                       {}});
}

TEST_CASE("inflating assembler fails fast on compressed text that is not UTF-8",
          "[proto][ws][message][deflate]") {
  const InflaterOptions opts{15, true};
  WsDeflater d(DeflaterOptions{6, 15, 8, true});
  const std::string bad =
      deflated(d, "valid start \xC0\xAF then a long valid tail " + std::string(4000, 'x'));
  // The first fragment carries all but the last compressed byte: enough to inflate the invalid
  // bytes, so the error comes before the rest of the message exists.
  const Bytes first =
      Wire::to_server()
          .frame(Opcode::text, std::string_view(bad).substr(0, bad.size() - 1), false, true)
          .bytes();
  CHECK(run_all_splits(first, deflate_cfg(), &opts) ==
        Outcome{{}, make_error_code(WsErrc::invalid_utf8)});
  // Valid multi-byte text split inside a code point by the compression is fine.
  const std::string ok = deflated(d, "κόσμε " + std::string(300, 'y') + " 😀");
  const Bytes wire = Wire::to_server()
                         .frame(Opcode::text, std::string_view(ok).substr(0, 5), false, true)
                         .frame(Opcode::continuation, std::string_view(ok).substr(5))
                         .bytes();
  CHECK(run_all_splits(wire, deflate_cfg(), &opts) ==
        Outcome{{text("κόσμε " + std::string(300, 'y') + " 😀")}, {}});
}

TEST_CASE("inflating assembler caps the inflated size with max_message_size",
          "[proto][ws][message][deflate]") {
  const InflaterOptions opts{15, true};
  WsDeflater d(DeflaterOptions{6, 15, 8, true});
  const std::string bomb = deflated(d, std::string(1 << 20, '\0'));  // 1 MiB -> ~1 KiB
  MessageConfig cfg = deflate_cfg();
  cfg.max_message_size = 64 * 1024;
  REQUIRE(bomb.size() < cfg.max_message_size);  // the compressed size alone passes the header
  const Bytes wire = Wire::to_server().frame(Opcode::binary, bomb, true, true).bytes();
  CHECK(run_all_splits(wire, cfg, &opts) == Outcome{{}, make_error_code(WsErrc::message_too_big)});
  cfg.max_message_size = 1 << 20;  // exactly the inflated size is accepted
  const Outcome got = run_cuts(wire, cfg, {}, &opts);
  REQUIRE_FALSE(got.error);
  REQUIRE(got.events.size() == 1);
  CHECK(got.events[0].data.size() == std::size_t{1} << 20);
}

TEST_CASE("without an inflater compressed messages stay deflated", "[proto][ws][message]") {
  const std::string hello("\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
  const Bytes wire = Wire::to_server().frame(Opcode::text, hello, true, true).bytes();
  CHECK(run_all_splits(wire, deflate_cfg()) == Outcome{{text(hello, true)}, {}});
}

TEST_CASE("inflating assembler reports the first error in stream order at every split",
          "[proto][ws][message][deflate]") {
  // Regression (found by ws_frame_fuzz): fed whole, zlib reached corrupt data in the same call
  // that produced invalid UTF-8 and the corruption was reported; fed in pieces, the UTF-8 error
  // came first. The bytes inflated before a failure are now judged first, whatever the reads.
  const InflaterOptions opts{15, true};
  WsDeflater d(DeflaterOptions{6, 15, 8, true});
  // A sync-flushed message minus its 00 00 ff ff tail ends where a stored block's LEN/NLEN
  // pair is due (RFC 7692 §7.2.1): LEN 1 with NLEN 0 is corrupt at once.
  const std::string corruption("\x01\x00\x00\x00", 4);
  const std::string payload = deflated(d, "bad \xFF then text") + corruption;
  const Bytes wire = Wire::to_server().frame(Opcode::text, payload, true, true).bytes();
  CHECK(run_all_splits(wire, deflate_cfg(), &opts) ==
        Outcome{{}, make_error_code(WsErrc::invalid_utf8)});
  // Valid text followed by corruption is the corruption.
  const std::string corrupt = deflated(d, "fine text") + corruption;
  const Bytes wire2 = Wire::to_server().frame(Opcode::text, corrupt, true, true).bytes();
  CHECK(run_all_splits(wire2, deflate_cfg(), &opts) ==
        Outcome{{}, make_error_code(WsErrc::bad_compressed_data)});
}
