#pragma once
// kind = "proxy": HTTP/1.1 and WebSocket to an upstream pool (docs/ARCHITECTURE.md, "A proxied
// request" and "A proxied WebSocket").
//
// HTTP: the request head is rewritten (proxy/forwarding.hpp) and sent on a kept or new upstream
// connection; bodies stream both ways with backpressure (a slow upstream pauses the client's
// upload, a slow client pauses the upstream's download), so memory per exchange stays at a few
// read buffers whatever the body size. Framing: Content-Length stays Content-Length, chunked
// stays chunked toward the upstream; a response without Content-Length reaches an HTTP/1.1
// client chunked. Failures before the response head are answered 502 (connect refused or timed
// out on every server tried, the upstream closed or sent an invalid response) or 504
// (response_timeout, read_timeout); after the head the client connection is cut so a truncated
// body never looks complete. A request that has no body and an idempotent method, and whose
// kept connection failed before any response byte, is retried on a new connection.
//
// WebSocket: see ws_proxy.hpp.

#include <memory>

#include "proxy/service.hpp"

namespace wsgate::proxy {

std::unique_ptr<Service> make_proxy_service(const RouteConfig& route);

}  // namespace wsgate::proxy
