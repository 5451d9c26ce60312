#include "net/workers.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <cerrno>

#include <string>
#include <utility>

#include "base/check.hpp"
#include "base/log.hpp"

namespace wsgate::net {

WorkerPool::WorkerPool(std::size_t count) {
  WSGATE_CHECK(count >= 1, "WorkerPool needs at least one worker");
  loops_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) loops_.push_back(Loop::create());
}

WorkerPool::~WorkerPool() {
  if (!threads_.empty()) {
    request_stop();
    join();
  }
}

void WorkerPool::start(Init init) {
  WSGATE_CHECK(threads_.empty(), "WorkerPool::start called twice");
  threads_.reserve(loops_.size());
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    threads_.emplace_back([this, i, init] {
      log::set_thread_name("w" + std::to_string(i));
      if (init) init(i, *loops_[i]);
      loops_[i]->run();
    });
  }
}

void WorkerPool::request_stop() {
  for (auto& loop : loops_) loop->request_stop();
}

void WorkerPool::join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

std::size_t cpu_count() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? static_cast<std::size_t>(n) : 1;
}

std::size_t raise_open_file_limit() noexcept {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      lim = raised;
    } else {
      WSGATE_LOG(warn,
                 "cannot raise the open file limit to " << lim.rlim_max << ": errno " << errno);
    }
  }
  return static_cast<std::size_t>(lim.rlim_cur);
}

}  // namespace wsgate::net
