#include "proxy/ws_session.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "base/check.hpp"
#include "base/log.hpp"
#include "proto/ws_close.hpp"
#include "proxy/access_log.hpp"
#include "proxy/config.hpp"
#include "proxy/ws_compression.hpp"

namespace wsgate::proxy {

namespace {

proto::MessageConfig message_config(const RouteConfig& route, bool deflate) {
  proto::MessageConfig cfg;
  cfg.role = proto::Role::server;
  cfg.max_frame_size = route.ws.max_frame_size;
  cfg.max_message_size = route.ws.max_message_size;
  cfg.rsv1_allowed = deflate;  // permessage-deflate is the only extension we negotiate
  return cfg;
}

std::uint64_t ms(Millis d) {
  return static_cast<std::uint64_t>(d.count());
}

// After both close frames, or after failing the connection, TCP closes with a short linger: the
// peer has what it needs once our close frame is out.
constexpr std::uint64_t kCloseLingerMs = 1000;

}  // namespace

void WsHandler::on_ping(WsSession& s, ByteView payload) {
  s.pong(payload);
}

void WsHandler::on_compressed_message(WsSession& s, proto::Opcode, ByteView) {
  s.close(proto::CloseCode::unsupported_data, "compressed message not expected");
}

WsSessionInfo::WsSessionInfo(std::string_view target, std::string_view user_agent,
                             std::string_view referer, std::optional<std::string_view> subprotocol,
                             std::string_view upstream, std::int64_t started_wall,
                             std::uint64_t started_ms)
    : has_subprotocol_(subprotocol.has_value()),
      started_wall_(started_wall),
      started_ms_(started_ms) {
  const std::array<std::string_view, kParts> parts{target, user_agent, referer,
                                                   subprotocol.value_or(""), upstream};
  std::size_t total = 0;
  for (std::string_view p : parts) total += p.size();
  // The parts come from one request head (max_head_bytes is at most 1 MiB) and the config.
  WSGATE_CHECK(total <= UINT32_MAX, "WsSessionInfo: parts beyond 32-bit offsets");
  text_.reserve(total);
  for (std::size_t i = 0; i < kParts; ++i) {
    text_.append(parts[i]);
    ends_[i] = static_cast<std::uint32_t>(text_.size());
  }
}

std::optional<std::string_view> WsSessionInfo::subprotocol() const noexcept {
  if (!has_subprotocol_) return std::nullopt;
  return part(3);
}

WsSession::WsSession(net::TcpConnection& conn, const RouteConfig& route, AccessLog* access_log,
                     WsSessionInfo info, std::unique_ptr<WsHandler> handler,
                     std::optional<proto::DeflateParams> deflate, bool relay_compressed)
    : conn_(&conn),
      route_(&route),
      access_log_(access_log),
      info_(std::move(info)),
      handler_(std::move(handler)),
      compression_(deflate ? std::make_unique<WsCompression>(route.ws, *deflate) : nullptr),
      assembler_(message_config(route, deflate.has_value() || relay_compressed)) {
  if (compression_) assembler_.set_inflater(&compression_->inflater());
  // Handlers hold back above the high watermark and resume on_drain; a max_backpressure
  // below the connection's default high watermark must leave them room to do so before the
  // session is closed for it.
  const std::uint64_t cap = route.ws.max_backpressure;
  if (cap < net::kDefaultHighWatermark) {
    conn.set_watermarks(static_cast<std::size_t>(cap / 2), static_cast<std::size_t>(cap / 8));
  }
}

WsSession::~WsSession() = default;

void WsSession::start(MutableByteView early_bytes) {
  net::Loop& loop = conn_->loop();
  last_activity_ms_ = loop.now_ms();
  if (route_->ws.ping_interval.count() > 0)
    loop.schedule(ping_timer_, ms(route_->ws.ping_interval));
  if (route_->ws.idle_timeout.count() > 0)
    loop.schedule(idle_.get(*this), ms(route_->ws.idle_timeout));
  if (route_->ws.interval.count() > 0) loop.schedule(interval_.get(*this), ms(route_->ws.interval));
  handler_->on_open(*this);
  if (!early_bytes.empty() && state_ != State::closed) on_read(early_bytes);
}

// --- sending -------------------------------------------------------------------------------

std::size_t write_ws_frame(net::TcpConnection& conn, proto::Opcode op, ByteView payload,
                           std::optional<proto::MaskKey> mask, bool rsv1) {
  const std::size_t n = proto::frame_size(payload.size(), mask.has_value());
  conn.write_composed(
      n, [&](MutableByteView out) { proto::write_frame(out, op, payload, true, mask, rsv1); });
  return n;
}

void WsSession::write_frame(proto::Opcode op, ByteView payload, bool rsv1) {
  bytes_out_ += write_ws_frame(*conn_, op, payload, std::nullopt, rsv1);
}

bool WsSession::over_backpressure() {
  if (conn_->buffered_bytes() <= route_->ws.max_backpressure) return false;
  // The peer reads slower than the handler produces and the handler did not hold back:
  // bounded memory wins over this session (DESIGN.md "Bytes, buffers, backpressure").
  WSGATE_LOG(info, "ws " << conn_->peer().to_string() << " route " << route_->name()
                         << ": send queue above max_backpressure (" << route_->ws.max_backpressure
                         << " bytes), closing 1008");
  state_ = State::closed;
  finish(proto::CloseCode::policy_violation, "backpressure limit");
  conn_->close();
  return true;
}

void WsSession::send(proto::Opcode op, ByteView payload) {
  if (state_ != State::open || over_backpressure()) return;
  ++messages_out_;
  note_activity();
  if (compression_) {
    Bytes compressed;
    if (compression_->compress(payload, compressed)) {
      write_frame(op, compressed, true);
      return;
    }
  }
  write_frame(op, payload);
}

void WsSession::send_compressed(proto::Opcode op, ByteView payload) {
  if (state_ != State::open || over_backpressure()) return;
  ++messages_out_;
  note_activity();
  write_frame(op, payload, true);
}

void WsSession::send_text(std::string_view text) {
  send(proto::Opcode::text, as_bytes(text));
}

void WsSession::send_binary(ByteView data) {
  send(proto::Opcode::binary, data);
}

void WsSession::send_frame(net::SharedBytes frame) {
  if (state_ != State::open || !frame) return;
  ++messages_out_;
  note_activity();
  bytes_out_ += frame->size();
  conn_->write(std::move(frame));
}

void WsSession::ping(ByteView payload) {
  if (state_ != State::open) return;
  write_frame(proto::Opcode::ping,
              payload.first(std::min(payload.size(), proto::kMaxControlPayload)));
}

void WsSession::pong(ByteView payload) {
  if (state_ != State::open) return;
  write_frame(proto::Opcode::pong,
              payload.first(std::min(payload.size(), proto::kMaxControlPayload)));
}

void WsSession::close(proto::CloseCode code, std::string_view reason) {
  if (state_ != State::open) return;
  write_frame(proto::Opcode::close, proto::make_close_payload(code, reason));
  state_ = State::close_sent;
  sent_code_ = code;
  ping_timer_.cancel();
  pong_timer_.cancel();
  idle_.cancel();
  interval_.cancel();
  conn_->loop().schedule(close_timer_.get(*this), ms(route_->ws.close_timeout));
}

void WsSession::going_away() {
  close(proto::CloseCode::going_away, "server shutting down");
}

std::size_t WsSession::buffered_amount() const noexcept {
  return conn_->buffered_bytes();
}

bool WsSession::backpressured() const noexcept {
  return conn_->above_high_watermark();
}

void WsSession::pause_reading() noexcept {
  conn_->pause_reading();
}

void WsSession::resume_reading() noexcept {
  if (state_ != State::closed) conn_->resume_reading();
}

// --- receiving -----------------------------------------------------------------------------

void WsSession::on_read(MutableByteView data) {
  if (state_ == State::closed) return;
  bytes_in_ += data.size();
  rx_since_ping_ = true;
  const auto r = assembler_.feed(data, *this);
  if (r || state_ == State::closed) return;
  if (assembler_.close_received()) {
    // Bytes after the peer's close frame (§5.5.1: nothing may follow it): the handshake is
    // over, so this is the end of the stream rather than a protocol error to answer.
    close_transport();
    return;
  }
  fail(r.error());
}

void WsSession::on_message(proto::Opcode op, ByteView payload, bool compressed) {
  if (state_ != State::open) return;  // after our close frame, data is discarded (§5.5.1)
  ++messages_in_;
  note_activity();
  if (compressed) {  // only without an inflater: a relay_compressed session
    handler_->on_compressed_message(*this, op, payload);
    return;
  }
  handler_->on_message(*this, op, payload);
  if (compression_) compression_->message_done();
}

void WsSession::on_ping(ByteView payload) {
  if (state_ == State::open) handler_->on_ping(*this, payload);
}

void WsSession::on_pong(ByteView payload) {
  awaiting_pong_ = false;
  pong_timer_.cancel();
  if (state_ == State::open) handler_->on_pong(*this, payload);
}

void WsSession::on_close(proto::CloseCode code, std::string_view reason) {
  if (state_ == State::open) {
    // Echo the peer's code (§5.5.1); a close without a code is answered without one.
    Bytes payload;
    if (code != proto::CloseCode::no_status) proto::append_close_payload(payload, code, {});
    write_frame(proto::Opcode::close, payload);
  }
  const std::string reason_copy(reason);  // the view dies with the read buffer's reuse
  finish(code, reason_copy);
  close_transport();
}

void WsSession::fail(std::error_code ec) {
  const proto::CloseCode code = proto::close_code_for(ec);
  WSGATE_LOG(info, "ws " << conn_->peer().to_string() << " route " << route_->name() << ": "
                         << ec.message() << ", closing " << static_cast<int>(code));
  if (handler_) handler_->on_error(*this, ec);
  if (state_ == State::open) {
    write_frame(proto::Opcode::close, proto::make_close_payload(code, ec.message()));
  }
  finish(code, ec.message());
  close_transport();
}

void WsSession::on_eof() {
  // FIN without a close frame: the peer is gone (1006), unless our close was already answered.
  finish(proto::CloseCode::abnormal, {});
  close_transport();
}

void WsSession::on_error(std::error_code ec) {
  WSGATE_LOG(debug, "ws " << conn_->peer().to_string() << " route " << route_->name()
                          << ": connection error: " << ec.message());
  finish(proto::CloseCode::abnormal, {});
}

void WsSession::on_drain() {
  if (state_ == State::open) handler_->on_drain(*this);
}

// --- timers --------------------------------------------------------------------------------

void WsSession::on_timer(net::Timer& t) noexcept {
  if (finished_) return;
  net::Loop& loop = conn_->loop();
  if (&t == &ping_timer_) {
    if (state_ != State::open) return;
    write_frame(proto::Opcode::ping, {});
    if (!pong_timer_.armed()) {
      // The deadline runs from the first unanswered ping: pings sent while it runs (when
      // pong_timeout > ping_interval) must not push it back.
      awaiting_pong_ = true;
      rx_since_ping_ = false;
      loop.schedule(pong_timer_, ms(route_->ws.pong_timeout));
    }
    loop.schedule(ping_timer_, ms(route_->ws.ping_interval));
  } else if (&t == &pong_timer_) {
    if (!awaiting_pong_ || rx_since_ping_) return;  // any byte from the peer proves it is alive
    WSGATE_LOG(info, "ws " << conn_->peer().to_string() << " route " << route_->name()
                           << ": no answer to ping within " << route_->ws.pong_timeout.count()
                           << " ms, dropping the connection");
    finish(proto::CloseCode::abnormal, "pong timeout");
    conn_->close();
  } else if (idle_.is(t)) {
    const std::uint64_t idle = ms(route_->ws.idle_timeout);
    const std::uint64_t quiet = loop.now_ms() - last_activity_ms_;
    if (quiet < idle) {
      loop.schedule(t, idle - quiet);
      return;
    }
    close(proto::CloseCode::going_away, "idle timeout");
  } else if (interval_.is(t)) {
    if (state_ != State::open) return;
    handler_->on_interval(*this);
    if (state_ == State::open) loop.schedule(interval_.get(*this), ms(route_->ws.interval));
  } else if (close_timer_.is(t)) {
    // The peer never answered our close: give up on it (§7.1.1 lets the server close first).
    finish(sent_code_, "close timeout");
    conn_->close();
  }
}

void WsSession::note_activity() noexcept {
  if (route_->ws.idle_timeout.count() > 0) last_activity_ms_ = conn_->loop().now_ms();
}

// --- the end -------------------------------------------------------------------------------

void WsSession::close_transport() {
  state_ = State::closed;
  conn_->close_gracefully(kCloseLingerMs);
}

void WsSession::finish(proto::CloseCode code, std::string_view reason) {
  if (finished_) return;
  finished_ = true;
  state_ = State::closed;
  ping_timer_.cancel();
  pong_timer_.cancel();
  idle_.cancel();
  interval_.cancel();
  close_timer_.cancel();
  handler_->on_close(*this, code, reason);
  if (access_log_ != nullptr) {
    const std::string peer = conn_->peer().to_string();
    const std::string name = route_->name();
    AccessRecord rec;
    rec.peer = peer;
    rec.method = "GET";
    rec.target = info_.target();
    rec.status = 101;
    rec.bytes_in = bytes_in_;
    rec.bytes_out = bytes_out_;
    rec.referer = info_.referer();
    rec.user_agent = info_.user_agent();
    rec.route = name;
    rec.time = info_.started_wall();
    rec.duration_ms = conn_->loop().now_ms() - info_.started_ms();
    rec.ws_close = static_cast<int>(code);
    rec.ws_messages_in = messages_in_;
    rec.ws_messages_out = messages_out_;
    rec.upstream = info_.upstream();
    access_log_->write(rec);
  }
}

}  // namespace wsgate::proxy
