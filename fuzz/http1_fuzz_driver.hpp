#pragma once
// The driver shared by http1_request_fuzz.cpp and http1_response_fuzz.cpp. Each target supplies
// its parser, a recorder that turns its head event into a string, and the meaning of mode bit 6;
// everything else lives here, once.
//
// Byte 0 of the input is the mode, the rest is the wire:
//   bits 0-2  read size (kReadSizes; 0 = everything in one feed())
//   bit 3     small limits (Http1Limits{32, 128, 4, 64})
//   bit 4     pause after each message            bit 5  pause after each head
//   bit 6     the target's own bit (see Http1FuzzTarget)
//   bit 7     finish() (EOF) once the wire is used up
// Oracle: the run chosen by the mode must give exactly the events, error and end offset of a run
// that feeds everything at once without pausing (any split and any pause must be invisible),
// except that a message both over a limit and malformed may report either error.
// A violation aborts. These bits are a file format: the committed corpora depend on them.

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "proto/http1_parser.hpp"
#include "proto/http_error.hpp"
#include "proto/http_message.hpp"

namespace wsgate::fuzz {

inline constexpr std::uint8_t kModeReadSize = 0x07;       // index into kReadSizes
inline constexpr std::uint8_t kModeSmallLimits = 0x08;    // tiny caps, so limits are reached
inline constexpr std::uint8_t kModePauseComplete = 0x10;  // pause after each message (split only)
inline constexpr std::uint8_t kModePauseHead = 0x20;      // pause after each head (split only)
inline constexpr std::uint8_t kModeTargetBit = 0x40;      // the target's own meaning
inline constexpr std::uint8_t kModeFinish = 0x80;         // finish() at the end (both runs)

inline constexpr std::size_t kReadSizes[8] = {0, 1, 2, 3, 7, 16, 61, 256};

/// What one run observed. consumed is zeroed on error: how much was consumed before the failing
/// read depends on the split.
struct Http1Trace {
  std::vector<std::string> events;  // "H:...", "B:<body bytes>", "C1"/"C0" (keep-alive or not)
  std::error_code ec;
  std::size_t consumed = 0;
  bool operator==(const Http1Trace&) const = default;
};

/// Records body and completion events, and pauses where the mode asks. A target derives from it
/// and implements its head event with record_head(). Consecutive body pieces are joined into one
/// "B:" event, so the trace does not depend on how the body was split.
template <class Parser, class Events>
class Http1Recorder : public Events {
 public:
  Http1Recorder(Http1Trace& trace, const Parser& parser, bool pause_head,
                bool pause_complete) noexcept
      : trace_(trace), parser_(parser), pause_head_(pause_head), pause_complete_(pause_complete) {}

  void on_body(ByteView chunk) final {
    auto& ev = trace_.events;
    if (ev.empty() || ev.back().rfind("B:", 0) != 0) ev.emplace_back("B:");
    ev.back() += as_chars(chunk);
  }
  proto::Http1Action on_message_complete() final {
    trace_.events.emplace_back(parser_.should_keep_alive() ? "C1" : "C0");
    return pause_complete_ ? proto::Http1Action::pause : proto::Http1Action::proceed;
  }

 protected:
  /// Records `start_line` followed by "|name:value" for each field, as one event.
  proto::Http1Action record_head(std::string start_line, const proto::HttpHeaders& headers) {
    for (const auto& f : headers) start_line += "|" + f.name + ":" + f.value;
    trace_.events.push_back(std::move(start_line));
    return pause_head_ ? proto::Http1Action::pause : proto::Http1Action::proceed;
  }

 private:
  Http1Trace& trace_;
  const Parser& parser_;
  bool pause_head_;      // answer pause from the head event
  bool pause_complete_;  // answer pause from on_message_complete
};

/// What a target file provides: its parser, its recorder (constructible like Http1Recorder), a
/// hook run on each new parser, and a hook run when the parser reports upgraded(), which returns
/// true to keep parsing (after resuming the parser) or false to stop the run there.
template <class T>
concept Http1FuzzTarget = std::constructible_from<typename T::Recorder, Http1Trace&,
                                                  const typename T::Parser&, bool, bool> &&
    requires(typename T::Parser& p, std::uint8_t mode) {
  T::configure(p, mode);
  { T::continue_after_upgrade(p, mode) } -> std::same_as<bool>;
};

/// One run over `wire`. Not chunked: one feed() of everything and no pauses; chunked: reads of
/// the size the mode picks, and the pauses it asks for. Unconsumed bytes are fed again with the
/// next read, as a connection would.
template <Http1FuzzTarget Target>
Http1Trace run_http1(ByteView wire, std::uint8_t mode, bool chunked) {
  proto::Http1Limits lim;
  if ((mode & kModeSmallLimits) != 0) lim = proto::Http1Limits{32, 128, 4, 64};
  typename Target::Parser parser(lim);
  Target::configure(parser, mode);
  Http1Trace t;
  typename Target::Recorder rec(t, parser, chunked && (mode & kModePauseHead) != 0,
                                chunked && (mode & kModePauseComplete) != 0);
  const std::size_t read = chunked ? kReadSizes[mode & kModeReadSize] : 0;
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
      if (!Target::continue_after_upgrade(parser, mode)) break;
      continue;
    }
    const bool progress = *r > 0 || t.events.size() != before;
    if (!progress && pos == wire.size()) break;
  }
  if ((mode & kModeFinish) != 0) t.ec = parser.finish(rec);
  return t;
}

inline bool is_limit(std::error_code ec) {
  using proto::HttpErrc;
  return ec == HttpErrc::url_too_long || ec == HttpErrc::head_too_large ||
         ec == HttpErrc::too_many_headers || ec == HttpErrc::body_too_large;
}

/// The body of LLVMFuzzerTestOneInput: runs the input whole and split and compares the traces.
template <Http1FuzzTarget Target>
int fuzz_http1(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView wire(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  const Http1Trace whole = run_http1<Target>(wire, data[0], false);
  const Http1Trace split = run_http1<Target>(wire, data[0], true);
  if (whole == split) return 0;
  // Allowed difference: a message both over a limit and malformed may report either error,
  // depending on where llhttp reported the bytes of a span (see HttpRequestParser::error()).
  if (whole.events != split.events || !whole.ec || !split.ec) std::abort();
  if (!is_limit(whole.ec) && !is_limit(split.ec)) std::abort();
  return 0;
}

}  // namespace wsgate::fuzz
