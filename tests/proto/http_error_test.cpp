#include <catch2/catch.hpp>

#include <system_error>

#include "proto/http_error.hpp"
#include "proto/ws_error.hpp"
#include "proto/ws_extensions.hpp"
#include "proto/ws_handshake.hpp"

using namespace wsgate::proto;

TEST_CASE("one status table covers every proto category with an HTTP answer", "[proto][http]") {
  struct Row {
    std::error_code ec;
    int status;
  };
  const Row rows[] = {
      {make_error_code(HttpErrc::bad_syntax), 400},
      {make_error_code(HttpErrc::url_too_long), 414},
      {make_error_code(HttpErrc::head_too_large), 431},
      {make_error_code(HttpErrc::too_many_headers), 431},
      {make_error_code(HttpErrc::body_too_large), 413},
      {make_error_code(HttpErrc::unsupported_transfer_encoding), 501},
      {make_error_code(HttpErrc::unsupported_version), 505},
      {make_error_code(HandshakeErrc::method_not_get), 405},
      {make_error_code(HandshakeErrc::key_wrong_length), 400},
      {make_error_code(HandshakeErrc::version_unsupported), 426},
      {make_error_code(HandshakeErrc::origin_forbidden), 403},
      {make_error_code(ClientHandshakeErrc::accept_mismatch), 502},
      {make_error_code(ExtensionErrc::syntax_error), 400},
      {make_error_code(ExtensionErrc::param_not_offered), 502},  // an upstream's bad answer
      {make_error_code(WsErrc::invalid_utf8), 500},              // a close code, not a status
      {std::make_error_code(std::errc::io_error), 500},
      {std::error_code{}, 500},
  };
  for (const Row& r : rows) {
    CAPTURE(r.ec.category().name(), r.ec.message());
    CHECK(http_status_for(r.ec) == r.status);
  }
}
