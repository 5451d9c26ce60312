// wsgate-bench: a load generator for wsgate (issue 7). See usage() and bench/loadgen/client.hpp.
//
//   wsgate-bench echo --url ws://HOST:PORT/PATH -c CONNS -w WINDOW -s SIZE -d SECONDS [--text]
//   wsgate-bench tcp-echo --addr HOST:PORT -c CONNS -w WINDOW -s SIZE -d SECONDS
//
// Prints one JSON object on stdout; diagnostics go to stderr. Exit status 0 if errors == 0.

#include <netdb.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client.hpp"
#include "payload.hpp"

namespace wsgate::bench {
namespace {

constexpr std::uint64_t kConnectTimeoutNs = 10'000'000'000u;

struct Options {
  Mode mode = Mode::ws_echo;
  std::string host;
  std::string port;
  std::string target = "/";
  std::size_t conns = 1;
  std::size_t window = 1;
  std::size_t size = 64;
  double seconds = 5;
  bool text = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "wsgate-bench: %s\n"
               "usage: wsgate-bench echo --url ws://HOST:PORT/PATH [options] [--text]\n"
               "       wsgate-bench tcp-echo --addr HOST:PORT [options]\n"
               "options: -c CONNS (1)  -w WINDOW messages in flight per connection (1)\n"
               "         -s SIZE payload bytes (64; >= %zu binary, >= %zu text)\n"
               "         -d SECONDS measured duration (5)\n",
               why, kMinBinarySize, kMinTextSize);
  std::exit(2);
}

std::size_t parse_count(const char* s, const char* what) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v == 0) usage(what);
  return static_cast<std::size_t>(v);
}

// "HOST:PORT" or "[V6]:PORT".
void split_host_port(std::string_view hp, Options& o) {
  const auto colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == hp.size()) usage("address needs a port");
  std::string_view host = hp.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  o.host = std::string(host);
  o.port = std::string(hp.substr(colon + 1));
}

void parse_url(std::string_view url, Options& o) {
  constexpr std::string_view kScheme = "ws://";
  if (url.substr(0, kScheme.size()) != kScheme) usage("only ws:// URLs are supported");
  url.remove_prefix(kScheme.size());
  const auto slash = url.find('/');
  split_host_port(url.substr(0, slash), o);
  if (slash != std::string_view::npos) o.target = std::string(url.substr(slash));
}

Options parse_args(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  Options o;
  const std::string_view mode = argv[1];
  if (mode == "echo")
    o.mode = Mode::ws_echo;
  else if (mode == "tcp-echo")
    o.mode = Mode::tcp_echo;
  else
    usage("unknown mode");
  bool have_addr = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--text") {
      o.text = true;
    } else if (!has_value) {
      usage("option without a value");
    } else if (a == "--url" && o.mode == Mode::ws_echo) {
      parse_url(argv[++i], o);
      have_addr = true;
    } else if (a == "--addr" && o.mode == Mode::tcp_echo) {
      split_host_port(argv[++i], o);
      have_addr = true;
    } else if (a == "-c") {
      o.conns = parse_count(argv[++i], "bad -c");
    } else if (a == "-w") {
      o.window = parse_count(argv[++i], "bad -w");
    } else if (a == "-s") {
      o.size = parse_count(argv[++i], "bad -s");
    } else if (a == "-d") {
      o.seconds = std::strtod(argv[++i], nullptr);
      if (!(o.seconds > 0)) usage("bad -d");
    } else {
      usage("unknown option");
    }
  }
  if (!have_addr) usage(o.mode == Mode::ws_echo ? "missing --url" : "missing --addr");
  if (o.text && o.mode == Mode::tcp_echo) usage("--text is for echo mode");
  if (o.size < (o.text ? kMinTextSize : kMinBinarySize)) usage("-s too small");
  return o;
}

void resolve(const Options& o, RunContext& ctx) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    std::fprintf(stderr, "wsgate-bench: cannot resolve %s: %s\n", o.host.c_str(), gai_strerror(rc));
    std::exit(2);
  }
  std::memcpy(&ctx.addr, res->ai_addr, res->ai_addrlen);
  ctx.addr_len = res->ai_addrlen;
  freeaddrinfo(res);
}

// One file descriptor per connection, plus a few.
void raise_fd_limit(std::size_t conns) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const auto want = static_cast<rlim_t>(conns + 64);
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

void print_json(const Options& o, const RunContext& ctx, double elapsed_s) {
  const double msgs = static_cast<double>(ctx.messages);
  const double mps = elapsed_s > 0 ? msgs / elapsed_s : 0;
  const double us = 1e-3;  // histogram is in ns
  std::printf(
      "{\"mode\":\"%s\",\"connections\":%zu,\"window\":%zu,\"size\":%zu,\"seconds\":%.3f,"
      "\"messages\":%llu,\"messages_per_s\":%.1f,\"mb_per_s\":%.3f,"
      "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f},\"errors\":%llu}\n",
      o.mode == Mode::ws_echo ? "echo" : "tcp-echo", o.conns, o.window, o.size, elapsed_s,
      static_cast<unsigned long long>(ctx.messages), mps, mps * static_cast<double>(o.size) / 1e6,
      static_cast<double>(ctx.latency.quantile(0.50)) * us,
      static_cast<double>(ctx.latency.quantile(0.99)) * us,
      static_cast<double>(ctx.latency.quantile(0.999)) * us,
      static_cast<unsigned long long>(ctx.errors));
}

int run(const Options& o) {
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit(o.conns);
  Poller poller;
  RunContext ctx;
  ctx.mode = o.mode;
  ctx.window = o.window;
  ctx.size = o.size;
  ctx.text = o.text;
  ctx.host = o.host + ":" + o.port;
  ctx.target = o.target;
  ctx.poller = &poller;
  resolve(o, ctx);

  std::vector<std::unique_ptr<Client>> clients;
  clients.reserve(o.conns);
  for (std::size_t i = 0; i < o.conns; ++i) {
    clients.push_back(std::make_unique<Client>(ctx));
    clients.back()->start();
  }

  // Ramp-up: wait until every connection is open or dead (or the connect timeout), then measure.
  const std::uint64_t ramp_start = now_ns();
  while (ctx.opened + ctx.failed < o.conns && now_ns() - ramp_start < kConnectTimeoutNs)
    poller.run_once(10);
  if (ctx.opened + ctx.failed < o.conns) {
    const std::size_t pending = o.conns - ctx.opened - ctx.failed;
    std::fprintf(stderr, "wsgate-bench: %zu connections not open after 10 s\n", pending);
    ctx.errors += pending;
  }
  const auto duration = static_cast<std::uint64_t>(o.seconds * 1e9);
  const std::uint64_t t0 = now_ns();
  ctx.measuring = true;
  std::uint64_t now = t0;
  while (now - t0 < duration && ctx.opened > 0) {
    poller.run_once(1);
    now = now_ns();
  }
  ctx.measuring = false;
  print_json(o, ctx, static_cast<double>(now - t0) / 1e9);
  return ctx.errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace wsgate::bench

int main(int argc, char** argv) {
  try {
    return wsgate::bench::run(wsgate::bench::parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsgate-bench: %s\n", e.what());
    return 2;
  }
}
