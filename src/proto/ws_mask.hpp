#pragma once
// WebSocket masking (RFC 6455 §5.3): payload[i] ^= key[(offset + i) % 4].
// In place, any start offset into the key, any alignment of the data, many bytes per step.
// Reads and writes exactly data.size() bytes: no over-read, no padding assumptions.

#include <array>
#include <cstddef>

#include "base/bytes.hpp"

namespace wsgate::proto {

using MaskKey = std::array<std::byte, 4>;

/// XORs `data` in place with `key`, the first byte using key[key_offset % 4]. Returns the key
/// offset (0-3) the next byte of the same payload must use, so a payload masked in pieces gives
/// the same bytes as masked whole. Thread: pure.
std::size_t apply_mask(MutableByteView data, const MaskKey& key,
                       std::size_t key_offset = 0) noexcept;

/// Copies `in` to `out` (at least in.size() bytes; may alias `in` exactly) while masking.
/// Same offset contract as apply_mask.
std::size_t apply_mask_copy(ByteView in, std::byte* out, const MaskKey& key,
                            std::size_t key_offset = 0) noexcept;

}  // namespace wsgate::proto
