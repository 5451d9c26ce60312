#pragma once
// The worker threads: N threads, each running its own Loop and owning its connections for life
// (shared nothing). Cross-worker work goes through Loop::post.

#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "net/loop.hpp"

namespace wsgate::net {

class WorkerPool {
 public:
  /// `init(index, loop)` runs on each worker thread before its loop runs (open listeners there).
  using Init = std::function<void(std::size_t index, Loop& loop)>;

  /// Creates `count` loops (count >= 1) without starting threads.
  explicit WorkerPool(std::size_t count);
  ~WorkerPool();  // stops and joins if still running
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Starts the threads (named "w0", "w1"... in logs); each runs init then its loop.
  void start(Init init);
  /// Thread-safe: request_stop() on every loop.
  void request_stop();
  /// Waits for every thread to return from its loop.
  void join();

  std::size_t size() const noexcept { return loops_.size(); }
  Loop& loop(std::size_t index) noexcept { return *loops_[index]; }

 private:
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
};

/// Number of CPUs this process may run on (sched_getaffinity), at least 1.
std::size_t cpu_count() noexcept;

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the resulting soft limit.
std::size_t raise_open_file_limit() noexcept;

}  // namespace wsgate::net
