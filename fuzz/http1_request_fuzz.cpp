// Fuzzes HttpRequestParser. Byte 0 chooses the run: bits 0-2 the read size (0 = everything at
// once), bit 3 small limits, bit 4 pause after each message, bit 5 pause after each head, bit 6
// resume after an upgrade (a declined Upgrade), bit 7 finish() at the end. The rest is the wire.
// Oracle: the chosen run must produce exactly the events, error and end offset of a run that
// feeds everything at once without pausing (any split and any pause must be invisible), except
// that a message over a limit and also malformed may report either error.
// The loop and the oracle are in http1_fuzz_driver.hpp; this file holds what requests add.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http1_fuzz_driver.hpp"
#include "proto/http1_parser.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

// Bit 6: the server declines each Upgrade/CONNECT and goes on parsing HTTP after it.
constexpr std::uint8_t kModeResumeAfterUpgrade = fuzz::kModeTargetBit;

class RequestRecorder final : public fuzz::Http1Recorder<HttpRequestParser, HttpRequestEvents> {
 public:
  using Http1Recorder::Http1Recorder;

  Http1Action on_request_head(HttpRequestHead& h) override {
    return record_head("H:" + h.method + " " + h.target + " " + std::to_string(h.version_minor),
                       h.headers);
  }
};

struct RequestTarget {
  using Parser = HttpRequestParser;
  using Recorder = RequestRecorder;

  static void configure(Parser& /*parser*/, std::uint8_t /*mode*/) {}
  static bool continue_after_upgrade(Parser& parser, std::uint8_t mode) {
    if ((mode & kModeResumeAfterUpgrade) == 0) return false;
    parser.resume_after_upgrade();
    return true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::fuzz_http1<RequestTarget>(data, size);
}
