#pragma once
// What the net tests share: a watchdog that bounds every loop run, one-shot timers, a byte
// pattern, a loopback address, and a connection handler that records what it saw.
//
// Every test runs its loop on the test thread and is bounded by a Watchdog. Callbacks use CHECK
// (never REQUIRE or FAIL): nothing may throw out of a noexcept libuv callback.

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>

#include "base/bytes.hpp"
#include "net/address.hpp"
#include "net/loop.hpp"
#include "net/tcp.hpp"
#include "net/timer_wheel.hpp"

namespace wsgate::net::test {

struct Watchdog : TimerHandler {
  Watchdog(Loop& l, std::uint64_t limit_ms) : loop(l), timer(*this) { l.schedule(timer, limit_ms); }
  void on_timer(Timer&) noexcept override {
    fired = true;
    loop.force_close_all();
    loop.request_stop();
  }
  Loop& loop;
  Timer timer;
  bool fired = false;
};

// Runs `fn` once, `delay_ms` after arm().
struct After : TimerHandler {
  explicit After(std::function<void()> f) : fn(std::move(f)), timer(*this) {}
  void arm(Loop& loop, std::uint64_t delay_ms) { loop.schedule(timer, delay_ms); }
  void on_timer(Timer&) noexcept override { fn(); }
  std::function<void()> fn;
  Timer timer;
};

inline std::byte pattern_at(std::size_t i) {
  return static_cast<std::byte>(static_cast<unsigned char>((i * 131u) ^ (i >> 12)));
}

inline Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = pattern_at(i);
  return b;
}

inline SocketAddress loopback(std::uint16_t port = 0) {
  return *SocketAddress::parse("127.0.0.1", port);
}

// What a test's connection handler saw; outlives the handler (which the connection frees).
struct Stats {
  Bytes received;
  int reads = 0, eofs = 0, errors = 0, drains = 0;
  std::error_code error;
  std::function<void(TcpConnection&, MutableByteView)> on_read;
  std::function<void(TcpConnection&)> on_eof;
  std::function<void(TcpConnection&)> on_drain;
  std::function<void(TcpConnection&, std::error_code)> on_error;
};

class Recorder final : public ConnectionHandler {
 public:
  Recorder(TcpConnection& c, Stats& s) : conn_(c), s_(s) {}
  void on_read(MutableByteView d) override {
    append(s_.received, d);
    if (s_.on_read) s_.on_read(conn_, d);
    ++s_.reads;  // after the callback: ASan catches a handler freed while it runs
  }
  void on_eof() override {
    ++s_.eofs;
    if (s_.on_eof) s_.on_eof(conn_);
  }
  void on_error(std::error_code ec) override {
    ++s_.errors;
    s_.error = ec;
    if (s_.on_error) s_.on_error(conn_, ec);
  }
  void on_drain() override {
    ++s_.drains;
    if (s_.on_drain) s_.on_drain(conn_);
  }

 private:
  TcpConnection& conn_;
  Stats& s_;
};

inline void attach(TcpConnection& c, Stats& s) {
  c.set_handler(std::make_unique<Recorder>(c, s));
}

struct OnAccept final : AcceptHandler {
  std::function<void(TcpConnection&)> fn;
  void on_accept(TcpConnection& c) override {
    if (fn) fn(c);
  }
};

}  // namespace wsgate::net::test
