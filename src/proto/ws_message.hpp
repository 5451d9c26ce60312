#pragma once
// The WebSocket message assembler: bytes from the peer in, whole messages and control frames
// out (RFC 6455 §5.2-§5.6, §8.1; RSV1 handling of RFC 7692 §6). Pure: no I/O, no clock, no
// logging. Works for both ends of a connection (Role).

#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "proto/utf8.hpp"
#include "proto/ws_close.hpp"
#include "proto/ws_deflate.hpp"
#include "proto/ws_error.hpp"
#include "proto/ws_frame.hpp"

namespace wsgate::proto {

/// Which end of the connection we are. It decides the masking rule for received frames (§5.1):
/// a server receives only masked frames, a client only unmasked ones.
enum class Role : std::uint8_t { server, client };

/// Limits and negotiated options for one MessageAssembler. There is no "unlimited" value: use
/// UINT64_MAX to switch a limit off.
struct MessageConfig {
  Role role = Role::server;
  /// Largest payload of a single data frame. Larger -> WsErrc::frame_too_big (1009), detected
  /// from the header before any payload is buffered. Control frames are bounded by 125 instead.
  std::uint64_t max_frame_size = std::uint64_t{16} << 20;  // 16 MiB
  /// Largest data message, summed over its fragments (for RSV1 messages the compressed size,
  /// and with an inflater attached the inflated size as well). Larger -> WsErrc::message_too_big
  /// (1009), detected from the header of the frame that would cross it.
  std::uint64_t max_message_size = std::uint64_t{16} << 20;  // 16 MiB
  /// permessage-deflate was negotiated: RSV1 is allowed on the first frame of a data message and
  /// marks it compressed (RFC 7692 §6). Otherwise any RSV bit is WsErrc::reserved_bits.
  bool rsv1_allowed = false;
};

/// What the assembler reports. One virtual call per message or control frame, never per byte.
///
/// Ownership: every view (payload, reason) points either into the buffer passed to feed() or
/// into the assembler's own buffer, and dies when the callback returns: copy to keep.
/// Reentrancy: callbacks must not call feed() on the same assembler (checked: aborts). They
/// may do anything else, including deciding to stop feeding; the current feed() still runs to
/// the end of its input or to the next error. Callbacks must not throw.
class MessageEvents {
 public:
  virtual ~MessageEvents() = default;
  /// A complete text or binary message. `op` is Opcode::text or Opcode::binary. For text with
  /// `compressed == false` the payload has been validated as UTF-8. `compressed` means the
  /// payload is still deflated: the first frame had RSV1 and no inflater was attached (see
  /// MessageAssembler::set_inflater); such text is unvalidated. With an inflater attached every
  /// message arrives inflated and validated, with `compressed == false`.
  virtual void on_message(Opcode op, ByteView payload, bool compressed) = 0;
  /// A ping (payload <= 125 bytes). Answering with a pong is the caller's job (§5.5.2).
  virtual void on_ping(ByteView payload) = 0;
  /// A pong (payload <= 125 bytes); unsolicited pongs are legal (§5.5.3).
  virtual void on_pong(ByteView payload) = 0;
  /// The peer's close frame, validated: `code` is CloseCode::no_status if the frame had no
  /// payload, otherwise a code valid on the wire; `reason` is valid UTF-8. Nothing may follow
  /// it (see MessageAssembler::feed).
  virtual void on_close(CloseCode code, std::string_view reason) = 0;
};

/// Turns the byte stream from a peer into MessageEvents, enforcing framing, masking,
/// fragmentation, control-frame, UTF-8 and size rules.
///
/// Buffers: a complete unfragmented frame that lies entirely in the input is unmasked in place
/// and delivered as a view into the caller's buffer (zero copy). Only fragmented messages and
/// frames split across feed() calls are copied, into one internal buffer that is released as
/// soon as the message has been delivered: between messages an assembler holds no heap memory.
/// A partial header (<= 14 bytes) and a partial control frame (<= 125 bytes) are kept inline.
///
/// Checks, in this order, on each frame header (the first failure is reported):
///   length encoding (length_high_bit, non_minimal_length), reserved_opcode, reserved_bits /
///   rsv1_not_first_frame, unmasked_client_frame / masked_server_frame, control_fragmented,
///   control_too_long, unexpected_continuation / expected_continuation, frame_too_big,
///   message_too_big.
/// Payload checks: invalid_utf8 as soon as a text byte makes the message invalid (fail-fast,
/// across frames and feed() calls; the end of a message inside a code point fails at its last
/// byte), close_payload_one_byte / invalid_close_code / invalid_close_reason when a close frame
/// is complete, frame_after_close on the first byte after a close frame; with an inflater,
/// bad_compressed_data and message_too_big on the inflated output (see set_inflater).
///
/// Thread: one assembler per connection direction; not shared between threads.
class MessageAssembler {
 public:
  explicit MessageAssembler(MessageConfig config = {}) noexcept : cfg_(config) {}

  /// Consumes `in`, emitting events for every message and control frame it completes, in wire
  /// order. Returns in.size() on success: bytes that do not complete a frame are kept inside.
  /// `in` is modified: masked payload bytes are unmasked in place.
  ///
  /// Errors (WsErrc; each maps to 1002, 1007 or 1009 through close_code_for()): events for the
  /// frames before the offending one have already been delivered; the offending message is
  /// not. After an error the assembler is dead: every later feed() returns the same error and
  /// consumes nothing.
  ///
  /// After on_close, the stream is over (§5.5.1): any further byte, in this call or a later
  /// one, is WsErrc::frame_after_close. A caller that has already seen on_close should treat
  /// that error as "the peer kept talking after its close", not answer it with 1002.
  Result<std::size_t> feed(MutableByteView in, MessageEvents& ev);

  /// Attaches the inflater for this direction's permessage-deflate context (borrowed: it must
  /// outlive the assembler or be detached with nullptr; set it between messages). With one
  /// attached and rsv1_allowed, each RSV1 message is inflated as its payload arrives, frame by
  /// frame and read by read: the inflated size is capped by max_message_size (message_too_big,
  /// 1009, as soon as the output would cross it), compressed text is validated as it inflates
  /// (invalid_utf8, 1007, fail-fast as for plain text), and data that does not inflate is
  /// bad_compressed_data (1007). Without one, RSV1 messages are delivered still deflated
  /// (a proxy relaying compressed frames untouched).
  void set_inflater(WsInflater* inflater) noexcept { inflater_ = inflater; }

  /// The error that killed the assembler, or a default (success) code.
  std::error_code error() const noexcept { return err_; }
  /// True once the peer's close frame has been delivered.
  bool close_received() const noexcept { return closed_; }
  /// True while a fragmented data message has started and not finished.
  bool in_message() const noexcept { return msg_active_; }
  /// Heap bytes held for an unfinished message (0 between messages).
  std::size_t buffered_capacity() const noexcept { return msg_buf_.capacity(); }
  const MessageConfig& config() const noexcept { return cfg_; }

 private:
  enum class Rx : std::uint8_t { header, payload };

  // Internal steps report WsErrc{} (0) for success; feed() turns the rest into err_.
  WsErrc run(MutableByteView in, MessageEvents& ev, std::size_t& pos);
  WsErrc begin_frame() noexcept;
  WsErrc whole_frame(MutableByteView payload, MessageEvents& ev);
  WsErrc frame_chunk(MutableByteView chunk);
  WsErrc inflate_chunk(ByteView chunk, bool last);
  WsErrc end_frame(MessageEvents& ev);
  WsErrc deliver_control(ByteView payload, MessageEvents& ev);
  void finish_message() noexcept;

  MessageConfig cfg_;

  // Current frame.
  FrameHeaderDecoder rx_hdr_;       ///< a header split across feed() calls
  FrameHeader rx_fh_{};             ///< header of the frame being received
  std::uint64_t rx_remaining_ = 0;  ///< payload bytes of rx_fh_ still to arrive
  std::size_t rx_key_off_ = 0;      ///< mask key offset of the next payload byte
  Rx rx_state_ = Rx::header;        ///< reading a header or a payload
  std::uint8_t ctl_len_ = 0;        ///< bytes of ctl_buf_ filled
  /// A control frame split across feed() calls (kMaxControlPayload bytes, allocated the first
  /// time one is: most connections never see one, and idle connections are many).
  std::unique_ptr<std::byte[]> ctl_buf_;

  // Current data message (possibly fragmented).
  bool msg_active_ = false;         ///< a data message has started and not finished
  bool msg_compressed_ = false;     ///< delivered still deflated (RSV1, no inflater)
  bool msg_inflate_ = false;        ///< RSV1 with an inflater: inflated into msg_buf_
  bool msg_check_utf8_ = false;     ///< text we see uncompressed: validate as it arrives
  Opcode msg_op_ = Opcode::binary;  ///< text or binary
  std::uint64_t msg_size_ = 0;      ///< payload bytes announced so far, for max_message_size
  Bytes msg_buf_;                   ///< fragments copied so far; released after delivery
  Utf8Validator utf8_;              ///< state across fragments and feeds

  WsInflater* inflater_ = nullptr;  ///< borrowed; see set_inflater()
  // Lifetime.
  bool closed_ = false;   ///< peer's close frame delivered
  bool in_feed_ = false;  ///< reentrancy guard
  std::error_code err_;   ///< set once; the assembler is dead afterwards
};

}  // namespace wsgate::proto
