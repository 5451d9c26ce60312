#include <catch2/catch.hpp>

#include <functional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "proto/http_error.hpp"
#include "proto/ws_handshake.hpp"

using namespace wsgate::proto;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// RFC 6455 §1.3 / §4.2.2 example key and its accept value.
constexpr const char* kRfcKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr const char* kRfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// The RFC 6455 §1.3 example request.
HttpRequestHead rfc_request() {
  HttpRequestHead r;
  r.method = "GET";
  r.target = "/chat";
  r.headers.add("Host", "server.example.com");
  r.headers.add("Upgrade", "websocket");
  r.headers.add("Connection", "Upgrade");
  r.headers.add("Sec-WebSocket-Key", kRfcKey);
  r.headers.add("Origin", "http://example.com");
  r.headers.add("Sec-WebSocket-Protocol", "chat, superchat");
  r.headers.add("Sec-WebSocket-Version", "13");
  return r;
}

// The RFC request with field `name` replaced by `values` (none: removed; several: repeated).
HttpRequestHead with_fields(const std::string& name, const std::vector<std::string>& values) {
  HttpRequestHead r = rfc_request();
  r.headers.remove(name);
  for (const std::string& v : values) r.headers.add(name, v);
  return r;
}

HttpRequestHead with_field(const std::string& name, const std::string& value) {
  return with_fields(name, {value});
}

Fields fields_of(const HttpHeaders& h) {
  Fields out;
  for (const auto& f : h) out.emplace_back(f.name, f.value);
  return out;
}

std::error_code validate_error(const HttpRequestHead& r) {
  return validate_upgrade(r).error();
}

}  // namespace

TEST_CASE("compute_accept matches the RFC 6455 example", "[proto][ws][handshake]") {
  CHECK(compute_accept(kRfcKey) == kRfcAccept);
  // A second vector, cross-checked against Python's hashlib + base64.
  CHECK(compute_accept("x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  CHECK(compute_accept("").size() == 28);
}

TEST_CASE("validate_upgrade extracts the fields of the RFC example request",
          "[proto][ws][handshake]") {
  HttpRequestHead r = rfc_request();
  r.target = "/chat?room=1";
  r.headers.add("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");
  r.headers.add("Sec-WebSocket-Extensions", "x-foo");
  const auto up = validate_upgrade(r);
  REQUIRE(up.ok());
  CHECK(up->key == kRfcKey);
  CHECK(up->subprotocols == std::vector<std::string>{"chat", "superchat"});
  CHECK(up->extensions == "permessage-deflate; client_max_window_bits, x-foo");
  REQUIRE(up->origin.has_value());
  CHECK(*up->origin == "http://example.com");
  CHECK(up->host == "server.example.com");
  CHECK(up->target == "/chat?room=1");
}

TEST_CASE("validate_upgrade leaves optional fields empty when absent", "[proto][ws][handshake]") {
  HttpRequestHead r = rfc_request();
  r.headers.remove("Origin");
  r.headers.remove("Sec-WebSocket-Protocol");
  const auto up = validate_upgrade(r);
  REQUIRE(up.ok());
  CHECK_FALSE(up->origin.has_value());
  CHECK(up->subprotocols.empty());
  CHECK(up->extensions.empty());
}

TEST_CASE("each handshake error has its trigger, status and extra header",
          "[proto][ws][handshake]") {
  struct Row {
    HandshakeErrc errc;
    std::function<HttpRequestHead()> make;
    int status;
    std::string extra_name;  // a header make_rejection must add ("" for none)
    std::string extra_value;
  };
  const std::vector<Row> rows = {
      {HandshakeErrc::method_not_get,
       [] {
         auto r = rfc_request();
         r.method = "POST";
         return r;
       },
       405, "Allow", "GET"},
      {HandshakeErrc::http_version_too_old,
       [] {
         auto r = rfc_request();
         r.version_minor = 0;
         return r;
       },
       400, "", ""},
      {HandshakeErrc::http_version_unsupported,
       [] {
         auto r = rfc_request();
         r.version_major = 2;
         r.version_minor = 0;
         return r;
       },
       505, "", ""},
      {HandshakeErrc::request_has_body, [] { return with_field("Content-Length", "5"); }, 400, "",
       ""},
      {HandshakeErrc::host_missing, [] { return with_fields("Host", {}); }, 400, "", ""},
      {HandshakeErrc::host_repeated,
       [] {
         return with_fields("Host", {"a", "b"});
       },
       400, "", ""},
      {HandshakeErrc::upgrade_missing, [] { return with_fields("Upgrade", {}); }, 400, "", ""},
      {HandshakeErrc::upgrade_not_websocket, [] { return with_field("Upgrade", "h2c"); }, 400, "",
       ""},
      {HandshakeErrc::connection_not_upgrade, [] { return with_field("Connection", "keep-alive"); },
       400, "", ""},
      {HandshakeErrc::version_missing, [] { return with_fields("Sec-WebSocket-Version", {}); }, 426,
       "Sec-WebSocket-Version", "13"},
      {HandshakeErrc::version_unsupported, [] { return with_field("Sec-WebSocket-Version", "8"); },
       426, "Sec-WebSocket-Version", "13"},
      {HandshakeErrc::key_missing, [] { return with_fields("Sec-WebSocket-Key", {}); }, 400, "",
       ""},
      {HandshakeErrc::key_repeated,
       [] {
         return with_fields("Sec-WebSocket-Key", {kRfcKey, kRfcKey});
       },
       400, "", ""},
      {HandshakeErrc::key_not_base64,
       [] { return with_field("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"); }, 400, "", ""},
      {HandshakeErrc::key_wrong_length,
       [] { return with_field("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0O"); }, 400, "", ""},
      {HandshakeErrc::subprotocol_invalid,
       [] { return with_field("Sec-WebSocket-Protocol", "chat, chat"); }, 400, "", ""},
      {HandshakeErrc::origin_repeated,
       [] {
         return with_fields("Origin", {"http://a", "http://b"});
       },
       400, "", ""},
      {HandshakeErrc::origin_forbidden, nullptr, 403, "", ""},
  };
  // One row per enumerator, in order, so a new error cannot go untested.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(static_cast<int>(rows[i].errc) == static_cast<int>(i + 1));
  }
  CHECK(handshake_category().message(static_cast<int>(rows.size()) + 1).starts_with("unknown"));

  for (const Row& row : rows) {
    const std::error_code ec = row.errc;
    INFO(ec.message());
    if (row.make) CHECK(validate_error(row.make()) == ec);
    CHECK(http_status_for(row.errc) == row.status);
    CHECK(http_status_for(ec) == row.status);
    const HandshakeRejection rej = make_rejection(ec);
    CHECK(rej.head.status == row.status);
    if (!row.extra_name.empty()) CHECK(rej.head.headers.get(row.extra_name) == row.extra_value);
    CHECK(rej.head.headers.get("Content-Length") == std::to_string(rej.body.size()));
    CHECK(rej.head.headers.has_token("Connection", "close"));
  }
}

TEST_CASE("checks run in the documented order", "[proto][ws][handshake]") {
  HttpRequestHead r = rfc_request();
  r.version_minor = 0;
  r.headers.remove("Host");
  r.headers.remove("Sec-WebSocket-Key");
  CHECK(validate_error(r) == HandshakeErrc::http_version_too_old);
  r.version_minor = 1;
  CHECK(validate_error(r) == HandshakeErrc::host_missing);
  r.method = "get";  // methods are case-sensitive
  CHECK(validate_error(r) == HandshakeErrc::method_not_get);
  r = with_fields("Sec-WebSocket-Version", {});
  r.headers.remove("Sec-WebSocket-Key");
  CHECK(validate_error(r) == HandshakeErrc::version_missing);
}

TEST_CASE("make_rejection writes exact heads and bodies", "[proto][ws][handshake]") {
  SECTION("400 for a missing key") {
    const HandshakeRejection r = make_rejection(HandshakeErrc::key_missing);
    CHECK(r.head.status == 400);
    CHECK(r.body == "400 Bad Request: Sec-WebSocket-Key is missing\n");
    CHECK(fields_of(r.head.headers) == Fields{{"Content-Type", "text/plain; charset=utf-8"},
                                              {"Content-Length", "46"},
                                              {"Connection", "close"}});
  }
  SECTION("426 names the version and the protocol to upgrade to") {
    const HandshakeRejection r = make_rejection(HandshakeErrc::version_unsupported);
    CHECK(r.body == "426 Upgrade Required: Sec-WebSocket-Version must be 13\n");
    CHECK(fields_of(r.head.headers) == Fields{{"Content-Type", "text/plain; charset=utf-8"},
                                              {"Content-Length", "55"},
                                              {"Upgrade", "websocket"},
                                              {"Sec-WebSocket-Version", "13"},
                                              {"Connection", "Upgrade, close"}});
  }
  SECTION("405 carries Allow") {
    const HandshakeRejection r = make_rejection(HandshakeErrc::method_not_get);
    CHECK(r.body == "405 Method Not Allowed: WebSocket upgrade requires GET\n");
    CHECK(fields_of(r.head.headers) == Fields{{"Content-Type", "text/plain; charset=utf-8"},
                                              {"Content-Length", "55"},
                                              {"Allow", "GET"},
                                              {"Connection", "close"}});
  }
  SECTION("403 for a forbidden origin") {
    CHECK(make_rejection(HandshakeErrc::origin_forbidden).body ==
          "403 Forbidden: Origin is not allowed\n");
  }
  SECTION("client-side errors are 502, foreign categories 500") {
    CHECK(http_status_for(ClientHandshakeErrc::accept_mismatch) == 502);
    CHECK(http_status_for(make_error_code(ClientHandshakeErrc::accept_mismatch)) == 502);
    CHECK(make_rejection(ClientHandshakeErrc::status_not_101).head.status == 502);
    CHECK(http_status_for(std::make_error_code(std::errc::io_error)) == 500);
    CHECK(http_status_for(std::error_code{}) == 500);
    CHECK(make_rejection(std::make_error_code(std::errc::io_error)).head.status == 500);
  }
}

TEST_CASE("Upgrade and Connection match tokens case-insensitively", "[proto][ws][handshake]") {
  HttpRequestHead r;
  r.method = "GET";
  r.target = "/";
  r.headers.add("HOST", "h");
  r.headers.add("UPGRADE", "WebSocket");
  r.headers.add("connection", "keep-alive, Upgrade");  // Firefox
  r.headers.add("sec-websocket-key", kRfcKey);
  r.headers.add("SEC-WEBSOCKET-VERSION", "13");
  CHECK(validate_upgrade(r).ok());
  CHECK(is_websocket_upgrade(r));
  r.headers.set("Connection", "UPGRADE");
  CHECK(validate_upgrade(r).ok());
}

TEST_CASE("Upgrade and Connection tokens may come in repeated fields", "[proto][ws][handshake]") {
  CHECK(validate_upgrade(with_fields("Upgrade", {"h2c", "websocket"})).ok());
  CHECK(validate_upgrade(with_fields("Upgrade", {"h2c, WEBSOCKET"})).ok());
  CHECK(validate_upgrade(with_fields("Connection", {"keep-alive", "upgrade"})).ok());
  CHECK(validate_upgrade(with_fields("Connection", {"keep-alive", ", Upgrade ,"})).ok());
  CHECK(validate_error(with_fields("Upgrade", {"h2c", "websocket/13"})) ==
        HandshakeErrc::upgrade_not_websocket);
  CHECK(validate_error(with_fields("Upgrade", {""})) == HandshakeErrc::upgrade_not_websocket);
  CHECK(validate_error(with_fields("Connection", {"keep-alive", "upgrade-insecure"})) ==
        HandshakeErrc::connection_not_upgrade);
  CHECK(validate_error(with_fields("Connection", {})) == HandshakeErrc::connection_not_upgrade);
  CHECK_FALSE(is_websocket_upgrade(with_fields("Upgrade", {"h2c"})));
}

TEST_CASE("Sec-WebSocket-Version must be exactly 13", "[proto][ws][handshake]") {
  const std::vector<std::pair<std::vector<std::string>, std::error_code>> rows = {
      {{"13"}, {}},
      {{" 13 "}, {}},
      {{"\t13"}, {}},
      {{}, HandshakeErrc::version_missing},
      {{"8"}, HandshakeErrc::version_unsupported},
      {{"13, 8"}, HandshakeErrc::version_unsupported},
      {{"8, 13"}, HandshakeErrc::version_unsupported},
      {{"13", "13"}, HandshakeErrc::version_unsupported},
      {{"013"}, HandshakeErrc::version_unsupported},
      {{"1 3"}, HandshakeErrc::version_unsupported},
      {{""}, HandshakeErrc::version_unsupported},
  };
  for (const auto& [values, expected] : rows) {
    INFO(values.size() << " fields, first: '" << (values.empty() ? "" : values[0]) << "'");
    CHECK(validate_error(with_fields("Sec-WebSocket-Version", values)) == expected);
  }
}

TEST_CASE("Sec-WebSocket-Key must be canonical base64 of 16 bytes", "[proto][ws][handshake]") {
  const std::vector<std::pair<std::string, std::error_code>> rows = {
      {kRfcKey, {}},
      {"AAECAwQFBgcICQoLDA0ODw==", {}},
      {" AAECAwQFBgcICQoLDA0ODw==\t", {}},                            // OWS is trimmed
      {"AAECAwQFBgcICQoLDA0O", HandshakeErrc::key_wrong_length},      // 15 bytes
      {"AAECAwQFBgcICQoLDA0ODxA=", HandshakeErrc::key_wrong_length},  // 17 bytes
      {"", HandshakeErrc::key_wrong_length},                          // 0 bytes
      {"dGhlIHNhbXBsZSBub25jZQ=", HandshakeErrc::key_not_base64},     // short padding
      {"dGhlIHNhbXBsZSBub25jZQ", HandshakeErrc::key_not_base64},      // no padding
      {"dGhlIHNhbXBsZSBub25jZQ===", HandshakeErrc::key_not_base64},   // too much padding
      {"dGhlIHNhbXBsZSBub25jZR==", HandshakeErrc::key_not_base64},    // non-zero unused bits
      {"dGhlIHNhbXBs=SBub25jZQ==", HandshakeErrc::key_not_base64},    // '=' inside
      {"dGhlIHNhbXBsZSBub25-_Q==", HandshakeErrc::key_not_base64},    // URL-safe alphabet
      {"dGhlIHNhbXBs ZSBub25jZQ==", HandshakeErrc::key_not_base64},   // inner space
      {"dGhlIHNhbXBsZSBub25jZQ==\r", HandshakeErrc::key_not_base64},  // stray CR
      {"====", HandshakeErrc::key_not_base64},
  };
  for (const auto& [key, expected] : rows) {
    INFO("key '" << key << "'");
    const auto up = validate_upgrade(with_field("Sec-WebSocket-Key", key));
    CHECK(up.error() == expected);
    if (up.ok()) CHECK((up->key == "AAECAwQFBgcICQoLDA0ODw==" || up->key == kRfcKey));
  }
}

TEST_CASE("is_base64_of_length checks length and canonical padding", "[proto][ws][handshake]") {
  CHECK(is_base64_of_length("", 0));
  CHECK(is_base64_of_length("Zg==", 1));
  CHECK(is_base64_of_length("Zm8=", 2));
  CHECK(is_base64_of_length("Zm9v", 3));
  CHECK_FALSE(is_base64_of_length("Zh==", 1));  // unused bits set
  CHECK_FALSE(is_base64_of_length("Zm9=", 2));  // unused bits set
  CHECK_FALSE(is_base64_of_length("Zm9v", 2));
  CHECK_FALSE(is_base64_of_length("Zg=", 1));
  CHECK_FALSE(is_base64_of_length("=Zg=", 1));
}

TEST_CASE("a request with a body is refused", "[proto][ws][handshake]") {
  const std::vector<std::pair<Fields, std::error_code>> rows = {
      {{{"Content-Length", "0"}}, {}},
      {{{"Content-Length", "0, 0"}}, {}},
      {{{"Content-Length", "0"}, {"Content-Length", "00"}}, {}},
      {{{"Content-Length", "5"}}, HandshakeErrc::request_has_body},
      {{{"Content-Length", "0, 1"}}, HandshakeErrc::request_has_body},
      {{{"Content-Length", ""}}, HandshakeErrc::request_has_body},
      {{{"Content-Length", "x"}}, HandshakeErrc::request_has_body},
      {{{"Transfer-Encoding", "chunked"}}, HandshakeErrc::request_has_body},
      {{{"transfer-encoding", ""}}, HandshakeErrc::request_has_body},
  };
  for (const auto& [extra, expected] : rows) {
    HttpRequestHead r = rfc_request();
    for (const auto& [n, v] : extra) r.headers.add(n, v);
    INFO(extra[0].first << ": " << extra[0].second);
    CHECK(validate_error(r) == expected);
  }
}

TEST_CASE("Host must be present once and non-empty", "[proto][ws][handshake]") {
  CHECK(validate_error(with_fields("Host", {})) == HandshakeErrc::host_missing);
  CHECK(validate_error(with_fields("Host", {" "})) == HandshakeErrc::host_missing);
  CHECK(validate_error(with_fields("Host", {"a", "a"})) == HandshakeErrc::host_repeated);
  const auto up = validate_upgrade(with_field("Host", " example.com:8080 "));
  REQUIRE(up.ok());
  CHECK(up->host == "example.com:8080");
}

TEST_CASE("offered subprotocols are parsed in client order", "[proto][ws][handshake]") {
  using V = std::vector<std::string>;
  const std::vector<std::pair<V, V>> ok_rows = {
      {{"chat"}, {"chat"}},
      {{"chat, superchat"}, {"chat", "superchat"}},
      {{"chat", "v2.chat"}, {"chat", "v2.chat"}},
      {{"b,,a"}, {"b", "a"}},
      {{" x ,\ty "}, {"x", "y"}},
      {{"Chat, chat"}, {"Chat", "chat"}},  // distinct: subprotocols compare exactly
      {{"mqtt", "wamp.2.json, wamp.2.msgpack"}, {"mqtt", "wamp.2.json", "wamp.2.msgpack"}},
  };
  for (const auto& [fields, expected] : ok_rows) {
    const auto up = validate_upgrade(with_fields("Sec-WebSocket-Protocol", fields));
    REQUIRE(up.ok());
    CHECK(up->subprotocols == expected);
  }
  const std::vector<V> bad_rows = {
      {"chat, chat"}, {"chat", "chat"}, {""},         {","},        {"a", ""},
      {"a b"},        {"a;b"},          {"\"chat\""}, {"chat/1.0"}, {"caf\xc3\xa9"},
  };
  for (const auto& fields : bad_rows) {
    INFO("first field '" << fields[0] << "'");
    CHECK(validate_error(with_fields("Sec-WebSocket-Protocol", fields)) ==
          HandshakeErrc::subprotocol_invalid);
  }
}

TEST_CASE("select_subprotocol follows the server's preference order", "[proto][ws][handshake]") {
  using V = std::vector<std::string>;
  struct Row {
    V offered;
    V supported;
    std::optional<std::string> expected;
  };
  const std::vector<Row> rows = {
      {{"chat", "superchat"}, {"superchat", "chat"}, "superchat"},
      {{"superchat", "chat"}, {"chat", "superchat"}, "chat"},
      {{"base64", "binary"}, {"binary", "base64"}, "binary"},  // websockify
      {{"a", "b"}, {"c", "b"}, "b"},
      {{}, {"chat"}, std::nullopt},
      {{"chat"}, {}, std::nullopt},
      {{"chat"}, {"superchat"}, std::nullopt},
      {{"Chat"}, {"chat"}, std::nullopt},  // case-sensitive
  };
  for (const Row& row : rows) {
    CHECK(select_subprotocol(row.offered, row.supported) == row.expected);
  }
}

TEST_CASE("origin_allowed matches scheme, host and port", "[proto][ws][handshake]") {
  const std::vector<std::string> allowed = {"https://example.com",   "http://localhost:8080",
                                            "https://*.example.org", "HTTPS://Upper.Example.NET",
                                            "http://[::1]:9000",     "https://default.com:443"};
  const std::vector<std::pair<std::string, bool>> rows = {
      {"https://example.com", true},
      {"HTTPS://EXAMPLE.COM", true},
      {"https://example.com:443", true},  // default port
      {"https://example.com:8443", false},
      {"http://example.com", false},  // scheme differs
      {"https://www.example.com", false},
      {"https://example.com.evil.com", false},
      {"https://evilexample.com", false},
      {"https://example.com/", false},  // not an origin serialisation
      {"https://example.com/path", false},
      {"https://user@example.com", false},
      {"https://example.com:", false},
      {"https://example.com:99999", false},
      {"example.com", false},
      {"http://localhost:8080", true},
      {"http://localhost", false},
      {"http://localhost:08080", true},  // numeric port comparison
      {"https://a.example.org", true},
      {"https://a.b.example.org", true},
      {"https://A.EXAMPLE.ORG", true},
      {"https://example.org", false},  // the wildcard needs a label
      {"https://.example.org", false},
      {"https://badexample.org", false},
      {"http://a.example.org", false},
      {"https://a.example.org:444", false},
      {"https://upper.example.net", true},
      {"http://[::1]:9000", true},
      {"http://[::1]", false},
      {"https://default.com", true},
      {"null", false},
      {"", false},
      {" https://example.com ", true},  // OWS trimmed
  };
  for (const auto& [origin, expected] : rows) {
    INFO("origin '" << origin << "'");
    CHECK(origin_allowed(origin, allowed, false) == expected);
  }
}

TEST_CASE("origin_allowed special patterns and missing origins", "[proto][ws][handshake]") {
  const std::vector<std::string> none;
  const std::vector<std::string> any = {"*"};
  const std::vector<std::string> null_only = {"null"};
  const std::vector<std::string> invalid = {"https://*", "https://a.*.com", "https://*.*.com",
                                            "*.example.com", "https://[::1"};
  CHECK(origin_allowed(std::nullopt, none, true));
  CHECK_FALSE(origin_allowed(std::nullopt, any, false));
  CHECK(origin_allowed("https://whatever.test", any, false));
  CHECK(origin_allowed("null", any, false));
  CHECK_FALSE(origin_allowed("https://x.com", none, true));
  CHECK(origin_allowed("null", null_only, false));
  CHECK_FALSE(origin_allowed("NULL", null_only, false));
  CHECK_FALSE(origin_allowed("https://x.com", null_only, false));
  for (const char* o : {"https://a.com", "https://x.a.com", "https://x.x.com", "https://[::1"}) {
    CHECK_FALSE(origin_allowed(std::string_view(o), invalid, false));
  }
  for (const std::string& p : invalid) CHECK_FALSE(is_valid_origin_pattern(p));
  CHECK(is_valid_origin_pattern("https://a.com:65535"));
  CHECK_FALSE(is_valid_origin_pattern("https://a.com:65536"));
  CHECK_FALSE(is_valid_origin_pattern("https://a.com:1000000"));
  CHECK_FALSE(is_valid_origin_pattern("https://a.com:-1"));
  CHECK_FALSE(is_valid_origin_pattern("https://a.com/"));
  CHECK_FALSE(is_valid_origin_pattern("https://a..com"));
  CHECK_FALSE(is_valid_origin_pattern("https://a.com."));
  CHECK_FALSE(is_valid_origin_pattern("1http://a.com"));
  CHECK_FALSE(is_valid_origin_pattern("://a.com"));
  for (const char* p : {"*", "null", "https://a.com", "https://*.a.com:8443", "http://[::1]:80",
                        "chrome-extension://abcdef"}) {
    CHECK(is_valid_origin_pattern(p));
  }
  const std::vector<std::string> ext = {"chrome-extension://abcdef"};
  CHECK(origin_allowed("chrome-extension://abcdef", ext, false));
  CHECK_FALSE(origin_allowed("chrome-extension://abcdef:80", ext, false));
}

TEST_CASE("make_upgrade_response writes the RFC example 101", "[proto][ws][handshake]") {
  const auto up = validate_upgrade(rfc_request());
  REQUIRE(up.ok());
  const HttpResponseHead res = make_upgrade_response(*up, "chat", std::nullopt);
  CHECK(res.status == 101);
  CHECK(res.reason.empty());
  CHECK(res.version_major == 1);
  CHECK(res.version_minor == 1);
  CHECK(fields_of(res.headers) == Fields{{"Upgrade", "websocket"},
                                         {"Connection", "Upgrade"},
                                         {"Sec-WebSocket-Accept", kRfcAccept},
                                         {"Sec-WebSocket-Protocol", "chat"}});
  const HttpResponseHead res2 =
      make_upgrade_response(*up, std::nullopt, "permessage-deflate; server_no_context_takeover");
  CHECK(fields_of(res2.headers) ==
        Fields{{"Upgrade", "websocket"},
               {"Connection", "Upgrade"},
               {"Sec-WebSocket-Accept", kRfcAccept},
               {"Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"}});
  CHECK(make_upgrade_response(*up, std::nullopt, "").headers.size() == 3);
}

TEST_CASE("generate_key gives fresh 16-byte base64 keys", "[proto][ws][handshake]") {
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    const std::string k = generate_key();
    CHECK(k.size() == 24);
    CHECK(is_base64_of_length(k, 16));
    seen.insert(k);
  }
  CHECK(seen.size() == 64);
}

TEST_CASE("make_client_request writes the handshake fields then the extras",
          "[proto][ws][handshake]") {
  HttpHeaders extra;
  extra.add("Cookie", "a=1");
  extra.add("Host", "evil");
  extra.add("connection", "close");
  extra.add("Upgrade", "h2c");
  extra.add("sec-websocket-key", "x");
  extra.add("Sec-WebSocket-Version", "8");
  extra.add("Content-Length", "3");
  extra.add("Transfer-Encoding", "chunked");
  extra.add("Origin", "https://app.example.com");
  extra.add("Cookie", "b=2");
  const std::vector<std::string> protos = {"chat", "superchat"};
  const HttpRequestHead r = make_client_request("server.example.com", "/chat?x=1", kRfcKey, protos,
                                                "permessage-deflate", extra);
  CHECK(r.method == "GET");
  CHECK(r.target == "/chat?x=1");
  CHECK(r.version_major == 1);
  CHECK(r.version_minor == 1);
  CHECK(fields_of(r.headers) == Fields{{"Host", "server.example.com"},
                                       {"Upgrade", "websocket"},
                                       {"Connection", "Upgrade"},
                                       {"Sec-WebSocket-Key", kRfcKey},
                                       {"Sec-WebSocket-Version", "13"},
                                       {"Sec-WebSocket-Protocol", "chat, superchat"},
                                       {"Sec-WebSocket-Extensions", "permessage-deflate"},
                                       {"Cookie", "a=1"},
                                       {"Origin", "https://app.example.com"},
                                       {"Cookie", "b=2"}});
  const HttpRequestHead bare = make_client_request("h:81", "/", kRfcKey, {}, std::nullopt, {});
  CHECK(fields_of(bare.headers) == Fields{{"Host", "h:81"},
                                          {"Upgrade", "websocket"},
                                          {"Connection", "Upgrade"},
                                          {"Sec-WebSocket-Key", kRfcKey},
                                          {"Sec-WebSocket-Version", "13"}});
}

TEST_CASE("client request, server validation and client verification round trip",
          "[proto][ws][handshake]") {
  const std::string key = generate_key();
  const std::vector<std::string> offered = {"v2.chat", "v1.chat"};
  HttpHeaders extra;
  extra.add("Origin", "https://app.example.com");
  const HttpRequestHead req =
      make_client_request("up.internal:9000", "/ws", key, offered, "permessage-deflate", extra);

  const auto up = validate_upgrade(req);
  REQUIRE(up.ok());
  CHECK(up->key == key);
  CHECK(up->subprotocols == offered);
  CHECK(up->extensions == "permessage-deflate");
  CHECK(up->origin == std::optional<std::string>("https://app.example.com"));
  CHECK(up->host == "up.internal:9000");
  CHECK(up->target == "/ws");
  const std::vector<std::string> allowed = {"https://*.example.com"};
  CHECK(origin_allowed(up->origin, allowed, false));

  const std::vector<std::string> supported = {"v1.chat", "v2.chat"};
  const auto proto = select_subprotocol(up->subprotocols, supported);
  REQUIRE(proto == std::optional<std::string>("v1.chat"));
  const HttpResponseHead res = make_upgrade_response(*up, *proto, "permessage-deflate");
  const auto ok = verify_response(res, key, offered, true);
  REQUIRE(ok.ok());
  CHECK(ok->subprotocol == std::optional<std::string>("v1.chat"));
  CHECK(ok->extensions == "permessage-deflate");
}

TEST_CASE("verify_response refuses bad upstream answers", "[proto][ws][handshake]") {
  const std::vector<std::string> offered = {"chat", "superchat"};
  const auto good = [] {
    HttpResponseHead r;
    r.status = 101;
    r.headers.add("Upgrade", "websocket");
    r.headers.add("Connection", "Upgrade");
    r.headers.add("Sec-WebSocket-Accept", kRfcAccept);
    return r;
  };
  const auto with = [&](const std::string& name, const std::vector<std::string>& values) {
    HttpResponseHead r = good();
    r.headers.remove(name);
    for (const std::string& v : values) r.headers.add(name, v);
    return r;
  };
  struct Row {
    const char* what;
    HttpResponseHead res;
    bool extensions_offered;
    std::error_code expected;
  };
  HttpResponseHead s200 = good();
  s200.status = 200;
  HttpResponseHead s400 = good();
  s400.status = 400;
  HttpResponseHead h10 = good();
  h10.version_minor = 0;
  HttpResponseHead h20 = good();
  h20.version_major = 2;
  h20.version_minor = 0;
  using E = ClientHandshakeErrc;
  const std::vector<Row> rows = {
      {"good", good(), false, {}},
      {"upgrade case", with("Upgrade", {"WebSocket"}), false, {}},
      {"connection list", with("Connection", {"keep-alive, upgrade"}), false, {}},
      {"accept OWS", with("Sec-WebSocket-Accept", {std::string(" ") + kRfcAccept}), false, {}},
      {"200", s200, false, E::status_not_101},
      {"400", s400, false, E::status_not_101},
      {"HTTP/1.0", h10, false, E::bad_http_version},
      {"HTTP/2.0", h20, false, E::bad_http_version},
      {"no upgrade", with("Upgrade", {}), false, E::upgrade_not_websocket},
      {"upgrade h2c", with("Upgrade", {"h2c"}), false, E::upgrade_not_websocket},
      {"upgrade list", with("Upgrade", {"websocket, h2c"}), false, E::upgrade_not_websocket},
      {"upgrade repeated", with("Upgrade", {"websocket", "websocket"}), false,
       E::upgrade_not_websocket},
      {"no connection", with("Connection", {}), false, E::connection_not_upgrade},
      {"connection close", with("Connection", {"close"}), false, E::connection_not_upgrade},
      {"no accept", with("Sec-WebSocket-Accept", {}), false, E::accept_missing},
      {"wrong accept", with("Sec-WebSocket-Accept", {"HSmrc0sMlYUkAGmm5OPpG2HaGWk="}), false,
       E::accept_mismatch},
      {"accept case", with("Sec-WebSocket-Accept", {"S3PPLMBITXAQ9KYGZZHZRBK+XOO="}), false,
       E::accept_mismatch},
      {"accept repeated", with("Sec-WebSocket-Accept", {kRfcAccept, kRfcAccept}), false,
       E::accept_mismatch},
      {"unoffered extensions", with("Sec-WebSocket-Extensions", {"permessage-deflate"}), false,
       E::extensions_not_offered},
      {"offered extensions", with("Sec-WebSocket-Extensions", {"permessage-deflate"}), true, {}},
      {"empty extensions", with("Sec-WebSocket-Extensions", {""}), false, {}},
      {"protocol chat", with("Sec-WebSocket-Protocol", {"chat"}), false, {}},
      {"unoffered protocol", with("Sec-WebSocket-Protocol", {"mqtt"}), false,
       E::subprotocol_not_offered},
      {"protocol case", with("Sec-WebSocket-Protocol", {"Chat"}), false,
       E::subprotocol_not_offered},
      {"two protocols", with("Sec-WebSocket-Protocol", {"chat, superchat"}), false,
       E::subprotocol_multiple},
      {"repeated protocol", with("Sec-WebSocket-Protocol", {"chat", "chat"}), false,
       E::subprotocol_multiple},
      {"empty protocol", with("Sec-WebSocket-Protocol", {""}), false, E::subprotocol_multiple},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    CHECK(verify_response(row.res, kRfcKey, offered, row.extensions_offered).error() ==
          row.expected);
  }
  // With nothing offered, any selected protocol is refused.
  CHECK(verify_response(with("Sec-WebSocket-Protocol", {"chat"}), kRfcKey, {}, false).error() ==
        E::subprotocol_not_offered);
  // The accept is tied to the key.
  CHECK(verify_response(good(), "x3JJHMbDL1EzLkh9GBhXDw==", offered, false).error() ==
        E::accept_mismatch);
  const auto r =
      verify_response(with("Sec-WebSocket-Protocol", {" superchat "}), kRfcKey, offered, false);
  REQUIRE(r.ok());
  CHECK(r->subprotocol == std::optional<std::string>("superchat"));
  CHECK(r->extensions.empty());
}

TEST_CASE("handshake error categories name every value", "[proto][ws][handshake]") {
  CHECK(std::string(handshake_category().name()) == "websocket-handshake");
  CHECK(std::string(client_handshake_category().name()) == "websocket-client-handshake");
  std::set<std::string> messages;
  for (int v = 1; v <= static_cast<int>(HandshakeErrc::origin_forbidden); ++v) {
    messages.insert(handshake_category().message(v));
  }
  CHECK(messages.size() == static_cast<std::size_t>(HandshakeErrc::origin_forbidden));
  messages.clear();
  for (int v = 1; v <= static_cast<int>(ClientHandshakeErrc::subprotocol_multiple); ++v) {
    CHECK(http_status_for(std::error_code(v, client_handshake_category())) == 502);
    messages.insert(client_handshake_category().message(v));
  }
  CHECK(messages.size() == static_cast<std::size_t>(ClientHandshakeErrc::subprotocol_multiple));
  CHECK(client_handshake_category().message(99).starts_with("unknown"));
  const std::error_code ec = HandshakeErrc::key_missing;
  CHECK(ec != ClientHandshakeErrc::accept_missing);
  CHECK(ec.category() == handshake_category());
}
