// Fuzzes HttpRequestParser. Byte 0 chooses the run: bits 0-2 the read size (0 = everything at
// once), bit 3 small limits, bit 4 pause after each message, bit 5 pause after each head, bit 6
// resume after an upgrade (a declined Upgrade), bit 7 finish() at the end. The rest is the wire.
// Oracle: the chosen run must produce exactly the events, error and end offset of a run that
// feeds everything at once without pausing (any split and any pause must be invisible), except
// that a message over a limit and also malformed may report either error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/http1_parser.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

struct Trace {
  std::vector<std::string> events;
  std::error_code ec;
  std::size_t consumed = 0;
  bool operator==(const Trace&) const = default;
};

struct Recorder final : HttpRequestEvents {
  Trace* t = nullptr;
  HttpRequestParser* parser = nullptr;
  bool pause_head = false;
  bool pause_complete = false;

  Http1Action on_request_head(HttpRequestHead& h) override {
    std::string e = "H:" + h.method + " " + h.target + " " + std::to_string(h.version_minor);
    for (const auto& f : h.headers) e += "|" + f.name + ":" + f.value;
    t->events.push_back(std::move(e));
    return pause_head ? Http1Action::pause : Http1Action::proceed;
  }
  void on_body(ByteView chunk) override {
    if (t->events.empty() || t->events.back().rfind("B:", 0) != 0) t->events.emplace_back("B:");
    t->events.back() += as_chars(chunk);
  }
  Http1Action on_message_complete() override {
    t->events.emplace_back(parser->should_keep_alive() ? "C1" : "C0");
    return pause_complete ? Http1Action::pause : Http1Action::proceed;
  }
};

Trace run(ByteView wire, std::uint8_t mode, bool chunked) {
  static constexpr std::size_t kReads[8] = {0, 1, 2, 3, 7, 16, 61, 256};
  Http1Limits lim;
  if ((mode & 0x08) != 0) lim = Http1Limits{32, 128, 4, 64};
  HttpRequestParser parser(lim);
  Trace t;
  Recorder rec;
  rec.t = &t;
  rec.parser = &parser;
  rec.pause_head = chunked && (mode & 0x20) != 0;
  rec.pause_complete = chunked && (mode & 0x10) != 0;
  const std::size_t read = chunked ? kReads[mode & 7] : 0;
  std::string pending;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t before = t.events.size();
    const std::size_t take = read == 0 ? wire.size() - pos : std::min(read, wire.size() - pos);
    pending += as_chars(wire.subspan(pos, take));
    pos += take;
    Result<std::size_t> r = parser.feed(as_bytes(pending), rec);
    if (!r) {
      t.ec = r.error();
      t.consumed = 0;  // how much was consumed before the failing read depends on the split
      if (parser.feed(as_bytes(pending), rec).error() != t.ec) std::abort();  // sticky
      return t;
    }
    if (*r > pending.size()) std::abort();
    t.consumed += *r;
    pending.erase(0, *r);
    if (parser.upgraded()) {
      if ((mode & 0x40) == 0) break;
      parser.resume_after_upgrade();
      continue;
    }
    const bool progress = *r > 0 || t.events.size() != before;
    if (!progress && pos == wire.size()) break;
  }
  if ((mode & 0x80) != 0) t.ec = parser.finish(rec);
  return t;
}

bool is_limit(std::error_code ec) {
  return ec == HttpErrc::url_too_long || ec == HttpErrc::head_too_large ||
         ec == HttpErrc::too_many_headers || ec == HttpErrc::body_too_large;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView wire(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  const Trace whole = run(wire, data[0], false);
  const Trace split = run(wire, data[0], true);
  if (whole == split) return 0;
  // Allowed difference: a message both over a limit and malformed may report either error,
  // depending on where llhttp reported the bytes of a span (see HttpRequestParser::error()).
  if (whole.events != split.events || !whole.ec || !split.ec) std::abort();
  if (!is_limit(whole.ec) && !is_limit(split.ec)) std::abort();
  return 0;
}
