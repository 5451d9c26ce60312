#pragma once
// Internal to the config loader (config.cpp, config_routes.cpp): diagnostics with positions, value
// formats (sizes, durations, addresses) and the typed readers that turn toml++ nodes into config
// values, each reporting its own problem. Only proxy/config*.cpp include this (it exposes toml++).

#include <toml++/toml.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config.hpp"

namespace wsgate::proxy::config_detail {

namespace fs = std::filesystem;

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = kKiB * 1024;
inline constexpr std::uint64_t kGiB = kMiB * 1024;
inline constexpr std::uint64_t kTiB = kGiB * 1024;
inline constexpr std::int64_t kMaxDurationSeconds = 86400;  // one day: longer is a typo, not a wish
inline constexpr unsigned kMaxWorkers = 256;
inline constexpr std::size_t kMaxUnixPath = 107;  // sizeof(sockaddr_un::sun_path) - 1 on Linux

std::string quote(std::string_view s);

std::string lower(std::string_view s);

bool is_digit(char c);

// --- diagnostics ----------------------------------------------------------------------------

struct Ctx {
  std::string file;
  std::string base_dir;
  std::vector<ConfigDiagnostic> problems;

  void error(const toml::source_region& where, std::string message) {
    problems.push_back(ConfigDiagnostic{file, static_cast<unsigned>(where.begin.line),
                                        static_cast<unsigned>(where.begin.column),
                                        std::move(message)});
  }
  void error(const toml::node& node, std::string message) {
    error(node.source(), std::move(message));
  }
};

std::string_view type_name(const toml::node& n);

void type_error(Ctx& c, const toml::node& n, std::string_view key, std::string_view expected);

unsigned edit_distance(std::string_view a, std::string_view b);

// "; did you mean 'x'?" for the closest known name within edit distance 2, else "".
std::string suggestion(std::string_view got, std::span<const std::string_view> known);

// --- value formats ----------------------------------------------------------------------------

// "64k", "16MiB", "1g", "4096": powers of 1024, units case-insensitive.
std::optional<std::uint64_t> parse_size(std::string_view s);

// "500ms", "2.5s", "5m", "1h" -> milliseconds (not yet rounded or range-checked).
std::optional<double> parse_duration_ms(std::string_view s);

std::string size_text(std::uint64_t n);

std::optional<std::string> canonical_ip(int family, const std::string& text);

std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_zero);

// A DNS name: dot-separated labels of letters, digits, '-' and '_', at most 253 characters.
bool is_host_name(std::string_view h);

bool looks_numeric(std::string_view h);

// Listen addresses: "1.2.3.4:80", "[::1]:80", ":80" (all IPv4 interfaces). Names are refused:
// what a name resolves to at bind time is not something a config check can promise.
std::string parse_listen_address(std::string_view a, ListenConfig& out);

// Route hosts are compared against Host headers without their port: store them lowercased,
// without brackets, without a trailing dot.
std::string canonical_route_host(std::string_view h, std::string& out);

// Header field values we emit verbatim: visible ASCII and inner spaces (RFC 9110 §5.5).
bool is_plain_field_value(std::string_view v);

// Relative paths in the file are relative to the file, not to wsgate's working directory.
std::string resolve(const Ctx& c, const std::string& p);

// --- typed readers: each reports its own problem and returns false -------------------------

bool read_bool(Ctx& c, const toml::node& n, std::string_view key, bool& out);

bool read_string(Ctx& c, const toml::node& n, std::string_view key, std::string& out);

bool read_int(Ctx& c, const toml::node& n, std::string_view key, std::int64_t lo, std::int64_t hi,
              std::int64_t& out);

bool read_size(Ctx& c, const toml::node& n, std::string_view key, std::uint64_t lo,
               std::uint64_t hi, std::uint64_t& out);

template <class Int>
bool read_size_as(Ctx& c, const toml::node& n, std::string_view key, std::uint64_t lo,
                  std::uint64_t hi, Int& out) {
  std::uint64_t v = 0;
  if (!read_size(c, n, key, lo, hi, v)) return false;
  out = static_cast<Int>(v);
  return true;
}

bool read_duration(Ctx& c, const toml::node& n, std::string_view key, bool positive, Millis& out);

// An array of strings; reports each non-string element. `nodes` gets the element of each string.
bool read_string_list(Ctx& c, const toml::node& n, std::string_view key,
                      std::vector<std::string>& out, std::vector<const toml::node*>& nodes);

// --- key tables --------------------------------------------------------------------------------

inline constexpr unsigned kKindUnknown = 1u << 31;  // kind missing, unknown or not built yet
inline constexpr unsigned kAllKinds = ~0u;

template <class Target>
struct KeySpec {
  std::string_view name;
  void (*read)(Ctx&, const toml::node&, std::string_view key, Target&);
  unsigned kinds = kAllKinds;
};

template <class Target>
std::vector<std::string_view> names_of(std::span<const KeySpec<Target>> spec) {
  std::vector<std::string_view> names;
  for (const auto& s : spec) names.push_back(s.name);
  return names;
}

// Reads every key of `table` through `spec`. `kind_mask` is the route's kind bit (kAllKinds
// for other sections); with kKindUnknown, kind-specific keys are skipped without a word, since
// which keys apply is unknowable.
template <class Target>
void read_keys(Ctx& c, const toml::table& table, std::string_view section,
               std::span<const KeySpec<Target>> spec, Target& out, unsigned kind_mask = kAllKinds,
               std::string_view kind_name = {}) {
  for (const auto& [key, node] : table) {
    const KeySpec<Target>* found = nullptr;
    for (const auto& s : spec) {
      if (s.name == key.str()) found = &s;
    }
    if (found == nullptr) {
      const auto names = names_of(spec);
      c.error(key.source(), "unknown key " + quote(key.str()) + " in " + std::string(section) +
                                suggestion(key.str(), names));
    } else if ((found->kinds & kind_mask) == 0) {
      if (kind_mask != kKindUnknown) {
        c.error(key.source(), "key " + quote(key.str()) + " does not apply to a route of kind " +
                                  quote(kind_name));
      }
    } else {
      found->read(c, node, key.str(), out);
    }
  }
}

template <class Target, std::size_t N>
void read_keys(Ctx& c, const toml::table& table, std::string_view section,
               const KeySpec<Target> (&spec)[N], Target& out, unsigned kind_mask = kAllKinds,
               std::string_view kind_name = {}) {
  read_keys(c, table, section, std::span<const KeySpec<Target>>(spec), out, kind_mask, kind_name);
}

// --- [[route]] tables (config_routes.cpp, config_hosted.cpp) -------------------------------

// Which route kinds a key applies to (bit per RouteKind), for "does not apply" errors.
inline constexpr unsigned kKindEcho = 1u << static_cast<unsigned>(RouteKind::echo);
inline constexpr unsigned kKindStatic = 1u << static_cast<unsigned>(RouteKind::static_files);
inline constexpr unsigned kKindBridge = 1u << static_cast<unsigned>(RouteKind::bridge);
inline constexpr unsigned kKindProxy = 1u << static_cast<unsigned>(RouteKind::proxy);
inline constexpr unsigned kKindChat = 1u << static_cast<unsigned>(RouteKind::chat);
inline constexpr unsigned kKindBroker = 1u << static_cast<unsigned>(RouteKind::broker);
inline constexpr unsigned kHostedKinds = kKindChat | kKindBroker;
inline constexpr unsigned kWsKinds = kKindEcho | kKindBridge | kKindProxy | kHostedKinds;
// Keys of the WebSocket handshake and handler that proxy and hosted routes decide themselves.
inline constexpr unsigned kWsServedKinds = kKindEcho | kKindBridge;

/// The keys of the chat and broker kinds (config_hosted.cpp).
std::span<const KeySpec<RouteConfig>> hosted_route_keys();
/// Rules across several keys of a chat or broker route (`mask` is the route's kind bit).
void check_hosted(Ctx& c, const toml::table& t, RouteConfig& r, unsigned mask);

// Bridge and proxy routes name upstreams that may be defined later in the file: checked at the end.
struct UpstreamRef {
  std::string name;
  toml::source_region where;
};

struct SeenRoute {
  std::string key;
  unsigned line;
};

/// Reads one [[route]] table into cfg.routes (or reports its problems); `seen` catches duplicate
/// routes, `refs` collects the upstream names to check once every section is read.
void read_route(Ctx& c, const toml::table& t, std::vector<SeenRoute>& seen,
                std::vector<UpstreamRef>& refs, Config& cfg);

}  // namespace wsgate::proxy::config_detail
