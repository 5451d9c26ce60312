#pragma once
// What a proxy route changes in the heads it forwards (HTTP requests and responses, WebSocket
// handshakes): hop-by-hop fields out (RFC 9110 §7.6.1), forwarding fields in. Pure functions on
// proto heads: no I/O.
//
// Removed both ways: Connection and every field it names, Keep-Alive, Proxy-Connection, TE,
// Trailer, Transfer-Encoding, Upgrade (the proxy frames each side itself). Requests also lose
// Expect (the server answers 100-continue itself) and Content-Length (the proxy writes the
// framing it sends). Requests gain X-Forwarded-For (the client address appended to what came
// in), X-Forwarded-Proto, X-Forwarded-Host (the client's Host) and Via ("1.1 wsgate" appended);
// responses gain Via.

#include <optional>
#include <string>
#include <string_view>

#include "proto/http_message.hpp"

namespace wsgate::proxy {

/// True for the fields a proxy never forwards as they are (names compare case-insensitively).
bool is_hop_by_hop(std::string_view name) noexcept;

/// `in` without hop-by-hop fields nor the fields its Connection header names.
proto::HttpHeaders end_to_end(const proto::HttpHeaders& in);

/// What the forwarding fields say about the client side.
struct ForwardFacts {
  std::string_view client_ip;            ///< the peer's address without port ("" for none)
  std::string_view scheme;               ///< "http" or "https"
  std::optional<std::string_view> host;  ///< the client's Host, if it sent one
  int version_minor = 1;                 ///< of the client's request, for Via
};

/// Request fields for the upstream: end_to_end(in) minus Expect and Content-Length, plus
/// X-Forwarded-For/-Proto/-Host and Via. Host is set to `upstream_host` or passed through.
proto::HttpHeaders forward_request_headers(const proto::HttpHeaders& in, const ForwardFacts& f,
                                           const std::optional<std::string>& upstream_host);

/// Response fields for the client: end_to_end(in) plus Via ("1.x wsgate" per the upstream's
/// version). Content-Length stays (the caller decides the framing).
proto::HttpHeaders forward_response_headers(const proto::HttpHeaders& in, int version_minor);

/// True for methods a retry cannot harm (RFC 9110 §9.2.2).
bool is_idempotent(std::string_view method) noexcept;

}  // namespace wsgate::proxy
