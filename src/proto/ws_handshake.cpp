#include "proto/ws_handshake.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include "base/check.hpp"
#include "proto/http_error.hpp"

namespace wsgate::proto {

namespace {

// RFC 6455 §1.3: the fixed GUID appended to the key before hashing.
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::size_t kKeyBytes = 16;  // §4.1 item 7: "a randomly selected 16-byte value"

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// The 6-bit value of a standard-alphabet base64 symbol (RFC 4648 §4), or -1.
int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (is_digit(c)) return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// The decoded size of canonical padded base64, or nullopt. Canonical (RFC 4648 §3.5) means the
// bits a padded final symbol does not use are zero: each byte string has one encoding, so a
// key cannot be smuggled in two spellings.
std::optional<std::size_t> base64_decoded_size(std::string_view s) noexcept {
  if (s.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  while (pad < 2 && pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
  const std::string_view data = s.substr(0, s.size() - pad);
  if (!std::all_of(data.begin(), data.end(), [](char c) { return base64_value(c) >= 0; })) {
    return std::nullopt;
  }
  if (pad > 0) {
    const int unused_mask = pad == 1 ? 0x03 : 0x0F;
    if ((base64_value(data.back()) & unused_mask) != 0) return std::nullopt;
  }
  return s.size() / 4 * 3 - pad;
}

std::string base64_encode(const unsigned char* in, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');  // EVP_EncodeBlock writes a trailing NUL
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), in, static_cast<int>(n));
  WSGATE_CHECK(written >= 0, "EVP_EncodeBlock failed");
  out.resize(static_cast<std::size_t>(written));
  return out;
}

// Visits every list element of every field named `name` (RFC 9110 §5.3: repeated fields are
// one comma-separated list).
template <class Fn>
void for_each_field_element(const HttpHeaders& h, std::string_view name, Fn&& fn) {
  for (const HttpHeaders::Field& f : h) {
    if (!iequals(f.name, name)) continue;
    for_each_list_element(f.value, [&](std::string_view e) {
      fn(e);
      return false;
    });
  }
}

// ---- server-side checks, one per concern, in validate_upgrade's order ----

std::error_code check_request_line(const HttpRequestHead& req) noexcept {
  // Methods are case-sensitive (RFC 9110 §9.1), so "get" is not GET.
  if (req.method != "GET") return HandshakeErrc::method_not_get;
  if (req.version_major > 1) return HandshakeErrc::http_version_unsupported;
  if (req.version_major < 1 || req.version_minor < 1) return HandshakeErrc::http_version_too_old;
  return {};
}

// A Content-Length value that announces no body: only zeros, possibly as a repeated list
// ("0, 0"), which RFC 9112 §6.3 lets a recipient treat as the single value 0.
bool is_zero_length(std::string_view v) noexcept {
  bool saw_zero = false;
  for (char c : v) {
    if (c == '0') {
      saw_zero = true;
    } else if (c != ',' && c != ' ' && c != '\t') {
      return false;
    }
  }
  return saw_zero;
}

std::error_code check_no_body(const HttpRequestHead& req) noexcept {
  const HttpHeaders& h = req.headers;
  // An upgrade request has no content (§4.1 describes only the head). Any Transfer-Encoding,
  // even a lone zero chunk, frames a body whose bytes would be taken for WebSocket frames.
  if (h.contains("Transfer-Encoding")) return HandshakeErrc::request_has_body;
  for (const HttpHeaders::Field& f : h) {
    if (iequals(f.name, "Content-Length") && !is_zero_length(f.value)) {
      return HandshakeErrc::request_has_body;
    }
  }
  return {};
}

std::error_code check_host(const HttpRequestHead& req) noexcept {
  const HttpHeaders& h = req.headers;
  const std::size_t n = h.count("Host");
  if (n > 1) return HandshakeErrc::host_repeated;
  if (n == 0 || trim_ows(*h.get("Host")).empty()) return HandshakeErrc::host_missing;
  return {};
}

std::error_code check_upgrade_tokens(const HttpRequestHead& req) noexcept {
  const HttpHeaders& h = req.headers;
  if (!h.contains("Upgrade")) return HandshakeErrc::upgrade_missing;
  if (!h.has_token("Upgrade", "websocket")) return HandshakeErrc::upgrade_not_websocket;
  if (!h.has_token("Connection", "upgrade")) return HandshakeErrc::connection_not_upgrade;
  return {};
}

std::error_code check_version(const HttpRequestHead& req) {
  const HttpHeaders& h = req.headers;
  if (!h.contains("Sec-WebSocket-Version")) return HandshakeErrc::version_missing;
  // Joining repeated fields makes "13" + "13" into "13, 13", refused like "13, 8": §4.1 item 9
  // asks for exactly one value.
  if (trim_ows(h.combined("Sec-WebSocket-Version")) != "13") {
    return HandshakeErrc::version_unsupported;
  }
  return {};
}

std::error_code check_key(const HttpRequestHead& req) noexcept {
  const HttpHeaders& h = req.headers;
  const std::size_t n = h.count("Sec-WebSocket-Key");
  if (n == 0) return HandshakeErrc::key_missing;
  if (n > 1) return HandshakeErrc::key_repeated;
  const std::optional<std::size_t> size =
      base64_decoded_size(trim_ows(*h.get("Sec-WebSocket-Key")));
  if (!size) return HandshakeErrc::key_not_base64;
  if (*size != kKeyBytes) return HandshakeErrc::key_wrong_length;
  return {};
}

// §4.1 item 10: each offered subprotocol is a token, and they are unique. An empty field (or
// one of only commas) offers nothing and is refused rather than read as "no preference".
std::error_code parse_subprotocols(const HttpHeaders& h, std::vector<std::string>& out) {
  for (const HttpHeaders::Field& f : h) {
    if (!iequals(f.name, "Sec-WebSocket-Protocol")) continue;
    bool bad = false;
    std::size_t in_field = 0;
    for_each_list_element(f.value, [&](std::string_view e) {
      ++in_field;
      bad = !is_token(e) || std::find(out.begin(), out.end(), e) != out.end();
      if (!bad) out.emplace_back(e);
      return bad;
    });
    if (bad || in_field == 0) return HandshakeErrc::subprotocol_invalid;
  }
  return {};
}

// ---- origins ----

struct OriginParts {
  std::string_view scheme;
  std::string_view host;  // for a wildcard pattern, the part after "*."
  int port = -1;          // explicit or the scheme's default; -1 if neither
  bool wildcard = false;
};

int default_port(std::string_view scheme) noexcept {
  if (iequals(scheme, "http") || iequals(scheme, "ws")) return 80;
  if (iequals(scheme, "https") || iequals(scheme, "wss")) return 443;
  return -1;
}

// RFC 3986 §3.1 scheme.
bool is_scheme(std::string_view s) noexcept {
  if (s.empty() || !is_alpha(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
  });
}

// A DNS-style or IPv4 host: non-empty labels of letters, digits, '-' and '_'. Anything else
// (userinfo, path, '*', percent-encoding) makes the origin unparsable.
bool is_reg_host(std::string_view s) noexcept {
  std::size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
      ++label;
    } else {
      return false;
    }
  }
  return label > 0;
}

bool is_ipv6_literal(std::string_view s) noexcept {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  return std::all_of(s.begin() + 1, s.end() - 1, [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
  });
}

// Parses ":port" (or nothing) after the host. Ports are 0-65535; leading zeros are tolerated.
bool parse_port(std::string_view s, int& port) noexcept {
  if (s.empty()) return true;
  if (s.front() != ':' || s.size() < 2 || s.size() > 6) return false;
  int value = 0;
  for (char c : s.substr(1)) {
    if (!is_digit(c)) return false;
    value = value * 10 + (c - '0');
  }
  if (value > 65535) return false;
  port = value;
  return true;
}

std::optional<OriginParts> parse_origin(std::string_view s, bool allow_wildcard) noexcept {
  OriginParts o;
  const std::size_t sep = s.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  o.scheme = s.substr(0, sep);
  if (!is_scheme(o.scheme)) return std::nullopt;
  std::string_view rest = s.substr(sep + 3);
  if (allow_wildcard && rest.starts_with("*.")) {
    o.wildcard = true;
    rest.remove_prefix(2);
  }
  std::size_t host_end = rest.starts_with('[') ? rest.find(']') : rest.find(':');
  if (rest.starts_with('[') && host_end != std::string_view::npos) ++host_end;
  o.host = rest.substr(0, host_end);
  const bool host_ok = is_ipv6_literal(o.host) ? !o.wildcard : is_reg_host(o.host);
  o.port = default_port(o.scheme);
  if (!host_ok || !parse_port(rest.substr(std::min(host_end, rest.size())), o.port)) {
    return std::nullopt;
  }
  return o;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool origin_matches(const OriginParts& origin, const OriginParts& pattern) noexcept {
  if (!iequals(origin.scheme, pattern.scheme) || origin.port != pattern.port) return false;
  if (!pattern.wildcard) return iequals(origin.host, pattern.host);
  // "*.example.com": at least one label, then ".example.com".
  const std::size_t n = pattern.host.size();
  return origin.host.size() > n + 1 && origin.host[origin.host.size() - n - 1] == '.' &&
         ends_with_ci(origin.host, pattern.host);
}

// ---- error categories ----

class HandshakeCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "websocket-handshake"; }

  std::string message(int ev) const override {
    switch (static_cast<HandshakeErrc>(ev)) {
      case HandshakeErrc::method_not_get: return "WebSocket upgrade requires GET";
      case HandshakeErrc::http_version_too_old: return "WebSocket upgrade requires HTTP/1.1";
      case HandshakeErrc::http_version_unsupported: return "HTTP major version not supported";
      case HandshakeErrc::request_has_body: return "upgrade request must not have a body";
      case HandshakeErrc::host_missing: return "Host is missing";
      case HandshakeErrc::host_repeated: return "Host is repeated";
      case HandshakeErrc::upgrade_missing: return "Upgrade is missing";
      case HandshakeErrc::upgrade_not_websocket: return "Upgrade does not list websocket";
      case HandshakeErrc::connection_not_upgrade: return "Connection does not list upgrade";
      case HandshakeErrc::version_missing: return "Sec-WebSocket-Version is missing";
      case HandshakeErrc::version_unsupported: return "Sec-WebSocket-Version must be 13";
      case HandshakeErrc::key_missing: return "Sec-WebSocket-Key is missing";
      case HandshakeErrc::key_repeated: return "Sec-WebSocket-Key is repeated";
      case HandshakeErrc::key_not_base64: return "Sec-WebSocket-Key is not base64";
      case HandshakeErrc::key_wrong_length: return "Sec-WebSocket-Key is not 16 bytes";
      case HandshakeErrc::subprotocol_invalid: return "Sec-WebSocket-Protocol is invalid";
      case HandshakeErrc::origin_repeated: return "Origin is repeated";
      case HandshakeErrc::origin_forbidden: return "Origin is not allowed";
    }
    return "unknown handshake error " + std::to_string(ev);
  }
};

class ClientHandshakeCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "websocket-client-handshake"; }

  std::string message(int ev) const override {
    switch (static_cast<ClientHandshakeErrc>(ev)) {
      case ClientHandshakeErrc::status_not_101: return "upstream did not answer 101";
      case ClientHandshakeErrc::bad_http_version: return "upstream 101 is not HTTP/1.1";
      case ClientHandshakeErrc::upgrade_not_websocket: return "upstream Upgrade is not websocket";
      case ClientHandshakeErrc::connection_not_upgrade:
        return "upstream Connection does not list upgrade";
      case ClientHandshakeErrc::accept_missing: return "upstream Sec-WebSocket-Accept is missing";
      case ClientHandshakeErrc::accept_mismatch: return "upstream Sec-WebSocket-Accept is wrong";
      case ClientHandshakeErrc::extensions_not_offered:
        return "upstream accepted extensions that were not offered";
      case ClientHandshakeErrc::subprotocol_not_offered:
        return "upstream selected a subprotocol that was not offered";
      case ClientHandshakeErrc::subprotocol_multiple:
        return "upstream Sec-WebSocket-Protocol is not exactly one value";
    }
    return "unknown client handshake error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& handshake_category() noexcept {
  static const HandshakeCategory category;
  return category;
}

const std::error_category& client_handshake_category() noexcept {
  static const ClientHandshakeCategory category;
  return category;
}

int http_status_for(HandshakeErrc e) noexcept {
  switch (e) {
    case HandshakeErrc::method_not_get: return 405;
    case HandshakeErrc::http_version_unsupported: return 505;
    case HandshakeErrc::version_missing:
    case HandshakeErrc::version_unsupported: return 426;
    case HandshakeErrc::origin_forbidden: return 403;
    default: return 400;
  }
}

int http_status_for(ClientHandshakeErrc) noexcept {
  return 502;
}

std::string compute_accept(std::string_view key) {
  std::string input;
  input.reserve(key.size() + kAcceptGuid.size());
  input.append(key).append(kAcceptGuid);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  const int ok = EVP_Digest(input.data(), input.size(), digest.data(), &len, EVP_sha1(), nullptr);
  WSGATE_CHECK(ok == 1 && len == 20, "SHA-1 unavailable in libcrypto");
  return base64_encode(digest.data(), len);
}

bool is_base64_of_length(std::string_view s, std::size_t n) noexcept {
  const std::optional<std::size_t> size = base64_decoded_size(s);
  return size && *size == n;
}

bool is_websocket_upgrade(const HttpRequestHead& req) noexcept {
  return req.headers.has_token("Upgrade", "websocket");
}

Result<UpgradeRequest> validate_upgrade(const HttpRequestHead& req) {
  const HttpHeaders& h = req.headers;
  using Check = std::error_code (*)(const HttpRequestHead&);
  static constexpr Check kChecks[] = {check_request_line,   check_no_body, check_host,
                                      check_upgrade_tokens, check_version, check_key};
  for (const Check check : kChecks) {
    if (const std::error_code ec = check(req)) return ec;
  }
  UpgradeRequest out;
  if (const std::error_code ec = parse_subprotocols(h, out.subprotocols)) return ec;
  if (h.count("Origin") > 1) return HandshakeErrc::origin_repeated;
  if (const auto origin = h.get("Origin")) out.origin = std::string(trim_ows(*origin));
  out.key = std::string(trim_ows(*h.get("Sec-WebSocket-Key")));
  out.extensions = std::string(trim_ows(h.combined("Sec-WebSocket-Extensions")));
  out.host = std::string(trim_ows(*h.get("Host")));
  out.target = req.target;
  return out;
}

std::optional<std::string> select_subprotocol(std::span<const std::string> offered,
                                              std::span<const std::string> supported) {
  for (const std::string& s : supported) {
    if (std::find(offered.begin(), offered.end(), s) != offered.end()) return s;
  }
  return std::nullopt;
}

bool origin_allowed(std::optional<std::string_view> origin, std::span<const std::string> allowed,
                    bool allow_missing) {
  if (!origin) return allow_missing;
  const std::string_view value = trim_ows(*origin);
  const std::optional<OriginParts> parsed = parse_origin(value, false);
  for (const std::string& pattern : allowed) {
    if (pattern == "*") return true;
    if (pattern == "null") {
      if (value == "null") return true;
      continue;
    }
    if (!parsed) continue;
    const std::optional<OriginParts> p = parse_origin(pattern, true);
    if (p && origin_matches(*parsed, *p)) return true;
  }
  return false;
}

bool is_valid_origin_pattern(std::string_view pattern) {
  return pattern == "*" || pattern == "null" || parse_origin(pattern, true).has_value();
}

HttpResponseHead make_upgrade_response(const UpgradeRequest& req,
                                       std::optional<std::string_view> subprotocol,
                                       std::optional<std::string_view> extensions) {
  WSGATE_ASSERT(!subprotocol || std::find(req.subprotocols.begin(), req.subprotocols.end(),
                                          *subprotocol) != req.subprotocols.end(),
                "answering with a subprotocol the client did not offer");
  HttpResponseHead res;
  res.status = 101;
  res.headers.add("Upgrade", "websocket");
  res.headers.add("Connection", "Upgrade");
  res.headers.add("Sec-WebSocket-Accept", compute_accept(req.key));
  if (subprotocol && !subprotocol->empty()) {
    res.headers.add("Sec-WebSocket-Protocol", std::string(*subprotocol));
  }
  if (extensions && !extensions->empty()) {
    res.headers.add("Sec-WebSocket-Extensions", std::string(*extensions));
  }
  return res;
}

HandshakeRejection make_rejection(std::error_code ec) {
  HandshakeRejection r;
  const int status = http_status_for(ec);
  r.head.status = status;
  r.body = std::to_string(status);
  r.body.append(" ").append(reason_phrase(status)).append(": ").append(ec.message()).append("\n");
  HttpHeaders& h = r.head.headers;
  h.add("Content-Type", "text/plain; charset=utf-8");
  h.add("Content-Length", std::to_string(r.body.size()));
  if (status == 405) h.add("Allow", "GET");
  if (status == 426) {
    h.add("Upgrade", "websocket");
    h.add("Sec-WebSocket-Version", "13");
    h.add("Connection", "Upgrade, close");
  } else {
    h.add("Connection", "close");
  }
  return r;
}

std::string generate_key() {
  std::array<unsigned char, kKeyBytes> raw{};
  WSGATE_CHECK(RAND_bytes(raw.data(), static_cast<int>(raw.size())) == 1, "RAND_bytes failed");
  return base64_encode(raw.data(), raw.size());
}

HttpRequestHead make_client_request(std::string_view host, std::string_view target,
                                    std::string_view key, std::span<const std::string> subprotocols,
                                    std::optional<std::string_view> extensions,
                                    const HttpHeaders& extra) {
  HttpRequestHead req;
  req.method = "GET";
  req.target = std::string(target);
  req.headers.add("Host", std::string(host));
  req.headers.add("Upgrade", "websocket");
  req.headers.add("Connection", "Upgrade");
  req.headers.add("Sec-WebSocket-Key", std::string(key));
  req.headers.add("Sec-WebSocket-Version", "13");
  if (!subprotocols.empty()) {
    std::string list;
    for (const std::string& p : subprotocols) {
      WSGATE_ASSERT(is_token(p), "subprotocol is not a token");
      if (!list.empty()) list += ", ";
      list += p;
    }
    req.headers.add("Sec-WebSocket-Protocol", std::move(list));
  }
  if (extensions && !extensions->empty()) {
    req.headers.add("Sec-WebSocket-Extensions", std::string(*extensions));
  }
  for (const HttpHeaders::Field& f : extra) {
    const bool reserved =
        iequals(f.name, "Host") || iequals(f.name, "Upgrade") || iequals(f.name, "Connection") ||
        iequals(f.name, "Content-Length") || iequals(f.name, "Transfer-Encoding") ||
        (f.name.size() >= 14 && iequals(std::string_view(f.name).substr(0, 14), "Sec-WebSocket-"));
    if (!reserved) req.headers.add(f.name, f.value);
  }
  return req;
}

Result<ClientHandshakeResult> verify_response(const HttpResponseHead& res, std::string_view key,
                                              std::span<const std::string> offered_subprotocols,
                                              bool extensions_offered) {
  const HttpHeaders& h = res.headers;
  if (res.status != 101) return ClientHandshakeErrc::status_not_101;
  if (res.version_major != 1 || res.version_minor < 1) return ClientHandshakeErrc::bad_http_version;
  // §4.1 client item 2: the value must be "websocket" itself, not a list that contains it.
  std::size_t upgrades = 0;
  bool websocket = false;
  for_each_field_element(h, "Upgrade", [&](std::string_view e) {
    ++upgrades;
    websocket = iequals(e, "websocket");
  });
  if (upgrades != 1 || !websocket) return ClientHandshakeErrc::upgrade_not_websocket;
  if (!h.has_token("Connection", "upgrade")) return ClientHandshakeErrc::connection_not_upgrade;
  const std::size_t accepts = h.count("Sec-WebSocket-Accept");
  if (accepts == 0) return ClientHandshakeErrc::accept_missing;
  if (accepts > 1 || trim_ows(*h.get("Sec-WebSocket-Accept")) != compute_accept(key)) {
    return ClientHandshakeErrc::accept_mismatch;
  }
  ClientHandshakeResult out;
  out.extensions = std::string(trim_ows(h.combined("Sec-WebSocket-Extensions")));
  if (!out.extensions.empty() && !extensions_offered) {
    return ClientHandshakeErrc::extensions_not_offered;
  }
  if (h.contains("Sec-WebSocket-Protocol")) {
    std::vector<std::string_view> selected;
    for_each_field_element(h, "Sec-WebSocket-Protocol",
                           [&](std::string_view e) { selected.push_back(e); });
    if (selected.size() != 1) return ClientHandshakeErrc::subprotocol_multiple;
    const auto& offered = offered_subprotocols;
    if (std::find(offered.begin(), offered.end(), selected.front()) == offered.end()) {
      return ClientHandshakeErrc::subprotocol_not_offered;
    }
    out.subprotocol = std::string(selected.front());
  }
  return out;
}

}  // namespace wsgate::proto
