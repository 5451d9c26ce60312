#include "proxy/bus.hpp"

#include <utility>

#include "base/log.hpp"

namespace wsgate::proxy {

Bus::Bus(std::size_t workers) : workers_(workers, nullptr), hub_(net::Loop::create(4096)) {}

Bus::~Bus() {
  stop();
  // The systems go first: they may hold timers of the hub loop.
  systems_.clear();
}

void Bus::bind_workers(const std::vector<net::Loop*>& loops) {
  WSGATE_CHECK(loops.size() == workers_.size(), "Bus::bind_workers: wrong number of loops");
  workers_ = loops;
}

void Bus::start() {
  WSGATE_CHECK(!thread_.joinable(), "Bus::start called twice");
  thread_ = std::thread([this] {
    log::set_thread_name("bus");
    hub_->run();
  });
}

void Bus::stop() {
  if (!thread_.joinable()) return;
  hub_->request_stop();
  thread_.join();
}

std::size_t Bus::worker_index(const net::Loop& loop) const {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i] == &loop) return i;
  }
  WSGATE_CHECK(false, "Bus::worker_index: not a worker loop");
  return 0;
}

void Bus::to_hub(std::function<void()> fn) {
  hub_->post(std::move(fn));
}

void Bus::to_worker(std::size_t index, std::function<void()> fn) {
  WSGATE_ASSERT(index < workers_.size() && workers_[index], "Bus::to_worker: no such worker");
  workers_[index]->post(std::move(fn));
}

}  // namespace wsgate::proxy
