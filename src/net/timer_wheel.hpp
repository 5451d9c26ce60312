#pragma once
// A hashed timer wheel for the many coarse timeouts of a loop (handshake, idle, ping, close):
// O(1) schedule and cancel, no allocation, no uv_timer_t per connection.
//
// Timers are intrusive: a Timer is a member of the object it times (a session, a connection),
// so arming one allocates nothing. The wheel is pure (no libuv, no clock): the owner calls
// advance(now_ms) from one uv_timer_t per loop (net::Loop does that) and the tests call it with a
// fake clock.
//
// Resolution is kTickMs: a timer fires on the first advance() at or after its due time rounded
// up to the next tick, i.e. up to one tick late, never early.
//
// Thread: one wheel per loop thread; not thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>

namespace wsgate::net {

class Timer;

/// Who is told when a Timer fires. One owner may hold several timers and tell them apart by
/// address.
class TimerHandler {
 public:
  virtual ~TimerHandler() = default;
  /// Called from TimerWheel::advance(). The timer is already disarmed; the callback may re-arm
  /// it, arm or cancel any other timer, close its owner, or destroy it (and with it this timer
  /// and others): the wheel touches nothing of `timer` after the call, and steps past timers
  /// cancelled or destroyed during it.
  virtual void on_timer(Timer& timer) noexcept = 0;
};

/// Timer keeps its due time and wheel slot in one 64-bit word.
inline constexpr unsigned kTimerDueBits = 55;
inline constexpr unsigned kTimerSlotBits = 64 - kTimerDueBits;

/// One timeout. Not copyable or movable (the wheel links to it). Destroying an armed timer
/// cancels it.
class Timer {
 public:
  explicit Timer(TimerHandler& handler) noexcept : handler_(&handler) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool armed() const noexcept { return wheel_ != nullptr; }
  /// Absolute due time (ms, the wheel's clock) while armed.
  std::uint64_t due_ms() const noexcept { return due_ms_; }
  /// Disarms; a no-op if not armed.
  void cancel() noexcept;

 private:
  friend class TimerWheel;
  TimerHandler* handler_;
  class TimerWheel* wheel_ = nullptr;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  // Packed in one word (every connection holds several timers): 55 bits of milliseconds last
  // a million years, and 9 bits number TimerWheel::kSlots slots.
  std::uint64_t due_ms_ : kTimerDueBits = 0;
  std::uint64_t slot_ : kTimerSlotBits = 0;  // the wheel slot it is linked in, while armed
};

/// A Timer allocated the first time it is armed: for timeouts most owners never arm, in objects
/// there are many of (one per connection). 8 bytes while unused instead of a Timer's 40.
class LazyTimer {
 public:
  /// The timer (created for `handler` on first use), to pass to Loop::schedule().
  Timer& get(TimerHandler& handler) {
    if (!t_) t_ = std::make_unique<Timer>(handler);
    return *t_;
  }
  bool armed() const noexcept { return t_ && t_->armed(); }
  void cancel() noexcept {
    if (t_) t_->cancel();
  }
  /// True if `t` is this timer (for on_timer's dispatch).
  bool is(const Timer& t) const noexcept { return t_.get() == &t; }

 private:
  std::unique_ptr<Timer> t_;
};

class TimerWheel {
 public:
  static constexpr std::uint64_t kTickMs = 100;
  static constexpr std::size_t kSlots = 512;  // one revolution: 51.2 s; longer timers wait laps
  /// The latest due time a timer can hold; longer delays are clamped to it.
  static constexpr std::uint64_t kMaxDueMs = (std::uint64_t{1} << kTimerDueBits) - 1 - kTickMs;

  /// `now_ms`: the current time of the clock that advance() will be given.
  explicit TimerWheel(std::uint64_t now_ms) noexcept;
  ~TimerWheel();  // disarms every timer still armed
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  /// Arms `t` to fire `delay_ms` after the wheel's current time (re-arms if already armed).
  void schedule(Timer& t, std::uint64_t delay_ms) noexcept;
  /// Fires every timer due at or before `now_ms`, tick by tick (timers of one tick in arming
  /// order). Time never goes back: a smaller `now_ms` than the last one does nothing. Must not be
  /// called from inside on_timer.
  void advance(std::uint64_t now_ms) noexcept;

  /// Timers armed.
  std::size_t size() const noexcept { return size_; }
  /// Milliseconds from the wheel's current time until the next tick that has a timer in its
  /// slot, or UINT64_MAX when no timer is armed. The driver sleeps this long (it may wake
  /// earlier; timers due later in the same slot are skipped cheaply).
  std::uint64_t next_wakeup_ms() const noexcept;
  std::uint64_t now_ms() const noexcept { return now_ms_; }

 private:
  friend class Timer;
  void link(Timer& t, std::uint64_t tick) noexcept;
  void unlink(Timer& t) noexcept;
  void run_tick(std::uint64_t tick, std::uint64_t now_ms) noexcept;
  // Each slot is a doubly linked list; the head's prev_ points to the tail (O(1) append).
  Timer* slots_[kSlots] = {};
  Timer* cursor_ = nullptr;  // next timer run_tick() visits; unlink() moves it past a removed one
  std::uint64_t now_ms_;     // the last advance() time
  std::uint64_t tick_;       // ticks processed: slot (tick_ % kSlots) is the next to run
  std::size_t size_ = 0;
};

}  // namespace wsgate::net
