#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proto/http1_parser.hpp"
#include "proto/http1_writer.hpp"

using namespace wsgate;
using namespace wsgate::proto;
using namespace std::string_literals;

namespace {

std::string str(const Bytes& b) {
  return std::string(as_chars(b));
}

HttpResponseHead response(int status, std::string reason = {}) {
  HttpResponseHead h;
  h.status = status;
  h.reason = std::move(reason);
  return h;
}

struct Collect final : HttpRequestEvents, HttpResponseEvents {
  std::vector<HttpRequestHead> requests;
  std::vector<HttpResponseHead> responses;
  std::string body;
  int completes = 0;
  Http1Action on_request_head(HttpRequestHead& h) override {
    requests.push_back(std::move(h));
    return Http1Action::proceed;
  }
  Http1Action on_response_head(HttpResponseHead& h) override {
    responses.push_back(std::move(h));
    return Http1Action::proceed;
  }
  void on_body(ByteView chunk) override { body += as_chars(chunk); }
  Http1Action on_message_complete() override {
    ++completes;
    return Http1Action::proceed;
  }
};

}  // namespace

TEST_CASE("http1 writer response head exact bytes", "[proto][http]") {
  HttpResponseHead h = response(404);
  h.headers.add("Content-Length", "9");
  h.headers.add("Set-Cookie", "a=1");
  h.headers.add("Set-Cookie", "b=2");
  Bytes out = to_bytes("prefix:");
  REQUIRE(write_response_head(out, h) == std::error_code{});
  CHECK(str(out) ==
        "prefix:HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nSet-Cookie: a=1\r\n"
        "Set-Cookie: b=2\r\n\r\n");

  Bytes custom;
  HttpResponseHead c = response(101, "Switching Protocols");
  c.headers.add("Upgrade", "websocket");
  REQUIRE(write_response_head(custom, c) == std::error_code{});
  CHECK(str(custom) == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");

  Bytes old;
  HttpResponseHead o = response(200, "Fine");
  o.version_minor = 0;
  REQUIRE(write_response_head(old, o) == std::error_code{});
  CHECK(str(old) == "HTTP/1.0 200 Fine\r\n\r\n");
}

TEST_CASE("http1 writer request head exact bytes", "[proto][http]") {
  HttpRequestHead h;
  h.method = "GET";
  h.target = "/chat?x=1";
  h.headers.add("Host", "example.com");
  h.headers.add("Upgrade", "websocket");
  h.headers.add("Connection", "Upgrade");
  Bytes out;
  REQUIRE(write_request_head(out, h) == std::error_code{});
  CHECK(str(out) ==
        "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n");
}

TEST_CASE("http1 writer rejects header injection and leaves the buffer unchanged",
          "[proto][http]") {
  struct Row {
    std::string name;
    std::string value;
    HttpErrc err;
  };
  const Row rows[] = {
      {"X-Evil", "a\r\nInjected: yes", HttpErrc::invalid_field_value},
      {"X-Evil", "a\nb", HttpErrc::invalid_field_value},
      {"X-Evil", "a\rb", HttpErrc::invalid_field_value},
      {"X-Evil", "a\0b"s, HttpErrc::invalid_field_value},
      {"X-Evil", "a\x7f", HttpErrc::invalid_field_value},
      {"X-Evil\r\nInjected", "x", HttpErrc::invalid_field_name},
      {"Bad Name", "x", HttpErrc::invalid_field_name},
      {"Bad:Name", "x", HttpErrc::invalid_field_name},
      {"", "x", HttpErrc::invalid_field_name},
  };
  for (const Row& row : rows) {
    INFO(row.name << " / " << row.value);
    HttpResponseHead h = response(200);
    h.headers.add("Ok", "fine");
    h.headers.add(row.name, row.value);
    Bytes out = to_bytes("keep");
    CHECK(write_response_head(out, h) == row.err);
    CHECK(str(out) == "keep");
    CHECK(http_status_for(make_error_code(row.err)) == 500);
  }
  // Tabs and obs-text are legal in values.
  HttpResponseHead ok = response(200);
  ok.headers.add("X-Ok", "a\tb \xc3\xa9");
  Bytes out;
  CHECK(write_response_head(out, ok) == std::error_code{});
}

TEST_CASE("http1 writer rejects bad start lines", "[proto][http]") {
  Bytes out;
  CHECK(write_response_head(out, response(99)) == HttpErrc::invalid_start_line);
  CHECK(write_response_head(out, response(600)) == HttpErrc::invalid_start_line);
  CHECK(write_response_head(out, response(200, "OK\r\nX: y")) == HttpErrc::invalid_start_line);
  HttpResponseHead v = response(200);
  v.version_major = 10;
  CHECK(write_response_head(out, v) == HttpErrc::invalid_start_line);

  HttpRequestHead r;
  r.method = "GET";
  for (const std::string& target : {""s, "/a b"s, "/a\r\n"s, "/\x7f"s, "/\0"s}) {
    r.target = target;
    CHECK(write_request_head(out, r) == HttpErrc::invalid_start_line);
  }
  r.target = "/";
  for (const std::string& method : {""s, "GE T"s, "GET\r\n"s, "G(T"s}) {
    r.method = method;
    CHECK(write_request_head(out, r) == HttpErrc::invalid_start_line);
  }
  CHECK(out.empty());
}

TEST_CASE("http1 writer chunk framing", "[proto][http]") {
  Bytes out;
  append_chunk(out, as_bytes("abcdefghijklmnopqrstuvwxyz"s));
  append_chunk(out, {});  // nothing: an empty chunk would end the body
  append_chunk(out, as_bytes("!"s));
  append_last_chunk(out);
  CHECK(str(out) == "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n1\r\n!\r\n0\r\n\r\n");

  Bytes big;
  append_chunk(big, Bytes(4096, std::byte{'x'}));
  CHECK(str(big).substr(0, 6) == "1000\r\n");
  CHECK(big.size() == 6 + 4096 + 2);
}

TEST_CASE("http1 writer round trip through the parsers", "[proto][http]") {
  HttpRequestHead req;
  req.method = "POST";
  req.target = "/upload?id=7";
  req.headers.add("Host", "backend:8080");
  req.headers.add("Transfer-Encoding", "chunked");
  req.headers.add("X-Multi", "1");
  req.headers.add("x-multi", "2");
  Bytes wire;
  REQUIRE(write_request_head(wire, req) == std::error_code{});
  append_chunk(wire, as_bytes("hello "s));
  append_chunk(wire, as_bytes("world"s));
  append_last_chunk(wire);

  HttpRequestParser parser;
  Collect got;
  REQUIRE(parser.feed(wire, got).value() == wire.size());
  REQUIRE(got.requests.size() == 1);
  CHECK(got.requests[0].method == req.method);
  CHECK(got.requests[0].target == req.target);
  CHECK(got.requests[0].version_minor == 1);
  CHECK(got.requests[0].headers.fields().size() == 4);
  CHECK(got.requests[0].headers.combined("X-MULTI") == "1, 2");
  CHECK(got.body == "hello world");
  CHECK(got.completes == 1);

  HttpResponseHead resp = response(200);
  resp.headers.add("Content-Length", "2");
  resp.headers.add("Date", http_date(784111777));
  Bytes rwire;
  REQUIRE(write_response_head(rwire, resp) == std::error_code{});
  append(rwire, "ok"s);
  HttpResponseParser rparser;
  Collect rgot;
  REQUIRE(rparser.feed(rwire, rgot).value() == rwire.size());
  REQUIRE(rgot.responses.size() == 1);
  CHECK(rgot.responses[0].status == 200);
  CHECK(rgot.responses[0].reason == "OK");
  CHECK(rgot.responses[0].headers.get("date") == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(rgot.body == "ok");
}

TEST_CASE("http1 writer http_date formats IMF-fixdate", "[proto][http]") {
  CHECK(http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110 §5.6.7
  CHECK(http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(http_date(-1) == "Wed, 31 Dec 1969 23:59:59 GMT");
  CHECK(http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
  CHECK(http_date(4107542400) == "Mon, 01 Mar 2100 00:00:00 GMT");  // 2100 is not a leap year
  CHECK(http_date(1700000000) == "Tue, 14 Nov 2023 22:13:20 GMT");
  CHECK(http_date(253402300799) == "Fri, 31 Dec 9999 23:59:59 GMT");
  CHECK(http_date(253402300800) == "Fri, 31 Dec 9999 23:59:59 GMT");  // clamped
  CHECK(http_date(-62135596800) == "Mon, 01 Jan 0001 00:00:00 GMT");
  CHECK(http_date(-62135596801) == "Mon, 01 Jan 0001 00:00:00 GMT");  // clamped
}

TEST_CASE("http1 writer parse_http_date accepts the three RFC formats", "[proto][http]") {
  // RFC 9110 §5.6.7's three spellings of the same instant.
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == std::time_t{784111777});
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == std::time_t{784111777});
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == std::time_t{784111777});
  CHECK(parse_http_date("Thu Feb 29 12:00:00 2024") == std::time_t{1709208000});
  CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == std::time_t{0});
  CHECK(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT") == std::time_t{946684800});
  CHECK(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT") == std::time_t{951782400});

  for (const char* bad : {"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 GMT ",
                          " Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
                          "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
                          "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 29 Feb 1900 00:00:00 GMT",
                          "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                          "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
                          "Sun, 06 Nov 0000 08:49:37 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT",
                          "Sun Nov 6 08:49:37 1994", "Sun, 06 Nov 1994 8:49:37 GMT",
                          "Xyz, 06 Nov 1994 08:49:37 GMT"}) {
    INFO(bad);
    CHECK_FALSE(parse_http_date(bad).has_value());
  }
}

TEST_CASE("http1 writer http_date round trips through parse_http_date", "[proto][http]") {
  for (std::int64_t t = -62135596800; t < 253402300799; t += 7777777 + 13) {
    const std::string s = http_date(static_cast<std::time_t>(t));
    INFO(s);
    REQUIRE(parse_http_date(s) == static_cast<std::time_t>(t));
  }
}
