#include "proxy/tls_setup.hpp"

#include <stdexcept>

namespace wsgate::proxy {

TlsContexts build_tls(const Config& cfg) {
  TlsContexts out;
  for (const ListenConfig& l : cfg.listen) {
    if (!l.tls) {
      out.listeners.push_back(nullptr);
      continue;
    }
    net::TlsServerOptions o;
    for (const TlsCertConfig& c : l.tls->certificates) o.certificates.push_back({c.cert, c.key});
    o.ciphers = l.tls->ciphers;
    o.ciphersuites = l.tls->ciphersuites;
    std::string why;
    auto ctx = net::TlsServerContext::create(o, why);
    if (!ctx) throw std::runtime_error("listen " + l.address + ": " + why);
    out.listeners.push_back(std::move(*ctx));
  }
  for (const auto& [name, u] : cfg.upstreams) {
    if (!u.tls) continue;
    net::TlsClientOptions o;
    o.ca_file = u.tls_ca;
    o.verify = !u.insecure_skip_verify;
    o.alpn = {"http/1.1"};
    std::string why;
    auto ctx = net::TlsClientContext::create(o, why);
    if (!ctx) throw std::runtime_error("upstream '" + name + "': " + why);
    out.upstreams.emplace(name, std::move(*ctx));
  }
  return out;
}

}  // namespace wsgate::proxy
