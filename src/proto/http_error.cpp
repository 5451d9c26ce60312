#include "proto/http_error.hpp"

#include "proto/ws_extensions.hpp"
#include "proto/ws_handshake.hpp"

#include <string>

namespace wsgate::proto {

namespace {

class HttpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "http"; }

  std::string message(int ev) const override {
    switch (static_cast<HttpErrc>(ev)) {
      case HttpErrc::bad_syntax: return "malformed HTTP message";
      case HttpErrc::bad_method: return "invalid method";
      case HttpErrc::bad_target: return "invalid request-target";
      case HttpErrc::bad_version: return "invalid HTTP version";
      case HttpErrc::bad_status: return "invalid status line";
      case HttpErrc::bad_header: return "invalid header field";
      case HttpErrc::bad_content_length: return "invalid Content-Length";
      case HttpErrc::content_length_conflict:
        return "conflicting Content-Length / Transfer-Encoding";
      case HttpErrc::bad_transfer_encoding: return "invalid Transfer-Encoding";
      case HttpErrc::bad_chunk: return "invalid chunked encoding";
      case HttpErrc::unsupported_transfer_encoding: return "unsupported transfer coding";
      case HttpErrc::unsupported_version: return "unsupported HTTP version";
      case HttpErrc::url_too_long: return "request-target too long";
      case HttpErrc::head_too_large: return "header section too large";
      case HttpErrc::too_many_headers: return "too many header fields";
      case HttpErrc::body_too_large: return "body too large";
      case HttpErrc::unexpected_eof: return "connection closed inside a message";
      case HttpErrc::data_after_close: return "data after the last message";
      case HttpErrc::invalid_field_name: return "invalid field name to write";
      case HttpErrc::invalid_field_value: return "invalid field value to write";
      case HttpErrc::invalid_start_line: return "invalid start line to write";
      case HttpErrc::internal: return "internal HTTP parser error";
    }
    return "unknown http error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& http_category() noexcept {
  static const HttpCategory category;
  return category;
}

int http_status_for(HttpErrc e) noexcept {
  switch (e) {
    case HttpErrc::unsupported_transfer_encoding: return 501;
    case HttpErrc::unsupported_version: return 505;
    case HttpErrc::url_too_long: return 414;
    case HttpErrc::head_too_large:
    case HttpErrc::too_many_headers: return 431;
    case HttpErrc::body_too_large: return 413;
    case HttpErrc::invalid_field_name:
    case HttpErrc::invalid_field_value:
    case HttpErrc::invalid_start_line:
    case HttpErrc::internal: return 500;
    default: return 400;
  }
}

int http_status_for(std::error_code ec) noexcept {
  if (!ec) return 500;
  const std::error_category& cat = ec.category();
  if (cat == http_category()) return http_status_for(static_cast<HttpErrc>(ec.value()));
  if (cat == handshake_category()) return http_status_for(static_cast<HandshakeErrc>(ec.value()));
  if (cat == client_handshake_category()) {
    return http_status_for(static_cast<ClientHandshakeErrc>(ec.value()));
  }
  if (cat == extension_category()) {
    // A client's offer that does not parse is its fault (400); every other extension error comes
    // from validating an upstream's 101 (server offers are declined, not failed): Bad Gateway.
    return ec == ExtensionErrc::syntax_error ? 400 : 502;
  }
  return 500;
}

}  // namespace wsgate::proto
