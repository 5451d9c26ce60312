#pragma once
// The in-process ChatBus: the chat's shared state (users, sessions, channels, sequence numbers,
// history, rate limits) lives on the bus hub thread, where every request of every worker is
// decided in one order; outcomes are posted back to the workers (ChatWorker). A message is
// encoded once as a frame and posted once to each worker that has members of its channel.

#include <memory>

#include "proxy/bus.hpp"
#include "proxy/chat_bus.hpp"
#include "proxy/chat_worker.hpp"

namespace wsgate::proxy {

/// `workers` must outlive the returned bus (both belong to the route's ChatSystem).
std::unique_ptr<ChatBus> make_local_chat_bus(Bus& bus, PerWorker<ChatWorker>& workers,
                                             const ChatRouteConfig& cfg, std::string route_name);

}  // namespace wsgate::proxy
