// wsgate-bench-backend: the far end of a benchmark.
//
//   wsgate-bench-backend tcp-echo --listen HOST:PORT
//
// tcp-echo writes back every byte it reads, on every connection, until killed (SIGINT/SIGTERM).
// One thread, the load generator's own epoll loop (poller.hpp). Backpressure: while a
// connection's echo is not fully written, the connection is not read.

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "poller.hpp"

namespace wsgate::bench {
namespace {

constexpr std::size_t kBufSize = 64 * 1024;

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_signal(int) {
  g_stop = 1;
}

class EchoConn;

// Owns every connection, indexed by fd.
struct Registry {
  Poller* poller = nullptr;
  std::vector<std::unique_ptr<EchoConn>> by_fd;
};

class EchoConn final : public PollHandler {
 public:
  EchoConn(Registry& reg, int fd) : reg_(reg), fd_(fd), buf_(kBufSize) {}
  ~EchoConn() override { ::close(fd_); }
  EchoConn(const EchoConn&) = delete;
  EchoConn& operator=(const EchoConn&) = delete;

  // Destroys *this when the connection ends: safe, because epoll reports an fd once per batch.
  void on_poll(std::uint32_t events) override {
    const bool ok = (events & EPOLLOUT) != 0 ? drain() : read_and_echo();
    if (!ok) {
      reg_.poller->remove(fd_);
      reg_.by_fd[static_cast<std::size_t>(fd_)].reset();
    }
  }

 private:
  bool read_and_echo() {
    for (;;) {
      const ssize_t got = ::read(fd_, buf_.data(), buf_.size());
      if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (got == 0) return false;
      have_ = static_cast<std::size_t>(got);
      off_ = 0;
      if (!drain()) return false;
      if (have_ != 0 || static_cast<std::size_t>(got) < buf_.size()) return true;
    }
  }

  // Writes the pending echo; switches interest to EPOLLOUT while some of it is left.
  bool drain() {
    while (off_ < have_) {
      const ssize_t w = ::send(fd_, buf_.data() + off_, have_ - off_, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (!want_out_) reg_.poller->modify(fd_, EPOLLOUT, this);
        want_out_ = true;
        return true;
      }
      off_ += static_cast<std::size_t>(w);
    }
    have_ = off_ = 0;
    if (want_out_) reg_.poller->modify(fd_, EPOLLIN, this);
    want_out_ = false;
    return true;
  }

  Registry& reg_;
  int fd_;
  std::vector<char> buf_;  ///< the bytes being echoed
  std::size_t have_ = 0;   ///< valid bytes in buf_
  std::size_t off_ = 0;    ///< bytes of buf_ already written back
  bool want_out_ = false;  ///< waiting for EPOLLOUT instead of EPOLLIN
};

class Listener final : public PollHandler {
 public:
  Listener(Registry& reg, int fd) : reg_(reg), fd_(fd) {}
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
      reg_.by_fd[idx] = std::make_unique<EchoConn>(reg_, c);
      reg_.poller->add(c, EPOLLIN, reg_.by_fd[idx].get());
    }
  }

 private:
  Registry& reg_;
  int fd_;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr, "wsgate-bench-backend: %s\nusage: wsgate-bench-backend tcp-echo --listen HOST:PORT\n",
      why);
  std::exit(2);
}

int listen_on(std::string_view hp) {
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
      ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 4096) != 0) {
    std::fprintf(stderr, "wsgate-bench-backend: listen %s: %s\n", std::string(hp).c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
  freeaddrinfo(res);
  return fd;
}

int run(int argc, char** argv) {
  if (argc != 4 || std::string_view(argv[1]) != "tcp-echo" ||
      std::string_view(argv[2]) != "--listen")
    usage("bad arguments");
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Poller poller;
  Registry reg;
  reg.poller = &poller;
  const int lfd = listen_on(argv[3]);
  Listener listener(reg, lfd);
  poller.add(lfd, EPOLLIN, &listener);
  while (g_stop == 0) poller.run_once(100);
  return 0;
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
