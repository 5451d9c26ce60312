#include "proxy/bridge.hpp"

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "base/log.hpp"
#include "net/resolver.hpp"
#include "proto/base64.hpp"
#include "proxy/relay_side.hpp"
#include "proxy/router.hpp"
#include "proxy/upstream.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

namespace {

// --- targets -----------------------------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The route's token table: inline targets plus the targets file, re-read when it changes. Shared
// by every worker (the Service is), hence the mutex; a lookup costs a stat() of the file.
class TargetTable {
 public:
  explicit TargetTable(const BridgeRouteConfig& cfg)
      : inline_(cfg.targets), file_(cfg.targets_file) {}

  std::optional<std::string> find(const std::string& token) const {
    if (auto it = inline_.find(token); it != inline_.end()) return it->second;  // validated
    if (file_.empty()) return std::nullopt;
    std::lock_guard lock(mu_);
    refresh();
    if (auto it = from_file_.find(token); it != from_file_.end()) return it->second;
    return std::nullopt;
  }

 private:
  void refresh() const {
    struct stat st {};
    if (::stat(file_.c_str(), &st) != 0) {
      if (!missing_logged_) WSGATE_LOG(warn, "targets file " << file_ << " cannot be read");
      missing_logged_ = true;
      from_file_.clear();
      return;
    }
    missing_logged_ = false;
    if (loaded_ && st.st_mtim.tv_sec == mtime_.tv_sec && st.st_mtim.tv_nsec == mtime_.tv_nsec &&
        st.st_size == size_) {
      return;
    }
    loaded_ = true;
    mtime_ = st.st_mtim;
    size_ = st.st_size;
    from_file_.clear();
    std::ifstream in(file_);
    std::string line;
    unsigned n = 0;
    while (std::getline(in, line)) {
      ++n;
      std::string_view l = trim(line);
      if (l.empty() || l.front() == '#') continue;
      const std::size_t colon = l.find(':');
      UpstreamServerConfig parsed;
      const std::string_view token = colon == std::string_view::npos ? l : trim(l.substr(0, colon));
      const std::string_view target =
          colon == std::string_view::npos ? std::string_view{} : trim(l.substr(colon + 1));
      if (token.empty() || !parse_server_address(target, parsed).empty()) {
        WSGATE_LOG(warn, file_ << ":" << n
                               << ": expected 'token: host:port' or 'token: unix:/path', "
                                  "skipping the line");
        continue;
      }
      from_file_.emplace(std::string(token), std::string(target));
    }
    WSGATE_LOG(info, "targets file " << file_ << ": " << from_file_.size() << " token(s)");
  }

  std::map<std::string, std::string> inline_;
  std::string file_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::string> from_file_;
  mutable timespec mtime_{};
  mutable off_t size_ = -1;
  mutable bool loaded_ = false;
  mutable bool missing_logged_ = false;
};

// --- the session ---------------------------------------------------------------------------------

class BridgeHandler final : public WsHandler {
 public:
  BridgeHandler(UpstreamLease lease, bool base64, BridgeText text)
      : lease_(std::move(lease)), base64_(base64), text_(text) {
    up_.attach(*lease_.connection(), this);
    up_->pause_reading();  // until the 101 is out: a VNC server speaks first
  }

  ~BridgeHandler() override { up_.close(false); }

  void on_open(WsSession& s) override {
    session_ = &s;
    if (up_) up_->resume_reading();
  }

  void on_message(WsSession& s, proto::Opcode op, ByteView payload) override {
    if (!up_) return;
    if (op == proto::Opcode::text) {
      if (base64_) {
        Bytes raw;
        if (!proto::base64_decode(as_chars(payload), raw)) {
          return s.close(proto::CloseCode::invalid_payload, "text message is not base64");
        }
        to_backend(s, raw);
        return;
      }
      if (text_ == BridgeText::reject) {
        return s.close(proto::CloseCode::unsupported_data, "text messages are not accepted");
      }
    }
    to_backend(s, payload);  // unmasked in place: written from the read buffer
  }

  void on_close(WsSession&, proto::CloseCode, std::string_view) override {
    session_ = nullptr;
    up_.close(true);  // what the client sent is delivered, then FIN
  }

  void on_drain(WsSession&) override {
    if (up_ && !backend_eof_) up_->resume_reading();
  }

  // --- from the backend connection (RelaySide) ---
  void upstream_read(MutableByteView data) {
    if (session_ == nullptr || !session_->is_open()) return;
    if (base64_) {
      std::string text;
      proto::base64_encode(data, text);
      session_->send_text(text);
    } else {
      session_->send_binary(data);
    }
    if (session_ != nullptr && session_->backpressured() && up_) up_->pause_reading();
  }

  void upstream_eof() {
    backend_eof_ = true;
    WSGATE_LOG(debug, "bridge " << lease_.describe() << ": backend closed the connection");
    up_.close(true);
    if (session_ != nullptr) session_->close(proto::CloseCode::normal, "backend closed");
  }

  void upstream_error(std::error_code ec) {
    WSGATE_LOG(info, "bridge " << lease_.describe() << ": backend connection failed: "
                               << ec.message() << "; closing 1011");
    up_.release();  // the connection closes itself after on_error
    if (session_ != nullptr) session_->close(proto::CloseCode::internal_error, "backend failed");
  }

  void upstream_drain() {
    if (session_ != nullptr) session_->resume_reading();
  }

 private:
  void to_backend(WsSession& s, ByteView bytes) {
    if (bytes.empty()) return;
    up_->write_copy(bytes);
    if (up_->above_high_watermark()) s.pause_reading();
  }

  UpstreamLease lease_;
  RelayLink<BridgeHandler> up_;   // empty once closed or failed
  WsSession* session_ = nullptr;  // between on_open and on_close
  bool base64_;
  BridgeText text_;
  bool backend_eof_ = false;
};

// --- the upgrade ---------------------------------------------------------------------------------

// Connects to the backend (resolving a token target first), then completes the upgrade.
class BridgeTask final : public WsUpgradeTask {
 public:
  BridgeTask(const WsUpgradeContext& ctx, std::optional<std::string> subprotocol, std::string what)
      : complete_(ctx.complete),
        subprotocol_(std::move(subprotocol)),
        client_(ctx.peer),
        text_(ctx.route.bridge.text),
        what_(std::move(what)) {}

  void connect(const std::shared_ptr<UpstreamPool>& pool) {
    pending_ = pool->connect(client_, [this](Result<UpstreamLease> r) { connected(std::move(r)); });
  }

  // A token target "host:port": resolved now (names too), then a one-server pool.
  void connect_target(net::Loop& loop, const RouteConfig& route, UpstreamServerConfig srv) {
    UpstreamConfig u;
    u.name = "targets";  // logs say "upstream 'targets' server HOST:PORT"
    u.connect_timeout = route.bridge.connect_timeout;
    u.max_fails = 0;  // a per-connection pool has nothing to remember
    u.resolve_interval = Millis(0);
    u.servers.push_back(srv);
    if (!srv.unix_path.empty()) {
      connect(std::make_shared<UpstreamPool>(loop, u,
                                             std::vector<std::vector<net::SocketAddress>>{{}}));
      return;
    }
    std::weak_ptr<bool> alive = alive_;
    net::Loop* lp = &loop;
    net::resolve_async(
        loop, srv.host, srv.port, [this, alive, lp, u](Result<std::vector<net::SocketAddress>> r) {
          if (alive.expired()) return;
          if (!r) {
            WSGATE_LOG(warn, "bridge " << what_ << ": " << u.servers[0].address
                                       << " does not resolve: " << r.error().message());
            return fail(502, "the backend does not resolve");
          }
          auto pool = std::make_shared<UpstreamPool>(
              *lp, u, std::vector<std::vector<net::SocketAddress>>{*r});
          connect(pool);
        });
  }

 private:
  void connected(Result<UpstreamLease> r) {
    if (!r) {
      const bool none = r.error() == make_error_code(UpstreamErrc::no_live_server);
      return fail(502, none ? "no live backend" : "the backend refused or timed out");
    }
    WsAccept a;
    a.subprotocol = subprotocol_;
    a.upstream = r->access_name();
    a.handler = std::make_unique<BridgeHandler>(std::move(*r), subprotocol_ == "base64", text_);
    auto done = complete_;  // this task is destroyed inside the call
    done(std::move(a));
  }

  void fail(int status, std::string detail) {
    WsAccept a;
    a.status = status;
    a.detail = std::move(detail);
    auto done = complete_;
    done(std::move(a));
  }

  WsUpgradeComplete complete_;
  std::optional<std::string> subprotocol_;
  net::SocketAddress client_;
  BridgeText text_;
  std::string what_;  // for logs: the upstream or the token
  std::unique_ptr<PendingConnect> pending_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for the resolver callback
};

class BridgeService final : public Service {
 public:
  explicit BridgeService(const RouteConfig& route) : targets_(route.bridge) {}

  std::span<const std::string_view> http_methods() const noexcept override { return {}; }
  bool takes_websocket() const noexcept override { return true; }

  WsAccept accept_websocket(const WsUpgradeContext& ctx) const override {
    WsAccept a;
    const RouteConfig& route = ctx.route;
    auto sub = proto::select_subprotocol(ctx.upgrade.subprotocols, route.ws.subprotocols);
    if (!sub && route.ws.require_subprotocol) {
      a.status = 400;
      a.detail = "none of the offered subprotocols is served here";
      return a;
    }
    if (!route.upstream.empty()) {
      auto pool = ctx.upstreams.find(route.upstream);
      if (!pool) {  // cannot happen for a validated config
        a.status = 500;
        a.detail = "upstream not available";
        return a;
      }
      auto task = std::make_unique<BridgeTask>(ctx, sub, "upstream '" + route.upstream + "'");
      task->connect(pool);
      a.pending = std::move(task);
      return a;
    }
    std::optional<std::string> token = query_param(ctx.head.query(), route.bridge.token_param);
    if (!token || token->empty()) token = path_token(ctx.path, route.path);
    if (!token || token->empty()) {
      a.status = 400;
      a.detail = "a token is needed (?" + route.bridge.token_param + "=... or a path segment)";
      return a;
    }
    auto target = targets_.find(*token);
    if (!target) {
      WSGATE_LOG(info,
                 "bridge " << route.name() << ": unknown token from " << ctx.peer.to_string());
      a.status = 404;
      a.detail = "unknown token";
      return a;
    }
    UpstreamServerConfig srv;
    srv.address = *target;
    if (!parse_server_address(*target, srv).empty()) {  // the table only holds valid ones
      a.status = 502;
      a.detail = "bad target";
      return a;
    }
    auto task = std::make_unique<BridgeTask>(ctx, sub, "target " + *target);
    task->connect_target(ctx.loop, route, std::move(srv));
    a.pending = std::move(task);
    return a;
  }

 private:
  // "/vnc/abc" under route "/vnc" -> "abc" (one segment only).
  static std::optional<std::string> path_token(std::string_view path, std::string_view route) {
    if (path.size() <= route.size()) return std::nullopt;
    std::string_view rest = path.substr(route.size());
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.empty() || rest.find('/') != std::string_view::npos) return std::nullopt;
    return std::string(rest);
  }

  TargetTable targets_;
};

}  // namespace

std::unique_ptr<Service> make_bridge_service(const RouteConfig& route) {
  return std::make_unique<BridgeService>(route);
}

}  // namespace wsgate::proxy
