#pragma once
// The worker-local half of a chat route: which of this worker's sessions are in which channel,
// and the delivery of outcomes from the shared state (ChatBus) to them. A fan-out frame
// arrives once per worker and is written to every local member from here, by reference.
//
// Thread: one ChatWorker per worker (PerWorker), used only on that worker's thread: by its
// sessions, and by the ChatBus implementation's posts.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/tcp.hpp"
#include "proxy/chat_bus.hpp"

namespace wsgate::proxy {

/// A session as its worker sees it (the chat handler implements it).
class ChatMember {
 public:
  virtual ~ChatMember() = default;
  /// The login succeeded: `welcome` is the welcome message.
  virtual void admitted(std::string_view welcome) = 0;
  /// The session must end: `notice` (if not empty) is sent first, then close `code`.
  virtual void refused(std::uint16_t code, std::string_view reason, std::string_view notice) = 0;
  /// A reply for this session only (ack, error, members...).
  virtual void send_json(std::string_view json) = 0;
  /// A fan-out frame (through the session's DeliveryQueue).
  virtual void deliver(const net::SharedBytes& frame) = 0;
  virtual bool muted(ChatKind kind) const noexcept = 0;

 private:
  friend class ChatWorker;
  std::unordered_map<std::string, std::size_t> slots_;  // channel key -> index in its members
};

class ChatWorker {
 public:
  explicit ChatWorker(std::size_t index) : index_(index) {}
  ChatWorker(const ChatWorker&) = delete;
  ChatWorker& operator=(const ChatWorker&) = delete;

  /// A new session: returns its id (unique in the process).
  ChatSessionId add(ChatMember& m);
  /// The session ended: it leaves every local channel and gets no further call.
  void remove(ChatSessionId id);
  std::size_t sessions() const noexcept { return sessions_.size(); }

  // --- outcomes, posted by the ChatBus implementation ---
  /// Login accepted: the session joins `channels` (keys and kinds), then gets `welcome`.
  void admitted(ChatSessionId id, const std::string& welcome,
                const std::vector<std::pair<std::string, ChatKind>>& channels);
  void refused(ChatSessionId id, std::uint16_t code, const std::string& reason,
               const std::string& notice);
  void reply(ChatSessionId id, const std::string& json);
  /// The session is in channel `key` (now or already): `replay` first, then `joined`.
  void joined(ChatSessionId id, const std::string& key, ChatKind kind,
              const std::vector<std::string>& replay, const std::string& joined);
  void left(ChatSessionId id, const std::string& key, const std::string& json);
  /// `frame` to every local member of channel `key` but `except` (and those muting `kind`).
  void deliver(const std::string& key, ChatKind kind, const net::SharedBytes& frame,
               ChatSessionId except);
  /// `frame` to the listed local sessions (direct messages).
  void deliver_to(const std::vector<ChatSessionId>& ids, const net::SharedBytes& frame);

 private:
  struct Channel {
    std::vector<ChatMember*> members;  // null while a delivery runs: compacted after it
  };

  ChatMember* find(ChatSessionId id) const;
  void enter(ChatMember& m, const std::string& key);
  void exit(ChatMember& m, const std::string& key);
  void compact(const std::string& key, Channel& ch);

  std::size_t index_;
  std::uint64_t next_ = 0;
  std::unordered_map<ChatSessionId, ChatMember*> sessions_;
  std::unordered_map<std::string, Channel> channels_;
  const Channel* delivering_ = nullptr;  // the channel a deliver() is walking
  bool holes_ = false;                   // a member left it meanwhile
};

}  // namespace wsgate::proxy
