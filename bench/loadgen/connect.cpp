// Mode connect: opens N idle WebSockets, at most `concurrency` handshakes at a time, spread
// over the source addresses 127.0.0.2 .. 127.0.0.(K+1) (--sources K) so that N may exceed the
// ephemeral-port range of one source address; then holds them for -d seconds, answering pings,
// so that the server's memory per idle connection can be read from /proc meanwhile.
//
// Reports the connect rate (connections opened per second of ramp-up), the handshake latency
// (from socket() to the verified 101) and failures (refused, reset, closed while held). When
// every connection is open, one line "wsgate-bench: holding N connections" goes to stderr,
// flushed: a runner waits for it before reading the server's RSS.

#include <arpa/inet.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "modes.hpp"

namespace wsgate::bench {
namespace {

class IdleConn final : public Conn {
 public:
  IdleConn(ConnShared& sh, const Target& t, LatencyHistogram& hs) : Conn(sh, t, true), hs_(hs) {}

 private:
  void on_open() override { hs_.record(now_ns() - started_ns()); }
  void on_ws_message(proto::Opcode, ByteView) override {}  // an idle client ignores data

  LatencyHistogram& hs_;
};

std::vector<sockaddr_in> source_addresses(std::size_t k) {
  std::vector<sockaddr_in> v;
  for (std::size_t i = 0; i < k; ++i) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = 0;
    // 127.0.0.2 upwards, carrying into the next octet past .254: all of 127/8 is loopback.
    const std::uint32_t host = (127u << 24) + 2u + static_cast<std::uint32_t>(i % 250) +
                               (static_cast<std::uint32_t>(i / 250) << 8);
    a.sin_addr.s_addr = htonl(host);
    v.push_back(a);
  }
  return v;
}

}  // namespace

int run_connect(const Options& o) {
  raise_fd_limit(o.conns);
  Poller poller;
  ConnShared sh;
  sh.rx_buf.resize(16 * 1024);  // idle connections read only handshakes and pings
  sh.poller = &poller;
  LatencyHistogram handshake;
  const auto sources = source_addresses(o.sources);

  std::vector<std::unique_ptr<IdleConn>> conns;
  conns.reserve(o.conns);
  const std::uint64_t t0 = now_ns();
  std::uint64_t last_progress = t0;
  std::size_t settled = 0;
  while (sh.opened + sh.failed < o.conns) {
    while (conns.size() < o.conns && conns.size() - (sh.opened + sh.failed) < o.concurrency) {
      conns.push_back(std::make_unique<IdleConn>(sh, o.target, handshake));
      const sockaddr_in* src = sources.empty() ? nullptr : &sources[conns.size() % sources.size()];
      conns.back()->start(src);
    }
    poller.run_once(5);
    const std::uint64_t now = now_ns();
    if (sh.opened + sh.failed != settled) {
      settled = sh.opened + sh.failed;
      last_progress = now;
    } else if (now - last_progress > kConnectTimeoutNs) {
      const std::size_t pending = conns.size() - settled;
      std::fprintf(stderr, "wsgate-bench: %zu handshakes stalled; giving up on them\n", pending);
      sh.errors += pending + (o.conns - conns.size());
      break;
    }
  }
  const std::uint64_t t1 = now_ns();
  const std::size_t opened = sh.opened;
  const std::size_t failed_connecting = sh.failed;
  std::fprintf(stderr, "wsgate-bench: holding %zu connections\n", sh.live);
  std::fflush(stderr);

  const auto hold = static_cast<std::uint64_t>(o.seconds * 1e9);
  while (now_ns() - t1 < hold) poller.run_once(50);
  const std::size_t closed_while_held = sh.failed - failed_connecting;
  sh.stopping = true;

  const double ramp = static_cast<double>(t1 - t0) / 1e9;
  std::printf(
      "{\"mode\":\"connect\",\"connections\":%zu,\"opened\":%zu,\"failed\":%zu,"
      "\"closed_while_held\":%zu,\"connect_seconds\":%.3f,\"connects_per_s\":%.1f,%s,"
      "\"held_seconds\":%.3f,\"sources\":%zu,\"errors\":%llu}\n",
      o.conns, opened, failed_connecting, closed_while_held, ramp,
      ramp > 0 ? static_cast<double>(opened) / ramp : 0,
      latency_json("handshake_us", handshake).c_str(), o.seconds, o.sources,
      static_cast<unsigned long long>(sh.errors));
  std::fflush(stdout);
  return sh.errors == 0 ? 0 : 1;
}

}  // namespace wsgate::bench
