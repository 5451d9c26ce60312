#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "proto/json.hpp"

using namespace wsgate::proto;

namespace {

std::string nested(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

}  // namespace

TEST_CASE("json::valid accepts every grammar form", "[proto][json]") {
  const char* good[] = {"null",
                        "true",
                        "false",
                        "0",
                        "-0",
                        "1",
                        "-1",
                        "10",
                        "1.5",
                        "-0.0",
                        "1e5",
                        "1E+5",
                        "1e-5",
                        "1E5",
                        "0e0",
                        "0.0e-0",
                        "123456789012345678901234567890",
                        "1e400",
                        "\"\"",
                        "\"a\"",
                        "\" \\\" \\\\ \\/ \\b \\f \\n \\r \\t \"",
                        "\"\\u0000\"",
                        "\"\\u00e9\\u00E9\"",
                        "\"\\ud83d\\ude00\"",
                        "\"\\uD83D\\uDE00\"",
                        "\"\\uffff\"",
                        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
                        "\"\x7f\"",
                        "[]",
                        "{}",
                        "[1]",
                        "[1,2,3]",
                        "{\"a\":1}",
                        "{\"a\":1,\"b\":[true,null]}",
                        " \t\r\n[ 1 , { \"a\" : [ ] } ] \t\r\n",
                        "[[],{},\"\",0]",
                        "{\"\":0}",
                        "{\"a\":{\"a\":{\"a\":{}}}}",
                        "[\"]\",\"[\",\"}\",\"{\",\",\"]"};
  for (const char* text : good) {
    INFO(text);
    CHECK(json::valid(text));
  }
}

TEST_CASE("json::valid refuses what RFC 8259 does not allow", "[proto][json]") {
  const std::string bad[] = {"",
                             " ",
                             "\t\r\n",
                             "nul",
                             "nulll",
                             "True",
                             "NULL",
                             "NaN",
                             "Infinity",
                             "-Infinity",
                             "01",
                             "-01",
                             "00",
                             "+1",
                             ".5",
                             "5.",
                             "-",
                             "-.5",
                             "1e",
                             "1e+",
                             "1E-",
                             "1.e5",
                             "0x10",
                             "1 2",
                             "[1,]",
                             "[,1]",
                             "[1,,2]",
                             "{\"a\":1,}",
                             "{,}",
                             "{\"a\"}",
                             "{\"a\":}",
                             "{\"a\" 1}",
                             "{a:1}",
                             "{'a':1}",
                             "{1:1}",
                             "[1",
                             "[1}",
                             "{\"a\":1]",
                             "]",
                             "}",
                             "[]]",
                             "{}}",
                             "[][]",
                             "\"",
                             "\"abc",
                             "'a'",
                             "\"\\\"",
                             "\"\\x41\"",
                             "\"\\a\"",
                             "\"\\U0041\"",
                             "\"\\u12\"",
                             "\"\\u12g4\"",
                             "\"\\u\"",
                             "\"\\ud83d\"",
                             "\"\\ude00\"",
                             "\"\\ude00\\ud83d\"",
                             "\"\\ud83d\\u0041\"",
                             "\"\\ud83dx\"",
                             "\"\\ud83d\\ud83d\"",
                             "\"\\",
                             "// c\n1",
                             "/* c */1",
                             "1 // c",
                             "[1]x",
                             "\xef\xbb\xbf"
                             "1"};
  for (const auto& text : bad) {
    INFO(text);
    CHECK_FALSE(json::valid(text));
  }
}

TEST_CASE("json::valid refuses raw control characters and invalid UTF-8 in strings",
          "[proto][json]") {
  for (int c = 0; c < 0x20; ++c) {
    std::string text = "\"a";
    text.push_back(static_cast<char>(c));
    text += "b\"";
    INFO(c);
    CHECK_FALSE(json::valid(text));
  }
  const char* bad_utf8[] = {
      "\"\x80\"",              // stray continuation byte
      "\"\xc3\"",              // truncated 2-byte sequence
      "\"\xc3x\"",             // truncated, then ASCII
      "\"\xc0\xaf\"",          // overlong '/'
      "\"\xc1\xbf\"",          // overlong 2-byte
      "\"\xe0\x80\xaf\"",      // overlong 3-byte
      "\"\xf0\x80\x80\xaf\"",  // overlong 4-byte
      "\"\xed\xa0\x80\"",      // UTF-8 encoded surrogate U+D800
      "\"\xf4\x90\x80\x80\"",  // above U+10FFFF
      "\"\xf5\x80\x80\x80\"",
      "\"\xff\"",
      "\"\xfe\"",
      "\"\xe2\x82\""  // truncated euro sign before the quote
  };
  for (const char* text : bad_utf8) {
    INFO(text);
    CHECK_FALSE(json::valid(text));
    CHECK_FALSE(json::parse_object(std::string("{\"k\":") + text + "}"));
    CHECK_FALSE(json::parse_object(std::string("{") + text + ":1}"));
  }
  // Outside strings any byte >= 0x80 is an error too.
  CHECK_FALSE(json::valid("[1,\xc3\xa9]"));
}

TEST_CASE("json::valid bounds the nesting depth without recursion", "[proto][json]") {
  CHECK(json::valid(nested(64)));
  CHECK_FALSE(json::valid(nested(65)));
  CHECK(json::valid(nested(3), 3));
  CHECK_FALSE(json::valid(nested(4), 3));
  CHECK(json::valid("{\"a\":[{\"b\":[]}]}", 4));
  CHECK_FALSE(json::valid("{\"a\":[{\"b\":[]}]}", 3));
  CHECK(json::valid("1", 0));
  CHECK_FALSE(json::valid("[]", 0));
  // Depth counts open containers, not containers seen: siblings do not add up.
  CHECK(json::valid("[[],[],[[]],{}]", 3));
  // 100 000 levels: refused at level 65 or, with a huge limit, walked without a stack frame each.
  const std::string deep_open(100000, '[');
  CHECK_FALSE(json::valid(deep_open));
  CHECK_FALSE(json::valid(deep_open, 1000000));
  CHECK(json::valid(nested(100000), 100000));
  CHECK_FALSE(json::valid(nested(100000), 99999));
  std::string objects;
  for (int i = 0; i < 300; ++i) objects += i % 2 ? "[" : "{\"k\":";
  for (int i = 299; i >= 0; --i) objects += i % 2 ? "]" : "}";
  CHECK(json::valid(objects, 300));
  CHECK_FALSE(json::valid(objects, 299));
  CHECK_FALSE(json::parse_object(deep_open));
}

TEST_CASE("json::parse_object reads member types, raw text and decoded strings", "[proto][json]") {
  const std::string text =
      " {\"s\":\"a\\nb\\u00e9\", \"n\": -12.5e1 ,\"t\":true,\"f\":false,\"z\":null,"
      "\"arr\":[1, {\"x\":[]}],\"obj\":{ \"k\" : \"v\" },\"k\\u0065y\":\"\\ud83d\\ude00\"} ";
  const auto obj = json::parse_object(text);
  REQUIRE(obj);
  REQUIRE(obj->size() == 8);
  const auto m = obj->members();
  CHECK(m[0].first == "s");
  CHECK(m[7].first == "key");  // keys are decoded

  const json::Value* s = obj->find("s");
  REQUIRE(s);
  CHECK(s->type == json::Type::string);
  CHECK(s->str == "a\nb\xc3\xa9");
  CHECK(s->raw == "\"a\\nb\\u00e9\"");
  CHECK(obj->string("s") == "a\nb\xc3\xa9");
  CHECK(obj->string("key") == "\xf0\x9f\x98\x80");

  const json::Value* n = obj->find("n");
  REQUIRE(n);
  CHECK(n->type == json::Type::number);
  CHECK(n->number == -125.0);
  CHECK(n->raw == "-12.5e1");
  CHECK(obj->integer("n") == -125);

  CHECK(obj->boolean("t") == true);
  CHECK(obj->boolean("f") == false);
  CHECK(obj->find("z")->type == json::Type::null);
  CHECK(obj->find("z")->raw == "null");

  const json::Value* arr = obj->find("arr");
  REQUIRE(arr);
  CHECK(arr->type == json::Type::array);
  CHECK(arr->raw == "[1, {\"x\":[]}]");
  CHECK(obj->find("obj")->type == json::Type::object);
  CHECK(obj->find("obj")->raw == "{ \"k\" : \"v\" }");
  // raw views point into the parsed text.
  CHECK(arr->raw.data() >= text.data());
  CHECK(arr->raw.data() + arr->raw.size() <= text.data() + text.size());
  const auto inner = json::parse_object(obj->find("obj")->raw);
  REQUIRE(inner);
  CHECK(inner->string("k") == "v");

  // Typed getters say nullopt for absent members and other types.
  CHECK_FALSE(obj->find("missing"));
  CHECK_FALSE(obj->string("n"));
  CHECK_FALSE(obj->string("missing"));
  CHECK_FALSE(obj->integer("s"));
  CHECK_FALSE(obj->boolean("z"));
  CHECK_FALSE(obj->boolean("s"));
}

TEST_CASE("json::parse_object refuses non-objects, trailing text and duplicate keys",
          "[proto][json]") {
  for (const char* bad : {"", "[]", "1", "\"{}\"", "null", "{} {}", "{}x", "{\"a\":1,}", "{\"a\":1",
                          "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}", "{\"a\":[1,]}",
                          "{\"a\":01}", "{\"a\":tru}", "{\"a\":\"\\x\"}"}) {
    INFO(bad);
    CHECK_FALSE(json::parse_object(bad));
  }
  // The duplicate check also works past the pairwise size.
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  CHECK(json::parse_object(many + "\"last\":0}"));
  CHECK_FALSE(json::parse_object(many + "\"k17\":0}"));
  CHECK(json::parse_object("{}"));
  CHECK(json::parse_object("{}")->empty());
  CHECK(json::parse_object(" { } "));
}

TEST_CASE("json::parse_object limits the depth of nested values", "[proto][json]") {
  CHECK(json::parse_object("{\"a\":[[]]}", 3));
  CHECK_FALSE(json::parse_object("{\"a\":[[]]}", 2));
  CHECK(json::parse_object("{\"a\":1}", 1));
  CHECK_FALSE(json::parse_object("{\"a\":[]}", 1));
  CHECK_FALSE(json::parse_object("{}", 0));
}

TEST_CASE("json::parse_array reads elements like member values", "[proto][json]") {
  const auto a = json::parse_array(" [\"x\", 2, [3], {\"k\":true}, null] ");
  REQUIRE(a);
  REQUIRE(a->size() == 5);
  CHECK((*a)[0].str == "x");
  CHECK((*a)[1].number == 2);
  CHECK((*a)[2].raw == "[3]");
  CHECK((*a)[3].type == json::Type::object);
  CHECK((*a)[4].type == json::Type::null);
  CHECK(json::parse_array("[]")->empty());
  for (const char* bad : {"", "{}", "[1,]", "[1] 2", "[", "[[]]x"}) {
    INFO(bad);
    CHECK_FALSE(json::parse_array(bad));
  }
  CHECK_FALSE(json::parse_array("[[]]", 1));
}

TEST_CASE("json integers are exact or refused", "[proto][json]") {
  const auto obj = json::parse_object(
      "{\"one\":1,\"neg\":-5,\"zero\":0,\"negzero\":-0,\"big\":9007199254740992,"
      "\"nbig\":-9007199254740992,\"over\":9007199254740993,\"nover\":-9007199254740993,"
      "\"huge\":123456789012345678901,\"half\":1.5,\"e3\":1e3,\"fe\":2.50e1,\"frac0\":7.000,"
      "\"small\":1e-1,\"cancel\":1500e-2,\"cancel2\":1230e-1,\"hugeexp\":1e999999999999999999999,"
      "\"tinyexp\":0e-999999999999999999999,\"str\":\"1\",\"zeroexp\":0.0e5}");
  REQUIRE(obj);
  CHECK(obj->integer("one") == 1);
  CHECK(obj->integer("neg") == -5);
  CHECK(obj->integer("zero") == 0);
  CHECK(obj->integer("negzero") == 0);
  CHECK(obj->integer("big") == 9007199254740992);
  CHECK(obj->integer("nbig") == -9007199254740992);
  CHECK_FALSE(obj->integer("over"));
  CHECK_FALSE(obj->integer("nover"));
  CHECK_FALSE(obj->integer("huge"));
  CHECK_FALSE(obj->integer("half"));
  CHECK(obj->integer("e3") == 1000);
  CHECK(obj->integer("fe") == 25);
  CHECK(obj->integer("frac0") == 7);
  CHECK_FALSE(obj->integer("small"));
  CHECK(obj->integer("cancel") == 15);
  CHECK(obj->integer("cancel2") == 123);
  CHECK_FALSE(obj->integer("hugeexp"));
  CHECK(obj->integer("tinyexp") == 0);
  CHECK_FALSE(obj->integer("str"));
  CHECK(obj->integer("zeroexp") == 0);
  CHECK_FALSE(obj->integer("missing"));
  CHECK(json::exact_integer("-12") == -12);
  CHECK_FALSE(json::exact_integer("12x"));
  CHECK_FALSE(json::exact_integer(""));
  CHECK_FALSE(json::exact_integer("01"));
}

TEST_CASE("json numbers become the nearest double", "[proto][json]") {
  const auto obj = json::parse_object(
      "{\"a\":0.1,\"b\":-2.5E-3,\"inf\":1e400,\"ninf\":-1e400,\"tiny\":1e-400,"
      "\"long\":" +
      std::string(400, '9') + ",\"longfrac\":0." + std::string(400, '0') + "1}");
  REQUIRE(obj);
  CHECK(obj->find("a")->number == 0.1);
  CHECK(obj->find("b")->number == -2.5e-3);
  CHECK(obj->find("inf")->number == std::numeric_limits<double>::infinity());
  CHECK(obj->find("ninf")->number == -std::numeric_limits<double>::infinity());
  CHECK(obj->find("tiny")->number == 0.0);
  CHECK(obj->find("long")->number == std::numeric_limits<double>::infinity());
  CHECK(obj->find("longfrac")->number == 0.0);
}

TEST_CASE("json::append_string escapes what JSON and JavaScript need", "[proto][json]") {
  std::string out = "x=";
  json::append_string(out, "a\"b\\c/\n\r\t\b\f\x01\x1f\x7f");
  CHECK(out == "x=\"a\\\"b\\\\c/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\"");

  out.clear();
  json::append_string(out, std::string_view("\0", 1));
  CHECK(out == "\"\\u0000\"");

  out.clear();
  json::append_string(out, "\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x82\xac|\xe2\x80\xa7|\xe2");
  CHECK(out == "\"\\u2028|\\u2029|\xe2\x82\xac|\xe2\x80\xa7|\xe2\"");

  out.clear();
  json::append_string(out, "");
  CHECK(out == "\"\"");
}

TEST_CASE("json::append_string round-trips through parse_object", "[proto][json]") {
  std::vector<std::string> samples;
  for (int c = 0; c < 0x80; ++c) samples.emplace_back(1, static_cast<char>(c));
  std::string all_ascii;
  for (int c = 0; c < 0x80; ++c) all_ascii.push_back(static_cast<char>(c));
  samples.push_back(all_ascii);
  samples.push_back("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87");
  samples.push_back("\xe2\x80\xa8\xe2\x80\xa9\xef\xbf\xbf\xf4\x8f\xbf\xbf");
  samples.push_back("");
  for (const auto& s : samples) {
    std::string doc = "{";
    json::append_string(doc, s);
    doc += ":";
    json::append_string(doc, s);
    doc += "}";
    INFO(doc);
    const auto obj = json::parse_object(doc);
    REQUIRE(obj);
    REQUIRE(obj->size() == 1);
    CHECK(obj->members()[0].first == s);
    CHECK(obj->members()[0].second.str == s);
    // The output never holds raw control characters or raw U+2028/U+2029.
    for (const char c : doc) CHECK(static_cast<unsigned char>(c) >= 0x20);
    CHECK(doc.find("\xe2\x80\xa8") == std::string::npos);
    CHECK(doc.find("\xe2\x80\xa9") == std::string::npos);
  }
}

TEST_CASE("json::append_int writes every int64", "[proto][json]") {
  std::string out;
  for (const std::int64_t v :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{42},
        std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    out.clear();
    json::append_int(out, v);
    CHECK(out == std::to_string(v));
    CHECK(json::valid(out));
  }
  out = "[";
  json::append_int(out, 9007199254740992);
  out += "]";
  CHECK(out == "[9007199254740992]");
}
