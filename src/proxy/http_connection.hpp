#pragma once
// One client connection of the HTTP/1.1 server (http_server.hpp has the behaviour): it parses
// requests, routes them, is the HttpExchange of plain-HTTP handlers, runs WebSocket upgrades
// (synchronous or through a WsUpgradeTask) and then forwards the connection to its WsSession or
// TunnelHandler. Internal to src/proxy: only HttpServer creates one.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "net/tcp.hpp"
#include "net/timer_wheel.hpp"
#include "proto/http1_parser.hpp"
#include "proto/ws_extensions.hpp"
#include "proto/ws_handshake.hpp"
#include "proxy/http_exchange.hpp"
#include "proxy/http_server.hpp"
#include "proxy/service.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

// =============================================================================================
// HttpConnection: one client connection, HTTP until it upgrades to a WebSocket session.
// It is its own HttpExchange (one request at a time).
// =============================================================================================

class HttpConnection final : public net::ConnectionHandler,
                             public HttpExchange,
                             private proto::HttpRequestEvents,
                             private net::TimerHandler {
 public:
  HttpConnection(HttpServer& server, net::TcpConnection& conn, std::size_t listen_index)
      : listen_index_(listen_index),
        server_(&server),
        runtime_(server.runtime()),
        upstreams_(server.upstreams()),
        conn_(&conn),
        parser_(std::in_place, runtime_->limits) {
    server_->attach(*this);
    conn_->loop().schedule(
        header_timer_, static_cast<std::uint64_t>(runtime_->config.server.header_timeout.count()));
  }

  ~HttpConnection() override {
    if (handler_ && exchange_active_) handler_->on_abort();
    if (ws_) ws_->on_error(std::make_error_code(std::errc::connection_aborted));
    tunnel_.reset();
    server_->detach(*this);
  }

  HttpConnection* prev = nullptr;  // HttpServer's list
  HttpConnection* next = nullptr;

  // --- net::ConnectionHandler ---
  void on_read(MutableByteView data) override;
  void on_eof() override;
  void on_error(std::error_code ec) override;
  void on_drain() override;

  /// Server shutdown (see HttpServer::shutdown).
  void shutdown();

  // --- HttpExchange ---
  const proto::HttpRequestHead& request() const noexcept override { return head_; }
  std::string_view path() const noexcept override { return path_; }
  const RouteConfig& route() const noexcept override { return *route_; }
  const net::SocketAddress& peer() const noexcept override { return conn_->peer(); }
  bool is_head() const noexcept override { return head_.method == "HEAD"; }
  std::int64_t now() const noexcept override { return conn_->loop().wall_time(); }
  std::string_view scheme() const noexcept override { return conn_->is_tls() ? "https" : "http"; }
  net::Loop& loop() const noexcept override { return conn_->loop(); }
  WorkerUpstreams& upstreams() const noexcept override { return *upstreams_; }
  void pause_request_body() override;
  void resume_request_body() override;
  void send_continue() override;
  void note_upstream(std::string name) override { upstream_name_ = std::move(name); }
  void abort_response(std::string_view why) override;
  void respond(proto::HttpResponseHead head, std::string_view body) override;
  void respond_error(int status, std::string_view detail = {}) override;
  void start_response(proto::HttpResponseHead head) override;
  void write_body(Bytes chunk) override;
  void end_response() override;
  std::size_t buffered_amount() const noexcept override { return conn_->buffered_bytes(); }

 private:
  enum class Resp : std::uint8_t { none, streaming, done };

  // --- proto::HttpRequestEvents ---
  proto::Http1Action on_request_head(proto::HttpRequestHead& head) override;
  void on_body(ByteView chunk) override;
  proto::Http1Action on_message_complete() override;

  // --- net::TimerHandler ---
  void on_timer(net::Timer& t) noexcept override;

  void drive_pending();
  std::size_t drive(MutableByteView in);
  void route_request();
  bool redirect_to_https();
  bool body_over_limit(std::uint64_t limit) const;
  std::uint64_t body_limit(const RouteConfig& route) const;
  void body_answered_early();
  void log_exchange();
  void begin_websocket(const RouteConfig& route, const Service& service);
  void upgrade_decided(WsAccept accept);
  void refuse_upgrade(const WsAccept& accept);
  void start_websocket(MutableByteView early);
  void send_error(int status, std::string_view detail, proto::HttpHeaders extra);
  void finish_head(proto::HttpResponseHead& head);
  void write_out(Bytes bytes);
  void response_done();
  void finish_exchange();
  void parse_failed(std::error_code ec);
  void close_after_writes();
  bool closing() const noexcept { return closing_ || conn_->closing(); }

  std::size_t listen_index_;  // which [[listen]] accepted it
  HttpServer* server_;
  std::shared_ptr<const Runtime> runtime_;
  std::shared_ptr<WorkerUpstreams> upstreams_;  // the pools of the worker, for runtime_
  net::TcpConnection* conn_;
  std::optional<proto::HttpRequestParser> parser_;  // reset when the connection upgrades
  Bytes pending_;                                   // input not yet parsed (pipelining)
  std::unique_ptr<WsSession> ws_;
  std::unique_ptr<TunnelHandler> tunnel_;  // a passthrough upgrade: raw bytes after the 101

  net::Timer header_timer_{*this};  // the request head must be complete in time
  net::LazyTimer keepalive_timer_;  // idle between requests (a WebSocket never arms it)
  net::LazyTimer send_timer_;       // response write progress

  // The current exchange.
  proto::HttpRequestHead head_;
  std::string path_;
  const RouteConfig* route_ = nullptr;
  std::unique_ptr<HttpHandler> handler_;
  struct Upgrade {
    proto::UpgradeRequest request;
    WsAccept accept;
    std::optional<proto::DeflateAgreement> deflate;  // negotiated with the client
  };
  std::unique_ptr<Upgrade> upgrade_;  // an accepted (or pending) upgrade
  bool upgrade_ready_ = false;        // its request is complete; bytes after it are in pending_
  bool exchange_active_ = false;      // a request head arrived and its exchange has not finished
  bool request_complete_ = false;     // on_message_complete seen for the current request
  bool keep_alive_ = true;
  bool expects_continue_ = false;  // "Expect: 100-continue" and no 100 sent yet
  bool body_paused_ = false;       // the handler paused the request body
  Resp resp_ = Resp::none;
  bool resp_chunked_ = false;
  std::uint64_t resp_remaining_ = 0;  // Content-Length bytes still to send
  bool resp_has_length_ = false;
  int status_ = 0;
  std::string upstream_name_;  // the backend, for the access log
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::int64_t started_wall_ = 0;
  std::uint64_t started_ms_ = 0;
  std::uint64_t send_check_sent_ = 0;   // conn_->bytes_sent() when progress was last seen
  std::uint64_t send_progress_ms_ = 0;  // loop time progress was last seen

  bool in_drive_ = false;
  bool closing_ = false;
  bool eof_ = false;
};

}  // namespace wsgate::proxy
