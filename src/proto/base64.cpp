#include "proto/base64.hpp"

#include <array>
#include <cstdint>

namespace wsgate::proto {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for alphabet characters, 0xff for anything else (including '=').
constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}
constexpr auto kDecode = make_decode_table();

}  // namespace

void base64_encode(ByteView data, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + base64_encoded_size(data.size()));
  char* o = out.data() + start;
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const auto v = static_cast<std::uint32_t>(data[i]) << 16 |
                   static_cast<std::uint32_t>(data[i + 1]) << 8 |
                   static_cast<std::uint32_t>(data[i + 2]);
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest == 0) return;
  std::uint32_t v = static_cast<std::uint32_t>(data[i]) << 16;
  if (rest == 2) v |= static_cast<std::uint32_t>(data[i + 1]) << 8;
  *o++ = kAlphabet[v >> 18];
  *o++ = kAlphabet[(v >> 12) & 63];
  *o++ = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
  *o++ = '=';
}

bool base64_decode(std::string_view text, Bytes& out) {
  if (text.size() % 4 != 0) return false;
  out.reserve(out.size() + text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::size_t pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4 - pad; ++k) {
      const std::uint8_t d = kDecode[static_cast<unsigned char>(text[i + k])];
      if (d == 0xff) return false;
      v |= static_cast<std::uint32_t>(d) << (18 - 6 * k);
    }
    out.push_back(static_cast<std::byte>(v >> 16));
    if (pad == 2) {
      if ((v & 0xffff) != 0) return false;  // non-canonical: bits after the last byte set
    } else {
      out.push_back(static_cast<std::byte>((v >> 8) & 0xff));
      if (pad == 1) {
        if ((v & 0xff) != 0) return false;
      } else {
        out.push_back(static_cast<std::byte>(v & 0xff));
      }
    }
  }
  return true;
}

}  // namespace wsgate::proto
