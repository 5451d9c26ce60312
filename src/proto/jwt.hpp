#pragma once
// JSON Web Token verification: the JWS compact serialization (RFC 7515 §7.1) of a JWT (RFC 7519),
// signed with HS256, RS256 or ES256 (RFC 7518 §3). The chat and broker routes use it to learn who
// a client is. Pure: libcrypto does the cryptography; no clock (the caller passes `now`), no
// I/O, no logging. No OpenSSL type appears here: keys live behind Verifier's opaque handle.
//
// What is deliberately not supported: unsecured tokens ("alg":"none"), any algorithm other than
// the verifier's own (one verifier, one algorithm: so an RS256 public key can never be used as
// an HMAC secret, the classic algorithm-confusion attack), the JWS JSON serialization, JWE, and
// header-named keys ("kid", "jku", "jwk", "x5u", "x5c" are ignored: the key is always the one
// the verifier was built with).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace wsgate::proto::jwt {

/// Why a token was refused (or a key was unusable). Messages are short and meant for a log line
/// or a 401/close reason; they never contain token text.
enum class JwtErrc {
  malformed = 1,    ///< not three base64url parts, a header or payload that is not a JSON
                    ///< object, a missing "alg", "typ" other than JWT, a "crit" header, or a
                    ///< claim of the wrong type
  unsupported_alg,  ///< "alg" is not the verifier's algorithm ("none", "HS512", ...)
  bad_signature,    ///< the signature does not verify (or has the wrong length)
  expired,          ///< now >= exp + leeway
  not_yet_valid,    ///< now < nbf - leeway
  bad_issuer,       ///< an issuer is required and "iss" is absent or different
  bad_audience,     ///< an audience is required and "aud" does not contain it
  missing_subject,  ///< "sub" absent, empty, or longer than kMaxSubject bytes
  bad_key,          ///< the key cannot be used (type, size, curve, encoding; empty secret)
  too_large,        ///< the token is longer than VerifyOptions::max_token_size
};

const std::error_category& jwt_category() noexcept;

inline std::error_code make_error_code(JwtErrc e) noexcept {
  return {static_cast<int>(e), jwt_category()};
}

/// The JWS algorithms a Verifier can hold (RFC 7518 §3.1 names: "HS256", "RS256", "ES256").
enum class Alg { hs256, rs256, es256 };

/// The algorithm's "alg" header value.
std::string_view alg_name(Alg alg) noexcept;

/// Longest accepted "sub" claim, in bytes.
inline constexpr std::size_t kMaxSubject = 128;
/// Smallest accepted RSA modulus (RFC 7518 §3.3 requires 2048 bits).
inline constexpr int kMinRsaBits = 2048;

struct VerifyOptions {
  std::int64_t leeway_s = 0;  ///< clock skew allowed on "exp" and "nbf"; negative counts as 0
  std::string issuer;         ///< if not empty, "iss" must equal it
  std::string audience;       ///< if not empty, "aud" (a string or array of strings) must hold it
  std::size_t max_token_size = 8192;  ///< longer tokens are refused before any decoding
};

/// The claims wsgate uses, from a verified token. Claims not listed here are ignored.
struct Claims {
  std::string sub;                    ///< the user id: 1..kMaxSubject bytes of UTF-8
  std::string name;                   ///< "" if absent
  std::optional<std::string> guild;   ///< "guild"
  std::optional<std::string> device;  ///< "device"
  /// "exp" and "iat" (NumericDate, seconds since the epoch; RFC 7519 allows fractions, which
  /// are rounded down here; values beyond int64 are clamped).
  std::optional<std::int64_t> exp;
  std::optional<std::int64_t> iat;
};

/// Verifies tokens with one key and one algorithm.
/// Ownership: copies share the key (immutable, reference-counted). Thread: verify() is const and
/// may run on any number of threads at once with copies of, or the same, Verifier.
class Verifier {
 public:
  /// An HS256 verifier with this shared secret (the raw bytes of the string). An empty secret
  /// makes a verifier that refuses every token with JwtErrc::bad_key (HMAC with an empty key is
  /// forgeable by anyone); configuration should refuse short secrets before getting here.
  static Verifier hs256(std::string secret);

  /// A verifier for a PEM public key ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo, as
  /// `openssl pkey -pubout` writes): an RSA key (at least kMinRsaBits bits) gives RS256, an EC
  /// key on P-256 gives ES256. Errors: JwtErrc::bad_key for anything else (private keys,
  /// certificates, RSA-PSS, other curves, Ed25519, small RSA keys, garbage).
  static Result<Verifier> from_public_key_pem(std::string_view pem);

  Alg alg() const noexcept;

  /// Checks `token` at time `now_s` (seconds since the epoch), in this order: size, three
  /// base64url parts (unpadded, strict), header (a JSON object whose "alg" is exactly this
  /// verifier's, "typ" absent or "JWT" in any case, no "crit"), signature (HMAC compared in
  /// constant time; RSASSA-PKCS1-v1_5 with SHA-256; ECDSA P-256 SHA-256 as the 64-byte R||S of
  /// RFC 7518 §3.4), payload (a JSON object; known claims of the right types), "exp", "nbf",
  /// "iss" and "aud" when asked for, "sub". The first failure is returned (JwtErrc).
  /// Ownership: `token` is only read; the Claims are owned by the result.
  Result<Claims> verify(std::string_view token, std::int64_t now_s, const VerifyOptions& opt) const;

 private:
  struct Key;  ///< defined in jwt.cpp: the algorithm and the OpenSSL key or the secret
  explicit Verifier(std::shared_ptr<const Key> key) noexcept : key_(std::move(key)) {}
  std::shared_ptr<const Key> key_;
};

/// base64url without padding (RFC 7515 §2, RFC 4648 §5), as JWS uses it.
std::string base64url_encode(ByteView data);

/// Appends the bytes `text` encodes to `out`. Strict: alphabet A-Z a-z 0-9 '-' '_' only (no '=',
/// no '+' or '/', no whitespace), a length that is not 1 mod 4, and zero unused bits in the
/// last character, so every byte string has exactly one accepted encoding. Returns false (with
/// `out` partly appended) otherwise.
bool base64url_decode(std::string_view text, Bytes& out);

/// An HS256 token for `payload_json` (used as given: the caller makes it a valid JSON object),
/// with the header {"alg":"HS256","typ":"JWT"}. For the `wsgate token` command and tests.
std::string sign_hs256(std::string_view payload_json, std::string_view secret);

}  // namespace wsgate::proto::jwt

template <>
struct std::is_error_code_enum<wsgate::proto::jwt::JwtErrc> : std::true_type {};
