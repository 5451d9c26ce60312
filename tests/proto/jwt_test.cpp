#include <catch2/catch.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <system_error>

#include "base/bytes.hpp"
#include "proto/jwt.hpp"

using namespace wsgate;
using namespace wsgate::proto;
using jwt::JwtErrc;

namespace {

// The test builds its tokens with OpenSSL directly (and its own base64url), so that the module
// is checked against an implementation it does not share code with.

std::string b64url(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char mac[32];
  unsigned int len = 0;
  REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len));
  return std::string(reinterpret_cast<char*>(mac), len);
}

using PkeyPtr = std::shared_ptr<EVP_PKEY>;

PkeyPtr wrap(EVP_PKEY* k) {
  REQUIRE(k);
  return PkeyPtr(k, EVP_PKEY_free);
}

// Generated once per run: RSA key generation takes a moment.
EVP_PKEY* rsa2048() {
  static const PkeyPtr k = wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
  return k.get();
}
EVP_PKEY* p256() {
  static const PkeyPtr k = wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  return k.get();
}

std::string public_pem(EVP_PKEY* k) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  REQUIRE(PEM_write_bio_PUBKEY(bio.get(), k) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string private_pem(EVP_PKEY* k) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  REQUIRE(PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// EVP_DigestSign with SHA-256: PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC.
std::string digest_sign(EVP_PKEY* k, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, k) == 1);
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                         data.size()) == 1);
  sig.resize(len);
  return sig;
}

// RFC 7518 §3.4: the DER signature as fixed-width R||S.
std::string der_to_rs(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  REQUIRE(es);
  std::string rs(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(rs.data());
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_r(es), out, 32) == 32);
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_s(es), out + 32, 32) == 32);
  ECDSA_SIG_free(es);
  return rs;
}

using Signer = std::function<std::string(std::string_view signing_input)>;

std::string make_token(std::string_view header, std::string_view payload, const Signer& sign) {
  std::string input = b64url(header) + "." + b64url(payload);
  return input + "." + b64url(sign(input));
}

constexpr std::string_view kSecret = "correct horse battery staple";
constexpr std::int64_t kNow = 1'700'000'000;

Signer hs(std::string_view secret = kSecret) {
  return [secret](std::string_view in) { return hmac(secret, in); };
}
Signer rs(EVP_PKEY* k) {
  return [k](std::string_view in) { return digest_sign(k, in); };
}
Signer es(EVP_PKEY* k) {
  return [k](std::string_view in) { return der_to_rs(digest_sign(k, in)); };
}

std::string hs_token(std::string_view payload) {
  return make_token(R"({"alg":"HS256","typ":"JWT"})", payload, hs());
}

std::error_code verify_err(const jwt::Verifier& v, const std::string& token,
                           std::int64_t now = kNow, const jwt::VerifyOptions& opt = {}) {
  return v.verify(token, now, opt).error();
}

}  // namespace

TEST_CASE("jwt base64url is strict and unpadded", "[proto][jwt]") {
  const std::string all = [] {
    std::string s;
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
    return s;
  }();
  for (std::size_t n = 0; n <= 10; ++n) {
    const std::string_view in = std::string_view(all).substr(250 - n, n);
    const std::string enc = jwt::base64url_encode(as_bytes(in));
    CHECK(enc == b64url(in));
    Bytes back;
    REQUIRE(jwt::base64url_decode(enc, back));
    CHECK(as_chars(back) == in);
  }
  for (const char* bad : {"Zg==", "Zg=", "Zm9v=", "a+b-", "a/b_", "Zm9 v", "Zm9v\n", "Z", "Zm9vY",
                          "Zh", "Zm9", "Zm-", "Zm8A%"}) {
    Bytes out;
    INFO(bad);
    // "Zh" and "Zm9" would decode to "f"/"fo" with non-zero unused bits (canonical: Zg, Zm8).
    CHECK_FALSE(jwt::base64url_decode(bad, out));
  }
  Bytes out;
  CHECK(jwt::base64url_decode("", out));
  CHECK(jwt::base64url_decode("Zg", out));
  CHECK(jwt::base64url_decode("Zm8", out));
  CHECK(as_chars(out) == "ffo");
}

TEST_CASE("jwt HS256 matches the RFC 7515 A.1 example and an independent HMAC", "[proto][jwt]") {
  // RFC 7515 Appendix A.1: the key is the JWK "k" value, here in hex.
  const std::string key = from_hex(
      "0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebf"
      "d3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d080a3");
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
      "cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const auto v = jwt::Verifier::hs256(key);
  // The signature verifies; the example simply has no "sub" (and expired in 2011).
  CHECK(verify_err(v, token, 1300819379) == JwtErrc::missing_subject);
  CHECK(verify_err(v, token, 1300819380) == JwtErrc::expired);
  CHECK(verify_err(jwt::Verifier::hs256(key.substr(1)), token, 1300819379) ==
        JwtErrc::bad_signature);

  // sign_hs256 against the same computation done here with OpenSSL's HMAC and our own encoder.
  const std::string payload = R"({"sub":"u1","name":"Ann","iat":1700000000})";
  const std::string input = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + b64url(payload);
  const std::string expected = input + "." + b64url(hmac("s3cret", input));
  CHECK(jwt::sign_hs256(payload, "s3cret") == expected);
  CHECK(jwt::sign_hs256(payload, "s3cret") ==
        make_token(R"({"alg":"HS256","typ":"JWT"})", payload, hs("s3cret")));
}

TEST_CASE("jwt HS256 round trip returns the claims", "[proto][jwt]") {
  const auto v = jwt::Verifier::hs256(std::string(kSecret));
  CHECK(v.alg() == jwt::Alg::hs256);
  const std::string token = jwt::sign_hs256(
      R"({"sub":"u1","name":"Ann","guild":"g1","device":"web","exp":1700000100,"iat":1699999000,)"
      R"("extra":{"nested":[1,2]}})",
      kSecret);
  const auto r = v.verify(token, kNow, {});
  REQUIRE(r.ok());
  CHECK(r->sub == "u1");
  CHECK(r->name == "Ann");
  CHECK(r->guild == "g1");
  CHECK(r->device == "web");
  CHECK(r->exp == 1700000100);
  CHECK(r->iat == 1699999000);

  const auto minimal = v.verify(jwt::sign_hs256(R"({"sub":"u2"})", kSecret), kNow, {});
  REQUIRE(minimal.ok());
  CHECK(minimal->name.empty());
  CHECK_FALSE(minimal->guild);
  CHECK_FALSE(minimal->device);
  CHECK_FALSE(minimal->exp);
  CHECK_FALSE(minimal->iat);

  // Copies share the key; a fractional NumericDate rounds down.
  const jwt::Verifier copy = v;
  const auto frac =
      copy.verify(jwt::sign_hs256(R"({"sub":"u","exp":1700000000.5})", kSecret), kNow, {});
  REQUIRE(frac.ok());
  CHECK(frac->exp == 1700000000);
  // typ is optional and case-insensitive.
  CHECK(v.verify(make_token(R"({"alg":"HS256"})", R"({"sub":"u"})", hs()), kNow, {}).ok());
  CHECK(v.verify(make_token(R"({"typ":"jwt","alg":"HS256"})", R"({"sub":"u"})", hs()), kNow, {})
            .ok());
}

TEST_CASE("jwt refuses tampered tokens", "[proto][jwt]") {
  const auto v = jwt::Verifier::hs256(std::string(kSecret));
  const std::string token = hs_token(R"({"sub":"u1","admin":false})");
  REQUIRE(v.verify(token, kNow, {}).ok());
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.rfind('.');

  // Payload swapped for another (validly encoded) one: the signature no longer matches.
  const std::string forged =
      token.substr(0, dot1 + 1) + b64url(R"({"sub":"u1","admin":true})") + token.substr(dot2);
  CHECK(verify_err(v, forged) == JwtErrc::bad_signature);
  // Header changed (extra member), signature kept.
  const std::string header2 = b64url(R"({"alg":"HS256","typ":"JWT","kid":"x"})");
  CHECK(verify_err(v, header2 + token.substr(dot1)) == JwtErrc::bad_signature);
  // Signature changed, truncated, extended, emptied.
  std::string sig = token.substr(dot2 + 1);
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  CHECK(verify_err(v, token.substr(0, dot2 + 1) + sig) == JwtErrc::bad_signature);
  const std::string input = token.substr(0, dot2);
  const std::string mac = hmac(kSecret, input);
  CHECK(verify_err(v, input + "." + b64url(mac.substr(0, 31))) == JwtErrc::bad_signature);
  CHECK(verify_err(v, input + "." + b64url(mac + '\0')) == JwtErrc::bad_signature);
  CHECK(verify_err(v, input + "." + b64url(mac)) == std::error_code());
  CHECK(verify_err(v, token.substr(0, dot2 + 1)) == JwtErrc::bad_signature);
  // Another secret.
  CHECK(verify_err(jwt::Verifier::hs256("other"), token) == JwtErrc::bad_signature);
  // An empty secret refuses everything, even a token "signed" with it.
  const std::string empty_signed = make_token(R"({"alg":"HS256"})", R"({"sub":"u"})", hs(""));
  CHECK(verify_err(jwt::Verifier::hs256(""), empty_signed) == JwtErrc::bad_key);
}

TEST_CASE("jwt refuses malformed token structure", "[proto][jwt]") {
  const auto v = jwt::Verifier::hs256(std::string(kSecret));
  const std::string good = hs_token(R"({"sub":"u1"})");
  const std::size_t dot1 = good.find('.');
  const std::string h = good.substr(0, dot1);
  const std::string rest = good.substr(dot1);
  for (const std::string& bad :
       {std::string(), std::string("."), std::string(".."), std::string("..."), std::string("abc"),
        good.substr(0, good.rfind('.')), good + ".", good + ".AA", "." + good,
        h + "=" + rest,                          // padding
        h.substr(0, h.size() - 1) + "+" + rest,  // standard alphabet
        h.substr(0, h.size() - 1) + "/" + rest,
        good.substr(0, good.size() - 1) + "=",  // padded signature
        good.substr(0, good.size() - 1) + "*",  // not base64 at all
        h + " " + rest, h + "\n" + rest}) {
    INFO(bad);
    CHECK(verify_err(v, bad) == JwtErrc::malformed);
  }
  // Non-zero unused bits: 32 signature bytes take 43 characters, the last one carrying 2 bits
  // that must be zero. Setting one decodes to the same bytes but is a second encoding: refused.
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::size_t last = alphabet.find(good.back());
  REQUIRE(last % 4 == 0);
  CHECK(verify_err(v, good.substr(0, good.size() - 1) + alphabet[last + 1]) == JwtErrc::malformed);

  // Headers that are not JSON objects, or lack or mistype "alg".
  for (const char* header :
       {"", "[]", "\"HS256\"", "{", R"({"alg":"HS256",})", R"({"alg":"HS256","alg":"HS256"})",
        R"({"typ":"JWT"})", R"({"alg":256})", R"({"alg":null})", R"({"alg":"HS256","typ":"JOSE"})",
        R"({"alg":"HS256","typ":1})", R"({"alg":"HS256","crit":["exp"]})"}) {
    INFO(header);
    CHECK(verify_err(v, make_token(header, R"({"sub":"u"})", hs())) == JwtErrc::malformed);
  }
  // A payload that is not a JSON object (signature valid).
  for (const char* payload : {"", "[]", "\"u1\"", "{\"sub\":\"u\"", "{\"sub\":\"\\ud800\"}",
                              "{\"sub\":\"a\",\"sub\":\"b\"}", "{\"sub\":\"\xff\"}"}) {
    INFO(payload);
    CHECK(verify_err(v, hs_token(payload)) == JwtErrc::malformed);
  }
}

TEST_CASE("jwt refuses algorithms other than the verifier's", "[proto][jwt]") {
  const auto hs_verifier = jwt::Verifier::hs256(std::string(kSecret));
  const std::string payload = R"({"sub":"u1"})";
  // "none": an empty signature part, or even an HMAC one.
  const std::string none = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(payload) + ".";
  CHECK(verify_err(hs_verifier, none) == JwtErrc::unsupported_alg);
  CHECK(verify_err(hs_verifier, make_token(R"({"alg":"none"})", payload, hs())) ==
        JwtErrc::unsupported_alg);
  for (const char* alg : {"HS512", "HS384", "hs256", "HS256 ", "RS256", "ES256", "PS256", ""}) {
    INFO(alg);
    const std::string header = std::string(R"({"alg":")") + alg + "\"}";
    CHECK(verify_err(hs_verifier, make_token(header, payload, hs())) == JwtErrc::unsupported_alg);
  }
  // An RS256 token (properly signed) shown to an HS256 verifier.
  CHECK(verify_err(hs_verifier, make_token(R"({"alg":"RS256"})", payload, rs(rsa2048()))) ==
        JwtErrc::unsupported_alg);

  // The classic confusion: an HS256 token whose HMAC key is the RSA public key's PEM text.
  const std::string pem = public_pem(rsa2048());
  const auto rs_verifier = jwt::Verifier::from_public_key_pem(pem);
  REQUIRE(rs_verifier.ok());
  CHECK(rs_verifier->alg() == jwt::Alg::rs256);
  CHECK(verify_err(*rs_verifier, make_token(R"({"alg":"HS256"})", payload, hs(pem))) ==
        JwtErrc::unsupported_alg);
  CHECK(verify_err(*rs_verifier, make_token(R"({"alg":"none"})", payload, hs(pem))) ==
        JwtErrc::unsupported_alg);
  CHECK(verify_err(*rs_verifier, make_token(R"({"alg":"ES256"})", payload, es(p256()))) ==
        JwtErrc::unsupported_alg);
}

TEST_CASE("jwt exp and nbf honour the leeway at the edges", "[proto][jwt]") {
  const auto v = jwt::Verifier::hs256(std::string(kSecret));
  const std::string exp = hs_token(R"({"sub":"u","exp":1000})");
  CHECK(v.verify(exp, 999, {}).ok());
  CHECK(verify_err(v, exp, 1000) == JwtErrc::expired);
  jwt::VerifyOptions lee;
  lee.leeway_s = 5;
  CHECK(v.verify(exp, 1004, lee).ok());
  CHECK(verify_err(v, exp, 1005, lee) == JwtErrc::expired);
  jwt::VerifyOptions negative;
  negative.leeway_s = -100;  // counts as 0, never shortens the lifetime
  CHECK(v.verify(exp, 999, negative).ok());
  CHECK(verify_err(v, exp, 1000, negative) == JwtErrc::expired);

  const std::string nbf = hs_token(R"({"sub":"u","nbf":1000})");
  CHECK(v.verify(nbf, 1000, {}).ok());
  CHECK(verify_err(v, nbf, 999) == JwtErrc::not_yet_valid);
  CHECK(v.verify(nbf, 995, lee).ok());
  CHECK(verify_err(v, nbf, 994, lee) == JwtErrc::not_yet_valid);

  const std::string both = hs_token(R"({"sub":"u","nbf":1000,"exp":1010})");
  CHECK(v.verify(both, 1005, {}).ok());
  CHECK(verify_err(v, both, 1010) == JwtErrc::expired);
  CHECK(verify_err(v, both, 990) == JwtErrc::not_yet_valid);
  // Huge values neither overflow nor wrap.
  const auto far = v.verify(hs_token(R"({"sub":"u","exp":1e300})"), kNow, {});
  REQUIRE(far.ok());
  CHECK(far->exp == std::numeric_limits<std::int64_t>::max());
  lee.leeway_s = std::numeric_limits<std::int64_t>::max();
  CHECK(v.verify(exp, kNow, lee).ok());
  // Time claims must be numbers.
  for (const char* p : {R"({"sub":"u","exp":"1000"})", R"({"sub":"u","nbf":null})",
                        R"({"sub":"u","iat":true})", R"({"sub":"u","exp":[1000]})"}) {
    INFO(p);
    CHECK(verify_err(v, hs_token(p)) == JwtErrc::malformed);
  }
}

TEST_CASE("jwt checks iss and aud when asked", "[proto][jwt]") {
  const auto v = jwt::Verifier::hs256(std::string(kSecret));
  jwt::VerifyOptions opt;
  opt.issuer = "https://id.example";
  opt.audience = "chat";
  CHECK(
      v.verify(hs_token(R"({"sub":"u","iss":"https://id.example","aud":"chat"})"), kNow, opt).ok());
  CHECK(
      v.verify(hs_token(R"({"sub":"u","iss":"https://id.example","aud":["x","chat"]})"), kNow, opt)
          .ok());
  CHECK(verify_err(v, hs_token(R"({"sub":"u","aud":"chat"})"), kNow, opt) == JwtErrc::bad_issuer);
  CHECK(verify_err(v, hs_token(R"({"sub":"u","iss":"https://id.example.org","aud":"chat"})"), kNow,
                   opt) == JwtErrc::bad_issuer);
  CHECK(verify_err(v, hs_token(R"({"sub":"u","iss":["https://id.example"],"aud":"chat"})"), kNow,
                   opt) == JwtErrc::bad_issuer);
  for (const char* aud : {R"("chats")", R"("Chat")", R"([])", R"(["x"])", R"([["chat"]])",
                          R"(null)", R"({"chat":1})", R"(1)"}) {
    INFO(aud);
    const std::string p =
        std::string(R"({"sub":"u","iss":"https://id.example","aud":)") + aud + "}";
    CHECK(verify_err(v, hs_token(p), kNow, opt) == JwtErrc::bad_audience);
  }
  CHECK(verify_err(v, hs_token(R"({"sub":"u","iss":"https://id.example"})"), kNow, opt) ==
        JwtErrc::bad_audience);
  // Not asked: not checked.
  CHECK(v.verify(hs_token(R"({"sub":"u","iss":"anyone","aud":["x"]})"), kNow, {}).ok());
}

TEST_CASE("jwt requires a subject and string claims", "[proto][jwt]") {
  const auto v = jwt::Verifier::hs256(std::string(kSecret));
  CHECK(verify_err(v, hs_token(R"({"name":"Ann"})")) == JwtErrc::missing_subject);
  CHECK(verify_err(v, hs_token(R"({"sub":""})")) == JwtErrc::missing_subject);
  CHECK(verify_err(v, hs_token("{\"sub\":\"" + std::string(129, 'a') + "\"}")) ==
        JwtErrc::missing_subject);
  const auto longest = v.verify(hs_token("{\"sub\":\"" + std::string(128, 'a') + "\"}"), kNow, {});
  REQUIRE(longest.ok());
  CHECK(longest->sub.size() == 128);
  for (const char* p :
       {R"({"sub":1})", R"({"sub":null})", R"({"sub":["u"]})", R"({"sub":"u","name":1})",
        R"({"sub":"u","guild":false})", R"({"sub":"u","device":{}})"}) {
    INFO(p);
    CHECK(verify_err(v, hs_token(p)) == JwtErrc::malformed);
  }
  // Escapes are decoded.
  const auto esc = v.verify(hs_token(R"({"sub":"\u0075\u00e9","name":"A\"n"})"), kNow, {});
  REQUIRE(esc.ok());
  CHECK(esc->sub == "u\xc3\xa9");
  CHECK(esc->name == "A\"n");
}

TEST_CASE("jwt refuses tokens over the size limit before decoding", "[proto][jwt]") {
  const auto v = jwt::Verifier::hs256(std::string(kSecret));
  const std::string token = hs_token("{\"sub\":\"u\",\"pad\":\"" + std::string(6000, 'x') + "\"}");
  REQUIRE(token.size() > 8000);
  REQUIRE(token.size() <= 8192);
  CHECK(v.verify(token, kNow, {}).ok());
  jwt::VerifyOptions opt;
  opt.max_token_size = token.size();
  CHECK(v.verify(token, kNow, opt).ok());
  opt.max_token_size = token.size() - 1;
  CHECK(verify_err(v, token, kNow, opt) == JwtErrc::too_large);
  CHECK(verify_err(v, std::string(9000, '.')) == JwtErrc::too_large);
  CHECK(verify_err(v, std::string(8193, 'A')) == JwtErrc::too_large);
}

TEST_CASE("jwt RS256 verifies OpenSSL-made signatures", "[proto][jwt]") {
  const auto v = jwt::Verifier::from_public_key_pem(public_pem(rsa2048()));
  REQUIRE(v.ok());
  const std::string payload = R"({"sub":"u1","name":"Ann","exp":1700000100})";
  const std::string token = make_token(R"({"alg":"RS256","typ":"JWT"})", payload, rs(rsa2048()));
  const auto r = v->verify(token, kNow, {});
  REQUIRE(r.ok());
  CHECK(r->sub == "u1");
  CHECK(verify_err(*v, token, 1700000100) == JwtErrc::expired);

  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.rfind('.');
  const std::string forged =
      token.substr(0, dot1 + 1) + b64url(R"({"sub":"root"})") + token.substr(dot2);
  CHECK(verify_err(*v, forged) == JwtErrc::bad_signature);
  const std::string input = token.substr(0, dot2);
  const std::string sig = digest_sign(rsa2048(), input);
  REQUIRE(sig.size() == 256);
  CHECK(verify_err(*v, input + "." + b64url(sig)) == std::error_code());
  CHECK(verify_err(*v, input + "." + b64url(sig.substr(1))) == JwtErrc::bad_signature);
  CHECK(verify_err(*v, input + "." + b64url('\0' + sig)) == JwtErrc::bad_signature);
  CHECK(verify_err(*v, token.substr(0, dot2 + 1)) == JwtErrc::bad_signature);
  // Another key's signature.
  const PkeyPtr other = wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
  CHECK(verify_err(*v, make_token(R"({"alg":"RS256"})", payload, rs(other.get()))) ==
        JwtErrc::bad_signature);
}

TEST_CASE("jwt ES256 verifies R||S signatures", "[proto][jwt]") {
  const auto v = jwt::Verifier::from_public_key_pem(public_pem(p256()));
  REQUIRE(v.ok());
  CHECK(v->alg() == jwt::Alg::es256);
  const std::string payload = R"({"sub":"u1","device":"phone"})";
  for (int i = 0; i < 8; ++i) {  // several signatures: R or S with leading zero bytes happen
    const std::string token = make_token(R"({"alg":"ES256","typ":"JWT"})", payload, es(p256()));
    const auto r = v->verify(token, kNow, {});
    REQUIRE(r.ok());
    CHECK(r->device == "phone");
  }
  const std::string input = b64url(R"({"alg":"ES256"})") + "." + b64url(payload);
  const std::string der = digest_sign(p256(), input);
  const std::string rs_sig = der_to_rs(der);
  CHECK(v->verify(input + "." + b64url(rs_sig), kNow, {}).ok());
  // The DER form, wrong lengths, zeros and a flipped bit are all bad signatures.
  CHECK(verify_err(*v, input + "." + b64url(der)) == JwtErrc::bad_signature);
  CHECK(verify_err(*v, input + "." + b64url(rs_sig.substr(1))) == JwtErrc::bad_signature);
  CHECK(verify_err(*v, input + "." + b64url(rs_sig + "x")) == JwtErrc::bad_signature);
  CHECK(verify_err(*v, input + "." + b64url(std::string(64, '\0'))) == JwtErrc::bad_signature);
  CHECK(verify_err(*v, input + "." + b64url(std::string(64, '\xff'))) == JwtErrc::bad_signature);
  std::string flipped = rs_sig;
  flipped[40] = static_cast<char>(flipped[40] ^ 1);
  CHECK(verify_err(*v, input + "." + b64url(flipped)) == JwtErrc::bad_signature);
  // R and S exchanged.
  CHECK(verify_err(*v, input + "." + b64url(rs_sig.substr(32) + rs_sig.substr(0, 32))) ==
        JwtErrc::bad_signature);
}

TEST_CASE("jwt public keys: only RSA >= 2048 and P-256", "[proto][jwt]") {
  const PkeyPtr rsa1024 = wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024}));
  const PkeyPtr ed25519 = wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  const PkeyPtr p384 = wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  const PkeyPtr x25519 = wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  // EVP_PKEY_Q_keygen takes a size for "RSA" only; an RSA-PSS key needs the long way.
  EVP_PKEY* pss = nullptr;
  EVP_PKEY_CTX* pss_ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA-PSS", nullptr);
  REQUIRE(pss_ctx);
  CHECK(EVP_PKEY_keygen_init(pss_ctx) == 1);
  CHECK(EVP_PKEY_CTX_set_rsa_keygen_bits(pss_ctx, 2048) == 1);
  CHECK(EVP_PKEY_generate(pss_ctx, &pss) == 1);
  EVP_PKEY_CTX_free(pss_ctx);
  const PkeyPtr rsa_pss = wrap(pss);
  CHECK(jwt::Verifier::from_public_key_pem(public_pem(rsa1024.get())).error() == JwtErrc::bad_key);
  CHECK(jwt::Verifier::from_public_key_pem(public_pem(ed25519.get())).error() == JwtErrc::bad_key);
  CHECK(jwt::Verifier::from_public_key_pem(public_pem(p384.get())).error() == JwtErrc::bad_key);
  CHECK(jwt::Verifier::from_public_key_pem(public_pem(x25519.get())).error() == JwtErrc::bad_key);
  CHECK(jwt::Verifier::from_public_key_pem(public_pem(rsa_pss.get())).error() ==
        JwtErrc::bad_key);  // RS256 is PKCS#1 v1.5; a PSS-only key must not be used for it
  // Private keys, garbage, truncation and an empty string are refused too.
  CHECK(jwt::Verifier::from_public_key_pem(private_pem(p256())).error() == JwtErrc::bad_key);
  CHECK(jwt::Verifier::from_public_key_pem(private_pem(rsa2048())).error() == JwtErrc::bad_key);
  const std::string pem = public_pem(p256());
  CHECK(jwt::Verifier::from_public_key_pem(pem.substr(0, pem.size() / 2)).error() ==
        JwtErrc::bad_key);
  CHECK(jwt::Verifier::from_public_key_pem("").error() == JwtErrc::bad_key);
  CHECK(jwt::Verifier::from_public_key_pem("not a key").error() == JwtErrc::bad_key);
  // The accepted ones, and a PEM with surrounding text (as in a config file).
  CHECK(jwt::Verifier::from_public_key_pem(public_pem(rsa2048())).ok());
  CHECK(jwt::Verifier::from_public_key_pem("\n" + pem + "\n").ok());
}

TEST_CASE("jwt errors have their own category and short messages", "[proto][jwt]") {
  const std::error_code ec = JwtErrc::expired;
  CHECK(ec.category() == jwt::jwt_category());
  CHECK(std::string(ec.category().name()) == "jwt");
  CHECK(ec.message() == "token expired");
  CHECK(std::error_code(JwtErrc::bad_signature).message() == "signature does not verify");
  for (int e = static_cast<int>(JwtErrc::malformed); e <= static_cast<int>(JwtErrc::too_large);
       ++e) {
    const std::string m = jwt::jwt_category().message(e);
    INFO(e);
    CHECK_FALSE(m.empty());
    CHECK(m.find("unknown") == std::string::npos);
  }
  CHECK(jwt::alg_name(jwt::Alg::hs256) == "HS256");
  CHECK(jwt::alg_name(jwt::Alg::rs256) == "RS256");
  CHECK(jwt::alg_name(jwt::Alg::es256) == "ES256");
}
