#pragma once
// The WebSocket opening handshake (RFC 6455 §4), both roles, on already-parsed HTTP heads.
//
// Server role: validate_upgrade() checks a request head and extracts what the server needs;
// the caller then decides (route policy) on origin and subprotocol, and answers with
// make_upgrade_response() or make_rejection(). Client role (wsgate's outbound connections to
// upstreams): generate_key(), make_client_request(), verify_response().
//
// Pure: no I/O, no clock, no logging. Heads are returned, never serialised (the HTTP writer's
// job). permessage-deflate is not negotiated here: the raw Sec-WebSocket-Extensions values are
// carried through, and an already-negotiated response value is taken back in.
// Thread: every function is safe to call from any thread (no shared state; OpenSSL's RAND and
// digest functions are thread-safe in 3.0).

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/result.hpp"
#include "proto/http_message.hpp"

namespace wsgate::proto {

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a client's upgrade request was refused (server role). The comment on each value gives
/// the HTTP status a client receives (http_status_for) and the extra header make_rejection adds.
/// validate_upgrade() checks in enum order and reports the first failure, so a request that is
/// both HTTP/1.0 and missing Host gets http_version_too_old.
/// A missing or non-websocket Upgrade is 400, as Boost.Beast answers: the request reached the
/// WebSocket path, so it claimed to be an upgrade and is malformed. 426 ("Upgrade Required") is
/// reserved for the version mismatch of §4.4; a route that serves only WebSocket and wants to
/// tell plain-HTTP clients to upgrade decides that before calling validate_upgrade (see
/// is_websocket_upgrade).
enum class HandshakeErrc {
  method_not_get = 1,        ///< method is not "GET" (§4.1 item 2)       -> 405 + Allow: GET
  http_version_too_old,      ///< HTTP/1.0 or older (§4.1 item 2)         -> 400
  http_version_unsupported,  ///< HTTP major version > 1                  -> 505
  request_has_body,          ///< Content-Length > 0 or Transfer-Encoding -> 400
  host_missing,              ///< no Host field, or an empty one (§4.2.1 item 2) -> 400
  host_repeated,             ///< more than one Host field (RFC 9112 §3.2) -> 400
  upgrade_missing,           ///< no Upgrade field (§4.2.1 item 3)        -> 400
  upgrade_not_websocket,     ///< Upgrade lists no "websocket" token      -> 400
  connection_not_upgrade,    ///< Connection lists no "upgrade" token (§4.2.1 item 4) -> 400
  version_missing,           ///< no Sec-WebSocket-Version (§4.2.1 item 6) -> 426 + Version: 13
  version_unsupported,  ///< Sec-WebSocket-Version is not exactly 13 (§4.4) -> 426 + Version: 13
  key_missing,          ///< no Sec-WebSocket-Key (§4.2.1 item 5)    -> 400
  key_repeated,         ///< more than one Sec-WebSocket-Key field   -> 400
  key_not_base64,       ///< key is not canonical padded base64 (RFC 4648 §4) -> 400
  key_wrong_length,     ///< key is base64 but does not decode to 16 bytes -> 400
  subprotocol_invalid,  ///< Sec-WebSocket-Protocol element not a token, duplicated, or the
                        ///< field is empty (§4.1 item 10)             -> 400
  origin_repeated,      ///< more than one Origin field (RFC 6454 §7.3) -> 400
  origin_forbidden,     ///< never returned by validate_upgrade: the caller passes it to
                        ///< make_rejection when origin_allowed() says no (§4.2.2 item 4) -> 403
};

/// Why an upstream's handshake response was refused (client role). All map to HTTP 502 for the
/// downstream client (http_status_for). The caller keeps the response head (and its status) for
/// logging; the error code itself carries nothing else.
enum class ClientHandshakeErrc {
  status_not_101 = 1,       ///< any status other than 101 (§4.1 response item 1)
  bad_http_version,         ///< a 101 on anything but HTTP/1.x with x >= 1
  upgrade_not_websocket,    ///< Upgrade missing, or not exactly "websocket" (item 2)
  connection_not_upgrade,   ///< Connection lists no "upgrade" token (item 3)
  accept_missing,           ///< no Sec-WebSocket-Accept (item 4)
  accept_mismatch,          ///< Accept repeated, or not compute_accept(key) (item 4)
  extensions_not_offered,   ///< Sec-WebSocket-Extensions though we offered none (item 5)
  subprotocol_not_offered,  ///< Sec-WebSocket-Protocol names one we did not offer (item 6)
  subprotocol_multiple,     ///< Sec-WebSocket-Protocol empty or more than one value (item 6)
};

const std::error_category& handshake_category() noexcept;
const std::error_category& client_handshake_category() noexcept;

inline std::error_code make_error_code(HandshakeErrc e) noexcept {
  return {static_cast<int>(e), handshake_category()};
}
inline std::error_code make_error_code(ClientHandshakeErrc e) noexcept {
  return {static_cast<int>(e), client_handshake_category()};
}

/// The HTTP status a downstream client receives for a server-role handshake error (see the
/// HandshakeErrc comments: 400, 403, 405, 426 or 505).
int http_status_for(HandshakeErrc e) noexcept;

/// 502 for every value: the upstream failed its handshake (RFC 9110 §15.6.3), so the proxy
/// answers the downstream client "Bad Gateway".
int http_status_for(ClientHandshakeErrc e) noexcept;

/// For a std::error_code of either category use http_status_for(std::error_code) from
/// http_error.hpp: proto's one error -> status table.

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// The value of Sec-WebSocket-Accept for `key`: base64(SHA-1(key + GUID)) (§4.2.2 item 5.4),
/// always 28 characters. `key` is used exactly as given (validated or not); the RFC example
/// "dGhlIHNhbXBsZSBub25jZQ==" gives "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=". Uses libcrypto's SHA-1; a
/// libcrypto failure (no SHA-1 provider) is an environment bug and aborts (WSGATE_CHECK).
std::string compute_accept(std::string_view key);

/// True if `s` is canonical, padded base64 (RFC 4648 §4: standard alphabet, length a multiple of
/// 4, '=' only as final padding, unused bits of the last symbol zero) decoding to `n` bytes.
/// No whitespace is skipped.
bool is_base64_of_length(std::string_view s, std::size_t n) noexcept;

// ---------------------------------------------------------------------------------------------
// Server role
// ---------------------------------------------------------------------------------------------

/// What the server needs from a valid upgrade request. Owns its strings (copied out of the
/// request head once per connection), so it stays valid after the head is moved or freed.
struct UpgradeRequest {
  std::string key;                        ///< Sec-WebSocket-Key, OWS-trimmed (24 characters)
  std::vector<std::string> subprotocols;  ///< offered subprotocols, client preference order
  std::string extensions;  ///< all Sec-WebSocket-Extensions fields joined with ", "; raw, not
                           ///< parsed (permessage-deflate negotiation does that); empty if none
  std::optional<std::string> origin;  ///< Origin as sent (OWS-trimmed), if present
  std::string host;                   ///< Host as sent (OWS-trimmed), never empty
  std::string target;                 ///< request-target as sent, e.g. "/chat?room=1"
};

/// True if the request asks for a WebSocket upgrade at all (an Upgrade field listing the token
/// "websocket"). Routers use it to choose between the WebSocket and the plain-HTTP path; a route
/// that serves only WebSocket may answer plain requests with 426 + "Upgrade: websocket" (RFC 9110
/// §15.5.22), which is routing policy and not a handshake error.
bool is_websocket_upgrade(const HttpRequestHead& req) noexcept;

/// Validates a client's opening handshake (RFC 6455 §4.2.1) and extracts its fields.
/// Checks, in this order (first failure wins): method GET; HTTP version 1.1 or later 1.x; no
/// body; exactly one non-empty Host; Upgrade lists "websocket" (case-insensitive token, across
/// repeated fields); Connection lists "upgrade" (same rules; "keep-alive, Upgrade" is fine);
/// Sec-WebSocket-Version present and, after trimming OWS, exactly "13" ("13, 8" and repeated
/// fields are refused); exactly one Sec-WebSocket-Key, canonical base64 of 16 bytes; every
/// Sec-WebSocket-Protocol element an RFC 9110 token and unique (exact comparison); at most one
/// Origin. Host, target and Origin syntax are not checked here (parser and router do that).
/// Errors: HandshakeErrc (never origin_forbidden). Ownership: copies out of `req`.
Result<UpgradeRequest> validate_upgrade(const HttpRequestHead& req);

/// Picks the subprotocol to answer with, in **server preference order**: the first entry of
/// `supported` that the client offered. The RFC lets the server choose any one offered value
/// (§4.2.2 item 5.4 /subprotocol/); the server's order wins because the route knows which
/// protocol serves it best (websockify prefers "binary" over "base64" whatever the browser
/// lists). Matching is exact and case-sensitive, because a browser compares the answer to its
/// own list exactly (WHATWG WebSockets, "establish a WebSocket connection"). Returns nullopt if
/// `offered` is empty or nothing overlaps; the caller then normally omits the header (RFC 6455
/// §4.2.2: "null" selection), or refuses if the route insists on a protocol.
std::optional<std::string> select_subprotocol(std::span<const std::string> offered,
                                              std::span<const std::string> supported);

/// True if `origin` may open a WebSocket, given configured patterns `allowed`.
/// - No Origin field (nullopt): returns `allow_missing` (non-browser clients send none).
/// - A pattern "*" allows any Origin value, including "null".
/// - A pattern "null" allows only the literal opaque origin "null" (sandboxed frames, file:).
/// - Otherwise both sides parse as scheme "://" host [":" port] with nothing after (no path,
///   userinfo, query or trailing slash); anything unparsable never matches. Scheme and host
///   compare ASCII case-insensitively; ports compare as numbers, an omitted port meaning the
///   scheme's default (http/ws 80, https/wss 443), so "https://a.com:443" equals "https://a.com".
///   Schemes must be equal (http never matches https).
/// - A pattern host beginning "*." matches any host with at least one more label in front:
///   "https://*.example.com" matches "https://a.example.com" and "https://a.b.example.com" but
///   not "https://example.com" (list it separately) nor "https://badexample.com". '*' anywhere
///   else makes the pattern invalid (never matches). No IDNA: hosts compare as sent (browsers
///   send the punycode form). IPv6 literals compare as bracketed text.
/// On false, the caller answers make_rejection(HandshakeErrc::origin_forbidden) (403).
bool origin_allowed(std::optional<std::string_view> origin, std::span<const std::string> allowed,
                    bool allow_missing);

/// True if `pattern` is usable by origin_allowed ("*", "null", or a parsable origin with an
/// optional leading "*." host label). For config checking at startup.
bool is_valid_origin_pattern(std::string_view pattern);

/// The 101 answer (§4.2.2 item 5): "Upgrade: websocket", "Connection: Upgrade",
/// Sec-WebSocket-Accept for req.key, and Sec-WebSocket-Protocol / Sec-WebSocket-Extensions
/// when given and non-empty. `subprotocol` must be one of req.subprotocols (debug-asserted);
/// `extensions` is the already-negotiated response value, written as given. The reason phrase is
/// left empty (the writer supplies "Switching Protocols").
HttpResponseHead make_upgrade_response(const UpgradeRequest& req,
                                       std::optional<std::string_view> subprotocol,
                                       std::optional<std::string_view> extensions);

/// A refusal: head plus a short text/plain body.
struct HandshakeRejection {
  HttpResponseHead head;
  std::string body;
};

/// Builds the refusal for `ec` (status from http_status_for: meant for the two handshake
/// categories; any other category gets a 500). The head
/// carries "Content-Type: text/plain; charset=utf-8", "Content-Length" matching `body`, and
/// "Connection: close"; plus, for 405, "Allow: GET" (RFC 9110 §15.5.6 requires it); for 426,
/// "Sec-WebSocket-Version: 13" (RFC 6455 §4.4) and "Upgrade: websocket" with "upgrade" added to
/// Connection ("Connection: Upgrade, close"; RFC 9110 §15.5.22 and §7.8 require both). The body
/// is one line: status, reason phrase and the error's message, e.g.
/// "400 Bad Request: Sec-WebSocket-Key is missing\n". The caller closes the connection after
/// sending it.
HandshakeRejection make_rejection(std::error_code ec);

// ---------------------------------------------------------------------------------------------
// Client role
// ---------------------------------------------------------------------------------------------

/// A fresh Sec-WebSocket-Key: 16 bytes from OpenSSL's CSPRNG (RAND_bytes), base64-encoded (24
/// characters, §4.1 item 7). A CSPRNG failure aborts (WSGATE_CHECK): it is not peer-controlled,
/// and the masking code cannot work without it either.
std::string generate_key();

/// The opening request to an upstream (§4.1): "GET target HTTP/1.1", then Host, "Upgrade:
/// websocket", "Connection: Upgrade", Sec-WebSocket-Key, "Sec-WebSocket-Version: 13",
/// Sec-WebSocket-Protocol (offered list joined with ", ", omitted if empty), and
/// Sec-WebSocket-Extensions (omitted if nullopt or empty), then `extra` in order.
/// `extra` is for end-to-end fields (Cookie, Authorization, Origin, X-Forwarded-For, ...). Fields
/// that would conflict with the handshake are dropped from it: Host, Upgrade, Connection,
/// Content-Length, Transfer-Encoding and every Sec-WebSocket-*. Removing other hop-by-hop fields
/// (RFC 9110 §7.6.1) is the proxy's job. Subprotocols must be tokens (debug-asserted).
HttpRequestHead make_client_request(std::string_view host, std::string_view target,
                                    std::string_view key, std::span<const std::string> subprotocols,
                                    std::optional<std::string_view> extensions,
                                    const HttpHeaders& extra);

/// What the upstream agreed to. Owns its strings.
struct ClientHandshakeResult {
  std::optional<std::string> subprotocol;  ///< the selected subprotocol, if the server chose one
  std::string extensions;  ///< all Sec-WebSocket-Extensions fields joined with ", " (raw, to be
                           ///< checked by the deflate negotiation against our offer); may be empty
};

/// Checks an upstream's answer to make_client_request (RFC 6455 §4.1, client requirements), in
/// ClientHandshakeErrc order: status 101; HTTP/1.x with x >= 1; Upgrade exactly "websocket"
/// (case-insensitive, one element in all); Connection lists "upgrade"; exactly one
/// Sec-WebSocket-Accept equal to compute_accept(key) (case-sensitive); no non-empty
/// Sec-WebSocket-Extensions unless `extensions_offered`; Sec-WebSocket-Protocol, if present,
/// exactly one element that is in `offered_subprotocols` (exact match). The server choosing no
/// subprotocol while we offered some is accepted (the caller decides). Errors:
/// ClientHandshakeErrc. Ownership: copies out of `res`.
Result<ClientHandshakeResult> verify_response(const HttpResponseHead& res, std::string_view key,
                                              std::span<const std::string> offered_subprotocols,
                                              bool extensions_offered);

}  // namespace wsgate::proto

template <>
struct std::is_error_code_enum<wsgate::proto::HandshakeErrc> : std::true_type {};
template <>
struct std::is_error_code_enum<wsgate::proto::ClientHandshakeErrc> : std::true_type {};
