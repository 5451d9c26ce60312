#include "proxy/http_proxy.hpp"

#include <string>
#include <utility>

#include "base/log.hpp"
#include "net/loop.hpp"
#include "proto/http1_parser.hpp"
#include "proto/http1_writer.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/relay_side.hpp"
#include "proxy/upstream.hpp"
#include "proxy/ws_proxy.hpp"

namespace wsgate::proxy {

namespace {

std::uint64_t ms(Millis d) {
  return static_cast<std::uint64_t>(d.count());
}

// Request body bytes held while the upstream connection is being set up; past this the client
// is paused (a client that honours Expect: 100-continue sends nothing before the 100 anyway).
constexpr std::size_t kBodyBeforeConnect = 64 * 1024;

// Limits for upstream response heads: more generous than for clients (applications send long
// Set-Cookie and CSP fields), and no body cap (bodies stream).
proto::Http1Limits upstream_limits() {
  proto::Http1Limits l;
  l.max_head_bytes = 64 * 1024;
  l.max_header_count = 1000;
  l.max_body_bytes = 0;
  return l;
}

enum class Framing : std::uint8_t { none, length, chunked };

// One proxied request/response. The client side is the HttpExchange; the upstream side is a
// leased connection whose events arrive through a RelaySide. Ending the client's response may
// destroy this object (HttpExchange's rule), so every path that ends it does so last; starting
// it is checked with `alive_` in case the server refused the head.
class ProxyExchange final : public HttpHandler,
                            private proto::HttpResponseEvents,
                            private net::TimerHandler {
 public:
  explicit ProxyExchange(const RouteConfig& route) : route_(route), parser_(upstream_limits()) {}

  ~ProxyExchange() override { drop_upstream(false); }

  // --- HttpHandler (the client side) ---
  void on_request(HttpExchange& ex) override;
  bool defers_continue() const noexcept override { return true; }
  void on_body(HttpExchange& ex, ByteView chunk) override;
  void on_request_complete(HttpExchange& ex) override;
  void on_drain(HttpExchange& ex) override;
  void on_abort() override {
    ex_ = nullptr;
    pending_.reset();
    drop_upstream(false);
  }

  // --- the upstream connection (RelaySide) ---
  void upstream_read(MutableByteView data);
  void upstream_eof();
  void upstream_error(std::error_code ec);
  void upstream_drain();

 private:
  // proto::HttpResponseEvents
  proto::Http1Action on_response_head(proto::HttpResponseHead& head) override;
  void on_body(ByteView chunk) override;
  proto::Http1Action on_message_complete() override;
  // net::TimerHandler
  void on_timer(net::Timer& t) noexcept override;

  void start_connect(bool reuse);
  void connected(Result<UpstreamLease> r);
  void send_body(ByteView chunk);
  void request_sent();
  bool begin_response();
  void complete(bool clean);
  void upstream_lost(std::string_view what);
  void fail(int status, std::string detail);
  void drop_upstream(bool keep);
  bool waiting_on_upstream() const noexcept;
  void note_progress() noexcept { last_progress_ms_ = ex_->loop().now_ms(); }
  std::string where() const;

  const RouteConfig& route_;
  HttpExchange* ex_ = nullptr;
  std::shared_ptr<UpstreamPool> pool_;
  proto::HttpRequestHead up_head_;  // the request as the upstream gets it
  Framing framing_ = Framing::none;
  Bytes early_body_;              // body bytes that came before the upstream connection
  bool request_done_ = false;     // the client's request is complete
  bool request_sent_ = false;     // ... and all of it was handed to the upstream connection
  bool answered_early_ = false;   // the response head came before request_sent_
  bool continue_wanted_ = false;  // the client waits for a 100 before sending its body
  std::uint64_t body_sent_ = 0;
  unsigned attempts_ = 0;

  std::unique_ptr<PendingConnect> pending_;
  UpstreamLease lease_;
  RelayLink<ProxyExchange> up_;  // empty when not connected
  proto::HttpResponseParser parser_;
  proto::HttpResponseHead resp_head_;
  bool head_ready_ = false;     // a final response head is waiting for begin_response()
  bool resp_started_ = false;   // the client's response has begun
  bool resp_no_body_ = false;   // 204/304: answered with respond() at the end
  bool resp_complete_ = false;  // the upstream's response is complete
  bool paused_for_client_ = false;
  std::uint64_t resp_bytes_ = 0;        // bytes received from the upstream
  std::uint64_t last_progress_ms_ = 0;  // loop time a byte last moved to or from the upstream
  std::uint64_t last_client_ms_ = 0;    // loop time the client last sent body bytes

  net::Timer response_timer_{*this};  // response_timeout: the head after the request
  net::Timer read_timer_{*this};      // read_timeout: no progress while waiting on the upstream
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// --- the request -------------------------------------------------------------------------------

void ProxyExchange::on_request(HttpExchange& ex) {
  ex_ = &ex;
  pool_ = ex.upstreams().find(route_.upstream);
  if (!pool_) return ex.respond_error(500, "upstream not available");
  const proto::HttpRequestHead& req = ex.request();
  const std::string ip = ex.peer().host();
  ForwardFacts facts;
  facts.client_ip = ip;
  facts.scheme = ex.scheme();
  facts.host = req.headers.get("Host");
  facts.version_minor = req.version_minor;
  up_head_.method = req.method;
  up_head_.target = req.target;
  up_head_.version_minor = 1;
  up_head_.headers = forward_request_headers(req.headers, facts, route_.proxy.upstream_host);
  if (auto cl = req.headers.get("Content-Length")) {
    framing_ = Framing::length;
    up_head_.headers.set("Content-Length", std::string(*cl));
  } else if (req.headers.contains("Transfer-Encoding")) {
    framing_ = Framing::chunked;  // the parser accepts only chunked as the final coding
    up_head_.headers.set("Transfer-Encoding", "chunked");
  }
  if (pool_->config().keepalive == 0) up_head_.headers.set("Connection", "close");
  continue_wanted_ = req.version_minor >= 1 && req.headers.has_token("Expect", "100-continue");
  last_client_ms_ = ex.loop().now_ms();
  parser_.set_request_method(req.method);
  start_connect(true);
}

void ProxyExchange::start_connect(bool reuse) {
  ++attempts_;
  pending_ = pool_->connect(
      ex_->peer(), [this](Result<UpstreamLease> r) { connected(std::move(r)); }, reuse);
}

void ProxyExchange::connected(Result<UpstreamLease> r) {
  if (ex_ == nullptr) {  // (the client went away: pending_ was reset, so this does not run)
    if (r) r->connection()->close();
    return;
  }
  if (!r) {
    const bool none = r.error() == make_error_code(UpstreamErrc::no_live_server);
    return fail(502, none ? "no live upstream server" : "the upstream refused or timed out");
  }
  lease_ = std::move(*r);
  up_.attach(*lease_.connection(), this);
  ex_->note_upstream(lease_.access_name());
  if (!up_head_.headers.contains("Host")) {
    // An HTTP/1.0 client without Host: HTTP/1.1 needs one; the server's name is the best guess.
    up_head_.headers.set(
        "Host", lease_.peer()->unix_path.empty() ? lease_.peer()->name : std::string("localhost"));
  }
  Bytes out;
  if (auto ec = proto::write_request_head(out, up_head_)) {
    return fail(500, "the request cannot be forwarded: " + ec.message());
  }
  up_->write(std::move(out));
  note_progress();
  if (!early_body_.empty()) {
    Bytes early = std::move(early_body_);
    early_body_ = Bytes{};
    send_body(early);
  }
  if (request_done_) request_sent();
  ex_->loop().schedule(read_timer_, ms(route_.proxy.read_timeout));
  if (continue_wanted_) {
    continue_wanted_ = false;
    ex_->send_continue();
  }
  if (!up_->above_high_watermark()) ex_->resume_request_body();
}

void ProxyExchange::on_body(HttpExchange& ex, ByteView chunk) {
  last_client_ms_ = ex.loop().now_ms();
  if (resp_complete_) return;
  if (!up_) {
    append(early_body_, chunk);
    if (early_body_.size() >= kBodyBeforeConnect) ex.pause_request_body();
    return;
  }
  send_body(chunk);
  if (up_ && up_->above_high_watermark()) ex.pause_request_body();
}

void ProxyExchange::send_body(ByteView chunk) {
  if (chunk.empty()) return;
  body_sent_ += chunk.size();
  note_progress();
  if (framing_ == Framing::chunked) {
    Bytes framed;
    framed.reserve(chunk.size() + 16);
    proto::append_chunk(framed, chunk);
    up_->write(std::move(framed));
  } else {
    up_->write_copy(chunk);
  }
}

void ProxyExchange::on_request_complete(HttpExchange&) {
  request_done_ = true;
  if (up_ && !resp_complete_) request_sent();
}

// The whole request is on its way: the response head is due within response_timeout.
void ProxyExchange::request_sent() {
  request_sent_ = true;
  if (framing_ == Framing::chunked) {
    Bytes last;
    proto::append_last_chunk(last);
    up_->write(std::move(last));
  }
  if (!resp_started_ && !resp_no_body_) {
    ex_->loop().schedule(response_timer_, ms(route_.proxy.response_timeout));
  }
}

void ProxyExchange::on_drain(HttpExchange&) {
  if (paused_for_client_ && up_) {
    paused_for_client_ = false;
    note_progress();  // the time spent waiting on the client does not count
    up_->resume_reading();
  }
}

void ProxyExchange::upstream_drain() {
  if (ex_ != nullptr && !request_done_) ex_->resume_request_body();
}

// --- the response ------------------------------------------------------------------------------

proto::Http1Action ProxyExchange::on_response_head(proto::HttpResponseHead& head) {
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    return proto::Http1Action::proceed;  // interim (100 Continue, 103): the final one follows
  }
  resp_head_ = std::move(head);
  head_ready_ = true;
  return proto::Http1Action::pause;
}

void ProxyExchange::on_body(ByteView chunk) {
  if (ex_ != nullptr && resp_started_) ex_->write_body(Bytes(chunk.begin(), chunk.end()));
}

proto::Http1Action ProxyExchange::on_message_complete() {
  if (!resp_started_ && !resp_no_body_ && !head_ready_) {
    return proto::Http1Action::proceed;  // the end of an interim response
  }
  resp_complete_ = true;
  return proto::Http1Action::pause;
}

void ProxyExchange::upstream_read(MutableByteView data) {
  if (ex_ == nullptr) return;
  resp_bytes_ += data.size();
  note_progress();
  ByteView in = data;
  for (;;) {
    const auto r = parser_.feed(in, *this);
    if (!r) {
      WSGATE_LOG(warn, where() << ": invalid response: " << r.error().message() << " ("
                               << parser_.error_reason() << ")");
      if (!resp_started_) return fail(502, "the upstream sent an invalid response");
      drop_upstream(false);
      return ex_->abort_response("the upstream sent an invalid response body");
    }
    in = in.subspan(*r);
    if (head_ready_) {
      head_ready_ = false;
      if (!begin_response()) return;
      continue;  // (even with nothing left: a response without a body completes on it)
    }
    if (resp_complete_) return complete(in.empty());
    if (in.empty() || *r == 0 || parser_.done()) break;
  }
  if (resp_complete_) return complete(true);
  if (resp_started_ && ex_->buffered_amount() >= HttpExchange::kProduceBelow && up_) {
    paused_for_client_ = true;
    up_->pause_reading();
  }
}

// Starts the client's response from resp_head_. False if this exchange is over (do nothing
// more): the head was refused, or the upstream answered 101 to a plain request.
bool ProxyExchange::begin_response() {
  response_timer_.cancel();
  // An upstream that answers before it has the whole request may not read the rest the way we
  // sent it: its connection is not reused (the leftover could be read as the next request).
  if (!request_sent_) answered_early_ = true;
  if (resp_head_.status == 101) {
    fail(502, "the upstream switched protocols on a plain request");
    return false;
  }
  proto::HttpResponseHead head;
  head.status = resp_head_.status;
  head.reason = resp_head_.reason;
  head.headers = forward_response_headers(resp_head_.headers, resp_head_.version_minor);
  if (head.status == 204 || head.status == 304) {
    resp_no_body_ = true;
    resp_head_ = std::move(head);
    return true;
  }
  const bool head_request = ex_->is_head();
  if (!head_request && resp_head_.headers.contains("Transfer-Encoding")) {
    head.headers.remove("Content-Length");  // (the parser refuses both together anyway)
  }
  if (!head_request && !resp_head_.headers.contains("Content-Length")) {
    head.headers.remove("Content-Length");  // chunked or until-close: the server frames it
  }
  resp_head_ = {};
  std::weak_ptr<bool> alive = alive_;
  resp_started_ = true;
  ex_->start_response(std::move(head));
  return !alive.expired();
}

// The upstream's response is complete. `clean`: nothing followed it on the connection.
void ProxyExchange::complete(bool clean) {
  response_timer_.cancel();
  read_timer_.cancel();
  const bool reusable = clean && request_done_ && !answered_early_ && parser_.should_keep_alive() &&
                        up_ && up_->buffered_bytes() == 0 && !parser_.needs_eof();
  drop_upstream(reusable);
  HttpExchange* ex = ex_;
  if (resp_no_body_) {
    ex->respond(std::move(resp_head_), {});  // (may destroy this)
  } else {
    ex->end_response();  // (may destroy this)
  }
}

void ProxyExchange::upstream_eof() {
  if (ex_ == nullptr) return;
  if (parser_.in_message() && parser_.needs_eof()) {
    // An until-close body ends here.
    (void)parser_.finish(*this);
    if (resp_complete_) {
      drop_upstream(false);
      return complete(false);
    }
  }
  upstream_lost("the upstream closed the connection");
}

void ProxyExchange::upstream_error(std::error_code ec) {
  up_.release();  // the connection closes itself after on_error
  if (ex_ == nullptr) return;
  upstream_lost("the upstream connection failed: " + ec.message());
}

// The upstream connection ended before its response did.
void ProxyExchange::upstream_lost(std::string_view what) {
  const bool nothing_yet = resp_bytes_ == 0 && !resp_started_;
  const bool retry = nothing_yet && framing_ == Framing::none && is_idempotent(up_head_.method) &&
                     attempts_ <= pool_->peers().size();
  if (retry) {
    WSGATE_LOG(info, where() << ": " << what << " before responding; retrying"
                             << (lease_.reused() ? " (a kept connection had gone stale)" : ""));
    if (!lease_.reused() && lease_.peer() != nullptr) pool_->report_failure(*lease_.peer());
    drop_upstream(false);
    lease_ = UpstreamLease();
    response_timer_.cancel();
    read_timer_.cancel();
    start_connect(false);
    return;
  }
  WSGATE_LOG(warn,
             where() << ": " << what
                     << (resp_started_ ? " in the middle of the response" : " before responding"));
  drop_upstream(false);
  if (!resp_started_) return fail(502, "the upstream closed the connection before responding");
  response_timer_.cancel();
  read_timer_.cancel();
  ex_->abort_response(what);  // (may destroy this)
}

void ProxyExchange::fail(int status, std::string detail) {
  response_timer_.cancel();
  read_timer_.cancel();
  pending_.reset();
  drop_upstream(false);
  if (ex_ == nullptr) return;
  HttpExchange* ex = ex_;
  if (resp_started_) return ex->abort_response(detail);
  ex->respond_error(status, detail);  // (may destroy this)
}

// Lets go of the upstream connection: back to the keep-alive pool, or closed.
void ProxyExchange::drop_upstream(bool keep) {
  if (!keep) return up_.close(false);
  if (net::TcpConnection* c = up_.release()) {
    c->resume_reading();  // the idle handler must see the server's FIN
    pool_->keep(std::move(lease_));
  }
}

// --- timers --------------------------------------------------------------------------------------

// True when the exchange waits for the upstream (not for the client): the request is out and
// the response is not complete, or the upstream is not taking the request body.
bool ProxyExchange::waiting_on_upstream() const noexcept {
  if (!up_ || paused_for_client_) return false;
  return request_done_ || up_->above_high_watermark();
}

void ProxyExchange::on_timer(net::Timer& t) noexcept {
  if (ex_ == nullptr) return;
  if (&t == &response_timer_) {
    WSGATE_LOG(warn, where() << ": no response head within "
                             << route_.proxy.response_timeout.count() << " ms");
    return fail(504, "the upstream did not answer in time");
  }
  const std::uint64_t limit = ms(route_.proxy.read_timeout);
  const std::uint64_t now = ex_->loop().now_ms();
  std::uint64_t since = now;  // waiting on a client that is reading the response: not idle
  if (waiting_on_upstream()) {
    since = last_progress_ms_;
  } else if (!request_done_ && !paused_for_client_) {
    since = last_client_ms_;  // waiting for the client's body
  }
  if (now - since < limit) {
    ex_->loop().schedule(read_timer_, limit - (now - since));
    return;
  }
  if (!waiting_on_upstream()) {
    WSGATE_LOG(info, where() << ": no request body bytes for " << route_.proxy.read_timeout.count()
                             << " ms");
    return fail(408, "the request body stopped arriving");
  }
  WSGATE_LOG(warn, where() << ": nothing moved for " << route_.proxy.read_timeout.count() << " ms");
  fail(504, "the upstream stopped sending");
}

std::string ProxyExchange::where() const {
  std::string s = "proxy " + route_.name();
  if (ex_ != nullptr) s += " " + ex_->request().method + " " + ex_->request().target;
  if (lease_.peer() != nullptr) s += " -> " + lease_.describe();
  return s;
}

// --- the service -------------------------------------------------------------------------------

constexpr std::string_view kProxyMethods[] = {
    "GET",       "HEAD",  "POST", "PUT",  "DELETE", "PATCH",  "OPTIONS", "TRACE",  "PROPFIND",
    "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",   "UNLOCK", "REPORT",  "SEARCH", "PURGE"};

class ProxyService final : public Service {
 public:
  explicit ProxyService(const RouteConfig& route) : route_(route) {}

  std::span<const std::string_view> http_methods() const noexcept override { return kProxyMethods; }
  std::unique_ptr<HttpHandler> new_http_handler() const override {
    return std::make_unique<ProxyExchange>(route_);
  }
  bool takes_websocket() const noexcept override { return true; }
  WsAccept accept_websocket(const WsUpgradeContext& ctx) const override {
    auto pool = ctx.upstreams.find(route_.upstream);
    if (!pool) {
      WsAccept a;
      a.status = 500;
      a.detail = "upstream not available";
      return a;
    }
    return accept_proxied_websocket(ctx, pool);
  }

 private:
  const RouteConfig& route_;
};

}  // namespace

std::unique_ptr<Service> make_proxy_service(const RouteConfig& route) {
  return std::make_unique<ProxyService>(route);
}

}  // namespace wsgate::proxy
