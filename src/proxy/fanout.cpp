#include "proxy/fanout.hpp"

#include <string>

#include "base/log.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

net::SharedBytes encode_frame(proto::Opcode op, ByteView payload) {
  auto frame = std::make_shared<Bytes>();
  frame->reserve(proto::header_size(payload.size(), false) + payload.size());
  proto::append_frame(*frame, op, payload, true, std::nullopt);
  return frame;
}

void DeliveryQueue::deliver(WsSession& s, const net::SharedBytes& frame) {
  queue(s, frame, s.route().ws.max_backpressure);
}

void DeliveryQueue::reply(WsSession& s, const net::SharedBytes& frame) {
  queue(s, frame, 2 * s.route().ws.max_backpressure);
}

void DeliveryQueue::queue(WsSession& s, const net::SharedBytes& frame, std::uint64_t limit) {
  if (!s.is_open() || !frame) return;
  if (waiting_.empty() && has_room(s)) {
    s.send_frame(frame);
    return;
  }
  waiting_.push_back(frame);
  waiting_bytes_ += frame->size();
  enforce_limit(s, limit);
}

void DeliveryQueue::drain(WsSession& s) {
  while (!waiting_.empty() && s.is_open() && has_room(s)) {
    net::SharedBytes f = std::move(waiting_.front());
    waiting_.pop_front();
    waiting_bytes_ -= f->size();
    s.send_frame(std::move(f));
  }
  if (waiting_.empty() && dropped_unreported_ > 0 && s.is_open()) {
    s.send_frame(encode_text_frame(
        "{\"type\":\"dropped\",\"count\":" + std::to_string(dropped_unreported_) + "}"));
    dropped_unreported_ = 0;
  }
}

// The connection takes more while below its high watermark (WsSession keeps that below
// max_backpressure). Frames wait here only while it is above: that state alone is sure to end
// in on_drain, so a waiting frame is never stranded behind bytes the kernel would take.
bool DeliveryQueue::has_room(const WsSession& s) noexcept {
  return !s.backpressured();
}

void DeliveryQueue::enforce_limit(WsSession& s, std::uint64_t limit) {
  if (waiting_bytes_ + s.buffered_amount() <= limit) return;
  if (s.route().slow_policy == SlowPolicy::disconnect) {
    WSGATE_LOG(info, "ws " << s.peer().to_string() << " route " << s.route().name()
                           << ": receiver more than max_backpressure (" << limit
                           << " bytes) behind, closing 1008");
    waiting_.clear();
    waiting_bytes_ = 0;
    s.close(proto::CloseCode::policy_violation, "too slow: messages not read");
    return;
  }
  // drop_oldest: keep the newest frames; at least the one just added stays.
  while (waiting_.size() > 1 && waiting_bytes_ + s.buffered_amount() > limit) {
    waiting_bytes_ -= waiting_.front()->size();
    waiting_.pop_front();
    ++dropped_unreported_;
    ++dropped_total_;
  }
}

}  // namespace wsgate::proxy
