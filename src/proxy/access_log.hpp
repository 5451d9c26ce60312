#pragma once
// The access log: one line per HTTP request and one per finished WebSocket session, in the
// `combined` format (nginx/Apache, with extra fields at the end) or as one JSON object per line.
//
//   combined: 127.0.0.1 - - [22/Nov/2026:10:15:03 +0000] "GET /echo HTTP/1.1" 101 5120 "-"
//             "Python/3.11 websockets/10.4" rt=12.034 route=/echo ws_close=1000 rx=4800 tx=5120
//             [msgs_in=.. msgs_out=..] [upstream=NAME/ADDRESS for requests and sessions that
//             have a backend: bridged and proxied]
//   json:     {"time":"2026-11-22T10:15:03Z","peer":"127.0.0.1:51234","method":"GET",...}
//
// Thread-safe: every line is built in full and written with one write(2) (O_APPEND), so lines
// from different workers never interleave. SIGHUP builds a new AccessLog from the reloaded
// configuration, which reopens the file (log rotation); sessions started before keep the old one.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/config.hpp"

namespace wsgate::proxy {

/// One finished request or session.
struct AccessRecord {
  std::string_view peer;  ///< "127.0.0.1:51234"
  std::string_view method;
  std::string_view target;
  int version_minor = 1;        ///< HTTP/1.x
  int status = 0;               ///< HTTP status sent (101 for WebSocket sessions)
  std::uint64_t bytes_in = 0;   ///< request body bytes, or WebSocket bytes received
  std::uint64_t bytes_out = 0;  ///< response bytes (head + body), or WebSocket bytes sent
  std::string_view referer;
  std::string_view user_agent;
  std::string_view route;  ///< RouteConfig::name(), or "-" when nothing matched
  std::int64_t time = 0;   ///< wall clock at the start, seconds since the epoch
  std::uint64_t duration_ms = 0;
  std::optional<int> ws_close;  ///< WebSocket sessions: the close code (1006 if none)
  std::uint64_t ws_messages_in = 0;
  std::uint64_t ws_messages_out = 0;
  std::string_view upstream;  ///< the backend (bridge, proxy) as "NAME/SERVER" ("" = none)
};

class AccessLog {
 public:
  /// `target`: a file path, "stderr", or "off". Returns nullptr for "off". Errors: the file
  /// cannot be opened (std::system_error with the path).
  static std::unique_ptr<AccessLog> open(const std::string& target, AccessLogFormat format);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void write(const AccessRecord& r) const noexcept;
  /// Formats without writing (for tests).
  std::string format(const AccessRecord& r) const;

 private:
  AccessLog(int fd, bool owned, AccessLogFormat format) noexcept
      : fd_(fd), owned_(owned), format_(format) {}
  int fd_;
  bool owned_;
  AccessLogFormat format_;
};

}  // namespace wsgate::proxy
