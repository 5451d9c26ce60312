#pragma once
// One event loop (libuv underneath; this header does not expose it) and what every connection on
// it shares: the read buffer, the timer wheel, the cross-thread post queue and signal watchers.
//
// A worker thread creates one Loop, builds its listeners and connections on it and calls run().
// Everything except post() and request_stop() must be called on the loop's own thread.
//
// Shutdown (STYLE.md §5.6): request_stop() (any thread) runs the loop's stop callback on the loop
// thread; the owner closes its listeners and winds its connections down; run() returns once no
// handle is left but the loop's own. force_close_all() closes whatever is still open (connections
// that overstayed the shutdown timeout); run() then returns.

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "base/bytes.hpp"
#include "net/timer_wheel.hpp"

namespace wsgate::net {

namespace detail {
/// Internal to src/net: the `data` of every libuv handle src/net creates points to (exactly this
/// base of) its owning object, so Loop::force_close_all() can close each handle through its
/// owner's own close path (which frees the owner in the close callback).
class HandleOwner {
 public:
  virtual void force_close() noexcept = 0;

 protected:
  ~HandleOwner() = default;
};

/// Internal to src/net: something with output gathered during a loop iteration (a connection's
/// writes) that Loop::defer_flush() hands to the kernel in one go before the loop next waits.
class Flusher {
 public:
  virtual void flush() noexcept = 0;

 protected:
  ~Flusher() = default;
};
}  // namespace detail

class Loop {
 public:
  /// Creates a loop with its read buffer (`read_buffer_size` bytes, shared by every connection of
  /// the loop: an idle connection owns none) and timer wheel. Aborts if libuv cannot create one.
  static std::unique_ptr<Loop> create(std::size_t read_buffer_size = 64 * 1024);
  virtual ~Loop();  // requires run() to have returned (or never started)
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Runs until request_stop() has been handled and every handle (listeners, connections, other
  /// loop-owned watchers) has closed. Returns 0, or the libuv error of uv_loop_close if handles
  /// were leaked (a bug; logged).
  int run();

  /// Thread-safe. Runs `fn` on the loop thread soon (in post order). Posts after run() has
  /// returned are dropped.
  void post(std::function<void()> fn);

  /// Thread-safe. Makes the loop call the stop callback (set_stop_callback) on its thread, then
  /// lets run() return as soon as only the loop's own handles remain.
  void request_stop();
  /// What request_stop() runs on the loop thread: the owner's "stop accepting, close sessions".
  void set_stop_callback(std::function<void()> fn);
  /// Closes every handle on this loop that is not yet closing (connections get no further
  /// callbacks; their objects are freed by their close callbacks). For the end of a shutdown.
  void force_close_all();
  /// True once request_stop() has been handled.
  bool stopping() const noexcept;

  /// Watches `signum` (SIGINT, SIGTERM, SIGHUP...) on this loop; `fn` runs on the loop thread
  /// each time it arrives. Watchers close when stop is requested.
  void on_signal(int signum, std::function<void()> fn);

  /// Cached loop time in milliseconds (monotonic; updated once per loop iteration).
  std::uint64_t now_ms() const noexcept;
  /// Wall clock (seconds since the epoch), for Date headers and logs; cached per iteration.
  std::int64_t wall_time() const noexcept;

  /// The loop's timer wheel (driven by one libuv timer, asleep while the wheel is empty).
  TimerWheel& timers() noexcept;
  /// Schedules `t` `delay_ms` from now and makes sure the wheel's driver wakes up in time. Use
  /// this rather than timers().schedule().
  void schedule(Timer& t, std::uint64_t delay_ms) noexcept;

  /// The libuv loop, as an opaque pointer for the rest of src/net.
  void* native() noexcept;
  /// The loop's shared read buffer, for src/net's libuv alloc callbacks (handlers get views
  /// into it through on_read; they never call this).
  MutableByteView read_buffer() noexcept;

  /// For src/net: `f.flush()` runs once, on this thread, before the loop next waits for I/O:
  /// right after the I/O callbacks of this iteration (a check handle), or, for requests made in
  /// timer or close callbacks, just before the wait (a prepare handle). Returns a slot for
  /// cancel_flush(); kNoFlushSlot once the loop has closed its own handles (nothing is flushed
  /// then: the loop is ending).
  static constexpr std::size_t kNoFlushSlot = static_cast<std::size_t>(-1);
  std::size_t defer_flush(detail::Flusher& f) noexcept;
  /// Forgets a deferred flush (its object is closing). kNoFlushSlot is ignored.
  void cancel_flush(std::size_t slot) noexcept;

 protected:
  Loop() = default;
};

}  // namespace wsgate::net
