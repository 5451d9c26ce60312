#pragma once
// The handler installed on an upstream connection by whatever relays it (the bridge, the HTTP
// and WebSocket proxies): it forwards the connection's events to its owner while attached. The
// connection owns it (and outlives the owner's interest in it); the owner detaches before it
// lets go of the connection, so no event reaches an owner that is gone.

#include <memory>
#include <system_error>
#include <utility>

#include "base/bytes.hpp"
#include "net/tcp.hpp"

namespace wsgate::proxy {

/// `Owner` provides upstream_read(MutableByteView), upstream_eof(), upstream_error(error_code)
/// and upstream_drain().
template <class Owner>
class RelaySide final : public net::ConnectionHandler {
 public:
  explicit RelaySide(Owner* owner) : owner_(owner) {}
  void detach() noexcept { owner_ = nullptr; }

  void on_read(MutableByteView data) override {
    if (owner_ != nullptr) owner_->upstream_read(data);
  }
  void on_eof() override {
    if (owner_ != nullptr) owner_->upstream_eof();
  }
  void on_error(std::error_code ec) override {
    if (owner_ != nullptr) owner_->upstream_error(ec);
  }
  void on_drain() override {
    if (owner_ != nullptr) owner_->upstream_drain();
  }

 private:
  Owner* owner_;
};

/// The owner's end: the upstream connection and the RelaySide installed on it. Empty until
/// attach(), and again once released or closed.
template <class Owner>
class RelayLink {
 public:
  /// Installs a RelaySide for `owner` on `conn` (replacing its handler).
  void attach(net::TcpConnection& conn, Owner* owner) {
    auto side = std::make_unique<RelaySide<Owner>>(owner);
    side_ = side.get();
    conn_ = &conn;
    conn.set_handler(std::move(side));
  }
  explicit operator bool() const noexcept { return conn_ != nullptr; }
  net::TcpConnection* operator->() const noexcept { return conn_; }
  net::TcpConnection& operator*() const noexcept { return *conn_; }
  net::TcpConnection* get() const noexcept { return conn_; }

  /// Stops the connection's events reaching the owner and forgets it; the caller now decides
  /// its fate (keeps it, closes it, or lets it close itself after an error). Null if empty.
  net::TcpConnection* release() noexcept {
    if (side_ != nullptr) side_->detach();
    side_ = nullptr;
    return std::exchange(conn_, nullptr);
  }
  /// release(), then closes the connection: gracefully (queued bytes written, then FIN) or at
  /// once.
  void close(bool graceful) noexcept {
    net::TcpConnection* c = release();
    if (c == nullptr) return;
    if (graceful) {
      c->close_gracefully();
    } else {
      c->close();
    }
  }

 private:
  net::TcpConnection* conn_ = nullptr;
  RelaySide<Owner>* side_ = nullptr;  // owned by conn_
};

}  // namespace wsgate::proxy
