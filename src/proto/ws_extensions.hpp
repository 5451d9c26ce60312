#pragma once
// Sec-WebSocket-Extensions: the header grammar (RFC 6455 §9.1) and the permessage-deflate
// negotiation (RFC 7692 §5, §7.1) for both ends of a connection. Pure string work: no zlib here
// (ws_deflate.hpp compresses), no I/O, no allocation beyond the returned values.
//
// Negotiation happens before the 101 response, so its outcomes are not close codes:
//  - server side: an offer the server cannot honour is *declined* (the next offer is tried; if
//    none is acceptable the handshake goes on without compression). Only a header that does not
//    parse at all is an error (ExtensionErrc::syntax_error); callers usually answer 400.
//  - client side: a response that breaks the rules *fails* the WebSocket connection (RFC 6455
//    §4.1, RFC 7692 §5.1): an ExtensionErrc comes back and the caller drops the connection.
//
// Window bits and zlib. zlib refuses a raw-deflate window of 8 bits for compression (since
// 1.2.9 it asks for 9; 1.2.13's deflateInit2 returns Z_STREAM_ERROR for -8), and most peers
// compress with zlib. So wsgate never negotiates an 8-bit window for either compressor:
//  - a configured 8 acts as 9 everywhere (server answers, client offers and hints);
//  - a server declines an offer with server_max_window_bits=8 (it may answer the same or a
//    smaller value, never a larger one: RFC 7692 §7.1.2.1), and tries the next offer;
//  - a client fails the connection if the server answers client_max_window_bits=8;
//  - a peer may still compress within 8 bits of its own accord (its client hint, or a server
//    answering server_max_window_bits=8 to our 9): our inflater uses at least 9 bits, and a
//    larger window accepts everything a smaller one does (see ws_deflate.hpp).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/result.hpp"

namespace wsgate::proto {

/// Why an extension header or a server's negotiation response is unacceptable. None of these
/// is a WebSocket close code (the connection is not open yet); they do not compare equal to any
/// WsCondition, so close_code_for() would give 1011. Servers map syntax_error to 400; clients
/// fail the connection on any of them.
enum class ExtensionErrc {
  syntax_error = 1,         ///< header does not match RFC 6455 §9.1 (incl. a quoted value that
                            ///< is not a token once unquoted)
  unexpected_extension,     ///< client: response names an extension we did not offer, or
                            ///< permessage-deflate more than once (RFC 6455 §9.1, §4.1)
  unknown_param,            ///< client: response has a parameter RFC 7692 does not define
  duplicate_param,          ///< client: response repeats a parameter (RFC 7692 §7)
  invalid_param_value,      ///< client: missing, extra or out-of-range value (RFC 7692 §7.1)
  param_not_offered,        ///< client: client_max_window_bits without our offer (§7.1.2.2)
  server_window_too_large,  ///< client: server_max_window_bits missing or above our request
                            ///< (§7.1.2.1)
  server_context_takeover,  ///< client: we required server_no_context_takeover, response
                            ///< lacks it (§7.1.1.1)
  unsupported_window_bits,  ///< client: server demands client_max_window_bits=8, which zlib
                            ///< cannot compress with (see the file comment)
};

const std::error_category& extension_category() noexcept;

inline std::error_code make_error_code(ExtensionErrc e) noexcept {
  return {static_cast<int>(e), extension_category()};
}

/// One `name[=value]` extension parameter. `value` is unquoted (quoted-pair escapes removed);
/// nullopt when the parameter had no "=".
struct ExtensionParam {
  std::string name;
  std::optional<std::string> value;

  friend bool operator==(const ExtensionParam&, const ExtensionParam&) = default;
};

/// One element of the extension list: a name and its parameters in header order.
struct Extension {
  std::string name;
  std::vector<ExtensionParam> params;

  friend bool operator==(const Extension&, const Extension&) = default;
};

/// Parses a Sec-WebSocket-Extensions value (repeated fields already joined with ", "):
///   extension-list = 1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) )
/// OWS is allowed around ',', ';' and '='; empty list elements are skipped (RFC 9110 §5.6.1), so
/// "" and " , " give an empty list. A quoted value must be a token after unquoting (RFC 6455
/// §9.1). Names keep their case; comparisons elsewhere ignore it.
/// Errors: ExtensionErrc::syntax_error. Limits: none beyond the input's size (the HTTP parser
/// caps header sizes). Ownership: the result owns copies of every string.
Result<std::vector<Extension>> parse_extensions(std::string_view header);

/// Writes one extension as "name; p1; p2=v" (values are tokens, written unquoted). Values that
/// are not tokens are a programming error (checked).
std::string format_extension(const Extension& ext);

/// The permessage-deflate extension name.
inline constexpr std::string_view kPermessageDeflate = "permessage-deflate";

/// Local permessage-deflate policy. Field names follow RFC 7692 (server_* = the server's
/// compressor, client_* = the client's), so the same struct configures either end; the comments
/// say what each field means for a server (S) and for a client (C).
struct DeflateConfig {
  bool enabled = true;  ///< S: negotiate at all. C: offer at all.
  /// S: always answer server_no_context_takeover (reset our compressor per message: saves the
  /// peer's inflate window and our CPU on repeats, costs ratio). Offers that ask for it get it
  /// regardless. C: ask the server for it (and fail if the response lacks it).
  bool server_no_context_takeover = false;
  /// S: always answer client_no_context_takeover (lets our inflater drop its window between
  /// messages); we also answer it whenever the client offers it as a hint. C: announce that we
  /// reset our compressor per message (the hint of §7.1.1.2).
  bool client_no_context_takeover = false;
  /// 8..15 (8 acts as 9, see the file comment). S: largest window we compress with; answered
  /// when below 15 or when the offer asks. C: ask the server for it when below 15.
  int server_max_window_bits = 15;
  /// 8..15 (8 acts as 9). S: largest window we ask the client to compress with; answered only
  /// if the client offered client_max_window_bits, as min(this, the client's hint), and only
  /// when below 15. C: our hint; the parameter is always offered so servers may limit our window.
  int client_max_window_bits = 15;
};

/// The agreed parameters of one permessage-deflate session, as effective values: window bits
/// are 15 when the response did not restrict them.
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;  ///< the server compresses within this window
  int client_max_window_bits = 15;  ///< the client compresses within this window

  friend bool operator==(const DeflateParams&, const DeflateParams&) = default;
};

/// A server's acceptance of one offer: the Sec-WebSocket-Extensions response element and the
/// parameters both ends now use.
struct DeflateAgreement {
  std::string response;  ///< e.g. "permessage-deflate; client_max_window_bits=10"
  DeflateParams params;
};

/// Server side, RFC 7692 §5.1: walks the offers in order, skips other extensions, and accepts the
/// first permessage-deflate offer it can honour (§7: an offer with an unknown or duplicate
/// parameter, a bad value, a value on a *_no_context_takeover parameter, or a server window the
/// server cannot use is declined and the next one is tried). nullopt: no offer accepted (or
/// `cfg.enabled` is false); the handshake proceeds without compression.
/// Precondition (checked): cfg window bits in 8..15.
std::optional<DeflateAgreement> negotiate_deflate(std::span<const Extension> offers,
                                                  const DeflateConfig& cfg);

/// The same from the raw header. Errors: ExtensionErrc::syntax_error if it does not parse.
Result<std::optional<DeflateAgreement>> negotiate_deflate(std::string_view offers_header,
                                                          const DeflateConfig& cfg);

/// Client side: the offer to send, e.g. "permessage-deflate; client_max_window_bits".
/// client_max_window_bits is always offered (with our hint as value when below 15, raised to 9).
/// Precondition (checked): cfg window bits in 8..15 (`enabled` is the caller's business).
std::string deflate_offer(const DeflateConfig& cfg);

/// Client side: checks the server's Sec-WebSocket-Extensions value (empty if absent) against
/// `our_offer`, the single permessage-deflate offer we sent (normally deflate_offer(cfg)).
/// nullopt: the server did not accept the extension (the connection proceeds uncompressed).
/// Errors: any ExtensionErrc; the client must then fail the WebSocket connection. The result's
/// client_max_window_bits is min(server's value, our hint). Precondition (checked): `our_offer`
/// parses as one valid permessage-deflate offer.
Result<std::optional<DeflateParams>> accept_deflate_response(std::string_view response_header,
                                                             std::string_view our_offer);

}  // namespace wsgate::proto

template <>
struct std::is_error_code_enum<wsgate::proto::ExtensionErrc> : std::true_type {};
