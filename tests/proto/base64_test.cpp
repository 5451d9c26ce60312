#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "proto/base64.hpp"

using namespace wsgate;

TEST_CASE("base64 matches the RFC 4648 test vectors both ways", "[proto][base64]") {
  // RFC 4648 §10.
  const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                    {"f", "Zg=="},
                                                                    {"fo", "Zm8="},
                                                                    {"foo", "Zm9v"},
                                                                    {"foob", "Zm9vYg=="},
                                                                    {"fooba", "Zm9vYmE="},
                                                                    {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    std::string out;
    proto::base64_encode(as_bytes(plain), out);
    CHECK(out == encoded);
    CHECK(proto::base64_encoded_size(plain.size()) == encoded.size());
    Bytes back;
    REQUIRE(proto::base64_decode(encoded, back));
    CHECK(as_chars(back) == plain);
  }
}

TEST_CASE("base64 round-trips every byte value and appends", "[proto][base64]") {
  Bytes all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::byte>(i));
  std::string text = "prefix:";
  proto::base64_encode(all, text);
  Bytes back = to_bytes("x");
  REQUIRE(proto::base64_decode(std::string_view(text).substr(7), back));
  REQUIRE(back.size() == 257);
  CHECK(Bytes(back.begin() + 1, back.end()) == all);
}

TEST_CASE("base64 decoding is strict", "[proto][base64]") {
  for (const char* bad : {"Zg=", "Zg", "Z===", "====", "Zm9v\n", " Zm9v", "Zm9-", "Zm9_",
                          "Zg==Zg==", "Zh==", "Zm9=", "Zm=v", "=m9v"}) {
    Bytes out;
    INFO(bad);
    CHECK_FALSE(proto::base64_decode(bad, out));
  }
}
