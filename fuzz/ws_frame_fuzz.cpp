// Fuzzes the WebSocket message assembler (and through it the frame header decoder, close
// payload parser and UTF-8 checks).
//
// Input: byte 0 chooses the configuration and the read boundaries, the rest is the byte stream
// from the peer.
//   bit 0     role: 0 server (expects masked frames), 1 client
//   bit 1     rsv1_allowed (permessage-deflate negotiated)
//   bits 2-3  limits: defaults / 125 B frames and 300 B messages / 0 and 0 / 64 KiB and 64 KiB;
//             with bit 1 set, bit 3 also attaches an inflater (RSV1 messages are inflated)
//   bits 4-7  chunking pattern: 0 = one byte per feed(), else a cycle of small piece sizes
//             (the uWS makeChunked idea: the input chooses its own read boundaries)
// Oracles: the stream fed whole and fed in pieces must give identical events and error; a
// successful feed() consumes its whole piece; after an error feed() keeps returning it;
// delivered data obeys the limits, UTF-8 and close-code rules. A violation traps.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

#include "proto/utf8.hpp"
#include "proto/ws_deflate.hpp"
#include "proto/ws_message.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

struct Event {
  int kind;
  std::uint64_t size;
  std::uint64_t hash;
  bool operator==(const Event&) const = default;
};

std::uint64_t fnv1a(ByteView v) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::byte b : v) h = (h ^ std::to_integer<std::uint64_t>(b)) * 1099511628211ull;
  return h;
}

class Checker final : public MessageEvents {
 public:
  explicit Checker(const MessageConfig& cfg) : cfg_(cfg) {}
  std::vector<Event> events;

  void on_message(Opcode op, ByteView payload, bool compressed) override {
    require(op == Opcode::text || op == Opcode::binary);
    require(payload.size() <= cfg_.max_message_size);
    require(!compressed || cfg_.rsv1_allowed);
    if (op == Opcode::text && !compressed) require(is_valid_utf8(payload));
    events.push_back({op == Opcode::text ? 1 : 2, payload.size(), fnv1a(payload)});
  }
  void on_ping(ByteView payload) override {
    require(payload.size() <= kMaxControlPayload);
    events.push_back({3, payload.size(), fnv1a(payload)});
  }
  void on_pong(ByteView payload) override {
    require(payload.size() <= kMaxControlPayload);
    events.push_back({4, payload.size(), fnv1a(payload)});
  }
  void on_close(CloseCode code, std::string_view reason) override {
    const auto c = static_cast<std::uint16_t>(code);
    require(code == CloseCode::no_status || is_valid_wire_close_code(c));
    require(reason.size() <= 123);
    require(is_valid_utf8(as_bytes(reason)));
    events.push_back({5, c, fnv1a(as_bytes(reason))});
  }

 private:
  MessageConfig cfg_;
};

MessageConfig config_for(std::uint8_t ctl) {
  MessageConfig cfg;
  cfg.role = (ctl & 1u) != 0 ? Role::client : Role::server;
  cfg.rsv1_allowed = (ctl & 2u) != 0;
  switch ((ctl >> 2) & 3u) {
    case 1: {
      cfg.max_frame_size = 125;
      cfg.max_message_size = 300;
      break;
    }
    case 2: {
      cfg.max_frame_size = 0;
      cfg.max_message_size = 0;
      break;
    }
    case 3: {
      cfg.max_frame_size = 65536;
      cfg.max_message_size = 65536;
      break;
    }
    default: break;
  }
  return cfg;
}

/// Piece size number `i` of chunking pattern `p` (1-15): cycles through 1 .. 8p+1.
std::size_t piece_size(unsigned p, std::size_t i) {
  if (p == 0) return 1;
  return 1 + (p * 31 + i * 17) % (p * 8 + 1);
}

struct Outcome {
  std::vector<Event> events;
  std::error_code error;
};

/// Feeds a private copy of `wire` (feed() unmasks in place) in pieces; `pattern` < 0 = whole.
Outcome run(const std::vector<std::byte>& wire, const MessageConfig& cfg, bool inflate,
            int pattern) {
  std::vector<std::byte> buf = wire;
  WsInflater inflater;
  MessageAssembler a(cfg);
  if (inflate) a.set_inflater(&inflater);
  Checker ev(cfg);
  Outcome out;
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < buf.size() || i == 0; ++i) {
    const std::size_t want =
        pattern < 0 ? buf.size() : piece_size(static_cast<unsigned>(pattern), i);
    const std::size_t n = std::min(want, buf.size() - pos);
    const Result<std::size_t> r = a.feed(MutableByteView(buf).subspan(pos, n), ev);
    if (!r) {
      out.error = r.error();
      const std::size_t seen = ev.events.size();
      const Result<std::size_t> again = a.feed(MutableByteView(buf).subspan(pos), ev);
      require(again.error() == out.error && ev.events.size() == seen && a.error() == out.error);
      require(close_code_for(out.error) != CloseCode::internal_error);
      break;
    }
    require(*r == n);
    pos += n;
  }
  out.events = std::move(ev.events);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t ctl = data[0];
  const MessageConfig cfg = config_for(ctl);
  const auto* first = reinterpret_cast<const std::byte*>(data + 1);
  const std::vector<std::byte> wire(first, first + (size - 1));

  const bool inflate = cfg.rsv1_allowed && (ctl & 8u) != 0;
  const Outcome whole = run(wire, cfg, inflate, -1);
  const Outcome pieces = run(wire, cfg, inflate, ctl >> 4);
  require(whole.error == pieces.error);
  require(whole.events == pieces.events);
  return 0;
}
