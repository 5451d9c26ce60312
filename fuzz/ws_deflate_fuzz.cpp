// Fuzzes WsInflater on arbitrary bytes and WsDeflater -> WsInflater round trips.
// Input: one control byte, then the payload.
//   bits 0-2: window bits 8 + n (8..15)        bit 3: no_context_takeover
//   bits 4-5: fragment size (whole, 1, 7, 64)   bits 6-7: inflate cap (0, 100, 4 KiB, 1 MiB)
// Properties: inflating never writes more than the cap per message and never crashes; a
// compressed message always inflates back to the original (twice, to exercise the context).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "proto/ws_deflate.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

// Inflates one message fed in fragments of `chunk` bytes (0: whole). Traps if the output of
// the message exceeds `cap`.
std::error_code inflate_chunked(WsInflater& inf, ByteView in, std::size_t chunk, std::size_t cap,
                                Bytes& out) {
  const std::size_t before = out.size();
  std::error_code ec;
  if (chunk == 0) chunk = in.size() + 1;
  for (std::size_t off = 0; off < in.size() && !ec; off += chunk) {
    ec = inf.feed(in.subspan(off, std::min(chunk, in.size() - off)), out, cap);
  }
  if (!ec) ec = inf.finish(out, cap);
  if (out.size() - before > cap) __builtin_trap();
  return ec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t ctl = data[0];
  const int bits = 8 + (ctl & 7);
  const bool nct = (ctl & 8) != 0;
  static constexpr std::size_t kChunks[] = {0, 1, 7, 64};
  static constexpr std::size_t kCaps[] = {0, 100, 4096, std::size_t{1} << 20};
  const std::size_t chunk = kChunks[(ctl >> 4) & 3];
  const std::size_t cap = kCaps[(ctl >> 6) & 3];
  const ByteView payload(reinterpret_cast<const std::byte*>(data + 1), size - 1);

  // 1. Arbitrary bytes as two consecutive compressed messages.
  {
    WsInflater inf({.window_bits = bits, .no_context_takeover = nct});
    Bytes out;
    if (!inflate_chunked(inf, payload, chunk, cap, out)) {
      out.clear();
      (void)inflate_chunked(inf, payload, chunk, cap, out);
    }
  }

  // 2. Round trip, twice through the same pair.
  WsDeflater def({.level = ctl % 10, .window_bits = bits, .no_context_takeover = nct});
  WsInflater inf({.window_bits = bits, .no_context_takeover = nct});
  for (int round = 0; round < 2; ++round) {
    Bytes z;
    def.compress(payload, z);
    Bytes back;
    if (inflate_chunked(inf, z, chunk, payload.size(), back)) __builtin_trap();
    if (!std::equal(back.begin(), back.end(), payload.begin(), payload.end())) __builtin_trap();
  }
  return 0;
}
