#pragma once
// The load generator's event loop: a thin level-triggered epoll wrapper and a monotonic clock.
// Deliberately not src/net: the measuring side shares no code path with the server it measures
// beyond the WebSocket codec. One Poller per process, used from one thread.

#include <cstdint>

namespace wsgate::bench {

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC).
std::uint64_t now_ns() noexcept;

/// Something registered with the Poller: epoll's data.ptr points at it.
class PollHandler {
 public:
  virtual ~PollHandler() = default;
  virtual void on_poll(std::uint32_t events) = 0;
};

/// A thin epoll wrapper. Thread: the one that owns it.
class Poller {
 public:
  Poller();
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void add(int fd, std::uint32_t events, PollHandler* h);
  void modify(int fd, std::uint32_t events, PollHandler* h);
  void remove(int fd) noexcept;
  /// Waits at most `timeout_ms` and dispatches the ready events.
  void run_once(int timeout_ms);

 private:
  int ep_ = -1;
};

}  // namespace wsgate::bench
