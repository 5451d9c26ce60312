#include "proto/ws_message.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "base/check.hpp"

namespace wsgate::proto {

namespace {

/// The internal functions speak WsErrc with 0 meaning "no error": cheaper on the per-frame path
/// than building std::error_code values, and converted once per feed() at the end.
constexpr WsErrc kOk = WsErrc{};

/// Every code our decoders produce is in ws_category(), so the value round-trips.
WsErrc to_errc(std::error_code ec) noexcept {
  return static_cast<WsErrc>(ec.value());
}

/// Clears the reentrancy flag however feed() is left.
class FeedGuard {
 public:
  explicit FeedGuard(bool& flag) noexcept : flag_(flag) { flag_ = true; }
  ~FeedGuard() { flag_ = false; }
  FeedGuard(const FeedGuard&) = delete;
  FeedGuard& operator=(const FeedGuard&) = delete;

 private:
  bool& flag_;
};

}  // namespace

Result<std::size_t> MessageAssembler::feed(MutableByteView in, MessageEvents& ev) {
  if (err_) return err_;
  WSGATE_CHECK(!in_feed_, "MessageAssembler::feed() called from one of its own callbacks");
  const FeedGuard guard(in_feed_);
  std::size_t pos = 0;
  const WsErrc e = run(in, ev, pos);
  if (e != kOk) {
    err_ = e;
    return err_;
  }
  return pos;
}

WsErrc MessageAssembler::run(MutableByteView in, MessageEvents& ev, std::size_t& pos) {
  const std::size_t n = in.size();
  std::error_code hdr_ec;
  while (pos < n) {
    // §5.5.1: the close frame is the last thing a peer sends.
    if (closed_) return WsErrc::frame_after_close;

    if (rx_state_ == Rx::payload) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(rx_remaining_, n - pos));
      if (const WsErrc e = frame_chunk(in.subspan(pos, k)); e != kOk) return e;
      pos += k;
      rx_remaining_ -= k;
      if (rx_remaining_ != 0) continue;
      rx_state_ = Rx::header;
      if (const WsErrc e = end_frame(ev); e != kOk) return e;
      continue;
    }

    // A header: decoded where it lies when it is whole (the usual case), else collected in
    // rx_hdr_ across calls.
    bool have_header = false;
    if (!rx_hdr_.in_progress()) {
      const std::size_t h = decode_frame_header(in.subspan(pos), rx_fh_, hdr_ec);
      if (hdr_ec) return to_errc(hdr_ec);
      pos += h;
      have_header = h != 0;
    }
    if (!have_header) {
      const Result<std::size_t> r = rx_hdr_.feed(in.subspan(pos));
      if (!r) return to_errc(r.error());
      pos += *r;
      if (!rx_hdr_.complete()) break;  // the input ended inside the header
      rx_fh_ = rx_hdr_.header();
      rx_hdr_.reset();
    }
    if (const WsErrc e = begin_frame(); e != kOk) return e;

    if (rx_fh_.payload_len <= n - pos) {
      const auto len = static_cast<std::size_t>(rx_fh_.payload_len);
      const MutableByteView payload = in.subspan(pos, len);
      pos += len;
      if (const WsErrc e = whole_frame(payload, ev); e != kOk) return e;
    } else {
      rx_state_ = Rx::payload;
      rx_remaining_ = rx_fh_.payload_len;
      rx_key_off_ = 0;
    }
  }
  return kOk;
}

WsErrc MessageAssembler::begin_frame() noexcept {
  const FrameHeader& h = rx_fh_;
  if (!is_defined_opcode(h.opcode)) return WsErrc::reserved_opcode;
  // §5.2: RSV bits MUST be 0 unless an extension defines them; permessage-deflate defines RSV1
  // for the first frame of a data message only (RFC 7692 §6).
  if (h.rsv2 || h.rsv3) return WsErrc::reserved_bits;
  if (h.rsv1) {
    if (!cfg_.rsv1_allowed) return WsErrc::reserved_bits;
    if (is_control(h.opcode) || h.opcode == Opcode::continuation) {
      return WsErrc::rsv1_not_first_frame;
    }
  }
  // §5.1: clients mask every frame, servers never do; the receiver closes with 1002 otherwise.
  if (cfg_.role == Role::server) {
    if (!h.masked) return WsErrc::unmasked_client_frame;
  } else if (h.masked) {
    return WsErrc::masked_server_frame;
  }

  if (is_control(h.opcode)) {
    // §5.5: control frames are never fragmented and carry at most 125 bytes. They may arrive
    // between the fragments of a data message (§5.4) and do not touch its state.
    if (!h.fin) return WsErrc::control_fragmented;
    if (h.payload_len > kMaxControlPayload) return WsErrc::control_too_long;
    ctl_len_ = 0;
    return kOk;
  }

  // §5.4: a message is one non-continuation frame followed by continuations up to FIN.
  const bool continuation = h.opcode == Opcode::continuation;
  if (continuation && !msg_active_) return WsErrc::unexpected_continuation;
  if (!continuation && msg_active_) return WsErrc::expected_continuation;
  // Limits are judged from the header, before a payload byte is buffered. msg_size_ never
  // exceeds max_message_size, so the subtraction cannot wrap.
  if (h.payload_len > cfg_.max_frame_size) return WsErrc::frame_too_big;
  const std::uint64_t before = continuation ? msg_size_ : 0;
  if (h.payload_len > cfg_.max_message_size - before) return WsErrc::message_too_big;

  if (!continuation) {
    msg_active_ = true;
    msg_op_ = h.opcode;
    msg_inflate_ = h.rsv1 && inflater_ != nullptr;
    msg_compressed_ = h.rsv1 && !msg_inflate_;
    // RFC 7692 §6: the UTF-8 rule applies to the uncompressed data. Text we deliver still
    // deflated is validated by whoever inflates it.
    msg_check_utf8_ = h.opcode == Opcode::text && !msg_compressed_;
    utf8_.reset();
  }
  msg_size_ = before + h.payload_len;
  return kOk;
}

WsErrc MessageAssembler::whole_frame(MutableByteView payload, MessageEvents& ev) {
  const bool unfragmented = rx_fh_.fin && rx_fh_.opcode != Opcode::continuation;
  if (!is_control(rx_fh_.opcode) && (!unfragmented || msg_inflate_)) {
    // A fragment, or a frame to inflate: it joins the message buffer like a frame split
    // across feeds.
    rx_key_off_ = 0;
    if (const WsErrc e = frame_chunk(payload); e != kOk) return e;
    return end_frame(ev);
  }
  // Zero copy: unmask in place and hand out a view of the caller's buffer.
  if (rx_fh_.masked) apply_mask(payload, rx_fh_.key);
  if (is_control(rx_fh_.opcode)) return deliver_control(payload, ev);
  if (msg_check_utf8_ && !is_valid_utf8(payload)) return WsErrc::invalid_utf8;
  msg_active_ = false;
  msg_size_ = 0;
  ev.on_message(msg_op_, payload, msg_compressed_);
  return kOk;
}

WsErrc MessageAssembler::frame_chunk(MutableByteView chunk) {
  if (rx_fh_.masked) rx_key_off_ = apply_mask(chunk, rx_fh_.key, rx_key_off_);
  if (is_control(rx_fh_.opcode)) {
    // begin_frame() capped the payload at 125, the size of ctl_buf_.
    if (!ctl_buf_) ctl_buf_ = std::make_unique<std::byte[]>(kMaxControlPayload);
    if (!chunk.empty()) std::memcpy(ctl_buf_.get() + ctl_len_, chunk.data(), chunk.size());
    ctl_len_ = static_cast<std::uint8_t>(ctl_len_ + chunk.size());
    return kOk;
  }
  if (msg_inflate_) return inflate_chunk(chunk, false);
  // Fail fast (Autobahn 6.x): judge the bytes before keeping them, so an invalid first
  // fragment is reported before the rest of the message arrives.
  if (msg_check_utf8_ && !utf8_.feed(chunk)) return WsErrc::invalid_utf8;
  append(msg_buf_, chunk);
  return kOk;
}

WsErrc MessageAssembler::inflate_chunk(ByteView chunk, bool last) {
  const auto cap = static_cast<std::size_t>(
      std::min<std::uint64_t>(cfg_.max_message_size, std::numeric_limits<std::size_t>::max()));
  const std::size_t before = msg_buf_.size();
  const std::error_code ec =
      last ? inflater_->finish(msg_buf_, cap) : inflater_->feed(chunk, msg_buf_, cap);
  // The inflated bytes are judged as they appear, so compressed text fails as fast as plain.
  // They are judged even when inflating then failed: they precede the failure in the stream,
  // so the error reported does not depend on how the reads cut the message.
  if (msg_check_utf8_ && !utf8_.feed(ByteView(msg_buf_).subspan(before))) {
    return WsErrc::invalid_utf8;
  }
  if (ec) {
    return ec == WsCondition::limit_exceeded ? WsErrc::message_too_big
                                             : WsErrc::bad_compressed_data;
  }
  return kOk;
}

WsErrc MessageAssembler::end_frame(MessageEvents& ev) {
  if (is_control(rx_fh_.opcode)) return deliver_control(ByteView(ctl_buf_.get(), ctl_len_), ev);
  if (!rx_fh_.fin) return kOk;
  if (msg_inflate_) {
    if (const WsErrc e = inflate_chunk({}, true); e != kOk) return e;
  }
  if (msg_check_utf8_ && !utf8_.complete()) return WsErrc::invalid_utf8;
  ev.on_message(msg_op_, msg_buf_, msg_compressed_);
  finish_message();
  return kOk;
}

WsErrc MessageAssembler::deliver_control(ByteView payload, MessageEvents& ev) {
  switch (rx_fh_.opcode) {
    case Opcode::ping: ev.on_ping(payload); return kOk;
    case Opcode::pong: ev.on_pong(payload); return kOk;
    default: break;
  }
  WSGATE_ASSERT(rx_fh_.opcode == Opcode::close, "begin_frame() admits only defined opcodes");
  const Result<CloseInfo> info = parse_close_payload(payload);
  if (!info) return to_errc(info.error());
  closed_ = true;
  ev.on_close(info->code, info->reason);
  return kOk;
}

void MessageAssembler::finish_message() noexcept {
  msg_active_ = false;
  msg_inflate_ = false;
  msg_size_ = 0;
  // Give the memory back: an idle connection should hold no message buffer (STYLE §6).
  Bytes().swap(msg_buf_);
}

}  // namespace wsgate::proto
