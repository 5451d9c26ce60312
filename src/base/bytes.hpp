#pragma once
// Byte vocabulary shared by every layer.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsgate {

/// An owning, growable byte buffer. Moved, not copied, on hot paths.
using Bytes = std::vector<std::byte>;
/// A read-only view of bytes owned elsewhere; valid only as long as its owner says.
using ByteView = std::span<const std::byte>;
/// A writable view of bytes owned elsewhere.
using MutableByteView = std::span<std::byte>;

/// Views a string's characters as bytes (no copy; valid while `s` is).
inline ByteView as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Views bytes as characters (no copy; valid while `b` is).
inline std::string_view as_chars(ByteView b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// Copies a string into a new Bytes.
inline Bytes to_bytes(std::string_view s) {
  const ByteView v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

/// Appends bytes to a buffer.
inline void append(Bytes& out, ByteView in) {
  out.insert(out.end(), in.begin(), in.end());
}
inline void append(Bytes& out, std::string_view in) {
  append(out, as_bytes(in));
}

}  // namespace wsgate
