#pragma once
// A byte stream cut into fixed-size records (payload.hpp's binary layout), for the paths that do
// not keep message boundaries: raw TCP, and a WebSocket bridged to a TCP backend (the bridge
// frames whatever it read as one message). Every record is checked as it completes: sequence
// number in order from 0, content byte for byte.
//
// Ownership: complete records inside the input are checked in place (no copy); only a record
// split across feed() calls is copied into the spill buffer (at most `size` bytes per stream).
// Thread: one stream per connection direction.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "payload.hpp"

namespace wsgate::bench {

class RecordStream {
 public:
  explicit RecordStream(std::size_t size = kMinBinarySize) : size_(size) {}

  /// Consumes `in`; calls `on_record(send_ns)` for each valid record, in order. Returns false at
  /// the first invalid record (the stream is then dead: later calls return false at once).
  template <typename Fn>
  bool feed(std::span<const std::byte> in, Fn&& on_record) {
    if (bad_) return false;
    std::size_t pos = 0;
    if (!spill_.empty()) {
      const std::size_t take = std::min(size_ - spill_.size(), in.size());
      spill_.insert(spill_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
      pos = take;
      if (spill_.size() < size_) return true;
      if (!check(spill_, on_record)) return false;
      spill_.clear();
    }
    while (in.size() - pos >= size_) {
      if (!check(in.subspan(pos, size_), on_record)) return false;
      pos += size_;
    }
    if (pos < in.size()) {
      if (spill_.capacity() == 0) spill_.reserve(size_);
      spill_.insert(spill_.end(), in.begin() + static_cast<std::ptrdiff_t>(pos), in.end());
    }
    return true;
  }

  /// Records validated so far (= the sequence number the next one must carry).
  std::uint64_t records() const noexcept { return seq_; }
  bool bad() const noexcept { return bad_; }

 private:
  template <typename Fn>
  bool check(std::span<const std::byte> rec, Fn& on_record) {
    std::uint64_t sent = 0;
    if (!check_payload(rec, size_, seq_, false, sent)) {
      bad_ = true;
      return false;
    }
    ++seq_;
    on_record(sent);
    return true;
  }

  std::size_t size_;              ///< record size in bytes
  std::vector<std::byte> spill_;  ///< the unfinished record split across feeds
  std::uint64_t seq_ = 0;         ///< next expected sequence number
  bool bad_ = false;              ///< an invalid record was seen
};

}  // namespace wsgate::bench
