#pragma once
// WebSocket frame headers (RFC 6455 §5.2): the opcode vocabulary, a minimal-length encoder, a
// one-shot decoder and an incremental decoder for headers that arrive in pieces, plus
// append_frame() and the CSPRNG mask source used by the client role.
//
// The header layer checks only what the header's own syntax can get wrong (the payload length
// encoding). Whether an opcode, RSV bit or mask bit is acceptable depends on the connection's
// role, negotiated extensions and fragmentation state: MessageAssembler (ws_message.hpp) decides.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <system_error>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "proto/ws_mask.hpp"

namespace wsgate::proto {

/// Frame opcodes (RFC 6455 §5.2, §11.8). Values 3-7 and 11-15 are reserved; a FrameHeader
/// produced by the decoders may still carry them (as the raw 4-bit value) so that the assembler
/// can reject them with WsErrc::reserved_opcode.
enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// True for close, ping, pong and the reserved control opcodes 11-15 (high bit of the opcode).
constexpr bool is_control(Opcode op) noexcept {
  return (static_cast<unsigned>(op) & 0x8u) != 0;
}

/// True for the six opcodes RFC 6455 defines; false for 3-7 and 11-15.
constexpr bool is_defined_opcode(Opcode op) noexcept {
  const auto v = static_cast<unsigned>(op);
  return v <= 0x2u || (v >= 0x8u && v <= 0xAu);
}

/// The longest possible header: 2 bytes + 8-byte extended length + 4-byte mask key.
inline constexpr std::size_t kMaxFrameHeaderSize = 14;
/// RFC 6455 §5.5: control frames carry at most 125 payload bytes.
inline constexpr std::size_t kMaxControlPayload = 125;
/// The largest length the 63-bit length field can carry (§5.2: the high bit MUST be 0).
inline constexpr std::uint64_t kMaxPayloadLength = (std::uint64_t{1} << 63) - 1;

/// One decoded (or to-be-encoded) frame header. `key` is meaningful only when `masked`.
struct FrameHeader {
  bool fin = true;
  bool rsv1 = false;
  bool rsv2 = false;
  bool rsv3 = false;
  Opcode opcode = Opcode::text;
  bool masked = false;
  MaskKey key{};
  std::uint64_t payload_len = 0;

  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

/// Size in bytes of the minimal header for this length and masking: 2, 4 or 10, plus 4 if
/// masked. Never more than kMaxFrameHeaderSize.
constexpr std::size_t header_size(std::uint64_t payload_len, bool masked) noexcept {
  const std::size_t ext = payload_len < 126 ? 0 : payload_len <= 0xFFFF ? 2 : 8;
  return 2 + ext + (masked ? 4 : 0);
}
constexpr std::size_t header_size(const FrameHeader& h) noexcept {
  return header_size(h.payload_len, h.masked);
}

/// Writes `h` to `out` using the minimal length encoding (§5.2) and returns the number of bytes
/// written (header_size(h)). `out` must have room for kMaxFrameHeaderSize bytes.
/// The encoder writes whatever `h` says, including reserved opcodes, RSV bits, unfinished control
/// frames and lengths of 2^63 and above (tests build invalid input with it); producing a valid
/// frame is the caller's job. Thread: pure.
std::size_t encode_frame_header(const FrameHeader& h, std::byte* out) noexcept;

/// Bytes of the complete frame write_frame() and append_frame() produce for this payload.
constexpr std::size_t frame_size(std::size_t payload_len, bool masked) noexcept {
  return header_size(payload_len, masked) + payload_len;
}

/// Writes one complete frame to the start of `out` (frame_size(payload.size(), mask) bytes,
/// which `out` must have): the header, then `payload` masked with `*mask` when given (client
/// role) or copied as is (server role). `payload` may not alias `out`. Returns the size written.
/// Same "writes what it is told" rule as encode_frame_header.
std::size_t write_frame(MutableByteView out, Opcode op, ByteView payload, bool fin,
                        std::optional<MaskKey> mask, bool rsv1 = false) noexcept;

/// The same frame appended to `out`, which grows by frame_size().
void append_frame(Bytes& out, Opcode op, ByteView payload, bool fin, std::optional<MaskKey> mask,
                  bool rsv1 = false);

/// A fresh masking key from OpenSSL's CSPRNG (RFC 6455 §5.3 requires unpredictable keys; never
/// rand()). Keys are drawn from a per-thread pool refilled 256 keys (1 KiB) per RAND_bytes call.
/// Thread: any (the pool is thread_local). Errors: a RAND_bytes failure means the process has no
/// usable entropy; that is fatal (WSGATE_CHECK aborts), like an allocation failure.
/// Fork: a child forked after the first call would repeat its parent's unused keys; wsgate does
/// not fork, and a process that must should call this only after fork().
MaskKey random_mask_key();

/// Decodes one header from the start of `in` without keeping state.
/// Returns the header's size in bytes and fills `out`, or 0 if `in` holds only a prefix of a
/// header (nothing is filled; call again with more bytes). Sets `ec` (and returns 0) when the
/// length field is invalid:
///  - WsErrc::length_high_bit: 64-bit length with the most significant bit set (§5.2);
///  - WsErrc::non_minimal_length: a 16-bit length below 126 or a 64-bit length below 65536.
///    Policy: rejected (close 1002). §5.2 says "the minimal number of bytes MUST be used to
///    encode the length"; accepting padding would let two byte strings mean the same frame,
///    which a proxy that relays headers must not allow.
/// Opcode, RSV and mask bits are returned as they are, valid or not. Thread: pure.
std::size_t decode_frame_header(ByteView in, FrameHeader& out, std::error_code& ec) noexcept;

/// Incremental header decoder: accepts a header in any number of pieces (down to one byte per
/// call) and gives exactly the result decode_frame_header would give for the whole header.
/// It never consumes a byte past the end of the header, so the payload stays in the caller's
/// input. State: at most 14 buffered bytes. Thread: one decoder per stream.
class FrameHeaderDecoder {
 public:
  /// Consumes bytes of the header from `in` and returns how many it took. When that completes
  /// the header, complete() becomes true and header() is valid; until reset(), further calls
  /// consume nothing and return 0. Errors: those of decode_frame_header, reported once the whole
  /// header has arrived; after an error the decoder must be reset() before reuse.
  Result<std::size_t> feed(ByteView in) noexcept;

  bool complete() const noexcept { return complete_; }
  /// True once some header bytes have been buffered and the header is not complete yet.
  bool in_progress() const noexcept { return have_ != 0 && !complete_; }
  /// The decoded header. Only meaningful when complete().
  const FrameHeader& header() const noexcept { return header_; }
  /// Forgets the header (complete or partial) to decode the next one.
  void reset() noexcept {
    have_ = 0;
    complete_ = false;
  }

 private:
  std::byte buf_[kMaxFrameHeaderSize]{};  ///< the header bytes seen so far
  std::uint8_t have_ = 0;                 ///< how many of buf_ are filled
  bool complete_ = false;                 ///< header_ holds a whole decoded header
  FrameHeader header_{};
};

}  // namespace wsgate::proto
