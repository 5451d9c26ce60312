#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/timer_wheel.hpp"

using namespace wsgate::net;

namespace {

constexpr std::uint64_t kTick = TimerWheel::kTickMs;
constexpr std::uint64_t kRevolution = TimerWheel::kTickMs * TimerWheel::kSlots;

// A timer that records when it fired (the wheel's clock) and runs an optional action.
struct Probe : TimerHandler {
  explicit Probe(TimerWheel& w, std::string n = {}) : wheel(w), name(std::move(n)), timer(*this) {}
  void on_timer(Timer& t) noexcept override {
    CHECK(&t == &timer);  // CHECK, not REQUIRE: nothing may throw out of a noexcept callback
    CHECK_FALSE(t.armed());
    fired_at.push_back(wheel.now_ms());
    if (log != nullptr) log->push_back(name);
    if (action) action();
  }
  TimerWheel& wheel;
  std::string name;
  Timer timer;
  std::vector<std::uint64_t> fired_at;
  std::vector<std::string>* log = nullptr;
  std::function<void()> action;
};

// Advances the fake clock in `step` ms increments up to `until`.
void run_clock(TimerWheel& w, std::uint64_t until, std::uint64_t step = 1) {
  for (std::uint64_t t = w.now_ms(); t <= until; t += step) w.advance(t);
}

}  // namespace

TEST_CASE("timer wheel fires each timer once, never early, at most one tick late", "[net][timer]") {
  for (const std::uint64_t delay : std::vector<std::uint64_t>{0, 1, 99, 100, 101, 250, 999, 5000}) {
    TimerWheel w(1000);
    Probe p(w);
    w.schedule(p.timer, delay);
    REQUIRE(p.timer.armed());
    REQUIRE(p.timer.due_ms() == 1000 + delay);
    REQUIRE(w.size() == 1);
    run_clock(w, 1000 + delay + 2 * kTick);
    REQUIRE(p.fired_at.size() == 1);
    CHECK(p.fired_at[0] >= 1000 + delay);
    CHECK(p.fired_at[0] <= 1000 + delay + kTick);
    CHECK(w.size() == 0);
  }
}

TEST_CASE("timer wheel fires in due order across ticks and arming order within one",
          "[net][timer]") {
  TimerWheel w(0);
  std::vector<std::string> log;
  Probe a(w, "a"), b(w, "b"), c(w, "c"), d(w, "d");
  for (Probe* p : {&a, &b, &c, &d}) p->log = &log;
  w.schedule(c.timer, 700);
  w.schedule(a.timer, 150);
  w.schedule(d.timer, 720);  // same tick as c, armed after it
  w.schedule(b.timer, 300);
  run_clock(w, 2000, 7);
  REQUIRE(log == std::vector<std::string>{"a", "b", "c", "d"});
  // One big jump fires them in the same order.
  TimerWheel w2(0);
  std::vector<std::string> log2;
  Probe e(w2, "e"), f(w2, "f"), g(w2, "g");
  for (Probe* p : {&e, &f, &g}) p->log = &log2;
  w2.schedule(g.timer, 900);
  w2.schedule(e.timer, 100);
  w2.schedule(f.timer, 500);
  w2.advance(1000);
  REQUIRE(log2 == std::vector<std::string>{"e", "f", "g"});
}

TEST_CASE("timer wheel cancel and re-arm", "[net][timer]") {
  TimerWheel w(0);
  Probe a(w), b(w);
  w.schedule(a.timer, 200);
  w.schedule(b.timer, 200);
  a.timer.cancel();
  a.timer.cancel();  // idempotent
  REQUIRE_FALSE(a.timer.armed());
  REQUIRE(w.size() == 1);
  w.schedule(b.timer, 500);  // re-arm moves it
  REQUIRE(w.size() == 1);
  run_clock(w, 450);
  CHECK(a.fired_at.empty());
  CHECK(b.fired_at.empty());
  run_clock(w, 700);
  CHECK(a.fired_at.empty());
  REQUIRE(b.fired_at.size() == 1);
  CHECK(b.fired_at[0] == 500);
}

TEST_CASE("timer wheel lets a callback re-arm its own timer", "[net][timer]") {
  TimerWheel w(0);
  Probe p(w);
  int remaining = 5;
  p.action = [&] {
    if (--remaining > 0) w.schedule(p.timer, 200);
  };
  w.schedule(p.timer, 200);
  run_clock(w, 3000, 10);
  REQUIRE(p.fired_at == std::vector<std::uint64_t>{200, 400, 600, 800, 1000});
  // Re-arming with delay 0 from the callback does not loop inside one advance().
  TimerWheel w2(0);
  Probe q(w2);
  q.action = [&] { w2.schedule(q.timer, 0); };
  w2.schedule(q.timer, 0);
  w2.advance(0);
  REQUIRE(q.fired_at.size() == 1);
  w2.advance(100);
  REQUIRE(q.fired_at.size() == 2);
  q.timer.cancel();
}

TEST_CASE("timer wheel callback may cancel the next timer of the same slot", "[net][timer]") {
  TimerWheel w(0);
  Probe a(w), b(w), c(w);
  w.schedule(a.timer, 300);
  w.schedule(b.timer, 310);  // same tick, after a
  w.schedule(c.timer, 320);
  a.action = [&] { b.timer.cancel(); };
  b.action = [] { FAIL_CHECK("cancelled timer fired"); };
  run_clock(w, 1000, 50);
  CHECK(a.fired_at.size() == 1);
  CHECK(b.fired_at.empty());
  CHECK(c.fired_at.size() == 1);
  CHECK(w.size() == 0);
}

TEST_CASE("timer wheel callback may cancel every other timer and arm new ones", "[net][timer]") {
  TimerWheel w(0);
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < 10; ++i) probes.push_back(std::make_unique<Probe>(w));
  for (auto& p : probes) w.schedule(p->timer, 400);
  Probe late(w);
  probes[0]->action = [&] {
    for (auto& p : probes) p->timer.cancel();
    w.schedule(late.timer, 100);
  };
  run_clock(w, 1000, 100);
  CHECK(probes[0]->fired_at.size() == 1);
  for (std::size_t i = 1; i < probes.size(); ++i) CHECK(probes[i]->fired_at.empty());
  REQUIRE(late.fired_at.size() == 1);
  CHECK(late.fired_at[0] == 500);
}

TEST_CASE("timer wheel keeps timers longer than one revolution for their lap", "[net][timer]") {
  TimerWheel w(0);
  Probe longer(w), lap(w), short_one(w);
  w.schedule(longer.timer, kRevolution * 3 + 250);
  w.schedule(lap.timer, kRevolution);  // exactly one revolution: same slot as "now"
  w.schedule(short_one.timer, 250);    // shares a slot with `longer`
  run_clock(w, kRevolution * 4, 50);
  REQUIRE(short_one.fired_at == std::vector<std::uint64_t>{300});  // 250 rounded up to a tick
  REQUIRE(lap.fired_at.size() == 1);
  CHECK(lap.fired_at[0] == kRevolution);
  REQUIRE(longer.fired_at.size() == 1);
  CHECK(longer.fired_at[0] >= kRevolution * 3 + 250);
  CHECK(longer.fired_at[0] <= kRevolution * 3 + 250 + kTick);
}

TEST_CASE("timer wheel survives a clock jump of several revolutions", "[net][timer]") {
  TimerWheel w(500);
  Probe a(w), b(w), c(w);
  w.schedule(a.timer, 1000);
  w.schedule(b.timer, kRevolution * 2);
  w.schedule(c.timer, kRevolution * 10);
  w.advance(500 + kRevolution * 5);
  CHECK(a.fired_at.size() == 1);
  CHECK(b.fired_at.size() == 1);
  CHECK(c.fired_at.empty());
  w.advance(400);  // time never goes back
  CHECK(w.now_ms() == 500 + kRevolution * 5);
  w.advance(500 + kRevolution * 10);
  CHECK(c.fired_at.size() == 1);
}

TEST_CASE("timer wheel next_wakeup_ms points at the next occupied tick", "[net][timer]") {
  TimerWheel w(1030);
  REQUIRE(w.next_wakeup_ms() == UINT64_MAX);
  Probe a(w), b(w);
  w.schedule(b.timer, 900);  // due 1930 -> tick at 2000
  w.schedule(a.timer, 250);  // due 1280 -> tick at 1300
  CHECK(w.next_wakeup_ms() == 1300 - 1030);
  w.advance(1300);
  REQUIRE(a.fired_at.size() == 1);
  CHECK(w.next_wakeup_ms() == 2000 - 1300);
  b.timer.cancel();
  CHECK(w.next_wakeup_ms() == UINT64_MAX);
}

TEST_CASE("timer wheel destructor disarms, timer destructor cancels", "[net][timer]") {
  auto w = std::make_unique<TimerWheel>(0);
  Probe a(*w);
  {
    Probe gone(*w);
    w->schedule(gone.timer, 100);
    w->schedule(a.timer, 100);
    REQUIRE(w->size() == 2);
  }  // `gone` unlinks itself
  REQUIRE(w->size() == 1);
  w.reset();
  CHECK_FALSE(a.timer.armed());
  a.timer.cancel();  // harmless after the wheel is gone
}

TEST_CASE("timer wheel handles many timers", "[net][timer]") {
  constexpr std::uint64_t kCount = 20000;
  TimerWheel w(0);
  std::vector<std::unique_ptr<Probe>> probes;
  probes.reserve(kCount);
  for (std::uint64_t i = 0; i < kCount; ++i) {
    probes.push_back(std::make_unique<Probe>(w));
    w.schedule(probes.back()->timer, (i * 7919) % (kRevolution * 2));
  }
  for (std::uint64_t i = 0; i < kCount; i += 3) probes[i]->timer.cancel();
  REQUIRE(w.size() == kCount - (kCount + 2) / 3);
  run_clock(w, kRevolution * 2 + kTick, 100);
  CHECK(w.size() == 0);
  for (std::uint64_t i = 0; i < kCount; ++i) {
    const auto& p = *probes[i];
    if (i % 3 == 0) {
      CHECK(p.fired_at.empty());
      continue;
    }
    REQUIRE(p.fired_at.size() == 1);
    const std::uint64_t due = (i * 7919) % (kRevolution * 2);
    REQUIRE(p.fired_at[0] >= due);
    REQUIRE(p.fired_at[0] <= due + kTick);
  }
}

TEST_CASE("timer wheel clamps delays past its 55-bit clock and still links every slot",
          "[net][timer]") {
  TimerWheel w(1000);
  Probe far(w);
  w.schedule(far.timer, UINT64_MAX);
  CHECK(far.timer.due_ms() == TimerWheel::kMaxDueMs);
  // One timer per slot of a revolution: the packed slot number reaches every slot.
  std::vector<std::unique_ptr<Probe>> probes;
  for (std::size_t i = 0; i < TimerWheel::kSlots; ++i) {
    probes.push_back(std::make_unique<Probe>(w));
    w.schedule(probes.back()->timer, i * kTick);
  }
  run_clock(w, 1000 + kRevolution + kTick, kTick);
  for (const auto& p : probes) CHECK(p->fired_at.size() == 1);
  CHECK(far.fired_at.empty());
  CHECK(w.size() == 1);
  far.timer.cancel();
  CHECK(w.size() == 0);
}

TEST_CASE("lazy timer exists only once armed and dispatches by identity", "[net][timer]") {
  TimerWheel w(0);
  Probe owner(w);  // only its handler is used
  LazyTimer lazy;
  CHECK_FALSE(lazy.armed());
  lazy.cancel();  // nothing to cancel: a no-op
  CHECK_FALSE(lazy.is(owner.timer));
  struct Handler : TimerHandler {
    LazyTimer* lazy = nullptr;
    int fired = 0;
    void on_timer(Timer& t) noexcept override {
      CHECK(lazy->is(t));
      ++fired;
    }
  } h;
  h.lazy = &lazy;
  w.schedule(lazy.get(h), 250);
  CHECK(lazy.armed());
  run_clock(w, 500);
  CHECK(h.fired == 1);
  CHECK_FALSE(lazy.armed());
  w.schedule(lazy.get(h), 100);  // the same timer again
  lazy.cancel();
  run_clock(w, 1000);
  CHECK(h.fired == 1);
}
