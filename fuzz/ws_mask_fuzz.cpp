// Fuzzes masking against RFC 6455 §5.3 applied byte by byte. Input: byte 0 = key offset (bits
// 0-1) and output misalignment (bits 2-5), bytes 1-4 = key, byte 5 = where to split the payload,
// the rest = payload. Checks in-place masking in two pieces, the copy variant into a misaligned
// buffer, and that the bytes around the copy's output are untouched.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "proto/ws_mask.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 6) return 0;
  const std::size_t offset = data[0] & 3u;
  const std::size_t misalign = (data[0] >> 2) & 15u;
  wsgate::proto::MaskKey key;
  std::memcpy(key.data(), data + 1, 4);
  const std::uint8_t* payload = data + 6;
  const std::size_t n = size - 6;
  const std::size_t cut = n == 0 ? 0 : data[5] % (n + 1);

  std::vector<std::byte> expected(n);
  for (std::size_t i = 0; i < n; ++i) {
    expected[i] = std::byte{payload[i]} ^ key[(offset + i) % 4];
  }

  std::vector<std::byte> buf(n);
  if (n != 0) std::memcpy(buf.data(), payload, n);  // data() may be null when n == 0
  const wsgate::MutableByteView all{buf};
  const std::size_t mid = wsgate::proto::apply_mask(all.first(cut), key, offset);
  if (mid != (offset + cut) % 4) __builtin_trap();
  if (wsgate::proto::apply_mask(all.subspan(cut), key, mid) != (offset + n) % 4) __builtin_trap();
  if (buf != expected) __builtin_trap();

  constexpr std::byte kGuard{0x5A};
  std::vector<std::byte> out(16 + n + 16, kGuard);
  const wsgate::ByteView in{reinterpret_cast<const std::byte*>(payload), n};
  wsgate::proto::apply_mask_copy(in, out.data() + misalign, key, offset);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const bool inside = i >= misalign && i < misalign + n;
    if (out[i] != (inside ? expected[i - misalign] : kGuard)) __builtin_trap();
  }
  return 0;
}
