#pragma once
// kind = "chat": users log in with a signed token, talk in world / guild / rooms and send each
// other direct messages (docs/CHAT.md is the protocol, docs/CONFIG.md the keys).
//
// Pieces: the Service (here) checks the upgrade's token before the 101; one ChatHandler per
// session speaks the JSON protocol and asks the route's ChatBus (chat_bus.hpp) for everything
// shared; the worker's ChatWorker (chat_worker.hpp) delivers the outcomes. The route's
// ChatSystem (bus + workers) is registered in the process's Bus under the route's name, so it
// outlives reloads: users stay logged in and rooms keep their history across SIGHUP.

#include <memory>

#include "proxy/bus.hpp"
#include "proxy/config.hpp"
#include "proxy/service.hpp"

namespace wsgate::proxy {

/// The subprotocol a chat client may offer (and gets, when it does).
inline constexpr std::string_view kChatProtocol = "wsgate.chat";

std::unique_ptr<Service> make_chat_service(const RouteConfig& route, Bus& bus);

/// True if `name` is a valid room name (1..64 bytes of A-Z a-z 0-9 _ - . :, not "world",
/// "guild" or "dm") that matches one of `patterns` ('*' matches any run of characters).
bool chat_room_allowed(std::string_view name, const std::vector<std::string>& patterns);

}  // namespace wsgate::proxy
