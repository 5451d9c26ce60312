#include "proxy/service.hpp"

#include "proxy/bridge.hpp"
#include "proxy/broker.hpp"
#include "proxy/chat.hpp"
#include "proxy/echo.hpp"
#include "proxy/http_proxy.hpp"
#include "proxy/static_files.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

WsAccept Service::accept_websocket(const WsUpgradeContext& ctx) const {
  WsAccept a;
  a.subprotocol = proto::select_subprotocol(ctx.upgrade.subprotocols, ctx.route.ws.subprotocols);
  if (!a.subprotocol && ctx.route.ws.require_subprotocol) {
    a.status = 400;
    a.detail = "none of the offered subprotocols is served here";
    return a;
  }
  a.handler = new_ws_handler(ctx);
  if (!a.handler) {
    a.status = 500;
    a.detail = "route cannot take WebSocket";
  }
  return a;
}

std::unique_ptr<Service> make_service(const RouteConfig& route, Bus& bus) {
  switch (route.kind) {
    case RouteKind::chat: return make_chat_service(route, bus);
    case RouteKind::broker: return make_broker_service(route, bus);
    case RouteKind::echo: return make_echo_service(route);
    case RouteKind::static_files: return make_static_service(route);
    case RouteKind::bridge: return make_bridge_service(route);
    case RouteKind::proxy: return make_proxy_service(route);
  }
  return nullptr;
}

}  // namespace wsgate::proxy
