#pragma once
// The plain-HTTP handler interface: what a route's handler (static files; later the HTTP reverse
// proxy and the broker's POST) sees of one request/response on a server connection. Handlers
// never see libuv or the connection; the HTTP server implements HttpExchange.
//
// Lifecycle of one exchange, all on the connection's loop thread:
//   on_request (head complete) -> on_body* -> on_request_complete -> [on_drain*] -> (response ends)
// The handler may answer at any point (even from on_request, before the body has arrived: the
// server then discards the rest of the body). Pipelined requests wait until the response ends,
// so responses go out in request order (RFC 9112 §9.3.2). If the connection dies first, on_abort
// runs and the exchange must not be used afterwards.
//
// Ending the response (respond, respond_error, end_response, abort_response) may finish the
// exchange and destroy the handler inside the call: a handler makes it its last action and
// touches none of its members afterwards.
//
// Expect: 100-continue (HTTP/1.1): after on_request, unless the handler answered or
// defers_continue(), the server sends "100 Continue" itself; a handler that defers calls
// send_continue() when it wants the body (the proxy: once its upstream is connected). Answering
// before that with the body still unsent ends the connection after the answer (RFC 9110 §10.1.1).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "proto/http_message.hpp"

namespace wsgate::net {
class Loop;
class SocketAddress;
}  // namespace wsgate::net

namespace wsgate::proxy {

struct RouteConfig;
class WorkerUpstreams;

class HttpExchange {
 public:
  virtual ~HttpExchange() = default;

  // --- the request ---
  virtual const proto::HttpRequestHead& request() const noexcept = 0;
  /// The request path, percent-decoded and normalised (proxy::normalize_path): what routes
  /// and the static handler match on. The raw target stays in request().target.
  virtual std::string_view path() const noexcept = 0;
  virtual const RouteConfig& route() const noexcept = 0;
  virtual const net::SocketAddress& peer() const noexcept = 0;
  /// True for HEAD: the server sends heads only, whatever body the handler writes.
  virtual bool is_head() const noexcept = 0;
  /// Wall clock (seconds since the epoch) cached by the loop: for Last-Modified comparisons.
  virtual std::int64_t now() const noexcept = 0;
  /// "http" (or "https" on a TLS listener): for X-Forwarded-Proto.
  virtual std::string_view scheme() const noexcept = 0;
  /// The connection's worker loop and that worker's upstream pools (for relaying handlers).
  virtual net::Loop& loop() const noexcept = 0;
  virtual WorkerUpstreams& upstreams() const noexcept = 0;

  // --- request body flow (a relay whose destination is slow) ---
  /// Stops reading the client: on_body pauses after the bytes already read (at most one read
  /// buffer) until resume_request_body(). Undone by the server when the response ends.
  virtual void pause_request_body() = 0;
  virtual void resume_request_body() = 0;
  /// Sends the interim "100 Continue" if the request expects it and it was not sent yet.
  virtual void send_continue() = 0;
  /// The backend serving this request ("upstream/server"), for the access log.
  virtual void note_upstream(std::string name) = 0;

  // --- the response (exactly one per exchange) ---
  /// A whole response in one call. The server adds Date, Server, Content-Length (= body size,
  /// unless the head already has one: then it must match, e.g. for HEAD answers) and
  /// Connection; for HEAD it sends the head only.
  virtual void respond(proto::HttpResponseHead head, std::string_view body) = 0;
  /// A short error answer: "404 Not Found\n"-style text/plain body (plus `detail` on a second
  /// line when given). Statuses that end the connection (400, 408, 413, 431...) add
  /// Connection: close.
  virtual void respond_error(int status, std::string_view detail = {}) = 0;
  /// Starts a streamed response. With a Content-Length in `head`, exactly that many body bytes
  /// must follow; without one the body is chunked (HTTP/1.1 clients) or delimited by closing the
  /// connection (HTTP/1.0). The server adds Date, Server and Connection.
  virtual void start_response(proto::HttpResponseHead head) = 0;
  /// Body bytes of a started response (ignored for HEAD). Takes ownership.
  virtual void write_body(Bytes chunk) = 0;
  /// Ends a started response.
  virtual void end_response() = 0;
  /// Ends the exchange without completing the response (the source failed mid-body): logs
  /// `why`, sends what is queued and closes the connection, so the client sees a truncated body
  /// rather than one that looks complete. Before start_response, use respond_error instead.
  virtual void abort_response(std::string_view why) = 0;
  /// Response bytes queued on the connection and not yet written. A handler producing a large
  /// body writes while this is below kProduceBelow and waits for on_drain otherwise, so memory
  /// stays bounded (on_drain is due once the queue has reached kProduceBelow, the connection's
  /// high watermark, and fallen to its low one).
  virtual std::size_t buffered_amount() const noexcept = 0;
  static constexpr std::size_t kProduceBelow = 256 * 1024;
};

/// One per request, created by the route's Service. All callbacks must not throw.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void on_request(HttpExchange& ex) = 0;
  /// True if the handler sends "100 Continue" itself (HttpExchange::send_continue).
  virtual bool defers_continue() const noexcept { return false; }
  virtual void on_body(HttpExchange& ex, ByteView chunk) {
    (void)ex;
    (void)chunk;
  }
  virtual void on_request_complete(HttpExchange& ex) { (void)ex; }
  /// The connection's queued output fell below the low watermark during a started response.
  virtual void on_drain(HttpExchange& ex) { (void)ex; }
  /// The connection closed before the response ended. Release resources; do not touch the
  /// exchange.
  virtual void on_abort() {}
};

}  // namespace wsgate::proxy
