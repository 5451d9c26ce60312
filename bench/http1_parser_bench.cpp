// HTTP/1.1 request parsing throughput: pipelined GET requests of a realistic size (a browser
// WebSocket upgrade and a curl-style GET) and a chunked POST, through HttpRequestParser.
#include <benchmark/benchmark.h>

#include <string>

#include "proto/http1_parser.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

constexpr std::string_view kCurlGet =
    "GET /static/app.js HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n\r\n";

constexpr std::string_view kBrowserUpgrade =
    "GET /chat?room=lobby HTTP/1.1\r\nHost: example.test:8080\r\nConnection: Upgrade\r\n"
    "Pragma: no-cache\r\nCache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\nOrigin: https://example.test\r\nSec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

constexpr std::string_view kChunkedPost =
    "POST /produce/news HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n"
    "1b\r\n{\"title\":\"hello\",\"id\":1234}\r\n10\r\n,\"more\":\"values\"\r\n0\r\n\r\n";

// Counts requests and body bytes; never pauses.
class Counter final : public HttpRequestEvents {
 public:
  Http1Action on_request_head(HttpRequestHead& head) override {
    benchmark::DoNotOptimize(head.target.data());
    return Http1Action::proceed;
  }
  void on_body(ByteView chunk) override { body_bytes += chunk.size(); }
  Http1Action on_message_complete() override {
    ++requests;
    return Http1Action::proceed;
  }
  std::size_t requests = 0;
  std::size_t body_bytes = 0;
};

// Parses `count` copies of `request` from one buffer per iteration (pipelining). An upgrade
// request stops the parser at its head, so those are parsed one per feed with a reset.
void parse_pipelined(benchmark::State& state, std::string_view request, bool upgrade) {
  constexpr int kCount = 64;
  std::string wire;
  for (int i = 0; i < (upgrade ? 1 : kCount); ++i) wire += request;
  HttpRequestParser parser;
  Counter counter;
  std::size_t parsed = 0;
  for (auto _ : state) {
    for (int i = 0; i < (upgrade ? kCount : 1); ++i) {
      parser.reset();
      Result<std::size_t> r = parser.feed(as_bytes(wire), counter);
      if (!r) state.SkipWithError(r.error().message().c_str());
    }
    parsed += kCount;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(parsed * request.size()));
  state.counters["requests/s"] =
      benchmark::Counter(static_cast<double>(parsed), benchmark::Counter::kIsRate);
}

void BM_curl_get_pipelined(benchmark::State& s) {
  parse_pipelined(s, kCurlGet, false);
}
void BM_browser_upgrade(benchmark::State& s) {
  parse_pipelined(s, kBrowserUpgrade, true);
}
void BM_chunked_post_pipelined(benchmark::State& s) {
  parse_pipelined(s, kChunkedPost, false);
}

}  // namespace

BENCHMARK(BM_curl_get_pipelined);
BENCHMARK(BM_browser_upgrade);
BENCHMARK(BM_chunked_post_pipelined);
