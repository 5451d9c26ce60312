#include "proxy/chat_worker.hpp"

#include <algorithm>

namespace wsgate::proxy {

ChatSessionId ChatWorker::add(ChatMember& m) {
  const ChatSessionId id = (static_cast<ChatSessionId>(index_) << kChatWorkerShift) | ++next_;
  sessions_.emplace(id, &m);
  return id;
}

void ChatWorker::remove(ChatSessionId id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  ChatMember& m = *it->second;
  while (!m.slots_.empty()) {
    const std::string key = m.slots_.begin()->first;
    exit(m, key);
  }
  sessions_.erase(it);
}

ChatMember* ChatWorker::find(ChatSessionId id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

void ChatWorker::enter(ChatMember& m, const std::string& key) {
  if (m.slots_.count(key) != 0) return;
  Channel& ch = channels_[key];
  m.slots_.emplace(key, ch.members.size());
  ch.members.push_back(&m);
}

void ChatWorker::exit(ChatMember& m, const std::string& key) {
  auto slot = m.slots_.find(key);
  if (slot == m.slots_.end()) return;
  auto it = channels_.find(key);
  const std::size_t i = slot->second;
  m.slots_.erase(slot);
  if (it == channels_.end()) return;
  Channel& ch = it->second;
  if (&ch == delivering_) {  // the walk holds indexes: leave a hole, compact afterwards
    ch.members[i] = nullptr;
    holes_ = true;
    return;
  }
  // Swap-remove: O(1), order within a channel does not matter.
  ChatMember* last = ch.members.back();
  ch.members[i] = last;
  if (last != nullptr && last != &m) last->slots_[key] = i;
  ch.members.pop_back();
  if (ch.members.empty()) channels_.erase(it);
}

void ChatWorker::compact(const std::string& key, Channel& ch) {
  std::size_t out = 0;
  for (ChatMember* m : ch.members) {
    if (m == nullptr) continue;
    m->slots_[key] = out;
    ch.members[out++] = m;
  }
  ch.members.resize(out);
  if (out == 0) channels_.erase(key);
}

void ChatWorker::admitted(ChatSessionId id, const std::string& welcome,
                          const std::vector<std::pair<std::string, ChatKind>>& channels) {
  ChatMember* m = find(id);
  if (m == nullptr) return;
  for (const auto& c : channels) enter(*m, c.first);
  m->admitted(welcome);
}

void ChatWorker::refused(ChatSessionId id, std::uint16_t code, const std::string& reason,
                         const std::string& notice) {
  ChatMember* m = find(id);
  if (m == nullptr) return;
  // It gets nothing more from its channels: the shared state has already forgotten it.
  while (!m->slots_.empty()) {
    const std::string key = m->slots_.begin()->first;
    exit(*m, key);
  }
  m->refused(code, reason, notice);
}

void ChatWorker::reply(ChatSessionId id, const std::string& json) {
  if (ChatMember* m = find(id)) m->send_json(json);
}

void ChatWorker::joined(ChatSessionId id, const std::string& key, ChatKind kind,
                        const std::vector<std::string>& replay, const std::string& joined) {
  ChatMember* m = find(id);
  if (m == nullptr) return;
  enter(*m, key);
  if (!m->muted(kind)) {
    for (const std::string& r : replay) m->send_json(r);
  }
  m->send_json(joined);
}

void ChatWorker::left(ChatSessionId id, const std::string& key, const std::string& json) {
  ChatMember* m = find(id);
  if (m == nullptr) return;
  exit(*m, key);
  m->send_json(json);
}

void ChatWorker::deliver(const std::string& key, ChatKind kind, const net::SharedBytes& frame,
                         ChatSessionId except) {
  auto it = channels_.find(key);
  if (it == channels_.end()) return;
  Channel& ch = it->second;
  ChatMember* skip = find(except);
  delivering_ = &ch;
  // Indexes, not iterators: a delivery may close a session, which leaves a hole (see exit).
  for (std::size_t i = 0; i < ch.members.size(); ++i) {
    ChatMember* m = ch.members[i];
    if (m == nullptr || m == skip || m->muted(kind)) continue;
    m->deliver(frame);
  }
  delivering_ = nullptr;
  if (holes_) {
    holes_ = false;
    compact(key, ch);
  }
}

void ChatWorker::deliver_to(const std::vector<ChatSessionId>& ids, const net::SharedBytes& frame) {
  for (ChatSessionId id : ids) {
    if (ChatMember* m = find(id); m != nullptr && !m->muted(ChatKind::dm)) m->deliver(frame);
  }
}

}  // namespace wsgate::proxy
