#include "proxy/access_log.hpp"

#include "base/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <system_error>

namespace wsgate::proxy {

namespace {

// Appends `s` in double quotes with '"' and backslashes escaped and every other byte outside
// printable ASCII written with `byte_format` (one printf conversion for the byte), so a client
// cannot forge log lines or break the JSON.
void append_escaped(std::string& out, std::string_view s, const char* byte_format) {
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, byte_format, c);
      out.append(buf);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

// The combined format: control and non-ASCII bytes as \xHH (nginx's rule); "-" for empty.
void append_quoted_combined(std::string& out, std::string_view s) {
  append_escaped(out, s.empty() ? std::string_view("-") : s, "\\x%02X");
}

// A JSON string. Bytes >= 0x80 are escaped as \u00XX: the fields come from the network and are
// not known to be UTF-8, and the output must stay valid JSON.
void append_json_string(std::string& out, std::string_view s) {
  append_escaped(out, s, "\\u%04x");
}

void append_json_field(std::string& out, std::string_view name, std::string_view value) {
  out.push_back(',');
  append_json_string(out, name);
  out.push_back(':');
  append_json_string(out, value);
}

void append_json_field(std::string& out, std::string_view name, std::uint64_t value) {
  out.push_back(',');
  append_json_string(out, name);
  out.push_back(':');
  out.append(std::to_string(value));
}

std::string format_time(std::int64_t t, const char* fmt) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, fmt, &tm);
  return std::string(buf, n);
}

std::string seconds_ms(std::uint64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llu.%03llu", static_cast<unsigned long long>(ms / 1000),
                static_cast<unsigned long long>(ms % 1000));
  return buf;
}

}  // namespace

std::unique_ptr<AccessLog> AccessLog::open(const std::string& target, AccessLogFormat format) {
  if (target == "off") return nullptr;
  if (target.empty() || target == "stderr") {
    return std::unique_ptr<AccessLog>(new AccessLog(STDERR_FILENO, false, format));
  }
  const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "access log " + target);
  }
  return std::unique_ptr<AccessLog>(new AccessLog(fd, true, format));
}

AccessLog::~AccessLog() {
  if (owned_) ::close(fd_);
}

std::string AccessLog::format(const AccessRecord& r) const {
  std::string out;
  out.reserve(256);
  if (format_ == AccessLogFormat::json) {
    out.append("{\"time\":");
    append_json_string(out, format_time(r.time, "%Y-%m-%dT%H:%M:%SZ"));
    append_json_field(out, "peer", r.peer);
    append_json_field(out, "method", r.method);
    append_json_field(out, "target", r.target);
    append_json_field(out, "protocol", r.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
    append_json_field(out, "status", static_cast<std::uint64_t>(r.status));
    append_json_field(out, "bytes_in", r.bytes_in);
    append_json_field(out, "bytes_out", r.bytes_out);
    append_json_field(out, "duration_ms", r.duration_ms);
    append_json_field(out, "route", r.route);
    append_json_field(out, "referer", r.referer);
    append_json_field(out, "user_agent", r.user_agent);
    if (r.ws_close) {
      append_json_field(out, "ws_close", static_cast<std::uint64_t>(*r.ws_close));
      append_json_field(out, "ws_messages_in", r.ws_messages_in);
      append_json_field(out, "ws_messages_out", r.ws_messages_out);
    }
    if (!r.upstream.empty()) append_json_field(out, "upstream", r.upstream);
    out.append("}\n");
    return out;
  }
  out.append(r.peer.empty() ? std::string_view("-") : r.peer.substr(0, r.peer.rfind(':')));
  out.append(" - - [");
  out.append(format_time(r.time, "%d/%b/%Y:%H:%M:%S +0000"));
  out.append("] ");
  std::string request;
  request.append(r.method).append(" ").append(r.target);
  request.append(r.version_minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
  append_quoted_combined(out, request);
  out.append(" ").append(std::to_string(r.status)).append(" ");
  out.append(std::to_string(r.bytes_out)).append(" ");
  append_quoted_combined(out, r.referer);
  out.push_back(' ');
  append_quoted_combined(out, r.user_agent);
  out.append(" rt=").append(seconds_ms(r.duration_ms));
  out.append(" route=").append(r.route.empty() ? std::string_view("-") : r.route);
  if (r.ws_close) {
    out.append(" ws_close=").append(std::to_string(*r.ws_close));
    out.append(" rx=").append(std::to_string(r.bytes_in));
    out.append(" tx=").append(std::to_string(r.bytes_out));
    out.append(" msgs_in=").append(std::to_string(r.ws_messages_in));
    out.append(" msgs_out=").append(std::to_string(r.ws_messages_out));
  }
  if (!r.upstream.empty()) {
    out.append(" upstream=");
    append_quoted_combined(out, r.upstream);
  }
  out.push_back('\n');
  return out;
}

void AccessLog::write(const AccessRecord& r) const noexcept {
  std::string line;
  try {
    line = format(r);
  } catch (...) {
    return;  // out of memory: drop the line rather than the connection
  }
  log::write_all(fd_, line);
}

}  // namespace wsgate::proxy
