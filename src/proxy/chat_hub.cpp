#include "proxy/chat_hub.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/log.hpp"
#include "proto/json.hpp"
#include "proxy/fanout.hpp"
#include "proxy/json_out.hpp"

namespace wsgate::proxy {

namespace {

namespace json = proto::json;

constexpr std::size_t kMaxListedMembers = 1000;
constexpr std::size_t kMaxRetiredChannels = 1024;  // empty rooms kept for their history
constexpr std::size_t kMaxCooldownEntries = 256;   // per user, before expired ones are pruned

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct Retained {
  std::uint64_t seq;
  std::shared_ptr<const std::string> json;  // the message as delivered live
};

struct Channel {
  ChatKind kind = ChatKind::world;
  std::string name;   // as clients name it: "world", "guild", or the room
  std::string guild;  // for guild channels
  std::uint64_t seq = 0;
  std::deque<Retained> history;
  std::unordered_map<ChatSessionId, std::string> members;  // session -> user
  std::map<std::string, unsigned> users;                   // user -> sessions in the channel
  std::vector<std::uint32_t> per_worker;                   // members on each worker
};

struct HubSession {
  std::string user;
  std::string device;
  std::string guild;
  std::set<std::string> rooms;  // keys of the rooms joined (not world/guild)
};

struct User {
  std::string name;
  std::map<std::string, ChatSessionId> devices;  // device -> session
  double tokens = 0;                             // rate limit bucket
  std::uint64_t refilled_ms = 0;
  std::unordered_map<std::string, std::uint64_t> last_said_ms;  // channel key -> time
  std::unordered_map<std::string, std::uint64_t> dm_seq;        // other user -> pair seq
};

// The shared state. Lives on the hub thread; every member function runs there.
class ChatWorld {
 public:
  ChatWorld(Bus& bus, PerWorker<ChatWorker>& workers, ChatRouteConfig cfg, std::string route)
      : bus_(bus), workers_(workers), cfg_(std::move(cfg)), route_(std::move(route)) {}

  void configure(ChatRouteConfig cfg) { cfg_ = std::move(cfg); }
  void login(ChatSessionId id, ChatIdentity who);
  void logout(ChatSessionId id);
  void say(ChatSessionId id, const std::string& channel, const std::string& text,
           const std::string& local_id);
  void dm(ChatSessionId id, const std::string& to, const std::string& text,
          const std::string& local_id);
  void join(ChatSessionId id, const std::string& channel, std::optional<std::uint64_t> since);
  void leave(ChatSessionId id, const std::string& channel);
  void who(ChatSessionId id, const std::string& channel);

 private:
  std::uint64_t now_ms() const { return bus_.hub().now_ms(); }
  template <class Fn>
  void to_worker_of(ChatSessionId id, Fn&& fn) {
    ChatWorker* w = &workers_[chat_worker_of(id)];
    bus_.to_worker(chat_worker_of(id), [w, fn = std::forward<Fn>(fn)]() mutable { fn(*w); });
  }
  void reply(ChatSessionId id, std::string json) {
    to_worker_of(id, [id, json = std::move(json)](ChatWorker& w) { w.reply(id, json); });
  }
  void refuse(ChatSessionId id, std::uint16_t code, std::string reason, std::string notice) {
    to_worker_of(id, [id, code, reason = std::move(reason), notice = std::move(notice)](
                         ChatWorker& w) { w.refused(id, code, reason, notice); });
  }

  // Channels by key: "world", "guild:<g>", "room:<name>".
  static std::string room_key(std::string_view name) { return "room:" + std::string(name); }
  Channel& channel(const std::string& key, ChatKind kind, std::string_view name,
                   std::string_view guild = {});
  // The key of a channel a client names, for session `s`; "" and an error sent if none.
  std::string resolve(ChatSessionId id, const HubSession& s, const std::string& name);
  void enter(Channel& ch, ChatSessionId id, const HubSession& s);
  void exit(const std::string& key, ChatSessionId id, const std::string& user);
  void fan_out(const std::string& key, Channel& ch, const net::SharedBytes& frame,
               ChatSessionId except);
  void presence(const std::string& key, Channel& ch, std::string_view event,
                const std::string& user, ChatSessionId except);
  // Drops a session from all shared state (kick, logout). Returns its user (erased if the
  // last session went and `keep_user` is false).
  void drop(ChatSessionId id, bool keep_user);
  // Rate limits of `user` for `key`; returns the milliseconds to wait (0 = go ahead).
  std::uint64_t throttle(User& u, const std::string& key);
  std::string welcome(ChatSessionId id, const HubSession& s, const User& u);

  Bus& bus_;
  PerWorker<ChatWorker>& workers_;
  ChatRouteConfig cfg_;
  std::string route_;
  std::uint64_t next_id_ = 0;
  std::unordered_map<ChatSessionId, HubSession> sessions_;
  std::unordered_map<std::string, User> users_;
  std::unordered_map<std::string, Channel> channels_;
  std::deque<std::string> retired_;  // keys of empty channels kept for their history
};

Channel& ChatWorld::channel(const std::string& key, ChatKind kind, std::string_view name,
                            std::string_view guild) {
  auto it = channels_.find(key);
  if (it != channels_.end()) return it->second;
  Channel& ch = channels_[key];
  ch.kind = kind;
  ch.name = name;
  ch.guild = guild;
  ch.per_worker.assign(workers_.size(), 0);
  return ch;
}

std::string ChatWorld::resolve(ChatSessionId id, const HubSession& s, const std::string& name) {
  if (name == "world") return "world";
  if (name == "guild") {
    if (s.guild.empty()) reply(id, error_json("forbidden", "your token names no guild"));
    return s.guild.empty() ? "" : "guild:" + s.guild;
  }
  return room_key(name);
}

void ChatWorld::enter(Channel& ch, ChatSessionId id, const HubSession& s) {
  if (!ch.members.emplace(id, s.user).second) return;
  ++ch.per_worker[chat_worker_of(id)];
  ++ch.users[s.user];
}

void ChatWorld::exit(const std::string& key, ChatSessionId id, const std::string& user) {
  auto it = channels_.find(key);
  if (it == channels_.end()) return;
  Channel& ch = it->second;
  if (ch.members.erase(id) == 0) return;
  --ch.per_worker[chat_worker_of(id)];
  auto u = ch.users.find(user);
  if (u != ch.users.end() && --u->second == 0) {
    ch.users.erase(u);
    presence(key, ch, "leave", user, id);
  }
  if (!ch.members.empty() || key == "world") return;
  // Keep an emptied channel's history for a while (reconnect recovery), within a bound.
  retired_.push_back(key);
  while (retired_.size() > kMaxRetiredChannels) {
    auto old = channels_.find(retired_.front());
    if (old != channels_.end() && old->second.members.empty()) channels_.erase(old);
    retired_.pop_front();
  }
}

void ChatWorld::fan_out(const std::string& key, Channel& ch, const net::SharedBytes& frame,
                        ChatSessionId except) {
  for (std::size_t w = 0; w < ch.per_worker.size(); ++w) {
    if (ch.per_worker[w] == 0) continue;
    ChatWorker* cw = &workers_[w];
    const ChatKind kind = ch.kind;
    bus_.to_worker(w, [cw, key, kind, frame, except] { cw->deliver(key, kind, frame, except); });
  }
}

void ChatWorld::presence(const std::string& key, Channel& ch, std::string_view event,
                         const std::string& user, ChatSessionId except) {
  const bool wanted = cfg_.presence == Presence::all ||
                      (cfg_.presence == Presence::rooms && ch.kind == ChatKind::room);
  if (!wanted || ch.members.empty()) return;
  auto u = users_.find(user);
  JsonOut j("presence");
  j.str("channel", ch.name).str("event", event).str("user", user);
  j.str("name", u != users_.end() ? u->second.name : user);
  fan_out(key, ch, encode_text_frame(j.done()), except);
}

std::string ChatWorld::welcome(ChatSessionId id, const HubSession& s, const User& u) {
  std::string channels = "[";
  auto add = [&](const std::string& key) {
    const Channel& ch = channels_.at(key);
    if (channels.size() > 1) channels += ',';
    channels += JsonOut().str("channel", ch.name).num("seq", ch.seq).done();
  };
  add("world");
  if (!s.guild.empty()) add("guild:" + s.guild);
  channels += ']';
  JsonOut j("welcome");
  j.str("user", s.user).str("name", u.name);
  if (s.guild.empty()) {
    j.raw("guild", "null");
  } else {
    j.str("guild", s.guild);
  }
  j.str("device", s.device)
      .str("session", std::to_string(chat_worker_of(id)) + ":" +
                          std::to_string(id & ((ChatSessionId{1} << kChatWorkerShift) - 1)))
      .raw("channels", channels);
  return j.done();
}

void ChatWorld::login(ChatSessionId id, ChatIdentity who) {
  if (sessions_.count(id) != 0) return;
  auto uit = users_.find(who.user);
  if (uit != users_.end()) {
    User& u = uit->second;
    if (cfg_.duplicate_login == DuplicateLogin::reject_new) {
      WSGATE_LOG(info, "chat " << route_ << ": " << who.user << " is already logged in; "
                               << "refusing the new login (duplicate_login = reject_new)");
      return refuse(id, 4002, "already logged in", "");
    }
    // kick_old: every session of the user; multi_device: the one on the same device.
    std::vector<ChatSessionId> old;
    for (const auto& [device, sid] : u.devices) {
      if (cfg_.duplicate_login == DuplicateLogin::kick_old || device == who.device) {
        old.push_back(sid);
      }
    }
    for (ChatSessionId sid : old) {
      WSGATE_LOG(info, "chat " << route_ << ": " << who.user << " logged in again; kicking "
                               << "the older session");
      drop(sid, true);
      refuse(sid, 4001, "logged in elsewhere",
             JsonOut("kicked").str("reason", "logged in elsewhere").done());
    }
  } else if (cfg_.max_online != 0 && users_.size() >= cfg_.max_online) {
    WSGATE_LOG(info, "chat " << route_ << ": max_online (" << cfg_.max_online
                             << ") reached; refusing " << who.user);
    return refuse(id, 1013, "server full", "");
  }
  User& u = users_[who.user];
  if (u.devices.empty()) {
    u.tokens = cfg_.burst;
    u.refilled_ms = now_ms();
  }
  u.name = who.name;
  u.devices[who.device] = id;
  HubSession& s = sessions_[id];
  s.user = who.user;
  s.device = who.device;
  s.guild = who.guild;
  std::vector<std::pair<std::string, ChatKind>> joined{{"world", ChatKind::world}};
  Channel& world = channel("world", ChatKind::world, "world");
  const bool new_in_world = world.users.count(s.user) == 0;
  enter(world, id, s);
  if (new_in_world) presence("world", world, "join", s.user, id);
  if (!s.guild.empty()) {
    const std::string key = "guild:" + s.guild;
    Channel& g = channel(key, ChatKind::guild, "guild", s.guild);
    const bool fresh = g.users.count(s.user) == 0;
    enter(g, id, s);
    if (fresh) presence(key, g, "join", s.user, id);
    joined.emplace_back(key, ChatKind::guild);
  }
  std::string w = welcome(id, s, u);
  to_worker_of(id, [id, w = std::move(w), joined = std::move(joined)](ChatWorker& cw) {
    cw.admitted(id, w, joined);
  });
}

void ChatWorld::drop(ChatSessionId id, bool keep_user) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  HubSession s = std::move(it->second);
  sessions_.erase(it);
  for (const std::string& key : s.rooms) exit(key, id, s.user);
  if (!s.guild.empty()) exit("guild:" + s.guild, id, s.user);
  exit("world", id, s.user);
  auto u = users_.find(s.user);
  if (u == users_.end()) return;
  auto d = u->second.devices.find(s.device);
  if (d != u->second.devices.end() && d->second == id) u->second.devices.erase(d);
  if (u->second.devices.empty() && !keep_user) users_.erase(u);
}

void ChatWorld::logout(ChatSessionId id) {
  drop(id, false);
}

std::uint64_t ChatWorld::throttle(User& u, const std::string& key) {
  const std::uint64_t now = now_ms();
  if (cfg_.cooldown.count() > 0) {
    auto last = u.last_said_ms.find(key);
    const auto cd = static_cast<std::uint64_t>(cfg_.cooldown.count());
    if (last != u.last_said_ms.end() && now < last->second + cd) return last->second + cd - now;
  }
  if (cfg_.rate > 0) {
    const double elapsed = static_cast<double>(now - std::min(now, u.refilled_ms)) / 1000.0;
    u.tokens = std::min<double>(cfg_.burst, u.tokens + elapsed * cfg_.rate);
    u.refilled_ms = now;
    if (u.tokens < 1.0) {
      return static_cast<std::uint64_t>(std::ceil((1.0 - u.tokens) / cfg_.rate * 1000.0));
    }
    u.tokens -= 1.0;
  }
  if (cfg_.cooldown.count() > 0) {
    u.last_said_ms[key] = now;
    if (u.last_said_ms.size() > kMaxCooldownEntries) {  // forget the channels that cooled down
      const auto cd = static_cast<std::uint64_t>(cfg_.cooldown.count());
      std::erase_if(u.last_said_ms, [&](const auto& e) { return e.second + cd <= now; });
    }
  }
  return 0;
}

void ChatWorld::say(ChatSessionId id, const std::string& channel_name, const std::string& text,
                    const std::string& local_id) {
  auto sit = sessions_.find(id);
  if (sit == sessions_.end()) return reply(id, error_json("not_logged_in", "log in first"));
  const HubSession& s = sit->second;
  const std::string key = resolve(id, s, channel_name);
  if (key.empty()) return;
  auto cit = channels_.find(key);
  if (cit == channels_.end() || cit->second.members.count(id) == 0) {
    return reply(id, error_json("forbidden", "join " + channel_name + " first"));
  }
  User& u = users_.at(s.user);
  if (const std::uint64_t wait = throttle(u, key); wait > 0) {
    return reply(id, error_json("rate_limited", "wait " + std::to_string(wait) + " ms",
                                static_cast<std::int64_t>(wait)));
  }
  Channel& ch = cit->second;
  const std::uint64_t msg_id = ++next_id_;
  const std::uint64_t seq = ++ch.seq;
  const std::int64_t ts = wall_ms();
  JsonOut m("message");
  m.str("channel", ch.name);
  if (ch.kind == ChatKind::guild) m.str("guild", ch.guild);
  m.str("from", s.user).str("name", u.name).str("text", text);
  m.num("id", static_cast<std::int64_t>(msg_id)).num("seq", static_cast<std::int64_t>(seq));
  auto body = std::make_shared<const std::string>(m.num("ts", ts).done());
  if (cfg_.history > 0) {
    ch.history.push_back({seq, body});
    while (ch.history.size() > cfg_.history) ch.history.pop_front();
  }
  fan_out(key, ch, encode_text_frame(*body), id);
  JsonOut ack("ack");
  if (!local_id.empty()) ack.str("local_id", local_id);
  ack.num("id", static_cast<std::int64_t>(msg_id)).str("channel", ch.name);
  reply(id, ack.num("seq", static_cast<std::int64_t>(seq)).num("ts", ts).done());
}

void ChatWorld::dm(ChatSessionId id, const std::string& to, const std::string& text,
                   const std::string& local_id) {
  auto sit = sessions_.find(id);
  if (sit == sessions_.end()) return reply(id, error_json("not_logged_in", "log in first"));
  const HubSession& s = sit->second;
  User& from = users_.at(s.user);
  if (const std::uint64_t wait = throttle(from, "dm:" + to); wait > 0) {
    return reply(id, error_json("rate_limited", "wait " + std::to_string(wait) + " ms",
                                static_cast<std::int64_t>(wait)));
  }
  auto rit = users_.find(to);
  User* receiver = rit == users_.end() ? nullptr : &rit->second;
  // The pair's seq: kept by both users while either is online. Nothing is kept for a
  // receiver who is offline (a client naming random users must not grow the maps).
  auto known = from.dm_seq.find(to);
  std::uint64_t seq = known == from.dm_seq.end() ? 0 : known->second;
  if (receiver != nullptr) {
    seq = std::max(seq, receiver->dm_seq[s.user]) + 1;
    from.dm_seq[to] = seq;
    receiver->dm_seq[s.user] = seq;
  } else {
    ++seq;
  }
  const std::uint64_t msg_id = ++next_id_;
  const std::int64_t ts = wall_ms();
  JsonOut m("message");
  m.str("channel", "dm").str("from", s.user).str("name", from.name).str("to", to);
  m.str("text", text).num("id", static_cast<std::int64_t>(msg_id));
  const net::SharedBytes frame =
      encode_text_frame(m.num("seq", static_cast<std::int64_t>(seq)).num("ts", ts).done());
  // Every device of the receiver, and the sender's other devices.
  std::vector<std::vector<ChatSessionId>> by_worker(workers_.size());
  std::size_t delivered = 0;
  if (receiver != nullptr) {
    for (const auto& [device, sid] : receiver->devices) {
      if (sid == id) continue;
      by_worker[chat_worker_of(sid)].push_back(sid);
      ++delivered;
    }
  }
  if (to != s.user) {
    for (const auto& [device, sid] : from.devices) {
      if (sid != id) by_worker[chat_worker_of(sid)].push_back(sid);
    }
  }
  for (std::size_t w = 0; w < by_worker.size(); ++w) {
    if (by_worker[w].empty()) continue;
    ChatWorker* cw = &workers_[w];
    bus_.to_worker(w, [cw, ids = std::move(by_worker[w]), frame] { cw->deliver_to(ids, frame); });
  }
  JsonOut ack("ack");
  if (!local_id.empty()) ack.str("local_id", local_id);
  ack.num("id", static_cast<std::int64_t>(msg_id)).str("channel", "dm").str("to", to);
  ack.num("seq", static_cast<std::int64_t>(seq)).num("ts", ts);
  reply(id, ack.num("delivered", static_cast<std::int64_t>(delivered)).done());
}

void ChatWorld::join(ChatSessionId id, const std::string& name,
                     std::optional<std::uint64_t> since) {
  auto sit = sessions_.find(id);
  if (sit == sessions_.end()) return reply(id, error_json("not_logged_in", "log in first"));
  HubSession& s = sit->second;
  const std::string key = resolve(id, s, name);
  if (key.empty()) return;
  const bool is_room = key.starts_with("room:");
  if (is_room && s.rooms.count(key) == 0 && s.rooms.size() >= cfg_.max_rooms) {
    return reply(
        id, error_json("too_many_rooms", "at most " + std::to_string(cfg_.max_rooms) + " rooms"));
  }
  Channel& ch = is_room ? channel(key, ChatKind::room, name) : channels_.at(key);
  if (is_room && s.rooms.insert(key).second) {
    const bool fresh = ch.users.count(s.user) == 0;
    enter(ch, id, s);
    if (fresh) presence(key, ch, "join", s.user, id);
    std::erase(retired_, key);
  }
  std::vector<std::string> replay;
  bool gap = false;
  std::uint64_t oldest = ch.history.empty() ? ch.seq + 1 : ch.history.front().seq;
  if (since && *since < ch.seq) {
    gap = *since + 1 < oldest;
    constexpr std::string_view kHead = "{\"type\":\"message\",";
    for (const Retained& r : ch.history) {
      if (r.seq <= *since) continue;
      replay.push_back(std::string(kHead) + "\"replay\":true," + r.json->substr(kHead.size()));
    }
  }
  JsonOut j("joined");
  j.str("channel", ch.name).num("seq", static_cast<std::int64_t>(ch.seq));
  if (gap) j.raw("gap", "true").num("oldest", static_cast<std::int64_t>(oldest));
  to_worker_of(id, [id, key, kind = ch.kind, replay = std::move(replay),
                    joined = j.done()](ChatWorker& w) { w.joined(id, key, kind, replay, joined); });
}

void ChatWorld::leave(ChatSessionId id, const std::string& name) {
  auto sit = sessions_.find(id);
  if (sit == sessions_.end()) return reply(id, error_json("not_logged_in", "log in first"));
  HubSession& s = sit->second;
  if (name == "world" || name == "guild") {
    return reply(id, error_json("forbidden", "every session stays in " + name + " (mute it)"));
  }
  const std::string key = room_key(name);
  if (s.rooms.erase(key) == 0) {
    return reply(id, error_json("forbidden", "not in " + name));
  }
  exit(key, id, s.user);
  to_worker_of(id, [id, key, json = JsonOut("left").str("channel", name).done()](ChatWorker& w) {
    w.left(id, key, json);
  });
}

void ChatWorld::who(ChatSessionId id, const std::string& name) {
  auto sit = sessions_.find(id);
  if (sit == sessions_.end()) return reply(id, error_json("not_logged_in", "log in first"));
  const std::string key = resolve(id, sit->second, name);
  if (key.empty()) return;
  auto cit = channels_.find(key);
  if (cit == channels_.end() || cit->second.members.count(id) == 0) {
    return reply(id, error_json("forbidden", "join " + name + " first"));
  }
  const Channel& ch = cit->second;
  std::string list = "[";
  std::size_t listed = 0;
  for (const auto& [user, n] : ch.users) {
    if (listed == kMaxListedMembers) break;
    auto u = users_.find(user);
    if (listed++ > 0) list += ',';
    list +=
        JsonOut().str("user", user).str("name", u != users_.end() ? u->second.name : user).done();
  }
  list += ']';
  JsonOut j("members");
  j.str("channel", ch.name).num("count", static_cast<std::int64_t>(ch.users.size()));
  if (ch.users.size() > kMaxListedMembers) j.raw("truncated", "true");
  reply(id, j.raw("members", list).done());
}

// The ChatBus over the hub: each call becomes one post to the hub thread.
class LocalChatBus final : public ChatBus {
 public:
  LocalChatBus(Bus& bus, PerWorker<ChatWorker>& workers, const ChatRouteConfig& cfg,
               std::string route)
      : bus_(bus), world_(std::make_unique<ChatWorld>(bus, workers, cfg, std::move(route))) {}

  void configure(const ChatRouteConfig& cfg) override {
    bus_.to_hub([w = world_.get(), cfg] { w->configure(cfg); });
  }
  void login(ChatSessionId id, ChatIdentity who) override {
    bus_.to_hub(
        [w = world_.get(), id, who = std::move(who)]() mutable { w->login(id, std::move(who)); });
  }
  void logout(ChatSessionId id) override {
    bus_.to_hub([w = world_.get(), id] { w->logout(id); });
  }
  void say(ChatSessionId id, std::string channel, std::string text, std::string local_id) override {
    bus_.to_hub([w = world_.get(), id, c = std::move(channel), t = std::move(text),
                 l = std::move(local_id)] { w->say(id, c, t, l); });
  }
  void dm(ChatSessionId id, std::string to, std::string text, std::string local_id) override {
    bus_.to_hub([w = world_.get(), id, to = std::move(to), t = std::move(text),
                 l = std::move(local_id)] { w->dm(id, to, t, l); });
  }
  void join(ChatSessionId id, std::string channel, std::optional<std::uint64_t> since) override {
    bus_.to_hub([w = world_.get(), id, c = std::move(channel), since] { w->join(id, c, since); });
  }
  void leave(ChatSessionId id, std::string channel) override {
    bus_.to_hub([w = world_.get(), id, c = std::move(channel)] { w->leave(id, c); });
  }
  void who(ChatSessionId id, std::string channel) override {
    bus_.to_hub([w = world_.get(), id, c = std::move(channel)] { w->who(id, c); });
  }

 private:
  Bus& bus_;
  std::unique_ptr<ChatWorld> world_;  // used on the hub thread only
};

}  // namespace

std::unique_ptr<ChatBus> make_local_chat_bus(Bus& bus, PerWorker<ChatWorker>& workers,
                                             const ChatRouteConfig& cfg, std::string route_name) {
  return std::make_unique<LocalChatBus>(bus, workers, cfg, std::move(route_name));
}

}  // namespace wsgate::proxy
