#include <catch2/catch.hpp>

#include <string>

#include "proxy/forwarding.hpp"

using namespace wsgate;
using namespace wsgate::proxy;

namespace {

proto::HttpHeaders headers(std::initializer_list<std::pair<const char*, const char*>> fields) {
  proto::HttpHeaders h;
  for (const auto& [n, v] : fields) h.add(n, v);
  return h;
}

}  // namespace

TEST_CASE("forwarding: hop-by-hop fields and the ones Connection names are dropped",
          "[proxy][forwarding]") {
  const auto in = headers({{"Host", "a.example"},
                           {"Connection", "keep-alive, X-Secret"},
                           {"connection", "Upgrade"},
                           {"Keep-Alive", "timeout=5"},
                           {"Proxy-Connection", "keep-alive"},
                           {"TE", "trailers"},
                           {"Trailer", "X-Sum"},
                           {"Transfer-Encoding", "chunked"},
                           {"Upgrade", "h2c"},
                           {"X-Secret", "1"},
                           {"x-secret", "2"},
                           {"Cookie", "a=1"},
                           {"Set-Cookie", "b=2"},
                           {"Set-Cookie", "c=3"},
                           {"Authorization", "Bearer t"}});
  const auto out = end_to_end(in);
  CHECK(out.size() == 5);
  CHECK(out.get("Host") == "a.example");
  CHECK(out.get("Cookie") == "a=1");
  CHECK(out.count("Set-Cookie") == 2);  // never joined
  CHECK(out.get("Authorization") == "Bearer t");
  CHECK_FALSE(out.contains("X-Secret"));
  CHECK_FALSE(out.contains("Upgrade"));
  CHECK_FALSE(out.contains("Keep-Alive"));
}

TEST_CASE("forwarding: request fields for the upstream", "[proxy][forwarding]") {
  ForwardFacts f;
  f.client_ip = "10.1.2.3";
  f.scheme = "http";
  f.host = "app.example:8080";
  const auto in = headers({{"Host", "app.example:8080"},
                           {"X-Forwarded-For", "192.0.2.7"},
                           {"X-Forwarded-Proto", "https"},
                           {"Via", "1.1 edge"},
                           {"Expect", "100-continue"},
                           {"Content-Length", "5"},
                           {"Accept", "*/*"}});
  SECTION("Host passes through") {
    const auto out = forward_request_headers(in, f, std::nullopt);
    CHECK(out.get("Host") == "app.example:8080");
    CHECK(out.get("X-Forwarded-For") == "192.0.2.7, 10.1.2.3");
    CHECK(out.get("X-Forwarded-Proto") == "http");  // what this hop saw, not what came in
    CHECK(out.get("X-Forwarded-Host") == "app.example:8080");
    CHECK(out.get("Via") == "1.1 edge, 1.1 wsgate");
    CHECK_FALSE(out.contains("Expect"));
    CHECK_FALSE(out.contains("Content-Length"));  // the proxy writes the framing it sends
    CHECK(out.get("Accept") == "*/*");
  }
  SECTION("Host set by the route") {
    const auto out = forward_request_headers(in, f, std::string("backend.internal"));
    CHECK(out.get("Host") == "backend.internal");
    CHECK(out.count("Host") == 1);
    CHECK(out.get("X-Forwarded-Host") == "app.example:8080");
  }
  SECTION("an HTTP/1.0 client without Host") {
    f.host = std::nullopt;
    f.version_minor = 0;
    const auto out = forward_request_headers(headers({{"X-Forwarded-Host", "spoofed"}}), f, {});
    CHECK_FALSE(out.contains("Host"));  // the proxy adds the server's name when it connects
    CHECK_FALSE(out.contains("X-Forwarded-Host"));
    CHECK(out.get("X-Forwarded-For") == "10.1.2.3");
    CHECK(out.get("Via") == "1.0 wsgate");
  }
}

TEST_CASE("forwarding: response fields and idempotent methods", "[proxy][forwarding]") {
  const auto out = forward_response_headers(
      headers({{"Content-Length", "3"}, {"Connection", "close"}, {"Server", "app"}}), 1);
  CHECK(out.get("Content-Length") == "3");
  CHECK(out.get("Server") == "app");
  CHECK_FALSE(out.contains("Connection"));
  CHECK(out.get("Via") == "1.1 wsgate");
  for (const char* m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}) {
    CHECK(is_idempotent(m));
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get"}) CHECK_FALSE(is_idempotent(m));
}
