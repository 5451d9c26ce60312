#include "proxy/config_reader.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace wsgate::proxy::config_detail {

std::string quote(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

void type_error(Ctx& c, const toml::node& n, std::string_view key, std::string_view expected) {
  c.error(n,
          quote(key) + " must be " + std::string(expected) + ", not " + std::string(type_name(n)));
}

unsigned edit_distance(std::string_view a, std::string_view b) {
  std::vector<unsigned> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<unsigned>(j);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    unsigned diag = row[0];
    row[0] = static_cast<unsigned>(i);
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const unsigned up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0u : 1u)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view got, std::span<const std::string_view> known) {
  std::string_view best;
  unsigned best_distance = 3;
  for (std::string_view k : known) {
    const unsigned d = edit_distance(got, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  return best.empty() ? std::string() : "; did you mean " + quote(best) + "?";
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  std::size_t i = 0;
  std::uint64_t v = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    const auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (i == 0) return std::nullopt;
  const std::string unit = lower(s.substr(i));
  std::uint64_t mult = 0;
  if (unit.empty()) mult = 1;
  if (unit == "k" || unit == "kib") mult = kKiB;
  if (unit == "m" || unit == "mib") mult = kMiB;
  if (unit == "g" || unit == "gib") mult = kGiB;
  if (mult == 0 || v > std::numeric_limits<std::uint64_t>::max() / mult) return std::nullopt;
  return v * mult;
}

std::optional<double> parse_duration_ms(std::string_view s) {
  std::size_t i = 0;
  double v = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) v = v * 10 + (s[i] - '0');
  if (i == 0) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    const std::size_t frac_start = ++i;
    double scale = 0.1;
    for (; i < s.size() && is_digit(s[i]); ++i, scale /= 10) v += (s[i] - '0') * scale;
    if (i == frac_start) return std::nullopt;
  }
  const std::string unit = lower(s.substr(i));
  if (unit == "ms") return v;
  if (unit == "s") return v * 1000;
  if (unit == "m") return v * 60'000;
  if (unit == "h") return v * 3'600'000;
  return std::nullopt;
}

std::string size_text(std::uint64_t n) {
  if (n != 0 && n % kTiB == 0) return std::to_string(n / kTiB) + " TiB";
  if (n != 0 && n % kGiB == 0) return std::to_string(n / kGiB) + " GiB";
  if (n != 0 && n % kMiB == 0) return std::to_string(n / kMiB) + " MiB";
  if (n != 0 && n % kKiB == 0) return std::to_string(n / kKiB) + " KiB";
  return std::to_string(n) + (n == 1 ? " byte" : " bytes");
}

std::optional<std::string> canonical_ip(int family, const std::string& text) {
  unsigned char buf[16];
  if (inet_pton(family, text.c_str(), buf) != 1) return std::nullopt;
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(family, buf, out, sizeof out) == nullptr) return std::nullopt;
  return std::string(out);
}

std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_zero) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char ch : s) {
    if (!is_digit(ch)) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  if (v > 65535 || (v == 0 && !allow_zero)) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

bool is_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  std::size_t label = 0;
  for (char ch : h) {
    if (ch == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    ch == '-' || ch == '_';
    if (!ok || ++label > 63) return false;
  }
  return label != 0;
}

bool looks_numeric(std::string_view h) {
  return std::all_of(h.begin(), h.end(), [](char ch) { return is_digit(ch) || ch == '.'; });
}

std::string parse_listen_address(std::string_view a, ListenConfig& out) {
  std::string_view host, port;
  if (!a.empty() && a.front() == '[') {
    const std::size_t close = a.find("]:");
    if (close == std::string_view::npos) return "needs the form [IPv6]:port";
    host = a.substr(1, close - 1);
    port = a.substr(close + 2);
    auto canon = canonical_ip(AF_INET6, std::string(host));
    if (!canon) return "'" + std::string(host) + "' is not an IPv6 address";
    out.host = *canon;
  } else {
    const std::size_t colon = a.rfind(':');
    if (colon == std::string_view::npos) return "needs a port (host:port or :port)";
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return "an IPv6 address needs brackets: [::1]:80";
    auto canon = host.empty() ? std::optional<std::string>("0.0.0.0")
                              : canonical_ip(AF_INET, std::string(host));
    if (!canon) {
      return "'" + std::string(host) + "' is not an IPv4 address (names are not accepted)";
    }
    out.host = *canon;
  }
  auto p = parse_port(port, true);
  if (!p) return "port '" + std::string(port) + "' is not in 0-65535";
  out.port = *p;
  return {};
}

std::string canonical_route_host(std::string_view h, std::string& out) {
  std::string s = lower(h);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (s.find(':') != std::string::npos) {
    auto canon = canonical_ip(AF_INET6, s);
    if (!canon) return "must not include a port (routes match any port)";
    out = *canon;
    return {};
  }
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (!is_host_name(s)) return "is not a host name or address";
  out = s;
  return {};
}

bool is_plain_field_value(std::string_view v) {
  if (!v.empty() && (v.front() == ' ' || v.back() == ' ')) return false;
  return std::all_of(v.begin(), v.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; });
}

std::string resolve(const Ctx& c, const std::string& p) {
  fs::path path(p);
  if (path.is_relative()) path = fs::path(c.base_dir) / path;
  std::string out = path.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool read_bool(Ctx& c, const toml::node& n, std::string_view key, bool& out) {
  if (!n.is_boolean()) {
    type_error(c, n, key, "a boolean (true or false)");
    return false;
  }
  out = n.as_boolean()->get();
  return true;
}

bool read_string(Ctx& c, const toml::node& n, std::string_view key, std::string& out) {
  if (!n.is_string()) {
    type_error(c, n, key, "a string");
    return false;
  }
  out = n.as_string()->get();
  return true;
}

bool read_int(Ctx& c, const toml::node& n, std::string_view key, std::int64_t lo, std::int64_t hi,
              std::int64_t& out) {
  if (!n.is_integer()) {
    type_error(c, n, key, "an integer");
    return false;
  }
  const std::int64_t v = n.as_integer()->get();
  if (v < lo || v > hi) {
    c.error(n, quote(key) + " must be between " + std::to_string(lo) + " and " +
                   std::to_string(hi) + ", got " + std::to_string(v));
    return false;
  }
  out = v;
  return true;
}

bool read_size(Ctx& c, const toml::node& n, std::string_view key, std::uint64_t lo,
               std::uint64_t hi, std::uint64_t& out) {
  std::optional<std::uint64_t> v;
  if (n.is_integer()) {
    const std::int64_t i = n.as_integer()->get();
    v = i < 0 ? std::numeric_limits<std::uint64_t>::max() : static_cast<std::uint64_t>(i);
  } else if (n.is_string()) {
    v = parse_size(n.as_string()->get());
    if (!v) {
      c.error(n, quote(key) + ": '" + n.as_string()->get() +
                     "' is not a size (bytes, or a number with k, m, g, KiB, MiB or GiB)");
      return false;
    }
  } else {
    type_error(c, n, key, "a size (bytes as an integer, or a string like \"64k\")");
    return false;
  }
  if (*v < lo || *v > hi) {
    c.error(n, quote(key) + " must be between " + size_text(lo) + " and " + size_text(hi));
    return false;
  }
  out = *v;
  return true;
}

bool read_duration(Ctx& c, const toml::node& n, std::string_view key, bool positive, Millis& out) {
  double ms = 0;
  if (n.is_integer()) {
    const std::int64_t s = n.as_integer()->get();
    ms = s < 0 ? -1.0 : static_cast<double>(std::min(s, kMaxDurationSeconds + 1)) * 1000;
  } else if (n.is_floating_point()) {
    const double s = n.as_floating_point()->get();
    ms = std::isfinite(s) ? s * 1000 : -1.0;
  } else if (n.is_string()) {
    const auto parsed = parse_duration_ms(n.as_string()->get());
    if (!parsed) {
      c.error(n, quote(key) + ": '" + n.as_string()->get() +
                     "' is not a duration (seconds, or a number with ms, s, m or h)");
      return false;
    }
    ms = *parsed;
  } else {
    type_error(c, n, key, "a duration (seconds, or a string like \"500ms\")");
    return false;
  }
  const double rounded = std::round(ms);
  if (ms < 0 || rounded > static_cast<double>(kMaxDurationSeconds) * 1000 ||
      (positive && rounded < 1)) {
    c.error(n, quote(key) + " must be between " + (positive ? "1ms" : "0") + " and " +
                   std::to_string(kMaxDurationSeconds) + " seconds");
    return false;
  }
  out = Millis(static_cast<Millis::rep>(rounded));
  return true;
}

bool read_string_list(Ctx& c, const toml::node& n, std::string_view key,
                      std::vector<std::string>& out, std::vector<const toml::node*>& nodes) {
  if (!n.is_array()) {
    type_error(c, n, key, "an array of strings");
    return false;
  }
  bool ok = true;
  out.clear();
  for (const toml::node& e : *n.as_array()) {
    if (!e.is_string()) {
      c.error(e, "each element of " + quote(key) + " must be a string, not " +
                     std::string(type_name(e)));
      ok = false;
      continue;
    }
    out.push_back(e.as_string()->get());
    nodes.push_back(&e);
  }
  return ok;
}

}  // namespace wsgate::proxy::config_detail
