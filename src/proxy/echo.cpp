#include "proxy/echo.hpp"

#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

namespace {

class EchoHandler final : public WsHandler {
 public:
  void on_message(WsSession& s, proto::Opcode op, ByteView payload) override {
    s.send(op, payload);
    if (s.backpressured()) s.pause_reading();
  }
  void on_drain(WsSession& s) override { s.resume_reading(); }
};

class EchoService final : public Service {
 public:
  std::span<const std::string_view> http_methods() const noexcept override { return {}; }
  bool takes_websocket() const noexcept override { return true; }

 protected:
  std::unique_ptr<WsHandler> new_ws_handler(const WsUpgradeContext&) const override {
    return std::make_unique<EchoHandler>();
  }
};

}  // namespace

std::unique_ptr<Service> make_echo_service(const RouteConfig&) {
  return std::make_unique<EchoService>();
}

}  // namespace wsgate::proxy
