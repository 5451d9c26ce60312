#pragma once
// HTTP/1.1 message heads shared by the HTTP parser, the writer and the WebSocket handshake.
// Pure data: no parsing here (see http1_parser.hpp), no I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsgate::proto {

/// ASCII case-insensitive equality (HTTP field names and tokens; RFC 9110 §5.1, §5.6.2).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// True for the characters of an RFC 9110 §5.6.2 token ("tchar"): ALPHA, DIGIT and
/// ! # $ % & ' * + - . ^ _ ` | ~
bool is_tchar(char c) noexcept;

/// True if `s` is a non-empty token (RFC 9110 §5.6.2): methods, field names, upgrade protocols,
/// subprotocols, extension names and parameters.
bool is_token(std::string_view s) noexcept;

/// Trims optional whitespace (SP / HTAB) from both ends (RFC 9110 §5.6.3 "OWS").
std::string_view trim_ows(std::string_view s) noexcept;

/// Calls `fn(token)` for each element of a comma-separated list (RFC 9110 §5.6.1), trimmed of
/// OWS, skipping empty elements. Stops early and returns true if `fn` returns true.
/// Quoted strings are not special-cased: callers use this for token lists only.
template <class Fn>
bool for_each_list_element(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view elem = trim_ows(list.substr(0, comma));
    if (!elem.empty() && fn(elem)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

/// An ordered list of header fields. Names keep their original case; lookups ignore case.
/// Repeated fields are kept as separate entries in arrival order (Set-Cookie must not be joined).
/// Ownership: owns its strings. Thread: none (a plain value).
class HttpHeaders {
 public:
  struct Field {
    std::string name;
    std::string value;
  };

  void add(std::string name, std::string value);
  /// Replaces every field named `name` by one field (appended if absent).
  void set(std::string_view name, std::string value);
  /// Removes every field named `name`; returns how many were removed.
  std::size_t remove(std::string_view name);
  void clear() noexcept { fields_.clear(); }
  /// Room for `n` fields without reallocating (a head built field by field).
  void reserve(std::size_t n) { fields_.reserve(n); }

  /// The first field value named `name`, or nullopt. The view is valid until the next mutation.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  /// How many fields are named `name`.
  std::size_t count(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
  /// All values named `name` joined with ", " (RFC 9110 §5.3 combination). Empty if absent.
  std::string combined(std::string_view name) const;
  /// True if any field named `name` lists `token` (case-insensitive) in its comma-separated value,
  /// across repeated fields: e.g. has_token("Connection", "upgrade") for "keep-alive, Upgrade".
  bool has_token(std::string_view name, std::string_view token) const noexcept;

  const std::vector<Field>& fields() const noexcept { return fields_; }
  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }

 private:
  std::vector<Field> fields_;
};

/// A parsed or to-be-written request line plus headers.
struct HttpRequestHead {
  std::string method;  ///< as sent, e.g. "GET" (methods are case-sensitive, RFC 9110 §9.1)
  std::string target;  ///< request-target as sent, e.g. "/chat?x=1"
  int version_major = 1;
  int version_minor = 1;
  HttpHeaders headers;

  /// The path part of the target (before '?'), still percent-encoded.
  std::string_view path() const noexcept;
  /// The query part of the target (after '?', without it), or empty.
  std::string_view query() const noexcept;
};

/// A parsed or to-be-written status line plus headers.
struct HttpResponseHead {
  int status = 200;
  std::string reason;  ///< empty: the writer uses the standard phrase for `status`
  int version_major = 1;
  int version_minor = 1;
  HttpHeaders headers;
};

/// The standard reason phrase for a status code ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status) noexcept;

}  // namespace wsgate::proto
