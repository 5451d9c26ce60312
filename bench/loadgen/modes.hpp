#pragma once
// The load generator's modes and the options they share. main.cpp parses the command line into
// Options and calls one run_* function; each prints one JSON object on stdout (diagnostics on
// stderr) and returns the exit status: 0 if the run saw no error, 1 otherwise.

#include <cstddef>
#include <cstdint>
#include <string>

#include "conn.hpp"
#include "histogram.hpp"

namespace wsgate::bench {

/// One file descriptor per connection: a process stays under this many connections, so that it
/// stays under the 20,000 open files allowed here. Bigger runs use several processes.
inline constexpr std::size_t kMaxConnsPerProcess = 19'900;
/// How long the ramp-up waits for every connection to open.
inline constexpr std::uint64_t kConnectTimeoutNs = 20'000'000'000u;

enum class Kind : std::uint8_t { echo, sink, source, connect, fanout, http };

struct Options {
  std::string mode;        ///< the mode as typed ("echo", "tcp-sink", ...)
  Kind kind = Kind::echo;  ///< what the mode does
  bool websocket = true;   ///< false for the tcp-* modes (and http)
  bool stream = false;     ///< --stream: WebSocket payloads form one byte stream of records
                           ///< (a bridge to a TCP backend keeps no message boundaries)
  Target target;           ///< where to connect (resolved)
  std::size_t conns = 1;   ///< -c
  std::size_t window = 1;  ///< -w: messages in flight (echo: per connection; fanout: total)
  std::size_t size = 64;   ///< -s: payload bytes per message (record size for streams)
  double seconds = 5;      ///< -d: measured duration (connect: how long to hold)
  bool text = false;       ///< --text: text messages instead of binary

  // connect
  std::size_t sources = 0;        ///< --sources K: bind to 127.0.0.2 .. 127.0.0.(K+1)
  std::size_t concurrency = 256;  ///< --concurrency: handshakes in progress at once

  // fanout
  std::string fan_kind = "chat";   ///< --kind chat | broker
  std::string room = "bench";      ///< --room (chat) or topic (broker, appended to the URL)
  std::string secret;              ///< --secret: HS256 key to mint login tokens with
  std::string token_file;          ///< --token-file: one token a line (publisher first)
  std::string user_prefix = "lg";  ///< --user-prefix: subject of minted tokens, + index
};

int run_stream(const Options& o);   // echo, sink, source (ws and tcp)
int run_connect(const Options& o);  // connect
int run_fanout(const Options& o);   // fanout
int run_http(const Options& o);     // http (keep-alive GET load)

/// Raises RLIMIT_NOFILE to hold `conns` sockets (up to the hard limit).
void raise_fd_limit(std::size_t conns);
/// `"latency_us":{"p50":..,"p99":..,"p999":..}` for a histogram recorded in nanoseconds.
std::string latency_json(const char* name, const LatencyHistogram& h);
/// Runs the poller until `done()` or `timeout_ns` passed; returns false on timeout.
template <typename Done>
bool run_until(Poller& poller, std::uint64_t timeout_ns, Done&& done) {
  const std::uint64_t start = now_ns();
  while (!done()) {
    if (now_ns() - start >= timeout_ns) return false;
    poller.run_once(5);
  }
  return true;
}

}  // namespace wsgate::bench
