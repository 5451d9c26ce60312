// wsgate-bench-backend: the far end of a benchmark (backend.hpp).
//
//   wsgate-bench-backend MODE --listen HOST:PORT [--size N] [--threads N]
//     tcp-echo    writes back every byte it reads
//     tcp-sink    reads and discards; with --size N validates the stream as N-byte records
//     tcp-source  writes an endless stream of N-byte records (--size required)
//     ws-echo     a minimal WebSocket echo server (backend_ws.cpp)
//     http        answers every request with 200 and a fixed body of --size bytes (100)
//
// Runs until SIGINT/SIGTERM, then prints one JSON line of counters on stdout. Each of the
// --threads loops (default 1) has its own SO_REUSEPORT listener; the kernel spreads accepts.

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backend.hpp"
#include "payload.hpp"

namespace wsgate::bench {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
  g_stop.store(true);
}

using Factory = std::unique_ptr<BackendConn> (*)(Registry&, int);

class Listener final : public PollHandler {
 public:
  Listener(Registry& reg, int fd, Factory make) : reg_(reg), fd_(fd), make_(make) {}
  ~Listener() override { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void on_poll(std::uint32_t) override {
    for (;;) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          std::fprintf(stderr, "wsgate-bench-backend: accept: %s\n", std::strerror(errno));
        return;
      }
      const int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const auto idx = static_cast<std::size_t>(c);
      if (reg_.by_fd.size() <= idx) reg_.by_fd.resize(idx + 1);
      reg_.by_fd[idx] = make_(reg_, c);
      reg_.by_fd[idx]->attach();
      ++reg_.stats.connections;
    }
  }

 private:
  Registry& reg_;
  int fd_;
  Factory make_;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "wsgate-bench-backend: %s\n"
               "usage: wsgate-bench-backend tcp-echo|tcp-sink|tcp-source|ws-echo|http"
               " --listen HOST:PORT [--size N] [--threads N]\n",
               why);
  std::exit(2);
}

int listen_on(std::string_view hp, bool reuse_port) {
  const auto colon = hp.rfind(':');
  if (colon == std::string_view::npos) usage("--listen needs HOST:PORT");
  std::string host(hp.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port(hp.substr(colon + 1));
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr)
    usage("cannot resolve the listen address");
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
      ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 4096) != 0) {
    std::fprintf(stderr, "wsgate-bench-backend: listen %s: %s\n", std::string(hp).c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
  freeaddrinfo(res);
  return fd;
}

BackendOptions parse_args(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  BackendOptions o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage("option without a value");
    const char* v = argv[++i];
    if (a == "--listen") {
      o.listen = v;
    } else if (a == "--size" || a == "--threads") {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v, &end, 10);
      if (end == v || *end != '\0') usage("bad number");
      (a == "--size" ? o.size : o.threads) = static_cast<std::size_t>(n);
    } else {
      usage("unknown option");
    }
  }
  if (o.listen.empty()) usage("missing --listen");
  if (o.threads == 0 || o.threads > 64) usage("--threads must be 1..64");
  if (o.mode == "tcp-source" && o.size < kMinBinarySize) usage("tcp-source needs --size >= 16");
  if (o.mode == "tcp-sink" && o.size != 0 && o.size < kMinBinarySize) usage("--size >= 16");
  return o;
}

Factory factory_for(const std::string& mode) {
  if (mode == "tcp-echo") return make_tcp_echo;
  if (mode == "tcp-sink") return make_tcp_sink;
  if (mode == "tcp-source") return make_tcp_source;
  if (mode == "ws-echo") return make_ws_echo;
  if (mode == "http") return make_http;
  usage("unknown mode");
}

void loop(const BackendOptions& o, int lfd, Factory make, BackendStats& out) {
  Poller poller;
  Registry reg;
  reg.poller = &poller;
  reg.opt = &o;
  {
    Listener listener(reg, lfd, make);
    poller.add(lfd, EPOLLIN, &listener);
    while (!g_stop.load(std::memory_order_relaxed)) poller.run_once(100);
    poller.remove(lfd);
  }
  reg.by_fd.clear();
  out = reg.stats;
}

int run(int argc, char** argv) {
  const BackendOptions o = parse_args(argc, argv);
  const Factory make = factory_for(o.mode);
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::vector<int> fds;
  for (std::size_t i = 0; i < o.threads; ++i) fds.push_back(listen_on(o.listen, o.threads > 1));
  std::vector<BackendStats> stats(o.threads);
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < o.threads; ++i)
    threads.emplace_back(loop, std::cref(o), fds[i], make, std::ref(stats[i]));
  loop(o, fds[0], make, stats[0]);
  for (auto& t : threads) t.join();
  BackendStats sum;
  for (const auto& s : stats) {
    sum.connections += s.connections;
    sum.bytes_in += s.bytes_in;
    sum.bytes_out += s.bytes_out;
    sum.records += s.records;
    sum.errors += s.errors;
  }
  std::printf(
      "{\"backend\":\"%s\",\"connections\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
      "\"records\":%llu,\"errors\":%llu}\n",
      o.mode.c_str(), static_cast<unsigned long long>(sum.connections),
      static_cast<unsigned long long>(sum.bytes_in), static_cast<unsigned long long>(sum.bytes_out),
      static_cast<unsigned long long>(sum.records), static_cast<unsigned long long>(sum.errors));
  return sum.errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace wsgate::bench

int main(int argc, char** argv) {
  try {
    return wsgate::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsgate-bench-backend: %s\n", e.what());
    return 2;
  }
}
