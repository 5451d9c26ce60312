#pragma once
// A fixed-size log-linear latency histogram (HdrHistogram's layout with 64 sub-buckets per power
// of two, so any recorded value is reported within ~1.6%). Recording is one array increment: no
// allocation, no branch on the value's size beyond a count-leading-zeros.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace wsgate::bench {

class LatencyHistogram {
 public:
  /// Records one value (any unit; the load generator uses nanoseconds).
  void record(std::uint64_t v) noexcept {
    ++counts_[index_of(v)];
    ++total_;
  }

  std::uint64_t count() const noexcept { return total_; }

  /// The value at quantile `q` (0..1): the midpoint of the bucket holding the ceil(q*count)-th
  /// smallest value. 0 when empty.
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return midpoint_of(i);
    }
    return midpoint_of(kBuckets - 1);
  }

 private:
  static constexpr unsigned kSubBits = 6;  // 64 sub-buckets per octave
  static constexpr std::size_t kSub = std::size_t{1} << kSubBits;
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) * kSub;

  // Values below 2*kSub map to themselves; above, an octave [2^m, 2^(m+1)) is split in kSub.
  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    const auto msb = static_cast<unsigned>(63 - std::countl_zero(v));
    const unsigned shift = msb - kSubBits;
    return (msb - kSubBits + 1) * kSub + static_cast<std::size_t>(v >> shift) - kSub;
  }
  static std::uint64_t midpoint_of(std::size_t i) noexcept {
    if (i < 2 * kSub) return i;
    const std::size_t octave = i / kSub;  // >= 2
    const unsigned shift = static_cast<unsigned>(octave - 1);
    const std::uint64_t lo = static_cast<std::uint64_t>(i % kSub + kSub) << shift;
    return lo + (std::uint64_t{1} << shift) / 2;
  }

  std::array<std::uint64_t, kBuckets> counts_{};  ///< one counter per bucket
  std::uint64_t total_ = 0;                       ///< sum of counts_
};

}  // namespace wsgate::bench
