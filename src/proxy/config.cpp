#include "proxy/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <system_error>

#include "proto/http_message.hpp"
#include "proto/ws_handshake.hpp"
#include "proxy/config_reader.hpp"
#include "proxy/router.hpp"

namespace wsgate::proxy {

namespace {

using namespace config_detail;

// --- key tables --------------------------------------------------------------------------------

void read_log_path(Ctx& c, const toml::node& n, std::string_view key, std::string& out,
                   bool allow_off) {
  std::string v;
  if (!read_string(c, n, key, v)) return;
  if (v.empty() || (!allow_off && v == "off")) {
    c.error(n, quote(key) + (allow_off ? " must be \"stderr\", \"off\" or a file path"
                                       : " must be \"stderr\" or a file path"));
    return;
  }
  out = (v == "stderr" || v == "off") ? v : resolve(c, v);
}

const KeySpec<ServerConfig> kServerKeys[] = {
    {"workers",
     [](Ctx& c, const toml::node& n, std::string_view k, ServerConfig& s) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 0, kMaxWorkers, v)) s.workers = static_cast<unsigned>(v);
     }},
    {"log_level",
     [](Ctx& c, const toml::node& n, std::string_view k, ServerConfig& s) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (auto level = log::parse_level(v)) {
         s.log_level = *level;
       } else {
         c.error(n, quote(k) + " must be one of error, warn, info, debug; got " + quote(v));
       }
     }},
    {"error_log", [](Ctx& c, const toml::node& n, std::string_view k,
                     ServerConfig& s) { read_log_path(c, n, k, s.error_log, false); }},
    {"access_log", [](Ctx& c, const toml::node& n, std::string_view k,
                      ServerConfig& s) { read_log_path(c, n, k, s.access_log, true); }},
    {"access_log_format",
     [](Ctx& c, const toml::node& n, std::string_view k, ServerConfig& s) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v == "combined") {
         s.access_log_format = AccessLogFormat::combined;
       } else if (v == "json") {
         s.access_log_format = AccessLogFormat::json;
       } else {
         c.error(n, quote(k) + " must be \"combined\" or \"json\", got " + quote(v));
       }
     }},
    {"server_header",
     [](Ctx& c, const toml::node& n, std::string_view k, ServerConfig& s) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (!is_plain_field_value(v) || v.size() > 256) {
         c.error(n, quote(k) +
                        " must be printable ASCII without surrounding spaces, at most "
                        "256 bytes");
         return;
       }
       s.server_header = v;
     }},
    {"max_url_bytes", [](Ctx& c, const toml::node& n, std::string_view k,
                         ServerConfig& s) { read_size_as(c, n, k, 1, kMiB, s.max_url_bytes); }},
    {"max_head_bytes",
     [](Ctx& c, const toml::node& n, std::string_view k, ServerConfig& s) {
       read_size_as(c, n, k, kKiB, kMiB, s.max_head_bytes);
     }},
    {"max_header_count",
     [](Ctx& c, const toml::node& n, std::string_view k, ServerConfig& s) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 10000, v)) s.max_header_count = static_cast<std::size_t>(v);
     }},
    {"max_body_bytes", [](Ctx& c, const toml::node& n, std::string_view k,
                          ServerConfig& s) { read_size(c, n, k, 0, kTiB, s.max_body_bytes); }},
    {"header_timeout", [](Ctx& c, const toml::node& n, std::string_view k,
                          ServerConfig& s) { read_duration(c, n, k, true, s.header_timeout); }},
    {"keepalive_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, ServerConfig& s) {
       read_duration(c, n, k, true, s.keepalive_timeout);
     }},
    {"send_timeout", [](Ctx& c, const toml::node& n, std::string_view k,
                        ServerConfig& s) { read_duration(c, n, k, true, s.send_timeout); }},
    {"shutdown_timeout", [](Ctx& c, const toml::node& n, std::string_view k,
                            ServerConfig& s) { read_duration(c, n, k, true, s.shutdown_timeout); }},
};

// The files of a certificate: both must be readable files (OpenSSL checks the contents when the
// configuration is built).
void read_cert_pair(Ctx& c, const toml::table& t, std::string_view where, TlsCertConfig& out) {
  for (const char* key : {"cert", "key"}) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      c.error(t, std::string(where) + " needs '" + key + "'");
      continue;
    }
    std::string v;
    if (!read_string(c, *n, key, v)) continue;
    const std::string path = v.empty() ? v : resolve(c, v);
    std::error_code ec;
    if (path.empty() || !fs::is_regular_file(path, ec)) {
      c.error(*n, std::string(key) + " file " + quote(path) + " is not a readable file");
      continue;
    }
    (std::string_view(key) == "cert" ? out.cert : out.key) = path;
  }
}

const KeySpec<ListenTlsConfig> kListenTlsKeys[] = {
    {"cert", [](Ctx&, const toml::node&, std::string_view, ListenTlsConfig&) {}},
    {"key", [](Ctx&, const toml::node&, std::string_view, ListenTlsConfig&) {}},
    {"sni",
     [](Ctx& c, const toml::node& n, std::string_view k, ListenTlsConfig& t) {
       if (!n.is_array()) return type_error(c, n, k, "an array of { cert = ..., key = ... }");
       for (const toml::node& e : *n.as_array()) {
         if (!e.is_table()) {
           c.error(e, "each 'sni' entry must be a table { cert = \"...\", key = \"...\" }");
           continue;
         }
         for (const auto& [key, v] : *e.as_table()) {
           if (key.str() != "cert" && key.str() != "key") {
             c.error(key.source(), "unknown key " + quote(key.str()) + " in an 'sni' entry");
           }
         }
         TlsCertConfig pair;
         read_cert_pair(c, *e.as_table(), "an 'sni' entry", pair);
         t.certificates.push_back(std::move(pair));
       }
     }},
    {"ciphers", [](Ctx& c, const toml::node& n, std::string_view k,
                   ListenTlsConfig& t) { read_string(c, n, k, t.ciphers); }},
    {"ciphersuites", [](Ctx& c, const toml::node& n, std::string_view k,
                        ListenTlsConfig& t) { read_string(c, n, k, t.ciphersuites); }},
};

const KeySpec<ListenConfig> kListenKeys[] = {
    {"tls",
     [](Ctx& c, const toml::node& n, std::string_view k, ListenConfig& l) {
       if (!n.is_table()) return type_error(c, n, k, "a table { cert = \"...\", key = \"...\" }");
       ListenTlsConfig t;
       TlsCertConfig first;
       read_cert_pair(c, *n.as_table(), "'tls'", first);
       t.certificates.push_back(std::move(first));
       read_keys(c, *n.as_table(), "tls", kListenTlsKeys, t);
       l.tls = std::move(t);
     }},
    {"redirect_https", [](Ctx& c, const toml::node& n, std::string_view k,
                          ListenConfig& l) { read_bool(c, n, k, l.redirect_https); }},
    {"redirect_https_port",
     [](Ctx& c, const toml::node& n, std::string_view k, ListenConfig& l) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 65535, v)) l.redirect_https_port = static_cast<std::uint16_t>(v);
     }},
    {"address",
     [](Ctx& c, const toml::node& n, std::string_view k, ListenConfig& l) {
       if (!read_string(c, n, k, l.address)) return;
       const std::string why = parse_listen_address(l.address, l);
       if (!why.empty()) c.error(n, "listen address " + quote(l.address) + ": " + why);
     }},
    {"backlog",
     [](Ctx& c, const toml::node& n, std::string_view k, ListenConfig& l) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 65535, v)) l.backlog = static_cast<int>(v);
     }},
};

// One element of `servers`: "host:port" or { address = "host:port", weight = N }.
void read_upstream_server(Ctx& c, const toml::node& e, UpstreamConfig& u) {
  UpstreamServerConfig srv;
  const toml::node* address = &e;
  if (e.is_table()) {
    address = nullptr;
    for (const auto& [key, node] : *e.as_table()) {
      if (key.str() == "address") {
        address = &node;
      } else if (key.str() == "weight") {
        std::int64_t w = 1;
        if (read_int(c, node, "weight", 1, 1000, w)) srv.weight = static_cast<unsigned>(w);
      } else {
        constexpr std::string_view known[] = {"address", "weight"};
        c.error(key.source(), "unknown key " + quote(key.str()) + " in an upstream server" +
                                  suggestion(key.str(), known));
      }
    }
    if (address == nullptr) return c.error(e, "an upstream server table needs an 'address'");
  } else if (!e.is_string()) {
    return c.error(e,
                   "each element of 'servers' must be \"host:port\" or "
                   "{ address = \"host:port\", weight = N }, not " +
                       std::string(type_name(e)));
  }
  if (!read_string(c, *address, "address", srv.address)) return;
  const std::string why = parse_server_address(srv.address, srv);
  if (!why.empty()) return c.error(*address, "upstream server " + quote(srv.address) + ": " + why);
  for (const UpstreamServerConfig& other : u.servers) {
    if (other.address == srv.address) {
      return c.error(*address, "duplicate upstream server " + quote(srv.address));
    }
  }
  u.servers.push_back(std::move(srv));
}

const KeySpec<HealthCheckConfig> kHealthCheckKeys[] = {
    {"type",
     [](Ctx& c, const toml::node& n, std::string_view k, HealthCheckConfig& h) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v == "tcp") {
         h.type = HealthCheckConfig::Type::tcp;
       } else if (v == "http") {
         h.type = HealthCheckConfig::Type::http;
       } else {
         c.error(n, quote(k) + " must be \"tcp\" or \"http\"; got " + quote(v));
       }
     }},
    {"path",
     [](Ctx& c, const toml::node& n, std::string_view k, HealthCheckConfig& h) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       const bool ok =
           !v.empty() && v.front() == '/' &&
           std::all_of(v.begin(), v.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
       if (!ok) return c.error(n, quote(k) + " must start with '/' and hold no spaces or controls");
       h.path = v;
     }},
    {"interval", [](Ctx& c, const toml::node& n, std::string_view k,
                    HealthCheckConfig& h) { read_duration(c, n, k, true, h.interval); }},
    {"timeout", [](Ctx& c, const toml::node& n, std::string_view k,
                   HealthCheckConfig& h) { read_duration(c, n, k, true, h.timeout); }},
    {"fall",
     [](Ctx& c, const toml::node& n, std::string_view k, HealthCheckConfig& h) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 100, v)) h.fall = static_cast<unsigned>(v);
     }},
    {"rise",
     [](Ctx& c, const toml::node& n, std::string_view k, HealthCheckConfig& h) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 100, v)) h.rise = static_cast<unsigned>(v);
     }},
};

const KeySpec<UpstreamConfig> kUpstreamKeys[] = {
    {"servers",
     [](Ctx& c, const toml::node& n, std::string_view k, UpstreamConfig& u) {
       if (!n.is_array()) return type_error(c, n, k, "an array of \"host:port\" strings");
       if (n.as_array()->empty()) {
         c.error(n, "upstream " + quote(u.name) + " needs at least one server");
       }
       for (const toml::node& e : *n.as_array()) read_upstream_server(c, e, u);
     }},
    {"balance",
     [](Ctx& c, const toml::node& n, std::string_view k, UpstreamConfig& u) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v == "round_robin") {
         u.balance = Balance::round_robin;
       } else if (v == "least_conn") {
         u.balance = Balance::least_conn;
       } else if (v == "ip_hash") {
         u.balance = Balance::ip_hash;
       } else {
         c.error(n, quote(k) + " must be round_robin, least_conn or ip_hash; got " + quote(v));
       }
     }},
    {"connect_timeout", [](Ctx& c, const toml::node& n, std::string_view k,
                           UpstreamConfig& u) { read_duration(c, n, k, true, u.connect_timeout); }},
    {"max_fails",
     [](Ctx& c, const toml::node& n, std::string_view k, UpstreamConfig& u) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 0, 1000, v)) u.max_fails = static_cast<unsigned>(v);
     }},
    {"fail_timeout", [](Ctx& c, const toml::node& n, std::string_view k,
                        UpstreamConfig& u) { read_duration(c, n, k, true, u.fail_timeout); }},
    {"resolve_interval",
     [](Ctx& c, const toml::node& n, std::string_view k, UpstreamConfig& u) {
       read_duration(c, n, k, false, u.resolve_interval);
     }},
    {"tls", [](Ctx& c, const toml::node& n, std::string_view k,
               UpstreamConfig& u) { read_bool(c, n, k, u.tls); }},
    {"tls_ca",
     [](Ctx& c, const toml::node& n, std::string_view k, UpstreamConfig& u) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       const std::string path = v.empty() ? v : resolve(c, v);
       std::error_code ec;
       if (path.empty() || !fs::is_regular_file(path, ec)) {
         return c.error(n, "tls_ca file " + quote(path) + " is not a readable file");
       }
       u.tls_ca = path;
     }},
    {"tls_server_name", [](Ctx& c, const toml::node& n, std::string_view k,
                           UpstreamConfig& u) { read_string(c, n, k, u.tls_server_name); }},
    {"insecure_skip_verify", [](Ctx& c, const toml::node& n, std::string_view k,
                                UpstreamConfig& u) { read_bool(c, n, k, u.insecure_skip_verify); }},
    {"keepalive",
     [](Ctx& c, const toml::node& n, std::string_view k, UpstreamConfig& u) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 0, 10000, v)) u.keepalive = static_cast<unsigned>(v);
     }},
    {"keepalive_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, UpstreamConfig& u) {
       read_duration(c, n, k, true, u.keepalive_timeout);
     }},
    {"health_check",
     [](Ctx& c, const toml::node& n, std::string_view k, UpstreamConfig& u) {
       if (!n.is_table()) return type_error(c, n, k, "a table ({ type = \"tcp\", ... })");
       read_keys(c, *n.as_table(), "health_check", kHealthCheckKeys, u.health_check);
       if (!n.as_table()->contains("type")) {
         c.error(n, "'health_check' needs a 'type' (\"tcp\" or \"http\")");
       }
     }},
};

// --- sections ---------------------------------------------------------------------------------

void read_listen(Ctx& c, const toml::table& t, Config& cfg) {
  ListenConfig l;
  l.line = static_cast<unsigned>(t.source().begin.line);
  const std::size_t before = c.problems.size();
  read_keys(c, t, "[[listen]]", kListenKeys, l);
  const toml::node* address = t.get("address");
  if (address == nullptr) return c.error(t, "[[listen]] needs an 'address'");
  if (l.tls && l.redirect_https) {
    c.error(*t.get("redirect_https"), "'redirect_https' is for plain listeners (this one is TLS)");
  }
  if (t.contains("redirect_https_port") && !l.redirect_https) {
    c.error(*t.get("redirect_https_port"), "'redirect_https_port' needs redirect_https = true");
  }
  if (c.problems.size() != before) return;
  for (const ListenConfig& other : cfg.listen) {
    if (l.port != 0 && other.port == l.port && other.host == l.host) {
      return c.error(*address, "duplicate listen address " + quote(l.address) +
                                   ": first defined at line " + std::to_string(other.line));
    }
  }
  cfg.listen.push_back(std::move(l));
}

void read_upstreams(Ctx& c, const toml::table& t, Config& cfg) {
  for (const auto& [key, node] : t) {
    const std::string name(key.str());
    const bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
      return proto::is_tchar(ch) && ch != '*' && ch != '\'' && ch != '`';
    });
    if (!name_ok) c.error(key.source(), "upstream name " + quote(name) + " is not a plain name");
    if (!node.is_table()) {
      c.error(node, "upstream " + quote(name) + " must be a table ([upstream." + name + "])");
      continue;
    }
    UpstreamConfig u;
    u.name = name;
    u.line = static_cast<unsigned>(node.source().begin.line);
    read_keys(c, *node.as_table(), "[upstream." + name + "]", kUpstreamKeys, u);
    if (!node.as_table()->contains("servers")) {
      c.error(node, "upstream " + quote(name) + " needs 'servers'");
    }
    for (const char* tls_key : {"tls_ca", "tls_server_name", "insecure_skip_verify"}) {
      if (node.as_table()->contains(tls_key) && !u.tls) {
        c.error(*node.as_table()->get(tls_key), quote(tls_key) + " needs tls = true");
      }
    }
    for (const UpstreamServerConfig& s : u.servers) {
      if (u.tls && !s.unix_path.empty()) {
        c.error(*node.as_table()->get("servers"),
                "upstream " + quote(name) + ": tls = true with a unix: server is not supported");
        break;
      }
    }
    cfg.upstreams.emplace(name, std::move(u));
  }
}

// Runs `fn` on each table of an array of tables, reporting the wrong shapes.
template <class Fn>
void each_table(Ctx& c, const toml::node& node, std::string_view name, Fn&& fn) {
  const std::string shape =
      "'" + std::string(name) + "' must be an array of tables ([[" + std::string(name) + "]])";
  if (!node.is_array()) return c.error(node, shape);
  for (const toml::node& e : *node.as_array()) {
    if (e.is_table()) {
      fn(*e.as_table());
    } else {
      c.error(e, shape);
    }
  }
}

constexpr std::string_view kSections[] = {"server", "listen", "route", "upstream"};

void read_root(Ctx& c, const toml::table& root, Config& cfg) {
  std::vector<SeenRoute> seen;
  std::vector<UpstreamRef> refs;
  for (const auto& [key, node] : root) {
    const std::string_view name = key.str();
    if (name == "server") {
      if (!node.is_table()) {
        c.error(node, "'server' must be a table ([server])");
      } else {
        read_keys(c, *node.as_table(), "[server]", kServerKeys, cfg.server);
      }
    } else if (name == "listen") {
      each_table(c, node, name, [&](const toml::table& t) { read_listen(c, t, cfg); });
    } else if (name == "route") {
      each_table(c, node, name, [&](const toml::table& t) { read_route(c, t, seen, refs, cfg); });
    } else if (name == "upstream") {
      if (!node.is_table()) {
        c.error(node, "'upstream' must be a table of tables ([upstream.NAME])");
      } else {
        read_upstreams(c, *node.as_table(), cfg);
      }
    } else {
      c.error(key.source(), "unknown top-level key " + quote(name) +
                                " (expected server, listen, route or upstream)" +
                                suggestion(name, kSections));
    }
  }
  for (const UpstreamRef& ref : refs) {
    if (cfg.upstreams.count(ref.name) == 0) {
      c.error(ref.where, "upstream " + quote(ref.name) + " is not defined (no [upstream." +
                             ref.name + "] table)");
    }
  }
  const toml::source_region top{{1, 1}, {1, 1}, nullptr};
  if (!root.contains("listen")) c.error(top, "no [[listen]] table: at least one is needed");
  if (!root.contains("route")) c.error(top, "no [[route]] table: at least one is needed");
}

}  // namespace

// Upstream servers and bridge targets: "name:port", "1.2.3.4:port", "[v6]:port" or
// "unix:/absolute/path". Fills the server's host/port or unix_path; returns "" when valid, else
// why not.
std::string parse_server_address(std::string_view s, UpstreamServerConfig& out) {
  if (s.substr(0, 5) == "unix:") {
    const std::string_view path = s.substr(5);
    if (path.size() < 2 || path.front() != '/') return "a unix socket path must be absolute";
    if (path.size() > kMaxUnixPath) return "a unix socket path is limited to 107 bytes";
    out.unix_path = std::string(path);
    return {};
  }
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    const std::size_t close = s.find("]:");
    if (close == std::string_view::npos) return "needs the form [IPv6]:port";
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    if (!canonical_ip(AF_INET6, std::string(host))) return "not an IPv6 address";
  } else {
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return "needs a port (host:port)";
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return "an IPv6 address needs brackets: [::1]:80";
    const bool ok = looks_numeric(host) ? canonical_ip(AF_INET, std::string(host)).has_value()
                                        : is_host_name(host);
    if (!ok) return "'" + std::string(host) + "' is not a host name or address";
  }
  const auto p = parse_port(port, false);
  if (!p) return "port '" + std::string(port) + "' is not in 1-65535";
  out.host = std::string(host);
  out.port = *p;
  return {};
}

std::string ConfigDiagnostic::to_string() const {
  std::string s = file;
  if (line != 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  return s + ": " + message;
}

std::string RouteConfig::name() const {
  if (!host) return path;
  if (host->find(':') != std::string::npos) return "[" + *host + "]" + path;
  return *host + path;
}

ConfigLoad parse_config(std::string_view toml_text, const std::string& source_name,
                        const std::string& base_dir) {
  Ctx c{source_name, base_dir, {}};
  ConfigLoad load;
  Config cfg;
  cfg.file = source_name;
  try {
    const toml::table root = toml::parse(toml_text, std::string_view(source_name));
    read_root(c, root, cfg);
  } catch (const toml::parse_error& err) {
    c.error(err.source(), std::string(err.description()));
  }
  // toml++ tables iterate in key order; report in file order, as a compiler would.
  std::stable_sort(c.problems.begin(), c.problems.end(),
                   [](const ConfigDiagnostic& a, const ConfigDiagnostic& b) {
                     return a.line != b.line ? a.line < b.line : a.column < b.column;
                   });
  load.problems = std::move(c.problems);
  if (load.problems.empty()) load.config = std::move(cfg);
  return load;
}

ConfigLoad load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  std::error_code ec;
  if (in) text << in.rdbuf();
  if (!in || in.bad() || fs::is_directory(path, ec)) {
    ConfigLoad load;
    load.problems.push_back(ConfigDiagnostic{path, 0, 0, "cannot read the file"});
    return load;
  }
  fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
  if (ec) dir = fs::path(path).parent_path();
  return parse_config(text.str(), path, dir.string());
}

}  // namespace wsgate::proxy
