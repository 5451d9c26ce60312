#pragma once
// Request-path normalisation and route matching. Pure functions and an immutable table: no I/O,
// no logging. A Router is built once per configuration and may be shared read-only by every
// worker thread (match() is const and touches no shared mutable state).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config.hpp"

namespace wsgate::proxy {

/// Percent-decodes and normalises a request path (the part of the target before '?'):
/// decodes %XX (invalid escape or %00 -> nullopt), merges repeated '/', resolves "." and ".."
/// segments (".." above the root -> nullopt). Keeps a trailing '/' (a path ending in "/." or
/// "/.." also ends in '/', as RFC 3986 §5.2.4 does). Input must start with '/' (else nullopt).
/// "/a/./b/../c" -> "/a/c"; "/%2e%2e/x" -> nullopt; "/a%2Fb" -> "/a/b".
///
/// Decoding happens before dot-segment resolution, so encoded dots and slashes cannot smuggle a
/// traversal past it. A raw NUL byte is refused like %00. Other bytes, including UTF-8
/// sequences and backslashes, are kept as they are: the result is a byte string, not validated
/// UTF-8. Allocates the result only.
std::optional<std::string> normalize_path(std::string_view raw_path);

/// The value of the first `name=value` pair in a query string (the target after '?'),
/// percent-decoded with '+' as a space (HTML form encoding). nullopt if absent or if the value
/// holds an invalid escape or NUL; "" for "name" or "name=".
std::optional<std::string> query_param(std::string_view query, std::string_view name);

/// Routes requests to the configured routes.
///
/// Matching: among routes whose `host` is unset or equals the request host, an `exact` route
/// whose path equals the request path wins; otherwise the longest matching prefix wins. A prefix
/// route "/echo" matches "/echo" and "/echo/..." but not "/echoes" (segment boundary); a prefix
/// ending in '/' ("/app/") matches only below it; "/" matches everything. At equal path length,
/// a route with a host beats one without.
///
/// Cost: one pass over a list sorted by precedence, no allocation per match (a few hundred
/// routes cost a few hundred short comparisons).
class Router {
 public:
  /// Takes a copy of `routes` (normally Config::routes: paths normalised, hosts lowercased).
  explicit Router(std::vector<RouteConfig> routes);

  /// `host`: the Host header as received, possibly with ":port", or a bracketed IPv6 literal
  /// "[::1]:8080"; compared ASCII case-insensitively without the port and without a trailing
  /// dot. IPv6 literals compare as text (route hosts are stored in inet_ntop's canonical form).
  /// Empty `host` matches only routes without a host. `path`: already normalised.
  /// Returns nullptr if no route matches. The pointer stays valid as long as the Router.
  const RouteConfig* match(std::string_view host, std::string_view path) const;

  /// The routes in configuration order.
  const std::vector<RouteConfig>& routes() const noexcept { return routes_; }

 private:
  std::vector<RouteConfig> routes_;        ///< configuration order; never resized after build
  std::vector<const RouteConfig*> order_;  ///< the same routes, best precedence first
};

}  // namespace wsgate::proxy
