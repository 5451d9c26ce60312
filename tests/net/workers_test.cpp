#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

#include "net/address.hpp"
#include "net/tcp.hpp"
#include "net/workers.hpp"

using namespace wsgate;
using namespace wsgate::net;

namespace {

// Counts accepts per worker and wakes the test thread (Catch2 assertions stay on that thread).
struct Board {
  std::mutex mu;
  std::condition_variable cv;
  std::array<int, 2> accepted{};
  std::array<int, 2> opened{};  // 1 = listener open, -1 = failed
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(3), [&] { return pred(); });
  }
};

struct CountingAccept final : AcceptHandler {
  CountingAccept(Board& b, std::size_t i) : board(b), index(i) {}
  void on_accept(TcpConnection& c) override {
    c.close();
    std::lock_guard lock(board.mu);
    ++board.accepted[index];
    board.cv.notify_all();
  }
  Board& board;
  std::size_t index;
};

}  // namespace

TEST_CASE("worker pool: two loops share a port with SO_REUSEPORT and both accept",
          "[net][workers]") {
  // Reserve a port: a bound SO_REUSEPORT socket that never listens, closed once both are up.
  const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(holder >= 0);
  const int one = 1;
  REQUIRE(::setsockopt(holder, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0);
  const SocketAddress any = *SocketAddress::parse("127.0.0.1", 0);
  REQUIRE(::bind(holder, any.sockaddr_ptr(), any.length()) == 0);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  REQUIRE(::getsockname(holder, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
  const SocketAddress addr = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));

  Board board;
  CountingAccept handlers[2] = {{board, 0}, {board, 1}};
  WorkerPool pool(2);
  REQUIRE(pool.size() == 2);
  pool.start([&](std::size_t i, Loop& loop) {
    Result<Listener*> l = Listener::open(loop, addr, ListenOptions{}, handlers[i]);
    if (l.ok()) loop.set_stop_callback([listener = *l] { listener->close(); });
    std::lock_guard lock(board.mu);
    board.opened[i] = l.ok() ? 1 : -1;
    board.cv.notify_all();
  });
  REQUIRE(board.wait([&] { return board.opened[0] != 0 && board.opened[1] != 0; }));
  ::close(holder);
  REQUIRE(board.opened[0] == 1);
  REQUIRE(board.opened[1] == 1);

  // The kernel spreads connections over the group by a hash of the 4-tuple: with 64 of them,
  // one worker getting none has probability 2^-63.
  constexpr int kConnections = 64;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::connect(fd, addr.sockaddr_ptr(), addr.length()) == 0);
    ::close(fd);
  }
  const bool all =
      board.wait([&] { return board.accepted[0] + board.accepted[1] == kConnections; });
  pool.request_stop();
  pool.join();
  CHECK(all);
  CHECK(board.accepted[0] > 0);
  CHECK(board.accepted[1] > 0);
}

TEST_CASE("worker pool start, stop and join with two workers", "[net][workers]") {
  WorkerPool pool(2);
  std::atomic<int> inits{0};
  std::atomic<int> ran{0};
  pool.start([&](std::size_t i, Loop& loop) {
    ++inits;
    loop.post([&, i] { ran += static_cast<int>(i) + 1; });
  });
  for (std::size_t i = 0; i < pool.size(); ++i) pool.loop(i).post([] {});
  pool.request_stop();
  pool.join();
  CHECK(inits == 2);
  CHECK(ran == 3);
  WorkerPool idle(1);  // never started: destroyed cleanly
  CHECK(idle.size() == 1);
}

TEST_CASE("cpu_count and raise_open_file_limit", "[net][workers]") {
  CHECK(cpu_count() >= 1);
  const unsigned hw = std::thread::hardware_concurrency();
  if (hw != 0) CHECK(cpu_count() <= hw);
  rlimit before{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &before) == 0);
  const std::size_t now = raise_open_file_limit();
  CHECK(now >= static_cast<std::size_t>(before.rlim_cur));
  rlimit after{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &after) == 0);
  CHECK(static_cast<std::size_t>(after.rlim_cur) == now);
  CHECK(after.rlim_cur == after.rlim_max);
}
