#include "proxy/http_server.hpp"

#include <utility>

#include "base/log.hpp"
#include "proxy/http_connection.hpp"

namespace wsgate::proxy {

namespace {

std::uint64_t ms(Millis d) {
  return static_cast<std::uint64_t>(d.count());
}

}  // namespace

// =============================================================================================
// Runtime
// =============================================================================================

Runtime::Runtime(Config c) : config(std::move(c)), router(config.routes) {}

std::shared_ptr<const Runtime> Runtime::build(Config config, Bus& bus) {
  std::shared_ptr<Runtime> rt(new Runtime(std::move(config)));
  for (const RouteConfig& r : rt->router.routes()) rt->services.push_back(make_service(r, bus));
  rt->tls = build_tls(rt->config);
  rt->resolved = resolve_upstreams(rt->config.upstreams);
  rt->access_log =
      AccessLog::open(rt->config.server.access_log, rt->config.server.access_log_format);
  rt->limits.max_url_bytes = rt->config.server.max_url_bytes;
  rt->limits.max_head_bytes = rt->config.server.max_head_bytes;
  rt->limits.max_header_count = rt->config.server.max_header_count;
  rt->limits.max_body_bytes = rt->config.server.max_body_bytes;
  return rt;
}

const Service& Runtime::service_for(const RouteConfig& route) const {
  const auto index = static_cast<std::size_t>(&route - router.routes().data());
  return *services[index];
}

// =============================================================================================
// HttpServer
// =============================================================================================

class HttpServer::ShutdownTimer final : public net::TimerHandler {
 public:
  explicit ShutdownTimer(net::Loop& loop) : loop_(loop) {}
  void on_timer(net::Timer&) noexcept override {
    WSGATE_LOG(warn, "shutdown timeout: closing the connections still open");
    loop_.force_close_all();
  }
  net::Timer timer{*this};

 private:
  net::Loop& loop_;
};

HttpServer::HttpServer(net::Loop& loop, std::shared_ptr<const Runtime> runtime)
    : loop_(loop),
      runtime_(std::move(runtime)),
      upstreams_(std::make_shared<WorkerUpstreams>(loop_, runtime_->config.upstreams,
                                                   runtime_->resolved, runtime_->tls.upstreams)) {}

// The accept handler of one listener: tells the server which [[listen]] a connection came on.
class HttpServer::ListenSlot final : public net::AcceptHandler {
 public:
  ListenSlot(HttpServer& server, std::size_t index) : server_(server), index_(index) {}
  void on_accept(net::TcpConnection& conn) override { server_.accept_on(conn, index_); }

 private:
  HttpServer& server_;
  std::size_t index_;
};

HttpServer::~HttpServer() {
  upstreams_->stop();
}

void HttpServer::set_runtime(std::shared_ptr<const Runtime> runtime) {
  upstreams_->stop();
  runtime_ = std::move(runtime);
  upstreams_ = std::make_shared<WorkerUpstreams>(loop_, runtime_->config.upstreams,
                                                 runtime_->resolved, runtime_->tls.upstreams);
  // Reloaded certificates serve new connections from now on (listeners themselves are fixed
  // until a restart).
  const auto& tls = runtime_->tls.listeners;
  for (std::size_t i = 0; i < listeners_.size() && i < tls.size(); ++i) {
    if (tls[i]) listeners_[i]->set_tls(tls[i]);
  }
}

std::error_code HttpServer::listen(std::string& error_text,
                                   const std::vector<net::SocketAddress>& first_bound) {
  const auto& listen = runtime_->config.listen;
  for (std::size_t i = 0; i < listen.size(); ++i) {
    const ListenConfig& l = listen[i];
    const std::uint16_t port =
        l.port == 0 && i < first_bound.size() ? first_bound[i].port() : l.port;
    auto addr = net::SocketAddress::parse(l.host, port);
    if (!addr) {
      error_text = "listen " + l.address + ": not a numeric address";
      for (net::Listener* x : listeners_) x->close();
      listeners_.clear();
      return std::make_error_code(std::errc::invalid_argument);
    }
    net::ListenOptions opts;
    opts.backlog = l.backlog;
    if (i < runtime_->tls.listeners.size()) opts.tls = runtime_->tls.listeners[i];
    slots_.push_back(std::make_unique<ListenSlot>(*this, i));
    auto r = net::Listener::open(loop_, *addr, opts, *slots_.back());
    if (!r) {
      error_text = "listen " + l.address + ": " + r.error().message();
      for (net::Listener* x : listeners_) x->close();
      listeners_.clear();
      return r.error();
    }
    listeners_.push_back(*r);
  }
  return {};
}

std::vector<net::SocketAddress> HttpServer::addresses() const {
  std::vector<net::SocketAddress> out;
  for (const net::Listener* l : listeners_) out.push_back(l->address());
  return out;
}

void HttpServer::on_accept(net::TcpConnection& conn) {
  accept_on(conn, 0);
}

void HttpServer::accept_on(net::TcpConnection& conn, std::size_t listen_index) {
  if (shutting_down_) {
    conn.close();
    return;
  }
  auto c = std::make_unique<HttpConnection>(*this, conn, listen_index);
  conn.set_handler(std::move(c));
}

void HttpServer::attach(HttpConnection& c) noexcept {
  c.next = head_;
  if (head_ != nullptr) head_->prev = &c;
  head_ = &c;
  ++connections_;
}

void HttpServer::detach(HttpConnection& c) noexcept {
  if (c.prev != nullptr) c.prev->next = c.next;
  if (c.next != nullptr) c.next->prev = c.prev;
  if (head_ == &c) head_ = c.next;
  c.prev = c.next = nullptr;
  --connections_;
}

void HttpServer::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  upstreams_->stop();
  for (net::Listener* l : listeners_) l->close();
  listeners_.clear();
  // shutdown() may close a connection, which unlinks it only in its close callback (later), so
  // walking the list while calling it is safe.
  for (HttpConnection* c = head_; c != nullptr; c = c->next) c->shutdown();
  if (connections_ > 0) {
    shutdown_timer_ = std::make_unique<ShutdownTimer>(loop_);
    loop_.schedule(shutdown_timer_->timer, ms(runtime_->config.server.shutdown_timeout));
  }
}

}  // namespace wsgate::proxy
