#include "proxy/broker.hpp"

#include <algorithm>
#include <charconv>

#include "base/log.hpp"
#include "net/loop.hpp"
#include "proto/json.hpp"
#include "proxy/auth.hpp"
#include "proxy/fanout.hpp"
#include "proxy/json_out.hpp"
#include "proxy/router.hpp"
#include "proxy/ws_session.hpp"

namespace wsgate::proxy {

namespace {

constexpr std::size_t kMaxTopic = 128;
constexpr std::string_view kBrokerProtocol = "wsgate.broker";

struct BrokerSystem {
  BrokerSystem(Bus& bus, const RouteConfig& route)
      : workers(bus.workers()),
        broker(make_local_broker_bus(bus, workers, route.broker, route.name())) {}
  PerWorker<BrokerWorker> workers;
  std::unique_ptr<BrokerBus> broker;
};

bool topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// "/broker/sensors.kitchen" under "/broker" -> "sensors.kitchen"; "" if not one segment.
std::string topic_of(std::string_view path, std::string_view route) {
  if (path.size() <= route.size() + 1 || path[route.size()] != '/') return {};
  return std::string(path.substr(route.size() + 1));
}

std::optional<std::uint64_t> number_param(std::string_view query, std::string_view name,
                                          bool& bad) {
  const auto v = query_param(query, name);
  if (!v) return std::nullopt;
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc{} || end != v->data() + v->size()) bad = true;
  return n;
}

std::string ack_json(std::string_view type, const std::string& topic, std::uint64_t seq) {
  return JsonOut(type).str("topic", topic).num("seq", seq).done();
}

// One POST: the body is collected (up to max_event_size), then published; the answer waits
// for the hub's seq.
class PublishHandler final : public HttpHandler, public BrokerRequester {
 public:
  PublishHandler(Bus& bus, std::shared_ptr<BrokerSystem> sys, std::shared_ptr<const TokenAuth> auth)
      : bus_(bus), sys_(std::move(sys)), auth_(std::move(auth)) {}

  void on_request(HttpExchange& ex) override {
    ex_ = &ex;
    const RouteConfig& r = ex.route();
    if (ex.request().method != "POST") return ex.respond_error(405);
    topic_ = topic_of(ex.path(), r.path);
    if (!broker_topic_valid(topic_)) {
      return ex.respond_error(
          400, "a topic is 1..128 bytes of A-Z a-z 0-9 _ - . (POST " + r.path + "/{topic})");
    }
    if (auth_->enabled()) {
      const FoundToken t = find_token(ex.request(), {});
      if (t.source != TokenSource::header || !auth_->accepts(t.token, ex.now())) {
        WSGATE_LOG(info, "broker " << r.name() << ": publish from " << ex.peer().to_string()
                                   << " refused: " << (t.token.empty() ? "no" : "bad")
                                   << " bearer token");
        proto::HttpResponseHead head;
        head.status = 401;
        head.headers.add("WWW-Authenticate", "Bearer");
        head.headers.add("Content-Type", "text/plain");
        return ex.respond(std::move(head), "401 Unauthorized\na bearer token is needed\n");
      }
    }
    if (const auto cl = ex.request().headers.get("Content-Length")) {
      std::uint64_t n = 0;
      std::from_chars(cl->data(), cl->data() + cl->size(), n);
      if (n > r.broker.max_event_size) return too_large(ex);
    }
  }
  void on_body(HttpExchange& ex, ByteView chunk) override {
    if (done_) return;
    if (body_.size() + chunk.size() > ex.route().broker.max_event_size) return too_large(ex);
    body_.append(as_chars(chunk));
  }
  void on_request_complete(HttpExchange& ex) override {
    if (done_) return;
    worker_ = &sys_->workers[bus_.worker_index(ex.loop())];
    id_ = worker_->next_id();
    worker_->add_requester(id_, *this);
    sys_->broker->publish(id_, topic_, std::move(body_));
  }
  void on_abort() override {
    if (worker_ != nullptr) worker_->remove_requester(id_);
    ex_ = nullptr;
  }
  void published(const std::string& topic, std::uint64_t seq, int status,
                 const std::string& why) override {
    worker_->remove_requester(id_);
    HttpExchange* ex = ex_;
    if (ex == nullptr) return;
    if (seq == 0) return ex->respond_error(status, why);
    proto::HttpResponseHead head;
    head.headers.add("Content-Type", "application/json");
    ex->respond(std::move(head), ack_json("", topic, seq) + "\n");  // last: may destroy us
  }

 private:
  void too_large(HttpExchange& ex) {
    done_ = true;
    ex.respond_error(413, "an event is at most " +
                              std::to_string(ex.route().broker.max_event_size) +
                              " bytes (max_event_size)");
  }

  Bus& bus_;
  std::shared_ptr<BrokerSystem> sys_;
  std::shared_ptr<const TokenAuth> auth_;
  HttpExchange* ex_ = nullptr;
  BrokerWorker* worker_ = nullptr;
  BrokerId id_ = 0;
  std::string topic_;
  std::string body_;
  bool done_ = false;
};

// One subscription.
class SubscribeHandler final : public WsHandler, public BrokerSubscriber, public BrokerRequester {
 public:
  SubscribeHandler(std::shared_ptr<BrokerSystem> sys, std::size_t worker, std::string pattern,
                   bool raw, BrokerStart start)
      : sys_(std::move(sys)),
        worker_(sys_->workers[worker]),
        pattern_(std::move(pattern)),
        raw_(raw),
        start_(start) {}

  void on_open(WsSession& s) override {
    session_ = &s;
    id_ = worker_.next_id();
    worker_.add_subscriber(id_, *this);
    sys_->broker->subscribe(id_, pattern_, raw_, start_);
  }
  void on_message(WsSession& s, proto::Opcode, ByteView payload) override {
    const RouteConfig& r = s.route();
    if (!r.broker.ws_publish || pattern_.ends_with(".*")) {
      return reply(error_json("forbidden", "publishing over WebSocket is off on this route"));
    }
    if (payload.size() > r.broker.max_event_size) {
      return reply(error_json("too_large", "over max_event_size"));
    }
    const BrokerId req = worker_.next_id();
    worker_.add_requester(req, *this);
    requests_.push_back(req);
    sys_->broker->publish(req, pattern_, std::string(as_chars(payload)));
  }
  void on_close(WsSession&, proto::CloseCode, std::string_view) override {
    worker_.remove_subscriber(id_);
    for (BrokerId r : requests_) worker_.remove_requester(r);
    sys_->broker->unsubscribe(id_);
    session_ = nullptr;
  }
  void on_drain(WsSession& s) override { queue_.drain(s); }

  void deliver(const net::SharedBytes& frame) override {
    if (session_ != nullptr) queue_.deliver(*session_, frame);
  }
  bool raw() const noexcept override { return raw_; }
  void published(const std::string& topic, std::uint64_t seq, int status,
                 const std::string& why) override {
    if (!requests_.empty()) requests_.erase(requests_.begin());  // answers come in order
    if (seq == 0) {
      return reply(JsonOut("error")
                       .str("code", "refused")
                       .num("status", std::int64_t{status})
                       .str("message", why)
                       .done());
    }
    reply(ack_json("ack", topic, seq));
  }

 private:
  void reply(std::string_view json) {
    if (session_ != nullptr) queue_.reply(*session_, encode_text_frame(json));
  }

  std::shared_ptr<BrokerSystem> sys_;
  BrokerWorker& worker_;
  std::string pattern_;
  bool raw_;
  BrokerStart start_;
  WsSession* session_ = nullptr;
  BrokerId id_ = 0;
  std::vector<BrokerId> requests_;  // publishes awaiting their seq
  DeliveryQueue queue_;
};

class BrokerService final : public Service {
 public:
  BrokerService(const RouteConfig& route, Bus& bus)
      : bus_(bus),
        auth_(std::make_shared<const TokenAuth>(route.jwt, route.broker.publish_tokens)) {
    bool made = false;
    sys_ = bus.system<BrokerSystem>("broker " + route.name(), [&] {
      made = true;
      return std::make_shared<BrokerSystem>(bus, route);
    });
    if (!made) sys_->broker->configure(route.broker);
  }

  std::span<const std::string_view> http_methods() const noexcept override {
    static constexpr std::string_view kMethods[] = {"POST"};
    return kMethods;
  }
  std::unique_ptr<HttpHandler> new_http_handler() const override {
    return std::make_unique<PublishHandler>(bus_, sys_, auth_);
  }
  bool takes_websocket() const noexcept override { return true; }

  WsAccept accept_websocket(const WsUpgradeContext& ctx) const override {
    WsAccept a;
    const RouteConfig& r = ctx.route;
    const auto& offered = ctx.upgrade.subprotocols;
    if (std::find(offered.begin(), offered.end(), kBrokerProtocol) != offered.end()) {
      a.subprotocol = std::string(kBrokerProtocol);
    }
    const std::string pattern = topic_of(ctx.path, r.path);
    if (!broker_pattern_valid(pattern, r.broker.wildcard)) {
      a.status = 400;
      a.detail = r.broker.wildcard ? "subscribe to " + r.path + "/{topic} or {prefix}.*"
                                   : "subscribe to " + r.path + "/{topic}";
      return a;
    }
    if (r.broker.subscribe_auth) {
      const FoundToken t = find_token(ctx.head, offered);
      if (t.source == TokenSource::none || !auth_->accepts(t.token, ctx.loop.wall_time())) {
        a.status = 401;
        a.detail = "a valid token is needed to subscribe";
        return a;
      }
    }
    bool bad = false;
    const std::string_view query = ctx.head.query();
    BrokerStart start{number_param(query, "from", bad), number_param(query, "last", bad)};
    const auto format = query_param(query, "format");
    if (bad || (start.from && start.last) || (format && *format != "raw" && *format != "json")) {
      a.status = 400;
      a.detail = "from=SEQ or last=N (not both), format=json|raw";
      return a;
    }
    const bool raw = format ? *format == "raw" : r.broker.raw;
    a.handler =
        std::make_unique<SubscribeHandler>(sys_, bus_.worker_index(ctx.loop), pattern, raw, start);
    return a;
  }

 private:
  Bus& bus_;
  std::shared_ptr<const TokenAuth> auth_;
  std::shared_ptr<BrokerSystem> sys_;
};

}  // namespace

bool broker_topic_valid(std::string_view t) noexcept {
  return !t.empty() && t.size() <= kMaxTopic && t.front() != '.' && t.back() != '.' &&
         t.find("..") == std::string_view::npos && std::all_of(t.begin(), t.end(), topic_char);
}

bool broker_pattern_valid(std::string_view p, bool wildcard) noexcept {
  if (wildcard && p.size() > 2 && p.ends_with(".*")) {
    return broker_topic_valid(p.substr(0, p.size() - 2));
  }
  return broker_topic_valid(p);
}

bool broker_pattern_matches(std::string_view pattern, std::string_view topic) noexcept {
  if (pattern.size() > 2 && pattern.ends_with(".*")) {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);  // with the '.'
    return topic.size() > prefix.size() && topic.starts_with(prefix);
  }
  return pattern == topic;
}

void BrokerWorker::remove_subscriber(BrokerId id) {
  subscribers_.erase(id);
  auto p = pattern_of_.find(id);
  if (p == pattern_of_.end()) return;
  auto list = by_pattern_.find(p->second);
  if (list != by_pattern_.end()) {
    auto& v = list->second;
    if (auto it = std::find(v.begin(), v.end(), id); it != v.end()) {
      *it = v.back();  // order does not matter
      v.pop_back();
    }
    if (v.empty()) by_pattern_.erase(list);
  }
  pattern_of_.erase(p);
}

void BrokerWorker::published(BrokerId request, const std::string& topic, std::uint64_t seq,
                             int status, const std::string& why) {
  auto it = requesters_.find(request);
  if (it == requesters_.end()) return;  // the publisher went away
  BrokerRequester* r = it->second;
  requesters_.erase(it);
  r->published(topic, seq, status, why);
}

void BrokerWorker::subscribed(BrokerId sub, const std::string& pattern,
                              const std::vector<net::SharedBytes>& first) {
  auto it = subscribers_.find(sub);
  if (it == subscribers_.end()) return;
  pattern_of_[sub] = pattern;
  by_pattern_[pattern].push_back(sub);
  for (const auto& f : first) it->second->deliver(f);
}

void BrokerWorker::deliver(const std::vector<std::string>& patterns,
                           const net::SharedBytes& envelope, const net::SharedBytes& raw) {
  for (const std::string& p : patterns) {
    auto list = by_pattern_.find(p);
    if (list == by_pattern_.end()) continue;
    // Copy: a delivery may close a session, whose removal edits the list.
    const std::vector<BrokerId> ids = list->second;
    for (BrokerId id : ids) {
      auto s = subscribers_.find(id);
      if (s != subscribers_.end()) s->second->deliver(s->second->raw() ? raw : envelope);
    }
  }
}

std::unique_ptr<Service> make_broker_service(const RouteConfig& route, Bus& bus) {
  return std::make_unique<BrokerService>(route, bus);
}

}  // namespace wsgate::proxy
