#include "proxy/ws_proxy.hpp"

#include <string>
#include <utility>

#include "base/log.hpp"
#include "net/loop.hpp"
#include "proto/http1_parser.hpp"
#include "proto/http1_writer.hpp"
#include "proto/ws_close.hpp"
#include "proto/ws_extensions.hpp"
#include "proto/ws_frame.hpp"
#include "proto/ws_handshake.hpp"
#include "proto/ws_message.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/relay_side.hpp"
#include "proxy/upstream.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

namespace {

std::uint64_t ms(Millis d) {
  return static_cast<std::uint64_t>(d.count());
}

// Writes one complete masked frame toward the upstream (we are its client, RFC 6455 §5.3).
void write_client_frame(net::TcpConnection& up, proto::Opcode op, ByteView payload,
                        bool rsv1 = false) {
  write_ws_frame(up, op, payload, proto::random_mask_key(), rsv1);
}

// --- message relay -------------------------------------------------------------------------------

// The default: the client's WsSession on one side, a client-role assembler on the upstream's
// bytes on the other; every message, ping, pong and close crosses as its own frame.
class ProxyWsHandler final : public WsHandler, private proto::MessageEvents {
 public:
  /// `relay_compressed`: permessage-deflate was agreed between the client and the upstream;
  /// RSV1 messages cross both ways still compressed.
  ProxyWsHandler(UpstreamLease lease, Bytes early, const RouteConfig& route, bool relay_compressed)
      : lease_(std::move(lease)),
        early_(std::move(early)),
        assembler_(config_for(route, relay_compressed)) {
    up_.attach(*lease_.connection(), this);
    up_->pause_reading();  // until the client's 101 is out
  }

  ~ProxyWsHandler() override { up_.close(false); }

  void on_open(WsSession& s) override {
    session_ = &s;
    if (!early_.empty()) {
      Bytes early = std::move(early_);
      early_ = Bytes{};
      from_upstream(MutableByteView(early));
    }
    if (up_) up_->resume_reading();
  }

  void on_message(WsSession& s, proto::Opcode op, ByteView payload) override {
    if (!up_ || upstream_closed_) return;
    write_client_frame(*up_, op, payload);
    if (up_->above_high_watermark()) s.pause_reading();
  }
  void on_compressed_message(WsSession& s, proto::Opcode op, ByteView payload) override {
    if (!up_ || upstream_closed_) return;
    write_client_frame(*up_, op, payload, true);
    if (up_->above_high_watermark()) s.pause_reading();
  }
  // Control frames are held to the same backpressure as messages: a client flooding pings at
  // an upstream that does not read is paused, not queued without end.
  void on_ping(WsSession& s, ByteView payload) override {
    relay_control(s, proto::Opcode::ping, payload);
  }
  void on_pong(WsSession& s, ByteView payload) override {
    relay_control(s, proto::Opcode::pong, payload);
  }

  void on_close(WsSession&, proto::CloseCode code, std::string_view reason) override {
    session_ = nullptr;
    if (!up_) return;
    if (!upstream_closed_) {
      // The client's close (or ours, for a client that broke the protocol) goes upstream with
      // its code; the upstream answers and closes TCP. A client that vanished (1006, which may
      // not be sent) is "going away" to the upstream.
      const bool vanished = code == proto::CloseCode::abnormal;
      write_client_frame(*up_, proto::Opcode::close,
                         vanished ? proto::make_close_payload(proto::CloseCode::going_away,
                                                              "client connection lost")
                                  : proto::make_close_payload(code, reason));
    }
    up_.close(true);
  }

  void on_drain(WsSession&) override {
    if (up_) up_->resume_reading();
  }

  // --- the upstream connection (RelaySide) ---
  void upstream_read(MutableByteView data) { from_upstream(data); }
  void upstream_eof() { upstream_gone("the upstream closed the connection without a close frame"); }
  void upstream_error(std::error_code ec) {
    up_.release();  // the connection closes itself after on_error
    upstream_gone("the upstream connection failed: " + ec.message());
  }
  void upstream_drain() {
    if (session_ != nullptr) session_->resume_reading();
  }

 private:
  void relay_control(WsSession& s, proto::Opcode op, ByteView payload) {
    if (!up_ || upstream_closed_) return;
    write_client_frame(*up_, op, payload);
    if (up_->above_high_watermark()) s.pause_reading();
  }

  static proto::MessageConfig config_for(const RouteConfig& route, bool rsv1) {
    proto::MessageConfig c;
    c.role = proto::Role::client;
    c.rsv1_allowed = rsv1;  // no inflater: RSV1 messages arrive still compressed
    c.max_frame_size = route.ws.max_frame_size;
    c.max_message_size = route.ws.max_message_size;
    return c;
  }

  void from_upstream(MutableByteView data) {
    if (session_ == nullptr || upstream_closed_) return;
    const auto r = assembler_.feed(data, *this);
    if (!r) {
      WSGATE_LOG(warn, "ws proxy " << lease_.describe() << ": protocol error from the upstream: "
                                   << r.error().message() << "; closing 1014");
      if (up_) {
        write_client_frame(*up_, proto::Opcode::close,
                           proto::make_close_payload(proto::close_code_for(r.error())));
      }
      upstream_closed_ = true;
      up_.close(true);
      if (session_ != nullptr) session_->close(proto::CloseCode::bad_gateway, "upstream error");
      return;
    }
    if (session_ != nullptr && session_->backpressured() && up_) up_->pause_reading();
  }

  void upstream_gone(const std::string& what) {
    up_.close(false);
    if (session_ == nullptr || upstream_closed_) return;
    WSGATE_LOG(info, "ws proxy " << lease_.describe() << ": " << what << "; closing 1014");
    upstream_closed_ = true;
    session_->close(proto::CloseCode::bad_gateway, "upstream connection lost");
  }

  // proto::MessageEvents (the upstream's frames)
  void on_message(proto::Opcode op, ByteView payload, bool compressed) override {
    if (session_ == nullptr) return;
    if (compressed) {
      session_->send_compressed(op, payload);
    } else {
      session_->send(op, payload);
    }
  }
  void on_ping(ByteView payload) override {
    if (session_ != nullptr) session_->ping(payload);
  }
  void on_pong(ByteView payload) override {
    if (session_ != nullptr) session_->pong(payload);
  }
  void on_close(proto::CloseCode code, std::string_view reason) override {
    upstream_closed_ = true;
    if (up_) {  // answer the upstream's close (§5.5.1); it closes TCP
      write_client_frame(*up_, proto::Opcode::close, proto::make_close_payload(code, reason));
    }
    up_.close(true);
    if (session_ != nullptr) session_->close(code, reason);
  }

  UpstreamLease lease_;
  RelayLink<ProxyWsHandler> up_;
  Bytes early_;  // upstream bytes that followed its 101
  proto::MessageAssembler assembler_;
  WsSession* session_ = nullptr;
  bool upstream_closed_ = false;  // a close crossed from the upstream, or it failed
};

// --- passthrough -----------------------------------------------------------------------------

// Bytes both ways after the two 101s, like nginx: half-closes cross, backpressure both ways,
// idle_timeout if set. Once one side has ended, the other has close_timeout to end too (a
// WebSocket has no use for a half-open connection), then both are closed.
class ProxyTunnel final : public TunnelHandler, private net::TimerHandler {
 public:
  ProxyTunnel(UpstreamLease lease, Bytes early, const WsRouteConfig& ws)
      : lease_(std::move(lease)),
        early_(std::move(early)),
        idle_timeout_(ws.idle_timeout),
        close_timeout_(ws.close_timeout) {
    up_.attach(*lease_.connection(), this);
    up_->pause_reading();
  }
  ~ProxyTunnel() override { drop_upstream(false); }

  void start(net::TcpConnection& client, MutableByteView early) override {
    client_ = &client;
    if (!early_.empty()) client_->write(std::move(early_));
    early_ = Bytes{};
    if (!early.empty()) to_upstream(early);
    if (up_) up_->resume_reading();
    arm_idle();
  }
  void going_away() override {
    drop_upstream(false);
    close_client();
  }

  // The client connection.
  void on_read(MutableByteView data) override {
    ++activity_;
    to_upstream(data);
  }
  void on_eof() override {
    client_eof_ = true;
    if (up_) up_->shutdown();
    if (upstream_eof_) return finish();
    half_closed();
  }
  void on_error(std::error_code) override {
    client_ = nullptr;  // it closes itself
    drop_upstream(false);
  }
  void on_drain() override {
    if (up_ && !upstream_eof_) up_->resume_reading();
  }

  // The upstream connection (RelaySide).
  void upstream_read(MutableByteView data) {
    ++activity_;
    if (client_ == nullptr) return;
    client_->write_copy(data);
    if (client_->above_high_watermark() && up_) up_->pause_reading();
  }
  void upstream_eof() {
    upstream_eof_ = true;
    if (client_ != nullptr) client_->shutdown();
    if (client_eof_) return finish();
    half_closed();
  }
  void upstream_error(std::error_code ec) {
    WSGATE_LOG(info, "ws proxy " << lease_.describe() << ": tunnel: " << ec.message());
    up_.release();  // the connection closes itself after on_error
    close_client();
  }
  void upstream_drain() {
    if (client_ != nullptr && !client_eof_) client_->resume_reading();
  }

 private:
  void to_upstream(ByteView data) {
    if (!up_) return;
    up_->write_copy(data);
    if (up_->above_high_watermark() && client_ != nullptr) client_->pause_reading();
  }
  void finish() {
    drop_upstream(true);
    close_client();
  }
  void close_client() {
    if (client_ == nullptr) return;
    net::TcpConnection* c = std::exchange(client_, nullptr);
    c->close_gracefully();  // destroys the server connection, and this, later
  }
  void drop_upstream(bool graceful) noexcept {
    idle_.cancel();
    up_.close(graceful);
  }
  void half_closed() {
    if (client_ == nullptr) return;
    closing_ = true;
    client_->loop().schedule(idle_, ms(close_timeout_));
  }
  void arm_idle() {
    if (closing_) return;
    if (idle_timeout_.count() > 0 && client_ != nullptr) {
      seen_ = activity_;
      client_->loop().schedule(idle_, ms(idle_timeout_));
    }
  }
  void on_timer(net::Timer&) noexcept override {
    if (closing_) {
      WSGATE_LOG(debug, "ws proxy " << lease_.describe() << ": tunnel half-closed for "
                                    << close_timeout_.count() << " ms, closing");
      drop_upstream(false);
      return close_client();
    }
    if (activity_ != seen_) return arm_idle();
    WSGATE_LOG(info, "ws proxy " << lease_.describe() << ": tunnel idle for "
                                 << idle_timeout_.count() << " ms, closing");
    drop_upstream(false);
    close_client();
  }

  UpstreamLease lease_;
  RelayLink<ProxyTunnel> up_;
  net::TcpConnection* client_ = nullptr;
  Bytes early_;
  Millis idle_timeout_;
  Millis close_timeout_;
  net::Timer idle_{*this};  // idle_timeout, then close_timeout once one side has ended
  bool closing_ = false;    // one side has ended
  std::uint64_t activity_ = 0;
  std::uint64_t seen_ = 0;
  bool client_eof_ = false;
  bool upstream_eof_ = false;
};

// --- the upstream handshake --------------------------------------------------------------------

class ProxyWsTask final : public WsUpgradeTask,
                          private proto::HttpResponseEvents,
                          private net::TimerHandler {
 public:
  ProxyWsTask(const WsUpgradeContext& ctx, std::shared_ptr<UpstreamPool> pool)
      : complete_(ctx.complete),
        route_(ctx.route),
        pool_(std::move(pool)),
        loop_(ctx.loop),
        client_(ctx.peer),
        offered_(ctx.upgrade.subprotocols),
        target_(ctx.head.target) {
    ForwardFacts facts;
    const std::string ip = ctx.peer.host();
    facts.client_ip = ip;
    facts.scheme = ctx.scheme;
    facts.host = ctx.head.headers.get("Host");
    facts.version_minor = ctx.head.version_minor;
    extra_ = forward_request_headers(ctx.head.headers, facts, route_.proxy.upstream_host);
    host_ = std::string(extra_.get("Host").value_or(""));
    if (route_.proxy.passthrough || route_.ws.compression == Compression::passthrough) {
      const std::string ext = ctx.head.headers.combined("Sec-WebSocket-Extensions");
      if (!ext.empty()) extensions_ = ext;
    }
  }

  void connect() {
    pending_ =
        pool_->connect(client_, [this](Result<UpstreamLease> r) { connected(std::move(r)); });
  }

  // --- the upstream connection (RelaySide) ---
  void upstream_read(MutableByteView data) {
    if (done_) return;
    const auto r = parser_.feed(data, *this);
    if (!r) {
      WSGATE_LOG(warn, "ws proxy " << lease_.describe()
                                   << ": invalid handshake response: " << r.error().message());
      return fail(502, "the upstream sent an invalid handshake response");
    }
    if (!head_) return;  // more to come
    decide(ByteView(data).subspan(*r));
  }
  void upstream_eof() {
    if (!done_) fail(502, "the upstream closed the connection during the handshake");
  }
  void upstream_error(std::error_code ec) {
    up_.release();  // the connection closes itself after on_error
    if (!done_) fail(502, "the upstream connection failed during the handshake: " + ec.message());
  }
  void upstream_drain() {}

  ~ProxyWsTask() override { up_.close(false); }

 private:
  void connected(Result<UpstreamLease> r) {
    if (!r) {
      const bool none = r.error() == make_error_code(UpstreamErrc::no_live_server);
      return fail(502, none ? "no live upstream server" : "the upstream refused or timed out");
    }
    lease_ = std::move(*r);
    up_.attach(*lease_.connection(), this);
    if (host_.empty()) {
      host_ = lease_.peer()->unix_path.empty() ? lease_.peer()->name : std::string("localhost");
    }
    key_ = proto::generate_key();
    const auto head =
        proto::make_client_request(host_, target_, key_, offered_, extensions_, extra_);
    Bytes out;
    if (auto ec = proto::write_request_head(out, head)) {
      return fail(500, "the upgrade cannot be forwarded: " + ec.message());
    }
    up_->write(std::move(out));
    parser_.set_request_method("GET");
    loop_.schedule(timer_, ms(route_.proxy.response_timeout));
  }

  proto::Http1Action on_response_head(proto::HttpResponseHead& head) override {
    if (head.status >= 100 && head.status < 200 && head.status != 101) {
      return proto::Http1Action::proceed;  // interim
    }
    head_ = std::move(head);
    return proto::Http1Action::pause;
  }
  void on_body(ByteView) override {}
  proto::Http1Action on_message_complete() override { return proto::Http1Action::proceed; }

  void on_timer(net::Timer&) noexcept override {
    WSGATE_LOG(warn, "ws proxy " << lease_.describe() << ": no handshake response within "
                                 << route_.proxy.response_timeout.count() << " ms");
    fail(504, "the upstream did not answer in time");
  }

  // The upstream's answer is in head_; `rest` follows it (frames of the new protocol).
  void decide(ByteView rest) {
    timer_.cancel();
    const proto::HttpResponseHead& h = *head_;
    if (h.status != 101) {
      WSGATE_LOG(info, "ws proxy " << lease_.describe() << ": upstream answered " << h.status
                                   << " to the upgrade");
      if (h.status >= 400 && h.status < 500) {
        return fail(h.status, "the upstream refused the WebSocket upgrade");
      }
      return fail(502, "the upstream did not accept the WebSocket upgrade");
    }
    auto ok = proto::verify_response(h, key_, offered_, extensions_.has_value());
    if (!ok) {
      WSGATE_LOG(warn, "ws proxy " << lease_.describe()
                                   << ": bad handshake response: " << ok.error().message());
      return fail(502, "the upstream's WebSocket handshake is invalid");
    }
    up_.release();  // the relay attaches its own side
    Bytes early(rest.begin(), rest.end());
    WsAccept a;
    a.subprotocol = ok->subprotocol;
    a.upstream = lease_.access_name();
    if (route_.proxy.passthrough) {
      if (!ok->extensions.empty()) a.extensions = ok->extensions;
      a.tunnel = std::make_unique<ProxyTunnel>(std::move(lease_), std::move(early), route_.ws);
    } else {
      bool relay_compressed = false;
      if (!ok->extensions.empty()) {
        // Only permessage-deflate can have been agreed (the client's offer went upstream):
        // the relay passes compressed messages through, so RSV1 is the only bit to allow.
        auto parsed = proto::parse_extensions(ok->extensions);
        if (!parsed || parsed->size() != 1 ||
            !proto::iequals((*parsed)[0].name, proto::kPermessageDeflate)) {
          WSGATE_LOG(warn, "ws proxy " << lease_.describe() << ": upstream agreed to extensions '"
                                       << ok->extensions << "', which cannot be relayed");
          return fail(502, "the upstream agreed to an extension wsgate cannot relay");
        }
        a.extensions = ok->extensions;
        a.relay_compressed = relay_compressed = true;
      }
      a.handler = std::make_unique<ProxyWsHandler>(std::move(lease_), std::move(early), route_,
                                                   relay_compressed);
    }
    finish(std::move(a));
  }

  void fail(int status, std::string detail) {
    timer_.cancel();
    up_.close(false);
    lease_ = UpstreamLease();
    WsAccept a;
    a.status = status;
    a.detail = std::move(detail);
    finish(std::move(a));
  }

  void finish(WsAccept a) {
    if (done_) return;
    done_ = true;
    auto complete = complete_;  // this task is destroyed inside the call
    complete(std::move(a));
  }

  WsUpgradeComplete complete_;
  const RouteConfig& route_;
  std::shared_ptr<UpstreamPool> pool_;
  net::Loop& loop_;
  net::SocketAddress client_;
  std::vector<std::string> offered_;
  std::string target_;
  std::string host_;
  proto::HttpHeaders extra_;
  std::optional<std::string> extensions_;
  std::string key_;
  std::unique_ptr<PendingConnect> pending_;
  UpstreamLease lease_;
  RelayLink<ProxyWsTask> up_;
  proto::HttpResponseParser parser_;
  std::optional<proto::HttpResponseHead> head_;
  net::Timer timer_{*this};
  bool done_ = false;
};

}  // namespace

WsAccept accept_proxied_websocket(const WsUpgradeContext& ctx,
                                  const std::shared_ptr<UpstreamPool>& pool) {
  auto task = std::make_unique<ProxyWsTask>(ctx, pool);
  task->connect();
  WsAccept a;
  a.pending = std::move(task);
  return a;
}

}  // namespace wsgate::proxy
