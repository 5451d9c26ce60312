#include <catch2/catch.hpp>

#include <string>

#include "proto/ws_deflate.hpp"
#include "proto/ws_extensions.hpp"
#include "proxy/ws_compression.hpp"

using namespace wsgate;
using namespace wsgate::proxy;

namespace {

std::string json_like(std::size_t n) {
  std::string s = "[";
  for (std::size_t i = 0; s.size() < n; ++i) {
    s += "{\"id\":" + std::to_string(i) + ",\"user\":\"u" + std::to_string(i % 17) +
         "\",\"text\":\"hello there\"},";
  }
  s.back() = ']';
  return s;
}

// Inflates a message compressed by the session toward a client with the agreed parameters, as
// the client would (its inflater uses the server's window and takeover flag).
std::string client_inflate(proto::WsInflater& inflater, const Bytes& compressed) {
  Bytes out;
  REQUIRE_FALSE(inflater.inflate(compressed, out, 64 << 20));
  return std::string(as_chars(out));
}

}  // namespace

TEST_CASE("ws compression: the route's mode decides the negotiation", "[proxy][compression]") {
  WsRouteConfig ws;
  CHECK_FALSE(deflate_config(ws).enabled);
  ws.compression = Compression::passthrough;
  CHECK_FALSE(deflate_config(ws).enabled);  // the upstream negotiates

  ws.compression = Compression::shared;
  auto agreed =
      proto::negotiate_deflate("permessage-deflate; client_max_window_bits", deflate_config(ws));
  REQUIRE(agreed);
  REQUIRE(*agreed);
  CHECK((*agreed)->params.server_no_context_takeover);
  CHECK((*agreed)->params.client_no_context_takeover);

  ws.compression = Compression::dedicated;
  ws.window_bits = 10;
  agreed =
      proto::negotiate_deflate("permessage-deflate; client_max_window_bits", deflate_config(ws));
  REQUIRE(agreed);
  REQUIRE(*agreed);
  CHECK_FALSE((*agreed)->params.server_no_context_takeover);
  CHECK((*agreed)->params.server_max_window_bits == 10);
  CHECK((*agreed)->params.client_max_window_bits == 10);
}

TEST_CASE("ws compression: shared sessions hold no zlib state between messages",
          "[proxy][compression]") {
  WsRouteConfig ws;
  ws.compression = Compression::shared;
  proto::DeflateParams p;
  p.server_no_context_takeover = p.client_no_context_takeover = true;
  WsCompression a(ws, p), b(ws, p);
  proto::WsInflater client(proto::inflater_options(p, proto::DeflateRole::client));
  const std::string msg = json_like(20000);
  Bytes out;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(a.compress(as_bytes(msg), out));
    CHECK(out.size() < msg.size() / 4);
    CHECK(client_inflate(client, out) == msg);
    REQUIRE(b.compress(as_bytes(msg), out));  // interleaved sessions share one compressor
    CHECK(client_inflate(client, out) == msg);
  }
  CHECK(a.memory_usage() == 0);                                  // the compressor is the worker's
  CHECK_FALSE(a.compress(as_bytes(std::string(10, 'x')), out));  // below compression_min_size

  // The session's inflater: state while a message is in, none after message_done().
  proto::WsDeflater client_deflater(proto::deflater_options(p, proto::DeflateRole::client));
  Bytes c;
  client_deflater.compress(as_bytes(msg), c);
  Bytes plain;
  REQUIRE_FALSE(a.inflater().inflate(c, plain, 1 << 20));
  CHECK(std::string(as_chars(plain)) == msg);
  CHECK(a.memory_usage() > 0);
  a.message_done();
  CHECK(a.memory_usage() == 0);
}

TEST_CASE("ws compression: dedicated sessions keep their context", "[proxy][compression]") {
  WsRouteConfig ws;
  ws.compression = Compression::dedicated;
  ws.window_bits = 10;
  ws.mem_level = 4;
  ws.compression_min_size = 0;
  proto::DeflateParams p;
  p.server_max_window_bits = p.client_max_window_bits = 10;
  WsCompression s(ws, p);
  proto::WsInflater client(proto::inflater_options(p, proto::DeflateRole::client));
  const std::string msg = json_like(600);
  Bytes first, second;
  REQUIRE(s.compress(as_bytes(msg), first));
  CHECK(client_inflate(client, first) == msg);
  REQUIRE(s.compress(as_bytes(msg), second));
  CHECK(second.size() < first.size());  // the repeat refers back into the window
  CHECK(client_inflate(client, second) == msg);
  CHECK(s.memory_usage() > 0);
  CHECK(s.memory_usage() < 64 * 1024);  // window 10, mem_level 4: ~18 KiB, not ~262 KiB
  s.message_done();                     // context takeover: nothing to free
  Bytes empty;
  REQUIRE(s.compress({}, empty));
  CHECK(client_inflate(client, empty).empty());
}
