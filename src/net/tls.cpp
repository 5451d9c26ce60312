#include "net/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "base/check.hpp"
#include "net/address.hpp"

namespace wsgate::net {

namespace {

// Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD only.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr unsigned char kSessionIdContext[] = "wsgate";
constexpr std::size_t kClientSessionCacheMax = 256;

// A code's value packs its kind (TlsErrc, low 4 bits) and a detail: an X509_V_ERR_* value for
// certificate_verify_failed, else OpenSSL's library and reason ((lib << 12) | reason), 0 if none.
// So the code alone carries OpenSSL's reason, with nothing allocated.
class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int ev) const override {
    const int kind = ev & 15;
    const int detail = ev >> 4;
    std::string m;
    switch (static_cast<TlsErrc>(kind)) {
      case TlsErrc::handshake_failed: m = "tls handshake failed"; break;
      case TlsErrc::certificate_verify_failed: m = "certificate verify failed"; break;
      case TlsErrc::protocol_error: m = "tls protocol error"; break;
      case TlsErrc::bad_config: m = "tls configuration error"; break;
      default: return "tls error " + std::to_string(ev);
    }
    if (detail == 0) return m;
    if (static_cast<TlsErrc>(kind) == TlsErrc::certificate_verify_failed) {
      return m + ": " + X509_verify_cert_error_string(detail);
    }
    const auto packed = ERR_PACK(detail >> 12, 0, detail & 0xfff);
    const char* reason = ERR_reason_error_string(packed);
    return m + ": " + (reason != nullptr ? reason : "reason " + std::to_string(detail & 0xfff));
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    return {ev & 15, *this};
  }
};

std::error_code tls_error(TlsErrc kind, int detail = 0) noexcept {
  return {static_cast<int>(kind) | (detail << 4), tls_category()};
}

// The oldest error on OpenSSL's queue (the cause; later ones are consequences), then clears it.
std::error_code from_queue(TlsErrc kind) noexcept {
  const unsigned long e = ERR_peek_error();
  ERR_clear_error();
  if (e == 0) return tls_error(kind);
  const auto lib = static_cast<int>(ERR_GET_LIB(e));
  const auto reason = static_cast<int>(ERR_GET_REASON(e));
  if (lib >= 128 || reason >= 4096) return tls_error(kind);
  return tls_error(kind, (lib << 12) | reason);
}

// The error queue as text, for configuration errors (start-up only: allocation is fine).
std::string queue_text() {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "unknown error" : text;
}

// --- The BIO: reads from TlsEngine::Io::in, appends writes to *Io::out ----------------------

int bio_write(BIO* b, const char* data, std::size_t len, std::size_t* written) noexcept {
  auto* io = static_cast<TlsEngine::Io*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (io->out == nullptr) return -1;  // no caller buffer: never happens inside engine calls
  const auto* p = reinterpret_cast<const std::byte*>(data);
  io->out->insert(io->out->end(), p, p + len);
  *written = len;
  return 1;
}

int bio_read(BIO* b, char* data, std::size_t len, std::size_t* readbytes) noexcept {
  auto* io = static_cast<TlsEngine::Io*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (io->in.empty()) {
    BIO_set_retry_read(b);  // SSL_get_error reports WANT_READ
    *readbytes = 0;
    return 0;
  }
  const std::size_t n = std::min(len, io->in.size());
  std::memcpy(data, io->in.data(), n);
  io->in = io->in.subspan(n);
  *readbytes = n;
  return 1;
}

long bio_ctrl(BIO*, int cmd, long, void*) noexcept {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is ever held inside the BIO
}

int bio_create(BIO* b) noexcept {
  BIO_set_init(b, 1);
  return 1;
}

int bio_destroy(BIO*) noexcept {
  return 1;
}

// A source/sink BIO over the engine's caller buffers instead of BIO_s_mem(): a memory BIO keeps
// its largest buffer for the connection's life (64 KiB after one full read), while this one
// holds nothing between calls, so an idle TLS connection owns no I/O buffer at all (OpenSSL's
// own record buffers are released too, SSL_MODE_RELEASE_BUFFERS).
const BIO_METHOD* bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsgate");
    WSGATE_CHECK(m != nullptr, "BIO_meth_new failed");
    BIO_meth_set_write_ex(m, &bio_write);
    BIO_meth_set_read_ex(m, &bio_read);
    BIO_meth_set_ctrl(m, &bio_ctrl);
    BIO_meth_set_create(m, &bio_create);
    BIO_meth_set_destroy(m, &bio_destroy);
    return m;
  }();
  return method;
}

// Points the engine's BIO at the call's buffers for the duration of one engine call.
class IoScope {
 public:
  IoScope(TlsEngine::Io& io, ByteView& in, Bytes& out) noexcept : io_(io), in_(in) {
    io_.in = in;
    io_.out = &out;
    ERR_clear_error();  // STYLE.md §4: a stale error would be taken for this call's
  }
  ~IoScope() {
    in_ = io_.in;
    io_.in = {};
    io_.out = nullptr;
  }
  IoScope(const IoScope&) = delete;
  IoScope& operator=(const IoScope&) = delete;

 private:
  TlsEngine::Io& io_;
  ByteView& in_;
};

// --- Context set-up shared by both sides ------------------------------------------------------

bool configure(SSL_CTX* ctx, const std::string& ciphers, const std::string& suites,
               std::string& error_text) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // No renegotiation (TLS 1.3 has none); no compression (CRIME).
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  const std::string& list = ciphers.empty() ? std::string(kDefaultCiphers) : ciphers;
  if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1) {
    error_text = "tls: ciphers \"" + list + "\": " + queue_text();
    return false;
  }
  if (!suites.empty() && SSL_CTX_set_ciphersuites(ctx, suites.c_str()) != 1) {
    error_text = "tls: ciphersuites \"" + suites + "\": " + queue_text();
    return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string asn1_text(const ASN1_STRING* s) {
  return lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                static_cast<std::size_t>(ASN1_STRING_length(s))));
}

// The names SNI can select a certificate by: SAN DNS names, else the subject CN.
std::vector<std::string> names_of(X509* x) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS) names.push_back(asn1_text(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    X509_NAME* subject = X509_get_subject_name(x);
    const int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i >= 0)
      names.push_back(asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
  }
  return names;
}

bool wildcard_match(std::string_view pattern, std::string_view name) noexcept {
  // "*.b.test" covers "x.b.test": exactly one non-empty label in place of the star.
  if (pattern.size() < 3 || pattern.substr(0, 2) != "*.") return false;
  const std::string_view suffix = pattern.substr(1);  // ".b.test"
  if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix) {
    return false;
  }
  return name.substr(0, name.size() - suffix.size()).find('.') == std::string_view::npos;
}

bool is_ip_literal(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return SocketAddress::parse(host, 0).has_value();
}

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

std::error_condition make_error_condition(TlsErrc e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

// --- Server context ---------------------------------------------------------------------------

struct TlsServerContext::Impl {
  struct Entry {
    SSL_CTX* ctx = nullptr;
    std::vector<std::string> names;  // lower case; "*.x" wildcards
  };
  std::vector<Entry> entries;  // entries[0] is the default and the one SSL_new uses

  ~Impl() {
    for (Entry& e : entries) SSL_CTX_free(e.ctx);
  }

  SSL_CTX* select(std::string_view sni) const {
    const std::string name = lower(sni.ends_with('.') ? sni.substr(0, sni.size() - 1) : sni);
    for (const Entry& e : entries) {
      if (std::find(e.names.begin(), e.names.end(), name) != e.names.end()) return e.ctx;
    }
    for (const Entry& e : entries) {
      for (const std::string& n : e.names) {
        if (wildcard_match(n, name)) return e.ctx;
      }
    }
    return entries.front().ctx;
  }

  static int on_servername(SSL* ssl, int*, void* arg) noexcept {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) return SSL_TLSEXT_ERR_OK;
    SSL_CTX* pick = static_cast<const Impl*>(arg)->select(name);
    if (pick != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, pick);
    return SSL_TLSEXT_ERR_OK;
  }

  // RFC 7301: we speak http/1.1 only; a client offering nothing we know gets no ALPN (NOACK),
  // not a no_application_protocol alert, so HTTP clients with odd lists still connect.
  static int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                     const unsigned char* in, unsigned int inlen, void*) noexcept {
    static constexpr std::string_view kHttp11 = "http/1.1";
    for (unsigned int i = 0; i < inlen;) {
      const unsigned int len = in[i];
      if (i + 1 + len > inlen) break;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == kHttp11) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK;
  }
};

TlsServerContext::TlsServerContext() : impl_(std::make_unique<Impl>()) {}
TlsServerContext::~TlsServerContext() = default;

Result<std::shared_ptr<const TlsServerContext>> TlsServerContext::create(const TlsServerOptions& o,
                                                                         std::string& error_text) {
  ERR_clear_error();
  if (o.certificates.empty()) {
    error_text = "tls: no certificate";
    return tls_error(TlsErrc::bad_config);
  }
  std::shared_ptr<TlsServerContext> result(new TlsServerContext());
  Impl& impl = *result->impl_;
  for (const TlsCertificate& cert : o.certificates) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    WSGATE_CHECK(ctx != nullptr, "SSL_CTX_new failed");
    impl.entries.push_back({ctx, {}});
    if (!configure(ctx, o.ciphers, o.ciphersuites, error_text)) {
      return tls_error(TlsErrc::bad_config);
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.cert_file.c_str()) != 1) {
      error_text = "tls: certificate file \"" + cert.cert_file + "\": " + queue_text();
      return tls_error(TlsErrc::bad_config);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cert.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      error_text = "tls: key file \"" + cert.key_file + "\": " + queue_text();
      return tls_error(TlsErrc::bad_config);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      error_text = "tls: key file \"" + cert.key_file + "\" does not match certificate \"" +
                   cert.cert_file + "\": " + queue_text();
      return tls_error(TlsErrc::bad_config);
    }
    impl.entries.back().names = names_of(SSL_CTX_get0_certificate(ctx));
    // Every context, since the SNI callback moves the connection to another one before ALPN
    // and session handling look at it.
    SSL_CTX_set_alpn_select_cb(ctx, &Impl::on_alpn, nullptr);
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  }
  // The cache and ticket keys used are the first context's (OpenSSL's session_ctx), whichever
  // certificate SNI picks.
  SSL_CTX* first = impl.entries.front().ctx;
  SSL_CTX_sess_set_cache_size(first, 20 * 1024);
  SSL_CTX_set_tlsext_servername_callback(first, &Impl::on_servername);
  SSL_CTX_set_tlsext_servername_arg(first, &impl);
  return std::shared_ptr<const TlsServerContext>(std::move(result));
}

// --- Client context ---------------------------------------------------------------------------

struct TlsClientContext::Impl {
  SSL_CTX* ctx = nullptr;
  bool verify = true;
  mutable std::mutex mu;
  mutable std::map<std::string, SSL_SESSION*> sessions;  // one per upstream, newest

  ~Impl() {
    for (auto& [key, s] : sessions) SSL_SESSION_free(s);
    SSL_CTX_free(ctx);
  }

  // Takes `s` (OpenSSL's reference) into the cache.
  void store(const std::string& key, SSL_SESSION* s) const {
    const std::lock_guard<std::mutex> lock(mu);
    auto it = sessions.find(key);
    if (it != sessions.end()) {
      SSL_SESSION_free(it->second);
      it->second = s;
      return;
    }
    if (sessions.size() >= kClientSessionCacheMax) {
      SSL_SESSION_free(sessions.begin()->second);
      sessions.erase(sessions.begin());
    }
    sessions.emplace(key, s);
  }

  // A new reference to the cached session for `key`, or null.
  SSL_SESSION* take(const std::string& key) const {
    const std::lock_guard<std::mutex> lock(mu);
    auto it = sessions.find(key);
    if (it == sessions.end()) return nullptr;
    SSL_SESSION_up_ref(it->second);
    return it->second;
  }

  static int on_new_session(SSL* ssl, SSL_SESSION* s) noexcept {
    const auto* key = static_cast<const std::string*>(SSL_get_app_data(ssl));
    const auto* self = static_cast<const Impl*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (key == nullptr || key->empty() || self == nullptr || !SSL_SESSION_is_resumable(s)) {
      return 0;  // not kept: OpenSSL frees it
    }
    self->store(*key, s);
    return 1;
  }
};

TlsClientContext::TlsClientContext() : impl_(std::make_unique<Impl>()) {}
TlsClientContext::~TlsClientContext() = default;

Result<std::shared_ptr<const TlsClientContext>> TlsClientContext::create(const TlsClientOptions& o,
                                                                         std::string& error_text) {
  ERR_clear_error();
  std::shared_ptr<TlsClientContext> result(new TlsClientContext());
  Impl& impl = *result->impl_;
  impl.ctx = SSL_CTX_new(TLS_client_method());
  WSGATE_CHECK(impl.ctx != nullptr, "SSL_CTX_new failed");
  impl.verify = o.verify;
  if (!configure(impl.ctx, o.ciphers, o.ciphersuites, error_text)) {
    return tls_error(TlsErrc::bad_config);
  }
  if (o.verify) {
    SSL_CTX_set_verify(impl.ctx, SSL_VERIFY_PEER, nullptr);
    const bool loaded = o.ca_file.empty() ? SSL_CTX_set_default_verify_paths(impl.ctx) == 1
                                          : SSL_CTX_load_verify_locations(
                                                impl.ctx, o.ca_file.c_str(), nullptr) == 1;
    if (!loaded) {
      error_text =
          "tls: ca file \"" + (o.ca_file.empty() ? "(system)" : o.ca_file) + "\": " + queue_text();
      return tls_error(TlsErrc::bad_config);
    }
  } else {
    SSL_CTX_set_verify(impl.ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!o.alpn.empty()) {
    std::vector<unsigned char> wire;
    for (const std::string& p : o.alpn) {
      if (p.empty() || p.size() > 255) {
        error_text = "tls: bad ALPN protocol name \"" + p + "\"";
        return tls_error(TlsErrc::bad_config);
      }
      wire.push_back(static_cast<unsigned char>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
    if (SSL_CTX_set_alpn_protos(impl.ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0) {
      error_text = "tls: ALPN: " + queue_text();  // note: 0 is success for this one
      return tls_error(TlsErrc::bad_config);
    }
  }
  // Client sessions are kept by us (keyed by upstream), not in OpenSSL's internal store, which
  // clients never look up anyway.
  SSL_CTX_set_app_data(impl.ctx, &impl);
  SSL_CTX_set_session_cache_mode(impl.ctx,
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(impl.ctx, &Impl::on_new_session);
  return std::shared_ptr<const TlsClientContext>(std::move(result));
}

// --- Engine -----------------------------------------------------------------------------------

namespace {

SSL* new_ssl(SSL_CTX* ctx, TlsEngine::Io& io) {
  SSL* ssl = SSL_new(ctx);
  WSGATE_CHECK(ssl != nullptr, "SSL_new failed");
  BIO* bio = BIO_new(bio_method());
  WSGATE_CHECK(bio != nullptr, "BIO_new failed");
  BIO_set_data(bio, &io);
  SSL_set_bio(ssl, bio, bio);  // one BIO both ways; SSL_free frees it
  return ssl;
}

}  // namespace

std::unique_ptr<TlsEngine> TlsEngine::server(std::shared_ptr<const TlsServerContext> ctx) {
  std::unique_ptr<TlsEngine> e(new TlsEngine());
  e->ssl_ = new_ssl(ctx->impl().entries.front().ctx, e->io_);
  SSL_set_accept_state(e->ssl_);
  e->server_ctx_ = std::move(ctx);
  return e;
}

Result<std::unique_ptr<TlsEngine>> TlsEngine::client(std::shared_ptr<const TlsClientContext> ctx,
                                                     std::string_view server_name,
                                                     std::string cache_key) {
  const TlsClientContext::Impl& impl = ctx->impl();
  if (impl.verify && server_name.empty()) return std::make_error_code(std::errc::invalid_argument);
  std::unique_ptr<TlsEngine> e(new TlsEngine());
  e->client_ = true;
  e->cache_key_ = std::move(cache_key);
  e->ssl_ = new_ssl(impl.ctx, e->io_);
  SSL_set_connect_state(e->ssl_);
  SSL_set_app_data(e->ssl_, &e->cache_key_);
  const std::string name(server_name);
  const bool ip = is_ip_literal(name);
  // RFC 6066 §3: literal IP addresses are not permitted in SNI.
  if (!ip && !name.empty() && SSL_set_tlsext_host_name(e->ssl_, name.c_str()) != 1) {
    ERR_clear_error();
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (impl.verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(e->ssl_);
    int ok = 0;
    if (ip) {
      const std::string bare = name.front() == '[' ? name.substr(1, name.size() - 2) : name;
      ok = X509_VERIFY_PARAM_set1_ip_asc(param, bare.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = X509_VERIFY_PARAM_set1_host(param, name.data(), name.size());
    }
    if (ok != 1) {
      ERR_clear_error();
      return std::make_error_code(std::errc::invalid_argument);
    }
  }
  if (!e->cache_key_.empty()) {
    if (SSL_SESSION* s = impl.take(e->cache_key_)) {
      SSL_set_session(e->ssl_, s);  // takes its own reference
      SSL_SESSION_free(s);
    }
  }
  e->client_ctx_ = std::move(ctx);
  return e;
}

TlsEngine::~TlsEngine() {
  // SSL_free on a connection that did not exchange close_notify (most: clients close TCP,
  // and close() sends none) marks its session unresumable, as RFC 5246 once asked, both in the
  // server's cache and in our client cache, which holds that very session. TLS 1.3 dropped the
  // rule and servers (nginx) ignore it: only a connection that failed keeps it.
  if (!error_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_);
}

TlsEngine::Status TlsEngine::failed(std::error_code ec) noexcept {
  if (!error_) error_ = ec;
  return Status::error;
}

TlsEngine::Status TlsEngine::handshake(ByteView& in, Bytes& out) {
  if (error_) return Status::error;
  if (done_) return Status::ok;
  const IoScope scope(io_, in, out);
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    done_ = true;
    fill_info();
    server_ctx_.reset();  // only the SNI callback needed it; SSL holds its SSL_CTX itself
    return Status::ok;
  }
  if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ) return Status::want_more;
  const long verify = SSL_get_verify_result(ssl_);
  if (client_ && (SSL_get_verify_mode(ssl_) & SSL_VERIFY_PEER) != 0 && verify != X509_V_OK) {
    ERR_clear_error();
    return failed(tls_error(TlsErrc::certificate_verify_failed, static_cast<int>(verify)));
  }
  return failed(from_queue(TlsErrc::handshake_failed));
}

TlsEngine::Status TlsEngine::read(ByteView& in, MutableByteView plain, std::size_t& n, Bytes& out) {
  n = 0;
  if (error_) return Status::error;
  const IoScope scope(io_, in, out);
  std::size_t got = 0;
  const int rc = SSL_read_ex(ssl_, plain.data(), plain.size(), &got);
  if (rc == 1) {
    n = got;
    return Status::ok;
  }
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ: return Status::want_more;
    case SSL_ERROR_ZERO_RETURN: return Status::closed;
    default: return failed(from_queue(TlsErrc::protocol_error));
  }
}

std::error_code TlsEngine::write(ByteView plain, Bytes& out) {
  if (error_) return error_;
  ByteView none;
  const IoScope scope(io_, none, out);
  std::size_t written = 0;
  // The BIO takes every byte, so SSL_write_ex writes all of `plain` or fails.
  if (SSL_write_ex(ssl_, plain.data(), plain.size(), &written) != 1) {
    failed(from_queue(TlsErrc::protocol_error));
    return error_;
  }
  return {};
}

void TlsEngine::shutdown(Bytes& out) {
  if (error_ || !done_) return;
  ByteView none;
  const IoScope scope(io_, none, out);
  SSL_shutdown(ssl_);  // 0: our close_notify is out, the peer's not yet in; that is all we want
  ERR_clear_error();
}

bool TlsEngine::has_pending() const noexcept {
  return error_ ? false : SSL_has_pending(ssl_) == 1;
}

std::error_code TlsEngine::eof_error() noexcept {
  return tls_error(TlsErrc::handshake_failed,
                   (ERR_LIB_SSL << 12) | SSL_R_UNEXPECTED_EOF_WHILE_READING);
}

void TlsEngine::fill_info() {
  info_.version = SSL_get_version(ssl_);
  info_.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_));
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn != nullptr) info_.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) {
    info_.server_name = sni;
  }
  info_.resumed = SSL_session_reused(ssl_) == 1;
  if (!client_) return;
  if (X509* peer = SSL_get0_peer_certificate(ssl_)) {
    BIO* mem = BIO_new(BIO_s_mem());
    WSGATE_CHECK(mem != nullptr, "BIO_new failed");
    X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
    char* text = nullptr;
    const long len = BIO_get_mem_data(mem, &text);
    if (len > 0) info_.peer_subject.assign(text, static_cast<std::size_t>(len));
    BIO_free(mem);
  }
}

}  // namespace wsgate::net
