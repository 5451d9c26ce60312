#pragma once
// Upstream pools: the servers of one [upstream.NAME] as one worker sees them, the balancing
// between them, passive health, and connecting with failover.
//
// Each worker has its own pools (WorkerUpstreams, built by its HttpServer for each loaded
// configuration), so choosing a server takes no lock. Counters (connections per server,
// failures) are therefore per worker: with N workers a server is taken out after max_fails
// failures seen by one worker, and least_conn balances each worker's own connections.
//
// Balancing (only servers that are up and not yet tried for this request take part):
//   round_robin  smooth weighted round robin: over any window, server i gets weight_i/sum of
//                the picks, interleaved rather than in bursts;
//   least_conn   the fewest active connections per unit of weight; ties go round robin;
//   ip_hash      weighted rendezvous hashing of the client address (IPv4: its first three
//                octets, as nginx does; IPv6: all of it) with each server's address text: a
//                client keeps its server across workers and restarts, and when a server goes
//                down only its own clients move.
// Passive health: a connect that fails counts against its server; max_fails failures within
// fail_timeout take it out for fail_timeout, after which it is tried again. Active health
// (health_check): every interval each worker connects to each server (tcp), or also sends
// "GET path" and reads the status line (http: 2xx is good), within timeout; `fall` failed checks
// in a row take the server out until `rise` good ones in a row bring it back. A pool whose
// servers are all out fails at once (the caller answers 502) instead of waiting.
// Keep-alive: after a proxied HTTP exchange that leaves the connection reusable, the caller
// hands it back (keep()); up to `keepalive` idle connections per pool wait, each closed after
// keepalive_timeout or when the server closes it or sends anything. A connect() with `reuse`
// takes an idle connection to the server balancing picked before it opens a new one.
// Names are resolved when the configuration loads (Runtime::build) and re-resolved by each
// worker every resolve_interval; a failed re-resolution keeps the last good addresses.
//
// Thread: the owning worker's loop thread only.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/result.hpp"
#include "net/address.hpp"
#include "net/loop.hpp"
#include "net/tcp.hpp"
#include "net/timer_wheel.hpp"
#include "net/tls.hpp"
#include "proxy/config.hpp"

namespace wsgate::proxy {

/// Addresses of every server of every upstream, resolved once at load: name -> per server.
using ResolvedUpstreams = std::map<std::string, std::vector<std::vector<net::SocketAddress>>>;

/// Resolves every server of `upstreams` (blocking getaddrinfo; for start-up and reload).
/// Throws std::runtime_error naming the upstream and server that does not resolve.
ResolvedUpstreams resolve_upstreams(const std::map<std::string, UpstreamConfig>& upstreams);

/// Errors of upstream selection (category "upstream").
enum class UpstreamErrc {
  no_live_server = 1,  ///< every server is out (passive health): answer 502 at once
  all_failed,          ///< every server was tried and none accepted the connection
};
std::error_code make_error_code(UpstreamErrc e) noexcept;

/// One server of a pool as a worker sees it.
struct UpstreamPeer {
  std::string name;                       ///< as written in `servers`
  std::vector<net::SocketAddress> addrs;  ///< resolved; connects rotate through them
  std::string unix_path;                  ///< a unix: server (then addrs is empty)
  std::size_t next_addr = 0;
  unsigned weight = 1;
  std::int64_t current = 0;  ///< smooth weighted round robin state
  unsigned active = 0;       ///< connections handed out and not yet released
  unsigned fails = 0;        ///< within the current fail window
  std::uint64_t fail_window_start_ms = 0;
  std::uint64_t down_until_ms = 0;  ///< out of rotation until then (0 = up)
  // Active health checks (health_check in the config).
  bool check_down = false;   ///< failed `fall` checks in a row: out until `rise` good ones
  bool probing = false;      ///< a check is in flight
  unsigned check_fails = 0;  ///< consecutive failed checks
  unsigned check_oks = 0;    ///< consecutive good checks while check_down
};

class UpstreamPool;

/// A connected upstream connection and the server it belongs to. Move-only; counts as one
/// active connection of the server (least_conn) until destroyed. Does not own the connection:
/// whoever takes it sets its handler and closes it.
class UpstreamLease {
 public:
  UpstreamLease() = default;
  UpstreamLease(std::shared_ptr<UpstreamPool> pool, UpstreamPeer* peer, net::TcpConnection* conn,
                bool reused = false);
  ~UpstreamLease();
  UpstreamLease(UpstreamLease&& o) noexcept;
  UpstreamLease& operator=(UpstreamLease&& o) noexcept;
  UpstreamLease(const UpstreamLease&) = delete;
  UpstreamLease& operator=(const UpstreamLease&) = delete;

  net::TcpConnection* connection() const noexcept { return conn_; }
  UpstreamPeer* peer() const noexcept { return peer_; }
  const std::shared_ptr<UpstreamPool>& pool() const noexcept { return pool_; }
  /// True when the connection came from the keep-alive pool (it may have been closed by the
  /// server meanwhile: a request that fails on it before any response byte may be retried).
  bool reused() const noexcept { return reused_; }
  /// "upstream 'NAME' server SERVER", for the error log.
  std::string describe() const;
  /// "NAME/SERVER" (the server as written in `servers`), for the access log.
  std::string access_name() const;

 private:
  std::shared_ptr<UpstreamPool> pool_;
  UpstreamPeer* peer_ = nullptr;
  net::TcpConnection* conn_ = nullptr;
  bool reused_ = false;
};

/// An operation in flight (connect with failover). Destroying it or calling cancel() means its
/// callback never runs; a connection that completes afterwards is closed.
class PendingConnect {
 public:
  virtual ~PendingConnect() = default;
};

class UpstreamPool final : public std::enable_shared_from_this<UpstreamPool>,
                           private net::TimerHandler {
 public:
  /// `tls`: the client context when the upstream has tls = true (every connection, health
  /// checks included, then runs TLS to the server's tls_server_name or host), else null.
  UpstreamPool(net::Loop& loop, const UpstreamConfig& config,
               const std::vector<std::vector<net::SocketAddress>>& addresses,
               std::shared_ptr<const net::TlsClientContext> tls = nullptr);
  ~UpstreamPool() override;
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  /// Starts periodic re-resolution of named servers (if resolve_interval > 0) and active health
  /// checks (if configured; the first round runs at once).
  void start();
  /// Stops both (server shutdown, or a reload replaced this pool).
  void stop() noexcept;
  /// The outcome of an active check of peers()[index] (health probes call it).
  void record_check(std::size_t index, bool ok, std::string_view why);

  /// The server for a new connection from `client`, among those up and not in `tried`; null
  /// when there is none. Pure selection: counts nothing.
  UpstreamPeer* pick(const net::SocketAddress& client,
                     const std::vector<const UpstreamPeer*>& tried);
  /// Connects to a server chosen by pick(), trying the next one on failure (each server once,
  /// each attempt bounded by connect_timeout). `done` runs once, on the loop, never from inside
  /// connect(): with a lease, or UpstreamErrc::no_live_server / all_failed. Failures are logged
  /// once per attempt with the upstream and server. With `reuse`, an idle kept connection to
  /// the picked server is taken first (UpstreamLease::reused()).
  [[nodiscard]] std::unique_ptr<PendingConnect> connect(
      const net::SocketAddress& client, std::function<void(Result<UpstreamLease>)> done,
      bool reuse = false);
  /// Takes back a connection that finished an HTTP exchange cleanly, to wait idle for reuse;
  /// closes it instead when keepalive = 0, the pool is stopped, or it is being closed. The oldest
  /// idle connection is closed when `keepalive` are already waiting. The lease's handler on the
  /// connection is replaced (so it must not be inside that handler's callbacks' objects after).
  void keep(UpstreamLease lease);
  /// Idle kept connections right now (tests, logs).
  std::size_t idle_count() const noexcept { return idle_.size(); }

  /// Passive health accounting (connect() does this itself; relays may report later failures).
  void report_failure(UpstreamPeer& peer);
  void report_success(UpstreamPeer& peer) noexcept;

  const UpstreamConfig& config() const noexcept { return config_; }
  net::Loop& loop() const noexcept { return *loop_; }
  std::vector<UpstreamPeer>& peers() noexcept { return peers_; }

 private:
  friend class UpstreamLease;
  class Connect;
  class Idle;
  net::TcpConnection* take_idle(const UpstreamPeer& peer);
  /// Opens one connection to `peer` (at `addr` unless it is a unix: server): plain, TLS or
  /// Unix, as the configuration says.
  void open(const UpstreamPeer& peer, const net::SocketAddress& addr, std::uint64_t timeout_ms,
            std::function<void(Result<net::TcpConnection*>)> done);
  void forget_idle(Idle* idle) noexcept;
  void close_idle() noexcept;
  void on_timer(net::Timer& t) noexcept override;
  void refresh_names();
  void check_all();
  void probe(std::size_t index);
  bool up(const UpstreamPeer& p, std::uint64_t now) const noexcept;

  net::Loop* loop_;
  UpstreamConfig config_;
  std::shared_ptr<const net::TlsClientContext> tls_;
  std::vector<UpstreamPeer> peers_;
  std::size_t rr_cursor_ = 0;  // least_conn tie-breaking
  std::vector<Idle*> idle_;    // kept connections, oldest first (each owned by its connection)
  net::Timer resolve_timer_{*this};
  net::Timer health_timer_{*this};
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for resolver and check callbacks
};

/// One worker's pools for one loaded configuration.
class WorkerUpstreams {
 public:
  /// `tls`: client contexts of the upstreams with tls = true, by name.
  WorkerUpstreams(
      net::Loop& loop, const std::map<std::string, UpstreamConfig>& upstreams,
      const ResolvedUpstreams& resolved,
      const std::map<std::string, std::shared_ptr<const net::TlsClientContext>>& tls = {});
  /// The pool named `name`, or null.
  std::shared_ptr<UpstreamPool> find(const std::string& name) const;
  /// Stops every pool's timers (the worker is shutting down or the configuration changed).
  void stop() noexcept;

 private:
  std::map<std::string, std::shared_ptr<UpstreamPool>> pools_;
};

}  // namespace wsgate::proxy

namespace std {
template <>
struct is_error_code_enum<wsgate::proxy::UpstreamErrc> : true_type {};
}  // namespace std
