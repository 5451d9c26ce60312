#pragma once
// The typed configuration of wsgate, loaded from one TOML file (docs/CONFIG.md documents every
// key). Loading validates everything that can be checked without binding sockets: types,
// ranges, which keys apply to which route kind, duplicate routes and listeners, origin
// patterns, subprotocol names, static roots, upstream addresses. Every problem is reported
// compiler-style with the file, line and column of the offending TOML node, and loading goes on
// to report all of them.
//
// Thread: the structs are plain values. A loaded Config is immutable by convention and may be
// shared read-only between worker threads. Only this module (config.cpp, config_routes.cpp,
// config_reader.cpp) includes toml++.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.hpp"

namespace wsgate::proxy {

using Millis = std::chrono::milliseconds;

enum class AccessLogFormat { combined, json };

/// `[server]`: process-wide settings. Durations in the file are seconds or "500ms"/"30s"/"5m"/"1h";
/// sizes are bytes or "64k"/"16m"/"1g" (powers of 1024). Ranges are in docs/CONFIG.md.
struct ServerConfig {
  unsigned workers = 0;  ///< 0..256; 0 = one per core (resolved by the server)
  log::Level log_level = log::Level::info;
  std::string error_log = "stderr";   ///< "stderr" or an absolute file path (resolved)
  std::string access_log = "stderr";  ///< "stderr", "off" or an absolute file path (resolved)
  AccessLogFormat access_log_format = AccessLogFormat::combined;
  std::string server_header = "wsgate";    ///< value of the Server header; "" = omit it
  std::size_t max_url_bytes = 8192;        ///< -> proto::Http1Limits; 1..1 MiB
  std::size_t max_head_bytes = 16384;      ///< 1 KiB..1 MiB
  std::size_t max_header_count = 100;      ///< 1..10000
  std::uint64_t max_body_bytes = 1 << 20;  ///< 0 = unlimited; at most 1 TiB
  Millis header_timeout{10000};     ///< whole request head must arrive within this (408); > 0
  Millis keepalive_timeout{75000};  ///< idle time between requests on a kept-alive connection; > 0
  Millis send_timeout{60000};  ///< a response write that makes no progress this long: close; > 0
  Millis shutdown_timeout{10000};  ///< SIGTERM: wait this long for drains, then force; > 0
};

/// A certificate chain and its private key (PEM files; absolute paths).
struct TlsCertConfig {
  std::string cert;  ///< leaf first, then intermediates
  std::string key;
};

/// `tls = { ... }` of a `[[listen]]`: the listener speaks TLS 1.2/1.3 only.
struct ListenTlsConfig {
  /// The first is the default (from `cert`/`key`); the others come from `sni = [...]` and are
  /// chosen by the name the client asks for (SNI), matched against each certificate's names.
  std::vector<TlsCertConfig> certificates;
  std::string ciphers;       ///< TLS 1.2 cipher list (OpenSSL syntax); "" = modern default
  std::string ciphersuites;  ///< TLS 1.3 suites; "" = OpenSSL's default
};

/// One `[[listen]]` table.
struct ListenConfig {
  std::string address;     ///< as written, e.g. "127.0.0.1:8080", "[::1]:8080", ":8080"
  std::string host;        ///< canonical text: "127.0.0.1", "::1", "0.0.0.0" (":8080" -> "0.0.0.0")
  std::uint16_t port = 0;  ///< 0..65535 (0: any free port; used by tests)
  int backlog = 511;       ///< 1..65535
  std::optional<ListenTlsConfig> tls;  ///< set: a TLS listener
  /// Plain listeners only: answer every request with 308 to the same URL over https, on
  /// `redirect_https_port` (443: no port in the URL).
  bool redirect_https = false;
  std::uint16_t redirect_https_port = 443;
  unsigned line = 0;  ///< source line of the [[listen]] table
};

/// Route kinds ("echo", "static", "bridge", "proxy", "chat", "broker" in the file).
enum class RouteKind { echo, static_files, bridge, proxy, chat, broker };

/// permessage-deflate on a WebSocket route (RFC 7692).
enum class Compression {
  off,        ///< never negotiated
  shared,     ///< no context takeover both ways: one compressor per worker, no per-connection state
  dedicated,  ///< context takeover: per-connection compressor and inflater (better ratio)
  passthrough,  ///< proxy routes: the client's offer goes upstream; compressed frames relayed
};

/// Keys for routes that take WebSocket (kinds echo, bridge and proxy; subprotocols,
/// require_subprotocol and interval do not apply to proxy routes, where the upstream decides).
struct WsRouteConfig {
  std::uint64_t max_message_size = 16 << 20;  ///< 1..1 GiB
  /// 1..max_message_size. When not set in the file, it is min(16 MiB, max_message_size); set
  /// explicitly above max_message_size, it is an error.
  std::uint64_t max_frame_size = 16 << 20;
  Millis ping_interval{30000};  ///< 0 = no server pings
  /// No pong this long after a ping: the peer is presumed gone, TCP closed at once (logged as
  /// close 1006). > 0.
  Millis pong_timeout{20000};
  Millis idle_timeout{0};      ///< no message either way this long: close 1001; 0 = off
  Millis close_timeout{5000};  ///< after our close frame, wait this long for the peer's; > 0
  Millis interval{0};          ///< handler on_interval period; 0 = off
  /// Empty = any origin; else proto::origin_allowed patterns (each proto::is_valid_origin_pattern).
  std::vector<std::string> origins;
  bool allow_missing_origin = true;  ///< non-browser clients send no Origin
  /// Server preference order; empty = none negotiated. Each an HTTP token, no duplicates.
  std::vector<std::string> subprotocols;
  /// Refuse (400) a client offering none of `subprotocols`. Needs a non-empty `subprotocols`.
  bool require_subprotocol = false;
  std::uint64_t max_backpressure = 1 << 20;  ///< queued output past which the session closes 1008
  Compression compression = Compression::off;
  int compression_level = 1;  ///< 1..9 (zlib level): 1 is several times faster than 6 on JSON
  /// Messages shorter than this go uncompressed (RSV1 clear); 0 = compress everything.
  std::uint64_t compression_min_size = 64;
  /// dedicated: 9..15, the window both compressors use (ours, and the one the client is asked
  /// to use), trading ratio for memory: 2^(window_bits + 2) bytes for our compressor.
  int window_bits = 15;
  int mem_level = 8;  ///< dedicated: 1..9, our compressor's hash memory: 2^(mem_level + 9) bytes
};

/// What a hosted route (chat, broker) does with a receiver that falls max_backpressure behind.
enum class SlowPolicy {
  disconnect,   ///< close 1008: the client reconnects and recovers what it missed from history
  drop_oldest,  ///< drop the oldest undelivered messages and tell the client how many
};

/// JWT checks of a hosted route (chat logins; broker publishers and subscribers). Set when
/// exactly one of `jwt_secret`, `jwt_secret_env` and `jwt_public_key` is in the file.
struct JwtConfig {
  std::string secret;          ///< HS256 key (from jwt_secret, or read from jwt_secret_env at load)
  std::string public_key_pem;  ///< RS256/ES256: the PEM text of jwt_public_key, read at load
  std::string public_key_file;  ///< the file it came from (absolute), for messages
  Millis leeway{0};             ///< tolerance on exp/nbf
  std::string issuer;           ///< "" = iss not checked
  std::string audience;         ///< "" = aud not checked
  bool enabled() const noexcept { return !secret.empty() || !public_key_pem.empty(); }
};

enum class DuplicateLogin { kick_old, reject_new, multi_device };
enum class Presence { off, rooms, all };

/// Keys for kind "chat" (docs/CHAT.md is the protocol).
struct ChatRouteConfig {
  Millis login_timeout{10000};  ///< no login message this long after the upgrade: close 1008; > 0
  DuplicateLogin duplicate_login = DuplicateLogin::kick_old;
  std::uint64_t max_online = 100000;  ///< distinct users online; 0 = no limit
  /// Room names clients may join: glob patterns ('*' matches any run of characters).
  std::vector<std::string> rooms{"*"};
  unsigned max_rooms = 32;  ///< rooms one session may be in (besides world and guild); 0..10000
  Presence presence = Presence::rooms;
  Millis cooldown{0};   ///< per user and channel, between two messages; 0 = off
  double rate = 20;     ///< messages per second per user (token bucket); 0 = no limit
  unsigned burst = 40;  ///< the bucket's size; >= 1
  std::size_t max_text_length = 4096;  ///< bytes of `text`; 1..1 MiB
  unsigned history = 100;              ///< messages kept per channel for `since`; 0..100000
  bool close_on_error = false;         ///< an error answer also closes the connection (1008)
};

/// Keys for kind "broker" (docs/CHAT.md, "Broker").
struct BrokerRouteConfig {
  std::uint64_t max_event_size = 1 << 20;   ///< bytes of one event (POST body); 1..1 GiB
  std::uint64_t max_events = 1000;          ///< retained per topic; 0 = none kept (no replay)
  std::uint64_t max_bytes = 16 << 20;       ///< retained bytes per topic; 0 = no byte limit
  Millis max_age{0};                        ///< events older than this are dropped; 0 = never
  std::uint64_t max_topics = 10000;         ///< topics held at once; 1..10 million
  bool wildcard = true;                     ///< subscriptions to "prefix.*"
  bool raw = false;                         ///< format = "raw": bare bodies, no envelope
  std::vector<std::string> publish_tokens;  ///< static bearer tokens for publishers
  bool subscribe_auth = false;              ///< subscribers need the same credentials as publishers
  bool ws_publish = false;                  ///< a subscriber to one topic may publish to it
};

/// Keys for kind "static".
struct StaticRouteConfig {
  /// Absolute and lexically normal, without a trailing '/'. A relative root in the file is
  /// resolved against the directory of the config file; it must exist and be a directory.
  std::string root;
  std::string index = "index.html";  ///< a plain file name; "" = no index (directories answer 404)
  std::string cache_control;         ///< "" = no Cache-Control header
};

/// What a bridge does with a text message from the client.
enum class BridgeText { bytes, reject };

/// Keys for kind "bridge" (WebSocket <-> raw TCP, what websockify does). Exactly one of
/// RouteConfig::upstream and `targets`/`targets_file` selects the backend.
struct BridgeRouteConfig {
  /// Token -> "host:port" or "unix:/path" (websockify's token plugin). The token comes from the
  /// `token` query parameter, else from the path segment after the route's path.
  std::map<std::string, std::string> targets;
  /// A file of "token: host:port" lines (websockify's TokenFile format), re-read when it
  /// changes. Absolute (a relative path in the file is resolved against the config's directory).
  std::string targets_file;
  std::string token_param = "token";    ///< query parameter carrying the token
  BridgeText text = BridgeText::bytes;  ///< for the "binary" subprotocol (or none)
  Millis connect_timeout{5000};         ///< for token targets; upstreams have their own; > 0
};

/// Keys for kind "proxy" (HTTP/1.1 and WebSocket to RouteConfig::upstream).
struct ProxyRouteConfig {
  /// The Host sent upstream; nullopt = the client's Host as received.
  std::optional<std::string> upstream_host;
  /// WebSocket: tunnel bytes untouched after the upstream's 101 instead of relaying messages.
  bool passthrough = false;
  /// Once the request has been sent, the upstream's response head must arrive within this
  /// (else 504; for a WebSocket upgrade, the 101). > 0.
  Millis response_timeout{60000};
  /// No byte moving to or from the upstream this long during an exchange: 504 before the
  /// response head, the client connection cut after it. > 0.
  Millis read_timeout{60000};
  /// Request body cap for this route; nullopt = [server] max_body_bytes; 0 = unlimited.
  std::optional<std::uint64_t> max_body_size;
};

/// One `[[route]]` table.
struct RouteConfig {
  std::string path;  ///< starts with '/', normalised by normalize_path (router.hpp)
  bool exact = false;
  std::optional<std::string> host;  ///< lowercased, no port, no brackets; nullopt = any host
  RouteKind kind = RouteKind::echo;
  WsRouteConfig ws;                ///< meaningful for the WebSocket kinds (all but static)
  StaticRouteConfig static_files;  ///< meaningful for kind static_files
  BridgeRouteConfig bridge;        ///< meaningful for kind bridge
  ProxyRouteConfig proxy;          ///< meaningful for kind proxy
  ChatRouteConfig chat;            ///< meaningful for kind chat
  BrokerRouteConfig broker;        ///< meaningful for kind broker
  JwtConfig jwt;                   ///< kinds chat (required) and broker (optional)
  SlowPolicy slow_policy = SlowPolicy::disconnect;  ///< kinds chat and broker
  /// A [upstream.NAME] (kinds bridge and proxy); "" when a bridge picks targets per token.
  std::string upstream;
  unsigned line = 0;  ///< source line of the [[route]] table
  /// For logs: "[host]path", e.g. "/echo", "example.com/echo", "[::1]/echo".
  std::string name() const;
};

enum class Balance { round_robin, least_conn, ip_hash };

/// One entry of an upstream's `servers`: "host:port" or { address = "host:port", weight = N }.
struct UpstreamServerConfig {
  /// As written: "10.0.0.5:3000", "app.internal:3000", "[::1]:80" or "unix:/run/app.sock".
  std::string address;
  std::string host;        ///< name or numeric address, without brackets ("" for unix:)
  std::uint16_t port = 0;  ///< 1..65535 (0 for unix:)
  std::string unix_path;   ///< absolute socket path for "unix:/path", else ""
  unsigned weight = 1;     ///< 1..1000: share of new connections under round_robin/least_conn
};

/// Parses a server address ("host:port", "[v6]:port" or "unix:/absolute/path") into `out`'s
/// host and port or unix_path. Returns "" when valid, else why not (for a diagnostic). The one
/// parser for upstream servers, bridge targets and targets files.
std::string parse_server_address(std::string_view s, UpstreamServerConfig& out);

/// `health_check = { ... }` of an upstream: active checks, on top of the passive ones.
struct HealthCheckConfig {
  enum class Type { none, tcp, http };
  Type type = Type::none;  ///< none = no active checks
  std::string path = "/";  ///< for http: GET this path; 2xx is healthy
  Millis interval{5000};   ///< between checks of one server; > 0
  Millis timeout{2000};    ///< connect (+ response status line for http); > 0
  unsigned fall = 2;       ///< consecutive failed checks that take a server out; 1..100
  unsigned rise = 1;       ///< consecutive good checks that bring it back; 1..100
};

/// `[upstream.NAME]`: a pool of servers (proxy/upstream.hpp balances over it).
struct UpstreamConfig {
  std::string name;
  std::vector<UpstreamServerConfig> servers;  ///< at least one, no duplicates
  Balance balance = Balance::round_robin;
  Millis connect_timeout{5000};  ///< per attempt; > 0
  /// Failed connects within fail_timeout that take a server out for fail_timeout; 0 = never.
  unsigned max_fails = 1;
  Millis fail_timeout{10000};  ///< > 0
  /// Names are resolved when the configuration loads and again this often; 0 = only at load.
  Millis resolve_interval{30000};
  HealthCheckConfig health_check;
  /// Connect to the servers over TLS, verifying their certificates against `tls_ca` (or the
  /// system store) and the name in `tls_server_name` (or each server's host name).
  bool tls = false;
  std::string tls_ca;                 ///< PEM bundle (absolute path); "" = the system trust store
  std::string tls_server_name;        ///< SNI and verified name; "" = the server's host as written
  bool insecure_skip_verify = false;  ///< no verification at all: only when written
  /// Idle HTTP connections each worker keeps open to this upstream for reuse; 0 = none (every
  /// proxied request opens a new connection). 0..10000.
  unsigned keepalive = 16;
  Millis keepalive_timeout{60000};  ///< an idle kept connection is closed after this; > 0
  unsigned line = 0;                ///< source line of the table
};

struct Config {
  std::string file;  ///< as given to load_config (the source name for parse_config)
  ServerConfig server;
  std::vector<ListenConfig> listen;  ///< at least one, in file order
  std::vector<RouteConfig> routes;   ///< at least one, in file order
  std::map<std::string, UpstreamConfig> upstreams;
};

/// One problem found in a config file. line/column are 1-based; 0 when unknown (e.g. the file
/// cannot be read).
struct ConfigDiagnostic {
  std::string file;
  unsigned line = 0;
  unsigned column = 0;
  std::string message;

  /// "file:line:col: message" (just "file: message" when the line is unknown).
  std::string to_string() const;
};

/// The outcome of loading: `config` is set only when `problems` is empty. Problems are sorted
/// by line, then column.
struct ConfigLoad {
  std::optional<Config> config;
  std::vector<ConfigDiagnostic> problems;
};

/// Reads and validates the file at `path`. Relative paths inside it resolve against the
/// directory holding it. Never throws (short of std::bad_alloc).
ConfigLoad load_config(const std::string& path);

/// Validates `toml_text`; diagnostics name `source_name`, and relative paths resolve against
/// `base_dir`. For tests and for load_config. Never throws (short of std::bad_alloc).
ConfigLoad parse_config(std::string_view toml_text, const std::string& source_name,
                        const std::string& base_dir);

}  // namespace wsgate::proxy
