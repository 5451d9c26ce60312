#pragma once
// Tokens of the hosted routes: where a client's token is found on an upgrade or HTTP request,
// and how it is checked (a JWT with the route's jwt_* keys, or one of the broker's static
// publish_tokens). docs/CHAT.md lists the places a client may put its token.
//
// Thread: a TokenAuth is built with the route's Service and shared read-only by every worker
// (verification keeps no state).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "proto/http_message.hpp"
#include "proto/jwt.hpp"
#include "proxy/config.hpp"

namespace wsgate::proxy {

/// The subprotocol a browser offers to carry its token: "bearer.<token>".
inline constexpr std::string_view kBearerProtocolPrefix = "bearer.";

/// Where a token came from, for logs.
enum class TokenSource { none, header, query, subprotocol };

/// The token of a request: `Authorization: Bearer` first, then the `token` query parameter,
/// then an offered "bearer.<token>" subprotocol. `source` is none (and the token empty) when
/// there is none; a malformed Authorization header counts as a token that will not verify.
struct FoundToken {
  std::string token;
  TokenSource source = TokenSource::none;
};
FoundToken find_token(const proto::HttpRequestHead& head,
                      const std::vector<std::string>& offered_subprotocols);

class TokenAuth {
 public:
  /// Builds the JWT verifier from the route's jwt_* keys (if any) and takes its static tokens.
  /// Throws std::runtime_error if the public key is unusable (refused at load).
  TokenAuth(const JwtConfig& jwt, std::vector<std::string> static_tokens = {});

  /// True if the route checks tokens at all (a JWT key or static tokens).
  bool enabled() const noexcept { return verifier_.has_value() || !static_.empty(); }
  /// Verifies a JWT against the route's key, issuer, audience and leeway at `now_s`.
  Result<proto::jwt::Claims> verify_jwt(std::string_view token, std::int64_t now_s) const;
  /// True if `token` is one of the static tokens or a JWT that verifies.
  bool accepts(std::string_view token, std::int64_t now_s) const;

 private:
  std::optional<proto::jwt::Verifier> verifier_;
  proto::jwt::VerifyOptions options_;
  std::vector<std::string> static_;
};

}  // namespace wsgate::proxy
