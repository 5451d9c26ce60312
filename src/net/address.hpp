#pragma once
// Socket addresses: parsing "host:port" listen addresses and formatting peers for logs.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <netinet/in.h>
#include <sys/socket.h>

namespace wsgate::net {

/// An IPv4 or IPv6 address and port (a sockaddr_in or sockaddr_in6 underneath: 28 bytes, not
/// sockaddr_storage's 128, because every connection keeps two).
class SocketAddress {
 public:
  SocketAddress() noexcept;
  /// Parses a numeric host and a port: ("127.0.0.1", 8080), ("::1", 8080), ("0.0.0.0", 0).
  /// No name resolution. nullopt if `host` is not a numeric IPv4/IPv6 address.
  static std::optional<SocketAddress> parse(std::string_view host, std::uint16_t port);
  static SocketAddress from_sockaddr(const sockaddr* sa) noexcept;

  int family() const noexcept;  // AF_INET, AF_INET6, or AF_UNSPEC when empty
  std::uint16_t port() const noexcept;
  const sockaddr* sockaddr_ptr() const noexcept { return &sa_.any; }
  socklen_t length() const noexcept;
  /// The host without port: "127.0.0.1", "::1".
  std::string host() const;
  /// "127.0.0.1:8080" or "[::1]:8080".
  std::string to_string() const;

 private:
  union Storage {
    sockaddr any;
    sockaddr_in in4;
    sockaddr_in6 in6;
  } sa_;
};

}  // namespace wsgate::net
