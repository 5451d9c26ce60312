#pragma once
// HTTP/1.1 serialisation: start line + header fields, chunked body framing, and HTTP-date
// (RFC 9110 §5.6.7). Pure: no I/O, and no clock (the caller passes the time in).
//
// Header injection policy: the writer never strips or rewrites. A field name that is not a token,
// or a value / reason / target containing CR, LF, NUL or another control character (HTAB aside)
// is a caller bug; the write fails with an HttpErrc and appends nothing, so no half-written head
// can reach the wire. Values taken from a parsed message always pass (the parser enforces a
// stricter grammar), so forwarding parsed heads never fails.

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "base/bytes.hpp"
#include "proto/http_error.hpp"
#include "proto/http_message.hpp"

namespace wsgate::proto {

/// Appends "HTTP/<major>.<minor> <status> <reason>\r\n", each field as "Name: value\r\n" in
/// order (repeats kept), then "\r\n". An empty reason is replaced by reason_phrase(status).
/// Nothing is added for framing (Content-Length, Date, Connection): the caller sets the fields.
/// Errors: invalid_start_line (status outside 100-599, version digit outside 0-9, control in the
/// reason), invalid_field_name, invalid_field_value. On error `out` is unchanged.
[[nodiscard]] std::error_code write_response_head(Bytes& out, const HttpResponseHead& head);

/// Appends "<method> <target> HTTP/<major>.<minor>\r\n", the fields, then "\r\n".
/// Errors: invalid_start_line (method not a token, target empty or holding a byte outside
/// 0x21-0x7E, version digit outside 0-9), invalid_field_name, invalid_field_value. On error `out`
/// is unchanged.
[[nodiscard]] std::error_code write_request_head(Bytes& out, const HttpRequestHead& head);

/// Appends one chunk (RFC 9112 §7.1): lowercase hex size, CRLF, data, CRLF. An empty `data`
/// appends nothing, because a zero-size chunk is the last-chunk and would end the body.
void append_chunk(Bytes& out, ByteView data);

/// Appends the last-chunk and the empty trailer section: "0\r\n\r\n".
void append_last_chunk(Bytes& out);

/// Formats `t` (seconds since the Unix epoch, UTC) as an IMF-fixdate, e.g.
/// "Sun, 06 Nov 1994 08:49:37 GMT", for the Date and Last-Modified fields. Times before
/// 0001-01-01 or after 9999-12-31T23:59:59 are clamped to those bounds (the format has four year
/// digits).
std::string http_date(std::time_t t);

/// Parses an HTTP-date in any of the three formats a recipient must accept (RFC 9110 §5.6.7):
/// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37
/// GMT") and asctime ("Sun Nov  6 08:49:37 1994"). Returns the time since the epoch, or nullopt
/// if the text does not match exactly (no surrounding whitespace, valid day-of-month, hours
/// 00-23, minutes 00-59, seconds 00-60). The weekday must be a valid name but is not checked
/// against the date. RFC 850 two-digit years: 70-99 -> 19xx, 00-69 -> 20xx (a fixed pivot
/// instead of the RFC's "50 years from now" rule, because proto reads no clock).
std::optional<std::time_t> parse_http_date(std::string_view s);

}  // namespace wsgate::proto
