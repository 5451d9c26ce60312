#include "proxy/auth.hpp"

#include <stdexcept>

#include "proxy/router.hpp"

namespace wsgate::proxy {

namespace {

// Constant-time comparison for equal lengths: a static token must not leak by timing.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

FoundToken find_token(const proto::HttpRequestHead& head,
                      const std::vector<std::string>& offered_subprotocols) {
  if (const auto auth = head.headers.get("Authorization")) {
    const std::string_view v = proto::trim_ows(*auth);
    constexpr std::string_view kScheme = "bearer ";
    if (v.size() > kScheme.size() && proto::iequals(v.substr(0, kScheme.size()), kScheme)) {
      return {std::string(proto::trim_ows(v.substr(kScheme.size()))), TokenSource::header};
    }
    return {std::string(v), TokenSource::header};  // another scheme: will not verify
  }
  if (auto q = query_param(head.query(), "token"); q && !q->empty()) {
    return {std::move(*q), TokenSource::query};
  }
  for (const std::string& p : offered_subprotocols) {
    if (p.size() > kBearerProtocolPrefix.size() && p.starts_with(kBearerProtocolPrefix)) {
      return {p.substr(kBearerProtocolPrefix.size()), TokenSource::subprotocol};
    }
  }
  return {};
}

TokenAuth::TokenAuth(const JwtConfig& jwt, std::vector<std::string> static_tokens)
    : static_(std::move(static_tokens)) {
  if (!jwt.secret.empty()) {
    verifier_ = proto::jwt::Verifier::hs256(jwt.secret);
  } else if (!jwt.public_key_pem.empty()) {
    auto v = proto::jwt::Verifier::from_public_key_pem(jwt.public_key_pem);
    if (!v) {
      throw std::runtime_error("jwt_public_key " + jwt.public_key_file + ": " +
                               v.error().message());
    }
    verifier_ = std::move(*v);
  }
  options_.leeway_s = jwt.leeway.count() / 1000;
  options_.issuer = jwt.issuer;
  options_.audience = jwt.audience;
}

Result<proto::jwt::Claims> TokenAuth::verify_jwt(std::string_view token, std::int64_t now_s) const {
  if (!verifier_) return proto::jwt::JwtErrc::bad_key;
  return verifier_->verify(token, now_s, options_);
}

bool TokenAuth::accepts(std::string_view token, std::int64_t now_s) const {
  bool found = false;
  for (const std::string& s : static_) found |= same_secret(s, token);  // no early exit
  if (found) return true;
  return verifier_ && verifier_->verify(token, now_s, options_).ok();
}

}  // namespace wsgate::proxy
