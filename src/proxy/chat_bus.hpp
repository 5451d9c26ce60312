#pragma once
// The chat's shared state as its sessions see it (docs/CHAT.md is the protocol).
//
// A chat session asks ChatBus (login, say, join...) and gets the outcome later, on its own
// worker thread, through that worker's ChatWorker (chat.hpp): a reply for one session, or a
// fan-out frame for every local member of a channel. ChatBus is the seam of DESIGN.md's bus:
// the in-process implementation (chat_hub.hpp) keeps users, channels and sequence numbers on
// the bus hub thread; a Redis-backed one can implement the same calls (INCR for seq, PUBLISH
// for fan-out, hashes for sessions) for several wsgate nodes, without touching the handlers.
//
// Order: the calls of one session reach the shared state in the order they are made, and a
// worker receives the outcomes for a channel in the order the shared state decided them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "proxy/config.hpp"

namespace wsgate::proxy {

/// A chat session, unique per process: the worker index in the top 24 bits.
using ChatSessionId = std::uint64_t;
inline constexpr unsigned kChatWorkerShift = 40;
inline std::size_t chat_worker_of(ChatSessionId id) noexcept {
  return static_cast<std::size_t>(id >> kChatWorkerShift);
}

/// Who a session is, from its verified token.
struct ChatIdentity {
  std::string user;    ///< the token's `sub`
  std::string name;    ///< `name`, or the user id
  std::string guild;   ///< "" = none
  std::string device;  ///< `device`, the path's {device}, or "default"
};

/// What a channel is; a session can mute each kind.
enum class ChatKind : std::uint8_t { world, guild, room, dm };
inline constexpr unsigned chat_kind_bit(ChatKind k) noexcept {
  return 1u << static_cast<unsigned>(k);
}

class ChatBus {
 public:
  virtual ~ChatBus() = default;
  /// The route's limits, again after a reload (applies to later requests).
  virtual void configure(const ChatRouteConfig& cfg) = 0;
  /// Outcome: ChatWorker::admitted (welcome), or ChatWorker::refused (4002, 1013); with
  /// kick_old, the session it replaces is refused with 4001.
  virtual void login(ChatSessionId id, ChatIdentity who) = 0;
  /// The session ended (any reason). No outcome.
  virtual void logout(ChatSessionId id) = 0;
  /// Outcome: a reply (ack or error) and a delivery to the channel's other members.
  virtual void say(ChatSessionId id, std::string channel, std::string text,
                   std::string local_id) = 0;
  /// Outcome: a reply (ack with the number of devices reached, or error) and deliveries.
  virtual void dm(ChatSessionId id, std::string to, std::string text, std::string local_id) = 0;
  /// Outcome: ChatWorker::joined (replayed messages first when `since` is set), or an error.
  virtual void join(ChatSessionId id, std::string channel, std::optional<std::uint64_t> since) = 0;
  /// Outcome: ChatWorker::left, or an error.
  virtual void leave(ChatSessionId id, std::string channel) = 0;
  /// Outcome: a reply listing the channel's members.
  virtual void who(ChatSessionId id, std::string channel) = 0;
};

}  // namespace wsgate::proxy
