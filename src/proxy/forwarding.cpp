#include "proxy/forwarding.hpp"

#include <array>

namespace wsgate::proxy {

namespace {

// What forward_request_headers() adds at most (Host, X-Forwarded-*, Via, Content-Length or
// Transfer-Encoding, Connection): reserved up front so the copy does not reallocate.
constexpr std::size_t kFieldsAdded = 8;

constexpr std::array<std::string_view, 8> kHopByHop = {
    "Connection", "Keep-Alive",        "Proxy-Connection", "TE",
    "Trailer",    "Transfer-Encoding", "Upgrade",          "Proxy-Authenticate"};

// Appends `item` to a comma-separated list field (one field, RFC 9110 §5.3).
void append_list(proto::HttpHeaders& h, std::string_view name, std::string_view item) {
  std::string v = h.combined(name);
  if (!v.empty()) v += ", ";
  v += item;
  h.set(name, std::move(v));
}

std::string via_text(int version_minor) {
  return version_minor == 0 ? "1.0 wsgate" : "1.1 wsgate";
}

}  // namespace

bool is_hop_by_hop(std::string_view name) noexcept {
  for (std::string_view h : kHopByHop) {
    if (proto::iequals(name, h)) return true;
  }
  return false;
}

proto::HttpHeaders end_to_end(const proto::HttpHeaders& in) {
  const std::string connection = in.combined("Connection");
  proto::HttpHeaders out;
  out.reserve(in.size() + kFieldsAdded);
  for (const auto& f : in) {
    if (is_hop_by_hop(f.name)) continue;
    const bool named = !connection.empty() &&
                       proto::for_each_list_element(connection, [&](std::string_view token) {
                         return proto::iequals(token, f.name);
                       });
    if (named) continue;
    out.add(f.name, f.value);
  }
  return out;
}

proto::HttpHeaders forward_request_headers(const proto::HttpHeaders& in, const ForwardFacts& f,
                                           const std::optional<std::string>& upstream_host) {
  proto::HttpHeaders out = end_to_end(in);
  out.remove("Expect");
  out.remove("Content-Length");
  if (upstream_host) {
    out.set("Host", *upstream_host);
  }
  if (!f.client_ip.empty()) append_list(out, "X-Forwarded-For", f.client_ip);
  out.set("X-Forwarded-Proto", std::string(f.scheme));
  if (f.host) {
    out.set("X-Forwarded-Host", std::string(*f.host));
  } else {
    out.remove("X-Forwarded-Host");
  }
  append_list(out, "Via", via_text(f.version_minor));
  return out;
}

proto::HttpHeaders forward_response_headers(const proto::HttpHeaders& in, int version_minor) {
  proto::HttpHeaders out = end_to_end(in);
  append_list(out, "Via", via_text(version_minor));
  return out;
}

bool is_idempotent(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS" || method == "TRACE";
}

}  // namespace wsgate::proxy
