#pragma once
// WebSocket upgrades on a kind = "proxy" route.
//
// Before answering the client, wsgate connects to the upstream and performs the handshake
// itself (proto client side): the raw target, the client's offered subprotocols, its end-to-end
// headers (Cookie, Authorization, Origin, ...) and the forwarding fields go upstream; the client
// gets the upstream's subprotocol choice. An upstream that cannot be reached, answers 5xx or
// something that is not a valid 101 gives the client 502; one that refuses with a 4xx gives the
// client that status; no answer within response_timeout gives 504.
//
// After the 101 the default relays message by message: client frames are validated by the
// client's WsSession (limits, UTF-8) and re-masked toward the upstream, upstream frames are
// validated by a client-role assembler; boundaries, pings, pongs, close codes and reasons pass
// both ways; an upstream that vanishes without a close frame is closed 1014 to the client.
// With passthrough = true the bytes after the 101 are tunnelled untouched (extensions the two
// ends agreed on included), as nginx does.

#include "proxy/service.hpp"

namespace wsgate::proxy {

class UpstreamPool;

/// Starts the upstream handshake for `ctx` (a validated upgrade on a proxy route): a WsAccept
/// with `pending`, or a refusal.
WsAccept accept_proxied_websocket(const WsUpgradeContext& ctx,
                                  const std::shared_ptr<UpstreamPool>& pool);

}  // namespace wsgate::proxy
