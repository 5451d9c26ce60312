// Fuzzes the opening handshake (proto/ws_handshake.hpp) on heads built straight from the input,
// with no HTTP parser in between. Input: text split on '\n' (a trailing '\r' is dropped); line 1
// is "METHOD SP TARGET [SP HTTP/x.y]", each later line "name: value" (no ':' = empty value).
// The same fields are checked as a request (server role) and as a 101 response (client role).
// Oracles, beyond "no crash, no sanitizer report":
//  - an accepted request yields a 101 that verify_response accepts with the chosen subprotocol,
//    and make_client_request rebuilds a request that validates to the same fields;
//  - a refused request maps to 400/405/426/505 and a rejection whose Content-Length is right;
//  - every valid origin pattern without '*' allows itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proto/ws_handshake.hpp"

namespace {

using namespace wsgate::proto;

void require(bool ok) {
  if (!ok) std::abort();
}

struct Parsed {
  HttpRequestHead req;
  HttpResponseHead res;
};

// "HTTP/x.y" with single digits; anything else leaves the default 1.1.
void parse_version(std::string_view v, int& major, int& minor) {
  if (v.size() == 8 && v.starts_with("HTTP/") && v[6] == '.' && v[5] >= '0' && v[5] <= '9' &&
      v[7] >= '0' && v[7] <= '9') {
    major = v[5] - '0';
    minor = v[7] - '0';
  }
}

void parse_request_line(std::string_view line, Parsed& p) {
  const std::size_t sp1 = line.find(' ');
  p.req.method = std::string(line.substr(0, sp1));
  if (sp1 == std::string_view::npos) return;
  line.remove_prefix(sp1 + 1);
  const std::size_t sp2 = line.find(' ');
  p.req.target = std::string(line.substr(0, sp2));
  if (sp2 != std::string_view::npos) {
    parse_version(line.substr(sp2 + 1), p.req.version_major, p.req.version_minor);
  }
  p.res.version_major = p.req.version_major;
  p.res.version_minor = p.req.version_minor;
}

Parsed parse_input(std::string_view in) {
  Parsed p;
  p.res.status = 101;
  bool first = true;
  while (!in.empty()) {
    const std::size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (first) {
      parse_request_line(line, p);
      first = false;
      continue;
    }
    const std::size_t colon = line.find(':');
    const std::string name(line.substr(0, colon));
    const std::string value(colon == std::string_view::npos ? "" : line.substr(colon + 1));
    p.req.headers.add(name, value);
    p.res.headers.add(name, value);
  }
  return p;
}

void check_accepted(const UpgradeRequest& up) {
  require(compute_accept(up.key).size() == 28);
  static const std::vector<std::string> supported = {"superchat", "chat", "binary"};
  static const std::vector<std::string> patterns = {"https://*.example.com", "http://localhost",
                                                    "null"};
  (void)origin_allowed(up.origin, patterns, up.origin.has_value());
  const auto proto = select_subprotocol(up.subprotocols, supported);
  const bool offer_ext = !up.extensions.empty();
  const std::optional<std::string_view> ext =
      offer_ext ? std::optional<std::string_view>("permessage-deflate") : std::nullopt;
  const HttpResponseHead res = make_upgrade_response(up, proto, ext);
  const auto verified = verify_response(res, up.key, up.subprotocols, offer_ext);
  require(verified.ok() && verified->subprotocol == proto);

  HttpHeaders extra;
  if (up.origin) extra.add("Origin", *up.origin);
  const HttpRequestHead again =
      make_client_request(up.host, up.target, up.key, up.subprotocols, up.extensions, extra);
  const auto up2 = validate_upgrade(again);
  require(up2.ok() && up2->key == up.key && up2->subprotocols == up.subprotocols &&
          up2->extensions == up.extensions && up2->host == up.host && up2->target == up.target &&
          up2->origin == up.origin);
}

void check_refused(std::error_code ec) {
  require(ec.category() == handshake_category() && ec != HandshakeErrc::origin_forbidden);
  const HandshakeRejection rej = make_rejection(ec);
  const int s = rej.head.status;
  require(s == 400 || s == 405 || s == 426 || s == 505);
  require(rej.head.headers.get("Content-Length") == std::to_string(rej.body.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Parsed p = parse_input(in);

  const auto up = validate_upgrade(p.req);
  if (up.ok()) {
    check_accepted(*up);
  } else {
    check_refused(up.error());
  }

  // Client role: the same fields as an upstream's 101.
  static const std::vector<std::string> offered = {"chat", "superchat"};
  const std::string_view key =
      p.req.headers.get("Sec-WebSocket-Key").value_or("dGhlIHNhbXBsZSBub25jZQ==");
  const auto verified = verify_response(p.res, key, offered, (size & 1) != 0);
  if (verified.ok()) {
    require(!verified->subprotocol || *verified->subprotocol == "chat" ||
            *verified->subprotocol == "superchat");
  } else {
    require(verified.error().category() == client_handshake_category());
  }

  // Origin matching: the target doubles as an origin pattern.
  const std::string& pattern = p.req.target;
  if (is_valid_origin_pattern(pattern) && pattern.find('*') == std::string::npos) {
    const std::vector<std::string> one = {pattern};
    require(origin_allowed(pattern, one, false));
  }
  return 0;
}
