#pragma once
// TLS for the net layer (OpenSSL underneath; this header does not expose it).
//
// Contexts (TlsServerContext, TlsClientContext) are built once, at start-up or on reload, on any
// thread, and are immutable afterwards: every worker thread's connections share one (OpenSSL's
// SSL_CTX is safe for concurrent SSL_new; the session caches inside lock themselves).
//
// TlsEngine is the per-connection TLS state machine. It never sees a socket: ciphertext goes in as
// a byte view, plaintext comes out into a caller buffer, and every byte the engine wants to send
// is appended to a caller's Bytes (STYLE.md §6, "TLS over memory BIOs"). TcpConnection drives one
// for each connection of a TLS listener and for connect_tls(); tests can join two in memory.
//
// Errors: std::error_code in tls_category(). A code carries its kind (compare it with a TlsErrc
// condition: `ec == TlsErrc::certificate_verify_failed`) and OpenSSL's reason, which message()
// spells out: "tls handshake failed: no shared cipher", "certificate verify failed: certificate
// has expired". Logs print message(); control flow compares with the TlsErrc conditions.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"

struct ssl_st;  // OpenSSL's SSL, opaque here

namespace wsgate::net {

/// What kind of TLS failure a tls_category() code is (an error condition: compare codes to it).
enum class TlsErrc {
  handshake_failed = 1,           ///< bad ClientHello, plain text on a TLS port, old version,
                                  ///< no shared cipher, the peer's alert, EOF mid-handshake
  certificate_verify_failed = 2,  ///< the peer's certificate: untrusted, expired, wrong name
  protocol_error = 3,             ///< a bad record or alert after the handshake
  bad_config = 4,                 ///< a context could not be built (file, key, cipher list)
};

const std::error_category& tls_category() noexcept;
std::error_condition make_error_condition(TlsErrc e) noexcept;

/// One certificate and its private key, both PEM files. The certificate file may hold the chain
/// (leaf first, then intermediates).
struct TlsCertificate {
  std::string cert_file;
  std::string key_file;
};

struct TlsServerOptions {
  /// At least one. The first is the default; another is chosen when the client's SNI name matches
  /// one of its names: its SAN DNS names (a wildcard "*.example.com" covers exactly one label), or
  /// its subject CN when it has no SAN DNS name. Exact names win over wildcards; the first
  /// certificate wins among equals.
  std::vector<TlsCertificate> certificates;
  /// TLS 1.2 cipher list (OpenSSL syntax); "" = ECDHE with AEAD ciphers only.
  std::string ciphers;
  /// TLS 1.3 cipher suites (OpenSSL syntax); "" = OpenSSL's default.
  std::string ciphersuites;
};

/// Server side: certificates, protocol floor (TLS 1.2; 1.0 and 1.1 are refused), ALPN
/// ("http/1.1" is selected when offered; a client offering only other protocols gets no ALPN, not
/// an error), session resumption (tickets, and a server-side session cache), renegotiation off.
class TlsServerContext {
 public:
  /// Loads and checks every certificate/key pair (the key must match the certificate). On error
  /// returns TlsErrc::bad_config (or the file's errno) and sets `error_text` to a line naming the
  /// file and OpenSSL's reason, e.g. `tls: key file "k.pem" does not match certificate "c.pem"`.
  static Result<std::shared_ptr<const TlsServerContext>> create(const TlsServerOptions& o,
                                                                std::string& error_text);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  struct Impl;  // src/net only
  const Impl& impl() const noexcept { return *impl_; }

 private:
  TlsServerContext();
  std::unique_ptr<Impl> impl_;
};

struct TlsClientOptions {
  /// PEM file of trusted CAs; "" = the system trust store.
  std::string ca_file;
  /// Verify the server's chain and name. false only for an explicit insecure_skip_verify.
  bool verify = true;
  /// TLS 1.2 cipher list; "" = ECDHE with AEAD ciphers only. TLS 1.3 suites; "" = default.
  std::string ciphers;
  std::string ciphersuites;
  /// ALPN protocols offered, in preference order ("http/1.1"); empty = no ALPN extension.
  std::vector<std::string> alpn;
};

/// Client side: trust store, TLS 1.2 floor, renegotiation off, and a small cache of sessions
/// (per server name and address) so that reconnecting to an upstream resumes.
class TlsClientContext {
 public:
  /// Errors as for TlsServerContext::create (a CA file that cannot be read, a bad cipher list).
  static Result<std::shared_ptr<const TlsClientContext>> create(const TlsClientOptions& o,
                                                                std::string& error_text);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  struct Impl;  // src/net only
  const Impl& impl() const noexcept { return *impl_; }

 private:
  TlsClientContext();
  std::unique_ptr<Impl> impl_;
};

/// What a connection's handshake agreed. Filled when the handshake completes.
struct TlsInfo {
  std::string version;       ///< "TLSv1.3", "TLSv1.2"
  std::string cipher;        ///< OpenSSL's name: "TLS_AES_128_GCM_SHA256"
  std::string alpn;          ///< the agreed protocol, "" if none
  std::string server_name;   ///< SNI: received (server) or sent (client); "" if none
  std::string peer_subject;  ///< client side: the server certificate's subject, "CN=a.test"
  bool resumed = false;      ///< an abbreviated handshake (session ticket or cache)
};

/// One TLS connection's state machine over caller buffers (no socket, no loop, no clock).
/// Thread: one thread at a time. Every call appends what must be sent to the peer to `out` (the
/// caller sends it in order) and consumes ciphertext from the front of `in`.
class TlsEngine {
 public:
  enum class Status {
    ok,         ///< progress made; call again if there is more to do
    want_more,  ///< `in` is used up: feed more ciphertext
    closed,     ///< the peer's close_notify arrived: no more plaintext will come
    error,      ///< fatal: see error(); only the bytes in `out` (an alert) remain to send
  };

  /// A server engine for an accepted connection (keeps `ctx` until the handshake is done).
  static std::unique_ptr<TlsEngine> server(std::shared_ptr<const TlsServerContext> ctx);
  /// A client engine: SNI = `server_name` unless it is an IP literal; when the context verifies,
  /// the certificate must match `server_name` (a DNS name or an IP address; must not be empty).
  /// `cache_key` names the upstream in the context's session cache ("" = no resumption).
  static Result<std::unique_ptr<TlsEngine>> client(std::shared_ptr<const TlsClientContext> ctx,
                                                   std::string_view server_name,
                                                   std::string cache_key);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  /// Advances the handshake: `ok` once it is complete (then info() is valid), `want_more`, or
  /// `error`. A client's first call (with empty `in`) produces the ClientHello.
  Status handshake(ByteView& in, Bytes& out);
  bool handshake_done() const noexcept { return done_; }

  /// Decrypts into `plain`: `ok` with `n` bytes (n > 0), `want_more` (n == 0), `closed` or
  /// `error`. Plaintext may stay inside the engine when `plain` is small: call again.
  Status read(ByteView& in, MutableByteView plain, std::size_t& n, Bytes& out);
  /// Encrypts all of `plain` (after the handshake). Fails only on an engine in error.
  [[nodiscard]] std::error_code write(ByteView plain, Bytes& out);
  /// Appends close_notify. After it, write() must not be called; read() still works.
  void shutdown(Bytes& out);

  /// Plaintext or ciphertext held inside the engine that read() can still return without input.
  bool has_pending() const noexcept;
  /// The code for a TCP EOF in mid-handshake (TlsErrc::handshake_failed, "unexpected eof").
  static std::error_code eof_error() noexcept;
  std::error_code error() const noexcept { return error_; }
  const TlsInfo& info() const noexcept { return info_; }

  /// Internal (the BIO and callbacks in tls.cpp).
  struct Io {
    ByteView in;
    Bytes* out = nullptr;
  };
  Io& io() noexcept { return io_; }

 private:
  TlsEngine() = default;
  Status failed(std::error_code ec) noexcept;
  void fill_info();

  ssl_st* ssl_ = nullptr;
  std::shared_ptr<const TlsServerContext> server_ctx_;  // the SNI callback's, until done_
  std::shared_ptr<const TlsClientContext> client_ctx_;  // owns the session cache
  std::string cache_key_;
  Io io_;
  TlsInfo info_;
  std::error_code error_;
  bool client_ = false;
  bool done_ = false;
};

}  // namespace wsgate::net

template <>
struct std::is_error_condition_enum<wsgate::net::TlsErrc> : std::true_type {};
