#pragma once
// Delivery of fan-out frames (chat messages, broker events) to one session, under the route's
// max_backpressure and backpressure_policy (DESIGN.md, "Bytes, buffers, backpressure").
//
// A fan-out frame is encoded once and shared by reference by every receiver. Each receiver
// writes it at once while its connection's send queue is below the high watermark; past that,
// frames wait here (still shared, not copied) until on_drain. When the bytes waiting here and
// in the send queue exceed max_backpressure, the policy applies: `disconnect` closes the session
// 1008, `drop_oldest` drops the oldest waiting frames and, once the receiver has caught up,
// tells it how many with {"type":"dropped","count":N} so it can recover them from history.
// A slow receiver therefore costs bounded memory and never slows the others.
//
// Thread: the session's loop. One DeliveryQueue per session, owned by its handler.

#include <cstddef>
#include <cstdint>
#include <deque>

#include <string_view>

#include "base/bytes.hpp"
#include "net/tcp.hpp"
#include "proto/ws_frame.hpp"
#include "proxy/config.hpp"

namespace wsgate::proxy {

class WsSession;

/// A complete unmasked server frame (FIN set) carrying `payload`: what a fan-out shares.
net::SharedBytes encode_frame(proto::Opcode op, ByteView payload);
inline net::SharedBytes encode_text_frame(std::string_view text) {
  return encode_frame(proto::Opcode::text, as_bytes(text));
}

class DeliveryQueue {
 public:
  /// Sends `frame` (a complete server frame) or keeps it for later, as above.
  void deliver(WsSession& s, const net::SharedBytes& frame);
  /// A reply to the session's own request (an ack, an error): queued like a fan-out frame but
  /// never the reason a message is dropped; it counts against twice max_backpressure, so a
  /// client that asks without reading is still bounded.
  void reply(WsSession& s, const net::SharedBytes& frame);
  /// Call from the handler's on_drain: writes waiting frames while there is room.
  void drain(WsSession& s);
  /// Bytes waiting here (not yet handed to the connection).
  std::size_t waiting_bytes() const noexcept { return waiting_bytes_; }
  /// Frames dropped so far under drop_oldest.
  std::uint64_t dropped_total() const noexcept { return dropped_total_; }

 private:
  void enforce_limit(WsSession& s, std::uint64_t limit);
  void queue(WsSession& s, const net::SharedBytes& frame, std::uint64_t limit);
  static bool has_room(const WsSession& s) noexcept;

  std::deque<net::SharedBytes> waiting_;
  std::size_t waiting_bytes_ = 0;
  std::uint64_t dropped_unreported_ = 0;  // dropped since the last "dropped" notice
  std::uint64_t dropped_total_ = 0;
};

}  // namespace wsgate::proxy
