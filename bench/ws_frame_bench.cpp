// Message assembler throughput: many small masked client frames (the chat/broker pattern), and
// 1 KiB / 16 KiB frames as bytes/s. Events only count, so this measures the codec alone.
//
// feed() unmasks in place, so each iteration flips the buffer between masked and plain. That is
// harmless for binary payloads; the text benchmarks use ASCII payloads and a mask key whose
// bytes are all below 0x80, so both states are valid UTF-8.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "proto/ws_message.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

class CountingEvents final : public MessageEvents {
 public:
  std::size_t messages = 0;
  std::size_t bytes = 0;
  void on_message(Opcode, ByteView payload, bool) override {
    ++messages;
    bytes += payload.size();
  }
  void on_ping(ByteView) override { ++messages; }
  void on_pong(ByteView) override { ++messages; }
  void on_close(CloseCode, std::string_view) override {}
};

constexpr MaskKey kAsciiKey{std::byte{0x37}, std::byte{0x7a}, std::byte{0x21}, std::byte{0x3d}};

/// `count` frames with payload sizes cycling through [min_len, max_len], ASCII content.
Bytes make_frames(std::size_t count, std::size_t min_len, std::size_t max_len, Opcode op,
                  bool masked, std::size_t fragments = 1) {
  Bytes out;
  Bytes payload;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t len = min_len + i % (max_len - min_len + 1);
    payload.resize(len);
    for (std::size_t j = 0; j < len; ++j) payload[j] = static_cast<std::byte>('a' + (i + j) % 26);
    const std::size_t piece = (len + fragments - 1) / fragments;
    for (std::size_t f = 0; f < fragments; ++f) {
      const std::size_t off = std::min(len, f * piece);
      const std::size_t n = std::min(piece, len - off);
      append_frame(out, f == 0 ? op : Opcode::continuation, ByteView(payload).subspan(off, n),
                   f + 1 == fragments, masked ? std::optional<MaskKey>(kAsciiKey) : std::nullopt);
    }
  }
  return out;
}

/// Feeds `wire` (a whole number of frames) per iteration, in reads of `read_size` bytes
/// (0 = the whole buffer at once).
void run(benchmark::State& state, Bytes wire, std::size_t frames, Role role,
         std::size_t read_size = 0) {
  MessageConfig cfg;
  cfg.role = role;
  MessageAssembler a(cfg);
  CountingEvents ev;
  const std::size_t step = read_size == 0 ? wire.size() : read_size;
  for (auto _ : state) {
    for (std::size_t pos = 0; pos < wire.size(); pos += step) {
      const std::size_t n = std::min(step, wire.size() - pos);
      const Result<std::size_t> r = a.feed(MutableByteView(wire).subspan(pos, n), ev);
      if (!r) {
        state.SkipWithError("feed failed");
        return;
      }
    }
    benchmark::ClobberMemory();
  }
  const auto iters = static_cast<double>(state.iterations());
  state.counters["frames/s"] =
      benchmark::Counter(iters * static_cast<double>(frames), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
  benchmark::DoNotOptimize(ev.messages);
}

void BM_SmallMaskedBinary(benchmark::State& state) {
  run(state, make_frames(1000, 2, 16, Opcode::binary, true), 1000, Role::server);
}
BENCHMARK(BM_SmallMaskedBinary);

void BM_SmallMaskedText(benchmark::State& state) {
  run(state, make_frames(1000, 2, 16, Opcode::text, true), 1000, Role::server);
}
BENCHMARK(BM_SmallMaskedText);

void BM_SmallUnmaskedBinaryClient(benchmark::State& state) {
  run(state, make_frames(1000, 2, 16, Opcode::binary, false), 1000, Role::client);
}
BENCHMARK(BM_SmallUnmaskedBinaryClient);

void BM_SmallMaskedBinary1500ByteReads(benchmark::State& state) {
  // Frames split across reads take the copying path once per read.
  run(state, make_frames(1000, 2, 16, Opcode::binary, true), 1000, Role::server, 1500);
}
BENCHMARK(BM_SmallMaskedBinary1500ByteReads);

void BM_Masked1KiBBinary(benchmark::State& state) {
  run(state, make_frames(64, 1024, 1024, Opcode::binary, true), 64, Role::server);
}
BENCHMARK(BM_Masked1KiBBinary);

void BM_Masked1KiBText(benchmark::State& state) {
  run(state, make_frames(64, 1024, 1024, Opcode::text, true), 64, Role::server);
}
BENCHMARK(BM_Masked1KiBText);

void BM_Masked16KiBBinary(benchmark::State& state) {
  run(state, make_frames(8, 16384, 16384, Opcode::binary, true), 8, Role::server);
}
BENCHMARK(BM_Masked16KiBBinary);

void BM_Masked16KiBText(benchmark::State& state) {
  run(state, make_frames(8, 16384, 16384, Opcode::text, true), 8, Role::server);
}
BENCHMARK(BM_Masked16KiBText);

void BM_Masked16KiBBinary64KiBReads(benchmark::State& state) {
  // 64 KiB reads cut frames, as a real socket would.
  run(state, make_frames(64, 16384, 16384, Opcode::binary, true), 64, Role::server, 65536 - 7);
}
BENCHMARK(BM_Masked16KiBBinary64KiBReads);

void BM_Masked16KiBTextIn4Fragments(benchmark::State& state) {
  // Fragmented messages take the copying path; frames/s counts messages here.
  run(state, make_frames(8, 16384, 16384, Opcode::text, true, 4), 8, Role::server);
}
BENCHMARK(BM_Masked16KiBTextIn4Fragments);

void BM_EncodeSmallMaskedFrames(benchmark::State& state) {
  // The client-role sender: random_mask_key() + append_frame() per frame.
  const Bytes payload(9, std::byte{'x'});
  Bytes out;
  out.reserve(1000 * 32);
  for (auto _ : state) {
    out.clear();
    for (int i = 0; i < 1000; ++i) {
      append_frame(out, Opcode::binary, payload, true, random_mask_key());
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["frames/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * 1000,
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EncodeSmallMaskedFrames);

}  // namespace
