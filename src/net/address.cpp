#include "net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace wsgate::net {

SocketAddress::SocketAddress() noexcept : sa_{} {
  sa_.any.sa_family = AF_UNSPEC;
}

std::optional<SocketAddress> SocketAddress::parse(std::string_view host, std::uint16_t port) {
  char buf[INET6_ADDRSTRLEN];
  if (host.empty() || host.size() >= sizeof buf) return std::nullopt;
  host.copy(buf, host.size());
  buf[host.size()] = '\0';  // inet_pton wants a C string
  SocketAddress a;
  sockaddr_in in4{};
  if (inet_pton(AF_INET, buf, &in4.sin_addr) == 1) {
    in4.sin_family = AF_INET;
    in4.sin_port = htons(port);
    a.sa_.in4 = in4;
    return a;
  }
  sockaddr_in6 in6{};
  if (inet_pton(AF_INET6, buf, &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    a.sa_.in6 = in6;
    return a;
  }
  return std::nullopt;
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* sa) noexcept {
  SocketAddress a;
  if (sa == nullptr) return a;
  if (sa->sa_family == AF_INET) {
    std::memcpy(&a.sa_.in4, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6) {
    std::memcpy(&a.sa_.in6, sa, sizeof(sockaddr_in6));
  }
  return a;
}

int SocketAddress::family() const noexcept {
  return sa_.any.sa_family;
}

std::uint16_t SocketAddress::port() const noexcept {
  switch (sa_.any.sa_family) {
    case AF_INET: return ntohs(sa_.in4.sin_port);
    case AF_INET6: return ntohs(sa_.in6.sin6_port);
    default: return 0;
  }
}

socklen_t SocketAddress::length() const noexcept {
  switch (sa_.any.sa_family) {
    case AF_INET: return sizeof(sockaddr_in);
    case AF_INET6: return sizeof(sockaddr_in6);
    default: return 0;
  }
}

std::string SocketAddress::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  const void* addr = nullptr;
  if (sa_.any.sa_family == AF_INET) {
    // Dotted quad by hand: inet_ntop formats through sprintf, and the proxy asks for the
    // client's address on every request (X-Forwarded-For).
    const auto* b = reinterpret_cast<const unsigned char*>(&sa_.in4.sin_addr);
    char* p = buf;
    for (int i = 0; i < 4; ++i) {
      const unsigned v = b[i];
      if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
      if (i < 3) *p++ = '.';
    }
    return std::string(buf, static_cast<std::size_t>(p - buf));
  }
  if (sa_.any.sa_family == AF_INET6) {
    addr = &sa_.in6.sin6_addr;
  } else {
    return {};
  }
  if (inet_ntop(sa_.any.sa_family, addr, buf, sizeof buf) == nullptr) return {};
  return buf;
}

std::string SocketAddress::to_string() const {
  if (sa_.any.sa_family == AF_UNSPEC) return "(none)";
  const std::string port_text = std::to_string(port());
  // RFC 3986 §3.2.2: an IPv6 literal is bracketed so its colons don't read as the port's.
  if (sa_.any.sa_family == AF_INET6) return "[" + host() + "]:" + port_text;
  return host() + ":" + port_text;
}

}  // namespace wsgate::net
