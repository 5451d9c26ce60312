#include "proxy/router.hpp"

#include <algorithm>

#include "proto/http_message.hpp"

namespace wsgate::proxy {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.1 percent-decoding. NUL (raw or %00) is refused: it truncates C strings, so a
// path holding one would name a different file than the one it was checked as.
std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return std::nullopt;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

// The host part of a Host header: without ":port", brackets or a trailing dot.
std::string_view host_only(std::string_view h) {
  if (!h.empty() && h.front() == '[') {
    const std::size_t close = h.find(']');
    return close == std::string_view::npos ? h : h.substr(1, close - 1);
  }
  const std::size_t colon = h.find(':');
  if (colon != std::string_view::npos) h = h.substr(0, colon);
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  return h;
}

bool prefix_matches(std::string_view route, std::string_view path) {
  if (path.substr(0, route.size()) != route) return false;
  // Segment boundary: "/echo" covers "/echo" and "/echo/x", never "/echoes".
  return path.size() == route.size() || route.back() == '/' || path[route.size()] == '/';
}

}  // namespace

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    if (eq == std::string_view::npos) return std::string();
    std::string value(pair.substr(eq + 1));
    std::replace(value.begin(), value.end(), '+', ' ');
    return percent_decode(value);
  }
  return std::nullopt;
}

std::optional<std::string> normalize_path(std::string_view raw_path) {
  if (raw_path.empty() || raw_path.front() != '/') return std::nullopt;
  const auto decoded = percent_decode(raw_path);
  if (!decoded) return std::nullopt;
  const std::string_view d = *decoded;
  std::string out;
  out.reserve(d.size());
  bool dir = false;  // the result names a directory: it ends with '/'
  std::size_t i = 0;
  while (i < d.size()) {
    while (i < d.size() && d[i] == '/') ++i;  // repeated '/' merge
    if (i == d.size()) {
      dir = true;
      break;
    }
    const std::size_t end = std::min(d.find('/', i), d.size());
    const std::string_view seg = d.substr(i, end - i);
    // RFC 3986 §5.2.4: "." is dropped and ".." removes the previous segment. Going above the
    // root is refused rather than clamped: no legitimate client sends it.
    if (seg == "..") {
      if (out.empty()) return std::nullopt;
      out.erase(out.rfind('/'));
    } else if (seg != ".") {
      out += '/';
      out += seg;
    }
    dir = seg == "." || seg == "..";
    i = end;
  }
  if (out.empty() || dir) out += '/';
  return out;
}

Router::Router(std::vector<RouteConfig> routes) : routes_(std::move(routes)) {
  order_.reserve(routes_.size());
  for (const RouteConfig& r : routes_) order_.push_back(&r);
  // Longest path first; at equal length exact before prefix, then host-specific before any-host.
  // The first route in this order that matches is the answer: an exact route only matches a
  // path of its own length, which no prefix match can exceed.
  std::stable_sort(order_.begin(), order_.end(), [](const RouteConfig* a, const RouteConfig* b) {
    if (a->path.size() != b->path.size()) return a->path.size() > b->path.size();
    if (a->exact != b->exact) return a->exact;
    return a->host.has_value() && !b->host.has_value();
  });
}

const RouteConfig* Router::match(std::string_view host, std::string_view path) const {
  const std::string_view h = host_only(host);
  for (const RouteConfig* r : order_) {
    if (r->path.size() > path.size()) continue;
    if (r->host && !proto::iequals(*r->host, h)) continue;
    if (r->exact ? r->path == path : prefix_matches(r->path, path)) return r;
  }
  return nullptr;
}

}  // namespace wsgate::proxy
