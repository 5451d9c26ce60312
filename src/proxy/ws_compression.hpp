#pragma once
// permessage-deflate for a WebSocket session (route key `compression`), on top of the proto
// codecs (proto/ws_extensions.hpp negotiates, proto/ws_deflate.hpp compresses).
//
//   shared     negotiated with no context takeover both ways. Outgoing messages are compressed
//              by one compressor per worker thread and per (level, window): nothing per
//              connection. The session's inflater frees its zlib state after every message, so
//              an idle connection holds no zlib memory either.
//   dedicated  context takeover both ways (better ratio on similar messages), within the route's
//              window_bits; each session has its own compressor and inflater, allocated on the
//              first message each way and kept for the session's life (the window is the
//              context).
// Messages shorter than compression_min_size go out uncompressed (RSV1 clear), which RFC 7692
// allows message by message in both modes.
//
// Thread: a WsCompression belongs to one session on its worker's loop thread.

#include <cstddef>
#include <memory>
#include <optional>

#include "base/bytes.hpp"
#include "proto/ws_deflate.hpp"
#include "proto/ws_extensions.hpp"
#include "proxy/config.hpp"

namespace wsgate::proxy {

/// The negotiation policy of a route (the server side of RFC 7692 §5); `enabled` is false for
/// off and passthrough (the proxy negotiates passthrough with its upstream).
proto::DeflateConfig deflate_config(const WsRouteConfig& ws) noexcept;

/// The agreed compression of one session.
class WsCompression {
 public:
  WsCompression(const WsRouteConfig& ws, const proto::DeflateParams& agreed);
  ~WsCompression();
  WsCompression(const WsCompression&) = delete;
  WsCompression& operator=(const WsCompression&) = delete;

  /// Compresses `payload` into `out` (replacing its content) and returns true, or returns false
  /// when the message goes out uncompressed (shorter than compression_min_size).
  bool compress(ByteView payload, Bytes& out);
  /// The inflater to attach to the session's assembler.
  proto::WsInflater& inflater() noexcept { return inflater_; }
  /// After each inflated message: frees the inflater's state when the client resets its
  /// context per message (shared), so idle sessions hold no zlib memory.
  void message_done() noexcept;
  /// zlib bytes held by this session (its own compressor and inflater; shared ones excluded).
  std::size_t memory_usage() const noexcept;

 private:
  const WsRouteConfig& ws_;
  proto::DeflateParams agreed_;
  proto::WsInflater inflater_;
  std::unique_ptr<proto::WsDeflater> own_;  ///< dedicated: this session's compressor
};

}  // namespace wsgate::proxy
