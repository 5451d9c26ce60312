#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "proto/ws_extensions.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

// Renders a parsed list back as text with a fixed layout, so expectations read as strings:
// "name[p=v][q]|name2".
std::string dump(const std::vector<Extension>& exts) {
  std::string out;
  for (const Extension& e : exts) {
    if (!out.empty()) out += '|';
    out += e.name;
    for (const ExtensionParam& p : e.params) {
      out += '[' + p.name;
      if (p.value) out += '=' + *p.value;
      out += ']';
    }
  }
  return out;
}

DeflateParams params(bool snct, bool cnct, int sbits, int cbits) {
  return {.server_no_context_takeover = snct,
          .client_no_context_takeover = cnct,
          .server_max_window_bits = sbits,
          .client_max_window_bits = cbits};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Header grammar (RFC 6455 §9.1)
// ---------------------------------------------------------------------------------------------

TEST_CASE("extension headers parse into names and parameters", "[proto][extensions]") {
  struct Row {
    const char* header;
    const char* expected;
  };
  const Row rows[] = {
      {"", ""},
      {" , ,\t", ""},
      {"permessage-deflate", "permessage-deflate"},
      {"permessage-deflate; client_max_window_bits", "permessage-deflate[client_max_window_bits]"},
      {"permessage-deflate;client_max_window_bits=10;server_no_context_takeover",
       "permessage-deflate[client_max_window_bits=10][server_no_context_takeover]"},
      {" permessage-deflate \t; a = 1 ; b ,x-foo ", "permessage-deflate[a=1][b]|x-foo"},
      {"a, , b;c=d,,", "a|b[c=d]"},
      {"a; b=\"10\"", "a[b=10]"},
      {"a; b=\"1\\0\"", "a[b=10]"},
      {"a; b=\"x\" ; c", "a[b=x][c]"},
      {"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
       "x-webkit-deflate-frame|permessage-deflate[client_max_window_bits]"},
      {"Mixed-Case; Param=Value", "Mixed-Case[Param=Value]"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.header);
    const auto parsed = parse_extensions(r.header);
    REQUIRE(parsed.ok());
    CHECK(dump(*parsed) == r.expected);
  }
}

TEST_CASE("malformed extension headers are syntax errors", "[proto][extensions]") {
  const char* rows[] = {
      "a;",
      "a; ;b",
      "a;=1",
      "a; b=",
      "a; b=\"\"",
      "a; b=\"x y\"",
      "a; b=\"open",
      "a b",
      ";a",
      "a,;",
      "a; b=c d",
      "a; b==c",
      "a@b",
      "a; b=\"a\\\"\"",
      "a; b=\"\\",
      "a; b=\"\x01\"",
      "a; b=\"\xc3\xa9\"",
      "a; b\"x\"",
      "\"a\"",
      "a; b=c;",
  };
  for (const char* h : rows) {
    CAPTURE(h);
    const auto parsed = parse_extensions(h);
    CHECK(parsed.error() == ExtensionErrc::syntax_error);
  }
}

TEST_CASE("format_extension writes the canonical form that parses back", "[proto][extensions]") {
  const Extension e{
      "permessage-deflate",
      {{"server_no_context_takeover", std::nullopt}, {"client_max_window_bits", "10"}}};
  const std::string s = format_extension(e);
  CHECK(s == "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  const auto back = parse_extensions(s);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 1);
  CHECK(back->front() == e);
}

// ---------------------------------------------------------------------------------------------
// Server negotiation (RFC 7692 §5.1, §7.1)
// ---------------------------------------------------------------------------------------------

TEST_CASE("server negotiation accepts the first acceptable offer", "[proto][extensions]") {
  struct Row {
    const char* offers;
    const char* response;  // nullptr: declined
    DeflateParams agreed;
  };
  const DeflateParams def;
  const Row rows[] = {
      {"permessage-deflate", "permessage-deflate", def},
      {"permessage-deflate; client_max_window_bits", "permessage-deflate", def},
      {"permessage-deflate; client_max_window_bits=10",
       "permessage-deflate; client_max_window_bits=10", params(false, false, 15, 10)},
      {"permessage-deflate; client_max_window_bits=\"9\"",
       "permessage-deflate; client_max_window_bits=9", params(false, false, 15, 9)},
      {"permessage-deflate; client_max_window_bits=8",
       "permessage-deflate; client_max_window_bits=8", params(false, false, 15, 8)},
      {"permessage-deflate; server_max_window_bits=10",
       "permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15)},
      {"permessage-deflate; server_max_window_bits=\"12\"",
       "permessage-deflate; server_max_window_bits=12", params(false, false, 12, 15)},
      {"permessage-deflate; server_max_window_bits=15",
       "permessage-deflate; server_max_window_bits=15", def},
      {"permessage-deflate; server_no_context_takeover",
       "permessage-deflate; server_no_context_takeover", params(true, false, 15, 15)},
      {"permessage-deflate; client_no_context_takeover",
       "permessage-deflate; client_no_context_takeover", params(false, true, 15, 15)},
      {"PerMessage-Deflate; Server_No_Context_Takeover",
       "permessage-deflate; server_no_context_takeover", params(true, false, 15, 15)},
      // RFC 7692 §5.2 example: two offers, the first acceptable one wins.
      {"permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
       "permessage-deflate; client_max_window_bits",
       "permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15)},
      // Declines, alone and followed by an acceptable fallback.
      {"permessage-deflate; server_max_window_bits=8", nullptr, def},
      {"permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9",
       "permessage-deflate; server_max_window_bits=9", params(false, false, 9, 15)},
      {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", nullptr, def},
      {"permessage-deflate; client_max_window_bits; client_max_window_bits=10", nullptr, def},
      {"permessage-deflate; server_max_window_bits=10; Server_Max_Window_Bits=10", nullptr, def},
      {"permessage-deflate; foo, permessage-deflate", "permessage-deflate", def},
      {"permessage-deflate; foo", nullptr, def},
      {"permessage-deflate; server_no_context_takeover=1", nullptr, def},
      {"permessage-deflate; client_no_context_takeover=\"x\"", nullptr, def},
      {"permessage-deflate; server_max_window_bits", nullptr, def},
      {"permessage-deflate; server_max_window_bits=16", nullptr, def},
      {"permessage-deflate; server_max_window_bits=7", nullptr, def},
      {"permessage-deflate; server_max_window_bits=08", nullptr, def},
      {"permessage-deflate; server_max_window_bits=010", nullptr, def},
      {"permessage-deflate; server_max_window_bits=\"010\"", nullptr, def},
      {"permessage-deflate; server_max_window_bits=-9", nullptr, def},
      {"permessage-deflate; client_max_window_bits=16", nullptr, def},
      {"permessage-deflate; client_max_window_bits=0", nullptr, def},
      // Other extensions are skipped, not declined wholesale.
      {"x-webkit-deflate-frame", nullptr, def},
      {"x-webkit-deflate-frame, permessage-deflate", "permessage-deflate", def},
      {"", nullptr, def},
  };
  for (const Row& r : rows) {
    CAPTURE(r.offers);
    const auto got = negotiate_deflate(std::string_view(r.offers), DeflateConfig{});
    REQUIRE(got.ok());
    if (r.response == nullptr) {
      CHECK_FALSE(got->has_value());
      continue;
    }
    REQUIRE(got->has_value());
    CHECK((*got)->response == r.response);
    CHECK((*got)->params == r.agreed);
  }
}

TEST_CASE("server configuration shapes the response", "[proto][extensions]") {
  struct Row {
    const char* name;
    DeflateConfig cfg;
    const char* offers;
    const char* response;  // nullptr: declined
    DeflateParams agreed;
  };
  const DeflateParams def;
  const Row rows[] = {
      {"disabled", {.enabled = false}, "permessage-deflate", nullptr, def},
      {"forced server reset",
       {.server_no_context_takeover = true},
       "permessage-deflate",
       "permessage-deflate; server_no_context_takeover",
       params(true, false, 15, 15)},
      {"requested client reset",
       {.client_no_context_takeover = true},
       "permessage-deflate",
       "permessage-deflate; client_no_context_takeover",
       params(false, true, 15, 15)},
      {"server window unasked",
       {.server_max_window_bits = 10},
       "permessage-deflate",
       "permessage-deflate; server_max_window_bits=10",
       params(false, false, 10, 15)},
      {"server window below the offer",
       {.server_max_window_bits = 10},
       "permessage-deflate; server_max_window_bits=12",
       "permessage-deflate; server_max_window_bits=10",
       params(false, false, 10, 15)},
      {"server window above the offer",
       {.server_max_window_bits = 12},
       "permessage-deflate; server_max_window_bits=9",
       "permessage-deflate; server_max_window_bits=9",
       params(false, false, 9, 15)},
      {"server window 8 acts as 9",
       {.server_max_window_bits = 8},
       "permessage-deflate",
       "permessage-deflate; server_max_window_bits=9",
       params(false, false, 9, 15)},
      {"server window 8 still declines 8",
       {.server_max_window_bits = 8},
       "permessage-deflate; server_max_window_bits=8",
       nullptr,
       def},
      {"client window with bare offer",
       {.client_max_window_bits = 10},
       "permessage-deflate; client_max_window_bits",
       "permessage-deflate; client_max_window_bits=10",
       params(false, false, 15, 10)},
      {"client window above the hint",
       {.client_max_window_bits = 12},
       "permessage-deflate; client_max_window_bits=9",
       "permessage-deflate; client_max_window_bits=9",
       params(false, false, 15, 9)},
      {"client window below the hint",
       {.client_max_window_bits = 10},
       "permessage-deflate; client_max_window_bits=12",
       "permessage-deflate; client_max_window_bits=10",
       params(false, false, 15, 10)},
      {"client window 8 acts as 9",
       {.client_max_window_bits = 8},
       "permessage-deflate; client_max_window_bits",
       "permessage-deflate; client_max_window_bits=9",
       params(false, false, 15, 9)},
      {"client window not offered",
       {.client_max_window_bits = 10},
       "permessage-deflate",
       "permessage-deflate",
       def},
      {"everything",
       {.server_no_context_takeover = true,
        .client_no_context_takeover = true,
        .server_max_window_bits = 11,
        .client_max_window_bits = 12},
       "permessage-deflate; client_max_window_bits",
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
       "server_max_window_bits=11; client_max_window_bits=12",
       params(true, true, 11, 12)},
  };
  for (const Row& r : rows) {
    CAPTURE(r.name);
    const auto got = negotiate_deflate(std::string_view(r.offers), r.cfg);
    REQUIRE(got.ok());
    if (r.response == nullptr) {
      CHECK_FALSE(got->has_value());
      continue;
    }
    REQUIRE(got->has_value());
    CHECK((*got)->response == r.response);
    CHECK((*got)->params == r.agreed);
  }
}

TEST_CASE("server negotiation fails only on a malformed header", "[proto][extensions]") {
  const auto got = negotiate_deflate(std::string_view("permessage-deflate; a=\"x y\""), {});
  CHECK(got.error() == ExtensionErrc::syntax_error);
  CHECK_FALSE(got.error().message().empty());
  CHECK(got.error().category().name() == std::string("ws-extensions"));
}

// ---------------------------------------------------------------------------------------------
// Client side (RFC 7692 §5.1, §7.1)
// ---------------------------------------------------------------------------------------------

TEST_CASE("client offers follow the configuration", "[proto][extensions]") {
  CHECK(deflate_offer({}) == "permessage-deflate; client_max_window_bits");
  CHECK(deflate_offer({.server_no_context_takeover = true,
                       .client_no_context_takeover = true,
                       .server_max_window_bits = 10,
                       .client_max_window_bits = 11}) ==
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=11");
  CHECK(deflate_offer({.server_max_window_bits = 8, .client_max_window_bits = 8}) ==
        "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9");
}

TEST_CASE("client accepts valid responses and computes the agreed parameters",
          "[proto][extensions]") {
  struct Row {
    const char* offer;
    const char* response;
    std::optional<DeflateParams> agreed;
  };
  const char* plain = "permessage-deflate; client_max_window_bits";
  const DeflateParams def;
  const Row rows[] = {
      {plain, "", std::nullopt},
      {plain, " , ", std::nullopt},
      {plain, "permessage-deflate", def},
      {plain, "permessage-deflate; server_no_context_takeover", params(true, false, 15, 15)},
      {plain, "permessage-deflate; client_no_context_takeover", params(false, true, 15, 15)},
      {plain, "permessage-deflate; server_max_window_bits=8", params(false, false, 8, 15)},
      {plain, "permessage-deflate; client_max_window_bits=9", params(false, false, 15, 9)},
      {plain, "permessage-deflate; client_max_window_bits=\"12\"", params(false, false, 15, 12)},
      {"permessage-deflate; client_max_window_bits=11",
       "permessage-deflate; client_max_window_bits=13", params(false, false, 15, 11)},
      {"permessage-deflate; client_max_window_bits=11", "permessage-deflate",
       params(false, false, 15, 11)},
      {"permessage-deflate; server_max_window_bits=10",
       "permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15)},
      {"permessage-deflate; server_max_window_bits=10",
       "permessage-deflate; server_max_window_bits=9", params(false, false, 9, 15)},
      {"permessage-deflate; server_no_context_takeover",
       "permessage-deflate; server_no_context_takeover", params(true, false, 15, 15)},
  };
  for (const Row& r : rows) {
    CAPTURE(r.offer, r.response);
    const auto got = accept_deflate_response(r.response, r.offer);
    REQUIRE(got.ok());
    CHECK(*got == r.agreed);
  }
}

TEST_CASE("client fails the connection on invalid responses", "[proto][extensions]") {
  struct Row {
    const char* offer;
    const char* response;
    ExtensionErrc expected;
  };
  const char* plain = "permessage-deflate; client_max_window_bits";
  const Row rows[] = {
      {plain, "permessage-deflate; a=\"b c\"", ExtensionErrc::syntax_error},
      {plain, "x-foo", ExtensionErrc::unexpected_extension},
      {plain, "permessage-deflate, permessage-deflate", ExtensionErrc::unexpected_extension},
      {plain, "permessage-deflate, x-foo", ExtensionErrc::unexpected_extension},
      {plain, "permessage-deflate; foo", ExtensionErrc::unknown_param},
      {plain, "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
       ExtensionErrc::duplicate_param},
      {plain, "permessage-deflate; server_no_context_takeover=1",
       ExtensionErrc::invalid_param_value},
      {plain, "permessage-deflate; client_max_window_bits", ExtensionErrc::invalid_param_value},
      {plain, "permessage-deflate; server_max_window_bits", ExtensionErrc::invalid_param_value},
      {plain, "permessage-deflate; server_max_window_bits=16", ExtensionErrc::invalid_param_value},
      {plain, "permessage-deflate; client_max_window_bits=09", ExtensionErrc::invalid_param_value},
      {plain, "permessage-deflate; client_max_window_bits=8",
       ExtensionErrc::unsupported_window_bits},
      {"permessage-deflate", "permessage-deflate; client_max_window_bits=10",
       ExtensionErrc::param_not_offered},
      {"permessage-deflate; server_no_context_takeover", "permessage-deflate",
       ExtensionErrc::server_context_takeover},
      {"permessage-deflate; server_max_window_bits=10", "permessage-deflate",
       ExtensionErrc::server_window_too_large},
      {"permessage-deflate; server_max_window_bits=10",
       "permessage-deflate; server_max_window_bits=11", ExtensionErrc::server_window_too_large},
  };
  for (const Row& r : rows) {
    CAPTURE(r.offer, r.response);
    const auto got = accept_deflate_response(r.response, r.offer);
    CHECK(got.error() == r.expected);
    CHECK_FALSE(got.error().message().empty());
  }
}

TEST_CASE("our client and server agree for every configuration pair", "[proto][extensions]") {
  std::vector<DeflateConfig> cfgs;
  for (const bool snct : {false, true}) {
    for (const bool cnct : {false, true}) {
      for (const int sbits : {8, 9, 12, 15}) {
        for (const int cbits : {8, 9, 12, 15}) {
          cfgs.push_back({.server_no_context_takeover = snct,
                          .client_no_context_takeover = cnct,
                          .server_max_window_bits = sbits,
                          .client_max_window_bits = cbits});
        }
      }
    }
  }
  for (const DeflateConfig& client : cfgs) {
    const std::string offer = deflate_offer(client);
    for (const DeflateConfig& server : cfgs) {
      CAPTURE(offer, server.server_no_context_takeover, server.client_no_context_takeover,
              server.server_max_window_bits, server.client_max_window_bits);
      const auto agreement = negotiate_deflate(std::string_view(offer), server);
      REQUIRE(agreement.ok());
      REQUIRE(agreement->has_value());
      const DeflateParams& s = (*agreement)->params;
      const auto accepted = accept_deflate_response((*agreement)->response, offer);
      REQUIRE(accepted.ok());
      REQUIRE(accepted->has_value());
      CHECK(**accepted == s);
      // Neither compressor is ever asked for an 8-bit window.
      CHECK(s.server_max_window_bits >= 9);
      CHECK(s.client_max_window_bits >= 9);
      CHECK(s.server_no_context_takeover ==
            (client.server_no_context_takeover || server.server_no_context_takeover));
    }
  }
}
