#pragma once
// What a route does: one Service per [[route]], built when the configuration loads and shared,
// read-only, by every worker (its methods are const and thread-safe). It makes the per-request
// HttpHandler and decides WebSocket upgrades, making the per-session WsHandler.

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "net/tcp.hpp"
#include "proto/http_message.hpp"
#include "proto/ws_handshake.hpp"
#include "proxy/config.hpp"
#include "proxy/http_exchange.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

class WorkerUpstreams;
struct WsAccept;

/// An upgrade decision that needs I/O first: the bridge connects to its backend before the 101,
/// so that a dead backend is an HTTP 502 and not a 101 followed by a close. The server owns it
/// until it completes; destroying it (the client went away) cancels the I/O, and then its
/// completion never runs.
class WsUpgradeTask {
 public:
  virtual ~WsUpgradeTask() = default;
};

/// After the 101, a handler that takes the client connection's bytes as they are (a proxy route
/// with passthrough = true tunnels them to its upstream). The server forwards every event of
/// the client connection to it.
class TunnelHandler : public net::ConnectionHandler {
 public:
  /// Right after the 101 has been queued: `early` holds client bytes that followed the
  /// upgrade request (valid only during the call).
  virtual void start(net::TcpConnection& client, MutableByteView early) = 0;
  /// Server shutdown: end the tunnel (there is no protocol to say goodbye in).
  virtual void going_away() = 0;
};

/// Delivers a WsUpgradeTask's decision (a WsAccept without `pending`). Runs at most once, on the
/// loop thread, never from inside Service::accept_websocket. The server destroys the task
/// during this call: the task must not touch itself after calling it.
using WsUpgradeComplete = std::function<void(WsAccept)>;

/// What the server knows when a WebSocket upgrade reaches a route, after the handshake passed
/// proto::validate_upgrade and the route's origin check. References are valid only during
/// Service::accept_websocket: a WsUpgradeTask copies what it needs.
struct WsUpgradeContext {
  const proto::HttpRequestHead& head;
  const proto::UpgradeRequest& upgrade;
  std::string_view path;  ///< normalised request path
  const RouteConfig& route;
  const net::SocketAddress& peer;
  std::string_view scheme;     ///< "http" or "https", for X-Forwarded-Proto
  net::Loop& loop;             ///< the connection's worker loop
  WorkerUpstreams& upstreams;  ///< that worker's upstream pools
  WsUpgradeComplete complete;  ///< for a WsAccept with `pending`
};

/// A Service's answer to an upgrade: a handler (accept), a tunnel (accept, then raw bytes), an
/// HTTP status (refuse), or a task that decides later through WsUpgradeContext::complete.
struct WsAccept {
  std::unique_ptr<WsHandler> handler;      ///< null = refuse with `status` (or pending, tunnel)
  std::unique_ptr<TunnelHandler> tunnel;   ///< set instead of `handler`: no WsSession
  std::optional<std::string> subprotocol;  ///< must be one the client offered; nullopt = none
  std::optional<std::string> extensions;   ///< Sec-WebSocket-Extensions of the 101 (from upstream)
  /// The 101 carries the upstream's permessage-deflate answer and the handler relays RSV1
  /// messages compressed (on_compressed_message / send_compressed): no inflating here.
  bool relay_compressed = false;
  int status = 0;      ///< refusal status (e.g. 401, 403, 404, 502, 503) when handler is null
  std::string detail;  ///< refusal reason for the body and the log
  std::unique_ptr<WsUpgradeTask> pending;  ///< set: the decision comes later
  std::string upstream;  ///< the backend chosen, for the access log ("upstream/address")
};

class Service {
 public:
  virtual ~Service() = default;

  /// Methods answered over plain HTTP (for 405 and its Allow header). Empty: the route serves
  /// WebSocket only, and a plain request gets 426 Upgrade Required.
  virtual std::span<const std::string_view> http_methods() const noexcept = 0;
  /// A handler for one plain-HTTP request whose method is in http_methods().
  virtual std::unique_ptr<HttpHandler> new_http_handler() const { return nullptr; }

  /// True if the route takes WebSocket upgrades. If false, an upgrade request is served as
  /// plain HTTP (the Upgrade header is ignored, RFC 9110 §7.8).
  virtual bool takes_websocket() const noexcept { return false; }
  /// Decides an upgrade. The default picks the subprotocol from the route's list
  /// (proto::select_subprotocol, server preference) and calls new_ws_handler().
  virtual WsAccept accept_websocket(const WsUpgradeContext& ctx) const;

 protected:
  virtual std::unique_ptr<WsHandler> new_ws_handler(const WsUpgradeContext& ctx) const {
    (void)ctx;
    return nullptr;
  }
};

class Bus;

/// Builds the Service for a route (one per kind). Never null for a validated config. Hosted
/// kinds (chat, broker) find or make their process-lifetime state in `bus`.
std::unique_ptr<Service> make_service(const RouteConfig& route, Bus& bus);

}  // namespace wsgate::proxy
