#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proto/http_message.hpp"

using namespace wsgate::proto;

TEST_CASE("iequals compares ASCII case-insensitively", "[proto][http]") {
  CHECK(iequals("Upgrade", "upGRADE"));
  CHECK_FALSE(iequals("Upgrade", "Upgrad"));
  CHECK_FALSE(iequals("a", "b"));
  CHECK(iequals("", ""));
}

TEST_CASE("list elements are split on commas and trimmed", "[proto][http]") {
  std::vector<std::string> got;
  for_each_list_element(" keep-alive ,, Upgrade\t,x ", [&](std::string_view e) {
    got.emplace_back(e);
    return false;
  });
  CHECK(got == std::vector<std::string>{"keep-alive", "Upgrade", "x"});
}

TEST_CASE("headers keep order and repeats and lookups ignore case", "[proto][http]") {
  HttpHeaders h;
  h.add("Set-Cookie", "a=1");
  h.add("Connection", "keep-alive");
  h.add("set-cookie", "b=2");
  h.add("connection", "Upgrade");
  CHECK(h.size() == 4);
  CHECK(h.get("SET-COOKIE") == "a=1");
  CHECK(h.count("set-cookie") == 2);
  CHECK(h.combined("Set-Cookie") == "a=1, b=2");
  CHECK(h.has_token("Connection", "upgrade"));
  CHECK(h.has_token("CONNECTION", "Keep-Alive"));
  CHECK_FALSE(h.has_token("Connection", "close"));
  CHECK_FALSE(h.get("Missing").has_value());

  h.set("Connection", "close");
  CHECK(h.count("connection") == 1);
  CHECK(h.get("Connection") == "close");
  CHECK(h.remove("set-cookie") == 2);
  CHECK(h.size() == 1);
}

TEST_CASE("request target splits into path and query", "[proto][http]") {
  HttpRequestHead r;
  r.target = "/chat/room?token=abc&x=1";
  CHECK(r.path() == "/chat/room");
  CHECK(r.query() == "token=abc&x=1");
  r.target = "/plain";
  CHECK(r.path() == "/plain");
  CHECK(r.query().empty());
}

TEST_CASE("reason phrases cover the statuses wsgate sends", "[proto][http]") {
  for (int s :
       {101, 200, 206, 304, 400, 403, 404, 405, 408, 413, 414, 416, 426, 431, 502, 503, 504}) {
    CAPTURE(s);
    CHECK(reason_phrase(s) != "Unknown");
  }
  CHECK(reason_phrase(799) == "Unknown");
}
