#pragma once
// The TLS contexts a configuration needs: one server context per TLS [[listen]] and one client
// context per upstream with tls = true. Built when the configuration loads (start-up, SIGHUP,
// --check), so a bad certificate, key or CA file is reported before anything serves with it.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/tls.hpp"
#include "proxy/config.hpp"

namespace wsgate::proxy {

struct TlsContexts {
  /// Parallel to Config::listen; null for plain listeners.
  std::vector<std::shared_ptr<const net::TlsServerContext>> listeners;
  /// By upstream name; only upstreams with tls = true.
  std::map<std::string, std::shared_ptr<const net::TlsClientContext>> upstreams;
};

/// Builds every context of `cfg`. Throws std::runtime_error naming the listener or upstream, the
/// file and OpenSSL's reason.
TlsContexts build_tls(const Config& cfg);

}  // namespace wsgate::proxy
