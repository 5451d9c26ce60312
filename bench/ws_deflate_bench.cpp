// permessage-deflate throughput and ratio on JSON-like messages (repeated keys, varying values),
// 16 KiB and 256 B, with and without context takeover, at zlib levels 1 and 6. Throughput is of
// uncompressed bytes; `ratio` is compressed / uncompressed; `zlib_KiB` is the state zlib holds.
// BM_compress_memlevel shows what zlib's hash size costs when the stream is reset per message.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/ws_deflate.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

// Distinct messages cycled through: at least 256 KiB of them, so that with context takeover a
// message never finds its own earlier copy in the 32 KiB window.
std::size_t message_count(std::size_t size) {
  return std::max<std::size_t>(64, (256 << 10) / size);
}

// One chat/telemetry-style JSON document of about `size` bytes. Keys repeat; ids, timestamps,
// numbers and words vary with a xorshift generator seeded by `seed`.
Bytes json_message(std::size_t size, std::uint32_t seed) {
  static const char* const kWords[] = {"alpha", "bravo", "charlie", "delta",   "echo",
                                       "fox",   "golf",  "hotel",   "india",   "juliet",
                                       "kilo",  "lima",  "mike",    "november"};
  std::uint32_t x = seed * 2654435761u + 12345;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  std::string s = "{\"type\":\"batch\",\"seq\":" + std::to_string(seed) + ",\"items\":[";
  while (s.size() + 2 < size) {
    s += "{\"id\":" + std::to_string(next() % 100000) +
         ",\"ts\":" + std::to_string(1700000000000ULL + next() % 1000000) + ",\"user\":\"" +
         kWords[next() % 14] + "_" + std::to_string(next() % 500) +
         "\",\"price\":" + std::to_string(next() % 10000) + "." + std::to_string(next() % 100) +
         ",\"text\":\"" + kWords[next() % 14] + " " + kWords[next() % 14] + " " +
         kWords[next() % 14] + "\",\"ok\":" + (next() % 2 ? "true" : "false") + "},";
  }
  s.resize(size - 2);
  s += "]}";
  return to_bytes(s);
}

std::vector<Bytes> corpus(std::size_t size) {
  std::vector<Bytes> msgs;
  for (std::size_t i = 0; i < message_count(size); ++i) {
    msgs.push_back(json_message(size, static_cast<std::uint32_t>(i + 1)));
  }
  return msgs;
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgsProduct({{256, 16384}, {1, 0}, {1, 6}, {8}})
      ->ArgNames({"bytes", "takeover", "level", "mem"});
}

DeflaterOptions deflater_opts(const benchmark::State& state) {
  return {.level = static_cast<int>(state.range(2)),
          .window_bits = 15,
          .mem_level = static_cast<int>(state.range(3)),
          .no_context_takeover = state.range(1) == 0};
}

void BM_compress(benchmark::State& state) {
  const std::vector<Bytes> msgs = corpus(static_cast<std::size_t>(state.range(0)));
  WsDeflater d(deflater_opts(state));
  Bytes out;
  std::size_t in_bytes = 0, out_bytes = 0, i = 0;
  for (auto _ : state) {
    out.clear();
    d.compress(msgs[i], out);
    benchmark::DoNotOptimize(out.data());
    in_bytes += msgs[i].size();
    out_bytes += out.size();
    i = (i + 1) % msgs.size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(in_bytes));
  state.counters["ratio"] = static_cast<double>(out_bytes) / static_cast<double>(in_bytes);
  state.counters["zlib_KiB"] = static_cast<double>(d.memory_usage()) / 1024.0;
}

// Inflates the compressed cycle in order. The cycle was compressed from a fresh stream, so the
// inflater is released (and starts fresh) whenever the cycle wraps; that cost is included.
void BM_inflate(benchmark::State& state) {
  const std::vector<Bytes> msgs = corpus(static_cast<std::size_t>(state.range(0)));
  WsDeflater d(deflater_opts(state));
  std::vector<Bytes> compressed(msgs.size());
  for (std::size_t k = 0; k < msgs.size(); ++k) d.compress(msgs[k], compressed[k]);
  WsInflater inf({.window_bits = 15, .no_context_takeover = state.range(1) == 0});
  Bytes out;
  std::size_t in_bytes = 0, out_bytes = 0, i = 0;
  for (auto _ : state) {
    if (i == 0) inf.release();
    out.clear();
    if (inf.inflate(compressed[i], out, std::size_t{1} << 20)) {
      state.SkipWithError("inflate failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
    in_bytes += compressed[i].size();
    out_bytes += out.size();
    i = (i + 1) % msgs.size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(out_bytes));
  state.counters["ratio"] = static_cast<double>(in_bytes) / static_cast<double>(out_bytes);
  state.counters["zlib_KiB"] = static_cast<double>(inf.memory_usage()) / 1024.0;
}

}  // namespace

BENCHMARK(BM_compress)->Apply(args);
BENCHMARK(BM_compress)
    ->Name("BM_compress_memlevel")
    ->ArgsProduct({{256}, {0}, {1}, {1, 4}})
    ->ArgNames({"bytes", "takeover", "level", "mem"});
BENCHMARK(BM_inflate)->Apply(args);
