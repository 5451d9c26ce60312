#pragma once
// A server-side WebSocket session and the handler interface of DESIGN.md.
//
// The HTTP server creates a WsSession after it has sent the 101; from then on the session owns
// the protocol: it assembles messages (src/proto MessageAssembler with the route's limits),
// answers the close handshake, pings the peer every `ping_interval` and drops it when no byte
// arrives within `pong_timeout` of a ping, closes idle sessions, and fails the connection with
// the right close code (1002/1007/1009) on a protocol violation. The handler sees only the
// callbacks below and the sending API of WsSession.
//
// Close handshake (RFC 6455 §5.5.1, §7): when the peer sends a close, the session echoes its code
// (or an empty close for none), calls on_close, and closes TCP after the echo is written (the
// server closes first, §7.1.1). When the handler calls close(), the session sends the close and
// waits up to `close_timeout` for the peer's; data messages arriving meanwhile are dropped. On a
// protocol violation the close is sent and TCP closed without waiting (§7.1.7). on_close runs
// exactly once per session, with CloseCode::abnormal (1006) if the peer vanished without a close.
//
// Thread: the connection's loop thread only. Lifetime: owned by the server connection; the
// handler is owned by the session and destroyed with it, after on_close.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "base/bytes.hpp"
#include "net/tcp.hpp"
#include "net/timer_wheel.hpp"
#include "proto/ws_error.hpp"
#include "proto/ws_extensions.hpp"
#include "proto/ws_frame.hpp"
#include "proto/ws_message.hpp"

namespace wsgate::proxy {

/// Writes one complete frame (FIN set) straight into `conn`'s outgoing batch, masked with
/// `mask` when given (toward an upstream, where wsgate is the client). Returns its size.
std::size_t write_ws_frame(net::TcpConnection& conn, proto::Opcode op, ByteView payload,
                           std::optional<proto::MaskKey> mask, bool rsv1 = false);

class WsSession;
struct RouteConfig;
class AccessLog;
class WsCompression;

/// One instance per session. Callbacks run on the loop thread and must not throw. Every view
/// is valid only during the call.
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  /// After the 101 has been queued.
  virtual void on_open(WsSession& s) { (void)s; }
  /// A whole message: `op` is text (valid UTF-8) or binary.
  virtual void on_message(WsSession& s, proto::Opcode op, ByteView payload) = 0;
  /// A message still deflated (RSV1), on a session that relays compression untouched
  /// (WsSession `relay_compressed`): `payload` is the compressed data, its text unvalidated.
  /// The default closes 1003: only relays ask for such sessions.
  virtual void on_compressed_message(WsSession& s, proto::Opcode op, ByteView payload);
  /// The default answers with a pong carrying the same payload (§5.5.2).
  virtual void on_ping(WsSession& s, ByteView payload);
  virtual void on_pong(WsSession& s, ByteView payload) {
    (void)s;
    (void)payload;
  }
  /// The session ended: the peer's close code and reason, the code we sent if we closed first
  /// or failed the connection, or abnormal (1006) if the connection dropped. Exactly once.
  virtual void on_close(WsSession& s, proto::CloseCode code, std::string_view reason) {
    (void)s;
    (void)code;
    (void)reason;
  }
  /// A protocol violation by the peer (before on_close), with the proto error.
  virtual void on_error(WsSession& s, std::error_code ec) {
    (void)s;
    (void)ec;
  }
  /// Every `interval` of the route, if set.
  virtual void on_interval(WsSession& s) { (void)s; }
  /// The send queue fell below the low watermark after having been above the high one.
  virtual void on_drain(WsSession& s) { (void)s; }
};

/// Per-session facts for logs: set by the server when the session starts.
/// What a session keeps of its upgrade request, for the access log: packed in one string,
/// because sessions are many and mostly idle.
class WsSessionInfo {
 public:
  WsSessionInfo() = default;
  WsSessionInfo(std::string_view target, std::string_view user_agent, std::string_view referer,
                std::optional<std::string_view> subprotocol, std::string_view upstream,
                std::int64_t started_wall, std::uint64_t started_ms);

  std::string_view target() const noexcept { return part(0); }  ///< the upgrade's target
  std::string_view user_agent() const noexcept { return part(1); }
  std::string_view referer() const noexcept { return part(2); }
  std::optional<std::string_view> subprotocol() const noexcept;
  std::string_view upstream() const noexcept { return part(4); }        ///< the backend ("" = none)
  std::int64_t started_wall() const noexcept { return started_wall_; }  ///< epoch seconds
  std::uint64_t started_ms() const noexcept { return started_ms_; }     ///< loop time

 private:
  static constexpr std::size_t kParts = 5;
  std::string_view part(std::size_t i) const noexcept {
    const std::uint32_t from = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(text_).substr(from, ends_[i] - from);
  }
  std::string text_;                          // the parts back to back
  std::array<std::uint32_t, kParts> ends_{};  // where each part ends in text_
  bool has_subprotocol_ = false;
  std::int64_t started_wall_ = 0;
  std::uint64_t started_ms_ = 0;
};

class WsSession final : private proto::MessageEvents, private net::TimerHandler {
 public:
  /// `deflate`: the permessage-deflate parameters agreed in the handshake, if any (the route's
  /// `compression` mode decides how the session compresses; see ws_compression.hpp).
  WsSession(net::TcpConnection& conn, const RouteConfig& route, AccessLog* access_log,
            WsSessionInfo info, std::unique_ptr<WsHandler> handler,
            std::optional<proto::DeflateParams> deflate = std::nullopt,
            bool relay_compressed = false);
  ~WsSession() override;
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  // --- sending (no-ops once closing) ---
  void send_text(std::string_view text);
  void send_binary(ByteView data);
  void send(proto::Opcode op, ByteView payload);
  /// A message whose payload is already deflated by the far end (relay_compressed sessions):
  /// sent with RSV1, as it is.
  void send_compressed(proto::Opcode op, ByteView payload);
  /// A complete pre-encoded server frame (unmasked), shared with other sessions (fan-out).
  void send_frame(net::SharedBytes frame);
  void ping(ByteView payload = {});
  void pong(ByteView payload);
  /// Starts the close handshake with `code` (a code valid on the wire) and `reason` (UTF-8,
  /// truncated to fit 123 bytes).
  void close(proto::CloseCode code = proto::CloseCode::normal, std::string_view reason = {});

  /// Bytes queued toward the peer and not yet written.
  std::size_t buffered_amount() const noexcept;
  /// True while the queue is above the high watermark (stop producing until on_drain).
  bool backpressured() const noexcept;
  void pause_reading() noexcept;
  void resume_reading() noexcept;

  /// True until a close frame has been sent or received or the connection failed.
  bool is_open() const noexcept { return state_ == State::open; }
  const RouteConfig& route() const noexcept { return *route_; }
  const net::SocketAddress& peer() const noexcept { return conn_->peer(); }
  const WsSessionInfo& info() const noexcept { return info_; }

  // --- for the server connection that owns the session ---
  /// Calls on_open, arms the timers, then feeds bytes that followed the handshake request.
  void start(MutableByteView early_bytes);
  void on_read(MutableByteView data);
  void on_eof();
  void on_error(std::error_code ec);
  void on_drain();
  /// Server shutdown: close 1001 "server shutting down".
  void going_away();

 private:
  enum class State : std::uint8_t { open, close_sent, closed };

  // proto::MessageEvents
  void on_message(proto::Opcode op, ByteView payload, bool compressed) override;
  void on_ping(ByteView payload) override;
  void on_pong(ByteView payload) override;
  void on_close(proto::CloseCode code, std::string_view reason) override;
  // net::TimerHandler
  void on_timer(net::Timer& t) noexcept override;

  void write_frame(proto::Opcode op, ByteView payload, bool rsv1 = false);
  /// True (and the session closed 1008) when the send queue is above max_backpressure.
  bool over_backpressure();
  void fail(std::error_code ec);
  void finish(proto::CloseCode code, std::string_view reason);
  void close_transport();
  void check_backpressure();
  void note_activity() noexcept;

  net::TcpConnection* conn_;
  const RouteConfig* route_;
  AccessLog* access_log_;
  WsSessionInfo info_;
  std::unique_ptr<WsHandler> handler_;
  std::unique_ptr<WsCompression> compression_;  // null without permessage-deflate
  proto::MessageAssembler assembler_;
  net::Timer ping_timer_{*this};  // a ping every ping_interval
  net::Timer pong_timer_{*this};  // pong_timeout after a ping: no byte since -> the peer is gone
  net::LazyTimer idle_;           // idle_timeout (LazyTimer: most sessions never arm these)
  net::LazyTimer interval_;       // the handler's on_interval
  net::LazyTimer close_timer_;    // waiting for the peer's close
  State state_ = State::open;
  bool awaiting_pong_ = false;
  bool rx_since_ping_ = false;
  bool finished_ = false;  // on_close delivered and access log written
  proto::CloseCode sent_code_ = proto::CloseCode::normal;  // our close frame's code
  std::uint64_t last_activity_ms_ = 0;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::uint64_t messages_in_ = 0;
  std::uint64_t messages_out_ = 0;
};

}  // namespace wsgate::proxy
