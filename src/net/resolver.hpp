#pragma once
// Name resolution for upstream servers: getaddrinfo, blocking (at configuration load, on the
// main thread) or on a loop's thread pool (uv_getaddrinfo, for periodic re-resolution).
//
// Both return every TCP address of `host` (IPv4 and IPv6, in the resolver's order, duplicates
// removed) with `port` set. A numeric host resolves to itself without a lookup.
// Errors: std::error_code in resolver_category() (EAI_* values: "host not found", "temporary
// failure"...).

#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "base/result.hpp"
#include "net/address.hpp"
#include "net/loop.hpp"

namespace wsgate::net {

const std::error_category& resolver_category() noexcept;

/// Blocks the calling thread. For start-up and reload, never on a worker loop.
Result<std::vector<SocketAddress>> resolve_now(const std::string& host, std::uint16_t port);

/// Resolves on libuv's thread pool; `done` runs exactly once on the loop thread (also while the
/// loop is stopping). The caller guards its own lifetime (capture a weak_ptr).
void resolve_async(Loop& loop, const std::string& host, std::uint16_t port,
                   std::function<void(Result<std::vector<SocketAddress>>)> done);

}  // namespace wsgate::net
