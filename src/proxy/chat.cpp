#include "proxy/chat.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include "base/log.hpp"
#include "net/loop.hpp"
#include "net/timer_wheel.hpp"
#include "proto/json.hpp"
#include "proxy/auth.hpp"
#include "proxy/chat_bus.hpp"
#include "proxy/chat_hub.hpp"
#include "proxy/chat_worker.hpp"
#include "proxy/fanout.hpp"
#include "proxy/json_out.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

namespace {

namespace json = proto::json;

constexpr std::size_t kMaxLocalId = 64;
constexpr std::size_t kMaxRoomName = 64;
constexpr std::string_view kErrorPrefix = "{\"type\":\"error\"";

// The process-lifetime part of one chat route (in the Bus, by route name).
struct ChatSystem {
  ChatSystem(Bus& bus, const RouteConfig& route)
      : workers(bus.workers()),
        chat(make_local_chat_bus(bus, workers, route.chat, route.name())),
        limits(std::make_shared<const ChatRouteConfig>(route.chat)) {}
  /// A reload's keys: for the shared state and for every open session's own checks.
  void configure(const ChatRouteConfig& cfg) {
    chat->configure(cfg);
    limits.store(std::make_shared<const ChatRouteConfig>(cfg));
  }
  PerWorker<ChatWorker> workers;
  std::unique_ptr<ChatBus> chat;
  std::atomic<std::shared_ptr<const ChatRouteConfig>> limits;  // the latest [[route]] keys
};

bool glob_match(std::string_view pattern, std::string_view s) {
  // Iterative '*' matching with one backtrack point (patterns are short).
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pattern.size() && pattern[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::optional<ChatKind> kind_named(std::string_view k) {
  if (k == "world") return ChatKind::world;
  if (k == "guild") return ChatKind::guild;
  if (k == "room") return ChatKind::room;
  if (k == "dm") return ChatKind::dm;
  return std::nullopt;
}

// The identity a verified token gives, with the path form's device if any.
ChatIdentity identity_of(const proto::jwt::Claims& c, const std::string& path_device) {
  ChatIdentity who;
  who.user = c.sub;
  who.name = c.name.empty() ? c.sub : c.name;
  who.guild = c.guild.value_or("");
  who.device = !path_device.empty() ? path_device : c.device.value_or("default");
  if (who.device.empty()) who.device = "default";
  return who;
}

// "/chat/u42/conn/phone" under route "/chat": user "u42", device "phone".
bool path_form(std::string_view path, std::string_view route, std::string& user,
               std::string& device) {
  if (path.size() <= route.size()) return false;
  std::string_view rest = path.substr(route.size());
  if (rest.front() == '/') rest.remove_prefix(1);
  const std::size_t a = rest.find('/');
  if (a == std::string_view::npos || a == 0) return false;
  std::string_view tail = rest.substr(a + 1);
  if (!tail.starts_with("conn/")) return false;
  tail.remove_prefix(5);
  if (tail.empty() || tail.find('/') != std::string_view::npos) return false;
  user = rest.substr(0, a);
  device = tail;
  return true;
}

class ChatHandler final : public WsHandler, public ChatMember, private net::TimerHandler {
 public:
  ChatHandler(std::shared_ptr<ChatSystem> sys, std::shared_ptr<const TokenAuth> auth,
              net::Loop& loop, std::size_t worker, std::optional<ChatIdentity> who,
              std::string path_user, std::string path_device)
      : sys_(std::move(sys)),
        auth_(std::move(auth)),
        loop_(loop),
        worker_(sys_->workers[worker]),
        who_(std::move(who)),
        path_user_(std::move(path_user)),
        path_device_(std::move(path_device)) {}

  // --- WsHandler ---
  void on_open(WsSession& s) override {
    session_ = &s;
    id_ = worker_.add(*this);
    if (who_) {
      begin_login();
    } else {
      loop_.schedule(login_timer_, static_cast<std::uint64_t>(cfg()->login_timeout.count()));
    }
  }
  void on_message(WsSession& s, proto::Opcode op, ByteView payload) override;
  void on_close(WsSession&, proto::CloseCode, std::string_view) override {
    login_timer_.cancel();
    worker_.remove(id_);
    if (state_ != State::awaiting_login) sys_->chat->logout(id_);
    state_ = State::gone;
    session_ = nullptr;
  }
  void on_drain(WsSession& s) override { queue_.drain(s); }

  // --- ChatMember ---
  void admitted(std::string_view welcome) override {
    state_ = State::online;
    send_json(welcome);
  }
  void refused(std::uint16_t code, std::string_view reason, std::string_view notice) override {
    if (session_ == nullptr) return;
    state_ = State::refused;
    if (!notice.empty()) session_->send_text(notice);
    session_->close(static_cast<proto::CloseCode>(code), reason);
  }
  // Replies share the delivery queue with fan-out frames, so a slow reader is held to
  // max_backpressure by one rule whatever it is sent.
  void send_json(std::string_view json) override {
    if (session_ == nullptr) return;
    queue_.reply(*session_, encode_text_frame(json));
    if (json.starts_with(kErrorPrefix) && cfg()->close_on_error && session_ != nullptr) {
      session_->close(proto::CloseCode::policy_violation, "error");
    }
  }
  void deliver(const net::SharedBytes& frame) override {
    if (session_ != nullptr) queue_.deliver(*session_, frame);
  }
  bool muted(ChatKind kind) const noexcept override { return (muted_ & chat_kind_bit(kind)) != 0; }

 private:
  enum class State { awaiting_login, logging_in, online, refused, gone };

  // The route's keys as last loaded (a reload applies to open sessions too).
  std::shared_ptr<const ChatRouteConfig> cfg() const { return sys_->limits.load(); }

  void on_timer(net::Timer&) noexcept override {
    if (state_ != State::awaiting_login || session_ == nullptr) return;
    WSGATE_LOG(info, "chat " << session_->route().name() << ": " << session_->peer().to_string()
                             << " sent no login within login_timeout");
    session_->close(proto::CloseCode::policy_violation, "login timeout");
  }

  void begin_login() {
    state_ = State::logging_in;
    login_timer_.cancel();
    sys_->chat->login(id_, *who_);
  }

  // A protocol error: answered (and the connection closed if the route says so). Before
  // the login, any bad message closes 1008: there is no session to keep.
  void fail(std::string_view code, std::string_view message) {
    if (state_ == State::awaiting_login && session_ != nullptr) {
      session_->close(proto::CloseCode::policy_violation, message);
      return;
    }
    send_json(error_json(code, message));
  }

  void login_message(const json::Object& msg);
  void handle(const json::Object& msg, std::string_view type);
  bool room_ok(std::string_view name) {
    if (name == "world" || name == "guild") return true;
    if (chat_room_allowed(name, cfg()->rooms)) return true;
    fail("forbidden", "room name not allowed here");
    return false;
  }

  std::shared_ptr<ChatSystem> sys_;
  std::shared_ptr<const TokenAuth> auth_;
  net::Loop& loop_;
  ChatWorker& worker_;
  std::optional<ChatIdentity> who_;
  std::string path_user_;
  std::string path_device_;
  WsSession* session_ = nullptr;  // from on_open to on_close
  ChatSessionId id_ = 0;
  State state_ = State::awaiting_login;
  unsigned muted_ = 0;  // chat_kind_bit()s
  DeliveryQueue queue_;
  net::Timer login_timer_{*this};
};

void ChatHandler::on_message(WsSession&, proto::Opcode op, ByteView payload) {
  if (state_ == State::refused || state_ == State::gone) return;
  if (op != proto::Opcode::text) return fail("bad_request", "messages are JSON text");
  const auto msg = json::parse_object(as_chars(payload));
  if (!msg) return fail("bad_request", "not a JSON object");
  const auto type = msg->string("type");
  if (!type) return fail("bad_request", "no \"type\"");
  if (*type == "login") return login_message(*msg);
  if (state_ == State::awaiting_login) return fail("not_logged_in", "log in first");
  handle(*msg, *type);
}

void ChatHandler::login_message(const json::Object& msg) {
  if (state_ != State::awaiting_login) return fail("bad_request", "already logged in");
  const auto token = msg.string("token");
  if (!token) return fail("bad_request", "login needs a \"token\"");
  auto claims = auth_->verify_jwt(*token, loop_.wall_time());
  const char* why = nullptr;
  if (!claims) {
    why = "bad token";
  } else if (!path_user_.empty() && claims->sub != path_user_) {
    why = "token is for another user";
  }
  if (why != nullptr) {
    WSGATE_LOG(info, "chat " << session_->route().name() << ": login from "
                             << session_->peer().to_string()
                             << " refused: " << (claims ? why : claims.error().message()));
    session_->close(proto::CloseCode::policy_violation,
                    claims ? why : std::string(why) + ": " + claims.error().message());
    return;
  }
  who_ = identity_of(*claims, path_device_);
  begin_login();
}

void ChatHandler::handle(const json::Object& msg, std::string_view type) {
  const auto limits = cfg();
  const ChatRouteConfig& c = *limits;
  auto text_of = [&]() -> std::optional<std::string> {
    const auto text = msg.string("text");
    if (!text) {
      fail("bad_request", "needs a \"text\"");
      return std::nullopt;
    }
    if (text->size() > c.max_text_length) {
      fail("too_long", "text longer than " + std::to_string(c.max_text_length) + " bytes");
      return std::nullopt;
    }
    return std::string(*text);
  };
  auto local_id = [&]() -> std::optional<std::string> {
    const json::Value* v = msg.find("local_id");
    if (v == nullptr) return std::string();
    if (v->type == json::Type::string && v->str.size() <= kMaxLocalId) return v->str;
    if (v->type == json::Type::number && v->raw.size() <= kMaxLocalId) return std::string(v->raw);
    fail("bad_request", "\"local_id\" must be a string of at most 64 bytes");
    return std::nullopt;
  };
  auto channel = [&]() -> std::optional<std::string> {
    const auto ch = msg.string("channel");
    if (!ch || ch->empty()) {
      fail("bad_request", "needs a \"channel\"");
      return std::nullopt;
    }
    if (!room_ok(*ch)) return std::nullopt;
    return std::string(*ch);
  };

  if (type == "say") {
    auto ch = channel();
    if (!ch) return;
    auto text = text_of();
    if (!text) return;
    auto lid = local_id();
    if (!lid) return;
    return sys_->chat->say(id_, std::move(*ch), std::move(*text), std::move(*lid));
  }
  if (type == "dm") {
    const auto to = msg.string("to");
    if (!to || to->empty() || to->size() > 128) return fail("bad_request", "needs a \"to\"");
    auto text = text_of();
    if (!text) return;
    auto lid = local_id();
    if (!lid) return;
    return sys_->chat->dm(id_, std::string(*to), std::move(*text), std::move(*lid));
  }
  if (type == "join") {
    auto ch = channel();
    if (!ch) return;
    std::optional<std::uint64_t> since;
    if (msg.find("since") != nullptr) {
      const auto s = msg.integer("since");
      if (!s || *s < 0) return fail("bad_request", "\"since\" must be a sequence number");
      since = static_cast<std::uint64_t>(*s);
    }
    return sys_->chat->join(id_, std::move(*ch), since);
  }
  if (type == "leave" || type == "who") {
    auto ch = channel();
    if (!ch) return;
    if (type == "leave") return sys_->chat->leave(id_, std::move(*ch));
    return sys_->chat->who(id_, std::move(*ch));
  }
  if (type == "mute" || type == "unmute") {
    const auto k = msg.string("kind");
    const auto kind = k ? kind_named(*k) : std::nullopt;
    if (!kind) return fail("bad_request", "\"kind\" must be world, guild, room or dm");
    if (type == "mute") {
      muted_ |= chat_kind_bit(*kind);
    } else {
      muted_ &= ~chat_kind_bit(*kind);
    }
    std::string kinds = "[";
    for (const char* n : {"world", "guild", "room", "dm"}) {
      if (!muted(*kind_named(n))) continue;
      if (kinds.size() > 1) kinds += ',';
      json::append_string(kinds, n);
    }
    return send_json(JsonOut("muted").raw("kinds", kinds + "]").done());
  }
  if (type == "ping") {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return send_json(
        JsonOut("pong")
            .num("ts", std::chrono::duration_cast<std::chrono::milliseconds>(now).count())
            .done());
  }
  fail("bad_request", "unknown type");
}

class ChatService final : public Service {
 public:
  ChatService(const RouteConfig& route, Bus& bus)
      : bus_(bus), auth_(std::make_shared<const TokenAuth>(route.jwt)) {
    bool made = false;
    sys_ = bus.system<ChatSystem>("chat " + route.name(), [&] {
      made = true;
      return std::make_shared<ChatSystem>(bus, route);
    });
    if (!made) sys_->configure(route.chat);  // a reload: the new limits
  }

  std::span<const std::string_view> http_methods() const noexcept override { return {}; }
  bool takes_websocket() const noexcept override { return true; }

  WsAccept accept_websocket(const WsUpgradeContext& ctx) const override {
    WsAccept a;
    const auto& offered = ctx.upgrade.subprotocols;
    if (std::find(offered.begin(), offered.end(), kChatProtocol) != offered.end()) {
      a.subprotocol = std::string(kChatProtocol);
    }
    std::string path_user, path_device;
    const bool by_path = path_form(ctx.path, ctx.route.path, path_user, path_device);
    if (!by_path && ctx.path.size() > ctx.route.path.size() + 1) {
      a.status = 404;
      a.detail = "expected " + ctx.route.path + " or " + ctx.route.path + "/{user}/conn/{device}";
      return a;
    }
    std::optional<ChatIdentity> who;
    const FoundToken found = find_token(ctx.head, offered);
    if (found.source != TokenSource::none) {
      auto claims = auth_->verify_jwt(found.token, ctx.loop.wall_time());
      if (!claims) {  // the server logs the refusal with its detail
        a.status = 401;
        a.detail = claims.error().message();
        return a;
      }
      if (by_path && claims->sub != path_user) {
        a.status = 403;
        a.detail = "the token is for another user than the path names";
        return a;
      }
      who = identity_of(*claims, path_device);
    }
    a.handler =
        std::make_unique<ChatHandler>(sys_, auth_, ctx.loop, bus_.worker_index(ctx.loop),
                                      std::move(who), std::move(path_user), std::move(path_device));
    return a;
  }

 private:
  Bus& bus_;
  std::shared_ptr<const TokenAuth> auth_;
  std::shared_ptr<ChatSystem> sys_;
};

}  // namespace

bool chat_room_allowed(std::string_view name, const std::vector<std::string>& patterns) {
  if (name.empty() || name.size() > kMaxRoomName) return false;
  if (name == "world" || name == "guild" || name == "dm") return false;
  const bool alphabet = std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.' || ch == ':';
  });
  if (!alphabet) return false;
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return glob_match(p, name); });
}

std::unique_ptr<Service> make_chat_service(const RouteConfig& route, Bus& bus) {
  return std::make_unique<ChatService>(route, bus);
}

}  // namespace wsgate::proxy
