#pragma once
// permessage-deflate compression (RFC 7692 §7.2) over zlib. The only zlib wrapper in the project:
// no other file includes <zlib.h> (this header does not either). Pure: no I/O, no clock, no
// logging. Negotiation lives in ws_extensions.hpp; this file only moves bytes.
//
// Memory (zlib's own formulas, zconf.h; measured by memory_usage() below):
//   deflate: (1 << (window_bits + 2)) + (1 << (mem_level + 9)) + ~6 KiB
//            = 256 KiB + 6 KiB at the defaults 15 / 8 (the "300 KiB per connection" users see);
//            window 10 / mem_level 4 gives 4 KiB + 8 KiB + 6 KiB = ~18 KiB.
//   inflate: (1 << window_bits) + ~7 KiB = ~39 KiB at window 15.
// Both are allocated lazily on the first message and freed by release(), so an idle connection
// can hold none. With context takeover, the state must live as long as the connection (the
// window *is* the context); with no_context_takeover, release() between messages is free of
// consequences apart from the cost of the next allocation.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>

#include "base/bytes.hpp"
#include "proto/ws_error.hpp"
#include "proto/ws_extensions.hpp"

namespace wsgate::proto {

/// Errors while inflating a peer's message. Each compares equal to one WsCondition, so
/// close_code_for() gives the close code to send.
enum class DeflateErrc {
  message_too_big = 1,  ///< inflated output would exceed the caller's cap       -> 1009
  corrupt_data,         ///< not valid DEFLATE data (zlib Z_DATA_ERROR)          -> 1007
  truncated_data,       ///< the message does not end on a DEFLATE block boundary
                        ///< (payload + 00 00 ff ff is incomplete, RFC 7692 §7.2.2) -> 1007
};

const std::error_category& deflate_category() noexcept;

inline std::error_code make_error_code(DeflateErrc e) noexcept {
  return {static_cast<int>(e), deflate_category()};
}

/// Which end of the connection we are, to map the agreed DeflateParams onto our compressor
/// (server_* params for a server, client_* for a client) and our inflater (the other side's).
enum class DeflateRole : std::uint8_t { server, client };

/// Compressor settings. The defaults match zlib's (level 6 is Z_DEFAULT_COMPRESSION).
struct DeflaterOptions {
  int level = 6;  ///< 0 (store) .. 9 (best); 1-3 are much faster on JSON, ~10% larger
  /// 8..15: must not exceed the agreed *_max_window_bits. zlib refuses 8 for raw deflate, so 8
  /// compresses with 9; zlib never matches further back than 2^9 - 262 = 250 bytes then, so
  /// the output still fits an 8-bit window. Negotiation avoids relying on this (never agrees 8
  /// for our side); only hand-made DeflateParams get here with 8.
  int window_bits = 15;
  int mem_level = 8;                 ///< 1..9: hash table size; 1 << (mem_level + 9) bytes of state
  bool no_context_takeover = false;  ///< reset the LZ77 window before every message
};

/// Decompressor settings.
struct InflaterOptions {
  int window_bits = 15;  ///< 8..15, the window the peer agreed to compress within; 8 is
                         ///< inflated with 9 (tolerates zlib-based peers, which use 9 for 8)
  bool no_context_takeover = false;  ///< reset the window before every message
};

/// Our compressor's options for an agreed session: our side's window and takeover flag.
DeflaterOptions deflater_options(const DeflateParams& agreed, DeflateRole self, int level = 6,
                                 int mem_level = 8) noexcept;
/// Our inflater's options for an agreed session: the peer's window and takeover flag.
InflaterOptions inflater_options(const DeflateParams& agreed, DeflateRole self) noexcept;

/// Compresses whole messages for one direction of one connection (RFC 7692 §7.2.1): raw DEFLATE,
/// Z_SYNC_FLUSH, the trailing 00 00 ff ff removed. An empty message becomes the single byte 00
/// (§7.2.3.6).
///
/// Context takeover: unless `no_context_takeover`, each message may refer to earlier ones, so
/// every compressed message MUST be sent, in order: compressing a message and then sending it
/// uncompressed would desynchronise the peer's window. Skipping compress() altogether for a
/// message sent with RSV1 clear is fine (it does not touch the window).
/// Thread: none (one instance per connection direction). Errors: none from peer input; zlib
/// failures here are allocation failures or bugs, and abort (STYLE §4). Preconditions
/// (checked): options in range.
class WsDeflater {
 public:
  explicit WsDeflater(DeflaterOptions options = {});
  ~WsDeflater();
  WsDeflater(WsDeflater&&) noexcept;
  WsDeflater& operator=(WsDeflater&&) noexcept;
  WsDeflater(const WsDeflater&) = delete;
  WsDeflater& operator=(const WsDeflater&) = delete;

  /// Appends the compressed payload of the message `in` to `out` (existing content is kept).
  /// Allocates the zlib state on first use. `in` may alias nothing in `out`.
  void compress(ByteView in, Bytes& out);

  /// Frees the zlib state (a later compress() allocates it again, with an empty window). With
  /// context takeover, call it only when no further message will be compressed.
  void release() noexcept;

  /// Bytes zlib currently holds for this object (0 after release() or before first use).
  std::size_t memory_usage() const noexcept;
  const DeflaterOptions& options() const noexcept { return options_; }

 private:
  struct State;
  void ensure_state();

  DeflaterOptions options_;
  std::unique_ptr<State> state_;  ///< null until the first compress() and after release()
};

/// Decompresses whole messages for one direction of one connection (RFC 7692 §7.2.2), also as
/// they arrive fragment by fragment: call feed() with each fragment's payload, then finish();
/// inflate() does both for a complete message. The message ends at finish(); the next feed()
/// starts a new one.
///
/// Cap: every call takes `max_size`, the largest inflated message the caller accepts, counted
/// over the whole message (all feed() calls and finish()); pass the same value each time.
/// Output stops as soon as one more byte would exceed it: `out` never receives more than
/// `max_size` bytes of one message, and a decompression bomb costs at most `max_size` bytes of
/// output and the work to produce them.
///
/// Accepted input: a payload whose DEFLATE blocks, followed by 00 00 ff ff, end on a block
/// boundary; a block with BFINAL set ends the message's data (§7.2.3.4: bytes after it are
/// ignored; with context takeover the window is carried over to the next message); an empty
/// payload is an empty message (a lenient reading for peers whose zlib emits nothing for an
/// empty message after a sync flush; §7.2.3.6 specifies the single byte 00).
///
/// Errors (sticky: once one is returned, every later call returns it until release()):
/// DeflateErrc::message_too_big (1009), corrupt_data and truncated_data (1007). `out` may hold
/// part of the failed message. Ownership: output is appended to the caller's `out`; nothing is
/// kept. Thread: none. Allocation: the zlib state on first use.
class WsInflater {
 public:
  explicit WsInflater(InflaterOptions options = {});
  ~WsInflater();
  WsInflater(WsInflater&&) noexcept;
  WsInflater& operator=(WsInflater&&) noexcept;
  WsInflater(const WsInflater&) = delete;
  WsInflater& operator=(const WsInflater&) = delete;

  /// Inflates one fragment of the current message, appending to `out`.
  [[nodiscard]] std::error_code feed(ByteView in, Bytes& out, std::size_t max_size);
  /// Ends the current message (appends the 00 00 ff ff tail and checks the block boundary).
  [[nodiscard]] std::error_code finish(Bytes& out, std::size_t max_size);
  /// feed() + finish() for a message received whole.
  [[nodiscard]] std::error_code inflate(ByteView in, Bytes& out, std::size_t max_size);

  /// Frees the zlib state and clears a sticky error. With context takeover, call it only when
  /// no further message will be inflated; mid-message it abandons the message.
  void release() noexcept;

  /// Bytes zlib currently holds for this object (0 after release() or before first use).
  std::size_t memory_usage() const noexcept;
  const InflaterOptions& options() const noexcept { return options_; }

 private:
  struct State;
  void ensure_state();
  std::error_code run(ByteView in, bool tail, Bytes& out, std::size_t max_size);
  std::error_code fail(DeflateErrc e) noexcept;
  void carry_window_over_stream_end();

  InflaterOptions options_;
  std::unique_ptr<State> state_;  ///< null until the first feed() and after release()
  std::error_code error_;         ///< sticky error, see the class comment
};

}  // namespace wsgate::proto

template <>
struct std::is_error_code_enum<wsgate::proto::DeflateErrc> : std::true_type {};
