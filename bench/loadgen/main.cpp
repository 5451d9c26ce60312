// wsgate-bench: the load generator of issue 7. See usage() and modes.hpp.
//
//   wsgate-bench echo|sink|source --url ws://HOST:PORT/PATH [-c C] [-w W] [-s S] [-d D] ...
//   wsgate-bench tcp-echo|tcp-sink|tcp-source --addr HOST:PORT [-c C] [-w W] [-s S] [-d D]
//   wsgate-bench connect --url ws://... -c N [--sources K] [--concurrency P] -d HOLD
//   wsgate-bench fanout --url ws://... --kind chat|broker -c SUBSCRIBERS [-w W] [--room R]
//                [--secret S | --token-file F]
//   wsgate-bench http --url http://HOST:PORT/PATH [-c C] [-w W] [-s BODY_BYTES] [-d D]
//
// Prints one JSON object on stdout; diagnostics go to stderr. Exit status 0 if errors == 0.

#include <netdb.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "modes.hpp"
#include "payload.hpp"

namespace wsgate::bench {
namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "wsgate-bench: %s\n"
      "usage: wsgate-bench MODE (--url URL | --addr HOST:PORT) [options]\n"
      "modes: echo sink source connect fanout (--url ws://HOST:PORT/PATH)\n"
      "       tcp-echo tcp-sink tcp-source (--addr HOST:PORT)\n"
      "       http (--url http://HOST:PORT/PATH)\n"
      "options: -c CONNS (1; fanout: subscribers)  -w WINDOW in flight (1)  -s SIZE bytes (64)\n"
      "         -d SECONDS measured, or held for connect (5)  --text  --stream (bridged echo\n"
      "         or source: payloads are one byte stream)  --sources K (connect: bind to\n"
      "         127.0.0.2..127.0.0.K+1)  --concurrency P (handshakes at once, 256)\n"
      "         --kind chat|broker  --room NAME  --secret S | --token-file F  --user-prefix P\n",
      why);
  std::exit(2);
}

std::size_t parse_count(const char* s, const char* what, bool zero_ok = false) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0' || (v == 0 && !zero_ok)) usage(what);
  return static_cast<std::size_t>(v);
}

void resolve(std::string_view hp, Target& t) {
  const auto colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == hp.size()) usage("address needs a port");
  std::string host(hp.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port(hp.substr(colon + 1));
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    std::fprintf(stderr, "wsgate-bench: cannot resolve %s: %s\n", host.c_str(), gai_strerror(rc));
    std::exit(2);
  }
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  t.host = std::string(hp);
}

void parse_url(std::string_view url, std::string_view scheme, Target& t) {
  if (url.substr(0, scheme.size()) != scheme) usage("URL scheme does not fit the mode");
  url.remove_prefix(scheme.size());
  const auto slash = url.find('/');
  resolve(url.substr(0, slash), t);
  t.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
}

void set_mode(std::string_view m, Options& o) {
  o.mode = std::string(m);
  std::string_view base = m;
  if (base.substr(0, 4) == "tcp-") {
    o.websocket = false;
    base.remove_prefix(4);
    if (base != "echo" && base != "sink" && base != "source") usage("unknown mode");
  }
  if (base == "echo")
    o.kind = Kind::echo;
  else if (base == "sink")
    o.kind = Kind::sink;
  else if (base == "source")
    o.kind = Kind::source;
  else if (base == "connect")
    o.kind = Kind::connect;
  else if (base == "fanout")
    o.kind = Kind::fanout;
  else if (base == "http")
    o.kind = Kind::http, o.websocket = false;
  else
    usage("unknown mode");
}

Options parse_args(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  Options o;
  set_mode(argv[1], o);
  bool have_addr = false;
  bool have_size = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--text") {
      o.text = true;
      continue;
    }
    if (a == "--stream") {
      o.stream = true;
      continue;
    }
    if (i + 1 >= argc) usage("option without a value");
    const char* v = argv[++i];
    if (a == "--url" && o.kind == Kind::http)
      parse_url(v, "http://", o.target), have_addr = true;
    else if (a == "--url" && o.websocket)
      parse_url(v, "ws://", o.target), have_addr = true;
    else if (a == "--addr" && !o.websocket)
      resolve(v, o.target), have_addr = true;
    else if (a == "-c")
      o.conns = parse_count(v, "bad -c");
    else if (a == "-w")
      o.window = parse_count(v, "bad -w");
    else if (a == "-s")
      o.size = parse_count(v, "bad -s", o.kind == Kind::http), have_size = true;
    else if (a == "-d") {
      o.seconds = std::strtod(v, nullptr);
      if (!(o.seconds > 0)) usage("bad -d");
    } else if (a == "--sources")
      o.sources = parse_count(v, "bad --sources", true);
    else if (a == "--concurrency")
      o.concurrency = parse_count(v, "bad --concurrency");
    else if (a == "--kind")
      o.fan_kind = v;
    else if (a == "--room")
      o.room = v;
    else if (a == "--secret")
      o.secret = v;
    else if (a == "--token-file")
      o.token_file = v;
    else if (a == "--user-prefix")
      o.user_prefix = v;
    else
      usage("unknown option (or not for this mode)");
  }
  if (!have_addr) usage(o.websocket || o.kind == Kind::http ? "missing --url" : "missing --addr");
  if (o.conns > kMaxConnsPerProcess) usage("-c over 19900: run several processes");
  if (o.sources > 250 * 250) usage("--sources too large");
  if (o.kind == Kind::fanout) {
    if (o.fan_kind != "chat" && o.fan_kind != "broker") usage("--kind is chat or broker");
    o.text = true;  // chat texts and broker events are text messages
    if (!have_size) o.size = kMinTextSize * 2;
  }
  if (o.kind == Kind::http && !have_size) o.size = 0;
  if (o.stream && (o.text || !o.websocket)) usage("--stream is for binary WebSocket modes");
  if (o.kind != Kind::http && o.kind != Kind::connect &&
      o.size < (o.text ? kMinTextSize : kMinBinarySize))
    usage("-s too small");
  return o;
}

}  // namespace

void raise_fd_limit(std::size_t conns) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const auto want = static_cast<rlim_t>(conns + 64);
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

std::string latency_json(const char* name, const LatencyHistogram& h) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "\"%s\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f}", name,
                static_cast<double>(h.quantile(0.50)) / 1e3,
                static_cast<double>(h.quantile(0.99)) / 1e3,
                static_cast<double>(h.quantile(0.999)) / 1e3);
  return buf;
}

}  // namespace wsgate::bench

int main(int argc, char** argv) {
  using namespace wsgate::bench;
  try {
    const Options o = parse_args(argc, argv);
    std::signal(SIGPIPE, SIG_IGN);
    switch (o.kind) {
      case Kind::echo:
      case Kind::sink:
      case Kind::source: return run_stream(o);
      case Kind::connect: return run_connect(o);
      case Kind::fanout: return run_fanout(o);
      case Kind::http: return run_http(o);
    }
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsgate-bench: %s\n", e.what());
    return 2;
  }
}
