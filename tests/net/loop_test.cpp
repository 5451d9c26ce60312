#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <memory>
#include <thread>
#include <vector>

#include "net/loop.hpp"
#include "net/net_harness.hpp"
#include "net/timer_wheel.hpp"

using namespace wsgate::net;
using namespace wsgate::net::test;

namespace {

// A timer that records the loop time at which it fired.
struct Stamp : TimerHandler {
  explicit Stamp(Loop& l) : loop(l), timer(*this) {}
  void on_timer(Timer&) noexcept override {
    fired_at = loop.now_ms();
    if (stop) loop.request_stop();
  }
  Loop& loop;
  Timer timer;
  std::uint64_t fired_at = 0;
  bool stop = false;
};

}  // namespace

TEST_CASE("loop post from another thread runs on the loop thread in order", "[net][loop]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 3000);
  std::vector<int> seen;
  std::atomic<bool> wrong_thread{false};
  std::thread::id loop_thread;
  std::thread t([&] {
    loop_thread = std::this_thread::get_id();
    loop->run();
  });
  constexpr int kPosts = 2000;
  for (int i = 0; i < kPosts; ++i) {
    loop->post([&, i] {
      if (std::this_thread::get_id() != loop_thread) wrong_thread = true;
      seen.push_back(i);
    });
  }
  loop->request_stop();  // handled after the posts made before it
  t.join();
  loop->post([] { FAIL_CHECK("a post after run() returned must be dropped"); });
  CHECK_FALSE(dog.fired);
  CHECK_FALSE(wrong_thread);
  REQUIRE(seen.size() == kPosts);
  for (int i = 0; i < kPosts; ++i) REQUIRE(seen[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("loop request_stop from another thread runs the stop callback and ends run",
          "[net][loop]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 3000);
  bool stopping_in_callback = false;
  int stop_calls = 0;
  loop->set_stop_callback([&] {
    ++stop_calls;
    stopping_in_callback = loop->stopping();
  });
  std::atomic<bool> running{false};
  loop->post([&] { running = true; });
  int rc = -1;
  std::thread t([&] { rc = loop->run(); });
  while (!running) std::this_thread::yield();
  loop->request_stop();
  loop->request_stop();  // twice: the callback still runs once
  t.join();
  CHECK(rc == 0);
  CHECK_FALSE(dog.fired);
  CHECK(stop_calls == 1);
  CHECK(stopping_in_callback);
  CHECK(loop->stopping());
}

TEST_CASE("loop timer fires through the real loop within one tick", "[net][loop]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 3000);
  Stamp t(*loop);
  t.stop = true;
  const std::uint64_t start = loop->now_ms();
  loop->schedule(t.timer, 250);
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  const std::uint64_t elapsed = t.fired_at - start;
  CHECK(elapsed >= 250);
  CHECK(elapsed <= 250 + TimerWheel::kTickMs + 100);
}

TEST_CASE("loop schedule of a sooner timer shortens the driver's sleep", "[net][loop]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  Stamp slow(*loop), fast(*loop);
  fast.stop = true;
  const std::uint64_t start = loop->now_ms();
  loop->schedule(slow.timer, 3000);
  loop->post([&] { loop->schedule(fast.timer, 150); });  // armed from the running loop
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(slow.fired_at == 0);
  CHECK(fast.fired_at - start >= 150);
  CHECK(fast.fired_at - start <= 150 + TimerWheel::kTickMs + 100);
}

TEST_CASE("loop signal watcher runs on the loop thread", "[net][loop]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 3000);
  int signals = 0;
  loop->on_signal(SIGUSR2, [&] {
    ++signals;
    loop->request_stop();
  });
  loop->post([] { std::raise(SIGUSR2); });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(signals == 1);
}

TEST_CASE("loop clocks: now_ms is monotonic and wall_time is the epoch time", "[net][loop]") {
  auto loop = Loop::create();
  const std::int64_t wall = loop->wall_time();
  const std::int64_t sys = static_cast<std::int64_t>(std::time(nullptr));
  CHECK(wall >= sys - 1);
  CHECK(wall <= sys + 1);
  CHECK(loop->read_buffer().size() == 64 * 1024);
  auto small = Loop::create(4096);
  CHECK(small->read_buffer().size() == 4096);
}

TEST_CASE("loop destroyed without running closes cleanly", "[net][loop]") {
  auto loop = Loop::create();
  Stamp t(*loop);
  loop->schedule(t.timer, 100);
  loop->post([] {});
  loop.reset();  // must neither leak nor abort (ASan checks the former)
  CHECK(t.fired_at == 0);
}
