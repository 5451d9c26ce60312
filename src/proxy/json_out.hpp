#pragma once
// Building the JSON messages the hosted handlers send: {"type":...,"key":value,...} with
// string, integer and pre-encoded (raw) values, escaped by proto::json. One home for the chat's
// and the broker's answers.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "proto/json.hpp"

namespace wsgate::proxy {

class JsonOut {
 public:
  /// An object starting with "type": `type` ("" = no type member).
  explicit JsonOut(std::string_view type = {}) {
    out_ = "{";
    if (!type.empty()) str("type", type);
  }
  JsonOut& str(std::string_view key, std::string_view utf8) {
    key_(key);
    proto::json::append_string(out_, utf8);
    return *this;
  }
  JsonOut& num(std::string_view key, std::int64_t v) {
    key_(key);
    proto::json::append_int(out_, v);
    return *this;
  }
  JsonOut& num(std::string_view key, std::uint64_t v) {
    return num(key, static_cast<std::int64_t>(v));
  }
  /// `json` must be valid JSON text (an array, true, null, an embedded document).
  JsonOut& raw(std::string_view key, std::string_view json) {
    key_(key);
    out_ += json;
    return *this;
  }
  std::string done() {
    out_ += '}';
    return std::move(out_);
  }

 private:
  void key_(std::string_view k) {
    if (out_.size() > 1) out_ += ',';
    proto::json::append_string(out_, k);
    out_ += ':';
  }
  std::string out_;
};

/// {"type":"error","code":...,"message":...[,"retry_after_ms":...]}
inline std::string error_json(std::string_view code, std::string_view message,
                              std::int64_t retry_after_ms = -1) {
  JsonOut j("error");
  j.str("code", code).str("message", message);
  if (retry_after_ms >= 0) j.num("retry_after_ms", retry_after_ms);
  return j.done();
}

}  // namespace wsgate::proxy
