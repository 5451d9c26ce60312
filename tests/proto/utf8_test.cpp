#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/utf8.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

constexpr std::size_t kValid = static_cast<std::size_t>(-1);  // "never fails"

// Runs the enclosing test case three times: with the fastest path the CPU has (AVX2 where
// present), with the SSSE3 block validator (what a CPU without AVX2 runs), and with the portable
// paths only (no block validator). A forced path the CPU lacks falls back to the portable one.
class PathChoice {
 public:
  PathChoice()
      : path_(
            GENERATE(detail::Utf8Path::best, detail::Utf8Path::ssse3, detail::Utf8Path::portable)) {
    detail::utf8_force_path(path_);
  }
  ~PathChoice() { detail::utf8_force_path(detail::Utf8Path::best); }
  PathChoice(const PathChoice&) = delete;
  PathChoice& operator=(const PathChoice&) = delete;
  const char* name() const {
    switch (path_) {
      case detail::Utf8Path::best: return "best";
      case detail::Utf8Path::ssse3: return "ssse3";
      case detail::Utf8Path::portable: return "portable";
    }
    return "?";
  }

 private:
  detail::Utf8Path path_;
};

// "ce ba e1" -> bytes.
Bytes hex(std::string_view s) {
  Bytes out;
  unsigned v = 0;
  int digits = 0;
  for (const char c : s) {
    if (c == ' ') continue;
    const unsigned d = c <= '9' ? unsigned(c - '0') : unsigned(c - 'a' + 10);
    v = v * 16 + d;
    if (++digits == 2) {
      out.push_back(static_cast<std::byte>(v));
      v = 0;
      digits = 0;
    }
  }
  return out;
}

Bytes cat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  append(out, b);
  return out;
}

// Index of the first byte at which byte-by-byte feeding returns false, or kValid.
std::size_t fail_index_bytewise(ByteView in, bool* complete = nullptr) {
  Utf8Validator v;
  std::size_t at = kValid;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!v.feed(in.subspan(i, 1)) && at == kValid) at = i;
  }
  if (complete != nullptr) *complete = v.complete();
  return at;
}

// Independent reference: decodes code point bits and asks, after every byte, whether any
// completion of the open sequence could still be a valid scalar value of that length.
class RefValidator {
 public:
  bool push(std::uint8_t b) {
    if (failed_) return false;
    if (len_ == 0) {
      if (b < 0x80) return true;
      if ((b & 0xE0) == 0xC0) {
        len_ = 2, cp_ = b & 0x1Fu;
      } else if ((b & 0xF0) == 0xE0) {
        len_ = 3, cp_ = b & 0x0Fu;
      } else if ((b & 0xF8) == 0xF0) {
        len_ = 4, cp_ = b & 0x07u;
      } else {
        return fail();
      }
      have_ = 1;
    } else {
      if ((b & 0xC0) != 0x80) return fail();
      cp_ = cp_ << 6 | (b & 0x3Fu);
      ++have_;
    }
    const unsigned rest_bits = 6 * (len_ - have_);
    const std::uint32_t lo = cp_ << rest_bits;
    const std::uint32_t hi = lo | ((1u << rest_bits) - 1);
    const std::uint32_t shortest = len_ == 2 ? 0x80 : len_ == 3 ? 0x800 : 0x10000;
    const std::uint32_t a = std::max(lo, shortest);
    const std::uint32_t z = std::min(hi, std::uint32_t{0x10FFFF});
    if (a > z || (a >= 0xD800 && z <= 0xDFFF)) return fail();
    if (have_ == len_) len_ = 0;
    return true;
  }
  bool complete() const { return !failed_ && len_ == 0; }

 private:
  bool fail() {
    failed_ = true;
    return false;
  }
  unsigned len_ = 0, have_ = 0;
  std::uint32_t cp_ = 0;
  bool failed_ = false;
};

std::size_t ref_fail_index(ByteView in, bool* complete) {
  RefValidator r;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!r.push(std::to_integer<std::uint8_t>(in[i]))) {
      *complete = false;
      return i;
    }
  }
  *complete = r.complete();
  return kValid;
}

// Feeds `in` in two pieces cut at `cut` and checks each call's answer against the fail-fast
// index, then the final complete().
void check_split(ByteView in, std::size_t fail_at, bool complete, std::size_t cut) {
  INFO("cut " << cut << " of " << in.size());
  Utf8Validator v;
  REQUIRE(v.feed(in.first(cut)) == (fail_at == kValid || fail_at >= cut));
  REQUIRE(v.feed(in.subspan(cut)) == (fail_at == kValid));
  REQUIRE(v.complete() == complete);
  REQUIRE(v.failed() == (fail_at != kValid));
}

// Feeds `in` in pieces of `piece` bytes; the call that receives byte fail_at must be the first
// to return false.
void check_pieces(ByteView in, std::size_t fail_at, bool complete, std::size_t piece) {
  INFO("pieces of " << piece << " over " << in.size());
  Utf8Validator v;
  for (std::size_t at = 0; at < in.size(); at += piece) {
    const std::size_t n = std::min(piece, in.size() - at);
    REQUIRE(v.feed(in.subspan(at, n)) == (fail_at == kValid || fail_at >= at + n));
  }
  REQUIRE(v.complete() == complete);
}

struct Case {
  const char* name;
  const char* bytes;    // hex
  std::size_t fail_at;  // kValid, or the index of the first byte proving the input invalid
};

const Case kCompleteValid[] = {
    {"empty", "", kValid},
    {"U+0000", "00", kValid},
    {"U+007F", "7f", kValid},
    {"U+0080", "c2 80", kValid},
    {"U+07FF", "df bf", kValid},
    {"U+0800", "e0 a0 80", kValid},
    {"U+D7FF below the surrogates", "ed 9f bf", kValid},
    {"U+E000 above the surrogates", "ee 80 80", kValid},
    {"U+FFFE noncharacter is valid", "ef bf be", kValid},
    {"U+FFFF", "ef bf bf", kValid},
    {"U+10000", "f0 90 80 80", kValid},
    {"U+10FFFF", "f4 8f bf bf", kValid},
    {"kosme (Autobahn 6.2.1)", "ce ba e1 bd b9 cf 83 ce bc ce b5", kValid},
    {"Hello-mu@ss-UTF-8!! (Autobahn 6.5.1)",
     "48 65 6c 6c 6f 2d c2 b5 40 c3 9f c3 b6 c3 a4 c3 bc c3 a0 c3 a1 2d 55 54 46 2d 38 21 21",
     kValid},
    {"emoji and CJK", "f0 9f 98 80 e4 bd a0 e5 a5 bd 20 f0 9f 9a 80", kValid},
};

const Case kInvalid[] = {
    {"overlong C0 80", "c0 80", 0},
    {"overlong C1 BF", "c1 bf", 0},
    {"overlong E0 80 80", "e0 80 80", 1},
    {"overlong E0 9F BF", "e0 9f bf", 1},
    {"overlong F0 80 80 80", "f0 80 80 80", 1},
    {"overlong F0 8F BF BF", "f0 8f bf bf", 1},
    {"overlong 2-byte slash C0 AF (Autobahn 6.17.1)", "c0 af", 0},
    {"surrogate ED A0 80", "ed a0 80", 1},
    {"surrogate ED AD BF", "ed ad bf", 1},
    {"surrogate ED B0 80", "ed b0 80", 1},
    {"surrogate ED BF BF", "ed bf bf", 1},
    {"surrogate pair (Autobahn 6.19.1)", "ed a0 80 ed b0 80", 1},
    {"above U+10FFFF F4 90 80 80", "f4 90 80 80", 1},
    {"lead F5", "f5 80 80 80", 0},
    {"lead F7", "f7 bf bf bf", 0},
    {"5-byte form F8 (Autobahn 6.8.1)", "f8 88 80 80 80", 0},
    {"6-byte form FC (Autobahn 6.8.2)", "fc 84 80 80 80 80", 0},
    {"FE", "fe", 0},
    {"FF", "ff", 0},
    {"stray continuation 80", "80", 0},
    {"stray continuation BF", "bf", 0},
    {"continuation after ASCII", "41 80", 1},
    {"continuation after a complete 2-byte", "c2 80 80", 2},
    {"continuation after a complete 4-byte", "f0 90 80 80 80", 4},
    {"2-byte cut by ASCII", "c2 41", 1},
    {"3-byte cut by ASCII", "e1 80 41", 2},
    {"4-byte cut by ASCII", "f1 80 80 41", 3},
    {"2-byte cut by a new lead", "c2 c2 80", 1},
    {"lonely start then space (Autobahn 6.13.1)", "c2 20", 1},
    {"kosme then surrogate (Autobahn 6.3.1)",
     "ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64", 12},
    {"kosme then above U+10FFFF (Autobahn 6.4.1)",
     "ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64", 12},
};

const Case kTruncated[] = {
    {"2-byte lead", "c2", kValid},    {"2-byte lead DF", "df", kValid},
    {"E0 alone", "e0", kValid},       {"E0 A0", "e0 a0", kValid},
    {"ED 9F", "ed 9f", kValid},       {"EF BF", "ef bf", kValid},
    {"F0 alone", "f0", kValid},       {"F0 90", "f0 90", kValid},
    {"F0 90 80", "f0 90 80", kValid}, {"F4 8F BF", "f4 8f bf", kValid},
    {"F1 80 80", "f1 80 80", kValid}, {"kosme cut (Autobahn 6.6.4)", "ce ba e1 bd", kValid},
};

// Contexts around each case, so the bulk path (>= 4 bytes), the SSE2/word ASCII skip and the
// byte-at-a-time tail all meet the interesting bytes.
const Bytes kAsciiPad = hex("61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f 70 71 72 73 74 75");
const Bytes kKosme = hex("ce ba e1 bd b9 cf 83 ce bc ce b5");

void check_all_ways(const Bytes& in, std::size_t fail_at, bool complete) {
  bool bytewise_complete = false;
  REQUIRE(fail_index_bytewise(in, &bytewise_complete) == fail_at);
  REQUIRE(bytewise_complete == complete);
  REQUIRE(is_valid_utf8(in) == (fail_at == kValid && complete));
  for (std::size_t cut = 0; cut <= in.size(); ++cut) check_split(in, fail_at, complete, cut);
  for (std::size_t piece = 1; piece <= 8; ++piece) check_pieces(in, fail_at, complete, piece);
}

void check_in_contexts(const Case& c, bool complete, bool allow_suffix) {
  const Bytes core = hex(c.bytes);
  for (const Bytes* prefix : {static_cast<const Bytes*>(nullptr), &kAsciiPad, &kKosme}) {
    for (const Bytes* suffix : {static_cast<const Bytes*>(nullptr), &kAsciiPad, &kKosme}) {
      if (suffix != nullptr && !allow_suffix) continue;
      const Bytes pre = prefix != nullptr ? *prefix : Bytes{};
      const Bytes in = cat(cat(pre, core), suffix != nullptr ? *suffix : Bytes{});
      const std::size_t fail_at = c.fail_at == kValid ? kValid : pre.size() + c.fail_at;
      INFO(c.name << " prefix " << pre.size() << " total " << in.size());
      check_all_ways(in, fail_at, complete && fail_at == kValid);
    }
  }
}

}  // namespace

TEST_CASE("utf8 accepts every boundary code point at every split", "[proto][utf8]") {
  for (const Case& c : kCompleteValid) check_in_contexts(c, true, true);
}

TEST_CASE("utf8 fails fast at the exact byte proving the input invalid", "[proto][utf8]") {
  const PathChoice path;
  CAPTURE(path.name());
  for (const Case& c : kInvalid) check_in_contexts(c, false, true);
}

TEST_CASE("utf8 rejects F5 to FF and every continuation byte as a first byte", "[proto][utf8]") {
  for (unsigned b = 0x80; b <= 0xFF; ++b) {
    const bool can_start = b >= 0xC2 && b <= 0xF4;
    const Bytes in{static_cast<std::byte>(b)};
    INFO("byte " << b);
    Utf8Validator v;
    CHECK(v.feed(in) == can_start);
    CHECK_FALSE(v.complete());
  }
}

TEST_CASE("utf8 truncated sequences are valid prefixes but not complete", "[proto][utf8]") {
  for (const Case& c : kTruncated) {
    INFO(c.name);
    Utf8Validator v;
    CHECK(v.feed(hex(c.bytes)));
    CHECK_FALSE(v.failed());
    CHECK_FALSE(v.complete());
    CHECK_FALSE(is_valid_utf8(hex(c.bytes)));
    check_in_contexts(c, false, false);
  }
}

TEST_CASE("utf8 sequence cut at a piece boundary completes in the next piece", "[proto][utf8]") {
  Utf8Validator v;
  CHECK(v.feed(hex("61 62 63 64 65 f0")));
  CHECK_FALSE(v.complete());
  CHECK(v.feed(hex("9f")));
  CHECK(v.feed(hex("98")));
  CHECK_FALSE(v.complete());
  CHECK(v.feed(hex("80 e4 bd")));
  CHECK_FALSE(v.complete());
  CHECK(v.feed(hex("a0 61 62 63 64 65")));
  CHECK(v.complete());

  // The narrowed second-byte range survives the piece boundary: ED | A0 is a surrogate.
  Utf8Validator s;
  CHECK(s.feed(hex("61 62 63 64 ed")));
  CHECK_FALSE(s.feed(hex("a0 80 61 62 63 64")));
  CHECK(s.failed());
}

TEST_CASE("utf8 stays failed until reset", "[proto][utf8]") {
  Utf8Validator v;
  CHECK_FALSE(v.feed(hex("ff")));
  CHECK_FALSE(v.feed(hex("61")));
  CHECK_FALSE(v.feed(ByteView{}));
  CHECK(v.failed());
  CHECK_FALSE(v.complete());
  v.reset();
  CHECK_FALSE(v.failed());
  CHECK(v.complete());
  CHECK(v.feed(hex("61 c3 a9")));
  CHECK(v.complete());
}

TEST_CASE("utf8 finds one bad byte at any position in long ASCII", "[proto][utf8]") {
  const PathChoice path;
  CAPTURE(path.name());
  for (std::size_t len : {std::size_t{40}, std::size_t{100}}) {
    for (std::size_t pos = 0; pos < len; ++pos) {
      INFO("len " << len << " pos " << pos);
      Bytes in(len, std::byte{'a'});
      in[pos] = std::byte{0x80};
      check_all_ways(in, pos, false);
      in[pos] = std::byte{0xC3};  // a lead byte followed by 'a': fails one byte later
      check_all_ways(in, pos + 1 < len ? pos + 1 : kValid, false);
      if (pos + 1 < len) {
        in[pos + 1] = std::byte{0xA9};  // now a valid U+00E9
        check_all_ways(in, kValid, true);
      }
    }
  }
}

TEST_CASE("utf8 agrees with a reference on all short sequences of interesting bytes",
          "[proto][utf8]") {
  const std::uint8_t kInteresting[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                       0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee,
                                       0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf8, 0xff};
  const std::size_t n = std::size(kInteresting);
  for (std::size_t len = 1; len <= 4; ++len) {
    std::size_t total = 1;
    for (std::size_t i = 0; i < len; ++i) total *= n;
    for (std::size_t k = 0; k < total; ++k) {
      Bytes in(len);
      for (std::size_t i = 0, x = k; i < len; ++i, x /= n) {
        in[i] = static_cast<std::byte>(kInteresting[x % n]);
      }
      bool ref_complete = false;
      const std::size_t ref_at = ref_fail_index(in, &ref_complete);
      bool complete = false;
      REQUIRE(fail_index_bytewise(in, &complete) == ref_at);
      REQUIRE(complete == ref_complete);
      Utf8Validator whole;  // through the 4-byte bulk path when len == 4
      REQUIRE(whole.feed(in) == (ref_at == kValid));
      REQUIRE(whole.complete() == ref_complete);
      Utf8Validator padded;  // after an ASCII run, through the SSE2 skip
      REQUIRE(padded.feed(cat(kAsciiPad, in)) == (ref_at == kValid));
      REQUIRE(padded.complete() == ref_complete);
    }
  }
}

TEST_CASE("utf8 agrees with the reference on every two-byte input", "[proto][utf8]") {
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      const Bytes in{static_cast<std::byte>(a), static_cast<std::byte>(b)};
      bool ref_complete = false;
      const std::size_t ref_at = ref_fail_index(in, &ref_complete);
      bool complete = false;
      REQUIRE(fail_index_bytewise(in, &complete) == ref_at);
      REQUIRE(complete == ref_complete);
      const Bytes padded = cat(in, hex("61 62 63"));  // 5 bytes: the bulk path sees the pair
      bool padded_ref_complete = false;
      const std::size_t padded_ref_at = ref_fail_index(padded, &padded_ref_complete);
      Utf8Validator v;
      REQUIRE(v.feed(padded) == (padded_ref_at == kValid));
      REQUIRE(v.complete() == padded_ref_complete);
    }
  }
}

TEST_CASE("utf8 long mixed text is valid in pieces of every size", "[proto][utf8]") {
  const PathChoice path;
  CAPTURE(path.name());
  Bytes text;
  const char* const kParts[] = {"The quick brown fox ",
                                "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 ",
                                "caf\xc3\xa9 na\xc3\xafve ",
                                "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c ",
                                "\xf0\x9f\x98\x80\xf0\x9f\x9a\x80 ",
                                "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "};
  for (int rep = 0; rep < 4; ++rep) {
    for (const char* part : kParts) append(text, std::string_view{part});
  }
  REQUIRE(is_valid_utf8(text));
  for (std::size_t piece = 1; piece <= 64; ++piece) check_pieces(text, kValid, true, piece);

  // An error planted at every position is reported by the piece that holds it.
  for (std::size_t pos = 0; pos < text.size(); pos += 7) {
    Bytes bad = text;
    bad[pos] = std::byte{0xFF};
    for (std::size_t piece : {1u, 3u, 16u, 33u}) check_pieces(bad, pos, false, piece);
  }
}

namespace {

// `n` bytes of valid filler: 2-byte U+00E9 (so vector blocks are not skipped as ASCII), with a
// leading 'a' when n is odd.
Bytes filler(std::size_t n) {
  Bytes out;
  if (n % 2 == 1) out.push_back(std::byte{'a'});
  while (out.size() < n) append(out, hex("c3 a9"));
  return out;
}

}  // namespace

TEST_CASE("utf8 vector paths agree with the reference around 16- and 32-byte block edges",
          "[proto][utf8]") {
  const PathChoice path;
  CAPTURE(path.name());
  // Fewer bytes than the test above: this one runs every sequence in 9 contexts.
  const std::uint8_t kInteresting[] = {0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                       0xc1, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xf5};
  const std::size_t n = std::size(kInteresting);
  // Sequences straddle a block edge: 32 and 64 for both vector paths, 48 for SSSE3 (the middle
  // of an AVX2 block, where its two 128-bit lanes meet).
  const Bytes suffixes[] = {filler(40), Bytes(40, std::byte{'z'}), Bytes{}};
  Bytes all;  // reused: ~1.4 million inputs, so no allocation or INFO per input (ASan build)
  for (std::size_t prefix_len : {30u, 31u, 46u, 62u}) {
    const Bytes prefix = filler(prefix_len);
    for (std::size_t len = 1; len <= 4; ++len) {
      std::size_t total = 1;
      for (std::size_t i = 0; i < len; ++i) total *= n;
      for (std::size_t k = 0; k < total; ++k) {
        for (const Bytes& suffix : suffixes) {
          all.assign(prefix.begin(), prefix.end());
          for (std::size_t i = 0, x = k; i < len; ++i, x /= n) {
            all.push_back(static_cast<std::byte>(kInteresting[x % n]));
          }
          all.insert(all.end(), suffix.begin(), suffix.end());
          bool ref_complete = false;
          const std::size_t ref_at = ref_fail_index(all, &ref_complete);
          Utf8Validator v;
          const bool fed = v.feed(all);
          if (fed == (ref_at == kValid) && v.complete() == ref_complete) continue;
          INFO("prefix " << prefix_len << " len " << len << " k " << k << " size " << all.size());
          REQUIRE(fed == (ref_at == kValid));
          REQUIRE(v.complete() == ref_complete);
        }
      }
    }
  }
}

TEST_CASE("utf8 fail-fast holds for every case at every offset of a long buffer", "[proto][utf8]") {
  const PathChoice path;
  CAPTURE(path.name());
  for (const Case& c : kInvalid) {
    const Bytes core = hex(c.bytes);
    for (std::size_t offset = 0; offset <= 70; ++offset) {
      const Bytes in = cat(cat(filler(offset), core), filler(90));
      INFO(c.name << " at " << offset);
      const std::size_t fail_at = offset + c.fail_at;
      REQUIRE_FALSE(is_valid_utf8(in));
      for (std::size_t cut : {std::size_t{0}, fail_at, fail_at + 1, std::size_t{64}, in.size()}) {
        check_split(in, fail_at, false, std::min(cut, in.size()));
      }
      check_pieces(in, fail_at, false, 64);
      check_pieces(in, fail_at, false, 100);
    }
  }
  for (const Case& c : kTruncated) {
    for (std::size_t offset = 60; offset <= 140; ++offset) {
      const Bytes in = cat(filler(offset), hex(c.bytes));
      INFO(c.name << " at end of " << in.size());
      Utf8Validator v;
      REQUIRE(v.feed(in));
      REQUIRE_FALSE(v.complete());
    }
  }
  for (const Case& c : kCompleteValid) {
    for (std::size_t offset = 0; offset <= 70; ++offset) {
      const Bytes in = cat(cat(filler(offset), hex(c.bytes)), filler(90));
      INFO(c.name << " at " << offset);
      REQUIRE(is_valid_utf8(in));
      check_pieces(in, kValid, true, 64);
      check_pieces(in, kValid, true, 65);
    }
  }
}
