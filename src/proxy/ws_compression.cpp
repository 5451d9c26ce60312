#include "proxy/ws_compression.hpp"

#include <map>
#include <utility>

namespace wsgate::proxy {

namespace {

// The compressors of shared sessions on this worker thread: with no context takeover a
// compressor starts every message afresh, so one per (level, window) serves every session.
proto::WsDeflater& shared_deflater(int level, int window_bits) {
  thread_local std::map<std::pair<int, int>, proto::WsDeflater> pool;
  auto it = pool.find({level, window_bits});
  if (it == pool.end()) {
    proto::DeflaterOptions o;
    o.level = level;
    o.window_bits = window_bits;
    o.no_context_takeover = true;
    it = pool.emplace(std::make_pair(level, window_bits), proto::WsDeflater(o)).first;
  }
  return it->second;
}

}  // namespace

proto::DeflateConfig deflate_config(const WsRouteConfig& ws) noexcept {
  proto::DeflateConfig c;
  c.enabled = ws.compression == Compression::shared || ws.compression == Compression::dedicated;
  if (ws.compression == Compression::shared) {
    c.server_no_context_takeover = true;
    c.client_no_context_takeover = true;
  } else {
    c.server_max_window_bits = ws.window_bits;
    c.client_max_window_bits = ws.window_bits;
  }
  return c;
}

WsCompression::WsCompression(const WsRouteConfig& ws, const proto::DeflateParams& agreed)
    : ws_(ws),
      agreed_(agreed),
      inflater_(proto::inflater_options(agreed, proto::DeflateRole::server)) {
  if (!agreed_.server_no_context_takeover) {
    own_ = std::make_unique<proto::WsDeflater>(proto::deflater_options(
        agreed_, proto::DeflateRole::server, ws.compression_level, ws.mem_level));
  }
}

WsCompression::~WsCompression() = default;

bool WsCompression::compress(ByteView payload, Bytes& out) {
  if (payload.size() < ws_.compression_min_size) return false;
  out.clear();
  out.reserve(payload.size() / 2 + 64);
  if (own_) {
    own_->compress(payload, out);
  } else {
    shared_deflater(ws_.compression_level, agreed_.server_max_window_bits).compress(payload, out);
  }
  return true;
}

void WsCompression::message_done() noexcept {
  if (agreed_.client_no_context_takeover) inflater_.release();
}

std::size_t WsCompression::memory_usage() const noexcept {
  return inflater_.memory_usage() + (own_ ? own_->memory_usage() : 0);
}

}  // namespace wsgate::proxy
