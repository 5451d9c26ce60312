#pragma once
// The error log: leveled lines to stderr (or a file), safe to call from any thread.
//
//   WSGATE_LOG(warn, "route " << name << ": upstream " << addr << " refused the connection");
//
// The message expression is evaluated only when the level is enabled, so a disabled debug line
// costs one relaxed atomic load. Each line is written with one write(2) call, so lines from
// different worker threads never interleave:
//   2026-11-22T10:15:03.123Z warn [w1] route /vnc: upstream 127.0.0.1:5901 refused the connection
// "[w1]" names the thread (set_thread_name); the main thread is "main".

#include <atomic>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace wsgate::log {

enum class Level : int { error = 0, warn = 1, info = 2, debug = 3 };

/// "error", "warn", "info", "debug".
std::string_view level_name(Level level) noexcept;
/// Parses a level name (as above); nullopt for anything else.
std::optional<Level> parse_level(std::string_view name) noexcept;

/// Lines above `level` are dropped. Default: info.
void set_level(Level level) noexcept;
Level level() noexcept;
inline bool enabled(Level l) noexcept;

/// Sends the error log to `path` (opened for append) instead of stderr; "" or "stderr" means
/// stderr. Returns false (and keeps the previous target) if the file cannot be opened.
bool set_target(const std::string& path);

/// Names the calling thread in log lines ("w0", "w1", "main"). At most 15 characters are kept.
void set_thread_name(std::string_view name) noexcept;

/// Writes one line (a newline is appended). Prefer WSGATE_LOG, which skips disabled levels.
void write(Level level, std::string_view message) noexcept;

/// Writes all of `data` to `fd` (retrying partial writes and EINTR); false on error. For log
/// files opened O_APPEND, one call is one line that other threads' lines never split.
bool write_all(int fd, std::string_view data) noexcept;

namespace detail {
extern std::atomic<int> g_level;
}  // namespace detail

inline bool enabled(Level l) noexcept {
  return static_cast<int>(l) <= detail::g_level.load(std::memory_order_relaxed);
}

}  // namespace wsgate::log

#define WSGATE_LOG(lvl, expr)                                                \
  do {                                                                       \
    if (::wsgate::log::enabled(::wsgate::log::Level::lvl)) {                 \
      std::ostringstream wsgate_log_os_;                                     \
      wsgate_log_os_ << expr;                                                \
      ::wsgate::log::write(::wsgate::log::Level::lvl, wsgate_log_os_.str()); \
    }                                                                        \
  } while (false)
