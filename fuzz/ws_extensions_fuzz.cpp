// Fuzzes the Sec-WebSocket-Extensions parser and the permessage-deflate negotiation.
// Input: two control bytes choosing the server configuration, then the header text.
//   byte 0: bit 0 server_no_context_takeover, bit 1 client_no_context_takeover, bit 2 disabled,
//           bits 3-5 server_max_window_bits 8 + n
//   byte 1: bits 0-2 client_max_window_bits 8 + n
// Properties: a parsed header formats and parses back to the same list; an accepted offer's
// response parses and is accepted by the client validator with the same parameters (unless
// the offer itself hinted client_max_window_bits=8, which our client refuses by policy); the
// client validator survives arbitrary responses.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/ws_extensions.hpp"

using namespace wsgate;
using namespace wsgate::proto;

namespace {

void check_round_trip(const std::vector<Extension>& exts) {
  for (const Extension& e : exts) {
    const auto back = parse_extensions(format_extension(e));
    if (!back || back->size() != 1 || !(back->front() == e)) __builtin_trap();
  }
}

void check_agreement(const std::vector<Extension>& offers, const DeflateConfig& cfg,
                     const DeflateAgreement& agreement) {
  // The accepted offer is the first one that is acceptable on its own.
  for (const Extension& offer : offers) {
    const auto alone = negotiate_deflate(std::span<const Extension>(&offer, 1), cfg);
    if (!alone) continue;
    if (alone->response != agreement.response || !(alone->params == agreement.params)) {
      __builtin_trap();
    }
    const auto client = accept_deflate_response(agreement.response, format_extension(offer));
    if (!client) {
      if (client.error() != ExtensionErrc::unsupported_window_bits) __builtin_trap();
      return;
    }
    if (!client->has_value() || !(**client == agreement.params)) __builtin_trap();
    return;
  }
  __builtin_trap();  // accepted, yet no single offer is acceptable
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  DeflateConfig cfg;
  cfg.server_no_context_takeover = (data[0] & 1) != 0;
  cfg.client_no_context_takeover = (data[0] & 2) != 0;
  cfg.enabled = (data[0] & 4) == 0;
  cfg.server_max_window_bits = 8 + ((data[0] >> 3) & 7);
  cfg.client_max_window_bits = 8 + (data[1] & 7);
  const std::string_view header(reinterpret_cast<const char*>(data + 2), size - 2);

  const auto parsed = parse_extensions(header);
  if (parsed) check_round_trip(*parsed);

  const auto negotiated = negotiate_deflate(header, cfg);
  if (negotiated.ok() != parsed.ok()) __builtin_trap();
  if (negotiated && negotiated->has_value()) check_agreement(*parsed, cfg, **negotiated);

  (void)accept_deflate_response(header, deflate_offer(cfg));
  return 0;
}
