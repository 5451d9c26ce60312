// Masking throughput (RFC 6455 §5.3) for payload sizes from a tiny frame to 1 MiB, with the key
// starting at offset 0 or 3 and the payload at a 64-byte-aligned or misaligned (+1) address.
// Target: >= 8 GB/s for 16 KiB and up on one core (docs/BENCHMARKS.md).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "proto/ws_mask.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

constexpr MaskKey kKey{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}};

// A buffer with `misalign` bytes past a 64-byte boundary, filled with a non-zero pattern.
struct Buffer {
  explicit Buffer(std::size_t size, std::size_t misalign) : storage(new std::byte[size + 128]) {
    const auto base = reinterpret_cast<std::uintptr_t>(storage.get());
    data = storage.get() + ((64 - (base & 63)) & 63) + misalign;
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::byte>(i * 131 + 7);
  }
  std::unique_ptr<std::byte[]> storage;
  std::byte* data;
};

void args(benchmark::internal::Benchmark* b) {
  b->ArgsProduct({{16, 128, 1024, 16384, 1 << 20}, {0, 3}, {0, 1}})
      ->ArgNames({"bytes", "offset", "misalign"});
}

void BM_mask_in_place(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto offset = static_cast<std::size_t>(state.range(1));
  Buffer buf(size, static_cast<std::size_t>(state.range(2)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(apply_mask(MutableByteView{buf.data, size}, kKey, offset));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_mask_in_place)->Apply(args);

void BM_mask_copy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto offset = static_cast<std::size_t>(state.range(1));
  const Buffer in(size, static_cast<std::size_t>(state.range(2)));
  Buffer out(size, 0);
  for (auto _ : state) {
    benchmark::DoNotOptimize(apply_mask_copy(ByteView{in.data, size}, out.data, kKey, offset));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_mask_copy)->Apply(args);

}  // namespace
