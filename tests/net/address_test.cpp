#include <catch2/catch.hpp>

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "net/address.hpp"

using namespace wsgate::net;

TEST_CASE("socket address parses numeric IPv4 and IPv6 hosts", "[net][address]") {
  struct Case {
    const char* host;
    std::uint16_t port;
    int family;
    const char* text;
  };
  const Case cases[] = {
      {"127.0.0.1", 8080, AF_INET, "127.0.0.1:8080"},
      {"0.0.0.0", 0, AF_INET, "0.0.0.0:0"},
      {"255.255.255.255", 65535, AF_INET, "255.255.255.255:65535"},
      {"::1", 8080, AF_INET6, "[::1]:8080"},
      {"::", 443, AF_INET6, "[::]:443"},
      {"2001:db8::1", 1, AF_INET6, "[2001:db8::1]:1"},
      {"::ffff:10.0.0.1", 80, AF_INET6, "[::ffff:10.0.0.1]:80"},
  };
  for (const Case& c : cases) {
    INFO(c.host);
    const auto a = SocketAddress::parse(c.host, c.port);
    REQUIRE(a.has_value());
    CHECK(a->family() == c.family);
    CHECK(a->port() == c.port);
    CHECK(a->to_string() == c.text);
    CHECK(a->length() == (c.family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
    const SocketAddress back = SocketAddress::from_sockaddr(a->sockaddr_ptr());
    CHECK(back.to_string() == c.text);
  }
  CHECK(SocketAddress::parse("2001:DB8::1", 1)->host() == "2001:db8::1");  // canonical form
  // IPv4 is formatted by hand: every digit count, and the extremes.
  for (const char* v4 : {"0.0.0.0", "9.10.99.100", "255.255.255.255", "127.0.0.1", "1.20.201.9"}) {
    CHECK(SocketAddress::parse(v4, 80)->host() == v4);
  }
}

TEST_CASE("socket address rejects names and malformed hosts", "[net][address]") {
  for (const char* bad :
       {"", "localhost", "1.2.3", "1.2.3.4.5", "256.0.0.1", "[::1]", "::1::2", "127.0.0.1:80",
        " 127.0.0.1", "1.2.3.4 ", "0000:0000:0000:0000:0000:0000:0000:0000:0000"}) {
    INFO(bad);
    CHECK_FALSE(SocketAddress::parse(bad, 80).has_value());
  }
}

TEST_CASE("socket address default is empty", "[net][address]") {
  const SocketAddress a;
  CHECK(a.family() == AF_UNSPEC);
  CHECK(a.port() == 0);
  CHECK(a.length() == 0);
  CHECK(a.host().empty());
  CHECK(SocketAddress::from_sockaddr(nullptr).family() == AF_UNSPEC);
}
