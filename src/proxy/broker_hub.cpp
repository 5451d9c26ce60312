// The in-process BrokerBus: topics, their sequence numbers and retained events live on the bus
// hub thread; each event is encoded once (JSON envelope, and the bare body when a raw
// subscriber wants it) and posted once to each worker with subscribers.

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <unordered_map>
#include <utility>

#include "base/log.hpp"
#include "net/timer_wheel.hpp"
#include "proto/base64.hpp"
#include "proto/json.hpp"
#include "proto/utf8.hpp"
#include "proxy/broker.hpp"
#include "proxy/fanout.hpp"
#include "proxy/json_out.hpp"

namespace wsgate::proxy {

namespace {

namespace json = proto::json;

constexpr std::uint64_t kPruneEveryMs = 1000;

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct Event {
  std::uint64_t seq;
  std::uint64_t at_ms;  // hub loop time, for max_age
  net::SharedBytes envelope;
  net::SharedBytes raw;
};

struct Topic {
  std::uint64_t seq = 0;
  std::deque<Event> events;
  std::uint64_t bytes = 0;  // of the retained bodies
};

// Subscriptions of one pattern: how many on each worker, and of them how many want raw.
struct Pattern {
  std::vector<std::uint32_t> per_worker;
  std::uint64_t raw = 0;
  std::uint64_t total = 0;
};

struct SubInfo {
  std::string pattern;
  bool raw = false;
};

class BrokerWorld final : private net::TimerHandler {
 public:
  BrokerWorld(Bus& bus, PerWorker<BrokerWorker>& workers, BrokerRouteConfig cfg, std::string route)
      : bus_(bus), workers_(workers), cfg_(std::move(cfg)), route_(std::move(route)) {}

  void configure(BrokerRouteConfig cfg) {
    cfg_ = std::move(cfg);
    for (auto& [name, t] : topics_) trim(t);
  }
  void publish(BrokerId request, const std::string& topic, std::string body);
  void subscribe(BrokerId sub, const std::string& pattern, bool raw, BrokerStart start);
  void unsubscribe(BrokerId sub);

 private:
  void on_timer(net::Timer&) noexcept override;
  void trim(Topic& t);
  void answer(BrokerId request, const std::string& topic, std::uint64_t seq, int status,
              std::string why) {
    BrokerWorker* w = &workers_[broker_worker_of(request)];
    bus_.to_worker(broker_worker_of(request), [w, request, topic, seq, status, why] {
      w->published(request, topic, seq, status, why);
    });
  }
  // A topic with no events and no subscriber is forgotten (at most max_topics are held).
  bool drop_idle_topic();
  bool has_subscribers(const std::string& topic) const;

  Bus& bus_;
  PerWorker<BrokerWorker>& workers_;
  BrokerRouteConfig cfg_;
  std::string route_;
  std::unordered_map<std::string, Topic> topics_;
  std::map<std::string, Pattern> patterns_;  // exact topics and "prefix.*"
  std::unordered_map<BrokerId, SubInfo> subs_;
  net::Timer prune_{*this};
};

net::SharedBytes envelope_of(const std::string& topic, std::uint64_t seq, std::int64_t ts,
                             const std::string& body) {
  JsonOut j;
  j.str("topic", topic).num("seq", seq).num("ts", ts);
  if (json::valid(body)) {
    j.raw("data", body);  // a JSON body is embedded as it is
  } else if (proto::is_valid_utf8(as_bytes(body))) {
    j.str("data", body);
  } else {
    std::string b64;
    proto::base64_encode(as_bytes(body), b64);
    j.str("data", b64).str("encoding", "base64");
  }
  return encode_text_frame(j.done());
}

net::SharedBytes raw_of(const std::string& body) {
  const bool text = proto::is_valid_utf8(as_bytes(body));
  return encode_frame(text ? proto::Opcode::text : proto::Opcode::binary, as_bytes(body));
}

bool BrokerWorld::has_subscribers(const std::string& topic) const {
  for (const auto& [pattern, p] : patterns_) {
    if (p.total > 0 && broker_pattern_matches(pattern, topic)) return true;
  }
  return false;
}

bool BrokerWorld::drop_idle_topic() {
  for (auto it = topics_.begin(); it != topics_.end(); ++it) {
    if (it->second.events.empty() && !has_subscribers(it->first)) {
      topics_.erase(it);
      return true;
    }
  }
  return false;
}

void BrokerWorld::trim(Topic& t) {
  while (!t.events.empty() &&
         (t.events.size() > cfg_.max_events || (cfg_.max_bytes != 0 && t.bytes > cfg_.max_bytes))) {
    t.bytes -= t.events.front().raw->size();
    t.events.pop_front();
  }
}

void BrokerWorld::publish(BrokerId request, const std::string& topic, std::string body) {
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    if (topics_.size() >= cfg_.max_topics && !drop_idle_topic()) {
      WSGATE_LOG(warn, "broker " << route_ << ": max_topics (" << cfg_.max_topics
                                 << ") reached; refusing a publish to new topic " << topic);
      return answer(request, topic, 0, 503, "too many topics (max_topics)");
    }
    it = topics_.emplace(topic, Topic{}).first;
  }
  Topic& t = it->second;
  const std::uint64_t seq = ++t.seq;
  Event e{seq, bus_.hub().now_ms(), envelope_of(topic, seq, wall_ms(), body), raw_of(body)};
  // Which patterns have subscribers for this topic, and on which workers.
  std::vector<std::vector<std::string>> per_worker(workers_.size());
  for (const auto& [pattern, p] : patterns_) {
    if (p.total == 0 || !broker_pattern_matches(pattern, topic)) continue;
    for (std::size_t w = 0; w < p.per_worker.size(); ++w) {
      if (p.per_worker[w] > 0) per_worker[w].push_back(pattern);
    }
  }
  for (std::size_t w = 0; w < per_worker.size(); ++w) {
    if (per_worker[w].empty()) continue;
    BrokerWorker* bw = &workers_[w];
    bus_.to_worker(w, [bw, patterns = std::move(per_worker[w]), env = e.envelope, raw = e.raw] {
      bw->deliver(patterns, env, raw);
    });
  }
  if (cfg_.max_events > 0) {
    t.bytes += e.raw->size();
    t.events.push_back(std::move(e));
    trim(t);
    if (cfg_.max_age.count() > 0 && !prune_.armed()) bus_.hub().schedule(prune_, kPruneEveryMs);
  }
  answer(request, topic, seq, 200, "");
}

void BrokerWorld::subscribe(BrokerId sub, const std::string& pattern, bool raw, BrokerStart start) {
  if (subs_.count(sub) != 0) return;
  subs_[sub] = {pattern, raw};
  Pattern& p = patterns_[pattern];
  if (p.per_worker.empty()) p.per_worker.assign(workers_.size(), 0);
  ++p.per_worker[broker_worker_of(sub)];
  ++p.total;
  if (raw) ++p.raw;
  // Replay (single topics only: a seq means nothing across topics).
  std::vector<net::SharedBytes> first;
  auto it = topics_.find(pattern);
  if ((start.from || start.last) && it != topics_.end()) {
    const Topic& t = it->second;
    std::uint64_t from = t.seq + 1;
    if (start.from) from = std::max<std::uint64_t>(*start.from, 1);
    if (start.last) from = *start.last >= t.seq ? 1 : t.seq - *start.last + 1;
    const std::uint64_t oldest = t.events.empty() ? t.seq + 1 : t.events.front().seq;
    if (from < oldest && from <= t.seq) {
      first.push_back(encode_text_frame(
          JsonOut("gap").str("topic", pattern).num("from", from).num("oldest", oldest).done()));
    }
    for (const Event& e : t.events) {
      if (e.seq >= from) first.push_back(raw ? e.raw : e.envelope);
    }
  }
  BrokerWorker* w = &workers_[broker_worker_of(sub)];
  bus_.to_worker(broker_worker_of(sub), [w, sub, pattern, first = std::move(first)] {
    w->subscribed(sub, pattern, first);
  });
}

void BrokerWorld::unsubscribe(BrokerId sub) {
  auto it = subs_.find(sub);
  if (it == subs_.end()) return;
  auto p = patterns_.find(it->second.pattern);
  if (p != patterns_.end()) {
    --p->second.per_worker[broker_worker_of(sub)];
    --p->second.total;
    if (it->second.raw) --p->second.raw;
    if (p->second.total == 0) patterns_.erase(p);
  }
  subs_.erase(it);
}

void BrokerWorld::on_timer(net::Timer&) noexcept {
  if (cfg_.max_age.count() <= 0) return;
  const std::uint64_t now = bus_.hub().now_ms();
  const auto age = static_cast<std::uint64_t>(cfg_.max_age.count());
  bool any = false;
  for (auto it = topics_.begin(); it != topics_.end();) {
    Topic& t = it->second;
    while (!t.events.empty() && t.events.front().at_ms + age <= now) {
      t.bytes -= t.events.front().raw->size();
      t.events.pop_front();
    }
    any |= !t.events.empty();
    ++it;  // an emptied topic keeps its seq; drop_idle_topic() forgets it if room is needed
  }
  if (any) bus_.hub().schedule(prune_, kPruneEveryMs);
}

class LocalBrokerBus final : public BrokerBus {
 public:
  LocalBrokerBus(Bus& bus, PerWorker<BrokerWorker>& workers, const BrokerRouteConfig& cfg,
                 std::string route)
      : bus_(bus), world_(std::make_unique<BrokerWorld>(bus, workers, cfg, std::move(route))) {}

  void configure(const BrokerRouteConfig& cfg) override {
    bus_.to_hub([w = world_.get(), cfg] { w->configure(cfg); });
  }
  void publish(BrokerId request, std::string topic, std::string body) override {
    bus_.to_hub([w = world_.get(), request, t = std::move(topic), b = std::move(body)]() mutable {
      w->publish(request, t, std::move(b));
    });
  }
  void subscribe(BrokerId sub, std::string pattern, bool raw, BrokerStart start) override {
    bus_.to_hub([w = world_.get(), sub, p = std::move(pattern), raw, start] {
      w->subscribe(sub, p, raw, start);
    });
  }
  void unsubscribe(BrokerId sub) override {
    bus_.to_hub([w = world_.get(), sub] { w->unsubscribe(sub); });
  }

 private:
  Bus& bus_;
  std::unique_ptr<BrokerWorld> world_;  // used on the hub thread only
};

}  // namespace

std::unique_ptr<BrokerBus> make_local_broker_bus(Bus& bus, PerWorker<BrokerWorker>& workers,
                                                 const BrokerRouteConfig& cfg,
                                                 std::string route_name) {
  return std::make_unique<LocalBrokerBus>(bus, workers, cfg, std::move(route_name));
}

}  // namespace wsgate::proxy
