#pragma once
// Base64 (RFC 4648 §4, standard alphabet, padded) for payloads: the "base64" WebSocket
// subprotocol of websockify and noVNC carries TCP bytes as base64 text messages.
// Pure functions; append to caller-owned buffers.

#include <cstddef>
#include <string>
#include <string_view>

#include "base/bytes.hpp"

namespace wsgate::proto {

/// Appends the padded base64 text of `data` to `out`.
void base64_encode(ByteView data, std::string& out);

/// Appends the bytes `text` encodes to `out`. Strict: the length must be a multiple of four,
/// '=' only as one or two final padding characters, no whitespace, and unused bits of the last
/// group must be zero. Returns false (and leaves `out` with a partial decode) otherwise.
bool base64_decode(std::string_view text, Bytes& out);

/// Bytes base64_encode writes for `n` input bytes.
constexpr std::size_t base64_encoded_size(std::size_t n) noexcept {
  return (n + 2) / 3 * 4;
}

}  // namespace wsgate::proto
