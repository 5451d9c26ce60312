#pragma once
// kind = "bridge": WebSocket <-> raw TCP, the job websockify does for noVNC and friends.
//
// Upgrade: the backend is connected *before* the 101 (an upstream pool with its balancing and
// failover, or a target chosen per connection by a token), so a dead backend gives the client
// an HTTP 502 and not a 101 followed by a close. Missing token: 400; unknown token: 404.
//
// Data: client binary messages are written to the backend as bytes; backend bytes become binary
// messages, one per read. With the "base64" subprotocol both directions are base64 text
// messages instead. Client text messages on a binary session follow the route's `text`: their
// bytes are forwarded ("bytes") or the session closes with 1003 ("reject").
//
// Backpressure both ways: above the high watermark of either side's send queue, the other
// side's reading pauses until it drains, so memory stays bounded whatever the speeds.
// Close mapping: backend EOF -> close 1000 after the bytes already read have been sent; backend
// reset or error -> 1011; client close -> the bytes queued toward the backend are written, then
// FIN (and the socket closes once the backend finishes too, or after a linger).
//
// Targets: `targets` in the route and `targets_file` (lines "token: host:port" or
// "token: unix:/path", '#' comments,
// websockify's TokenFile format; re-read when its modification time or size changes; a bad line
// is logged with its number and skipped).

#include <memory>

#include "proxy/config.hpp"
#include "proxy/service.hpp"

namespace wsgate::proxy {

std::unique_ptr<Service> make_bridge_service(const RouteConfig& route);

}  // namespace wsgate::proxy
