#include "proxy/server.hpp"

#include <condition_variable>
#include <csignal>
#include <memory>
#include <mutex>
#include <system_error>
#include <vector>

#include "base/log.hpp"
#include "net/workers.hpp"
#include "proxy/bus.hpp"
#include "proxy/config.hpp"
#include "proxy/http_server.hpp"

namespace wsgate::proxy {

namespace {

void apply_logging(const ServerConfig& s) {
  log::set_level(s.log_level);
  if (!log::set_target(s.error_log)) {
    WSGATE_LOG(error, "cannot open error_log '" << s.error_log << "', logging to stderr");
  }
}

void report(const std::vector<ConfigDiagnostic>& problems, std::string_view what) {
  for (const auto& p : problems) WSGATE_LOG(error, what << p.to_string());
}

bool same_listeners(const Config& a, const Config& b) {
  if (a.listen.size() != b.listen.size()) return false;
  for (std::size_t i = 0; i < a.listen.size(); ++i) {
    if (a.listen[i].host != b.listen[i].host || a.listen[i].port != b.listen[i].port) return false;
  }
  return true;
}

class Server {
 public:
  Server(std::string path, std::unique_ptr<Bus> bus, std::shared_ptr<const Runtime> rt)
      : path_(std::move(path)), bus_(std::move(bus)), runtime_(std::move(rt)) {}

  int run();

 private:
  bool start_workers();
  void reload();
  void stop();

  std::string path_;
  std::unique_ptr<Bus> bus_;  // outlives every Runtime (declared first, destroyed last)
  std::shared_ptr<const Runtime> runtime_;  // main thread's view (for reload comparisons)
  std::unique_ptr<net::WorkerPool> pool_;
  std::vector<std::unique_ptr<HttpServer>> servers_;  // one per worker, destroyed after join
  std::unique_ptr<net::Loop> main_loop_;
  bool stopping_ = false;

  // Start-up handshake with the workers: each reports whether its listeners opened.
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t started_ = 0;
  bool first_listened_ = false;                  // worker 0 has tried its listeners
  std::vector<net::SocketAddress> first_bound_;  // and bound these
  std::string start_error_;
};

bool Server::start_workers() {
  const std::size_t n = bus_->workers();
  pool_ = std::make_unique<net::WorkerPool>(n);
  std::vector<net::Loop*> loops;
  for (std::size_t i = 0; i < n; ++i) loops.push_back(&pool_->loop(i));
  bus_->bind_workers(loops);
  bus_->start();
  servers_.resize(n);
  pool_->start([this](std::size_t index, net::Loop& loop) {
    auto srv = std::make_unique<HttpServer>(loop, runtime_);
    std::vector<net::SocketAddress> first_bound;
    if (index > 0) {  // wait for worker 0: `port = 0` listeners share the port it got
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return first_listened_; });
      first_bound = first_bound_;
    }
    std::string error;
    const std::error_code ec = srv->listen(error, first_bound);
    HttpServer* raw = srv.get();
    loop.set_stop_callback([raw] { raw->shutdown(); });
    if (index == 0 && !ec) {
      for (const auto& a : srv->addresses()) WSGATE_LOG(info, "listening on " << a.to_string());
    }
    {
      std::lock_guard lock(mu_);
      if (index == 0) {
        first_bound_ = srv->addresses();
        first_listened_ = true;
      }
      servers_[index] = std::move(srv);
      if (ec && start_error_.empty()) start_error_ = error;
      ++started_;
    }
    cv_.notify_all();
    if (ec) loop.request_stop();
  });
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return started_ == n; });
  if (!start_error_.empty()) {
    WSGATE_LOG(error, start_error_);
    return false;
  }
  WSGATE_LOG(info, "wsgate started: " << n << " worker(s), " << runtime_->router.routes().size()
                                      << " route(s), config " << path_);
  return true;
}

void Server::reload() {
  WSGATE_LOG(info, "SIGHUP: reloading " << path_);
  ConfigLoad load = load_config(path_);
  if (!load.config) {
    report(load.problems, "reload: ");
    WSGATE_LOG(error, "reload: " << path_ << " has " << load.problems.size()
                                 << " problem(s); keeping the running configuration");
    return;
  }
  std::shared_ptr<const Runtime> rt;
  try {
    rt = Runtime::build(std::move(*load.config), *bus_);
  } catch (const std::exception& e) {
    WSGATE_LOG(error, "reload: " << e.what() << "; keeping the running configuration");
    return;
  }
  if (!same_listeners(runtime_->config, rt->config) ||
      rt->config.server.workers != runtime_->config.server.workers) {
    WSGATE_LOG(warn, "reload: [[listen]] and workers changes take effect only after a restart");
  }
  apply_logging(rt->config.server);
  runtime_ = rt;
  for (std::size_t i = 0; i < pool_->size(); ++i) {
    HttpServer* srv = servers_[i].get();
    pool_->loop(i).post([srv, rt] { srv->set_runtime(rt); });
  }
  WSGATE_LOG(info,
             "reload: " << rt->router.routes().size() << " route(s) in force for new connections");
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  WSGATE_LOG(info, "shutting down: closing listeners and sessions (up to "
                       << runtime_->config.server.shutdown_timeout.count() << " ms)");
  pool_->request_stop();
  main_loop_->request_stop();
}

int Server::run() {
  const std::size_t files = net::raise_open_file_limit();
  // Each client connection holds one descriptor (two for proxied pairs, later); keep some for
  // listeners, logs and files being served.
  WSGATE_LOG(info, "open file limit " << files << ": about " << (files > 64 ? files - 64 : 0)
                                      << " simultaneous connections");
  main_loop_ = net::Loop::create(4096);
  // Watch the signals before any listener opens: a client may connect, and its owner send
  // SIGTERM, as soon as the first worker listens; the default action would kill the process.
  // A signal that arrives while the workers start is handled once the main loop runs.
  main_loop_->on_signal(SIGINT, [this] { stop(); });
  main_loop_->on_signal(SIGTERM, [this] { stop(); });
  main_loop_->on_signal(SIGHUP, [this] { reload(); });
  if (!start_workers()) {
    pool_->request_stop();
    pool_->join();
    main_loop_->request_stop();
    main_loop_->run();  // closes the signal watchers
    bus_->stop();
    return 1;
  }
  main_loop_->run();
  pool_->join();
  bus_->stop();  // after the workers: their sessions' last words to the hub are in
  servers_.clear();
  WSGATE_LOG(info, "stopped");
  return 0;
}

}  // namespace

int run_server(const std::string& config_path) {
  ConfigLoad load = load_config(config_path);
  if (!load.config) {
    for (const auto& p : load.problems) WSGATE_LOG(error, p.to_string());
    WSGATE_LOG(error, config_path << ": " << load.problems.size() << " problem(s); not starting");
    return 1;
  }
  apply_logging(load.config->server);
  const unsigned workers = load.config->server.workers;
  auto bus = std::make_unique<Bus>(workers == 0 ? net::cpu_count() : workers);
  std::shared_ptr<const Runtime> rt;
  try {
    rt = Runtime::build(std::move(*load.config), *bus);
  } catch (const std::exception& e) {
    WSGATE_LOG(error, e.what());
    return 1;
  }
  // A client that vanishes mid-write must cost an EPIPE, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  Server server(config_path, std::move(bus), std::move(rt));
  return server.run();
}

}  // namespace wsgate::proxy
