#include "conn.hpp"

#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "proto/http1_writer.hpp"
#include "proto/ws_handshake.hpp"

namespace wsgate::bench {
namespace {

// Errors printed per process; the rest are only counted.
constexpr std::uint64_t kMaxPrintedErrors = 10;
// Refills of a sink's queue per flush() before going back to the loop (fairness).
constexpr int kMaxRefills = 16;

proto::MessageConfig client_config() {
  proto::MessageConfig c;
  c.role = proto::Role::client;
  c.max_frame_size = std::uint64_t{64} << 20;
  c.max_message_size = std::uint64_t{64} << 20;
  return c;
}

}  // namespace

Conn::Conn(ConnShared& sh, const Target& target, bool websocket)
    : sh_(sh), target_(target), websocket_(websocket), rx_ws_(client_config()) {}

Conn::~Conn() {
  if (fd_ >= 0) ::close(fd_);
}

bool Conn::start(const sockaddr_in* source) {
  started_ns_ = now_ns();
  state_ = State::connecting;
  fd_ = ::socket(target_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fail("socket", true);
    return false;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source != nullptr) {
    // Past the ephemeral-port limit: each source address has its own 28k ports per
    // destination, and IP_BIND_ADDRESS_NO_PORT defers the port choice to connect().
    setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(source), sizeof *source) != 0) {
      fail("bind to the source address", true);
      return false;
    }
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&target_.addr), target_.addr_len) != 0 &&
      errno != EINPROGRESS) {
    fail("connect", true);
    return false;
  }
  sh_.poller->add(fd_, EPOLLOUT, this);
  want_out_ = true;
  return true;
}

void Conn::on_poll(std::uint32_t events) {
  if (state_ == State::dead) return;
  if (state_ == State::connecting) {
    on_connected();
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_readable();
  if (state_ != State::dead && (events & EPOLLOUT) != 0) flush();
}

void Conn::on_connected() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    errno = err;
    fail("connect", true);
    return;
  }
  if (!websocket_) {
    become_open();
    update_interest();
    return;
  }
  state_ = State::handshaking;
  ws_key_ = proto::generate_key();
  const auto req =
      proto::make_client_request(target_.host, target_.target, ws_key_, {}, std::nullopt, extra_);
  if (proto::write_request_head(tx_, req)) {
    fail("bad request head (host, path or header)");
    return;
  }
  flush();
}

proto::Http1Action Conn::on_response_head(proto::HttpResponseHead& head) {
  const auto r = proto::verify_response(head, ws_key_, {}, false);
  hs_head_seen_ = true;
  hs_ok_ = r.ok();
  if (!hs_ok_ && sh_.errors < kMaxPrintedErrors)
    std::fprintf(stderr, "wsgate-bench: handshake refused: status %d\n", head.status);
  return proto::Http1Action::proceed;  // on to on_message_complete, where upgraded() is final
}

void Conn::handshake_bytes(MutableByteView in) {
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
  if (state_ == State::open && used < in.size()) {
    const auto fr = rx_ws_.feed(in.subspan(used), *this);
    if (!fr.ok()) fail("bad frame");
  }
}

void Conn::become_open() {
  state_ = State::open;
  ws_key_.clear();
  ws_key_.shrink_to_fit();
  ++sh_.opened;
  ++sh_.live;
  on_open();
}

void Conn::on_readable() {
  for (;;) {
    const std::size_t room = sh_.rx_buf.size();
    const ssize_t got = ::read(fd_, sh_.rx_buf.data(), room);
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
    const MutableByteView in(sh_.rx_buf.data(), n);
    if (state_ == State::handshaking) {
      handshake_bytes(in);
    } else if (!websocket_) {
      on_bytes(in);
    } else {
      const auto r = rx_ws_.feed(in, *this);
      if (!r.ok() && state_ != State::dead) fail("bad frame");
    }
    if (state_ == State::dead) return;
    if (n < room) break;  // drained: skip the read that would only say EAGAIN
  }
  flush();
}

void Conn::on_message(proto::Opcode op, ByteView payload, bool compressed) {
  if (state_ != State::open) return;
  if (compressed) {
    fail("compressed message (no extension was negotiated)");
    return;
  }
  on_ws_message(op, payload);
}

void Conn::on_ping(ByteView payload) {
  proto::append_frame(tx_, proto::Opcode::pong, payload, true, proto::random_mask_key());
}

void Conn::on_close(proto::CloseCode code, std::string_view reason) {
  if (sh_.errors < kMaxPrintedErrors && !sh_.stopping) {
    std::fprintf(stderr, "wsgate-bench: server sent close %u %.*s\n", static_cast<unsigned>(code),
                 static_cast<int>(reason.size()), reason.data());
  }
  fail("server sent close");
}

void Conn::queue_ws(proto::Opcode op, ByteView payload) {
  proto::append_frame(tx_, op, payload, true, proto::random_mask_key());
}

void Conn::flush() {
  if (state_ == State::dead || state_ == State::connecting) return;
  for (int refills = 0;;) {
    while (tx_off_ < tx_.size()) {
      const ssize_t w = ::send(fd_, tx_.data() + tx_off_, tx_.size() - tx_off_, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        fail("write", true);
        return;
      }
      tx_off_ += static_cast<std::size_t>(w);
      tx_total_ += static_cast<std::uint64_t>(w);
    }
    if (tx_off_ != tx_.size()) break;
    tx_.clear();  // keeps the capacity
    tx_off_ = 0;
    // Refilled but not written past kMaxRefills: the queue stays non-empty, so EPOLLOUT stays.
    if (state_ != State::open || !on_drained() || tx_.empty() || ++refills == kMaxRefills) break;
  }
  if (tx_off_ > tx_.size() / 2) {
    tx_.erase(tx_.begin(), tx_.begin() + static_cast<std::ptrdiff_t>(tx_off_));
    tx_off_ = 0;
  }
  update_interest();
}

void Conn::update_interest() {
  if (state_ == State::dead) return;
  // A sink keeps EPOLLOUT while it has anything queued; everybody else only while blocked.
  const bool need_out = tx_off_ < tx_.size();
  if (need_out != want_out_) {
    sh_.poller->modify(fd_, need_out ? (EPOLLIN | EPOLLOUT) : EPOLLIN, this);
    want_out_ = need_out;
  }
}

void Conn::fail(const char* why, bool sys) {
  if (state_ == State::dead) return;
  const int e = errno;
  if (!sh_.stopping) {
    if (sh_.errors < kMaxPrintedErrors) {
      std::fprintf(stderr, "wsgate-bench: connection failed: %s%s%s\n", why, sys ? ": " : "",
                   sys ? std::strerror(e) : "");
    }
    ++sh_.errors;
    ++sh_.failed;
  }
  if (state_ == State::open) --sh_.live;
  state_ = State::dead;
  if (fd_ >= 0) {
    sh_.poller->remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  on_failed();
}

}  // namespace wsgate::bench
