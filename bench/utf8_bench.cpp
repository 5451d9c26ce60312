// UTF-8 validation throughput on pure ASCII, on mixed text (sentences of English, French, Greek,
// Russian, Chinese/Japanese or emoji: 1-, 2-, 3- and 4-byte sequences, as in chat traffic) and on
// a worst case where every code point has a random length,
// at 1 KiB, 16 KiB and 1 MiB, validated whole or fed in 1 KiB pieces as frames would arrive.
// Targets on one core: >= 4 GB/s ASCII, >= 1 GB/s mixed (docs/BENCHMARKS.md).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/utf8.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

// Words of several scripts; sentences pick a language, then random words from it, so the text is
// realistic (runs of one script) but does not repeat with a period a branch predictor can learn.
constexpr std::string_view kEnglish[] = {"the",   "proxy", "relays",   "messages", "between",
                                         "peers", "and",   "upstream", "servers",  "quickly"};
constexpr std::string_view kFrench[] = {"caf\xc3\xa9",
                                        "na\xc3\xafve",
                                        "d\xc3\xa9j\xc3\xa0",
                                        "\xc3\xa9t\xc3\xa9",
                                        "fran\xc3\xa7"
                                        "ais",
                                        "le",
                                        "serveur",
                                        "r\xc3\xa9pond",
                                        "tr\xc3\xa8s",
                                        "vite"};
constexpr std::string_view kGreek[] = {
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
    "\xce\xba\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1",
    "\xce\xbb\xcf\x8c\xce\xb3\xce\xbf\xcf\x82", "\xce\xba\xce\xb1\xce\xb9",
    "\xce\xbd\xce\xb5\xcf\x81\xcf\x8c"};
constexpr std::string_view kRussian[] = {
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "\xd0\xbc\xd0\xb8\xd1\x80",
    "\xd1\x81\xd0\xb5\xd1\x80\xd0\xb2\xd0\xb5\xd1\x80", "\xd0\xb8",
    "\xd1\x81\xd0\xbe\xd0\xbe\xd0\xb1\xd1\x89\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5"};
constexpr std::string_view kChinese[] = {
    "\xe4\xbd\xa0\xe5\xa5\xbd",
    "\xe4\xb8\x96\xe7\x95\x8c",
    "\xe6\x9c\x8d\xe5\x8a\xa1\xe5\x99\xa8",
    "\xe6\xb6\x88\xe6\x81\xaf",
    "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf",
    "\xef\xbc\x8c"};
constexpr std::string_view kEmoji[] = {"\xf0\x9f\x98\x80", "\xf0\x9f\x9a\x80", "\xf0\x9f\x8e\x89",
                                       "\xf0\x9f\x91\x8d", "ok"};

struct Rng {
  std::uint32_t x = 2463534242u;
  std::size_t below(std::size_t n) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    return x % n;
  }
};

template <std::size_t N>
void sentence(std::string& s, Rng& rng, const std::string_view (&words)[N]) {
  const std::size_t count = 4 + rng.below(8);
  for (std::size_t i = 0; i < count; ++i) {
    s += words[rng.below(N)];
    s += rng.below(6) == 0 ? ", " : " ";
  }
  s += ". ";
}

std::string mixed_text(std::size_t size) {
  std::string s;
  Rng rng;
  while (s.size() < size) {
    switch (rng.below(6)) {
      case 0: sentence(s, rng, kEnglish); break;
      case 1: sentence(s, rng, kFrench); break;
      case 2: sentence(s, rng, kGreek); break;
      case 3: sentence(s, rng, kRussian); break;
      case 4: sentence(s, rng, kChinese); break;
      default: sentence(s, rng, kEmoji); break;
    }
  }
  return s;
}

// Worst case: every code point has a random length, 1 to 4 bytes.
std::string random_lengths_text(std::size_t size) {
  constexpr std::string_view kPoints[] = {"a", "\xc3\xa9", "\xe4\xbd\xa0", "\xf0\x9f\x98\x80"};
  std::string s;
  Rng rng;
  while (s.size() < size) s += kPoints[rng.below(4)];
  return s;
}

// Cuts `s` to `size` bytes on a code point boundary and pads with spaces, so it stays valid.
std::string fit(std::string s, std::size_t size) {
  s.resize(size);
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
  while (s.size() < size) s += ' ';
  return s;
}

std::string ascii_text(std::size_t size) {
  std::string s;
  while (s.size() < size)
    s += "GET /chat HTTP/1.1 {\"op\":\"publish\",\"topic\":\"news\",\"n\":42} ";
  return s;
}

void run(benchmark::State& state, const std::string& text, std::size_t piece) {
  const ByteView all = as_bytes(text);
  if (!is_valid_utf8(all)) {
    state.SkipWithError("benchmark text is not valid UTF-8");
    return;
  }
  for (auto _ : state) {
    Utf8Validator v;
    bool ok = true;
    for (std::size_t at = 0; at < all.size(); at += piece) {
      ok &= v.feed(all.subspan(at, std::min(piece, all.size() - at)));
    }
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(v.complete());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(all.size()));
}

std::size_t piece_of(const benchmark::State& state, std::size_t total) {
  return state.range(1) == 0 ? total : static_cast<std::size_t>(state.range(1));
}

void BM_utf8_ascii(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string text = fit(ascii_text(size), size);
  run(state, text, piece_of(state, size));
}

void BM_utf8_mixed(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string text = fit(mixed_text(size), size);
  run(state, text, piece_of(state, size));
}

void BM_utf8_random_lengths(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string text = fit(random_lengths_text(size), size);
  run(state, text, piece_of(state, size));
}

// The same texts through the SSSE3 block validator (a CPU without AVX2) and through the portable
// paths only (no block validator).
template <void (*Bench)(benchmark::State&), detail::Utf8Path Path>
void forced(benchmark::State& state) {
  detail::utf8_force_path(Path);
  Bench(state);
  detail::utf8_force_path(detail::Utf8Path::best);
}

void BM_utf8_ssse3_ascii(benchmark::State& state) {
  forced<BM_utf8_ascii, detail::Utf8Path::ssse3>(state);
}

void BM_utf8_ssse3_mixed(benchmark::State& state) {
  forced<BM_utf8_mixed, detail::Utf8Path::ssse3>(state);
}

void BM_utf8_ssse3_random_lengths(benchmark::State& state) {
  forced<BM_utf8_random_lengths, detail::Utf8Path::ssse3>(state);
}

void BM_utf8_portable_ascii(benchmark::State& state) {
  forced<BM_utf8_ascii, detail::Utf8Path::portable>(state);
}

void BM_utf8_portable_mixed(benchmark::State& state) {
  forced<BM_utf8_mixed, detail::Utf8Path::portable>(state);
}

// bytes = total size; piece = bytes per feed() (0 = the whole buffer in one call).
void args(benchmark::internal::Benchmark* b) {
  b->ArgsProduct({{1024, 16384, 1 << 20}, {0, 1024}})->ArgNames({"bytes", "piece"});
}
BENCHMARK(BM_utf8_ascii)->Apply(args);
BENCHMARK(BM_utf8_mixed)->Apply(args);
BENCHMARK(BM_utf8_random_lengths)->Apply(args);
BENCHMARK(BM_utf8_ssse3_ascii)->Apply(args);
BENCHMARK(BM_utf8_ssse3_mixed)->Apply(args);
BENCHMARK(BM_utf8_ssse3_random_lengths)->Apply(args);
BENCHMARK(BM_utf8_portable_ascii)->Apply(args);
BENCHMARK(BM_utf8_portable_mixed)->Apply(args);

}  // namespace
