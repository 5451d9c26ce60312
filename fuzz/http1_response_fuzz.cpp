// Fuzzes HttpResponseParser. Byte 0 chooses the run: bits 0-2 the read size (0 = everything at
// once), bit 3 small limits, bit 4 pause after each message, bit 5 pause after each head, bit 6
// the request was HEAD (no bodies), bit 7 finish() (EOF) at the end. The rest is the wire.
// Oracle: the chosen run must produce exactly the events, error and end offset of a run that
// feeds everything at once without pausing (any split and any pause must be invisible), except
// that a message over a limit and also malformed may report either error.
// The loop and the oracle are in http1_fuzz_driver.hpp; this file holds what responses add.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http1_fuzz_driver.hpp"
#include "proto/http1_parser.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

// Bit 6: every response answers a HEAD request (else GET), so none has a body.
constexpr std::uint8_t kModeHeadRequest = fuzz::kModeTargetBit;

class ResponseRecorder final : public fuzz::Http1Recorder<HttpResponseParser, HttpResponseEvents> {
 public:
  using Http1Recorder::Http1Recorder;

  Http1Action on_response_head(HttpResponseHead& h) override {
    return record_head(
        "H:" + std::to_string(h.status) + " " + h.reason + " " + std::to_string(h.version_minor),
        h.headers);
  }
};

struct ResponseTarget {
  using Parser = HttpResponseParser;
  using Recorder = ResponseRecorder;

  static void configure(Parser& parser, std::uint8_t mode) {
    parser.set_request_method((mode & kModeHeadRequest) != 0 ? "HEAD" : "GET");
  }
  // A 101 or a 2xx to CONNECT starts a tunnel: the rest of the wire is not HTTP.
  static bool continue_after_upgrade(Parser& /*parser*/, std::uint8_t /*mode*/) { return false; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::fuzz_http1<ResponseTarget>(data, size);
}
