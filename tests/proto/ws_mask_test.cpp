#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "proto/ws_mask.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

constexpr MaskKey kKey{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}};

// The definition from RFC 6455 §5.3, one byte at a time.
Bytes naive_mask(ByteView in, const MaskKey& key, std::size_t offset) {
  Bytes out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = in[i] ^ key[(offset + i) % 4];
  return out;
}

// Deterministic, non-repeating-looking payload bytes.
Bytes pattern(std::size_t n) {
  Bytes b(n);
  std::uint32_t x = 0x12345678u;
  for (auto& c : b) {
    x = x * 1103515245u + 12345u;
    c = static_cast<std::byte>(x >> 24);
  }
  return b;
}

constexpr std::byte kGuard{0xA5};
constexpr std::size_t kSlack = 32;  // guard bytes either side of the masked region

}  // namespace

TEST_CASE("masking matches the RFC 6455 5.7 example", "[proto][ws][mask]") {
  Bytes hello = to_bytes("Hello");
  const Bytes expected{std::byte{0x7f}, std::byte{0x9f}, std::byte{0x4d}, std::byte{0x51},
                       std::byte{0x58}};
  CHECK(apply_mask(hello, kKey) == 1);  // 5 bytes used key[0..3], key[0]: next is key[1]
  CHECK(hello == expected);

  Bytes copy(5);
  CHECK(apply_mask_copy(expected, copy.data(), kKey) == 1);
  CHECK(as_chars(copy) == "Hello");
}

TEST_CASE("masking equals the naive definition for every offset length and alignment",
          "[proto][ws][mask]") {
  const Bytes src = pattern(300);
  for (std::size_t offset = 0; offset < 4; ++offset) {
    for (std::size_t len = 0; len <= 300; ++len) {
      const ByteView in{src.data(), len};
      const Bytes expected = naive_mask(in, kKey, offset);
      for (std::size_t align = 0; align < 16; ++align) {
        // In place, inside a guarded buffer: any write outside [start, start + len) shows up.
        Bytes buf(kSlack + 16 + len + kSlack, kGuard);
        std::byte* start = buf.data() + kSlack + align;
        std::copy(in.begin(), in.end(), start);
        const std::size_t next = apply_mask(MutableByteView{start, len}, kKey, offset);
        REQUIRE(next == (offset + len) % 4);
        REQUIRE(std::equal(expected.begin(), expected.end(), start));
        for (std::byte* g = buf.data(); g != start; ++g) REQUIRE(*g == kGuard);
        for (std::byte* g = start + len; g != buf.data() + buf.size(); ++g) REQUIRE(*g == kGuard);

        // Copying, with the input and output misaligned differently.
        Bytes in_buf(16 + len);
        std::copy(in.begin(), in.end(), in_buf.begin() + static_cast<std::ptrdiff_t>(15 - align));
        Bytes out_buf(kSlack + 16 + len + kSlack, kGuard);
        std::byte* dst = out_buf.data() + kSlack + align;
        REQUIRE(apply_mask_copy(ByteView{in_buf.data() + (15 - align), len}, dst, kKey, offset) ==
                (offset + len) % 4);
        REQUIRE(std::equal(expected.begin(), expected.end(), dst));
        for (std::byte* g = out_buf.data(); g != dst; ++g) REQUIRE(*g == kGuard);
        for (std::byte* g = dst + len; g != out_buf.data() + out_buf.size(); ++g) {
          REQUIRE(*g == kGuard);
        }
      }
    }
  }
}

TEST_CASE("apply_mask_copy works with the output exactly aliasing the input", "[proto][ws][mask]") {
  const Bytes src = pattern(1000);
  for (std::size_t offset = 0; offset < 4; ++offset) {
    Bytes buf = src;
    CHECK(apply_mask_copy(buf, buf.data(), kKey, offset) == (offset + 1000) % 4);
    CHECK(buf == naive_mask(src, kKey, offset));
  }
}

TEST_CASE("masking in two pieces equals masking whole at every split point", "[proto][ws][mask]") {
  const Bytes src = pattern(257);
  for (std::size_t offset = 0; offset < 4; ++offset) {
    const Bytes expected = naive_mask(src, kKey, offset);
    for (std::size_t cut = 0; cut <= src.size(); ++cut) {
      Bytes buf = src;
      const MutableByteView all{buf};
      const std::size_t mid = apply_mask(all.first(cut), kKey, offset);
      REQUIRE(mid == (offset + cut) % 4);
      apply_mask(all.subspan(cut), kKey, mid);
      REQUIRE(buf == expected);

      Bytes out(src.size());
      const std::size_t mid2 = apply_mask_copy(ByteView{src}.first(cut), out.data(), kKey, offset);
      apply_mask_copy(ByteView{src}.subspan(cut), out.data() + cut, kKey, mid2);
      REQUIRE(out == expected);
    }
  }
}

TEST_CASE("masking byte by byte equals masking whole", "[proto][ws][mask]") {
  const Bytes src = pattern(100);
  Bytes buf = src;
  std::size_t offset = 3;
  for (auto& b : buf) offset = apply_mask(MutableByteView{&b, 1}, kKey, offset);
  CHECK(offset == (3 + 100) % 4);
  CHECK(buf == naive_mask(src, kKey, 3));
}

TEST_CASE("masking twice is the identity and offsets wrap modulo 4", "[proto][ws][mask]") {
  const Bytes src = pattern(70000);  // large enough for the wide path and its tails
  for (std::size_t offset : {0u, 1u, 2u, 3u, 4u, 7u, 1001u}) {
    Bytes buf = src;
    apply_mask(buf, kKey, offset);
    CHECK(buf == naive_mask(src, kKey, offset % 4));
    apply_mask(buf, kKey, offset);
    CHECK(buf == src);
  }
}

TEST_CASE("masking an empty span changes nothing and keeps the offset", "[proto][ws][mask]") {
  for (std::size_t offset = 0; offset < 4; ++offset) {
    CHECK(apply_mask(MutableByteView{}, kKey, offset) == offset);
    CHECK(apply_mask_copy(ByteView{}, nullptr, kKey, offset) == offset);
  }
}

TEST_CASE("a zero key leaves the payload unchanged", "[proto][ws][mask]") {
  const Bytes src = pattern(133);
  Bytes buf = src;
  apply_mask(buf, MaskKey{}, 2);
  CHECK(buf == src);
}
