#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "base/bytes.hpp"
#include "net/address.hpp"
#include "net/loop.hpp"
#include "net/net_harness.hpp"
#include "net/tcp.hpp"
#include "net/timer_wheel.hpp"

using namespace wsgate;
using namespace wsgate::net;
using namespace wsgate::net::test;

namespace {

Listener* listen_on(Loop& loop, AcceptHandler& h, ListenOptions opts = {}) {
  Result<Listener*> l = Listener::open(loop, loopback(), opts, h);
  REQUIRE(l.ok());
  return *l;
}

// Connects and hands the connection to `fn`; a connect error is a test failure.
void connect_to(Loop& loop, const SocketAddress& to, std::function<void(TcpConnection&)> fn) {
  TcpConnection::connect(loop, to, 2000, [&loop, fn](Result<TcpConnection*> r) {
    if (!r) {
      FAIL_CHECK("connect failed: " << r.error().message());
      loop.force_close_all();
      loop.request_stop();
      return;
    }
    fn(**r);
  });
}

// A blocking POSIX client socket (the peer the API cannot model: resets, full backlogs).
int posix_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  return fd;
}

void reset_and_close(int fd) {
  const linger lg{1, 0};  // SO_LINGER 0: close() sends RST
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  ::close(fd);
}

SocketAddress local_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
  return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace

TEST_CASE("tcp echo round trip through a listener", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  Stats server, client;
  server.on_read = [](TcpConnection& c, MutableByteView d) { c.write(Bytes(d.begin(), d.end())); };
  server.on_eof = [](TcpConnection& c) { c.close_gracefully(); };
  OnAccept acc;
  int accepted = 0;
  std::string accepted_peer, accepted_local;
  acc.fn = [&](TcpConnection& c) {
    ++accepted;
    accepted_peer = c.peer().to_string();
    accepted_local = c.local().to_string();
    attach(c, server);
  };
  Listener* l = listen_on(*loop, acc);
  const std::uint16_t port = l->address().port();
  const Bytes msg = pattern(300'000);
  std::string client_local, client_peer;
  client.on_eof = [&](TcpConnection& c) {
    c.close();
    l->close();
    loop->request_stop();
  };
  connect_to(*loop, l->address(), [&](TcpConnection& c) {
    client_local = c.local().to_string();
    client_peer = c.peer().to_string();
    attach(c, client);
    c.write(msg);
    c.shutdown();
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(port != 0);
  CHECK(accepted == 1);
  CHECK(client.received == msg);
  CHECK(server.received == msg);
  CHECK(server.eofs == 1);
  CHECK(client.eofs == 1);
  CHECK(client.errors + server.errors == 0);
  CHECK(accepted_peer == client_local);
  CHECK(client_peer == accepted_local);
  CHECK(client_peer == "127.0.0.1:" + std::to_string(port));
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp large write to a paused reader buffers, drains once and arrives in order",
          "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4500);
  constexpr std::size_t kSize = 8u << 20;
  constexpr std::size_t kFirst = 6u << 20;  // written as Bytes; the rest as SharedBytes
  const Bytes data = pattern(kSize);
  auto tail = std::make_shared<const Bytes>(data.begin() + kFirst - 100, data.end());
  Stats server, client;
  TcpConnection* server_conn = nullptr;
  TcpConnection* client_conn = nullptr;
  Listener* l = nullptr;
  std::size_t buffered_after_write = 0, buffered_while_paused = 0, buffered_at_end = 1;
  bool above_after_write = false, above_at_end = true, finished = false;
  auto finish_if_done = [&] {
    if (finished || client.received.size() < kSize || server.drains == 0) return;
    finished = true;
    buffered_at_end = server_conn->buffered_bytes();
    above_at_end = server_conn->above_high_watermark();
    server_conn->close();
    client_conn->close();
    l->close();
    loop->request_stop();
  };
  server.on_drain = [&](TcpConnection&) { finish_if_done(); };
  client.on_read = [&](TcpConnection&, MutableByteView) { finish_if_done(); };
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) {
    server_conn = &c;
    attach(c, server);
    c.write(Bytes(data.begin(), data.begin() + kFirst));
    c.write(tail, 100);  // must queue behind the first write, never overtake it
    buffered_after_write = c.buffered_bytes();
    above_after_write = c.above_high_watermark();
  };
  l = listen_on(*loop, acc);
  After resume([&] {
    buffered_while_paused = server_conn != nullptr ? server_conn->buffered_bytes() : 0;
    client_conn->resume_reading();
  });
  connect_to(*loop, l->address(), [&](TcpConnection& c) {
    client_conn = &c;
    attach(c, client);
    c.pause_reading();
    CHECK_FALSE(c.reading());
    resume.arm(*loop, 300);
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(buffered_after_write > 0);
  CHECK(buffered_after_write <= kSize);
  CHECK(above_after_write);
  CHECK(buffered_while_paused == buffered_after_write);  // nothing confirmed while paused
  CHECK(server.drains == 1);
  CHECK(buffered_at_end == 0);
  CHECK_FALSE(above_at_end);
  REQUIRE(client.received.size() == kSize);
  CHECK(client.received == data);
  CHECK(tail.use_count() == 1);  // the write request released its share
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp SharedBytes written to several connections", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  constexpr int kClients = 3;
  auto shared = std::make_shared<const Bytes>(pattern(1u << 20));
  Bytes expected = *shared;
  expected.insert(expected.end(), shared->begin() + 100, shared->end());
  OnAccept acc;
  Stats server;
  acc.fn = [&](TcpConnection& c) {
    attach(c, server);
    c.write(shared);
    c.write(shared, 100);
    c.write(shared, shared->size());  // an empty tail is a no-op
    c.shutdown();
  };
  server.on_eof = [](TcpConnection& c) { c.close(); };
  Listener* l = listen_on(*loop, acc);
  std::vector<Stats> clients(kClients);
  int done = 0;
  for (Stats& s : clients) {
    s.on_eof = [&](TcpConnection& c) {
      c.close();
      if (++done == kClients) {
        l->close();
        loop->request_stop();
      }
    };
    connect_to(*loop, l->address(), [&s](TcpConnection& c) { attach(c, s); });
  }
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  for (const Stats& s : clients) {
    CHECK(s.received.size() == expected.size());
    CHECK(s.received == expected);
  }
  CHECK(shared.use_count() == 1);
}

TEST_CASE("tcp shutdown sends FIN after every queued byte and keeps reading", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  const Bytes data = pattern(1u << 20);
  Stats server, client;
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) {
    attach(c, server);
    c.write(data);
    c.shutdown();
    c.write(to_bytes("after shutdown"));  // dropped
  };
  Listener* l = listen_on(*loop, acc);
  server.on_eof = [&](TcpConnection& c) {
    c.close();
    l->close();
    loop->request_stop();
  };
  std::size_t received_at_eof = 0;
  client.on_eof = [&](TcpConnection& c) {
    received_at_eof = client.received.size();
    c.write(to_bytes("bye"));  // the server still reads after its shutdown()
    c.close_gracefully();
  };
  connect_to(*loop, l->address(), [&](TcpConnection& c) { attach(c, client); });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(received_at_eof == data.size());
  CHECK(client.received == data);
  CHECK(as_chars(server.received) == "bye");
  CHECK(server.errors + client.errors == 0);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp close_gracefully delivers every byte before EOF despite unread input",
          "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4500);
  const Bytes reply = pattern(2u << 20);
  Stats server, client;
  TcpConnection* server_conn = nullptr;
  OnAccept acc;
  After later([&] {
    server_conn->write(reply);
    server_conn->close_gracefully(3000);
    CHECK(server_conn->closing());
    server_conn->write(to_bytes("dropped"));
  });
  acc.fn = [&](TcpConnection& c) {
    server_conn = &c;
    attach(c, server);
    c.pause_reading();      // leave the client's bytes unread in the kernel
    later.arm(*loop, 200);  // by then they have arrived
  };
  Listener* l = listen_on(*loop, acc);
  client.on_eof = [&](TcpConnection& c) {
    c.close();
    l->close();
    loop->request_stop();
  };
  connect_to(*loop, l->address(), [&](TcpConnection& c) {
    attach(c, client);
    c.write(pattern(256u << 10));
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(client.errors == 0);
  CHECK(client.eofs == 1);
  CHECK(client.received.size() == reply.size());
  CHECK(client.received == reply);
  CHECK(server.reads == 0);  // detached: discarded input is never shown to the handler
  CHECK(server.eofs + server.errors == 0);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp close inside on_read is safe and ends the callbacks", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  Stats server, client;
  bool closing_after_close = false;
  server.on_read = [&](TcpConnection& c, MutableByteView) {
    c.close();
    c.close();  // idempotent
    closing_after_close = c.closing();
    c.write(to_bytes("ignored"));
    c.pause_reading();
    c.resume_reading();
  };
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) { attach(c, server); };
  Listener* l = listen_on(*loop, acc);
  auto finish = [&](TcpConnection& c) {
    c.close();
    l->close();
    loop->request_stop();
  };
  client.on_eof = finish;
  client.on_error = [&](TcpConnection& c, std::error_code) { finish(c); };
  connect_to(*loop, l->address(), [&](TcpConnection& c) {
    attach(c, client);
    c.write(pattern(1u << 20));
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(server.reads == 1);
  CHECK(server.eofs + server.errors == 0);
  CHECK(closing_after_close);
  CHECK(client.eofs + client.errors == 1);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp set_handler inside a callback replaces the handler after it returns", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  Stats first, second, client;
  first.on_read = [&](TcpConnection& c, MutableByteView) {
    c.write(to_bytes("ok"));
    attach(c, second);  // the running handler must survive until it returns
  };
  second.on_read = [&](TcpConnection& c, MutableByteView) {
    if (as_chars(second.received) != "two") return;
    c.write(to_bytes("done"));
    c.close_gracefully();
  };
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) { attach(c, first); };
  Listener* l = listen_on(*loop, acc);
  client.on_read = [&](TcpConnection& c, MutableByteView) {
    if (as_chars(client.received) == "ok") c.write(to_bytes("two"));
  };
  client.on_eof = [&](TcpConnection& c) {
    c.close();
    l->close();
    loop->request_stop();
  };
  connect_to(*loop, l->address(), [&](TcpConnection& c) {
    attach(c, client);
    c.write(to_bytes("one"));
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(as_chars(first.received) == "one");
  CHECK(first.reads == 1);
  CHECK(as_chars(second.received) == "two");
  CHECK(as_chars(client.received) == "okdone");
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp on_error on a peer reset, then the connection closes", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  Stats server;
  const bool write_first = GENERATE(false, true);
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) {
    attach(c, server);
    if (write_first) c.write(pattern(1u << 20));
  };
  Listener* l = listen_on(*loop, acc);
  server.on_error = [&](TcpConnection&, std::error_code) {
    l->close();
    loop->request_stop();
  };
  const int fd = posix_socket();
  REQUIRE(::connect(fd, l->address().sockaddr_ptr(), l->address().length()) == 0);
  reset_and_close(fd);  // before the loop even accepts
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(server.errors == 1);
  CHECK(server.eofs == 0);
  const bool reset_or_pipe =
      server.error == std::errc::connection_reset || server.error == std::errc::broken_pipe;
  CHECK(reset_or_pipe);
  CHECK(server.error.category() == uv_category());
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp accepted connection without a handler is closed", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  OnAccept acc;  // installs nothing
  int accepted = 0;
  acc.fn = [&](TcpConnection&) { ++accepted; };
  Listener* l = listen_on(*loop, acc);
  Stats client;
  auto finish = [&](TcpConnection& c) {
    c.close();
    l->close();
    loop->request_stop();
  };
  client.on_eof = finish;
  client.on_error = [&](TcpConnection& c, std::error_code) { finish(c); };
  connect_to(*loop, l->address(), [&](TcpConnection& c) { attach(c, client); });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(accepted == 1);
  CHECK(client.eofs + client.errors == 1);
}

TEST_CASE("tcp connect to a closed port reports connection_refused once", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  const int fd = posix_socket();  // bound, not listening: SYNs get RST
  const SocketAddress any = loopback();
  REQUIRE(::bind(fd, any.sockaddr_ptr(), any.length()) == 0);
  const SocketAddress closed = local_name(fd);
  int calls = 0;
  std::error_code ec;
  TcpConnection::connect(*loop, closed, 2000, [&](Result<TcpConnection*> r) {
    ++calls;
    ec = r.error();
    loop->request_stop();
  });
  REQUIRE(loop->run() == 0);
  ::close(fd);
  CHECK_FALSE(dog.fired);
  CHECK(calls == 1);
  CHECK(ec == std::errc::connection_refused);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp connect with an invalid address reports an error once", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  int calls = 0;
  std::error_code ec;
  TcpConnection::connect(*loop, SocketAddress{}, 2000, [&](Result<TcpConnection*> r) {
    ++calls;
    ec = r.error();
    loop->request_stop();
  });
  CHECK(calls == 0);  // never from inside connect()
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(calls == 1);
  CHECK(ec);
}

namespace {

// A POSIX listening socket with backlog 0 and its one queue place taken: further SYNs are
// dropped on loopback, so a connect to it neither succeeds nor fails until its timeout.
struct FullBacklog {
  FullBacklog() {
    listen_fd = posix_socket();
    const SocketAddress any = loopback();
    REQUIRE(::bind(listen_fd, any.sockaddr_ptr(), any.length()) == 0);
    REQUIRE(::listen(listen_fd, 0) == 0);
    address = local_name(listen_fd);
    for (int& fd : fillers) {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      REQUIRE(fd >= 0);
      ::connect(fd, address.sockaddr_ptr(), address.length());  // EINPROGRESS or done
    }
  }
  ~FullBacklog() {
    for (int fd : fillers) ::close(fd);
    ::close(listen_fd);
  }
  int listen_fd = -1;
  int fillers[2] = {-1, -1};
  SocketAddress address;
};

}  // namespace

TEST_CASE("tcp connect times out with timed_out exactly once", "[net][tcp]") {
  FullBacklog full;
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  int calls = 0;
  std::error_code ec;
  std::uint64_t done_at = 0;
  const std::uint64_t start = loop->now_ms();
  TcpConnection::connect(*loop, full.address, 300, [&](Result<TcpConnection*> r) {
    ++calls;
    ec = r.error();
    done_at = loop->now_ms();
    if (r) (*r)->close();
    loop->request_stop();
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(calls == 1);
  CHECK(ec == std::errc::timed_out);
  CHECK(done_at - start >= 300);
  CHECK(done_at - start <= 300 + TimerWheel::kTickMs + 200);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp force_close_all ends a pending connect with operation_canceled", "[net][tcp]") {
  FullBacklog full;
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  int calls = 0;
  std::error_code ec;
  TcpConnection::connect(*loop, full.address, 3000, [&](Result<TcpConnection*> r) {
    ++calls;
    ec = r.error();
  });
  After stop([&] {
    loop->force_close_all();
    loop->request_stop();
  });
  stop.arm(*loop, 100);
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(calls == 1);
  CHECK(ec == std::errc::operation_canceled);
}

TEST_CASE("tcp force_close_all closes listeners and connections without callbacks", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  Stats server, client;
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) {
    attach(c, server);
    loop->force_close_all();  // from inside a callback: closes this connection too
    loop->request_stop();
  };
  Listener* l = listen_on(*loop, acc);
  std::error_code connect_ec;
  TcpConnection::connect(*loop, l->address(), 2000, [&](Result<TcpConnection*> r) {
    if (r) {
      attach(**r, client);
      (*r)->write(to_bytes("hello"));
    } else {
      connect_ec = r.error();  // the accept callback may run first and cancel the connect
    }
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(server.reads + server.eofs + server.errors == 0);
  CHECK(client.reads + client.eofs + client.errors == 0);
  if (connect_ec) CHECK(connect_ec == std::errc::operation_canceled);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("listener reports EADDRINUSE without SO_REUSEPORT, shares the port with it",
          "[net][tcp]") {
  auto loop = Loop::create();
  OnAccept acc;
  Listener* first = listen_on(*loop, acc);
  const SocketAddress addr = first->address();

  ListenOptions exclusive;
  exclusive.reuse_port = false;
  Result<Listener*> clash = Listener::open(*loop, addr, exclusive, acc);
  REQUIRE_FALSE(clash.ok());
  CHECK(clash.error() == std::errc::address_in_use);
  CHECK(clash.error().category() == std::system_category());

  Result<Listener*> second = Listener::open(*loop, addr, ListenOptions{}, acc);
  REQUIRE(second.ok());
  CHECK((*second)->address().port() == addr.port());

  const auto v6 = SocketAddress::parse("::1", 0);
  REQUIRE(v6.has_value());
  Result<Listener*> six = Listener::open(*loop, *v6, ListenOptions{}, acc);
  if (six.ok()) {
    CHECK((*six)->address().to_string().rfind("[::1]:", 0) == 0);
    (*six)->close();
  } else {
    WARN("no IPv6 loopback here: " << six.error().message());
  }
  first->close();
  (*second)->close();
  loop->request_stop();
  REQUIRE(loop->run() == 0);
}

TEST_CASE("tcp write_copy copies only what the kernel did not take, in order", "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4500);
  constexpr std::size_t kSize = 8u << 20;
  const Bytes data = pattern(kSize);
  Bytes scratch = data;  // the caller's buffer: overwritten right after write_copy returns
  Stats server, client;
  TcpConnection* server_conn = nullptr;
  TcpConnection* client_conn = nullptr;
  Listener* l = nullptr;
  std::size_t buffered_after_write = 0;
  client.on_read = [&](TcpConnection&, MutableByteView) {
    if (client.received.size() < kSize + 3) return;
    server_conn->close();
    client_conn->close();
    l->close();
    loop->request_stop();
  };
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) {
    server_conn = &c;
    attach(c, server);
    c.write_copy(scratch);
    std::fill(scratch.begin(), scratch.end(), std::byte{0});
    c.write_copy(as_bytes("end"));  // queued behind, never overtaking
    buffered_after_write = c.buffered_bytes();
  };
  l = listen_on(*loop, acc);
  After resume([&] { client_conn->resume_reading(); });
  connect_to(*loop, l->address(), [&](TcpConnection& c) {
    client_conn = &c;
    attach(c, client);
    c.pause_reading();
    resume.arm(*loop, 200);
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(buffered_after_write > 0);  // the kernel did not take 8 MiB at once: part was queued
  REQUIRE(client.received.size() == kSize + 3);
  CHECK(Bytes(client.received.begin(), client.received.begin() + kSize) == data);
  CHECK(as_chars(ByteView(client.received).subspan(kSize)) == "end");
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp writes of one iteration, composed, owned, shared and copied, arrive in order",
          "[net][tcp]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 4500);
  // Every kind of write, small (gathered side by side) and large (kept by reference or written
  // at once), interleaved in one callback; then a composed write after close() is dropped.
  Bytes expected;
  std::vector<std::function<void(TcpConnection&)>> writes;
  for (const std::size_t n :
       {std::size_t{3}, std::size_t{700}, std::size_t{5000}, std::size_t{100000}}) {
    const auto tag = static_cast<std::byte>(n % 251);
    Bytes b(n, tag);
    append(expected, b);  // write()
    append(expected, b);  // write_copy()
    append(expected, b);  // write(SharedBytes)
    append(expected, b);  // write_composed()
    writes.push_back([b](TcpConnection& c) {
      c.write(Bytes(b));
      c.write_copy(b);
      c.write(std::make_shared<const Bytes>(b));
      c.write_composed(b.size(), [&](MutableByteView out) {
        REQUIRE(out.size() == b.size());
        std::copy(b.begin(), b.end(), out.begin());
      });
    });
  }
  Stats server, client;
  TcpConnection* client_conn = nullptr;
  Listener* l = nullptr;
  client.on_read = [&](TcpConnection&, MutableByteView) {
    if (client.received.size() < expected.size()) return;
    client_conn->close();
    l->close();
    loop->request_stop();
  };
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) {
    attach(c, server);
    for (auto& w : writes) w(c);
    c.close_gracefully(1000);
    c.write_composed(
        4, [](MutableByteView out) { std::fill(out.begin(), out.end(), std::byte{'x'}); });
  };
  l = listen_on(*loop, acc);
  connect_to(*loop, l->address(), [&](TcpConnection& c) {
    client_conn = &c;
    attach(c, client);
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  REQUIRE(client.received.size() == expected.size());
  CHECK(client.received == expected);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tcp connect_unix reaches a Unix socket and reports a missing one", "[net][tcp]") {
  const std::string path = "/tmp/wsgate-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
  REQUIRE(::listen(fd, 4) == 0);

  auto loop = Loop::create();
  Watchdog dog(*loop, 4500);
  int connected = 0, failed = 0;
  std::error_code missing_error;
  TcpConnection::connect_unix(*loop, path, 2000, [&](Result<TcpConnection*> r) {
    if (!r) {
      FAIL_CHECK("connect_unix failed: " << r.error().message());
      return;
    }
    ++connected;
    (*r)->write(to_bytes("hi"));
    (*r)->close();
  });
  TcpConnection::connect_unix(*loop, path + ".missing", 2000, [&](Result<TcpConnection*> r) {
    ++failed;
    missing_error = r.error();
  });
  loop->request_stop();
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(connected == 1);
  CHECK(failed == 1);
  CHECK(missing_error == std::errc::no_such_file_or_directory);
  const int peer = ::accept(fd, nullptr, nullptr);
  REQUIRE(peer >= 0);
  char buf[8] = {};
  CHECK(::recv(peer, buf, sizeof buf, 0) == 2);
  CHECK(std::string(buf, 2) == "hi");
  ::close(peer);
  ::close(fd);
  ::unlink(path.c_str());
}
