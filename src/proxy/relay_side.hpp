#pragma once
// The handler installed on an upstream connection by whatever relays it (the bridge, the HTTP
// and WebSocket proxies): it forwards the connection's events to its owner while attached. The
// connection owns it (and outlives the owner's interest in it); the owner detaches before it
// lets go of the connection, so no event reaches an owner that is gone.

#include <system_error>

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

/// Installs a RelaySide for `owner` on `conn` and returns it (owned by the connection).
template <class Owner>
RelaySide<Owner>* attach_relay(net::TcpConnection& conn, Owner* owner) {
  auto side = std::make_unique<RelaySide<Owner>>(owner);
  RelaySide<Owner>* raw = side.get();
  conn.set_handler(std::move(side));
  return raw;
}

}  // namespace wsgate::proxy
