#include "proto/ws_frame.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "base/check.hpp"
#include "proto/ws_error.hpp"

namespace wsgate::proto {

namespace {

constexpr unsigned u8(std::byte b) noexcept {
  return std::to_integer<unsigned>(b);
}

/// Header size implied by the second header byte (mask bit and 7-bit length), whatever the
/// extended length turns out to hold.
constexpr std::size_t wire_header_size(std::byte second) noexcept {
  const unsigned len7 = u8(second) & 0x7Fu;
  const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  return 2 + ext + ((u8(second) & 0x80u) != 0 ? 4 : 0);
}

std::uint64_t read_be(const std::byte* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | u8(p[i]);
  return v;
}

void write_be(std::byte* p, std::uint64_t v, std::size_t n) noexcept {
  for (std::size_t i = n; i-- > 0;) {
    p[i] = static_cast<std::byte>(v & 0xFFu);
    v >>= 8;
  }
}

/// Keys for random_mask_key(), fetched from the CSPRNG in batches: one RAND_bytes call per 256
/// frames instead of one per frame (RAND_bytes takes a lock and runs a DRBG step each call).
struct MaskKeyPool {
  static constexpr std::size_t kKeys = 256;
  std::array<MaskKey, kKeys> keys{};
  std::size_t next = kKeys;  ///< index of the next unused key; kKeys means "refill first"
};

}  // namespace

std::size_t decode_frame_header(ByteView in, FrameHeader& out, std::error_code& ec) noexcept {
  if (in.size() < 2) return 0;
  const std::byte* p = in.data();
  const std::size_t size = wire_header_size(p[1]);
  if (in.size() < size) return 0;

  const unsigned len7 = u8(p[1]) & 0x7Fu;
  std::uint64_t len = len7;
  if (len7 == 126) {
    len = read_be(p + 2, 2);
    if (len < 126) {
      ec = WsErrc::non_minimal_length;
      return 0;
    }
  } else if (len7 == 127) {
    len = read_be(p + 2, 8);
    // Check the high bit first: it is the more specific complaint about the same field.
    if (len > kMaxPayloadLength) {
      ec = WsErrc::length_high_bit;
      return 0;
    }
    if (len <= 0xFFFF) {
      ec = WsErrc::non_minimal_length;
      return 0;
    }
  }

  const unsigned b0 = u8(p[0]);
  out.fin = (b0 & 0x80u) != 0;
  out.rsv1 = (b0 & 0x40u) != 0;
  out.rsv2 = (b0 & 0x20u) != 0;
  out.rsv3 = (b0 & 0x10u) != 0;
  out.opcode = static_cast<Opcode>(b0 & 0x0Fu);
  out.masked = (u8(p[1]) & 0x80u) != 0;
  out.payload_len = len;
  if (out.masked) std::memcpy(out.key.data(), p + size - 4, 4);
  return size;
}

Result<std::size_t> FrameHeaderDecoder::feed(ByteView in) noexcept {
  if (complete_) return std::size_t{0};
  std::error_code ec;
  if (have_ == 0) {
    // Common case: the whole header is in this piece, so decode it where it lies.
    const std::size_t n = decode_frame_header(in, header_, ec);
    if (ec) return ec;
    if (n != 0) {
      complete_ = true;
      return n;
    }
  }
  // Copy exactly up to the end of the header: first the two fixed bytes, which tell how long
  // the rest is, then the rest. Never take a payload byte.
  std::size_t used = 0;
  for (;;) {
    const std::size_t need = have_ < 2 ? 2 : wire_header_size(buf_[1]);
    if (have_ == need) {
      [[maybe_unused]] const std::size_t n =
          decode_frame_header(ByteView(buf_, have_), header_, ec);
      if (ec) return ec;
      WSGATE_ASSERT(n == have_, "buffered header decodes to its full size");
      complete_ = true;
      return used;
    }
    if (used == in.size()) return used;
    const std::size_t take = std::min(need - have_, in.size() - used);
    std::memcpy(buf_ + have_, in.data() + used, take);
    have_ = static_cast<std::uint8_t>(have_ + take);
    used += take;
  }
}

std::size_t encode_frame_header(const FrameHeader& h, std::byte* out) noexcept {
  unsigned b0 = static_cast<unsigned>(h.opcode) & 0x0Fu;
  if (h.fin) b0 |= 0x80u;
  if (h.rsv1) b0 |= 0x40u;
  if (h.rsv2) b0 |= 0x20u;
  if (h.rsv3) b0 |= 0x10u;
  out[0] = static_cast<std::byte>(b0);

  const unsigned mask_bit = h.masked ? 0x80u : 0u;
  std::size_t n = 2;
  if (h.payload_len < 126) {
    out[1] = static_cast<std::byte>(mask_bit | static_cast<unsigned>(h.payload_len));
  } else if (h.payload_len <= 0xFFFF) {
    out[1] = static_cast<std::byte>(mask_bit | 126u);
    write_be(out + 2, h.payload_len, 2);
    n = 4;
  } else {
    out[1] = static_cast<std::byte>(mask_bit | 127u);
    write_be(out + 2, h.payload_len, 8);
    n = 10;
  }
  if (h.masked) {
    std::memcpy(out + n, h.key.data(), 4);
    n += 4;
  }
  return n;
}

std::size_t write_frame(MutableByteView out, Opcode op, ByteView payload, bool fin,
                        std::optional<MaskKey> mask, bool rsv1) noexcept {
  FrameHeader h;
  h.fin = fin;
  h.rsv1 = rsv1;
  h.opcode = op;
  h.masked = mask.has_value();
  if (mask) h.key = *mask;
  h.payload_len = payload.size();
  WSGATE_ASSERT(out.size() >= frame_size(payload.size(), h.masked), "write_frame: out too small");
  std::byte* p = out.data();
  p += encode_frame_header(h, p);
  if (mask) {
    apply_mask_copy(payload, p, *mask);
  } else if (!payload.empty()) {
    std::memcpy(p, payload.data(), payload.size());
  }
  return frame_size(payload.size(), h.masked);
}

void append_frame(Bytes& out, Opcode op, ByteView payload, bool fin, std::optional<MaskKey> mask,
                  bool rsv1) {
  const std::size_t old = out.size();
  const std::size_t n = frame_size(payload.size(), mask.has_value());
  // Grow geometrically: an exact reserve() would reallocate on every frame of a batch.
  if (old + n > out.capacity()) out.reserve(std::max(old + n, 2 * out.capacity()));
  out.resize(old + n);
  write_frame(MutableByteView(out).subspan(old), op, payload, fin, mask, rsv1);
}

MaskKey random_mask_key() {
  thread_local MaskKeyPool pool;
  if (pool.next == MaskKeyPool::kKeys) {
    const int ok = RAND_bytes(reinterpret_cast<unsigned char*>(pool.keys.data()),
                              static_cast<int>(sizeof(pool.keys)));
    WSGATE_CHECK(ok == 1, "RAND_bytes failed: no entropy for WebSocket masking keys");
    pool.next = 0;
  }
  return pool.keys[pool.next++];
}

}  // namespace wsgate::proto
