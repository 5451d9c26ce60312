#include "net/timer_wheel.hpp"

#include <algorithm>
#include <limits>

namespace wsgate::net {

namespace {

constexpr std::uint64_t kTick = TimerWheel::kTickMs;
static_assert(TimerWheel::kSlots <= (std::size_t{1} << kTimerSlotBits) &&
                  (TimerWheel::kSlots & (TimerWheel::kSlots - 1)) == 0,
              "Timer::slot_ must number every slot");
constexpr std::uint64_t kDueMask = (std::uint64_t{1} << kTimerDueBits) - 1;

// The tick whose processing fires a timer due at `due_ms`: its due time rounded up to a tick
// boundary, so a timer is never early.
std::uint64_t tick_of(std::uint64_t due_ms) noexcept {
  return due_ms / kTick + (due_ms % kTick != 0 ? 1 : 0);
}

}  // namespace

Timer::~Timer() {
  cancel();
}

void Timer::cancel() noexcept {
  if (wheel_ != nullptr) wheel_->unlink(*this);
}

TimerWheel::TimerWheel(std::uint64_t now_ms) noexcept : now_ms_(now_ms), tick_(now_ms / kTick) {}

TimerWheel::~TimerWheel() {
  for (Timer*& head : slots_) {
    while (head != nullptr) unlink(*head);
  }
}

void TimerWheel::link(Timer& t, std::uint64_t tick) noexcept {
  const std::size_t slot = static_cast<std::size_t>(tick % kSlots);
  Timer*& head = slots_[slot];
  t.wheel_ = this;
  t.slot_ = slot & (kSlots - 1);  // (kSlots is a power of two: the mask changes nothing)
  t.next_ = nullptr;
  if (head == nullptr) {
    head = &t;
    t.prev_ = &t;
  } else {
    Timer* tail = head->prev_;
    tail->next_ = &t;
    t.prev_ = tail;
    head->prev_ = &t;
  }
  ++size_;
}

void TimerWheel::unlink(Timer& t) noexcept {
  // A callback may cancel the very timer run_tick() would visit next: step the cursor past it.
  if (cursor_ == &t) cursor_ = t.next_;
  Timer*& head = slots_[t.slot_];
  if (&t == head) {
    head = t.next_;
    if (head != nullptr) head->prev_ = t.prev_;  // the tail
  } else {
    t.prev_->next_ = t.next_;
    if (t.next_ != nullptr) {
      t.next_->prev_ = t.prev_;
    } else {
      head->prev_ = t.prev_;  // t was the tail
    }
  }
  t.prev_ = nullptr;
  t.next_ = nullptr;
  t.wheel_ = nullptr;
  --size_;
}

void TimerWheel::schedule(Timer& t, std::uint64_t delay_ms) noexcept {
  if (t.wheel_ != nullptr) t.wheel_->unlink(t);
  const std::uint64_t due =
      delay_ms > kMaxDueMs - std::min(now_ms_, kMaxDueMs) ? kMaxDueMs : now_ms_ + delay_ms;
  t.due_ms_ = due & kDueMask;  // due <= kMaxDueMs: the mask changes nothing
  // Ticks before tick_ have been processed: a timer due in one of them runs on the next tick.
  link(t, std::max(tick_of(t.due_ms_), tick_));
}

void TimerWheel::run_tick(std::uint64_t tick, std::uint64_t now_ms) noexcept {
  // tick_ moves first, so a timer re-armed from a callback lands in a later tick, never in the
  // list being walked (a re-arm a whole number of laps ahead is appended and then skipped).
  tick_ = tick + 1;
  cursor_ = slots_[tick % kSlots];
  while (cursor_ != nullptr) {
    Timer* t = cursor_;
    cursor_ = t->next_;
    if (t->due_ms_ > now_ms) continue;  // due in a later lap
    unlink(*t);
    t->handler_->on_timer(*t);
  }
}

void TimerWheel::advance(std::uint64_t now_ms) noexcept {
  if (now_ms < now_ms_) return;
  now_ms_ = now_ms;
  const std::uint64_t last = now_ms / kTick;
  if (tick_ > last) return;
  if (size_ == 0) {  // nothing to run: jump, however long the wheel slept
    tick_ = last + 1;
    return;
  }
  // After a sleep longer than a revolution, one pass over every slot fires everything due.
  if (last - tick_ >= kSlots) tick_ = last + 1 - kSlots;
  while (tick_ <= last) run_tick(tick_, now_ms);
}

std::uint64_t TimerWheel::next_wakeup_ms() const noexcept {
  if (size_ == 0) return std::numeric_limits<std::uint64_t>::max();
  for (std::uint64_t tick = tick_; tick < tick_ + kSlots; ++tick) {
    if (slots_[tick % kSlots] == nullptr) continue;
    const std::uint64_t at = tick * kTick;
    return at > now_ms_ ? at - now_ms_ : 0;
  }
  return std::numeric_limits<std::uint64_t>::max();  // unreachable: size_ > 0
}

}  // namespace wsgate::net
