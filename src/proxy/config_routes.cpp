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

// The [[route]] section: which keys each route kind takes, and the rules across them.

namespace wsgate::proxy::config_detail {

namespace {

// Route keys. `kind` is read before the others (it decides which apply), so its entry here
// only makes it a known key.
const KeySpec<RouteConfig> kRouteKeys[] = {
    {"path",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       auto norm = v.empty() || v.front() != '/' ? std::nullopt : normalize_path(v);
       if (!norm) {
         c.error(n,
                 "route path " + quote(v) +
                     " must start with '/' and have no '..' above the root, %00 or bad %-escape");
         return;
       }
       r.path = *norm;
     }},
    {"exact", [](Ctx& c, const toml::node& n, std::string_view k,
                 RouteConfig& r) { read_bool(c, n, k, r.exact); }},
    {"host",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v, canon;
       if (!read_string(c, n, k, v)) return;
       const std::string why = canonical_route_host(v, canon);
       if (!why.empty()) return c.error(n, "route host " + quote(v) + " " + why);
       r.host = canon;
     }},
    {"kind", [](Ctx&, const toml::node&, std::string_view, RouteConfig&) {}},
    {"upstream",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       // Whether the upstream exists is checked once every section is read.
       if (read_string(c, n, k, r.upstream) && r.upstream.empty()) {
         c.error(n, "'upstream' must name an [upstream.NAME] table");
       }
     },
     kKindBridge | kKindProxy},
    {"upstream_host",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       const bool ok = !v.empty() && std::all_of(v.begin(), v.end(), [](char ch) {
         return ch > ' ' && ch != 0x7f && ch != ',' && ch != '/';
       });
       if (!ok) return c.error(n, quote(k) + " must be a host name (with an optional :port)");
       r.proxy.upstream_host = v;
     },
     kKindProxy},
    {"passthrough",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_bool(c, n, k, r.proxy.passthrough);
     },
     kKindProxy},
    {"response_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, true, r.proxy.response_timeout);
     },
     kKindProxy},
    {"read_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, true, r.proxy.read_timeout);
     },
     kKindProxy},
    {"max_body_size",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::uint64_t v = 0;
       if (read_size(c, n, k, 0, kTiB, v)) r.proxy.max_body_size = v;
     },
     kKindProxy},
    {"targets",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       if (!n.is_table()) return type_error(c, n, k, "a table of token = \"host:port\"");
       for (const auto& [token, target] : *n.as_table()) {
         std::string v;
         UpstreamServerConfig parsed;
         if (token.str().empty()) c.error(token.source(), "a target token must not be empty");
         if (!read_string(c, target, "targets." + std::string(token.str()), v)) continue;
         const std::string why = parse_server_address(v, parsed);
         if (!why.empty()) {
           c.error(target, "target " + quote(v) + " of token " + quote(token.str()) + ": " + why);
           continue;
         }
         r.bridge.targets.emplace(std::string(token.str()), v);
       }
     },
     kKindBridge},
    {"targets_file",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v.empty()) return c.error(n, "'targets_file' must not be empty");
       const std::string path = resolve(c, v);
       std::error_code ec;
       if (!fs::is_regular_file(path, ec)) {
         return c.error(n, "targets file " + quote(path) + " is not a readable file");
       }
       r.bridge.targets_file = path;
     },
     kKindBridge},
    {"token_param",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v.empty() || !std::all_of(v.begin(), v.end(), proto::is_tchar)) {
         return c.error(n, quote(k) + " must be a plain query parameter name");
       }
       r.bridge.token_param = v;
     },
     kKindBridge},
    {"text",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v == "bytes") {
         r.bridge.text = BridgeText::bytes;
       } else if (v == "reject") {
         r.bridge.text = BridgeText::reject;
       } else {
         c.error(n, quote(k) + " must be \"bytes\" or \"reject\"; got " + quote(v));
       }
     },
     kKindBridge},
    {"connect_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, true, r.bridge.connect_timeout);
     },
     kKindBridge},
    {"max_message_size",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_size(c, n, k, 1, kGiB, r.ws.max_message_size);
     },
     kWsKinds},
    {"max_frame_size",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_size(c, n, k, 1, kGiB, r.ws.max_frame_size);
     },
     kWsKinds},
    {"ping_interval",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, false, r.ws.ping_interval);
     },
     kWsKinds},
    {"pong_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, true, r.ws.pong_timeout);
     },
     kWsKinds},
    {"idle_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, false, r.ws.idle_timeout);
     },
     kWsKinds},
    {"close_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, true, r.ws.close_timeout);
     },
     kWsKinds},
    {"interval",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, false, r.ws.interval);
     },
     kWsServedKinds},
    {"origins",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::vector<const toml::node*> nodes;
       read_string_list(c, n, k, r.ws.origins, nodes);
       for (std::size_t i = 0; i < nodes.size(); ++i) {
         if (!proto::is_valid_origin_pattern(r.ws.origins[i])) {
           c.error(*nodes[i], "origin pattern " + quote(r.ws.origins[i]) +
                                  " is not valid (expected \"*\", \"null\" or "
                                  "scheme://host[:port], the host may start with \"*.\")");
         }
       }
     },
     kWsKinds},
    {"allow_missing_origin",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_bool(c, n, k, r.ws.allow_missing_origin);
     },
     kWsKinds},
    {"subprotocols",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::vector<const toml::node*> nodes;
       auto& list = r.ws.subprotocols;
       read_string_list(c, n, k, list, nodes);
       for (std::size_t i = 0; i < nodes.size(); ++i) {
         if (!proto::is_token(list[i])) {
           c.error(*nodes[i], "subprotocol " + quote(list[i]) + " is not an HTTP token");
         } else if (std::find(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(i),
                              list[i]) != list.begin() + static_cast<std::ptrdiff_t>(i)) {
           c.error(*nodes[i], "duplicate subprotocol " + quote(list[i]));
         }
       }
     },
     kWsServedKinds},
    {"require_subprotocol",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_bool(c, n, k, r.ws.require_subprotocol);
     },
     kWsServedKinds},
    {"compression",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v == "off") {
         r.ws.compression = Compression::off;
       } else if (v == "shared") {
         r.ws.compression = Compression::shared;
       } else if (v == "dedicated") {
         r.ws.compression = Compression::dedicated;
       } else if (v == "passthrough") {
         r.ws.compression = Compression::passthrough;  // proxy routes only: checked with the kind
       } else {
         c.error(n, quote(k) + " must be off, shared, dedicated or passthrough; got " + quote(v));
       }
     },
     kWsKinds},
    {"compression_level",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 9, v)) r.ws.compression_level = static_cast<int>(v);
     },
     kWsKinds},
    {"compression_min_size",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_size(c, n, k, 0, kGiB, r.ws.compression_min_size);
     },
     kWsKinds},
    {"window_bits",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 9, 15, v)) r.ws.window_bits = static_cast<int>(v);
     },
     kWsKinds},
    {"mem_level",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 9, v)) r.ws.mem_level = static_cast<int>(v);
     },
     kWsKinds},
    {"max_backpressure",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_size(c, n, k, 1, kGiB, r.ws.max_backpressure);
     },
     kWsKinds},
    {"root",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v.empty()) return c.error(n, "static root must not be empty");
       const std::string path = resolve(c, v);
       std::error_code ec;
       const auto st = fs::status(path, ec);
       if (!fs::exists(st)) return c.error(n, "static root " + quote(path) + " does not exist");
       if (!fs::is_directory(st)) {
         return c.error(n, "static root " + quote(path) + " is not a directory");
       }
       r.static_files.root = path;
     },
     kKindStatic},
    {"index",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (v == "." || v == ".." || v.find('/') != std::string::npos ||
           v.find('\0') != std::string::npos) {
         return c.error(n, "index " + quote(v) + " must be a plain file name (or \"\")");
       }
       r.static_files.index = v;
     },
     kKindStatic},
    {"cache_control",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       if (!is_plain_field_value(v)) {
         return c.error(n, quote(k) + " must be printable ASCII without surrounding spaces");
       }
       r.static_files.cache_control = v;
     },
     kKindStatic},
};

constexpr std::string_view kAvailableKinds[] = {"echo",  "static", "bridge",
                                                "proxy", "chat",   "broker"};

// The general keys and the hosted kinds' keys, as one table.
std::span<const KeySpec<RouteConfig>> all_route_keys() {
  static const std::vector<KeySpec<RouteConfig>> all = [] {
    std::vector<KeySpec<RouteConfig>> v(std::begin(kRouteKeys), std::end(kRouteKeys));
    const auto hosted = hosted_route_keys();
    v.insert(v.end(), hosted.begin(), hosted.end());
    return v;
  }();
  return all;
}

const char* kind_name(RouteKind k) {
  switch (k) {
    case RouteKind::echo: return "echo";
    case RouteKind::static_files: return "static";
    case RouteKind::bridge: return "bridge";
    case RouteKind::proxy: return "proxy";
    case RouteKind::chat: return "chat";
    case RouteKind::broker: return "broker";
  }
  return "?";
}

// Reads `kind` first; returns the kind bit for read_keys (kKindUnknown if missing or unusable).
unsigned read_kind(Ctx& c, const toml::table& t, RouteConfig& r) {
  const toml::node* n = t.get("kind");
  if (n == nullptr) {
    c.error(t, "[[route]] needs a 'kind' (echo, static, bridge, proxy, chat or broker)");
    return kKindUnknown;
  }
  std::string v;
  if (!read_string(c, *n, "kind", v)) return kKindUnknown;
  for (RouteKind k : {RouteKind::echo, RouteKind::static_files, RouteKind::bridge, RouteKind::proxy,
                      RouteKind::chat, RouteKind::broker}) {
    if (v == kind_name(k)) {
      r.kind = k;
      return 1u << static_cast<unsigned>(k);
    }
  }
  c.error(*n, "unknown route kind " + quote(v) +
                  " (expected echo, static, bridge, proxy, chat or broker)" +
                  suggestion(v, kAvailableKinds));
  return kKindUnknown;
}

// Kind-specific rules that span several keys of a bridge route.
void check_bridge(Ctx& c, const toml::table& t, RouteConfig& r, std::vector<UpstreamRef>& refs) {
  const bool has_upstream = t.contains("upstream");
  const bool has_targets = t.contains("targets") || t.contains("targets_file");
  if (has_upstream == has_targets) {
    c.error(t, "a bridge route needs either 'upstream' or 'targets'/'targets_file' (not both)");
  }
  if (has_upstream && !r.upstream.empty())
    refs.push_back({r.upstream, t.get("upstream")->source()});
  if (t.contains("connect_timeout") && has_upstream) {
    c.error(*t.get("connect_timeout"),
            "'connect_timeout' of a bridge route applies to its targets; an upstream has its own");
  }
  // noVNC and websockify speak these; a client offering neither gets raw binary.
  if (!t.contains("subprotocols")) r.ws.subprotocols = {"binary", "base64"};
}

void check_proxy(Ctx& c, const toml::table& t, RouteConfig& r, std::vector<UpstreamRef>& refs) {
  if (!t.contains("upstream")) return c.error(t, "a proxy route needs an 'upstream'");
  if (!r.upstream.empty()) refs.push_back({r.upstream, t.get("upstream")->source()});
}

}  // namespace

void read_route(Ctx& c, const toml::table& t, std::vector<SeenRoute>& seen,
                std::vector<UpstreamRef>& refs, Config& cfg) {
  RouteConfig r;
  r.line = static_cast<unsigned>(t.source().begin.line);
  const unsigned mask = read_kind(c, t, r);
  const std::size_t before = c.problems.size();
  read_keys(c, t, "[[route]]", all_route_keys(), r, mask, kind_name(r.kind));
  const toml::node* path = t.get("path");
  if (path == nullptr) c.error(t, "[[route]] needs a 'path'");
  if (mask == kKindStatic && t.get("root") == nullptr) {
    c.error(t, "a static route needs a 'root' directory");
  }
  if (mask == kKindBridge) check_bridge(c, t, r, refs);
  if (mask == kKindProxy) check_proxy(c, t, r, refs);
  if ((mask & kHostedKinds) != 0) check_hosted(c, t, r, mask);
  if ((mask & kWsKinds) != 0) {
    if (t.get("max_frame_size") == nullptr) {
      r.ws.max_frame_size = std::min(r.ws.max_frame_size, r.ws.max_message_size);
    } else if (r.ws.max_frame_size > r.ws.max_message_size) {
      c.error(*t.get("max_frame_size"), "'max_frame_size' (" + size_text(r.ws.max_frame_size) +
                                            ") must not exceed 'max_message_size' (" +
                                            size_text(r.ws.max_message_size) + ")");
    }
    if (r.ws.require_subprotocol && r.ws.subprotocols.empty()) {
      c.error(*t.get("require_subprotocol"), "'require_subprotocol' needs 'subprotocols'");
    }
    if (r.ws.compression == Compression::passthrough && mask != kKindProxy) {
      c.error(*t.get("compression"), "compression = \"passthrough\" applies to proxy routes only");
    }
    if (r.ws.compression != Compression::off && r.proxy.passthrough) {
      c.error(*t.get("compression"),
              "a passthrough = true tunnel carries whatever compression the client and the "
              "upstream agree on: drop 'compression'");
    }
    for (const char* key : {"window_bits", "mem_level"}) {
      if (t.contains(key) && r.ws.compression != Compression::dedicated) {
        c.error(*t.get(key), quote(key) + " applies to compression = \"dedicated\"");
      }
    }
    for (const char* key : {"compression_level", "compression_min_size"}) {
      if (t.contains(key) && r.ws.compression != Compression::shared &&
          r.ws.compression != Compression::dedicated) {
        c.error(*t.get(key), quote(key) + " applies to compression = \"shared\" or \"dedicated\"");
      }
    }
  }
  if (c.problems.size() != before || path == nullptr || mask == kKindUnknown) return;
  const std::string key = r.host.value_or("") + " " + r.path + (r.exact ? " exact" : "");
  for (const SeenRoute& s : seen) {
    if (s.key == key) {
      c.error(*path, "duplicate route " + quote(r.name()) + (r.exact ? " (exact)" : "") +
                         ": first defined at line " + std::to_string(s.line));
      return;
    }
  }
  seen.push_back({key, r.line});
  cfg.routes.push_back(std::move(r));
}

}  // namespace wsgate::proxy::config_detail
