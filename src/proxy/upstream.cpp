#include "proxy/upstream.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#include <netinet/in.h>

#include "base/log.hpp"
#include "net/resolver.hpp"

namespace wsgate::proxy {

namespace {

std::uint64_t ms(Millis d) {
  return static_cast<std::uint64_t>(d.count());
}

class UpstreamCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "upstream"; }
  std::string message(int ev) const override {
    switch (static_cast<UpstreamErrc>(ev)) {
      case UpstreamErrc::no_live_server: return "no live upstream server";
      case UpstreamErrc::all_failed: return "every upstream server failed to connect";
    }
    return "unknown upstream error";
  }
};

// 64-bit FNV-1a, then a finaliser (splitmix64) so that close inputs spread over the range.
std::uint64_t hash_bytes(const void* data, std::size_t n, std::uint64_t seed) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull ^ seed;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// What ip_hash keys on: the first three octets of an IPv4 client (a /24 stays together, as in
// nginx), all 16 bytes of an IPv6 one.
std::uint64_t client_key(const net::SocketAddress& a) noexcept {
  const sockaddr* sa = a.sockaddr_ptr();
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    unsigned char b[4];
    std::memcpy(b, &in->sin_addr, 4);
    return hash_bytes(b, 3, 0);
  }
  if (a.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return hash_bytes(&in6->sin6_addr, 16, 0);
  }
  return 0;
}

bool was_tried(const std::vector<const UpstreamPeer*>& tried, const UpstreamPeer* p) {
  for (const UpstreamPeer* t : tried) {
    if (t == p) return true;
  }
  return false;
}

}  // namespace

std::error_code make_error_code(UpstreamErrc e) noexcept {
  static const UpstreamCategory category;
  return {static_cast<int>(e), category};
}

ResolvedUpstreams resolve_upstreams(const std::map<std::string, UpstreamConfig>& upstreams) {
  ResolvedUpstreams out;
  for (const auto& [name, u] : upstreams) {
    auto& list = out[name];
    for (const UpstreamServerConfig& s : u.servers) {
      if (!s.unix_path.empty()) {
        list.emplace_back();  // nothing to resolve
        continue;
      }
      auto r = net::resolve_now(s.host, s.port);
      if (!r) {
        throw std::runtime_error("upstream '" + name + "': server '" + s.address +
                                 "' does not resolve: " + r.error().message());
      }
      list.push_back(std::move(*r));
    }
  }
  return out;
}

// --- UpstreamLease ---------------------------------------------------------------------------

UpstreamLease::UpstreamLease(std::shared_ptr<UpstreamPool> pool, UpstreamPeer* peer,
                             net::TcpConnection* conn, bool reused)
    : pool_(std::move(pool)), peer_(peer), conn_(conn), reused_(reused) {
  ++peer_->active;
}

UpstreamLease::~UpstreamLease() {
  if (peer_ != nullptr) --peer_->active;
}

UpstreamLease::UpstreamLease(UpstreamLease&& o) noexcept
    : pool_(std::move(o.pool_)),
      peer_(std::exchange(o.peer_, nullptr)),
      conn_(std::exchange(o.conn_, nullptr)),
      reused_(o.reused_) {}

UpstreamLease& UpstreamLease::operator=(UpstreamLease&& o) noexcept {
  if (this != &o) {
    if (peer_ != nullptr) --peer_->active;
    pool_ = std::move(o.pool_);
    peer_ = std::exchange(o.peer_, nullptr);
    conn_ = std::exchange(o.conn_, nullptr);
    reused_ = o.reused_;
  }
  return *this;
}

std::string UpstreamLease::describe() const {
  if (peer_ == nullptr) return "(none)";
  return "upstream '" + pool_->config().name + "' server " + peer_->name;
}

std::string UpstreamLease::access_name() const {
  if (peer_ == nullptr) return {};
  return pool_->config().name + "/" + peer_->name;
}

// --- connect with failover -------------------------------------------------------------------

// Owned by the caller (through PendingConnect) and by the callback of the connect in flight
// (shared_ptr), so whichever ends last frees it; `cancelled_` stops the chain.
class UpstreamPool::Connect final : public std::enable_shared_from_this<UpstreamPool::Connect> {
 public:
  struct Handle final : PendingConnect {
    std::shared_ptr<Connect> op;
    ~Handle() override { op->cancelled_ = true; }
  };

  Connect(std::shared_ptr<UpstreamPool> pool, const net::SocketAddress& client,
          std::function<void(Result<UpstreamLease>)> done, bool reuse)
      : pool_(std::move(pool)), client_(client), done_(std::move(done)), reuse_(reuse) {}

  void next() {
    UpstreamPool& pool = *pool_;
    UpstreamPeer* peer = pool.pick(client_, tried_);
    if (peer == nullptr) {
      const UpstreamErrc e =
          tried_.empty() ? UpstreamErrc::no_live_server : UpstreamErrc::all_failed;
      if (e == UpstreamErrc::no_live_server) {
        WSGATE_LOG(warn, "upstream '" << pool.config().name << "': no live server (all "
                                      << pool.peers().size() << " out after failures)");
      }
      // Never from inside UpstreamPool::connect(): the caller must have the handle first.
      auto self = shared_from_this();
      pool.loop().post([self, e] { self->finish(make_error_code(e)); });
      return;
    }
    tried_.push_back(peer);
    addr_attempts_ = 0;
    if (reuse_) {
      // A kept connection to this server, if one is still idle when the post runs (never from
      // inside UpstreamPool::connect()); else a new one.
      reuse_ = false;
      auto self = shared_from_this();
      pool.loop().post([self, peer] {
        if (self->cancelled_) return;
        if (net::TcpConnection* c = self->pool_->take_idle(*peer)) {
          self->finish(UpstreamLease(self->pool_, peer, c, true));
        } else {
          self->attempt(peer);
        }
      });
      return;
    }
    attempt(peer);
  }

 private:
  // One address of `peer` (they rotate across connections, so a name with several addresses
  // spreads its load; within one connection each is tried before the server counts as failed).
  void attempt(UpstreamPeer* peer) {
    ++addr_attempts_;
    auto self = shared_from_this();
    const net::SocketAddress addr = peer->unix_path.empty()
                                        ? peer->addrs[peer->next_addr++ % peer->addrs.size()]
                                        : net::SocketAddress{};
    pool_->open(*peer, addr, ms(pool_->config().connect_timeout),
                [self, peer, addr](Result<net::TcpConnection*> r) {
                  self->connected(peer, addr, std::move(r));
                });
  }

  void connected(UpstreamPeer* peer, const net::SocketAddress& addr,
                 Result<net::TcpConnection*> r) {
    if (r) {
      if (cancelled_) {
        (*r)->close();
        return;
      }
      pool_->report_success(*peer);
      finish(UpstreamLease(pool_, peer, *r));
      return;
    }
    WSGATE_LOG(warn, "upstream '" << pool_->config().name << "' server " << peer->name
                                  << (peer->unix_path.empty() ? " (" + addr.to_string() + ")" : "")
                                  << ": connect failed: " << r.error().message());
    if (cancelled_) return;
    if (addr_attempts_ < peer->addrs.size()) return attempt(peer);
    pool_->report_failure(*peer);
    next();
  }

  void finish(Result<UpstreamLease> r) {
    if (cancelled_ || !done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(r));
  }

  std::shared_ptr<UpstreamPool> pool_;
  net::SocketAddress client_;
  std::function<void(Result<UpstreamLease>)> done_;
  std::vector<const UpstreamPeer*> tried_;
  std::size_t addr_attempts_ = 0;  // addresses of the current server tried so far
  bool reuse_;                     // look for a kept connection (first pick only)
  bool cancelled_ = false;
};

// --- keep-alive --------------------------------------------------------------------------------

// The handler of a kept connection while it waits: anything from the server (data, FIN, an
// error) or keepalive_timeout ends it. Owned by the connection; known to the pool until taken.
class UpstreamPool::Idle final : public net::ConnectionHandler, private net::TimerHandler {
 public:
  Idle(UpstreamPool& pool, const UpstreamPeer& peer, net::TcpConnection& conn)
      : pool_(&pool), peer_(&peer), conn_(&conn) {
    pool.loop().schedule(timer_, ms(pool.config().keepalive_timeout));
  }
  ~Idle() override {
    if (pool_ != nullptr) pool_->forget_idle(this);
  }

  const UpstreamPeer* peer() const noexcept { return peer_; }
  net::TcpConnection* connection() const noexcept { return conn_; }
  /// The pool lets go of it (taken for reuse, or the pool closes it).
  void release() noexcept {
    pool_ = nullptr;
    timer_.cancel();
  }

  void on_read(MutableByteView) override { drop("sent bytes while idle"); }
  void on_eof() override { drop(nullptr); }
  void on_error(std::error_code) override {
    if (pool_ != nullptr) pool_->forget_idle(this);
    pool_ = nullptr;  // the connection closes itself
  }

 private:
  void on_timer(net::Timer&) noexcept override { drop(nullptr); }
  void drop(const char* why) noexcept {
    if (pool_ == nullptr) return;
    if (why != nullptr) {
      WSGATE_LOG(debug, "upstream '" << pool_->config().name << "' server " << peer_->name
                                     << ": kept connection " << why << ", closing it");
    }
    pool_->forget_idle(this);
    pool_ = nullptr;
    conn_->close();
  }

  UpstreamPool* pool_;
  const UpstreamPeer* peer_;
  net::TcpConnection* conn_;
  net::Timer timer_{*this};
};

void UpstreamPool::keep(UpstreamLease lease) {
  net::TcpConnection* c = lease.connection();
  if (c == nullptr || c->closing()) return;
  if (config_.keepalive == 0 || stopped_) {
    c->close();
    return;
  }
  if (idle_.size() >= config_.keepalive) {
    Idle* oldest = idle_.front();
    idle_.erase(idle_.begin());
    oldest->release();
    oldest->connection()->close();
  }
  auto idle = std::make_unique<Idle>(*this, *lease.peer(), *c);
  idle_.push_back(idle.get());
  c->set_handler(std::move(idle));  // (inside the previous handler's callback: retired safely)
}

net::TcpConnection* UpstreamPool::take_idle(const UpstreamPeer& peer) {
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {  // newest first: the warmest
    Idle* idle = *it;
    if (idle->peer() != &peer) continue;
    idle_.erase(std::next(it).base());
    idle->release();
    return idle->connection();
  }
  return nullptr;
}

void UpstreamPool::forget_idle(Idle* idle) noexcept {
  const auto it = std::find(idle_.begin(), idle_.end(), idle);
  if (it != idle_.end()) idle_.erase(it);
}

void UpstreamPool::close_idle() noexcept {
  std::vector<Idle*> all = std::move(idle_);
  idle_.clear();
  for (Idle* idle : all) {
    idle->release();
    idle->connection()->close();
  }
}

// --- UpstreamPool ------------------------------------------------------------------------------

UpstreamPool::UpstreamPool(net::Loop& loop, const UpstreamConfig& config,
                           const std::vector<std::vector<net::SocketAddress>>& addresses,
                           std::shared_ptr<const net::TlsClientContext> tls)
    : loop_(&loop), config_(config), tls_(std::move(tls)) {
  peers_.reserve(config_.servers.size());
  for (std::size_t i = 0; i < config_.servers.size(); ++i) {
    UpstreamPeer p;
    p.name = config_.servers[i].address;
    p.weight = config_.servers[i].weight;
    p.unix_path = config_.servers[i].unix_path;
    if (i < addresses.size()) p.addrs = addresses[i];
    peers_.push_back(std::move(p));
  }
}

UpstreamPool::~UpstreamPool() {
  *alive_ = false;
  close_idle();
}

void UpstreamPool::start() {
  if (config_.health_check.type != HealthCheckConfig::Type::none) {
    loop_->schedule(health_timer_, 0);  // the first round at the next tick
  }
  if (config_.resolve_interval.count() == 0) return;
  for (const UpstreamServerConfig& s : config_.servers) {
    if (s.unix_path.empty() && !net::SocketAddress::parse(s.host, s.port)) {
      loop_->schedule(resolve_timer_, ms(config_.resolve_interval));
      return;
    }
  }
}

void UpstreamPool::stop() noexcept {
  resolve_timer_.cancel();
  health_timer_.cancel();
  stopped_ = true;
  close_idle();
}

void UpstreamPool::on_timer(net::Timer& t) noexcept {
  if (&t == &health_timer_) {
    check_all();
    loop_->schedule(health_timer_, ms(config_.health_check.interval));
    return;
  }
  refresh_names();
  loop_->schedule(resolve_timer_, ms(config_.resolve_interval));
}

// --- active health checks --------------------------------------------------------------------

namespace {

// Reads an HTTP check's status line: 2xx is healthy. Owned by the check's connection; reports
// once (to the pool, if it still exists) and closes the connection.
class HealthProbe final : public net::ConnectionHandler, private net::TimerHandler {
 public:
  HealthProbe(net::TcpConnection& conn, UpstreamPool& pool, std::weak_ptr<bool> alive,
              std::size_t index, std::uint64_t timeout_ms)
      : conn_(&conn), pool_(&pool), alive_(std::move(alive)), index_(index) {
    conn.loop().schedule(timer_, timeout_ms);
  }

  void on_read(MutableByteView data) override {
    line_.append(as_chars(data).substr(0, 512 - std::min<std::size_t>(line_.size(), 512)));
    const std::size_t eol = line_.find("\r\n");
    if (eol == std::string::npos) {
      if (line_.size() >= 512) finish(false, "no status line in 512 bytes");
      return;
    }
    // "HTTP/1.1 200 OK"
    const std::string_view l(line_.data(), eol);
    const bool http = l.size() >= 12 && l.substr(0, 7) == "HTTP/1." && l[8] == ' ';
    if (!http) return finish(false, "not an HTTP response");
    const bool ok = l[9] == '2' && l[10] >= '0' && l[10] <= '9' && l[11] >= '0' && l[11] <= '9';
    finish(ok, ok ? std::string_view{} : "status " + std::string(l.substr(9, 3)));
  }
  void on_eof() override { finish(false, "closed before answering"); }
  void on_error(std::error_code ec) override { finish(false, ec.message()); }

 private:
  void on_timer(net::Timer&) noexcept override { finish(false, "no answer in time"); }

  void finish(bool ok, std::string_view why) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    if (auto a = alive_.lock(); a && *a) pool_->record_check(index_, ok, why);
    conn_->close();
  }

  net::TcpConnection* conn_;
  UpstreamPool* pool_;
  std::weak_ptr<bool> alive_;
  std::size_t index_;
  std::string line_;
  net::Timer timer_{*this};
  bool done_ = false;
};

}  // namespace

void UpstreamPool::check_all() {
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (!peers_[i].probing) probe(i);
  }
}

void UpstreamPool::probe(std::size_t index) {
  UpstreamPeer& p = peers_[index];
  if (p.addrs.empty() && p.unix_path.empty()) return;
  p.probing = true;
  const HealthCheckConfig& hc = config_.health_check;
  std::weak_ptr<bool> alive = alive_;
  auto done = [this, alive, index, &hc](Result<net::TcpConnection*> r) {
    if (auto a = alive.lock(); !a || !*a) {
      if (r) (*r)->close();
      return;
    }
    if (!r) return record_check(index, false, r.error().message());
    net::TcpConnection* conn = *r;
    if (hc.type == HealthCheckConfig::Type::tcp || stopped_) {
      conn->close();
      return record_check(index, true, {});
    }
    const UpstreamServerConfig& s = config_.servers[index];
    std::string host = s.unix_path.empty() ? s.address : std::string("localhost");
    Bytes req = to_bytes("GET " + hc.path + " HTTP/1.1\r\nHost: " + host +
                         "\r\nUser-Agent: wsgate-health-check\r\nConnection: close\r\n\r\n");
    conn->set_handler(std::make_unique<HealthProbe>(*conn, *this, alive, index, ms(hc.timeout)));
    conn->write(std::move(req));
  };
  const net::SocketAddress addr =
      p.unix_path.empty() ? p.addrs[p.next_addr++ % p.addrs.size()] : net::SocketAddress{};
  open(p, addr, ms(hc.timeout), std::move(done));
}

void UpstreamPool::open(const UpstreamPeer& peer, const net::SocketAddress& addr,
                        std::uint64_t timeout_ms,
                        std::function<void(Result<net::TcpConnection*>)> done) {
  if (!peer.unix_path.empty()) {
    net::TcpConnection::connect_unix(*loop_, peer.unix_path, timeout_ms, std::move(done));
  } else if (tls_) {
    const auto index = static_cast<std::size_t>(&peer - peers_.data());
    std::string name =
        config_.tls_server_name.empty() ? config_.servers[index].host : config_.tls_server_name;
    net::TcpConnection::connect_tls(*loop_, addr, timeout_ms, tls_, std::move(name),
                                    std::move(done));
  } else {
    net::TcpConnection::connect(*loop_, addr, timeout_ms, std::move(done));
  }
}

void UpstreamPool::record_check(std::size_t index, bool ok, std::string_view why) {
  UpstreamPeer& p = peers_[index];
  p.probing = false;
  const HealthCheckConfig& hc = config_.health_check;
  if (ok) {
    p.check_fails = 0;
    if (p.check_down && ++p.check_oks >= hc.rise) {
      p.check_down = false;
      p.check_oks = 0;
      WSGATE_LOG(info, "upstream '" << config_.name << "' server " << p.name
                                    << ": health check passed, back in rotation");
    }
    return;
  }
  p.check_oks = 0;
  if (!p.check_down && ++p.check_fails >= hc.fall) {
    p.check_down = true;
    WSGATE_LOG(warn, "upstream '" << config_.name << "' server " << p.name
                                  << ": health check failed " << p.check_fails << " time(s) ("
                                  << why << "), out of rotation");
  }
}

void UpstreamPool::refresh_names() {
  for (std::size_t i = 0; i < config_.servers.size(); ++i) {
    const UpstreamServerConfig& s = config_.servers[i];
    if (!s.unix_path.empty() || net::SocketAddress::parse(s.host, s.port)) continue;
    std::weak_ptr<bool> alive = alive_;
    net::resolve_async(
        *loop_, s.host, s.port, [this, i, alive](Result<std::vector<net::SocketAddress>> r) {
          if (alive.expired() || !*alive.lock()) return;
          UpstreamPeer& p = peers_[i];
          if (!r) {
            WSGATE_LOG(warn, "upstream '" << config_.name << "' server " << p.name
                                          << ": re-resolution failed (" << r.error().message()
                                          << "), keeping the last addresses");
            return;
          }
          p.addrs = std::move(*r);
        });
  }
}

bool UpstreamPool::up(const UpstreamPeer& p, std::uint64_t now) const noexcept {
  return (!p.addrs.empty() || !p.unix_path.empty()) && !p.check_down &&
         (p.down_until_ms == 0 || now >= p.down_until_ms);
}

UpstreamPeer* UpstreamPool::pick(const net::SocketAddress& client,
                                 const std::vector<const UpstreamPeer*>& tried) {
  const std::uint64_t now = loop_->now_ms();
  UpstreamPeer* best = nullptr;
  switch (config_.balance) {
    case Balance::round_robin: {
      // Smooth weighted round robin: raise every candidate by its weight, take the highest,
      // lower it by the candidates' total.
      std::int64_t total = 0;
      for (UpstreamPeer& p : peers_) {
        if (!up(p, now) || was_tried(tried, &p)) continue;
        p.current += p.weight;
        total += p.weight;
        if (best == nullptr || p.current > best->current) best = &p;
      }
      if (best != nullptr) best->current -= total;
      break;
    }
    case Balance::least_conn: {
      // Compare active/weight as cross products; ties go to the first after a rotating cursor.
      const std::size_t n = peers_.size();
      for (std::size_t k = 0; k < n; ++k) {
        UpstreamPeer& p = peers_[(rr_cursor_ + k) % n];
        if (!up(p, now) || was_tried(tried, &p)) continue;
        if (best == nullptr ||
            std::uint64_t{p.active} * best->weight < std::uint64_t{best->active} * p.weight) {
          best = &p;
        }
      }
      rr_cursor_ = (rr_cursor_ + 1) % n;
      break;
    }
    case Balance::ip_hash: {
      // Weighted rendezvous: score = -weight / ln(u), u uniform in (0,1) from the hash.
      const std::uint64_t key = client_key(client);
      double best_score = -1;
      for (UpstreamPeer& p : peers_) {
        if (!up(p, now) || was_tried(tried, &p)) continue;
        const std::uint64_t h = hash_bytes(p.name.data(), p.name.size(), key);
        const double u = (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
        const double score = -static_cast<double>(p.weight) / std::log(u);
        if (score > best_score) {
          best_score = score;
          best = &p;
        }
      }
      break;
    }
  }
  return best;
}

std::unique_ptr<PendingConnect> UpstreamPool::connect(
    const net::SocketAddress& client, std::function<void(Result<UpstreamLease>)> done, bool reuse) {
  reuse = reuse && !idle_.empty();
  auto op = std::make_shared<Connect>(shared_from_this(), client, std::move(done), reuse);
  auto handle = std::make_unique<Connect::Handle>();
  handle->op = op;
  op->next();
  return handle;
}

void UpstreamPool::report_failure(UpstreamPeer& p) {
  if (config_.max_fails == 0) return;
  const std::uint64_t now = loop_->now_ms();
  if (p.fails == 0 || now - p.fail_window_start_ms > ms(config_.fail_timeout)) {
    p.fails = 0;
    p.fail_window_start_ms = now;
  }
  if (++p.fails >= config_.max_fails) {
    p.down_until_ms = now + ms(config_.fail_timeout);
    p.fails = 0;
    WSGATE_LOG(
        warn,
        "upstream '" << config_.name << "' server " << p.name << ": out for "
                     << config_.fail_timeout.count() << " ms after " << config_.max_fails
                     << " failure(s) (failed connects, or connections lost before a response)");
  }
}

void UpstreamPool::report_success(UpstreamPeer& p) noexcept {
  p.fails = 0;
  p.down_until_ms = 0;
}

// --- WorkerUpstreams ---------------------------------------------------------------------------

WorkerUpstreams::WorkerUpstreams(
    net::Loop& loop, const std::map<std::string, UpstreamConfig>& upstreams,
    const ResolvedUpstreams& resolved,
    const std::map<std::string, std::shared_ptr<const net::TlsClientContext>>& tls) {
  static const std::vector<std::vector<net::SocketAddress>> kNone;
  for (const auto& [name, u] : upstreams) {
    const auto it = resolved.find(name);
    const auto t = tls.find(name);
    auto pool = std::make_shared<UpstreamPool>(loop, u, it == resolved.end() ? kNone : it->second,
                                               t == tls.end() ? nullptr : t->second);
    pool->start();
    pools_.emplace(name, std::move(pool));
  }
}

std::shared_ptr<UpstreamPool> WorkerUpstreams::find(const std::string& name) const {
  const auto it = pools_.find(name);
  return it == pools_.end() ? nullptr : it->second;
}

void WorkerUpstreams::stop() noexcept {
  for (auto& [name, pool] : pools_) pool->stop();
}

}  // namespace wsgate::proxy
