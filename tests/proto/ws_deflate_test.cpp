#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/ws_deflate.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

Bytes hex(std::string_view s) {
  Bytes out;
  int hi = -1;
  for (const char c : s) {
    if (c == ' ') continue;
    const int v = (c >= '0' && c <= '9') ? c - '0' : c - 'a' + 10;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::byte>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

std::string text(const Bytes& b) {
  return std::string(as_chars(b));
}

constexpr std::size_t kNoCap = std::size_t{64} << 20;

// Deterministic test data: `compressible` repeats words with varying numbers (JSON-like),
// otherwise bytes from a xorshift generator (incompressible).
Bytes make_data(std::size_t n, bool compressible, std::uint32_t seed = 1) {
  Bytes out;
  out.reserve(n);
  std::uint32_t x = seed * 2654435761u + 1;
  static constexpr std::string_view kWords[] = {
      "{\"id\":", ",\"name\":\"", "\",\"tags\":[", "],\"ok\":true}", "alpha", "beta", "gamma"};
  while (out.size() < n) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    if (compressible) {
      append(out, kWords[x % 7]);
      append(out, std::to_string(x % 1000));
    } else {
      out.push_back(static_cast<std::byte>(x & 0xff));
    }
  }
  out.resize(n);
  return out;
}

Bytes compress_one(WsDeflater& d, const Bytes& in) {
  Bytes out;
  d.compress(in, out);
  return out;
}

// Inflates `payload` as one message fed in two pieces cut at `cut`.
std::error_code inflate_split(WsInflater& inf, const Bytes& payload, std::size_t cut, Bytes& out,
                              std::size_t cap = kNoCap) {
  const ByteView all(payload);
  if (auto ec = inf.feed(all.first(cut), out, cap)) return ec;
  if (auto ec = inf.feed(all.subspan(cut), out, cap)) return ec;
  return inf.finish(out, cap);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RFC 7692 §7.2.3 examples
// ---------------------------------------------------------------------------------------------

TEST_CASE("deflater produces the RFC 7692 Hello example bytes", "[proto][deflate]") {
  WsDeflater d;
  CHECK(compress_one(d, to_bytes("Hello")) == hex("f2 48 cd c9 c9 07 00"));  // §7.2.3.1
}

TEST_CASE("deflater with context takeover refers back to the previous message",
          "[proto][deflate]") {
  WsDeflater d;  // §7.2.3.2
  CHECK(compress_one(d, to_bytes("Hello")) == hex("f2 48 cd c9 c9 07 00"));
  CHECK(compress_one(d, to_bytes("Hello")) == hex("f2 00 11 00 00"));
}

TEST_CASE("deflater without context takeover repeats the first encoding", "[proto][deflate]") {
  WsDeflater d({.no_context_takeover = true});
  for (int i = 0; i < 3; ++i) {
    CHECK(compress_one(d, to_bytes("Hello")) == hex("f2 48 cd c9 c9 07 00"));
  }
}

TEST_CASE("deflater compresses an empty message to the single byte 00", "[proto][deflate]") {
  for (const bool nct : {false, true}) {
    CAPTURE(nct);
    WsDeflater d({.no_context_takeover = nct});
    CHECK(compress_one(d, {}) == hex("00"));  // §7.2.3.6, fresh stream
    CHECK(compress_one(d, {}) == hex("00"));  // right after a flush: zlib emits nothing
    CHECK(compress_one(d, to_bytes("Hello")).size() >= 5);
    CHECK(compress_one(d, {}) == hex("00"));
  }
}

TEST_CASE("deflater appends to existing output", "[proto][deflate]") {
  WsDeflater d;
  Bytes out = hex("aa bb");
  d.compress(to_bytes("Hello"), out);
  CHECK(out == hex("aa bb f2 48 cd c9 c9 07 00"));
}

TEST_CASE("inflater decodes every RFC 7692 example at every split", "[proto][deflate]") {
  struct Vector {
    const char* name;
    const char* payload;
  };
  const Vector vectors[] = {
      {"7.2.3.1 fixed huffman", "f2 48 cd c9 c9 07 00"},
      {"7.2.3.3 stored block", "00 05 00 fa ff 48 65 6c 6c 6f 00"},
      {"7.2.3.4 BFINAL block", "f3 48 cd c9 c9 07 00 00"},
      {"7.2.3.5 two blocks", "f2 48 05 00 00 00 ff ff ca c9 c9 07 00"},
  };
  for (const Vector& v : vectors) {
    const Bytes payload = hex(v.payload);
    for (std::size_t cut = 0; cut <= payload.size(); ++cut) {
      CAPTURE(v.name, cut);
      WsInflater inf;
      Bytes out;
      REQUIRE_FALSE(inflate_split(inf, payload, cut, out));
      CHECK(text(out) == "Hello");
    }
  }
}

TEST_CASE("inflater decodes the two-fragment example fed byte by byte", "[proto][deflate]") {
  WsInflater inf;  // §7.2.3.1: "f2 48 cd" and "c9 c9 07 00" as two fragments
  Bytes out;
  REQUIRE_FALSE(inf.feed(hex("f2 48 cd"), out, kNoCap));
  REQUIRE_FALSE(inf.feed(hex("c9 c9 07 00"), out, kNoCap));
  REQUIRE_FALSE(inf.finish(out, kNoCap));
  CHECK(text(out) == "Hello");

  WsInflater bytewise;
  Bytes out2;
  for (const std::byte b : hex("f2 48 cd c9 c9 07 00")) {
    REQUIRE_FALSE(bytewise.feed(ByteView(&b, 1), out2, kNoCap));
  }
  REQUIRE_FALSE(bytewise.finish(out2, kNoCap));
  CHECK(text(out2) == "Hello");
}

TEST_CASE("inflater keeps the context between messages", "[proto][deflate]") {
  const Bytes second = hex("f2 00 11 00 00");  // §7.2.3.2: refers to the first "Hello"
  for (std::size_t cut = 0; cut <= second.size(); ++cut) {
    CAPTURE(cut);
    WsInflater inf;
    Bytes a, b;
    REQUIRE_FALSE(inf.inflate(hex("f2 48 cd c9 c9 07 00"), a, kNoCap));
    REQUIRE_FALSE(inflate_split(inf, second, cut, b));
    CHECK(text(a) == "Hello");
    CHECK(text(b) == "Hello");
  }
}

TEST_CASE("inflater without context takeover rejects a back-reference to a previous message",
          "[proto][deflate]") {
  WsInflater inf({.no_context_takeover = true});
  Bytes a, b;
  REQUIRE_FALSE(inf.inflate(hex("f2 48 cd c9 c9 07 00"), a, kNoCap));
  const std::error_code ec = inf.inflate(hex("f2 00 11 00 00"), b, kNoCap);
  CHECK(ec == DeflateErrc::corrupt_data);
}

TEST_CASE("inflater carries the window over a BFINAL block with context takeover",
          "[proto][deflate]") {
  WsInflater inf;
  Bytes a, b, c;
  REQUIRE_FALSE(inf.inflate(hex("f3 48 cd c9 c9 07 00 00"), a, kNoCap));  // §7.2.3.4
  REQUIRE_FALSE(inf.inflate(hex("f2 00 11 00 00"), b, kNoCap));  // a new stream using "Hello"
  REQUIRE_FALSE(inf.inflate(hex("f2 48 cd c9 c9 07 00"), c, kNoCap));
  CHECK(text(a) == "Hello");
  CHECK(text(b) == "Hello");
  CHECK(text(c) == "Hello");
}

TEST_CASE("inflater ignores bytes after a BFINAL block", "[proto][deflate]") {
  WsInflater inf({.no_context_takeover = true});
  Bytes out;
  REQUIRE_FALSE(inf.inflate(hex("f3 48 cd c9 c9 07 00 ff ff ff"), out, kNoCap));
  CHECK(text(out) == "Hello");
  Bytes next;
  REQUIRE_FALSE(inf.inflate(hex("f2 48 cd c9 c9 07 00"), next, kNoCap));
  CHECK(text(next) == "Hello");
}

TEST_CASE("inflater accepts the empty message forms", "[proto][deflate]") {
  WsInflater inf;
  Bytes out;
  REQUIRE_FALSE(inf.inflate(hex("00"), out, 0));  // §7.2.3.6
  REQUIRE_FALSE(inf.inflate({}, out, 0));         // lenient: an empty payload
  REQUIRE_FALSE(inf.finish(out, 0));              // finish() alone is an empty message too
  CHECK(out.empty());
  REQUIRE_FALSE(inf.inflate(hex("f2 48 cd c9 c9 07 00"), out, 5));
  CHECK(text(out) == "Hello");
}

// ---------------------------------------------------------------------------------------------
// Errors and limits
// ---------------------------------------------------------------------------------------------

TEST_CASE("inflater reports corrupt and truncated data as 1007", "[proto][deflate]") {
  struct Row {
    const char* name;
    const char* payload;
    DeflateErrc expected;
  };
  const Row rows[] = {
      {"reserved block type 11", "ff ff ff ff", DeflateErrc::corrupt_data},
      {"final block of type 11", "07", DeflateErrc::corrupt_data},
      {"stored block with bad NLEN", "00 05 00 00 00 48 65 6c 6c 6f 00", DeflateErrc::corrupt_data},
      {"distance before the window", "f2 00 11 00 00", DeflateErrc::corrupt_data},
      {"cut inside a huffman block", "f2 48 cd", DeflateErrc::truncated_data},
      {"cut inside a stored block", "00 0a 00 f5 ff 48 65", DeflateErrc::truncated_data},
      {"cut stored block, tail read as data", "00 05 00 fa ff 48 65", DeflateErrc::corrupt_data},
      {"cut inside LEN and NLEN", "00 05 00 fa", DeflateErrc::corrupt_data},
      {"tail kept by the sender", "f2 48 cd c9 c9 07 00 00 00 ff ff", DeflateErrc::truncated_data},
  };
  for (const Row& r : rows) {
    CAPTURE(r.name);
    WsInflater inf;
    Bytes out;
    const std::error_code ec = inf.inflate(hex(r.payload), out, kNoCap);
    CHECK(ec == r.expected);
    CHECK(ec == WsCondition::invalid_payload);
    CHECK(close_code_for(ec) == CloseCode::invalid_payload);
  }
}

TEST_CASE("inflater errors are sticky until release", "[proto][deflate]") {
  WsInflater inf;
  Bytes out;
  CHECK(inf.inflate(hex("ff ff ff ff"), out, kNoCap) == DeflateErrc::corrupt_data);
  CHECK(inf.inflate(hex("f2 48 cd c9 c9 07 00"), out, kNoCap) == DeflateErrc::corrupt_data);
  CHECK(inf.finish(out, kNoCap) == DeflateErrc::corrupt_data);
  inf.release();
  out.clear();
  CHECK_FALSE(inf.inflate(hex("f2 48 cd c9 c9 07 00"), out, kNoCap));
  CHECK(text(out) == "Hello");
}

TEST_CASE("inflater enforces the cap exactly", "[proto][deflate]") {
  for (const std::size_t n : {std::size_t{1}, std::size_t{100}, std::size_t{65536}}) {
    const Bytes data = make_data(n, true);
    WsDeflater d;
    const Bytes z = compress_one(d, data);
    CAPTURE(n);
    {
      WsInflater inf;
      Bytes out;
      CHECK_FALSE(inf.inflate(z, out, n));
      CHECK(out == data);
    }
    {
      WsInflater inf;
      Bytes out;
      const std::error_code ec = inf.inflate(z, out, n - 1);
      CHECK(ec == DeflateErrc::message_too_big);
      CHECK(out.size() <= n - 1);
    }
  }
}

TEST_CASE("a deflate bomb stops at the cap", "[proto][deflate]") {
  const Bytes zeros(std::size_t{10} << 20);
  WsDeflater d;
  const Bytes bomb = compress_one(d, zeros);
  REQUIRE(bomb.size() < std::size_t{20} << 10);
  constexpr std::size_t kCap = std::size_t{1} << 20;

  WsInflater whole;
  Bytes out;
  const std::error_code ec = whole.inflate(bomb, out, kCap);
  CHECK(ec == DeflateErrc::message_too_big);
  CHECK(ec == WsCondition::limit_exceeded);
  CHECK(close_code_for(ec) == CloseCode::message_too_big);
  CHECK(out.size() <= kCap);

  // The cap counts across fragments.
  WsInflater pieces;
  Bytes out2;
  std::error_code ec2;
  const ByteView all(bomb);
  for (std::size_t i = 0; i < all.size() && !ec2; i += 1000) {
    ec2 = pieces.feed(all.subspan(i, std::min<std::size_t>(1000, all.size() - i)), out2, kCap);
  }
  if (!ec2) ec2 = pieces.finish(out2, kCap);
  CHECK(ec2 == DeflateErrc::message_too_big);
  CHECK(out2.size() <= kCap);
}

TEST_CASE("deflate error codes map onto conditions and close codes", "[proto][deflate]") {
  const std::error_code big = DeflateErrc::message_too_big;
  CHECK(big.category().name() == std::string("permessage-deflate"));
  CHECK_FALSE(big.message().empty());
  CHECK(close_code_for(big) == CloseCode::message_too_big);
  CHECK(close_code_for(DeflateErrc::corrupt_data) == CloseCode::invalid_payload);
  CHECK(close_code_for(DeflateErrc::truncated_data) == CloseCode::invalid_payload);
  CHECK(std::error_code(DeflateErrc::corrupt_data) != WsCondition::protocol_violation);
}

// ---------------------------------------------------------------------------------------------
// Round trips, windows, memory
// ---------------------------------------------------------------------------------------------

TEST_CASE("round trips at every window size with and without context takeover",
          "[proto][deflate]") {
  const std::size_t sizes[] = {0, 1, 100, 65536};
  for (int bits = 8; bits <= 15; ++bits) {
    for (const bool nct : {false, true}) {
      for (const bool compressible : {true, false}) {
        CAPTURE(bits, nct, compressible);
        WsDeflater d({.level = 6, .window_bits = bits, .no_context_takeover = nct});
        WsInflater inf({.window_bits = bits, .no_context_takeover = nct});
        std::uint32_t seed = 1;
        for (int round = 0; round < 2; ++round) {  // the second round reuses the context
          for (const std::size_t n : sizes) {
            CAPTURE(round, n);
            const Bytes data = make_data(n, compressible, seed++ % 3);
            const Bytes z = compress_one(d, data);
            Bytes out;
            REQUIRE_FALSE(inf.inflate(z, out, n));
            REQUIRE(out == data);
          }
        }
      }
    }
  }
}

TEST_CASE("round trips of 16 MiB messages", "[proto][deflate][slow]") {
  for (const int bits : {9, 15}) {
    const bool nct = bits == 9;
    CAPTURE(bits);
    const Bytes data = make_data((std::size_t{16} << 20) - 3, true, 7);
    WsDeflater d({.window_bits = bits, .no_context_takeover = nct});
    WsInflater inf({.window_bits = bits, .no_context_takeover = nct});
    for (int i = 0; i < 2; ++i) {
      const Bytes z = compress_one(d, data);
      CHECK(z.size() < data.size() / 3);
      Bytes out;
      // Fed in 1 MiB fragments, as a fragmented message would arrive.
      const ByteView all(z);
      for (std::size_t off = 0; off < all.size(); off += std::size_t{1} << 20) {
        REQUIRE_FALSE(inf.feed(all.subspan(off, std::min(all.size() - off, std::size_t{1} << 20)),
                               out, data.size()));
      }
      REQUIRE_FALSE(inf.finish(out, data.size()));
      REQUIRE(out == data);
    }
  }
}

TEST_CASE("compressed messages inflate at every split point", "[proto][deflate]") {
  WsDeflater d;
  const Bytes first = compress_one(d, make_data(300, true, 1));
  const Bytes second = compress_one(d, make_data(300, true, 2));
  for (std::size_t cut = 0; cut <= second.size(); ++cut) {
    CAPTURE(cut);
    WsInflater inf;
    Bytes a, b;
    REQUIRE_FALSE(inflate_split(inf, first, cut % (first.size() + 1), a));
    REQUIRE_FALSE(inflate_split(inf, second, cut, b));
    CHECK(a == make_data(300, true, 1));
    CHECK(b == make_data(300, true, 2));
  }
}

TEST_CASE("an inflater with a smaller window rejects references into older messages",
          "[proto][deflate]") {
  // zlib checks distances against the window only across calls: within one message's output
  // it may look back further. Across messages the window is all it has.
  const Bytes data = make_data(1000, false, 3);
  WsDeflater wide({.window_bits = 15});
  const Bytes first = compress_one(wide, data);
  const Bytes second = compress_one(wide, data);  // one long match, 1000 bytes back
  REQUIRE(second.size() < 50);
  WsInflater narrow({.window_bits = 9});
  Bytes out;
  REQUIRE_FALSE(narrow.inflate(first, out, kNoCap));
  CHECK(narrow.inflate(second, out, kNoCap) == DeflateErrc::corrupt_data);
  WsInflater fits({.window_bits = 10});
  Bytes a, b;
  REQUIRE_FALSE(fits.inflate(first, a, kNoCap));
  REQUIRE_FALSE(fits.inflate(second, b, kNoCap));
  CHECK(b == data);
}

TEST_CASE("zlib state is allocated lazily and freed by release", "[proto][deflate]") {
  WsDeflater d;
  WsInflater inf;
  CHECK(d.memory_usage() == 0);
  CHECK(inf.memory_usage() == 0);
  const Bytes z = compress_one(d, to_bytes("Hello"));
  // zlib.h: (1 << (windowBits + 2)) + (1 << (memLevel + 9)) plus a few KiB.
  CHECK(d.memory_usage() >= (std::size_t{1} << 17) + (std::size_t{1} << 17));
  CHECK(d.memory_usage() <= (std::size_t{1} << 18) + (std::size_t{8} << 10));
  Bytes out;
  REQUIRE_FALSE(inf.inflate(z, out, kNoCap));
  CHECK(inf.memory_usage() >= (std::size_t{1} << 15));
  CHECK(inf.memory_usage() <= (std::size_t{1} << 15) + (std::size_t{10} << 10));
  d.release();
  inf.release();
  CHECK(d.memory_usage() == 0);
  CHECK(inf.memory_usage() == 0);
  // After release, a fresh stream: the RFC bytes again rather than the back-reference.
  CHECK(compress_one(d, to_bytes("Hello")) == hex("f2 48 cd c9 c9 07 00"));
}

TEST_CASE("small windows and mem levels shrink the deflate state", "[proto][deflate]") {
  WsDeflater small({.window_bits = 10, .mem_level = 4});
  WsInflater small_inf({.window_bits = 10});
  const Bytes z = compress_one(small, make_data(5000, true));
  Bytes out;
  REQUIRE_FALSE(small_inf.inflate(z, out, kNoCap));
  CHECK(small.memory_usage() <= (std::size_t{1} << 12) + (std::size_t{1} << 13) + (8 << 10));
  CHECK(small_inf.memory_usage() <= (std::size_t{1} << 10) + (10 << 10));
}

TEST_CASE("agreed parameters map onto each side's deflater and inflater", "[proto][deflate]") {
  const DeflateParams p{.server_no_context_takeover = true,
                        .client_no_context_takeover = false,
                        .server_max_window_bits = 10,
                        .client_max_window_bits = 12};
  const DeflaterOptions sd = deflater_options(p, DeflateRole::server, 3, 5);
  CHECK(sd.window_bits == 10);
  CHECK(sd.no_context_takeover);
  CHECK(sd.level == 3);
  CHECK(sd.mem_level == 5);
  const InflaterOptions si = inflater_options(p, DeflateRole::server);
  CHECK(si.window_bits == 12);
  CHECK_FALSE(si.no_context_takeover);
  const DeflaterOptions cd = deflater_options(p, DeflateRole::client);
  CHECK(cd.window_bits == 12);
  CHECK_FALSE(cd.no_context_takeover);
  const InflaterOptions ci = inflater_options(p, DeflateRole::client);
  CHECK(ci.window_bits == 10);
  CHECK(ci.no_context_takeover);
}

TEST_CASE("tiny messages into a reused large buffer cost what they produce", "[proto][deflate]") {
  // Regression: the output buffer used to be grown into all of its spare capacity (zero-filled)
  // on every call, so after one large message each tiny one memset tens of MiB.
  WsDeflater d;
  const Bytes tiny = compress_one(d, to_bytes("ok"));
  WsInflater inf;
  Bytes out;
  out.reserve(std::size_t{64} << 20);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    out.clear();
    REQUIRE_FALSE(inf.inflate(tiny, out, kNoCap));
    REQUIRE(out == to_bytes("ok"));
  }
  Bytes packed;
  packed.reserve(std::size_t{64} << 20);
  for (int i = 0; i < 1000; ++i) {
    packed.clear();
    d.compress(to_bytes("ok"), packed);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // 2000 x 64 MiB of memset took seconds; the work itself takes milliseconds, even under ASan.
  CHECK(elapsed < std::chrono::milliseconds(1500));
}
