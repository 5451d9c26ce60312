#pragma once
// HTTP/1.1 error vocabulary: what the parser (http1_parser.hpp) and the writer (http1_writer.hpp)
// report, and the status code a client receives for each. Logs print the specific code (and the
// parser's error_reason()); control flow branches on http_status_for().

#include <system_error>

namespace wsgate::proto {

/// Errors of the HTTP/1.1 codec. Each value's comment names the rule and the status that
/// http_status_for() returns. Statuses are what a server answers to a bad *request*; when a
/// *response* from an upstream fails to parse, the proxy answers 502 whatever the code.
enum class HttpErrc {
  bad_syntax = 1,      ///< malformed framing: CR/LF expected, bad constant, stray space   400
  bad_method,          ///< method is not a token llhttp knows (RFC 9110 §9.1)             400
  bad_target,          ///< request-target has forbidden characters (RFC 9112 §3.2)         400
  bad_version,         ///< malformed HTTP-version; a response that is not HTTP/1.x         400
  bad_status,          ///< response status not three digits in 100-599 (RFC 9110 §15)      400
  bad_header,          ///< bad field name or value, space before ':', obs-fold (§5)        400
  bad_content_length,  ///< Content-Length not a decimal number, or overflow (§6.3)         400
  content_length_conflict,  ///< two Content-Lengths, or Content-Length with Transfer-Encoding  400
  bad_transfer_encoding,  ///< chunked not last/repeated, or TE in an HTTP/1.0 request (§6.1)  400
  bad_chunk,              ///< invalid chunk size or chunk framing (RFC 9112 §7.1)             400
  unsupported_transfer_encoding,  ///< a coding other than chunked in a request (§6.1)          501
  unsupported_version,  ///< request version other than HTTP/1.x (incl. the h2 preface)     505
  url_too_long,         ///< request-target longer than Http1Limits::max_url_bytes          414
  head_too_large,       ///< head (or trailer section) longer than max_head_bytes           431
  too_many_headers,     ///< more than max_header_count fields (or trailer fields)          431
  body_too_large,       ///< body longer than the body limit (Content-Length or streamed)   413
  unexpected_eof,       ///< finish() called inside a message that needs more bytes          400
  data_after_close,     ///< feed() after the parser stopped (connection-ending message)    400
  invalid_field_name,   ///< writer: field name empty or not a token (caller bug)            500
  invalid_field_value,  ///< writer: CR, LF, NUL or another control in a value (caller bug) 500
  invalid_start_line,   ///< writer: bad method/target/status/reason/version (caller bug)  500
  internal,             ///< llhttp reported an unexpected state (a bug in this wrapper)     500
};

const std::error_category& http_category() noexcept;

inline std::error_code make_error_code(HttpErrc e) noexcept {
  return {static_cast<int>(e), http_category()};
}

/// The status a server sends for this error (see the table on HttpErrc).
int http_status_for(HttpErrc e) noexcept;

/// The one error -> status table of proto, for any error code a peer's request or an upstream's
/// response can cause: http_category() through the table above, the server handshake's
/// HandshakeErrc (400/403/405/426/505), the client handshake's ClientHandshakeErrc (502), and
/// ExtensionErrc (a client's Sec-WebSocket-Extensions that does not parse: 400; an upstream's
/// extension answer that breaks RFC 7692: 502). Any other category, and a zero
/// code (which is not an error), yields 500.
int http_status_for(std::error_code ec) noexcept;

}  // namespace wsgate::proto

template <>
struct std::is_error_code_enum<wsgate::proto::HttpErrc> : std::true_type {};
