#include "client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "payload.hpp"
#include "proto/http1_writer.hpp"
#include "proto/ws_handshake.hpp"

namespace wsgate::bench {
namespace {

constexpr std::size_t kReadSize = 64 * 1024;

proto::MessageConfig client_config() {
  proto::MessageConfig c;
  c.role = proto::Role::client;
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Client: connection set-up

Client::Client(RunContext& ctx)
    : ctx_(ctx), rx_buf_(kReadSize), tx_msg_(ctx.size), rx_ws_(client_config()) {
  tx_.reserve(ctx.window * (ctx.size + proto::kMaxFrameHeaderSize) * 2);
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

bool Client::start() {
  fd_ = ::socket(ctx_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fail("socket", true);
    return false;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&ctx_.addr), ctx_.addr_len) != 0 &&
      errno != EINPROGRESS) {
    fail("connect", true);
    return false;
  }
  ctx_.poller->add(fd_, EPOLLOUT, this);
  want_out_ = true;
  return true;
}

void Client::on_poll(std::uint32_t events) {
  if (state_ == State::dead) return;
  if (state_ == State::connecting) {
    on_connected();
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_readable();
  if (state_ != State::dead && (events & EPOLLOUT) != 0) flush();
}

void Client::on_connected() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    errno = err;
    fail("connect", true);
    return;
  }
  ctx_.poller->modify(fd_, EPOLLIN, this);
  want_out_ = false;
  if (ctx_.mode == Mode::tcp_echo) {
    become_open();
    return;
  }
  state_ = State::handshaking;
  ws_key_ = proto::generate_key();
  const auto req = proto::make_client_request(ctx_.host, ctx_.target, ws_key_, {}, std::nullopt,
                                              proto::HttpHeaders{});
  if (proto::write_request_head(tx_, req)) {
    fail("bad request head (host or path)");
    return;
  }
  flush();
}

proto::Http1Action Client::on_response_head(proto::HttpResponseHead& head) {
  const auto r = proto::verify_response(head, ws_key_, {}, false);
  hs_head_seen_ = true;
  hs_ok_ = r.ok();
  if (!hs_ok_) std::fprintf(stderr, "wsgate-bench: handshake refused: status %d\n", head.status);
  return proto::Http1Action::proceed;  // on to on_message_complete, where upgraded() is final
}

void Client::handshake_bytes(std::size_t n) {
  const MutableByteView in(rx_buf_.data(), n);
  const auto r = hs_parser_.feed(in, *this);
  if (!r.ok()) {
    fail("bad handshake response");
    return;
  }
  if (!hs_parser_.upgraded()) {
    if (hs_head_seen_) fail("handshake refused (no 101)");
    return;  // the head is incomplete: wait for more
  }
  if (!hs_ok_) {
    fail("handshake refused");
    return;
  }
  become_open();
  const std::size_t used = r.value();
  if (used < n) {
    const auto fr = rx_ws_.feed(in.subspan(used), *this);
    if (!fr.ok()) fail("bad frame");
  }
}

void Client::become_open() {
  state_ = State::open;
  ++ctx_.opened;
  for (std::size_t i = 0; i < ctx_.window; ++i) send_one();
  flush();
}

// ---------------------------------------------------------------------------------------------
// Client: hot path

void Client::on_readable() {
  for (;;) {
    const std::size_t room = rx_buf_.size() - rx_have_;
    const ssize_t got = ::read(fd_, rx_buf_.data() + rx_have_, room);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      fail("read", true);
      return;
    }
    if (got == 0) {
      fail("server closed the connection");
      return;
    }
    const auto n = static_cast<std::size_t>(got);
    switch (state_) {
      case State::handshaking: handshake_bytes(n); break;
      case State::open:
        if (ctx_.mode == Mode::tcp_echo) {
          tcp_bytes(n);
        } else {
          const auto r = rx_ws_.feed(MutableByteView(rx_buf_.data(), n), *this);
          if (!r.ok()) fail("bad frame");
        }
        break;
      default: break;
    }
    if (state_ == State::dead) return;
    if (n < room) break;  // drained: skip the read that would only say EAGAIN
  }
  flush();
}

void Client::tcp_bytes(std::size_t n) {
  const std::size_t end = rx_have_ + n;
  std::size_t pos = 0;
  while (end - pos >= ctx_.size && state_ != State::dead) {
    echo_received(ByteView(rx_buf_.data() + pos, ctx_.size));
    pos += ctx_.size;
  }
  rx_have_ = end - pos;
  if (rx_have_ != 0 && pos != 0) std::memmove(rx_buf_.data(), rx_buf_.data() + pos, rx_have_);
}

void Client::on_message(proto::Opcode op, ByteView payload, bool compressed) {
  const auto want = ctx_.text ? proto::Opcode::text : proto::Opcode::binary;
  if (op != want || compressed) {
    fail("echo has the wrong opcode");
    return;
  }
  echo_received(payload);
}

void Client::echo_received(ByteView payload) {
  if (state_ == State::dead) return;
  std::uint64_t sent = 0;
  if (!check_payload(payload, ctx_.size, rx_seq_, ctx_.text, sent)) {
    fail("echo does not match what was sent (length, order or content)");
    return;
  }
  ++rx_seq_;
  if (ctx_.measuring) {
    ++ctx_.messages;
    ctx_.latency.record(now_ns() - sent);
  }
  send_one();
}

void Client::on_ping(ByteView payload) {
  proto::append_frame(tx_, proto::Opcode::pong, payload, true, proto::random_mask_key());
}

void Client::on_close(proto::CloseCode, std::string_view) {
  fail("server sent close");
}

void Client::send_one() {
  fill_payload(tx_msg_, tx_seq_++, now_ns(), ctx_.text);
  if (ctx_.mode == Mode::tcp_echo) {
    tx_.insert(tx_.end(), tx_msg_.begin(), tx_msg_.end());
  } else {
    proto::append_frame(tx_, ctx_.text ? proto::Opcode::text : proto::Opcode::binary, tx_msg_, true,
                        proto::random_mask_key());
  }
}

void Client::flush() {
  while (tx_off_ < tx_.size()) {
    const ssize_t w = ::send(fd_, tx_.data() + tx_off_, tx_.size() - tx_off_, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      fail("write", true);
      return;
    }
    tx_off_ += static_cast<std::size_t>(w);
  }
  if (tx_off_ == tx_.size()) {
    tx_.clear();  // keeps the capacity
    tx_off_ = 0;
  } else if (tx_off_ > tx_.size() / 2) {
    tx_.erase(tx_.begin(), tx_.begin() + static_cast<std::ptrdiff_t>(tx_off_));
    tx_off_ = 0;
  }
  const bool need_out = !tx_.empty();
  if (need_out != want_out_) {
    ctx_.poller->modify(fd_, need_out ? (EPOLLIN | EPOLLOUT) : EPOLLIN, this);
    want_out_ = need_out;
  }
}

void Client::fail(const char* why, bool sys) {
  if (state_ == State::dead) return;
  const int e = errno;
  if (ctx_.errors < 10) {
    std::fprintf(stderr, "wsgate-bench: connection failed: %s%s%s\n", why, sys ? ": " : "",
                 sys ? std::strerror(e) : "");
  }
  ++ctx_.errors;
  ++ctx_.failed;
  if (state_ == State::open && ctx_.opened > 0) --ctx_.opened;
  state_ = State::dead;
  if (fd_ >= 0) {
    ctx_.poller->remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace wsgate::bench
