#pragma once
// kind = "broker": topics published over HTTP (POST {route}/{topic}) and subscribed over
// WebSocket (GET {route}/{topic} with an upgrade); docs/CHAT.md, "Broker", is the protocol.
//
// Same shape as the chat (ARCHITECTURE.md, "The bus and the hosted handlers"): handlers ask a
// BrokerBus; the in-process one (broker_hub.cpp) keeps every topic's sequence and retained
// events on the bus hub thread, encodes each event once and posts it once to every worker with
// subscribers; the worker's BrokerWorker writes it to its local subscribers. A Redis-backed
// BrokerBus (XADD/XRANGE for retention and replay, PUBLISH for fan-out) could replace it
// without touching the handlers.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/tcp.hpp"
#include "proxy/bus.hpp"
#include "proxy/config.hpp"
#include "proxy/service.hpp"

namespace wsgate::proxy {

std::unique_ptr<Service> make_broker_service(const RouteConfig& route, Bus& bus);

/// A topic name: 1..128 bytes of A-Z a-z 0-9 _ - ., not starting or ending with '.', no "..".
bool broker_topic_valid(std::string_view topic) noexcept;
/// A subscription pattern: a topic, or (with wildcards) "prefix.*" for a valid topic prefix.
bool broker_pattern_valid(std::string_view pattern, bool wildcard) noexcept;
/// True if `topic` is covered by `pattern` (equal, or "prefix.*" and topic starts "prefix.").
bool broker_pattern_matches(std::string_view pattern, std::string_view topic) noexcept;

/// A worker-local id (worker index in the top bits, as chat sessions have).
using BrokerId = std::uint64_t;
inline constexpr unsigned kBrokerWorkerShift = 40;
inline std::size_t broker_worker_of(BrokerId id) noexcept {
  return static_cast<std::size_t>(id >> kBrokerWorkerShift);
}

/// Where a subscription starts: only new events, from a seq, or the last N retained.
struct BrokerStart {
  std::optional<std::uint64_t> from;
  std::optional<std::uint64_t> last;
};

/// What handlers ask of the shared topics. Outcomes arrive on the caller's worker, through
/// its BrokerWorker.
class BrokerBus {
 public:
  virtual ~BrokerBus() = default;
  virtual void configure(const BrokerRouteConfig& cfg) = 0;
  /// Appends an event; outcome: BrokerWorker::published(request, seq or error).
  virtual void publish(BrokerId request, std::string topic, std::string body) = 0;
  /// Outcome: BrokerWorker::subscribed (replayed events first), then every later event.
  virtual void subscribe(BrokerId sub, std::string pattern, bool raw, BrokerStart start) = 0;
  virtual void unsubscribe(BrokerId sub) = 0;
};

/// A subscriber session as its worker sees it.
class BrokerSubscriber {
 public:
  virtual ~BrokerSubscriber() = default;
  virtual void deliver(const net::SharedBytes& frame) = 0;
  virtual bool raw() const noexcept = 0;
};

/// A publisher waiting for its seq (an HTTP POST, or a WebSocket with ws_publish).
class BrokerRequester {
 public:
  virtual ~BrokerRequester() = default;
  /// `seq` is 0 when the event was refused; `status`/`why` then say why (503: too many topics).
  virtual void published(const std::string& topic, std::uint64_t seq, int status,
                         const std::string& why) = 0;
};

/// The worker-local half: this worker's subscribers by pattern and its waiting publishers.
/// Used only on its worker's thread.
class BrokerWorker {
 public:
  explicit BrokerWorker(std::size_t index) : index_(index) {}
  BrokerId next_id() noexcept {
    return (static_cast<BrokerId>(index_) << kBrokerWorkerShift) | ++next_;
  }
  void add_requester(BrokerId id, BrokerRequester& r) { requesters_[id] = &r; }
  void remove_requester(BrokerId id) { requesters_.erase(id); }
  void add_subscriber(BrokerId id, BrokerSubscriber& s) { subscribers_[id] = &s; }
  void remove_subscriber(BrokerId id);

  // --- outcomes, posted by the BrokerBus implementation ---
  void published(BrokerId request, const std::string& topic, std::uint64_t seq, int status,
                 const std::string& why);
  /// The subscription is live from now on: `first` (a gap notice, replayed events) goes out
  /// before any later event.
  void subscribed(BrokerId sub, const std::string& pattern,
                  const std::vector<net::SharedBytes>& first);
  /// An event of a topic to the local subscribers of `patterns`: the JSON envelope or the raw
  /// body, as each asked.
  void deliver(const std::vector<std::string>& patterns, const net::SharedBytes& envelope,
               const net::SharedBytes& raw);

 private:
  std::size_t index_;
  std::uint64_t next_ = 0;
  std::unordered_map<BrokerId, BrokerRequester*> requesters_;
  std::unordered_map<BrokerId, BrokerSubscriber*> subscribers_;
  std::unordered_map<BrokerId, std::string> pattern_of_;
  std::unordered_map<std::string, std::vector<BrokerId>> by_pattern_;
};

/// The in-process BrokerBus over the hub. `workers` must outlive it.
std::unique_ptr<BrokerBus> make_local_broker_bus(Bus& bus, PerWorker<BrokerWorker>& workers,
                                                 const BrokerRouteConfig& cfg,
                                                 std::string route_name);

}  // namespace wsgate::proxy
