// Mode http: keep-alive HTTP/1.1 GET load, C connections each with W requests in flight
// (W > 1 pipelines). Every response must be a 200 whose body has exactly -s bytes (-s 0: any
// length) and must keep the connection alive. Round-trip latency per request. It stands in for
// wrk in the runner when wrk is not installed; with wrk present the runner uses wrk.

#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "modes.hpp"

namespace wsgate::bench {
namespace {

struct HttpCtx {
  const Options* o = nullptr;
  bool measuring = false;
  std::uint64_t responses = 0;   ///< valid responses while measuring
  std::uint64_t body_bytes = 0;  ///< their body bytes
  LatencyHistogram latency;      ///< ns, while measuring
};

class HttpClient final : public Conn {
 public:
  HttpClient(ConnShared& sh, HttpCtx& ctx) : Conn(sh, ctx.o->target, false), ctx_(ctx) {
    request_ = "GET " + ctx.o->target.target + " HTTP/1.1\r\nHost: " + ctx.o->target.host +
               "\r\nUser-Agent: wsgate-bench\r\n\r\n";
  }

 private:
  void on_open() override {
    for (std::size_t i = 0; i < ctx_.o->window; ++i) send_one();
    flush();
  }

  void on_bytes(ByteView in) override {
    const auto r = parser_.feed(in, events_);
    if (!r.ok()) fail("bad HTTP response");
  }

  // The parser's events, forwarded (Conn already uses HttpResponseEvents for its handshake).
  struct Events final : proto::HttpResponseEvents {
    explicit Events(HttpClient& c) : c_(c) {}
    proto::Http1Action on_response_head(proto::HttpResponseHead& head) override {
      c_.status_ = head.status;
      c_.body_ = 0;
      return proto::Http1Action::proceed;
    }
    void on_body(ByteView chunk) override { c_.body_ += chunk.size(); }
    proto::Http1Action on_message_complete() override { return c_.response_complete(); }
    HttpClient& c_;
  };

  proto::Http1Action response_complete() {
    if (is_dead() || inflight_.empty()) {
      fail("response without a request");
      return proto::Http1Action::proceed;
    }
    const std::uint64_t sent = inflight_.front();
    inflight_.pop_front();
    const std::size_t want = ctx_.o->size;
    if (status_ != 200 || (want != 0 && body_ != want) || !parser_.should_keep_alive()) {
      std::fprintf(stderr, "wsgate-bench: bad response: status %d, %zu body bytes%s\n", status_,
                   body_, parser_.should_keep_alive() ? "" : ", not keep-alive");
      fail("unexpected HTTP response");
      return proto::Http1Action::proceed;
    }
    if (ctx_.measuring) {
      ++ctx_.responses;
      ctx_.body_bytes += body_;
      ctx_.latency.record(now_ns() - sent);
    }
    send_one();
    return proto::Http1Action::proceed;
  }

  void send_one() {
    inflight_.push_back(now_ns());
    queue_raw(ByteView(reinterpret_cast<const std::byte*>(request_.data()), request_.size()));
  }

  HttpCtx& ctx_;
  std::string request_;                 ///< the request, sent again and again
  std::deque<std::uint64_t> inflight_;  ///< send times of the requests awaiting a response
  proto::HttpResponseParser parser_;
  Events events_{*this};
  int status_ = 0;        ///< status of the response being parsed
  std::size_t body_ = 0;  ///< its body bytes so far
};

}  // namespace

int run_http(const Options& o) {
  raise_fd_limit(o.conns);
  Poller poller;
  ConnShared sh;
  sh.poller = &poller;
  HttpCtx ctx;
  ctx.o = &o;
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (std::size_t i = 0; i < o.conns; ++i) {
    clients.push_back(std::make_unique<HttpClient>(sh, ctx));
    clients.back()->start();
  }
  if (!run_until(poller, kConnectTimeoutNs, [&] { return sh.opened + sh.failed >= o.conns; }))
    sh.errors += o.conns - sh.opened - sh.failed;
  const auto duration = static_cast<std::uint64_t>(o.seconds * 1e9);
  const std::uint64_t t0 = now_ns();
  ctx.measuring = true;
  std::uint64_t now = t0;
  while (now - t0 < duration && sh.live > 0) {
    poller.run_once(1);
    now = now_ns();
  }
  ctx.measuring = false;
  sh.stopping = true;
  const double elapsed = static_cast<double>(now - t0) / 1e9;
  const double rps = elapsed > 0 ? static_cast<double>(ctx.responses) / elapsed : 0;
  std::printf(
      "{\"mode\":\"http\",\"connections\":%zu,\"window\":%zu,\"size\":%zu,\"seconds\":%.3f,"
      "\"messages\":%llu,\"messages_per_s\":%.1f,\"mb_per_s\":%.3f,%s,\"errors\":%llu}\n",
      o.conns, o.window, o.size, elapsed, static_cast<unsigned long long>(ctx.responses), rps,
      elapsed > 0 ? static_cast<double>(ctx.body_bytes) / elapsed / 1e6 : 0,
      latency_json("latency_us", ctx.latency).c_str(), static_cast<unsigned long long>(sh.errors));
  std::fflush(stdout);
  return sh.errors == 0 ? 0 : 1;
}

}  // namespace wsgate::bench
