#pragma once
// The bus: how state that spans workers (chat users and rooms, broker topics) is kept without a
// lock across I/O (DESIGN.md, "Threads").
//
// One hub thread runs its own loop and owns the shared state of every hosted route (the chat
// "world", the broker's topics). Workers post requests to it (to_hub); it decides, in one
// order for everybody, and posts the outcome back to the workers concerned (to_worker): a
// delivery encoded once as a frame and shared by reference, a reply to one session. Posts
// between two threads arrive in the order they were made, so a worker sees a channel's
// messages in the hub's order.
//
// What the hosted handlers see is not this class but the interfaces of their own systems
// (chat_bus.hpp, broker_bus.hpp): the in-process implementations sit on this hub, and a
// Redis-backed one (several wsgate nodes sharing rooms and topics) can replace them without
// touching the handlers.
//
// Lifetime: one Bus per process, created before the configuration's services (which register
// their systems in it) and destroyed after the workers have been joined. The systems it holds
// live as long as the process, across SIGHUP reloads, so a reload keeps users and topics.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/check.hpp"
#include "net/loop.hpp"

namespace wsgate::proxy {

class Bus {
 public:
  /// A bus for `workers` worker loops (bound with bind_workers before they run).
  explicit Bus(std::size_t workers);
  ~Bus();  // stops the hub thread if it runs; destroys the systems
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  /// The worker loops, by index; before their threads start. `loops.size()` == workers().
  void bind_workers(const std::vector<net::Loop*>& loops);
  /// Starts the hub thread (named "bus" in logs).
  void start();
  /// Stops the hub thread and waits for it. Call after the workers have been joined: their
  /// last posts (sessions logging out) are then handled or dropped, never half-run.
  void stop();

  std::size_t workers() const noexcept { return workers_.size(); }
  /// The index of the worker that runs `loop` (one of the bound loops; checked).
  std::size_t worker_index(const net::Loop& loop) const;

  /// Thread-safe: runs `fn` on the hub thread (dropped once the hub has stopped).
  void to_hub(std::function<void()> fn);
  /// Thread-safe: runs `fn` on worker `index`'s thread (dropped once it has stopped).
  void to_worker(std::size_t index, std::function<void()> fn);
  /// The hub's loop, for its timers and clock: use on the hub thread only.
  net::Loop& hub() noexcept { return *hub_; }

  /// The process-lifetime system registered under `key` (e.g. "chat /chat"), made by `make()`
  /// the first time. Thread-safe; called when a configuration's services are built.
  template <class T, class Make>
  std::shared_ptr<T> system(const std::string& key, Make&& make) {
    std::lock_guard lock(mu_);
    auto it = systems_.find(key);
    if (it == systems_.end()) it = systems_.emplace(key, std::shared_ptr<void>(make())).first;
    return std::static_pointer_cast<T>(it->second);
  }

 private:
  std::vector<net::Loop*> workers_;
  std::unique_ptr<net::Loop> hub_;
  std::thread thread_;
  std::mutex mu_;  // guards systems_
  std::map<std::string, std::shared_ptr<void>> systems_;
};

/// One T per worker, each touched only by its own worker thread (no lock): the worker-local
/// half of a hosted system (which sessions of this worker are in which room). Slots are made
/// when the system is, sized to the bus's workers.
template <class T>
class PerWorker {
 public:
  template <class... Args>
  explicit PerWorker(std::size_t workers, const Args&... args) {
    slots_.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) slots_.push_back(std::make_unique<T>(i, args...));
  }
  T& operator[](std::size_t worker) noexcept {
    WSGATE_ASSERT(worker < slots_.size(), "no such worker");
    return *slots_[worker];
  }
  std::size_t size() const noexcept { return slots_.size(); }

 private:
  std::vector<std::unique_ptr<T>> slots_;
};

}  // namespace wsgate::proxy
