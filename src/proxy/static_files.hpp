#pragma once
// kind = "static": files under a route's `root`, served the way an nginx user expects: GET and
// HEAD, Content-Type by extension, Last-Modified and a strong ETag, conditional requests (304,
// 412), one byte range (206/416), directory redirect and index file, no directory listings, no
// dotfiles, nothing outside the root even through symlinks.
//
// Mapping: the request path (HttpExchange::path(), already percent-decoded and normalised: no
// "." or ".." segments) minus the route's path prefix, appended to the canonical root. Route "/"
// strips nothing; route "/assets" maps "/assets/a.css" to "<root>/a.css" and "/assets" to the
// root directory itself (which answers 301 to "/assets/").
//
// Statuses: 404 for a missing file, a dotfile segment (".git", ".env"), a directory without an
// index, or a name too long; 403 for EACCES, for anything that is neither a regular file nor a
// directory (FIFO, socket, device), and for a file whose canonical path lies outside the
// canonical root (a symlink escaping; logged at warn with route and path); 500 (logged at error)
// for any other open/stat/read failure.
//
// Memory: a file of at most kWholeFileMax bytes is read and sent in one respond(); a larger one is
// streamed in kChunkSize reads while the exchange's buffered_amount() is at most
// HttpExchange::kProduceBelow (at most, not below: the connection announces a drain only once
// its queue has gone *above* that mark), resuming from on_drain, so one transfer holds at most
// kProduceBelow + kChunkSize bytes whatever the file size. HEAD reads nothing.
//
// A file that shrinks (or fails to read) after the head went out cannot get an error status any
// more: the handler logs an error line, closes the file and calls end_response() short of the
// Content-Length; the server then closes the connection, so the client sees a truncated body.
//
// Thread: the Service is immutable after construction and may be shared by every worker; each
// handler lives on one connection's loop thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/config.hpp"
#include "proxy/service.hpp"

namespace wsgate::proxy {

/// Builds the Service of a `kind = "static"` route (methods GET and HEAD). The route's
/// static_files.root must be absolute (the config loader guarantees it); it is canonicalised
/// (realpath) once here. If that fails (the root vanished since the config was checked), a warn
/// line is logged and every request is answered 404 until the configuration is reloaded.
/// The returned Service copies what it needs from `route`: `route` need not outlive it.
std::unique_ptr<Service> make_static_service(const RouteConfig& route);

/// The pure pieces of the handler, exposed for tests. No I/O, no logging, no allocation except
/// where a std::string is returned.
namespace static_detail {

/// Largest file sent in one respond(); anything larger is streamed.
inline constexpr std::size_t kWholeFileMax = 64 * 1024;
/// Size of one pread() while streaming.
inline constexpr std::size_t kChunkSize = 64 * 1024;

/// The Content-Type for a file name, chosen by the extension after the last '.' of the last
/// path segment, compared case-insensitively. Text types (text/*, JavaScript, JSON, source maps,
/// SVG, XML) carry "; charset=utf-8". Unknown or missing extension: "application/octet-stream".
/// The returned view points to a static table (valid forever).
std::string_view content_type_for(std::string_view file_name) noexcept;

/// The strong entity tag of a file version: "\"<mtime in ns, hex>-<size, hex>\"" with the quotes,
/// e.g. "\"17c2b1e4a9c3d800-1a2b\"". Changes whenever the modification time or size does.
/// A negative mtime (before 1970) is taken as its two's-complement bit pattern.
std::string make_etag(std::int64_t mtime_ns, std::uint64_t size);

/// True if an If-None-Match value (a comma-separated list of entity tags, or "*") matches `etag`
/// under the weak comparison of RFC 9110 §8.8.3.2 (a "W/" prefix on either side is ignored).
/// `etag` is one of ours (make_etag). Elements are split at commas, which is exact for our tags
/// (they contain none); a client tag holding a comma can never match ours anyway.
bool none_match(std::string_view if_none_match, std::string_view etag) noexcept;

/// True if an If-Match value matches `etag` under the strong comparison (RFC 9110 §13.1.1):
/// "*", or a listed tag that is not weak ("W/") and is byte-identical to `etag`.
bool strong_match(std::string_view if_match, std::string_view etag) noexcept;

/// One satisfiable byte range, both ends inclusive (RFC 9110 §14.1.1): first <= last < size.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const noexcept { return last - first + 1; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

/// What a Range header asks of a representation of `size` bytes.
enum class RangeOutcome {
  ignore,         ///< serve the whole file (200): invalid syntax, other unit, several ranges
  partial,        ///< serve `range` (206)
  unsatisfiable,  ///< 416 with "Content-Range: bytes */size"
};
struct RangeDecision {
  RangeOutcome outcome = RangeOutcome::ignore;
  ByteRange range;  ///< meaningful for `partial` only
};

/// Decides a Range header value against a representation of `size` bytes (RFC 9110 §14.1.2,
/// §14.2). Accepted: exactly one of "bytes=a-b", "bytes=a-", "bytes=-n" (unit case-insensitive,
/// OWS around list commas, empty list elements skipped). A last position beyond the end is
/// clamped to size-1. Unsatisfiable: first >= size, or a suffix "-0". Ignored (whole file): any
/// syntax error, "a-b" with b < a, a unit other than bytes, several ranges (we send no
/// multipart/byteranges, allowed by §14.2), and a suffix range on an empty file (nothing to
/// send but the whole empty body). Numbers too large for 64 bits saturate (so a huge first is
/// unsatisfiable, a huge last is clamped).
RangeDecision decide_range(std::string_view range_header, std::uint64_t size) noexcept;

/// The part of the normalised request path below the route's prefix: "" (the root itself) or a
/// string starting with '/'. Route "/" (or any prefix ending in '/') keeps the '/' that follows
/// the prefix. nullopt if `path` does not start with the prefix at a segment boundary (the
/// router never sends such a request; answered 404). The view points into `path`.
std::optional<std::string_view> path_below_route(std::string_view path,
                                                 std::string_view route_path) noexcept;

/// True if any '/'-separated segment of `path` starts with '.' (dotfiles and dot-directories:
/// ".git", ".env", ".well-known" included; an nginx-like default that hides VCS and secrets).
bool has_hidden_segment(std::string_view path) noexcept;

/// True if canonical `path` equals canonical `root` or lies below it (segment boundary: root
/// "/srv/www" contains "/srv/www/a" but not "/srv/www2"). Both must be absolute and canonical
/// (no trailing '/', except the root "/" itself, which contains every absolute path).
bool is_within(std::string_view path, std::string_view root) noexcept;

/// The Location of a directory redirect: `path` percent-encoded (bytes outside RFC 3986
/// unreserved, sub-delims, ':', '@' and '/' become %XX), plus '/', plus "?query" when `query`
/// is non-empty (kept as received: it is still encoded).
std::string directory_location(std::string_view path, std::string_view query);

}  // namespace static_detail

}  // namespace wsgate::proxy
