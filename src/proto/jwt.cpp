// JWT verification. Everything before the signature check is treated as hostile and only parsed
// as far as needed to pick the check: the size cap comes first (so a megabyte of base64 is
// never decoded), and the header is read only for "alg", "typ" and "crit". The payload is not
// interpreted until its signature verifies.
//
// Algorithm confusion (CVE-2015-9235 and its many siblings): the verifier owns exactly one
// algorithm, fixed by its key, and the header's "alg" must name that algorithm. The header can
// never pick the algorithm, so "none", or an RS256 public key reused as an HMAC secret, cannot
// happen.
//
// ES256 signatures are the fixed-width R||S of RFC 7518 §3.4, while OpenSSL verifies the DER
// ECDSA-Sig-Value of X9.62, so the 64 bytes are rebuilt as DER first; any other length is a bad
// signature, never a guess.
//
// OpenSSL leaves reasons for failed calls in the thread's error queue. We report our own codes,
// so every failure path clears the queue: a later, unrelated OpenSSL user (TLS on the same loop
// thread) must not find our leftovers.

#include "proto/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "base/check.hpp"
#include "proto/json.hpp"

namespace wsgate::proto::jwt {

struct Verifier::Key {
  Alg alg = Alg::hs256;
  std::string secret;        // HS256
  EVP_PKEY* pkey = nullptr;  // RS256, ES256 (owned)

  Key() = default;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  ~Key() {
    OPENSSL_cleanse(secret.data(), secret.size());
    EVP_PKEY_free(pkey);
  }
};

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kHmacSize = 32;     // SHA-256
constexpr std::size_t kEcCoordSize = 32;  // P-256: R and S are 32 bytes each
// Headers and claims are flat in practice; nested custom claims get this much room.
constexpr std::size_t kMaxJsonDepth = 16;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}
constexpr auto kDecode = make_decode_table();

const unsigned char* uchars(ByteView b) noexcept {
  return reinterpret_cast<const unsigned char*>(b.data());
}

using Mac = std::array<unsigned char, kHmacSize>;

// False if OpenSSL fails (then `mac` must not be compared with anything).
bool hmac_sha256(std::string_view key, std::string_view data, Mac& mac) {
  unsigned int len = 0;
  const bool ok = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                       uchars(as_bytes(data)), data.size(), mac.data(), &len) != nullptr &&
                  len == mac.size();
  if (!ok) ERR_clear_error();
  return ok;
}

// RSASSA-PKCS1-v1_5 or ECDSA (DER signature) with SHA-256.
bool digest_verify(EVP_PKEY* pkey, const unsigned char* sig, std::size_t sig_len,
                   std::string_view data, bool rsa) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, pkey) == 1 &&
            (!rsa || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1) &&
            EVP_DigestVerify(ctx, sig, sig_len, uchars(as_bytes(data)), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) ERR_clear_error();
  return ok;
}

// RFC 7518 §3.4: R||S, big-endian, 32 bytes each, re-encoded as DER for OpenSSL.
bool verify_es256(EVP_PKEY* pkey, ByteView sig, std::string_view data) {
  if (sig.size() != 2 * kEcCoordSize) return false;
  ECDSA_SIG* es = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(uchars(sig), static_cast<int>(kEcCoordSize), nullptr);
  BIGNUM* s = BN_bin2bn(uchars(sig) + kEcCoordSize, static_cast<int>(kEcCoordSize), nullptr);
  if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {  // set0 owns r and s on success only
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return false;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(es, &der);
  ECDSA_SIG_free(es);
  const bool ok =
      der_len > 0 && digest_verify(pkey, der, static_cast<std::size_t>(der_len), data, false);
  OPENSSL_free(der);
  if (!ok) ERR_clear_error();
  return ok;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// A NumericDate as whole seconds: rounded down, clamped to int64 (+-2^63 are exact doubles).
std::int64_t whole_seconds(double v) noexcept {
  if (v >= 0x1p63) return std::numeric_limits<std::int64_t>::max();
  if (v < -0x1p63) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(std::floor(v));
}

// RFC 7515 §4.1: the header, read only for what decides how to verify.
std::error_code check_header(std::string_view header_json, Alg alg) {
  const auto h = json::parse_object(header_json, kMaxJsonDepth);
  if (!h) return JwtErrc::malformed;
  const json::Value* a = h->find("alg");
  if (!a || a->type != json::Type::string) return JwtErrc::malformed;
  if (a->str != alg_name(alg)) return JwtErrc::unsupported_alg;
  // RFC 7519 §5.1: "typ" is optional; if present it names a JWT.
  if (const json::Value* typ = h->find("typ")) {
    if (typ->type != json::Type::string || !iequals(typ->str, "JWT")) return JwtErrc::malformed;
  }
  // §4.1.11: extensions listed in "crit" must be understood; we understand none.
  if (h->find("crit")) return JwtErrc::malformed;
  return {};
}

// True if the "aud" value (RFC 7519 §4.1.3: a string or an array of strings) holds `want`.
bool audience_matches(const json::Value& aud, std::string_view want) {
  if (aud.type == json::Type::string) return aud.str == want;
  if (aud.type != json::Type::array) return false;
  const auto items = json::parse_array(aud.raw, kMaxJsonDepth);
  if (!items) return false;
  for (const json::Value& v : *items) {
    if (v.type == json::Type::string && v.str == want) return true;
  }
  return false;
}

// RFC 7519 §4.1: the payload of a token whose signature verified.
Result<Claims> read_claims(std::string_view payload_json, std::int64_t now_s,
                           const VerifyOptions& opt) {
  const auto p = json::parse_object(payload_json, kMaxJsonDepth);
  if (!p) return JwtErrc::malformed;

  Claims c;
  const auto string_claim = [&](std::string_view key, std::optional<std::string>& out) {
    const json::Value* v = p->find(key);
    if (!v) return true;
    if (v->type != json::Type::string) return false;
    out = v->str;
    return true;
  };
  std::optional<std::string> sub, name;
  if (!string_claim("sub", sub) || !string_claim("name", name) || !string_claim("guild", c.guild) ||
      !string_claim("device", c.device)) {
    return JwtErrc::malformed;
  }
  const json::Value* exp = p->find("exp");
  const json::Value* nbf = p->find("nbf");
  const json::Value* iat = p->find("iat");
  for (const json::Value* v : {exp, nbf, iat}) {
    if (v && v->type != json::Type::number) return JwtErrc::malformed;
  }

  // Compared as doubles: NumericDate may have a fraction, and int64 + leeway could overflow.
  const double now = static_cast<double>(now_s);
  const double leeway = static_cast<double>(std::max<std::int64_t>(opt.leeway_s, 0));
  if (exp && !(now < exp->number + leeway)) return JwtErrc::expired;
  if (nbf && !(now >= nbf->number - leeway)) return JwtErrc::not_yet_valid;
  if (!opt.issuer.empty() && p->string("iss") != std::string_view(opt.issuer)) {
    return JwtErrc::bad_issuer;
  }
  if (!opt.audience.empty()) {
    const json::Value* aud = p->find("aud");
    if (!aud || !audience_matches(*aud, opt.audience)) return JwtErrc::bad_audience;
  }
  if (!sub || sub->empty() || sub->size() > kMaxSubject) return JwtErrc::missing_subject;

  c.sub = std::move(*sub);
  c.name = name.value_or(std::string());
  if (exp) c.exp = whole_seconds(exp->number);
  if (iat) c.iat = whole_seconds(iat->number);
  return c;
}

class JwtCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "jwt"; }

  std::string message(int ev) const override {
    switch (static_cast<JwtErrc>(ev)) {
      case JwtErrc::malformed: return "malformed token";
      case JwtErrc::unsupported_alg: return "token algorithm not accepted";
      case JwtErrc::bad_signature: return "signature does not verify";
      case JwtErrc::expired: return "token expired";
      case JwtErrc::not_yet_valid: return "token not yet valid";
      case JwtErrc::bad_issuer: return "wrong token issuer";
      case JwtErrc::bad_audience: return "wrong token audience";
      case JwtErrc::missing_subject: return "token has no valid subject";
      case JwtErrc::bad_key: return "unusable key";
      case JwtErrc::too_large: return "token too large";
    }
    return "unknown jwt error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& jwt_category() noexcept {
  static const JwtCategory category;
  return category;
}

std::string_view alg_name(Alg alg) noexcept {
  switch (alg) {
    case Alg::hs256: return "HS256";
    case Alg::rs256: return "RS256";
    case Alg::es256: return "ES256";
  }
  return "";
}

std::string base64url_encode(ByteView data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const std::byte b : data) {
    acc = ((acc << 8) | static_cast<std::uint32_t>(b)) & 0x3fff;  // at most 6 + 8 bits pending
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

bool base64url_decode(std::string_view text, Bytes& out) {
  // One leftover character carries 6 bits: not even one byte.
  if (text.size() % 4 == 1) return false;
  out.reserve(out.size() + text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const std::uint8_t d = kDecode[static_cast<unsigned char>(c)];
    if (d == 0xff) return false;
    acc = ((acc << 6) | d) & 0xfff;  // at most 6 + 6 bits are ever pending
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::byte>((acc >> bits) & 0xff));
      acc &= (1u << bits) - 1;
    }
  }
  return acc == 0;  // RFC 4648 §3.5: the unused bits of the last character must be zero
}

std::string sign_hs256(std::string_view payload_json, std::string_view secret) {
  std::string token = base64url_encode(as_bytes(R"({"alg":"HS256","typ":"JWT"})"));
  token.push_back('.');
  token += base64url_encode(as_bytes(payload_json));
  Mac mac{};
  WSGATE_CHECK(hmac_sha256(secret, token, mac), "HMAC-SHA256 failed");
  token.push_back('.');
  token += base64url_encode(std::as_bytes(std::span(mac)));
  return token;
}

Verifier Verifier::hs256(std::string secret) {
  auto key = std::make_shared<Key>();
  key->alg = Alg::hs256;
  key->secret = std::move(secret);
  return Verifier(std::move(key));
}

Result<Verifier> Verifier::from_public_key_pem(std::string_view pem) {
  // The decoder, not PEM_read_*: it takes a length (no NUL needed) and is told to accept only a
  // SubjectPublicKeyInfo, so a private key or a certificate pasted by mistake is refused.
  EVP_PKEY* pkey = nullptr;
  OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(
      &pkey, "PEM", "SubjectPublicKeyInfo", nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
  const auto* data = uchars(as_bytes(pem));
  std::size_t len = pem.size();
  const bool decoded = dctx && OSSL_DECODER_from_data(dctx, &data, &len) == 1 && pkey;
  OSSL_DECODER_CTX_free(dctx);
  if (!decoded) {
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return JwtErrc::bad_key;
  }
  auto key = std::make_shared<Key>();
  key->pkey = pkey;                  // owned from here on, whatever follows
  if (EVP_PKEY_is_a(pkey, "RSA")) {  // plain rsaEncryption keys; "RSA-PSS" keys are not "RSA"
    if (EVP_PKEY_get_bits(pkey) < kMinRsaBits) return JwtErrc::bad_key;
    key->alg = Alg::rs256;
  } else if (EVP_PKEY_is_a(pkey, "EC")) {
    std::array<char, 64> group{};
    std::size_t group_len = 0;
    if (EVP_PKEY_get_group_name(pkey, group.data(), group.size(), &group_len) != 1 ||
        std::string_view(group.data(), group_len) != "prime256v1") {  // P-256's OpenSSL name
      ERR_clear_error();
      return JwtErrc::bad_key;
    }
    key->alg = Alg::es256;
  } else {
    return JwtErrc::bad_key;
  }
  return Verifier(std::move(key));
}

Alg Verifier::alg() const noexcept {
  return key_->alg;
}

Result<Claims> Verifier::verify(std::string_view token, std::int64_t now_s,
                                const VerifyOptions& opt) const {
  const Key& key = *key_;
  if (key.alg == Alg::hs256 && key.secret.empty()) return JwtErrc::bad_key;
  if (token.size() > opt.max_token_size) return JwtErrc::too_large;

  // RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return JwtErrc::malformed;
  }
  const std::string_view signing_input = token.substr(0, dot2);
  Bytes header, payload, sig;
  if (!base64url_decode(token.substr(0, dot1), header) ||
      !base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload) ||
      !base64url_decode(token.substr(dot2 + 1), sig)) {
    return JwtErrc::malformed;
  }

  if (const auto ec = check_header(as_chars(header), key.alg)) return ec;

  bool good = false;
  switch (key.alg) {
    case Alg::hs256: {
      Mac mac{};
      good = hmac_sha256(key.secret, signing_input, mac) && sig.size() == mac.size() &&
             CRYPTO_memcmp(sig.data(), mac.data(), mac.size()) == 0;
      break;
    }
    case Alg::rs256:
      good = digest_verify(key.pkey, uchars(sig), sig.size(), signing_input, true);
      break;
    case Alg::es256: good = verify_es256(key.pkey, sig, signing_input); break;
  }
  if (!good) return JwtErrc::bad_signature;

  return read_claims(as_chars(payload), now_s, opt);
}

}  // namespace wsgate::proto::jwt
