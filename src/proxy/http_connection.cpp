#include "proxy/http_connection.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

#include "base/log.hpp"
#include "proto/http1_writer.hpp"
#include "proto/http_error.hpp"
#include "proto/ws_handshake.hpp"
#include "proxy/ws_compression.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

namespace {

std::uint64_t ms(Millis d) {
  return static_cast<std::uint64_t>(d.count());
}

// Date header text, formatted once per second per thread.
const std::string& date_for(std::int64_t now) {
  thread_local std::int64_t cached_at = -1;
  thread_local std::string cached;
  if (now != cached_at) {
    cached = proto::http_date(static_cast<std::time_t>(now));
    cached_at = now;
  }
  return cached;
}

// Statuses after which the connection cannot be trusted to continue (the request stream may be
// out of sync), so the answer carries Connection: close.
bool ends_connection(int status) {
  switch (status) {
    case 400:
    case 408:
    case 413:
    case 414:
    case 431:
    case 500:
    case 501:
    case 505: return true;
    default: return false;
  }
}

// Pipelined bytes kept while a response is in progress. Past it, reading pauses until the
// response ends (the client is ahead of us; TCP flow control does the rest).
constexpr std::size_t kMaxPendingInput = 64 * 1024;

// Linger after our last response byte on a closing connection (see
// TcpConnection::close_gracefully).
constexpr std::uint64_t kHttpLingerMs = 2000;

// A response without progress is checked this often against send_timeout.
constexpr std::uint64_t kSendCheckMs = 1000;

}  // namespace

// --- input -----------------------------------------------------------------------------------

void HttpConnection::on_read(MutableByteView data) {
  if (ws_) {
    ws_->on_read(data);
    return;
  }
  if (tunnel_) {
    tunnel_->on_read(data);
    return;
  }
  if (closing()) return;
  if (!pending_.empty() || in_drive_) {
    append(pending_, data);
    drive_pending();
    return;
  }
  const std::size_t used = drive(data);
  if (!ws_ && !closing() && used < data.size()) append(pending_, ByteView(data).subspan(used));
  if (pending_.size() > kMaxPendingInput) conn_->pause_reading();
}

void HttpConnection::drive_pending() {
  if (in_drive_ || pending_.empty()) return;
  // Parse from the front of pending_; whatever stays unparsed moves to the front.
  Bytes buf = std::move(pending_);
  pending_.clear();
  const std::size_t used = drive(MutableByteView(buf));
  if (!ws_ && !closing() && used < buf.size()) {
    Bytes rest(buf.begin() + static_cast<std::ptrdiff_t>(used), buf.end());
    append(rest, pending_);  // bytes that arrived during the drive go after the unparsed ones
    pending_ = std::move(rest);
  }
  if (pending_.size() <= kMaxPendingInput && !closing() && !ws_ && !upgrade_ready_ &&
      !body_paused_) {
    conn_->resume_reading();  // (an upgrade waiting for its decision reads nothing meanwhile)
  }
}

// Feeds `in` to the parser while no finished request is waiting for its response. Returns the
// bytes consumed; the caller keeps the rest.
std::size_t HttpConnection::drive(MutableByteView in) {
  if (upgrade_ready_) return 0;  // an upgrade decision is pending: keep the bytes for the session
  in_drive_ = true;
  std::size_t off = 0;
  while (off < in.size() && !closing() && !ws_ && !tunnel_) {
    if (exchange_active_ && request_complete_) break;  // pipelined: wait for the response
    if (!exchange_active_ && !parser_->in_message()) {
      keepalive_timer_.cancel();
      if (!header_timer_.armed()) {
        conn_->loop().schedule(header_timer_, ms(runtime_->config.server.header_timeout));
      }
    }
    const auto r = parser_->feed(ByteView(in).subspan(off), *this);
    if (!r) {
      in_drive_ = false;
      parse_failed(r.error());
      return in.size();
    }
    off += *r;
    if (parser_->upgraded()) {
      if (upgrade_ && upgrade_->accept.pending) {
        // The decision needs I/O (e.g. the bridge's backend connect): keep what follows the
        // request for the session, and read nothing more until it is decided.
        upgrade_ready_ = true;
        conn_->pause_reading();
        break;
      }
      if (upgrade_) {
        in_drive_ = false;
        start_websocket(in.subspan(off));
        return in.size();
      }
      // The route answered the upgrade request in plain HTTP: what follows is HTTP again.
      parser_->resume_after_upgrade();
    }
    if (parser_->done()) {  // the last request of this connection is complete: ignore the rest
      off = in.size();
      break;
    }
    if (*r == 0 && !(exchange_active_ && request_complete_)) break;  // defensive: no progress
  }
  in_drive_ = false;
  // A response that ended while we were parsing (synchronous handler) finished its exchange
  // already; if more requests are waiting in `in`, the loop above went on with them.
  return off;
}

proto::Http1Action HttpConnection::on_request_head(proto::HttpRequestHead& head) {
  header_timer_.cancel();
  head_ = std::move(head);
  exchange_active_ = true;
  request_complete_ = false;
  resp_ = Resp::none;
  status_ = 0;
  upstream_name_.clear();
  bytes_in_ = 0;
  bytes_out_ = 0;
  route_ = nullptr;
  started_wall_ = conn_->loop().wall_time();
  started_ms_ = conn_->loop().now_ms();
  keep_alive_ = parser_->should_keep_alive() && !server_->shutting_down();
  expects_continue_ = head_.version_minor >= 1 && head_.headers.has_token("Expect", "100-continue");
  route_request();
  return proto::Http1Action::proceed;
}

std::uint64_t HttpConnection::body_limit(const RouteConfig& route) const {
  if (route.kind == RouteKind::proxy && route.proxy.max_body_size) {
    return *route.proxy.max_body_size;
  }
  return runtime_->limits.max_body_bytes;
}

bool HttpConnection::body_over_limit(std::uint64_t limit) const {
  const auto cl = head_.headers.get("Content-Length");
  if (limit == 0 || !cl) return false;
  std::uint64_t n = 0;
  const auto [p, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
  // The parser has validated the field; an overflow means "more than any limit".
  return ec == std::errc::result_out_of_range || (ec == std::errc{} && n > limit);
}

void HttpConnection::on_body(ByteView chunk) {
  bytes_in_ += chunk.size();
  if (handler_ && resp_ != Resp::done) handler_->on_body(*this, chunk);
}

void HttpConnection::pause_request_body() {
  if (closing() || request_complete_ || resp_ == Resp::done) return;
  body_paused_ = true;
  conn_->pause_reading();
}

void HttpConnection::resume_request_body() {
  if (!body_paused_) return;
  body_paused_ = false;
  if (!closing() && pending_.size() <= kMaxPendingInput) conn_->resume_reading();
}

void HttpConnection::send_continue() {
  if (!expects_continue_ || closing() || resp_ != Resp::none || request_complete_) return;
  expects_continue_ = false;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  Bytes out(reinterpret_cast<const std::byte*>(kContinue.data()),
            reinterpret_cast<const std::byte*>(kContinue.data()) + kContinue.size());
  conn_->write(std::move(out));
}

// A final answer while the body is still to come: if the client was told to wait for a 100 that
// never came, it may never send the body, so the connection ends after the answer; a paused
// body resumes so the parser can discard the rest.
void HttpConnection::body_answered_early() {
  if (request_complete_) return;
  if (expects_continue_) keep_alive_ = false;
  expects_continue_ = false;
  resume_request_body();
}

proto::Http1Action HttpConnection::on_message_complete() {
  request_complete_ = true;
  if (handler_ && resp_ != Resp::done) handler_->on_request_complete(*this);
  if (resp_ == Resp::done && exchange_active_) finish_exchange();
  return proto::Http1Action::pause;  // one request at a time: responses stay in order
}

void HttpConnection::on_eof() {
  if (ws_) {
    ws_->on_eof();
    return;
  }
  if (tunnel_) {
    tunnel_->on_eof();
    return;
  }
  eof_ = true;
  if (exchange_active_ && request_complete_ && resp_ != Resp::done) {
    keep_alive_ = false;  // the client half-closed after its request: answer, then close
    return;
  }
  if (parser_ && parser_->in_message()) {
    WSGATE_LOG(debug, "http " << conn_->peer().to_string() << ": connection closed mid-request");
  }
  close_after_writes();
}

void HttpConnection::on_error(std::error_code ec) {
  if (ws_) {
    ws_->on_error(ec);
    return;
  }
  if (tunnel_) {
    tunnel_->on_error(ec);
    return;
  }
  WSGATE_LOG(debug, "http " << conn_->peer().to_string() << ": " << ec.message());
  if (handler_ && exchange_active_ && resp_ != Resp::done) handler_->on_abort();
  handler_.reset();
  closing_ = true;
}

void HttpConnection::on_drain() {
  if (ws_) {
    ws_->on_drain();
    return;
  }
  if (tunnel_) {
    tunnel_->on_drain();
    return;
  }
  if (handler_ && resp_ == Resp::streaming) handler_->on_drain(*this);
}

void HttpConnection::parse_failed(std::error_code ec) {
  if (closing()) return;  // already answered and closing (e.g. the early 413)
  const int status = proto::http_status_for(ec);
  keep_alive_ = false;
  if (resp_ != Resp::none) {
    // The request was answered already (early answer, or the 413 above): nothing more can be
    // said in HTTP; close once the answer is out.
    WSGATE_LOG(debug, "http " << conn_->peer().to_string() << ": " << ec.message()
                              << " after the response, closing");
    if (exchange_active_)
      finish_exchange();
    else
      close_after_writes();
    return;
  }
  WSGATE_LOG(info, "http " << conn_->peer().to_string() << ": " << ec.message() << " ("
                           << parser_->error_reason() << "), answering " << status);
  if (!exchange_active_) {
    // An error before any head: log the exchange with what we have.
    exchange_active_ = true;
    started_wall_ = conn_->loop().wall_time();
    started_ms_ = conn_->loop().now_ms();
    head_ = {};
  }
  send_error(status, ec.message(), {});
}

// --- routing ---------------------------------------------------------------------------------

// A plain listener with redirect_https: every request gets 308 to the same URL over https.
bool HttpConnection::redirect_to_https() {
  const auto& listens = runtime_->config.listen;
  if (listen_index_ >= listens.size() || !listens[listen_index_].redirect_https) return false;
  const auto host = head_.headers.get("Host");
  if (!host || host->empty()) {
    send_error(400, "a Host header is needed to redirect to https", {});
    return true;
  }
  // The host without its port ("[::1]:80" -> "[::1]", "a.com:80" -> "a.com").
  std::string_view name = *host;
  const std::size_t bracket = name.rfind(']');
  const std::size_t colon = name.rfind(':');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    name = name.substr(0, colon);
  }
  const std::uint16_t port = listens[listen_index_].redirect_https_port;
  std::string location = "https://" + std::string(name);
  if (port != 443) location += ":" + std::to_string(port);
  location += head_.target.empty() || head_.target.front() != '/' ? "/" : head_.target;
  proto::HttpHeaders extra;
  extra.add("Location", location);
  send_error(308, location, std::move(extra));
  return true;
}

void HttpConnection::route_request() {
  if (redirect_to_https()) return;
  const Runtime& rt = *runtime_;
  auto normalized = normalize_path(head_.path());
  if (!normalized) {
    send_error(400, "bad request target", {});
    return;
  }
  path_ = std::move(*normalized);
  const auto host = head_.headers.get("Host");
  if (head_.version_minor >= 1 && (!host || head_.headers.count("Host") != 1)) {
    send_error(400, "a request must carry exactly one Host header (RFC 9112 section 3.2)", {});
    return;
  }
  route_ = rt.router.match(host.value_or(std::string_view{}), path_);
  if (route_ == nullptr) {
    send_error(404, {}, {});
    return;
  }
  const std::uint64_t limit = body_limit(*route_);
  parser_->set_body_limit(limit);
  if (body_over_limit(limit)) {
    // Answer 413 before the route sees the request (nginx does the same): the parser refuses
    // the body right after this head anyway, and the client deserves the real reason.
    send_error(413, "the request body is larger than the route allows", {});
    return;
  }
  const Service& service = rt.service_for(*route_);
  if (service.takes_websocket() && proto::is_websocket_upgrade(head_)) {
    begin_websocket(*route_, service);
    return;
  }
  const auto methods = service.http_methods();
  if (methods.empty()) {
    proto::HttpHeaders extra;
    extra.add("Upgrade", "websocket");
    extra.add("Sec-WebSocket-Version", "13");
    send_error(426, "this route speaks WebSocket only", std::move(extra));
    return;
  }
  if (std::find(methods.begin(), methods.end(), head_.method) == methods.end()) {
    std::string allow;
    for (std::string_view m : methods) {
      if (!allow.empty()) allow += ", ";
      allow += m;
    }
    proto::HttpHeaders extra;
    extra.add("Allow", std::move(allow));
    send_error(405, {}, std::move(extra));
    return;
  }
  handler_ = service.new_http_handler();
  const bool defers = handler_->defers_continue();
  handler_->on_request(*this);
  // (the handler may be gone already: it answered and the exchange finished)
  if (!defers && exchange_active_ && resp_ == Resp::none && !closing()) send_continue();
}

void HttpConnection::begin_websocket(const RouteConfig& route, const Service& service) {
  auto up = proto::validate_upgrade(head_);
  if (!up) {
    auto rej = proto::make_rejection(up.error());
    WSGATE_LOG(info, "ws " << conn_->peer().to_string() << " route " << route.name()
                           << ": handshake refused: " << up.error().message());
    keep_alive_ = false;
    respond(std::move(rej.head), rej.body);
    return;
  }
  const WsRouteConfig& ws = route.ws;
  const bool origin_ok =
      ws.origins.empty() ? (up->origin.has_value() || ws.allow_missing_origin)
                         : proto::origin_allowed(up->origin, ws.origins, ws.allow_missing_origin);
  if (!origin_ok) {
    auto rej = proto::make_rejection(proto::HandshakeErrc::origin_forbidden);
    WSGATE_LOG(info, "ws " << conn_->peer().to_string() << " route " << route.name() << ": origin '"
                           << up->origin.value_or("(none)") << "' not allowed");
    keep_alive_ = false;
    respond(std::move(rej.head), rej.body);
    return;
  }
  std::optional<proto::DeflateAgreement> deflate;
  if (const auto cfg = deflate_config(ws); cfg.enabled && !up->extensions.empty()) {
    auto agreed = proto::negotiate_deflate(up->extensions, cfg);
    if (!agreed) {
      WSGATE_LOG(info, "ws " << conn_->peer().to_string() << " route " << route.name()
                             << ": Sec-WebSocket-Extensions does not parse: '" << up->extensions
                             << "'");
      keep_alive_ = false;
      send_error(400, "Sec-WebSocket-Extensions does not parse", {});
      return;
    }
    deflate = std::move(*agreed);  // (nullopt: no offer we accept; the session is uncompressed)
  }
  // The completion is owned (through the task) by this connection and never outlives it.
  WsUpgradeContext ctx{
      head_,         *up,           path_,
      route,         conn_->peer(), scheme(),
      conn_->loop(), *upstreams_,   [this](WsAccept a) { upgrade_decided(std::move(a)); }};
  WsAccept accept = service.accept_websocket(ctx);
  if (!accept.handler && !accept.tunnel && !accept.pending) {
    refuse_upgrade(accept);
    return;
  }
  upgrade_ =
      std::make_unique<Upgrade>(Upgrade{std::move(*up), std::move(accept), std::move(deflate)});
}

void HttpConnection::refuse_upgrade(const WsAccept& accept) {
  WSGATE_LOG(info, "ws " << conn_->peer().to_string() << " route " << route_->name()
                         << ": upgrade refused (" << accept.status << "): " << accept.detail);
  keep_alive_ = false;
  send_error(accept.status != 0 ? accept.status : 500, accept.detail, {});
}

void HttpConnection::upgrade_decided(WsAccept accept) {
  if (closing() || !upgrade_) return;
  // The task is done and destroyed here, inside its own completion (which allows it).
  upgrade_->accept.pending.reset();
  if (!accept.handler && !accept.tunnel) {
    upgrade_.reset();
    upgrade_ready_ = false;
    pending_ = Bytes{};
    refuse_upgrade(accept);
    return;
  }
  upgrade_->accept = std::move(accept);
  if (!upgrade_ready_) return;  // the request is not complete yet: drive() starts the session
  upgrade_ready_ = false;
  Bytes early = std::move(pending_);
  pending_ = Bytes{};
  conn_->resume_reading();
  start_websocket(MutableByteView(early));
}

void HttpConnection::start_websocket(MutableByteView early) {
  std::unique_ptr<Upgrade> up = std::move(upgrade_);
  if (up->accept.tunnel || up->accept.extensions) up->deflate.reset();  // the upstream's choice
  auto head = proto::make_upgrade_response(
      up->request, up->accept.subprotocol,
      up->deflate ? std::optional<std::string>(up->deflate->response) : up->accept.extensions);
  head.headers.add("Date", date_for(conn_->loop().wall_time()));
  if (!runtime_->config.server.server_header.empty()) {
    head.headers.add("Server", runtime_->config.server.server_header);
  }
  Bytes out;
  if (auto ec = proto::write_response_head(out, head)) {
    WSGATE_LOG(error, "ws: cannot write the 101 response: " << ec.message());
    closing_ = true;
    conn_->close();
    return;
  }
  const std::size_t head_bytes = out.size();
  conn_->write(std::move(out));
  header_timer_.cancel();
  keepalive_timer_.cancel();
  send_timer_.cancel();

  if (up->accept.tunnel) {
    // Bytes from here on are the tunnel's; the exchange is logged now, as a 101.
    status_ = 101;
    upstream_name_ = std::move(up->accept.upstream);
    bytes_out_ += head_bytes;
    log_exchange();
    parser_.reset();
    pending_ = Bytes{};
    head_ = {};
    path_ = std::string{};
    exchange_active_ = false;
    tunnel_ = std::move(up->accept.tunnel);
    tunnel_->start(*conn_, early);
    if (server_->shutting_down() && tunnel_) tunnel_->going_away();
    return;
  }

  const auto& subprotocol = up->accept.subprotocol;
  WsSessionInfo info(head_.target, head_.headers.get("User-Agent").value_or(""),
                     head_.headers.get("Referer").value_or(""),
                     subprotocol ? std::optional<std::string_view>(*subprotocol) : std::nullopt,
                     up->accept.upstream, started_wall_, started_ms_);
  const RouteConfig& route = *route_;
  // The HTTP state is not needed any more: free it so an idle session stays small.
  parser_.reset();
  pending_ = Bytes{};
  head_ = {};
  path_ = std::string{};
  exchange_active_ = false;
  std::optional<proto::DeflateParams> deflate;
  if (up->deflate) deflate = up->deflate->params;
  ws_ = std::make_unique<WsSession>(*conn_, route, runtime_->access_log.get(), std::move(info),
                                    std::move(up->accept.handler), deflate,
                                    up->accept.relay_compressed);
  ws_->start(early);
  if (server_->shutting_down()) ws_->going_away();
}

// --- responses -------------------------------------------------------------------------------

void HttpConnection::finish_head(proto::HttpResponseHead& head) {
  head.headers.set("Date", date_for(conn_->loop().wall_time()));
  const std::string& server = runtime_->config.server.server_header;
  if (!server.empty() && !head.headers.contains("Server")) head.headers.add("Server", server);
  if (ends_connection(head.status) || server_->shutting_down() || eof_) keep_alive_ = false;
  if (!keep_alive_) {
    if (!head.headers.has_token("Connection", "close")) {
      auto c = head.headers.get("Connection");
      head.headers.set("Connection", c ? std::string(*c) + ", close" : std::string("close"));
    }
  } else if (head_.version_minor == 0) {
    head.headers.set("Connection", "keep-alive");  // HTTP/1.0 keeps alive only when told
  }
  status_ = head.status;
}

void HttpConnection::write_out(Bytes bytes) {
  bytes_out_ += bytes.size();
  conn_->write(std::move(bytes));
  if (conn_->buffered_bytes() > 0 && !send_timer_.armed()) {
    // Progress is bytes the kernel takes: the queue's size says nothing while the response
    // keeps adding to it.
    send_check_sent_ = conn_->bytes_sent();
    send_progress_ms_ = conn_->loop().now_ms();
    conn_->loop().schedule(send_timer_.get(*this),
                           std::min(kSendCheckMs, ms(runtime_->config.server.send_timeout)));
  }
}

void HttpConnection::respond(proto::HttpResponseHead head, std::string_view body) {
  if (closing() || resp_ != Resp::none) {
    if (resp_ != Resp::none) WSGATE_LOG(error, "http: a second response for one request dropped");
    return;
  }
  const bool no_body = head.status == 204 || head.status == 304 || head.status < 200;
  if (!no_body && !head.headers.contains("Content-Length")) {
    head.headers.set("Content-Length", std::to_string(body.size()));
  }
  body_answered_early();
  finish_head(head);
  Bytes out;
  out.reserve(256 + body.size());
  if (auto ec = proto::write_response_head(out, head)) {
    WSGATE_LOG(error, "http: handler produced an invalid response head: " << ec.message());
    resp_ = Resp::none;
    send_error(500, {}, {});
    return;
  }
  if (!no_body && !is_head()) append(out, as_bytes(body));
  resp_ = Resp::done;
  write_out(std::move(out));
  response_done();
}

void HttpConnection::respond_error(int status, std::string_view detail) {
  send_error(status, detail, {});
}

void HttpConnection::send_error(int status, std::string_view detail, proto::HttpHeaders extra) {
  proto::HttpResponseHead head;
  head.status = status;
  head.headers = std::move(extra);
  head.headers.add("Content-Type", "text/plain; charset=utf-8");
  std::string body = std::to_string(status);
  body.append(" ").append(proto::reason_phrase(status)).append("\n");
  if (!detail.empty()) body.append(detail).append("\n");
  if (ends_connection(status)) keep_alive_ = false;
  respond(std::move(head), body);
}

void HttpConnection::start_response(proto::HttpResponseHead head) {
  if (closing() || resp_ != Resp::none) return;
  resp_has_length_ = false;
  resp_chunked_ = false;
  if (auto cl = head.headers.get("Content-Length")) {
    std::uint64_t n = 0;
    const auto [p, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
    if (ec != std::errc{} || p != cl->data() + cl->size()) {
      WSGATE_LOG(error, "http: handler set a bad Content-Length '" << *cl << "'");
      send_error(500, {}, {});
      return;
    }
    resp_has_length_ = true;
    resp_remaining_ = n;
  } else if (!is_head()) {
    if (head_.version_minor >= 1) {
      resp_chunked_ = true;
      head.headers.set("Transfer-Encoding", "chunked");
    } else {
      keep_alive_ = false;  // HTTP/1.0: the body ends when the connection does
    }
  }
  body_answered_early();
  finish_head(head);
  Bytes out;
  if (auto ec = proto::write_response_head(out, head)) {
    WSGATE_LOG(error, "http: handler produced an invalid response head: " << ec.message());
    send_error(500, {}, {});
    return;
  }
  resp_ = Resp::streaming;
  write_out(std::move(out));
}

void HttpConnection::write_body(Bytes chunk) {
  if (closing() || resp_ != Resp::streaming || is_head() || chunk.empty()) return;
  if (resp_has_length_) {
    if (chunk.size() > resp_remaining_) {
      WSGATE_LOG(error, "http: handler wrote past its Content-Length; extra bytes dropped");
      chunk.resize(static_cast<std::size_t>(resp_remaining_));
    }
    resp_remaining_ -= chunk.size();
    if (!chunk.empty()) write_out(std::move(chunk));
  } else if (resp_chunked_) {
    Bytes framed;
    framed.reserve(chunk.size() + 16);
    proto::append_chunk(framed, chunk);
    write_out(std::move(framed));
  } else {
    write_out(std::move(chunk));
  }
}

void HttpConnection::end_response() {
  if (closing() || resp_ != Resp::streaming) return;
  resp_ = Resp::done;
  if (is_head()) {
    // nothing after the head
  } else if (resp_has_length_ && resp_remaining_ > 0) {
    // The body came up short of its Content-Length: the client would wait forever for the rest
    // or, worse, read the next response as body. Closing is the only honest end.
    WSGATE_LOG(warn, "http " << conn_->peer().to_string() << " " << head_.target << ": response "
                             << resp_remaining_ << " bytes short of its Content-Length, closing");
    keep_alive_ = false;
  } else if (resp_chunked_) {
    Bytes last;
    proto::append_last_chunk(last);
    write_out(std::move(last));
  }
  response_done();
}

void HttpConnection::abort_response(std::string_view why) {
  if (closing() || resp_ == Resp::done) return;
  if (resp_ == Resp::none) {
    send_error(502, why, {});
    return;
  }
  WSGATE_LOG(warn, "http " << conn_->peer().to_string() << " " << head_.target
                           << ": response cut short: " << why);
  resp_ = Resp::done;
  keep_alive_ = false;
  finish_exchange();
}

void HttpConnection::response_done() {
  // The request must be read to its end before the next one can be parsed (a body the handler
  // paused is read again, and discarded); a connection that closes anyway need not wait for it.
  if (!request_complete_ && keep_alive_) {
    resume_request_body();
    // The rest of the body is read and discarded, and must arrive within header_timeout: a
    // client trickling an unwanted body does not hold the connection open for ever.
    conn_->loop().schedule(keepalive_timer_.get(*this), ms(runtime_->config.server.header_timeout));
  }
  if (request_complete_ || !keep_alive_) finish_exchange();
}

void HttpConnection::finish_exchange() {
  if (!exchange_active_) return;
  exchange_active_ = false;
  log_exchange();
  handler_.reset();
  upgrade_.reset();
  route_ = nullptr;
  resp_ = Resp::none;
  body_paused_ = false;
  expects_continue_ = false;
  if (!keep_alive_) {
    close_after_writes();
    return;
  }
  if (eof_) {
    close_after_writes();
    return;
  }
  if (pending_.size() <= kMaxPendingInput) conn_->resume_reading();  // (a paused body)
  if (pending_.empty()) {
    conn_->loop().schedule(keepalive_timer_.get(*this),
                           ms(runtime_->config.server.keepalive_timeout));
  } else if (!in_drive_) {
    drive_pending();  // pipelined requests wait in pending_
  }
}

void HttpConnection::log_exchange() {
  if (const AccessLog* log = runtime_->access_log.get()) {
    const std::string peer = conn_->peer().to_string();
    const std::string route = route_ ? route_->name() : std::string("-");
    AccessRecord rec;
    rec.peer = peer;
    rec.method = head_.method.empty() ? std::string_view("-") : std::string_view(head_.method);
    rec.target = head_.target.empty() ? std::string_view("-") : std::string_view(head_.target);
    rec.version_minor = head_.version_minor;
    rec.status = status_;
    rec.bytes_in = bytes_in_;
    rec.bytes_out = bytes_out_;
    rec.referer = head_.headers.get("Referer").value_or("");
    rec.user_agent = head_.headers.get("User-Agent").value_or("");
    rec.route = route;
    rec.time = started_wall_;
    rec.duration_ms = conn_->loop().now_ms() - started_ms_;
    rec.upstream = upstream_name_;
    log->write(rec);
  }
}

void HttpConnection::close_after_writes() {
  if (closing_) return;
  closing_ = true;
  header_timer_.cancel();
  keepalive_timer_.cancel();
  send_timer_.cancel();
  conn_->close_gracefully(kHttpLingerMs);
}

// --- timers ----------------------------------------------------------------------------------

void HttpConnection::on_timer(net::Timer& t) noexcept {
  if (closing() || ws_ || tunnel_) return;
  if (&t == &header_timer_) {
    if (parser_->in_message() || !pending_.empty()) {
      WSGATE_LOG(info, "http " << conn_->peer().to_string() << ": request head not complete within "
                               << runtime_->config.server.header_timeout.count() << " ms, 408");
      exchange_active_ = true;
      started_wall_ = conn_->loop().wall_time();
      started_ms_ = conn_->loop().now_ms();
      head_ = {};
      send_error(408, {}, {});
    } else {
      WSGATE_LOG(debug, "http " << conn_->peer().to_string() << ": no request, closing");
      close_after_writes();
    }
  } else if (keepalive_timer_.is(t)) {
    close_after_writes();
  } else if (send_timer_.is(t)) {
    if (conn_->buffered_bytes() == 0) return;
    const std::uint64_t now = conn_->loop().now_ms();
    const std::uint64_t timeout = ms(runtime_->config.server.send_timeout);
    if (conn_->bytes_sent() != send_check_sent_) {  // progress: the clock starts again
      send_check_sent_ = conn_->bytes_sent();
      send_progress_ms_ = now;
    }
    if (now - send_progress_ms_ < timeout) {  // look again within a second
      conn_->loop().schedule(t, std::min(kSendCheckMs, timeout - (now - send_progress_ms_)));
      return;
    }
    WSGATE_LOG(info, "http " << conn_->peer().to_string() << ": client took no response bytes for "
                             << runtime_->config.server.send_timeout.count() << " ms, closing");
    if (handler_ && resp_ != Resp::done) handler_->on_abort();
    handler_.reset();
    closing_ = true;
    conn_->close();
  }
}

void HttpConnection::shutdown() {
  if (ws_) {
    ws_->going_away();
    return;
  }
  if (tunnel_) {
    tunnel_->going_away();
    return;
  }
  keep_alive_ = false;
  if (exchange_active_) return;  // the response in flight finishes, then Connection: close
  // Idle between requests: nothing to flush, so no linger either.
  closing_ = true;
  conn_->close();
}

}  // namespace wsgate::proxy
