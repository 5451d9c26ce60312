#include "base/log.hpp"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace wsgate::log {

namespace detail {
std::atomic<int> g_level{static_cast<int>(Level::info)};
}  // namespace detail

namespace {

std::atomic<int> g_fd{STDERR_FILENO};
std::mutex g_target_mutex;  // serialises set_target() only; write() never locks
thread_local char t_name[16] = "main";

// "2026-11-22T10:15:03.123Z" into `out` (at least 25 bytes); returns the length.
std::size_t format_now(char* out, std::size_t cap) noexcept {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  std::tm tm{};
  gmtime_r(&tv.tv_sec, &tm);
  const int n = std::snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                              static_cast<int>(tv.tv_usec / 1000));
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

}  // namespace

std::string_view level_name(Level level) noexcept {
  switch (level) {
    case Level::error: return "error";
    case Level::warn: return "warn";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "?";
}

std::optional<Level> parse_level(std::string_view name) noexcept {
  for (Level l : {Level::error, Level::warn, Level::info, Level::debug}) {
    if (name == level_name(l)) return l;
  }
  return std::nullopt;
}

void set_level(Level level) noexcept {
  detail::g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

Level level() noexcept {
  return static_cast<Level>(detail::g_level.load(std::memory_order_relaxed));
}

bool set_target(const std::string& path) {
  std::lock_guard lock(g_target_mutex);
  int fd = STDERR_FILENO;
  if (!path.empty() && path != "stderr") {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return false;
  }
  const int old = g_fd.exchange(fd);
  // The old descriptor is left open: another thread may be in write() with it, and reopening
  // happens only at start and on SIGHUP, so at most one descriptor per reload is kept.
  (void)old;
  return true;
}

void set_thread_name(std::string_view name) noexcept {
  const std::size_t n = name.size() < sizeof t_name - 1 ? name.size() : sizeof t_name - 1;
  name.copy(t_name, n);
  t_name[n] = '\0';
}

void write(Level level, std::string_view message) noexcept {
  char prefix[64];
  std::size_t p = format_now(prefix, sizeof prefix);
  const int n =
      std::snprintf(prefix + p, sizeof prefix - p, " %s [%s] ", level_name(level).data(), t_name);
  if (n > 0) p += static_cast<std::size_t>(n) < sizeof prefix - p ? static_cast<std::size_t>(n) : 0;
  std::string line;
  line.reserve(p + message.size() + 1);
  line.append(prefix, p).append(message).push_back('\n');
  write_all(g_fd.load(), line);
}

bool write_all(int fd, std::string_view data) noexcept {
  while (!data.empty()) {  // one write(2) in practice; loop only for a partial write
    const ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

}  // namespace wsgate::log
