#pragma once
// The HTTP/1.1 server of one worker: accepts connections on the worker's listeners, parses
// requests (src/proto), routes them, runs plain-HTTP handlers and WebSocket upgrades, and winds
// everything down on shutdown.
//
// HTTP behaviour (docs/ARCHITECTURE.md has the details): keep-alive, pipelined requests answered
// in order (one at a time: the next request is parsed only when the previous response has ended),
// HEAD, Date and Server headers, "Connection: close" honoured, parse errors and limits answered
// with 400/405/408/413/414/426/431/501/505 and a short body, then the connection closed. Timers
// per connection: the request head must arrive within header_timeout (slowloris), a kept-alive
// connection may idle for keepalive_timeout, a response that makes no write progress for
// send_timeout is abandoned.

#include <cstddef>
#include <memory>
#include <vector>

#include "net/loop.hpp"
#include "net/tcp.hpp"
#include "proto/http1_parser.hpp"
#include "proxy/access_log.hpp"
#include "proxy/bus.hpp"
#include "proxy/config.hpp"
#include "proxy/router.hpp"
#include "proxy/service.hpp"
#include "proxy/tls_setup.hpp"
#include "proxy/upstream.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

/// One loaded configuration with everything built from it: the router, one Service per route,
/// the access log. Shared read-only by every worker; a connection keeps the Runtime it started
/// with (shared_ptr), so a reload never changes a connection under its feet.
struct Runtime {
  Config config;
  Router router;
  std::vector<std::unique_ptr<Service>> services;  ///< parallel to router.routes()
  std::unique_ptr<AccessLog> access_log;           ///< null when access_log = "off"
  proto::Http1Limits limits;
  ResolvedUpstreams resolved;  ///< every upstream server's addresses at load time
  TlsContexts tls;             ///< listener certificates and upstream trust, loaded

  /// Builds services (hosted routes register their shared state in `bus`), loads the TLS
  /// certificates, resolves upstream names (blocking) and opens the access log. Throws
  /// std::runtime_error if a certificate or key does not load or a name does not resolve,
  /// std::system_error if the access log cannot be opened.
  static std::shared_ptr<const Runtime> build(Config config, Bus& bus);
  const Service& service_for(const RouteConfig& route) const;

 private:
  explicit Runtime(Config c);
};

class HttpConnection;

/// One worker's server: listeners, live connections, the current Runtime.
class HttpServer final : public net::AcceptHandler {
 public:
  HttpServer(net::Loop& loop, std::shared_ptr<const Runtime> runtime);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Opens a listener per [[listen]] (SO_REUSEPORT). Returns the first error (with the address
  /// in the message) and opens nothing on failure. `first_bound`: the addresses the first
  /// worker bound, in [[listen]] order; a `port = 0` entry reuses that worker's port, so every
  /// worker shares the one port the kernel chose. Empty for the first worker.
  std::error_code listen(std::string& error_text,
                         const std::vector<net::SocketAddress>& first_bound = {});
  /// The bound addresses, in [[listen]] order (for tests using port 0).
  std::vector<net::SocketAddress> addresses() const;

  /// New connections use `runtime` (and fresh upstream pools built from it) from now on
  /// (SIGHUP). Connections already open keep the pools they started with.
  void set_runtime(std::shared_ptr<const Runtime> runtime);
  const std::shared_ptr<const Runtime>& runtime() const noexcept { return runtime_; }
  const std::shared_ptr<WorkerUpstreams>& upstreams() const noexcept { return upstreams_; }

  /// Graceful stop: close the listeners, send 1001 to every WebSocket, close idle keep-alive
  /// connections, let in-flight responses finish (then close). After `shutdown_timeout`,
  /// force-closes what is left.
  void shutdown();

  net::Loop& loop() noexcept { return loop_; }
  bool shutting_down() const noexcept { return shutting_down_; }
  std::size_t connection_count() const noexcept { return connections_; }

  // For HttpConnection.
  void on_accept(net::TcpConnection& conn) override;
  /// A connection accepted on the listener of [[listen]] number `listen_index`.
  void accept_on(net::TcpConnection& conn, std::size_t listen_index);
  void attach(HttpConnection& c) noexcept;
  void detach(HttpConnection& c) noexcept;

 private:
  class ShutdownTimer;
  class ListenSlot;
  net::Loop& loop_;
  std::vector<std::unique_ptr<ListenSlot>> slots_;  ///< one accept handler per listener
  std::shared_ptr<const Runtime> runtime_;
  std::shared_ptr<WorkerUpstreams> upstreams_;  ///< this worker's pools for runtime_
  std::vector<net::Listener*> listeners_;
  HttpConnection* head_ = nullptr;  ///< intrusive list of live connections
  std::size_t connections_ = 0;
  bool shutting_down_ = false;
  std::unique_ptr<ShutdownTimer> shutdown_timer_;
};

}  // namespace wsgate::proxy
