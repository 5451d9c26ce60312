#pragma once
// kind = "echo": each message back with its opcode and boundaries (the conformance target).
// Backpressure: when the peer reads slower than it writes, the session stops reading until the
// echoes have drained, so memory stays bounded without dropping or closing.

#include <memory>

#include "proxy/config.hpp"
#include "proxy/service.hpp"

namespace wsgate::proxy {

std::unique_ptr<Service> make_echo_service(const RouteConfig& route);

}  // namespace wsgate::proxy
