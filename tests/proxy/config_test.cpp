#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/config.hpp"

using namespace wsgate;
using namespace wsgate::proxy;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;

const fs::path kRepo = fs::path(__FILE__).parent_path().parent_path().parent_path();

// A private directory holding "www/" (a directory) and "file.txt" (a file), for static roots
// and relative-path resolution. Removed when the test binary exits.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("wsgate_cfg_test_" + std::to_string(getpid()));
  TempDir() {
    fs::create_directories(path / "www");
    std::ofstream(path / "file.txt") << "x";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const std::string& base_dir() {
  static const TempDir dir;
  static const std::string path = dir.path.string();
  return path;
}

ConfigLoad parse(const std::string& text) {
  return parse_config(text, "t.toml", base_dir());
}

// Where a test line goes in the otherwise minimal, valid file built by make().
enum class Where { server, listen, echo_route, static_route, upstream, bridge_route };

struct Built {
  std::string text;
  unsigned line;  // 1-based line of the inserted text
};

// A valid file with `line` inserted in section `where`. Default lines of that section that set
// the same key as `line` are left out, so a test can replace them.
Built make(Where where, const std::string& line) {
  const std::string key = line.substr(0, line.find(' '));
  std::vector<std::string> out;
  unsigned at = 0;
  auto section = [&](Where w, const std::string& header, std::vector<std::string> defaults) {
    out.push_back(header);
    for (const std::string& d : defaults) {
      if (w != where || d.substr(0, d.find(' ')) != key) out.push_back(d);
    }
    if (w == where) {
      out.push_back(line);
      at = static_cast<unsigned>(out.size());
    }
  };
  section(Where::server, "[server]", {});
  section(Where::listen, "[[listen]]", {"address = \"127.0.0.1:8080\""});
  section(Where::echo_route, "[[route]]", {"path = \"/echo\"", "kind = \"echo\""});
  if (where == Where::static_route) {
    section(Where::static_route, "[[route]]",
            {"path = \"/files\"", "kind = \"static\"", "root = \"www\""});
  }
  if (where == Where::bridge_route) {
    section(Where::bridge_route, "[[route]]",
            {"path = \"/vnc\"", "kind = \"bridge\"", "upstream = \"app\""});
  }
  if (where == Where::upstream || where == Where::bridge_route) {
    section(Where::upstream, "[upstream.app]", {"servers = [\"127.0.0.1:3000\"]"});
  }
  std::string text;
  for (const std::string& l : out) text += l + "\n";
  return {text, at};
}

std::string dump(const ConfigLoad& load) {
  std::string s;
  for (const auto& p : load.problems) s += p.to_string() + "\n";
  return s;
}

}  // namespace

TEST_CASE("config: a minimal file gets every documented default", "[proxy][config]") {
  const auto load = parse(
      "[[listen]]\naddress = \"127.0.0.1:8080\"\n[[route]]\npath = \"/echo\"\nkind = \"echo\"\n");
  INFO(dump(load));
  REQUIRE(load.config);
  const Config& c = *load.config;
  CHECK(c.file == "t.toml");
  const ServerConfig& s = c.server;
  CHECK(s.workers == 0);
  CHECK(s.log_level == log::Level::info);
  CHECK(s.error_log == "stderr");
  CHECK(s.access_log == "stderr");
  CHECK(s.access_log_format == AccessLogFormat::combined);
  CHECK(s.server_header == "wsgate");
  CHECK(s.max_url_bytes == 8192);
  CHECK(s.max_head_bytes == 16384);
  CHECK(s.max_header_count == 100);
  CHECK(s.max_body_bytes == kMiB);
  CHECK(s.header_timeout == 10s);
  CHECK(s.keepalive_timeout == 75s);
  CHECK(s.send_timeout == 60s);
  CHECK(s.shutdown_timeout == 10s);
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].address == "127.0.0.1:8080");
  CHECK(c.listen[0].host == "127.0.0.1");
  CHECK(c.listen[0].port == 8080);
  CHECK(c.listen[0].backlog == 511);
  CHECK(c.listen[0].line == 1);
  REQUIRE(c.routes.size() == 1);
  const RouteConfig& r = c.routes[0];
  CHECK(r.path == "/echo");
  CHECK_FALSE(r.exact);
  CHECK_FALSE(r.host);
  CHECK(r.kind == RouteKind::echo);
  CHECK(r.line == 3);
  CHECK(r.name() == "/echo");
  CHECK(r.ws.max_message_size == 16 * kMiB);
  CHECK(r.ws.max_frame_size == 16 * kMiB);
  CHECK(r.ws.ping_interval == 30s);
  CHECK(r.ws.pong_timeout == 20s);
  CHECK(r.ws.idle_timeout == 0ms);
  CHECK(r.ws.close_timeout == 5s);
  CHECK(r.ws.interval == 0ms);
  CHECK(r.ws.origins.empty());
  CHECK(r.ws.allow_missing_origin);
  CHECK(r.ws.subprotocols.empty());
  CHECK_FALSE(r.ws.require_subprotocol);
  CHECK(r.ws.max_backpressure == kMiB);
  CHECK(c.upstreams.empty());
}

TEST_CASE("config: static and upstream defaults", "[proxy][config]") {
  auto load = parse(make(Where::static_route, "").text);
  INFO(dump(load));
  REQUIRE(load.config);
  const RouteConfig& r = load.config->routes.at(1);
  CHECK(r.kind == RouteKind::static_files);
  CHECK(r.static_files.root == base_dir() + "/www");
  CHECK(r.static_files.index == "index.html");
  CHECK(r.static_files.cache_control.empty());

  load = parse(make(Where::upstream, "").text);
  REQUIRE(load.config);
  const UpstreamConfig& u = load.config->upstreams.at("app");
  CHECK(u.name == "app");
  REQUIRE(u.servers.size() == 1);
  CHECK(u.servers[0].address == "127.0.0.1:3000");
  CHECK(u.servers[0].host == "127.0.0.1");
  CHECK(u.servers[0].port == 3000);
  CHECK(u.servers[0].weight == 1);
  CHECK(u.balance == Balance::round_robin);
  CHECK(u.connect_timeout == Millis(5000));
  CHECK(u.max_fails == 1);
  CHECK(u.fail_timeout == Millis(10000));
  CHECK(u.resolve_interval == Millis(30000));
  CHECK(u.health_check.type == HealthCheckConfig::Type::none);
}

TEST_CASE("config: bridge defaults", "[proxy][config]") {
  const auto load = parse(make(Where::bridge_route, "").text);
  INFO(dump(load));
  REQUIRE(load.config);
  const RouteConfig& r = load.config->routes.at(1);
  CHECK(r.kind == RouteKind::bridge);
  CHECK(r.upstream == "app");
  CHECK(r.bridge.targets.empty());
  CHECK(r.bridge.targets_file.empty());
  CHECK(r.bridge.token_param == "token");
  CHECK(r.bridge.text == BridgeText::bytes);
  CHECK(r.bridge.connect_timeout == Millis(5000));
  CHECK(r.ws.subprotocols == std::vector<std::string>{"binary", "base64"});
  CHECK(r.ws.max_message_size == 16 * kMiB);
}

TEST_CASE("config: proxy route and upstream keep-alive keys", "[proxy][config]") {
  const std::string head =
      "[[listen]]\naddress = \"127.0.0.1:8080\"\n[upstream.app]\nservers = [\"127.0.0.1:9000\"]\n"
      "[[route]]\npath = \"/api\"\nkind = \"proxy\"\nupstream = \"app\"\n";
  auto load = parse(head);
  INFO(dump(load));
  REQUIRE(load.config);
  const RouteConfig& r = load.config->routes.at(0);
  CHECK(r.kind == RouteKind::proxy);
  CHECK(r.upstream == "app");
  CHECK_FALSE(r.proxy.upstream_host);
  CHECK_FALSE(r.proxy.passthrough);
  CHECK(r.proxy.response_timeout == Millis(60000));
  CHECK(r.proxy.read_timeout == Millis(60000));
  CHECK_FALSE(r.proxy.max_body_size);
  CHECK(r.ws.subprotocols.empty());
  const UpstreamConfig& u = load.config->upstreams.at("app");
  CHECK(u.keepalive == 16);
  CHECK(u.keepalive_timeout == Millis(60000));

  load = parse(head +
               "upstream_host = \"api.internal:8443\"\npassthrough = true\n"
               "response_timeout = \"2s\"\nread_timeout = \"500ms\"\nmax_body_size = 0\n"
               "[upstream.b]\nservers = [\"127.0.0.1:9001\"]\nkeepalive = 0\n"
               "keepalive_timeout = \"5s\"\n");
  INFO(dump(load));
  REQUIRE(load.config);
  const RouteConfig& s = load.config->routes.at(0);
  CHECK(s.proxy.upstream_host == "api.internal:8443");
  CHECK(s.proxy.passthrough);
  CHECK(s.proxy.response_timeout == Millis(2000));
  CHECK(s.proxy.read_timeout == Millis(500));
  CHECK(s.proxy.max_body_size == std::uint64_t{0});
  CHECK(load.config->upstreams.at("b").keepalive == 0);
  CHECK(load.config->upstreams.at("b").keepalive_timeout == Millis(5000));

  load = parse(
      "[[listen]]\naddress = \"127.0.0.1:8080\"\n[[route]]\npath = \"/api\"\n"
      "kind = \"proxy\"\nsubprotocols = [\"x\"]\n");
  REQUIRE_FALSE(load.config);
  const std::string all = dump(load);
  CHECK_THAT(all, Catch::Contains("a proxy route needs an 'upstream'"));
  CHECK_THAT(all, Catch::Contains("key 'subprotocols' does not apply to a route of kind 'proxy'"));
}

TEST_CASE("config: compression keys", "[proxy][config]") {
  const std::string head =
      "[[listen]]\naddress = \"127.0.0.1:8080\"\n"
      "[upstream.app]\nservers = [\"127.0.0.1:9000\"]\n";
  const std::string echo = "[[route]]\npath = \"/e\"\nkind = \"echo\"\n";
  const std::string proxy = "[[route]]\npath = \"/p\"\nkind = \"proxy\"\nupstream = \"app\"\n";
  auto load = parse(head + echo);
  REQUIRE(load.config);
  const WsRouteConfig& d = load.config->routes.at(0).ws;
  CHECK(d.compression == Compression::off);
  CHECK(d.compression_level == 1);
  CHECK(d.compression_min_size == 64);
  CHECK(d.window_bits == 15);
  CHECK(d.mem_level == 8);

  load = parse(head + echo +
               "compression = \"dedicated\"\nwindow_bits = 10\nmem_level = 4\n"
               "compression_level = 6\ncompression_min_size = 0\n" +
               proxy + "compression = \"passthrough\"\n");
  INFO(dump(load));
  REQUIRE(load.config);
  const WsRouteConfig& w = load.config->routes.at(0).ws;
  CHECK(w.compression == Compression::dedicated);
  CHECK(w.window_bits == 10);
  CHECK(w.mem_level == 4);
  CHECK(w.compression_level == 6);
  CHECK(w.compression_min_size == 0);
  CHECK(load.config->routes.at(1).ws.compression == Compression::passthrough);

  load = parse(head + echo + "compression = \"passthrough\"\nwindow_bits = 12\n" + proxy +
               "passthrough = true\ncompression = \"shared\"\n" +
               "[[route]]\npath = \"/s\"\nkind = \"echo\"\ncompression = \"zstd\"\n"
               "compression_level = 0\n");
  REQUIRE_FALSE(load.config);
  const std::string all = dump(load);
  CHECK_THAT(all, Catch::Contains("compression = \"passthrough\" applies to proxy routes only"));
  CHECK_THAT(all, Catch::Contains("'window_bits' applies to compression = \"dedicated\""));
  CHECK_THAT(all, Catch::Contains("a passthrough = true tunnel carries whatever compression"));
  CHECK_THAT(all, Catch::Contains("must be off, shared, dedicated or passthrough; got 'zstd'"));
  CHECK_THAT(all, Catch::Contains("'compression_level'"));
}

TEST_CASE("config: TLS listeners, HTTPS redirects and TLS upstreams", "[proxy][config]") {
  // file.txt stands for every PEM file: the loader checks that files exist; OpenSSL checks
  // their contents when the configuration is built (proxy/tls_setup.hpp).
  const std::string route = "[[route]]\npath = \"/\"\nkind = \"echo\"\n";
  auto load = parse(
      "[[listen]]\naddress = \"127.0.0.1:8443\"\n"
      "tls = { cert = \"file.txt\", key = \"file.txt\", ciphers = \"ECDHE+AESGCM\", "
      "sni = [{ cert = \"file.txt\", key = \"./file.txt\" }] }\n"
      "[[listen]]\naddress = \"127.0.0.1:8080\"\nredirect_https = true\n"
      "redirect_https_port = 8443\n" +
      route +
      "[upstream.a]\nservers = [\"app.internal:443\"]\ntls = true\ntls_ca = \"file.txt\"\n"
      "tls_server_name = \"api.example\"\n"
      "[upstream.b]\nservers = [\"10.0.0.1:443\"]\ntls = true\ninsecure_skip_verify = true\n");
  INFO(dump(load));
  REQUIRE(load.config);
  const ListenConfig& l = load.config->listen.at(0);
  REQUIRE(l.tls);
  REQUIRE(l.tls->certificates.size() == 2);
  CHECK(l.tls->certificates[0].cert == base_dir() + "/file.txt");
  CHECK(l.tls->certificates[1].key == base_dir() + "/file.txt");
  CHECK(l.tls->ciphers == "ECDHE+AESGCM");
  CHECK_FALSE(l.redirect_https);
  const ListenConfig& p = load.config->listen.at(1);
  CHECK_FALSE(p.tls);
  CHECK(p.redirect_https);
  CHECK(p.redirect_https_port == 8443);
  const UpstreamConfig& a = load.config->upstreams.at("a");
  CHECK(a.tls);
  CHECK(a.tls_ca == base_dir() + "/file.txt");
  CHECK(a.tls_server_name == "api.example");
  CHECK_FALSE(a.insecure_skip_verify);
  CHECK(load.config->upstreams.at("b").insecure_skip_verify);

  load = parse(
      "[[listen]]\naddress = \"127.0.0.1:8443\"\ntls = { cert = \"nope.pem\" }\n"
      "redirect_https = true\n[[listen]]\naddress = \"127.0.0.1:8080\"\n"
      "redirect_https_port = 1\n" +
      route + "[upstream.c]\nservers = [\"a:1\"]\ntls_ca = \"file.txt\"\n");
  REQUIRE_FALSE(load.config);
  const std::string all = dump(load);
  CHECK_THAT(all,
             Catch::Contains("cert file '" + base_dir() + "/nope.pem' is not a readable file"));
  CHECK_THAT(all, Catch::Contains("'tls' needs 'key'"));
  CHECK_THAT(all, Catch::Contains("'redirect_https' is for plain listeners"));
  CHECK_THAT(all, Catch::Contains("'redirect_https_port' needs redirect_https = true"));
  CHECK_THAT(all, Catch::Contains("'tls_ca' needs tls = true"));
}

TEST_CASE("config: bridge targets instead of an upstream", "[proxy][config]") {
  const std::string head =
      "[[listen]]\naddress = \"127.0.0.1:8080\"\n[[route]]\npath = \"/vnc\"\nkind = \"bridge\"\n";
  auto load = parse(head +
                    "token_param = \"t\"\nconnect_timeout = \"2s\"\ntargets_file = \"file.txt\"\n"
                    "[route.targets]\nvm1 = \"127.0.0.1:5901\"\nvm2 = \"vnc.internal:5902\"\n");
  INFO(dump(load));
  REQUIRE(load.config);
  const BridgeRouteConfig& b = load.config->routes.at(0).bridge;
  CHECK(load.config->routes.at(0).upstream.empty());
  CHECK(b.targets == std::map<std::string, std::string>{{"vm1", "127.0.0.1:5901"},
                                                        {"vm2", "vnc.internal:5902"}});
  CHECK(b.targets_file == base_dir() + "/file.txt");
  CHECK(b.token_param == "t");
  CHECK(b.connect_timeout == Millis(2000));

  load = parse(head);
  CHECK(dump(load) ==
        "t.toml:3:1: a bridge route needs either 'upstream' or "
        "'targets'/'targets_file' (not both)\n");
  load = parse(head +
               "upstream = \"app\"\ntargets = { a = \"1.2.3.4:5\" }\n"
               "[upstream.app]\nservers = [\"127.0.0.1:1\"]\n");
  CHECK(dump(load) ==
        "t.toml:3:1: a bridge route needs either 'upstream' or "
        "'targets'/'targets_file' (not both)\n");
  load = parse(head + "targets = { a = \"nohost\" }\n");
  CHECK(dump(load) == "t.toml:6:17: target 'nohost' of token 'a': needs a port (host:port)\n");
  load = parse(head + "targets_file = \"missing.txt\"\n");
  CHECK(dump(load) ==
        "t.toml:6:16: targets file '" + base_dir() + "/missing.txt' is not a readable file\n");
}

TEST_CASE("config: every key takes a set value", "[proxy][config]") {
  struct Row {
    Where where;
    std::string line;
    std::function<bool(const Config&)> check;
  };
  auto route = [](const Config& c) -> const RouteConfig& { return c.routes.back(); };
  const Row rows[] = {
      {Where::server, "workers = 4", [](auto& c) { return c.server.workers == 4; }},
      {Where::server, "workers = 256", [](auto& c) { return c.server.workers == 256; }},
      {Where::server, "log_level = \"debug\"",
       [](auto& c) { return c.server.log_level == log::Level::debug; }},
      {Where::server, "log_level = \"error\"",
       [](auto& c) { return c.server.log_level == log::Level::error; }},
      {Where::server, "error_log = \"logs/error.log\"",
       [](auto& c) { return c.server.error_log == base_dir() + "/logs/error.log"; }},
      {Where::server, "error_log = \"/var/log/wsgate.log\"",
       [](auto& c) { return c.server.error_log == "/var/log/wsgate.log"; }},
      {Where::server, "access_log = \"off\"", [](auto& c) { return c.server.access_log == "off"; }},
      {Where::server, "access_log = \"./a/../access.log\"",
       [](auto& c) { return c.server.access_log == base_dir() + "/access.log"; }},
      {Where::server, "access_log_format = \"json\"",
       [](auto& c) { return c.server.access_log_format == AccessLogFormat::json; }},
      {Where::server, "server_header = \"\"",
       [](auto& c) { return c.server.server_header.empty(); }},
      {Where::server, "server_header = \"edge (x) 1.0\"",
       [](auto& c) { return c.server.server_header == "edge (x) 1.0"; }},
      {Where::server, "max_url_bytes = \"4k\"",
       [](auto& c) { return c.server.max_url_bytes == 4096; }},
      {Where::server, "max_head_bytes = 65536",
       [](auto& c) { return c.server.max_head_bytes == 65536; }},
      {Where::server, "max_head_bytes = \"1MiB\"",
       [](auto& c) { return c.server.max_head_bytes == kMiB; }},
      {Where::server, "max_header_count = 50",
       [](auto& c) { return c.server.max_header_count == 50; }},
      {Where::server, "max_body_bytes = 0", [](auto& c) { return c.server.max_body_bytes == 0; }},
      {Where::server, "max_body_bytes = \"2mib\"",
       [](auto& c) { return c.server.max_body_bytes == 2 * kMiB; }},
      {Where::server, "header_timeout = 2.5",
       [](auto& c) { return c.server.header_timeout == 2500ms; }},
      {Where::server, "keepalive_timeout = \"5m\"",
       [](auto& c) { return c.server.keepalive_timeout == 5min; }},
      {Where::server, "send_timeout = \"500ms\"",
       [](auto& c) { return c.server.send_timeout == 500ms; }},
      {Where::server, "shutdown_timeout = 3",
       [](auto& c) { return c.server.shutdown_timeout == 3s; }},
      {Where::server, "shutdown_timeout = \"1H\"",
       [](auto& c) { return c.server.shutdown_timeout == 1h; }},
      {Where::listen, "address = \"[::1]:9000\"",
       [](auto& c) {
         return c.listen[0].host == "::1" && c.listen[0].port == 9000 &&
                c.listen[0].address == "[::1]:9000";
       }},
      {Where::listen, "address = \"[0:0::0:1]:9000\"",
       [](auto& c) { return c.listen[0].host == "::1"; }},
      {Where::listen, "address = \":8081\"",
       [](auto& c) { return c.listen[0].host == "0.0.0.0" && c.listen[0].port == 8081; }},
      {Where::listen, "address = \"127.0.0.1:0\"", [](auto& c) { return c.listen[0].port == 0; }},
      {Where::listen, "address = \"0.0.0.0:65535\"",
       [](auto& c) { return c.listen[0].port == 65535; }},
      {Where::listen, "backlog = 128", [](auto& c) { return c.listen[0].backlog == 128; }},
      {Where::echo_route, "path = \"/a//b/./c/\"",
       [&](auto& c) { return route(c).path == "/a/b/c/"; }},
      {Where::echo_route, "path = \"/\"", [&](auto& c) { return route(c).path == "/"; }},
      {Where::echo_route, "exact = true", [&](auto& c) { return route(c).exact; }},
      {Where::echo_route, "host = \"Example.COM.\"",
       [&](auto& c) {
         return route(c).host == "example.com" && route(c).name() == "example.com/echo";
       }},
      {Where::echo_route, "host = \"[::1]\"",
       [&](auto& c) { return route(c).host == "::1" && route(c).name() == "[::1]/echo"; }},
      {Where::echo_route, "host = \"10.0.0.1\"",
       [&](auto& c) { return route(c).host == "10.0.0.1"; }},
      {Where::echo_route, "max_message_size = \"1g\"",
       [&](auto& c) {
         return route(c).ws.max_message_size == kGiB && route(c).ws.max_frame_size == 16 * kMiB;
       }},
      {Where::echo_route, "max_message_size = \"1m\"",  // an unset max_frame_size follows it
       [&](auto& c) {
         return route(c).ws.max_message_size == kMiB && route(c).ws.max_frame_size == kMiB;
       }},
      {Where::echo_route, "max_frame_size = \"64k\"",
       [&](auto& c) { return route(c).ws.max_frame_size == 64 * kKiB; }},
      {Where::echo_route, "max_frame_size = \"16m\"",
       [&](auto& c) { return route(c).ws.max_frame_size == 16 * kMiB; }},
      {Where::echo_route, "ping_interval = 0",
       [&](auto& c) { return route(c).ws.ping_interval == 0ms; }},
      {Where::echo_route, "pong_timeout = \"1s\"",
       [&](auto& c) { return route(c).ws.pong_timeout == 1s; }},
      {Where::echo_route, "idle_timeout = \"1h\"",
       [&](auto& c) { return route(c).ws.idle_timeout == 1h; }},
      {Where::echo_route, "idle_timeout = 86400",
       [&](auto& c) { return route(c).ws.idle_timeout == 24h; }},
      {Where::echo_route, "close_timeout = \"1.5ms\"",  // rounded to the nearest millisecond
       [&](auto& c) { return route(c).ws.close_timeout == 2ms; }},
      {Where::echo_route, "interval = 0.25",
       [&](auto& c) { return route(c).ws.interval == 250ms; }},
      {Where::echo_route,
       "origins = [\"https://example.com\", \"https://*.example.com\", \"null\"]",
       [&](auto& c) {
         return route(c).ws.origins ==
                std::vector<std::string>{"https://example.com", "https://*.example.com", "null"};
       }},
      {Where::echo_route, "origins = []", [&](auto& c) { return route(c).ws.origins.empty(); }},
      {Where::echo_route, "allow_missing_origin = false",
       [&](auto& c) { return !route(c).ws.allow_missing_origin; }},
      {Where::echo_route, "subprotocols = [\"chat.v2\", \"chat\"]",
       [&](auto& c) {
         return route(c).ws.subprotocols == std::vector<std::string>{"chat.v2", "chat"};
       }},
      {Where::echo_route, "subprotocols = [\"a\"]\nrequire_subprotocol = true",
       [&](auto& c) { return route(c).ws.require_subprotocol; }},
      {Where::echo_route, "max_backpressure = \"256KiB\"",
       [&](auto& c) { return route(c).ws.max_backpressure == 256 * kKiB; }},
      {Where::static_route, "root = \"www/\"",
       [&](auto& c) { return route(c).static_files.root == base_dir() + "/www"; }},
      {Where::static_route, "root = \"" + base_dir() + "/www/../www\"",
       [&](auto& c) { return route(c).static_files.root == base_dir() + "/www"; }},
      {Where::static_route, "index = \"\"",
       [&](auto& c) { return route(c).static_files.index.empty(); }},
      {Where::static_route, "index = \"home.htm\"",
       [&](auto& c) { return route(c).static_files.index == "home.htm"; }},
      {Where::static_route, "cache_control = \"public, max-age=60\"",
       [&](auto& c) { return route(c).static_files.cache_control == "public, max-age=60"; }},
      {Where::upstream, "servers = [\"app.internal:80\", \"[::1]:81\", \"10.0.0.1:3000\"]",
       [](auto& c) {
         const auto& s = c.upstreams.at("app").servers;
         return s.size() == 3 && s[0].host == "app.internal" && s[1].host == "::1" &&
                s[1].port == 81;
       }},
      {Where::upstream, "servers = [\"a:1\", { address = \"b:2\", weight = 3 }]",
       [](auto& c) {
         const auto& s = c.upstreams.at("app").servers;
         return s.size() == 2 && s[0].weight == 1 && s[1].address == "b:2" && s[1].weight == 3;
       }},
      {Where::upstream, "servers = [\"unix:/run/app.sock\", \"a:1\"]",
       [](auto& c) {
         const auto& s = c.upstreams.at("app").servers;
         return s.size() == 2 && s[0].unix_path == "/run/app.sock" && s[0].host.empty() &&
                s[0].port == 0 && s[1].unix_path.empty();
       }},
      {Where::upstream,
       "health_check = { type = \"http\", path = \"/healthz\", interval = \"1s\", timeout = 1, "
       "fall = 3, rise = 2 }",
       [](auto& c) {
         const auto& h = c.upstreams.at("app").health_check;
         return h.type == HealthCheckConfig::Type::http && h.path == "/healthz" &&
                h.interval == Millis(1000) && h.timeout == Millis(1000) && h.fall == 3 &&
                h.rise == 2;
       }},
      {Where::upstream, "health_check = { type = \"tcp\" }",
       [](auto& c) {
         const auto& h = c.upstreams.at("app").health_check;
         return h.type == HealthCheckConfig::Type::tcp && h.path == "/" &&
                h.interval == Millis(5000) && h.timeout == Millis(2000) && h.fall == 2 &&
                h.rise == 1;
       }},
      {Where::upstream, "connect_timeout = \"250ms\"",
       [](auto& c) { return c.upstreams.at("app").connect_timeout == Millis(250); }},
      {Where::upstream, "max_fails = 0",
       [](auto& c) { return c.upstreams.at("app").max_fails == 0; }},
      {Where::upstream, "fail_timeout = 3",
       [](auto& c) { return c.upstreams.at("app").fail_timeout == Millis(3000); }},
      {Where::upstream, "resolve_interval = 0",
       [](auto& c) { return c.upstreams.at("app").resolve_interval == Millis(0); }},
      {Where::bridge_route, "text = \"reject\"",
       [](auto& c) { return c.routes.at(1).bridge.text == BridgeText::reject; }},
      {Where::bridge_route, "subprotocols = [\"binary\"]",
       [](auto& c) {
         return c.routes.at(1).ws.subprotocols == std::vector<std::string>{"binary"};
       }},
      {Where::bridge_route, "idle_timeout = 60",
       [](auto& c) { return c.routes.at(1).ws.idle_timeout == Millis(60000); }},

      {Where::upstream, "balance = \"least_conn\"",
       [](auto& c) { return c.upstreams.at("app").balance == Balance::least_conn; }},
      {Where::upstream, "balance = \"ip_hash\"",
       [](auto& c) { return c.upstreams.at("app").balance == Balance::ip_hash; }},
      {Where::upstream, "balance = \"round_robin\"",
       [](auto& c) { return c.upstreams.at("app").balance == Balance::round_robin; }},
  };
  for (const Row& row : rows) {
    const auto load = parse(make(row.where, row.line).text);
    INFO(row.line);
    INFO(dump(load));
    REQUIRE(load.config);
    CHECK(row.check(*load.config));
  }
}

TEST_CASE("config: each problem names the exact line and column", "[proxy][config]") {
  struct Row {
    Where where;
    std::string line;
    std::string at;       // the offending text: its first occurrence gives the column
    std::string message;  // expected message; a trailing '*' means "starts with"
  };
  const std::string www = base_dir();
  const Row rows[] = {
      // unknown keys, with and without a suggestion
      {Where::server, "wrkers = 4", "wrkers",
       "unknown key 'wrkers' in [server]; did you mean 'workers'?"},
      {Where::echo_route, "pong_timout = 5", "pong_timout",
       "unknown key 'pong_timout' in [[route]]; did you mean 'pong_timeout'?"},
      {Where::echo_route, "frobnicate = 1", "frobnicate", "unknown key 'frobnicate' in [[route]]"},
      {Where::listen, "tls = true", "true",
       "'tls' must be a table { cert = \"...\", key = \"...\" }, not a boolean"},
      {Where::listen, "tsl = {}", "tsl", "unknown key 'tsl' in [[listen]]; did you mean 'tls'?"},
      {Where::upstream, "balanse = \"ip_hash\"", "balanse",
       "unknown key 'balanse' in [upstream.app]; did you mean 'balance'?"},
      // wrong types
      {Where::server, "workers = \"4\"", "\"4\"", "'workers' must be an integer, not a string"},
      {Where::server, "log_level = 3", "3", "'log_level' must be a string, not an integer"},
      {Where::echo_route, "exact = \"yes\"", "\"yes\"",
       "'exact' must be a boolean (true or false), not a string"},
      {Where::echo_route, "origins = \"https://a.com\"", "\"",
       "'origins' must be an array of strings, not a string"},
      {Where::echo_route, "origins = [\"https://a.com\", 5]", "5",
       "each element of 'origins' must be a string, not an integer"},
      {Where::echo_route, "ping_interval = true", "true",
       "'ping_interval' must be a duration (seconds, or a string like \"500ms\"), not a boolean"},
      {Where::echo_route, "max_message_size = 1.5", "1.5",
       "'max_message_size' must be a size (bytes as an integer, or a string like \"64k\"), not a "
       "float"},
      {Where::server, "send_timeout = 1979-05-27", "1979",
       "'send_timeout' must be a duration (seconds, or a string like \"500ms\"), not a date"},
      // out of range
      {Where::server, "workers = 257", "257", "'workers' must be between 0 and 256, got 257"},
      {Where::server, "workers = -1", "-1", "'workers' must be between 0 and 256, got -1"},
      {Where::server, "max_head_bytes = 512", "512",
       "'max_head_bytes' must be between 1 KiB and 1 MiB"},
      {Where::server, "max_head_bytes = \"2m\"", "\"2m\"",
       "'max_head_bytes' must be between 1 KiB and 1 MiB"},
      {Where::server, "max_url_bytes = 0", "0", "'max_url_bytes' must be between 1 byte and 1 MiB"},
      {Where::server, "max_header_count = 0", "0",
       "'max_header_count' must be between 1 and 10000, got 0"},
      {Where::server, "max_body_bytes = -5", "-5",
       "'max_body_bytes' must be between 0 bytes and 1 TiB"},
      {Where::echo_route, "max_message_size = \"2g\"", "\"2g\"",
       "'max_message_size' must be between 1 byte and 1 GiB"},
      {Where::echo_route, "max_backpressure = 0", "0",
       "'max_backpressure' must be between 1 byte and 1 GiB"},
      {Where::server, "header_timeout = 0", "0",
       "'header_timeout' must be between 1ms and 86400 seconds"},
      {Where::server, "keepalive_timeout = \"0s\"", "\"0s\"",
       "'keepalive_timeout' must be between 1ms and 86400 seconds"},
      {Where::server, "shutdown_timeout = 0.0001", "0.0001",
       "'shutdown_timeout' must be between 1ms and 86400 seconds"},
      {Where::echo_route, "close_timeout = 0", "0",
       "'close_timeout' must be between 1ms and 86400 seconds"},
      {Where::echo_route, "pong_timeout = 0", "0",
       "'pong_timeout' must be between 1ms and 86400 seconds"},
      {Where::echo_route, "ping_interval = -1", "-1",
       "'ping_interval' must be between 0 and 86400 seconds"},
      {Where::echo_route, "ping_interval = 86401", "86401",
       "'ping_interval' must be between 0 and 86400 seconds"},
      {Where::echo_route, "ping_interval = \"25h\"", "\"25h\"",
       "'ping_interval' must be between 0 and 86400 seconds"},
      {Where::echo_route, "idle_timeout = nan", "nan",
       "'idle_timeout' must be between 0 and 86400 seconds"},
      {Where::echo_route, "interval = -inf", "-inf",
       "'interval' must be between 0 and 86400 seconds"},
      {Where::listen, "backlog = 0", "0", "'backlog' must be between 1 and 65535, got 0"},
      // bad duration and size strings
      {Where::echo_route, "ping_interval = \"30\"", "\"30\"",
       "'ping_interval': '30' is not a duration (seconds, or a number with ms, s, m or h)"},
      {Where::echo_route, "ping_interval = \"30 s\"", "\"", "'ping_interval': '30 s' is not*"},
      {Where::echo_route, "ping_interval = \"1d\"", "\"", "'ping_interval': '1d' is not*"},
      {Where::echo_route, "ping_interval = \"s\"", "\"", "'ping_interval': 's' is not*"},
      {Where::echo_route, "ping_interval = \"1.s\"", "\"", "'ping_interval': '1.s' is not*"},
      {Where::echo_route, "ping_interval = \"-5s\"", "\"", "'ping_interval': '-5s' is not*"},
      {Where::echo_route, "ping_interval = \"\"", "\"", "'ping_interval': '' is not*"},
      {Where::echo_route, "max_frame_size = \"16q\"", "\"",
       "'max_frame_size': '16q' is not a size (bytes, or a number with k, m, g, KiB, MiB or GiB)"},
      {Where::echo_route, "max_frame_size = \"k\"", "\"", "'max_frame_size': 'k' is not*"},
      {Where::echo_route, "max_frame_size = \"1.5m\"", "\"", "'max_frame_size': '1.5m' is not*"},
      {Where::echo_route, "max_frame_size = \"-1k\"", "\"", "'max_frame_size': '-1k' is not*"},
      {Where::echo_route, "max_frame_size = \"16 m\"", "\"", "'max_frame_size': '16 m' is not*"},
      {Where::echo_route, "max_frame_size = \"20000000000g\"", "\"",
       "'max_frame_size': '20000000000g' is not*"},
      {Where::echo_route, "max_frame_size = \"99999999999999999999\"", "\"",
       "'max_frame_size': '99999999999999999999' is not*"},
      // keys of another kind
      {Where::echo_route, "root = \"www\"", "root",
       "key 'root' does not apply to a route of kind 'echo'"},
      {Where::static_route, "ping_interval = 5", "ping_interval",
       "key 'ping_interval' does not apply to a route of kind 'static'"},
      {Where::static_route, "origins = []", "origins",
       "key 'origins' does not apply to a route of kind 'static'"},
      // kinds
      {Where::echo_route, "kind = \"ecko\"", "\"ecko\"",
       "unknown route kind 'ecko' (expected echo, static, bridge, proxy, chat or broker); did you "
       "mean 'echo'?"},
      {Where::bridge_route, "passthrough = true", "passthrough",
       "key 'passthrough' does not apply to a route of kind 'bridge'"},
      {Where::bridge_route, "root = \"www\"", "root",
       "key 'root' does not apply to a route of kind 'bridge'"},
      {Where::bridge_route, "upstream = \"nope\"", "\"nope\"",
       "upstream 'nope' is not defined (no [upstream.nope] table)"},
      {Where::bridge_route, "text = \"utf8\"", "\"",
       "'text' must be \"bytes\" or \"reject\"; got 'utf8'"},
      {Where::bridge_route, "connect_timeout = 3", "3",
       "'connect_timeout' of a bridge route applies to its targets; an upstream has its own"},
      {Where::upstream, "servers = [{ address = \"a:1\", weight = 0 }]", "0",
       "'weight' must be between 1 and 1000, got 0"},
      {Where::upstream, "servers = [{ address = \"a:1\", wieght = 2 }]", "wieght",
       "unknown key 'wieght' in an upstream server; did you mean 'weight'?"},
      {Where::upstream, "servers = [1]", "1",
       "each element of 'servers' must be \"host:port\" or { address = \"host:port\", weight = N "
       "}, not an integer"},
      {Where::echo_route, "kind = 1", "1", "'kind' must be a string, not an integer"},
      {Where::echo_route, "upstream = \"app\"", "upstream",
       "key 'upstream' does not apply to a route of kind 'echo'"},
      // per-key validation
      {Where::echo_route, "origins = [\"https://a.com\", \"https://a.com/path\"]",
       "\"https://a.com/path\"", "origin pattern 'https://a.com/path' is not valid*"},
      {Where::echo_route, "origins = [\"https://a.*.com\"]", "\"https",
       "origin pattern 'https://a.*.com' is not valid*"},
      {Where::echo_route, "subprotocols = [\"chat\", \"a b\"]", "\"a b\"",
       "subprotocol 'a b' is not an HTTP token"},
      {Where::echo_route, "subprotocols = [\"chat\", \"chat\"]", "\"chat\"]",
       "duplicate subprotocol 'chat'"},
      {Where::echo_route, "require_subprotocol = true", "true",
       "'require_subprotocol' needs 'subprotocols'"},
      {Where::echo_route, "path = \"echo\"", "\"echo\"", "route path 'echo' must start with '/'*"},
      {Where::echo_route, "path = \"/../x\"", "\"", "route path '/../x' must start with '/'*"},
      {Where::echo_route, "path = \"/a%00\"", "\"", "route path '/a%00' must*"},
      {Where::echo_route, "host = \"example.com:8080\"", "\"",
       "route host 'example.com:8080' must not include a port (routes match any port)"},
      {Where::echo_route, "host = \"exa mple.com\"", "\"",
       "route host 'exa mple.com' is not a host name or address"},
      {Where::echo_route, "host = \"\"", "\"", "route host '' is not a host name or address"},
      {Where::listen, "address = \"localhost:80\"", "\"",
       "listen address 'localhost:80': 'localhost' is not an IPv4 address (names are not "
       "accepted)"},
      {Where::listen, "address = \"127.0.0.1\"", "\"",
       "listen address '127.0.0.1': needs a port (host:port or :port)"},
      {Where::listen, "address = \"[::1]80\"", "\"",
       "listen address '[::1]80': needs the form [IPv6]:port"},
      {Where::listen, "address = \"[::g]:80\"", "\"",
       "listen address '[::g]:80': '::g' is not an IPv6 address"},
      {Where::listen, "address = \"::1:80\"", "\"",
       "listen address '::1:80': an IPv6 address needs brackets: [::1]:80"},
      {Where::listen, "address = \"1.2.3.4:70000\"", "\"",
       "listen address '1.2.3.4:70000': port '70000' is not in 0-65535"},
      {Where::listen, "address = \"1.2.3.4:\"", "\"",
       "listen address '1.2.3.4:': port '' is not in 0-65535"},
      {Where::listen, "address = \"256.1.1.1:80\"", "\"", "listen address '256.1.1.1:80': *"},
      {Where::static_route, "root = \"nope\"", "\"",
       "static root '" + www + "/nope' does not exist"},
      {Where::static_route, "root = \"file.txt\"", "\"",
       "static root '" + www + "/file.txt' is not a directory"},
      {Where::static_route, "index = \"../x\"", "\"",
       "index '../x' must be a plain file name (or \"\")"},
      {Where::static_route, "cache_control = \"a\\nb\"", "\"",
       "'cache_control' must be printable ASCII without surrounding spaces"},
      {Where::server, "server_header = \" x\"", "\"", "'server_header' must be printable ASCII*"},
      {Where::server, "log_level = \"verbose\"", "\"",
       "'log_level' must be one of error, warn, info, debug; got 'verbose'"},
      {Where::server, "access_log_format = \"xml\"", "\"",
       "'access_log_format' must be \"combined\" or \"json\", got 'xml'"},
      {Where::server, "error_log = \"off\"", "\"", "'error_log' must be \"stderr\" or a file path"},
      {Where::server, "access_log = \"\"", "\"",
       "'access_log' must be \"stderr\", \"off\" or a file path"},
      {Where::upstream, "servers = [\"nohost\"]", "\"nohost\"",
       "upstream server 'nohost': needs a port (host:port)"},
      {Where::upstream, "servers = [\"a.b:0\"]", "\"", "upstream server 'a.b:0': port '0'*"},
      {Where::upstream, "servers = [\"bad_host!:80\"]", "\"",
       "upstream server 'bad_host!:80': 'bad_host!' is not a host name or address"},
      {Where::upstream, "servers = [\"1.2.3.999:80\"]", "\"",
       "upstream server '1.2.3.999:80': '1.2.3.999' is not a host name or address"},
      {Where::upstream, "health_check = { type = \"udp\" }", "\"udp\"",
       "'type' must be \"tcp\" or \"http\"; got 'udp'"},
      {Where::upstream, "health_check = { path = \"/x\" }", "{",
       "'health_check' needs a 'type' (\"tcp\" or \"http\")"},
      {Where::upstream, "health_check = { type = \"http\", path = \"x y\" }", "\"x y\"",
       "'path' must start with '/' and hold no spaces or controls"},
      {Where::upstream, "health_check = { type = \"tcp\", fal = 1 }", "fal",
       "unknown key 'fal' in health_check; did you mean 'fall'?"},
      {Where::upstream, "health_check = true", "true",
       "'health_check' must be a table ({ type = \"tcp\", ... }), not a boolean"},
      {Where::upstream, "servers = [\"unix:run/app.sock\"]", "\"",
       "upstream server 'unix:run/app.sock': a unix socket path must be absolute"},
      {Where::upstream, "servers = [\"a:1\", \"a:1\"]", "\"a:1\"]",
       "duplicate upstream server 'a:1'"},
      {Where::upstream, "servers = []", "[", "upstream 'app' needs at least one server"},
      {Where::upstream, "balance = \"random\"", "\"",
       "'balance' must be round_robin, least_conn or ip_hash; got 'random'"},
  };
  for (const Row& row : rows) {
    const Built b = make(row.where, row.line);
    const auto load = parse(b.text);
    INFO(b.text);
    INFO(dump(load));
    CHECK_FALSE(load.config);
    REQUIRE(load.problems.size() == 1);
    const ConfigDiagnostic& p = load.problems[0];
    CHECK(p.file == "t.toml");
    CHECK(p.line == b.line);
    CHECK(p.column == row.line.find(row.at) + 1);
    if (!row.message.empty() && row.message.back() == '*') {
      CHECK_THAT(p.message, Catch::StartsWith(row.message.substr(0, row.message.size() - 1)));
    } else {
      CHECK(p.message == row.message);
    }
  }
}

TEST_CASE("config: whole-file problems point where they belong", "[proxy][config]") {
  struct Row {
    std::string text;
    unsigned line, column;
    std::string message;
  };
  const std::string listen = "[[listen]]\naddress = \":8080\"\n";
  const std::string route = "[[route]]\npath = \"/\"\nkind = \"echo\"\n";
  const Row rows[] = {
      {"[server]\nworkers = = 2\n", 2, 11, "*"},  // TOML syntax: toml++'s own words
      {"[sever]\n" + listen + route, 1, 2,
       "unknown top-level key 'sever' (expected server, listen, route or upstream); did you "
       "mean 'server'?"},
      {"server = 1\n" + listen + route, 1, 10, "'server' must be a table ([server])"},
      {"[listen]\naddress = \":80\"\n" + route, 1, 1,
       "'listen' must be an array of tables ([[listen]])"},
      {"upstream = [1]\n" + listen + route, 1, 12,
       "'upstream' must be a table of tables ([upstream.NAME])"},
      {listen + route + "[upstream]\napp = 1\n", 7, 7,
       "upstream 'app' must be a table ([upstream.app])"},
      {listen + route + "[upstream.\"a b\"]\nservers = [\"a:1\"]\n", 6, 11,
       "upstream name 'a b' is not a plain name"},
      {listen + route + "[upstream.app]\nbalance = \"ip_hash\"\n", 6, 1,
       "upstream 'app' needs 'servers'"},
      {route, 1, 1, "no [[listen]] table: at least one is needed"},
      {listen, 1, 1, "no [[route]] table: at least one is needed"},
      {"[[listen]]\nbacklog = 5\n" + route, 1, 1, "[[listen]] needs an 'address'"},
      {listen + "[[route]]\nkind = \"echo\"\n", 3, 1, "[[route]] needs a 'path'"},
      {listen + "[[route]]\npath = \"/\"\n", 3, 1,
       "[[route]] needs a 'kind' (echo, static, bridge, proxy, chat or broker)"},
      {listen + "[[route]]\npath = \"/\"\nkind = \"static\"\n", 3, 1,
       "a static route needs a 'root' directory"},
      {listen + route + "[[route]]\npath = \"/\"\nkind = \"echo\"\n", 7, 8,
       "duplicate route '/': first defined at line 3"},
      {listen + route + "[[route]]\nhost = \"a.com\"\npath = \"/x/../\"\nkind = \"echo\"\n" +
           "[[route]]\npath = \"/\"\nhost = \"A.com\"\nkind = \"echo\"\n",
       11, 8, "duplicate route 'a.com/': first defined at line 6"},
      {listen + "[[listen]]\naddress = \"0.0.0.0:8080\"\n" + route, 4, 11,
       "duplicate listen address '0.0.0.0:8080': first defined at line 1"},
      {listen + "[[route]]\npath = \"/\"\nkind = \"echo\"\nmax_message_size = \"1m\"\n"
                "max_frame_size = \"2m\"\n",
       7, 18, "'max_frame_size' (2 MiB) must not exceed 'max_message_size' (1 MiB)"},
      // an unknown kind: the keys of particular kinds are neither unknown nor inapplicable
      {listen + "[[route]]\npath = \"/\"\nkind = \"chatt\"\nupstream = \"vnc\"\n" +
           "subprotocols = [\"binary\"]\n",
       5, 8,
       "unknown route kind 'chatt' (expected echo, static, bridge, proxy, chat or broker); did "
       "you mean 'chat'?"},
      // upstreams may be defined after the routes that use them, but must be defined
      {listen + "[[route]]\npath = \"/\"\nkind = \"bridge\"\nupstream = \"vnc\"\n", 6, 12,
       "upstream 'vnc' is not defined (no [upstream.vnc] table)"},
  };
  for (const Row& row : rows) {
    const auto load = parse(row.text);
    INFO(row.text);
    INFO(dump(load));
    CHECK_FALSE(load.config);
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].line == row.line);
    CHECK(load.problems[0].column == row.column);
    if (row.message != "*") CHECK(load.problems[0].message == row.message);
  }
}

TEST_CASE("config: a route of unknown kind still has its common keys checked", "[proxy][config]") {
  const auto load = parse(
      "[[listen]]\naddress = \":0\"\n[[route]]\npath = \"x\"\nkind = \"nope\"\nhost = \"a:1\"\n"
      "root = \"/\"\nfoo = 1\n");
  INFO(dump(load));
  REQUIRE(load.problems.size() == 4);
  CHECK(load.problems[0].line == 4);  // path
  CHECK(load.problems[1].line == 5);  // kind
  CHECK(load.problems[2].line == 6);  // host
  CHECK(load.problems[3].line == 8);  // foo: unknown whatever the kind; root is not reported
}

TEST_CASE("config: routes that differ only in exact or host are not duplicates",
          "[proxy][config]") {
  const auto load = parse(
      "[[listen]]\naddress = \":0\"\n[[listen]]\naddress = \":0\"\n"
      "[[route]]\npath = \"/a\"\nkind = \"echo\"\n"
      "[[route]]\npath = \"/a\"\nkind = \"echo\"\nexact = true\n"
      "[[route]]\npath = \"/a\"\nkind = \"echo\"\nhost = \"x.org\"\n");
  INFO(dump(load));
  REQUIRE(load.config);
  CHECK(load.config->listen.size() == 2);  // port 0 twice: two different free ports
  REQUIRE(load.config->routes.size() == 3);
  CHECK(load.config->routes[0].line == 5);
  CHECK(load.config->routes[2].line == 12);
}

TEST_CASE("config: every problem is reported, in file order", "[proxy][config]") {
  const auto load = parse(
      "[server]\n"
      "workers = 999\n"
      "log_levl = \"info\"\n"
      "[[listen]]\n"
      "address = \"nowhere\"\n"
      "[[route]]\n"
      "path = \"/a\"\n"
      "kind = \"echo\"\n"
      "root = \"/\"\n"
      "ping_interval = \"soon\"\n");
  INFO(dump(load));
  CHECK_FALSE(load.config);
  REQUIRE(load.problems.size() == 5);
  const unsigned lines[] = {2, 3, 5, 9, 10};
  for (std::size_t i = 0; i < 5; ++i) CHECK(load.problems[i].line == lines[i]);
  CHECK(load.problems[1].to_string() ==
        "t.toml:3:1: unknown key 'log_levl' in [server]; did you mean 'log_level'?");
}

TEST_CASE("config: diagnostics print compiler-style", "[proxy][config]") {
  CHECK(ConfigDiagnostic{"a.toml", 12, 9, "bad"}.to_string() == "a.toml:12:9: bad");
  CHECK(ConfigDiagnostic{"a.toml", 0, 0, "cannot read"}.to_string() == "a.toml: cannot read");
}

TEST_CASE("config: load_config resolves relative paths against the file", "[proxy][config]") {
  const fs::path file = fs::path(base_dir()) / "site.toml";
  std::ofstream(file) << "[server]\naccess_log = \"logs/access.log\"\n"
                         "[[listen]]\naddress = \"127.0.0.1:0\"\n"
                         "[[route]]\npath = \"/\"\nkind = \"static\"\nroot = \"www\"\n";
  const auto load = load_config(file.string());
  INFO(dump(load));
  REQUIRE(load.config);
  CHECK(load.config->file == file.string());
  CHECK(load.config->server.access_log == base_dir() + "/logs/access.log");
  CHECK(load.config->routes[0].static_files.root == base_dir() + "/www");
}

TEST_CASE("config: load_config reports unreadable files", "[proxy][config]") {
  for (const std::string& path : {std::string("/nonexistent/wsgate.toml"), base_dir()}) {
    const auto load = load_config(path);
    CHECK_FALSE(load.config);
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].file == path);
    CHECK(load.problems[0].line == 0);
  }
}

TEST_CASE("config: the shipped configs/wsgate.toml loads", "[proxy][config]") {
  const auto load = load_config((kRepo / "configs" / "wsgate.toml").string());
  INFO(dump(load));
  REQUIRE(load.config);
  CHECK_FALSE(load.config->listen.empty());
  CHECK_FALSE(load.config->routes.empty());
}

TEST_CASE("config: docs/CONFIG.md documents every key", "[proxy][config]") {
  std::ifstream in(kRepo / "docs" / "CONFIG.md");
  std::stringstream doc;
  doc << in.rdbuf();
  const std::string text = doc.str();
  REQUIRE_FALSE(text.empty());
  const char* keys[] = {"workers",
                        "log_level",
                        "error_log",
                        "access_log",
                        "access_log_format",
                        "server_header",
                        "max_url_bytes",
                        "max_head_bytes",
                        "max_header_count",
                        "max_body_bytes",
                        "header_timeout",
                        "keepalive_timeout",
                        "send_timeout",
                        "shutdown_timeout",
                        "address",
                        "backlog",
                        "path",
                        "exact",
                        "host",
                        "kind",
                        "max_message_size",
                        "max_frame_size",
                        "ping_interval",
                        "pong_timeout",
                        "idle_timeout",
                        "close_timeout",
                        "interval",
                        "origins",
                        "allow_missing_origin",
                        "subprotocols",
                        "require_subprotocol",
                        "max_backpressure",
                        "root",
                        "index",
                        "cache_control",
                        "servers",
                        "balance"};
  for (const char* key : keys) {
    INFO(key);
    CHECK(text.find("| `" + std::string(key) + "` |") != std::string::npos);
  }
}
