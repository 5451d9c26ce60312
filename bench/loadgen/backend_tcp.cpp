// BackendConn itself, and the raw TCP backends: echo, sink (optionally validating the record
// stream of payload.hpp) and source (an endless record stream, each record timestamped when it
// is queued, so that the client can time it one way).

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "backend.hpp"
#include "payload.hpp"
#include "record_stream.hpp"

namespace wsgate::bench {

BackendConn::~BackendConn() {
  reg_.poller->remove(fd_);
  ::close(fd_);
}

void BackendConn::attach() {
  interest_ = EPOLLIN | (wants_write() ? EPOLLOUT : 0u);
  reg_.poller->add(fd_, interest_, this);
}

void BackendConn::on_poll(std::uint32_t events) {
  bool ok = true;
  if ((events & EPOLLOUT) != 0) ok = flush();
  if (ok && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && queued() <= kHighWater)
    ok = read_some();
  if (ok && wants_write() && queued() <= kHighWater) ok = on_writable() && flush();
  if (ok && closing_ && queued() == 0) ok = false;
  if (!ok) {
    reg_.by_fd[static_cast<std::size_t>(fd_)].reset();  // destroys *this: return at once
    return;
  }
  update_interest();
}

bool BackendConn::read_some() {
  for (;;) {
    const std::size_t room = reg_.rx_buf.size();
    const ssize_t got = ::read(fd_, reg_.rx_buf.data(), room);
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (got == 0) return false;
    const auto n = static_cast<std::size_t>(got);
    reg_.stats.bytes_in += n;
    if (!on_data(MutableByteView(reg_.rx_buf.data(), n))) return false;
    if (n < room || queued() > kHighWater || closing_) return true;
  }
}

bool BackendConn::send_or_queue(ByteView bytes) {
  std::size_t off = 0;
  if (queued() == 0) {
    while (off < bytes.size()) {
      const ssize_t w = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        break;
      }
      off += static_cast<std::size_t>(w);
      reg_.stats.bytes_out += static_cast<std::uint64_t>(w);
    }
  }
  if (off < bytes.size()) append(tx_, bytes.subspan(off));
  return true;
}

bool BackendConn::flush() {
  while (tx_off_ < tx_.size()) {
    const ssize_t w = ::send(fd_, tx_.data() + tx_off_, tx_.size() - tx_off_, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    tx_off_ += static_cast<std::size_t>(w);
    reg_.stats.bytes_out += static_cast<std::uint64_t>(w);
  }
  tx_.clear();
  tx_off_ = 0;
  return true;
}

void BackendConn::update_interest() {
  std::uint32_t want = 0;
  if (queued() <= kHighWater && !closing_) want |= EPOLLIN;
  if (queued() > 0 || wants_write()) want |= EPOLLOUT;
  if (want != interest_) {
    reg_.poller->modify(fd_, want, this);
    interest_ = want;
  }
}

namespace {

class TcpEcho final : public BackendConn {
 public:
  using BackendConn::BackendConn;

 private:
  bool on_data(MutableByteView in) override { return send_or_queue(in); }
};

class TcpSink final : public BackendConn {
 public:
  TcpSink(Registry& reg, int fd) : BackendConn(reg, fd), records_(reg.opt->size) {}

 private:
  bool on_data(MutableByteView in) override {
    if (reg_.opt->size == 0 || records_.bad()) return true;
    if (!records_.feed(in, [this](std::uint64_t) { ++reg_.stats.records; })) ++reg_.stats.errors;
    return true;  // keep consuming: the client's figure must not depend on our verdict
  }
  RecordStream records_;  ///< what this connection's client sent
};

class TcpSource final : public BackendConn {
 public:
  TcpSource(Registry& reg, int fd) : BackendConn(reg, fd), rec_(reg.opt->size) {}

 private:
  bool on_data(MutableByteView) override { return true; }  // ignore anything sent to us
  bool wants_write() const override { return true; }
  bool on_writable() override {
    // Queue about 64 KiB of records, timestamped now; flush() writes what the socket takes.
    const std::size_t n = 64 * 1024 / rec_.size() + 1;
    for (std::size_t i = 0; i < n && queued() < 2 * 64 * 1024; ++i) {
      fill_payload(rec_, seq_++, now_ns(), false);
      append(tx(), rec_);
    }
    return true;
  }
  Bytes rec_;
  std::uint64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<BackendConn> make_tcp_echo(Registry& reg, int fd) {
  return std::make_unique<TcpEcho>(reg, fd);
}
std::unique_ptr<BackendConn> make_tcp_sink(Registry& reg, int fd) {
  return std::make_unique<TcpSink>(reg, fd);
}
std::unique_ptr<BackendConn> make_tcp_source(Registry& reg, int fd) {
  return std::make_unique<TcpSource>(reg, fd);
}

}  // namespace wsgate::bench
