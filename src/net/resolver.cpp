#include "net/resolver.hpp"

#include <netdb.h>
#include <uv.h>

#include <algorithm>
#include <memory>

namespace wsgate::net {

namespace {

class ResolverCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "resolver"; }
  std::string message(int ev) const override { return gai_strerror(ev); }
};

std::vector<SocketAddress> collect(const addrinfo* list, std::uint16_t port) {
  std::vector<SocketAddress> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    SocketAddress a = SocketAddress::from_sockaddr(ai->ai_addr);
    auto again = SocketAddress::parse(a.host(), port);  // sets the port, whatever the family
    if (!again) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const SocketAddress& b) {
      return b.to_string() == again->to_string();
    });
    if (!seen) out.push_back(*again);
  }
  return out;
}

addrinfo tcp_hints() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  return hints;
}

struct Request {
  uv_getaddrinfo_t req{};
  std::uint16_t port = 0;
  std::function<void(Result<std::vector<SocketAddress>>)> done;
};

void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) noexcept {
  std::unique_ptr<Request> r(static_cast<Request*>(req->data));
  if (status != 0) {
    // libuv maps EAI_* to its own UV_EAI_* values; translate back for one category.
    const int eai = status == UV_EAI_NONAME       ? EAI_NONAME
                    : status == UV_EAI_AGAIN      ? EAI_AGAIN
                    : status == UV_EAI_NODATA     ? EAI_NONAME
                    : status == UV_ECANCELED      ? EAI_AGAIN
                    : status == UV_EAI_ADDRFAMILY ? EAI_NONAME
                                                  : EAI_FAIL;
    r->done(std::error_code(eai, resolver_category()));
    return;
  }
  std::vector<SocketAddress> out = collect(res, r->port);
  uv_freeaddrinfo(res);
  if (out.empty()) {
    r->done(std::error_code(EAI_NONAME, resolver_category()));
  } else {
    r->done(std::move(out));
  }
}

}  // namespace

const std::error_category& resolver_category() noexcept {
  static const ResolverCategory c;
  return c;
}

Result<std::vector<SocketAddress>> resolve_now(const std::string& host, std::uint16_t port) {
  if (auto numeric = SocketAddress::parse(host, port)) return std::vector<SocketAddress>{*numeric};
  const addrinfo hints = tcp_hints();
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return std::error_code(rc, resolver_category());
  std::vector<SocketAddress> out = collect(res, port);
  freeaddrinfo(res);
  if (out.empty()) return std::error_code(EAI_NONAME, resolver_category());
  return out;
}

void resolve_async(Loop& loop, const std::string& host, std::uint16_t port,
                   std::function<void(Result<std::vector<SocketAddress>>)> done) {
  if (auto numeric = SocketAddress::parse(host, port)) {
    loop.post([done = std::move(done), a = *numeric] { done(std::vector<SocketAddress>{a}); });
    return;
  }
  auto r = std::make_unique<Request>();
  r->port = port;
  r->done = std::move(done);
  r->req.data = r.get();
  const addrinfo hints = tcp_hints();
  const int rc = uv_getaddrinfo(static_cast<uv_loop_t*>(loop.native()), &r->req, &on_resolved,
                                host.c_str(), nullptr, &hints);
  if (rc != 0) {
    auto fn = std::move(r->done);
    loop.post([fn = std::move(fn)] { fn(std::error_code(EAI_FAIL, resolver_category())); });
    return;
  }
  r.release();  // owned by libuv until on_resolved
}

}  // namespace wsgate::net
