#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "proxy/router.hpp"

using namespace wsgate::proxy;

namespace {

RouteConfig route(std::string path, bool exact = false, std::optional<std::string> host = {}) {
  RouteConfig r;
  r.path = std::move(path);
  r.exact = exact;
  r.host = std::move(host);
  return r;
}

// The name() of the matched route plus "=" for exact routes, or "none".
std::string which(const Router& router, std::string_view host, std::string_view path) {
  const RouteConfig* r = router.match(host, path);
  if (r == nullptr) return "none";
  return r->name() + (r->exact ? "=" : "");
}

}  // namespace

TEST_CASE("normalize_path: examples, traversal, NUL and bad escapes", "[proxy][router]") {
  struct Row {
    std::string in;
    std::optional<std::string> out;
  };
  const Row rows[] = {
      // the documented examples
      {"/a/./b/../c", "/a/c"},
      {"/%2e%2e/x", std::nullopt},
      {"/a%2Fb", "/a/b"},
      // plain paths, slashes and trailing '/'
      {"/", "/"},
      {"//", "/"},
      {"/a", "/a"},
      {"/a/", "/a/"},
      {"/a//b///c", "/a/b/c"},
      {"//a//", "/a/"},
      {"/a/.", "/a/"},
      {"/a/./", "/a/"},
      {"/a/b/..", "/a/"},
      {"/a/..", "/"},
      {"/./", "/"},
      {"/.", "/"},
      {"/a/.b/..c/...", "/a/.b/..c/..."},  // dots inside names are names
      {"/a/b/../../c/", "/c/"},
      // traversal attempts
      {"/..", std::nullopt},
      {"/../", std::nullopt},
      {"/a/../../b", std::nullopt},
      {"/a/b/../../../etc/passwd", std::nullopt},
      {"/%2e%2e", std::nullopt},
      {"/%2E%2e%2f", std::nullopt},
      {"/a%2f%2e%2e%2f%2e%2e", std::nullopt},
      {"/a/%2e/b", "/a/b"},
      {"/a/%2e%2e/b", "/b"},
      {"/.%2e/x", std::nullopt},
      {"/%2e./x", std::nullopt},
      // NUL, raw or encoded
      {"/a%00b", std::nullopt},
      {std::string("/a\0b", 4), std::nullopt},
      // bad escapes
      {"/a%", std::nullopt},
      {"/a%2", std::nullopt},
      {"/a%zz", std::nullopt},
      {"/a%2g", std::nullopt},
      {"/a%%41", std::nullopt},
      // escapes decoded, UTF-8 bytes kept
      {"/%41%62c", "/Abc"},
      {"/caf%C3%A9", "/caf\xC3\xA9"},
      {"/caf\xC3\xA9/", "/caf\xC3\xA9/"},
      {"/%25", "/%"},  // decoded once only: "%" stays "%"
      {"/%2525", "/%25"},
      {"/a+b c", "/a+b c"},
      {"/a\\..\\b", "/a\\..\\b"},  // backslash is not a separator here
      // must start with '/'
      {"", std::nullopt},
      {"a/b", std::nullopt},
      {"%2fa", std::nullopt},
      {"*", std::nullopt},
  };
  for (const Row& row : rows) {
    INFO("input: " << row.in);
    CHECK(normalize_path(row.in) == row.out);
  }
}

TEST_CASE("normalize_path is idempotent on its output", "[proxy][router]") {
  for (const char* in : {"/a/./b/../c", "/x//y/", "/%41/%2e/", "/caf%C3%A9/.."}) {
    const auto once = normalize_path(in);
    REQUIRE(once);
    CHECK(normalize_path(*once) == once);
  }
}

TEST_CASE("router: exact beats prefix, longest prefix wins, segment boundary", "[proxy][router]") {
  const Router router({route("/"), route("/echo"), route("/echo", true), route("/echo/deep"),
                       route("/app/"), route("/static/x.html", true)});
  struct Row {
    std::string path, expect;
  };
  const Row rows[] = {
      {"/", "/"},
      {"/echo", "/echo="},  // exact wins over the prefix of the same path
      {"/echo/", "/echo"},  // exact needs equality; the prefix covers below it
      {"/echo/a", "/echo"},
      {"/echoes", "/"},  // not a segment boundary
      {"/echo/deep", "/echo/deep"},
      {"/echo/deeper", "/echo"},
      {"/echo/deep/er", "/echo/deep"},
      {"/app", "/"},  // "/app/" covers only what is below it
      {"/app/", "/app/"},
      {"/app/x", "/app/"},
      {"/static/x.html", "/static/x.html="},
      {"/static/x.html/y", "/"},  // exact routes do not match below themselves
      {"/other", "/"},
  };
  for (const Row& row : rows) {
    INFO(row.path);
    CHECK(which(router, "example.com", row.path) == row.expect);
  }
}

TEST_CASE("router: hosts with ports, case, IPv6 and trailing dots", "[proxy][router]") {
  const Router router({route("/a"), route("/a", false, "example.com"), route("/b", false, "::1"),
                       route("/c", true, "example.com")});
  struct Row {
    std::string host, path, expect;
  };
  const Row rows[] = {
      {"example.com", "/a", "example.com/a"},  // host-specific beats any-host at equal length
      {"Example.COM:8080", "/a/x", "example.com/a"},
      {"example.com.", "/a", "example.com/a"},
      {"example.com.:80", "/a", "example.com/a"},
      {"other.com", "/a", "/a"},
      {"", "/a", "/a"},  // no Host: only any-host routes
      {"example.co", "/a", "/a"},
      {"example.com", "/b", "none"},
      {"[::1]:8080", "/b", "[::1]/b"},
      {"[::1]", "/b/x", "[::1]/b"},
      {"[::2]:8080", "/b", "none"},
      {"::1", "/b", "none"},  // unbracketed: ":1" read as a port
      {"example.com", "/c", "example.com/c="},
      {"EXAMPLE.com", "/c", "example.com/c="},
      {"other.com", "/c", "none"},
      {"example.com", "/c/d", "none"},
  };
  for (const Row& row : rows) {
    INFO(row.host << " " << row.path);
    CHECK(which(router, row.host, row.path) == row.expect);
  }
}

TEST_CASE("router: a longer any-host prefix beats a shorter host-specific one", "[proxy][router]") {
  const Router router({route("/", false, "a.com"), route("/api"), route("/api", false, "a.com"),
                       route("/api/v1"), route("/x", true)});
  CHECK(which(router, "a.com", "/api/v1/users") == "/api/v1");
  CHECK(which(router, "a.com", "/api/v2") == "a.com/api");
  CHECK(which(router, "b.com", "/api/v2") == "/api");
  CHECK(which(router, "a.com", "/zzz") == "a.com/");
  CHECK(which(router, "b.com", "/zzz") == "none");
  CHECK(which(router, "b.com", "/x") == "/x=");
  CHECK(which(router, "a.com", "/x") == "/x=");  // exact beats the host-specific "/" prefix
}

TEST_CASE("router: keeps configuration order and stable pointers", "[proxy][router]") {
  std::vector<RouteConfig> routes{route("/z"), route("/a/b"), route("/a")};
  routes[0].line = 10;
  routes[1].line = 20;
  routes[2].line = 30;
  const Router router(routes);
  REQUIRE(router.routes().size() == 3);
  CHECK(router.routes()[0].line == 10);
  CHECK(router.routes()[2].line == 30);
  CHECK(router.match("h", "/a/b/c") == &router.routes()[1]);
  CHECK(router.match("h", "/a/c") == &router.routes()[2]);
  const Router empty({});
  CHECK(empty.match("h", "/") == nullptr);
}

TEST_CASE("router: hundreds of routes still pick the right one", "[proxy][router]") {
  std::vector<RouteConfig> routes;
  for (int i = 0; i < 300; ++i) {
    routes.push_back(route("/svc" + std::to_string(i)));
    routes.push_back(route("/svc" + std::to_string(i), false, "h" + std::to_string(i) + ".org"));
  }
  routes.push_back(route("/"));
  const Router router(std::move(routes));
  CHECK(which(router, "h7.org", "/svc7/x") == "h7.org/svc7");
  CHECK(which(router, "h8.org", "/svc7/x") == "/svc7");
  CHECK(which(router, "h299.org:443", "/svc299") == "h299.org/svc299");
  CHECK(which(router, "x", "/svc300") == "/");
  CHECK(which(router, "x", "/svc29") == "/svc29");
}

TEST_CASE("query_param finds, decodes and refuses", "[proxy][router]") {
  CHECK(query_param("token=abc", "token") == std::optional<std::string>("abc"));
  CHECK(query_param("a=1&token=x%2Fy+z&token=2", "token") == std::optional<std::string>("x/y z"));
  CHECK(query_param("tokens=1&token", "token") == std::optional<std::string>(""));
  CHECK(query_param("token=", "token") == std::optional<std::string>(""));
  CHECK(query_param("a=1", "token") == std::nullopt);
  CHECK(query_param("", "token") == std::nullopt);
  CHECK(query_param("token=%zz", "token") == std::nullopt);
  CHECK(query_param("token=a%00b", "token") == std::nullopt);
}
